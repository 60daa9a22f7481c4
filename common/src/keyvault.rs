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
//! Length: over 400 lines (about 730 of code, 230 of tests): the reference's validation, every
//! way a URL could send the vault's token elsewhere refused, and the vault operations that build
//! their requests from its private parts. The validation (`parse_vault`, `SecretRef::parse*`)
//! is the part to move to its own file when either grows.

use std::collections::BTreeMap;
use std::fmt;

use reqwest::Method;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use url::Url;

use crate::cloud::{BUILT_IN, Cloud};
use crate::error::{Error, ErrorKind, Result};
use crate::http::{Auth, Http, Request, Response, Sent, Service, check_origin};
use crate::secret::{REDACTED, Secret};
use crate::wait::Deadline;

/// The Key Vault data-plane api-version the tools speak.
pub const API_VERSION: &str = "7.5";
/// The role that reads secret values.
pub const READ_ROLE: &str = "Key Vault Secrets User";
/// The role that writes secrets.
pub const WRITE_ROLE: &str = "Key Vault Secrets Officer";

/// A secret in a key vault: `https://<vault>.<suffix>/secrets/<name>[/<version>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRef {
    /// `https://<vault>.<suffix>[:port]`, no trailing slash.
    base: String,
    vault: String,
    name: String,
    version: Option<String>,
    /// The envelope field or flag it came from, named in errors about it.
    field: String,
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/secrets/{}", self.base, self.name)?;
        if let Some(v) = &self.version {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// Whether `name` is a key vault name: 3-24 letters, digits and hyphens, starting with a
/// letter, not ending with a hyphen, no two hyphens in a row.
pub fn is_vault_name(name: &str) -> bool {
    (3..=24).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && !name.ends_with('-')
        && !name.contains("--")
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// Whether `name` is a secret name: 1-127 letters, digits and hyphens.
pub fn is_secret_name(name: &str) -> bool {
    (1..=127).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// Whether `v` is a secret version: 32 hex digits.
fn is_version(v: &str) -> bool {
    v.len() == 32 && v.chars().all(|c| c.is_ascii_hexdigit())
}

/// The vault's base URL and name, after checking everything but the path.
fn parse_vault(field: &str, value: &str, cloud: &Cloud) -> Result<(Url, String, String)> {
    let bad = |why: String| Error::input(field, format!("{field} {value:?} {why}"));
    if cloud.keyvault_suffix.is_empty() {
        return Err(Error::input(
            field,
            format!(
                "cloud {} has no Key Vault: add keyvault_suffix (and keyvault_audience) to its cloud file",
                cloud.name
            ),
        ));
    }
    let example = format!("https://myvault.{}/secrets/NAME", cloud.keyvault_suffix);
    if !value.is_ascii()
        || value
            .chars()
            .any(|c| c.is_ascii_control() || c.is_ascii_whitespace() || "\\%".contains(c))
        || value.contains("/.")
    {
        return Err(bad(format!(
            "has characters a key vault URL never has; give it as {example}"
        )));
    }
    let url = Url::parse(value).map_err(|e| bad(format!("is not a URL ({e}); give {example}")))?;
    if url.scheme() != "https" {
        return Err(bad(format!("must be an https URL such as {example}")));
    }
    if !url.username().is_empty()
        || url.password().is_some()
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return Err(bad(format!(
            "must not carry user info, a query or a fragment; give it as {example}"
        )));
    }
    let Some(url::Host::Domain(host)) = url.host() else {
        return Err(bad(format!(
            "must name a key vault host (<vault>.{}), not an address",
            cloud.keyvault_suffix
        )));
    };
    let host = host.to_ascii_lowercase();
    let vault = host
        .strip_suffix(&cloud.keyvault_suffix)
        .and_then(|rest| rest.strip_suffix('.'))
        .filter(|name| is_vault_name(name))
        .ok_or_else(|| {
            bad(format!(
                "is not a key vault of cloud {}: its host must be <vault>.{} with a vault name of 3-24 letters, digits and hyphens",
                cloud.name, cloud.keyvault_suffix
            ))
        })?
        .to_owned();
    // A custom cloud (the simulator) serves its vaults on its ARM endpoint's port; no other
    // port is taken, so a reference cannot aim the vault's name at another local server.
    let custom_port = cloud
        .arm
        .port()
        .filter(|_| !BUILT_IN.contains(&cloud.name.as_str()));
    let base = match url.port() {
        None | Some(443) => format!("https://{host}"),
        Some(p) if custom_port == Some(p) => format!("https://{host}:{p}"),
        Some(p) => {
            return Err(bad(format!(
                "names port {p}; Key Vault in {} listens on {} only",
                cloud.name,
                custom_port.map_or_else(|| "443".to_owned(), |c| format!("443 and {c}"))
            )));
        }
    };
    Ok((url, base, vault))
}

impl SecretRef {
    /// Parses a secret identifier `https://<vault>.<suffix>/secrets/<name>[/<version>]` from
    /// `field` (an envelope field or flag, named in the error).
    pub fn parse(field: &str, value: &str, cloud: &Cloud) -> Result<Self> {
        let (url, base, vault) = parse_vault(field, value, cloud)?;
        let segs: Vec<&str> = url.path().split('/').skip(1).collect();
        let (name, version) = match segs.as_slice() {
            ["secrets", name] => (*name, None),
            ["secrets", name, version] => (*name, Some(*version)),
            _ => {
                return Err(Error::input(
                    field,
                    format!(
                        "{field} {value:?} is not a secret identifier: its path must be /secrets/NAME or /secrets/NAME/VERSION"
                    ),
                ));
            }
        };
        Self::build(field, value, base, vault, name, version)
    }

    /// Parses where to write a secret: a vault URL (then the secret is `default_name`) or a
    /// vault URL with `/secrets/<name>`; a version is refused (writing makes a new one).
    pub fn parse_target(
        field: &str,
        value: &str,
        cloud: &Cloud,
        default_name: &str,
    ) -> Result<Self> {
        let (url, base, vault) = parse_vault(field, value, cloud)?;
        let segs: Vec<&str> = url.path().split('/').skip(1).collect();
        let name = match segs.as_slice() {
            [] | [""] => default_name,
            ["secrets", name] | ["secrets", name, ""] => name,
            _ => {
                return Err(Error::input(
                    field,
                    format!(
                        "{field} {value:?} must be a vault URL, optionally with /secrets/NAME (no version: writing makes a new one)"
                    ),
                ));
            }
        };
        Self::build(field, value, base, vault, name, None)
    }

    fn build(
        field: &str,
        value: &str,
        base: String,
        vault: String,
        name: &str,
        version: Option<&str>,
    ) -> Result<Self> {
        if !is_secret_name(name) {
            return Err(Error::input(
                field,
                format!(
                    "{field} {value:?}: secret name {name:?} is not valid: use 1-127 letters, digits and hyphens"
                ),
            ));
        }
        if let Some(v) = version
            && !is_version(v)
        {
            return Err(Error::input(
                field,
                format!(
                    "{field} {value:?}: version {v:?} is not a Key Vault version (32 hex digits)"
                ),
            ));
        }
        Ok(Self {
            base,
            vault,
            name: name.to_owned(),
            version: version.map(str::to_ascii_lowercase),
            field: field.to_owned(),
        })
    }

    /// The vault's name.
    pub fn vault(&self) -> &str {
        &self.vault
    }

    /// The vault's URL, e.g. `https://myvault.vault.azure.net`.
    pub fn vault_url(&self) -> &str {
        &self.base
    }

    /// The secret's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The version, if the reference names one.
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    /// The same secret at `version`.
    #[must_use]
    pub fn at_version(&self, version: &str) -> Self {
        Self {
            version: Some(version.to_ascii_lowercase()),
            ..self.clone()
        }
    }

    /// A request to this secret's vault, as Key Vault's own service: refused (code
    /// `UntrustedOrigin`) unless `url` is on the vault's origin, so its token goes nowhere else.
    fn request(&self, method: Method, url: Url, auth: Auth) -> Result<Request> {
        let origin = Url::parse(&self.base).map_err(|e| {
            Error::usage(format!("cannot parse the vault URL {:?}: {e}", self.base))
        })?;
        check_origin(
            &url,
            &origin,
            &format!("the URL for key vault {}", self.vault),
        )?;
        Ok(Request::new(method, url, Service::KeyVault, auth))
    }

    fn url(&self, suffix: &str) -> Result<Url> {
        let s = format!("{self}{suffix}?api-version={API_VERSION}");
        Url::parse(&s).map_err(|e| Error::usage(format!("cannot build a URL from {s:?}: {e}")))
    }
}

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
    let version = resp
        .body
        .get("id")
        .and_then(Value::as_str)
        .and_then(|id| id.rsplit('/').next())
        .filter(|v| is_version(v))
        .ok_or_else(|| {
            Error::step(
                crate::error::codes::KEY_VAULT_BAD_ANSWER,
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
            crate::error::codes::KEY_VAULT_BAD_ANSWER,
            format!("Key Vault did not return the value of {r}"),
        )
    };
    let id = resp.body.get("id").and_then(Value::as_str).unwrap_or("");
    let prefix = format!("/secrets/{}/", r.name.to_ascii_lowercase());
    let version = id
        .to_ascii_lowercase()
        .rsplit_once(&prefix)
        .map(|(_, v)| v.to_owned())
        .filter(|v| is_version(v) && want.is_none_or(|w| w.eq_ignore_ascii_case(v)))
        .ok_or_else(bad)?;
    let value = match resp.body.get("value").and_then(Value::as_str) {
        Some(v) if !v.is_empty() => Secret::new(v),
        _ => return Err(bad()),
    };
    let tags = resp
        .body
        .get("tags")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default();
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
            crate::error::codes::KEY_VAULT_BAD_CHALLENGE,
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

/// A quoted parameter of a Key Vault challenge (`Bearer authorization="…", resource="…"`).
fn challenge_param(resp: &Response, name: &str) -> Option<String> {
    let h = resp.header("www-authenticate")?;
    let key = format!("{name}=\"");
    let start = h.find(&key)? + key.len();
    let quoted = &h[start..];
    Some(quoted[..quoted.find('"')?].to_owned())
}

/// The tenant named in a Key Vault challenge (`Bearer authorization="<login>/<tenant>", ...`).
fn challenge_tenant(resp: &Response) -> Option<String> {
    let uri = challenge_param(resp, "authorization")?;
    uri.trim_end_matches('/')
        .rsplit('/')
        .next()
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
}

fn explain(resp: &Response, r: &SecretRef, tenant: &str, write: bool) -> Error {
    let code = resp
        .body
        .pointer("/error/code")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let inner = resp
        .body
        .pointer("/error/innererror/code")
        .and_then(Value::as_str)
        .unwrap_or("");
    let azure_message = resp
        .body
        .pointer("/error/message")
        .and_then(Value::as_str)
        .and_then(|m| m.lines().next())
        .unwrap_or("")
        .to_owned();
    let vault = &r.vault;
    let (what, role) = if write {
        ("write secrets to", WRITE_ROLE)
    } else {
        ("read secrets of", READ_ROLE)
    };
    let status = resp.status;
    let err = |code: &str, message: String| {
        Error::new(ErrorKind::Http { status }, code, message)
            .with_request_id(resp.header("x-ms-request-id").map(str::to_owned))
    };
    match (status, inner) {
        (401, _) => {
            let vault_tenant = challenge_tenant(resp);
            let msg = match &vault_tenant {
                Some(t) if !t.eq_ignore_ascii_case(tenant) => format!(
                    "key vault {vault} belongs to tenant {t}, but the token was for tenant {tenant}: {azure_message}"
                ),
                _ => format!("key vault {vault} refused the token of tenant {tenant}: {azure_message}"),
            };
            err(if code.is_empty() { "Unauthorized" } else { &code }, msg).with_hint(format!(
                "sign in to the vault's tenant{} with an identity that holds {role} on the vault",
                vault_tenant.map(|t| format!(" ({t})")).unwrap_or_default()
            ))
        }
        (403, "SecretDisabled") => err(
            "SecretDisabled",
            format!("secret {} in key vault {vault} is disabled: {azure_message}", r.name),
        )
        .with_hint("enable that version of the secret, or use another version"),
        (403, _) => err(
            if code.is_empty() { "Forbidden" } else { &code },
            format!(
                "the identity may not {what} key vault {vault}: it needs the role {role} on the vault (or on secret {}) [{inner}]",
                r.name
            ),
        )
        .with_hint(format!(
            "ask the vault's owner: az role assignment create --role \"{role}\" --assignee <this identity's app id> --scope <the vault's resource id>; a new assignment takes a few minutes to apply"
        )),
        (404, _) => err(
            if code.is_empty() { "SecretNotFound" } else { &code },
            format!("{r} was not found in key vault {vault}: {azure_message}"),
        ),
        (409, _) => err(
            if inner.is_empty() { &code } else { inner },
            format!(
                "secret {} in key vault {vault} is deleted but recoverable, so its name cannot be reused: {azure_message}",
                r.name
            ),
        )
        .with_hint(format!(
            "recover it (az keyvault secret recover --vault-name {vault} --name {n}), purge it (az keyvault secret purge --vault-name {vault} --name {n}), or write to another secret name",
            n = r.name
        )),
        _ => err(
            if code.is_empty() { "KeyVaultError" } else { &code },
            format!("key vault {vault} answered {status}: {azure_message}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sim_cloud() -> Cloud {
        let mut c = Cloud::azure_public();
        c.name = "AzureSim".into();
        c.arm = Url::parse("https://127.0.0.1:8443").unwrap();
        c.keyvault_suffix = "vault.azure.sim".into();
        c
    }

    #[test]
    fn parses_identifiers_of_the_clouds_vaults() {
        let p = Cloud::azure_public();
        let r = SecretRef::parse(
            "client_secret_ref",
            "https://Contoso-KV.vault.azure.net/secrets/app-1/0123456789abcdef0123456789ABCDEF",
            &p,
        )
        .unwrap();
        assert_eq!(r.vault(), "contoso-kv");
        assert_eq!(r.name(), "app-1");
        assert_eq!(r.version(), Some("0123456789abcdef0123456789abcdef"));
        assert_eq!(
            r.to_string(),
            "https://contoso-kv.vault.azure.net/secrets/app-1/0123456789abcdef0123456789abcdef"
        );
        let latest =
            SecretRef::parse("f", "https://kv1.vault.azure.net:443/secrets/x", &p).unwrap();
        assert_eq!(latest.version(), None);
        assert_eq!(latest.vault_url(), "https://kv1.vault.azure.net");
        let china = Cloud::azure_china();
        assert!(SecretRef::parse("f", "https://kv1.vault.azure.cn/secrets/x", &china).is_ok());
        assert!(SecretRef::parse("f", "https://kv1.vault.azure.net/secrets/x", &china).is_err());
        let sim = SecretRef::parse(
            "f",
            "https://kv1.vault.azure.sim:8443/secrets/x",
            &sim_cloud(),
        )
        .unwrap();
        assert_eq!(sim.vault_url(), "https://kv1.vault.azure.sim:8443");
        // Only the simulator's own port: not another local server's.
        assert!(
            SecretRef::parse(
                "f",
                "https://kv1.vault.azure.sim:9443/secrets/x",
                &sim_cloud()
            )
            .is_err()
        );
    }

    /// A vault request is Key Vault's own, and only on the vault's origin: a URL elsewhere
    /// (another vault included) is refused before anything is sent.
    #[test]
    fn requests_go_only_to_the_vaults_own_origin() {
        let cloud = sim_cloud();
        let r = SecretRef::parse(
            "client_secret_ref",
            "https://kv1.vault.azure.sim:8443/secrets/x",
            &cloud,
        )
        .unwrap();
        let req = r
            .request(Method::GET, r.url("").unwrap(), Auth::None)
            .unwrap();
        assert_eq!(req.service, Service::KeyVault);
        for other in [
            "https://kv2.vault.azure.sim:8443/secrets/x",
            "https://kv1.vault.azure.sim/secrets/x",
            "https://kv1.vault.azure.sim:8444/secrets/x",
            "http://kv1.vault.azure.sim:8443/secrets/x",
            "https://127.0.0.1:8443/secrets/x",
        ] {
            let Err(e) = r.request(Method::GET, Url::parse(other).unwrap(), Auth::None) else {
                panic!("{other} was not refused");
            };
            assert_eq!(e.code(), "UntrustedOrigin", "{other}: {e}");
            assert!(e.message().contains("key vault kv1"), "{e}");
        }
    }

    #[test]
    fn refuses_anything_that_could_send_the_token_elsewhere() {
        let p = Cloud::azure_public();
        for bad in [
            "http://kv1.vault.azure.net/secrets/x",
            "https://user@kv1.vault.azure.net/secrets/x",
            "https://kv1.vault.azure.net@evil.com/secrets/x",
            "https://evil.com\\@kv1.vault.azure.net/secrets/x",
            "https://kv1.vault.azure.net.evil.com/secrets/x",
            "https://evil.com/kv1.vault.azure.net/secrets/x",
            "https://evil.com?kv1.vault.azure.net/secrets/x",
            "https://evil.com#kv1.vault.azure.net/secrets/x",
            "https://a.b.vault.azure.net/secrets/x",
            "https://vault.azure.net/secrets/x",
            "https://127.0.0.1/secrets/x",
            "https://2130706433/secrets/x",
            "https://[::1]/secrets/x",
            "https://kv1\u{ff0e}vault.azure.net/secrets/x",
            "https://kv1.vault.azure.net:8443/secrets/x",
            "https://kv1.vault.azure.net/secrets/x?api-version=1",
            "https://kv1.vault.azure.net/secrets/../keys/x",
            "https://kv1.vault.azure.net/secrets/%2e%2e/x",
            "https://kv1.vault.azure.net/keys/x",
            "https://kv1.vault.azure.net/secrets/a_b",
            "https://kv1.vault.azure.net/secrets/x/notaversion",
            "https://kv1.vault.azure.net/secrets/x/0123456789abcdef0123456789abcdef/more",
            "https://k.vault.azure.net/secrets/x",
            "https://kv1.vault.azure.net",
            " https://kv1.vault.azure.net/secrets/x",
        ] {
            let e = SecretRef::parse("client_secret_ref", bad, &p).unwrap_err();
            assert!(
                matches!(e.kind(), ErrorKind::Input { field } if field == "client_secret_ref"),
                "{bad}: {e:?}"
            );
            assert!(e.message().contains("client_secret_ref"), "{bad}: {e}");
        }
        let e = SecretRef::parse("f", "https://kv1.vault.azure.net/secrets/x", &{
            let mut c = sim_cloud();
            c.keyvault_suffix.clear();
            c
        })
        .unwrap_err();
        assert!(e.message().contains("keyvault_suffix"), "{e}");
    }

    #[test]
    fn write_targets_default_the_name_and_refuse_a_version() {
        let p = Cloud::azure_public();
        let t = SecretRef::parse_target(
            "secret_keyvault",
            "https://kv1.vault.azure.net/",
            &p,
            "xtenant-app",
        )
        .unwrap();
        assert_eq!(
            t.to_string(),
            "https://kv1.vault.azure.net/secrets/xtenant-app"
        );
        let t = SecretRef::parse_target(
            "secret_keyvault",
            "https://kv1.vault.azure.net/secrets/mine",
            &p,
            "d",
        )
        .unwrap();
        assert_eq!(t.name(), "mine");
        assert!(
            SecretRef::parse_target(
                "secret_keyvault",
                "https://kv1.vault.azure.net/secrets/mine/0123456789abcdef0123456789abcdef",
                &p,
                "d"
            )
            .is_err()
        );
        assert!(
            SecretRef::parse_target(
                "secret_keyvault",
                "https://kv1.vault.azure.net/",
                &p,
                "bad_name"
            )
            .is_err()
        );
    }

    #[test]
    fn challenge_names_the_vault_tenant() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(
            "www-authenticate",
            "Bearer authorization=\"https://login.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47\", resource=\"https://vault.azure.net\""
                .parse()
                .unwrap(),
        );
        let resp = Response {
            status: 401,
            headers,
            body: json!({"error": {"code": "Unauthorized", "message": "AKV10032: Invalid issuer."}}),
        };
        assert_eq!(
            challenge_tenant(&resp).as_deref(),
            Some("72f988bf-86f1-41af-91ab-2d7cd011db47")
        );
        let r = SecretRef::parse(
            "f",
            "https://kv1.vault.azure.net/secrets/x/0123456789abcdef0123456789abcdef",
            &Cloud::azure_public(),
        )
        .unwrap();
        let e = explain(&resp, &r, "other-tenant", false);
        assert!(
            e.message().contains("72f988bf-86f1-41af-91ab-2d7cd011db47"),
            "{e}"
        );
        assert!(e.hint().unwrap().contains(READ_ROLE));
    }

    #[test]
    fn a_deleted_name_is_explained_with_the_way_out() {
        let resp = Response {
            status: 409,
            headers: reqwest::header::HeaderMap::new(),
            body: json!({"error": {"code": "Conflict", "message": "Secret x is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged.", "innererror": {"code": "ObjectIsDeletedButRecoverable"}}}),
        };
        let r = SecretRef::parse(
            "f",
            "https://kv1.vault.azure.net/secrets/x",
            &Cloud::azure_public(),
        )
        .unwrap();
        let e = explain(&resp, &r, "t", true);
        assert_eq!(e.code(), "ObjectIsDeletedButRecoverable");
        assert_eq!(e.status(), Some(409));
        assert!(e.message().contains("kv1"), "{e}");
        assert!(
            e.hint()
                .unwrap()
                .contains("az keyvault secret recover --vault-name kv1 --name x")
        );
    }
}
