//! [`LoginServer`]: a registry login server validated against the cloud — the only
//! place a registry URL, and with it the app's `Basic app_id:secret`, may go.

use url::Url;

use crate::cloud::{Cloud, REGISTRY_NAME_MAX, REGISTRY_NAME_MIN};
use crate::error::{Error, Result};
use crate::validate::shown;

/// A registry login server of one cloud, validated: the only place a registry URL (and
/// with it the app's `Basic app_id:secret`) may go.
///
/// Parsed as a URL, then its *host* compared exactly: `<name>.<registry suffix>`, the
/// name 5 to 50 ASCII letters and digits, optionally with the cloud's registry port
/// ([`Cloud::registry_port`]). No user info, path, query or fragment, no IP address in
/// any form, no Unicode (full-width dots and the like), no extra label. Kept lower-case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginServer {
    host: String,
    port: Option<u16>,
    text: String,
}

impl LoginServer {
    /// Parses `value` (from the envelope field or flag `field`) as a login server of `cloud`.
    pub fn parse(field: &str, value: &str, cloud: &Cloud) -> Result<Self> {
        let port_note = cloud
            .registry_port
            .map(|p| format!(", optionally :{p}"))
            .unwrap_or_default();
        let bad = |why: &str| {
            Error::input(
                field,
                format!(
                    "`{field}` {why}: {} (expected a registry login server of this cloud: <name>.{}{port_note}, the name {REGISTRY_NAME_MIN} to {REGISTRY_NAME_MAX} ASCII letters and digits)",
                    shown(value),
                    cloud.registry_suffix
                ),
            )
        };
        let v = value.trim();
        // Only what a login server can hold: before URL parsing, which would turn full-width
        // dots, percent escapes, backslashes or a bare number into some other host.
        if v.is_empty()
            || !v
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b':')
        {
            return Err(bad("has characters no login server has"));
        }
        if v.split_once(':')
            .is_some_and(|(_, p)| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(bad("has a port that is not a number"));
        }
        let url = Url::parse(&format!("https://{v}"))
            .map_err(|e| bad(&format!("is not a host ({e})")))?;
        let plain = url.username().is_empty()
            && url.password().is_none()
            && url.path() == "/"
            && url.query().is_none()
            && url.fragment().is_none();
        let Some(url::Host::Domain(host)) = url.host().filter(|_| plain) else {
            return Err(bad("is not a host name"));
        };
        if !cloud.is_registry_host(host) {
            return Err(bad("is not a registry of this cloud"));
        }
        // `Url` drops the scheme's default port (443): only another port is kept, and
        // only the cloud's registry port is allowed.
        let port = url.port();
        if port.is_some() && port != cloud.registry_port {
            return Err(bad("names a port this cloud's registries do not use"));
        }
        let host = host.to_ascii_lowercase();
        let text = match port {
            Some(p) => format!("{host}:{p}"),
            None => host.clone(),
        };
        Ok(Self { host, port, text })
    }

    /// The host, e.g. `myreg.azurecr.io`.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port, when it is not 443.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// `host` or `host:port`, as Azure writes a login server (and the registry's token `service`).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// `https://<login server><path>`; `path` starts with `/`.
    pub fn url(&self, path: &str) -> Result<Url> {
        let mut url = Url::parse(&format!("https://{}/", self.text))
            .map_err(|e| Error::step(crate::error::codes::BAD_LOGIN_SERVER, e.to_string()))?;
        url.set_path(path);
        Ok(url)
    }
}

impl std::fmt::Display for LoginServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::sim_cloud;

    #[test]
    fn login_servers_are_a_registry_host_of_the_cloud_and_nothing_else() {
        let c = Cloud::azure_public();
        let ls = LoginServer::parse("f", " MyReg.azurecr.io ", &c).unwrap();
        assert_eq!(
            (ls.host(), ls.port(), ls.as_str()),
            ("myreg.azurecr.io", None, "myreg.azurecr.io")
        );
        assert_eq!(
            ls.url("/oauth2/token").unwrap().as_str(),
            "https://myreg.azurecr.io/oauth2/token"
        );
        // 443 is the default port: the same server.
        assert_eq!(
            LoginServer::parse("f", "myreg.azurecr.io:443", &c).unwrap(),
            ls
        );
        let sim = sim_cloud();
        let ls = LoginServer::parse("f", "fabrikamacr.azurecr.sim:8443", &sim).unwrap();
        assert_eq!(ls.to_string(), "fabrikamacr.azurecr.sim:8443");
        assert_eq!(
            ls.url("/v2/a/manifests/1").unwrap().as_str(),
            "https://fabrikamacr.azurecr.sim:8443/v2/a/manifests/1"
        );
        for (cloud, bad) in [
            (&sim, "2130706433/x.azurecr.sim"),
            (&sim, "2130706433:8443/fabrikamacr.azurecr.sim"),
            (&sim, "localhost/fabrikamacr.azurecr.sim"),
            (&sim, "localhost:8443"),
            (&sim, "127.0.0.1:8443"),
            (
                &sim,
                "127\u{3002}0\u{3002}0\u{3002}1/fabrikamacr.azurecr.sim",
            ),
            (&sim, "fabrikamacr\u{ff0e}azurecr.sim"),
            (&sim, "host?fabrikamacr.azurecr.sim/x"),
            (&sim, "host#fabrikamacr.azurecr.sim"),
            (&sim, "user@fabrikamacr.azurecr.sim"),
            (&sim, "fabrikamacr.azurecr.sim@127.0.0.1"),
            (&sim, "fabrikamacr.azurecr.sim:8443@127.0.0.1"),
            (&sim, "fabrikamacr.azurecr.sim.evil.com"),
            (&sim, "fabrikamacr.azurecr.sim."),
            (&sim, "fabrikamacr.azurecr.sim:8444"),
            (&sim, "fabrikamacr.azurecr.sim:99x"),
            (&sim, "fabrikamacr.azurecr.sim:"),
            (&sim, "fabrikamacr.azurecr.sim/path"),
            (&sim, "fabrikamacr.azurecr.sim%2f"),
            (&sim, "fabrikamacr.azurecr.sim\\@evil"),
            (&sim, "a.b.azurecr.sim"),
            (&sim, "fab.azurecr.sim"),
            (&sim, "[::1]:8443"),
            (&sim, "0x7f000001"),
            (&c, "x.azurecr.io.evil.com"),
            (&c, "myreg.azurecr.io:8443"),
            (&c, "myreg.azurecr.us"),
            (&c, ""),
        ] {
            let e = LoginServer::parse("registry_login_server", bad, cloud).unwrap_err();
            assert_eq!(
                e.kind(),
                &crate::ErrorKind::Input {
                    field: "registry_login_server".into()
                },
                "{bad}"
            );
            assert!(
                e.message().contains("`registry_login_server`"),
                "{bad}: {e}"
            );
        }
    }
}
