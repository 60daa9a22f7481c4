//! What a reset costs a cluster (its nodes reimaged, the wait), and the GET with the step's
//! explanations; the cluster itself is common's [`ManagedCluster`].

use std::time::Duration;

use common::Result;
use common::arm::ResourceId;
use common::arm::clusters;
use common::arm::clusters::ManagedCluster;
use common::http::Api;

/// How long a reset may take per node, by default: on scale-set clusters the reset is a node
/// image upgrade, node after node (surge, drain, reimage, ready: minutes each; AKS docs "Reset
/// the credentials for a cluster" and "Upgrade node images"), with margin.
pub(crate) const RESET_PER_NODE: Duration = Duration::from_secs(10 * 60);

/// The shortest default wait for a reset: a real one took 57 minutes
/// (jenkins-infra/helpdesk#3026).
pub(crate) const RESET_WAIT_AT_LEAST: Duration = Duration::from_secs(60 * 60);

/// What a reset does to the nodes: "AKS reimages 3 nodes in 1 pool".
pub(crate) fn reimage(c: &ManagedCluster) -> String {
    let (n, p) = c.nodes();
    let s = |k: u64| if k == 1 { "" } else { "s" };
    format!("AKS reimages {n} node{} in {p} pool{}", s(n), s(p as u64))
}

/// What a reset does to the workloads: "AKS reimages 3 nodes in 1 pool; pods restart,
/// PodDisruptionBudgets apply".
pub(crate) fn disruption(c: &ManagedCluster) -> String {
    format!("{}; pods restart, PodDisruptionBudgets apply", reimage(c))
}

/// How long a reset is waited for without `--timeout`: [`RESET_PER_NODE`] per node, never
/// less than [`RESET_WAIT_AT_LEAST`].
pub(crate) fn reset_wait(c: &ManagedCluster) -> Duration {
    let nodes = u32::try_from(c.nodes().0).unwrap_or(u32::MAX);
    RESET_PER_NODE
        .saturating_mul(nodes)
        .max(RESET_WAIT_AT_LEAST)
}

/// GETs the cluster, its errors explained for the step (the wrong tenant, a missing cluster).
pub(crate) async fn get(arm: &Api<'_>, id: &ResourceId) -> Result<ManagedCluster> {
    clusters::get(arm, id).await.map_err(|e| {
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
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn a_resets_default_wait_is_an_hour_or_ten_minutes_a_node() {
        let with = |counts: &[u64]| {
            let pools: Vec<Value> = counts.iter().map(|c| json!({"count": c})).collect();
            ManagedCluster::from_value(
                &json!({"id": "/c", "properties": {"agentPoolProfiles": pools}}),
                "c",
            )
            .unwrap()
        };
        assert_eq!(reset_wait(&with(&[])), Duration::from_secs(3600));
        assert_eq!(reset_wait(&with(&[3])), Duration::from_secs(3600));
        assert_eq!(reset_wait(&with(&[4, 4, 4])), Duration::from_secs(12 * 600));
        assert_eq!(
            disruption(&with(&[4, 4, 4])),
            "AKS reimages 12 nodes in 3 pools; pods restart, PodDisruptionBudgets apply"
        );
        assert_eq!(reimage(&with(&[1])), "AKS reimages 1 node in 1 pool");
    }
}
