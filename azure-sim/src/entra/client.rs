//! Who the client is: the app and its principal in the tenant (replicated, enabled) and the
//! credential it presents (a client secret, or a federated assertion).

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;

use super::{missing, param};
use crate::clock::wall;
use crate::core::Core;
use crate::crypto::{decode_unverified, digest_eq, sha256_hex};
use crate::http::{Req, entra_err};
use crate::model::{Application, ServicePrincipal, State, Tenant};

/// The app and its enabled principal in `tenant`, replicated (AADSTS700016, AADSTS7000112).
pub(super) fn client<'s>(
    core: &Core,
    req: &Req,
    state: &'s State,
    tenant: &Tenant,
    client_id: &str,
) -> Result<(&'s Application, &'s ServicePrincipal), Response> {
    let tenant_name = &tenant.domains[0];
    let not_found = || {
        entra_err(
            req,
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700_016,
            &format!(
                "Application with identifier '{client_id}' was not found in the directory '{tenant_name}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."
            ),
        )
    };
    let app = state.app_by_app_id(client_id).ok_or_else(not_found)?;
    let sp = core
        .sp_replicated(state, &app.app_id, &tenant.id)
        .ok_or_else(not_found)?;
    if !sp.account_enabled {
        return Err(entra_err(
            req,
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            7_000_112,
            &format!(
                "Application '{}'({}) is disabled.",
                app.app_id, app.display_name
            ),
        ));
    }
    Ok((app, sp))
}

/// The app's credential: a current client secret (`appidacr` 1) or a federated assertion
/// (`appidacr` 2); AADSTS7000215, 7000222 or 7000216 otherwise. `t` is Azure's now. A secret
/// added less than `propagation` ago is not known yet: refused as invalid (AADSTS7000215), as
/// Entra does.
pub(super) fn authenticate(
    req: &Req,
    form: &[(String, String)],
    app: &Application,
    t: time::OffsetDateTime,
    propagation: time::Duration,
) -> Result<&'static str, Response> {
    if let Some(secret) = param(form, "client_secret") {
        let h = sha256_hex(secret.as_bytes());
        let Some(cred) = app
            .password_credentials
            .iter()
            .find(|p| digest_eq(&p.secret_sha256, &h))
            .filter(|p| !p.propagating(t, propagation))
        else {
            return Err(entra_err(
                req,
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                7_000_215,
                &format!(
                    "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{}'.",
                    app.app_id
                ),
            ));
        };
        if cred.end <= t || cred.start > t {
            return Err(entra_err(
                req,
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                7_000_222,
                &format!(
                    "The provided client secret keys for app '{}' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds.",
                    app.app_id
                ),
            ));
        }
        return Ok("1");
    }
    if let Some(assertion) = param(form, "client_assertion") {
        check_assertion(req, form, assertion, app)?;
        return Ok("2");
    }
    Err(entra_err(
        req,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        7_000_216,
        "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.",
    ))
}

fn check_assertion(
    req: &Req,
    form: &[(String, String)],
    assertion: &str,
    app: &Application,
) -> Result<(), Response> {
    if param(form, "client_assertion_type")
        != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
    {
        return Err(missing(req, "client_assertion_type"));
    }
    let Some(claims) = decode_unverified(assertion) else {
        return Err(entra_err(
            req,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            50_027,
            "JWT token is invalid or malformed.",
        ));
    };
    // The assertion's lifetime is timed by its maker's clock: the real one.
    let t = wall().unix_timestamp();
    let exp = claims["exp"].as_i64().unwrap_or(0);
    if exp <= t || claims["nbf"].as_i64().unwrap_or(0) > t + 300 {
        return Err(entra_err(
            req,
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            700_024,
            "Client assertion is not within its valid time range.",
        ));
    }
    let iss = claims["iss"].as_str().unwrap_or_default();
    let sub = claims["sub"].as_str().unwrap_or_default();
    let auds: Vec<&str> = match &claims["aud"] {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let ok = app.federated_credentials.iter().any(|fc| {
        fc.issuer == iss
            && fc.subject == sub
            && fc.audiences.iter().any(|a| auds.contains(&a.as_str()))
    });
    if ok {
        Ok(())
    } else {
        Err(entra_err(
            req,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            70_021,
            &format!(
                "No matching federated identity record found for presented assertion. Assertion Issuer: '{iss}'. Assertion Subject: '{sub}'. Assertion Audience: '{}'.",
                auds.join(",")
            ),
        ))
    }
}
