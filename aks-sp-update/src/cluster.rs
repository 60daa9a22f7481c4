//! The cluster as ARM shows it: who it authenticates as, and its state.

use std::time::Duration;

use common::Result;
use common::arm::ResourceId;
use common::http::Api;
use serde_json::{Map, Value};

use crate::AKS_API;

/// How long a reset may take per node, by default: on scale-set clusters the reset is a node
/// image upgrade, node after node (surge, drain, reimage, ready: minutes each; AKS docs "Reset
/// the credentials for a cluster" and "Upgrade node images"), with margin.
pub(crate) const RESET_PER_NODE: Duration = Duration::from_secs(10 * 60);

/// The shortest default wait for a reset: a real one took 57 minutes
/// (jenkins-infra/helpdesk#3026).
pub(crate) const RESET_WAIT_AT_LEAST: Duration = Duration::from_secs(60 * 60);

/// What the step reads from a managed cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cluster {
    /// `servicePrincipalProfile.clientId`: an app id, or `msi`.
    pub client_id: Option<String>,
    /// `identity.type`: `SystemAssigned`, `UserAssigned`, `None`, or absent.
    pub identity_type: Option<String>,
    /// `provisioningState`.
    pub provisioning_state: String,
    /// Its location (`eastus`), where its operations are.
    pub location: Option<String>,
    /// Its tags, as they are (`--remove-legacy-tags` sends the others back).
    pub tags: Map<String, Value>,
    /// The scopes of its own resources (subnets, virtual networks, …; see
    /// [`crate::roles::scopes::of_cluster`]).
    pub own_scopes: Vec<String>,
    /// The nodes a reset reimages, and the node pools they are in.
    pub nodes: (u64, usize),
}

impl Cluster {
    /// Reads the fields from a GET body.
    pub(crate) fn from_value(v: &Value) -> Self {
        let s = |p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_owned);
        let tags = v
            .get("tags")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        Self {
            own_scopes: crate::roles::scopes::of_cluster(v),
            nodes: node_count(v),
            tags,
            client_id: s("/properties/servicePrincipalProfile/clientId").filter(|c| !c.is_empty()),
            identity_type: s("/identity/type"),
            provisioning_state: s("/properties/provisioningState")
                .unwrap_or_else(|| "Unknown".to_owned()),
            location: s("/location"),
        }
    }

    /// Why the cluster does not authenticate with a service principal, if it does not.
    pub(crate) fn managed_identity(&self) -> Option<String> {
        if let Some(t) = self
            .identity_type
            .as_deref()
            .filter(|t| t.to_ascii_lowercase().contains("assigned"))
        {
            return Some(format!("it uses a managed identity (identity.type {t})"));
        }
        match self.client_id.as_deref() {
            Some(c) if c.eq_ignore_ascii_case("msi") => Some(
                "it uses a managed identity (servicePrincipalProfile.clientId is msi)".to_owned(),
            ),
            None => Some("it has no service principal profile".to_owned()),
            Some(_) => None,
        }
    }

    /// Whether `location` (an operation URL's) is the cluster's: ARM's location names are
    /// compared without case and spaces (`East US` is `eastus`).
    pub(crate) fn in_location(&self, location: &str) -> bool {
        let norm = |l: &str| l.replace(' ', "").to_ascii_lowercase();
        self.location
            .as_deref()
            .is_some_and(|l| norm(l) == norm(location))
    }

    /// Whether the cluster already authenticates as `app_id`.
    pub(crate) fn uses(&self, app_id: &str) -> bool {
        self.client_id
            .as_deref()
            .is_some_and(|c| c.eq_ignore_ascii_case(app_id))
    }
}

impl Cluster {
    /// What a reset does to the nodes: "AKS reimages 3 nodes in 1 pool".
    pub(crate) fn reimage(&self) -> String {
        let (n, p) = self.nodes;
        let s = |k: u64| if k == 1 { "" } else { "s" };
        format!("AKS reimages {n} node{} in {p} pool{}", s(n), s(p as u64))
    }

    /// What a reset does to the workloads: "AKS reimages 3 nodes in 1 pool; pods restart,
    /// PodDisruptionBudgets apply".
    pub(crate) fn disruption(&self) -> String {
        format!(
            "{}; pods restart, PodDisruptionBudgets apply",
            self.reimage()
        )
    }

    /// How long a reset is waited for without `--timeout`: [`RESET_PER_NODE`] per node, never
    /// less than [`RESET_WAIT_AT_LEAST`].
    pub(crate) fn reset_wait(&self) -> Duration {
        let nodes = u32::try_from(self.nodes.0).unwrap_or(u32::MAX);
        RESET_PER_NODE
            .saturating_mul(nodes)
            .max(RESET_WAIT_AT_LEAST)
    }
}

/// The nodes of a cluster's GET body (the sum of its agent pools' counts) and its pools.
pub(crate) fn node_count(v: &Value) -> (u64, usize) {
    let pools = v
        .pointer("/properties/agentPoolProfiles")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    let nodes = pools
        .iter()
        .filter_map(|p| p.get("count").and_then(Value::as_u64))
        .sum();
    (nodes, pools.len())
}

/// Whether a provisioning state says an operation is still running on the cluster. A
/// cluster read without a state (`Unknown`) is not waited for.
pub(crate) fn in_progress(state: &str) -> bool {
    !common::arm::is_terminal(state) && !state.eq_ignore_ascii_case("Unknown")
}

/// GETs the cluster.
pub(crate) async fn get(arm: &Api<'_>, id: &ResourceId) -> Result<Cluster> {
    let body = arm
        .with_api_version(&AKS_API, |v| {
            let path = format!("{}?api-version={v}", id.id());
            async move { arm.get(&path).await }
        })
        .await
        .map_err(|e| {
            if let Some((token, holder)) = e
                .is_code(common::http::WRONG_ISSUER)
                .then(|| common::http::wrong_issuer(e.detail().unwrap_or_default()))
                .flatten()
            {
                // The app and its secret were made in the wrong tenant: step 1 again.
                let m = format!("cluster {} is not in tenant {token} (cluster_tenant_id)", id.name);
                e.with_message(m).with_hint(format!(
                    "it is in tenant {holder}: make the app there (entra-app-create --cluster-tenant with that tenant)"
                ))
            } else if e.status() == Some(404) {
                e.with_hint(
                    "check the cluster id, and that --cluster-tenant is the cluster's tenant",
                )
            } else {
                e
            }
        })?;
    Ok(Cluster::from_value(&body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The 200 body of the recorded `ManagedClustersGet` spec example (compiled in: never skipped;
    /// source noted in `azure-sim/tests/fixtures/recordings/README.md`).
    fn recorded_get() -> Value {
        let v: Value = serde_json::from_str(include_str!(
            "../../azure-sim/tests/fixtures/recordings/ManagedClustersGet.json"
        ))
        .unwrap();
        v["responses"]["200"]["body"].clone()
    }

    #[test]
    fn a_resets_default_wait_is_an_hour_or_ten_minutes_a_node() {
        let with = |counts: &[u64]| {
            let pools: Vec<Value> = counts.iter().map(|c| json!({"count": c})).collect();
            Cluster::from_value(&json!({"properties": {"agentPoolProfiles": pools}}))
        };
        assert_eq!(with(&[]).reset_wait(), Duration::from_secs(3600));
        assert_eq!(with(&[3]).reset_wait(), Duration::from_secs(3600));
        assert_eq!(with(&[4, 4, 4]).reset_wait(), Duration::from_secs(12 * 600));
        let c = with(&[4, 4, 4]);
        assert_eq!(
            c.disruption(),
            "AKS reimages 12 nodes in 3 pools; pods restart, PodDisruptionBudgets apply"
        );
        assert_eq!(with(&[1]).reimage(), "AKS reimages 1 node in 1 pool");
    }

    #[test]
    fn reads_the_recorded_service_principal_cluster() {
        let body = recorded_get();
        let c = Cluster::from_value(&body);
        assert_eq!(c.provisioning_state, "Succeeded");
        assert!(c.uses("clientid"), "{c:?}");
        assert!(
            c.in_location("location1") && !c.in_location("eastus"),
            "{c:?}"
        );
        assert_eq!(c.managed_identity(), None);
    }

    #[test]
    fn recognises_managed_identity_clusters() {
        for body in [
            json!({"identity": {"type": "SystemAssigned"}, "properties": {"servicePrincipalProfile": {"clientId": "msi"}}}),
            json!({"identity": {"type": "UserAssigned"}, "properties": {"servicePrincipalProfile": {"clientId": "msi"}}}),
            json!({"properties": {"servicePrincipalProfile": {"clientId": "MSI"}}}),
            json!({"properties": {}}),
        ] {
            assert!(
                Cluster::from_value(&body).managed_identity().is_some(),
                "{body}"
            );
        }
        let sp = json!({"identity": {"type": "None"}, "properties": {"servicePrincipalProfile": {"clientId": "11111111-2222-3333-4444-555555555555"}}});
        let c = Cluster::from_value(&sp);
        assert_eq!(c.managed_identity(), None);
        assert!(c.uses("11111111-2222-3333-4444-555555555555"));
        assert!(!c.uses("msi"));
    }
}
