//! Hand-written SVG plots for the report: no JavaScript, no external assets, fixed
//! sizes with room reserved for every label so that text never overlaps.

use std::fmt::Write;

/// Segment colours (Tableau 10), the same in every plot; noise is grey.
pub const SEGMENT_COLOURS: [&str; 10] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac",
];

/// Colours for non-segment series (streaming packages), distinct from segments.
pub const SERIES_COLOURS: [&str; 8] = [
    "#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666",
];

/// The colour of segment `s` (`-1` noise is grey).
pub fn segment_colour(s: i32) -> &'static str {
    if s < 0 {
        "#9e9e9e"
    } else {
        SEGMENT_COLOURS[s as usize % SEGMENT_COLOURS.len()]
    }
}

/// Escapes text for XML.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Rough text width in pixels at `size` px (sans-serif average glyph ≈ 0.56 em).
pub fn text_width(s: &str, size: f64) -> f64 {
    s.chars().count() as f64 * size * 0.56
}

/// Room for right-aligned row labels plus the segment swatch left of them.
fn label_width<'a>(labels: impl Iterator<Item = &'a str>) -> f64 {
    labels.map(|n| text_width(n, 12.0)).fold(0.0, f64::max) + 36.0
}

fn open(w: f64, h: f64, title: &str) -> String {
    format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="{}" font-family="Helvetica, Arial, sans-serif" font-size="12"><title>{}</title>"#,
        esc(title),
        esc(title)
    )
}

fn nice_ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    if hi.partial_cmp(&lo) != Some(std::cmp::Ordering::Greater) {
        return vec![lo];
    }
    let raw = (hi - lo) / n as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let mut t = (lo / step).ceil() * step;
    let mut out = Vec::new();
    while t <= hi + step * 1e-9 {
        out.push(t);
        t += step;
    }
    out
}

/// Short number for axes.
pub fn short(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{:.1}G", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 100.0 || v == v.trunc() {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// A line chart of one series over integer x, with an optional marked x.
pub fn line_chart(
    title: &str,
    y_label: &str,
    xs: &[f64],
    ys: &[f64],
    mark: Option<f64>,
    colour: &str,
) -> String {
    let (w, h) = (420.0, 260.0);
    let (l, r, t, b) = (64.0, 16.0, 30.0, 40.0);
    let mut s = open(w, h, title);
    let _ = write!(
        s,
        r#"<text x="{}" y="18" font-size="14" font-weight="bold">{}</text>"#,
        l,
        esc(title)
    );
    let pts: Vec<(f64, f64)> = xs
        .iter()
        .zip(ys)
        .filter(|(_, y)| y.is_finite())
        .map(|(x, y)| (*x, *y))
        .collect();
    if pts.is_empty() {
        s.push_str("</svg>");
        return s;
    }
    let (x0, x1) = (xs[0], *xs.last().expect("non-empty"));
    let ylo = pts.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let yhi = pts.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
    let pad = ((yhi - ylo) * 0.08).max(1e-9);
    let (ylo, yhi) = (ylo - pad, yhi + pad);
    let px = |x: f64| l + (x - x0) / (x1 - x0).max(1e-9) * (w - l - r);
    let py = |y: f64| t + (yhi - y) / (yhi - ylo) * (h - t - b);
    for tk in nice_ticks(ylo, yhi, 4) {
        let _ = write!(
            s,
            r##"<line x1="{l}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#e5e5e5"/><text x="{}" y="{:.1}" text-anchor="end" fill="#555">{}</text>"##,
            w - r,
            l - 6.0,
            py(tk) + 4.0,
            short(tk),
            y = py(tk)
        );
    }
    for &x in xs {
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{}" text-anchor="middle" fill="#555">{}</text>"##,
            px(x),
            h - b + 16.0,
            short(x)
        );
    }
    let _ = write!(
        s,
        r##"<text x="{:.1}" y="{}" text-anchor="middle" fill="#333">k</text>"##,
        (l + w - r) / 2.0,
        h - 6.0
    );
    let _ = write!(
        s,
        r##"<text transform="translate(14,{:.1}) rotate(-90)" text-anchor="middle" fill="#333">{}</text>"##,
        (t + h - b) / 2.0,
        esc(y_label)
    );
    if let Some(m) = mark {
        let _ = write!(
            s,
            r##"<line x1="{x:.1}" x2="{x:.1}" y1="{t}" y2="{}" stroke="#333" stroke-dasharray="4 3"/><text x="{:.1}" y="{}" fill="#333">k = {}</text>"##,
            h - b,
            px(m) + 4.0,
            t + 12.0,
            short(m),
            x = px(m)
        );
    }
    let path: Vec<String> = pts
        .iter()
        .map(|(x, y)| format!("{:.1},{:.1}", px(*x), py(*y)))
        .collect();
    let _ = write!(
        s,
        r#"<polyline fill="none" stroke="{colour}" stroke-width="2.5" points="{}"/>"#,
        path.join(" ")
    );
    for (x, y) in &pts {
        let _ = write!(
            s,
            r#"<circle cx="{:.1}" cy="{:.1}" r="3.5" fill="{colour}"/>"#,
            px(*x),
            py(*y)
        );
    }
    s.push_str("</svg>");
    s
}

/// A scatter plot of (x, y, segment) points with a legend of segment names.
pub fn scatter(
    title: &str,
    axes: (&str, &str),
    pts: &[(f64, f64, i32)],
    legend: &[(i32, String)],
) -> String {
    let legend_w = legend
        .iter()
        .map(|(_, n)| text_width(n, 12.0))
        .fold(0.0, f64::max)
        + 40.0;
    let (pw, h) = (560.0, 440.0);
    let w = pw + legend_w;
    let (l, t, b) = (48.0, 30.0, 40.0);
    let mut s = open(w, h, title);
    let _ = write!(
        s,
        r#"<text x="{l}" y="18" font-size="14" font-weight="bold">{}</text>"#,
        esc(title)
    );
    if pts.is_empty() {
        s.push_str("</svg>");
        return s;
    }
    // Axes cover the central 99% of each coordinate, so that a few extreme
    // customers do not squeeze everyone else into a corner; points beyond are drawn
    // on the frame.
    let range = |g: fn(&(f64, f64, i32)) -> f64| {
        let mut v: Vec<f64> = pts.iter().map(g).filter(|x| x.is_finite()).collect();
        v.sort_unstable_by(f64::total_cmp);
        let q = |f: f64| v[((v.len() - 1) as f64 * f).round() as usize];
        if v.is_empty() {
            (0.0, 1.0)
        } else {
            (q(0.005), q(0.995))
        }
    };
    let (xlo, xhi) = range(|p| p.0);
    let (ylo, yhi) = range(|p| p.1);
    let px = |x: f64| l + (x.clamp(xlo, xhi) - xlo) / (xhi - xlo).max(1e-9) * (pw - l - 16.0);
    let py = |y: f64| t + (yhi - y.clamp(ylo, yhi)) / (yhi - ylo).max(1e-9) * (h - t - b);
    let _ = write!(
        s,
        r##"<rect x="{l}" y="{t}" width="{}" height="{}" fill="none" stroke="#ccc"/>"##,
        pw - l - 16.0,
        h - t - b
    );
    for p in pts {
        let _ = write!(
            s,
            r#"<circle cx="{:.1}" cy="{:.1}" r="2.2" fill="{}" fill-opacity="0.65"/>"#,
            px(p.0),
            py(p.1),
            segment_colour(p.2)
        );
    }
    let _ = write!(
        s,
        r##"<text x="{:.1}" y="{}" text-anchor="middle" fill="#333">{}</text>"##,
        (l + pw) / 2.0,
        h - 10.0,
        esc(axes.0)
    );
    let _ = write!(
        s,
        r##"<text transform="translate(16,{:.1}) rotate(-90)" text-anchor="middle" fill="#333">{}</text>"##,
        (t + h - b) / 2.0,
        esc(axes.1)
    );
    for (i, (seg, name)) in legend.iter().enumerate() {
        let y = t + 10.0 + i as f64 * 22.0;
        let _ = write!(
            s,
            r#"<circle cx="{}" cy="{y}" r="6" fill="{}"/><text x="{}" y="{}">{}</text>"#,
            pw + 12.0,
            segment_colour(*seg),
            pw + 24.0,
            y + 4.0,
            esc(name)
        );
    }
    s.push_str("</svg>");
    s
}

/// Grouped horizontal bars: for each row label, one bar per series (values in [0, 1],
/// shown as percentages). Row colours come from `colour_of(row)` for the first series;
/// later series are drawn lighter.
pub fn share_bars(title: &str, rows: &[(i32, String)], series: &[(&str, Vec<f64>)]) -> String {
    let label_w = rows
        .iter()
        .map(|(_, n)| text_width(n, 12.0))
        .fold(0.0, f64::max)
        + 16.0;
    let bar_h = 14.0;
    let group_h = bar_h * series.len() as f64 + 10.0;
    let (t, plot_w) = (46.0, 360.0);
    let w = label_w + plot_w + 70.0;
    let h = t + group_h * rows.len() as f64 + 10.0;
    let mut s = open(w, h, title);
    let _ = write!(
        s,
        r#"<text x="8" y="18" font-size="14" font-weight="bold">{}</text>"#,
        esc(title)
    );
    let max = series
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .fold(0.0, f64::max)
        .max(1e-9);
    let mut lx = label_w;
    for (si, (name, _)) in series.iter().enumerate() {
        let op = 1.0 - 0.45 * si as f64;
        let _ = write!(
            s,
            r##"<rect x="{lx}" y="26" width="12" height="10" fill="#555" fill-opacity="{op}"/><text x="{}" y="35" fill="#333">{}</text>"##,
            lx + 16.0,
            esc(name)
        );
        lx += 16.0 + text_width(name, 12.0) + 20.0;
    }
    for (ri, (seg, label)) in rows.iter().enumerate() {
        let y0 = t + ri as f64 * group_h;
        let _ = write!(
            s,
            r#"<text x="{}" y="{:.1}" text-anchor="end">{}</text>"#,
            label_w - 8.0,
            y0 + group_h / 2.0,
            esc(label)
        );
        for (si, (_, vals)) in series.iter().enumerate() {
            let v = vals.get(ri).copied().unwrap_or(0.0);
            let y = y0 + si as f64 * bar_h;
            let bw = v / max * plot_w;
            let _ = write!(
                s,
                r##"<rect x="{label_w}" y="{y:.1}" width="{bw:.1}" height="{}" fill="{}" fill-opacity="{}"/><text x="{:.1}" y="{:.1}" fill="#333">{:.1}%</text>"##,
                bar_h - 2.0,
                segment_colour(*seg),
                1.0 - 0.45 * si as f64,
                label_w + bw + 4.0,
                y + bar_h - 4.0,
                100.0 * v
            );
        }
    }
    s.push_str("</svg>");
    s
}

fn diverging(v: f64) -> String {
    // Blue (negative) – white – red (positive), saturating at |v| = 2.
    let a = (v.abs() / 2.0).min(1.0);
    let (r, g, b) = if v >= 0.0 {
        (
            255.0 - a * (255.0 - 202.0),
            255.0 - a * (255.0 - 0.0),
            255.0 - a * (255.0 - 32.0),
        )
    } else {
        (
            255.0 - a * (255.0 - 5.0),
            255.0 - a * (255.0 - 113.0),
            255.0 - a * (255.0 - 176.0),
        )
    };
    format!("rgb({:.0},{:.0},{:.0})", r, g, b)
}

/// A heatmap of lifts: rows = segments, columns = features, values printed in cells.
pub fn heatmap(
    title: &str,
    rows: &[(i32, String)],
    cols: &[String],
    values: &[Vec<f64>],
) -> String {
    let label_w = label_width(rows.iter().map(|r| r.1.as_str()));
    let cell_w = 52.0;
    let cell_h = 28.0;
    let head = cols.iter().map(|c| text_width(c, 11.0)).fold(0.0, f64::max) * 0.72 + 40.0;
    let w = label_w + cell_w * cols.len() as f64 + 20.0 + head * 0.7;
    let h = head + cell_h * rows.len() as f64 + 50.0;
    let mut s = open(w, h, title);
    let _ = write!(
        s,
        r#"<text x="8" y="18" font-size="14" font-weight="bold">{}</text>"#,
        esc(title)
    );
    for (j, c) in cols.iter().enumerate() {
        let x = label_w + j as f64 * cell_w + cell_w / 2.0;
        let _ = write!(
            s,
            r##"<text transform="translate({x:.1},{:.1}) rotate(-45)" font-size="11" fill="#333">{}</text>"##,
            head - 4.0,
            esc(c)
        );
    }
    for (i, (seg, name)) in rows.iter().enumerate() {
        let y = head + i as f64 * cell_h;
        let _ = write!(
            s,
            r#"<rect x="4" y="{:.1}" width="8" height="{}" fill="{}"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"#,
            y + 4.0,
            cell_h - 8.0,
            segment_colour(*seg),
            label_w - 8.0,
            y + cell_h / 2.0 + 4.0,
            esc(name)
        );
        for (j, v) in values[i].iter().enumerate() {
            let x = label_w + j as f64 * cell_w;
            let fg = if v.abs() > 1.3 { "#fff" } else { "#222" };
            let _ = write!(
                s,
                r##"<rect x="{x:.1}" y="{y:.1}" width="{}" height="{}" fill="{}" stroke="#fff"/><text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="11" fill="{fg}">{:+.1}</text>"##,
                cell_w,
                cell_h,
                diverging(*v),
                x + cell_w / 2.0,
                y + cell_h / 2.0 + 4.0,
                v
            );
        }
    }
    let ly = head + cell_h * rows.len() as f64 + 22.0;
    let _ = write!(
        s,
        r##"<text x="{label_w}" y="{ly}" fill="#555" font-size="11">lift = (segment mean − all customers' mean) / standard deviation; red above, blue below average</text>"##
    );
    s.push_str("</svg>");
    s
}

/// 100% stacked horizontal bars: one row per group, one colour per series.
pub fn stacked_bars(
    title: &str,
    rows: &[(Option<i32>, String)],
    series: &[String],
    shares: &[Vec<f64>],
) -> String {
    let label_w = label_width(rows.iter().map(|r| r.1.as_str()));
    let plot_w = 420.0;
    let bar_h = 22.0;
    let legend_rows = series.len().div_ceil(3);
    let t = 30.0 + legend_rows as f64 * 18.0 + 6.0;
    let w = label_w + plot_w + 20.0;
    let h = t + rows.len() as f64 * (bar_h + 6.0) + 10.0;
    let mut s = open(w.max(560.0), h, title);
    let _ = write!(
        s,
        r#"<text x="8" y="18" font-size="14" font-weight="bold">{}</text>"#,
        esc(title)
    );
    let col_w = (w.max(560.0) - 16.0) / 3.0;
    for (i, name) in series.iter().enumerate() {
        let x = 8.0 + (i % 3) as f64 * col_w;
        let y = 30.0 + (i / 3) as f64 * 18.0;
        let _ = write!(
            s,
            r#"<rect x="{x:.1}" y="{y:.1}" width="12" height="12" fill="{}"/><text x="{:.1}" y="{:.1}">{}</text>"#,
            SERIES_COLOURS[i % SERIES_COLOURS.len()],
            x + 16.0,
            y + 10.0,
            esc(name)
        );
    }
    for (ri, (seg, label)) in rows.iter().enumerate() {
        let y = t + ri as f64 * (bar_h + 6.0);
        if let Some(seg) = seg {
            let _ = write!(
                s,
                r#"<rect x="4" y="{:.1}" width="8" height="{}" fill="{}"/>"#,
                y + 3.0,
                bar_h - 6.0,
                segment_colour(*seg)
            );
        }
        let _ = write!(
            s,
            r#"<text x="{}" y="{:.1}" text-anchor="end">{}</text>"#,
            label_w - 8.0,
            y + bar_h / 2.0 + 4.0,
            esc(label)
        );
        let mut x = label_w;
        for (si, v) in shares[ri].iter().enumerate() {
            let bw = v * plot_w;
            let _ = write!(
                s,
                r##"<rect x="{x:.1}" y="{y:.1}" width="{bw:.1}" height="{bar_h}" fill="{}" stroke="#fff" stroke-width="0.5"/>"##,
                SERIES_COLOURS[si % SERIES_COLOURS.len()]
            );
            if bw > 34.0 {
                let _ = write!(
                    s,
                    r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="10" fill="#fff">{:.0}%</text>"##,
                    x + bw / 2.0,
                    y + bar_h / 2.0 + 4.0,
                    100.0 * v
                );
            }
            x += bw;
        }
    }
    s.push_str("</svg>");
    s
}

/// One side's node of a Sankey diagram: its label and its segment id (`None`:
/// grey, as `new` and `gone`).
pub type SankeyNode = (String, Option<i32>);

/// A two-column Sankey diagram: `counts[i][j]` customers flow from left node `i`
/// to right node `j`. Node heights and band widths are proportional to customers;
/// bands take the colour of the segment they come from.
pub fn sankey(
    title: &str,
    left: &[SankeyNode],
    right: &[SankeyNode],
    counts: &[Vec<u64>],
) -> String {
    let total: u64 = counts.iter().flatten().sum();
    let lw = left
        .iter()
        .map(|(n, _)| text_width(n, 12.0))
        .fold(0.0, f64::max)
        + 14.0;
    let rw = right
        .iter()
        .map(|(n, _)| text_width(n, 12.0))
        .fold(0.0, f64::max)
        + 14.0;
    let (top, plot_h, gap, node_w, span) = (40.0, 420.0, 8.0, 14.0, 360.0);
    let w = lw + node_w + span + node_w + rw + 16.0;
    let h = top + plot_h + gap * left.len().max(right.len()) as f64 + 16.0;
    let mut s = open(w, h, title);
    let _ = write!(
        s,
        r#"<text x="8" y="18" font-size="14" font-weight="bold">{}</text>"#,
        esc(title)
    );
    if total == 0 {
        s.push_str("</svg>");
        return s;
    }
    let unit = plot_h / total as f64;
    let out_of: Vec<u64> = counts.iter().map(|r| r.iter().sum()).collect();
    let into: Vec<u64> = (0..right.len())
        .map(|j| counts.iter().map(|r| r.get(j).copied().unwrap_or(0)).sum())
        .collect();
    let place = |sizes: &[u64]| -> Vec<f64> {
        let mut y = top;
        sizes
            .iter()
            .map(|&n| {
                let at = y;
                y += n as f64 * unit + gap;
                at
            })
            .collect()
    };
    let (ly, ry) = (place(&out_of), place(&into));
    let colour = |n: &SankeyNode| n.1.map_or("#9e9e9e", segment_colour);
    let (x0, x1) = (lw + node_w, lw + node_w + span);
    // Bands, largest first underneath.
    let mut lo = ly.clone();
    let mut ro = ry.clone();
    for (i, row) in counts.iter().enumerate() {
        for (j, &c) in row.iter().enumerate() {
            if c == 0 {
                continue;
            }
            let t = c as f64 * unit;
            let (a, b) = (lo[i], ro[j]);
            let mid = (x0 + x1) / 2.0;
            let _ = write!(
                s,
                r#"<path d="M{x0:.1},{a:.1} C{mid:.1},{a:.1} {mid:.1},{b:.1} {x1:.1},{b:.1} L{x1:.1},{:.1} C{mid:.1},{:.1} {mid:.1},{:.1} {x0:.1},{:.1} Z" fill="{}" fill-opacity="0.35"><title>{} → {}: {c}</title></path>"#,
                b + t,
                b + t,
                a + t,
                a + t,
                colour(&left[i]),
                esc(&left[i].0),
                esc(&right[j].0)
            );
            lo[i] += t;
            ro[j] += t;
        }
    }
    for (i, n) in left.iter().enumerate() {
        let hgt = (out_of[i] as f64 * unit).max(1.0);
        let _ = write!(
            s,
            r#"<rect x="{lw:.1}" y="{:.1}" width="{node_w}" height="{hgt:.1}" fill="{}"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            ly[i],
            colour(n),
            lw - 4.0,
            ly[i] + hgt / 2.0 + 4.0,
            esc(&n.0)
        );
    }
    for (j, n) in right.iter().enumerate() {
        let hgt = (into[j] as f64 * unit).max(1.0);
        let _ = write!(
            s,
            r#"<rect x="{x1:.1}" y="{:.1}" width="{node_w}" height="{hgt:.1}" fill="{}"/><text x="{:.1}" y="{:.1}">{}</text>"#,
            ry[j],
            colour(n),
            x1 + node_w + 4.0,
            ry[j] + hgt / 2.0 + 4.0,
            esc(&n.0)
        );
    }
    let _ = write!(
        s,
        r##"<text x="{lw:.1}" y="34" font-size="11" fill="#555">last run</text><text x="{x1:.1}" y="34" font-size="11" fill="#555">this run</text></svg>"##
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plots_are_well_formed_and_escaped() {
        let s = line_chart(
            "Inertia <k>",
            "inertia",
            &[2.0, 3.0, 4.0],
            &[10.0, 5.0, 4.0],
            Some(3.0),
            "#000",
        );
        assert!(s.starts_with("<svg") && s.ends_with("</svg>"));
        assert!(s.contains("Inertia &lt;k&gt;"));
        assert_eq!(s.matches("<circle").count(), 3);
        let h = heatmap("h", &[(0, "A & B".into())], &["x".into()], &[vec![1.5]]);
        assert!(h.contains("A &amp; B") && h.contains("+1.5"));
    }

    #[test]
    fn ticks_are_round() {
        assert_eq!(nice_ticks(0.0, 10.0, 4), vec![0.0, 2.5, 5.0, 7.5, 10.0]);
    }
}
