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

use axum::http::{Method, StatusCode};
use axum::response::Response;

use crate::core::{AuthFail, Core, Principal, audience_in};
use crate::http::{Req, kv_err, set_header, with_caller};
use crate::model::roles::{DELETE_SECRET, GET_SECRET, READ_METADATA, SET_SECRET, UPDATE_SECRET};
use crate::rbac::data_action_allowed;

use crate::api_versions::{KEY_VAULT_LATEST as LATEST_STABLE, KEY_VAULT_SECRETS as API_VERSIONS};

mod secrets;
use secrets::{delete, get, live, live_mut, set, update, versions};

/// A secret name: 1-127 letters, digits and hyphens.
fn valid_secret_name(name: &str) -> bool {
    (1..=127).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
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
    if !data_action_allowed(
        &state,
        &p.oid,
        &scope,
        op.action(),
        t,
        core.role_propagation,
    ) {
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

#[cfg(test)]
mod tests {
    use super::valid_secret_name;

    #[test]
    fn secret_names() {
        assert!(valid_secret_name("xtenant-app-1"));
        assert!(!valid_secret_name("a_b"));
        assert!(!valid_secret_name(""));
    }
}
