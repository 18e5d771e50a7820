//! Text summaries of the artefacts, as a terminal or a notebook shows them: each
//! stage's output type implements `Display` (the CLI prints these; `--json` prints
//! the artefact itself).

use std::fmt::{self, Display, Formatter};

use crate::clean::CleanReport;
use crate::features::FeaturesReport;
use crate::generate::MallManifest;
use crate::pipeline::{DbscanOutput, KmeansOutput, SweepReport};
use crate::profile::streaming::p_text;
use crate::profile::Profile;

impl Display for FeaturesReport {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} customers ({} seen in transactions before the rules), {} features, as of {}",
            self.customers,
            self.customers_seen,
            self.features.len(),
            self.as_of
        )?;
        for s in &self.sources {
            let rej: Vec<String> = s.rejected.iter().map(|(k, v)| format!("{k} {v}")).collect();
            let why = match rej.is_empty() {
                true => String::new(),
                false => format!(" ({})", rej.join(", ")),
            };
            writeln!(
                f,
                "  {:<14} {:>11} rows in, {:>11} kept, {:>9} rejected{why}",
                s.table, s.rows_in, s.rows_kept, s.rows_rejected
            )?;
        }
        for (name, missing) in &self.dropped {
            writeln!(
                f,
                "  feature {name} left out: its source {missing} is absent"
            )?;
        }
        for (name, v) in &self.constant {
            let v = v.map_or("empty".to_string(), |v| v.to_string());
            writeln!(
                f,
                "  feature {name} left out: always {v} (rule: a feature must vary to segment on)"
            )?;
        }
        if !self.category_groups_absent.is_empty() {
            writeln!(
                f,
                "  category groups not in {}: {} (their shares are 0)",
                self.category_groups,
                self.category_groups_absent.join(", ")
            )?;
        }
        Ok(())
    }
}

impl Display for CleanReport {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} rows in: {} kept, {} rejected, {} flagged as outliers",
            self.rows_in, self.rows_kept, self.rows_rejected, self.rows_flagged
        )?;
        for (code, c) in &self.rules {
            let cells: u64 = c.cells.values().sum();
            let mut what = Vec::new();
            if c.rows_rejected > 0 {
                what.push(format!("{} rows rejected", c.rows_rejected));
            }
            if cells > 0 {
                what.push(format!("{cells} cells changed"));
            }
            if c.rows_flagged > 0 {
                what.push(format!("{} rows flagged", c.rows_flagged));
            }
            let cols: Vec<String> = c
                .rows_by_column
                .iter()
                .chain(c.cells.iter())
                .chain(c.cells_flagged.iter())
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            writeln!(f, "  {code:<20} {} ({})", what.join(", "), cols.join(", "))?;
        }
        for (col, why) in &self.outlier_skipped {
            writeln!(f, "  outlier rule skips {col}: {why}")?;
        }
        for (col, why) in &self.outlier_masses {
            writeln!(f, "  outlier rule on {col}: {why}")?;
        }
        for (col, why) in &self.outlier_warnings {
            writeln!(f, "  warning: outlier rule on {col}: {why}")?;
        }
        Ok(())
    }
}

impl Display for SweepReport {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "sweep on {} rows x {} features, backend {}, silhouette {}",
            self.rows,
            self.features.len(),
            self.backend,
            self.silhouette_note
        )?;
        if self.fit_rows > 0 && self.fit_rows < self.rows {
            writeln!(f, "each k fitted on {}", self.fit_rows_note)?;
        }
        writeln!(
            f,
            "{:>4} {:>14} {:>11} {:>15} {:>18} {:>6} {:>8}",
            "k", "inertia", "silhouette", "davies_bouldin", "calinski_harabasz", "iters", "fit_s"
        )?;
        let opt =
            |v: Option<f64>, w: usize| v.map_or(format!("{:>w$}", "-"), |v| format!("{v:>w$.4}"));
        for p in &self.points {
            let mark = if p.k == self.recommended.k { " <" } else { "" };
            writeln!(
                f,
                "{:>4} {:>14.2} {} {} {} {:>6} {:>8.3}{mark}",
                p.k,
                p.inertia,
                opt(p.silhouette, 11),
                opt(p.davies_bouldin, 15),
                opt(p.calinski_harabasz, 18),
                p.iterations,
                p.fit_s
            )?;
        }
        writeln!(
            f,
            "recommended k = {}: {}",
            self.recommended.k, self.recommended.reason
        )
    }
}

impl Display for Profile {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} customers in {} segments",
            self.rows,
            self.segments.len()
        )?;
        for s in &self.segments {
            let revenue = s
                .revenue_share
                .map_or(String::new(), |r| format!(", {:.1}% of revenue", 100.0 * r));
            writeln!(
                f,
                "\nsegment {} — {} ({} customers, {:.1}%{revenue})",
                s.segment,
                s.persona,
                s.size,
                100.0 * s.share
            )?;
            writeln!(f, "  {}", s.description)?;
            writeln!(f, "  traits: {}", s.traits.join(", "))?;
            let rule = self.surrogate.as_ref().and_then(|t| {
                t.rules
                    .iter()
                    .find(|r| i64::from(r.segment) == i64::from(s.segment))
            });
            if let Some(r) = rule {
                writeln!(
                    f,
                    "  rule: {} (covers {:.0}%, precision {:.0}%)",
                    r.text,
                    100.0 * r.coverage,
                    100.0 * r.precision
                )?;
            }
            if let Some(b) = &self.basket {
                let lab = |i: &String| match b.labels.get(i) {
                    Some(d) => format!("{i} ({d})"),
                    None => i.clone(),
                };
                let first = b
                    .segments
                    .iter()
                    .find(|x| x.segment == s.segment)
                    .and_then(|x| x.rules.first());
                if let Some(r) = first {
                    let ant: Vec<String> = r.antecedent.iter().map(lab).collect();
                    writeln!(
                        f,
                        "  basket: {} → {} (support {:.3}, confidence {:.2}, lift {:.2})",
                        ant.join(" + "),
                        lab(&r.consequent),
                        r.support,
                        r.confidence,
                        r.lift
                    )?;
                }
            }
        }
        if let Some(t) = &self.surrogate {
            writeln!(
                f,
                "\nsurrogate tree: fidelity {:.3} on {} held-out rows (depth ≤ {})",
                t.fidelity, t.test_rows, t.max_depth
            )?;
        }
        if let Some((s, c)) = self
            .streaming
            .as_ref()
            .and_then(|s| s.chi_square.as_ref().map(|c| (s, c)))
        {
            writeln!(
                f,
                "streaming: {} subscriptions; segment x package chi-square {:.1} (dof {}), {}, Cramér's V {:.3}",
                s.subscriptions,
                c.statistic,
                c.dof,
                p_text(c.p_value),
                c.cramers_v
            )?;
        }
        for n in &self.notes {
            writeln!(f, "note: {n}")?;
        }
        Ok(())
    }
}

impl Display for MallManifest {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let r = &self.rows;
        writeln!(
            f,
            "generated a mall of {} customers over {} months ({} .. {})",
            self.customers, self.months, self.window_start, self.window_end
        )?;
        if self.window_end != self.history_end {
            writeln!(
                f,
                "  cut: the history before {} of a mall simulated to {}",
                self.window_end, self.history_end
            )?;
        }
        if let Some(d) = &self.drift_at {
            writeln!(
                f,
                "  drift: {} customers switch persona on {d} (rate {})",
                self.switched, self.drift_rate
            )?;
        }
        for (name, rows) in [
            ("customers", r.customers),
            ("transactions", r.transactions),
            ("visits", r.visits),
            ("wifi_sessions", r.wifi_sessions),
            ("app_events", r.app_events),
            ("streaming", r.streaming),
            ("truth", r.truth),
        ] {
            writeln!(f, "  {name:<14} {rows:>12} rows")?;
        }
        let d = &self.dirt;
        writeln!(
            f,
            "planted dirt: {} duplicate, {} absurd, {} out-of-window, {} unknown-customer transactions; {} exit-before-entry visits; {} missing and {} impossible birth years; planted returns: {}",
            d.duplicate_transactions,
            d.absurd_amounts,
            d.transactions_out_of_window,
            d.unknown_customer_transactions,
            d.visits_exit_before_entry,
            d.missing_birth_years,
            d.impossible_birth_years,
            d.negative_amounts
        )
    }
}

/// Segment sizes and the files written.
fn sizes(
    f: &mut Formatter<'_>,
    sizes: &[u64],
    n: usize,
    written: &[&std::path::Path],
) -> fmt::Result {
    for (c, s) in sizes.iter().enumerate() {
        writeln!(
            f,
            "  segment {c}: {s} rows ({:.1}%)",
            100.0 * *s as f64 / n as f64
        )?;
    }
    let names: Vec<String> = written.iter().map(|p| p.display().to_string()).collect();
    writeln!(f, "wrote {}", names.join(" and "))
}

impl Display for KmeansOutput {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let (m, km) = (&self.model, self.kmeans());
        writeln!(
            f,
            "k-means on {} rows x {} features, k={}, backend {}: inertia {:.6}, {} iteration(s){}",
            m.rows,
            m.features.len(),
            km.k,
            km.backend,
            km.inertia,
            km.iterations,
            if km.converged {
                ""
            } else {
                " (not converged: raise --max-iter)"
            }
        )?;
        sizes(f, &km.sizes, m.rows, &[&self.assignments, &self.model_path])
    }
}

impl Display for DbscanOutput {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let (m, db) = (&self.model, self.dbscan());
        writeln!(
            f,
            "DBSCAN on {} rows x {} features, eps {:.6}{}, min_samples {}: {} cluster(s), {} noise ({:.1}%), {} core ({} index)",
            m.rows,
            m.features.len(),
            db.eps,
            if db.eps_auto { " (auto)" } else { "" },
            db.min_samples,
            db.clusters,
            db.noise,
            100.0 * db.noise as f64 / m.rows as f64,
            self.core,
            db.index
        )?;
        sizes(f, &db.sizes, m.rows, &[&self.assignments, &self.model_path])
    }
}
