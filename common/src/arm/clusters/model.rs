//! A managed cluster as ARM shows it — the GET and the listing share one shape (the recorded
//! `ManagedClustersGet` spec example) — and the api-versions of every call on one.
//!
//! Lenient to the fields it does not name (a cluster body has dozens); strict about those the
//! tools decide on: a `servicePrincipalProfile.clientId`, `identity.type`, `provisioningState`,
//! `powerState.code`, `location`, a tag, a pool's count or subnet, or an outbound IP's id that is
//! not what ARM documents is an `UnexpectedArmAnswer` naming the field, never read as absent.

use indexmap::IndexMap;
use serde::Deserialize;
use serde_json::Value;

use crate::error::Result;
use crate::http::ApiVersions;
use crate::json::null_as_default;

/// The ARM type of a managed cluster.
pub const CLUSTER_TYPE: &str = "Microsoft.ContainerService/managedClusters";

/// The api-versions of every managed-cluster call (GET, list, `UpdateTags`,
/// `resetServicePrincipalProfile`): written for 2025-10-01; the fields read here and the reset
/// are all in the stable specs long before 2020-01-01, the oldest one accepted in a cloud
/// without the newer ones.
pub const MANAGED_CLUSTER_API: ApiVersions = ApiVersions {
    resource_type: CLUSTER_TYPE,
    pinned: "2025-10-01",
    oldest: "2020-01-01",
};

/// The api-versions of the old record's tag removal (`--remove-legacy-tags`): its read and
/// its `UpdateTags` with `If-Match` need the cluster's `eTag`, which AKS shows from
/// 2024-09-01 on (azure-rest-api-specs `…/aks/stable/2024-09-01/examples/ManagedClustersGet.json`
/// has `"eTag"`, `stable/2024-08-01`'s has none). A cloud without it cannot remove them safely.
pub const MANAGED_CLUSTER_ETAG_API: ApiVersions = ApiVersions {
    resource_type: CLUSTER_TYPE,
    pinned: MANAGED_CLUSTER_API.pinned,
    oldest: "2024-09-01",
};

/// What an error calls a cluster ARM answered in an unexpected shape.
pub(crate) const CLUSTER_NOUN: &str = "managed cluster";

/// A resource's tags, in ARM's order (`UpdateTags` sends them all back).
pub type Tags = IndexMap<String, String>;

/// A managed cluster, as the GET and the listing show it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManagedCluster {
    /// Its ARM id.
    pub id: String,
    /// Its name.
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    /// Its location (`eastus`), where its operations are.
    pub location: Option<String>,
    /// Its tags (the old record's among them, read only as a fallback).
    #[serde(default, deserialize_with = "null_as_default")]
    pub tags: Tags,
    /// Its `eTag`, which every cluster-level write changes: a write made from this read is
    /// sent with `If-Match` on it (AKS refuses it with 412 when the cluster changed since).
    #[serde(rename = "eTag")]
    pub etag: Option<String>,
    /// Its managed identity, when it has one.
    pub identity: Option<Identity>,
    /// Its properties.
    #[serde(default, deserialize_with = "null_as_default")]
    pub properties: Properties,
}

/// `identity`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Identity {
    /// `SystemAssigned`, `UserAssigned`, `None` (or a combination, comma-separated).
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

/// `properties`: what the tools read of them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Properties {
    /// `Succeeded`, `Updating`, `Failed`, …
    pub provisioning_state: Option<String>,
    /// `Running` or `Stopped`.
    pub power_state: Option<PowerState>,
    /// Who the cluster authenticates as.
    pub service_principal_profile: Option<ServicePrincipalProfile>,
    /// Its node pools.
    #[serde(default, deserialize_with = "null_as_default")]
    pub agent_pool_profiles: Vec<AgentPool>,
    /// Its API server's access settings.
    pub api_server_access_profile: Option<ApiServerAccessProfile>,
    /// Its Entra integration.
    pub aad_profile: Option<AadProfile>,
    /// `disableLocalAccounts`.
    pub disable_local_accounts: Option<bool>,
    /// Its network.
    pub network_profile: Option<NetworkProfile>,
    /// The resource group of its nodes (`MC_…`).
    pub node_resource_group: Option<String>,
}

/// `powerState`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct PowerState {
    /// `Running` or `Stopped`.
    pub code: Option<String>,
}

/// `servicePrincipalProfile`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePrincipalProfile {
    /// An app id, or `msi`.
    pub client_id: Option<String>,
}

/// One of `agentPoolProfiles`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct AgentPool {
    /// Its name.
    pub name: Option<String>,
    /// Its nodes.
    pub count: Option<u64>,
    /// `vnetSubnetID`: the subnet of its nodes.
    #[serde(rename = "vnetSubnetID")]
    pub vnet_subnet_id: Option<String>,
    /// `podSubnetID`: the subnet of its pods.
    #[serde(rename = "podSubnetID")]
    pub pod_subnet_id: Option<String>,
}

/// `apiServerAccessProfile`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiServerAccessProfile {
    /// The subnet of a VNet-integrated API server.
    pub subnet_id: Option<String>,
    /// `privateDNSZone`: a private cluster's zone (an id, `system` or `none`).
    #[serde(rename = "privateDNSZone")]
    pub private_dns_zone: Option<String>,
    /// `disableRunCommand`.
    pub disable_run_command: Option<bool>,
}

/// `aadProfile`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct AadProfile {
    /// Whether the Entra integration is AKS-managed.
    pub managed: Option<bool>,
}

/// `networkProfile`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkProfile {
    /// Its load balancer's settings.
    pub load_balancer_profile: Option<LoadBalancerProfile>,
}

/// `networkProfile.loadBalancerProfile`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct LoadBalancerProfile {
    /// `outboundIPs`: the customer's public IPs it sends from.
    #[serde(rename = "outboundIPs")]
    pub outbound_ips: Option<OutboundIps>,
    /// `outboundIPPrefixes`: the customer's public IP prefixes it sends from.
    #[serde(rename = "outboundIPPrefixes")]
    pub outbound_ip_prefixes: Option<OutboundIpPrefixes>,
}

/// `outboundIPs`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct OutboundIps {
    /// `publicIPs`.
    #[serde(rename = "publicIPs", default, deserialize_with = "null_as_default")]
    pub public_ips: Vec<SubResource>,
}

/// `outboundIPPrefixes`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct OutboundIpPrefixes {
    /// `publicIPPrefixes`.
    #[serde(
        rename = "publicIPPrefixes",
        default,
        deserialize_with = "null_as_default"
    )]
    pub public_ip_prefixes: Vec<SubResource>,
}

/// A reference to another resource.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct SubResource {
    /// Its ARM id.
    pub id: String,
}

impl ManagedCluster {
    /// Reads a cluster from an ARM body; `what` names it in the error (its id, or where it
    /// was listed).
    pub fn from_value(v: &Value, what: &str) -> Result<Self> {
        crate::arm::arm_typed(v, &format!("{CLUSTER_NOUN} {what}"))
    }

    /// `servicePrincipalProfile.clientId`, when not empty: an app id, or `msi`.
    pub fn client_id(&self) -> Option<&str> {
        self.properties
            .service_principal_profile
            .as_ref()
            .and_then(|p| p.client_id.as_deref())
            .filter(|c| !c.is_empty())
    }

    /// `identity.type`, when there is one.
    pub fn identity_type(&self) -> Option<&str> {
        self.identity.as_ref().and_then(|i| i.kind.as_deref())
    }

    /// `provisioningState`; `Unknown` when ARM shows none.
    pub fn provisioning_state(&self) -> &str {
        self.properties
            .provisioning_state
            .as_deref()
            .unwrap_or("Unknown")
    }

    /// Whether its last operation succeeded (`provisioningState` `Succeeded`, in any case).
    pub fn succeeded(&self) -> bool {
        self.provisioning_state().eq_ignore_ascii_case("Succeeded")
    }

    /// Whether the cluster runs as `app_id`.
    pub fn uses(&self, app_id: &str) -> bool {
        self.client_id()
            .is_some_and(|c| c.eq_ignore_ascii_case(app_id))
    }

    /// Why the cluster does not authenticate with a service principal, if it does not.
    pub fn managed_identity(&self) -> Option<String> {
        if let Some(t) = self
            .identity_type()
            .filter(|t| t.to_ascii_lowercase().contains("assigned"))
        {
            return Some(format!("it uses a managed identity (identity.type {t})"));
        }
        match self.client_id() {
            Some(c) if c.eq_ignore_ascii_case("msi") => Some(
                "it uses a managed identity (servicePrincipalProfile.clientId is msi)".to_owned(),
            ),
            None => Some("it has no service principal profile".to_owned()),
            Some(_) => None,
        }
    }

    /// Whether `location` (an operation URL's) is the cluster's: ARM's location names are
    /// compared without case and spaces (`East US` is `eastus`).
    pub fn in_location(&self, location: &str) -> bool {
        let norm = |l: &str| l.replace(' ', "").to_ascii_lowercase();
        self.location
            .as_deref()
            .is_some_and(|l| norm(l) == norm(location))
    }

    /// Whether an operation is still running on the cluster (a state that is not terminal; a
    /// cluster shown without a state is not waited for).
    pub fn in_progress(&self) -> bool {
        let state = self.provisioning_state();
        !crate::arm::is_terminal(state) && !state.eq_ignore_ascii_case("Unknown")
    }

    /// The nodes (the sum of its pools' counts) and the node pools.
    pub fn nodes(&self) -> (u64, usize) {
        let pools = &self.properties.agent_pool_profiles;
        (pools.iter().filter_map(|p| p.count).sum(), pools.len())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The 200 body of the recorded `ManagedClustersGet` spec example (source noted in
    /// `common/tests/fixtures/recordings/README.md`).
    pub(crate) fn recorded_get() -> Value {
        let v: Value = serde_json::from_str(include_str!(
            "../../../tests/fixtures/recordings/ManagedClustersGet.json"
        ))
        .unwrap();
        v["responses"]["200"]["body"].clone()
    }

    #[test]
    fn reads_the_recorded_service_principal_cluster() {
        let c = ManagedCluster::from_value(&recorded_get(), "recorded").unwrap();
        assert_eq!(c.name, "clustername1");
        assert_eq!(c.provisioning_state(), "Succeeded");
        assert!(
            c.uses("clientid") && c.uses("CLIENTID") && !c.uses("msi"),
            "{c:?}"
        );
        assert!(c.in_location("location1") && !c.in_location("eastus"));
        assert_eq!(c.managed_identity(), None);
        assert!(!c.in_progress());
        assert_eq!(c.nodes(), (3, 1));
        assert_eq!(c.tags.get("tier").map(String::as_str), Some("production"));
        let ips = &c.properties.network_profile.as_ref().unwrap();
        let lb = ips.load_balancer_profile.as_ref().unwrap();
        assert_eq!(lb.outbound_ips.as_ref().unwrap().public_ips.len(), 2);
        assert_eq!(
            c.properties.node_resource_group.as_deref(),
            Some("MC_rg1_clustername1_location1")
        );
    }

    #[test]
    fn recognises_managed_identity_clusters() {
        let with = |v: Value| {
            let mut body = json!({"id": "/x"});
            body.as_object_mut()
                .unwrap()
                .extend(v.as_object().unwrap().clone());
            ManagedCluster::from_value(&body, "x").unwrap()
        };
        for body in [
            json!({"identity": {"type": "SystemAssigned"}, "properties": {"servicePrincipalProfile": {"clientId": "msi"}}}),
            json!({"identity": {"type": "UserAssigned"}, "properties": {"servicePrincipalProfile": {"clientId": "msi"}}}),
            json!({"properties": {"servicePrincipalProfile": {"clientId": "MSI"}}}),
            json!({"properties": {"servicePrincipalProfile": {"clientId": ""}}}),
            json!({"properties": {}}),
            json!({"properties": null}),
        ] {
            assert!(with(body.clone()).managed_identity().is_some(), "{body}");
        }
        let sp = with(
            json!({"identity": {"type": "None"}, "properties": {"servicePrincipalProfile": {"clientId": "11111111-2222-3333-4444-555555555555"}}}),
        );
        assert_eq!(sp.managed_identity(), None);
        assert!(sp.uses("11111111-2222-3333-4444-555555555555"));
    }

    #[test]
    fn a_field_the_tools_decide_on_that_does_not_fit_is_an_error_naming_it() {
        for (body, field) in [
            (
                json!({"id": "/c", "properties": {"servicePrincipalProfile": {"clientId": 5}}}),
                "properties.servicePrincipalProfile.clientId",
            ),
            (
                json!({"id": "/c", "identity": {"type": ["SystemAssigned"]}}),
                "identity.type",
            ),
            (
                json!({"id": "/c", "properties": {"provisioningState": {"code": "Succeeded"}}}),
                "properties.provisioningState",
            ),
            (
                json!({"id": "/c", "properties": {"powerState": "Running"}}),
                "properties.powerState",
            ),
            (
                json!({"id": "/c", "properties": {"agentPoolProfiles": [{"count": 1}, {"vnetSubnetID": 7}]}}),
                "properties.agentPoolProfiles[1].vnetSubnetID",
            ),
            (
                json!({"id": "/c", "properties": {"agentPoolProfiles": [{"count": "3"}]}}),
                "properties.agentPoolProfiles[0].count",
            ),
            (json!({"id": "/c", "location": 1}), "location"),
            (json!({"id": "/c", "tags": {"a": "b", "c": 1}}), "tags.c"),
            (json!({"name": "c"}), "."),
        ] {
            let e = ManagedCluster::from_value(&body, "c").unwrap_err();
            assert_eq!(e.code(), "UnexpectedArmAnswer", "{body}");
            let at = if field == "." {
                "shape: ".to_owned()
            } else {
                format!("at `{field}`: ")
            };
            assert!(e.message().contains(&at), "{body}: {}", e.message());
        }
    }

    #[test]
    fn explicit_nulls_read_as_absent() {
        let c = ManagedCluster::from_value(
            &json!({"id": "/c", "name": null, "location": null, "tags": null, "identity": null,
                "properties": {"agentPoolProfiles": null, "provisioningState": "Updating",
                "networkProfile": {"loadBalancerProfile": {"outboundIPs": {"publicIPs": null}}}}}),
            "c",
        )
        .unwrap();
        assert!(c.tags.is_empty() && c.name.is_empty() && c.location.is_none());
        assert_eq!(c.nodes(), (0, 0));
        assert!(c.in_progress());
    }
}
