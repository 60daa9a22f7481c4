//! A section of the report and the goals it checks, with the table and numbers it shows.

use std::fmt::Write as _;

/// A goal of the issue, and whether this run met it.
pub(crate) struct Goal {
    pub(crate) name: String,
    pub(crate) result: String,
    pub(crate) met: bool,
}

/// One section of the report.
pub(crate) struct Section {
    pub(crate) md: String,
    pub(crate) goals: Vec<Goal>,
}

/// Whether a cell reads as a number (right-aligned).
fn numeric(cell: &str) -> bool {
    let c = cell.trim_matches(|c: char| c == '*' || c == '`' || c.is_whitespace());
    c.is_empty() || c.starts_with(|ch: char| ch.is_ascii_digit() || ch == '-' || ch == '–')
}

/// A Markdown table; columns of numbers are right-aligned.
pub(crate) fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut s = format!("| {} |\n", headers.join(" | "));
    let _ = writeln!(
        s,
        "|{}|",
        (0..headers.len())
            .map(|i| {
                let right = i > 0 && rows.iter().all(|r| r.get(i).is_none_or(|c| numeric(c)));
                if right { "---:" } else { "---" }
            })
            .collect::<Vec<_>>()
            .join("|")
    );
    for r in rows {
        let _ = writeln!(s, "| {} |", r.join(" | "));
    }
    s
}

/// Milliseconds for a table: whole above 100, one decimal below.
pub(crate) fn ms(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// The median (NaN for none).
pub(crate) fn median(v: &[f64]) -> f64 {
    let mut s: Vec<f64> = v.iter().copied().filter(|x| !x.is_nan()).collect();
    if s.is_empty() {
        return f64::NAN;
    }
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        f64::midpoint(s[n / 2 - 1], s[n / 2])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_alignment() {
        assert!((median(&[3.0, 1.0, 2.0]) - 2.0).abs() < 1e-9);
        assert!((median(&[4.0, 1.0, 2.0, 3.0]) - 2.5).abs() < 1e-9);
        assert!(median(&[]).is_nan());
        let t = table(
            &["a", "n", "why"],
            &[vec!["x".into(), "12.5".into(), "because".into()]],
        );
        assert!(t.contains("|---|---:|---|"), "{t}");
        assert_eq!(ms(1234.4), "1234");
        assert_eq!(ms(12.34), "12.3");
    }
}
