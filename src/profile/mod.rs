//! What each segment is: sizes, revenue shares, per-feature means and medians in
//! original units with their lift (z-score against all customers), a persona name
//! from documented rules (`personas.toml`), the surrogate tree's rules, market-basket
//! rules between categories and the SHOPPING x STREAMING cross-tab.

pub mod basket;
pub mod categorical;
pub mod inputs;
pub mod market;
pub mod rfm;
pub mod streaming;
pub mod tree;

pub use rfm::{quintile_scores, rfm_description, rfm_name, rfm_scores, RFM_MAP};

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::matrix::Matrix;

/// The default persona rules, embedded in the binary.
pub const DEFAULT_PERSONAS: &str = include_str!("personas.toml");

/// The value of [`Profile::format`].
pub const PROFILE_FORMAT: &str = "segmenta-profile";
/// The schema version written by this build (see docs/profile.schema.json).
pub const PROFILE_VERSION: u32 = 2;

/// One feature's statistics in a group of customers.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FeatureStat {
    /// Feature name.
    pub name: String,
    /// Mean, original units.
    pub mean: f64,
    /// Median, original units.
    pub median: f64,
    /// (segment mean − population mean) / population standard deviation; 0 for the
    /// population itself.
    pub lift: f64,
}

/// The population's statistics of one feature.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PopulationStat {
    /// Feature name.
    pub name: String,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub median: f64,
    /// Standard deviation (population, ddof = 0).
    pub std: f64,
}

/// One segment.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SegmentProfile {
    /// Segment id (`-1` is DBSCAN noise).
    pub segment: i32,
    /// Customers.
    pub size: u64,
    /// Share of customers.
    pub share: f64,
    /// Share of `monetary_total`, when that feature exists.
    pub revenue_share: Option<f64>,
    /// Persona name (unique among segments).
    pub persona: String,
    /// One-sentence description.
    pub description: String,
    /// How the name was chosen: `rule`, `qualified`, `rfm`, `traits` or `noise`.
    pub naming: String,
    /// The three strongest lifts of at least [`MIN_TRAIT_LIFT`], in words ("high
    /// weekend visits (+1.8σ)").
    pub traits: Vec<String>,
    /// Per-feature statistics, in feature order.
    pub features: Vec<FeatureStat>,
    /// The segment's mean RFM scores `[R, FM]` (1–5 quintile scores of all
    /// customers, [`rfm_scores`]), when recency, frequency and spend are features.
    #[serde(default)]
    pub rfm: Option<[f64; 2]>,
    /// Under [`MICRO_SHARE`] of customers or under [`MICRO_SIZE`] customers: a
    /// micro-segment, too small to act on alone.
    #[serde(default)]
    pub micro: bool,
    /// Mean bootstrap Jaccard similarity (clusterboot), when computed.
    #[serde(default)]
    pub stability: Option<f64>,
    /// Its reading: `stable` (≥ 0.75), `doubtful` (0.6–0.75) or `unstable`.
    #[serde(default)]
    pub stability_verdict: Option<String>,
}

/// Traits weaker than this many standard deviations are not shown.
pub const MIN_TRAIT_LIFT: f64 = 0.25;
/// A segment holding less than this share of customers is a micro-segment.
pub const MICRO_SHARE: f64 = 0.01;
/// A segment of fewer customers than this is a micro-segment.
pub const MICRO_SIZE: u64 = 30;

/// A whole profile (`profile.json`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Profile {
    /// Always [`PROFILE_FORMAT`].
    pub format: String,
    /// [`PROFILE_VERSION`].
    pub version: u32,
    /// Customers profiled.
    pub rows: u64,
    /// Where the persona rules came from (`built-in` or a path).
    pub personas_source: String,
    /// Population statistics.
    pub population: Vec<PopulationStat>,
    /// Segments, by id.
    pub segments: Vec<SegmentProfile>,
    /// The surrogate tree's summary, when a model with one was given.
    pub surrogate: Option<SurrogateSummary>,
    /// Text columns of the sources (gender, country, entrance, zone) per segment.
    #[serde(default)]
    pub categorical: Vec<inputs::CategoricalReport>,
    /// Association rules between categories, per segment.
    pub basket: Option<basket::BasketReport>,
    /// SHOPPING x STREAMING.
    pub streaming: Option<streaming::StreamingReport>,
    /// Notes on parts left out (no transactions, no streaming table…).
    pub notes: Vec<String>,
    /// The fit profiled: its model's `fit_id` (empty when no model was given).
    #[serde(default)]
    pub fit_id: String,
    /// The `features_xxh64` of the features stage whose tables it read (empty
    /// when it read none).
    #[serde(default)]
    pub features_xxh64: String,
    /// What each segment will do next (BG/NBD, Gamma-Gamma), when the lifetime
    /// stage ran.
    #[serde(default)]
    pub lifetime: Vec<crate::lifetime::SegmentLifetime>,
    /// What changed since the previous run (`update`).
    #[serde(default)]
    pub changes: Option<crate::pipeline::MigrationReport>,
}

impl crate::artefact::Artefact for Profile {
    const FORMAT: &'static str = PROFILE_FORMAT;
    const VERSION: u32 = PROFILE_VERSION;
    const NOUN: &'static str = "profile";
}

/// The surrogate tree as the profile reports it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SurrogateSummary {
    /// Held-out accuracy against the segmentation.
    pub fidelity: f64,
    /// Training rows.
    pub train_rows: usize,
    /// Held-out rows.
    pub test_rows: usize,
    /// Depth limit.
    pub max_depth: usize,
    /// Rules per segment.
    pub rules: Vec<tree::Rule>,
}

fn median(v: &mut [f64]) -> f64 {
    crate::stats::median(v).unwrap_or(f64::NAN)
}

/// Population and per-segment statistics of `x` (original units) for `labels`.
pub fn segment_stats(
    x: &Matrix,
    features: &[String],
    labels: &[i32],
) -> (Vec<PopulationStat>, Vec<SegmentProfile>) {
    let (n, d) = (x.n(), x.d());
    let mut segs: Vec<i32> = labels.to_vec();
    segs.sort_unstable();
    segs.dedup();
    let pos: HashMap<i32, usize> = segs.iter().enumerate().map(|(i, s)| (*s, i)).collect();
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); segs.len()];
    for (i, l) in labels.iter().enumerate() {
        members[pos[l]].push(i);
    }
    let col = |j: usize, rows: &mut dyn Iterator<Item = usize>| -> Vec<f64> {
        rows.map(|i| f64::from(x.row(i)[j])).collect()
    };
    let mut population = Vec::with_capacity(d);
    for (j, name) in features.iter().enumerate().take(d) {
        let mut v = col(j, &mut (0..n));
        let mean = v.iter().sum::<f64>() / n.max(1) as f64;
        let var = v.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / n.max(1) as f64;
        population.push(PopulationStat {
            name: name.clone(),
            mean,
            median: median(&mut v),
            std: var.sqrt(),
        });
    }
    let rfm = rfm_scores(x, features);
    let revenue = features.iter().position(|f| f == "monetary_total");
    let total_revenue: f64 = revenue.map_or(0.0, |j| col(j, &mut (0..n)).iter().sum());
    let mut out = Vec::with_capacity(segs.len());
    for (s, rows) in segs.iter().zip(&members) {
        let mut stats = Vec::with_capacity(d);
        for (j, p) in population.iter().enumerate() {
            let mut v = col(j, &mut rows.iter().copied());
            let mean = v.iter().sum::<f64>() / v.len().max(1) as f64;
            let lift = if p.std > 0.0 {
                (mean - p.mean) / p.std
            } else {
                0.0
            };
            stats.push(FeatureStat {
                name: p.name.clone(),
                mean,
                median: median(&mut v),
                lift,
            });
        }
        let revenue_share = revenue.map(|j| {
            let r: f64 = rows.iter().map(|&i| f64::from(x.row(i)[j])).sum();
            if total_revenue != 0.0 {
                r / total_revenue
            } else {
                0.0
            }
        });
        out.push(SegmentProfile {
            segment: *s,
            size: rows.len() as u64,
            share: rows.len() as f64 / n.max(1) as f64,
            revenue_share,
            persona: String::new(),
            description: String::new(),
            naming: String::new(),
            traits: Vec::new(),
            features: stats,
            rfm: rfm.as_ref().map(|sc| {
                let m = rows.len().max(1) as f64;
                [
                    rows.iter().map(|&i| sc[i][0]).sum::<f64>() / m,
                    rows.iter().map(|&i| sc[i][1]).sum::<f64>() / m,
                ]
            }),
            micro: *s >= 0
                && ((rows.len() as f64) < MICRO_SHARE * n as f64
                    || (rows.len() as u64) < MICRO_SIZE),
            stability: None,
            stability_verdict: None,
        });
    }
    (population, out)
}

/// A condition on a lift.
#[derive(Clone, Debug, PartialEq)]
pub struct Condition {
    /// Feature name.
    pub feature: String,
    /// True for `>`, false for `<`.
    pub above: bool,
    /// Threshold, in standard deviations.
    pub z: f64,
}

/// One persona rule.
#[derive(Clone, Debug)]
pub struct PersonaRule {
    /// Name.
    pub name: String,
    /// One sentence.
    pub description: String,
    /// All must hold.
    pub when: Vec<Condition>,
    /// Tried only for segments no other persona fits.
    pub fallback: bool,
}

/// Persona rules and the words for each feature.
#[derive(Clone, Debug)]
pub struct PersonaRules {
    /// Feature → words ("weekend visits").
    pub labels: BTreeMap<String, String>,
    /// The rules, in file order.
    pub personas: Vec<PersonaRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRules {
    #[serde(default)]
    labels: BTreeMap<String, String>,
    persona: Vec<RawPersona>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPersona {
    name: String,
    description: String,
    when: Vec<String>,
    #[serde(default)]
    fallback: bool,
}

impl PersonaRules {
    /// Parses rules; `source` names the file in errors.
    pub fn parse(text: &str, source: &Path) -> Result<PersonaRules> {
        let bad = |message: String| Error::Source {
            path: source.to_path_buf(),
            message,
        };
        let raw: RawRules = toml::from_str(text)
            .map_err(|e| bad(format!("not a persona file ({})", e.message())))?;
        let mut personas = Vec::new();
        for p in raw.persona {
            let mut when = Vec::new();
            for c in &p.when {
                let (f, above, z) = if let Some((f, z)) = c.split_once('>') {
                    (f, true, z)
                } else if let Some((f, z)) = c.split_once('<') {
                    (f, false, z)
                } else {
                    return Err(bad(format!(
                        "persona `{}`: condition `{c}` (rule: `feature > z` or `feature < z`)",
                        p.name
                    )));
                };
                let z: f64 = z.trim().parse().map_err(|_| {
                    bad(format!(
                        "persona `{}`: condition `{c}` has no number (rule: `feature > z` or `feature < z`)",
                        p.name
                    ))
                })?;
                when.push(Condition {
                    feature: f.trim().to_string(),
                    above,
                    z,
                });
            }
            if when.is_empty() {
                return Err(bad(format!(
                    "persona `{}` has no condition (rule: at least one in `when`)",
                    p.name
                )));
            }
            personas.push(PersonaRule {
                name: p.name,
                description: p.description,
                when,
                fallback: p.fallback,
            });
        }
        Ok(PersonaRules {
            labels: raw.labels,
            personas,
        })
    }

    /// The built-in rules.
    pub fn builtin() -> PersonaRules {
        PersonaRules::parse(DEFAULT_PERSONAS, Path::new("<built-in personas.toml>"))
            .expect("the embedded persona file parses")
    }

    fn label<'a>(&'a self, feature: &'a str) -> &'a str {
        self.labels.get(feature).map_or(feature, String::as_str)
    }
}

fn lift_of(s: &SegmentProfile, f: &str) -> Option<f64> {
    s.features.iter().find(|x| x.name == f).map(|x| x.lift)
}

/// The rule's score on a segment: the sum of |lift| over its conditions, when all
/// hold and every feature exists.
fn score(rule: &PersonaRule, s: &SegmentProfile) -> Option<f64> {
    let mut total = 0.0;
    for c in &rule.when {
        let l = lift_of(s, &c.feature)?;
        let ok = if c.above { l > c.z } else { l < c.z };
        if !ok {
            return None;
        }
        total += l.abs();
    }
    Some(total)
}

fn trait_words(rules: &PersonaRules, f: &FeatureStat) -> String {
    format!(
        "{} {} ({:+.1}σ)",
        if f.lift >= 0.0 { "high" } else { "low" },
        rules.label(&f.name),
        f.lift
    )
}

fn strongest(s: &SegmentProfile) -> Vec<&FeatureStat> {
    let mut v: Vec<&FeatureStat> = s.features.iter().filter(|f| f.lift.is_finite()).collect();
    v.sort_by(|a, b| {
        b.lift
            .abs()
            .total_cmp(&a.lift.abs())
            .then(a.name.cmp(&b.name))
    });
    v
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

/// Names every segment, uniquely (see `personas.toml` for the procedure).
pub fn name_segments(segments: &mut [SegmentProfile], rules: &PersonaRules) {
    for s in segments.iter_mut() {
        s.traits = strongest(s)
            .iter()
            .filter(|f| f.lift.abs() >= MIN_TRAIT_LIFT)
            .take(3)
            .map(|f| trait_words(rules, f))
            .collect();
    }
    let mut named: Vec<Option<usize>> = vec![None; segments.len()];
    let mut taken = vec![false; rules.personas.len()];
    for pass_fallback in [false, true] {
        let mut pairs: Vec<(f64, usize, usize)> = Vec::new();
        for (si, s) in segments.iter().enumerate() {
            if named[si].is_some() || s.segment < 0 {
                continue;
            }
            for (pi, p) in rules.personas.iter().enumerate() {
                if p.fallback != pass_fallback {
                    continue;
                }
                if let Some(sc) = score(p, s) {
                    pairs.push((sc, si, pi));
                }
            }
        }
        pairs.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        for (_, si, pi) in &pairs {
            if named[*si].is_none() && !taken[*pi] {
                named[*si] = Some(*pi);
                taken[*pi] = true;
            }
        }
    }
    let mut used: Vec<String> = Vec::new();
    for (si, slot) in named.iter().enumerate() {
        if let Some(pi) = slot {
            let p = &rules.personas[*pi];
            let s = &mut segments[si];
            s.persona = p.name.clone();
            s.description = p.description.clone();
            s.naming = "rule".into();
            used.push(p.name.clone());
        }
    }
    for si in 0..segments.len() {
        if named[si].is_some() {
            continue;
        }
        let s = &segments[si];
        let top = strongest(s);
        let (mut name, description, naming) = if s.segment < 0 {
            (
                "Unclustered (noise)".to_string(),
                "Customers DBSCAN left out of every dense group.".to_string(),
                "noise",
            )
        } else if let Some(p) = rules
            .personas
            .iter()
            .filter(|p| score(p, s).is_some())
            .max_by(|a, b| {
                score(a, s)
                    .unwrap_or(0.0)
                    .total_cmp(&score(b, s).unwrap_or(0.0))
            })
        {
            // A taken persona: qualify with the strongest trait outside its rule.
            let q = top
                .iter()
                .find(|f| !p.when.iter().any(|c| c.feature == f.name))
                .or(top.first());
            let qual = q.map_or("second group".to_string(), |f| {
                format!(
                    "{} {}",
                    if f.lift >= 0.0 { "high" } else { "low" },
                    rules.label(&f.name)
                )
            });
            (
                format!("{} ({qual})", p.name),
                format!("{} This group also stands out by {qual}.", p.description),
                "qualified",
            )
        } else if let Some([r, fm]) = s.rfm {
            // The standard RFM map: a rule-based name for every segment.
            let base = rfm_name(r, fm);
            let name = if used.iter().any(|u| u == base) {
                let q = top.first().map_or("second group".to_string(), |f| {
                    format!(
                        "{} {}",
                        if f.lift >= 0.0 { "high" } else { "low" },
                        rules.label(&f.name)
                    )
                });
                format!("{base} ({q})")
            } else {
                base.to_string()
            };
            (
                name,
                format!(
                    "{} RFM scores R {r:.1}, FM {fm:.1} of 5 (quintiles of all customers).",
                    rfm_description(base)
                ),
                "rfm",
            )
        } else {
            let words: Vec<String> = top
                .iter()
                .take(2)
                .map(|f| {
                    format!(
                        "{} {}",
                        if f.lift >= 0.0 { "high" } else { "low" },
                        rules.label(&f.name)
                    )
                })
                .collect();
            let name = if words.is_empty() {
                format!("Segment {}", s.segment)
            } else {
                capitalise(&words.join(", "))
            };
            (
                name,
                format!(
                    "No persona rule fits; compared with the average customer: {}.",
                    s.traits.join(", ")
                ),
                "traits",
            )
        };
        let base = name.clone();
        let mut i = 2;
        while used.contains(&name) {
            name = format!("{base} #{i}");
            i += 1;
        }
        used.push(name.clone());
        let s = &mut segments[si];
        s.persona = name;
        s.description = description;
        s.naming = naming.into();
    }
}

/// The age band of an age, as the mission's notebook cut it.
pub fn age_band(age: f64) -> &'static str {
    match age {
        a if a < 13.0 => "0-12",
        a if a < 21.0 => "13-20",
        a if a < 36.0 => "21-35",
        a if a < 46.0 => "36-45",
        a if a < 61.0 => "46-60",
        a if a < 86.0 => "61-85",
        _ => "86+",
    }
}

/// The age bands, in order.
pub const AGE_BANDS: [&str; 7] = ["0-12", "13-20", "21-35", "36-45", "46-60", "61-85", "86+"];

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(id: i32, lifts: &[(&str, f64)]) -> SegmentProfile {
        SegmentProfile {
            segment: id,
            size: 10,
            share: 0.1,
            revenue_share: None,
            persona: String::new(),
            description: String::new(),
            naming: String::new(),
            traits: vec![],
            features: lifts
                .iter()
                .map(|(n, l)| FeatureStat {
                    name: n.to_string(),
                    mean: 0.0,
                    median: 0.0,
                    lift: *l,
                })
                .collect(),
            rfm: None,
            micro: false,
            stability: None,
            stability_verdict: None,
        }
    }

    #[test]
    fn builtin_rules_parse() {
        let r = PersonaRules::builtin();
        // The six mall personas; the RFM names come from the RFM map.
        assert_eq!(r.personas.len(), 6);
        assert!(r
            .personas
            .iter()
            .any(|p| p.name == "Deal Explorer" && !p.fallback));
        assert!(r.personas.iter().all(|p| !p.fallback));
    }

    #[test]
    fn names_are_unique_and_follow_the_rules() {
        let r = PersonaRules::builtin();
        let f = |v: f64, w: f64, d: f64| {
            vec![
                ("visits_per_month", v),
                ("weekend_visit_share", w),
                ("discount_share", d),
                ("coupon_redemptions", d),
            ]
        };
        let mut s = vec![
            seg(0, &f(1.5, 1.2, -0.3)),
            seg(1, &f(-0.4, -0.5, 1.4)),
            seg(2, &f(1.0, 0.8, -0.2)),
            seg(3, &f(-0.1, 0.0, 0.1)),
        ];
        name_segments(&mut s, &r);
        assert_eq!(s[0].persona, "Frequent Weekend Visitor");
        assert_eq!(s[0].naming, "rule");
        assert_eq!(s[1].persona, "Deal Explorer");
        assert!(
            s[2].persona.starts_with("Frequent Weekend Visitor ("),
            "{}",
            s[2].persona
        );
        assert_eq!(s[2].naming, "qualified");
        assert_eq!(s[3].naming, "traits");
        let mut names: Vec<&str> = s.iter().map(|x| x.persona.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 4);
    }

    #[test]
    fn bad_condition_is_a_clear_error() {
        let e = PersonaRules::parse(
            "[[persona]]\nname='X'\ndescription='d'\nwhen=['visits = 2']\n",
            Path::new("p.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("p.toml") && e.contains("visits = 2"), "{e}");
    }

    #[test]
    fn age_bands_cover_the_edges() {
        assert_eq!(age_band(12.9), "0-12");
        assert_eq!(age_band(13.0), "13-20");
        assert_eq!(age_band(35.0), "21-35");
        assert_eq!(age_band(86.0), "86+");
    }

    #[test]
    fn stats_in_original_units() {
        let x = Matrix::new(4, 1, vec![1.0, 3.0, 10.0, 30.0]);
        let (pop, segs) = segment_stats(&x, &["monetary_total".into()], &[0, 0, 1, 1]);
        assert_eq!(pop[0].mean, 11.0);
        assert_eq!(segs[1].features[0].mean, 20.0);
        assert_eq!(segs[0].features[0].median, 2.0);
        assert!((segs[1].revenue_share.unwrap() - 40.0 / 44.0).abs() < 1e-12);
        assert!(segs[1].features[0].lift > 0.0 && segs[0].features[0].lift < 0.0);
    }
}
