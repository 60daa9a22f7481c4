//! `/directory/deletedItems/{id}` and `/organization`.

use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::applications::app_json;
use super::{
    R, READ_ROLES, WRITE_ROLES, bad, base, method_not_allowed, need, not_found, with_context,
};
use crate::core::{Core, Principal};
use crate::http::{Req, empty, graph_json, is_guid};

pub(super) fn deleted_item(core: &Core, req: &Req, p: &Principal, id: &str) -> R {
    if !is_guid(id) {
        return Err(bad(req, &format!("Invalid object identifier '{id}'.")));
    }
    let mut state = core.state();
    let pos = state
        .deleted_applications
        .iter()
        .position(|a| {
            a.id.eq_ignore_ascii_case(id) && a.tenant_id.eq_ignore_ascii_case(&p.tenant_id)
        })
        .ok_or_else(|| not_found(req, id))?;
    match req.method {
        Method::GET => {
            need(req, p, READ_ROLES)?;
            let v = with_context(
                app_json(&state, &state.deleted_applications[pos]),
                format!("{}/$metadata#directoryObjects/$entity", base(core, req)),
            );
            let mut v = v;
            v["@odata.type"] = json!("#microsoft.graph.application");
            Ok(graph_json(StatusCode::OK, &v))
        }
        Method::DELETE => {
            need(req, p, WRITE_ROLES)?;
            state.deleted_applications.remove(pos);
            Ok(empty(StatusCode::NO_CONTENT))
        }
        _ => Err(method_not_allowed(req)),
    }
}

pub(super) fn organization(core: &Core, req: &Req, p: &Principal) -> Response {
    let state = core.state();
    let value: Vec<Value> = state
        .tenant(&p.tenant_id)
        .map(|t| {
            json!({
                "id": t.id,
                "displayName": t.display_name,
                "tenantType": "AAD",
                "verifiedDomains": t.domains.iter().enumerate().map(|(i, d)| json!({
                    "capabilities": "Email, OfficeCommunicationsOnline",
                    "isDefault": i == 0,
                    "isInitial": i == 0,
                    "name": d,
                    "type": "Managed",
                })).collect::<Vec<_>>(),
            })
        })
        .into_iter()
        .collect();
    graph_json(
        StatusCode::OK,
        &json!({"@odata.context": format!("{}/$metadata#organization", base(core, req)), "value": value}),
    )
}
