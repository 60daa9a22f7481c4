//! Checks of user-supplied values, made before anything is sent.
//!
//! Each check returns an [`Error::input`] naming the field and saying what a good value
//! looks like, so a bad value never reaches Azure.

use std::time::Duration;

use url::Url;

use crate::error::{Error, Result};

/// Whether `s` is a GUID in the canonical 8-4-4-4-12 hex form.
pub fn is_guid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// A GUID field (app id, object id, subscription id), normalised to lower case.
pub fn guid(field: &str, value: &str) -> Result<String> {
    let v = value.trim();
    if is_guid(v) {
        Ok(v.to_ascii_lowercase())
    } else {
        Err(Error::input(
            field,
            format!(
                "`{field}` must be a GUID like 00000000-0000-0000-0000-000000000000, got {}",
                shown(value)
            ),
        ))
    }
}

/// [`guid`], or in a dry run also the [`placeholder`](crate::envelope::placeholder) an
/// earlier dry-run step wrote for `field` (an id that does not exist yet), kept as it is.
pub fn guid_or_placeholder(
    field: &crate::envelope::Field,
    value: &str,
    dry_run: bool,
) -> Result<String> {
    if dry_run && value.trim() == crate::envelope::placeholder(field) {
        return Ok(value.trim().to_owned());
    }
    guid(field.name, value)
}

/// A tenant: a GUID, or a verified domain such as `contoso.onmicrosoft.com`.
pub fn tenant(field: &str, value: &str) -> Result<String> {
    let v = value.trim();
    if is_guid(v) {
        return Ok(v.to_ascii_lowercase());
    }
    let labels: Vec<&str> = v.split('.').collect();
    let domain_ok = v.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
        })
        && labels
            .last()
            .is_some_and(|tld| tld.bytes().any(|c| c.is_ascii_alphabetic()));
    if domain_ok {
        Ok(v.to_ascii_lowercase())
    } else {
        Err(Error::input(
            field,
            format!(
                "`{field}` must be a tenant id (a GUID) or a verified domain such as contoso.onmicrosoft.com, got {}",
                shown(value)
            ),
        ))
    }
}

/// A redirect URI: absolute `https`, no fragment (Entra's rule for web redirect URIs);
/// `http` only for `localhost`.
pub fn redirect_uri(field: &str, value: &str) -> Result<Url> {
    let url = Url::parse(value.trim()).map_err(|e| {
        Error::input(
            field,
            format!(
                "`{field}` must be an absolute https URL, got {} ({e})",
                shown(value)
            ),
        )
    })?;
    let local = matches!(url.host_str(), Some("localhost" | "127.0.0.1"));
    if url.scheme() != "https" && !(url.scheme() == "http" && local) {
        return Err(Error::input(
            field,
            format!(
                "`{field}` must use https (http is allowed only for localhost), got {}",
                shown(value)
            ),
        ));
    }
    if url.fragment().is_some() {
        return Err(Error::input(
            field,
            format!(
                "`{field}` must not contain a fragment (#…), got {}",
                shown(value)
            ),
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(Error::input(
            field,
            format!("`{field}` has no host: {}", shown(value)),
        ));
    }
    Ok(url)
}

/// Parses a duration such as `500ms`, `30s`, `10m`, `2h`, `365d` or a compound one such as
/// `2h30m` or `1m30s` (units largest first, each once; a bare number is seconds).
pub fn duration(field: &str, value: &str) -> Result<Duration> {
    parse_duration(value).ok_or_else(|| {
        Error::input(
            field,
            format!(
                "`{field}` must be a duration such as 90s, 10m, 2h30m or 365d, got {}",
                shown(value)
            ),
        )
    })
}

/// The parser behind [`duration`], for clap's `value_parser`: one or more `<number><unit>`
/// parts (`d`, `h`, `m`/`min`, `s`/`sec`, `ms`), units strictly largest first, so
/// `2h30m`, `1m30s` and `1.5s` parse and `30s1m` or `1m1m` do not. Every duration
/// [`crate::wait::human`] prints parses back to one it prints the same way.
pub fn parse_duration(value: &str) -> Option<Duration> {
    let mut rest = value.trim();
    if rest.is_empty() {
        return None;
    }
    if rest.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return seconds(rest.parse().ok()?);
    }
    let mut total = 0.0;
    // The size of the previous part's unit: each next part must be smaller.
    let mut previous = f64::INFINITY;
    while !rest.is_empty() {
        let split = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(rest.len());
        let (num, tail) = rest.split_at(split);
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let n: f64 = num.parse().ok()?;
        let size = match unit.trim() {
            "ms" => 0.001,
            "s" | "sec" => 1.0,
            "m" | "min" => 60.0,
            "h" => 3600.0,
            "d" => 86_400.0,
            _ => return None,
        };
        if size >= previous || !n.is_finite() {
            return None;
        }
        previous = size;
        total += n * size;
        rest = tail.trim_start();
    }
    seconds(total)
}

fn seconds(secs: f64) -> Option<Duration> {
    (0.0..=1e10)
        .contains(&secs)
        .then(|| Duration::from_secs_f64(secs))
}

/// A clap value parser for durations.
pub fn clap_duration(value: &str) -> Result<Duration, String> {
    parse_duration(value)
        .ok_or_else(|| format!("'{value}' is not a duration such as 90s, 10m, 2h30m or 365d"))
}

/// Characters of a long value kept in messages: its head and its tail.
const SHOWN_HEAD: usize = 56;
const SHOWN_TAIL: usize = 24;

/// Shows a user value in a message: quoted, control characters escaped; a value longer than
/// 80 characters keeps its head and its tail around `…` (the end of a long bad id is often
/// the part that is wrong), and says how long it was.
pub fn shown(value: &str) -> String {
    let n = value.chars().count();
    if n <= SHOWN_HEAD + SHOWN_TAIL {
        return format!("{value:?}");
    }
    let head: String = value.chars().take(SHOWN_HEAD).collect();
    let tail: String = value.chars().skip(n - SHOWN_TAIL).collect();
    format!("{head:?}…{tail:?} ({n} characters)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids() {
        assert!(is_guid("72f988bf-86f1-41af-91ab-2d7cd011db47"));
        assert!(!is_guid("72f988bf-86f1-41af-91ab-2d7cd011db4"));
        assert!(!is_guid("72f988bf_86f1-41af-91ab-2d7cd011db47"));
        assert_eq!(
            guid("app_id", " 72F988BF-86F1-41AF-91AB-2D7CD011DB47 ").unwrap(),
            "72f988bf-86f1-41af-91ab-2d7cd011db47"
        );
        let e = guid("app_id", "not-a-guid").unwrap_err();
        assert_eq!(
            e.kind(),
            &crate::ErrorKind::Input {
                field: "app_id".into()
            }
        );
        assert!(e.message().contains("app_id"));
    }

    #[test]
    fn tenants() {
        assert_eq!(
            tenant("t", "Contoso.onmicrosoft.com").unwrap(),
            "contoso.onmicrosoft.com"
        );
        assert!(tenant("t", "72f988bf-86f1-41af-91ab-2d7cd011db47").is_ok());
        for bad in [
            "",
            "contoso",
            "../etc",
            "a b.com",
            "x.com/evil",
            "-a.com",
            "a..com",
            "1.2.3.4",
            "ünï.com",
        ] {
            assert!(tenant("cluster_tenant_id", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn redirect_uris() {
        assert!(redirect_uri("r", "https://www.microsoft.com").is_ok());
        assert!(redirect_uri("r", "http://localhost:8400/cb").is_ok());
        for bad in [
            "http://www.microsoft.com",
            "ftp://x",
            "www.microsoft.com",
            "https://x/#frag",
            "javascript:alert(1)",
        ] {
            let e = redirect_uri("redirect_uri", bad).unwrap_err();
            assert!(e.message().contains("redirect_uri"), "{bad}: {e}");
        }
    }

    #[test]
    fn long_values_show_head_and_tail() {
        assert_eq!(shown("a\nb"), r#""a\nb""#);
        let exact = "x".repeat(80);
        assert_eq!(shown(&exact), format!("{exact:?}"));
        let id = format!(
            "/subscriptions/{}/resourceGroups/rg/providers/X/y/bad name",
            "0".repeat(60)
        );
        let s = shown(&id);
        assert!(s.starts_with("\"/subscriptions/00"), "{s}");
        assert!(
            s.contains("…") && s.ends_with("y/bad name\" (116 characters)"),
            "{s}"
        );
        let huge = "é".repeat(5_000_000);
        assert!(shown(&huge).len() < 300);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("90"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("10m"), Some(Duration::from_secs(600)));
        assert_eq!(
            parse_duration("365d"),
            Some(Duration::from_secs(365 * 86_400))
        );
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        for bad in [
            "", "abc", "10y", "-1s", "1e999", "30s1m", "1m1m", "2h30", "h", "1h-30m", "1.2.3s",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn compound_durations() {
        let h = |n: u64| Duration::from_secs(n * 3600);
        assert_eq!(
            parse_duration("2h30m"),
            Some(h(2) + Duration::from_secs(1800))
        );
        assert_eq!(parse_duration("1h"), Some(h(1)));
        assert_eq!(parse_duration("90s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("1s500ms"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("1d2h"), Some(h(26)));
        assert_eq!(
            parse_duration(" 2h 30m "),
            Some(h(2) + Duration::from_secs(1800))
        );
        assert_eq!(clap_duration("2h30m"), Ok(h(2) + Duration::from_secs(1800)));
        let err = duration("timeout", "30s1m").unwrap_err().to_string();
        assert!(err.contains("timeout") && err.contains("2h30m"), "{err}");
    }

    proptest::proptest! {
        /// What `human` prints parses back, to a duration `human` prints the same way, no
        /// longer than the original and shorter by less than the unit it printed.
        #[test]
        fn every_human_duration_parses_back(ms in 0u64..40 * 86_400_000) {
            let d = Duration::from_millis(ms);
            let shown = crate::wait::human(d);
            let back = parse_duration(&shown);
            proptest::prop_assert!(back.is_some(), "{} does not parse", shown);
            let back = back.unwrap();
            proptest::prop_assert_eq!(crate::wait::human(back), shown.clone());
            proptest::prop_assert!(back <= d, "{} parsed to {:?} > {:?}", shown, back, d);
            let unit = if d < Duration::from_secs(1) {
                Duration::from_millis(1)
            } else if d < Duration::from_secs(120) {
                Duration::from_secs(1)
            } else {
                Duration::from_secs(60)
            };
            proptest::prop_assert!(d.saturating_sub(back) < unit, "{} parsed to {:?}, far from {:?}", shown, back, d);
        }
    }

    #[test]
    fn human_durations_at_the_unit_edges_parse_back() {
        for secs in [
            0, 1, 59, 60, 119, 120, 121, 3599, 3600, 7199, 7200, 7260, 86_400, 90_000,
        ] {
            let d = Duration::from_secs(secs);
            let shown = crate::wait::human(d);
            assert_eq!(
                parse_duration(&shown),
                Some(Duration::from_secs(
                    secs - secs % if secs < 120 { 1 } else { 60 }
                )),
                "{shown}"
            );
        }
    }
}
