//! A CART surrogate: a small decision tree trained on features (original units) →
//! segment, so that a segment can be explained as readable conditions and a new
//! customer's segment can be justified ("weekend_visit_share > 0.62 and …").
//!
//! Gini impurity, binary splits `x <= threshold` at midpoints between distinct
//! values (as scikit-learn's `DecisionTreeClassifier`), depth and leaf-size limits so
//! the rules stay short. Written here rather than taken from linfa-trees because the
//! data are already column slices of a `Matrix` and the tree must serialise into
//! `model.json`.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::rng::Rng;

/// Tree growth limits.
#[derive(Clone, Copy, Debug)]
pub struct TreeParams {
    /// Maximum depth (root = 0).
    pub max_depth: usize,
    /// Minimum training rows in a leaf.
    pub min_leaf: usize,
    /// Seed of the train/test split.
    pub seed: u64,
    /// Share of rows held out to measure fidelity.
    pub test_share: f64,
}

impl Default for TreeParams {
    fn default() -> Self {
        TreeParams {
            max_depth: 6,
            min_leaf: 20,
            seed: 0,
            test_share: 0.2,
        }
    }
}

/// One node: a split (`feature`, `threshold`, children) or a leaf (`class`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Node {
    /// Split feature index, `None` for a leaf.
    pub feature: Option<usize>,
    /// Rows with `x <= threshold` go left.
    pub threshold: f64,
    /// Left child index.
    pub left: usize,
    /// Right child index.
    pub right: usize,
    /// Majority class (segment) of the node's training rows.
    pub class: u32,
    /// Training rows in the node.
    pub samples: u64,
    /// Share of those rows in the majority class.
    pub purity: f64,
}

/// A readable rule: the conditions of one leaf's path, merged per feature.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Rule {
    /// The segment the leaf predicts.
    pub segment: u32,
    /// Conditions joined with "and".
    pub text: String,
    /// Training rows of the segment that reach this leaf, as a share of the segment.
    pub coverage: f64,
    /// Share of the leaf's training rows that are in the segment.
    pub precision: f64,
}

/// A fitted surrogate tree and how well it mimics the segmentation.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Surrogate {
    /// Feature names, in column order.
    pub features: Vec<String>,
    /// Nodes; 0 is the root.
    pub nodes: Vec<Node>,
    /// Segments (classes).
    pub classes: usize,
    /// Held-out accuracy against the segmentation.
    pub fidelity: f64,
    /// Training and held-out rows.
    pub train_rows: usize,
    /// Held-out rows.
    pub test_rows: usize,
    /// Depth limit.
    pub max_depth: usize,
    /// Minimum rows per leaf.
    pub min_leaf: usize,
    /// Seed of the split.
    pub seed: u64,
    /// The top rules of each segment (by coverage).
    pub rules: Vec<Rule>,
}

fn gini(counts: &[u64], n: u64) -> f64 {
    if n == 0 {
        return 0.0;
    }
    let n = n as f64;
    1.0 - counts.iter().map(|&c| (c as f64 / n).powi(2)).sum::<f64>()
}

/// Grows the tree over the training rows, presorted once per feature.
///
/// Every feature keeps its rows sorted by value in one array; a node owns the
/// same range `lo..hi` of every array (its rows, in that feature's order), and a
/// split stable-partitions each range in place, so no node sorts again. A split
/// scan is one pass with integer class counts and running sums of squared counts:
/// weighted gini = (n − Σl²/nl − Σr²/nr) / n.
struct Builder {
    /// Feature values of the training rows (local row ids).
    cols: Vec<Vec<f32>>,
    /// Classes of the training rows (local row ids).
    y: Vec<u32>,
    /// Per feature: local row ids sorted by value (ties by id).
    sorted: Vec<Vec<u32>>,
    /// Scratch: rows of the node being split that go left.
    go_left: Vec<bool>,
    k: usize,
    p: TreeParams,
    nodes: Vec<Node>,
}

impl Builder {
    fn new(cols: &[Vec<f32>], y: &[u32], rows: &[usize], k: usize, p: TreeParams) -> Self {
        let cols: Vec<Vec<f32>> = cols
            .par_iter()
            .map(|c| rows.iter().map(|&r| c[r]).collect())
            .collect();
        let sorted = cols
            .par_iter()
            .map(|c| {
                let mut ids: Vec<u32> = (0..rows.len() as u32).collect();
                ids.sort_unstable_by(|&a, &b| {
                    c[a as usize].total_cmp(&c[b as usize]).then(a.cmp(&b))
                });
                ids
            })
            .collect();
        Builder {
            cols,
            y: rows.iter().map(|&r| y[r]).collect(),
            sorted,
            go_left: vec![false; rows.len()],
            k,
            p,
            nodes: Vec::new(),
        }
    }

    /// Class counts of the rows `lo..hi`.
    fn counts(&self, lo: usize, hi: usize) -> Vec<u64> {
        let mut counts = vec![0u64; self.k];
        if let Some(ids) = self.sorted.first() {
            for &r in &ids[lo..hi] {
                counts[self.y[r as usize] as usize] += 1;
            }
        }
        counts
    }

    fn leaf(&self, counts: &[u64], n: usize) -> Node {
        let (class, &top) = counts
            .iter()
            .enumerate()
            .max_by_key(|(c, &v)| (v, std::cmp::Reverse(*c)))
            .expect("k >= 1");
        Node {
            feature: None,
            threshold: 0.0,
            left: 0,
            right: 0,
            class: class as u32,
            samples: n as u64,
            purity: if n == 0 { 0.0 } else { top as f64 / n as f64 },
        }
    }

    /// Best split of rows `lo..hi` on feature `f`: (weighted gini, threshold,
    /// rows going left).
    fn best_on(&self, f: usize, lo: usize, hi: usize, total: &[u64]) -> Option<(f64, f64, usize)> {
        let col = &self.cols[f];
        let ids = &self.sorted[f][lo..hi];
        let n = ids.len();
        let min = self.p.min_leaf;
        let mut left = vec![0u64; self.k];
        // Σ left², Σ right² of the class counts.
        let mut sl: u64 = 0;
        let mut sr: u64 = total.iter().map(|t| t * t).sum();
        let mut best: Option<(f64, f64, usize)> = None;
        let nf = n as f64;
        for i in 0..n - 1 {
            let r = ids[i] as usize;
            let c = self.y[r] as usize;
            let l = left[c];
            sl += 2 * l + 1;
            sr -= 2 * (total[c] - l) - 1;
            left[c] = l + 1;
            let nl = i + 1;
            if nl < min || n - nl < min {
                continue;
            }
            let (v, next) = (col[r], col[ids[i + 1] as usize]);
            // Only between distinct values (NaN sorts last and never splits).
            if v == next || next.is_nan() {
                continue;
            }
            let g = (nf - sl as f64 / nl as f64 - sr as f64 / (n - nl) as f64) / nf;
            if best.is_none_or(|(bg, _, _)| g < bg - 1e-12) {
                let t = (f64::from(v) + f64::from(next)) / 2.0;
                best = Some((g, t, nl));
            }
        }
        best
    }

    fn grow(&mut self, lo: usize, hi: usize, depth: usize) -> usize {
        let n = hi - lo;
        let total = self.counts(lo, hi);
        let node = self.leaf(&total, n);
        let id = self.nodes.len();
        self.nodes.push(node);
        if depth >= self.p.max_depth || n < 2 * self.p.min_leaf || self.nodes[id].purity >= 1.0 {
            return id;
        }
        let parent = gini(&total, n as u64);
        let best = (0..self.cols.len())
            .into_par_iter()
            .filter_map(|f| {
                self.best_on(f, lo, hi, &total)
                    .map(|(g, t, nl)| (g, f, t, nl))
            })
            .min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let Some((g, f, t, nl)) = best else { return id };
        if g >= parent - 1e-12 {
            return id;
        }
        // The first `nl` rows in `f`'s order are exactly those with x <= t.
        for &r in &self.sorted[f][lo..lo + nl] {
            self.go_left[r as usize] = true;
        }
        let go_left = &self.go_left;
        self.sorted.par_iter_mut().for_each(|ids| {
            let seg = &mut ids[lo..hi];
            let mut right: Vec<u32> = Vec::with_capacity(seg.len() - nl);
            let mut w = 0;
            for i in 0..seg.len() {
                let r = seg[i];
                if go_left[r as usize] {
                    seg[w] = r;
                    w += 1;
                } else {
                    right.push(r);
                }
            }
            seg[w..].copy_from_slice(&right);
        });
        for &r in &self.sorted[f][lo..lo + nl] {
            self.go_left[r as usize] = false;
        }
        let left = self.grow(lo, lo + nl, depth + 1);
        let right = self.grow(lo + nl, hi, depth + 1);
        let node = &mut self.nodes[id];
        node.feature = Some(f);
        node.threshold = t;
        node.left = left;
        node.right = right;
        id
    }
}

/// A number with about three significant digits, no trailing zeros.
pub fn fmt_num(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let mag = v.abs().log10().floor() as i32;
    let decimals = (2 - mag).clamp(0, 6) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

impl Surrogate {
    /// Fits a tree on `cols` (one `Vec` per feature, same length) and labels `y`
    /// (< `k`), holding out `test_share` of the rows (seeded) to measure fidelity.
    pub fn fit(
        features: &[String],
        cols: &[Vec<f32>],
        y: &[u32],
        k: usize,
        p: TreeParams,
    ) -> Surrogate {
        let n = y.len();
        let mut order: Vec<usize> = (0..n).collect();
        let mut rng = Rng::new(p.seed ^ 0x7ee5);
        for i in (1..n).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            order.swap(i, j);
        }
        let n_test = if n >= 10 {
            ((n as f64) * p.test_share).round() as usize
        } else {
            0
        };
        let (test, train) = order.split_at(n_test);
        let mut train = train.to_vec();
        train.sort_unstable();
        let mut b = Builder::new(cols, y, &train, k.max(1), p);
        b.grow(0, train.len(), 0);
        let mut s = Surrogate {
            features: features.to_vec(),
            nodes: b.nodes,
            classes: k,
            fidelity: 0.0,
            train_rows: train.len(),
            test_rows: test.len(),
            max_depth: p.max_depth,
            min_leaf: p.min_leaf,
            seed: p.seed,
            rules: Vec::new(),
        };
        let eval: &[usize] = if test.is_empty() { &train } else { test };
        let hits = eval
            .par_iter()
            .filter(|&&i| s.nodes[s.leaf_at(cols, i)].class == y[i])
            .count();
        s.fidelity = hits as f64 / eval.len().max(1) as f64;
        let mut seg_train = vec![0u64; k];
        for &i in &train {
            seg_train[y[i] as usize] += 1;
        }
        // Leaf → how many training rows of its class reached it.
        let mut leaf_hits = vec![0u64; s.nodes.len()];
        for &i in &train {
            let leaf = s.leaf_at(cols, i);
            if s.nodes[leaf].class == y[i] {
                leaf_hits[leaf] += 1;
            }
        }
        let mut rules = Vec::new();
        for (id, node) in s.nodes.iter().enumerate() {
            if node.feature.is_some() || leaf_hits[id] == 0 {
                continue;
            }
            let c = node.class as usize;
            rules.push(Rule {
                segment: node.class,
                text: s.path_text(id),
                coverage: leaf_hits[id] as f64 / seg_train[c].max(1) as f64,
                precision: node.purity,
            });
        }
        rules.sort_by(|a, b| {
            a.segment
                .cmp(&b.segment)
                .then(b.coverage.total_cmp(&a.coverage))
        });
        // Keep each segment's three widest rules.
        let mut kept: Vec<Rule> = Vec::new();
        for r in rules {
            if kept.iter().filter(|k| k.segment == r.segment).count() < 3 {
                kept.push(r);
            }
        }
        s.rules = kept;
        s
    }

    /// The leaf a row (original units, feature order) reaches.
    pub fn leaf_of(&self, row: &[f64]) -> usize {
        let mut id = 0;
        while let Some(f) = self.nodes[id].feature {
            id = if row[f] <= self.nodes[id].threshold {
                self.nodes[id].left
            } else {
                self.nodes[id].right
            };
        }
        id
    }

    /// The leaf row `i` of column slices `cols` reaches (as [`Self::leaf_of`]).
    fn leaf_at(&self, cols: &[Vec<f32>], i: usize) -> usize {
        let mut id = 0;
        while let Some(f) = self.nodes[id].feature {
            id = if f64::from(cols[f][i]) <= self.nodes[id].threshold {
                self.nodes[id].left
            } else {
                self.nodes[id].right
            };
        }
        id
    }

    /// The segment the tree predicts for a row.
    pub fn predict(&self, row: &[f64]) -> u32 {
        self.nodes[self.leaf_of(row)].class
    }

    fn parent_links(&self) -> Vec<Option<(usize, bool)>> {
        let mut up = vec![None; self.nodes.len()];
        for (i, n) in self.nodes.iter().enumerate() {
            if n.feature.is_some() {
                up[n.left] = Some((i, true));
                up[n.right] = Some((i, false));
            }
        }
        up
    }

    /// The conditions leading to node `id`, merged per feature into bounds.
    pub fn path_text(&self, id: usize) -> String {
        let up = self.parent_links();
        let mut bounds: Vec<(Option<f64>, Option<f64>)> = vec![(None, None); self.features.len()];
        let mut order: Vec<usize> = Vec::new();
        let mut cur = id;
        while let Some((p, left)) = up[cur] {
            let n = &self.nodes[p];
            let f = n.feature.expect("a parent splits");
            let b = &mut bounds[f];
            if left {
                b.1 = Some(b.1.map_or(n.threshold, |v: f64| v.min(n.threshold)));
            } else {
                b.0 = Some(b.0.map_or(n.threshold, |v: f64| v.max(n.threshold)));
            }
            if !order.contains(&f) {
                order.push(f);
            }
            cur = p;
        }
        order.reverse();
        let parts: Vec<String> = order
            .iter()
            .map(|&f| {
                let name = &self.features[f];
                match bounds[f] {
                    (Some(lo), Some(hi)) => format!("{} < {name} <= {}", fmt_num(lo), fmt_num(hi)),
                    (Some(lo), None) => format!("{name} > {}", fmt_num(lo)),
                    (None, Some(hi)) => format!("{name} <= {}", fmt_num(hi)),
                    (None, None) => unreachable!("only features on the path"),
                }
            })
            .collect();
        if parts.is_empty() {
            "every customer".into()
        } else {
            parts.join(" and ")
        }
    }

    /// Why the tree puts a row where it does: (predicted segment, conditions).
    pub fn explain(&self, row: &[f64]) -> (u32, String) {
        let leaf = self.leaf_of(row);
        (self.nodes[leaf].class, self.path_text(leaf))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_an_axis_aligned_split_with_readable_rules() {
        // Segment 1 iff x0 > 5; x1 is noise.
        let n = 400;
        let x0: Vec<f32> = (0..n).map(|i| (i % 10) as f32).collect();
        let x1: Vec<f32> = (0..n).map(|i| ((i * 7) % 13) as f32).collect();
        let y: Vec<u32> = x0.iter().map(|&v| u32::from(v > 5.0)).collect();
        let names = vec!["visits".to_string(), "noise".to_string()];
        let t = Surrogate::fit(&names, &[x0, x1], &y, 2, TreeParams::default());
        assert_eq!(t.fidelity, 1.0);
        assert_eq!(t.predict(&[9.0, 0.0]), 1);
        assert_eq!(t.predict(&[1.0, 12.0]), 0);
        let r1: Vec<&Rule> = t.rules.iter().filter(|r| r.segment == 1).collect();
        assert_eq!(r1.len(), 1);
        assert_eq!(r1[0].text, "visits > 5.5");
        assert_eq!(r1[0].coverage, 1.0);
        let (seg, why) = t.explain(&[2.0, 3.0]);
        assert_eq!((seg, why.as_str()), (0, "visits <= 5.5"));
    }

    #[test]
    fn numbers_are_short() {
        assert_eq!(fmt_num(0.6234), "0.623");
        assert_eq!(fmt_num(3.1), "3.1");
        assert_eq!(fmt_num(1234.6), "1235");
        assert_eq!(fmt_num(12.0), "12");
    }
}
