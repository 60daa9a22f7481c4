//! `Microsoft.Authorization/roleAssignments`: list, read, create (with ARM's checks), delete.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::checks::{authorize, check_scope};
use super::{R, json_object};
use crate::core::{Core, Principal};
use crate::dates::fmt_ticks;
use crate::http::{Req, arm_err, empty, is_guid, json};
use crate::model::{RoleAssignment, State};
use crate::rbac::{normalize_scope, scope_covers};

pub(super) fn ra_json(state: &State, ra: &RoleAssignment, fresh: bool) -> Value {
    let (sub, _, _) = crate::model::split_arm_id(&ra.scope);
    let rd_id = if sub.is_empty() {
        format!(
            "/providers/Microsoft.Authorization/roleDefinitions/{}",
            ra.role_definition_id
        )
    } else {
        format!(
            "/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{}",
            ra.role_definition_id
        )
    };
    let tenant = state
        .subscription(&sub)
        .map(|s| s.tenant_id.clone())
        .unwrap_or_default();
    let ptype = ra.principal_type.clone().unwrap_or_else(|| {
        if state.service_principals.iter().any(|s| {
            s.id.eq_ignore_ascii_case(&ra.principal_id) && s.tenant_id.eq_ignore_ascii_case(&tenant)
        }) {
            "ServicePrincipal".into()
        } else {
            "Unknown".into()
        }
    });
    json!({
        "properties": {
            "roleDefinitionId": rd_id,
            "principalId": ra.principal_id,
            "principalType": ptype,
            "scope": ra.scope,
            "condition": ra.condition,
            "conditionVersion": ra.condition_version,
            "createdOn": fmt_ticks(ra.created_at),
            "updatedOn": fmt_ticks(ra.updated_at),
            "createdBy": if fresh { None } else { ra.created_by.clone() },
            "updatedBy": ra.updated_by,
            "delegatedManagedIdentityResourceId": null,
            "description": ra.description,
        },
        "id": ra.arm_id(),
        "type": "Microsoft.Authorization/roleAssignments",
        "name": ra.name,
    })
}

enum PrincipalFilter {
    None,
    PrincipalId(String),
    AssignedTo(String),
}

fn parse_ra_filter(f: &str) -> Result<(bool, PrincipalFilter), Response> {
    let bad = || {
        arm_err(
            StatusCode::BAD_REQUEST,
            "InvalidFilterInQueryString",
            &format!("Invalid $filter '{f}' specified in the query string."),
        )
    };
    let mut at_scope = false;
    let mut pf = PrincipalFilter::None;
    for clause in f.split(" and ") {
        let c = clause.trim();
        let quoted = |s: &str| {
            let s = s.trim();
            s.strip_prefix('\'')
                .and_then(|v| v.strip_suffix('\''))
                .map(str::to_string)
        };
        if c.eq_ignore_ascii_case("atScope()") {
            at_scope = true;
        } else if let Some(v) = c.strip_prefix("principalId eq") {
            pf = PrincipalFilter::PrincipalId(quoted(v).ok_or_else(bad)?);
        } else if let Some(v) = c
            .strip_prefix("assignedTo(")
            .and_then(|v| v.strip_suffix(')'))
        {
            pf = PrincipalFilter::AssignedTo(quoted(v).ok_or_else(bad)?);
        } else {
            return Err(bad());
        }
    }
    Ok((at_scope, pf))
}

pub(super) fn list_role_assignments(core: &Core, req: &Req, p: &Principal, scope: &str) -> R {
    let state = core.state();
    check_scope(&state, p, scope)?;
    if scope != "/" {
        authorize(
            &state,
            p,
            scope,
            "Microsoft.Authorization/roleAssignments/read",
        )?;
    }
    let (at_scope, pf) = match req.q("$filter") {
        Some(f) if !f.trim().is_empty() => parse_ra_filter(f)?,
        _ => (false, PrincipalFilter::None),
    };
    let value: Vec<Value> = state
        .role_assignments
        .iter()
        .filter(|ra| {
            scope_covers(&ra.scope, scope) || (!at_scope && scope_covers(scope, &ra.scope))
        })
        .filter(|ra| match &pf {
            PrincipalFilter::None => true,
            PrincipalFilter::PrincipalId(id) | PrincipalFilter::AssignedTo(id) => {
                ra.principal_id.eq_ignore_ascii_case(id)
            }
        })
        .filter(|ra| {
            scope == "/"
                || crate::model::split_arm_id(&ra.scope)
                    .0
                    .eq_ignore_ascii_case(&crate::model::split_arm_id(scope).0)
        })
        .map(|ra| ra_json(&state, ra, false))
        .collect();
    Ok(json(StatusCode::OK, &json!({"value": value})))
}

pub(super) fn find_ra<'a>(state: &'a State, scope: &str, name: &str) -> Option<&'a RoleAssignment> {
    state.role_assignments.iter().find(|ra| {
        ra.name.eq_ignore_ascii_case(name) && normalize_scope(&ra.scope).eq_ignore_ascii_case(scope)
    })
}

pub(super) fn ra_not_found(name: &str) -> Response {
    arm_err(
        StatusCode::NOT_FOUND,
        "RoleAssignmentNotFound",
        &format!("The role assignment '{name}' is not found."),
    )
}

pub(super) fn get_role_assignment(core: &Core, p: &Principal, scope: &str, name: &str) -> R {
    let state = core.state();
    check_scope(&state, p, scope)?;
    authorize(
        &state,
        p,
        scope,
        "Microsoft.Authorization/roleAssignments/read",
    )?;
    let ra = find_ra(&state, scope, name).ok_or_else(|| ra_not_found(name))?;
    Ok(json(StatusCode::OK, &ra_json(&state, ra, false)))
}

pub(super) fn delete_role_assignment(core: &Core, p: &Principal, scope: &str, name: &str) -> R {
    let mut state = core.state();
    check_scope(&state, p, scope)?;
    authorize(
        &state,
        p,
        scope,
        "Microsoft.Authorization/roleAssignments/delete",
    )?;
    let Some(ra) = find_ra(&state, scope, name).cloned() else {
        return Ok(empty(StatusCode::NO_CONTENT));
    };
    let v = ra_json(&state, &ra, false);
    state
        .role_assignments
        .retain(|x| !(x.name == ra.name && x.scope == ra.scope));
    Ok(json(StatusCode::OK, &v))
}

/// The checked properties of a role-assignment body.
struct NewAssignment {
    rd_guid: String,
    principal_id: String,
    principal_type: Option<String>,
    condition: Option<String>,
    condition_version: Option<String>,
    description: Option<String>,
}

/// `PUT .../roleAssignments/{name}`: ARM validates a role assignment in one fixed order (scope,
/// permission, name, body, principal visibility, then the existing assignments).
pub(super) fn put_role_assignment(
    core: &Core,
    req: &Req,
    p: &Principal,
    scope: &str,
    name: &str,
) -> R {
    let mut state = core.state();
    let sub = check_scope(&state, p, scope)?;
    authorize(
        &state,
        p,
        scope,
        "Microsoft.Authorization/roleAssignments/write",
    )?;
    if !is_guid(name) {
        return Err(arm_err(
            StatusCode::BAD_REQUEST,
            "InvalidRoleAssignmentId",
            &format!(
                "The role assignment ID '{name}' is not valid. The role assignment ID must be a GUID."
            ),
        ));
    }
    let n = assignment_body(&state, req)?;
    let tenant = sub
        .as_deref()
        .and_then(|s| state.subscription(s))
        .map_or_else(|| p.tenant_id.clone(), |s| s.tenant_id.clone());
    if n.principal_type.is_none() {
        principal_visible(core, &state, &n.principal_id, &tenant)?;
    }
    if let Some(existing) = find_ra(&state, scope, name).cloned() {
        let same = existing.principal_id.eq_ignore_ascii_case(&n.principal_id)
            && existing.role_definition_id.eq_ignore_ascii_case(&n.rd_guid);
        if !same {
            return Err(arm_err(
                StatusCode::BAD_REQUEST,
                "RoleAssignmentUpdateNotPermitted",
                "Tenant ID, application ID, principal ID, and scope are not allowed to be updated.",
            ));
        }
        return Ok(json(StatusCode::CREATED, &ra_json(&state, &existing, true)));
    }
    if let Some(dup) = state.role_assignments.iter().find(|ra| {
        ra.principal_id.eq_ignore_ascii_case(&n.principal_id)
            && ra.role_definition_id.eq_ignore_ascii_case(&n.rd_guid)
            && normalize_scope(&ra.scope).eq_ignore_ascii_case(scope)
            && ra.condition == n.condition
    }) {
        return Err(arm_err(
            StatusCode::CONFLICT,
            "RoleAssignmentExists",
            &format!(
                "The role assignment already exists. The ID of the existing role assignment is {}.",
                dup.name.replace('-', "")
            ),
        ));
    }
    let t = core.now();
    let ra = RoleAssignment {
        name: name.to_ascii_lowercase(),
        scope: scope.to_string(),
        role_definition_id: n.rd_guid,
        principal_id: n.principal_id.to_ascii_lowercase(),
        principal_type: n.principal_type.or_else(|| Some("ServicePrincipal".into())),
        condition: n.condition,
        condition_version: n.condition_version,
        description: n.description,
        created_at: t,
        updated_at: t,
        created_by: Some(p.oid.clone()),
        updated_by: Some(p.oid.clone()),
    };
    let v = ra_json(&state, &ra, true);
    state.role_assignments.push(ra);
    Ok(json(StatusCode::CREATED, &v))
}

/// Without a `principalType`, ARM looks the principal up in the directory, where a new one may
/// not have replicated yet.
fn principal_visible(
    core: &Core,
    state: &State,
    principal_id: &str,
    tenant: &str,
) -> Result<(), Response> {
    let visible = state.service_principals.iter().any(|s| {
        s.id.eq_ignore_ascii_case(principal_id)
            && s.tenant_id.eq_ignore_ascii_case(tenant)
            && core.replicated(s.created_at)
    });
    if visible {
        return Ok(());
    }
    Err(arm_err(
        StatusCode::BAD_REQUEST,
        "PrincipalNotFound",
        &format!(
            "Principal {} does not exist in the directory {tenant}. Check that you have the correct principal ID. If you are creating this principal and then immediately assigning a role, this error might be related to a replication delay. In this case, set the role assignment principalType property to a value, such as ServicePrincipal, User, or Group.  See https://aka.ms/docs-principaltype",
            principal_id.replace('-', "")
        ),
    ))
}

/// The body's properties, each checked as ARM checks it.
fn assignment_body(state: &State, req: &Req) -> Result<NewAssignment, Response> {
    let body = json_object(req)?;
    let props = body
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let text = |k: &str| props.get(k).and_then(Value::as_str).map(str::to_string);
    let rd_full = text("roleDefinitionId").unwrap_or_default();
    let rd_guid = rd_full
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let rd_shape_ok = rd_full
        .to_ascii_lowercase()
        .contains("/providers/microsoft.authorization/roledefinitions/")
        && is_guid(&rd_guid);
    if !rd_shape_ok {
        return Err(arm_err(
            StatusCode::BAD_REQUEST,
            "InvalidRoleDefinitionId",
            &format!("The role definition ID '{rd_full}' is not valid."),
        ));
    }
    if state.role_definition(&rd_guid).is_none() {
        return Err(arm_err(
            StatusCode::BAD_REQUEST,
            "RoleDefinitionDoesNotExist",
            &format!("The specified role definition with ID '{rd_guid}' does not exist."),
        ));
    }
    let principal_id = text("principalId").unwrap_or_default();
    if !is_guid(&principal_id) {
        return Err(arm_err(
            StatusCode::BAD_REQUEST,
            "InvalidPrincipalId",
            "A valid principal ID must be provided for role assignment.",
        ));
    }
    let principal_type = text("principalType");
    if let Some(t) = &principal_type
        && ![
            "User",
            "Group",
            "ServicePrincipal",
            "ForeignGroup",
            "Device",
        ]
        .iter()
        .any(|x| x.eq_ignore_ascii_case(t))
    {
        return Err(arm_err(
            StatusCode::BAD_REQUEST,
            "InvalidPrincipalType",
            &format!("The principal type '{t}' is not valid."),
        ));
    }
    let condition = text("condition");
    let condition_version = text("conditionVersion");
    if condition.is_some() && condition_version.as_deref().is_some_and(|v| v != "2.0") {
        return Err(arm_err(
            StatusCode::BAD_REQUEST,
            "InvalidConditionVersion",
            "The condition version must be '2.0'.",
        ));
    }
    Ok(NewAssignment {
        rd_guid,
        principal_id,
        principal_type,
        condition,
        condition_version,
        description: text("description"),
    })
}
