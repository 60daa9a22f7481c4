//! Step 1's create by uniqueName (`PATCH /applications(uniqueName=…)` with `Prefer:
//! create-if-missing`) against another run that creates the same app between this run's read
//! (404) and its create: Graph's upsert updates an app that exists (204), so the fixed create
//! body is never sent again as it was, and a 204 is said and checked as an existing app.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use xtenant_tests::azure::{Method, Operator, app_tags};
use xtenant_tests::{Run, TestSim, spawn_with_input};

const BIN: &str = "entra-app-create";
const UNIQUE: &str = "raced-app";
/// The other run's redirect URI and one of its tags.
const OTHER_URI: &str = "https://other.example/signin";
const TEAM: &str = "team-x";

/// The upsert's path, as the simulator logs it.
const UPSERT: &str = "/applications(uniqueName=";

/// `entra-app-create --unique-name raced-app`, started.
fn start(sim: &TestSim) -> std::process::Child {
    let mut c = sim.cmd(BIN);
    c.args([
        "--cluster-tenant",
        &sim.var("CLUSTER_TENANT_ID"),
        "--unique-name",
        UNIQUE,
        "--timeout",
        "60s",
        "-vv",
    ]);
    spawn_with_input(&mut c, "")
}

/// Waits (up to 20 s) until the simulator logged a request `matches` says is the one.
fn until_logged(sim: &TestSim, what: &str, matches: impl Fn(&Value) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !sim.requests().iter().any(&matches) {
        assert!(Instant::now() < deadline, "never logged: {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Another run's app with uniqueName [`UNIQUE`]: managed, multitenant, its own redirect URI
/// and tag [`TEAM`].
fn other_run_creates(sim: &TestSim) {
    let body = json!({
        "displayName": "other-run",
        "uniqueName": UNIQUE,
        "signInAudience": "AzureADMultipleOrgs",
        "web": {"redirectUris": [OTHER_URI]},
        "tags": ["xtenant:managed", TEAM],
    });
    let (status, answer) = Operator::new(sim).graph(
        Method::POST,
        &sim.var("CLUSTER_TENANT_ID"),
        "/applications",
        Some(&body),
    );
    assert_eq!(status, 201, "{answer}");
}

/// The app with uniqueName [`UNIQUE`] in the simulator's state.
fn the_app(sim: &TestSim) -> Value {
    sim.state()["applications"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["unique_name"] == UNIQUE)
        .cloned()
        .expect("the app")
}

fn upserts(sim: &TestSim) -> Vec<u64> {
    sim.requests()
        .iter()
        .filter(|r| r["method"] == "PATCH" && r["path"].as_str().unwrap().contains(UPSERT))
        .map(|r| r["status"].as_u64().unwrap())
        .collect()
}

/// The create is answered 503 (held 600 ms; Graph did not create it), and another run creates
/// the app meanwhile with its own redirect URI and tag. The create is not sent again as it
/// was (that upsert would replace the other run's redirect URIs and tags): the app is read
/// again, found, and checked as an existing app — which lacks this run's redirect URI, so
/// it is refused (as any existing app that does not fit), the other run's app untouched.
#[test]
fn a_failed_create_is_never_resent_over_an_app_another_run_made_meanwhile() {
    let sim = TestSim::start();
    sim.sim()
        .add_fault(
            json!({"method": "PATCH", "path": UPSERT, "count": 1, "status": 503,
            "delay_after_ms": 600}),
        )
        .unwrap();
    let child = start(&sim);
    until_logged(&sim, "the run's create", |r| {
        r["method"] == "PATCH" && r["path"].as_str().unwrap().contains(UPSERT)
    });
    other_run_creates(&sim);
    let run: Run = child.wait_with_output().unwrap().into();
    let o = run.failed_exit(1, BIN);
    assert_eq!(o["error"]["code"], "AppRedirectUriMissing", "{o}");
    assert_eq!(upserts(&sim), [503], "{}", run.stderr);
    let app = the_app(&sim);
    assert_eq!(app["redirect_uris"], json!([OTHER_URI]), "{app}");
    let app_id = app["app_id"].as_str().unwrap();
    assert!(app_tags(&sim, app_id).iter().any(|t| t == TEAM), "{app}");
}

/// The run's read (404) is answered late (held 600 ms) and another run creates the app
/// meanwhile: the create's upsert updates it (204; Graph has no conditional create by
/// uniqueName). The run says so, on stderr and in its summary, and goes on with the app as
/// an existing one (read, checked) instead of taking it for its own new app.
#[test]
fn a_create_that_updated_an_app_another_run_made_says_so() {
    let sim = TestSim::start();
    sim.sim()
        .add_fault(json!({"method": "GET", "path": UPSERT, "count": 1, "delay_after_ms": 600}))
        .unwrap();
    let child = start(&sim);
    until_logged(&sim, "the run's read", |r| {
        r["method"] == "GET" && r["path"].as_str().unwrap().contains(UPSERT)
    });
    other_run_creates(&sim);
    let run: Run = child.wait_with_output().unwrap().into();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(upserts(&sim), [204], "{}", run.stderr);
    assert!(
        run.stderr
            .contains("appeared between this run's read and its create (another run made it moments ago): Graph's upsert updated it (204)")
            && run.stderr.contains("check them"),
        "{}",
        run.stderr
    );
    // Checked as an existing app: read by uniqueName after the create.
    let log = sim.requests();
    let create = log
        .iter()
        .position(|r| r["method"] == "PATCH" && r["path"].as_str().unwrap().contains(UPSERT))
        .unwrap();
    assert!(
        log[create..]
            .iter()
            .any(|r| r["method"] == "GET" && r["path"].as_str().unwrap().contains(UPSERT)),
        "{log:#?}"
    );
}
