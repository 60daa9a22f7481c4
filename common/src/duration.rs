//! Durations as messages print them (`--timeout` and the other flags parse them back:
//! [`crate::validate::clap_duration`]).

use std::time::Duration;

/// Formats a duration for messages: `90s`, `15m`, `1h30m`.
pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else if s < 120 {
        format!("{s}s")
    } else if s < 7200 {
        format!("{}m", s / 60)
    } else if s % 3600 < 60 {
        format!("{}h", s / 3600)
    } else {
        format!("{}h{}m", s / 3600, (s % 3600) / 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_durations() {
        assert_eq!(human(Duration::from_millis(300)), "300ms");
        assert_eq!(human(Duration::from_secs(90)), "90s");
        assert_eq!(human(Duration::from_secs(900)), "15m");
        assert_eq!(human(Duration::from_secs(5400)), "90m");
        assert_eq!(human(Duration::from_secs(9000)), "2h30m");
        assert_eq!(human(Duration::from_secs(7200)), "2h");
    }
}
