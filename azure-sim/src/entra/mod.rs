//! Entra ID: the token endpoint (client credentials), OpenID discovery, and routing of the
//! consent pages.
//!
//! `{tenant}` is a tenant GUID or one of its verified domains. Errors carry Entra's JSON with an
//! AADSTS code, as `azure_identity` and MSAL parse it.

use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use crate::core::{Core, audience_in};
use crate::http::{Req, entra_err, is_guid, json, with_caller};
use crate::model::{State, Tenant};

mod client;
mod consent;
use client::{authenticate, client};

/// Resource identifiers (token audiences) the simulated Entra knows: the presented cloud's
/// own (a national cloud issues no token for the public cloud's resources).
pub(crate) fn known_resource(core: &Core, resource: &str) -> bool {
    let mut known = core.cloud.resources();
    known.push(crate::kube::AKS_SERVER_APP);
    audience_in(resource, &known)
}

/// Route a request under `/{tenant}/...`.
pub(crate) fn handle(core: &Core, req: &Req) -> Response {
    let rest: Vec<String> = req.segs[1..]
        .iter()
        .map(|s| s.to_ascii_lowercase())
        .collect();
    let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
    match rest.as_slice() {
        ["oauth2", "v2.0", "token"] => token(core, req, true),
        ["oauth2", "token"] => token(core, req, false),
        ["v2.0", ".well-known", "openid-configuration"] if req.method == Method::GET => {
            discovery(core, req, true)
        }
        [".well-known", "openid-configuration"] if req.method == Method::GET => {
            discovery(core, req, false)
        }
        ["discovery", "v2.0", "keys"] | ["discovery", "keys"] if req.method == Method::GET => {
            json(StatusCode::OK, &json!({"keys": []}))
        }
        ["oauth2", "authorize"] | ["oauth2", "v2.0", "authorize"] => {
            consent::handle(core, req, consent::Flow::Authorize)
        }
        ["adminconsent"] | ["v2.0", "adminconsent"] => {
            consent::handle(core, req, consent::Flow::AdminConsent)
        }
        _ => entra_err(
            req,
            StatusCode::NOT_FOUND,
            "invalid_request",
            90_012,
            "The request is not supported: unknown endpoint.",
        ),
    }
}

/// Why a tenant segment does not name a tenant.
pub(crate) enum TenantError {
    /// Neither a GUID nor a DNS name (AADSTS900023).
    Invalid,
    /// Well-formed but unknown (AADSTS90002).
    Unknown,
}

/// Resolve `/{tenant}` to a tenant.
pub(crate) fn resolve_tenant<'a>(state: &'a State, seg: &str) -> Result<&'a Tenant, TenantError> {
    let dns_like = seg.contains('.')
        && seg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    if !is_guid(seg) && !dns_like {
        return Err(TenantError::Invalid);
    }
    state.tenant(seg).ok_or(TenantError::Unknown)
}

/// The Entra error for a tenant segment that names no tenant.
pub(crate) fn tenant_error(req: &Req, seg: &str, e: &TenantError) -> Response {
    match e {
        TenantError::Invalid => entra_err(
            req,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900_023,
            &format!(
                "Specified tenant identifier '{seg}' is neither a valid DNS name, nor a valid external domain."
            ),
        ),
        TenantError::Unknown => entra_err(
            req,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90_002,
            &format!(
                "Tenant '{seg}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."
            ),
        ),
    }
}

fn discovery(core: &Core, req: &Req, v2: bool) -> Response {
    let state = core.state();
    let tenant = match resolve_tenant(&state, &req.segs[0]) {
        Ok(t) => t.id.clone(),
        Err(e) => return tenant_error(req, &req.segs[0], &e),
    };
    drop(state);
    let u = &core.cloud.login_url();
    let (ver, issuer) = if v2 {
        ("/v2.0", format!("{u}/{tenant}/v2.0"))
    } else {
        ("", format!("{}/{tenant}/", core.cloud.sts()))
    };
    let oauth = if v2 { "oauth2/v2.0" } else { "oauth2" };
    json(
        StatusCode::OK,
        &json!({
            "token_endpoint": format!("{u}/{tenant}/{oauth}/token"),
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": format!("{u}/{tenant}/discovery{ver}/keys"),
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["HS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": issuer,
            "request_uri_parameter_supported": false,
            "userinfo_endpoint": format!("{u}/oidc/userinfo"),
            "authorization_endpoint": format!("{u}/{tenant}/{oauth}/authorize"),
            "device_authorization_endpoint": format!("{u}/{tenant}/{oauth}/devicecode"),
            "http_logout_supported": true,
            "frontchannel_logout_supported": true,
            "end_session_endpoint": format!("{u}/{tenant}/{oauth}/logout"),
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nbf", "tid", "oid", "appid", "roles"],
            "kerberos_endpoint": format!("{u}/{tenant}/kerberos"),
            "tenant_region_scope": "NA",
            "cloud_instance_name": "azure.sim",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
            "rbac_url": "https://pas.windows.net",
        }),
    )
}

fn param<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

fn missing(req: &Req, name: &str) -> Response {
    entra_err(
        req,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        900_144,
        &format!("The request body must contain the following parameter: '{name}'."),
    )
}

/// The resource a client-credentials request asks for (`scope` for v2, `resource` for v1).
fn requested_resource(req: &Req, form: &[(String, String)], v2: bool) -> Result<String, Response> {
    if !v2 {
        return param(form, "resource")
            .map(str::to_string)
            .ok_or_else(|| missing(req, "resource"));
    }
    let scope = param(form, "scope").ok_or_else(|| missing(req, "scope"))?;
    let mut resources: Vec<String> = Vec::new();
    for s in scope.split_whitespace() {
        let Some(r) = s.strip_suffix("/.default") else {
            return Err(entra_err(
                req,
                StatusCode::BAD_REQUEST,
                "invalid_scope",
                1_002_012,
                &format!(
                    "The provided value for scope {s} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
                ),
            ));
        };
        if !resources.iter().any(|x| x == r) {
            resources.push(r.to_string());
        }
    }
    match resources.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(missing(req, "scope")),
        _ => Err(entra_err(
            req,
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            70_011,
            &format!(
                "The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid. Scopes for more than one resource cannot be requested at once."
            ),
        )),
    }
}

/// The token endpoint: Entra's checks in Entra's order, then a token.
fn token(core: &Core, req: &Req, v2: bool) -> Response {
    match issue(core, req, v2) {
        Ok(r) | Err(r) => r,
    }
}

/// The steps of [`token`]; `Err` is the error answer of the first check that fails.
fn issue(core: &Core, req: &Req, v2: bool) -> Result<Response, Response> {
    if req.method != Method::POST {
        return Err(entra_err(
            req,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900_561,
            &format!(
                "The endpoint only accepts POST, OPTIONS requests. Received a {} request.",
                req.method
            ),
        ));
    }
    let form = req.form();
    let state = core.state();
    let tenant = match resolve_tenant(&state, &req.segs[0]) {
        Ok(t) => t.clone(),
        Err(e) => return Err(tenant_error(req, &req.segs[0], &e)),
    };
    check_grant(req, &form)?;
    let client_id = param(&form, "client_id").ok_or_else(|| missing(req, "client_id"))?;
    let resource = requested_resource(req, &form, v2)?;
    let (app, sp) = client(core, req, &state, &tenant, client_id)?;
    let appidacr = authenticate(
        req,
        &form,
        app,
        core.now(),
        state.behaviour.secret_propagation(),
    )?;
    check_resource(core, req, &resource, &tenant)?;
    crate::sign_in_policy::check(req, &tenant.conditional_access, &app.app_id, &resource)?;
    let graph = audience_in(&resource, &core.cloud.graph_audiences());
    let roles = if graph {
        sp.graph_app_roles.clone()
    } else {
        Vec::new()
    };
    let (oid, app_id) = (sp.id.clone(), app.app_id.clone());
    drop(state);
    let (token, exp) =
        core.mint_entra_token(&tenant.id, &oid, &app_id, &resource, &roles, appidacr);
    let body = token_body(v2, &token, exp, &resource);
    Ok(with_caller(
        json(StatusCode::OK, &body),
        &app_id,
        &tenant.id,
    ))
}

/// Only the client-credentials grant (AADSTS900144 without one, AADSTS70003 for another).
fn check_grant(req: &Req, form: &[(String, String)]) -> Result<(), Response> {
    let Some(grant) = param(form, "grant_type") else {
        return Err(missing(req, "grant_type"));
    };
    if grant != "client_credentials" {
        return Err(entra_err(
            req,
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70_003,
            &format!("The app requested an unsupported grant type '{grant}'."),
        ));
    }
    Ok(())
}

/// A resource Entra knows (AADSTS500011 otherwise).
fn check_resource(core: &Core, req: &Req, resource: &str, tenant: &Tenant) -> Result<(), Response> {
    if known_resource(core, resource) {
        return Ok(());
    }
    Err(entra_err(
        req,
        StatusCode::BAD_REQUEST,
        "invalid_resource",
        500_011,
        &format!(
            "The resource principal named {resource} was not found in the tenant named {}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.",
            tenant.display_name
        ),
    ))
}

/// The token answer: v2 numbers, v1 strings with `expires_on`, `not_before` and `resource`.
fn token_body(v2: bool, token: &str, exp: i64, resource: &str) -> Value {
    if v2 {
        json!({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token})
    } else {
        json!({
            "token_type": "Bearer",
            "expires_in": "3599",
            "ext_expires_in": "3599",
            "expires_on": exp.to_string(),
            "not_before": (exp - 3599).to_string(),
            "resource": resource,
            "access_token": token,
        })
    }
}
