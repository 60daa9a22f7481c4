//! A registry's data plane (`<name>.azurecr.sim`): the token protocol and manifests, and the
//! kubelet-style pull decision of the truth endpoint built on the same code.
//!
//! Basic credentials `appId:secret` authenticate when the app has a service principal in the
//! registry's tenant and the secret is one of the app's current passwords. The token's
//! `access` claim holds only the actions the principal's propagated role assignments allow in
//! the registry's mode (see [`crate::rbac::registry_grants`]).

mod content;
mod pull;
mod token;
mod verdict;

use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use crate::core::Core;
use crate::http::{Req, registry_err, set_header};
use crate::model::Registry;
use content::{blob, manifest, tags};
#[cfg(test)]
pub(crate) use pull::body_bytes;
pub(crate) use pull::{pull, verdict};
use token::{base, exchange, token_get, token_post};
pub(crate) use verdict::Stage;

const ANON: &str = "00000000-0000-0000-0000-000000000000";

/// A secret as given by a client, or as a stored hash (the cluster's credentials).
pub(crate) enum Secret<'a> {
    Plain(&'a str),
    Sha256(&'a str),
}

/// Who a registry credential authenticated as.
#[derive(Debug, Clone)]
struct Identity {
    app_id: String,
    tenant_id: String,
    oid: String,
}

fn challenge(core: &Core, reg: &Registry, scope: Option<&str>) -> String {
    let ls = core.login_server(&reg.name);
    match scope {
        Some(s) => {
            format!("Bearer realm=\"https://{ls}/oauth2/token\",service=\"{ls}\",scope=\"{s}\"")
        }
        None => format!("Bearer realm=\"https://{ls}/oauth2/token\",service=\"{ls}\""),
    }
}

fn unauthorized(
    core: &Core,
    reg: &Registry,
    message: &str,
    scope: Option<&str>,
    detail: Value,
) -> Response {
    let mut r = registry_err(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", message, detail);
    set_header(&mut r, "www-authenticate", &challenge(core, reg, scope));
    r
}

const AUTH_REQUIRED: &str =
    "authentication required, visit https://aka.ms/acr/authorization for more information.";

/// Serve a request addressed to registry `name`.
pub(crate) fn handle(core: &Core, req: &Req, name: &str) -> Response {
    let state = core.state();
    let Some(reg) = state
        .registries
        .iter()
        .find(|r| r.name.eq_ignore_ascii_case(name))
        .cloned()
    else {
        return registry_err(
            StatusCode::NOT_FOUND,
            "NAME_UNKNOWN",
            &format!("registry '{name}' does not exist"),
            Value::Null,
        );
    };
    drop(state);
    if let Some(ip) = req.client_ip
        && !reg.network_rules.allows(ip)
    {
        return crate::firewall::denied(ip);
    }
    let segs: Vec<&str> = req.segs.iter().map(String::as_str).collect();
    match (segs.as_slice(), &req.method) {
        (["oauth2", "token"], &Method::GET) => token_get(core, req, &reg),
        (["oauth2", "token"], &Method::POST) => token_post(core, req, &reg),
        (["oauth2", "exchange"], &Method::POST) => exchange(core, req, &reg),
        (["v2"], &Method::GET | &Method::HEAD) => base(core, req, &reg),
        (["v2", repo @ .., "manifests", reference], &Method::GET | &Method::HEAD)
            if !repo.is_empty() =>
        {
            manifest(core, req, &reg, &repo.join("/"), reference)
        }
        (["v2", repo @ .., "blobs", digest], &Method::GET | &Method::HEAD) if !repo.is_empty() => {
            blob(core, req, &reg, &repo.join("/"), digest)
        }
        (["v2", repo @ .., "tags", "list"], &Method::GET) if !repo.is_empty() => {
            tags(core, req, &reg, &repo.join("/"))
        }
        _ => registry_err(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "the requested resource was not found",
            json!({"path": req.path}),
        ),
    }
}
