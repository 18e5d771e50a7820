//! SHOPPING x STREAMING: which streaming packages each segment and age band takes,
//! and a chi-square test of independence between segment and package.

use serde::{Deserialize, Serialize};

/// Package shares of one group (a segment or an age band).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GroupShares {
    /// The group: a segment id or an age band.
    pub group: String,
    /// Subscriptions in the group.
    pub subscriptions: u64,
    /// Customers of the group with at least one package.
    pub subscribers: u64,
    /// Share of the group's subscriptions per package, in `packages` order.
    pub shares: Vec<f64>,
}

/// A chi-square test of independence.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ChiSquare {
    /// The statistic.
    pub statistic: f64,
    /// Degrees of freedom.
    pub dof: u64,
    /// P-value (upper tail).
    pub p_value: f64,
    /// Cramér's V, the effect size (0 none, 1 complete association).
    pub cramers_v: f64,
}

/// The streaming part of a profile.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StreamingReport {
    /// Packages, in column order.
    pub packages: Vec<String>,
    /// Subscriptions of profiled customers.
    pub subscriptions: u64,
    /// Per segment.
    pub by_segment: Vec<GroupShares>,
    /// Per age band (when ages are known).
    pub by_age_band: Vec<GroupShares>,
    /// Segment × package independence.
    pub chi_square: Option<ChiSquare>,
}

/// Shares of a contingency table's rows.
pub fn shares(groups: &[String], counts: &[Vec<u64>], subscribers: &[u64]) -> Vec<GroupShares> {
    groups
        .iter()
        .zip(counts)
        .zip(subscribers)
        .map(|((g, row), &subs)| {
            let total: u64 = row.iter().sum();
            GroupShares {
                group: g.clone(),
                subscriptions: total,
                subscribers: subs,
                shares: row
                    .iter()
                    .map(|&c| {
                        if total > 0 {
                            c as f64 / total as f64
                        } else {
                            0.0
                        }
                    })
                    .collect(),
            }
        })
        .collect()
}

/// Pearson's chi-square test of independence on a contingency table (rows and
/// columns with a zero total are dropped, as they carry no information). `None`
/// when fewer than 2 rows or columns remain.
pub fn chi_square(table: &[Vec<u64>]) -> Option<ChiSquare> {
    let rows: Vec<&Vec<u64>> = table.iter().filter(|r| r.iter().sum::<u64>() > 0).collect();
    let ncol = rows.first()?.len();
    let col_tot: Vec<u64> = (0..ncol).map(|j| rows.iter().map(|r| r[j]).sum()).collect();
    let cols: Vec<usize> = (0..ncol).filter(|&j| col_tot[j] > 0).collect();
    if rows.len() < 2 || cols.len() < 2 {
        return None;
    }
    let n: f64 = col_tot.iter().sum::<u64>() as f64;
    let mut stat = 0.0;
    for r in &rows {
        let rt: f64 = r.iter().sum::<u64>() as f64;
        for &j in &cols {
            let e = rt * col_tot[j] as f64 / n;
            stat += (r[j] as f64 - e).powi(2) / e;
        }
    }
    let dof = ((rows.len() - 1) * (cols.len() - 1)) as u64;
    let min_dim = (rows.len().min(cols.len()) - 1) as f64;
    Some(ChiSquare {
        statistic: stat,
        dof,
        p_value: chi2_sf(stat, dof as f64),
        cramers_v: (stat / (n * min_dim)).sqrt(),
    })
}

/// A p-value for people: `p = 0.032`, `p = 3.1e-7`, or `p < 1e-300` when it
/// underflows.
pub fn p_text(p: f64) -> String {
    if p <= 0.0 {
        "p < 1e-300".into()
    } else if p >= 0.001 {
        format!("p = {p:.3}")
    } else {
        format!("p = {p:.1e}")
    }
}

/// Cramér's V in words (Cohen's conventions for a many-category table).
pub fn effect_words(v: f64) -> &'static str {
    match v {
        v if v < 0.1 => "a negligible effect",
        v if v < 0.3 => "a small effect",
        v if v < 0.5 => "a medium effect",
        _ => "a large effect",
    }
}

/// Upper tail of the chi-square distribution: Q(dof/2, x/2).
pub fn chi2_sf(x: f64, dof: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    gamma_q(dof / 2.0, x / 2.0)
}

/// Regularised upper incomplete gamma Q(a, x): a series below a + 1, a continued
/// fraction above (Numerical Recipes' gammq).
fn gamma_q(a: f64, x: f64) -> f64 {
    let lg = crate::lifetime::ln_gamma(a);
    if x < a + 1.0 {
        let mut sum = 1.0 / a;
        let mut del = sum;
        let mut ap = a;
        for _ in 0..10_000 {
            ap += 1.0;
            del *= x / ap;
            sum += del;
            if del.abs() < sum.abs() * 1e-16 {
                break;
            }
        }
        let p = sum * (-x + a * x.ln() - lg).exp();
        (1.0 - p).max(0.0)
    } else {
        let tiny = 1e-300;
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / tiny;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..10_000 {
            let an = -(i as f64) * (i as f64 - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < tiny {
                d = tiny;
            }
            c = b + an / c;
            if c.abs() < tiny {
                c = tiny;
            }
            d = 1.0 / d;
            let del = d * c;
            h *= del;
            if (del - 1.0).abs() < 1e-16 {
                break;
            }
        }
        (-x + a * x.ln() - lg).exp() * h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_close(a: f64, b: f64) {
        assert!((a - b).abs() <= 1e-9 * b.abs().max(1e-300), "{a} vs {b}");
    }

    #[test]
    fn p_values_match_scipy() {
        // scipy.stats.chi2.sf(x, dof), scipy 1.17.1.
        assert_close(chi2_sf(10.0, 4.0), 0.040_427_681_994_512_79);
        assert_close(chi2_sf(3.2, 1.0), 0.073_638_270_120_302_58);
        assert_close(chi2_sf(250.0, 30.0), 1.515_741_420_368_730_8e-36);
        assert_close(chi2_sf(0.5, 7.0), 0.999_446_481_390_424_9);
    }

    #[test]
    fn contingency_matches_scipy() {
        // scipy.stats.chi2_contingency(t, correction=False)
        let t = vec![vec![20, 15, 5], vec![10, 25, 30], vec![8, 9, 12]];
        let c = chi_square(&t).unwrap();
        assert_close(c.statistic, 19.201_732_573_110_39);
        assert_close(c.p_value, 0.000_717_361_569_363_522_1);
        assert_eq!(c.dof, 4);
    }
}
