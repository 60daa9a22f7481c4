//! `Microsoft.Authorization` at any scope: the router for its resource types, and role
//! definitions.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use super::checks::check_scope;
use super::role_assignments::{
    delete_role_assignment, get_role_assignment, list_role_assignments, put_role_assignment,
};
use super::{R, lc, not_allowed};
use crate::core::{Core, Principal};
use crate::http::{Req, arm_err, json};
use crate::model::RoleDefinition;

pub(super) fn authorization(
    core: &Core,
    req: &Req,
    p: &Principal,
    scope: &str,
    ext: &[String],
) -> R {
    let l: Vec<String> = ext.iter().map(|s| lc(s)).collect();
    let l: Vec<&str> = l.iter().map(String::as_str).collect();
    match (l.as_slice(), &req.method) {
        (["roledefinitions"], &Method::GET) => list_role_definitions(core, req, p, scope),
        (["roledefinitions", _], &Method::GET) => get_role_definition(core, p, scope, &ext[1]),
        (["roleassignments"], &Method::GET) => list_role_assignments(core, req, p, scope),
        (["roleassignments", _], &Method::GET) => get_role_assignment(core, p, scope, &ext[1]),
        (["roleassignments", _], &Method::PUT) => put_role_assignment(core, req, p, scope, &ext[1]),
        (["roleassignments", _], &Method::DELETE) => {
            delete_role_assignment(core, p, scope, &ext[1])
        }
        (["roledefinitions" | "roleassignments", ..] | [], _) => Err(not_allowed(req)),
        ([other, ..], _) => Err(arm_err(
            StatusCode::BAD_REQUEST,
            "InvalidResourceType",
            &format!(
                "The resource type '{other}' could not be found in the namespace 'Microsoft.Authorization' for api version '{}'.",
                req.q("api-version").unwrap_or_default()
            ),
        )),
    }
}

pub(super) fn role_def_json(rd: &RoleDefinition, sub: Option<&str>) -> Value {
    let id = match sub {
        Some(s) => format!(
            "/subscriptions/{s}/providers/Microsoft.Authorization/roleDefinitions/{}",
            rd.id
        ),
        None => format!(
            "/providers/Microsoft.Authorization/roleDefinitions/{}",
            rd.id
        ),
    };
    json!({
        "properties": {
            "roleName": rd.role_name,
            "type": rd.role_type,
            "description": rd.description,
            "assignableScopes": rd.assignable_scopes,
            "permissions": [{
                "actions": rd.actions,
                "notActions": rd.not_actions,
                "dataActions": rd.data_actions,
                "notDataActions": rd.not_data_actions,
            }],
            "createdOn": "2015-02-02T21:55:09.8806423Z",
            "updatedOn": "2024-01-01T00:00:00.0000000Z",
            "createdBy": null,
            "updatedBy": null,
        },
        "id": id,
        "type": "Microsoft.Authorization/roleDefinitions",
        "name": rd.id,
    })
}

pub(super) fn list_role_definitions(core: &Core, req: &Req, p: &Principal, scope: &str) -> R {
    let state = core.state();
    let sub = check_scope(&state, p, scope)?;
    let mut name_filter: Option<String> = None;
    let mut type_filter: Option<String> = None;
    if let Some(f) = req.q("$filter") {
        for clause in f.split(" and ") {
            let c = clause.trim();
            let parse = |prefix: &str| {
                c.strip_prefix(prefix)
                    .map(str::trim)
                    .and_then(|v| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                    .map(|v| v.replace("''", "'"))
            };
            if let Some(v) = parse("roleName eq") {
                name_filter = Some(v);
            } else if let Some(v) = parse("type eq") {
                type_filter = Some(v);
            } else {
                return Err(arm_err(
                    StatusCode::BAD_REQUEST,
                    "InvalidFilterInQueryString",
                    &format!("Invalid $filter '{f}' specified in the query string."),
                ));
            }
        }
    }
    let value: Vec<Value> = state
        .role_definitions
        .iter()
        .filter(|d| {
            name_filter
                .as_ref()
                .is_none_or(|n| d.role_name.eq_ignore_ascii_case(n))
        })
        .filter(|d| {
            type_filter
                .as_ref()
                .is_none_or(|t| d.role_type.eq_ignore_ascii_case(t))
        })
        .map(|d| role_def_json(d, sub.as_deref()))
        .collect();
    Ok(json(StatusCode::OK, &json!({"value": value})))
}

pub(super) fn get_role_definition(core: &Core, p: &Principal, scope: &str, id: &str) -> R {
    let state = core.state();
    let sub = check_scope(&state, p, scope)?;
    let rd = state.role_definition(id).ok_or_else(|| {
        arm_err(
            StatusCode::NOT_FOUND,
            "RoleDefinitionDoesNotExist",
            &format!("The specified role definition with ID '{id}' does not exist."),
        )
    })?;
    Ok(json(StatusCode::OK, &role_def_json(rd, sub.as_deref())))
}
