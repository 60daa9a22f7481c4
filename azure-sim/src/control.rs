//! The control API under `/_sim/` (no authentication, not logged, no latency or faults):
//! state, request log, faults, environment, Azure's clock, and the pull truth endpoint.

use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use crate::core::Core;
use crate::faults;
use crate::http::{Req, empty, json as json_resp};
use crate::sync::lock;

fn err(status: StatusCode, code: &str, message: &str) -> Response {
    json_resp(
        status,
        &json!({"error": {"code": code, "message": message}}),
    )
}

/// The state as JSON (what `GET /_sim/state` returns).
pub(crate) fn state_json(core: &Core) -> Value {
    let mut state = core.state();
    state.azure_time = Some(core.now());
    serde_json::to_value(&*state).unwrap_or(Value::Null)
}

/// Some collections of the state, by name, as [`state_json`] has them (see `Sim::state_of`).
pub(crate) fn state_of(core: &Core, names: &[&str]) -> Value {
    let state = core.state();
    let mut out = serde_json::Map::new();
    for &name in names {
        let part = match name {
            "applications" => serde_json::to_value(&state.applications),
            "service_principals" => serde_json::to_value(&state.service_principals),
            "role_assignments" => serde_json::to_value(&state.role_assignments),
            "clusters" => serde_json::to_value(&state.clusters),
            "operations" => serde_json::to_value(&state.operations),
            "registries" => serde_json::to_value(&state.registries),
            _ => panic!(
                "state_of: {name:?} is not one of applications, service_principals, role_assignments, clusters, operations, registries"
            ),
        };
        out.insert(name.to_owned(), part.unwrap_or(Value::Null));
    }
    Value::Object(out)
}

/// Azure's clock: its time, its scale, and how far it was moved on.
fn clock_json(core: &Core) -> Value {
    json!({
        "now": crate::dates::fmt_ticks(core.now()),
        "time_scale": core.clock.scale(),
        "advanced_ms": u64::try_from(core.clock.advanced().as_millis()).unwrap_or(u64::MAX),
    })
}

/// `POST /_sim/clock/advance` with `{"by": "90s"}`: moves Azure's clock on.
fn advance(core: &Core, req: &Req) -> Response {
    let by = match req.json() {
        Ok(v) => v
            .get("by")
            .and_then(Value::as_str)
            .map(crate::parse_duration),
        Err(m) => return err(StatusCode::BAD_REQUEST, "InvalidJson", &m),
    };
    match by {
        Some(Ok(d)) => {
            core.clock.advance(d);
            json_resp(StatusCode::OK, &clock_json(core))
        }
        Some(Err(m)) => err(StatusCode::BAD_REQUEST, "InvalidDuration", &m),
        None => err(
            StatusCode::BAD_REQUEST,
            "MissingDuration",
            "the body must be {\"by\": \"<duration>\"}, e.g. {\"by\": \"1h\"}",
        ),
    }
}

/// Serve `/_sim/...`.
pub(crate) fn handle(core: &Core, req: &Req) -> Response {
    let segs: Vec<&str> = req.segs[1..].iter().map(String::as_str).collect();
    match (segs.as_slice(), &req.method) {
        (["state"], &Method::GET) => json_resp(StatusCode::OK, &state_json(core)),
        (["requests"], &Method::GET) => {
            json_resp(StatusCode::OK, &Value::Array(lock(&core.log).clone()))
        }
        (["requests"], &Method::DELETE) => {
            lock(&core.log).clear();
            empty(StatusCode::NO_CONTENT)
        }
        (["faults"], &Method::GET) => json_resp(
            StatusCode::OK,
            &serde_json::to_value(&*lock(&core.faults)).unwrap_or(Value::Null),
        ),
        (["faults"], &Method::POST) => match req.json() {
            Ok(v) => match faults::add(&core.faults, v) {
                Ok(n) => json_resp(StatusCode::CREATED, &json!({"added": n})),
                Err(m) => err(StatusCode::BAD_REQUEST, "InvalidFault", &m),
            },
            Err(m) => err(StatusCode::BAD_REQUEST, "InvalidJson", &m),
        },
        (["faults"], &Method::DELETE) => {
            lock(&core.faults).clear();
            empty(StatusCode::NO_CONTENT)
        }
        (["clock"], &Method::GET) => json_resp(StatusCode::OK, &clock_json(core)),
        (["clock", "advance"], &Method::POST) => advance(core, req),
        (["env"], &Method::GET) => json_resp(
            StatusCode::OK,
            &Value::Object(
                core.env
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect(),
            ),
        ),
        (["clusters", name, "pull"], &Method::GET) => {
            let Some(image) = req.q("image").filter(|i| !i.is_empty()) else {
                return err(
                    StatusCode::BAD_REQUEST,
                    "MissingImage",
                    "the 'image' query parameter is required",
                );
            };
            let (status, v) = crate::registry::pull(core, name, image);
            json_resp(status, &v)
        }
        _ => err(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("no control endpoint {} {}", req.method, req.path),
        ),
    }
}
