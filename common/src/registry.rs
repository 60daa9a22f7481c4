//! The registry check a kubelet in service-principal mode makes: can this app pull?
//!
//! Used by `acr-grant --verify` and by `aks-sp-update` before it resets a cluster. The
//! kubelet sends HTTP Basic `app_id:secret` to `https://<login server>/oauth2/token`
//! and pulls with the token it gets. A registry's token service answers 200 with only
//! the access it allows, so the token's `access` claim is read: a 200 alone proves nothing.

use base64::Engine;
use reqwest::Method;
use serde_json::Value;
use url::Url;

use crate::cloud::{Cloud, REGISTRY_NAME_MAX, REGISTRY_NAME_MIN};
use crate::error::{Error, Result};
use crate::http::{Auth, Http, Request, Service};
use crate::secret::Secret;
use crate::validate::shown;
use crate::wait::{Deadline, Poll, poll_until};

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
            .map_err(|e| Error::step("BadLoginServer", e.to_string()))?;
        url.set_path(path);
        Ok(url)
    }
}

impl std::fmt::Display for LoginServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// An image reference: registry, repository, tag or digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// The login server, when the reference names one (validated as a [`LoginServer`],
    /// kept as its text).
    pub login_server: Option<String>,
    /// The repository, e.g. `samples/hello`.
    pub repository: String,
    /// The tag or `sha256:` digest.
    pub reference: String,
}

impl Image {
    /// Parses `<login server>/<repo>:<tag>`, `<repo>:<tag>` or `…@sha256:…`.
    pub fn parse(field: &str, value: &str, cloud: &Cloud) -> Result<Self> {
        let bad = |why: &str| {
            Error::input(
                field,
                format!(
                    "`{field}` {why}: {} (expected <login server>/<repository>:<tag> or <repository>:<tag>)",
                    shown(value)
                ),
            )
        };
        let v = value.trim();
        if v.is_empty() || v.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("is not an image reference"));
        }
        let (rest, reference) = if let Some((r, d)) = v.split_once('@') {
            (r, d.to_owned())
        } else {
            match v.rsplit_once(':') {
                Some((r, t)) if !t.contains('/') => (r, t.to_owned()),
                _ => return Err(bad("has no tag")),
            }
        };
        // The first component names a registry when it looks like a host (Docker's rule:
        // a dot, a port, or `localhost`); it must then be a login server of this cloud.
        let (login_server, repository) = match rest.split_once('/') {
            Some((host, repo))
                if host.contains('.')
                    || host.contains(':')
                    || host.eq_ignore_ascii_case("localhost") =>
            {
                let server = LoginServer::parse(field, host, cloud).map_err(|_| {
                    bad(&format!(
                        "names a registry outside this cloud (not <name>.{})",
                        cloud.registry_suffix
                    ))
                })?;
                (Some(server.text), repo.to_owned())
            }
            _ => (None, rest.to_owned()),
        };
        let repo_ok = !repository.is_empty()
            && repository.split('/').all(|p| {
                !p.is_empty()
                    && p != "."
                    && p != ".."
                    && p.bytes().all(|c| {
                        c.is_ascii_lowercase() || c.is_ascii_digit() || b"._-".contains(&c)
                    })
            });
        if !repo_ok {
            return Err(bad(
                "has an invalid repository (lower-case letters, digits, . _ - and /)",
            ));
        }
        let ref_ok = if let Some(hex) = reference.strip_prefix("sha256:") {
            hex.len() == 64 && hex.bytes().all(|c| c.is_ascii_hexdigit())
        } else {
            !reference.is_empty()
                && reference.len() <= 128
                && reference
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || b"._-".contains(&c))
        };
        if !ref_ok {
            return Err(bad("has an invalid tag or digest"));
        }
        Ok(Self {
            login_server,
            repository,
            reference,
        })
    }
}

/// Why a pull would fail, as far as the registry's answers tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// The token request was refused (401): a wrong or expired secret, or no service principal for the app in the registry's tenant.
    Credentials(String),
    /// A token came back without `pull` on the repository: no pull role, or not propagated yet.
    NoPullRole,
    /// The token grants pull but the manifest request was refused (role not effective yet).
    ManifestRefused(u16),
    /// The image does not exist.
    ImageMissing,
}

impl Denied {
    /// A sentence saying which part is wrong.
    pub fn explain(&self) -> String {
        match self {
            Self::Credentials(d) => format!(
                "the registry refused the app's credentials ({d}): the client secret is wrong or expired, or the app has no service principal in the registry's tenant"
            ),
            Self::NoPullRole => "the registry authenticated the app but its token grants no pull on the repository: the pull role is missing or has not reached the registry yet".to_owned(),
            Self::ManifestRefused(s) => format!("the token grants pull, but the manifest request was refused (HTTP {s})"),
            Self::ImageMissing => "the credentials and role work, but the image does not exist in the registry".to_owned(),
        }
    }
}

/// The outcome of [`check_pull`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullCheck {
    /// The token grants pull (and the manifest was fetched when an image was given).
    Allowed,
    /// It would fail, and why.
    Denied(Denied),
}

/// Asks `login_server` for a pull token on `repository` as `app_id`, checks its `access`,
/// and with `reference` fetches the manifest with it — what a kubelet does.
pub async fn check_pull(
    http: &Http,
    login_server: &str,
    app_id: &str,
    secret: &Secret,
    repository: &str,
    reference: Option<&str>,
    deadline: Deadline,
) -> Result<PullCheck> {
    // Every registry URL is built from a validated login server: the Basic credential
    // below goes nowhere else.
    let server = LoginServer::parse("registry_login_server", login_server, http.cloud())?;
    let mut url = server.url("/oauth2/token")?;
    url.query_pairs_mut()
        .append_pair("service", server.as_str())
        .append_pair("scope", &format!("repository:{repository}:pull"));
    let req = Request::new(
        Method::GET,
        url,
        Service::Registry,
        Auth::Basic(app_id.to_owned(), secret.clone()),
    )
    .accept(&[401, 403]);
    let r = http.read(req, deadline).await?;
    if r.status == 401 || r.status == 403 {
        let detail = crate::http::parse_error_body(&r.body).map_or_else(
            || format!("HTTP {}", r.status),
            |(c, m)| format!("{c}: {m}"),
        );
        return Ok(PullCheck::Denied(Denied::Credentials(detail)));
    }
    let token = r
        .body
        .get("access_token")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            Error::step(
                "UnexpectedRegistryAnswer",
                format!("{server} answered the token request without an access_token"),
            )
        })?;
    if !grants_pull(token, repository) {
        return Ok(PullCheck::Denied(Denied::NoPullRole));
    }
    let Some(reference) = reference else {
        return Ok(PullCheck::Allowed);
    };
    let murl = server.url(&format!("/v2/{repository}/manifests/{reference}"))?;
    let req = Request::new(Method::HEAD, murl, Service::Registry, Auth::Bearer(Secret::new(token)))
        .header(
            "Accept",
            "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json",
        )
        .accept(&[401, 403, 404]);
    let m = http.read(req, deadline).await?;
    Ok(match m.status {
        404 => PullCheck::Denied(Denied::ImageMissing),
        401 | 403 => PullCheck::Denied(Denied::ManifestRefused(m.status)),
        _ => PullCheck::Allowed,
    })
}

/// What [`wait_for_pull`] checks: `app_id` pulling `repository` (and `reference`, if given)
/// from `login_server` with `secret`.
#[derive(Debug, Clone, Copy)]
pub struct PullAs<'a> {
    /// The registry's login server.
    pub login_server: &'a str,
    /// The app pulling.
    pub app_id: &'a str,
    /// The app's client secret.
    pub secret: &'a Secret,
    /// The repository.
    pub repository: &'a str,
    /// The tag or digest whose manifest to fetch; `None` checks the token only.
    pub reference: Option<&'a str>,
}

/// Repeats [`check_pull`] until the pull is allowed, or is denied in a way the caller
/// does not wait out, or `deadline` passes.
///
/// Which refusal is still "not yet" is the caller's knowledge: `is_pending` gets each
/// [`Denied`] and the time waited so far, and answers the status to show while waiting
/// (`Some`) or `None` to end the wait with that refusal (`Ok(PullCheck::Denied(..))`).
/// When the deadline passes while pending, the error is a timeout naming `label`.
pub async fn wait_for_pull(
    http: &Http,
    pull: PullAs<'_>,
    deadline: Deadline,
    label: &str,
    is_pending: impl Fn(&Denied, std::time::Duration) -> Option<String>,
) -> Result<PullCheck> {
    let started = std::time::Instant::now();
    let is_pending = &is_pending;
    poll_until(label, deadline, || async move {
        let outcome = check_pull(
            http,
            pull.login_server,
            pull.app_id,
            pull.secret,
            pull.repository,
            pull.reference,
            deadline,
        )
        .await?;
        Ok(match outcome {
            PullCheck::Denied(d) => match is_pending(&d, started.elapsed()) {
                Some(status) => Poll::Pending(status, None),
                None => Poll::Ready(PullCheck::Denied(d)),
            },
            allowed @ PullCheck::Allowed => Poll::Ready(allowed),
        })
    })
    .await
}

/// Whether a registry token's `access` claim grants `pull` on `repository`.
pub fn grants_pull(token: &str, repository: &str) -> bool {
    let Some(payload) = token.split('.').nth(1) else {
        return false;
    };
    let Ok(bytes) =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('='))
    else {
        return false;
    };
    let Ok(claims) = serde_json::from_slice::<Value>(&bytes) else {
        return false;
    };
    claims
        .get("access")
        .and_then(Value::as_array)
        .is_some_and(|entries| {
            entries.iter().any(|e| {
                e.get("type").and_then(Value::as_str) == Some("repository")
                    && e.get("name").and_then(Value::as_str) == Some(repository)
                    && e.get("actions").and_then(Value::as_array).is_some_and(|a| {
                        a.iter()
                            .any(|x| x.as_str() == Some("pull") || x.as_str() == Some("*"))
                    })
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn token(claims: &Value) -> String {
        format!(
            "{}.{}.sig",
            URL_SAFE_NO_PAD.encode(b"{\"alg\":\"RS256\"}"),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        )
    }

    #[test]
    fn reads_the_access_claim() {
        let yes = token(
            &serde_json::json!({"access":[{"type":"repository","name":"samples/hello","actions":["pull"]}]}),
        );
        let empty = token(
            &serde_json::json!({"access":[{"type":"repository","name":"samples/hello","actions":[]}]}),
        );
        let other = token(
            &serde_json::json!({"access":[{"type":"repository","name":"other","actions":["pull"]}]}),
        );
        assert!(grants_pull(&yes, "samples/hello"));
        assert!(!grants_pull(&empty, "samples/hello"));
        assert!(!grants_pull(&other, "samples/hello"));
        assert!(!grants_pull("not-a-jwt", "samples/hello"));
    }

    fn sim_cloud() -> Cloud {
        let mut c = Cloud::azure_public();
        "azurecr.sim".clone_into(&mut c.registry_suffix);
        c.registry_port = Some(8443);
        c
    }

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

    #[test]
    fn image_registries_are_login_servers_of_the_cloud() {
        let sim = sim_cloud();
        let i = Image::parse(
            "registry_image",
            "FabrikamACR.azurecr.sim:8443/samples/hello:1",
            &sim,
        )
        .unwrap();
        assert_eq!(
            i.login_server.as_deref(),
            Some("fabrikamacr.azurecr.sim:8443")
        );
        for bad in [
            "localhost/samples/hello:1",
            "localhost:8443/samples/hello:1",
            "127.0.0.1:8443/samples/hello:1",
            "fabrikamacr.azurecr.sim.evil.com/samples/hello:1",
            "fabrikamacr.azurecr.sim:9/samples/hello:1",
            "user@fabrikamacr.azurecr.sim/samples/hello:1",
        ] {
            let e = Image::parse("registry_image", bad, &sim).unwrap_err();
            assert!(e.message().contains("registry_image"), "{bad}: {e}");
        }
    }

    #[test]
    fn parses_image_references() {
        let c = Cloud::azure_public();
        assert_eq!(
            Image::parse("image", "myreg.azurecr.io/samples/hello:1.0", &c).unwrap(),
            Image {
                login_server: Some("myreg.azurecr.io".into()),
                repository: "samples/hello".into(),
                reference: "1.0".into()
            }
        );
        assert_eq!(
            Image::parse("image", "hello:latest", &c)
                .unwrap()
                .login_server,
            None
        );
        let digest = format!("hello@sha256:{}", "a".repeat(64));
        assert_eq!(
            Image::parse("image", &digest, &c).unwrap().reference,
            format!("sha256:{}", "a".repeat(64))
        );
        for bad in [
            "hello",
            "docker.io/library/x:1",
            "UPPER:1",
            "a/../b:1",
            "x:",
            "a b:1",
            "x:bad tag",
        ] {
            let e = Image::parse("image", bad, &c).unwrap_err();
            assert!(e.message().contains("image"), "{bad}");
        }
    }
}
