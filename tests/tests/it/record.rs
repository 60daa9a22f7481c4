//! The record of which secret each cluster holds, on the app registration in tenant A
//! (issues 23 and 24): no cluster write but the reset, no entry lost to concurrent writers
//! (32 clusters at `--jobs 32`, two processes at once, a stale write between a write and its
//! read-back), and the old `xtenant-*` cluster tags only ever making the tools more careful.

use std::process::Stdio;

use std::time::{Duration, Instant};

use common::record::{self, Entry, ReadBack, Written};
use serde_json::{Value, json};
use xtenant_tests::azure::{NewApp, Operator, app_tags, record_entry, set_app_tags};
use xtenant_tests::steps::{Step, run_step, run_steps, tags_of};
use xtenant_tests::{TestSim, line, spawn_with_input, world};

/// A simulator whose scenario has `extra` more service-principal clusters on the old app,
/// named `aks-01`… beside `aks-prod`.
pub(super) fn sim_with_clusters(extra: usize) -> TestSim {
    let names: Vec<String> = (1..=extra).map(|i| format!("aks-{i:02}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    world::start(world::state_with_clusters(&names))
}

/// The SP clusters' ids (`aks-prod` first).
fn cluster_ids(sim: &TestSim) -> Vec<String> {
    let mut ids: Vec<String> = sim.state()["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["service_principal_client_id"] != "msi")
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort_by_key(|id| !id.ends_with("/aks-prod"));
    ids
}

/// Steps 1–3, once: the envelope step 4 gets.
pub(super) fn granted(sim: &TestSim) -> Value {
    let out = run_steps(sim, &Step::FIRST_THREE, "");
    serde_json::from_str(out.trim()).unwrap()
}

/// The envelope for each of `ids`.
pub(super) fn per_cluster(env: &Value, ids: &[String]) -> String {
    ids.iter()
        .map(|id| {
            let mut o = env.clone();
            o["cluster_id"] = json!(id);
            line(&o)
        })
        .collect()
}

/// aks-sp-update with `args` on `input`, started (not waited for); without `--cluster`,
/// each object's `cluster_id` names its cluster (`--targets-from-input`).
pub(super) fn start_reset(sim: &TestSim, args: &[&str], input: &str) -> std::process::Child {
    let mut c = sim.cmd("aks-sp-update");
    if !args.contains(&"--cluster") {
        c.arg("--targets-from-input");
    }
    c.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    spawn_with_input(&mut c, input)
}

/// Waits for a started run; asserts it exited 0 with one object per input line, none failed.
fn finished(child: std::process::Child, objects: usize) -> String {
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stderr}\n{stdout}");
    assert_eq!(stdout.lines().count(), objects, "{stdout}");
    assert!(!stdout.contains("\"error\""), "{stdout}");
    stderr
}

/// Every cluster in `ids` has its entry naming `key`, confirmed.
fn assert_recorded(sim: &TestSim, app: &str, ids: &[String], key: &str) {
    let missing: Vec<&String> = ids
        .iter()
        .filter(|id| record_entry(sim, app, id) != Some(json!({ "key": key })))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} entries missing or pending: {missing:?}\n{:?}",
        missing.len(),
        ids.len(),
        app_tags(sim, app)
    );
}

/// How many writes of each kind: (the app's record, cluster updates, resets).
fn write_counts(sim: &TestSim) -> (usize, usize, usize) {
    let w = sim.writes();
    let path = |r: &Value| r["path"].as_str().unwrap_or("").to_owned();
    let ok = |r: &Value| r["status"].as_u64().is_some_and(|s| s < 400);
    (
        w.iter()
            .filter(|r| ok(r) && r["method"] == "PATCH" && path(r).contains("/applications"))
            .count(),
        w.iter()
            .filter(|r| ok(r) && r["method"] == "PATCH" && path(r).contains("/managedClusters/"))
            .count(),
        w.iter()
            .filter(|r| path(r).ends_with("/resetServicePrincipalProfile"))
            .count(),
    )
}

#[test]
fn thirty_two_clusters_of_one_app_at_jobs_32_lose_no_entry_and_get_no_write_but_the_reset() {
    let sim = sim_with_clusters(31);
    let ids = cluster_ids(&sim);
    assert_eq!(ids.len(), 32);
    let env = granted(&sim);
    let app = env["app_id"].as_str().unwrap().to_owned();
    let key = env["client_secret_key_id"].as_str().unwrap().to_owned();
    sim.sim().clear_requests();
    let started = Instant::now();
    let stderr = finished(
        start_reset(&sim, &["--jobs", "32"], &per_cluster(&env, &ids)),
        32,
    );
    let took = started.elapsed();
    assert_recorded(&sim, &app, &ids, &key);
    let (record, cluster_updates, resets) = write_counts(&sim);
    assert_eq!((cluster_updates, resets), (0, 32), "{stderr}");
    // Three writes of each entry (pending, its operation, confirmed), in batches: far fewer
    // than 96 writes.
    assert!(record < 96, "{record} record writes for 32 clusters");
    eprintln!("32 clusters at --jobs 32: {record} record writes, {took:?}");
}

#[test]
fn two_processes_at_once_on_clusters_of_one_app_lose_no_entry() {
    let sim = sim_with_clusters(15);
    let ids = cluster_ids(&sim);
    assert_eq!(ids.len(), 16);
    let env = granted(&sim);
    let app = env["app_id"].as_str().unwrap().to_owned();
    let key = env["client_secret_key_id"].as_str().unwrap().to_owned();
    let (a, b) = ids.split_at(8);
    let one = start_reset(&sim, &["--jobs", "8"], &per_cluster(&env, a));
    let two = start_reset(&sim, &["--jobs", "8"], &per_cluster(&env, b));
    finished(one, 8);
    finished(two, 8);
    // What the record guarantees two processes at once (docs/DESIGN.md, records and claims):
    // each entry was read back, and confirmed ones looked at again; entries put back after
    // that by the other process's write made from an older read (its process held up between
    // its read and its write longer than this one's pauses: rare, on 2 cores loaded 12 times
    // over) are older entries of the same clusters, never another key, and the next run
    // mends them.
    let lost: Vec<&String> = ids
        .iter()
        .filter(|id| record_entry(&sim, &app, id) != Some(json!({ "key": key })))
        .collect();
    if lost.is_empty() {
        return;
    }
    let tags = app_tags(&sim, &app);
    eprintln!(
        "{} of 16 entries put back by a stale write: {tags:?}",
        lost.len()
    );
    // A stale write takes back what one run wrote after its read: one run's entries.
    assert!(
        lost.iter().all(|id| a.contains(id)) || lost.iter().all(|id| b.contains(id)),
        "entries of both runs lost: {tags:?}"
    );
    for id in &lost {
        let entry = record_entry(&sim, &app, id);
        let older = entry.as_ref().is_none_or(|e| {
            e["pending"] == json!(key) && e.get("key").is_none_or(|k| *k == json!(key))
        });
        assert!(older, "{id}: {entry:?} is no older entry of this run's");
    }
    let resets = sim.resets();
    finished(
        start_reset(&sim, &["--jobs", "8"], &per_cluster(&env, &ids)),
        16,
    );
    assert_recorded(&sim, &app, &ids, &key);
    assert!(
        sim.resets() - resets <= lost.len(),
        "a cluster whose entry was kept was reset again"
    );
}

/// Another writer's stale write lands between this run's write and its read-back (as a
/// second process that read the tags before): the lost entry is written again.
#[test]
fn an_entry_replaced_by_another_writer_is_written_again() {
    let sim = sim_with_clusters(0);
    let env = granted(&sim);
    let app = env["app_id"].as_str().unwrap().to_owned();
    let key = env["client_secret_key_id"].as_str().unwrap().to_owned();
    let cluster = sim.var("CLUSTER_ID");
    let before: Vec<String> = app_tags(&sim, &app);
    // The record's first write lands at once; its answer comes 700 ms later.
    sim.sim()
        .add_fault(
            json!({"method": "PATCH", "path": "/applications", "count": 1, "delay_after_ms": 700}),
        )
        .unwrap();
    let child = start_reset(&sim, &["-vv", "--cluster", &cluster], &line(&env));
    let deadline = Instant::now() + Duration::from_secs(20);
    while record_entry(&sim, &app, &cluster).is_none() {
        if Instant::now() > deadline {
            let out = child.wait_with_output().unwrap();
            panic!(
                "the pending entry never came: {}\n{:?}",
                String::from_utf8_lossy(&out.stderr),
                sim.requests()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    // The other writer sends back the tags it read before: the entry is gone.
    let before: Vec<&str> = before.iter().map(String::as_str).collect();
    set_app_tags(&sim, &app, &before);
    let stderr = finished(child, 1);
    assert!(stderr.contains("writing it again"), "{stderr}");
    // The pending entry was back before the reset was posted: the tool's write, the other
    // writer's, and the tool's again.
    let log = sim.writes();
    let reset = log
        .iter()
        .position(|r| {
            r["path"]
                .as_str()
                .unwrap()
                .ends_with("/resetServicePrincipalProfile")
        })
        .expect("the reset");
    let record_writes = log[..reset]
        .iter()
        .filter(|r| r["method"] == "PATCH" && r["path"].as_str().unwrap().contains("/applications"))
        .count();
    assert!(record_writes >= 3, "{:#?}", &log[..reset]);
    assert_recorded(&sim, &app, &[cluster], &key);
}

#[test]
fn the_old_cluster_tags_only_keep_keys_and_are_removed_only_when_asked() {
    let sim = sim_with_clusters(0);
    let env = granted(&sim);
    let app = env["app_id"].as_str().unwrap().to_owned();
    let key1 = env["client_secret_key_id"].as_str().unwrap().to_owned();
    let cluster = sim.var("CLUSTER_ID");
    let reset = run_step(&sim, Step::Reset, &[], &line(&env));
    assert_eq!(reset.code, 0, "{}", reset.stderr);
    // Another key of the app, and the old record's tags naming it on the cluster (as an
    // earlier version wrote them, or anyone who may write the cluster's tags).
    let op = Operator::new(&sim);
    let object_id = env["app_object_id"].as_str().unwrap();
    let (secret2, key2) = op.add_secret(object_id);
    let legacy =
        json!({"team": "a", "xtenant-client-id": app, "xtenant-client-secret-key-id": key2});
    let (status, body) = xtenant_tests::azure::write_cluster_tags(&sim, &op, &cluster, &legacy);
    assert_eq!(status, 202, "{body}");

    // A prune keeps the key the old tags name (and the one the record names).
    let prune = run_step(&sim, Step::App, &["--prune-secrets"], &line(&env));
    assert_eq!(prune.code, 0, "{}", prune.stderr);
    assert!(
        prune.stderr.contains(&format!("kept the secret {key2}")),
        "{}",
        prune.stderr
    );
    let left: Vec<String> = sim.state()["applications"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["app_id"] == app.as_str())
        .map(|a| {
            a["password_credentials"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["key_id"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap();
    assert!(left.contains(&key1) && left.contains(&key2), "{left:?}");

    // They never skip a reset: the cluster holds key1, the tags say key2.
    let mut env2 = env.clone();
    env2["client_secret"] = json!(secret2);
    env2["client_secret_key_id"] = json!(key2);
    sim.sim().clear_requests();
    let r = run_step(&sim, Step::Reset, &[], &line(&env2));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("--remove-legacy-tags"), "{}", r.stderr);
    assert_eq!(
        write_counts(&sim),
        (3, 0, 1),
        "the entry (pending, its operation, confirmed), the reset: {}",
        r.stderr
    );
    assert_eq!(
        record_entry(&sim, &app, &cluster),
        Some(json!({ "key": key2 }))
    );

    // Removed only when asked: one cluster update, the other tags kept.
    sim.sim().clear_requests();
    let r = run_step(&sim, Step::Reset, &["--remove-legacy-tags"], &line(&env2));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("nothing to do"), "{}", r.stderr);
    assert_eq!(write_counts(&sim), (0, 1, 0), "{}", r.stderr);
    let tags = tags_of(&sim, &cluster);
    assert_eq!(tags, json!({"team": "a"}));
}

/// `--remove-legacy-tags` writes the cluster's tags only over the cluster as it read them
/// (`If-Match` on its `eTag`): a tag another writer changes between that read and the write is
/// never put back to its old value. AKS refuses the stale write (412); the tool reads the
/// cluster again and removes the old tags from what it finds then.
#[test]
fn removing_the_old_tags_never_puts_back_a_tag_written_meanwhile() {
    let sim = sim_with_clusters(0);
    let env = granted(&sim);
    let app = env["app_id"].as_str().unwrap().to_owned();
    let key = env["client_secret_key_id"].as_str().unwrap().to_owned();
    let cluster = sim.var("CLUSTER_ID");
    let reset = run_step(&sim, Step::Reset, &[], &line(&env));
    assert_eq!(reset.code, 0, "{}", reset.stderr);
    let op = Operator::new(&sim);
    let legacy =
        json!({"team": "a", "xtenant-client-id": app, "xtenant-client-secret-key-id": key});
    let (status, body) = xtenant_tests::azure::write_cluster_tags(&sim, &op, &cluster, &legacy);
    assert_eq!(status, 202, "{body}");
    // The tool's tag write reaches AKS late; before it does, another writer changes a tag.
    sim.sim()
        .add_fault(
            json!({"method": "PATCH", "path": "/managedClusters/", "count": 1, "delay_ms": 800}),
        )
        .unwrap();
    sim.sim().clear_requests();
    let child = start_reset(
        &sim,
        &["--cluster", &cluster, "--remove-legacy-tags"],
        &line(&env),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while sim.sim().faults()[0]["matched"] == 0 {
        assert!(Instant::now() < deadline, "the tag write never came");
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut newer = legacy.clone();
    newer["team"] = json!("b");
    let (status, body) = xtenant_tests::azure::write_cluster_tags(&sim, &op, &cluster, &newer);
    assert_eq!(status, 202, "{body}");
    let stderr = finished(child, 1);
    assert_eq!(tags_of(&sim, &cluster), json!({"team": "b"}), "{stderr}");
    // As answered: the other writer's (unconditional), the tool's from the older read
    // (refused), the tool's from the read after it; the tool's both conditional.
    let writes: Vec<(u64, String)> = sim
        .writes()
        .iter()
        .filter(|r| {
            r["method"] == "PATCH" && r["path"].as_str().unwrap().contains("/managedClusters/")
        })
        .map(|r| {
            let m = r["request_headers"]["if-match"].as_str().unwrap_or("");
            (r["status"].as_u64().unwrap(), m.to_owned())
        })
        .collect();
    let statuses: Vec<u64> = writes.iter().map(|w| w.0).collect();
    assert_eq!(statuses, [202, 412, 202], "{writes:?}\n{stderr}");
    let (stale, fresh) = (&writes[1].1, &writes[2].1);
    assert!(writes[0].1.is_empty(), "{writes:?}");
    assert!(
        !stale.is_empty() && !fresh.is_empty() && stale != fresh,
        "{writes:?}"
    );
    assert!(stderr.contains("changed since it was read"), "{stderr}");
}

/// A cluster whose every tag write is refused as made from an older read (412, injected):
/// the removal reads again and writes again 5 times, then fails with `ClusterBusy` (a rerun
/// removes them), the old tags and the others as they were.
#[test]
fn removing_the_old_tags_gives_up_after_five_stale_writes_and_changes_nothing() {
    let sim = sim_with_clusters(0);
    let env = granted(&sim);
    let app = env["app_id"].as_str().unwrap().to_owned();
    let key = env["client_secret_key_id"].as_str().unwrap().to_owned();
    let cluster = sim.var("CLUSTER_ID");
    let reset = run_step(&sim, Step::Reset, &[], &line(&env));
    assert_eq!(reset.code, 0, "{}", reset.stderr);
    let legacy =
        json!({"team": "a", "xtenant-client-id": app, "xtenant-client-secret-key-id": key});
    let op = Operator::new(&sim);
    let (status, body) = xtenant_tests::azure::write_cluster_tags(&sim, &op, &cluster, &legacy);
    assert_eq!(status, 202, "{body}");
    sim.sim()
        .add_fault(
            json!({"method": "PATCH", "path": "/managedClusters/", "count": 0,
            "status": 412, "code": "PreConditionFailed"}),
        )
        .unwrap();
    sim.sim().clear_requests();
    let r = run_step(&sim, Step::Reset, &["--remove-legacy-tags"], &line(&env));
    assert_eq!(r.code, 1, "{}", r.stderr);
    let o: Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(o["error"]["code"], "ClusterBusy", "{o}");
    assert!(
        o["error"]["message"]
            .as_str()
            .unwrap()
            .contains("changed 5 times"),
        "{o}"
    );
    assert_eq!(write_counts(&sim).1, 0, "no cluster write kept");
    let tried = sim
        .writes()
        .iter()
        .filter(|w| {
            w["method"] == "PATCH" && w["path"].as_str().unwrap().contains("/managedClusters/")
        })
        .count();
    assert_eq!(tried, 5);
    assert_eq!(tags_of(&sim, &cluster), legacy);
}

/// The sim of `base`'s state with the operator's Graph permissions in tenant A set to
/// `roles`, and the owners of the app `app_id` to `owners`.
fn with_graph_rights(base: &TestSim, app_id: &str, roles: &[&str], owners: &[&str]) -> TestSim {
    let mut state = base.state();
    let (operator, tenant) = (base.var("AZURE_CLIENT_ID"), base.var("CLUSTER_TENANT_ID"));
    for sp in state["service_principals"].as_array_mut().unwrap() {
        if sp["app_id"] == operator.as_str() && sp["tenant_id"] == tenant.as_str() {
            sp["graph_app_roles"] = json!(roles);
        }
    }
    for app in state["applications"].as_array_mut().unwrap() {
        if app["app_id"] == app_id {
            app["owners"] = json!(owners);
        }
    }
    TestSim::start_with(|c| c.scenario = Some(state))
}

/// `env` as it reads against `sim` (another simulator of the same state: another port).
fn moved(env: &Value, sim: &TestSim) -> String {
    let mut o = env.clone();
    o["registry_login_server"] = json!(sim.var("REGISTRY_LOGIN_SERVER"));
    o["registry_image"] = json!(sim.var("REGISTRY_IMAGE"));
    line(&o)
}

/// The record is kept where only the app's owners and directory administrators may write:
/// an identity that may reset the cluster but not change the app is refused before the
/// reset (the same people may add or remove the app's secrets anyway).
#[test]
fn the_record_is_written_only_by_who_may_change_the_app() {
    let base = sim_with_clusters(0);
    let env = granted(&base);
    let app = env["app_id"].as_str().unwrap().to_owned();
    let operator_sp_a = base.state()["service_principals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|sp| {
            sp["app_id"] == base.var("AZURE_CLIENT_ID").as_str()
                && sp["tenant_id"] == base.var("CLUSTER_TENANT_ID").as_str()
        })
        .map(|sp| sp["id"].as_str().unwrap().to_owned())
        .unwrap();

    let sim = with_graph_rights(&base, &app, &["Application.Read.All"], &[]);
    let r = run_step(&sim, Step::Reset, &[], &moved(&env, &sim));
    r.refused_not_owner();
    assert_eq!(
        write_counts(&sim),
        (0, 0, 0),
        "nothing written, nothing reset"
    );

    // Application.ReadWrite.OwnedBy (beside the directory reads): only on an app it owns.
    let owned_by = ["Application.Read.All", "Application.ReadWrite.OwnedBy"];
    let sim = with_graph_rights(&base, &app, &owned_by, &[]);
    let r = run_step(&sim, Step::Reset, &[], &moved(&env, &sim));
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(r.object()["error"]["code"], "Authorization_RequestDenied");
    assert_eq!(write_counts(&sim), (0, 0, 0));
    let sim = with_graph_rights(&base, &app, &owned_by, &[&operator_sp_a]);
    let r = run_step(&sim, Step::Reset, &[], &moved(&env, &sim));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let key = env["client_secret_key_id"].as_str().unwrap();
    assert_recorded(&sim, &app, &[sim.var("CLUSTER_ID")], key);
}

/// The PATCHes of the app's record the simulator logged, in the order they landed: whether
/// each was held by a fault (`delay_ms`) on its way.
fn record_patches(sim: &TestSim) -> Vec<bool> {
    sim.requests()
        .iter()
        .filter(|r| {
            r["method"] == "PATCH" && r["path"].as_str().unwrap_or("").contains("/applications")
        })
        .map(|r| r["fault"]["delay_ms"].as_u64().is_some_and(|d| d > 0))
        .collect()
}

/// The two writers' keys in the races below (P's, Q's).
pub(super) const P_KEY: &str = "11111111-2222-3333-4444-555555555555";
pub(super) const Q_KEY: &str = "66666666-7777-8888-9999-000000000000";

/// The id of a cluster `name` (the record keys it; no such cluster needs to exist).
pub(super) fn cluster_named(name: &str) -> String {
    format!(
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/{name}"
    )
}

/// An entry naming the key `k`.
pub(super) fn key_entry(k: &str) -> Entry {
    Entry {
        key: Some(k.to_owned()),
        ..Entry::default()
    }
}

/// A simulator with a multitenant app `name`, made a while before (as step 1 made it): the
/// simulator, the app's id, tenant A.
///
/// Azure's clock is moved past Graph's write lag, which the simulator keeps for a new app
/// (10 s of Azure's time, 10 ms of the tests'): a test reaching its first record write within
/// it is answered 404, as Graph answers, and fails on that instead of what it tests (a build
/// whose HTTP stack is a little more optimised got there in under 10 ms).
pub(super) fn race_world(name: &str) -> (TestSim, String, String) {
    let sim = TestSim::start();
    let app = Operator::new(&sim)
        .create_app(&NewApp::multitenant(name))
        .app_id;
    sim.sim().advance(azure_sim::REPLICATION_DELAY);
    let tenant = sim.var("CLUSTER_TENANT_ID");
    (sim, app, tenant)
}

/// Two writers that share nothing (two runs' contexts, as in two processes: no turn in
/// common, each its own connections and clock) write an entry each on one app, and their
/// windows overlap: Graph takes Q's read before P's write lands and Q's write after it (Q's
/// write is held 300 ms on its way, a slow link), so Q's write sends back the tags without
/// P's entry. P's round trips are slow too (its read is held 150 ms): its pause before the
/// read-back, as long as its own read-and-write (two round trips, not the write's one), ends
/// after Q's write landed, and P writes its lost entry again. Both entries are kept.
#[test]
fn two_writers_whose_windows_overlap_lose_no_entry() {
    let (sim, app, tenant) = race_world("xtenant-record-race");
    let cluster = |name: String| cluster_named(&name);
    let (p_key, q_key, entry) = (P_KEY, Q_KEY, key_entry);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (p, q) = (
        sim.ctx(Duration::from_secs(30)),
        sim.ctx(Duration::from_secs(30)),
    );
    let (gp, gq) = (p.graph(&tenant), q.graph(&tenant));
    // Each with its token and connection, as a run has them by its first write.
    rt.block_on(async {
        record::read(&gp, &app).await.unwrap();
        record::read(&gq, &app).await.unwrap();
    });
    // On a machine loaded far beyond its cores P may come too late to Q's window (its read
    // taken after Q's write landed): then nothing can be lost, and the race is run again.
    for round in 0..3 {
        let (p_cluster, q_cluster) = (cluster(format!("p{round}")), cluster(format!("q{round}")));
        sim.sim().clear_requests();
        sim.sim().clear_faults();
        sim.sim()
            .add_fault(
                json!({"method": "PATCH", "path": "/applications", "count": 1, "delay_ms": 300}),
            )
            .unwrap();
        let (p_wrote, q_wrote) = rt.block_on(async {
            let q_writes = record::write(
                &q,
                &gq,
                &app,
                &q_cluster,
                Some(entry(q_key)),
                ReadBack::Measured,
            );
            let p_writes = async {
                // Q has read, and its write is on its way: P reads now, slowly, and writes.
                while sim.sim().faults()[0]["matched"] == 0 {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                sim.sim()
                    .add_fault(
                        json!({"method": "GET", "path": "/applications", "count": 1, "delay_ms": 200}),
                    )
                    .unwrap();
                record::write(
                    &p,
                    &gp,
                    &app,
                    &p_cluster,
                    Some(entry(p_key)),
                    ReadBack::Measured,
                )
                .await
            };
            tokio::join!(p_writes, q_writes)
        });
        assert_eq!(p_wrote.unwrap(), Written::Written);
        assert_eq!(q_wrote.unwrap(), Written::Written);
        assert_eq!(
            record_entry(&sim, &app, &p_cluster),
            Some(json!({ "key": p_key }))
        );
        assert_eq!(
            record_entry(&sim, &app, &q_cluster),
            Some(json!({ "key": q_key }))
        );
        // P's write landed while Q's was held, Q's replaced it, P's again: the windows
        // overlapped and the lost entry was written again.
        if record_patches(&sim) == [false, true, false] {
            return;
        }
    }
    panic!(
        "the windows never overlapped in 3 rounds: {:#?}",
        sim.requests()
    );
}

/// A write of an entry queued behind a `Supersedable` write of the same cluster's entry takes
/// over its read-back (as step 4's confirmed entry does the operation's note, when the reset
/// ends first): the first write's pause ends at once and it is not read back; the second is.
/// A first write that did not ask for it (`Measured`: the confirmed entry; `Guarded`: the
/// pending one) is read back by itself all the same.
#[test]
fn a_write_queued_behind_another_of_the_same_entry_takes_over_its_read_back() {
    let (sim, app, tenant) = race_world("xtenant-record-superseded");
    let cluster = &cluster_named("c");
    let (bound, confirmed) = (
        Entry {
            pending: Some("11111111-2222-3333-4444-555555555555".into()),
            operation: Some("66666666-7777-8888-9999-000000000000".into()),
            ..Entry::default()
        },
        Entry {
            key: Some("11111111-2222-3333-4444-555555555555".into()),
            ..Entry::default()
        },
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let ctx = sim.ctx(Duration::from_secs(30));
    // (the first write's stake, the reads expected: the first write's read, its read-back
    // unless superseded and its second look if `Measured`, the second's read, its read-back
    // and its second look)
    for (first_asks, gets) in [
        (ReadBack::Supersedable, 4),
        (ReadBack::Measured, 6),
        (ReadBack::Guarded, 5),
    ] {
        set_app_tags(&sim, &app, &[]);
        let (first, second) = rt.block_on(async {
            let graph = ctx.graph(&tenant);
            record::read(&graph, &app).await.unwrap();
            sim.sim().clear_requests();
            // The first write's read is slow: its pause (as long as its read-and-write) would be.
            sim.sim()
                .add_fault(
                    json!({"method": "GET", "path": "/applications", "count": 1, "delay_ms": 200}),
                )
                .unwrap();
            let first = record::write(&ctx, &graph, &app, cluster, Some(bound.clone()), first_asks);
            let second = async {
                while record_patches(&sim).is_empty() {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                let c = Some(confirmed.clone());
                record::write(&ctx, &graph, &app, cluster, c, ReadBack::Measured).await
            };
            tokio::join!(first, second)
        });
        assert_eq!(first.unwrap(), Written::Written, "{first_asks:?}");
        assert_eq!(second.unwrap(), Written::Written, "{first_asks:?}");
        let reads = sim
            .requests()
            .iter()
            .filter(|r| r["method"] == "GET")
            .count();
        assert_eq!(
            (reads, record_patches(&sim).len()),
            (gets, 2),
            "{first_asks:?}: {:#?}",
            sim.requests()
        );
        assert_eq!(
            record_entry(&sim, &app, cluster),
            Some(json!({ "key": "11111111-2222-3333-4444-555555555555" }))
        );
    }
}

/// A confirmation (`Measured`) is looked at again after its read-back: another writer's write
/// from a read taken before it landed, held up longer than the pause (it lands while the
/// read-back, taken at once, is on its way back), puts back the tags without the entry; the
/// second look sees it and writes the entry again.
#[test]
fn a_confirmation_lost_after_its_read_back_is_written_again() {
    let (sim, app, tenant) = race_world("xtenant-record-second-look");
    let cluster = cluster_named("c");
    let ctx = sim.ctx(Duration::from_secs(30));
    let graph = ctx.graph(&tenant);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(record::read(&graph, &app)).unwrap();
    // What the other writer read, before this write.
    let before = app_tags(&sim, &app);
    // The write's read-back (the second read) is taken at once and answered 300 ms later.
    sim.sim()
        .add_fault(json!({"method": "GET", "path": "/applications", "skip": 1, "count": 1, "delay_after_ms": 300}))
        .unwrap();
    let written = std::thread::scope(|s| {
        s.spawn(|| {
            let deadline = Instant::now() + Duration::from_secs(10);
            while sim.sim().faults()[0]["applied"] == 0 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
            let before: Vec<&str> = before.iter().map(String::as_str).collect();
            set_app_tags(&sim, &app, &before);
        });
        rt.block_on(record::write(
            &ctx,
            &graph,
            &app,
            &cluster,
            Some(key_entry(P_KEY)),
            ReadBack::Measured,
        ))
    });
    assert_eq!(written.unwrap(), Written::Written);
    assert_eq!(
        record_entry(&sim, &app, &cluster),
        Some(json!({ "key": P_KEY })),
        "{:#?}",
        sim.requests()
    );
    // The write, the other writer's, the write again.
    assert_eq!(record_patches(&sim).len(), 3, "{:#?}", sim.requests());
}

/// The pending entry before a reset (`Guarded`) is read back at least 100 ms after its write
/// was answered, however fast this run's reads and writes are: a writer on a slower link may
/// have a longer window than this run can measure.
#[test]
fn a_guarded_write_is_read_back_after_at_least_100_ms() {
    let (sim, app, tenant) = race_world("xtenant-record-guarded");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let ctx = sim.ctx(Duration::from_secs(30));
    // The gap between a PATCH's answer and the next GET's arrival, by the simulator's log.
    let gap = |asks: ReadBack, cluster: &str, k: &str| {
        sim.sim().clear_requests();
        let graph = ctx.graph(&tenant);
        let written = rt.block_on(record::write(
            &ctx,
            &graph,
            &app,
            cluster,
            Some(key_entry(k)),
            asks,
        ));
        assert_eq!(written.unwrap(), Written::Written);
        let log = sim.requests();
        let at = |r: &Value, field: &str| {
            let t = r[field]
                .as_str()
                .unwrap_or_else(|| panic!("no {field}: {r}"));
            time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).unwrap()
        };
        let patch = log
            .iter()
            .position(|r| r["method"] == "PATCH")
            .expect("a PATCH");
        let back = log[patch + 1..]
            .iter()
            .find(|r| r["method"] == "GET")
            .expect("a read-back");
        at(back, "time") - at(&log[patch], "time")
    };
    for i in 0..2 {
        let guarded = gap(ReadBack::Guarded, &cluster_named(&format!("g{i}")), P_KEY);
        assert!(guarded >= time::Duration::milliseconds(100), "{guarded}");
    }
}

/// A record write refused on its way (Graph's 429) is made again from a fresh read, not sent
/// again as it was: another writer Q writes its entry, and reads it back, while P waits to
/// write again; P's second write carries Q's entry. Resent as it was (the retry loop's
/// resend), P's write would put back the tags read before Q's write, and Q's entry would be
/// lost with no one left to see it.
#[test]
fn a_throttled_record_write_is_made_again_from_a_fresh_read() {
    let (sim, app, tenant) = race_world("xtenant-record-throttled");
    let (cluster, p_key, q_key, entry) = (cluster_named, P_KEY, Q_KEY, key_entry);
    let runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    };
    let (p, q) = (
        sim.ctx(Duration::from_secs(30)),
        sim.ctx(Duration::from_secs(30)),
    );
    sim.sim()
        .add_fault(json!({"method": "PATCH", "path": "/applications", "count": 1, "status": 429}))
        .unwrap();
    let p_wrote = std::thread::scope(|s| {
        let p_writes = s.spawn(|| {
            let gp = p.graph(&tenant);
            let e = Some(entry(p_key));
            runtime().block_on(record::write(
                &p,
                &gp,
                &app,
                &cluster("p"),
                e,
                ReadBack::Measured,
            ))
        });
        // P's write was refused: Q writes, and reads back, while P waits.
        while sim.sim().faults()[0]["applied"] == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        let gq = q.graph(&tenant);
        let q_wrote = runtime().block_on(record::write(
            &q,
            &gq,
            &app,
            &cluster("q"),
            Some(entry(q_key)),
            ReadBack::Measured,
        ));
        assert_eq!(q_wrote.unwrap(), Written::Written);
        p_writes.join().unwrap()
    });
    assert_eq!(p_wrote.unwrap(), Written::Written);
    assert_eq!(
        record_entry(&sim, &app, &cluster("p")),
        Some(json!({ "key": p_key }))
    );
    assert_eq!(
        record_entry(&sim, &app, &cluster("q")),
        Some(json!({ "key": q_key })),
        "{:#?}",
        sim.requests()
    );
}
