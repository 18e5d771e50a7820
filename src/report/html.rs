//! The HTML report: sections in the order a marketing team reads them, each drawn
//! from one typed artefact.

use std::fmt::Write;

use super::svg::{self, esc, segment_colour};
use super::{pct, ReportData};
use crate::model::Model;
use crate::profile::streaming::{effect_words, p_text, GroupShares};

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

fn num(v: f64) -> String {
    crate::profile::tree::fmt_num(v)
}

/// Renders the HTML report.
pub fn html(r: &ReportData) -> String {
    let mut h = String::new();
    let names = r.names();
    let p = &r.profile;
    let m = r.manifest.as_ref();
    let when = m.map_or("", |m| m.finished.as_str());
    let input = m.map_or(String::new(), |m| m.input.display().to_string());
    let km = r.model.as_ref().and_then(Model::kmeans);
    let backend = km.map_or("", |k| k.backend.as_str());
    let _ = write!(
        h,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>segmenta report</title><style>{CSS}</style></head><body>"
    );
    let _ = write!(
        h,
        "<h1>Customer segments</h1><p class=\"meta\">{} customers in {} segments · data: <code>{}</code> · K-means backend: {} · segmenta {} · {}</p>",
        p.rows,
        names.len(),
        esc(&input),
        esc(backend),
        env!("CARGO_PKG_VERSION"),
        esc(when)
    );
    if let Some(m) = m {
        let _ = write!(
            h,
            "<p class=\"meta\">command: <code>{}</code></p>",
            esc(&m.command)
        );
    }

    super::next::changes_html(r, &mut h);

    // Cleaning.
    h.push_str("<h2 id=\"cleaning\">1. What went in, what was set aside</h2>");
    if let Some(f) = &r.features {
        h.push_str("<table><tr><th>source</th><th>rows in</th><th>kept</th><th>rejected</th><th>why</th></tr>");
        for s in &f.sources {
            let why: Vec<String> = s
                .rejected
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect();
            let _ = write!(
                h,
                "<tr><td>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td>{}</td></tr>",
                esc(&s.table),
                s.rows_in,
                s.rows_kept,
                s.rows_rejected,
                esc(&why.join(", "))
            );
        }
        h.push_str("</table>");
        let _ = write!(
            h,
            "<p>History up to <b>{}</b> (as-of date: {}).",
            esc(&f.as_of),
            esc(&f.as_of_source)
        );
        if let (Some(since), Some(why)) = (&f.since, &f.since_source) {
            let _ = write!(h, " From <b>{}</b> ({}).", esc(since), esc(why));
        }
        h.push_str("</p>");
        if let Some(ret) = &f.returns {
            let _ = write!(
                h,
                "<p>Returns: {} return lines; {} netted against the purchase occasion they follow ({} customers' spend is net of them), {} with no earlier purchase in the history left out.</p>",
                ret.lines, ret.matched, ret.customers_netted, ret.unmatched
            );
        }
        if !f.constant.is_empty() {
            let list: Vec<String> = f
                .constant
                .iter()
                .map(|(n, v)| match v {
                    Some(v) => format!("{n} (always {})", num(*v)),
                    None => format!("{n} (always empty)"),
                })
                .collect();
            let _ = write!(
                h,
                "<p>Left out of the segmentation, because every customer has the same value: {}.</p>",
                esc(&list.join(", "))
            );
        }
        if !f.category_groups_absent.is_empty() {
            let _ = write!(
                h,
                "<p>Category groups of the default feature SQL that {} lacks, so that no category counts in them: {}.</p>",
                esc(&f.category_groups),
                esc(&f.category_groups_absent.join(", "))
            );
        }
    }
    if let Some(c) = &r.clean {
        let share = c.rows_flagged as f64 / c.rows_kept.max(1) as f64;
        let judged = if c.outlier_transforms.is_empty() {
            "on the standard-scaled features"
        } else {
            "per column, on the transformed scale"
        };
        let fit = match km.map(|k| k.fit_on.as_str()) {
            Some("inliers") => {
                "kept, assigned to their nearest segment, and left out of fitting the centroids"
            }
            Some(_) => "kept, and used in fitting the centroids (--fit-on all)",
            None => "kept",
        };
        let _ = write!(
            h,
            "<p>Customer rows: {} in, {} kept, {} rejected; {} ({:.1}%) flagged as outliers by the rule below (judged {judged}; {fit}).</p><table><tr><th>cleaning rule</th><th>rows rejected</th><th>cells changed</th><th>rows flagged</th></tr>",
            c.rows_in, c.rows_kept, c.rows_rejected, c.rows_flagged, 100.0 * share
        );
        for (rule, v) in &c.rules {
            let cells: u64 = v.cells.values().sum();
            let _ = write!(
                h,
                "<tr><td>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td></tr>",
                esc(rule),
                v.rows_rejected,
                cells,
                v.rows_flagged
            );
        }
        h.push_str("</table>");
        if !c.outlier_masses.is_empty() {
            // One line for all point masses: the column, the share of rows at the
            // value and the value (clean.json keeps the full sentence per column).
            let cols: Vec<String> = c
                .outlier_masses
                .iter()
                .map(
                    |(k, v)| match (v.split_once("% "), c.outlier_mass_values.get(k)) {
                        (Some((share, _)), Some(m)) => format!("{k} ({share}% at {})", num(*m)),
                        _ => format!("{k} ({v})"),
                    },
                )
                .collect();
            let _ = write!(
                h,
                "<p>The outlier rule judges these columns on their other values, and never flags the value most rows hold: {}.</p>",
                esc(&cols.join(", "))
            );
        }
        for (what, m) in [
            ("skips", &c.outlier_skipped),
            ("warns on", &c.outlier_warnings),
        ] {
            if !m.is_empty() {
                let cols: Vec<String> = m.iter().map(|(k, v)| format!("{k} ({v})")).collect();
                let _ = write!(
                    h,
                    "<p>The outlier rule {what}: {}.</p>",
                    esc(&cols.join("; "))
                );
            }
        }
    }

    // k selection.
    h.push_str("<h2 id=\"k\">2. How many segments</h2>");
    if let Some(s) = &r.sweep {
        let ks: Vec<f64> = s.points.iter().map(|p| p.k as f64).collect();
        let inertia: Vec<f64> = s.points.iter().map(|p| p.inertia).collect();
        let sil: Vec<f64> = s
            .points
            .iter()
            .map(|p| p.silhouette.unwrap_or(f64::NAN))
            .collect();
        let score = |f: fn(&crate::select::SweepPoint) -> Option<f64>| -> Vec<f64> {
            s.points.iter().map(|p| f(p).unwrap_or(f64::NAN)).collect()
        };
        let ch = score(|p| p.calinski_harabasz);
        let db = score(|p| p.davies_bouldin);
        let rec = Some(s.recommended.k as f64);
        let _ = write!(
            h,
            "<p>Recommended k = {}: {}. Silhouette {}.{}</p><div class=\"plots\"><div class=\"plot\">{}</div><div class=\"plot\">{}</div><div class=\"plot\">{}</div><div class=\"plot\">{}</div></div>",
            num(s.recommended.k as f64),
            esc(&s.recommended.reason),
            esc(&s.silhouette_note),
            if s.fit_rows > 0 && s.fit_rows < s.rows {
                format!(" Each k was fitted on {}.", esc(&s.fit_rows_note))
            } else {
                String::new()
            },
            svg::line_chart("Inertia (elbow)", "inertia", &ks, &inertia, rec, "#4e79a7"),
            svg::line_chart("Silhouette (higher is better)", "mean silhouette", &ks, &sil, rec, "#e15759"),
            svg::line_chart("Calinski-Harabasz (higher is better)", "index", &ks, &ch, rec, "#59a14f"),
            svg::line_chart("Davies-Bouldin (lower is better)", "index", &ks, &db, rec, "#b07aa1")
        );
    } else if let Some(k) = km {
        let _ = write!(h, "<p>k = {} was given; no sweep was run.</p>", k.k);
    }

    // Scatter.
    h.push_str("<h2 id=\"map\">3. The segments on a map</h2>");
    if let Some(pc) = &r.pca {
        let _ = write!(
            h,
            "<p class=\"note\">A seeded sample of {} customers projected on the first two principal components of the scaled features ({} and {} of the variance). The axes cover the central 99% of the sample; the few customers beyond sit on the frame.</p><div class=\"plot\">{}</div>",
            pc.sample,
            pct(pc.explained[0]),
            pct(pc.explained[1]),
            svg::scatter(
                "Customers by segment (PCA)",
                ("principal component 1", "principal component 2"),
                &pc.points,
                &names
            )
        );
    }

    // Sizes.
    h.push_str("<h2 id=\"sizes\">4. Size and value</h2>");
    let segs = &p.segments;
    let sizes: Vec<f64> = segs.iter().map(|s| s.share).collect();
    let revenue: Vec<f64> = segs
        .iter()
        .map(|s| s.revenue_share.unwrap_or(0.0))
        .collect();
    let has_rev = segs.iter().any(|s| s.revenue_share.is_some());
    let mut series: Vec<(&str, Vec<f64>)> = vec![("customers", sizes)];
    if has_rev {
        series.push(("revenue", revenue));
    }
    let _ = write!(
        h,
        "<div class=\"plot\">{}</div>",
        svg::share_bars("Share of customers and of revenue", &names, &series)
    );

    super::next::outlook_html(r, &mut h);

    // Heatmap.
    h.push_str("<h2 id=\"lifts\">5. What sets each segment apart</h2>");
    let feats: Vec<String> = p.population.iter().map(|f| f.name.clone()).collect();
    let lifts: Vec<Vec<f64>> = segs
        .iter()
        .map(|s| s.features.iter().map(|f| f.lift).collect())
        .collect();
    let _ = write!(
        h,
        "<div class=\"plot\">{}</div>",
        svg::heatmap("Feature lift per segment (z-score)", &names, &feats, &lifts)
    );

    // Persona cards.
    h.push_str("<h2 id=\"personas\">6. Personas</h2><div class=\"cards\">");
    let rules = p.surrogate.as_ref().map_or(&[][..], |s| s.rules.as_slice());
    for s in segs {
        let id = s.segment;
        let _ = write!(
            h,
            "<div class=\"persona-card\" style=\"border-left-color:{}\"><h3>{}</h3><div class=\"k\">segment {} · {} customers ({}){}</div><p class=\"desc\">{}</p>",
            segment_colour(id),
            esc(&s.persona),
            id,
            s.size,
            pct(s.share),
            s.revenue_share.map_or(String::new(), |v| format!(" · {} of revenue", pct(v))),
            esc(&s.description)
        );
        if s.micro {
            h.push_str("<p class=\"note\"><b>Micro-segment</b>: under 1% of customers or under 30 customers, too small to act on alone.</p>");
        }
        if let (Some(j), Some(v)) = (s.stability, &s.stability_verdict) {
            let _ = write!(
                h,
                "<div class=\"k\">Stability: {j:.2} ({}; bootstrap Jaccard, below 0.6 unstable, 0.6–0.75 doubtful, 0.75 and above stable)</div>",
                esc(v)
            );
        }
        h.push_str("<div class=\"k\">Stands out by</div><ul>");
        for t in &s.traits {
            let _ = write!(h, "<li>{}</li>", esc(t));
        }
        h.push_str("</ul><div class=\"k\">Key numbers (segment median / mean)</div><ul>");
        let mut fs: Vec<_> = s.features.iter().collect();
        fs.sort_by(|a, b| b.lift.abs().total_cmp(&a.lift.abs()));
        for f in fs.iter().take(4) {
            let _ = write!(
                h,
                "<li>{}: {} / {}</li>",
                esc(&f.name),
                num(f.median),
                num(f.mean)
            );
        }
        h.push_str("</ul>");
        let mine: Vec<_> = rules
            .iter()
            .filter(|x| i64::from(x.segment) == i64::from(id))
            .collect();
        if !mine.is_empty() {
            h.push_str("<div class=\"k\">Decision-tree rule</div><ul>");
            for x in mine.iter().take(2) {
                let _ = write!(
                    h,
                    "<li>{} <span class=\"note\">(covers {}, precision {})</span></li>",
                    esc(&x.text),
                    pct(x.coverage),
                    pct(x.precision)
                );
            }
            h.push_str("</ul>");
        }
        h.push_str("</div>");
    }
    h.push_str("</div>");
    if let Some(t) = &p.surrogate {
        let _ = write!(
            h,
            "<p class=\"note\">The rules come from a decision tree trained to mimic the segments; it agrees with them on {} of held-out customers.</p>",
            pct(t.fidelity)
        );
    }

    // Basket.
    h.push_str("<h2 id=\"basket\">7. What they buy together</h2>");
    if let Some(b) = &p.basket {
        let lab = |item: &str| match b.labels.get(item) {
            Some(d) => format!("{item} · {d}"),
            None => item.to_string(),
        };
        let _ = write!(
            h,
            "<p class=\"note\">A basket is {}; items are its <code>{}</code> values ({} distinct); rules of up to {} items with support ≥ {}, confidence ≥ {} and lift above {}, best lift first. Offers: items a segment buys less often than the items bought with them predict (its index on the item against the similarity-weighted index on those items), ranked by the buyers gained at that rate.</p>",
            esc(&b.basket),
            esc(&b.item),
            b.items,
            b.max_len,
            num(b.min_support),
            num(b.min_confidence),
            num(b.min_lift)
        );
        for sr in &b.segments {
            let id = sr.segment;
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
            if let Some(n) = &sr.note {
                let _ = write!(h, "<p class=\"note\">{}</p>", esc(n));
            } else if sr.rules.is_empty() {
                let _ = write!(
                    h,
                    "<p class=\"note\">No rule reaches the thresholds ({} baskets).</p>",
                    sr.baskets
                );
            } else {
                h.push_str("<table><tr><th>if they buy</th><th>they also buy</th><th>support</th><th>confidence</th><th>lift</th></tr>");
                for x in sr.rules.iter().take(5) {
                    let ant: Vec<String> = x.antecedent.iter().map(|a| lab(a)).collect();
                    let _ = write!(
                        h,
                        "<tr><td>{}</td><td>{}</td><td class=n>{:.3}</td><td class=n>{:.2}</td><td class=n>{:.2}</td></tr>",
                        esc(&ant.join(" + ")),
                        esc(&lab(&x.consequent)),
                        x.support,
                        x.confidence,
                        x.lift
                    );
                }
                h.push_str("</table>");
            }
            if !sr.offers.is_empty() {
                h.push_str("<table class=\"offers\"><tr><th>next best offer</th><th>bought by</th><th>index</th><th>expected</th><th>buyers to gain</th><th>because they buy</th></tr>");
                for o in &sr.offers {
                    let _ = write!(
                        h,
                        "<tr><td>{}</td><td class=n>{}</td><td class=n>{:.2}</td><td class=n>{:.2}</td><td class=n>{:.0}</td><td>{} (similarity {:.2}){}</td></tr>",
                        esc(&lab(&o.item)),
                        pct(o.share),
                        o.index,
                        o.expected_index,
                        o.gain,
                        esc(&lab(&o.because)),
                        o.similarity,
                        o.rule.as_ref().map_or(String::new(), |r| format!(
                            "; rule {} → it, lift {:.2}",
                            esc(&r.antecedent.iter().map(|a| lab(a)).collect::<Vec<_>>().join(" + ")),
                            r.lift
                        ))
                    );
                }
                h.push_str("</table>");
            }
        }
        h.push_str("<h3>Cross-sell (cosine similarity between items, over customers' purchase counts; the most bought items)</h3><table><tr><th>bought</th><th>recommend</th></tr>");
        for rec in &b.recommendations {
            let sims: Vec<String> = rec
                .similar
                .iter()
                .map(|(c, v)| format!("{} ({v:.2})", lab(c)))
                .collect();
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td></tr>",
                esc(&lab(&rec.item)),
                esc(&sims.join(", "))
            );
        }
        h.push_str("</table>");
    } else {
        h.push_str(
            "<p class=\"note\">No basket rules (no transactions with products or categories).</p>",
        );
    }

    // Categorical profiles.
    if !p.categorical.is_empty() {
        h.push_str("<h2 id=\"categorical\">7b. Who they are: text columns by segment</h2><div class=\"plots\">");
        for c in &p.categorical {
            let mut rows = Vec::new();
            let mut shares = Vec::new();
            for g in c.by_segment.iter().filter(|g| g.subscriptions > 0) {
                let id: i32 = g.group.parse().unwrap_or(0);
                let label = names
                    .iter()
                    .find(|n| n.0 == id)
                    .map_or(g.group.clone(), |n| n.1.clone());
                rows.push((Some(id), label));
                shares.push(g.shares.clone());
            }
            let title = format!("{}.{} by segment", c.table, c.column);
            let _ = write!(
                h,
                "<div class=\"plot\">{}<p class=\"note\">{} customers; a customer's value is {}.{}</p></div>",
                svg::stacked_bars(&title, &rows, &c.levels, &shares),
                c.customers,
                esc(&c.per_customer),
                c.chi_square.as_ref().map_or(String::new(), |x| format!(
                    " Segment and {} are {} (chi-square {:.1}, {} degrees of freedom, {}; Cramér's V {:.3}: {}).",
                    esc(&c.column),
                    if x.p_value < 0.05 { "associated" } else { "not significantly associated" },
                    x.statistic,
                    x.dof,
                    p_text(x.p_value),
                    x.cramers_v,
                    effect_words(x.cramers_v)
                ))
            );
        }
        h.push_str("</div>");
    }

    // Streaming.
    h.push_str("<h2 id=\"streaming\">8. SHOPPING x STREAMING</h2>");
    if let Some(st) = &p.streaming {
        type Rows = Vec<(Option<i32>, String)>;
        let group = |groups: &[GroupShares], by_seg: bool| -> (Rows, Vec<Vec<f64>>) {
            let mut rows = Vec::new();
            let mut shares = Vec::new();
            for g in groups.iter().filter(|g| g.subscriptions > 0) {
                let label = g.group.clone();
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
                shares.push(g.shares.clone());
            }
            (rows, shares)
        };
        let (rows, shares) = group(&st.by_segment, true);
        let _ = write!(
            h,
            "<div class=\"plots\"><div class=\"plot\">{}</div>",
            svg::stacked_bars(
                "Streaming packages by segment",
                &rows,
                &st.packages,
                &shares
            )
        );
        let (rows, shares) = group(&st.by_age_band, false);
        if !rows.is_empty() {
            let _ = write!(
                h,
                "<div class=\"plot\">{}</div>",
                svg::stacked_bars(
                    "Streaming packages by age band",
                    &rows,
                    &st.packages,
                    &shares
                )
            );
        }
        h.push_str("</div>");
        if let Some(c) = &st.chi_square {
            let _ = write!(
                h,
                "<p>Segment and package are {} (chi-square {:.1}, {} degrees of freedom, {}; Cramér's V {:.3}: {}).</p>",
                if c.p_value < 0.05 { "associated" } else { "not significantly associated" },
                c.statistic,
                c.dof,
                p_text(c.p_value),
                c.cramers_v,
                effect_words(c.cramers_v)
            );
        }
    } else {
        h.push_str("<p class=\"note\">No streaming table in this run.</p>");
    }

    // Backend and timings.
    h.push_str("<h2 id=\"run\">9. How it ran</h2>");
    if let Some(m) = m {
        let _ = write!(h, "<p>Backend: {}. A stage marked reused was not run again: its inputs and parameters were unchanged.</p><table><tr><th>stage</th><th>seconds (when it ran)</th><th>peak memory, MB (process high-water mark at its end)</th><th>of which this stage added, MB</th><th>reused</th></tr>", esc(backend));
        let mb = |b: Option<u64>| b.map_or("—".to_string(), |b| format!("{:.0}", b as f64 / 1e6));
        for s in &m.stages {
            let _ = write!(
                h,
                "<tr><td>{}</td><td class=n>{:.2}</td><td class=n>{}</td><td class=n>{}</td><td>{}</td></tr>",
                esc(&s.name),
                s.seconds,
                mb(s.peak_rss_bytes),
                mb(s.peak_rss_growth_bytes),
                if s.reused { "yes" } else { "no" }
            );
        }
        h.push_str("</table>");
    }
    for n in &p.notes {
        let _ = write!(h, "<p class=\"note\">Note: {}</p>", esc(n));
    }
    h.push_str("<p class=\"note\">Speed comparisons (CPU vs GPU, against scikit-learn and faiss) live in BENCHMARKS.md of the segmenta repository.</p></body></html>\n");
    h
}
