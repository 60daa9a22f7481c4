//! Step 4's entries are made from the tags each write reads, never from an earlier read (an
//! attack on the record, issue 28): another run's confirmation that lands between this run's
//! read of the record and its write is kept; a reset refused while another operation runs is
//! judged again by the record as it is then, and the entry this run puts back when that
//! operation did its reset goes back only over its own pending entry.

use std::process::Child;
use std::time::{Duration, Instant};

use common::record::{Entry, cluster_key};
use serde_json::{Value, json};
use xtenant_tests::azure::{Operator, app_tags, record_entry, set_app_tags};
use xtenant_tests::clock::later;
use xtenant_tests::{TestSim, ended, interrupt, line, wait_until};

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
pub(super) fn another_run_confirms(sim: &TestSim, app: &str, cluster: &str, key: &str) {
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

/// A key of the app besides the envelope's, usable by AKS (Azure's clock moved past its
/// propagation): its secret and key id.
pub(super) fn another_key(sim: &TestSim, env: &Value) -> (String, String) {
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

/// The other run: its reset of `cluster` to the app with `secret` (the operation step 4's
/// reset is refused for), then its confirmed entry naming `key`.
fn another_run_resets(sim: &TestSim, app: &str, cluster: &str, secret: &str, key: &str) {
    Operator::new(sim).reset_cluster(cluster, &json!(app), &json!(secret));
    another_run_confirms(sim, app, cluster, key);
}

/// Step 4 with `env` on the simulator's cluster, its reset refused once while another
/// operation runs (409, answered 800 ms after it came); `other` runs meanwhile. The exit code
/// and stderr.
pub(super) fn refused_while(
    sim: &TestSim,
    env: &Value,
    other: impl FnOnce(),
) -> (Option<i32>, String) {
    sim.sim()
        .add_fault(json!({"method": "POST", "path": "/resetServicePrincipalProfile", "status": 409, "code": "OperationNotAllowed", "delay_ms": 800, "count": 1}))
        .unwrap();
    let cluster = sim.var("CLUSTER_ID");
    let child = start_reset(sim, &["-v", "--cluster", &cluster], &line(env));
    let child = held_at_first_fault(sim, child);
    other();
    later(sim, || ended(child))
}

/// Step 4's reset is refused (409) while another run's reset to another key of the app, K3,
/// runs; that run records K3. The cluster then runs as the app, and the entry step 4 read
/// before it wrote its own named the object's key; but the record now names K3: the reset is
/// posted again, and recorded. Judged by the entry read before, the step said "nothing to
/// do" while the cluster held K3, and put that entry back over K3's (a prune could then
/// remove the key the cluster holds).
#[test]
fn a_reset_refused_while_another_run_resets_to_another_key_goes_on() {
    let sim = sim_with_clusters(0);
    let env = granted(&sim);
    let app = env["app_id"].as_str().unwrap().to_owned();
    let key = env["client_secret_key_id"].as_str().unwrap().to_owned();
    let cluster = sim.var("CLUSTER_ID");
    // An older entry naming the envelope's key (the cluster ran as the app before).
    another_run_confirms(&sim, &app, &cluster, &key);
    let (secret3, k3) = another_key(&sim, &env);
    let (code, stderr) = refused_while(&sim, &env, || {
        another_run_resets(&sim, &app, &cluster, &secret3, &k3);
    });
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("posted the reset") && !stderr.contains("nothing to do"),
        "{stderr}"
    );
    // Posted again only once the record names its key again: between the other run's reset
    // and step 4's, the other run's confirmation and then step 4's pending entry (posted with
    // no entry naming its key, a run killed before its operation's note would leave the
    // cluster on a key a prune removes).
    let log = sim.requests();
    let accepted: Vec<usize> = (0..log.len())
        .filter(|&i| {
            let r = &log[i];
            r["method"] == "POST"
                && r["status"] == 202
                && r["path"]
                    .as_str()
                    .unwrap_or("")
                    .ends_with("/resetServicePrincipalProfile")
        })
        .collect();
    assert_eq!(
        accepted.len(),
        2,
        "the other run's reset, then step 4's: {stderr}"
    );
    let record_writes = log[accepted[0]..accepted[1]]
        .iter()
        .filter(|r| {
            r["method"] == "PATCH" && r["path"].as_str().unwrap_or("").contains("/applications")
        })
        .count();
    assert!(
        record_writes >= 2,
        "step 4 posted again with no entry naming its key ({record_writes} record write(s) since the other reset): {stderr}"
    );
    assert_eq!(
        record_entry(&sim, &app, &cluster),
        Some(json!({"key": key})),
        "{stderr}"
    );
}

/// Step 4's reset is refused (409) while another run of the same object resets the cluster to
/// the object's key and records it: nothing is left to do, nothing is posted again (a second
/// reimage), and the other run's entry stays. Put back regardless, the entry read before
/// (none) would replace it.
#[test]
fn a_reset_refused_while_another_run_of_the_same_key_resets_is_not_posted_again() {
    let sim = sim_with_clusters(0);
    let env = granted(&sim);
    let app = env["app_id"].as_str().unwrap().to_owned();
    let key = env["client_secret_key_id"].as_str().unwrap().to_owned();
    let cluster = sim.var("CLUSTER_ID");
    let secret = env["client_secret"].as_str().unwrap().to_owned();
    let (code, stderr) = refused_while(&sim, &env, || {
        another_run_resets(&sim, &app, &cluster, &secret, &key);
    });
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("nothing to do") && !stderr.contains("posted the reset"),
        "{stderr}"
    );
    assert_eq!(
        record_entry(&sim, &app, &cluster),
        Some(json!({"key": key})),
        "{stderr}"
    );
}

/// Two processes run the same object on a cluster holding K0 ({key K0}): both write the same
/// pending entry {key K0, pending K}. B's reset is accepted (B is killed before it notes its
/// operation); A's is refused (409) while B's runs, and A's wait ends (Ctrl-C). A puts back
/// only its own pending entry: B's, identical but for its writer's mark, stays, and names K,
/// which B's reset gives the cluster. Taken for A's own, {key K0} went back: a prune by K0's
/// envelope could then remove the key the cluster holds.
#[test]
fn a_put_back_leaves_another_processs_identical_claim() {
    let hundred_hours = Duration::from_secs(100 * 3600);
    let sim = TestSim::start_with(|c| c.lro_duration = Some(hundred_hours));
    let env = granted(&sim);
    let app = env["app_id"].as_str().unwrap().to_owned();
    let key = env["client_secret_key_id"].as_str().unwrap().to_owned();
    let cluster = sim.var("CLUSTER_ID");
    let (secret0, k0) = another_key(&sim, &env);
    Operator::new(&sim).reset_cluster(&cluster, &json!(app), &json!(secret0));
    sim.sim().advance(hundred_hours);
    another_run_confirms(&sim, &app, &cluster, &k0);
    sim.sim()
        .add_fault(json!({"method": "POST", "path": "/resetServicePrincipalProfile", "status": 409, "code": "OperationNotAllowed", "delay_ms": 800, "count": 1}))
        .unwrap();
    let child = start_reset(&sim, &["-v", "--cluster", &cluster], &line(&env));
    let child = held_at_first_fault(&sim, child);
    // B: its pending entry (A's but for B's mark, as B's write made over A's), its reset.
    let c = cluster_key(&cluster);
    let b = Entry {
        key: Some(k0.clone()),
        pending: Some(key.clone()),
        ..Entry::default()
    };
    let mut tags: Vec<String> = app_tags(&sim, &app)
        .into_iter()
        .filter(|t| !t.starts_with(&format!("xtenant-cluster:{c}")))
        .collect();
    tags.push(format!("{};run=0000000b", b.tag(&c)));
    let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
    set_app_tags(&sim, &app, &tags);
    Operator::new(&sim).reset_cluster(&cluster, &json!(app), &env["client_secret"]);
    // A waits (the cluster runs B's reset): its 409, then a read of the cluster; then Ctrl-C.
    let waiting = || {
        let log = sim.requests();
        let refused = log.iter().position(|q| q["status"] == 409);
        refused.is_some_and(|i| {
            log[i + 1..].iter().any(|q| {
                q["method"] == "GET" && q["path"].as_str().is_some_and(|p| p.ends_with(&cluster))
            })
        })
    };
    wait_until("A never waited", Duration::from_secs(20), waiting);
    let (code, stderr) = interrupt(child);
    assert_eq!(code, Some(130), "{stderr}");
    assert_eq!(
        record_entry(&sim, &app, &cluster),
        Some(json!({"key": k0, "pending": key})),
        "B's pending entry was taken for A's own and put back: {stderr}"
    );
}
