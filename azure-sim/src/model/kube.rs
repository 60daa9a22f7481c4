//! What a managed cluster holds inside, as far as AKS run command reaches (flattened into
//! `clusters[]`): its egress address, its access settings, namespaces, pods and their pulls,
//! node images, and run commands with their results. The behaviour is in `kube/`.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

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

#[cfg(test)]
mod tests {
    use super::ClusterKube;

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
