//! One customer's habits and their activity under them: the visits, purchases,
//! Wi-Fi sessions and app events of a spell of days. A customer who drifts has two
//! spells, the second under another persona's habits.

use super::draw::{gamma, jitter_p, normal, pick, poisson};
use super::tables::Chunk;
use super::{
    catalog, plant_tx_dirt, push_tx, Bundle, Line, MallSpec, Persona, Window, CATEGORIES,
    ENTRANCES, RATE_SHAPE, TICKET_SPREAD, ZONES,
};
use crate::dates::{weekday, DAY_US};
use crate::rng::Rng;

/// Salt of the random stream a drifting customer's switch is drawn from.
pub(super) const DRIFT_STREAM: u64 = 0xD81F_7000_0000_0001;

/// A customer's habits, jittered around their persona's: this is where personas
/// overlap.
pub(super) struct Habits {
    pub(super) persona: usize,
    rate: f64,
    weekend_p: f64,
    evening_p: f64,
    buy_p: f64,
    discount_p: f64,
    coupon_p: f64,
    wifi_p: f64,
    ticket_mu: f64,
    dwell: f64,
    app_rate: f64,
    cats: [f64; 9],
}

impl Habits {
    pub(super) fn draw(r: &mut Rng, p: &Persona, persona: usize) -> Habits {
        let rate = p.visits_pm * gamma(r, RATE_SHAPE) / RATE_SHAPE;
        let weekend_p = jitter_p(r, p.weekend_p, 0.10).clamp(0.05, 0.95);
        let evening_p = jitter_p(r, p.evening_p, 0.08);
        let buy_p = jitter_p(r, p.buy_p, 0.08);
        let discount_p = jitter_p(r, p.discount_p, 0.08);
        let coupon_p = jitter_p(r, p.coupon_p, 0.06);
        let wifi_p = jitter_p(r, p.wifi_p, 0.10);
        let ticket_mu = p.ticket.ln() + TICKET_SPREAD * normal(r);
        let dwell = p.dwell_min * (0.25 * normal(r)).exp();
        let app_rate = p.app_pm * gamma(r, 5.0) / 5.0;
        let mut cats = p.cats;
        for v in cats.iter_mut() {
            *v *= (0.25 * normal(r)).exp();
        }
        Habits {
            persona,
            rate,
            weekend_p,
            evening_p,
            buy_p,
            discount_p,
            coupon_p,
            wifi_p,
            ticket_mu,
            dwell,
            app_rate,
            cats,
        }
    }
}

/// Days `[from, to)` of one customer's activity under one set of habits.
pub(super) struct Spell {
    pub(super) id: i64,
    pub(super) from: i32,
    pub(super) to: i32,
}

impl Spell {
    fn days(&self) -> i32 {
        (self.to - self.from).max(1)
    }

    fn months(&self) -> f64 {
        f64::from(self.days()) / 30.436875
    }

    /// Visits: negative binomial count, days weighted by weekday and December;
    /// the purchases, Wi-Fi sessions and dirt they bring. Rows at or after the
    /// cut are not written (nor counted as dirt).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn visits(
        &self,
        r: &mut Rng,
        spec: &MallSpec,
        ps: &[Persona],
        bundles: &[Bundle],
        popularity: &[f64],
        w: &Window,
        h: &Habits,
        c: &mut Chunk,
    ) {
        let (id, pi) = (self.id, h.persona);
        let p = &ps[pi];
        let active_days = self.days();
        let n_visits = poisson(r, h.rate * self.months()).max(1);
        let day_weight = |d: i32| {
            let wd = weekday(d);
            let base = if wd == 0 || wd == 6 {
                h.weekend_p / 2.0
            } else {
                (1.0 - h.weekend_p) / 5.0
            };
            let (_, m, _) = crate::dates::civil_from_days(d);
            base * if m == 12 { 1.5 } else { 1.0 }
        };
        let wmax = (h.weekend_p / 2.0).max((1.0 - h.weekend_p) / 5.0) * 1.5;
        let cut = w.limit();
        for _ in 0..n_visits {
            // Rejection sampling, bounded: a short active spell may hold no weekend.
            let mut day = self.from + r.below(active_days as u64) as i32;
            for _ in 0..64 {
                if r.next_f64() * wmax <= day_weight(day) {
                    break;
                }
                day = self.from + r.below(active_days as u64) as i32;
            }
            let minute = if r.next_f64() < h.evening_p {
                18 * 60 + r.below(3 * 60 + 30)
            } else {
                10 * 60 + r.below(8 * 60)
            } as i64;
            let entered =
                day as i64 * DAY_US + minute * 60_000_000 + r.below(60) as i64 * 1_000_000;
            let stay_min = (h.dwell * (0.35 * normal(r)).exp()).clamp(5.0, 600.0);
            let left = entered + (stay_min * 60.0) as i64 * 1_000_000;
            let entrance = ENTRANCES[r.below(ENTRANCES.len() as u64) as usize];
            if entered < cut {
                c.push_visit(id, entered, left, entrance);
            }
            if r.next_f64() < spec.dirt {
                // An extra, impossible visit: the exit is logged before the entry.
                let entrance = ENTRANCES[r.below(ENTRANCES.len() as u64) as usize];
                // Its logged entry is the real visit's exit.
                if left < cut {
                    c.push_visit(id, left, entered, entrance);
                    c.dirt.visits_exit_before_entry += 1;
                }
            }
            if r.next_f64() < h.wifi_p {
                let s = entered + (stay_min * 0.1 * r.next_f64() * 60.0) as i64 * 1_000_000;
                let len = stay_min * p.wifi_stretch * (0.6 + 0.4 * r.next_f64());
                let e = s + (len * 60.0) as i64 * 1_000_000;
                let zone = ZONES[r.below(ZONES.len() as u64) as usize];
                if s < cut {
                    c.wi_id.push(id);
                    c.wi_start.push(s);
                    c.wi_end.push(e);
                    c.wi_zone.push(zone);
                }
            }
            if r.next_f64() < h.buy_p {
                let bundle = &bundles[pi];
                // One purchase line: same day as the visit (the window ends at a midnight).
                let buy = |r: &mut Rng, c: &mut Chunk, cat: usize, prod: usize| {
                    let ts = (entered + (r.next_f64() * stay_min * 60.0) as i64 * 1_000_000)
                        .min((day as i64 + 1) * DAY_US - 2_000_000);
                    let paid = ((h.ticket_mu + p.ticket_sigma * normal(r)).exp()).max(0.5);
                    let amount = (paid * 100.0).round() / 100.0;
                    let discount = if r.next_f64() < h.discount_p {
                        (amount * (0.1 + 0.3 * r.next_f64()) * 100.0).round() / 100.0
                    } else {
                        0.0
                    };
                    let line = Line {
                        id,
                        ts,
                        store: (cat as i32) * 100 + 1 + r.below(12) as i32,
                        cat: CATEGORIES[cat],
                        product: catalog::PRODUCTS[cat][prod],
                        amount,
                        discount,
                    };
                    if ts < cut {
                        push_tx(c, &line);
                    }
                    if r.next_f64() < spec.dirt {
                        plant_tx_dirt(r, spec, w, c, line);
                    }
                };
                if !bundle.1.is_empty() && r.next_f64() < bundle.0 {
                    // A planted co-purchase: each product of the bundle, at least two.
                    let mut got: Vec<bool> = bundle
                        .1
                        .iter()
                        .map(|_| r.next_f64() < catalog::BUNDLE_ITEM_P)
                        .collect();
                    let mut missing = 2usize.saturating_sub(got.iter().filter(|g| **g).count());
                    for g in got.iter_mut().filter(|g| !**g) {
                        if missing == 0 {
                            break;
                        }
                        *g = true;
                        missing -= 1;
                    }
                    for (&(cat, prod), g) in bundle.1.iter().zip(&got) {
                        if *g {
                            buy(r, c, cat, prod);
                        }
                    }
                } else {
                    let n_tx = 1 + poisson(r, p.extra_buys);
                    for _ in 0..n_tx {
                        let cat = pick(r, &h.cats);
                        let prod = pick(r, popularity);
                        buy(r, c, cat, prod);
                    }
                }
            }
        }
    }

    /// App sessions: an open, sometimes a coupon view, sometimes a redemption.
    pub(super) fn app_sessions(&self, r: &mut Rng, w: &Window, h: &Habits, c: &mut Chunk) {
        let cut = w.limit();
        let n_sessions = poisson(r, h.app_rate * self.months());
        for _ in 0..n_sessions {
            let day = self.from + r.below(self.days() as u64) as i32;
            let ts = day as i64 * DAY_US + r.below(86_400 - 120) as i64 * 1_000_000;
            let event = |c: &mut Chunk, ts: i64, e: &'static str| {
                if ts < cut {
                    c.ap_id.push(self.id);
                    c.ap_ts.push(ts);
                    c.ap_event.push(e);
                }
            };
            event(c, ts, "open");
            if r.next_f64() < 0.5 {
                event(c, ts + 30_000_000, "coupon_view");
            }
            if r.next_f64() < h.coupon_p {
                event(c, ts + 90_000_000, "coupon_redeem");
            }
        }
    }
}
