//! The report of a run folder: one self-contained HTML file (inline SVG, inline CSS,
//! no script, no external asset), or Markdown, or one JSON document.
//!
//! It reads the stage outputs `segmenta run` writes (see [`RunLayout`]); every
//! section is optional except the profile, so a partial run still renders.

pub mod svg;

use std::fmt::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::{Error, Result};
use crate::io::{read_features, ReadSpec};
use crate::matrix::Matrix;
use crate::model::Model;
use svg::{esc, segment_colour};

/// Where each stage writes inside a run folder.
#[derive(Clone, Debug)]
pub struct RunLayout {
    /// The run folder.
    pub root: PathBuf,
}

impl RunLayout {
    /// The layout of `root`.
    pub fn new(root: &Path) -> RunLayout {
        RunLayout {
            root: root.to_path_buf(),
        }
    }
    /// `run.json`.
    pub fn manifest(&self) -> PathBuf {
        self.root.join("run.json")
    }
    /// Folder of a stage.
    pub fn stage(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }
    /// `features/features.json`.
    pub fn features_json(&self) -> PathBuf {
        self.stage("features").join("features.json")
    }
    /// `clean/clean.parquet`.
    pub fn clean_parquet(&self) -> PathBuf {
        self.stage("clean").join("clean.parquet")
    }
    /// `clean/clean.json`.
    pub fn clean_json(&self) -> PathBuf {
        self.stage("clean").join("clean.json")
    }
    /// `sweep/sweep.json`.
    pub fn sweep_json(&self) -> PathBuf {
        self.stage("sweep").join("sweep.json")
    }
    /// `kmeans/model.json`.
    pub fn model(&self) -> PathBuf {
        self.stage("kmeans").join("model.json")
    }
    /// `kmeans/assignments.parquet`.
    pub fn assignments(&self) -> PathBuf {
        self.stage("kmeans").join("assignments.parquet")
    }
    /// `profile/profile.json`.
    pub fn profile_json(&self) -> PathBuf {
        self.stage("profile").join("profile.json")
    }
}

/// A 2-D PCA projection of a sample of customers.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Pca {
    /// (pc1, pc2, segment) per sampled customer.
    pub points: Vec<(f64, f64, i32)>,
    /// Share of variance on each component.
    pub explained: [f64; 2],
    /// Customers sampled.
    pub sample: usize,
}

/// Everything the report shows.
#[derive(Clone, Debug)]
pub struct ReportData {
    /// The run folder.
    pub run: PathBuf,
    /// `run.json`, if present.
    pub manifest: Option<Value>,
    /// `features.json`.
    pub features: Option<Value>,
    /// `clean.json`.
    pub clean: Option<Value>,
    /// `sweep.json`.
    pub sweep: Option<Value>,
    /// `model.json` as JSON.
    pub model: Option<Value>,
    /// `profile.json` (required).
    pub profile: Value,
    /// The scatter's data.
    pub pca: Option<Pca>,
}

fn read_json(path: &Path) -> Result<Option<Value>> {
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| Error::Source {
            path: path.to_path_buf(),
            message: format!("not JSON ({e})"),
        })
}

/// The top two principal components of `x` (rows already scaled), by power
/// iteration with deflation on the covariance matrix.
pub fn pca2(x: &Matrix) -> ([Vec<f64>; 2], [f64; 2]) {
    let (n, d) = (x.n(), x.d());
    let mut mean = vec![0f64; d];
    for i in 0..n {
        for (m, v) in mean.iter_mut().zip(x.row(i)) {
            *m += f64::from(*v);
        }
    }
    mean.iter_mut().for_each(|m| *m /= n.max(1) as f64);
    let mut cov = vec![vec![0f64; d]; d];
    for i in 0..n {
        let r: Vec<f64> = x
            .row(i)
            .iter()
            .zip(&mean)
            .map(|(v, m)| f64::from(*v) - m)
            .collect();
        for a in 0..d {
            for b in a..d {
                cov[a][b] += r[a] * r[b];
            }
        }
    }
    let denom = n.max(2) as f64 - 1.0;
    let upper = cov.clone();
    for (a, row) in cov.iter_mut().enumerate() {
        for (b, c) in row.iter_mut().enumerate() {
            *c = if b >= a { upper[a][b] } else { upper[b][a] } / denom;
        }
    }
    let total: f64 = (0..d).map(|a| cov[a][a]).sum::<f64>().max(1e-300);
    let mut comps: [Vec<f64>; 2] = [vec![0.0; d], vec![0.0; d]];
    let mut vals = [0.0; 2];
    for (c, comp) in comps.iter_mut().enumerate() {
        let mut v: Vec<f64> = (0..d).map(|i| 1.0 + (i + c) as f64 * 0.01).collect();
        let mut lambda = 0.0;
        for _ in 0..500 {
            let mut w: Vec<f64> = (0..d)
                .map(|a| (0..d).map(|b| cov[a][b] * v[b]).sum())
                .collect();
            let norm = w.iter().map(|x| x * x).sum::<f64>().sqrt();
            if norm == 0.0 {
                break;
            }
            w.iter_mut().for_each(|x| *x /= norm);
            let diff: f64 = w.iter().zip(&v).map(|(a, b)| (a - b).abs()).sum();
            v = w;
            lambda = norm;
            if diff < 1e-12 {
                break;
            }
        }
        for a in 0..d {
            for b in 0..d {
                cov[a][b] -= lambda * v[a] * v[b];
            }
        }
        vals[c] = lambda / total;
        *comp = v;
    }
    (comps, vals)
}

fn pca_of_run(layout: &RunLayout, model: &Model, sample: usize, seed: u64) -> Result<Option<Pca>> {
    let (clean, assign) = (layout.clean_parquet(), layout.assignments());
    if !clean.exists() || !assign.exists() {
        return Ok(None);
    }
    let spec = ReadSpec {
        id_col: model.id_col.clone(),
        columns: Some(model.numeric_features.clone()),
        categorical: model.categorical.iter().map(|c| c.column.clone()).collect(),
        weight_col: None,
        strict_ids: false,
        levels: Some(model.categorical.clone()),
    };
    let mut t = read_features(&clean, &spec)?;
    model.scaler.transform(&mut t.x);
    let mut aspec = ReadSpec::new(model.id_col.clone());
    aspec.columns = Some(vec!["segment".into()]);
    let a = read_features(&assign, &aspec)?;
    if a.ids != t.ids {
        return Err(Error::Source {
            path: assign,
            message: format!(
                "ids differ from {} (rule: assignments list the clustered rows in order)",
                clean.display()
            ),
        });
    }
    let n = t.x.n();
    let rows = crate::select::silhouette_rows(n, sample, seed).unwrap_or_else(|| (0..n).collect());
    let d = t.x.d();
    let data: Vec<f32> = rows.iter().flat_map(|&i| t.x.row(i).to_vec()).collect();
    let xs = Matrix::new(rows.len(), d, data);
    let (comps, explained) = pca2(&xs);
    let points = rows
        .iter()
        .enumerate()
        .map(|(k, &i)| {
            let r = xs.row(k);
            let p = |c: &Vec<f64>| r.iter().zip(c).map(|(v, w)| f64::from(*v) * w).sum::<f64>();
            (p(&comps[0]), p(&comps[1]), a.x.row(i)[0] as i32)
        })
        .collect();
    Ok(Some(Pca {
        points,
        explained,
        sample: rows.len(),
    }))
}

impl ReportData {
    /// Reads a run folder.
    pub fn load(run: &Path) -> Result<ReportData> {
        let layout = RunLayout::new(run);
        let profile_path = layout.profile_json();
        let profile = read_json(&profile_path)?.ok_or_else(|| Error::Source {
            path: profile_path.clone(),
            message: "no profile (rule: a report needs at least the profile stage; run `segmenta run` first)".into(),
        })?;
        let (model, pca) = match layout.model().exists() {
            true => {
                let m = Model::load(&layout.model())?;
                let pca = pca_of_run(&layout, &m, 3000, 0)?;
                (
                    Some(serde_json::to_value(&m).expect("a model serialises")),
                    pca,
                )
            }
            false => (None, None),
        };
        Ok(ReportData {
            run: run.to_path_buf(),
            manifest: read_json(&layout.manifest())?,
            features: read_json(&layout.features_json())?,
            clean: read_json(&layout.clean_json())?,
            sweep: read_json(&layout.sweep_json())?,
            model,
            profile,
            pca,
        })
    }

    fn segments(&self) -> Vec<&Value> {
        self.profile["segments"]
            .as_array()
            .map(|a| a.iter().collect())
            .unwrap_or_default()
    }

    fn names(&self) -> Vec<(i32, String)> {
        self.segments()
            .iter()
            .map(|s| {
                (
                    s["segment"].as_i64().unwrap_or(0) as i32,
                    s["persona"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    }

    /// The whole report as one JSON document.
    pub fn json(&self) -> Value {
        serde_json::json!({
            "format": "segmenta-report",
            "version": 1,
            "run": self.run,
            "manifest": self.manifest,
            "features": self.features,
            "clean": self.clean,
            "sweep": self.sweep,
            "profile": self.profile,
            "pca": self.pca,
        })
    }
}

fn pct(v: f64) -> String {
    format!("{:.1}%", 100.0 * v)
}

fn num(v: &Value) -> String {
    match v.as_f64() {
        Some(f) => crate::profile::tree::fmt_num(f),
        None => v.as_str().map_or_else(|| v.to_string(), str::to_string),
    }
}

const CSS: &str = r#"
body{font-family:Helvetica,Arial,sans-serif;color:#222;max-width:1180px;margin:0 auto;padding:24px;line-height:1.45;background:#fafafa}
h1{margin:0 0 4px;font-size:28px} h2{margin-top:36px;border-bottom:2px solid #ddd;padding-bottom:4px}
.meta{color:#555;font-size:14px} table{border-collapse:collapse;font-size:13px;margin:8px 0}
td,th{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top} th{background:#f0f0f0}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.plots{display:flex;flex-wrap:wrap;gap:16px} .plot{background:#fff;border:1px solid #e3e3e3;border-radius:6px;padding:8px;overflow-x:auto}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(340px,1fr));gap:16px}
.persona-card{background:#fff;border:1px solid #e3e3e3;border-left:8px solid #999;border-radius:6px;padding:12px 14px}
.persona-card h3{margin:0 0 4px;font-size:18px} .persona-card .desc{margin:4px 0 8px;color:#333}
.persona-card ul{margin:4px 0 0 18px;padding:0;font-size:13px} .k{color:#555;font-size:13px}
.note{color:#666;font-size:13px}
"#;

/// Renders the HTML report.
pub fn html(r: &ReportData) -> String {
    let mut h = String::new();
    let names = r.names();
    let m = r.manifest.as_ref();
    let when = m.and_then(|m| m["finished"].as_str()).unwrap_or("");
    let input = m.and_then(|m| m["input"].as_str()).unwrap_or("");
    let backend = r
        .model
        .as_ref()
        .and_then(|m| m["kmeans"]["backend"].as_str())
        .unwrap_or("");
    let _ = write!(
        h,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>segmenta report</title><style>{CSS}</style></head><body>"
    );
    let _ = write!(
        h,
        "<h1>Customer segments</h1><p class=\"meta\">{} customers in {} segments · data: <code>{}</code> · K-means backend: {} · segmenta {} · {}</p>",
        r.profile["rows"],
        names.len(),
        esc(input),
        esc(backend),
        env!("CARGO_PKG_VERSION"),
        esc(when)
    );
    if let Some(m) = m {
        let _ = write!(
            h,
            "<p class=\"meta\">command: <code>{}</code></p>",
            esc(m["command"].as_str().unwrap_or(""))
        );
    }

    // Cleaning.
    h.push_str("<h2 id=\"cleaning\">1. What went in, what was set aside</h2>");
    if let Some(f) = &r.features {
        h.push_str("<table><tr><th>source</th><th>rows in</th><th>kept</th><th>rejected</th><th>why</th></tr>");
        for s in f["sources"].as_array().into_iter().flatten() {
            let why: Vec<String> = s["rejected"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect();
            let _ = write!(
                h,
                "<tr><td>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td>{}</td></tr>",
                esc(s["table"].as_str().unwrap_or("")),
                s["rows_in"],
                s["rows_kept"],
                s["rows_rejected"],
                esc(&why.join(", "))
            );
        }
        h.push_str("</table>");
    }
    if let Some(c) = &r.clean {
        let _ = write!(
            h,
            "<p>Customer rows: {} in, {} kept, {} rejected, {} flagged as outliers.</p><table><tr><th>cleaning rule</th><th>rows rejected</th><th>cells changed</th></tr>",
            c["rows_in"], c["rows_kept"], c["rows_rejected"], c["rows_flagged"]
        );
        for (rule, v) in c["rules"].as_object().into_iter().flatten() {
            let cells: u64 = v["cells"]
                .as_object()
                .map_or(0, |o| o.values().filter_map(Value::as_u64).sum());
            let _ = write!(
                h,
                "<tr><td>{}</td><td class=n>{}</td><td class=n>{}</td></tr>",
                esc(rule),
                v["rows_rejected"],
                cells
            );
        }
        h.push_str("</table>");
    }

    // k selection.
    h.push_str("<h2 id=\"k\">2. How many segments</h2>");
    let k_used = r.model.as_ref().and_then(|m| m["kmeans"]["k"].as_u64());
    if let Some(s) = &r.sweep {
        let pts = s["points"].as_array().cloned().unwrap_or_default();
        let ks: Vec<f64> = pts.iter().filter_map(|p| p["k"].as_f64()).collect();
        let inertia: Vec<f64> = pts
            .iter()
            .map(|p| p["inertia"].as_f64().unwrap_or(f64::NAN))
            .collect();
        let sil: Vec<f64> = pts
            .iter()
            .map(|p| p["silhouette"].as_f64().unwrap_or(f64::NAN))
            .collect();
        let rec = s["recommended"]["k"].as_f64();
        let _ = write!(
            h,
            "<p>Recommended k = {}: {}. Silhouette {}.</p><div class=\"plots\"><div class=\"plot\">{}</div><div class=\"plot\">{}</div></div>",
            num(&s["recommended"]["k"]),
            esc(s["recommended"]["reason"].as_str().unwrap_or("")),
            esc(s["silhouette_note"].as_str().unwrap_or("")),
            svg::line_chart("Inertia (elbow)", "inertia", &ks, &inertia, rec, "#4e79a7"),
            svg::line_chart("Silhouette", "mean silhouette", &ks, &sil, rec, "#e15759")
        );
    } else if let Some(k) = k_used {
        let _ = write!(h, "<p>k = {k} was given; no sweep was run.</p>");
    }

    // Scatter.
    h.push_str("<h2 id=\"map\">3. The segments on a map</h2>");
    if let Some(p) = &r.pca {
        let _ = write!(
            h,
            "<p class=\"note\">A seeded sample of {} customers projected on the first two principal components of the scaled features ({} and {} of the variance). The axes cover the central 99% of the sample; the few customers beyond sit on the frame.</p><div class=\"plot\">{}</div>",
            p.sample,
            pct(p.explained[0]),
            pct(p.explained[1]),
            svg::scatter(
                "Customers by segment (PCA)",
                ("principal component 1", "principal component 2"),
                &p.points,
                &names
            )
        );
    }

    // Sizes.
    h.push_str("<h2 id=\"sizes\">4. Size and value</h2>");
    let segs = r.segments();
    let sizes: Vec<f64> = segs
        .iter()
        .map(|s| s["share"].as_f64().unwrap_or(0.0))
        .collect();
    let revenue: Vec<f64> = segs
        .iter()
        .map(|s| s["revenue_share"].as_f64().unwrap_or(0.0))
        .collect();
    let has_rev = segs.iter().any(|s| s["revenue_share"].is_number());
    let mut series: Vec<(&str, Vec<f64>)> = vec![("customers", sizes)];
    if has_rev {
        series.push(("revenue", revenue));
    }
    let _ = write!(
        h,
        "<div class=\"plot\">{}</div>",
        svg::share_bars("Share of customers and of revenue", &names, &series)
    );

    // Heatmap.
    h.push_str("<h2 id=\"lifts\">5. What sets each segment apart</h2>");
    let feats: Vec<String> = r.profile["population"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["name"].as_str().map(str::to_string))
        .collect();
    let lifts: Vec<Vec<f64>> = segs
        .iter()
        .map(|s| {
            s["features"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|f| f["lift"].as_f64().unwrap_or(0.0))
                .collect()
        })
        .collect();
    let _ = write!(
        h,
        "<div class=\"plot\">{}</div>",
        svg::heatmap("Feature lift per segment (z-score)", &names, &feats, &lifts)
    );

    // Persona cards.
    h.push_str("<h2 id=\"personas\">6. Personas</h2><div class=\"cards\">");
    let rules = r.profile["surrogate"]["rules"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for s in &segs {
        let id = s["segment"].as_i64().unwrap_or(0) as i32;
        let _ = write!(
            h,
            "<div class=\"persona-card\" style=\"border-left-color:{}\"><h3>{}</h3><div class=\"k\">segment {} · {} customers ({}){}</div><p class=\"desc\">{}</p>",
            segment_colour(id),
            esc(s["persona"].as_str().unwrap_or("")),
            id,
            s["size"],
            pct(s["share"].as_f64().unwrap_or(0.0)),
            s["revenue_share"].as_f64().map_or(String::new(), |v| format!(" · {} of revenue", pct(v))),
            esc(s["description"].as_str().unwrap_or(""))
        );
        h.push_str("<div class=\"k\">Stands out by</div><ul>");
        for t in s["traits"].as_array().into_iter().flatten() {
            let _ = write!(h, "<li>{}</li>", esc(t.as_str().unwrap_or("")));
        }
        h.push_str("</ul><div class=\"k\">Key numbers (segment median / mean)</div><ul>");
        let mut fs: Vec<&Value> = s["features"].as_array().into_iter().flatten().collect();
        fs.sort_by(|a, b| {
            b["lift"]
                .as_f64()
                .unwrap_or(0.0)
                .abs()
                .total_cmp(&a["lift"].as_f64().unwrap_or(0.0).abs())
        });
        for f in fs.iter().take(4) {
            let _ = write!(
                h,
                "<li>{}: {} / {}</li>",
                esc(f["name"].as_str().unwrap_or("")),
                num(&f["median"]),
                num(&f["mean"])
            );
        }
        h.push_str("</ul>");
        let mine: Vec<&Value> = rules
            .iter()
            .filter(|x| x["segment"].as_i64() == Some(id as i64))
            .collect();
        if !mine.is_empty() {
            h.push_str("<div class=\"k\">Decision-tree rule</div><ul>");
            for x in mine.iter().take(2) {
                let _ = write!(
                    h,
                    "<li>{} <span class=\"note\">(covers {}, precision {})</span></li>",
                    esc(x["text"].as_str().unwrap_or("")),
                    pct(x["coverage"].as_f64().unwrap_or(0.0)),
                    pct(x["precision"].as_f64().unwrap_or(0.0))
                );
            }
            h.push_str("</ul>");
        }
        h.push_str("</div>");
    }
    h.push_str("</div>");
    if let Some(f) = r.profile["surrogate"]["fidelity"].as_f64() {
        let _ = write!(
            h,
            "<p class=\"note\">The rules come from a decision tree trained to mimic the segments; it agrees with them on {} of held-out customers.</p>",
            pct(f)
        );
    }

    // Basket.
    h.push_str("<h2 id=\"basket\">7. What they buy together</h2>");
    if let Some(b) = r.profile["basket"].as_object() {
        let _ = write!(
            h,
            "<p class=\"note\">A basket is {}; rules with support ≥ {} and confidence ≥ {}, best lift first.</p>",
            esc(b["basket"].as_str().unwrap_or("")),
            num(&b["min_support"]),
            num(&b["min_confidence"])
        );
        for sr in b["segments"].as_array().into_iter().flatten() {
            let id = sr["segment"].as_i64().unwrap_or(0) as i32;
            let name = names
                .iter()
                .find(|n| n.0 == id)
                .map_or("", |n| n.1.as_str());
            let _ = write!(
                h,
                "<h3 style=\"color:{}\">{}</h3>",
                segment_colour(id),
                esc(name)
            );
            let rs = sr["rules"].as_array().cloned().unwrap_or_default();
            if rs.is_empty() {
                h.push_str("<p class=\"note\">No rule reaches the thresholds.</p>");
                continue;
            }
            h.push_str("<table><tr><th>if they buy</th><th>they also buy</th><th>support</th><th>confidence</th><th>lift</th></tr>");
            for x in rs.iter().take(5) {
                let ante: Vec<&str> = x["antecedent"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                let _ = write!(
                    h,
                    "<tr><td>{}</td><td>{}</td><td class=n>{:.3}</td><td class=n>{:.2}</td><td class=n>{:.2}</td></tr>",
                    esc(&ante.join(" + ")),
                    esc(x["consequent"].as_str().unwrap_or("")),
                    x["support"].as_f64().unwrap_or(0.0),
                    x["confidence"].as_f64().unwrap_or(0.0),
                    x["lift"].as_f64().unwrap_or(0.0)
                );
            }
            h.push_str("</table>");
        }
        h.push_str("<h3>Cross-sell (cosine similarity between categories, over customers' purchase counts)</h3><table><tr><th>bought</th><th>recommend</th></tr>");
        for rec in b["recommendations"].as_array().into_iter().flatten() {
            let sims: Vec<String> = rec["similar"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| {
                    format!(
                        "{} ({:.2})",
                        p[0].as_str().unwrap_or(""),
                        p[1].as_f64().unwrap_or(0.0)
                    )
                })
                .collect();
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td></tr>",
                esc(rec["category"].as_str().unwrap_or("")),
                esc(&sims.join(", "))
            );
        }
        h.push_str("</table>");
    } else {
        h.push_str("<p class=\"note\">No basket rules (no transactions with categories).</p>");
    }

    // Streaming.
    h.push_str("<h2 id=\"streaming\">8. SHOPPING x STREAMING</h2>");
    if let Some(st) = r.profile["streaming"].as_object() {
        let packages: Vec<String> = st["packages"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p.as_str().map(str::to_string))
            .collect();
        type Rows = Vec<(Option<i32>, String)>;
        let group = |key: &str, by_seg: bool| -> (Rows, Vec<Vec<f64>>) {
            let mut rows = Vec::new();
            let mut shares = Vec::new();
            for g in st[key].as_array().into_iter().flatten() {
                if g["subscriptions"].as_u64() == Some(0) {
                    continue;
                }
                let label = g["group"].as_str().unwrap_or("").to_string();
                let (seg, label) = if by_seg {
                    let id: i32 = label.parse().unwrap_or(0);
                    (
                        Some(id),
                        names
                            .iter()
                            .find(|n| n.0 == id)
                            .map_or(label, |n| n.1.clone()),
                    )
                } else {
                    (None, format!("age {label}"))
                };
                rows.push((seg, label));
                shares.push(
                    g["shares"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|v| v.as_f64().unwrap_or(0.0))
                        .collect(),
                );
            }
            (rows, shares)
        };
        let (rows, shares) = group("by_segment", true);
        let _ = write!(
            h,
            "<div class=\"plots\"><div class=\"plot\">{}</div>",
            svg::stacked_bars("Streaming packages by segment", &rows, &packages, &shares)
        );
        let (rows, shares) = group("by_age_band", false);
        if !rows.is_empty() {
            let _ = write!(
                h,
                "<div class=\"plot\">{}</div>",
                svg::stacked_bars("Streaming packages by age band", &rows, &packages, &shares)
            );
        }
        h.push_str("</div>");
        if let Some(c) = st["chi_square"].as_object() {
            let pv = c["p_value"].as_f64().unwrap_or(1.0);
            let _ = write!(
                h,
                "<p>Segment and package are {} (chi-square {:.1}, {} degrees of freedom, {}; Cramér's V {:.3}: {}).</p>",
                if pv < 0.05 { "associated" } else { "not significantly associated" },
                c["statistic"].as_f64().unwrap_or(0.0),
                c["dof"],
                crate::profile::streaming::p_text(pv),
                c["cramers_v"].as_f64().unwrap_or(0.0),
                crate::profile::streaming::effect_words(c["cramers_v"].as_f64().unwrap_or(0.0))
            );
        }
    } else {
        h.push_str("<p class=\"note\">No streaming table in this run.</p>");
    }

    // Backend and timings.
    h.push_str("<h2 id=\"run\">9. How it ran</h2>");
    if let Some(m) = m {
        let _ = write!(h, "<p>Backend: {}. A stage marked reused was not run again: its inputs and parameters were unchanged.</p><table><tr><th>stage</th><th>seconds (when it ran)</th><th>reused</th></tr>", esc(backend));
        for s in m["stages"].as_array().into_iter().flatten() {
            let _ = write!(
                h,
                "<tr><td>{}</td><td class=n>{:.2}</td><td>{}</td></tr>",
                esc(s["name"].as_str().unwrap_or("")),
                s["seconds"].as_f64().unwrap_or(0.0),
                if s["reused"].as_bool() == Some(true) {
                    "yes"
                } else {
                    "no"
                }
            );
        }
        h.push_str("</table>");
    }
    for n in r.profile["notes"].as_array().into_iter().flatten() {
        let _ = write!(
            h,
            "<p class=\"note\">Note: {}</p>",
            esc(n.as_str().unwrap_or(""))
        );
    }
    h.push_str("<p class=\"note\">Speed comparisons (CPU vs GPU, against scikit-learn and faiss) live in BENCHMARKS.md of the segmenta repository.</p></body></html>\n");
    h
}

/// Renders the Markdown report (no plots; the same tables).
pub fn markdown(r: &ReportData) -> String {
    let mut m = String::new();
    let _ = writeln!(
        m,
        "# Customer segments\n\n{} customers in {} segments.\n",
        r.profile["rows"],
        r.segments().len()
    );
    if let Some(s) = &r.sweep {
        let _ = writeln!(
            m,
            "Recommended k = {}: {}.\n",
            num(&s["recommended"]["k"]),
            s["recommended"]["reason"].as_str().unwrap_or("")
        );
    }
    let _ = writeln!(
        m,
        "| segment | persona | customers | share | revenue share |\n|---|---|---:|---:|---:|"
    );
    for s in r.segments() {
        let _ = writeln!(
            m,
            "| {} | {} | {} | {} | {} |",
            s["segment"],
            s["persona"].as_str().unwrap_or(""),
            s["size"],
            pct(s["share"].as_f64().unwrap_or(0.0)),
            s["revenue_share"].as_f64().map_or("-".into(), pct)
        );
    }
    for s in r.segments() {
        let _ = writeln!(
            m,
            "\n## {}\n\n{}\n\nStands out by: {}.",
            s["persona"].as_str().unwrap_or(""),
            s["description"].as_str().unwrap_or(""),
            s["traits"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    m
}
