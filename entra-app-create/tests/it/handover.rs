//! attack13: an app a tenant-A member made with the default uniqueName and the tag, planted a
//! credential of their own on (a federated identity credential, a client secret), then handed
//! to the operator as its only owner (owner add, then owner remove of themselves: Graph allows
//! both to an app's owner). Its owner list then says "exactly the operator", yet its keys are
//! not the tool's.

use serde_json::{Value, json};
use xtenant_tests::azure::{Method, Operator};
use xtenant_tests::{Run, TestSim, spawn_with_input};

const BIN: &str = "entra-app-create";
const ATTACKER_KEY: &str = "a77ac4e2-0000-4000-8000-0000000000aa";

/// A handed-over app: made (here by the operator's call, so its owner is the operator's
/// service principal: the state the attacker's owner add + self-removal leaves), then given
/// the attacker's federated credential and client secret.
fn handed_over() -> TestSim {
    handed_over_planting(|app| {
        app["federated_credentials"] = json!([{
            "issuer": "https://token.actions.githubusercontent.com",
            "subject": "repo:attacker/x:ref:refs/heads/main",
            "audiences": ["api://AzureADTokenExchange"],
        }]);
        app["password_credentials"] = json!([{
            "key_id": ATTACKER_KEY,
            "display_name": "attacker",
            "hint": "att",
            "end": "2099-01-01T00:00:00Z",
            "secret_sha256": "00",
        }]);
    })
}

/// A handed-over app (as [`handed_over`]) given what `plant` writes on its stored state.
pub(super) fn handed_over_planting(plant: impl Fn(&mut Value)) -> TestSim {
    let base = TestSim::start();
    let body = json!({
        "displayName": "xtenant-acr-pull",
        "uniqueName": "xtenant-acr-pull",
        "signInAudience": "AzureADMultipleOrgs",
        "web": {"redirectUris": ["https://www.microsoft.com"]},
        "tags": ["xtenant:managed"],
        "requiredResourceAccess": [{
            "resourceAppId": "00000003-0000-0000-c000-000000000000",
            "resourceAccess": [{"id": "e1fe6dd8-ba31-4d61-89e7-88639da4683d", "type": "Scope"}]
        }],
    });
    let (status, answer) = Operator::new(&base).graph(
        Method::POST,
        &base.var("CLUSTER_TENANT_ID"),
        "/applications",
        Some(&body),
    );
    assert_eq!(status, 201, "{answer}");
    let mut state = base.state();
    for app in state["applications"].as_array_mut().unwrap() {
        if app["unique_name"] == "xtenant-acr-pull" {
            assert_eq!(
                app["owners"].as_array().map(Vec::len),
                Some(1),
                "the operator alone owns it: {app}"
            );
            plant(app);
        }
    }
    TestSim::start_with(|c| c.scenario = Some(state))
}

/// Fails on main (283ace9): the owner check passes (the operator is the only owner), step 1
/// makes a service principal and mints a secret on an app whose federated credential and
/// client secret another user holds; steps 2-3 would then give it pull in tenant B.
#[test]
fn an_app_handed_over_with_a_planted_credential_is_not_taken_for_this_tools() {
    let sim = handed_over();
    let mut c = sim.cmd(BIN);
    c.args(["--cluster-tenant", &sim.var("CLUSTER_TENANT_ID"), "-vv"]);
    let run: Run = spawn_with_input(&mut c, "")
        .wait_with_output()
        .unwrap()
        .into();
    let app = sim.app_by_unique_name("xtenant-acr-pull");
    let minted = app["password_credentials"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["key_id"] != ATTACKER_KEY)
        .count();
    assert_eq!(
        minted, 0,
        "a secret was minted on an app holding another user's federated credential and secret (exit {}): {app}\n{}",
        run.code, run.stderr
    );
    assert_ne!(run.code, 0, "the handed-over app was taken: {}", run.stderr);
}

/// `entra-app-create` on the handed-over app's tenant with `args`, to its end.
fn run(sim: &TestSim, args: &[&str]) -> Run {
    let mut c = sim.cmd(BIN);
    c.args(["--cluster-tenant", &sim.var("CLUSTER_TENANT_ID"), "-vv"]);
    c.args(args);
    spawn_with_input(&mut c, "")
        .wait_with_output()
        .unwrap()
        .into()
}

/// The service principals of `app` in the simulator.
fn sps_of(sim: &TestSim, app: &Value) -> usize {
    sim.state()["service_principals"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["app_id"] == app["app_id"])
        .count()
}

/// A handed-over app carrying a certificate (keyCredentials) another user holds, and no
/// other credential: refused (AppNotManaged) before anything is written (no service
/// principal, no secret), the message naming the certificate's key id and the hint the fix.
#[test]
fn an_app_handed_over_with_a_planted_certificate_is_refused_naming_it() {
    const CERT: &str = "c3c3c3c3-0000-4000-8000-0000000000cc";
    let sim = handed_over_planting(|app| {
        app["key_credentials"] = json!([{
            "key_id": CERT,
            "display_name": "CN=attacker",
            "end": "2099-01-01T00:00:00Z",
        }]);
    });
    let run = run(&sim, &[]);
    let o = run.failed_exit(1, BIN);
    assert_eq!(o["error"]["code"], "AppNotManaged", "{o}");
    let message = o["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(CERT)
            && message.contains("CN=attacker")
            && message.contains("never makes"),
        "{o}"
    );
    let hint = o["error"]["hint"].as_str().unwrap();
    assert!(
        hint.contains("remove them") && hint.contains("--adopt"),
        "{o}"
    );
    let app = sim.app_by_unique_name("xtenant-acr-pull");
    assert_eq!(app["password_credentials"], json!([]), "{app}");
    assert_eq!(sps_of(&sim, &app), 0, "a service principal was made: {app}");
    // The read that showed it: Graph's keyCredential shape (never its key).
    let (status, read) = Operator::new(&sim).graph(
        Method::GET,
        &sim.var("CLUSTER_TENANT_ID"),
        &format!("/applications/{}", app["id"].as_str().unwrap()),
        None,
    );
    assert_eq!(status, 200, "{read}");
    let key = &read["keyCredentials"][0];
    assert!(
        key["keyId"] == CERT && key["key"].is_null() && key["type"] == "AsymmetricX509Cert",
        "{read}"
    );
}

/// The refusal of a federated credential names it (name and subject); the reader's
/// `--app-id APP --adopt`, after checking who added it, takes the app.
#[test]
fn a_planted_federated_credential_is_named_and_adopt_takes_the_app() {
    let sim = handed_over_planting(|app| {
        app["federated_credentials"] = json!([{
            "name": "attacker-gh",
            "issuer": "https://token.actions.githubusercontent.com",
            "subject": "repo:attacker/x:ref:refs/heads/main",
        }]);
    });
    let refused = run(&sim, &[]);
    let o = refused.failed_exit(1, BIN);
    assert_eq!(o["error"]["code"], "AppNotManaged", "{o}");
    let message = o["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("\"attacker-gh\"")
            && message.contains("repo:attacker/x:ref:refs/heads/main"),
        "{o}"
    );
    let app = sim.app_by_unique_name("xtenant-acr-pull");
    assert_eq!(sps_of(&sim, &app), 0, "{app}");
    let (status, listed) = Operator::new(&sim).graph(
        Method::GET,
        &sim.var("CLUSTER_TENANT_ID"),
        &format!(
            "/applications/{}/federatedIdentityCredentials",
            app["id"].as_str().unwrap()
        ),
        None,
    );
    assert_eq!(status, 200, "{listed}");
    let fic = &listed["value"][0];
    assert!(
        fic["name"] == "attacker-gh"
            && fic["audiences"][0] == "api://AzureADTokenExchange"
            && fic["id"].is_string(),
        "{listed}"
    );
    let app_id = app["app_id"].as_str().unwrap();
    let adopted = run(&sim, &["--app-id", app_id, "--adopt"]);
    assert_eq!(adopted.code, 0, "{}", adopted.stderr);
    assert_eq!(sps_of(&sim, &app), 1, "{}", adopted.stderr);
}

/// Graph's `Application.ReadWrite.All` application permission (an app role).
const APP_RW_ALL: &str = "1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9";

/// attack13, finding 3: a handed-over app with no credential of its maker's but asking
/// (`requiredResourceAccess`) for Graph's Application.ReadWrite.All beside User.Read. Taken
/// as the tool's own, step 2's admin-consent link would grant it in tenant B to whoever holds
/// the cluster's secret. Step 1 asks for User.Read alone: refused (AppNotManaged), before
/// anything is written, naming the permission; `--adopt` then takes it.
#[test]
fn an_app_taken_as_own_asks_for_no_permission_beyond_user_read() {
    let sim = handed_over_planting(|app| {
        app["properties"]["requiredResourceAccess"][0]["resourceAccess"]
            .as_array_mut()
            .expect("the app's requested permissions")
            .push(json!({"id": APP_RW_ALL, "type": "Role"}));
    });
    let run = run(&sim, &[]);
    let o = run.failed_exit(1, BIN);
    assert_eq!(o["error"]["code"], "AppNotManaged", "{o}");
    let message = o["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("Role {APP_RW_ALL}")) && message.contains("User.Read"),
        "{o}"
    );
    let app = sim.app_by_unique_name("xtenant-acr-pull");
    assert_eq!(app["password_credentials"], json!([]), "{app}");
    assert_eq!(sps_of(&sim, &app), 0, "a service principal was made: {app}");
    let app_id = app["app_id"].as_str().unwrap();
    let adopted = run_adopt(&sim, app_id);
    assert_eq!(adopted.code, 0, "{}", adopted.stderr);
}

fn run_adopt(sim: &TestSim, app_id: &str) -> Run {
    run(sim, &["--app-id", app_id, "--adopt"])
}
