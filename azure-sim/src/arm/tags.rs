//! `PATCH …/managedClusters/{name}` (`ManagedClusters_UpdateTags`): a cluster update. A deny
//! policy governing the cluster itself (its scope, group or subscription) refuses it at once
//! (403 `RequestDisallowedByPolicy`, nothing kept: ARM evaluates it before the resource
//! provider). Otherwise ARM keeps the new tags at once; AKS then reconciles the cluster
//! (`Updating`, every other write refused with 409 meanwhile) and copies its tags onto the
//! resources of its node resource group, where a tag policy can fail the whole operation.
//!
//! `If-Match` makes it conditional on the cluster's `eTag` (which every cluster-level write
//! changes): a stale one is refused with 412 `PreConditionFailed` and nothing is kept
//! (from api-version 2024-09-01 on: before it the cluster has no `eTag`).
//!
//! Sources: the AKS REST spec (`ManagedClusters_UpdateTags` is `x-ms-long-running-operation`;
//! `stable/2025-10-01/examples/ManagedClustersUpdateTags.json`: a `TagsObject` body answered with
//! the cluster); azure-cli#16055 (`az aks update --tags`: "the tags will be applied to the
//! resources in the node resource group"), Azure/AKS#3707; Azure/AKS#5856 and the policy sources
//! in `policy.rs`; the tag limits in learn.microsoft.com/azure/azure-resource-manager/management/
//! tag-resources (50 tags, names of at most 512 and values of at most 256 characters, no `<>%&\?/`
//! in a name; writing tags needs the resource type's write action).

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;

use super::checks::resource_not_found;
use super::clusters::{aks_err, cluster_json, find_cluster};
use super::reset::follow_me;
use super::{R, json_object};
use crate::core::{Core, Principal};
use crate::http::{Req, arm_err, json};
use crate::model::{Cluster, Operation, State, UPDATE_TAGS};

/// The cluster's node resource group (`MC_{group}_{name}_{location}`), as an ARM id.
pub(super) fn node_resource_group(c: &Cluster) -> String {
    format!(
        "/subscriptions/{}/resourceGroups/MC_{}_{}_{}",
        c.subscription_id, c.resource_group, c.name, c.location
    )
}

/// `PATCH .../managedClusters/{name}`: the tags replaced at once, then 202 with the cluster
/// (`Updating`) and the operation's URLs; its end copies the tags onto the node resource group
/// (or fails on a tag policy there). Lenient (`cluster-updates`): 200 at once, as a plain write.
pub(super) fn update_tags(core: &Core, req: &Req, p: &Principal, state: &mut State, id: &str) -> R {
    let segs = &req.segs;
    let cluster = find_cluster(
        req,
        p,
        state,
        id,
        "Microsoft.ContainerService/managedClusters/write",
    )?
    .clone();
    let body = json_object(req)?;
    let tags = parse_tags(body.get("tags"))?;
    if let Some((policy, tag)) = crate::policy::denied(&state.policies, &cluster.id, tags.keys()) {
        let body = crate::policy::arm_refusal(policy, &cluster.id, &tag);
        return Err(json(StatusCode::FORBIDDEN, &body));
    }
    precondition(state, req, &cluster)?;
    let busy = !matches!(
        cluster.provisioning_state.as_str(),
        "Succeeded" | "Failed" | "Canceled"
    );
    if busy || state.running_operation(&cluster.id).is_some() {
        return Err(aks_err(
            state,
            StatusCode::CONFLICT,
            "OperationNotAllowed",
            "Operation is not allowed: Another operation (Updating) is in progress, please wait for it to finish before starting a new operation. See https://aka.ms/aks-pending-operation for more details",
        ));
    }
    let c = state
        .clusters
        .iter_mut()
        .find(|c| c.id.eq_ignore_ascii_case(id))
        .ok_or_else(|| resource_not_found(&segs[5], &[&segs[6], &segs[7]], &segs[3]))?;
    c.tags = tags;
    c.touch();
    if core.lenient_cluster_updates {
        c.node_resource_tags.clone_from(&c.tags);
        let c = c.clone();
        return Ok(json(StatusCode::OK, &cluster_json(state, req, &c)));
    }
    "Updating".clone_into(&mut c.provisioning_state);
    let c = c.clone();
    let node_rg = node_resource_group(&c);
    let refused = crate::policy::denied(&state.policies, &node_rg, c.tags.keys())
        .map(|(policy, tag)| crate::policy::refusal(policy, &node_rg, &tag));
    let op_id = uuid::Uuid::new_v4().to_string();
    state.operations.push(Operation {
        id: op_id.clone(),
        kind: UPDATE_TAGS.into(),
        new_tags: Some(c.tags.clone()),
        cluster_id: c.id.clone(),
        subscription_id: c.subscription_id.clone(),
        location: c.location.clone(),
        started_at: core.now(),
        duration_ms: u64::try_from(core.cluster_update_time.as_millis()).unwrap_or(u64::MAX),
        outcome: if refused.is_some() {
            "Failed"
        } else {
            "Succeeded"
        }
        .into(),
        error_code: refused.as_ref().map(|_| "RequestDisallowedByPolicy".into()),
        error_message: refused,
        new_client_id: String::new(),
        new_secret_sha256: None,
        status: "InProgress".into(),
        ended_at: None,
    });
    let mut r = json(StatusCode::ACCEPTED, &cluster_json(state, req, &c));
    follow_me(&mut r, core, &c, &op_id, core.cluster_update_time);
    Ok(r)
}

/// `If-Match`: the write goes on only when it names the cluster's current `eTag` (or is `*`);
/// otherwise 412 `PreConditionFailed` (the code as AKS's use-etags page spells it), before AKS
/// looks at anything else. An empty header is no condition, and so is any header at an
/// api-version whose cluster has no `eTag` (before
/// [`crate::api_versions::CLUSTER_ETAG_SINCE`]).
fn precondition(state: &State, req: &Req, c: &Cluster) -> Result<(), Response> {
    let Some(sent) = req.headers.get("if-match") else {
        return Ok(());
    };
    if !crate::api_versions::has_cluster_etag(req.q("api-version")) {
        return Ok(());
    }
    let sent = String::from_utf8_lossy(sent.as_bytes());
    let sent = sent.trim();
    let etag = c.etag();
    if sent.is_empty() || sent == "*" || sent == etag {
        return Ok(());
    }
    Err(aks_err(
        state,
        StatusCode::PRECONDITION_FAILED,
        "PreConditionFailed",
        &format!(
            "Etag provided in if-match header \"{sent}\" does not match etag \"{etag}\" of resource."
        ),
    ))
}

/// A `TagsObject`'s `tags`, checked against ARM's tag limits.
fn parse_tags(v: Option<&Value>) -> Result<std::collections::BTreeMap<String, String>, Response> {
    let bad = |code: &str, m: &str| arm_err(StatusCode::BAD_REQUEST, code, m);
    let mut out = std::collections::BTreeMap::new();
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(out);
    };
    let Some(map) = v.as_object() else {
        return Err(bad(
            "InvalidRequestContent",
            "The request content was invalid and could not be deserialized: 'tags' must be an object.",
        ));
    };
    if map.len() > 50 {
        return Err(bad(
            "InvalidTag",
            "The resource has more than 50 tags; a resource can have at most 50 tag name/value pairs.",
        ));
    }
    for (k, val) in map {
        let Some(val) = val.as_str() else {
            return Err(bad(
                "InvalidRequestContent",
                &format!(
                    "The request content was invalid and could not be deserialized: the value of tag '{k}' must be a string."
                ),
            ));
        };
        if k.is_empty() || k.chars().any(|c| "<>%&\\?/".contains(c) || c.is_control()) {
            return Err(bad(
                "InvalidTagNameCharacters",
                &format!(
                    "The tag names '{k}' have reserved characters '<,>,%,&,\\,?,/' or control characters."
                ),
            ));
        }
        if k.chars().count() > 512 || val.chars().count() > 256 {
            return Err(bad(
                "InvalidTag",
                &format!(
                    "The tag '{k}' is too long: a tag name has at most 512 characters and a value at most 256."
                ),
            ));
        }
        out.insert(k.clone(), val.to_owned());
    }
    Ok(out)
}
