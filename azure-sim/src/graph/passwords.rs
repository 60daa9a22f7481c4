//! Application passwords: `addPassword`, `removePassword`, and the credential itself (with the
//! tenant's lifetime policy).

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use super::app_props::check_manifest;
use super::applications::app_to_write;
use super::keys::Key;
use super::{
    APP_WRITE_ROLES, R, bad, base, check_key, may_write_app, need, obj_body, with_context,
};
use crate::core::{Core, Principal};
use crate::crypto::{new_client_secret, sha256_hex};
use crate::dates::{fmt_secs, parse_time};
use crate::http::{Req, empty, graph_err_details, graph_json, is_guid};
use crate::model::{PasswordCredential, State};

pub(super) fn password_json(pc: &PasswordCredential, secret: Option<&str>) -> Value {
    json!({
        "customKeyIdentifier": null,
        "displayName": pc.display_name,
        "endDateTime": fmt_secs(pc.end),
        "hint": pc.hint,
        "keyId": pc.key_id,
        "secretText": secret,
        "startDateTime": fmt_secs(pc.start),
    })
}

/// Make a password credential from an addPassword-style body, enforcing the tenant's policy.
pub(super) fn new_password(
    t: OffsetDateTime,
    req: &Req,
    state: &State,
    tenant_id: &str,
    spec: &Map<String, Value>,
) -> Result<(PasswordCredential, String), Response> {
    let time_field = |name: &str| -> Result<Option<OffsetDateTime>, Response> {
        match spec.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => parse_time(s).map(Some).ok_or_else(|| {
                bad(req, &format!("Invalid value specified for property '{name}' of resource 'PasswordCredential'."))
            }),
            Some(_) => Err(bad(req, &format!("Invalid value specified for property '{name}' of resource 'PasswordCredential'."))),
        }
    };
    let start = time_field("startDateTime")?.unwrap_or(t);
    let end = time_field("endDateTime")?
        .unwrap_or_else(|| start.saturating_add(time::Duration::days(730)));
    if end <= start {
        return Err(graph_err_details(
            req,
            StatusCode::BAD_REQUEST,
            "Request_BadRequest",
            "The end date of the credential must be later than its start date.",
            Some(
                json!([{"code": "InvalidKeyEndDate", "message": "End date must be later than start date.", "target": "EndDate"}]),
            ),
        ));
    }
    if let Some(max) = state
        .tenant(tenant_id)
        .and_then(|t| t.max_password_lifetime_days)
        && end - start > time::Duration::days(i64::from(max))
    {
        let msg = format!(
            "Credential lifetime exceeds the max value allowed as per assigned policy '00000000-0000-0000-0000-000000000000'. The maximum allowed lifetime is {max} days (P{max}D)."
        );
        return Err(graph_err_details(
            req,
            StatusCode::BAD_REQUEST,
            "CredentialInvalidLifetimeAsPerAppPolicy",
            &msg,
            Some(json!([{"code": "InvalidKeyEndDate", "message": msg, "target": "EndDate"}])),
        ));
    }
    let display_name = match spec.get("displayName") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            return Err(bad(
                req,
                "Invalid value specified for property 'displayName' of resource 'PasswordCredential'.",
            ));
        }
    };
    let (secret, hint) = new_client_secret();
    Ok((
        PasswordCredential {
            key_id: uuid::Uuid::new_v4().to_string(),
            display_name,
            hint,
            start,
            end,
            secret_sha256: sha256_hex(secret.as_bytes()),
            minted: Some(t),
            secret: None,
        },
        secret,
    ))
}

pub(super) fn add_password(core: &Core, req: &Req, p: &Principal, k: &Key) -> R {
    need(req, p, APP_WRITE_ROLES)?;
    check_key(req, k)?;
    let body = if req.body.iter().all(u8::is_ascii_whitespace) {
        Map::new()
    } else {
        obj_body(req)?
    };
    let spec = match body.get("passwordCredential") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(o)) => o.clone(),
        Some(_) => {
            return Err(bad(
                req,
                "Invalid value specified for property 'passwordCredential'.",
            ));
        }
    };
    let mut state = core.state();
    let idx = app_to_write(core, req, &state, &p.tenant_id, k)?;
    may_write_app(req, p, &state.applications[idx])?;
    let (cred, secret) = new_password(core.now(), req, &state, &p.tenant_id, &spec)?;
    let mut grown = state.applications[idx].clone();
    grown.password_credentials.push(cred.clone());
    check_manifest(req, &grown)?;
    let v = with_context(
        password_json(&cred, Some(&secret)),
        format!(
            "{}/$metadata#microsoft.graph.passwordCredential",
            base(core, req)
        ),
    );
    state.applications[idx].password_credentials.push(cred);
    Ok(graph_json(StatusCode::OK, &v))
}

pub(super) fn remove_password(core: &Core, req: &Req, p: &Principal, k: &Key) -> R {
    need(req, p, APP_WRITE_ROLES)?;
    check_key(req, k)?;
    let body = obj_body(req)?;
    let key_id = body
        .get("keyId")
        .and_then(Value::as_str)
        .filter(|s| is_guid(s))
        .ok_or_else(|| {
            bad(
                req,
                "Invalid value specified for property 'keyId' of resource 'PasswordCredential'.",
            )
        })?
        .to_string();
    let mut state = core.state();
    let idx = app_to_write(core, req, &state, &p.tenant_id, k)?;
    may_write_app(req, p, &state.applications[idx])?;
    let creds = &mut state.applications[idx].password_credentials;
    let before = creds.len();
    creds.retain(|c| !c.key_id.eq_ignore_ascii_case(&key_id));
    if creds.len() == before {
        return Err(bad(
            req,
            &format!("No password credential found with keyId '{key_id}'."),
        ));
    }
    Ok(empty(StatusCode::NO_CONTENT))
}
