//! `--resolve HOST:443:ADDR[:PORT]` (env `XTENANT_RESOLVE`, comma-separated): name resolution
//! pointed where the user says, in the spirit of `curl --resolve`.
//!
//! A rule sends connections for one host name (or, with `*.SUFFIX`, for any single label
//! before that suffix: a registry or vault host) to an IP address and port, while the URL,
//! the `Host` header and the name the TLS certificate must carry stay the host's own. That is
//! how the tools run unchanged with a built-in cloud (`--cloud AzureChinaCloud`) against a
//! stand-in such as `azure-sim`, which listens on `127.0.0.1:PORT` with a certificate for the
//! cloud's real names (trusted with `--ca-file`).
//!
//! Only the name is resolved differently: a rule never comes from an input object or an
//! answer, the address must be an IP address (no second lookup), and the port a rule is for
//! must be 443 — the port of every built-in cloud's endpoint. The HTTP stack resolves names
//! without seeing the URL's port, so a URL that names another port of a host a rule covers is
//! refused ([`check_url`]) rather than sent to the rule's address on a port nobody named.

use std::net::{IpAddr, SocketAddr};

use url::Url;

use crate::error::{Error, Result};

/// The one port a rule may be for: https' default, that of every built-in cloud's endpoint.
pub const HTTPS_PORT: u16 = 443;

/// One rule: which host names it covers and where their connections go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolve {
    /// The host name (lowercase), or the suffix after `*.` for a wildcard rule.
    host: String,
    /// Whether `host` is a suffix (`*.SUFFIX`: exactly one label before it).
    wildcard: bool,
    /// Where connections for the host go.
    addr: SocketAddr,
}

impl Resolve {
    /// Parses `HOST:443:ADDR[:PORT]` (IPv6 addresses in brackets: `[::1]:8443`); `PORT`
    /// defaults to 443. Errors name the flag, the rule and what to write instead.
    pub fn parse(rule: &str) -> Result<Self> {
        let bad = |why: &str| {
            Error::usage(format!(
                "--resolve {rule:?}: {why}; write HOST:443:ADDR[:PORT], e.g. login.chinacloudapi.cn:443:127.0.0.1:8443 or *.azurecr.cn:443:127.0.0.1:8443"
            ))
        };
        let mut parts = rule.trim().splitn(3, ':');
        let (Some(host), Some(port), Some(target)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(bad("it has fewer than three parts"));
        };
        let host = host.to_ascii_lowercase();
        let (wildcard, name) = match host.strip_prefix("*.") {
            Some(suffix) => (true, suffix.to_owned()),
            None => (false, host.clone()),
        };
        if !is_dns_name(&name) || (wildcard && !name.contains('.')) {
            return Err(bad(
                "HOST must be a DNS name, or *. and a suffix of at least two labels",
            ));
        }
        if port.parse::<u16>().ok() != Some(HTTPS_PORT) {
            return Err(bad(
                "the port a rule is for must be 443 (every built-in cloud's endpoints are on 443)",
            ));
        }
        let addr = parse_target(target).ok_or_else(|| {
            bad("ADDR must be an IP address (IPv6 in brackets), optionally with :PORT")
        })?;
        Ok(Self {
            host: name,
            wildcard,
            addr,
        })
    }

    /// Parses a comma-separated list (the `XTENANT_RESOLVE` form); empty items are skipped.
    pub fn parse_list(rules: &str) -> Result<Vec<Self>> {
        rules
            .split(',')
            .filter(|r| !r.trim().is_empty())
            .map(Self::parse)
            .collect()
    }

    /// Whether this rule covers `host` (a name without port; ASCII case does not matter).
    pub fn covers(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        if !self.wildcard {
            return host == self.host;
        }
        host.strip_suffix(self.host.as_str())
            .and_then(|rest| rest.strip_suffix('.'))
            .is_some_and(|label| !label.is_empty() && !label.contains('.'))
    }

    /// Where connections for a covered host go.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The rule as written back (`HOST:443:ADDR:PORT`), for messages.
    pub fn describe(&self) -> String {
        let star = if self.wildcard { "*." } else { "" };
        format!("{star}{}:{HTTPS_PORT}:{}", self.host, self.addr)
    }
}

/// The first rule covering `host`, if any.
pub fn find<'a>(rules: &'a [Resolve], host: &str) -> Option<&'a Resolve> {
    rules.iter().find(|r| r.covers(host))
}

/// Refuses a URL that names a port other than 443 for a host a rule covers: the rule is for
/// 443 only, and the HTTP stack would otherwise connect to the rule's address on that port.
pub fn check_url(rules: &[Resolve], url: &Url) -> Result<()> {
    let (Some(host), Some(port)) = (url.host_str(), url.port()) else {
        return Ok(());
    };
    match find(rules, host) {
        Some(rule) if port != HTTPS_PORT => Err(Error::usage(format!(
            "--resolve {} is for port 443, but {host}:{port} was to be reached: rules cover https on the default port only",
            rule.describe()
        ))),
        _ => Ok(()),
    }
}

/// `ADDR` or `ADDR:PORT`, IPv6 in brackets.
fn parse_target(s: &str) -> Option<SocketAddr> {
    // IPv6 only in brackets: `::1:8443` would be an address and a port, or one address.
    if let Ok(ip) = s.parse::<std::net::Ipv4Addr>() {
        return Some(SocketAddr::new(IpAddr::V4(ip), HTTPS_PORT));
    }
    if let Some(inner) = s.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        return inner
            .parse::<std::net::Ipv6Addr>()
            .ok()
            .map(|ip| SocketAddr::new(IpAddr::V6(ip), HTTPS_PORT));
    }
    s.parse::<SocketAddr>().ok().filter(|a| a.port() != 0)
}

/// Letters, digits and hyphens in dot-separated labels, none empty or edged with a hyphen.
fn is_dns_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::ExitCode;

    #[test]
    fn rules_parse_as_curl_writes_them_plus_a_port() {
        let r = Resolve::parse("login.chinacloudapi.cn:443:127.0.0.1:8443").unwrap();
        assert_eq!(r.addr(), "127.0.0.1:8443".parse().unwrap());
        assert!(r.covers("login.chinacloudapi.cn"));
        assert!(r.covers("LOGIN.ChinaCloudApi.cn"));
        assert!(!r.covers("xlogin.chinacloudapi.cn"));
        assert!(!r.covers("a.login.chinacloudapi.cn"));
        let r = Resolve::parse("Login.Example.com:443:10.1.2.3").unwrap();
        assert_eq!(r.addr(), "10.1.2.3:443".parse().unwrap());
        assert_eq!(r.describe(), "login.example.com:443:10.1.2.3:443");
        let r = Resolve::parse("h.example:443:[::1]:9").unwrap();
        assert_eq!(r.addr(), "[::1]:9".parse().unwrap());
        let r = Resolve::parse("h.example:443:[::1]").unwrap();
        assert_eq!(r.addr(), "[::1]:443".parse().unwrap());
    }

    #[test]
    fn a_wildcard_covers_one_label_before_its_suffix() {
        let r = Resolve::parse("*.azurecr.cn:443:127.0.0.2:1234").unwrap();
        assert!(r.covers("fabrikamacr.azurecr.cn"));
        assert!(r.covers("FabrikamAcr.AzureCR.cn"));
        for no in [
            "azurecr.cn",
            ".azurecr.cn",
            "a.b.azurecr.cn",
            "fabrikamacr.azurecr.cn.evil.com",
            "fabrikamacr.xazurecr.cn",
            "fabrikamacrazurecr.cn",
            "fabrikamacr.azurecr.io",
        ] {
            assert!(!r.covers(no), "{no}");
        }
        assert_eq!(r.describe(), "*.azurecr.cn:443:127.0.0.2:1234");
    }

    #[test]
    fn bad_rules_are_refused_with_the_form_to_use() {
        for (bad, why) in [
            ("login.chinacloudapi.cn", "fewer than three"),
            ("login.chinacloudapi.cn:443", "fewer than three"),
            ("login.chinacloudapi.cn:8443:127.0.0.1", "must be 443"),
            ("login.chinacloudapi.cn:x:127.0.0.1", "must be 443"),
            ("login.chinacloudapi.cn:443:localhost", "IP address"),
            ("login.chinacloudapi.cn:443:127.0.0.1:0", "IP address"),
            ("login.chinacloudapi.cn:443:127.0.0.1:99999", "IP address"),
            ("login.chinacloudapi.cn:443:::1", "IP address"),
            ("*.cn:443:127.0.0.1", "DNS name"),
            ("*:443:127.0.0.1", "DNS name"),
            ("lo gin.cn:443:127.0.0.1", "DNS name"),
            ("-a.cn:443:127.0.0.1", "DNS name"),
            (":443:127.0.0.1", "DNS name"),
            ("a.*.cn:443:127.0.0.1", "DNS name"),
        ] {
            let e = Resolve::parse(bad).unwrap_err();
            assert_eq!(e.exit_code(), ExitCode::Usage, "{bad}");
            assert!(e.message().contains(why), "{bad}: {e}");
            assert!(e.message().contains("HOST:443:ADDR"), "{bad}: {e}");
        }
    }

    #[test]
    fn lists_are_comma_separated() {
        let l = Resolve::parse_list(
            "login.chinacloudapi.cn:443:127.0.0.1:1, *.azurecr.cn:443:127.0.0.1:1,,",
        )
        .unwrap();
        assert_eq!(l.len(), 2);
        assert!(find(&l, "x1234.azurecr.cn").is_some());
        assert!(find(&l, "management.chinacloudapi.cn").is_none());
        assert!(Resolve::parse_list("").unwrap().is_empty());
        assert!(Resolve::parse_list("a.cn:443:127.0.0.1,bad").is_err());
    }

    #[test]
    fn a_url_naming_another_port_of_a_covered_host_is_refused() {
        let l = Resolve::parse_list("*.azurecr.cn:443:127.0.0.1:1").unwrap();
        let u = |s: &str| Url::parse(s).unwrap();
        assert!(check_url(&l, &u("https://reg12.azurecr.cn/v2/")).is_ok());
        assert!(check_url(&l, &u("https://reg12.azurecr.cn:443/v2/")).is_ok());
        assert!(check_url(&l, &u("https://reg12.azurecr.io:8443/v2/")).is_ok());
        let e = check_url(&l, &u("https://reg12.azurecr.cn:8443/v2/")).unwrap_err();
        assert!(e.message().contains("reg12.azurecr.cn:8443"), "{e}");
    }
}
