//! `--adopt`'s update of an existing app against other writers of its whole-value fields
//! (`tags`, where step 4 keeps its record, `web.redirectUris`, `requiredResourceAccess`):
//! computed from a fresh read, made again from a fresh read when it fails on its way, read
//! back and made again when another writer's write took it away.

use std::process::Child;
use std::time::{Duration, Instant};

use common::record::{self, Entry, ReadBack, Written};
use serde_json::{Value, json};
use xtenant_tests::azure::{NewApp, Operator, app_tags, record_entry, set_app_tags};
use xtenant_tests::{Run, TestSim, spawn_with_input};

const BIN: &str = "entra-app-create";
const REDIRECT: &str = "https://www.microsoft.com";
/// Another tag the app carries before it is adopted (someone else's).
const TEAM: &str = "team-a";
/// The key a cluster's record entry names.
const KEY: &str = "11111111-2222-3333-4444-555555555555";
const CLUSTER: &str =
    "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/aks1";

/// A simulator with a single-tenant app not made by the tools (another redirect URI, the tag
/// [`TEAM`]), an hour old: the simulator and the app's id.
fn world() -> (TestSim, String) {
    let sim = TestSim::start();
    let app = Operator::new(&sim).create_app(
        &NewApp::single_tenant("legacy-app").redirect_uris(&["https://legacy.example/signin"]),
    );
    sim.sim().advance(Duration::from_secs(3600));
    set_app_tags(&sim, &app.app_id, &[TEAM]);
    sim.sim().clear_requests();
    (sim, app.app_id)
}

/// `entra-app-create --app-id APP --adopt -vv`, started.
fn start_adopt(sim: &TestSim, app_id: &str) -> Child {
    let mut c = sim.cmd(BIN);
    c.args([
        "--cluster-tenant",
        &sim.var("CLUSTER_TENANT_ID"),
        "--app-id",
        app_id,
        "--adopt",
        "--timeout",
        "60s",
        "-vv",
    ]);
    spawn_with_input(&mut c, "")
}

fn is(r: &Value, method: &str, path_has: &str) -> bool {
    r["method"] == method && r["path"].as_str().unwrap_or("").contains(path_has)
}

/// Step 4's pending entry for [`CLUSTER`], written in this process by the record's own code
/// (its write read back after its pause, as a step 4 run writes it before a reset).
fn write_entry(sim: &TestSim, app_id: &str) {
    let ctx = sim.ctx(Duration::from_secs(30));
    let graph = ctx.graph(&sim.var("CLUSTER_TENANT_ID"));
    let entry = Entry {
        pending: Some(KEY.to_owned()),
        ..Entry::default()
    };
    let wrote = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(record::write(
            &ctx,
            &graph,
            app_id,
            CLUSTER,
            Some(entry),
            ReadBack::Guarded,
        ));
    assert_eq!(wrote.unwrap(), Written::Written);
}

/// The run succeeded, and the app is adopted: multitenant, both redirect URIs, the managed
/// mark, [`TEAM`] and the record entry kept.
fn assert_adopted(sim: &TestSim, app_id: &str, run: &Run) {
    assert_eq!(run.code, 0, "{}", run.stderr);
    let tags = app_tags(sim, app_id);
    assert!(tags.iter().any(|t| t == "xtenant:managed"), "{tags:?}");
    assert!(tags.iter().any(|t| t == TEAM), "{tags:?}");
    assert_eq!(
        record_entry(sim, app_id, CLUSTER),
        Some(json!({ "pending": KEY })),
        "the record entry is lost: {tags:?}\n{}",
        run.stderr
    );
    let app = sim.state()["applications"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["app_id"] == app_id)
        .cloned()
        .unwrap();
    assert_eq!(app["sign_in_audience"], "AzureADMultipleOrgs", "{app}");
    assert_eq!(
        app["redirect_uris"],
        json!(["https://legacy.example/signin", REDIRECT]),
        "{app}"
    );
}

/// Step 4 writes its pending entry into the app's tags (and reads it back) while the adopting
/// run holds the app as it read it (Graph's answer to its read held 1 s on its way): the
/// update's `tags` are made from a read after that, and the entry is kept. Made from the
/// first read, the update sent back the tags without it after its writer had checked it:
/// lost with no one left to see it, and a prune would remove the key the cluster is reset to.
#[test]
fn a_record_entry_written_between_the_adopts_read_and_its_write_is_kept() {
    let (sim, app_id) = world();
    sim.sim()
        .add_fault(
            json!({"method": "GET", "path": "/applications", "count": 1, "delay_after_ms": 1000}),
        )
        .unwrap();
    let child = start_adopt(&sim, &app_id);
    sim.until_logged("the adopting run's read of the app", |r| {
        is(r, "GET", "/applications")
    });
    write_entry(&sim, &app_id);
    let run: Run = child.wait_with_output().unwrap().into();
    assert_adopted(&sim, &app_id, &run);
}

/// The adopting run's write lands, then another writer that read the app before it (a step 4
/// run, whose write sends back the tags it read) takes the managed mark away before the run's
/// answer comes (held 700 ms): the run's read-back sees it and writes it again.
#[test]
fn an_adopt_write_taken_away_by_another_writer_is_written_again() {
    let (sim, app_id) = world();
    write_entry(&sim, &app_id);
    let before = app_tags(&sim, &app_id);
    sim.sim()
        .add_fault(
            json!({"method": "PATCH", "path": "/applications/", "count": 1, "delay_after_ms": 700}),
        )
        .unwrap();
    let child = start_adopt(&sim, &app_id);
    sim.until_logged("the adopting run's update", |r| {
        is(r, "PATCH", "/applications/")
    });
    assert!(
        app_tags(&sim, &app_id)
            .iter()
            .any(|t| t == "xtenant:managed")
    );
    let before: Vec<&str> = before.iter().map(String::as_str).collect();
    set_app_tags(&sim, &app_id, &before);
    let run: Run = child.wait_with_output().unwrap().into();
    assert_adopted(&sim, &app_id, &run);
    assert!(run.stderr.contains("written again"), "{}", run.stderr);
}

/// The adopting run's update is throttled (429, come back in 800 ms); step 4 writes its
/// pending entry, and reads it back, meanwhile. The update is made again from a fresh read,
/// never sent again as it was: resent, it put back the tags read before the entry.
#[test]
fn a_throttled_adopt_write_is_made_again_from_a_fresh_read() {
    let (sim, app_id) = world();
    sim.sim()
        .add_fault(
            json!({"method": "PATCH", "path": "/applications/", "count": 1, "status": 429,
            "headers": {"Retry-After": "1", "retry-after-ms": "800"}}),
        )
        .unwrap();
    let child = start_adopt(&sim, &app_id);
    let deadline = Instant::now() + Duration::from_secs(20);
    while sim.sim().faults()[0]["applied"] == 0 {
        assert!(Instant::now() < deadline, "{:#?}", sim.requests());
        std::thread::sleep(Duration::from_millis(2));
    }
    write_entry(&sim, &app_id);
    let run: Run = child.wait_with_output().unwrap().into();
    assert_adopted(&sim, &app_id, &run);
    let updates = sim
        .requests()
        .iter()
        .filter(|r| is(r, "PATCH", "/applications/"))
        .count();
    assert!(updates >= 2, "{:#?}", sim.requests());
}

/// An app made a moment ago is adopted while Graph's write replica still lacks it (404 to its
/// update for 0.6 real seconds): the lag is waited out as before, each update made from a
/// fresh read, and the update lands once. Azure's clock runs 50 times faster here, not 1000:
/// the app stays young (5 minutes of Graph's clock) for 6 real seconds, however slow the run's
/// start on a loaded machine.
#[test]
fn a_new_apps_write_lag_is_waited_out_by_the_adopt_update() {
    let sim = TestSim::start_with(|c| {
        c.time_scale = 0.02;
        let lag = c.azure_time(Duration::from_millis(600));
        let ms = u64::try_from(lag.as_millis()).unwrap();
        c.behaviour = Some(json!({ "graph_write_lag_ms": ms, "graph_read_lag_ms": 0 }));
    });
    let app_id = Operator::new(&sim)
        .create_app(&NewApp::single_tenant("new-app"))
        .app_id;
    sim.sim().clear_requests();
    let run: Run = start_adopt(&sim, &app_id)
        .wait_with_output()
        .unwrap()
        .into();
    assert_eq!(run.code, 0, "{}", run.stderr);
    let statuses: Vec<u64> = sim
        .requests()
        .iter()
        .filter(|r| is(r, "PATCH", "/applications/"))
        .map(|r| r["status"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(statuses.first(), Some(&404), "{statuses:?}");
    assert_eq!(statuses.last(), Some(&204), "{statuses:?}");
    assert_eq!(
        statuses.iter().filter(|s| **s < 300).count(),
        1,
        "{statuses:?}"
    );
    // Each update made from a read of its own (by object id; the app was found by appId).
    let log = sim.requests();
    let mut since_read = 0;
    for r in &log {
        if is(r, "GET", "/applications/") {
            since_read = 0;
        } else if is(r, "PATCH", "/applications/") {
            since_read += 1;
            assert_eq!(
                since_read, 1,
                "an update without a read before it: {log:#?}"
            );
        }
    }
    assert!(
        run.stderr.contains("waiting for Graph to take the update"),
        "{}",
        run.stderr
    );
    let tags = app_tags(&sim, &app_id);
    assert!(tags.iter().any(|t| t == "xtenant:managed"), "{tags:?}");
}

/// Every read shows the update taken away again (a writer that always wins, injected into
/// Graph's answers): the update is written 5 times, then the object fails with
/// `AppUpdateNotKept`, not told it was adopted.
#[test]
fn an_update_taken_away_each_time_fails_after_five_writes() {
    let (sim, app_id) = world();
    sim.sim()
        .add_fault(
            json!({"method": "GET", "path": "/applications/", "count": 0,
            "body_patch": {"tags": [TEAM]}}),
        )
        .unwrap();
    let run: Run = start_adopt(&sim, &app_id)
        .wait_with_output()
        .unwrap()
        .into();
    let o = run.failed_exit(1, BIN);
    assert_eq!(o["error"]["code"], "AppUpdateNotKept", "{o}");
    let updates = sim
        .requests()
        .iter()
        .filter(|r| is(r, "PATCH", "/applications/"))
        .count();
    assert_eq!(updates, 5, "{:#?}", sim.requests());
    assert!(run.stderr.contains("written again"), "{}", run.stderr);
}

/// A rename of the tool's own app lands, then another writer makes the app single-tenant
/// before the run's answer comes (held 700 ms): the read-back finds an app that does not fit.
/// The failure says the update was made (which field), what the read-back found and what to
/// do; it never says it refuses an update it made.
#[test]
fn a_read_back_that_finds_the_app_changed_says_the_update_was_made() {
    let sim = TestSim::start();
    let tenant = sim.var("CLUSTER_TENANT_ID");
    let run = |extra: &[&str]| -> Child {
        let mut c = sim.cmd(BIN);
        c.args(["--cluster-tenant", &tenant, "--unique-name", "own-app"])
            .args(extra);
        spawn_with_input(&mut c, "")
    };
    let made: Run = run(&[]).wait_with_output().unwrap().into();
    assert_eq!(made.code, 0, "{}", made.stderr);
    let app_id = made.object()["app_id"].as_str().unwrap().to_owned();
    sim.sim().advance(Duration::from_secs(3600));
    sim.sim().clear_requests();
    sim.sim()
        .add_fault(
            json!({"method": "PATCH", "path": "/applications/", "count": 1, "delay_after_ms": 700}),
        )
        .unwrap();
    let child = run(&["--display-name", "renamed-app", "--timeout", "60s", "-vv"]);
    sim.until_logged("the run's rename", |r| is(r, "PATCH", "/applications/"));
    let (status, body) = Operator::new(&sim).graph(
        xtenant_tests::azure::Method::PATCH,
        &tenant,
        &format!("/applications(appId='{app_id}')"),
        Some(&json!({"signInAudience": "AzureADMyOrg"})),
    );
    assert_eq!(status, 204, "{body}");
    let run: Run = child.wait_with_output().unwrap().into();
    let o = run.failed_exit(1, BIN);
    let e = &o["error"];
    assert_eq!(e["code"], "AppNotMultitenant", "{o}");
    let m = e["message"].as_str().unwrap();
    assert!(
        m.contains("displayName of the app at")
            && m.contains("WAS updated")
            && m.contains("found the app changed by another writer")
            && m.contains("not multitenant")
            && !m.contains("refusing"),
        "{m}"
    );
    let hint = e["hint"].as_str().unwrap();
    assert!(
        hint.contains("the update stays") && hint.contains("--adopt"),
        "{hint}"
    );
    let app = sim.state()["applications"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["app_id"] == app_id.as_str())
        .cloned()
        .unwrap();
    assert_eq!(app["display_name"], "renamed-app", "{app}");
}
