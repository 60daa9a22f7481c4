//! The simulator's state: tenants, subscriptions, directory objects, roles, resources, operations.
//!
//! The same types are the scenario format: `GET /_sim/state` serializes [`State`] and
//! `--scenario FILE` deserializes it, so a dump can be edited and loaded again. Fields marked
//! "derived" in the README are written for convenience and recomputed on load.
//!
//! Entra's objects are in [`directory`], ARM's in [`arm`]; what a cluster holds inside
//! ([`kube`]), key vaults ([`vault`]) and the built-in roles ([`roles`]) each have their own.

mod arm;
mod directory;
pub(crate) mod kube;
pub(crate) mod roles;
pub(crate) mod vault;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::crypto::sha256_hex;

pub use arm::sp_cluster;
pub(crate) use arm::{
    Cluster, ClusterIdentity, GenericResource, MSI, Operation, RESET, Registry, ResourceGroup,
    RoleAssignment, RoleDefinition, Subscription, UPDATE_TAGS,
};
pub(crate) use directory::{
    Application, FederatedCredential, KeyCredential, PasswordCredential, ServicePrincipal, Tenant,
};

fn default_now() -> OffsetDateTime {
    crate::clock::wall() - time::Duration::days(1)
}
fn default_location() -> String {
    "eastus".into()
}

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
    /// Key vaults and their secrets (see [`vault`]).
    pub vaults: Vec<vault::Vault>,
    pub resources: Vec<GenericResource>,
    pub operations: Vec<Operation>,
    /// Tag policies (see [`crate::policy`]; none by default).
    pub policies: Vec<crate::policy::TagPolicy>,
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

/// Where a resource lives, derived from its ARM id.
#[derive(Debug)]
pub(crate) struct Place {
    pub subscription: String,
    pub resource_group: String,
    pub name: String,
    /// The subscription's tenant.
    pub tenant: String,
}

impl Place {
    /// The place of `id`, a `what` (`registry`, `cluster`, ...); `sub_tenant` maps lower-case
    /// subscription ids to their tenants.
    pub(crate) fn of(
        id: &str,
        what: &str,
        sub_tenant: &BTreeMap<String, String>,
    ) -> anyhow::Result<Self> {
        let (subscription, resource_group, name) = split_arm_id(id);
        anyhow::ensure!(
            !subscription.is_empty() && !resource_group.is_empty(),
            "bad {what} id {id}"
        );
        let tenant = sub_tenant
            .get(&subscription.to_ascii_lowercase())
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("{what} {id} is in an unknown subscription"))?;
        Ok(Self {
            subscription,
            resource_group,
            name,
            tenant,
        })
    }
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
            let p = Place::of(&r.id, "registry", &sub_tenant)?;
            r.tenant_id = p.tenant;
            r.name = p.name.to_ascii_lowercase();
            r.subscription_id = p.subscription;
            r.resource_group = p.resource_group;
        }
        for c in &mut self.clusters {
            let p = Place::of(&c.id, "cluster", &sub_tenant)?;
            c.tenant_id = p.tenant;
            c.name = p.name;
            c.subscription_id = p.subscription;
            c.resource_group = p.resource_group;
            if let Some(secret) = c.secret.take() {
                c.secret_sha256 = Some(sha256_hex(secret.as_bytes()));
            }
        }
        vault::normalize(self, &sub_tenant)?;
        for rd in roles::builtin_roles() {
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
                .find(|c| same_id(&c.id, &op.cluster_id))
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
            c.touch();
        }
    }

    /// The operation still running on a cluster, if any.
    pub(crate) fn running_operation(&self, cluster_id: &str) -> Option<&Operation> {
        self.operations
            .iter()
            .find(|o| o.status == "InProgress" && same_id(&o.cluster_id, cluster_id))
    }
}

/// Whether two ARM ids name the same resource (ARM ids ignore case), compared from their end:
/// the ids of one type differ in their name, after a long common prefix that a search through
/// many clusters would otherwise walk for each one (the state is settled at every request).
pub(crate) fn same_id(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = a.len();
    while i > 0 {
        i -= 1;
        if !a[i].eq_ignore_ascii_case(&b[i]) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::{Place, same_id, split_arm_id};

    #[test]
    fn same_id_ignores_case_only() {
        assert!(same_id(
            "/subscriptions/S/x/aks-Prod",
            "/SUBSCRIPTIONS/s/X/AKS-prod"
        ));
        assert!(!same_id(
            "/subscriptions/s/x/aks-prod",
            "/subscriptions/s/x/aks-prot"
        ));
        assert!(!same_id(
            "/subscriptions/s/x/aks-prod",
            "/subscriptions/t/x/aks-prod"
        ));
        assert!(!same_id(
            "/subscriptions/s/x/aks",
            "/subscriptions/s/x/aks2"
        ));
        assert!(same_id("", ""));
    }

    #[test]
    fn arm_id_parts() {
        let (s, g, n) = split_arm_id("/subscriptions/S/resourceGroups/G/providers/A.B/c/N");
        assert_eq!((s.as_str(), g.as_str(), n.as_str()), ("S", "G", "N"));
    }

    #[test]
    fn a_place_is_in_its_subscriptions_tenant() {
        let tenants = BTreeMap::from([("s".to_owned(), "t".to_owned())]);
        let p = Place::of(
            "/subscriptions/S/resourceGroups/G/providers/A.B/c/N",
            "x",
            &tenants,
        )
        .unwrap();
        assert_eq!(
            [p.subscription, p.resource_group, p.name, p.tenant],
            ["S", "G", "N", "t"]
        );
        let elsewhere = "/subscriptions/u/resourceGroups/G/providers/A.B/c/N";
        assert_eq!(
            Place::of(elsewhere, "cluster", &tenants)
                .unwrap_err()
                .to_string(),
            format!("cluster {elsewhere} is in an unknown subscription")
        );
        assert_eq!(
            Place::of("/providers/A.B/c/N", "registry", &tenants)
                .unwrap_err()
                .to_string(),
            "bad registry id /providers/A.B/c/N"
        );
    }
}
