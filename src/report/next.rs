//! The report's sections on time: what changed since the previous run (`update`)
//! and what each segment will do next (BG/NBD, Gamma-Gamma).

use std::fmt::Write;

use super::svg::{self, esc, segment_colour};
use super::{pct, ReportData};

fn money(v: f64) -> String {
    svg::short(v)
}

fn persona_of(r: &ReportData, seg: i32) -> Option<&str> {
    r.profile
        .segments
        .iter()
        .find(|s| s.segment == seg)
        .map(|s| s.persona.as_str())
}

fn label(r: &ReportData, id: &str, before: Option<&str>) -> String {
    match id.parse::<i32>() {
        Ok(s) => match persona_of(r, s).or(before) {
            Some(p) => format!("{s} · {p}"),
            None => format!("segment {s}"),
        },
        Err(_) => id.to_string(),
    }
}

/// "What changed since last run", when the profile holds a migration.
pub fn changes_html(r: &ReportData, h: &mut String) {
    let Some(m) = &r.profile.changes else {
        return;
    };
    h.push_str("<h2 id=\"changes\">0. What changed since last run</h2>");
    let s = &m.states;
    let _ = write!(
        h,
        "<p>From {} to {}: of {} customers segmented last run and {} now, <b>{}</b> stayed in their segment, <b>{}</b> moved to another, <b>{}</b> lapsed (no purchase since {}), <b>{}</b> are new and <b>{}</b> are gone from this run's window. Segment ids are kept from last run: each new segment was matched to the nearest previous one (optimal assignment on centroid distance); one further than {} of the way to that segment's nearest neighbour is <i>new</i>.</p>",
        esc(&m.previous_as_of),
        esc(&m.as_of),
        m.customers_before,
        m.customers_after,
        s["stayed"],
        s["moved"],
        s["lapsed"],
        esc(&m.previous_as_of),
        s["new"],
        s["gone"],
        m.max_shift.map_or("half".into(), |f| if f == 0.5 { "half".into() } else { format!("{f}") })
    );
    let drifted: Vec<&crate::pipeline::ColumnDrift> =
        m.drift.iter().filter(|d| d.drifted).collect();
    if !drifted.is_empty() && m.scaler == "previous" {
        let _ = write!(
            h,
            "<p class=\"note\"><b>Drift:</b> {} of {} columns moved away from last run's scaler ({}); consider <code>--refit-scaler</code> or a fresh <code>segmenta run</code>.</p>",
            drifted.len(),
            m.drift.len(),
            drifted
                .iter()
                .take(4)
                .map(|d| format!("{} {:+.2} scale, spread ×{:.2}", esc(&d.column), d.shift, d.ratio))
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
    let before: std::collections::HashMap<i32, &str> = m
        .segments
        .iter()
        .filter_map(|c| c.persona_before.as_deref().map(|p| (c.segment, p)))
        .collect();
    let node = |id: &String| -> svg::SankeyNode {
        let seg = id.parse::<i32>().ok();
        (label(r, id, seg.and_then(|s| before.get(&s).copied())), seg)
    };
    let left: Vec<svg::SankeyNode> = m.matrix.from.iter().map(node).collect();
    let right: Vec<svg::SankeyNode> = m.matrix.to.iter().map(node).collect();
    let _ = write!(
        h,
        "<div class=\"plots\"><div class=\"plot\">{}</div><div class=\"plot\"><table><tr><th>segment</th><th>status</th><th>customers then</th><th>now</th><th>change</th><th>revenue then</th><th>now</th><th>stayed, buying</th><th>lapsed</th></tr>",
        svg::sankey("Who moved where", &left, &right, &m.matrix.counts)
    );
    for c in &m.segments {
        let change = c.size_after as f64 - c.size_before as f64;
        let _ = write!(
            h,
            "<tr><td><span style=\"color:{}\">■</span> {}</td><td>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{:+.0}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td></tr>",
            segment_colour(c.segment),
            esc(&label(r, &c.segment.to_string(), c.persona_before.as_deref())),
            esc(&c.status),
            c.size_before,
            c.size_after,
            change,
            c.revenue_before.map_or("-".into(), money),
            c.revenue_after.map_or("-".into(), money),
            c.stayed,
            c.lapsed
        );
    }
    h.push_str("</table>");
    let mut grew: Vec<&crate::pipeline::SegmentChange> = m.segments.iter().collect();
    grew.sort_by_key(|c| -(c.size_after as i64 - c.size_before as i64));
    let words = |c: &crate::pipeline::SegmentChange| {
        format!(
            "{} ({:+})",
            label(r, &c.segment.to_string(), c.persona_before.as_deref()),
            c.size_after as i64 - c.size_before as i64
        )
    };
    let up: Vec<String> = grew
        .iter()
        .filter(|c| c.size_after > c.size_before)
        .take(3)
        .map(|c| words(c))
        .collect();
    let down: Vec<String> = grew
        .iter()
        .rev()
        .filter(|c| c.size_after < c.size_before)
        .take(3)
        .map(|c| words(c))
        .collect();
    let _ = write!(
        h,
        "<p>Grew: {}. Shrank: {}.</p><p><b>Largest flows</b></p><table><tr><th>from</th><th>to</th><th>customers</th></tr>",
        if up.is_empty() { "none".into() } else { esc(&up.join(", ")) },
        if down.is_empty() { "none".into() } else { esc(&down.join(", ")) }
    );
    for f in &m.flows {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td class=n>{}</td></tr>",
            esc(&label(
                r,
                &f.from,
                f.from
                    .parse()
                    .ok()
                    .and_then(|s: i32| before.get(&s).copied())
            )),
            esc(&label(r, &f.to, None)),
            f.customers
        );
    }
    h.push_str("</table></div></div>");
    // The matrix, counts and row shares.
    h.push_str("<p><b>Migration matrix</b> (rows: last run; columns: this run; count and share of the row)</p><table><tr><th></th>");
    for t in &m.matrix.to {
        let _ = write!(h, "<th>{}</th>", esc(t));
    }
    h.push_str("</tr>");
    for (i, f) in m.matrix.from.iter().enumerate() {
        let _ = write!(h, "<tr><th>{}</th>", esc(f));
        for (j, c) in m.matrix.counts[i].iter().enumerate() {
            let sh = m.matrix.shares[i][j];
            let bg = if m.matrix.from[i] == m.matrix.to[j] {
                "#e8f1e4"
            } else {
                "#fff"
            };
            let _ = write!(
                h,
                "<td class=n style=\"background:{bg}\">{c}<br><span class=k>{}</span></td>",
                pct(sh)
            );
        }
        h.push_str("</tr>");
    }
    h.push_str("</table>");
    for n in &m.notes {
        let _ = write!(h, "<p class=\"note\">Note: {}</p>", esc(n));
    }
}

/// "What comes next", when the profile holds the lifetime outlook.
pub fn outlook_html(r: &ReportData, h: &mut String) {
    let p = &r.profile;
    if p.lifetime.is_empty() {
        return;
    }
    h.push_str("<h2 id=\"next\">4b. What comes next</h2>");
    if let Some(l) = &r.lifetime {
        if let Some(b) = &l.bgnbd {
            let _ = write!(
                h,
                "<p>BG/NBD (Fader, Hardie &amp; Lee 2005) fitted by maximum likelihood on the purchase days of {} customers as of {} (r = {:.3}, α = {:.2} days, a = {:.3}, b = {:.3}){}. P(alive) is the probability that a customer has not silently left; churn risk is the share with P(alive) below 0.5. Both are over repeat buyers: BG/NBD lets a customer drop out only after a repeat purchase, so a one-time buyer is alive by the model's definition. Expected revenue is the expected purchases over the next {:.0} days times the expected spend per purchase; CLV sums {} months at {} a month discount.</p>",
                b.customers,
                esc(&l.as_of),
                b.params.r,
                b.params.alpha,
                b.params.a,
                b.params.b,
                l.gamma_gamma.as_ref().map_or(String::from(", no Gamma-Gamma"), |g| format!(
                    "; Gamma-Gamma on {} repeat customers (p = {:.2}, q = {:.2}, γ = {:.2})",
                    g.customers, g.params.p, g.params.q, g.params.gamma
                )),
                l.horizon_days,
                l.clv_months,
                pct(l.discount_rate)
            );
        }
        for n in &l.notes {
            let _ = write!(h, "<p class=\"note\">Note: {}</p>", esc(n));
        }
    }
    let names: Vec<(i32, String)> = p
        .lifetime
        .iter()
        .map(|s| {
            (
                s.segment,
                persona_of(r, s.segment).unwrap_or("").to_string(),
            )
        })
        .collect();
    let risk: Vec<f64> = p
        .lifetime
        .iter()
        .map(|s| s.churn_risk.unwrap_or(0.0))
        .collect();
    let alive: Vec<f64> = p
        .lifetime
        .iter()
        .map(|s| s.mean_p_alive.unwrap_or(0.0))
        .collect();
    // With no dropout found there is no churn risk to draw: bars at 0% would
    // say every customer is safe, which the model did not find either.
    let chart = match p.lifetime.iter().all(|s| s.churn_risk.is_none()) {
        true => "<p>No chart of P(alive) and churn risk: BG/NBD found no dropout in these histories (see the note), so P(alive) is 1 for everyone and churn risk is not estimated.</p>".to_string(),
        false => svg::share_bars("Mean P(alive) and churn risk", &names, &[("P(alive)", alive), ("churn risk", risk)]),
    };
    let _ = write!(
        h,
        "<div class=\"plots\"><div class=\"plot\">{}</div><div class=\"plot\"><table><tr><th>segment</th><th>customers</th><th>with a purchase</th><th>repeat buyers</th><th>mean P(alive)</th><th>churn risk</th><th>purchases next {:.0} days</th><th>revenue next {:.0} days</th><th>mean CLV</th></tr>",
        chart,
        r.lifetime.as_ref().map_or(90.0, |l| l.horizon_days),
        r.lifetime.as_ref().map_or(90.0, |l| l.horizon_days)
    );
    for s in &p.lifetime {
        let _ = write!(
            h,
            "<tr><td><span style=\"color:{}\">■</span> {} · {}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{:.0}</td><td class=n>{}</td><td class=n>{}</td></tr>",
            segment_colour(s.segment),
            s.segment,
            esc(persona_of(r, s.segment).unwrap_or("")),
            s.customers,
            s.with_purchases,
            s.repeaters,
            s.mean_p_alive.map_or("-".into(), |v| format!("{v:.3}")),
            s.churn_risk.map_or("-".into(), pct),
            s.expected_purchases,
            s.expected_revenue.map_or("-".into(), money),
            s.clv_mean.map_or("-".into(), |v| format!("{v:.2}"))
        );
    }
    h.push_str("</table></div></div>");
}

/// The same two sections as Markdown tables.
pub fn markdown(r: &ReportData, m: &mut String) {
    let p = &r.profile;
    if let Some(c) = &p.changes {
        let s = &c.states;
        let _ = writeln!(
            m,
            "## What changed since last run\n\n{} → {}: {} stayed, {} moved, {} lapsed, {} new, {} gone.\n",
            c.previous_as_of, c.as_of, s["stayed"], s["moved"], s["lapsed"], s["new"], s["gone"]
        );
        let _ = write!(m, "| from \\ to |");
        for t in &c.matrix.to {
            let _ = write!(m, " {t} |");
        }
        let _ = write!(m, "\n|---|");
        for _ in &c.matrix.to {
            m.push_str("---:|");
        }
        m.push('\n');
        for (i, f) in c.matrix.from.iter().enumerate() {
            let _ = write!(m, "| {f} |");
            for (j, n) in c.matrix.counts[i].iter().enumerate() {
                let _ = write!(m, " {n} ({}) |", pct(c.matrix.shares[i][j]));
            }
            m.push('\n');
        }
        let _ = writeln!(m, "\n| segment | status | persona then | customers then | now | revenue then | now |\n|---|---|---|---:|---:|---:|---:|");
        for s in &c.segments {
            let _ = writeln!(
                m,
                "| {} | {} | {} | {} | {} | {} | {} |",
                s.segment,
                s.status,
                s.persona_before.as_deref().unwrap_or("-"),
                s.size_before,
                s.size_after,
                s.revenue_before.map_or("-".into(), money),
                s.revenue_after.map_or("-".into(), money)
            );
        }
        m.push('\n');
    }
    if !p.lifetime.is_empty() {
        let _ = writeln!(m, "## What comes next\n\n| segment | persona | customers | mean P(alive) | churn risk | expected purchases | expected revenue | mean CLV |\n|---|---|---:|---:|---:|---:|---:|---:|");
        for s in &p.lifetime {
            let _ = writeln!(
                m,
                "| {} | {} | {} | {} | {} | {:.0} | {} | {} |",
                s.segment,
                persona_of(r, s.segment).unwrap_or(""),
                s.customers,
                s.mean_p_alive.map_or("-".into(), |v| format!("{v:.3}")),
                s.churn_risk.map_or("-".into(), pct),
                s.expected_purchases,
                s.expected_revenue.map_or("-".into(), money),
                s.clv_mean.map_or("-".into(), |v| format!("{v:.2}"))
            );
        }
        m.push('\n');
    }
}
