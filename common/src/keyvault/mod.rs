//! Azure Key Vault secrets: a validated reference, and setting or reading one exact version.
//!
//! A [`SecretRef`] comes from an envelope or a flag, which are untrusted: a bearer token for
//! the vault is sent to its host, so the host must be exactly `<vault>.<the cloud's Key Vault
//! suffix>` (no user info, IP form, Unicode, escape or path trick), the path exactly
//! `/secrets/<name>[/<version>]`. Requests carry a token for the cloud's Key Vault audience in
//! the tenant the caller names (the vault's tenant). Key Vault answers that matter are turned
//! into errors that say what to do: a missing role names the role (Key Vault Secrets User to
//! read, Key Vault Secrets Officer to write) and the vault; a token of the wrong tenant names
//! the vault's tenant from its challenge.
//!
//! The reference and its validation are in `reference.rs`; the vault operations here.

use std::collections::BTreeMap;

use reqwest::Method;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use url::Url;

use crate::error::{Error, ErrorKind, Result, codes};
use crate::http::{Auth, Http, Response, Sent};
use crate::json::read;
use crate::secret::{REDACTED, Secret};
use crate::wait::Deadline;

mod answers;
mod reference;

use answers::{SecretBundle, challenge_param, challenge_tenant, explain};
use reference::is_version;
pub use reference::{SecretRef, is_secret_name, is_vault_name};

/// The Key Vault data-plane api-version the tools speak.
pub const API_VERSION: &str = "7.5";
/// The role that reads secret values.
pub const READ_ROLE: &str = "Key Vault Secrets User";
/// The role that writes secrets.
pub const WRITE_ROLE: &str = "Key Vault Secrets Officer";

/// What to store: the value and its metadata.
#[derive(Debug, Clone)]
pub struct NewSecret<'a> {
    /// The value.
    pub value: &'a Secret,
    /// `contentType`, e.g. `text/plain` or a description of the value.
    pub content_type: Option<&'a str>,
    /// When the secret expires (`attributes.exp`).
    pub expires_at: Option<OffsetDateTime>,
    /// Whether the version can be read at once (`attributes.enabled`); a version written
    /// disabled is enabled later with [`set_enabled`], e.g. once it is proven to work.
    pub enabled: bool,
    /// Tags (at most 15).
    pub tags: BTreeMap<String, String>,
}

/// Stores `secret` as a new version of `target` in the vault of tenant `tenant`; the new
/// version's identifier, or `None` under `--dry-run` (the write was only reported).
pub async fn set_secret(
    http: &Http,
    tenant: &str,
    target: &SecretRef,
    secret: &NewSecret<'_>,
    deadline: Deadline,
) -> Result<Option<SecretRef>> {
    if secret.value.is_empty() {
        return Err(Error::usage("the secret to store in Key Vault is empty"));
    }
    if secret.tags.len() > 15 {
        return Err(Error::usage(format!(
            "Key Vault takes at most 15 tags on a secret, {} were given",
            secret.tags.len()
        )));
    }
    let mut body = Map::new();
    body.insert(
        "value".into(),
        Value::String(secret.value.expose().to_owned()),
    );
    if let Some(ct) = secret.content_type {
        body.insert("contentType".into(), Value::String(ct.to_owned()));
    }
    let mut attributes = json!({"enabled": secret.enabled});
    if let Some(exp) = secret.expires_at {
        attributes["exp"] = json!(exp.unix_timestamp());
    }
    body.insert("attributes".into(), attributes);
    if !secret.tags.is_empty() {
        body.insert("tags".into(), json!(secret.tags));
    }
    let unversioned = SecretRef {
        version: None,
        ..target.clone()
    };
    let url = unversioned.url("")?;
    if http.dry_run() {
        // Reported on stderr without the value, and without asking for a token.
        body.insert("value".into(), Value::String(REDACTED.into()));
        let req = target
            .request(Method::PUT, url, Auth::None)?
            .json(Value::Object(body));
        return match http.write(req, deadline).await? {
            Sent::Skipped => Ok(None),
            Sent::Done(_) => Err(Error::usage(
                "internal error: a Key Vault write was sent under --dry-run",
            )),
        };
    }
    let resp = send(
        http,
        tenant,
        &unversioned,
        Method::PUT,
        url,
        Some(Value::Object(body)),
        deadline,
    )
    .await?;
    let what = format!("Key Vault's answer to the write of {}", target.name);
    let bundle: SecretBundle = read(&resp.body, codes::KEY_VAULT_BAD_ANSWER, &what)?;
    let version = bundle
        .id
        .rsplit('/')
        .next()
        .filter(|v| is_version(v))
        .ok_or_else(|| {
            Error::step(
                codes::KEY_VAULT_BAD_ANSWER,
                format!(
                    "Key Vault {} stored secret {} but its answer names no version",
                    target.vault, target.name
                ),
            )
        })?;
    Ok(Some(target.at_version(version)))
}

/// A version read from a vault: its value, its identifier (with the version) and its tags.
#[derive(Debug, Clone)]
pub struct Stored {
    /// The value.
    pub value: Secret,
    /// The version's identifier.
    pub id: SecretRef,
    /// Its tags.
    pub tags: BTreeMap<String, String>,
}

impl Stored {
    /// The tag `name`, if set.
    pub fn tag(&self, name: &str) -> Option<&str> {
        self.tags.get(name).map(String::as_str)
    }
}

/// Reads exactly the version `r` names from the vault of tenant `tenant`.
pub async fn get_secret(
    http: &Http,
    tenant: &str,
    r: &SecretRef,
    deadline: Deadline,
) -> Result<Secret> {
    read_secret(http, tenant, r, deadline)
        .await
        .map(|s| s.value)
}

/// Reads exactly the version `r` names, with its tags.
pub async fn read_secret(
    http: &Http,
    tenant: &str,
    r: &SecretRef,
    deadline: Deadline,
) -> Result<Stored> {
    if r.version.is_none() {
        return Err(Error::input(
            &r.field,
            format!(
                "{}: {r} names no version: give the secret identifier with its version (.../secrets/NAME/VERSION)",
                r.field
            ),
        ));
    }
    let url = r.url("")?;
    let resp = send(http, tenant, r, Method::GET, url, None, deadline).await?;
    stored(&resp, r, r.version.as_deref())
}

/// Reads the current (latest) version of the secret `target` names, ignoring any version in
/// it; `None` when the vault has no such secret.
pub async fn read_current(
    http: &Http,
    tenant: &str,
    target: &SecretRef,
    deadline: Deadline,
) -> Result<Option<Stored>> {
    let unversioned = SecretRef {
        version: None,
        ..target.clone()
    };
    let url = unversioned.url("")?;
    match send(http, tenant, &unversioned, Method::GET, url, None, deadline).await {
        Ok(resp) => stored(&resp, &unversioned, None).map(Some),
        Err(e) if e.status() == Some(404) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The version in a Key Vault answer: it must be `want` (or any version when `None`) of the
/// secret `r` names, never another one's value.
fn stored(resp: &Response, r: &SecretRef, want: Option<&str>) -> Result<Stored> {
    let bad = || {
        Error::step(
            codes::KEY_VAULT_BAD_ANSWER,
            format!("Key Vault did not return the value of {r}"),
        )
    };
    let what = format!("Key Vault's answer for {r}");
    let mut bundle: SecretBundle = read(&resp.body, codes::KEY_VAULT_BAD_ANSWER, &what)?;
    let prefix = format!("/secrets/{}/", r.name.to_ascii_lowercase());
    let version = bundle
        .id
        .to_ascii_lowercase()
        .rsplit_once(&prefix)
        .map(|(_, v)| v.to_owned())
        .filter(|v| is_version(v) && want.is_none_or(|w| w.eq_ignore_ascii_case(v)))
        .ok_or_else(bad)?;
    let value = match bundle.value.take() {
        Some(v) if !v.is_empty() => v,
        _ => return Err(bad()),
    };
    let tags = bundle.tags();
    Ok(Stored {
        value,
        id: r.at_version(&version),
        tags,
    })
}

async fn send(
    http: &Http,
    tenant: &str,
    r: &SecretRef,
    method: Method,
    url: Url,
    body: Option<Value>,
    deadline: Deadline,
) -> Result<Response> {
    let write = method != Method::GET;
    let scope = http.cloud().keyvault_scope();
    let fetch = async {
        tokio::time::timeout(deadline.remaining(), http.credentials().token(tenant, &scope))
            .await
            .map_err(|_| {
                Error::timeout(format!(
                    "the sign-in endpoint did not give a Key Vault token for tenant {tenant} before --timeout passed"
                ))
            })?
    };
    let token = deadline
        .interrupt()
        .abandon(
            &format!("signing in to Key Vault in tenant {tenant}"),
            fetch,
        )
        .await?;
    // Key Vault's answers that need explaining are taken here.
    let mut req = r
        .request(method, url, Auth::Bearer(token))?
        .accept(&[401, 403, 404, 409]);
    if let Some(b) = body {
        req = req.json(b);
    }
    let sent = if write {
        http.write(req, deadline).await.map(Sent::response)
    } else {
        http.read(req, deadline).await.map(Some)
    };
    let resp = sent
        .map_err(|e| {
            if matches!(e.kind(), ErrorKind::Http { .. }) {
                let m = format!("key vault {}: {}", r.vault, e.message());
                e.with_message(m)
            } else {
                e.context(format!("key vault {}", r.vault))
            }
        })?
        .ok_or_else(|| Error::usage("internal error: a Key Vault write was skipped"))?;
    if (200..300).contains(&resp.status) {
        return Ok(resp);
    }
    Err(explain(&resp, r, tenant, write))
}

/// Enables or disables the version `r` names (`PATCH /secrets/{name}/{version}`): a disabled
/// version cannot be read. Needs Key Vault Secrets Officer. Under `--dry-run` only reported.
pub async fn set_enabled(
    http: &Http,
    tenant: &str,
    r: &SecretRef,
    enabled: bool,
    deadline: Deadline,
) -> Result<()> {
    if r.version.is_none() {
        return Err(Error::input(
            &r.field,
            format!(
                "{}: {r} names no version: only one exact version is enabled or disabled",
                r.field
            ),
        ));
    }
    let url = r.url("")?;
    let body = json!({"attributes": {"enabled": enabled}});
    if http.dry_run() {
        let req = r.request(Method::PATCH, url, Auth::None)?.json(body);
        return match http.write(req, deadline).await? {
            Sent::Skipped => Ok(()),
            Sent::Done(_) => Err(Error::usage(
                "internal error: a Key Vault write was sent under --dry-run",
            )),
        };
    }
    send(http, tenant, r, Method::PATCH, url, Some(body), deadline).await?;
    Ok(())
}

/// The tenant of the vault `r` is in, from the challenge Key Vault gives a request without a
/// token (as Azure SDK clients learn it). The request carries no credential; the challenge must
/// name this cloud's Key Vault audience, and only its tenant id is used, so a token is never
/// asked for anywhere but the cloud's own sign-in endpoint.
pub async fn vault_tenant(http: &Http, r: &SecretRef, deadline: Deadline) -> Result<String> {
    let unversioned = SecretRef {
        version: None,
        ..r.clone()
    };
    let req = unversioned
        .request(Method::GET, unversioned.url("")?, Auth::None)?
        .accept(&[401]);
    let resp = http
        .read(req, deadline)
        .await
        .map_err(|e| e.context(format!("key vault {}", r.vault)))?;
    let bad = |why: &str| {
        Error::step(
            codes::KEY_VAULT_BAD_CHALLENGE,
            format!(
                "key vault {} answered a request without a token {} (status {}), so its tenant is unknown",
                r.vault, why, resp.status
            ),
        )
        .with_hint("give the vault's tenant explicitly")
    };
    if resp.status != 401 {
        return Err(bad("without the challenge"));
    }
    let audience = challenge_param(&resp, "resource")
        .ok_or_else(|| bad("with a challenge naming no resource"))?;
    let want = http.cloud().keyvault_audience.trim_end_matches('/');
    if !audience.trim_end_matches('/').eq_ignore_ascii_case(want) {
        return Err(bad(&format!(
            "with a challenge for resource {audience:?}, not this cloud's Key Vault ({want})"
        )));
    }
    let tenant = challenge_tenant(&resp).ok_or_else(|| bad("with a challenge naming no tenant"))?;
    let plausible = uuid::Uuid::parse_str(&tenant).is_ok()
        || (tenant.contains('.')
            && tenant
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-'));
    if !plausible {
        return Err(bad(
            "with a challenge whose tenant is not a tenant id or domain",
        ));
    }
    Ok(tenant)
}
