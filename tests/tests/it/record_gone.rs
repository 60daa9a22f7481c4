//! The keys of unconfirmed resets an entry keeps (`was`) and the keys the app no longer has
//! (the third attack on the record, issue 28, finding 1): a key the app no longer has is
//! dropped from step 4's pending entry (no prune can delete it, and none is the key the
//! cluster authenticates with), so resets of unknown outcome whose keys were since removed
//! no longer fill the entry (`RecordFull` on every later run) nor keep the reset's operation
//! out of it (a rerun reimaged again). Dropping one never skips a reset: an entry that named
//! one stays unconfirmed, and keys the app has all stay.

use std::time::Duration;

use common::record::{Entry, cluster_key};
use serde_json::{Value, json};
use xtenant_tests::azure::{Operator, app_tags, record_entry, set_app_tags};
use xtenant_tests::clock::{later, until_moved};
use xtenant_tests::steps::{Step, run_step};
use xtenant_tests::{TestSim, ended, line};

use super::record::{granted, sim_with_clusters, start_reset};
use super::record_stale::another_key;

/// Replaces the cluster's entry on the app with `e` (the app's other tags kept), as the runs
/// that wrote it left it.
pub(super) fn set_entry(sim: &TestSim, app: &str, cluster: &str, e: &Entry) {
    let c = cluster_key(cluster);
    let mut tags: Vec<String> = app_tags(sim, app)
        .into_iter()
        .filter(|t| !t.starts_with(&format!("xtenant-cluster:{c}")))
        .collect();
    tags.push(e.tag(&c));
    let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
    set_app_tags(sim, app, &tags);
}

/// `n` keys of the app besides the envelope's, removed again (as a person cleaning up after
/// the runs that used them would): their key ids.
fn removed_keys(sim: &TestSim, env: &Value, n: usize) -> Vec<String> {
    let object = env["app_object_id"].as_str().unwrap();
    let keys: Vec<String> = (0..n).map(|_| another_key(sim, env).1).collect();
    for k in &keys {
        Operator::new(sim).remove_secret(object, k);
    }
    keys
}

/// Four runs of unknown outcome with four keys left {pending K4, was K1 K2 K3}; the keys
/// were then removed from the app. Step 4 with the envelope's key resets the cluster and
/// confirms it: the removed keys leave its pending entry, which fits in a tag. Kept, the
/// entry was refused (`RecordFull`) on every run until someone edited the app's tags.
#[test]
fn keys_the_app_no_longer_has_do_not_fill_the_entry() {
    let sim = sim_with_clusters(0);
    let env = granted(&sim);
    let app = env["app_id"].as_str().unwrap().to_owned();
    let key = env["client_secret_key_id"].as_str().unwrap().to_owned();
    let cluster = sim.var("CLUSTER_ID");
    let gone = removed_keys(&sim, &env, 4);
    let left = Entry {
        pending: Some(gone[3].clone()),
        switch: true,
        was: gone[..3].to_vec(),
        ..Entry::default()
    };
    set_entry(&sim, &app, &cluster, &left);
    let child = start_reset(&sim, &["-v", "--cluster", &cluster], &line(&env));
    let (code, stderr) = later(&sim, || ended(child));
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(sim.resets_accepted(&cluster), 1, "{stderr}");
    assert_eq!(
        record_entry(&sim, &app, &cluster),
        Some(json!({"key": key})),
        "{stderr}"
    );
}

/// After two resets of unknown outcome ({key K, pending K1, was K2}, K1 and K2 since removed),
/// step 4 with K's envelope, detached, notes its reset's operation in the entry: the rerun
/// given that operation follows it and resets nothing. With the removed keys kept, the entry
/// with the operation was longer than a tag: the note was refused, and the rerun reimaged
/// the cluster again.
#[test]
fn the_operation_is_noted_after_resets_whose_keys_were_removed() {
    // A reset lasts until the test moves Azure's clock on.
    let reset_lasts = until_moved();
    let sim = TestSim::start_with(|c| c.lro_duration = Some(reset_lasts));
    let env = granted(&sim);
    let app = env["app_id"].as_str().unwrap().to_owned();
    let key = env["client_secret_key_id"].as_str().unwrap().to_owned();
    let cluster = sim.var("CLUSTER_ID");
    // The cluster holds K (an earlier run's reset), and two later runs left their keys.
    let secret = env["client_secret"].clone();
    Operator::new(&sim).reset_cluster(&cluster, &json!(app), &secret);
    sim.sim().advance(reset_lasts);
    let gone = removed_keys(&sim, &env, 2);
    let left = Entry {
        key: Some(key.clone()),
        pending: Some(gone[1].clone()),
        was: vec![gone[0].clone()],
        ..Entry::default()
    };
    set_entry(&sim, &app, &cluster, &left);
    let before = sim.resets_accepted(&cluster);
    let detached = run_step(&sim, Step::Reset, &["--detach", "-v"], &line(&env));
    let op = detached.object()["cluster_operation_url"].clone();
    assert!(op.is_string(), "{}", detached.stderr);
    let noted = record_entry(&sim, &app, &cluster);
    assert!(
        noted.as_ref().is_some_and(|e| e["op"].is_string()),
        "the operation is not in the entry: {noted:?}\n{}",
        detached.stderr
    );
    sim.sim().advance(reset_lasts);
    let rerun = run_step(&sim, Step::Reset, &["-v"], &line(&detached.object()));
    assert_eq!(rerun.code, 0, "{}", rerun.stderr);
    assert_eq!(
        sim.resets_accepted(&cluster),
        before + 1,
        "the rerun reset the cluster again: {}",
        rerun.stderr
    );
    assert_eq!(
        record_entry(&sim, &app, &cluster),
        Some(json!({"key": key}))
    );
}

/// The cluster holds Kx (another run's reset to it landed), and Kx was then removed from the
/// app: {key K, pending Kx}. Step 4 with K's envelope resets; its POST is answered 500 (it may
/// have started the reset), so its pending entry stays. Kx left that entry, yet the rerun
/// resets again: {key K, pending K} alone would have said "nothing to do" while the cluster
/// may still hold Kx, which no longer signs in.
#[test]
fn an_entry_that_named_a_removed_key_stays_unconfirmed() {
    let sim = sim_with_clusters(0);
    let env = granted(&sim);
    let app = env["app_id"].as_str().unwrap().to_owned();
    let key = env["client_secret_key_id"].as_str().unwrap().to_owned();
    let cluster = sim.var("CLUSTER_ID");
    let (secret_x, kx) = another_key(&sim, &env);
    Operator::new(&sim).reset_cluster(&cluster, &json!(app), &json!(secret_x));
    sim.sim().advance(Duration::from_secs(3600));
    Operator::new(&sim).remove_secret(env["app_object_id"].as_str().unwrap(), &kx);
    let left = Entry {
        key: Some(key.clone()),
        pending: Some(kx.clone()),
        ..Entry::default()
    };
    set_entry(&sim, &app, &cluster, &left);
    sim.sim()
        .add_fault(json!({"method": "POST", "path": "/resetServicePrincipalProfile", "status": 500, "code": "InternalServerError", "count": 1}))
        .unwrap();
    let before = sim.resets_accepted(&cluster);
    let child = start_reset(&sim, &["-v", "--cluster", &cluster], &line(&env));
    let (code, stderr) = later(&sim, || ended(child));
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(sim.resets_accepted(&cluster), before, "{stderr}");
    let pending = record_entry(&sim, &app, &cluster);
    assert!(
        pending.as_ref().is_some_and(|e| e["was"].is_string()),
        "the entry no longer says another key may be held: {pending:?}\n{stderr}"
    );
    let child = start_reset(&sim, &["-v", "--cluster", &cluster], &line(&env));
    let (code, stderr) = later(&sim, || ended(child));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(!stderr.contains("nothing to do"), "{stderr}");
    assert_eq!(sim.resets_accepted(&cluster), before + 1, "{stderr}");
}
