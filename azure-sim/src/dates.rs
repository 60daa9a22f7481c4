//! Azure's date-time forms: Graph's whole seconds, ARM's seven fractional digits, and the
//! RFC 3339 a client sends.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// `2022-05-07T06:56:29Z` (Graph's form: whole seconds).
pub(crate) fn fmt_secs(t: OffsetDateTime) -> String {
    let t = t.replace_nanosecond(0).unwrap_or(t);
    t.format(&Rfc3339).unwrap_or_default()
}

/// `2025-04-14T08:54:25.8958593Z` (ARM's form: seven fractional digits).
pub(crate) fn fmt_ticks(t: OffsetDateTime) -> String {
    let base = fmt_secs(t);
    let ticks = t.nanosecond() / 100;
    format!("{}.{ticks:07}Z", base.trim_end_matches('Z'))
}

/// Parse an RFC 3339 date-time (Graph accepts `Z` or an offset).
pub(crate) fn parse_time(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    use super::{fmt_secs, fmt_ticks, parse_time};

    #[test]
    fn time_formats() {
        let t = parse_time("2025-04-14T08:54:25.8958593Z").unwrap();
        assert_eq!(fmt_secs(t), "2025-04-14T08:54:25Z");
        assert_eq!(fmt_ticks(t), "2025-04-14T08:54:25.8958593Z");
    }
}
