//! Step 4's record after a security review of it (attack9, issue 28): an entry never drops a
//! key another entry named (a prune would then remove the key a cluster holds), a
//! confirmation never writes over another run's newer pending key, an entry read before a
//! switch is no evidence once the switch was refused (409) and another operation ran, and a
//! refused reset leaves no switch claim behind.

use std::time::{Duration, Instant};

use common::record::{Entry, cluster_key};
use serde_json::{Value, json};
use xtenant_tests::azure::{Operator, app_tags, record_entry, set_app_tags};
use xtenant_tests::clock::later;
use xtenant_tests::{TestSim, ended, line};

use super::record::{granted, per_cluster, sim_with_clusters, start_reset};
use super::record_stale::{another_key, another_run_confirms, refused_while};

/// Step 1's `--prune-secrets` on `env` (K2's envelope) keeps `k3`, `held` says why it must.
#[track_caller]
fn prune_keeps(sim: &TestSim, env: &Value, k3: &str, held: &str, stderr: &str) {
    let app = env["app_id"].as_str().unwrap();
    let tags = app_tags(sim, app);
    let prune = xtenant_tests::steps::run_step(
        sim,
        xtenant_tests::steps::Step::App,
        &["--prune-secrets"],
        &line(env),
    );
    let keys = xtenant_tests::steps::app_key_ids(sim, app);
    assert!(
        keys.iter().any(|k| k.eq_ignore_ascii_case(k3)),
        "the prune removed K3, {held} (record {tags:?}; prune exit {}: {})\n{stderr}",
        prune.code,
        prune.stderr.lines().last().unwrap_or("")
    );
}

/// The cluster's held secret, as the simulator's state hashes it.
fn held_secret(sim: &TestSim, cluster: &str) -> Value {
    sim.state()["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"].as_str().unwrap().eq_ignore_ascii_case(cluster))
        .unwrap()["secret_sha256"]
        .clone()
}

/// The record names the envelope's key K2 from a time the cluster ran as the app (a stale
/// entry: it runs as another app now). Step 4 switches it; its POST is refused (409) while
/// another operation (someone's reset of the cluster to the app with another key, K3,
/// recorded nowhere) runs. When that ends the cluster runs as the app on K3, and the record
/// shows only this run's pending entry made from the stale read: the entry read while the
/// cluster ran as another app says nothing of what the awaited operation did, so the reset
/// is posted. Taken as evidence, it said "nothing to do" and put {key K2} back while the
/// cluster held K3 (a prune by K2's envelope then removed it).
#[test]
fn a_stale_entry_read_before_a_switch_is_no_evidence_after_a_409() {
    let sim = sim_with_clusters(0);
    let env = granted(&sim);
    let app = env["app_id"].as_str().unwrap().to_owned();
    let key = env["client_secret_key_id"].as_str().unwrap().to_owned();
    let cluster = sim.var("CLUSTER_ID");
    another_run_confirms(&sim, &app, &cluster, &key);
    let (secret3, _k3) = another_key(&sim, &env);
    let before = sim.resets_accepted(&cluster);
    let (code, stderr) = refused_while(&sim, &env, || {
        Operator::new(&sim).reset_cluster(&cluster, &json!(app), &json!(secret3));
    });
    let held_by_other = sim.resets_accepted(&cluster) == before + 1;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        !held_by_other && !stderr.contains("nothing to do"),
        "the cluster holds the other reset's key K3 (no reset of step 4 was accepted), yet: record {:?}; {stderr}",
        record_entry(&sim, &app, &cluster)
    );
}

/// A run killed after its reset to K3 was accepted leaves {pending K3, switch=1}; the reset
/// lands, the cluster holds K3. Step 4 with the envelope of K2 reads it (unconfirmed: it
/// resets); its pending entry keeps K3 (`was`), and when AKS refuses this reset (400) the
/// entry read goes back. Either way `--prune-secrets` on K2's envelope keeps K3, the key the
/// cluster holds (a pending entry that kept only the old entry's `key` let it go).
#[test]
fn a_pending_key_of_a_landed_reset_survives_a_refused_reset() {
    let (sim, env, cluster, k3) = after_a_landed_reset_step_4_fails_with(400);
    let app = env["app_id"].as_str().unwrap();
    // Nothing was reset: the entry read went back.
    let entry = record_entry(&sim, app, &cluster);
    // Without its switch claim (attack11, finding 2): its run may have ended without posting.
    assert_eq!(entry, Some(json!({"pending": k3})));
}

/// As above, the POST answered 500: it may have started the reset, so this run's pending
/// entry stays, and it names K3 as displaced (`was`). Made from the entry read keeping only its
/// `key`, it dropped K3.
#[test]
fn a_pending_key_of_a_landed_reset_survives_a_reset_of_unknown_outcome() {
    let (sim, env, cluster, k3) = after_a_landed_reset_step_4_fails_with(500);
    let app = env["app_id"].as_str().unwrap();
    let key = &env["client_secret_key_id"];
    let entry = record_entry(&sim, app, &cluster);
    assert_eq!(entry, Some(json!({"pending": key, "was": k3})));
}

/// The run of [`a_pending_key_of_a_landed_reset_survives_a_refused_reset`], its POST answered
/// `answer`; checks the prune on K2's envelope keeps K3. The simulator, envelope, cluster, K3.
fn after_a_landed_reset_step_4_fails_with(answer: u16) -> (TestSim, Value, String, String) {
    let sim = sim_with_clusters(0);
    let env = granted(&sim);
    let app = env["app_id"].as_str().unwrap().to_owned();
    let cluster = sim.var("CLUSTER_ID");
    let (secret3, k3) = another_key(&sim, &env);
    // Run B: its pending entry (a switch to K3), its reset accepted; killed before anything else.
    let c = cluster_key(&cluster);
    let pending = Entry {
        pending: Some(k3.clone()),
        switch: true,
        ..Entry::default()
    }
    .tag(&c);
    let mut tags = app_tags(&sim, &app);
    tags.push(pending);
    let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
    set_app_tags(&sim, &app, &tags);
    Operator::new(&sim).reset_cluster(&cluster, &json!(app), &json!(secret3));
    // B's reset lands (Azure's clock moved on).
    sim.sim().advance(Duration::from_secs(3600));
    sim.sim()
        .add_fault(json!({"method": "POST", "path": "/resetServicePrincipalProfile", "status": answer, "code": "BadRequest", "count": 1}))
        .unwrap();
    let child = start_reset(&sim, &["-v", "--cluster", &cluster], &line(&env));
    let (code, stderr) = later(&sim, || ended(child));
    assert_eq!(code, Some(1), "AKS answered {answer}: {stderr}");
    assert_eq!(
        sim.resets_accepted(&cluster),
        1,
        "only B's reset was accepted: the cluster holds K3 ({}): {stderr}",
        held_secret(&sim, &cluster)
    );
    // Step 1's prune on K2's envelope (the one just run) keeps what the record names.
    prune_keeps(&sim, &env, &k3, "which the cluster holds", &stderr);
    (sim, env, cluster, k3)
}

/// Step 4 switching the cluster from another app writes {pending K2, switch=1}; AKS refuses
/// the reset (400; the same after a 409 wait that ends at --timeout, ClusterBusy, or on
/// Ctrl-C): nothing was reset, and the entry goes back. Later someone else switches the
/// cluster to the app with K3 (a manual `az aks update-credentials`, or a run killed before
/// it wrote more): the rerun resets. Had the `switch=1` stayed, the rerun took it as proof
/// that its own reset switched the cluster: "nothing to do", K2 recorded as held while the
/// cluster held K3.
#[test]
fn a_refused_switch_leaves_no_switch_claim_behind() {
    let sim = sim_with_clusters(0);
    let env = granted(&sim);
    let app = env["app_id"].as_str().unwrap().to_owned();
    let cluster = sim.var("CLUSTER_ID");
    let (secret3, _k3) = another_key(&sim, &env);
    sim.sim()
        .add_fault(json!({"method": "POST", "path": "/resetServicePrincipalProfile", "status": 400, "code": "BadRequest", "count": 1}))
        .unwrap();
    let child = start_reset(&sim, &["-v", "--cluster", &cluster], &line(&env));
    let (code, stderr) = later(&sim, || ended(child));
    assert_eq!(code, Some(1), "AKS refused the reset: {stderr}");
    let left = record_entry(&sim, &app, &cluster);
    Operator::new(&sim).reset_cluster(&cluster, &json!(app), &json!(secret3));
    sim.sim().advance(Duration::from_secs(3600));
    let before = sim.resets_accepted(&cluster);
    let child = start_reset(&sim, &["-v", "--cluster", &cluster], &line(&env));
    let (code, stderr) = later(&sim, || ended(child));
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        sim.resets_accepted(&cluster),
        before + 1,
        "the cluster holds K3, the rerun did not reset it (entry left by the refused run: {left:?}; now {:?}): {stderr}",
        record_entry(&sim, &app, &cluster)
    );
}

/// Step 4 finds the cluster switched by its earlier run ({pending K2, switch=1}, the cluster
/// on the app): it confirms K2. Between its read and that write, run B writes its pending
/// entry for K3 and posts its reset (B is then killed). The confirmation is made from the
/// entry it reads and keeps B's pending K3: B's reset lands, the cluster holds K3, and a
/// prune by K2's envelope keeps K3 (a confirmation written as a whole removed it).
#[test]
fn a_confirmation_keeps_another_runs_newer_pending_key() {
    let sim = sim_with_clusters(0);
    let env = granted(&sim);
    let app = env["app_id"].as_str().unwrap().to_owned();
    let key = env["client_secret_key_id"].as_str().unwrap().to_owned();
    let secret = env["client_secret"].as_str().unwrap().to_owned();
    let cluster = sim.var("CLUSTER_ID");
    let (secret3, k3) = another_key(&sim, &env);
    let c = cluster_key(&cluster);
    let set_entry = |e: Entry| {
        let mut tags: Vec<String> = app_tags(&sim, &app)
            .into_iter()
            .filter(|t| !t.starts_with(&format!("xtenant-cluster:{c}")))
            .collect();
        tags.push(e.tag(&c));
        let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
        set_app_tags(&sim, &app, &tags);
    };
    let reset_to = |s: &str| {
        Operator::new(&sim).reset_cluster(&cluster, &json!(app), &json!(s));
    };
    // The earlier run of K2's envelope: its switch posted, its answer lost.
    set_entry(Entry {
        pending: Some(key.clone()),
        switch: true,
        ..Entry::default()
    });
    reset_to(&secret);
    sim.sim().advance(Duration::from_secs(3600));
    // Held at the proof of its secret (the app's second read), after it read the record.
    sim.sim()
        .add_fault(json!({"method": "GET", "path": "/applications(appId=", "skip": 1, "delay_ms": 900, "count": 1}))
        .unwrap();
    let child = start_reset(&sim, &["-v", "--cluster", &cluster], &line(&env));
    let deadline = Instant::now() + Duration::from_secs(20);
    while sim.sim().faults()[0]["applied"] == 0 {
        assert!(Instant::now() < deadline, "never held");
        std::thread::sleep(Duration::from_millis(2));
    }
    // Run B: its pending entry for K3, its reset posted; then killed.
    set_entry(Entry {
        key: Some(key.clone()),
        pending: Some(k3.clone()),
        ..Entry::default()
    });
    reset_to(&secret3);
    let (code, stderr) = later(&sim, || ended(child));
    assert_eq!(code, Some(0), "{stderr}");
    sim.sim().advance(Duration::from_secs(3600));
    prune_keeps(&sim, &env, &k3, "which B's reset gave the cluster", &stderr);
}

/// An envelope without `client_secret_key_id` for a cluster the record has an entry for
/// (here another run's pending switch to K3) is refused before anything is written: its
/// pending entry could name no key, and replacing the entry with none lost K3 (a prune by
/// any envelope then removed the key the cluster may hold).
#[test]
fn an_envelope_without_a_key_id_leaves_the_clusters_entry_alone() {
    let sim = sim_with_clusters(0);
    let mut env = granted(&sim);
    let app = env["app_id"].as_str().unwrap().to_owned();
    let cluster = sim.var("CLUSTER_ID");
    let (_, k3) = another_key(&sim, &env);
    let c = cluster_key(&cluster);
    let mut tags = app_tags(&sim, &app);
    tags.push(
        Entry {
            pending: Some(k3.clone()),
            switch: true,
            ..Entry::default()
        }
        .tag(&c),
    );
    let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
    set_app_tags(&sim, &app, &tags);
    let before = record_entry(&sim, &app, &cluster);
    env.as_object_mut().unwrap().remove("client_secret_key_id");
    let child = start_reset(&sim, &["-v", "--cluster", &cluster], &line(&env));
    let (code, stderr) = later(&sim, || ended(child));
    assert_eq!(code, Some(1), "the object failed: {stderr}");
    assert!(
        stderr.contains("InvalidInput") && stderr.contains("client_secret_key_id"),
        "{stderr}"
    );
    assert_eq!(sim.resets_accepted(&cluster), 0, "{stderr}");
    assert_eq!(record_entry(&sim, &app, &cluster), before, "{stderr}");
    assert!(!stderr.contains("PATCH"), "nothing written: {stderr}");
}

/// The same refusal in fleet runs (an object per cluster, none with a key id). Each object is
/// independent — its own reads, checks and result, and a run reads its objects as a stream —
/// so the refusal is of the cluster with an entry alone, before anything is written for it; a
/// cluster with no entry is reset as if run alone (it leaves no entry: the next run resets it,
/// a prune refuses). The rollout stops the fleet at the refusal: first (the canary), nothing
/// else starts (`NotStarted`); with `--jobs 2 --max-failures 2`, the clusters before and
/// beside it are reset. Either run fails (exit 1).
#[test]
fn without_a_key_id_a_fleet_run_refuses_only_the_cluster_with_an_entry() {
    let sim = sim_with_clusters(2);
    let mut env = granted(&sim);
    env.as_object_mut().unwrap().remove("client_secret_key_id");
    let app = env["app_id"].as_str().unwrap().to_owned();
    let id = |name: &str| xtenant_tests::world::cluster_id(&sim, name);
    let (first, held, last) = (sim.var("CLUSTER_ID"), id("aks-01"), id("aks-02"));
    let (_, k3) = another_key(&sim, &env);
    let mut tags = app_tags(&sim, &app);
    tags.push(
        Entry {
            pending: Some(k3.clone()),
            switch: true,
            ..Entry::default()
        }
        .tag(&cluster_key(&held)),
    );
    let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
    set_app_tags(&sim, &app, &tags);
    let before = record_entry(&sim, &app, &held);
    // The refused cluster first: the canary fails, nothing else starts.
    let child = start_reset(
        &sim,
        &["-v"],
        &per_cluster(&env, &[held.clone(), first.clone()]),
    );
    let (code, stderr) = later(&sim, || ended(child));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("client_secret_key_id") && stderr.contains("1 not started"),
        "{stderr}"
    );
    assert_eq!(sim.resets_accepted(&first), 0, "{stderr}");
    // Before it (the canary) and beside it: reset, no entry left.
    let args = ["-v", "--jobs", "2", "--max-failures", "2"];
    let child = start_reset(
        &sim,
        &args,
        &per_cluster(&env, &[first.clone(), held.clone(), last.clone()]),
    );
    let (code, stderr) = later(&sim, || ended(child));
    assert_eq!(code, Some(1), "{stderr}");
    for c in [&first, &last] {
        assert_eq!(sim.resets_accepted(c), 1, "{c}: {stderr}");
        assert_eq!(record_entry(&sim, &app, c), None, "{c}: {stderr}");
    }
    assert_eq!(sim.resets_accepted(&held), 0, "{stderr}");
    assert_eq!(record_entry(&sim, &app, &held), before, "{stderr}");
}

/// An envelope without `client_secret_key_id`, the cluster with no entry when step 4 read the
/// record; while its pull check runs, another run writes its pending entry (a switch to K3) and
/// is killed after its post. Step 4 checks the record again before its own post and refuses:
/// reset over that entry, the cluster held this envelope's key while the record named only K3
/// (a prune by K3's envelope removed the key the cluster held).
#[test]
fn an_entry_written_after_the_read_stops_an_envelope_without_a_key_id() {
    let sim = sim_with_clusters(0);
    let mut env = granted(&sim);
    env.as_object_mut().unwrap().remove("client_secret_key_id");
    // No proof of step 3's pull: step 4 checks the pull itself, and is held there.
    env.as_object_mut().unwrap().remove("pull_proof");
    let app = env["app_id"].as_str().unwrap().to_owned();
    let cluster = sim.var("CLUSTER_ID");
    let (_, k3) = another_key(&sim, &env);
    sim.sim()
        .add_fault(json!({"host": "azurecr", "delay_ms": 700, "count": 1}))
        .unwrap();
    let child = start_reset(&sim, &["-v", "--cluster", &cluster], &line(&env));
    let deadline = Instant::now() + Duration::from_secs(20);
    while sim.sim().faults()[0]["matched"] == 0 {
        assert!(Instant::now() < deadline, "never held");
        std::thread::sleep(Duration::from_millis(2));
    }
    let mut tags = app_tags(&sim, &app);
    tags.push(
        Entry {
            pending: Some(k3.clone()),
            switch: true,
            ..Entry::default()
        }
        .tag(&cluster_key(&cluster)),
    );
    let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
    set_app_tags(&sim, &app, &tags);
    let (code, stderr) = later(&sim, || ended(child));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("InvalidInput") && stderr.contains("client_secret_key_id"),
        "{stderr}"
    );
    assert_eq!(sim.resets_accepted(&cluster), 0, "{stderr}");
    assert_eq!(
        record_entry(&sim, &app, &cluster),
        Some(json!({"pending": k3, "switch": "1"}))
    );
}

/// The record names the keys of so many unconfirmed resets for the cluster (`was`), all of
/// them keys the app has, that the pending entry step 4 would write is longer than a tag:
/// step 4 refuses (`RecordFull`) before anything is written — no role copied to the app's
/// principal, no entry, no reset. Found only at the record's write, the refusal came after
/// the roles were copied. (Keys the app no longer has leave the entry: `record_gone.rs`; an
/// entry forged with keys the app has is as cautious as this.)
#[test]
fn an_entry_too_long_for_a_tag_is_refused_before_anything_is_written() {
    let sim = sim_with_clusters(0);
    let env = granted(&sim);
    let app = env["app_id"].as_str().unwrap().to_owned();
    let cluster = sim.var("CLUSTER_ID");
    let c = cluster_key(&cluster);
    let mut keys: Vec<String> = (0..4).map(|_| another_key(&sim, &env).1).collect();
    let long = Entry {
        pending: keys.pop(),
        was: keys,
        ..Entry::default()
    };
    let mut tags = app_tags(&sim, &app);
    tags.push(long.tag(&c));
    let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
    set_app_tags(&sim, &app, &tags);
    let before = sim.writes().len();
    let child = start_reset(&sim, &["-v", "--cluster", &cluster], &line(&env));
    let (code, stderr) = later(&sim, || ended(child));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("RecordFull") || stderr.contains("one tag holds"),
        "{stderr}"
    );
    let written: Vec<Value> = sim.writes().split_off(before);
    assert!(
        written.is_empty(),
        "nothing may be written: {written:#?}\n{stderr}"
    );
    assert_eq!(sim.resets_accepted(&cluster), 0, "{stderr}");
}
