//! Step 4's entries are made from the tags each write reads, never from an earlier read (an
//! attack on the record, issue 28): another run's confirmation that lands between this run's
//! read of the record and its write is kept, and the entry this run puts back after another
//! operation did its reset is put back only over its own pending entry.

use std::process::Child;
use std::time::{Duration, Instant};

use common::record::{Entry, cluster_key};
use reqwest::Method;
use serde_json::{Value, json};
use xtenant_tests::azure::{Operator, app_tags, record_entry, set_app_tags};
use xtenant_tests::clock::later;
use xtenant_tests::{TestSim, line};

use super::record::{granted, sim_with_clusters, start_reset};

/// Waits until the simulator's first fault rule was matched by a request (the run is held
/// there); panics with the run's stderr after 20 s.
fn held_at_first_fault(sim: &TestSim, child: Child) -> Child {
    let deadline = Instant::now() + Duration::from_secs(20);
    while sim.sim().faults()[0]["matched"] == 0 {
        if Instant::now() > deadline {
            let out = child.wait_with_output().unwrap();
            panic!(
                "the run never came to the fault: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    child
}

/// Another run's confirmed entry for `cluster` naming `key`, written over whatever entry the
/// cluster has (the app's other tags kept), as that run's own write lands.
fn another_run_confirms(sim: &TestSim, app: &str, cluster: &str, key: &str) {
    let c = cluster_key(cluster);
    let entry = Entry {
        key: Some(key.to_owned()),
        ..Entry::default()
    }
    .tag(&c);
    let mut tags: Vec<String> = app_tags(sim, app)
        .into_iter()
        .filter(|t| !t.starts_with(&format!("xtenant-cluster:{c}")))
        .collect();
    tags.push(entry);
    let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
    set_app_tags(sim, app, &tags);
}

/// The run's exit code and stderr.
fn ended(child: Child) -> (Option<i32>, String) {
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A key of the app besides the envelope's, usable by AKS (Azure's clock moved past its
/// propagation): its secret and key id.
fn another_key(sim: &TestSim, env: &Value) -> (String, String) {
    let (secret, key) = Operator::new(sim).add_secret(env["app_object_id"].as_str().unwrap());
    sim.sim().advance(Duration::from_secs(300));
    (secret, key)
}

/// Step 4 switches the cluster from the old app. While its pull check runs (after it read the
/// record, before it writes its pending entry), another run's confirmation that the cluster
/// holds the app's key K3 lands. The pending entry keeps K3 (a prune keeps it, should this
/// reset never happen: here AKS refuses it) and no longer says `switch` (another reset may
/// have switched the cluster). Made from the entry read before, it would drop K3, and a prune
/// could then remove the key the cluster holds.
#[test]
fn a_confirmation_landing_before_the_pending_entry_is_written_is_kept() {
    let sim = sim_with_clusters(0);
    let mut env = granted(&sim);
    let app = env["app_id"].as_str().unwrap().to_owned();
    let key = env["client_secret_key_id"].as_str().unwrap().to_owned();
    let cluster = sim.var("CLUSTER_ID");
    let (_, k3) = another_key(&sim, &env);
    // No proof of step 3's pull: step 4 checks the pull itself, and is held there.
    env.as_object_mut().unwrap().remove("pull_proof");
    let faults = [
        json!({"host": "azurecr", "delay_ms": 700, "count": 1}),
        json!({"method": "POST", "path": "/resetServicePrincipalProfile", "status": 400, "code": "BadRequest", "count": 1}),
    ];
    for f in faults {
        sim.sim().add_fault(f).unwrap();
    }
    let child = start_reset(&sim, &["-v", "--cluster", &cluster], &line(&env));
    let child = held_at_first_fault(&sim, child);
    assert_eq!(record_entry(&sim, &app, &cluster), None, "no entry yet");
    another_run_confirms(&sim, &app, &cluster, &k3);
    let (code, stderr) = ended(child);
    assert_eq!(code, Some(1), "AKS refused the reset: {stderr}");
    assert_eq!(
        record_entry(&sim, &app, &cluster),
        Some(json!({"key": k3, "pending": key})),
        "{stderr}"
    );
}

/// Step 4's reset meets another operation (409); that operation makes the cluster run as the
/// app, and the entry read before this run wrote its own names the object's key: nothing to
/// do, and the entry it read goes back over its pending entry. But the other run confirmed
/// its own key K3 meanwhile (its reset is the operation waited for): the confirmation stays.
/// Put back regardless, the record would name a key the cluster does not hold, and a prune
/// could remove K3, which it does.
#[test]
fn a_put_back_after_another_operation_keeps_a_newer_confirmation() {
    let sim = sim_with_clusters(0);
    let env = granted(&sim);
    let app = env["app_id"].as_str().unwrap().to_owned();
    let key = env["client_secret_key_id"].as_str().unwrap().to_owned();
    let cluster = sim.var("CLUSTER_ID");
    // An older entry naming the envelope's key (the cluster ran as the app before).
    another_run_confirms(&sim, &app, &cluster, &key);
    let (secret3, k3) = another_key(&sim, &env);
    sim.sim()
        .add_fault(json!({"method": "POST", "path": "/resetServicePrincipalProfile", "status": 409, "code": "OperationNotAllowed", "delay_ms": 800, "count": 1}))
        .unwrap();
    let child = start_reset(&sim, &["-v", "--cluster", &cluster], &line(&env));
    let child = held_at_first_fault(&sim, child);
    // The other run: its reset to K3 (the operation step 4 is refused for), then its entry.
    let (status, body) = Operator::new(&sim).arm(
        Method::POST,
        &sim.var("CLUSTER_TENANT_ID"),
        &format!("{cluster}/resetServicePrincipalProfile?api-version=2025-10-01"),
        Some(&json!({"clientId": app, "secret": secret3})),
    );
    assert!(status == 200 || status == 202, "{status}: {body}");
    another_run_confirms(&sim, &app, &cluster, &k3);
    let (code, stderr) = later(&sim, || ended(child));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("nothing to do"), "{stderr}");
    assert_eq!(
        record_entry(&sim, &app, &cluster),
        Some(json!({"key": k3})),
        "{stderr}"
    );
}
