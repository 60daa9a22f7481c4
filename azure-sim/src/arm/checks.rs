//! Checks every ARM handler shares: subscription, scope, permission, namespace.

use axum::http::StatusCode;
use axum::response::Response;

use super::{KNOWN_NAMESPACES, lc};
use crate::core::Principal;
use crate::http::{Req, arm_err, is_guid};
use crate::model::{State, Subscription};
use crate::rbac::allows;

/// The subscription, if it exists and belongs to the caller's tenant.
pub(super) fn check_sub<'a>(
    state: &'a State,
    p: &Principal,
    sub: &str,
) -> Result<&'a Subscription, Response> {
    if !is_guid(sub) {
        return Err(arm_err(
            StatusCode::BAD_REQUEST,
            "InvalidSubscriptionId",
            &format!("The provided subscription identifier '{sub}' is malformed or invalid."),
        ));
    }
    let s = state.subscription(sub).ok_or_else(|| {
        arm_err(
            StatusCode::NOT_FOUND,
            "SubscriptionNotFound",
            &format!("The subscription '{sub}' could not be found."),
        )
    })?;
    if !s.tenant_id.eq_ignore_ascii_case(&p.tenant_id) {
        return Err(arm_err(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationTokenTenant",
            &format!(
                "The access token is from the wrong issuer 'https://sts.windows.net/{}/'. It must match the tenant 'https://sts.windows.net/{}/' associated with this subscription. Please use the authority (URL) 'https://login.windows.net/{}' to get the token. Note, if the subscription is transferred to another tenant there is no impact to the services, but information about new tenant could take time to propagate (up to an hour). If you just transferred your subscription and see this error message, please try back later.",
                p.tenant_id, s.tenant_id, s.tenant_id
            ),
        ));
    }
    Ok(s)
}

pub(super) fn authorize(
    state: &State,
    p: &Principal,
    scope: &str,
    action: &str,
) -> Result<(), Response> {
    if allows(state, &p.oid, scope, action) {
        Ok(())
    } else {
        Err(arm_err(
            StatusCode::FORBIDDEN,
            "AuthorizationFailed",
            &format!(
                "The client '{}' with object id '{}' does not have authorization to perform action '{action}' over scope '{scope}' or the scope is invalid. If access was recently granted, please refresh your credentials.",
                p.app_id, p.oid
            ),
        ))
    }
}

/// Check that an ARM scope exists and is the caller's; returns the subscription id (if any).
pub(super) fn check_scope(
    state: &State,
    p: &Principal,
    scope: &str,
) -> Result<Option<String>, Response> {
    if scope == "/" {
        return Ok(None);
    }
    let segs: Vec<&str> = scope.split('/').filter(|s| !s.is_empty()).collect();
    let invalid = || {
        arm_err(
            StatusCode::BAD_REQUEST,
            "InvalidResourceId",
            &format!("The scope '{scope}' is not a valid resource id."),
        )
    };
    if segs.len() < 2 || lc(segs[0]) != "subscriptions" {
        return Err(invalid());
    }
    let sub = check_sub(state, p, segs[1])?.clone();
    if segs.len() == 2 {
        return Ok(Some(sub.id));
    }
    if segs.len() < 4 || lc(segs[2]) != "resourcegroups" {
        return Err(invalid());
    }
    let rg = segs[3];
    if !sub
        .resource_groups
        .iter()
        .any(|g| g.name.eq_ignore_ascii_case(rg))
    {
        return Err(arm_err(
            StatusCode::NOT_FOUND,
            "ResourceGroupNotFound",
            &format!("Resource group '{rg}' could not be found."),
        ));
    }
    if segs.len() == 4 {
        return Ok(Some(sub.id));
    }
    if segs.len() < 8 || lc(segs[4]) != "providers" || !segs.len().is_multiple_of(2) {
        return Err(invalid());
    }
    let exists = state
        .registries
        .iter()
        .any(|r| r.id.eq_ignore_ascii_case(scope))
        || state
            .clusters
            .iter()
            .any(|c| c.id.eq_ignore_ascii_case(scope))
        || state
            .resources
            .iter()
            .any(|r| r.id.eq_ignore_ascii_case(scope));
    if !exists {
        return Err(resource_not_found(segs[5], &segs[6..], rg));
    }
    Ok(Some(sub.id))
}

pub(super) fn resource_not_found(ns: &str, type_name: &[&str], rg: &str) -> Response {
    let (types, name): (Vec<&str>, &str) = {
        let n = type_name.last().copied().unwrap_or_default();
        let t: Vec<&str> = type_name.iter().step_by(2).copied().collect();
        (t, n)
    };
    arm_err(
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
        &format!(
            "The Resource '{ns}/{}/{name}' under resource group '{rg}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix",
            types.join("/")
        ),
    )
}

pub(super) fn namespace_check(
    req: &Req,
    ns: &str,
    ty: &str,
    known_types: &[&str],
) -> Result<(), Response> {
    if !KNOWN_NAMESPACES.contains(&ns) {
        return Err(arm_err(
            StatusCode::BAD_REQUEST,
            "InvalidResourceNamespace",
            &format!("The resource namespace '{ns}' is invalid."),
        ));
    }
    if !known_types.is_empty() && !known_types.contains(&ty) {
        return Err(arm_err(
            StatusCode::BAD_REQUEST,
            "InvalidResourceType",
            &format!(
                "The resource type '{ty}' could not be found in the namespace '{ns}' for api version '{}'.",
                req.q("api-version").unwrap_or_default()
            ),
        ));
    }
    Ok(())
}
