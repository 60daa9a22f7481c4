//! A vault's secrets: set, get, list versions, update and soft-delete, answered in Key
//! Vault's shapes (`SecretBundle`, `SecretItem`, attributes in Unix seconds).

use std::collections::BTreeMap;

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::crypto::sha256_hex;
use crate::http::{Req, json as json_resp, kv_err};
use crate::model::vault::{SecretVersion, Vault, VaultSecret};

/// Key Vault's limit on a secret value (25 KB).
const MAX_VALUE: usize = 25 * 1024;
const MAX_RESULTS: usize = 25;

pub(super) fn get(
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
pub(super) fn delete(
    t: OffsetDateTime,
    s: &mut VaultSecret,
    base: &str,
    retention: u32,
) -> Response {
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

pub(super) fn live<'a>(
    vault: &'a Vault,
    pos: Option<usize>,
    name: &str,
    version: Option<&str>,
) -> Result<&'a VaultSecret, Response> {
    pos.map(|i| &vault.secrets[i])
        .filter(|s| s.deleted_at.is_none())
        .ok_or_else(|| not_found(name, version))
}

pub(super) fn live_mut<'a>(
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

pub(super) fn set(
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
pub(super) fn update(
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

pub(super) fn versions(
    req: &Req,
    api: &str,
    base: &str,
    s: &VaultSecret,
    retention: u32,
) -> Response {
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
