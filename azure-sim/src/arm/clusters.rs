//! `Microsoft.ContainerService/managedClusters`: the cluster, the service-principal reset and
//! its async operation.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::checks::{authorize, check_scope, check_sub, resource_not_found};
use super::{R, json_object};
use crate::behaviour::AksErrorShape;
use crate::core::{Core, Principal};
use crate::crypto::{digest_eq, sha256_hex};
use crate::http::{Req, arm_err, empty, json, set_header};
use crate::model::{Cluster, Operation, State, fmt_ticks, now};

pub(super) fn cluster_json(state: &State, c: &Cluster) -> Value {
    let subnet = state
        .resources
        .iter()
        .find(|r| {
            r.id.to_ascii_lowercase().contains("/subnets/")
                && r.id.to_ascii_lowercase().starts_with(&format!(
                    "/subscriptions/{}/",
                    c.subscription_id.to_ascii_lowercase()
                ))
        })
        .map(|r| r.id.clone());
    let dns = format!("{}-dns", c.name);
    let etag = &sha256_hex(
        format!(
            "{}{}{}",
            c.id, c.service_principal_client_id, c.provisioning_state
        )
        .as_bytes(),
    )[..8];
    let mut pool = json!({
        "name": "nodepool1",
        "availabilityZones": ["1", "2", "3"],
        "count": 3,
        "currentOrchestratorVersion": c.kubernetes_version,
        "eTag": etag,
        "maxPods": 110,
        "nodeImageVersion": "AKSUbuntu-2204gen2containerd-202501.12.0",
        "orchestratorVersion": c.kubernetes_version,
        "osType": "Linux",
        "provisioningState": c.provisioning_state,
        "upgradeSettings": {"maxSurge": "33%"},
        "vmSize": "Standard_DS2_v2",
    });
    if let Some(s) = &subnet {
        pool["vnetSubnetID"] = json!(s);
    }
    let mut v = json!({
        "name": c.name,
        "type": "Microsoft.ContainerService/managedClusters",
        "eTag": etag,
        "id": c.id,
        "location": c.location,
        "properties": {
            "agentPoolProfiles": [pool],
            "azurePortalFQDN": format!("{dns}-portal.hcp.{}.azmk8s.io", c.location),
            "currentKubernetesVersion": c.kubernetes_version,
            "diskEncryptionSetID": null,
            "dnsPrefix": dns,
            "enableRBAC": true,
            "fqdn": format!("{dns}.hcp.{}.azmk8s.io", c.location),
            "kubernetesVersion": c.kubernetes_version,
            "linuxProfile": {"adminUsername": "azureuser", "ssh": {"publicKeys": [{"keyData": "ssh-rsa AAAAB3NzaC1yc2E simulated"}]}},
            "maxAgentPools": 100,
            "networkProfile": {
                "dnsServiceIP": "10.0.0.10",
                "ipFamilies": ["IPv4"],
                "loadBalancerProfile": {
                    "allocatedOutboundPorts": 0,
                    "effectiveOutboundIPs": [{"id": format!("/subscriptions/{}/resourceGroups/MC_{}_{}_{}/providers/Microsoft.Network/publicIPAddresses/outbound-ip", c.subscription_id, c.resource_group, c.name, c.location)}],
                    "idleTimeoutInMinutes": 30,
                    "outboundIPs": {"publicIPs": []},
                },
                "loadBalancerSku": "standard",
                "networkPlugin": if subnet.is_some() { "azure" } else { "kubenet" },
                "outboundType": "loadBalancer",
                "podCidr": "10.244.0.0/16",
                "podCidrs": ["10.244.0.0/16"],
                "serviceCidr": "10.0.0.0/16",
                "serviceCidrs": ["10.0.0.0/16"],
            },
            "nodeResourceGroup": format!("MC_{}_{}_{}", c.resource_group, c.name, c.location),
            "provisioningState": c.provisioning_state,
            "servicePrincipalProfile": {"clientId": c.service_principal_client_id},
            "upgradeSettings": {"overrideSettings": {"forceUpgrade": false, "until": null}},
        },
        "tags": c.tags,
    });
    if let Some(id) = &c.identity {
        v["identity"] =
            json!({"type": id.kind, "principalId": id.principal_id, "tenantId": id.tenant_id});
    }
    crate::kube::cluster_properties(&c.kube, &mut v);
    v
}

/// An error of the AKS resource provider itself, in the shape the scenario sets (the AKS RP
/// answers `{"code","message"}` at the top level; ARM's common shape wraps it in `error`).
pub(super) fn aks_err(state: &State, status: StatusCode, code: &str, message: &str) -> Response {
    match state.behaviour.aks_error_shape {
        AksErrorShape::Wrapped => arm_err(status, code, message),
        AksErrorShape::TopLevel => json(status, &json!({"code": code, "message": message})),
    }
}

/// The cluster `id`, after the checks every cluster request passes, in AKS's order: the
/// caller may do `action` on it, may see its resource group, and it exists.
fn find_cluster<'s>(
    req: &Req,
    p: &Principal,
    state: &'s State,
    id: &str,
    action: &str,
) -> Result<&'s Cluster, Response> {
    let segs = &req.segs;
    authorize(state, p, id, action)?;
    check_scope(
        state,
        p,
        &format!("/subscriptions/{}/resourceGroups/{}", segs[1], segs[3]),
    )?;
    state
        .clusters
        .iter()
        .find(|c| c.id.eq_ignore_ascii_case(id))
        .ok_or_else(|| resource_not_found(&segs[5], &[&segs[6], &segs[7]], &segs[3]))
}

/// `GET .../managedClusters/{name}`.
pub(super) fn get_cluster(req: &Req, p: &Principal, state: &State, id: &str) -> R {
    let c = find_cluster(
        req,
        p,
        state,
        id,
        "Microsoft.ContainerService/managedClusters/read",
    )?;
    Ok(json(StatusCode::OK, &cluster_json(state, c)))
}

/// `POST .../managedClusters/{name}/resetServicePrincipalProfile`: AKS checks a reset in one
/// fixed order (permission, scope, cluster, body, credential), then starts the operation.
pub(super) fn reset(core: &Core, req: &Req, p: &Principal, state: &mut State, id: &str) -> R {
    let cluster = find_cluster(
        req,
        p,
        state,
        id,
        "Microsoft.ContainerService/managedClusters/resetServicePrincipalProfile/action",
    )?
    .clone();
    let body = json_object(req)?;
    let (client_id, secret) = reset_body(state, &cluster, &body)?;
    validate_sp_credentials(state, &cluster, &client_id, &secret)?;
    Ok(start_reset(core, state, &cluster, client_id, &secret))
}

/// The new client id and secret of a reset body, checked as AKS checks them.
fn reset_body(
    state: &State,
    cluster: &Cluster,
    body: &serde_json::Map<String, Value>,
) -> Result<(String, String), Response> {
    let client_id = body
        .get("clientId")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if client_id.is_empty() {
        return Err(aks_err(
            state,
            StatusCode::BAD_REQUEST,
            "InvalidParameter",
            "Required parameter servicePrincipalProfile.clientId is missing (null).",
        ));
    }
    if cluster
        .service_principal_client_id
        .eq_ignore_ascii_case("msi")
        || cluster.identity.is_some()
    {
        return Err(aks_err(
            state,
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "This action cannot be performed on a cluster that is not using a service principal",
        ));
    }
    let busy = !matches!(
        cluster.provisioning_state.as_str(),
        "Succeeded" | "Failed" | "Canceled"
    );
    if busy || state.running_operation(&cluster.id).is_some() {
        let doing = if busy {
            cluster.provisioning_state.as_str()
        } else {
            "Updating"
        };
        return Err(aks_err(
            state,
            StatusCode::CONFLICT,
            "OperationNotAllowed",
            &format!(
                "Operation is not allowed: Another operation ({doing}) is in progress, please wait for it to finish before starting a new operation. See https://aka.ms/aks-pending-operation for more details"
            ),
        ));
    }
    let Some(secret) = body
        .get("secret")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    else {
        return Err(aks_err(
            state,
            StatusCode::BAD_REQUEST,
            "InvalidParameter",
            "Required parameter servicePrincipalProfile.secret is missing (null).",
        ));
    };
    if secret.len() > 190 {
        return Err(aks_err(
            state,
            StatusCode::BAD_REQUEST,
            "InvalidParameter",
            &format!(
                "The value of parameter servicePrincipalProfile.secret is invalid: the secret is {} bytes long; it must not be longer than 190 bytes.",
                secret.len()
            ),
        ));
    }
    Ok((client_id, secret.to_string()))
}

/// Record the reset's operation (its outcome taken from the fault plan), mark the cluster
/// `Updating` and answer 202 with the operation's URLs.
fn start_reset(
    core: &Core,
    state: &mut State,
    cluster: &Cluster,
    client_id: String,
    secret: &str,
) -> Response {
    let outcome = crate::faults::take_operation_outcome(core);
    let op_id = uuid::Uuid::new_v4().to_string();
    let loc = cluster.location.clone();
    let (final_status, fault_code, fault_message) = match &outcome {
        Some(o) => (o.status.clone(), o.code.clone(), o.message.clone()),
        None => ("Succeeded".to_string(), None, None),
    };
    let (error_code, error_message) =
        match final_status.as_str() {
            "Failed" => (
                Some(fault_code.unwrap_or_else(|| "InternalOperationError".into())),
                Some(fault_message.unwrap_or_else(|| {
                    "Resetting the service principal profile failed (injected by azure-sim).".into()
                })),
            ),
            "Canceled" => (
                Some(fault_code.unwrap_or_else(|| "OperationCanceled".into())),
                Some(fault_message.unwrap_or_else(|| {
                    "The operation was canceled (injected by azure-sim).".into()
                })),
            ),
            _ => (None, None),
        };
    state.operations.push(Operation {
        id: op_id.clone(),
        cluster_id: cluster.id.clone(),
        subscription_id: cluster.subscription_id.clone(),
        location: loc.clone(),
        started_at: now(),
        duration_ms: core.lro_duration.as_millis() as u64,
        outcome: final_status,
        error_code,
        error_message,
        new_client_id: client_id,
        new_secret_sha256: Some(sha256_hex(secret.as_bytes())),
        status: "InProgress".into(),
        ended_at: None,
    });
    if let Some(c) = state
        .clusters
        .iter_mut()
        .find(|c| c.id.eq_ignore_ascii_case(&cluster.id))
    {
        "Updating".clone_into(&mut c.provisioning_state);
    }
    let base = format!(
        "{}/subscriptions/{}/providers/Microsoft.ContainerService/locations/{loc}",
        core.cloud.arm_url(),
        cluster.subscription_id
    );
    let mut r = empty(StatusCode::ACCEPTED);
    set_header(
        &mut r,
        "azure-asyncoperation",
        &format!("{base}/operations/{op_id}?api-version=2016-03-30"),
    );
    set_header(
        &mut r,
        "location",
        &format!("{base}/operationresults/{op_id}?api-version=2016-03-30"),
    );
    set_header(
        &mut r,
        "retry-after",
        &retry_after(core.lro_duration.as_secs_f64(), false).to_string(),
    );
    r
}

/// AKS checks the new credential before accepting a reset.
pub(super) fn validate_sp_credentials(
    state: &State,
    cluster: &Cluster,
    client_id: &str,
    secret: &str,
) -> Result<(), Response> {
    let not_found = || {
        aks_err(
            state,
            StatusCode::BAD_REQUEST,
            "ServicePrincipalValidationClientError",
            &format!(
                "Service principal clientID: {client_id} not found in Active Directory tenant {}, Please see https://aka.ms/aks-sp-help for more details.",
                cluster.tenant_id
            ),
        )
    };
    let app = state.app_by_app_id(client_id).ok_or_else(not_found)?;
    state
        .sp_in_tenant(client_id, &cluster.tenant_id)
        .ok_or_else(not_found)?;
    let h = sha256_hex(secret.as_bytes());
    let t = now();
    if !app.password_credentials.iter().any(|p| {
        digest_eq(&p.secret_sha256, &h) && p.usable(t, state.behaviour.secret_propagation())
    }) {
        return Err(aks_err(
            state,
            StatusCode::BAD_REQUEST,
            "ServicePrincipalValidationClientError",
            &format!(
                "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'."
            ),
        ));
    }
    Ok(())
}

/// Seconds to wait before polling again: at least 1, at most the time left, capped at 10.
pub(super) fn retry_after(remaining_secs: f64, hang: bool) -> u64 {
    if hang {
        return 5;
    }
    (remaining_secs.floor() as u64).clamp(1, 10)
}

pub(super) fn operation(core: &Core, p: &Principal, sub: &str, op_id: &str, result: bool) -> R {
    let state = core.state();
    check_sub(&state, p, sub)?;
    let op = state
        .operations
        .iter()
        .find(|o| o.id.eq_ignore_ascii_case(op_id) && o.subscription_id.eq_ignore_ascii_case(sub))
        .ok_or_else(|| {
            arm_err(
                StatusCode::NOT_FOUND,
                "NotFound",
                &format!("The operation '{op_id}' could not be found."),
            )
        })?;
    let error = || json!({"code": op.error_code, "message": op.error_message});
    if result {
        return Ok(match op.status.as_str() {
            "InProgress" => {
                let mut r = empty(StatusCode::ACCEPTED);
                let base = format!(
                    "{}/subscriptions/{}/providers/Microsoft.ContainerService/locations/{}",
                    core.cloud.arm_url(),
                    op.subscription_id,
                    op.location
                );
                set_header(
                    &mut r,
                    "location",
                    &format!("{base}/operationresults/{}?api-version=2016-03-30", op.id),
                );
                set_header(&mut r, "retry-after", &remaining(op).to_string());
                r
            }
            "Succeeded" => empty(StatusCode::NO_CONTENT),
            "Canceled" => json(StatusCode::CONFLICT, &json!({"error": error()})),
            _ => json(StatusCode::BAD_REQUEST, &json!({"error": error()})),
        });
    }
    let mut v = json!({
        "name": op.id,
        "status": op.status,
        "startTime": fmt_ticks(op.started_at),
    });
    if let Some(e) = op.ended_at {
        v["endTime"] = json!(fmt_ticks(e));
    }
    if op.status == "Failed" || op.status == "Canceled" {
        v["error"] = error();
    }
    let mut r = json(StatusCode::OK, &v);
    if op.status == "InProgress" {
        set_header(&mut r, "retry-after", &remaining(op).to_string());
    }
    Ok(r)
}

pub(super) fn remaining(op: &Operation) -> u64 {
    let ends = op.started_at.saturating_add(time::Duration::milliseconds(
        i64::try_from(op.duration_ms).unwrap_or(i64::MAX),
    ));
    retry_after((ends - now()).as_seconds_f64(), op.outcome == "Hang")
}

/// `PATCH .../managedClusters/{name}` (`ManagedClusters_UpdateTags`): replaces the cluster's
/// tags with the body's `tags` and answers 200 with the cluster.
///
/// Sources: the AKS REST spec, `stable/2025-10-01/examples/ManagedClustersUpdateTags.json`
/// (Azure/azure-rest-api-specs: a `TagsObject` body, 200 with the cluster; the SDKs treat it
/// as a long-running operation, and AKS answers 200 when no node change is needed); the
/// tag limits in learn.microsoft.com/azure/azure-resource-manager/management/tag-resources
/// (50 tags, names of at most 512 and values of at most 256 characters, no `<>%&\?/` in a
/// name, writing tags needs the resource type's write action). Like any other AKS write it
/// is refused while another operation runs on the cluster.
pub(super) fn update_tags(req: &Req, p: &Principal, state: &mut State, id: &str) -> R {
    let segs = &req.segs;
    let cluster = find_cluster(
        req,
        p,
        state,
        id,
        "Microsoft.ContainerService/managedClusters/write",
    )?
    .clone();
    let body = json_object(req)?;
    let tags = parse_tags(body.get("tags"))?;
    let busy = !matches!(
        cluster.provisioning_state.as_str(),
        "Succeeded" | "Failed" | "Canceled"
    );
    if busy || state.running_operation(&cluster.id).is_some() {
        return Err(aks_err(
            state,
            StatusCode::CONFLICT,
            "OperationNotAllowed",
            "Operation is not allowed: Another operation (Updating) is in progress, please wait for it to finish before starting a new operation. See https://aka.ms/aks-pending-operation for more details",
        ));
    }
    let c = state
        .clusters
        .iter_mut()
        .find(|c| c.id.eq_ignore_ascii_case(id))
        .ok_or_else(|| resource_not_found(&segs[5], &[&segs[6], &segs[7]], &segs[3]))?;
    c.tags = tags;
    let c = c.clone();
    Ok(json(StatusCode::OK, &cluster_json(state, &c)))
}

/// A `TagsObject`'s `tags`, checked against ARM's tag limits.
fn parse_tags(v: Option<&Value>) -> Result<std::collections::BTreeMap<String, String>, Response> {
    let bad = |code: &str, m: &str| arm_err(StatusCode::BAD_REQUEST, code, m);
    let mut out = std::collections::BTreeMap::new();
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(out);
    };
    let Some(map) = v.as_object() else {
        return Err(bad(
            "InvalidRequestContent",
            "The request content was invalid and could not be deserialized: 'tags' must be an object.",
        ));
    };
    if map.len() > 50 {
        return Err(bad(
            "InvalidTag",
            "The resource has more than 50 tags; a resource can have at most 50 tag name/value pairs.",
        ));
    }
    for (k, val) in map {
        let Some(val) = val.as_str() else {
            return Err(bad(
                "InvalidRequestContent",
                &format!(
                    "The request content was invalid and could not be deserialized: the value of tag '{k}' must be a string."
                ),
            ));
        };
        if k.is_empty() || k.chars().any(|c| "<>%&\\?/".contains(c) || c.is_control()) {
            return Err(bad(
                "InvalidTagNameCharacters",
                &format!(
                    "The tag names '{k}' have reserved characters '<,>,%,&,\\,?,/' or control characters."
                ),
            ));
        }
        if k.chars().count() > 512 || val.chars().count() > 256 {
            return Err(bad(
                "InvalidTag",
                &format!(
                    "The tag '{k}' is too long: a tag name has at most 512 characters and a value at most 256."
                ),
            ));
        }
        out.insert(k.clone(), val.to_owned());
    }
    Ok(out)
}
