//! The registry check a kubelet in service-principal mode makes: can this app pull?
//!
//! Used by `acr-grant --verify` and by `aks-sp-update` before it resets a cluster. The
//! kubelet sends HTTP Basic `app_id:secret` to `https://<login server>/oauth2/token`
//! and pulls with the token it gets. A registry's token service answers 200 with only
//! the access it allows, so the token's `access` claim is read: a 200 alone proves nothing.

pub mod access;
mod image;
mod login_server;
pub mod proof;
pub mod resource;

use reqwest::Method;
use serde::Deserialize;
use serde_json::Value;

use crate::error::{Error, Result, codes};
use crate::http::{Auth, Http, Request, Service};
use crate::json::{jwt_payload, null_as_default, typed};
use crate::secret::Secret;
use crate::wait::{Deadline, Poll, poll_until};

pub use image::Image;
pub use login_server::LoginServer;

/// A cloud whose registries are the simulator's (`<name>.azurecr.sim:8443`), for the tests
/// of the login server and image parsers.
#[cfg(test)]
fn sim_cloud() -> crate::cloud::Cloud {
    let mut c = crate::cloud::Cloud::azure_public();
    "azurecr.sim".clone_into(&mut c.registry_suffix);
    c.registry_port = Some(8443);
    c
}

/// The repository a pull token is asked for when no image is named (steps 3 and 4).
pub const PROBE_REPOSITORY: &str = "xtenant/verify";

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
                "the registry refused the app's credentials ({d}): a wrong or expired secret, or no service principal in tenant B"
            ),
            Self::NoPullRole => "the app's token grants no pull: the pull role is missing or has not reached the registry yet".to_owned(),
            Self::ManifestRefused(s) => format!("the token grants pull, but the manifest was refused (HTTP {s})"),
            Self::ImageMissing => "there is no such image (the credentials and role work)".to_owned(),
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
    if r.status == 403
        && let Some(e) = network_denied(&server, &r.body)
    {
        return Err(e);
    }
    if r.status == 401 || r.status == 403 {
        let detail = crate::http::parse_error_body(&r.body).map_or_else(
            || format!("HTTP {}", r.status),
            |(c, m)| format!("{c}: {m}"),
        );
        return Ok(PullCheck::Denied(Denied::Credentials(detail)));
    }
    let token = typed::<TokenAnswer>(&r.body)
        .map_err(|m| {
            Error::step(
                codes::UNEXPECTED_REGISTRY_ANSWER,
                format!(
                    "{server} answered the token request without a usable access_token (`{m}`)"
                ),
            )
        })?
        .access_token;
    let token = token.as_str();
    if !grants_pull(token, repository) {
        return Ok(PullCheck::Denied(Denied::NoPullRole));
    }
    let Some(reference) = reference else {
        return Ok(PullCheck::Allowed);
    };
    // Manifest only, no blobs (decided for issue 15, now that registries serve them): the
    // blobs are authorized by the same repository pull scope this token was just checked for,
    // so fetching them proves nothing more about the app's credential or role; it would cost
    // one request per layer (and, on real ACR, a 307 to the registry's storage, with the
    // layer's full size to download), which is not nearly free. The simulator's truth
    // endpoint pulls every blob, so the tests still see that a real client can finish.
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

/// The error for a registry whose firewall refuses this machine ([`codes::REGISTRY_NETWORK_DENIED`]),
/// if `body` is that refusal: 403 `{"errors":[{"code":"DENIED","message":"client with IP '…' is
/// not allowed access. Refer https://aka.ms/acr/firewall to grant access."}]}` (the body
/// docker/build-push-action#1214 and Azure/acr#633 show). It says nothing about the credential.
fn network_denied(server: &LoginServer, body: &Value) -> Option<Error> {
    let (code, message) = crate::http::parse_error_body(body)?;
    let lower = message.to_ascii_lowercase();
    if !code.eq_ignore_ascii_case("DENIED")
        || !(lower.contains("not allowed access") || lower.contains("aka.ms/acr/firewall"))
    {
        return None;
    }
    let address = message
        .split_once("IP '")
        .and_then(|(_, rest)| rest.split_once('\''))
        .map_or("this machine's address", |(ip, _)| ip);
    Some(
        Error::step(
            codes::REGISTRY_NETWORK_DENIED,
            format!(
                "the firewall of registry {server} refuses requests from {address} (its network rules; https://aka.ms/acr/firewall): \
                 the pull could not be checked from this machine — this says nothing about the app's credential"
            ),
        )
        .with_hint(format!(
            "check from an address the registry's network rules allow, or have tenant B's administrator add {address} to them (az acr network-rule add)"
        )),
    )
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
            PullCheck::Denied(d) => {
                if let Some(status) = is_pending(&d, started.elapsed()) {
                    Poll::Pending(status, None)
                } else {
                    let why = match &d {
                        Denied::Credentials(_) => "the app's credentials",
                        Denied::NoPullRole => "no pull granted",
                        Denied::ManifestRefused(_) => "the manifest",
                        Denied::ImageMissing => "no such image",
                    };
                    Poll::Ended(PullCheck::Denied(d), format!("refused ({why})"))
                }
            }
            allowed @ PullCheck::Allowed => Poll::Ready(allowed),
        })
    })
    .await
}

/// A registry token service's answer.
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
}

/// A registry token's claims: what it grants.
#[derive(Deserialize)]
struct Claims {
    #[serde(default, deserialize_with = "null_as_default")]
    access: Vec<Grant>,
}

/// One entry of a registry token's `access` claim.
#[derive(Deserialize)]
struct Grant {
    #[serde(rename = "type")]
    kind: String,
    name: String,
    #[serde(default, deserialize_with = "null_as_default")]
    actions: Vec<String>,
}

/// Whether a registry token's `access` claim grants `pull` on `repository` (claims that do
/// not fit their documented shape grant nothing).
pub fn grants_pull(token: &str, repository: &str) -> bool {
    let Some(claims) = jwt_payload::<Claims>(token) else {
        return false;
    };
    claims.access.iter().any(|g| {
        g.kind == "repository"
            && g.name == repository
            && g.actions.iter().any(|a| a == "pull" || a == "*")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
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
}
