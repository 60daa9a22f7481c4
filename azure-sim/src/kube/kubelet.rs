//! The kubelet's side of a pod: where it runs, whether its image came through (decided by the
//! simulator's pull truth, over the cluster's network path), and how that shows in the pod's
//! status and events, in the words containerd and the kubelet use.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{Pod, Pull, nodes};
use crate::core::Core;
use crate::dates::fmt_secs;
use crate::model::Cluster;
use crate::registry::{Stage, verdict};

/// How long a pull that goes through takes, in the cluster's time.
const PULL_MS: u64 = 800;
/// How long a pull that fails takes before the kubelet reports it.
const FAILED_PULL_MS: u64 = 500;
/// How long after a failed pull the kubelet backs off (`ErrImagePull` → `ImagePullBackOff`).
const BACKOFF_MS: u64 = 10_000;

/// What `kubectl run` asked for.
pub(super) struct Spec<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub image: &'a str,
    /// `Always`, `IfNotPresent`, `Never`, or empty (Kubernetes' default for the tag).
    pub policy: &'a str,
    pub labels: BTreeMap<String, String>,
}

/// Schedules the pod on a node and lets the kubelet pull its image.
pub(super) fn schedule(core: &Core, cluster: &Cluster, spec: &Spec<'_>) -> Pod {
    let nodes = nodes(&cluster.id);
    let pick = crate::crypto::sha256_hex(spec.name.as_bytes());
    let node = nodes[usize::from(pick.as_bytes()[0]) % nodes.len()].clone();
    let policy = match spec.policy {
        "" if tag_is_latest(spec.image) => "Always",
        "" => "IfNotPresent",
        p => p,
    };
    let pull = pull(core, cluster, spec.image, policy);
    Pod {
        namespace: spec.namespace.to_owned(),
        name: spec.name.to_owned(),
        uid: uuid::Uuid::new_v4().to_string(),
        labels: spec.labels.clone(),
        image: spec.image.to_owned(),
        image_pull_policy: policy.to_owned(),
        node,
        created_at: core.now(),
        pull,
    }
}

/// Whether the reference has no tag or the tag `latest` (Kubernetes then pulls `Always`).
fn tag_is_latest(image: &str) -> bool {
    if image.contains('@') {
        return false;
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    last.split_once(':').is_none_or(|(_, t)| t == "latest")
}

/// Docker's reference grammar, as far as a kubelet checks it before pulling.
fn valid_reference(image: &str) -> bool {
    let (rest, digest) = match image.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (image, None),
    };
    if let Some(d) = digest
        && !d
            .strip_prefix("sha256:")
            .is_some_and(|h| h.len() == 64 && h.bytes().all(|c| c.is_ascii_hexdigit()))
    {
        return false;
    }
    let (path, tag) = match rest.rsplit_once(':') {
        Some((p, t)) if !t.contains('/') => (p, Some(t)),
        _ => (rest, None),
    };
    if let Some(t) = tag
        && (t.is_empty()
            || t.len() > 128
            || !t
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || b"._-".contains(&c)))
    {
        return false;
    }
    let mut comps: Vec<&str> = path.split('/').collect();
    if comps.len() > 1 && (comps[0].contains(['.', ':']) || comps[0] == "localhost") {
        let host = comps.remove(0);
        if host.is_empty()
            || !host
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || b".-:".contains(&c))
        {
            return false;
        }
    }
    !comps.is_empty()
        && comps.iter().all(|c| {
            !c.is_empty()
                && c.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        })
}

/// The registry host, repository and reference of a valid reference (Docker Hub when no host).
fn split(image: &str) -> (String, String, String) {
    let (rest, reference) = match image.split_once('@') {
        Some((r, d)) => (r, d.to_owned()),
        None => match image.rsplit_once(':') {
            Some((r, t)) if !t.contains('/') => (r, t.to_owned()),
            _ => (image, "latest".to_owned()),
        },
    };
    match rest.split_once('/') {
        Some((h, repo)) if h.contains(['.', ':']) || h == "localhost" => {
            (h.to_owned(), repo.to_owned(), reference)
        }
        _ if rest.contains('/') => ("registry-1.docker.io".into(), rest.to_owned(), reference),
        _ => (
            "registry-1.docker.io".into(),
            format!("library/{rest}"),
            reference,
        ),
    }
}

fn pull(core: &Core, cluster: &Cluster, image: &str, policy: &str) -> Pull {
    let failed = |outcome: &str, error: String| Pull {
        outcome: outcome.to_owned(),
        image_id: None,
        error: Some(error),
        took_ms: FAILED_PULL_MS,
    };
    if !valid_reference(image) {
        return failed(
            "InvalidImageName",
            format!(
                "Failed to apply default image tag \"{image}\": couldn't parse image name \"{image}\": invalid reference format"
            ),
        );
    }
    let present = cluster.kube.node_images.iter().any(|i| i == image);
    if present && policy != "Always" {
        return Pull {
            outcome: "Present".into(),
            image_id: None,
            error: None,
            took_ms: 0,
        };
    }
    if policy == "Never" {
        return failed(
            "ErrImageNeverPull",
            format!("Container image \"{image}\" is not present with pull policy of Never"),
        );
    }
    let (host, repo, reference) = split(image);
    let v = verdict(core, &cluster.id, image);
    if v.pulled() {
        return Pull {
            outcome: "Pulled".into(),
            image_id: Some(format!(
                "{host}/{repo}@{}",
                v.digest.unwrap_or_else(|| reference.clone())
            )),
            error: None,
            took_ms: PULL_MS,
        };
    }
    let token_url = format!(
        "https://{host}/oauth2/token?scope=repository%3A{}%3Apull&service={host}",
        repo.replace('/', "%2F")
    );
    let why = match v.stage {
        Stage::Resolve => {
            let bare = host.split(':').next().unwrap_or(&host);
            format!(
                "failed to resolve reference \"{image}\": failed to do request: Head \"https://{host}/v2/{repo}/manifests/{reference}\": dial tcp: lookup {bare}: no such host"
            )
        }
        Stage::Network => {
            let ip = cluster
                .kube
                .egress_ip
                .clone()
                .unwrap_or_else(|| "unknown".into());
            format!(
                "failed to resolve reference \"{image}\": failed to authorize: failed to fetch oauth token: unexpected status from GET request to {token_url}: 403 Forbidden: client with IP '{ip}' is not allowed access. Refer https://aka.ms/acr/firewall to grant access."
            )
        }
        Stage::Credentials => format!(
            "failed to resolve reference \"{image}\": failed to authorize: failed to fetch oauth token: unexpected status from GET request to {token_url}: 401 Unauthorized"
        ),
        Stage::Authorization => format!(
            "failed to resolve reference \"{image}\": pull access denied, repository does not exist or may require authorization: server message: insufficient_scope: authorization failed"
        ),
        Stage::Manifest => format!("failed to resolve reference \"{image}\": {image}: not found"),
        Stage::Content | Stage::Pulled => format!("failed to copy: {}", v.reason),
    };
    failed(
        "ErrImagePull",
        format!("failed to pull and unpack image \"{image}\": {why}"),
    )
}

/// Where the kubelet is with the pod's image at cluster time `clock`, for a pod made at
/// `made` (`None`: by an earlier command, long done): `None` while it pulls, else the time
/// since it was decided.
fn decided(pod: &Pod, made: Option<u64>, clock: u64) -> Option<u64> {
    match made {
        None => Some(BACKOFF_MS),
        Some(m) => clock.checked_sub(m + pod.pull.took_ms),
    }
}

/// The pod as `kubectl get pod -o json` shows it at cluster time `clock`.
pub(super) fn pod_json(pod: &Pod, made: Option<u64>, clock: u64) -> Value {
    let created = fmt_secs(pod.created_at);
    let (phase, state, image_id, ready) = match decided(pod, made, clock) {
        None => (
            "Pending",
            json!({"waiting": {"reason": "ContainerCreating"}}),
            String::new(),
            false,
        ),
        Some(_) if pod.pull.ok() => (
            "Running",
            json!({"running": {"startedAt": created}}),
            pod.pull.image_id.clone().unwrap_or_default(),
            true,
        ),
        Some(since) => {
            let (reason, message) = if pod.pull.outcome == "ErrImagePull" && since >= BACKOFF_MS {
                (
                    "ImagePullBackOff".to_owned(),
                    format!("Back-off pulling image \"{}\"", pod.image),
                )
            } else {
                (
                    pod.pull.outcome.clone(),
                    pod.pull.error.clone().unwrap_or_default(),
                )
            };
            (
                "Pending",
                json!({"waiting": {"reason": reason, "message": message}}),
                String::new(),
                false,
            )
        }
    };
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": pod.name,
            "namespace": pod.namespace,
            "uid": pod.uid,
            "labels": pod.labels,
            "creationTimestamp": created,
        },
        "spec": {
            "containers": [{"name": pod.name, "image": pod.image, "imagePullPolicy": pod.image_pull_policy}],
            "nodeName": pod.node,
            "restartPolicy": "Never",
        },
        "status": {
            "phase": phase,
            "containerStatuses": [{
                "name": pod.name,
                "image": pod.image,
                "imageID": image_id,
                "ready": ready,
                "started": ready,
                "restartCount": 0,
                "state": state,
            }],
        },
    })
}

/// The pod's events at cluster time `clock`, oldest first.
pub(super) fn events(pod: &Pod, made: Option<u64>, clock: u64) -> Vec<Value> {
    let ev = |kind: &str, reason: &str, message: String| {
        json!({
            "type": kind,
            "reason": reason,
            "message": message,
            "involvedObject": {"kind": "Pod", "name": pod.name, "namespace": pod.namespace},
            "count": 1,
            "firstTimestamp": fmt_secs(pod.created_at),
        })
    };
    let image = &pod.image;
    let mut out = vec![ev(
        "Normal",
        "Scheduled",
        format!(
            "Successfully assigned {}/{} to {}",
            pod.namespace, pod.name, pod.node
        ),
    )];
    let outcome = pod.pull.outcome.as_str();
    if outcome == "InvalidImageName" {
        out.push(ev(
            "Warning",
            "InspectFailed",
            pod.pull.error.clone().unwrap_or_default(),
        ));
        out.push(ev("Warning", "Failed", "Error: InvalidImageName".into()));
        return out;
    }
    if outcome == "Present" {
        out.push(ev(
            "Normal",
            "Pulled",
            format!("Container image \"{image}\" already present on machine"),
        ));
    } else if outcome != "ErrImageNeverPull" {
        out.push(ev(
            "Normal",
            "Pulling",
            format!("Pulling image \"{image}\""),
        ));
    }
    let Some(since) = decided(pod, made, clock) else {
        return out;
    };
    if pod.pull.ok() {
        if outcome == "Pulled" {
            let ms = pod.pull.took_ms;
            out.push(ev(
                "Normal",
                "Pulled",
                format!(
                    "Successfully pulled image \"{image}\" in {ms}ms ({ms}ms including waiting)"
                ),
            ));
        }
        out.push(ev(
            "Normal",
            "Created",
            format!("Created container: {}", pod.name),
        ));
        out.push(ev(
            "Normal",
            "Started",
            format!("Started container {}", pod.name),
        ));
        return out;
    }
    let error = pod.pull.error.clone().unwrap_or_default();
    if outcome == "ErrImageNeverPull" {
        out.push(ev("Warning", "ErrImageNeverPull", error));
        out.push(ev("Warning", "Failed", "Error: ErrImageNeverPull".into()));
        return out;
    }
    out.push(ev(
        "Warning",
        "Failed",
        format!("Failed to pull image \"{image}\": {error}"),
    ));
    out.push(ev("Warning", "Failed", "Error: ErrImagePull".into()));
    if since >= BACKOFF_MS {
        out.push(ev(
            "Normal",
            "BackOff",
            format!("Back-off pulling image \"{image}\""),
        ));
        out.push(ev("Warning", "Failed", "Error: ImagePullBackOff".into()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{split, tag_is_latest, valid_reference};

    #[test]
    fn references() {
        for ok in [
            "fabrikamacr.azurecr.io/samples/hello:1.0",
            "fabrikamacr.azurecr.sim:8443/samples/hello:1.0",
            "nginx",
            "library/nginx:latest",
            &format!("r.io/x@sha256:{}", "a".repeat(64)),
        ] {
            assert!(valid_reference(ok), "{ok}");
        }
        for bad in [
            "UPPER/x:1",
            "r.io/x:",
            "r.io/x@sha256:12",
            "r.io//x:1",
            "a b",
            "",
        ] {
            assert!(!valid_reference(bad), "{bad}");
        }
        assert!(tag_is_latest("nginx") && tag_is_latest("r.io/x:latest"));
        assert!(!tag_is_latest("r.io:5000/x:1"));
        assert_eq!(
            split("r.io:5000/a/b:1"),
            ("r.io:5000".into(), "a/b".into(), "1".into())
        );
        assert_eq!(
            split("nginx"),
            (
                "registry-1.docker.io".into(),
                "library/nginx".into(),
                "latest".into()
            )
        );
    }
}
