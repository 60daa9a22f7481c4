//! Subscriptions, tenants and resource groups.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::R;
use super::checks::{authorize, check_sub};
use crate::core::{Core, Principal};
use crate::http::{arm_err, json};
use crate::model::Subscription;
use crate::rbac::{allows, has_any_role_near};

pub(super) fn sub_json(s: &Subscription) -> Value {
    json!({
        "id": format!("/subscriptions/{}", s.id),
        "authorizationSource": "RoleBased",
        "managedByTenants": [],
        "subscriptionId": s.id,
        "tenantId": s.tenant_id,
        "displayName": s.display_name,
        "state": "Enabled",
        "subscriptionPolicies": {"locationPlacementId": "Public_2014-09-01", "quotaId": "PayAsYouGo_2014-09-01", "spendingLimit": "Off"},
    })
}

pub(super) fn list_subscriptions(core: &Core, p: &Principal) -> Response {
    let state = core.state();
    let value: Vec<Value> = state
        .subscriptions
        .iter()
        .filter(|s| {
            s.tenant_id.eq_ignore_ascii_case(&p.tenant_id)
                && has_any_role_near(&state, &p.oid, &format!("/subscriptions/{}", s.id))
        })
        .map(sub_json)
        .collect();
    let n = value.len();
    json(
        StatusCode::OK,
        &json!({"value": value, "count": {"type": "Total", "value": n}}),
    )
}

pub(super) fn list_tenants(core: &Core, p: &Principal) -> Response {
    let state = core.state();
    let value: Vec<Value> = state
        .tenant(&p.tenant_id)
        .map(|t| {
            json!({
                "id": format!("/tenants/{}", t.id),
                "tenantId": t.id,
                "tenantCategory": "Home",
                "displayName": t.display_name,
                "defaultDomain": t.domains[0],
                "domains": t.domains,
            })
        })
        .into_iter()
        .collect();
    json(StatusCode::OK, &json!({"value": value}))
}

pub(super) fn get_subscription(core: &Core, p: &Principal, sub: &str) -> R {
    let state = core.state();
    let s = check_sub(&state, p, sub)?;
    let scope = format!("/subscriptions/{}", s.id);
    if !has_any_role_near(&state, &p.oid, &scope) {
        authorize(&state, p, &scope, "Microsoft.Resources/subscriptions/read")?;
    }
    Ok(json(StatusCode::OK, &sub_json(s)))
}

pub(super) fn resource_groups(core: &Core, p: &Principal, sub: &str, rg: Option<&str>) -> R {
    let state = core.state();
    let s = check_sub(&state, p, sub)?.clone();
    let rg_json = |name: &str, location: &str| {
        json!({
            "id": format!("/subscriptions/{}/resourceGroups/{name}", s.id),
            "name": name,
            "type": "Microsoft.Resources/resourceGroups",
            "location": location,
            "properties": {"provisioningState": "Succeeded"},
        })
    };
    if let Some(rg) = rg {
        let scope = format!("/subscriptions/{}/resourceGroups/{rg}", s.id);
        authorize(
            &state,
            p,
            &scope,
            "Microsoft.Resources/subscriptions/resourceGroups/read",
        )?;
        let g = s
            .resource_groups
            .iter()
            .find(|g| g.name.eq_ignore_ascii_case(rg))
            .ok_or_else(|| {
                arm_err(
                    StatusCode::NOT_FOUND,
                    "ResourceGroupNotFound",
                    &format!("Resource group '{rg}' could not be found."),
                )
            })?;
        return Ok(json(StatusCode::OK, &rg_json(&g.name, &g.location)));
    }
    let value: Vec<Value> = s
        .resource_groups
        .iter()
        .filter(|g| {
            allows(
                &state,
                &p.oid,
                &format!("/subscriptions/{}/resourceGroups/{}", s.id, g.name),
                "Microsoft.Resources/subscriptions/resourceGroups/read",
            )
        })
        .map(|g| rg_json(&g.name, &g.location))
        .collect();
    Ok(json(StatusCode::OK, &json!({"value": value})))
}
