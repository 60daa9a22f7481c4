//! The simulator's state: tenants, subscriptions, directory objects, roles, resources, operations.
//!
//! The same types are the scenario format: `GET /_sim/state` serializes [`State`] and
//! `--scenario FILE` deserializes it, so a dump can be edited and loaded again. Fields marked
//! "derived" in the README are written for convenience and recomputed on load.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::crypto::sha256_hex;

/// `2022-05-07T06:56:29Z` (Graph's form: whole seconds).
pub(crate) fn fmt_secs(t: OffsetDateTime) -> String {
    let t = t.replace_nanosecond(0).unwrap_or(t);
    t.format(&Rfc3339).unwrap_or_default()
}

/// `2025-04-14T08:54:25.8958593Z` (ARM's form: seven fractional digits).
pub(crate) fn fmt_ticks(t: OffsetDateTime) -> String {
    let base = fmt_secs(t);
    let ticks = t.nanosecond() / 100;
    format!("{}.{ticks:07}Z", base.trim_end_matches('Z'))
}

/// Parse an RFC 3339 date-time (Graph accepts `Z` or an offset).
pub(crate) fn parse_time(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

fn default_now() -> OffsetDateTime {
    crate::clock::wall() - time::Duration::days(1)
}
fn default_true() -> bool {
    true
}
fn default_my_org() -> String {
    "AzureADMyOrg".into()
}
fn default_sp_type() -> String {
    "Application".into()
}
fn default_custom_role() -> String {
    "CustomRole".into()
}
fn default_root_scope() -> Vec<String> {
    vec!["/".into()]
}
fn default_location() -> String {
    "eastus".into()
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

/// The whole simulated world.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct State {
    /// `"default"`: start from the built-in default scenario and take only `behaviour` (and
    /// registries' `network_rules`) from this file.
    pub base: Option<String>,
    /// The cloud presented: `AzureSim` (default, on 127.0.0.1) or `AzureChinaCloud` (its real
    /// host names and audiences; see `cloud.rs`). Fixed at start.
    pub cloud: crate::cloud::CloudName,
    /// How this cloud differs from the public one (see [`crate::behaviour::Behaviour`]).
    pub behaviour: crate::behaviour::Behaviour,
    /// Azure's time when this state was dumped: a simulator loading it starts its clock there
    /// (or at the real time, if later), so what the dump holds is never from the future.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub azure_time: Option<OffsetDateTime>,
    /// `sim.env` lines besides the ones the simulator always writes; values may use
    /// `{url}`, `{port}`, `{dir}`, `{login_server:NAME}`.
    pub env_template: Map<String, Value>,
    pub tenants: Vec<Tenant>,
    pub subscriptions: Vec<Subscription>,
    pub applications: Vec<Application>,
    pub deleted_applications: Vec<Application>,
    pub service_principals: Vec<ServicePrincipal>,
    pub role_definitions: Vec<RoleDefinition>,
    pub role_assignments: Vec<RoleAssignment>,
    pub registries: Vec<Registry>,
    pub clusters: Vec<Cluster>,
    /// Key vaults and their secrets (see `keyvault.rs`).
    pub vaults: Vec<crate::keyvault::Vault>,
    pub resources: Vec<GenericResource>,
    pub operations: Vec<Operation>,
    /// Tag policies (see [`crate::policy`]; none by default).
    pub policies: Vec<crate::policy::TagPolicy>,
}

/// An Entra tenant.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Tenant {
    pub id: String,
    #[serde(default)]
    pub display_name: String,
    /// Verified domains; the first is the initial `*.onmicrosoft.com` domain.
    pub domains: Vec<String>,
    /// Password lifetime policy (`passwordLifetime` restriction), in days.
    #[serde(default)]
    pub max_password_lifetime_days: Option<u32>,
    /// Conditional Access policies a sign-in meets (none by default).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditional_access: Vec<crate::sign_in_policy::SignInPolicy>,
}

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

/// An application object (its home tenant is `tenant_id`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Application {
    pub id: String,
    pub app_id: String,
    pub tenant_id: String,
    pub display_name: String,
    #[serde(default)]
    pub unique_name: Option<String>,
    #[serde(default = "default_my_org")]
    pub sign_in_audience: String,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default = "default_now", with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(default)]
    pub password_credentials: Vec<PasswordCredential>,
    #[serde(default)]
    pub federated_credentials: Vec<FederatedCredential>,
    /// Other Graph properties a client set (`description`, `tags`, `notes`, ...), echoed back.
    #[serde(default)]
    pub properties: Map<String, Value>,
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub deleted_at: Option<OffsetDateTime>,
    /// The object ids of its owners (service principals here): with
    /// `Application.ReadWrite.OwnedBy` a caller may change only the apps it owns.
    #[serde(default)]
    pub owners: Vec<String>,
}

impl Application {
    /// Whether `oid` is one of its owners.
    pub(crate) fn owned_by(&self, oid: &str) -> bool {
        self.owners.iter().any(|o| o.eq_ignore_ascii_case(oid))
    }

    /// Whether service principals of this app may exist outside its home tenant.
    pub(crate) fn is_multitenant(&self) -> bool {
        self.sign_in_audience == "AzureADMultipleOrgs"
            || self.sign_in_audience == "AzureADandPersonalMicrosoftAccount"
    }
}

/// A client secret; only its SHA-256 is kept.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PasswordCredential {
    pub key_id: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub hint: String,
    #[serde(default = "default_now", with = "time::serde::rfc3339")]
    pub start: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub end: OffsetDateTime,
    #[serde(default)]
    pub secret_sha256: String,
    /// When `addPassword` made it (`None`: a scenario's, long known everywhere): Entra refuses
    /// a secret for a while after it was added (see `Behaviour::secret_propagation_ms`).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub minted: Option<OffsetDateTime>,
    /// Scenario convenience: a plain secret, hashed on load and never written back.
    #[serde(default, skip_serializing)]
    pub secret: Option<String>,
}

impl PasswordCredential {
    /// Whether Entra has not yet spread this secret at `t` (it is refused as invalid then).
    pub(crate) fn propagating(&self, t: OffsetDateTime, propagation: time::Duration) -> bool {
        self.minted
            .is_some_and(|m| t < m.saturating_add(propagation))
    }

    /// Whether the secret signs in at `t`: within its dates and spread through Entra.
    pub(crate) fn usable(&self, t: OffsetDateTime, propagation: time::Duration) -> bool {
        self.start <= t && t < self.end && !self.propagating(t, propagation)
    }
}

/// A federated identity credential (workload identity): assertions from `issuer` about `subject`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct FederatedCredential {
    pub issuer: String,
    pub subject: String,
    #[serde(default = "default_audiences")]
    pub audiences: Vec<String>,
}

fn default_audiences() -> Vec<String> {
    vec!["api://AzureADTokenExchange".into()]
}

/// A service principal: an app's (or managed identity's) presence in one tenant.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ServicePrincipal {
    pub id: String,
    pub app_id: String,
    pub tenant_id: String,
    /// For principals without an application object (managed identities).
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default = "default_sp_type")]
    #[allow(clippy::struct_field_names, reason = "Graph's property name")]
    pub service_principal_type: String,
    /// Microsoft Graph application permissions granted to it, e.g. `Application.ReadWrite.All`.
    #[serde(default)]
    pub graph_app_roles: Vec<String>,
    #[serde(default = "default_true")]
    pub account_enabled: bool,
    #[serde(default = "default_now", with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(default)]
    pub properties: Map<String, Value>,
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
    #[serde(default)]
    pub principal_type: Option<String>,
    #[serde(default)]
    pub condition: Option<String>,
    #[serde(default)]
    pub condition_version: Option<String>,
    #[serde(default)]
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
    /// The app id the cluster authenticates as, or `msi`.
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
    /// What reaches inside it: its egress address, run command, its pods (see [`crate::kube`]).
    #[serde(flatten)]
    pub kube: crate::kube::ClusterKube,
    /// Its node pools (`agentPoolProfiles`; one system pool of 3 nodes when absent).
    #[serde(default = "crate::nodes::default_pools")]
    pub agent_pools: Vec<crate::nodes::AgentPool>,
    /// The tags on the resources of its node resource group: AKS copies the cluster's tags
    /// there on every update.
    #[serde(default)]
    pub node_resource_tags: BTreeMap<String, String>,
    #[serde(default, skip_deserializing)]
    pub name: String,
    #[serde(default, skip_deserializing)]
    pub subscription_id: String,
    #[serde(default, skip_deserializing)]
    pub resource_group: String,
    #[serde(default, skip_deserializing)]
    pub tenant_id: String,
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

/// The segments of an ARM id: `(subscription, resource group, name)` of the last resource.
pub(crate) fn split_arm_id(id: &str) -> (String, String, String) {
    let segs: Vec<&str> = id.split('/').filter(|s| !s.is_empty()).collect();
    let mut sub = String::new();
    let mut rg = String::new();
    for w in segs.windows(2) {
        if w[0].eq_ignore_ascii_case("subscriptions") && sub.is_empty() {
            sub = w[1].to_string();
        }
        if w[0].eq_ignore_ascii_case("resourceGroups") && rg.is_empty() {
            rg = w[1].to_string();
        }
    }
    let name = segs.last().map(ToString::to_string).unwrap_or_default();
    (sub, rg, name)
}

impl State {
    /// Fill derived fields, hash plain secrets, normalise ids, and check references.
    pub(crate) fn normalize(&mut self) -> anyhow::Result<()> {
        let sub_tenant: BTreeMap<String, String> = self
            .subscriptions
            .iter()
            .map(|s| (s.id.to_ascii_lowercase(), s.tenant_id.clone()))
            .collect();
        for t in &mut self.tenants {
            anyhow::ensure!(!t.domains.is_empty(), "tenant {} has no domains", t.id);
            if t.display_name.is_empty() {
                t.display_name = t.domains[0]
                    .split('.')
                    .next()
                    .unwrap_or_default()
                    .to_string();
            }
        }
        for s in &self.subscriptions {
            anyhow::ensure!(
                self.tenant(&s.tenant_id).is_some(),
                "subscription {} names unknown tenant {}",
                s.id,
                s.tenant_id
            );
        }
        for app in self
            .applications
            .iter_mut()
            .chain(self.deleted_applications.iter_mut())
        {
            for p in &mut app.password_credentials {
                if let Some(secret) = p.secret.take() {
                    p.secret_sha256 = sha256_hex(secret.as_bytes());
                    if p.hint.is_empty() {
                        p.hint = secret.chars().take(3).collect();
                    }
                }
            }
        }
        for ra in &mut self.role_assignments {
            if let Some(last) = ra.role_definition_id.rsplit('/').next() {
                ra.role_definition_id = last.to_ascii_lowercase();
            }
        }
        for r in &mut self.registries {
            let (sub, rg, name) = split_arm_id(&r.id);
            anyhow::ensure!(
                !sub.is_empty() && !rg.is_empty(),
                "bad registry id {}",
                r.id
            );
            r.tenant_id = sub_tenant
                .get(&sub.to_ascii_lowercase())
                .cloned()
                .ok_or_else(|| {
                    anyhow::anyhow!("registry {} is in an unknown subscription", r.id)
                })?;
            r.name = name.to_ascii_lowercase();
            r.subscription_id = sub;
            r.resource_group = rg;
        }
        for c in &mut self.clusters {
            let (sub, rg, name) = split_arm_id(&c.id);
            anyhow::ensure!(!sub.is_empty() && !rg.is_empty(), "bad cluster id {}", c.id);
            c.tenant_id = sub_tenant
                .get(&sub.to_ascii_lowercase())
                .cloned()
                .ok_or_else(|| anyhow::anyhow!("cluster {} is in an unknown subscription", c.id))?;
            c.name = name;
            c.subscription_id = sub;
            c.resource_group = rg;
            if let Some(secret) = c.secret.take() {
                c.secret_sha256 = Some(sha256_hex(secret.as_bytes()));
            }
        }
        crate::keyvault::normalize(self, &sub_tenant)?;
        for rd in crate::rbac::builtin_roles() {
            if !self
                .role_definitions
                .iter()
                .any(|d| d.id.eq_ignore_ascii_case(&rd.id))
            {
                self.role_definitions.push(rd);
            }
        }
        Ok(())
    }

    /// A tenant by GUID or verified domain (case-insensitive).
    pub(crate) fn tenant(&self, id_or_domain: &str) -> Option<&Tenant> {
        self.tenants.iter().find(|t| {
            t.id.eq_ignore_ascii_case(id_or_domain)
                || t.domains
                    .iter()
                    .any(|d| d.eq_ignore_ascii_case(id_or_domain))
        })
    }

    /// A subscription by GUID.
    pub(crate) fn subscription(&self, id: &str) -> Option<&Subscription> {
        self.subscriptions
            .iter()
            .find(|s| s.id.eq_ignore_ascii_case(id))
    }

    /// The live application with this client id.
    pub(crate) fn app_by_app_id(&self, app_id: &str) -> Option<&Application> {
        self.applications
            .iter()
            .find(|a| a.app_id.eq_ignore_ascii_case(app_id))
    }

    /// The service principal of `app_id` in `tenant_id`.
    pub(crate) fn sp_in_tenant(&self, app_id: &str, tenant_id: &str) -> Option<&ServicePrincipal> {
        self.service_principals.iter().find(|s| {
            s.app_id.eq_ignore_ascii_case(app_id) && s.tenant_id.eq_ignore_ascii_case(tenant_id)
        })
    }

    /// A role definition by GUID.
    pub(crate) fn role_definition(&self, guid: &str) -> Option<&RoleDefinition> {
        self.role_definitions
            .iter()
            .find(|d| d.id.eq_ignore_ascii_case(guid))
    }

    /// Finish every operation whose time is up, applying its effect to its cluster; show a
    /// running reset's progress on the cluster's node pools.
    pub(crate) fn settle(&mut self, at: OffsetDateTime) {
        for op in &mut self.operations {
            if op.status != "InProgress" {
                continue;
            }
            let Some(c) = self
                .clusters
                .iter_mut()
                .find(|c| c.id.eq_ignore_ascii_case(&op.cluster_id))
            else {
                continue;
            };
            let ends = op.started_at.saturating_add(time::Duration::milliseconds(
                i64::try_from(op.duration_ms).unwrap_or(i64::MAX),
            ));
            if op.outcome == "Hang" || ends > at {
                if op.kind == RESET {
                    let ran = (at - op.started_at).as_seconds_f64();
                    let total = (ends - op.started_at).as_seconds_f64().max(f64::EPSILON);
                    let done = if op.outcome == "Hang" {
                        (ran / total).min(0.999)
                    } else {
                        ran / total
                    };
                    crate::nodes::progress(&mut c.agent_pools, done);
                }
                continue;
            }
            op.status.clone_from(&op.outcome);
            op.ended_at = Some(ends);
            crate::nodes::settle(&mut c.agent_pools);
            if op.outcome == "Succeeded" {
                if op.kind == UPDATE_TAGS {
                    if let Some(tags) = &op.new_tags {
                        c.node_resource_tags.clone_from(tags);
                    }
                } else {
                    c.service_principal_client_id.clone_from(&op.new_client_id);
                    c.secret_sha256.clone_from(&op.new_secret_sha256);
                }
            }
            c.provisioning_state.clone_from(&op.outcome);
        }
    }

    /// The operation still running on a cluster, if any.
    pub(crate) fn running_operation(&self, cluster_id: &str) -> Option<&Operation> {
        self.operations
            .iter()
            .find(|o| o.status == "InProgress" && o.cluster_id.eq_ignore_ascii_case(cluster_id))
    }
}

#[cfg(test)]
mod tests {
    use super::{fmt_secs, fmt_ticks, parse_time, split_arm_id};

    #[test]
    fn time_formats() {
        let t = parse_time("2025-04-14T08:54:25.8958593Z").unwrap();
        assert_eq!(fmt_secs(t), "2025-04-14T08:54:25Z");
        assert_eq!(fmt_ticks(t), "2025-04-14T08:54:25.8958593Z");
    }

    #[test]
    fn arm_id_parts() {
        let (s, g, n) = split_arm_id("/subscriptions/S/resourceGroups/G/providers/A.B/c/N");
        assert_eq!((s.as_str(), g.as_str(), n.as_str()), ("S", "G", "N"));
    }
}
