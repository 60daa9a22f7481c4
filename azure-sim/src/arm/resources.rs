//! Resource lists and reads under a subscription or resource group.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use super::checks::{authorize, check_scope, check_sub, namespace_check, resource_not_found};
use super::clusters::{cluster_json, get_cluster};
use super::registries::{get_registry, registry_json};
use super::reset::reset;
use super::tags::update_tags;
use super::{R, lc, not_allowed};
use crate::core::{Core, Principal};
use crate::http::{Req, arm_err, json};
use crate::model::State;
use crate::rbac::{allows, scope_covers};

pub(super) fn list_resources(
    core: &Core,
    req: &Req,
    p: &Principal,
    sub: &str,
    rg: Option<&str>,
    ns: &str,
    ty: &str,
) -> R {
    if req.method != Method::GET {
        return Err(not_allowed(req));
    }
    let state = core.state();
    let s = check_sub(&state, p, sub)?.clone();
    let scope = match rg {
        Some(g) => format!("/subscriptions/{}/resourceGroups/{g}", s.id),
        None => format!("/subscriptions/{}", s.id),
    };
    check_scope(&state, p, &scope)?;
    let in_scope = |id: &str| scope_covers(&scope, id);
    let value: Vec<Value> = match (ns, ty) {
        ("microsoft.containerregistry", "registries") => state
            .registries
            .iter()
            .filter(|r| {
                in_scope(&r.id)
                    && allows(
                        &state,
                        &p.oid,
                        &r.id,
                        "Microsoft.ContainerRegistry/registries/read",
                    )
            })
            .map(|r| registry_json(core, r))
            .collect(),
        ("microsoft.containerservice", "managedclusters") => state
            .clusters
            .iter()
            .filter(|c| {
                in_scope(&c.id)
                    && allows(
                        &state,
                        &p.oid,
                        &c.id,
                        "Microsoft.ContainerService/managedClusters/read",
                    )
            })
            .map(|c| cluster_json(&state, req, c))
            .collect(),
        _ => {
            namespace_check(req, ns, ty, &["registries", "managedclusters"])?;
            return Err(arm_err(
                StatusCode::BAD_REQUEST,
                "InvalidResourceType",
                &format!("The resource type '{ty}' could not be found in the namespace '{ns}'."),
            ));
        }
    };
    Ok(json(StatusCode::OK, &json!({"value": value})))
}

/// A resource under a resource group: the registry, the cluster (and its reset action), or
/// any other seeded resource read generically.
pub(super) fn resource(
    core: &Core,
    req: &Req,
    p: &Principal,
    ns: &str,
    ty: &str,
    rest: &[&str],
) -> R {
    let segs = &req.segs;
    let id_len = 8 + rest.len() - rest.len() % 2;
    let id = format!("/{}", segs[..id_len.min(segs.len())].join("/"));
    let action = (rest.len() % 2 == 1).then(|| lc(rest[rest.len() - 1]));
    let mut state = core.state();
    check_sub(&state, p, &segs[1])?;
    match (ns, ty, rest.len(), action.as_deref()) {
        ("microsoft.containerregistry", "registries", 0, None) if req.method == Method::GET => {
            get_registry(core, req, p, &state, &id)
        }
        ("microsoft.containerservice", "managedclusters", 0, None) if req.method == Method::GET => {
            get_cluster(req, p, &state, &id)
        }
        ("microsoft.containerservice", "managedclusters", 0, None)
            if req.method == Method::PATCH =>
        {
            update_tags(core, req, p, &mut state, &id)
        }
        (
            "microsoft.containerservice",
            "managedclusters",
            1,
            Some("resetserviceprincipalprofile"),
        ) if req.method == Method::POST => reset(core, req, p, &mut state, &id),
        ("microsoft.containerregistry", "registries", 0, None)
        | ("microsoft.containerservice", "managedclusters", 0, None)
        | (
            "microsoft.containerservice",
            "managedclusters",
            1,
            Some("resetserviceprincipalprofile"),
        ) => Err(not_allowed(req)),
        (_, _, _, None) if req.method == Method::GET => {
            namespace_check(req, ns, ty, &[])?;
            get_generic(req, p, &state, &id, id_len)
        }
        _ => {
            namespace_check(req, ns, ty, &[])?;
            Err(not_allowed(req))
        }
    }
}

/// A seeded resource of any other type (a subnet, say): its id, name, type and location.
fn get_generic(req: &Req, p: &Principal, state: &State, id: &str, id_len: usize) -> R {
    let segs = &req.segs;
    authorize(state, p, id, &format!("{}/{}/read", segs[5], segs[6]))?;
    check_scope(
        state,
        p,
        &format!("/subscriptions/{}/resourceGroups/{}", segs[1], segs[3]),
    )?;
    let r = state
        .resources
        .iter()
        .find(|r| r.id.eq_ignore_ascii_case(id))
        .ok_or_else(|| {
            let tn: Vec<&str> = segs[6..id_len].iter().map(String::as_str).collect();
            resource_not_found(&segs[5], &tn, &segs[3])
        })?;
    let types: Vec<&str> = segs[5..id_len]
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 2 == 1 || *i == 0)
        .map(|(_, s)| s.as_str())
        .collect();
    let mut properties = json!({"provisioningState": "Succeeded"});
    if let (Some(Value::Object(more)), Some(p)) = (&r.properties, properties.as_object_mut()) {
        p.extend(more.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    Ok(json(
        StatusCode::OK,
        &json!({
            "id": r.id,
            "name": r.id.rsplit('/').next(),
            "type": types.join("/"),
            "location": r.location,
            "properties": properties,
        }),
    ))
}
