//! Azure Key Vault's data plane for secrets (`<vault>.vault.azure.sim`, in China
//! `<vault>.vault.azure.cn`), routed by Host header.
//!
//! Set (`PUT /secrets/{name}`), get the latest or one version (`GET /secrets/{name}/{version?}`),
//! list versions (`GET /secrets/{name}/versions`, paged by `nextLink`) and soft-delete
//! (`DELETE /secrets/{name}`), with the published api-versions. Shapes follow the Key Vault REST
//! API (secrets, data plane): attributes carry Unix seconds, ids are
//! `https://<vault host>/secrets/<name>/<version>`.
//!
//! Authentication is challenge based as in Azure: a request without a bearer token gets 401 with
//! `WWW-Authenticate: Bearer authorization="<login>/<tenant>", resource="https://vault.azure.net"`
//! (China: `https://vault.azure.cn`),
//! which Azure SDK clients read to ask for a token for the vault's tenant. A token must be for
//! the vault audience and issued by the vault's tenant. Authorization is the vault's Azure RBAC:
//! data actions of role assignments at the secret, the vault or above (Key Vault Secrets
//! Officer to write, Key Vault Secrets User to read; Owner and Contributor have none), counted
//! once they have propagated. A denial is 403 `Forbidden` with `innererror.code`
//! `ForbiddenByRbac`. A deleted secret keeps its name until purged: setting it again is 409
//! `Conflict` (`ObjectIsDeletedButRecoverable`). Secret values are kept in memory only: the
//! state dump carries their SHA-256, and the request log never holds a body.

use std::collections::BTreeMap;

use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::core::{AuthFail, Core, Principal, audience_in};
use crate::crypto::sha256_hex;
use crate::http::{Req, json as json_resp, set_header, with_caller};
use crate::model::{GenericResource, RoleDefinition, State, split_arm_id};
use crate::rbac::{scope_covers, wildcard_match};

/// Key Vault Administrator.
pub(crate) const ADMINISTRATOR: &str = "00482a5a-887f-4fb3-b363-3b7fe8e74483";
/// Key Vault Secrets Officer.
pub(crate) const SECRETS_OFFICER: &str = "b86a8fe4-44ce-4948-aee5-eccb2c155cd7";
/// Key Vault Secrets User.
pub(crate) const SECRETS_USER: &str = "4633458b-17de-408a-b874-0445c86b69e6";

use crate::api_versions::{KEY_VAULT_LATEST as LATEST_STABLE, KEY_VAULT_SECRETS as API_VERSIONS};
const GET_SECRET: &str = "Microsoft.KeyVault/vaults/secrets/getSecret/action";
const SET_SECRET: &str = "Microsoft.KeyVault/vaults/secrets/setSecret/action";
const READ_METADATA: &str = "Microsoft.KeyVault/vaults/secrets/readMetadata/action";
const DELETE_SECRET: &str = "Microsoft.KeyVault/vaults/secrets/delete";
const UPDATE_SECRET: &str = "Microsoft.KeyVault/vaults/secrets/update/action";
/// Key Vault's limit on a secret value (25 KB).
const MAX_VALUE: usize = 25 * 1024;
const MAX_RESULTS: usize = 25;

fn default_location() -> String {
    "eastus".into()
}
fn default_retention() -> u32 {
    90
}
fn default_true() -> bool {
    true
}

/// A key vault (Azure RBAC permission model, soft delete on).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Vault {
    /// ARM id (authoritative; name, subscription, group and tenant are derived from it).
    pub id: String,
    #[serde(default = "default_location")]
    pub location: String,
    /// How long a deleted secret stays recoverable.
    #[serde(default = "default_retention")]
    pub soft_delete_retention_days: u32,
    #[serde(default)]
    pub secrets: Vec<VaultSecret>,
    #[serde(default, skip_deserializing)]
    pub name: String,
    #[serde(default, skip_deserializing)]
    pub tenant_id: String,
}

/// A secret: its versions, oldest first, and whether it is deleted (recoverable).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct VaultSecret {
    pub name: String,
    #[serde(default)]
    pub versions: Vec<SecretVersion>,
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub deleted_at: Option<OffsetDateTime>,
}

/// One version of a secret.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SecretVersion {
    /// 32 lower-case hex digits.
    pub version: String,
    /// The value: in memory only, never written to the state dump.
    #[serde(default, skip_serializing)]
    pub value: Option<String>,
    #[serde(default)]
    pub value_sha256: String,
    #[serde(default)]
    pub content_type: Option<String>,
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Unix seconds.
    #[serde(default)]
    pub nbf: Option<i64>,
    /// Unix seconds.
    #[serde(default)]
    pub exp: Option<i64>,
    #[serde(default)]
    pub created: i64,
    #[serde(default)]
    pub updated: i64,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// Derive names and tenants, hash scenario values, and make each vault a resource ARM knows
/// (a role-assignment scope); `sub_tenant` maps lower-case subscription ids to tenants.
pub(crate) fn normalize(
    state: &mut State,
    sub_tenant: &BTreeMap<String, String>,
) -> anyhow::Result<()> {
    for v in &mut state.vaults {
        let (sub, rg, name) = split_arm_id(&v.id);
        anyhow::ensure!(
            !sub.is_empty() && !rg.is_empty() && valid_vault_name(&name),
            "bad key vault id {} (a vault name is 3-24 letters, digits and hyphens)",
            v.id
        );
        v.tenant_id = sub_tenant
            .get(&sub.to_ascii_lowercase())
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("key vault {} is in an unknown subscription", v.id))?;
        v.name = name.to_ascii_lowercase();
        for s in &mut v.secrets {
            for ver in &mut s.versions {
                if let Some(value) = &ver.value {
                    ver.value_sha256 = sha256_hex(value.as_bytes());
                }
            }
        }
        if !state
            .resources
            .iter()
            .any(|r| r.id.eq_ignore_ascii_case(&v.id))
        {
            state.resources.push(GenericResource {
                id: v.id.clone(),
                location: v.location.clone(),
                properties: None,
            });
        }
    }
    Ok(())
}

/// Key Vault's naming rule: 3-24 characters, letters, digits and hyphens, starting with a letter,
/// not ending with a hyphen, no two hyphens in a row.
fn valid_vault_name(name: &str) -> bool {
    (3..=24).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && !name.ends_with('-')
        && !name.contains("--")
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// A secret name: 1-127 letters, digits and hyphens.
fn valid_secret_name(name: &str) -> bool {
    (1..=127).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

fn kv_err(status: StatusCode, code: &str, message: &str, inner: Option<&str>) -> Response {
    let mut e = json!({"code": code, "message": message});
    if let Some(i) = inner {
        e["innererror"] = json!({"code": i});
    }
    json_resp(status, &json!({"error": e}))
}

/// Key Vault's error body for an injected fault.
pub(crate) fn fault_error(status: StatusCode, code: &str, message: &str) -> Response {
    kv_err(status, code, message, None)
}

/// The three Key Vault data-plane roles for secrets, with their real GUIDs and permissions.
pub(crate) fn builtin_roles() -> Vec<RoleDefinition> {
    let v = |xs: &[&str]| xs.iter().map(ToString::to_string).collect::<Vec<_>>();
    let rd =
        |id: &str, name: &str, description: &str, actions: &[&str], data: &[&str]| RoleDefinition {
            id: id.into(),
            role_name: name.into(),
            description: description.into(),
            role_type: "BuiltInRole".into(),
            actions: v(actions),
            not_actions: Vec::new(),
            data_actions: v(data),
            not_data_actions: Vec::new(),
            assignable_scopes: vec!["/".into()],
        };
    let officer_actions = [
        "Microsoft.Authorization/*/read",
        "Microsoft.Insights/alertRules/*",
        "Microsoft.Resources/deployments/*",
        "Microsoft.Resources/subscriptions/resourceGroups/read",
        "Microsoft.Support/*",
        "Microsoft.KeyVault/checkNameAvailability/read",
        "Microsoft.KeyVault/deletedVaults/read",
        "Microsoft.KeyVault/locations/*/read",
        "Microsoft.KeyVault/vaults/*/read",
        "Microsoft.KeyVault/operations/read",
    ];
    vec![
        rd(
            ADMINISTRATOR,
            "Key Vault Administrator",
            "Perform all data plane operations on a key vault and all objects in it, including certificates, keys, and secrets. Cannot manage key vault resources or manage role assignments. Only works for key vaults that use the 'Azure role-based access control' permission model.",
            &officer_actions,
            &["Microsoft.KeyVault/vaults/*"],
        ),
        rd(
            SECRETS_OFFICER,
            "Key Vault Secrets Officer",
            "Perform any action on the secrets of a key vault, except manage permissions. Only works for key vaults that use the 'Azure role-based access control' permission model.",
            &officer_actions,
            &["Microsoft.KeyVault/vaults/secrets/*"],
        ),
        rd(
            SECRETS_USER,
            "Key Vault Secrets User",
            "Read secret contents. Only works for key vaults that use the 'Azure role-based access control' permission model.",
            &[],
            &[GET_SECRET, READ_METADATA],
        ),
    ]
}

/// Whether `principal_id` holds `data_action` on `scope` through a propagated assignment.
fn data_action_allowed(
    state: &State,
    principal_id: &str,
    scope: &str,
    data_action: &str,
    at: OffsetDateTime,
    delay: time::Duration,
) -> bool {
    state.role_assignments.iter().any(|ra| {
        ra.principal_id.eq_ignore_ascii_case(principal_id)
            && scope_covers(&ra.scope, scope)
            && ra.created_at.saturating_add(delay) <= at
            && state
                .role_definition(&ra.role_definition_id)
                .is_some_and(|rd| {
                    rd.data_actions
                        .iter()
                        .any(|p| wildcard_match(p, data_action))
                        && !rd
                            .not_data_actions
                            .iter()
                            .any(|p| wildcard_match(p, data_action))
                })
    })
}

/// The vault's base URL as clients address it (`https://<name>.vault.azure.sim:<port>`).
fn base_url(core: &Core, vault: &str) -> String {
    core.cloud.vault_url(vault)
}

fn challenge(core: &Core, tenant: &str) -> String {
    format!(
        "Bearer authorization=\"{}/{tenant}\", resource=\"{}\"",
        core.cloud.login_url(),
        core.cloud.keyvault_audience()
    )
}

fn unauthorized(core: &Core, tenant: &str, message: &str) -> Response {
    let mut r = kv_err(StatusCode::UNAUTHORIZED, "Unauthorized", message, None);
    set_header(&mut r, "www-authenticate", &challenge(core, tenant));
    r
}

/// What a request does, with the data action it needs.
enum Op<'a> {
    Set(&'a str),
    Get(&'a str, Option<&'a str>),
    Versions(&'a str),
    Delete(&'a str),
    Update(&'a str, &'a str),
}

impl Op<'_> {
    fn action(&self) -> &'static str {
        match self {
            Op::Set(_) => SET_SECRET,
            Op::Get(..) => GET_SECRET,
            Op::Versions(_) => READ_METADATA,
            Op::Delete(_) => DELETE_SECRET,
            Op::Update(..) => UPDATE_SECRET,
        }
    }

    fn name(&self) -> &str {
        match self {
            Op::Set(n) | Op::Get(n, _) | Op::Versions(n) | Op::Delete(n) | Op::Update(n, _) => n,
        }
    }
}

/// Serve a request addressed to vault `name`.
pub(crate) fn handle(core: &Core, req: &Req, name: &str) -> Response {
    let vault = {
        let state = core.state();
        state
            .vaults
            .iter()
            .find(|v| v.name.eq_ignore_ascii_case(name))
            .map(|v| {
                (
                    v.id.clone(),
                    v.name.clone(),
                    v.tenant_id.clone(),
                    v.location.clone(),
                )
            })
    };
    let Some((vault_id, vault_name, vault_tenant, location)) = vault else {
        // A real client would not even resolve this host.
        return kv_err(
            StatusCode::NOT_FOUND,
            "VaultNotFound",
            &format!(
                "No key vault named '{name}' exists in this simulated cloud (in Azure its host would not resolve)."
            ),
            None,
        );
    };
    let segs: Vec<&str> = req.segs.iter().map(String::as_str).collect();
    let op = match (segs.as_slice(), &req.method) {
        (["secrets", n], &Method::PUT) => Op::Set(n),
        (["secrets", n], &Method::GET) => Op::Get(n, None),
        (["secrets", n, "versions"], &Method::GET) => Op::Versions(n),
        (["secrets", n, v], &Method::GET) => Op::Get(n, Some(v)),
        (["secrets", n], &Method::DELETE) => Op::Delete(n),
        (["secrets", n, v], &Method::PATCH) => Op::Update(n, v),
        _ => {
            return kv_err(
                StatusCode::NOT_FOUND,
                "NotFound",
                &format!(
                    "The requested path {} {} was not found.",
                    req.method, req.path
                ),
                None,
            );
        }
    };
    // Authentication comes first, as in Key Vault: the challenge tells a client where to sign in.
    let audience = core.cloud.keyvault_audience();
    let principal = match core.bearer(req, &|aud| audience_in(aud, &[audience])) {
        Ok(p) => p,
        Err(f) => return unauthorized(core, &vault_tenant, &auth_message(&f, audience)),
    };
    if !principal.tenant_id.eq_ignore_ascii_case(&vault_tenant) {
        return unauthorized(
            core,
            &vault_tenant,
            &format!(
                "AKV10032: Invalid issuer. Expected one of {sts}/{vault_tenant}/, found {sts}/{}/.",
                principal.tenant_id,
                sts = core.cloud.sts()
            ),
        );
    }
    let r = authorized(
        core,
        req,
        &op,
        &principal,
        &vault_id,
        &vault_name,
        &location,
    )
    .unwrap_or_else(|denied| denied);
    with_caller(r, &principal.app_id, &principal.tenant_id)
}

fn auth_message(f: &AuthFail, audience: &str) -> String {
    match f {
        AuthFail::Missing => "AKV10000: Request is missing a Bearer or PoP token.".into(),
        AuthFail::Malformed | AuthFail::BadSignature => {
            "AKV10000: The bearer token is malformed or its signature is not valid.".into()
        }
        AuthFail::Expired { exp } => format!("AKV10013: The token expired at {exp} (Unix time)."),
        AuthFail::NotYetValid => "AKV10013: The token is not valid yet.".into(),
        AuthFail::WrongAudience { aud } => {
            format!("AKV10022: Invalid audience. Expected {audience}, found: {aud}.")
        }
    }
}

fn authorized(
    core: &Core,
    req: &Req,
    op: &Op<'_>,
    p: &Principal,
    vault_id: &str,
    vault_name: &str,
    location: &str,
) -> Result<Response, Response> {
    let Some(api) = req.q("api-version").filter(|v| API_VERSIONS.contains(v)) else {
        // Key Vault's own words (Azure/azure-sdk-for-python#28595, Azure/azure-sdk-for-net#14789).
        return Err(kv_err(
            StatusCode::BAD_REQUEST,
            "BadParameter",
            &format!(
                "The specified version ({}) is not recognized. Consider using the latest supported version ({LATEST_STABLE}).",
                req.q("api-version").unwrap_or("")
            ),
            None,
        ));
    };
    let name = op.name();
    if !valid_secret_name(name) {
        return Err(kv_err(
            StatusCode::BAD_REQUEST,
            "BadParameter",
            &format!(
                "The request URI contains an invalid name: {name}. A secret name is 1-127 characters: letters, digits and hyphens."
            ),
            None,
        ));
    }
    let scope = format!("{vault_id}/secrets/{name}");
    let mut state = core.state();
    let t = core.now();
    if !data_action_allowed(&state, &p.oid, &scope, op.action(), t, core.role_delay()) {
        let message = format!(
            "Caller is not authorized to perform action on resource.\r\nIf role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\nCaller: appid={};oid={};iss={}/{}/\r\nAction: '{}'\r\nResource: '{}'\r\nAssignment: (not found)\r\nDenyAssignmentId: null\r\nDecisionReason: 'DeniedWithNoValidRBAC' \r\nVault: {vault_name};location={location}\r\n",
            p.app_id,
            p.oid,
            core.cloud.sts(),
            p.tenant_id,
            op.action(),
            scope.to_ascii_lowercase(),
        );
        return Err(kv_err(
            StatusCode::FORBIDDEN,
            "Forbidden",
            &message,
            Some("ForbiddenByRbac"),
        ));
    }
    let base = base_url(core, vault_name);
    let Some(vault) = state
        .vaults
        .iter_mut()
        .find(|v| v.id.eq_ignore_ascii_case(vault_id))
    else {
        return Err(kv_err(
            StatusCode::NOT_FOUND,
            "VaultNotFound",
            "The key vault was deleted.",
            None,
        ));
    };
    let retention = vault.soft_delete_retention_days;
    let pos = vault
        .secrets
        .iter()
        .position(|s| s.name.eq_ignore_ascii_case(name));
    match op {
        Op::Set(_) => set(t, req, vault, pos, name, &base, retention),
        Op::Get(_, version) => get(
            live(vault, pos, name, *version)?,
            *version,
            &base,
            retention,
        ),
        Op::Versions(_) => {
            let s = live(vault, pos, name, None)?;
            Ok(versions(req, api, &base, s, retention))
        }
        Op::Delete(_) => Ok(delete(t, live_mut(vault, pos, name)?, &base, retention)),
        Op::Update(_, version) => update(
            t,
            req,
            live_mut(vault, pos, name)?,
            version,
            &base,
            retention,
        ),
    }
}

fn get(
    s: &VaultSecret,
    version: Option<&str>,
    base: &str,
    retention: u32,
) -> Result<Response, Response> {
    let v = match version {
        None => s.versions.last(),
        Some(ver) => s
            .versions
            .iter()
            .find(|v| v.version.eq_ignore_ascii_case(ver)),
    }
    .ok_or_else(|| not_found(&s.name, version))?;
    if !v.enabled {
        return Err(kv_err(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "Operation get is not allowed on a disabled secret.",
            Some("SecretDisabled"),
        ));
    }
    Ok(json_resp(
        StatusCode::OK,
        &bundle(base, &s.name, v, true, retention),
    ))
}

/// Soft-delete: the secret keeps its name (see [`set`]) until purged.
fn delete(t: OffsetDateTime, s: &mut VaultSecret, base: &str, retention: u32) -> Response {
    s.deleted_at = Some(t);
    let mut b = s
        .versions
        .last()
        .map_or_else(|| json!({}), |v| bundle(base, &s.name, v, false, retention));
    b["recoveryId"] = json!(format!("{base}/deletedsecrets/{}", s.name));
    b["deletedDate"] = json!(t.unix_timestamp());
    b["scheduledPurgeDate"] =
        json!((t + time::Duration::days(i64::from(retention))).unix_timestamp());
    json_resp(StatusCode::OK, &b)
}

fn not_found(name: &str, version: Option<&str>) -> Response {
    let id = version.map_or_else(|| name.to_string(), |v| format!("{name}/{v}"));
    kv_err(
        StatusCode::NOT_FOUND,
        "SecretNotFound",
        &format!(
            "A secret with (name/id) {id} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182"
        ),
        None,
    )
}

fn live<'a>(
    vault: &'a Vault,
    pos: Option<usize>,
    name: &str,
    version: Option<&str>,
) -> Result<&'a VaultSecret, Response> {
    pos.map(|i| &vault.secrets[i])
        .filter(|s| s.deleted_at.is_none())
        .ok_or_else(|| not_found(name, version))
}

fn live_mut<'a>(
    vault: &'a mut Vault,
    pos: Option<usize>,
    name: &str,
) -> Result<&'a mut VaultSecret, Response> {
    pos.map(|i| &mut vault.secrets[i])
        .filter(|s| s.deleted_at.is_none())
        .ok_or_else(|| not_found(name, None))
}

fn attributes(v: &SecretVersion, retention: u32) -> Value {
    let mut a = json!({
        "enabled": v.enabled,
        "created": v.created,
        "updated": v.updated,
        "recoveryLevel": "Recoverable+Purgeable",
        "recoverableDays": retention,
    });
    if let Some(n) = v.nbf {
        a["nbf"] = json!(n);
    }
    if let Some(e) = v.exp {
        a["exp"] = json!(e);
    }
    a
}

/// A `SecretBundle` (with the value) or a `SecretItem` (without).
fn bundle(base: &str, name: &str, v: &SecretVersion, with_value: bool, retention: u32) -> Value {
    let mut b = Map::new();
    if with_value {
        b.insert(
            "value".into(),
            Value::String(v.value.clone().unwrap_or_default()),
        );
    }
    if let Some(ct) = &v.content_type {
        b.insert("contentType".into(), Value::String(ct.clone()));
    }
    b.insert(
        "id".into(),
        Value::String(format!("{base}/secrets/{name}/{}", v.version)),
    );
    b.insert("attributes".into(), attributes(v, retention));
    if !v.tags.is_empty() {
        b.insert("tags".into(), json!(v.tags));
    }
    Value::Object(b)
}

fn bad_body(message: &str) -> Response {
    kv_err(StatusCode::BAD_REQUEST, "BadParameter", message, None)
}

fn set(
    now: OffsetDateTime,
    req: &Req,
    vault: &mut Vault,
    pos: Option<usize>,
    name: &str,
    base: &str,
    retention: u32,
) -> Result<Response, Response> {
    if let Some(s) = pos.map(|i| &vault.secrets[i])
        && s.deleted_at.is_some()
    {
        return Err(kv_err(
            StatusCode::CONFLICT,
            "Conflict",
            &format!(
                "Secret {} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged.",
                s.name
            ),
            Some("ObjectIsDeletedButRecoverable"),
        ));
    }
    let body = req
        .json()
        .map_err(|m| bad_body(&format!("The request body is not valid JSON: {m}")))?;
    let Some(value) = body.get("value").and_then(Value::as_str) else {
        return Err(bad_body(
            "The parameter 'value' is required and must be a string.",
        ));
    };
    if value.len() > MAX_VALUE {
        return Err(bad_body(&format!(
            "The secret value is {} bytes; Key Vault accepts at most {MAX_VALUE}.",
            value.len()
        )));
    }
    let meta = parse_meta(&body)?;
    let t = now.unix_timestamp();
    let ver = SecretVersion {
        version: uuid::Uuid::new_v4().simple().to_string(),
        value: Some(value.to_string()),
        value_sha256: sha256_hex(value.as_bytes()),
        content_type: meta.content_type,
        enabled: meta.enabled.unwrap_or(true),
        nbf: meta.nbf,
        exp: meta.exp,
        created: t,
        updated: t,
        tags: meta.tags.unwrap_or_default(),
    };
    let b = bundle(base, name, &ver, true, retention);
    match pos {
        Some(i) => vault.secrets[i].versions.push(ver),
        None => vault.secrets.push(VaultSecret {
            name: name.to_string(),
            versions: vec![ver],
            deleted_at: None,
        }),
    }
    Ok(json_resp(StatusCode::OK, &b))
}

/// The metadata of a set or update body; `None` where the body leaves a field out.
struct Meta {
    content_type: Option<String>,
    enabled: Option<bool>,
    nbf: Option<i64>,
    exp: Option<i64>,
    tags: Option<BTreeMap<String, String>>,
}

fn parse_meta(body: &Value) -> Result<Meta, Response> {
    let content_type = match body.get("contentType") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(bad_body("The parameter 'contentType' must be a string.")),
    };
    let attrs = body.get("attributes").cloned().unwrap_or(Value::Null);
    let time_attr = |k: &str| -> Result<Option<i64>, Response> {
        match attrs.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v.as_i64().map(Some).ok_or_else(|| {
                bad_body(&format!(
                    "The attribute '{k}' must be a whole number of seconds since 1970 (Unix time)."
                ))
            }),
        }
    };
    let (nbf, exp) = (time_attr("nbf")?, time_attr("exp")?);
    let enabled = match attrs.get("enabled") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => return Err(bad_body("The attribute 'enabled' must be true or false.")),
    };
    let tags = match body.get("tags") {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) => {
            if m.len() > 15 {
                return Err(bad_body("A secret has at most 15 tags."));
            }
            let mut tags = BTreeMap::new();
            for (k, v) in m {
                let Some(v) = v.as_str() else {
                    return Err(bad_body(&format!(
                        "The tag '{k}' must have a string value."
                    )));
                };
                tags.insert(k.clone(), v.to_string());
            }
            Some(tags)
        }
        Some(_) => return Err(bad_body("The parameter 'tags' must be an object.")),
    };
    Ok(Meta {
        content_type,
        enabled,
        nbf,
        exp,
        tags,
    })
}

/// `PATCH /secrets/{name}/{version}`: change a version's attributes, content type or tags (the
/// value never changes); the answer is a bundle without the value.
fn update(
    now: OffsetDateTime,
    req: &Req,
    s: &mut VaultSecret,
    version: &str,
    base: &str,
    retention: u32,
) -> Result<Response, Response> {
    let body = req
        .json()
        .map_err(|m| bad_body(&format!("The request body is not valid JSON: {m}")))?;
    if body.get("value").is_some() {
        return Err(bad_body(
            "The value of a secret version cannot be updated; set a new version instead.",
        ));
    }
    let meta = parse_meta(&body)?;
    let name = s.name.clone();
    let v = s
        .versions
        .iter_mut()
        .find(|v| v.version.eq_ignore_ascii_case(version))
        .ok_or_else(|| not_found(&name, Some(version)))?;
    if let Some(ct) = meta.content_type {
        v.content_type = Some(ct);
    }
    if let Some(e) = meta.enabled {
        v.enabled = e;
    }
    if meta.nbf.is_some() {
        v.nbf = meta.nbf;
    }
    if meta.exp.is_some() {
        v.exp = meta.exp;
    }
    if let Some(t) = meta.tags {
        v.tags = t;
    }
    v.updated = now.unix_timestamp();
    Ok(json_resp(
        StatusCode::OK,
        &bundle(base, &name, v, false, retention),
    ))
}

fn versions(req: &Req, api: &str, base: &str, s: &VaultSecret, retention: u32) -> Response {
    let max = req
        .q("maxresults")
        .and_then(|m| m.parse::<usize>().ok())
        .unwrap_or(MAX_RESULTS);
    if !(1..=MAX_RESULTS).contains(&max) {
        return bad_body(&format!(
            "The parameter 'maxresults' must be between 1 and {MAX_RESULTS}."
        ));
    }
    let skip = req
        .q("$skiptoken")
        .and_then(|m| m.parse::<usize>().ok())
        .unwrap_or(0);
    let items: Vec<Value> = s
        .versions
        .iter()
        .skip(skip)
        .take(max)
        .map(|v| bundle(base, &s.name, v, false, retention))
        .collect();
    let next = (skip + max < s.versions.len()).then(|| {
        format!(
            "{base}/secrets/{}/versions?api-version={api}&$skiptoken={}&maxresults={max}",
            s.name,
            skip + max
        )
    });
    json_resp(StatusCode::OK, &json!({"value": items, "nextLink": next}))
}

#[cfg(test)]
mod tests {
    use super::{valid_secret_name, valid_vault_name};

    #[test]
    fn names() {
        assert!(valid_vault_name("contoso-kv"));
        assert!(!valid_vault_name("kv"));
        assert!(!valid_vault_name("1kv"));
        assert!(!valid_vault_name("kv-"));
        assert!(!valid_vault_name("a--b"));
        assert!(!valid_vault_name("a.b.c"));
        assert!(!valid_vault_name(&"a".repeat(25)));
        assert!(valid_secret_name("xtenant-app-1"));
        assert!(!valid_secret_name("a_b"));
        assert!(!valid_secret_name(""));
    }
}
