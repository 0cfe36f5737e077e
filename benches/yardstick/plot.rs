//! The grouped bar chart of `--svg`: one group per scenario, one bar per server, each bar a
//! multiple of tokio's figure. Plain SVG built as a string (no dependencies), in the style
//! of the hand-drawn `cpu-per-message.svg` it replaces.

use std::fmt::Write;

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 380.0;
/// The plot area: left and right edge, top and baseline.
const LEFT: f64 = 60.0;
const RIGHT: f64 = 710.0;
const TOP: f64 = 40.0;
const BASE: f64 = 300.0;

/// What to draw: `series` names the bars of every group (legend order), each group gives
/// one value per series (`None` or a non-finite value: no bar).
pub struct Chart<'a> {
    pub title: &'a str,
    pub series: &'a [&'a str],
    pub groups: &'a [(&'a str, Vec<Option<f64>>)],
    /// A small line at the bottom: the command that produced the chart.
    pub footer: &'a str,
}

/// The fill of one server's bars.
fn colour(series: &str, i: usize) -> &'static str {
    match series {
        "ringstream" => "#d9534f",
        "ringstream-protocol" => "#5cb85c",
        "ringstream-buffered" => "#337ab7",
        "ringstream-spin" => "#9b59b6",
        "tokio" => "#5bc0de",
        "monoio" => "#f0ad4e",
        "raw-ring" => "#777777",
        _ => ["#e83e8c", "#20c997"][i % 2],
    }
}

/// Escapes text for SVG content and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}

/// Gridline spacing: the smallest of 0.5, 1, 2, 5, 10, 20, 50, ... giving at most six lines
/// up to `top`.
fn grid_step(top: f64) -> f64 {
    let mut decade = 0.1;
    loop {
        for m in [5.0, 10.0, 20.0] {
            let step = m * decade;
            if top / step <= 6.0 {
                return step;
            }
        }
        decade *= 10.0;
    }
}

/// Renders the chart; values are drawn as `1.23`, gridlines as `0.5x`.
pub fn bar_chart(chart: &Chart) -> String {
    let value = |v: Option<f64>| v.filter(|x| x.is_finite() && *x >= 0.0);
    let largest = chart
        .groups
        .iter()
        .flat_map(|(_, vs)| vs.iter().filter_map(|&v| value(v)))
        .fold(1.0f64, f64::max);
    // Headroom for the value labels, rounded up to a tenth (1.37 -> 1.6).
    let y_max = (largest * 1.1 * 10.0).ceil() / 10.0;
    let y = |v: f64| BASE - v / y_max * (BASE - TOP);

    let mut svg = String::new();
    let w = &mut svg;
    let _ = writeln!(
        w,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        w,
        r#"<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>"#
    );
    let _ = writeln!(
        w,
        r#"<text x="{:.1}" y="20" text-anchor="middle" font-size="14">{}</text>"#,
        WIDTH / 2.0,
        esc(chart.title)
    );
    let _ = writeln!(
        w,
        r#"<line x1="{LEFT}" y1="{BASE}" x2="{RIGHT}" y2="{BASE}" stroke="black"/>"#
    );
    let step = grid_step(y_max);
    let mut i = 1;
    while step * i as f64 <= y_max + 1e-9 {
        let v = step * i as f64;
        let _ = writeln!(
            w,
            r##"<line x1="{LEFT}" y1="{:.1}" x2="{RIGHT}" y2="{:.1}" stroke="#ddd"/>"##,
            y(v),
            y(v)
        );
        let _ = writeln!(
            w,
            r#"<text x="{}" y="{:.1}" text-anchor="end">{v:.1}x</text>"#,
            LEFT - 5.0,
            y(v) + 4.0
        );
        i += 1;
    }

    let n = chart.series.len().max(1) as f64;
    let group_w = (RIGHT - LEFT) / chart.groups.len().max(1) as f64;
    // Bars take n slots of each group, the rest is the gap between groups; no wider than
    // the hand-drawn chart's when there are few groups.
    let slot = (group_w / (n + 1.5)).min(30.0);
    let bar_w = slot * 0.9;
    for (g, (name, values)) in chart.groups.iter().enumerate() {
        let x0 = LEFT + g as f64 * group_w;
        let first = x0 + (group_w - n * slot) / 2.0 + (slot - bar_w) / 2.0;
        for (s, &v) in values.iter().enumerate().take(chart.series.len()) {
            let Some(v) = value(v) else { continue };
            let x = first + s as f64 * slot;
            let _ = writeln!(
                w,
                r#"<rect x="{x:.1}" y="{:.1}" width="{bar_w:.1}" height="{:.1}" fill="{}"/>"#,
                y(v),
                BASE - y(v),
                colour(chart.series[s], s)
            );
            let _ = writeln!(
                w,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="10">{v:.2}</text>"#,
                x + bar_w / 2.0,
                y(v) - 3.0
            );
        }
        let _ = writeln!(
            w,
            r#"<text x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
            x0 + group_w / 2.0,
            BASE + 16.0,
            esc(name)
        );
    }

    let spacing = ((RIGHT - LEFT) / n).min(150.0);
    for (s, name) in chart.series.iter().enumerate() {
        let x = LEFT + s as f64 * spacing;
        let _ = writeln!(
            w,
            r#"<rect x="{x:.1}" y="338" width="12" height="12" fill="{}"/><text x="{:.1}" y="348">{}</text>"#,
            colour(name, s),
            x + 16.0,
            esc(name)
        );
    }
    let _ = writeln!(
        w,
        r##"<text x="10" y="{}" font-size="10" fill="#666">{}</text>"##,
        HEIGHT - 8.0,
        esc(chart.footer)
    );
    svg.push_str("</svg>\n");
    svg
}
