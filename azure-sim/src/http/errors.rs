//! Each service's error body: ARM's, Graph's, Entra's OAuth, a registry's, Key Vault's, and an injected
//! fault's in the shape of the service it hits.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;

use super::{Req, Service, json, json_with, set_header};
use crate::dates::fmt_secs;

/// ARM's error body: `{"error":{"code","message"}}`.
pub(crate) fn arm_err(status: StatusCode, code: &str, message: &str) -> Response {
    json(
        status,
        &json!({"error": {"code": code, "message": message}}),
    )
}

/// Graph's error body with `innerError`.
pub(crate) fn graph_err(req: &Req, status: StatusCode, code: &str, message: &str) -> Response {
    graph_err_details(req, status, code, message, None)
}

/// Graph's error body with `details`.
pub(crate) fn graph_err_details(
    req: &Req,
    status: StatusCode,
    code: &str,
    message: &str,
    details: Option<Value>,
) -> Response {
    let mut e = json!({
        "code": code,
        "message": message,
        "innerError": {
            "date": fmt_secs(req.at).trim_end_matches('Z'),
            "request-id": req.request_id,
            "client-request-id": req.client_request_id,
        }
    });
    if let Some(d) = details {
        e["details"] = d;
    }
    json_with(status, &json!({"error": e}), "application/json")
}

/// Entra's OAuth error body with an AADSTS code.
pub(crate) fn entra_err(
    req: &Req,
    status: StatusCode,
    error: &str,
    code: u32,
    text: &str,
) -> Response {
    let ts = req.at;
    let stamp = format!(
        "{} {}Z",
        ts.date(),
        fmt_secs(ts)
            .split('T')
            .nth(1)
            .unwrap_or("")
            .trim_end_matches('Z')
    );
    let trace = req.request_id.clone();
    let corr = req.correlation_id.clone();
    json(
        status,
        &json!({
            "error": error,
            "error_description": format!("AADSTS{code}: {text} Trace ID: {trace} Correlation ID: {corr} Timestamp: {stamp}"),
            "error_codes": [code],
            "timestamp": stamp,
            "trace_id": trace,
            "correlation_id": corr,
            "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
        }),
    )
}

/// A registry's (distribution spec) error body.
pub(crate) fn registry_err(
    status: StatusCode,
    code: &str,
    message: &str,
    detail: Value,
) -> Response {
    let mut e = serde_json::Map::new();
    e.insert("code".into(), Value::String(code.into()));
    e.insert("message".into(), Value::String(message.into()));
    e.insert("detail".into(), detail);
    json(status, &json!({"errors": [Value::Object(e)]}))
}

/// Key Vault's error body: `{"error":{"code","message","innererror"?}}`.
pub(crate) fn kv_err(
    status: StatusCode,
    code: &str,
    message: &str,
    inner: Option<&str>,
) -> Response {
    let mut e = json!({"code": code, "message": message});
    if let Some(i) = inner {
        e["innererror"] = json!({"code": i});
    }
    json(status, &json!({"error": e}))
}

/// The default error code for an injected status.
pub(crate) fn default_code(status: u16) -> &'static str {
    match status {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        408 => "RequestTimeout",
        409 => "Conflict",
        429 => "TooManyRequests",
        500 => "InternalServerError",
        502 => "BadGateway",
        503 => "ServiceUnavailable",
        504 => "GatewayTimeout",
        _ => "Fault",
    }
}

/// An error body in the shape of `service`, for an injected fault.
pub(crate) fn service_error(
    service: &Service,
    req: &Req,
    status: StatusCode,
    code: &str,
    message: &str,
) -> Response {
    match service {
        Service::Graph => graph_err(req, status, code, message),
        Service::Entra => {
            let mut r = json(
                status,
                &json!({
                    "error": code,
                    "error_description": message,
                    "error_codes": [],
                    "timestamp": fmt_secs(req.at),
                    "trace_id": req.request_id,
                    "correlation_id": req.correlation_id,
                }),
            );
            set_header(&mut r, "x-ms-request-id", &req.request_id);
            r
        }
        Service::Registry(_) => {
            registry_err(status, &code.to_ascii_uppercase(), message, Value::Null)
        }
        Service::KeyVault(_) => kv_err(status, code, message, None),
        Service::Arm | Service::Control => arm_err(status, code, message),
    }
}
