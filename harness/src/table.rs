//! Plain-text tables and number formatting shared by the command's reports.

use std::fmt::Write as _;
use std::time::Duration;

/// Renders `header` and `rows` as aligned columns separated by two spaces: the first
/// `left` columns left-aligned (labels), the others right-aligned (numbers). Every line
/// ends in `\n`.
pub fn render(header: &[&str], rows: &[Vec<String>], left: usize) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let header: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
    let mut out = String::new();
    for row in std::iter::once(&header).chain(rows) {
        for (i, (cell, &w)) in row.iter().zip(&widths).enumerate() {
            // `{:<w$}` pads by chars, which is what the widths count.
            let gap = if i == 0 { "" } else { "  " };
            let _ = if i < left {
                write!(out, "{gap}{cell:<w$}")
            } else {
                write!(out, "{gap}{cell:>w$}")
            };
        }
        out.push('\n');
    }
    out
}

/// `1234567` -> `"1,234,567"`.
pub fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A rate rounded to a whole number with thousands separators, or `-` when not finite.
pub fn format_rate(per_second: f64) -> String {
    if per_second.is_finite() && per_second >= 0.0 {
        group_thousands(per_second.round() as u64)
    } else {
        "-".to_owned()
    }
}

/// A duration with a unit that keeps 3-4 significant digits: `812.4 µs`, `11.52 ms`,
/// `1.204 s`.
pub fn format_duration(d: Duration) -> String {
    let ns = d.as_nanos() as f64;
    if ns < 1e3 {
        format!("{ns:.0} ns")
    } else if ns < 1e6 {
        format!("{:.1} µs", ns / 1e3)
    } else if ns < 1e9 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.3} s", ns / 1e9)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_formatted_for_people() {
        assert_eq!(group_thousands(0), "0");
        assert_eq!(group_thousands(999), "999");
        assert_eq!(group_thousands(1_000), "1,000");
        assert_eq!(group_thousands(12_345_678), "12,345,678");
        assert_eq!(format_rate(1234.6), "1,235");
        assert_eq!(format_rate(f64::NAN), "-");
        assert_eq!(format_duration(Duration::from_nanos(812)), "812 ns");
        assert_eq!(format_duration(Duration::from_micros(1500)), "1.50 ms");
        assert_eq!(format_duration(Duration::from_millis(1204)), "1.204 s");
    }

    #[test]
    fn columns_are_aligned() {
        let rows = vec![
            vec!["a".to_owned(), "1".to_owned(), "µs".to_owned()],
            vec!["longer".to_owned(), "12,345".to_owned(), "x".to_owned()],
        ];
        let table = render(&["name", "n", "unit"], &rows, 1);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3, "{table}");
        let len = lines[0].chars().count();
        assert!(lines.iter().all(|l| l.chars().count() == len), "{table}");
        assert!(lines[2].starts_with("longer  12,345"), "{table}");
    }
}
