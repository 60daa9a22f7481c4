//! attack11 (issue 28, fourth attack on the record): run marks (`run=`) and switch claims.
//! A switch claim {pending K, switch=1} is trusted as "only that reset can have switched the
//! cluster to the app": a claim of another run, or one brought back after its run withdrew it,
//! lets a reset by hand with another key pass for K's switch ("nothing to do", K recorded),
//! and a prune by K's envelope then removes the key the cluster holds.

use std::time::Duration;

use common::record::{Entry, cluster_key};
use serde_json::json;
use xtenant_tests::azure::{Operator, app_tags, record_entry};
use xtenant_tests::steps::{Step, app_key_ids, run_step};
use xtenant_tests::{TestSim, interrupt, line, wait_until};

use super::record::{granted, sim_with_clusters, start_reset};
use super::record_gone::set_entry;
use super::record_stale::{another_key, refused_while};

/// Finding 1. Two processes run the same object, switching the cluster from the old app: B's
/// pending entry, made over A's, is A's but for B's mark. A's reset is refused (409) while a
/// reset by hand to the app with another key, K3, runs (the case d8d720e names: "a manual
/// reset with another key then looks like A's switch"). When it ends, A judges B's identical
/// claim as another run's write: a switch to the object's key, trusted as done ("nothing to
/// do", K recorded) while the cluster holds K3; the prune by K's envelope then removes K3.
/// Before marks B's claim was taken for A's own (read while the cluster ran as another app:
/// no evidence) and A posted its reset.
#[test]
fn another_processs_identical_switch_claim_is_no_evidence_after_a_409() {
    let sim = sim_with_clusters(0);
    let env = granted(&sim);
    let app = env["app_id"].as_str().unwrap().to_owned();
    let key = env["client_secret_key_id"].as_str().unwrap().to_owned();
    let cluster = sim.var("CLUSTER_ID");
    let (secret3, k3) = another_key(&sim, &env);
    let before = sim.resets_accepted(&cluster);
    let (code, stderr) = refused_while(&sim, &env, || {
        let b = Entry {
            pending: Some(key.clone()),
            switch: true,
            run: Some("0000000b".into()),
            ..Entry::default()
        };
        set_entry(&sim, &app, &cluster, &b);
        Operator::new(&sim).reset_cluster(&cluster, &json!(app), &json!(secret3));
    });
    let posted = sim.resets_accepted(&cluster) == before + 2;
    let entry = record_entry(&sim, &app, &cluster);
    let prune = run_step(&sim, Step::App, &["--prune-secrets"], &line(&env));
    let k3_kept = app_key_ids(&sim, &app)
        .iter()
        .any(|k| k.eq_ignore_ascii_case(&k3));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        posted || k3_kept,
        "the cluster holds K3 (no reset of step 4 was accepted), yet the record said {entry:?} and the prune removed K3 (prune exit {}); step 4: {stderr}",
        prune.code
    );
    assert!(!stderr.contains("nothing to do"), "{stderr}");
}

/// The raw tag of `cluster`'s entry on `app`, if any.
fn entry_tag(sim: &TestSim, app: &str, cluster: &str) -> Option<String> {
    let prefix = format!("xtenant-cluster:{}", cluster_key(cluster));
    app_tags(sim, app)
        .into_iter()
        .find(|t| t.starts_with(&prefix))
}

/// How long a wait for another process may take.
const LIMIT: Duration = Duration::from_secs(20);

/// The writer's mark in `cluster`'s entry, if any.
fn mark(sim: &TestSim, app: &str, cluster: &str) -> Option<String> {
    entry_tag(sim, app, cluster)?
        .split(';')
        .find_map(|p| p.strip_prefix("run=").map(str::to_owned))
}

/// Finding 2. Two processes run the same object, switching the cluster from the old app; every
/// reset is refused (409: another operation keeps the cluster busy) until both are stopped
/// (Ctrl-C): nothing was posted. A wrote {pending K, switch=1, run A}; B read it and wrote its
/// own over it. A's put-back leaves B's entry (not its own); B's puts back the entry B read:
/// A's switch claim, though A's run ended without posting. Then someone resets the cluster to
/// the app by hand with K3, and step 4 on K's envelope takes A's claim for its switch:
/// "nothing to do", K recorded while the cluster holds K3.
#[test]
fn a_put_back_does_not_bring_back_another_runs_withdrawn_switch_claim() {
    let sim = sim_with_clusters(0);
    let env = granted(&sim);
    let app = env["app_id"].as_str().unwrap().to_owned();
    let cluster = sim.var("CLUSTER_ID");
    let (secret3, _k3) = another_key(&sim, &env);
    let before = sim.resets_accepted(&cluster);
    sim.sim()
        .add_fault(json!({"method": "POST", "path": "/resetServicePrincipalProfile", "status": 409, "code": "OperationNotAllowed", "count": 1_000}))
        .unwrap();
    let refused = || sim.sim().faults()[0]["matched"].as_u64().unwrap_or(0);
    let args = ["-v", "--cluster", cluster.as_str()];
    let a = start_reset(&sim, &args, &line(&env));
    wait_until("A was never refused", LIMIT, || refused() >= 1);
    let a_mark = mark(&sim, &app, &cluster).expect("A's pending entry");
    let b = start_reset(&sim, &args, &line(&env));
    wait_until("B never wrote its pending entry", LIMIT, || {
        mark(&sim, &app, &cluster).is_some_and(|m| m != a_mark)
    });
    let n = refused();
    wait_until("B was never refused", LIMIT, || refused() >= n + 2);
    let (code_a, stderr_a) = interrupt(a);
    assert_eq!(code_a, Some(130), "{stderr_a}");
    let (code_b, stderr_b) = interrupt(b);
    assert_eq!(code_b, Some(130), "{stderr_b}");
    assert_eq!(sim.resets_accepted(&cluster), before, "nothing was posted");
    let left = entry_tag(&sim, &app, &cluster);
    // Someone resets the cluster to the app by hand with K3; then step 4 on K's envelope.
    sim.sim().clear_faults();
    Operator::new(&sim).reset_cluster(&cluster, &json!(app), &json!(secret3));
    sim.sim().advance(Duration::from_secs(3600));
    let rerun = run_step(&sim, Step::Reset, &["-v"], &line(&env));
    assert_eq!(rerun.code, 0, "{}", rerun.stderr);
    assert!(
        !rerun.stderr.contains("nothing to do"),
        "the cluster holds K3 (reset by hand), yet step 4 trusted the switch claim {left:?} left after two runs that posted nothing (A's mark {a_mark}): {}\nA: {stderr_a}\nB: {stderr_b}",
        rerun.stderr
    );
}

/// Note (status, 0bbd440). A switch to the app's key P was posted and never confirmed
/// ({pending P, switch=1}); it landed, and P was then removed from the app: the cluster holds
/// a key that no longer signs in. `--status` says `KeyUnconfirmed` and that step 4 on P's
/// envelope "confirms it without a reset"; step 4 on P's envelope refuses the secret (its key
/// is gone) and confirms nothing. What the report says step 4 does, step 4 does not; and the
/// report does not say the cluster may hold a removed key.
#[test]
fn status_promises_a_confirmation_step_4_refuses_when_the_switch_key_is_gone() {
    let sim = sim_with_clusters(0);
    let env = granted(&sim);
    let app = env["app_id"].as_str().unwrap().to_owned();
    let cluster = sim.var("CLUSTER_ID");
    let (secret_p, p) = another_key(&sim, &env);
    Operator::new(&sim).reset_cluster(&cluster, &json!(app), &json!(secret_p));
    sim.sim().advance(Duration::from_secs(3600));
    let switch = Entry {
        pending: Some(p.clone()),
        switch: true,
        ..Entry::default()
    };
    set_entry(&sim, &app, &cluster, &switch);
    Operator::new(&sim).remove_secret(env["app_object_id"].as_str().unwrap(), &p);
    let status = sim.run(
        "aks-sp-update",
        &["--status", "--cluster", &cluster],
        &line(&env),
    );
    let o = status.object();
    let said = o["status"]["problems"][0]["message"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    let mut env_p = env.clone();
    env_p["client_secret"] = json!(secret_p);
    env_p["client_secret_key_id"] = json!(p);
    env_p.as_object_mut().unwrap().remove("pull_proof");
    let step_4 = run_step(&sim, Step::Reset, &["-v"], &line(&env_p));
    let promised = said.contains(&format!("envelope of key {p} confirms it without a reset"));
    assert!(
        !promised || step_4.code == 0,
        "--status said: {said}\nstep 4 on P's envelope (exit {}): {}",
        step_4.code,
        step_4.object()["error"]
    );
    // What the report says instead, step 4 does: it refuses P's envelope, and resets the
    // cluster on the envelope of a current key (K), recording K.
    assert_eq!(
        status.object()["status"]["problems"][0]["code"],
        "KeyUnconfirmed"
    );
    assert!(
        said.contains(&format!("key {p} is no longer on app {app}")),
        "{said}"
    );
    assert!(
        said.contains(&format!("refuses key {p}'s envelope (SecretNotBound)")),
        "{said}"
    );
    assert_eq!(
        step_4.object()["error"]["code"],
        "SecretNotBound",
        "{}",
        step_4.stderr
    );
    assert!(
        said.contains("on the envelope of a current key of the app resets the cluster"),
        "{said}"
    );
    let before = sim.resets_accepted(&cluster);
    let on_k = run_step(&sim, Step::Reset, &["-v"], &line(&env));
    assert_eq!(on_k.code, 0, "{}", on_k.stderr);
    assert_eq!(sim.resets_accepted(&cluster), before + 1, "{}", on_k.stderr);
    let key = env["client_secret_key_id"]
        .as_str()
        .unwrap()
        .to_ascii_lowercase();
    assert_eq!(
        record_entry(&sim, &app, &cluster),
        Some(json!({"key": key}))
    );
}
