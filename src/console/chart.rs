//! Bar charts as inline SVG, drawn on the server: no script, no CDN, and
//! they print.

use std::fmt::Write;

/// A horizontal-axis bar chart of `bars` (label, value), `unit` after each
/// value, `width` × `height` pixels. Labels and values are escaped.
pub fn bars(bars: &[(String, f64)], unit: &str, width: u32, height: u32) -> String {
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">"#
    );
    if bars.is_empty() {
        let _ = write!(
            svg,
            r#"<text x="8" y="20" class="muted">nothing measured yet</text></svg>"#
        );
        return svg;
    }
    let max = bars.iter().map(|(_, v)| *v).fold(0.0_f64, f64::max);
    let (top, bottom) = (18.0, 34.0);
    let plot = (height as f64 - top - bottom).max(1.0);
    let slot = width as f64 / bars.len() as f64;
    let bar = (slot * 0.7).max(1.0);
    for (i, (label, value)) in bars.iter().enumerate() {
        let h = if max > 0.0 { value / max * plot } else { 0.0 };
        let x = i as f64 * slot + (slot - bar) / 2.0;
        let y = top + plot - h;
        let text = format_value(*value);
        let _ = write!(
            svg,
            r#"<g><title>{label}: {text}{unit}</title><rect x="{x:.1}" y="{y:.1}" width="{bar:.1}" height="{h:.1}" class="bar"/><text x="{cx:.1}" y="{vy:.1}" text-anchor="middle" class="value">{text}</text><text x="{cx:.1}" y="{ly:.1}" text-anchor="middle" class="label">{short}</text></g>"#,
            label = escape(label),
            unit = escape(unit),
            cx = x + bar / 2.0,
            vy = (y - 4.0).max(12.0),
            ly = height as f64 - bottom + 16.0,
            short = escape(&shorten(label)),
        );
    }
    svg.push_str("</svg>");
    svg
}

fn format_value(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:.1}")
    }
}

/// Dates lose their year (`2026-12-06` → `12-06`); long labels are cut.
fn shorten(label: &str) -> String {
    let b = label.as_bytes();
    if label.len() == 10 && b[4] == b'-' && b[7] == b'-' {
        return label[5..].to_string();
    }
    if label.chars().count() > 12 {
        let cut: String = label.chars().take(11).collect();
        return format!("{cut}…");
    }
    label.to_string()
}

/// `text` safe inside SVG markup.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest_and_escape_labels() {
        let svg = bars(
            &[("2026-12-05".into(), 2.0), ("<b>&".into(), 4.0)],
            " sectors",
            200,
            100,
        );
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert_eq!(svg.matches("<rect").count(), 2);
        // The largest bar fills the plot (100 - 18 - 34 = 48 px).
        assert!(svg.contains(r#"height="48.0""#), "{svg}");
        assert!(svg.contains(r#"height="24.0""#), "{svg}");
        assert!(svg.contains("12-05"));
        assert!(svg.contains("&lt;b&gt;&amp;"));
        assert!(!svg.contains("<b>"));
        assert!(svg.contains("<title>2026-12-05: 2 sectors</title>"));
    }

    #[test]
    fn an_empty_chart_says_so() {
        assert!(bars(&[], "s", 100, 50).contains("nothing measured yet"));
        let zero = bars(&[("a".into(), 0.0)], "s", 100, 50);
        assert!(zero.contains(r#"height="0.0""#));
    }
}
