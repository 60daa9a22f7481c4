//! What the simulator's state says of apps, principals, role assignments and records (read
//! without a request a test could see in the log), and the tag writes a test forges.

use serde_json::{Value, json};

use super::{Method, Operator};
use crate::TestSim;

fn same_id(v: &Value, id: &str) -> bool {
    v.as_str().is_some_and(|s| s.eq_ignore_ascii_case(id))
}

/// The object id of `app_id`'s service principal in `tenant`, from the simulator's state
/// (no request is sent).
pub fn service_principal_of(sim: &TestSim, tenant: &str, app_id: &str) -> Option<String> {
    sim.collection("service_principals")
        .as_array()
        .expect("state has service_principals")
        .iter()
        .find(|s| same_id(&s["tenant_id"], tenant) && same_id(&s["app_id"], app_id))
        .map(|s| s["id"].as_str().expect("service principal id").to_owned())
}

/// The key ids of an app's secrets (its password credentials), as the simulator's state
/// holds the app.
#[track_caller]
pub fn key_ids(app: &Value) -> Vec<String> {
    app["password_credentials"]
        .as_array()
        .expect("password_credentials")
        .iter()
        .map(|p| p["key_id"].as_str().expect("key_id").to_owned())
        .collect()
}

/// The apps carrying the unique-name tag `xtenant:uniqueName:<unique>` (step 1's without
/// Graph's uniqueName key), from the simulator's state.
pub fn apps_tagged(sim: &TestSim, unique: &str) -> Vec<Value> {
    let tag = format!("xtenant:uniqueName:{unique}");
    sim.collection("applications")
        .as_array()
        .expect("state has applications")
        .iter()
        .filter(|a| {
            a["properties"]["tags"]
                .as_array()
                .is_some_and(|t| t.iter().any(|t| t == &tag))
        })
        .cloned()
        .collect()
}

/// The role assignments of `principal` (an object id), from the simulator's state.
pub fn role_assignments_of(sim: &TestSim, principal: &str) -> Vec<Value> {
    sim.collection("role_assignments")
        .as_array()
        .expect("state has role_assignments")
        .iter()
        .filter(|ra| same_id(&ra["principal_id"], principal))
        .cloned()
        .collect()
}

/// The tags of the app `app_id` (where step 4 keeps its record), from the simulator's state.
pub fn app_tags(sim: &TestSim, app_id: &str) -> Vec<String> {
    sim.collection("applications")
        .as_array()
        .expect("state has applications")
        .iter()
        .find(|a| same_id(&a["app_id"], app_id))
        .and_then(|a| a["properties"]["tags"].as_array())
        .map(|t| {
            t.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The record entry of the cluster `cluster_id` on the app `app_id`, read as the README
/// documents it (independently of the tools' code): the tag
/// `xtenant-cluster:<UUID v5 of the lower-cased cluster id>;key=…;pending=…;switch=1;op=…`,
/// as `{"key", "pending", "switch", "op", "was"}` with the parts it has (the writer's mark,
/// `run`, left out); `None` without one.
pub fn record_entry(sim: &TestSim, app_id: &str, cluster_id: &str) -> Option<Value> {
    let ns = uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_URL,
        b"https://xtenant.invalid/cluster-record",
    );
    let key = uuid::Uuid::new_v5(&ns, cluster_id.to_ascii_lowercase().as_bytes());
    let prefix = format!("xtenant-cluster:{key}");
    let tags = app_tags(sim, app_id);
    let mut found = tags.iter().filter(|t| {
        t.strip_prefix(&prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(';'))
    });
    let tag = found.next()?;
    assert!(found.next().is_none(), "one entry per cluster: {tags:?}");
    let mut entry = serde_json::Map::new();
    // The pending entry's writer's mark (`run`) names no key: left out (a test that needs it
    // reads the tags).
    for part in tag.split(';').skip(1) {
        let (name, value) = part.split_once('=').unwrap_or((part, ""));
        if name != "run" {
            entry.insert(name.to_owned(), json!(value));
        }
    }
    Some(Value::Object(entry))
}

/// Replaces the tags of the cluster `cluster_id` as `op` (an identity that may write the
/// cluster): on AKS a cluster update, accepted (202) and then reconciled; the update is let
/// end (Azure's clock moved past it) before this returns. The answer's status and body.
pub fn write_cluster_tags(
    sim: &TestSim,
    op: &Operator,
    cluster_id: &str,
    tags: &Value,
) -> (u16, Value) {
    let answer = op.arm(
        Method::PATCH,
        &sim.var("CLUSTER_TENANT_ID"),
        &format!("{cluster_id}?api-version=2025-10-01"),
        Some(&json!({ "tags": tags })),
    );
    if answer.0 == 202 {
        sim.sim().advance(azure_sim::CLUSTER_UPDATE_TIME);
    }
    answer
}

/// Replaces the tags of the app `app_id` (as its owner could), asserting Graph took them.
pub fn set_app_tags(sim: &TestSim, app_id: &str, tags: &[&str]) {
    let (status, body) = Operator::new(sim).graph(
        Method::PATCH,
        &sim.var("CLUSTER_TENANT_ID"),
        &format!("/applications(appId='{app_id}')"),
        Some(&json!({ "tags": tags })),
    );
    assert_eq!(status, 204, "{body}");
}
