//! A managed cluster's node pools (`agentPoolProfiles`), and how long the node image upgrade
//! a reset runs on them takes.
//!
//! On a scale-set cluster `resetServicePrincipalProfile` is a node image upgrade: AKS reimages
//! the nodes one by one, pool after pool (the AKS docs, "Reset the credentials for a cluster";
//! MicrosoftDocs/azure-docs#73601 "reimage vmss nodes one by one", #78333, #76270, #61336), a few
//! minutes per node (Azure/aks-engine#1980: "Upgrading of one node takes about 5-10 minutes").

use serde::{Deserialize, Serialize};

/// One node pool.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct AgentPool {
    pub name: String,
    /// Its nodes.
    #[serde(default = "default_count")]
    pub count: u32,
    /// `System` or `User`.
    #[serde(default = "default_mode")]
    pub mode: String,
    #[serde(default = "default_vm_size")]
    pub vm_size: String,
    /// Its own `provisioningState` while an operation runs on the cluster (absent: the
    /// cluster's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioning_state: Option<String>,
}

fn default_count() -> u32 {
    3
}
fn default_mode() -> String {
    "System".into()
}
fn default_vm_size() -> String {
    "Standard_DS2_v2".into()
}

/// The pools of a cluster whose scenario names none: one system pool of three nodes, as
/// `az aks create` makes by default.
pub(crate) fn default_pools() -> Vec<AgentPool> {
    vec![AgentPool {
        name: "nodepool1".into(),
        count: default_count(),
        mode: default_mode(),
        vm_size: default_vm_size(),
        provisioning_state: None,
    }]
}

/// The nodes of `pools`.
pub(crate) fn node_count(pools: &[AgentPool]) -> u32 {
    pools.iter().map(|p| p.count).sum()
}

/// A node image upgrade `done` of the way through (0 to 1): the pools whose nodes are all
/// reimaged are `Succeeded` again, the others `Updating` (the one being reimaged and those
/// waiting), pool after pool in their order. The simulator's model: AKS documents the node-by-
/// node reimage, not the order of pools.
pub(crate) fn progress(pools: &mut [AgentPool], done: f64) {
    let total = f64::from(node_count(pools));
    let mut reimaged = (done.clamp(0.0, 1.0) * total).floor();
    for p in pools {
        let n = f64::from(p.count);
        let state = if reimaged >= n {
            "Succeeded"
        } else {
            "Updating"
        };
        p.provisioning_state = Some(state.into());
        reimaged = (reimaged - n).max(0.0);
        if state == "Updating" {
            reimaged = 0.0;
        }
    }
}

/// Every pool back to the cluster's own state (an operation ended).
pub(crate) fn settle(pools: &mut [AgentPool]) {
    for p in pools {
        p.provisioning_state = None;
    }
}

#[cfg(test)]
mod tests {
    use super::{AgentPool, default_pools, node_count, progress};

    #[test]
    fn pools_default_to_one_system_pool_of_three() {
        let p = default_pools();
        assert_eq!((p.len(), node_count(&p)), (1, 3));
        let two: Vec<AgentPool> =
            serde_json::from_str(r#"[{"name":"sys"},{"name":"user","count":9,"mode":"User"}]"#)
                .unwrap();
        assert_eq!(node_count(&two), 12);
        assert_eq!(two[0].vm_size, "Standard_DS2_v2");
    }

    #[test]
    fn pools_finish_one_after_another() {
        let mut pools: Vec<AgentPool> =
            serde_json::from_str(r#"[{"name":"a","count":3},{"name":"b","count":9}]"#).unwrap();
        let states = |p: &[AgentPool]| -> Vec<String> {
            p.iter()
                .map(|p| p.provisioning_state.clone().unwrap())
                .collect()
        };
        progress(&mut pools, 0.0);
        assert_eq!(states(&pools), ["Updating", "Updating"]);
        progress(&mut pools, 0.25);
        assert_eq!(states(&pools), ["Succeeded", "Updating"]);
        progress(&mut pools, 0.99);
        assert_eq!(states(&pools), ["Succeeded", "Updating"]);
        progress(&mut pools, 1.0);
        assert_eq!(states(&pools), ["Succeeded", "Succeeded"]);
    }
}
