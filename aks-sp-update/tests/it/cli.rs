//! aks-sp-update against azure-sim: the real binary, the simulator's request log and its pull truth.
//!
//! Steps 1–3 of the procedure are done in each test's setup with raw HTTP as the
//! operator (create the multitenant app in A, a secret, its service principals in A and
//! B, AcrPull on the registry for B's), so these tests depend on no other tool.

use serde_json::{Value, json};
use xtenant_tests::azure::{
    App, NewApp, Operator, record_entry, role_assignments_of, set_app_tags,
};
use xtenant_tests::steps::{cluster_pulls, cluster_tags};
use xtenant_tests::{Run, TestSim, line, said};

const BIN: &str = "aks-sp-update";
const NETWORK_CONTRIBUTOR: &str = "4d97b98b-1d4f-4787-a291-c67834d212e7";

fn sim() -> TestSim {
    TestSim::start()
}

/// Steps 1–3: the multitenant app and its secret, its service principals in A and B, and
/// (with `grant`) AcrPull on the registry for B's.
fn setup(sim: &TestSim, grant: bool) -> App {
    let op = Operator::new(sim);
    let app = op.create_app(&NewApp::procedure("aks-acr-cross-tenant"));
    if grant {
        op.grant_pull(&app);
    }
    app
}

/// Runs the tool on `input`, the cluster its `cluster_id` names (`--targets-from-input`: these
/// tests are about the reset; which cluster a flag or the input names is `tests/tests/it/targets.rs`).
fn run(sim: &TestSim, args: &[&str], input: &Value) -> Run {
    let mut all = vec!["--targets-from-input"];
    all.extend_from_slice(args);
    sim.run(BIN, &all, &line(input))
}

/// The cluster's entry in the record on the app `app` (`Null`: none).
fn entry(sim: &TestSim, app: &str) -> Value {
    record_entry(sim, app, &sim.var("CLUSTER_ID")).unwrap_or(Value::Null)
}

/// Whether the record on the app says the cluster holds `app`'s key `key`, confirmed.
fn record_names(sim: &TestSim, app: &str, key: &str) -> bool {
    let e = entry(sim, app);
    e["key"] == key && e.get("pending").is_none()
}

/// The writes that changed a cluster (its tags): step 4 makes none but the reset.
fn cluster_writes(sim: &TestSim) -> Vec<String> {
    let cluster = sim.var("CLUSTER_ID");
    made_writes(sim)
        .into_iter()
        .filter(|w| w.starts_with(&format!("\"PATCH\" \"{cluster}")))
        .collect()
}

/// The writes of the record on the app.
fn record_writes(sim: &TestSim) -> usize {
    made_writes(sim)
        .iter()
        .filter(|w| w.starts_with("\"PATCH\" \"/v1.0/applications"))
        .count()
}

/// Successful writes (a refused attempt writes nothing).
fn made_writes(sim: &TestSim) -> Vec<String> {
    sim.writes()
        .iter()
        .filter(|w| w["status"].as_u64().is_some_and(|s| s < 400))
        .map(|w| format!("{} {} {}", w["method"], w["path"], w["status"]))
        .collect()
}

fn has_assignment(sim: &TestSim, scope: &str, role: &str, principal: &str) -> bool {
    role_assignments_of(sim, principal).iter().any(|ra| {
        ra["scope"]
            .as_str()
            .is_some_and(|s| s.eq_ignore_ascii_case(scope))
            && ra["role_definition_id"]
                .as_str()
                .is_some_and(|r| r.to_ascii_lowercase().ends_with(role))
    })
}

/// Two objects for one cluster in one run (`--jobs 2`) with two secrets of the app: the first
/// is reset, the second is refused before anything is sent for it, naming `cluster_id` —
/// they would race for the cluster and for its entry in the record. (The same object twice
/// is a rerun: `probe::after_the_procedure_the_cluster_pulls_from_inside` in `tests/`.)
#[test]
fn a_second_object_for_the_same_cluster_with_another_secret_is_refused() {
    let sim = sim();
    let s = setup(&sim, true);
    let first = s.envelope(&sim);
    let mut second = first.clone();
    second["client_secret_key_id"] = "0f0f0f0f-1111-4222-8333-444444444444".into();
    let args = [
        "--targets-from-input",
        "--jobs",
        "2",
        "--image",
        &sim.var("REGISTRY_IMAGE"),
    ];
    let r = sim.run(BIN, &args, &format!("{}{}", line(&first), line(&second)));
    assert_eq!(r.code, 1, "{}", r.stderr);
    let objects: Vec<Value> = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(objects.len(), 2, "{}", r.stdout);
    assert!(objects[0].get("error").is_none(), "{}", r.stdout);
    assert_eq!(objects[1]["error"]["code"], "InvalidInput", "{}", r.stdout);
    let message = objects[1]["error"]["message"].as_str().unwrap();
    assert!(message.contains("earlier object of this run"), "{message}");
    assert_eq!(sim.resets(), 1, "one reset, for the first object");
    assert!(cluster_pulls(&sim));
    assert!(record_names(&sim, &s.app_id, s.key_id.as_deref().unwrap()));
}

#[test]
fn the_reset_makes_the_cluster_pull_and_a_rerun_is_a_no_op() {
    let sim = sim();
    let s = setup(&sim, true);
    assert!(
        !cluster_pulls(&sim),
        "the cluster must not pull before the reset"
    );

    let r = run(
        &sim,
        &["-vv", "--image", &sim.var("REGISTRY_IMAGE")],
        &s.envelope(&sim),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = r.object();
    assert_eq!(out["cluster_provisioning_state"], "Succeeded", "{out}");
    assert_eq!(out["cluster_id"], sim.var("CLUSTER_ID"));
    assert!(out.get("cluster_operation_url").is_none(), "{out}");
    assert!(out["pull_verified_at"].is_string(), "{out}");
    assert_eq!(out["registry_image"], sim.var("REGISTRY_IMAGE"));
    assert!(cluster_pulls(&sim), "the cluster pulls after the reset");
    assert_eq!(sim.resets(), 1);
    // The secret went in the POST body only: never to stderr, even at -vv.
    assert!(!r.stderr.contains(s.secret()), "{}", r.stderr);
    // The old service principal's subnet role is given to the new one by default.
    assert!(
        r.stderr.contains("Network Contributor") && r.stderr.contains(&sim.var("SUBNET_ID")),
        "{}",
        r.stderr
    );
    assert!(has_assignment(
        &sim,
        &sim.var("SUBNET_ID"),
        NETWORK_CONTRIBUTOR,
        s.sp_a()
    ));
    // The record on the app names the secret's key; the cluster got no write but the reset.
    assert!(
        record_names(&sim, &s.app_id, s.key_id.as_deref().unwrap()),
        "{}",
        entry(&sim, &s.app_id)
    );
    assert_eq!(cluster_writes(&sim), Vec::<String>::new());
    assert_eq!(cluster_tags(&sim), json!({}));

    let writes = sim.writes().len();
    let again = run(&sim, &[], &out);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(sim.writes().len(), writes, "a rerun writes nothing");
    assert!(
        again.stderr.contains("unchanged") && again.stderr.contains("nothing to do"),
        "{}",
        again.stderr
    );
    assert_eq!(again.object()["cluster_provisioning_state"], "Succeeded");
}

/// The default world with the service-principal cluster's node pools of `counts` nodes.
fn sim_with_pools(counts: &[u64]) -> TestSim {
    let base = sim();
    let mut state = base.state();
    let id = base.var("CLUSTER_ID");
    drop(base);
    let pools: Vec<Value> = counts
        .iter()
        .enumerate()
        .map(|(i, c)| json!({"name": format!("pool{i}"), "count": c, "mode": if i == 0 { "System" } else { "User" }}))
        .collect();
    let mut found = false;
    for c in state["clusters"].as_array_mut().unwrap() {
        if c["id"].as_str() == Some(id.as_str()) {
            c["agent_pools"] = json!(pools);
            found = true;
            break;
        }
    }
    assert!(found, "no cluster in the state");
    TestSim::start_with(|c| c.scenario = Some(state))
}

/// Issue 24: before it posts the reset, step 4 says how many nodes in how many pools AKS
/// reimages and how long it waits: without --timeout, 10 minutes a node, at least an hour
/// (here 12 nodes: 2h); AKS's own 5 minutes a node (an hour of Azure's time) is waited out.
#[test]
fn the_reset_is_announced_with_its_nodes_before_the_post_and_waited_for_as_aks_takes() {
    let sim = sim_with_pools(&[3, 4, 5]);
    let s = setup(&sim, true);
    let r = run(&sim, &[], &s.envelope(&sim));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let announced = r
        .stderr
        .find("resetting cluster aks-prod now: AKS reimages 12 nodes in 3 pools; pods restart, PodDisruptionBudgets apply (waiting up to 2h)")
        .unwrap_or_else(|| panic!("{}", r.stderr));
    let posted = r
        .stderr
        .find("posted the reset of cluster aks-prod")
        .unwrap_or_else(|| panic!("{}", r.stderr));
    assert!(announced < posted, "{}", r.stderr);
    assert!(
        r.stderr.lines().all(|l| l.chars().count() <= 160),
        "{}",
        r.stderr
    );
    assert_eq!(r.object()["cluster_provisioning_state"], "Succeeded");
    assert_eq!(sim.resets(), 1);
    assert!(cluster_pulls(&sim));
    // The dry run's plan notes the same, and no line says it would be waited for.
    let plan = run(&sim, &["--dry-run", "--force"], &s.envelope(&sim));
    assert!(
        plan.stderr
            .contains("AKS reimages 12 nodes in 3 pools; pods restart, PodDisruptionBudgets apply")
            && !plan.stderr.contains("resetting cluster aks-prod now"),
        "{}",
        plan.stderr
    );
}

#[test]
fn a_managed_identity_cluster_is_refused_before_any_write() {
    let sim = sim();
    let input = json!({
        "cluster_id": sim.var("MSI_CLUSTER_ID"),
        "cluster_tenant_id": sim.var("CLUSTER_TENANT_ID"),
        "app_id": "0a0a0a0a-0000-4000-8000-000000000001",
        "client_secret": "not-a-real-secret",
    });
    let r = run(&sim, &[], &input);
    let out = r.failed(BIN, "ManagedIdentityCluster");
    let msg = said(&out);
    assert!(
        msg.contains("managed identity") && msg.contains("service principal"),
        "{msg}"
    );
    assert!(sim.writes().is_empty(), "{:?}", sim.writes());
}

#[test]
fn detach_then_a_rerun_resumes_without_posting_again() {
    let sim = sim();
    let s = setup(&sim, true);
    let r = run(&sim, &["--detach"], &s.envelope(&sim));
    let out = r.failed(BIN, "OperationStillRunning");
    let url = out["cluster_operation_url"]
        .as_str()
        .expect("cluster_operation_url");
    assert!(url.starts_with(&sim.var("SIM_URL")), "{url}");
    assert_eq!(sim.resets(), 1);

    // The failed object as written: the tool retries its own failure and resumes.
    let again = run(&sim, &[], &out);
    assert_eq!(again.code, 0, "{}", again.stderr);
    let done = again.object();
    assert_eq!(done["cluster_provisioning_state"], "Succeeded", "{done}");
    assert!(done.get("cluster_operation_url").is_none(), "{done}");
    assert_eq!(
        sim.resets(),
        1,
        "the rerun followed the operation instead of posting again"
    );
    assert!(cluster_pulls(&sim));
}

#[test]
fn past_the_timeout_the_object_keeps_the_operation() {
    let sim = sim();
    let s = setup(&sim, true);
    sim.sim()
        .add_fault(json!({"operation": "Hang"}))
        .expect("fault");
    let r = run(&sim, &["--timeout", "3s"], &s.envelope(&sim));
    assert_eq!(r.code, 1, "{}", r.stderr);
    // A --timeout given bounds the reset's wait too, and says so.
    assert!(
        r.stderr.contains("(waiting up to --timeout 3s)"),
        "{}",
        r.stderr
    );
    let out = r.object();
    assert_eq!(out["error"]["code"], "OperationStillRunning", "{out}");
    assert!(said(&out).contains("not finished after 3s"), "{out}");
    assert!(out["cluster_operation_url"].is_string(), "{out}");
    assert_eq!(out["cluster_id"], sim.var("CLUSTER_ID"));
}

#[test]
fn a_failed_operation_reports_azures_error() {
    let sim = sim();
    let s = setup(&sim, true);
    sim.sim().add_fault(json!({"operation": "Failed", "code": "ReconcileVMSSAgentPoolFailed", "message": "node image upgrade failed"})).expect("fault");
    let r = run(&sim, &[], &s.envelope(&sim));
    assert_eq!(r.code, 1, "{}", r.stderr);
    let out = r.object();
    assert_eq!(
        out["error"]["code"], "ReconcileVMSSAgentPoolFailed",
        "{out}"
    );
    assert!(said(&out).contains("node image upgrade failed"), "{out}");
    assert!(
        out.get("cluster_operation_url").is_none(),
        "a failed operation is not resumed: {out}"
    );
}

#[test]
fn the_pull_check_refuses_a_missing_grant_unless_forced() {
    let sim = sim();
    let s = setup(&sim, false);
    let r = run(&sim, &[], &s.envelope(&sim));
    let out = r.failed(BIN, "PullVerificationFailed");
    assert!(said(&out).contains("pull role"), "{out}");
    assert_eq!(sim.resets(), 0);

    let forced = run(&sim, &["--force"], &s.envelope(&sim));
    assert_eq!(forced.code, 0, "{}", forced.stderr);
    assert!(forced.stderr.contains("--force"), "{}", forced.stderr);
    assert_eq!(forced.object()["cluster_provisioning_state"], "Succeeded");
    assert_eq!(sim.resets(), 1);
    assert!(
        !cluster_pulls(&sim),
        "without the grant the cluster still cannot pull"
    );
}

#[test]
fn an_input_naming_no_registry_is_refused_unless_forced() {
    // Step 4 before step 3: nothing in the envelope shows the new credential can pull.
    let sim = sim();
    let s = setup(&sim, true);
    let mut env = s.envelope(&sim);
    env.as_object_mut().unwrap().remove("registry_login_server");
    let r = run(&sim, &[], &env);
    let out = r.failed(BIN, "PullNotVerified");
    assert!(said(&out).contains("acr-grant --verify"), "{out}");
    assert_eq!(sim.resets(), 0);

    let forced = run(&sim, &["--force"], &env);
    assert_eq!(forced.code, 0, "{}", forced.stderr);
    assert_eq!(sim.resets(), 1);
    assert!(
        cluster_pulls(&sim),
        "the grant was there, so the forced reset works"
    );
}

#[test]
fn copy_role_assignments_gives_the_subnet_role_to_the_new_service_principal() {
    let sim = sim();
    let s = setup(&sim, true);
    let subnet = sim.var("SUBNET_ID");
    assert!(!has_assignment(
        &sim,
        &subnet,
        NETWORK_CONTRIBUTOR,
        s.sp_a()
    ));
    let r = run(&sim, &["--copy-role-assignments"], &s.envelope(&sim));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        has_assignment(&sim, &subnet, NETWORK_CONTRIBUTOR, s.sp_a()),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.matches("gave the app Network Contributor").count() == 1,
        "{}",
        r.stderr
    );
    // The copy happened before the reset.
    let writes: Vec<String> = sim
        .writes()
        .iter()
        .map(|w| {
            format!(
                "{} {}",
                w["method"].as_str().unwrap(),
                w["path"].as_str().unwrap()
            )
        })
        .collect();
    let copy = format!("PUT {subnet}/providers/Microsoft.Authorization/roleAssignments/");
    let put = writes.iter().position(|w| w.starts_with(&copy));
    let post = writes
        .iter()
        .position(|w| w.ends_with("/resetServicePrincipalProfile"));
    assert!(put.is_some() && post.is_some() && put < post, "{writes:#?}");
}

#[test]
fn copied_roles_go_to_the_apps_service_principal_never_the_envelopes() {
    // Before, the envelope's cluster_sp_object_id was taken as the new principal: another
    // principal named there received the old one's roles (the subnet's Network Contributor).
    let sim = sim();
    let s = setup(&sim, true);
    let other = Operator::new(&sim).create_app(&NewApp::multitenant("bystander").sp_in_a(true));
    let subnet = sim.var("SUBNET_ID");
    let mut input = s.envelope(&sim);
    input["cluster_sp_object_id"] = json!(other.sp_a());
    let r = run(&sim, &["--copy-role-assignments"], &input);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        role_assignments_of(&sim, other.sp_a()).is_empty(),
        "the envelope's principal got roles: {}",
        r.stderr
    );
    assert!(has_assignment(&sim, &subnet, NETWORK_CONTRIBUTOR, s.sp_a()));
}

#[test]
fn bad_input_is_refused_before_any_request() {
    let sim = sim();
    let base = json!({
        "cluster_id": sim.var("CLUSTER_ID"),
        "cluster_tenant_id": sim.var("CLUSTER_TENANT_ID"),
        "app_id": "0a0a0a0a-0000-4000-8000-000000000001",
        "client_secret": "x".repeat(40),
    });
    let with = |k: &str, v: Value| {
        let mut o = base.clone();
        o[k] = v;
        o
    };
    let cluster = sim.var("CLUSTER_ID");
    for (input, code, field) in [
        (
            with(
                "cluster_id",
                json!(cluster.replace("managedClusters", "registries")),
            ),
            "InvalidInput",
            "cluster_id",
        ),
        (
            with("cluster_id", json!(format!("{cluster}/../../x"))),
            "InvalidInput",
            "cluster_id",
        ),
        (
            with(
                "cluster_id",
                json!(cluster.replace("/subscriptions/", "/subscriptions/not-a-guid")),
            ),
            "InvalidInput",
            "cluster_id",
        ),
        (
            with("cluster_id", json!("aks-prod")),
            "InvalidInput",
            "cluster_id",
        ),
        (
            with("client_secret", json!("x".repeat(191))),
            "SecretTooLong",
            "client_secret",
        ),
        (with("app_id", json!("msi")), "InvalidInput", "app_id"),
        (
            with(
                "cluster_operation_url",
                json!("https://attacker.example/op"),
            ),
            "InvalidInput",
            "cluster_operation_url",
        ),
    ] {
        let r = run(&sim, &[], &input);
        assert_eq!(r.code, 1, "{input}: {}", r.stderr);
        let out = r.object();
        assert_eq!(out["error"]["code"], code, "{out}");
        assert!(said(&out).contains(field), "{out}");
    }
    let r = sim.run(
        BIN,
        &[
            "--resource-group",
            "rg-aks",
            "--name",
            "bad/name",
            "--cluster-subscription",
            &sim.var("CLUSTER_SUBSCRIPTION_ID"),
        ],
        &line(&base),
    );
    assert_eq!(r.object()["error"]["code"], "InvalidInput", "{}", r.stderr);
    assert!(
        sim.azure_requests().is_empty(),
        "{:?}",
        sim.azure_requests()
    );
}

#[test]
fn dry_run_reports_the_writes_without_the_secret_and_sends_none() {
    let sim = sim();
    let s = setup(&sim, true);
    let before = sim.writes().len();
    let r = run(
        &sim,
        &["--dry-run", "--copy-role-assignments"],
        &s.envelope(&sim),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(sim.writes().len(), before, "{:?}", sim.writes());
    assert!(
        r.stderr.contains("dry-run:") && r.stderr.contains("resetServicePrincipalProfile"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("roleAssignments"), "{}", r.stderr);
    assert!(!r.stderr.contains(s.secret()), "{}", r.stderr);
    assert!(!cluster_pulls(&sim));
}

#[test]
fn the_record_decides_whether_a_cluster_on_the_app_is_reset() {
    let sim = sim();
    let s = setup(&sim, true);
    let first = run(&sim, &[], &s.envelope(&sim));
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(sim.resets(), 1);

    // The same key: nothing to do.
    let same = run(&sim, &[], &s.envelope(&sim));
    assert_eq!(same.code, 0, "{}", same.stderr);
    assert_eq!(sim.resets(), 1, "{}", same.stderr);
    assert!(same.stderr.contains("nothing to do"), "{}", same.stderr);

    // Another key of the same app (a lost envelope's rerun minted it): reset to it.
    let (secret2, key2) = Operator::new(&sim).add_secret(&s.object_id);
    let mut second = s.envelope(&sim);
    second["client_secret"] = json!(secret2);
    second["client_secret_key_id"] = json!(key2);
    let r = run(&sim, &[], &second);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(sim.resets(), 2, "{}", r.stderr);
    let key1 = s.key_id.clone().unwrap();
    assert!(
        r.stderr
            .contains(&format!("it held the app's secret {key1}")),
        "the summary says why: {}",
        r.stderr
    );
    assert!(record_names(&sim, &s.app_id, &key2));
    assert!(cluster_pulls(&sim));
    assert!(!r.stderr.contains(&secret2), "{}", r.stderr);

    // No entry (a cluster reset before records, or by hand): reset.
    set_app_tags(&sim, &s.app_id, &["team-a"]);
    let r = run(&sim, &[], &second);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(sim.resets(), 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("said nothing of which secret"),
        "{}",
        r.stderr
    );
    assert!(
        xtenant_tests::azure::app_tags(&sim, &s.app_id).contains(&"team-a".to_owned()),
        "the app's other tags are kept"
    );
    assert!(record_names(&sim, &s.app_id, &key2));

    // An object without a key id cannot be compared, and its reset could only drop the
    // entry's keys: refused, nothing reset, the entry kept.
    let mut keyless = second.clone();
    keyless
        .as_object_mut()
        .unwrap()
        .remove("client_secret_key_id");
    let r = run(&sim, &[], &keyless);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(sim.resets(), 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("no client_secret_key_id") && r.stderr.contains("InvalidInput"),
        "{}",
        r.stderr
    );
    assert!(record_names(&sim, &s.app_id, &key2));
}

#[test]
fn a_reset_whose_record_was_not_written_is_reset_again_even_for_the_old_envelope() {
    // Between the reset and its record (a crash, a refused write), the entry names the old
    // key and the new one as pending: then even the envelope of the secret the entry names
    // as confirmed must not be told "nothing to do", and a prune keeps both keys.
    let sim = sim();
    let s = setup(&sim, true);
    let old = s.envelope(&sim);
    assert_eq!(run(&sim, &[], &old).code, 0);
    let (secret2, key2) = Operator::new(&sim).add_secret(&s.object_id);
    let mut new = old.clone();
    new["client_secret"] = json!(secret2);
    new["client_secret_key_id"] = json!(key2);
    // The record's write after the reset fails (the one before it passes).
    sim.sim()
        .add_fault(json!({"method": "PATCH", "path": "/applications", "skip": 1, "count": 0, "status": 403, "code": "Authorization_RequestDenied", "message": "no"}))
        .unwrap();
    let r = run(&sim, &[], &new);
    assert_eq!(r.code, 0, "the reset is done: {}", r.stderr);
    assert!(r.stderr.contains("NOT recorded"), "{}", r.stderr);
    assert!(cluster_pulls(&sim));
    let key1 = s.key_id.clone().unwrap();
    assert_eq!(
        entry(&sim, &s.app_id),
        json!({"key": key1, "pending": key2}),
        "the old key, and the new one pending"
    );
    sim.sim().clear_faults();

    // The old envelope: the cluster may not hold its secret; it is reset to it (safe).
    let r = run(&sim, &[], &old);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(sim.resets(), 3, "{}", r.stderr);
    assert!(r.stderr.contains("never confirmed"), "{}", r.stderr);
    assert!(record_names(&sim, &s.app_id, &key1));
    assert!(cluster_pulls(&sim));
}

/// A simulator whose operator lacks User Access Administrator in tenant A (Contributor only).
fn sim_without_uaa() -> TestSim {
    let base = TestSim::start();
    let mut state = base.state();
    state["role_assignments"]
        .as_array_mut()
        .unwrap()
        .retain(|ra| ra["name"] != "a1a1a1a1-7a00-4000-8000-000000000003");
    drop(base);
    TestSim::start_with(|c| c.scenario = Some(state))
}

/// A copy that fails at --timeout (ARM never knows the new principal), beside a record
/// written at once: the record is put back under a deadline of its own, and the cluster is
/// neither reset nor written.
#[test]
fn a_copy_that_times_out_puts_the_record_back() {
    let sim = sim();
    let s = setup(&sim, true);
    sim.sim()
        .add_fault(json!({"method": "PUT", "path": "/roleAssignments/", "count": 0, "status": 400, "code": "PrincipalNotFound", "message": "Principal does not exist in the directory."}))
        .expect("fault");
    sim.sim().clear_requests();
    let r = run(&sim, &["--timeout", "2s"], &s.envelope(&sim));
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(r.object()["error"]["code"], "Timeout", "{}", r.stdout);
    assert_eq!(
        record_writes(&sim),
        2,
        "the record, and its undo past the timeout: {}",
        r.stderr
    );
    assert_eq!(
        entry(&sim, &s.app_id),
        Value::Null,
        "the record is as before"
    );
    assert_eq!(cluster_writes(&sim), Vec::<String>::new());
    assert_eq!(sim.resets(), 0);
}

#[test]
fn without_the_right_to_copy_roles_nothing_is_written_and_both_ways_are_named() {
    let sim = sim_without_uaa();
    let s = setup(&sim, true);
    sim.sim().clear_requests();
    let r = run(&sim, &[], &s.envelope(&sim));
    assert_eq!(r.code, 1, "{}", r.stderr);
    let e = &r.object()["error"];
    assert_eq!(e["code"], "RoleCopyNotAllowed", "{e}");
    let message = e["message"].as_str().unwrap();
    assert!(
        message.contains("Network Contributor") && message.contains(&sim.var("SUBNET_ID")),
        "{message}"
    );
    assert!(
        r.stderr.contains("User Access Administrator"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("--no-copy-role-assignments"),
        "{}",
        r.stderr
    );
    // The record (written beside the refused copy) is put back; the cluster is untouched.
    let writes = made_writes(&sim);
    assert!(
        writes
            .iter()
            .all(|w| w.starts_with("\"PATCH\" \"/v1.0/applications")),
        "only the record and its undo were written: {writes:#?}"
    );
    assert_eq!(
        entry(&sim, &s.app_id),
        Value::Null,
        "the record is as before"
    );
    assert!(!has_assignment(
        &sim,
        &sim.var("SUBNET_ID"),
        NETWORK_CONTRIBUTOR,
        s.sp_a()
    ));
    assert_eq!(sim.resets(), 0);

    // The other way: the roles are someone else's job.
    let r = run(&sim, &["--no-copy-role-assignments"], &s.envelope(&sim));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("lacks Network Contributor"),
        "{}",
        r.stderr
    );
    assert!(cluster_pulls(&sim));
}

#[test]
fn a_rerun_on_the_app_copies_no_role_a_reset_without_them_left_out() {
    // --no-copy-role-assignments reset without the roles. Once the cluster runs as the app,
    // the only source of roles (the principal it runs as) is the app's own: a rerun no
    // longer "repairs" them from the record's previous principal, a claim.
    let sim = sim();
    let s = setup(&sim, true);
    let subnet = sim.var("SUBNET_ID");
    let r = run(&sim, &["--no-copy-role-assignments"], &s.envelope(&sim));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("lacks Network Contributor"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("give the new one these roles yourself"),
        "{}",
        r.stderr
    );
    let cluster = sim.var("CLUSTER_ID");
    let again = run(
        &sim,
        &["--cluster", &cluster, "--copy-role-scope", &subnet],
        &r.object(),
    );
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(sim.resets(), 1, "no second reset: {}", again.stderr);
    assert!(!has_assignment(
        &sim,
        &subnet,
        NETWORK_CONTRIBUTOR,
        s.sp_a()
    ));
    assert!(
        again.stderr.contains("no role is copied"),
        "one line says so: {}",
        again.stderr
    );
    assert!(!again.stderr.contains("(changed)"), "{}", again.stderr);
}

#[test]
fn a_switch_whose_answer_was_lost_is_found_and_recorded_not_posted_again() {
    // The reset reaches AKS but its answer never comes back: the record says which key the
    // switch was posted with, so the rerun that finds the cluster on the app knows its secret.
    let sim = sim();
    let s = setup(&sim, true);
    sim.sim()
        .add_fault(json!({"method": "POST", "path": "/resetServicePrincipalProfile", "delay_after_ms": 8000}))
        .unwrap();
    let r = run(&sim, &["--timeout", "3s"], &s.envelope(&sim));
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(
        entry(&sim, &s.app_id),
        json!({"pending": s.key_id, "switch": "1"}),
        "a switch from the old app, pending"
    );
    sim.sim().clear_faults();
    let again = run(&sim, &[], &r.object());
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(sim.resets(), 1, "not posted again: {}", again.stderr);
    assert!(again.stderr.contains("now recorded"), "{}", again.stderr);
    assert!(record_names(&sim, &s.app_id, s.key_id.as_deref().unwrap()));
    assert!(cluster_pulls(&sim));
}

/// Issue 23, attack 2: during a rotation the other team adds an ARM URL that answers 200
/// without `status` as the reset's operation. It was read as Succeeded: no reset, the
/// envelope's key recorded, and the rotation's prune then removed the key the cluster held.
#[test]
fn a_forged_operation_url_is_refused_before_any_request() {
    let sim = sim();
    let s = setup(&sim, true);
    let first = run(&sim, &[], &s.envelope(&sim));
    assert_eq!(first.code, 0, "{}", first.stderr);
    let key1 = s.key_id.clone().unwrap();
    let (secret2, key2) = Operator::new(&sim).add_secret(&s.object_id);
    let mut rotation = s.envelope(&sim);
    rotation["client_secret"] = json!(secret2);
    rotation["client_secret_key_id"] = json!(key2);
    let base = sim.var("SIM_URL");
    let (sub, other_sub) = (
        sim.var("CLUSTER_SUBSCRIPTION_ID"),
        sim.var("REGISTRY_SUBSCRIPTION_ID"),
    );
    let aks = |sub: &str, loc: &str, kind: &str| {
        format!(
            "{base}/subscriptions/{sub}/providers/Microsoft.ContainerService/locations/{loc}/{kind}/0f0f0f0f-0000-4000-8000-000000000001?api-version=2016-03-30"
        )
    };
    for forged in [
        format!("{base}/subscriptions?api-version=2022-12-01"),
        format!("{base}/subscriptions/{sub}?api-version=2022-12-01"),
        format!("{}?api-version=2025-10-01", sim.var("CLUSTER_ID")),
        aks(&other_sub, "eastus", "operations"),
        aks(&sub, "eastus", "deployments"),
        aks(&sub, "eastus", "operations").replace("ContainerService", "Resources"),
        format!(
            "{base}/subscriptions/{sub}/providers/Microsoft.ContainerService/locations/eastus/operations/../../../../../../subscriptions?api-version=2022-12-01"
        ),
    ] {
        let mut input = rotation.clone();
        input["cluster_operation_url"] = json!(forged);
        sim.sim().clear_requests();
        let r = run(&sim, &[], &input);
        let out = r.failed(BIN, "InvalidInput");
        assert!(said(&out).contains("cluster_operation_url"), "{out}");
        assert!(
            sim.azure_requests().is_empty(),
            "{forged}: refused before any request: {:?}",
            sim.azure_requests()
        );
    }
    // The cluster's own subscription in another location: refused once the cluster is read,
    // before the URL is asked.
    let mut input = rotation.clone();
    input["cluster_operation_url"] = json!(aks(&sub, "westeurope", "operations"));
    sim.sim().clear_requests();
    let r = run(&sim, &[], &input);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(r.object()["error"]["code"], "InvalidInput", "{}", r.stdout);
    assert!(said(&r.object()).contains("westeurope"), "{}", r.stdout);
    assert!(
        !sim.requests()
            .iter()
            .any(|q| q["path"].as_str().unwrap_or("").contains("/operations/")),
        "{:?}",
        sim.requests()
    );
    assert_eq!(sim.resets(), 0, "no reset posted");
    assert!(
        record_names(&sim, &s.app_id, &key1),
        "the record still names the key the cluster holds"
    );
    assert!(cluster_pulls(&sim), "the cluster still holds its key");
}

/// A real operation of the cluster is only a claim about the envelope's reset: an answer
/// without a terminal `status` is no success, and an operation that ends while the record
/// names no pending reset to the envelope's key does not stand for its reset.
#[test]
fn an_operation_that_is_not_the_envelopes_reset_does_not_skip_it() {
    let sim = sim();
    let s = setup(&sim, true);
    let detached = run(&sim, &["--detach"], &s.envelope(&sim));
    assert_eq!(detached.code, 1, "{}", detached.stderr);
    let url = detached.object()["cluster_operation_url"].clone();
    assert!(url.is_string(), "{}", detached.stdout);

    // The operation answers 200 without a status: no success, nothing recorded.
    sim.sim()
        .add_fault(json!({"method": "GET", "path": "/operations/", "count": 0, "body_patch": {"status": null}}))
        .unwrap();
    let r = run(&sim, &[], &detached.object());
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(
        r.object()["error"]["code"],
        "OperationStatusUnknown",
        "{}",
        r.stdout
    );
    assert!(
        entry(&sim, &s.app_id).get("key").is_none(),
        "{}",
        entry(&sim, &s.app_id)
    );
    sim.sim().clear_faults();

    // Another key with that (real, finished) operation: the reset to it is posted.
    let (secret2, key2) = Operator::new(&sim).add_secret(&s.object_id);
    let mut rotation = s.envelope(&sim);
    rotation["client_secret"] = json!(secret2);
    rotation["client_secret_key_id"] = json!(key2);
    rotation["cluster_operation_url"] = url;
    let r = run(&sim, &[], &rotation);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        sim.resets(),
        2,
        "the envelope's reset was posted: {}",
        r.stderr
    );
    assert!(record_names(&sim, &s.app_id, &key2), "{}", r.stderr);
    assert!(cluster_pulls(&sim));
}

/// A new secret for the app the cluster runs as, left running (`--detach`): the rerun
/// follows the operation the record binds to the pending key and records it without a
/// second reset; an older operation of the same cluster does not stand for it.
#[test]
fn a_rotation_left_running_is_resumed_only_from_its_own_operation() {
    let sim = sim();
    let s = setup(&sim, true);
    let key1 = s.key_id.clone().unwrap();
    let first = run(&sim, &["--detach"], &s.envelope(&sim));
    let old_url = first.object()["cluster_operation_url"].clone();
    assert!(old_url.is_string(), "{}", first.stdout);
    assert_eq!(run(&sim, &[], &first.object()).code, 0);
    assert!(record_names(&sim, &s.app_id, &key1));

    let (secret2, key2) = Operator::new(&sim).add_secret(&s.object_id);
    let mut rotation = s.envelope(&sim);
    rotation["client_secret"] = json!(secret2);
    rotation["client_secret_key_id"] = json!(key2);
    let left = run(&sim, &["--detach"], &rotation);
    assert_eq!(left.code, 1, "{}", left.stderr);
    assert_eq!(sim.resets(), 2);
    let e = entry(&sim, &s.app_id);
    assert_eq!(
        (&e["key"], &e["pending"]),
        (&json!(key1), &json!(key2)),
        "{e}"
    );
    assert!(
        e["op"].is_string(),
        "the operation is bound to the pending key: {e}"
    );

    // The older operation (real, of this cluster, finished): not followed; reset again.
    let mut stale = rotation.clone();
    stale["cluster_operation_url"] = old_url;
    sim.sim().clear_requests();
    let r = run(&sim, &[], &stale);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("not followed"), "{}", r.stderr);
    assert_eq!(sim.resets(), 1, "the reset is posted again: {}", r.stderr);
    assert!(record_names(&sim, &s.app_id, &key2));

    // Left running again, then resumed from its own operation: recorded, not posted again.
    let (secret3, key3) = Operator::new(&sim).add_secret(&s.object_id);
    rotation["client_secret"] = json!(secret3);
    rotation["client_secret_key_id"] = json!(key3);
    let left = run(&sim, &["--detach"], &rotation);
    assert_eq!(left.code, 1, "{}", left.stderr);
    sim.sim().clear_requests();
    let resumed = run(&sim, &[], &left.object());
    assert_eq!(resumed.code, 0, "{}", resumed.stderr);
    assert!(resumed.stderr.contains("resuming"), "{}", resumed.stderr);
    assert_eq!(sim.resets(), 0, "not posted again: {}", resumed.stderr);
    assert!(record_names(&sim, &s.app_id, &key3));
    assert!(cluster_pulls(&sim));
}

/// A record entry is a claim: one naming the object's key while ARM shows the cluster on
/// another app, or not Succeeded, skips nothing.
#[test]
fn a_record_entry_alone_never_skips_the_reset() {
    let sim = sim();
    let s = setup(&sim, true);
    let key = s.key_id.clone().unwrap();
    // As an owner of the app could write it: the cluster (still on its old app) "holds" the key.
    let ns = common::record::cluster_key(&sim.var("CLUSTER_ID"));
    set_app_tags(
        &sim,
        &s.app_id,
        &[
            "xtenant:managed",
            &format!("xtenant-cluster:{ns};key={key}"),
        ],
    );
    let r = run(&sim, &[], &s.envelope(&sim));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        sim.resets(),
        1,
        "reset although the record named the key: {}",
        r.stderr
    );
    assert!(cluster_pulls(&sim));
}
