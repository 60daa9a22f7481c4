//! `Microsoft.ContainerService/managedClusters`: the cluster and its tags (the reset and its
//! operation are in `reset.rs`).

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::R;
use super::checks::{authorize, check_scope, resource_not_found};
use crate::behaviour::AksErrorShape;
use crate::core::Principal;
use crate::http::{Req, arm_err, json};
use crate::model::{Cluster, State, same_id};

/// The cluster as AKS shows it at the request's api-version (its `eTag` and its pools' only
/// from [`crate::api_versions::CLUSTER_ETAG_SINCE`] on).
pub(super) fn cluster_json(state: &State, req: &Req, c: &Cluster) -> Value {
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
    let etag = crate::api_versions::has_cluster_etag(req.q("api-version")).then(|| c.etag());
    let pools: Vec<Value> = c
        .agent_pools
        .iter()
        .map(|p| {
            let mut pool = json!({
                "name": p.name,
                "availabilityZones": ["1", "2", "3"],
                "count": p.count,
                "currentOrchestratorVersion": c.kubernetes_version,
                "maxPods": 110,
                "mode": p.mode,
                "nodeImageVersion": "AKSUbuntu-2204gen2containerd-202501.12.0",
                "orchestratorVersion": c.kubernetes_version,
                "osType": "Linux",
                "provisioningState": p.provisioning_state.as_ref().unwrap_or(&c.provisioning_state),
                "upgradeSettings": {"maxSurge": "33%"},
                "vmSize": p.vm_size,
            });
            if let Some(s) = &subnet {
                pool["vnetSubnetID"] = json!(s);
            }
            if let Some(e) = &etag {
                pool["eTag"] = json!(e);
            }
            pool
        })
        .collect();
    let mut v = json!({
        "name": c.name,
        "type": "Microsoft.ContainerService/managedClusters",
        "id": c.id,
        "location": c.location,
        "properties": {
            "agentPoolProfiles": pools,
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
    if let Some(e) = etag {
        v["eTag"] = json!(e);
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
pub(super) fn find_cluster<'s>(
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
        .find(|c| same_id(&c.id, id))
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
    Ok(json(StatusCode::OK, &cluster_json(state, req, c)))
}
