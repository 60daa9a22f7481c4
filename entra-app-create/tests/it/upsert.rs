//! Step 1's create by uniqueName (`PATCH /applications(uniqueName=…)` with `Prefer:
//! create-if-missing`) against another run that creates the same app between this run's read
//! (404) and its create: Graph's upsert updates an app that exists (204), so the fixed create
//! body is never sent again as it was, and a 204 is said and checked as an existing app.

use serde_json::json;
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
    sim.until_logged("the run's create", |r| {
        r["method"] == "PATCH" && r["path"].as_str().unwrap().contains(UPSERT)
    });
    other_run_creates(&sim);
    let run: Run = child.wait_with_output().unwrap().into();
    let o = run.failed_exit(1, BIN);
    assert_eq!(o["error"]["code"], "AppRedirectUriMissing", "{o}");
    assert_eq!(upserts(&sim), [503], "{}", run.stderr);
    let app = sim.app_by_unique_name(UNIQUE);
    assert_eq!(app["redirect_uris"], json!([OTHER_URI]), "{app}");
    let app_id = app["app_id"].as_str().unwrap();
    assert!(app_tags(&sim, app_id).iter().any(|t| t == TEAM), "{app}");
}

/// The run's read (404) is answered late (held 600 ms) and another run creates the app
/// meanwhile: the create's upsert updates it (204; Graph has no conditional create by
/// uniqueName). The run says so on stderr, and refuses the app (AppNotManaged) without
/// `--adopt`, whatever tags it now shows (the mark is the upsert's own write), naming the
/// fields the upsert overwrote and the owners to check; no secret is minted.
#[test]
fn a_create_that_updated_an_app_another_run_made_says_so() {
    let sim = TestSim::start();
    sim.sim()
        .add_fault(json!({"method": "GET", "path": UPSERT, "count": 1, "delay_after_ms": 600}))
        .unwrap();
    let child = start(&sim);
    sim.until_logged("the run's read", |r| {
        r["method"] == "GET" && r["path"].as_str().unwrap().contains(UPSERT)
    });
    other_run_creates(&sim);
    let run: Run = child.wait_with_output().unwrap().into();
    let o = run.failed_exit(1, BIN);
    assert_eq!(o["error"]["code"], "AppNotManaged", "{o}");
    let message = o["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("overwrote its displayName, signInAudience, web.redirectUris, tags (adding the tag xtenant:managed) and requiredResourceAccess"),
        "{o}"
    );
    let hint = o["error"]["hint"].as_str().unwrap();
    assert!(
        hint.contains("owner list") && hint.contains("--adopt"),
        "{o}"
    );
    let app = sim.app_by_unique_name(UNIQUE);
    assert!(
        app["password_credentials"]
            .as_array()
            .is_none_or(Vec::is_empty),
        "{app}"
    );
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

/// attack12 (review of d32c71e). The run's read (404) is answered late and meanwhile someone
/// makes an app with the same uniqueName by hand: single-tenant, its own redirect URI and tag,
/// and no `xtenant:managed` mark (these tools did not make it). The run's upsert updates it
/// (204) and writes its own body over it — the mark among it — and the app is then "checked
/// as an existing one": read back, it carries the mark, the multitenant audience and the
/// redirect URI the upsert itself just wrote, so the check passes and the run mints a secret
/// on an app it did not make and no flag of the reader's named (`--adopt`). The evidence the
/// check trusts is the run's own write: after a 204 the app must be refused as one this tool
/// did not create (as the same app found by the read would be, `AppNotManaged`), no secret
/// minted.
#[test]
fn an_app_made_by_hand_meanwhile_is_not_adopted_on_the_mark_the_upsert_wrote() {
    let sim = TestSim::start();
    sim.sim()
        .add_fault(json!({"method": "GET", "path": UPSERT, "count": 1, "delay_after_ms": 600}))
        .unwrap();
    let child = start(&sim);
    sim.until_logged("the run's read", |r| {
        r["method"] == "GET" && r["path"].as_str().unwrap().contains(UPSERT)
    });
    let body = json!({
        "displayName": "made-by-hand",
        "uniqueName": UNIQUE,
        "signInAudience": "AzureADMyOrg",
        "web": {"redirectUris": [OTHER_URI]},
        "tags": [TEAM],
    });
    let (status, answer) = Operator::new(&sim).graph(
        Method::POST,
        &sim.var("CLUSTER_TENANT_ID"),
        "/applications",
        Some(&body),
    );
    assert_eq!(status, 201, "{answer}");
    let run: Run = child.wait_with_output().unwrap().into();
    assert_eq!(upserts(&sim), [204], "{}", run.stderr);
    let app = sim.app_by_unique_name(UNIQUE);
    assert!(
        app["password_credentials"]
            .as_array()
            .is_none_or(Vec::is_empty),
        "a secret was minted on an app this tool did not make (exit {}): {app}\n{}",
        run.code,
        run.stderr
    );
    assert_ne!(
        run.code, 0,
        "the app made by hand was adopted: {}",
        run.stderr
    );
}

/// attack12 (pre-existing, found reviewing d32c71e). No race is needed: the uniqueName step 1
/// uses by default is derived from the default display name (`xtenant-acr-pull`), and any user
/// of tenant A may register apps (the default) — with that uniqueName and the tag
/// `xtenant:managed`, the only evidence step 1 asks of an existing app that "these tools made
/// it". A user squats it before the operator's first run (owner: that user, not the
/// operator). Step 1 finds it, takes it for its own ("exists"), makes its service principal
/// and mints a secret; steps 2 and 3 would then get it consent and pull on tenant B's
/// registry, and its owner can add secrets of their own. An app with an owner other than the
/// operator should not be taken on the strength of a tag that owner wrote.
#[test]
fn a_squatted_app_with_the_default_unique_name_and_the_mark_is_not_taken_for_this_tools() {
    // Its owner: a user of tenant A, not the operator.
    let squatter = "5a5a5a5a-0000-4000-8000-00000000005a";
    let sim = super::handover::handed_over_planting(|app| app["owners"] = json!([squatter]));
    let mut c = sim.cmd(BIN);
    c.args(["--cluster-tenant", &sim.var("CLUSTER_TENANT_ID"), "-vv"]);
    let run: Run = spawn_with_input(&mut c, "")
        .wait_with_output()
        .unwrap()
        .into();
    let app = sim.app_by_unique_name("xtenant-acr-pull");
    assert!(
        app["password_credentials"]
            .as_array()
            .is_none_or(Vec::is_empty),
        "a secret was minted on an app another user owns (exit {}): {app}\n{}",
        run.code,
        run.stderr
    );
    assert_ne!(run.code, 0, "the squatted app was taken: {}", run.stderr);
}
