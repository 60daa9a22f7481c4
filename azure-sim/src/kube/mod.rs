//! Inside a managed cluster, as far as AKS run command reaches: the address its nodes' traffic
//! leaves from, whether run command is allowed, who the command acts as, and the pods a
//! command's `kubectl` makes, whose image pulls the kubelet decides with the simulator's pull
//! truth ([`crate::registry::verdict`]).
//!
//! A command is a shell script ([`shell`]) run by a narrow interpreter ([`exec`]) whose only
//! programs are a few builtins and `kubectl` ([`kubectl`]) over this model; anything else
//! fails as a shell would fail it ("not found"), never silently. Time inside a command is the
//! cluster's own (a `sleep` advances it; the kubelet's pull takes some of it); the command's
//! result is ready a fixed short while after it was submitted.

mod exec;
mod get;
mod jsonpath;
mod kubectl;
mod kubelet;
mod lex;
mod shell;

use serde_json::{Value, json};

use crate::crypto::sha256_hex;

pub(crate) use crate::model::kube::{
    ClusterKube, Command, MAX_COMMANDS, Pod, Pull, SYSTEM_NAMESPACES,
};
pub(crate) use exec::{Identity, run_script};

/// The AKS AAD server application: the audience of a run command's `clusterToken` (the same
/// id in every cloud; Azure CLI `aks_runcommand`).
pub(crate) const AKS_SERVER_APP: &str = "6dae42f8-4368-4678-94ff-3960e28e3630";

/// The cluster's nodes: one pool of three, named as AKS names VM scale set instances.
pub(crate) fn nodes(cluster_id: &str) -> Vec<String> {
    let h = sha256_hex(cluster_id.to_ascii_lowercase().as_bytes());
    let n = u32::from_str_radix(&h[..7], 16).unwrap_or(0) % 100_000_000;
    (0..3)
        .map(|i| format!("aks-nodepool1-{n:08}-vmss00000{i}"))
        .collect()
}

/// The properties of a cluster's ARM body this model answers for: `apiServerAccessProfile`
/// `.disableRunCommand`, `aadProfile`, `disableLocalAccounts` (spec example
/// `ManagedClustersCreate_DisableRunCommand.json`; `ManagedClusters_Get`).
pub(crate) fn cluster_properties(kube: &ClusterKube, v: &mut Value) {
    let Some(props) = v.get_mut("properties").and_then(Value::as_object_mut) else {
        return;
    };
    if kube.disable_run_command {
        props.insert(
            "apiServerAccessProfile".into(),
            json!({"disableRunCommand": true}),
        );
    }
    if kube.aad_managed {
        props.insert(
            "aadProfile".into(),
            json!({"managed": true, "enableAzureRBAC": false, "adminGroupObjectIDs": []}),
        );
    }
    props.insert(
        "disableLocalAccounts".into(),
        json!(kube.disable_local_accounts),
    );
}

#[cfg(test)]
mod tests {
    use super::{ClusterKube, cluster_properties, nodes};
    use serde_json::json;

    #[test]
    fn nodes_are_stable_per_cluster() {
        let a = nodes("/subscriptions/s/resourceGroups/g/providers/x/managedClusters/a");
        assert_eq!(a.len(), 3);
        assert!(a[0].starts_with("aks-nodepool1-") && a[0].ends_with("vmss000000"));
        assert_eq!(
            a,
            nodes("/SUBSCRIPTIONS/s/resourceGroups/g/providers/x/managedClusters/A")
        );
        assert_ne!(
            a,
            nodes("/subscriptions/s/resourceGroups/g/providers/x/managedClusters/b")
        );
    }

    #[test]
    fn the_cluster_shows_its_access_settings() {
        let mut v = json!({"properties": {}});
        let kube = ClusterKube {
            disable_run_command: true,
            aad_managed: true,
            disable_local_accounts: true,
            ..ClusterKube::default()
        };
        cluster_properties(&kube, &mut v);
        assert_eq!(
            v["properties"]["apiServerAccessProfile"]["disableRunCommand"],
            true
        );
        assert_eq!(v["properties"]["aadProfile"]["managed"], true);
        assert_eq!(v["properties"]["disableLocalAccounts"], true);
        let mut v = json!({"properties": {}});
        cluster_properties(&ClusterKube::default(), &mut v);
        assert!(v["properties"].get("apiServerAccessProfile").is_none());
        assert_eq!(v["properties"]["disableLocalAccounts"], false);
    }
}
