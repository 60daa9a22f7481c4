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

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::crypto::sha256_hex;

pub(crate) use exec::{Identity, run_script};

/// The AKS AAD server application: the audience of a run command's `clusterToken` (the same
/// id in every cloud; Azure CLI `aks_runcommand`).
pub(crate) const AKS_SERVER_APP: &str = "6dae42f8-4368-4678-94ff-3960e28e3630";

/// The namespaces every cluster has (`aks-command` holds run command's own pods).
pub(crate) const SYSTEM_NAMESPACES: &[&str] = &[
    "default",
    "kube-system",
    "kube-public",
    "kube-node-lease",
    "aks-command",
];

#[expect(
    clippy::trivially_copy_pass_by_ref,
    reason = "serde's skip_serializing_if passes a reference"
)]
fn is_false(b: &bool) -> bool {
    !*b
}

/// What a cluster holds besides its ARM properties (flattened into `clusters[]`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct ClusterKube {
    /// The public address its nodes' outbound traffic leaves from (the load balancer's
    /// outbound IP): what a registry's firewall sees. Absent: the nodes reach registries over
    /// a private path (a private endpoint) every firewall admits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub egress_ip: Option<String>,
    /// `apiServerAccessProfile.disableRunCommand`.
    #[serde(skip_serializing_if = "is_false")]
    pub disable_run_command: bool,
    /// `disableLocalAccounts`: a run command then needs a `clusterToken`.
    #[serde(skip_serializing_if = "is_false")]
    pub disable_local_accounts: bool,
    /// `aadProfile.managed` (AKS-managed Microsoft Entra integration).
    #[serde(skip_serializing_if = "is_false")]
    pub aad_managed: bool,
    /// Namespaces made in the cluster (besides [`SYSTEM_NAMESPACES`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    /// The pods run commands made and left.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pods: Vec<Pod>,
    /// Images on the nodes (pulled before; an `IfNotPresent` pod uses them without a pull).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub node_images: Vec<String>,
    /// Run commands and their results (the newest [`MAX_COMMANDS`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub commands: Vec<Command>,
}

/// How many run command results a cluster keeps.
pub(crate) const MAX_COMMANDS: usize = 50;

impl ClusterKube {
    /// The egress address, when the cluster has one (and it parses).
    pub(crate) fn egress_address(&self) -> Option<IpAddr> {
        self.egress_ip
            .as_deref()
            .and_then(|s| s.trim().parse().ok())
    }

    /// Whether the namespace exists.
    pub(crate) fn has_namespace(&self, ns: &str) -> bool {
        SYSTEM_NAMESPACES.contains(&ns) || self.namespaces.iter().any(|n| n == ns)
    }
}

/// A pod a run command made.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Pod {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub image: String,
    pub image_pull_policy: String,
    pub node: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The kubelet's pull, decided when the pod was scheduled.
    pub pull: Pull,
}

/// The kubelet's pull of a pod's image.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Pull {
    /// `Pulled`, `Present` (already on the node), `ErrImagePull`, `InvalidImageName` or
    /// `ErrImageNeverPull`.
    pub outcome: String,
    /// `<repository>@sha256:…` once pulled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_id: Option<String>,
    /// The container runtime's error, for a failed pull.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// How long the pull took, in the cluster's time (milliseconds).
    pub took_ms: u64,
}

impl Pull {
    /// Whether the image is on the node (pulled now or before).
    pub(crate) fn ok(&self) -> bool {
        self.outcome == "Pulled" || self.outcome == "Present"
    }
}

/// A run command and, once it has run, its result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Command {
    /// 32 hex digits, as AKS names them.
    pub id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// When the result is ready (until then the result answers 202).
    #[serde(with = "time::serde::rfc3339")]
    pub finished_at: OffsetDateTime,
    /// `Succeeded` (the command ran; see `exit_code`) or `Failed` (it could not run: `reason`).
    pub provisioning_state: String,
    #[serde(default)]
    pub exit_code: i32,
    #[serde(default)]
    pub logs: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

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

    #[test]
    fn egress_addresses_parse() {
        let k = ClusterKube {
            egress_ip: Some(" 198.51.100.20 ".into()),
            ..ClusterKube::default()
        };
        assert_eq!(k.egress_address(), Some("198.51.100.20".parse().unwrap()));
        assert!(k.has_namespace("aks-command"));
        assert!(!k.has_namespace("xtenant-probe"));
    }
}
