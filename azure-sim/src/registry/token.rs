//! The token protocol: Basic credentials, `/oauth2/token` (GET and POST), `/oauth2/exchange`,
//! the `/v2/` check, and the pull permission every content request needs.

use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::clock::wall;
use crate::core::{Core, audience_in};
use crate::crypto::{digest_eq, sha256_hex};
use crate::http::{Req, json as json_resp, registry_err, with_caller};
use crate::model::{Registry, State};
use crate::rbac::registry_grants;

use super::{ANON, AUTH_REQUIRED, Identity, Secret, unauthorized};

/// Parse `type:name:actions` scopes (several per parameter, space-separated).
pub(super) fn parse_scopes<'a>(
    values: impl Iterator<Item = &'a str>,
) -> Vec<(String, String, Vec<String>)> {
    let mut out = Vec::new();
    for v in values {
        for s in v.split_whitespace() {
            let Some((ty, rest)) = s.split_once(':') else {
                continue;
            };
            let Some((name, actions)) = rest.rsplit_once(':') else {
                continue;
            };
            out.push((
                ty.to_string(),
                name.to_string(),
                actions
                    .split(',')
                    .filter(|a| !a.is_empty())
                    .map(str::to_string)
                    .collect(),
            ));
        }
    }
    out
}

/// Authenticate `user`/secret against `reg` (Basic credentials or an ACR refresh token).
pub(super) fn authenticate(
    core: &Core,
    state: &State,
    reg: &Registry,
    user: &str,
    secret: &Secret<'_>,
) -> Result<Identity, String> {
    if user == ANON {
        let Secret::Plain(token) = secret else {
            return Err("a refresh token cannot be given as a hash".into());
        };
        return verify_registry_token(core, reg, token, "acr_refresh").map(|c| Identity {
            app_id: c["appid"].as_str().unwrap_or_default().into(),
            tenant_id: c["tenant"].as_str().unwrap_or_default().into(),
            oid: c["principal"].as_str().unwrap_or_default().into(),
        });
    }
    let app = state
        .app_by_app_id(user)
        .ok_or_else(|| "Application not registered with AAD.".to_string())?;
    // The registry's token service asks Entra, which knows a new principal only once it
    // replicated (AADSTS700016 until then): ACR answers it as an unregistered application.
    let t = core.now();
    let sp = core
        .sp_replicated(state, &app.app_id, &reg.tenant_id)
        .ok_or_else(|| format!("Application not registered with AAD: the application '{}' has no service principal in the registry's tenant {}.", app.app_id, reg.tenant_id))?;
    let h = match secret {
        Secret::Plain(s) => sha256_hex(s.as_bytes()),
        Secret::Sha256(h) => (*h).to_string(),
    };
    if !app.password_credentials.iter().any(|p| {
        digest_eq(&p.secret_sha256, &h) && p.usable(t, state.behaviour.secret_propagation())
    }) {
        return Err("Invalid clientid or client secret.".into());
    }
    Ok(Identity {
        app_id: app.app_id.clone(),
        tenant_id: reg.tenant_id.clone(),
        oid: sp.id.clone(),
    })
}

pub(super) fn verify_registry_token(
    core: &Core,
    reg: &Registry,
    token: &str,
    kind: &str,
) -> Result<std::sync::Arc<Value>, String> {
    let c = core
        .key
        .verify(token)
        .map_err(|_| "the token is invalid".to_string())?;
    if c["sim_kind"] != kind {
        return Err("the token is not a registry token of this kind".into());
    }
    if !c["aud"]
        .as_str()
        .is_some_and(|a| a.eq_ignore_ascii_case(&core.login_server(&reg.name)))
    {
        return Err("the token was issued for another registry".into());
    }
    // A registry token's lifetime is timed by its holder's clock: the real one.
    if c["exp"].as_i64().unwrap_or(0) <= wall().unix_timestamp() {
        return Err("the token has expired".into());
    }
    Ok(c)
}

pub(super) fn registry_claims(
    core: &Core,
    reg: &Registry,
    id: &Identity,
    kind: &str,
    grant: &str,
) -> Value {
    let t = wall().unix_timestamp();
    json!({
        "jti": uuid::Uuid::new_v4().to_string(),
        "sub": id.app_id,
        "nbf": t,
        "exp": t + 3 * 3600,
        "iat": t,
        "iss": "Azure Container Registry",
        "aud": core.login_server(&reg.name),
        "version": "1.0",
        "rid": &sha256_hex(reg.id.to_ascii_lowercase().as_bytes())[..32],
        "grant_type": grant,
        "appid": id.app_id,
        "tenant": id.tenant_id,
        "principal": id.oid,
        "roles": [],
        "sim_kind": kind,
    })
}

/// Mint an access token for `scopes` with only the allowed actions.
pub(super) fn access_token(
    core: &Core,
    state: &State,
    reg: &Registry,
    id: &Identity,
    scopes: &[(String, String, Vec<String>)],
    grant: &str,
) -> String {
    let access: Vec<Value> = scopes
        .iter()
        .map(|(ty, name, actions)| {
            let allowed = if ty == "repository" {
                registry_grants(
                    state,
                    reg,
                    &id.oid,
                    name,
                    actions,
                    core.now(),
                    core.role_propagation,
                )
            } else {
                Vec::new()
            };
            json!({"type": ty, "name": name, "actions": allowed})
        })
        .collect();
    let mut claims = registry_claims(core, reg, id, "acr_access", grant);
    claims["access"] = json!(access);
    core.key.sign(&claims)
}

pub(super) fn refresh_token(core: &Core, reg: &Registry, id: &Identity) -> String {
    let mut c = registry_claims(core, reg, id, "acr_refresh", "refresh_token");
    c["permissions"] = json!({"actions": ["read", "write", "delete"]});
    core.key.sign(&c)
}

/// The Basic-credential token step (`GET /oauth2/token`), shared with the truth endpoint.
pub(crate) fn basic_token(
    core: &Core,
    reg: &Registry,
    user: &str,
    secret: &Secret<'_>,
    scope_values: &[&str],
) -> Result<(String, String, String), Response> {
    let state = core.state();
    let id = authenticate(core, &state, reg, user, secret)
        .map_err(|m| unauthorized(core, reg, &m, None, Value::Null))?;
    let scopes = parse_scopes(scope_values.iter().copied());
    let access = access_token(core, &state, reg, &id, &scopes, "password");
    drop(state);
    Ok((access, refresh_token(core, reg, &id), id.app_id))
}

pub(super) fn basic_credentials(req: &Req) -> Option<(String, String)> {
    let h = req.header("authorization")?;
    let (scheme, rest) = h.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(rest.trim()).ok()?).ok()?;
    let (u, p) = decoded.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

pub(super) fn scope_params(req: &Req) -> Vec<&str> {
    req.query
        .iter()
        .filter(|(k, _)| k == "scope")
        .map(|(_, v)| v.as_str())
        .collect()
}

pub(super) fn token_get(core: &Core, req: &Req, reg: &Registry) -> Response {
    let Some((user, pass)) = basic_credentials(req) else {
        return unauthorized(core, reg, AUTH_REQUIRED, None, Value::Null);
    };
    match basic_token(core, reg, &user, &Secret::Plain(&pass), &scope_params(req)) {
        Ok((access, refresh, app_id)) => with_caller(
            json_resp(
                StatusCode::OK,
                &json!({"access_token": access, "refresh_token": refresh}),
            ),
            &app_id,
            &reg.tenant_id,
        ),
        Err(r) => r,
    }
}

pub(super) fn form_value<'a>(form: &'a [(String, String)], k: &str) -> Option<&'a str> {
    form.iter()
        .find(|(n, _)| n == k)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

/// A token endpoint's 400 for a `grant_type` it does not take.
fn unsupported_grant(grant_type: Option<&str>) -> Response {
    bad(
        "UNSUPPORTED",
        &format!(
            "grant type '{}' is not supported",
            grant_type.unwrap_or_default()
        ),
    )
}

/// A token endpoint's 400 with `code`.
fn bad(code: &str, message: &str) -> Response {
    registry_err(StatusCode::BAD_REQUEST, code, message, Value::Null)
}

pub(super) fn token_post(core: &Core, req: &Req, reg: &Registry) -> Response {
    let form = req.form();
    let scopes_raw: Vec<&str> = form
        .iter()
        .filter(|(k, _)| k == "scope")
        .map(|(_, v)| v.as_str())
        .collect();
    let id = match form_value(&form, "grant_type") {
        Some("refresh_token") => {
            let Some(rt) = form_value(&form, "refresh_token") else {
                return bad("BAD_REQUEST", "refresh_token is required");
            };
            let state = core.state();
            authenticate(core, &state, reg, ANON, &Secret::Plain(rt))
        }
        Some("password") => {
            let (Some(u), Some(p)) = (form_value(&form, "username"), form_value(&form, "password"))
            else {
                return bad("BAD_REQUEST", "username and password are required");
            };
            let state = core.state();
            authenticate(core, &state, reg, u, &Secret::Plain(p))
        }
        other => {
            return unsupported_grant(other);
        }
    };
    let id = match id {
        Ok(i) => i,
        Err(m) => return unauthorized(core, reg, &m, None, Value::Null),
    };
    let state = core.state();
    let access = access_token(
        core,
        &state,
        reg,
        &id,
        &parse_scopes(scopes_raw.into_iter()),
        "refresh_token",
    );
    drop(state);
    with_caller(
        json_resp(StatusCode::OK, &json!({"access_token": access})),
        &id.app_id,
        &id.tenant_id,
    )
}

/// `POST /oauth2/exchange`: an Entra access token for a registry refresh token.
pub(super) fn exchange(core: &Core, req: &Req, reg: &Registry) -> Response {
    let form = req.form();
    match form_value(&form, "grant_type") {
        Some("access_token" | "access_token_refresh_token") => {}
        other => {
            return unsupported_grant(other);
        }
    }
    let Some(aad) = form_value(&form, "access_token") else {
        return bad("BAD_REQUEST", "access_token is required");
    };
    let auds = core.cloud.registry_audiences();
    let Ok(p) = core.verify_entra_token(aad, &|a| audience_in(a, &auds)) else {
        return unauthorized(
            core,
            reg,
            "The access token is invalid, expired, or for another audience.",
            None,
            Value::Null,
        );
    };
    if !p.tenant_id.eq_ignore_ascii_case(&reg.tenant_id) {
        return unauthorized(
            core,
            reg,
            &format!(
                "The access token is from tenant {} but the registry belongs to tenant {}.",
                p.tenant_id, reg.tenant_id
            ),
            None,
            Value::Null,
        );
    }
    let id = Identity {
        app_id: p.app_id.clone(),
        tenant_id: p.tenant_id.clone(),
        oid: p.oid.clone(),
    };
    with_caller(
        json_resp(
            StatusCode::OK,
            &json!({"refresh_token": refresh_token(core, reg, &id)}),
        ),
        &p.app_id,
        &p.tenant_id,
    )
}

/// The access entries of a request's credential: a Bearer registry token, or Basic credentials
/// evaluated for `wanted` (as ACR also accepts).
pub(super) fn request_access(
    core: &Core,
    req: &Req,
    reg: &Registry,
    wanted: &str,
) -> Result<(Vec<Value>, String), ()> {
    let h = req.header("authorization").ok_or(())?;
    let (scheme, rest) = h.trim().split_once(' ').ok_or(())?;
    if scheme.eq_ignore_ascii_case("bearer") {
        let c = verify_registry_token(core, reg, rest.trim(), "acr_access").map_err(|_| ())?;
        let app = c["appid"].as_str().unwrap_or_default().to_string();
        return Ok((c["access"].as_array().cloned().unwrap_or_default(), app));
    }
    let (u, p) = basic_credentials(req).ok_or(())?;
    let state = core.state();
    let id = authenticate(core, &state, reg, &u, &Secret::Plain(&p)).map_err(|_| ())?;
    let scopes = parse_scopes(std::iter::once(wanted));
    let token = access_token(core, &state, reg, &id, &scopes, "password");
    drop(state);
    let c = core.key.verify(&token).map_err(|_| ())?;
    Ok((
        c["access"].as_array().cloned().unwrap_or_default(),
        id.app_id,
    ))
}

pub(super) fn grants(access: &[Value], repo: &str, action: &str) -> bool {
    access.iter().any(|a| {
        a["type"] == "repository"
            && a["name"].as_str() == Some(repo)
            && a["actions"]
                .as_array()
                .is_some_and(|xs| xs.iter().any(|x| x == action || x == "*"))
    })
}

pub(super) fn base(core: &Core, req: &Req, reg: &Registry) -> Response {
    if req.header("authorization").is_some()
        && request_access(core, req, reg, "registry:catalog:*").is_ok()
    {
        return json_resp(StatusCode::OK, &json!({}));
    }
    unauthorized(core, reg, AUTH_REQUIRED, None, Value::Null)
}

/// The app whose bearer token grants pull on `repo`, or the registry's 401 challenge.
pub(super) fn pull_caller(
    core: &Core,
    req: &Req,
    reg: &Registry,
    repo: &str,
) -> Result<String, Response> {
    let scope = format!("repository:{repo}:pull");
    match request_access(core, req, reg, &scope) {
        Ok((access, app_id)) if grants(&access, repo, "pull") => Ok(app_id),
        _ => Err(unauthorized(
            core,
            reg,
            AUTH_REQUIRED,
            Some(&scope),
            json!([{"Type": "repository", "Name": repo, "Action": "pull"}]),
        )),
    }
}
