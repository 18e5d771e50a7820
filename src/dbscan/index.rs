//! Spatial indexes for exact radius (and k-nearest) queries: a uniform grid with cell
//! side `eps` for low dimensions (a query visits the 3^d cells around its own), and a
//! kd-tree for higher ones, where 3^d cells would outnumber the points. Both hold
//! row indices only (O(n) memory) and answer in f64 squared distances, so a
//! neighbourhood is streamed to a callback and never stored.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use rayon::prelude::*;

use crate::matrix::Matrix;

/// Dimensions up to which the grid is used.
pub const GRID_MAX_D: usize = 4;

/// Squared Euclidean distance in f64.
#[inline]
pub fn sqdist64(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| {
            let t = *x as f64 - *y as f64;
            t * t
        })
        .sum()
}

/// A radius index over the rows of a matrix.
pub enum Index<'a> {
    /// Uniform grid (low d).
    Grid(Grid<'a>),
    /// kd-tree (higher d).
    Tree(KdTree<'a>),
}

impl<'a> Index<'a> {
    /// The index that fits `x`'s dimension, for radius `eps`.
    pub fn new(x: &'a Matrix, eps: f64) -> Self {
        if x.d() <= GRID_MAX_D {
            Index::Grid(Grid::new(x, eps))
        } else {
            Index::Tree(KdTree::new(x))
        }
    }

    /// Name, for reports.
    pub fn kind(&self) -> &'static str {
        match self {
            Index::Grid(_) => "grid",
            Index::Tree(_) => "kd-tree",
        }
    }

    /// Calls `f(j)` for every row `j` within `eps` of `q` (distance ≤ eps), until
    /// `f` returns false. The order is unspecified.
    pub fn within(&self, q: &[f32], eps: f64, f: &mut dyn FnMut(u32) -> bool) {
        match self {
            Index::Grid(g) => g.within(q, eps, f),
            Index::Tree(t) => t.within(q, eps * eps, f),
        }
    }
}

/// A fast hasher for cell keys (small integer vectors): one multiply and rotate per
/// word, as rustc's FxHasher. HashDoS is no concern for grid cells of our own.
#[derive(Default)]
pub struct CellHasher(u64);

impl Hasher for CellHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..b.len()].copy_from_slice(b);
            self.write_u64(u64::from_le_bytes(w));
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_i64(&mut self, v: i64) {
        self.write_u64(v as u64);
    }
    fn write_usize(&mut self, v: usize) {
        self.write_u64(v as u64);
    }
}

type CellMap = HashMap<Vec<i64>, u32, BuildHasherDefault<CellHasher>>;

/// Uniform grid with cell side `eps / √d`: any two rows in one cell are within eps
/// of each other, which lets DBSCAN decide whole cells at once. Rows are sorted by
/// cell; a query visits the cells whose nearest corner is within eps.
pub struct Grid<'a> {
    x: &'a Matrix,
    side: f64,
    order: Vec<u32>,
    /// Cell `c` holds `order[starts[c]..starts[c + 1]]`.
    starts: Vec<u32>,
    keys: Vec<Vec<i64>>,
    cells: CellMap,
    /// The cell of each row.
    cell_of_row: Vec<u32>,
    offsets: Vec<Vec<i64>>,
    /// The offsets that sort after zero: since cells are numbered in key order,
    /// exactly the neighbour cells with a larger index.
    after: Vec<Vec<i64>>,
}

fn cell_of(row: &[f32], side: f64) -> Vec<i64> {
    row.iter()
        .map(|v| (*v as f64 / side).floor() as i64)
        .collect()
}

impl<'a> Grid<'a> {
    fn new(x: &'a Matrix, eps: f64) -> Self {
        let d = x.d();
        let side = eps / (d as f64).sqrt();
        // Every row's cell key in one flat buffer (no allocation per row).
        let mut flat = vec![0i64; x.n() * d];
        flat.par_chunks_mut(d.max(1))
            .enumerate()
            .for_each(|(i, k)| {
                for (kj, v) in k.iter_mut().zip(x.row(i)) {
                    *kj = (*v as f64 / side).floor() as i64;
                }
            });
        let key = |i: u32| &flat[i as usize * d..(i as usize + 1) * d];
        let mut order: Vec<u32> = (0..x.n() as u32).collect();
        order.par_sort_by(|a, b| key(*a).cmp(key(*b)).then(a.cmp(b)));
        let mut cells = CellMap::default();
        let mut starts = Vec::new();
        let mut cell_keys = Vec::new();
        let mut cell_of_row = vec![0u32; x.n()];
        let mut s = 0;
        while s < order.len() {
            let here = key(order[s]);
            let mut e = s + 1;
            while e < order.len() && key(order[e]) == here {
                e += 1;
            }
            let c = starts.len() as u32;
            for &i in &order[s..e] {
                cell_of_row[i as usize] = c;
            }
            cells.insert(here.to_vec(), c);
            cell_keys.push(here.to_vec());
            starts.push(s as u32);
            s = e;
        }
        starts.push(order.len() as u32);
        // Offsets of the cells that can hold a row within eps of some row of the
        // centre cell: the gap between the cells, |o| - 1 cells per axis, is ≤ eps.
        let reach = (d as f64).sqrt().ceil() as i64;
        let mut offsets = vec![Vec::new()];
        for _ in 0..d {
            offsets = offsets
                .into_iter()
                .flat_map(|o| {
                    (-reach..=reach).map(move |step| {
                        let mut v = o.clone();
                        v.push(step);
                        v
                    })
                })
                .collect();
        }
        offsets.retain(|o| {
            let gap: i64 = o.iter().map(|v| (v.abs() - 1).max(0).pow(2)).sum();
            (gap as f64) * side * side <= eps * eps * (1.0 + 1e-12)
        });
        // Nearest cells first, so counting a neighbourhood up to min_samples stops
        // early; ties in a fixed (lexicographic) order.
        offsets.sort_by_key(|o| (o.iter().map(|v| v * v).sum::<i64>(), o.clone()));
        let zero = vec![0i64; d];
        let after = offsets.iter().filter(|o| **o > zero).cloned().collect();
        Grid {
            x,
            side,
            order,
            starts,
            keys: cell_keys,
            cells,
            cell_of_row,
            offsets,
            after,
        }
    }

    /// Number of non-empty cells.
    pub fn cells(&self) -> usize {
        self.keys.len()
    }

    /// The rows of cell `c`, ascending.
    pub fn rows(&self, c: u32) -> &[u32] {
        &self.order[self.starts[c as usize] as usize..self.starts[c as usize + 1] as usize]
    }

    /// The cell of row `i`.
    pub fn cell(&self, i: u32) -> u32 {
        self.cell_of_row[i as usize]
    }

    /// Calls `f` for every non-empty cell with an index above `c` that may hold
    /// rows within eps of cell `c`: each neighbouring pair is visited once.
    pub fn later_neighbour_cells(&self, c: u32, f: &mut dyn FnMut(u32)) {
        let base = &self.keys[c as usize];
        let mut key = base.clone();
        for off in &self.after {
            for (k, (b, o)) in key.iter_mut().zip(base.iter().zip(off)) {
                *k = b + o;
            }
            if let Some(&n) = self.cells.get(&key) {
                f(n);
            }
        }
    }

    fn within(&self, q: &[f32], eps: f64, f: &mut dyn FnMut(u32) -> bool) {
        let base = cell_of(q, self.side);
        let eps2 = eps * eps;
        let mut key = base.clone();
        for off in &self.offsets {
            for (k, (b, o)) in key.iter_mut().zip(base.iter().zip(off)) {
                *k = b + o;
            }
            if let Some(&c) = self.cells.get(&key) {
                for &j in self.rows(c) {
                    if sqdist64(q, self.x.row(j as usize)) <= eps2 && !f(j) {
                        return;
                    }
                }
            }
        }
    }
}

/// Rows per kd-tree leaf.
const LEAF: usize = 32;

struct Node {
    /// Range of `order` this node covers.
    start: u32,
    end: u32,
    /// Split dimension and value; children at `left`, `left + 1` (none for a leaf).
    dim: u32,
    split: f32,
    left: u32,
}

impl Node {
    /// The child on `q`'s side of the split, the other one, and the squared
    /// distance from `q` to the split plane (a lower bound for the other child).
    /// Left holds values ≤ split, right values ≥ split (ties may sit on both sides).
    fn children(&self, q: &[f32]) -> (u32, u32, f64) {
        let diff = q[self.dim as usize] as f64 - self.split as f64;
        if diff <= 0.0 {
            (self.left, self.left + 1, diff * diff)
        } else {
            (self.left + 1, self.left, diff * diff)
        }
    }
}

/// A kd-tree split at the median of the widest dimension.
pub struct KdTree<'a> {
    x: &'a Matrix,
    order: Vec<u32>,
    nodes: Vec<Node>,
}

impl<'a> KdTree<'a> {
    fn new(x: &'a Matrix) -> Self {
        let mut t = KdTree {
            x,
            order: (0..x.n() as u32).collect(),
            nodes: Vec::new(),
        };
        t.nodes.push(Node {
            start: 0,
            end: x.n() as u32,
            dim: 0,
            split: 0.0,
            left: 0,
        });
        let mut stack = vec![0usize];
        while let Some(ni) = stack.pop() {
            let (s, e) = (t.nodes[ni].start as usize, t.nodes[ni].end as usize);
            if e - s <= LEAF {
                continue;
            }
            let d = x.d();
            let mut best = (0usize, -1.0f32);
            for j in 0..d {
                let (lo, hi) = t.order[s..e].iter().fold(
                    (f32::INFINITY, f32::NEG_INFINITY),
                    |(lo, hi), &i| {
                        let v = x.row(i as usize)[j];
                        (lo.min(v), hi.max(v))
                    },
                );
                if hi - lo > best.1 {
                    best = (j, hi - lo);
                }
            }
            if best.1 <= 0.0 {
                continue; // all rows identical: keep as a leaf
            }
            let dim = best.0;
            let mid = (s + e) / 2;
            t.order[s..e].select_nth_unstable_by(mid - s, |a, b| {
                x.row(*a as usize)[dim]
                    .total_cmp(&x.row(*b as usize)[dim])
                    .then(a.cmp(b))
            });
            let split = x.row(t.order[mid] as usize)[dim];
            let left = t.nodes.len() as u32;
            t.nodes.push(Node {
                start: s as u32,
                end: mid as u32,
                dim: 0,
                split: 0.0,
                left: 0,
            });
            t.nodes.push(Node {
                start: mid as u32,
                end: e as u32,
                dim: 0,
                split: 0.0,
                left: 0,
            });
            let n = &mut t.nodes[ni];
            n.dim = dim as u32;
            n.split = split;
            n.left = left;
            stack.push(left as usize);
            stack.push(left as usize + 1);
        }
        t
    }

    fn within(&self, q: &[f32], eps2: f64, f: &mut dyn FnMut(u32) -> bool) {
        let mut stack = vec![0usize];
        while let Some(ni) = stack.pop() {
            let n = &self.nodes[ni];
            if n.left == 0 {
                for &j in &self.order[n.start as usize..n.end as usize] {
                    if sqdist64(q, self.x.row(j as usize)) <= eps2 && !f(j) {
                        return;
                    }
                }
                continue;
            }
            let (near, far, gap2) = n.children(q);
            if gap2 <= eps2 {
                stack.push(far as usize);
            }
            stack.push(near as usize);
        }
    }

    /// The `k` smallest squared distances from `q` to the rows (itself included
    /// when `q` is a row), ascending.
    pub fn knn_sq(&self, q: &[f32], k: usize) -> Vec<f64> {
        let mut best: Vec<f64> = Vec::with_capacity(k + 1);
        let mut stack = vec![(0usize, 0.0f64)];
        while let Some((ni, bound)) = stack.pop() {
            if best.len() == k && bound > best[k - 1] {
                continue;
            }
            let n = &self.nodes[ni];
            if n.left == 0 {
                for &j in &self.order[n.start as usize..n.end as usize] {
                    let d2 = sqdist64(q, self.x.row(j as usize));
                    if best.len() < k || d2 < best[k - 1] {
                        let pos = best.partition_point(|v| *v <= d2);
                        best.insert(pos, d2);
                        best.truncate(k);
                    }
                }
                continue;
            }
            let (near, far, gap2) = n.children(q);
            stack.push((far as usize, bound.max(gap2)));
            stack.push((near as usize, bound));
        }
        best
    }
}

/// A kd-tree over `x`, for k-nearest-neighbour queries in any dimension.
pub fn kdtree(x: &Matrix) -> KdTree<'_> {
    KdTree::new(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::{blobs, BlobsSpec};

    fn brute(x: &Matrix, q: usize, eps: f64) -> Vec<u32> {
        (0..x.n() as u32)
            .filter(|j| sqdist64(x.row(q), x.row(*j as usize)) <= eps * eps)
            .collect()
    }

    #[test]
    fn grid_and_tree_find_exactly_the_brute_force_neighbourhoods() {
        for d in [1, 2, 4, 7] {
            let x = blobs(BlobsSpec::new(800, d, 3, d as u64)).x;
            let eps = 1.3;
            let grid = Grid::new(&x, eps);
            let tree = KdTree::new(&x);
            for q in (0..800).step_by(37) {
                let want = brute(&x, q, eps);
                let mut g = Vec::new();
                grid.within(x.row(q), eps, &mut |j| {
                    g.push(j);
                    true
                });
                let mut t = Vec::new();
                tree.within(x.row(q), eps * eps, &mut |j| {
                    t.push(j);
                    true
                });
                g.sort_unstable();
                t.sort_unstable();
                assert_eq!(g, want, "grid d={d} q={q}");
                assert_eq!(t, want, "tree d={d} q={q}");
            }
        }
    }

    #[test]
    fn knn_matches_sorting_all_distances() {
        let x = blobs(BlobsSpec::new(500, 6, 4, 3)).x;
        let tree = KdTree::new(&x);
        for q in (0..500).step_by(41) {
            let mut all: Vec<f64> = (0..500).map(|j| sqdist64(x.row(q), x.row(j))).collect();
            all.sort_by(f64::total_cmp);
            assert_eq!(tree.knn_sq(x.row(q), 7), all[..7].to_vec());
        }
    }
}
