//! What Azure Resource Manager holds: subscriptions, role definitions and assignments,
//! registries, clusters, other resources, and the long-running operations on clusters.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use super::{default_location, default_now};

fn default_custom_role() -> String {
    "CustomRole".into()
}
fn default_root_scope() -> Vec<String> {
    vec!["/".into()]
}
fn default_legacy() -> String {
    "LegacyRegistryPermissions".into()
}
fn default_sku() -> String {
    "Standard".into()
}
fn default_succeeded() -> String {
    "Succeeded".into()
}
fn default_reset() -> String {
    RESET.into()
}
fn default_k8s() -> String {
    "1.31.2".into()
}

/// An [`Operation`]'s kind: the service-principal reset (a node image upgrade).
pub(crate) const RESET: &str = "resetServicePrincipalProfile";
/// An [`Operation`]'s kind: a tag update (a cluster update that reconciles the cluster).
pub(crate) const UPDATE_TAGS: &str = "updateTags";

/// A subscription and its resource groups.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Subscription {
    pub id: String,
    pub tenant_id: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub resource_groups: Vec<ResourceGroup>,
}

/// A resource group.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ResourceGroup {
    pub name: String,
    #[serde(default = "default_location")]
    pub location: String,
}

/// An Azure role definition.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RoleDefinition {
    /// The GUID.
    pub id: String,
    pub role_name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default = "default_custom_role")]
    pub role_type: String,
    #[serde(default)]
    pub actions: Vec<String>,
    #[serde(default)]
    pub not_actions: Vec<String>,
    #[serde(default)]
    pub data_actions: Vec<String>,
    #[serde(default)]
    pub not_data_actions: Vec<String>,
    #[serde(default = "default_root_scope")]
    pub assignable_scopes: Vec<String>,
}

/// An Azure role assignment.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RoleAssignment {
    /// The GUID (last segment of the id).
    pub name: String,
    pub scope: String,
    /// The role definition's GUID (a full id is accepted on load).
    pub role_definition_id: String,
    pub principal_id: String,
    pub principal_type: Option<String>,
    pub condition: Option<String>,
    pub condition_version: Option<String>,
    pub description: Option<String>,
    #[serde(default = "default_now", with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(default = "default_now", with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    #[serde(default)]
    pub created_by: Option<String>,
    #[serde(default)]
    pub updated_by: Option<String>,
}

impl RoleAssignment {
    /// The assignment's ARM id.
    pub(crate) fn arm_id(&self) -> String {
        format!(
            "{}/providers/Microsoft.Authorization/roleAssignments/{}",
            self.scope.trim_end_matches('/'),
            self.name
        )
    }
}

/// A container registry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Registry {
    /// ARM id (authoritative; name, subscription, group are derived from it).
    pub id: String,
    #[serde(default = "default_location")]
    pub location: String,
    /// `LegacyRegistryPermissions` or `AbacRepositoryPermissions`.
    #[serde(default = "default_legacy")]
    pub role_assignment_mode: String,
    #[serde(default = "default_sku")]
    pub sku: String,
    /// Repository name to tags.
    #[serde(default)]
    pub images: BTreeMap<String, Vec<String>>,
    #[serde(default = "default_now", with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The registry firewall (open by default).
    #[serde(default)]
    pub network_rules: crate::firewall::NetworkRules,
    #[serde(default, skip_deserializing)]
    pub name: String,
    #[serde(default, skip_deserializing)]
    pub subscription_id: String,
    #[serde(default, skip_deserializing)]
    pub resource_group: String,
    #[serde(default, skip_deserializing)]
    pub tenant_id: String,
}

impl Registry {
    /// Whether the registry honours only the ABAC repository roles.
    pub(crate) fn is_abac(&self) -> bool {
        self.role_assignment_mode
            .eq_ignore_ascii_case("AbacRepositoryPermissions")
    }
}

/// A managed cluster.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Cluster {
    /// ARM id (authoritative).
    pub id: String,
    #[serde(default = "default_location")]
    pub location: String,
    /// The app id the cluster authenticates as, or [`MSI`].
    pub service_principal_client_id: String,
    #[serde(default)]
    pub secret_sha256: Option<String>,
    /// Scenario convenience: a plain secret, hashed on load and never written back.
    #[serde(default, skip_serializing)]
    pub secret: Option<String>,
    #[serde(default)]
    pub identity: Option<ClusterIdentity>,
    #[serde(default = "default_succeeded")]
    pub provisioning_state: String,
    #[serde(default = "default_k8s")]
    pub kubernetes_version: String,
    /// The cluster's ARM tags (written by `ManagedClusters_UpdateTags`, a PATCH).
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// What reaches inside it: its egress address, run command, its pods (see [`super::kube`]).
    #[serde(flatten)]
    pub kube: super::kube::ClusterKube,
    /// Its node pools (`agentPoolProfiles`; one system pool of 3 nodes when absent).
    #[serde(default = "crate::nodes::default_pools")]
    pub agent_pools: Vec<crate::nodes::AgentPool>,
    /// The tags on the resources of its node resource group: AKS copies the cluster's tags
    /// there on every update.
    #[serde(default)]
    pub node_resource_tags: BTreeMap<String, String>,
    /// How many cluster-level writes it has seen (a tag update, a reset, an operation's end):
    /// its `eTag` changes with each ([`Cluster::etag`]).
    #[serde(default)]
    pub revision: u64,
    #[serde(default, skip_deserializing)]
    pub name: String,
    #[serde(default, skip_deserializing)]
    pub subscription_id: String,
    #[serde(default, skip_deserializing)]
    pub resource_group: String,
    #[serde(default, skip_deserializing)]
    pub tenant_id: String,
}

/// A managed-identity cluster's `servicePrincipalProfile.clientId`, as AKS shows it (in any case).
pub(crate) const MSI: &str = "msi";

impl Cluster {
    /// Whether it runs as a managed identity (its client id says [`MSI`]) rather than as
    /// a service principal.
    pub(crate) fn runs_as_msi(&self) -> bool {
        self.service_principal_client_id.eq_ignore_ascii_case(MSI)
    }

    /// Its `eTag` (the cluster's and its pools'): eight letters that change on every
    /// cluster-level write, as AKS's do ("When you perform a cluster-level operation, both the
    /// cluster-level eTag and agent pool eTag are updated", learn.microsoft.com/azure/aks/use-etags).
    pub(crate) fn etag(&self) -> String {
        let h = crate::crypto::sha256_hex(format!("{}#{}", self.id, self.revision).as_bytes());
        h.chars()
            .take(8)
            .map(|c| match c.to_digit(16) {
                Some(d) => char::from(b'a' + u8::try_from(d).unwrap_or(0) % 26),
                None => c,
            })
            .collect()
    }

    /// A cluster-level write: its `eTag` changes.
    pub(crate) fn touch(&mut self) {
        self.revision = self.revision.wrapping_add(1);
    }
}

/// The first cluster of a state document ([`crate::Running::state`], a scenario) that runs as
/// a service principal (not a managed identity): the one a scenario edits.
pub fn sp_cluster(state: &mut Value) -> &mut Value {
    state["clusters"]
        .as_array_mut()
        .expect("a state document has clusters")
        .iter_mut()
        .find(|c| {
            !c["service_principal_client_id"]
                .as_str()
                .is_some_and(|id| id.eq_ignore_ascii_case(MSI))
        })
        .expect("a cluster runs as a service principal")
}

/// A cluster's managed identity.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ClusterIdentity {
    /// `SystemAssigned` or `UserAssigned`.
    #[serde(rename = "type")]
    pub kind: String,
    pub principal_id: String,
    pub tenant_id: String,
}

/// Any other resource that may be a role-assignment scope (virtual networks, subnets, ...).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct GenericResource {
    pub id: String,
    #[serde(default = "default_location")]
    pub location: String,
    /// Its `properties` as ARM shows them beside `provisioningState` (a subnet's
    /// `routeTable` and `networkSecurityGroup`, say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties: Option<Value>,
}

/// A long-running operation on a cluster: a service-principal reset or a tag update.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Operation {
    pub id: String,
    /// `resetServicePrincipalProfile` or `updateTags`.
    #[serde(default = "default_reset")]
    pub kind: String,
    /// The tags an update copies onto the node resource group's resources when it ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_tags: Option<BTreeMap<String, String>>,
    pub cluster_id: String,
    pub subscription_id: String,
    pub location: String,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    pub duration_ms: u64,
    /// What it ends as: `Succeeded`, `Failed`, `Canceled` or `Hang` (never ends).
    pub outcome: String,
    #[serde(default)]
    pub error_code: Option<String>,
    #[serde(default)]
    pub error_message: Option<String>,
    pub new_client_id: String,
    #[serde(default)]
    pub new_secret_sha256: Option<String>,
    /// `InProgress` until it ends, then the outcome.
    pub status: String,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub ended_at: Option<OffsetDateTime>,
}
