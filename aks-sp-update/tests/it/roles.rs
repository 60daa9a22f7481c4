//! Step 4's role copy (issue 23): only from the principal ARM shows the cluster running as,
//! only the roles a cluster's identity needs at the cluster's own resources (or at scopes
//! named on the command line), never a privileged role, and removed again when the switch
//! it was made for does not happen.
//!
//! The attacker has partial rights: the simulator's `CLUSTER_WRITER` may write the cluster
//! (and its tags) and nothing else; a role assignment it cannot make itself must not follow
//! from what it writes.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use xtenant_tests::azure::{App, Method, NewApp, Operator, role_assignments_of};
use xtenant_tests::steps::{cluster_pulls, cluster_tags};
use xtenant_tests::world::add_cluster;
use xtenant_tests::{Run, TestSim, line, sp_cluster, spawn_with_input};

const BIN: &str = "aks-sp-update";
const ACR_PULL: &str = "7f951dda-4ed3-4680-a7ca-43fe172d538d";
const OWNER: &str = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635";
const CONTRIBUTOR: &str = "b24988ac-6180-42a0-ab88-20f7382dd24c";
const READER: &str = "acdd72a7-3385-48ef-bd42-f606fba81ae7";
const USER_ACCESS_ADMIN: &str = "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9";
const RBAC_ADMIN: &str = "f58310d9-a9f6-439a-9e8d-f62e7b41a168";
const NETWORK_CONTRIBUTOR: &str = "4d97b98b-1d4f-4787-a291-c67834d212e7";
const KV_SECRETS_USER: &str = "4633458b-17de-408a-b874-0445c86b69e6";

fn sim_with(state: Option<Value>) -> TestSim {
    TestSim::start_with(|cfg| cfg.scenario = state)
}

fn sim() -> TestSim {
    sim_with(None)
}

/// The default scenario's state, changed by `f`, for a simulator started with it.
fn scenario(f: impl FnOnce(&mut Value)) -> Value {
    let base = TestSim::start();
    let mut state = base.state();
    f(&mut state);
    state
}

/// Steps 1–3 by hand: the app with a secret and its principals in A and B, and AcrPull on
/// the registry for B's; the app and that grant's id.
fn setup(sim: &TestSim) -> (App, String) {
    let op = Operator::new(sim);
    let app = op.create_app(&NewApp::procedure("aks-acr-cross-tenant"));
    let grant = op.grant_pull(&app);
    (app, grant)
}

/// The step on `input`, for the cluster the flags name (`--cluster`, the default one unless
/// `args` names another).
fn run(sim: &TestSim, args: &[&str], input: &Value) -> Run {
    let cluster = sim.var("CLUSTER_ID");
    let mut all: Vec<&str> = vec!["--cluster", &cluster];
    if args.contains(&"--cluster") {
        all.clear();
    }
    all.extend_from_slice(args);
    sim.run(BIN, &all, &line(input))
}

fn sub_a(sim: &TestSim) -> String {
    format!("/subscriptions/{}", sim.var("CLUSTER_SUBSCRIPTION_ID"))
}

fn vnet(sim: &TestSim) -> String {
    let subnet = sim.var("SUBNET_ID");
    subnet[..subnet.find("/subnets/").unwrap()].to_owned()
}

fn rg_a(sim: &TestSim) -> String {
    let cluster = sim.var("CLUSTER_ID");
    cluster[..cluster.find("/providers/").unwrap()].to_owned()
}

/// The service principal the default cluster runs as now (ARM's answer, from the state).
fn live_sp(sim: &TestSim) -> String {
    let state = sim.state();
    let id = sim.var("CLUSTER_ID");
    let client = state["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id.as_str())
        .unwrap()["service_principal_client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    xtenant_tests::azure::service_principal_of(sim, &sim.var("CLUSTER_TENANT_ID"), &client)
        .expect("the cluster's principal")
}

/// `principal`'s assignments as (role GUID, lower-case scope), sorted.
fn held(sim: &TestSim, principal: &str) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = role_assignments_of(sim, principal)
        .iter()
        .map(|ra| {
            (
                ra["role_definition_id"]
                    .as_str()
                    .unwrap()
                    .rsplit('/')
                    .next()
                    .unwrap()
                    .to_ascii_lowercase(),
                ra["scope"].as_str().unwrap().to_ascii_lowercase(),
            )
        })
        .collect();
    v.sort();
    v
}

fn has(sim: &TestSim, principal: &str, role: &str, scope: &str) -> bool {
    held(sim, principal).contains(&(role.to_owned(), scope.to_ascii_lowercase()))
}

/// The lines of stderr that warn.
fn warnings(r: &Run) -> Vec<&str> {
    r.stderr.lines().filter(|l| l.contains("warning")).collect()
}

/// Writes the cluster's tags as the cluster-only identity (it may write the cluster, and
/// may not assign a role: checked here too).
fn forge_tags(sim: &TestSim, tags: &Value) {
    let writer = Operator::acting_as(sim, "CLUSTER_WRITER");
    let tenant = sim.var("CLUSTER_TENANT_ID");
    let (status, body) =
        xtenant_tests::azure::write_cluster_tags(sim, &writer, &sim.var("CLUSTER_ID"), tags);
    assert_eq!(status, 202, "the cluster writer may write the tags: {body}");
    let (status, body) = writer.arm(
        Method::PUT,
        &tenant,
        &format!(
            "{}/providers/Microsoft.Authorization/roleAssignments/{}?api-version=2022-04-01",
            sub_a(sim),
            uuid::Uuid::new_v4()
        ),
        Some(&json!({"properties": {
            "roleDefinitionId": format!("{}/providers/Microsoft.Authorization/roleDefinitions/{OWNER}", sub_a(sim)),
            "principalId": "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0",
            "principalType": "ServicePrincipal",
        }})),
    );
    assert_eq!(
        status, 403,
        "the cluster writer may not assign roles itself: {body}"
    );
}

/// A principal that is Owner of subscription A (what an attacker wants the app to become).
fn owner_of_subscription_a(sim: &TestSim) -> App {
    let op = Operator::new(sim);
    let boss = op.create_app(&NewApp::single_tenant("subscription-owner").sp_in_a(true));
    op.assign_role(
        &sim.var("CLUSTER_TENANT_ID"),
        &sub_a(sim),
        OWNER,
        boss.sp_a(),
    );
    boss
}

/// Attack 1: a tag write by an identity that may write the cluster only named a principal
/// that is Owner of subscription A as the cluster's "previous" one. The operator's routine
/// rerun (the same envelope, and a rotation to a new secret) must give the app nothing.
#[test]
fn forged_previous_principal_tags_give_the_app_nothing() {
    let sim = sim();
    let (s, _) = setup(&sim);
    let first = run(&sim, &[], &s.envelope(&sim));
    assert_eq!(first.code, 0, "{}", first.stderr);
    let boss = owner_of_subscription_a(&sim);
    let before = held(&sim, s.sp_a());
    assert!(!before.iter().any(|(r, _)| r == OWNER), "{before:?}");

    // The rerun of the same envelope (the cluster runs as the app with its secret).
    let mut tags = cluster_tags(&sim);
    tags["xtenant-previous-client-id"] = json!(boss.app_id);
    tags["xtenant-previous-sp-object-id"] = json!(boss.sp_a());
    forge_tags(&sim, &tags);
    let again = run(&sim, &[], &first.object());
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(
        held(&sim, s.sp_a()),
        before,
        "a forged record gave the app roles: {}",
        again.stderr
    );
    assert!(!again.stderr.contains("copied"), "{}", again.stderr);

    // Only the object id, and a rotation to a new secret (the cluster is reset).
    let mut tags = cluster_tags(&sim);
    tags.as_object_mut()
        .unwrap()
        .remove("xtenant-previous-client-id");
    tags["xtenant-previous-sp-object-id"] = json!(boss.sp_a());
    forge_tags(&sim, &tags);
    let (secret2, key2) = Operator::new(&sim).add_secret(&s.object_id);
    let mut rotated = s.envelope(&sim);
    rotated["client_secret"] = json!(secret2);
    rotated["client_secret_key_id"] = json!(key2);
    let r = run(&sim, &[], &rotated);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(sim.resets(), 2, "the rotation resets: {}", r.stderr);
    assert_eq!(
        held(&sim, s.sp_a()),
        before,
        "a forged record gave the app roles on a rotation: {}",
        r.stderr
    );
    assert!(cluster_pulls(&sim));
}

/// The cluster's live principal holds privileged roles and roles elsewhere: only the roles
/// its identity needs, at its own resources, are copied; the rest is named in one warning.
#[test]
fn only_needed_roles_at_the_clusters_resources_are_copied_privileged_ones_never() {
    let sim = sim();
    let (s, _) = setup(&sim);
    let old = live_sp(&sim);
    let op = Operator::new(&sim);
    let tenant = sim.var("CLUSTER_TENANT_ID");
    let (subnet, vnet, rg, sub, vault) = (
        sim.var("SUBNET_ID"),
        vnet(&sim),
        rg_a(&sim),
        sub_a(&sim),
        sim.var("KEYVAULT_ID"),
    );
    for (role, scope) in [
        (OWNER, &sub),
        (CONTRIBUTOR, &rg),
        (USER_ACCESS_ADMIN, &subnet),
        (RBAC_ADMIN, &vnet),
        (READER, &sub),
        (NETWORK_CONTRIBUTOR, &vnet),
        (NETWORK_CONTRIBUTOR, &rg),
        (KV_SECRETS_USER, &vault),
    ] {
        op.assign_role(&tenant, scope, role, &old);
    }
    let r = run(&sim, &[], &s.envelope(&sim));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut expected = vec![
        (NETWORK_CONTRIBUTOR.to_owned(), subnet.to_ascii_lowercase()),
        (NETWORK_CONTRIBUTOR.to_owned(), vnet.to_ascii_lowercase()),
    ];
    expected.sort();
    assert_eq!(held(&sim, s.sp_a()), expected, "{}", r.stderr);
    assert!(
        r.stderr.matches("gave the app Network Contributor").count() == 2,
        "{}",
        r.stderr
    );
    let warned: Vec<&str> = warnings(&r)
        .into_iter()
        .filter(|l| l.contains("not copied"))
        .collect();
    assert_eq!(warned.len(), 1, "one warning: {}", r.stderr);
    for (name, scope) in [
        ("Owner", &sub),
        ("Contributor", &rg),
        ("User Access Administrator", &subnet),
        ("Role Based Access Control Administrator", &vnet),
        ("Reader", &sub),
        ("Network Contributor", &rg),
        ("Key Vault Secrets User", &vault),
    ] {
        assert!(
            warned[0].contains(&format!("{name} on {scope}")),
            "{name} on {scope} is named: {}",
            warned[0]
        );
    }
    assert!(warned[0].contains("privileged"), "{}", warned[0]);
    assert!(cluster_pulls(&sim));
}

/// Custom roles are matched by their GUID, never their name, and one that may assign roles
/// is privileged.
#[test]
fn a_custom_role_is_not_copied_and_one_that_may_assign_roles_is_named_privileged() {
    const SPOOF: &str = "0b5e6c1a-7d2f-4e3a-9b8c-1d2e3f4a5b6c";
    const ASSIGNER: &str = "1c6f7d2b-8e3a-4f4b-8c9d-2e3f4a5b6c7d";
    let state = scenario(|st| {
        let defs = st["role_definitions"].as_array_mut().unwrap();
        defs.push(
            json!({"id": SPOOF, "role_name": "Network Contributor", "role_type": "CustomRole",
            "actions": ["Microsoft.Network/*"]}),
        );
        defs.push(json!({"id": ASSIGNER, "role_name": "Subnet helper", "role_type": "CustomRole",
            "actions": ["Microsoft.Network/virtualNetworks/subnets/*", "Microsoft.Authorization/roleAssignments/write"]}));
    });
    let sim = sim_with(Some(state));
    let (s, _) = setup(&sim);
    let old = live_sp(&sim);
    let op = Operator::new(&sim);
    let tenant = sim.var("CLUSTER_TENANT_ID");
    let (subnet, vnet) = (sim.var("SUBNET_ID"), vnet(&sim));
    op.assign_role(&tenant, &vnet, SPOOF, &old);
    op.assign_role(&tenant, &subnet, ASSIGNER, &old);
    let r = run(&sim, &[], &s.envelope(&sim));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        held(&sim, s.sp_a()),
        vec![(NETWORK_CONTRIBUTOR.to_owned(), subnet.to_ascii_lowercase())],
        "{}",
        r.stderr
    );
    let warned = warnings(&r).join("\n");
    assert!(
        warned.contains(&format!("Subnet helper on {subnet} (privileged")),
        "{warned}"
    );
    assert!(
        warned.contains(&format!("Network Contributor on {vnet} (not a role")),
        "the custom role named like a built-in is not the built-in: {warned}"
    );
}

/// `--copy-role-scope` names more scopes (the allowlist still applies there); a value that
/// is not a subscription or a resource under one is refused before any request.
#[test]
fn copy_role_scope_names_more_scopes_and_bad_ones_are_refused() {
    let sim = sim();
    let (s, _) = setup(&sim);
    let old = live_sp(&sim);
    let op = Operator::new(&sim);
    let tenant = sim.var("CLUSTER_TENANT_ID");
    let vault = sim.var("KEYVAULT_ID");
    op.assign_role(&tenant, &vault, KV_SECRETS_USER, &old);
    op.assign_role(&tenant, &vault, READER, &old);

    for bad in [
        "/",
        "/providers/Microsoft.Management/managementGroups/mg1",
        "subscriptions/x",
        "/subscriptions/not-a-guid/resourceGroups/rg",
        "/subscriptions/a1a1a1a1-5000-4000-8000-000000000001/resourceGroups/rg?x=1",
        "/subscriptions/a1a1a1a1-5000-4000-8000-000000000001/resourceGroups/../x",
    ] {
        sim.sim().clear_requests();
        let r = run(&sim, &["--copy-role-scope", bad], &s.envelope(&sim));
        assert_ne!(r.code, 0, "{bad}: {}", r.stderr);
        assert!(
            r.stderr.contains("--copy-role-scope") || r.stdout.contains("--copy-role-scope"),
            "{bad}: the flag is named: {}{}",
            r.stdout,
            r.stderr
        );
        assert!(sim.azure_requests().is_empty(), "{bad}: requests were sent");
    }

    let r = run(&sim, &["--copy-role-scope", &vault], &s.envelope(&sim));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(has(&sim, s.sp_a(), KV_SECRETS_USER, &vault), "{}", r.stderr);
    assert!(!has(&sim, s.sp_a(), READER, &vault), "{}", r.stderr);
    assert!(
        has(&sim, s.sp_a(), NETWORK_CONTRIBUTOR, &sim.var("SUBNET_ID")),
        "{}",
        r.stderr
    );
    assert!(
        warnings(&r)
            .join("\n")
            .contains(&format!("Reader on {vault}")),
        "{}",
        r.stderr
    );
}

/// Attack 3's role part: AKS refuses the reset after the roles were copied: the copies are
/// removed again, and only they (an assignment the app's principal held before stays).
#[test]
fn roles_copied_for_a_reset_aks_refuses_are_removed_again() {
    let sim = sim();
    let (s, _) = setup(&sim);
    let old = live_sp(&sim);
    let op = Operator::new(&sim);
    let tenant = sim.var("CLUSTER_TENANT_ID");
    let (subnet, vault) = (sim.var("SUBNET_ID"), sim.var("KEYVAULT_ID"));
    op.assign_role(&tenant, &vault, KV_SECRETS_USER, &old);
    // The app's principal already holds the subnet's role: nothing to copy there, and it stays.
    op.assign_role(&tenant, &subnet, NETWORK_CONTRIBUTOR, s.sp_a());
    let before = held(&sim, s.sp_a());
    sim.sim()
        .add_fault(json!({"method": "POST", "path": "/resetServicePrincipalProfile", "count": 1, "status": 400,
            "code": "ServicePrincipalValidationClientError",
            "message": "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value."}))
        .unwrap();
    let r = run(&sim, &["--copy-role-scope", &vault], &s.envelope(&sim));
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(
        r.object()["error"]["code"],
        "ServicePrincipalValidationClientError",
        "{}",
        r.stdout
    );
    let copied = sim.writes().iter().any(|w| {
        w["method"] == "PUT"
            && w["status"] == 201
            && w["path"]
                .as_str()
                .unwrap_or("")
                .to_ascii_lowercase()
                .starts_with(&format!(
                    "{}/providers/microsoft.authorization/roleassignments/",
                    vault.to_ascii_lowercase()
                ))
    });
    assert!(copied, "the vault role was copied first: {}", r.stderr);
    assert_eq!(held(&sim, s.sp_a()), before, "{}", r.stderr);
    assert!(
        r.stderr.contains("removed 1 role assignment(s)"),
        "{}",
        r.stderr
    );

    // The operation ends Failed: the same.
    sim.sim().clear_faults();
    sim.sim()
        .add_fault(json!({"operation": "Failed", "code": "ReconcileVMSSAgentPoolFailed", "message": "failed"}))
        .unwrap();
    let r = run(&sim, &["--copy-role-scope", &vault], &s.envelope(&sim));
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(held(&sim, s.sp_a()), before, "{}", r.stderr);

    // And when AKS accepts, the copy stays.
    sim.sim().clear_faults();
    let r = run(&sim, &["--copy-role-scope", &vault], &s.envelope(&sim));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(has(&sim, s.sp_a(), KV_SECRETS_USER, &vault), "{}", r.stderr);
    assert!(cluster_pulls(&sim));
}

/// Runs the step and kills it while its reset POST is held (the copy made, the reset not).
fn killed_before_the_reset(sim: &TestSim, input: &Value, cluster: &str) {
    sim.sim().clear_faults();
    sim.sim()
        .add_fault(json!({"method": "POST", "path": "/resetServicePrincipalProfile", "count": 1, "delay_ms": 120_000}))
        .unwrap();
    let mut c = sim.cmd(BIN);
    c.args(["--cluster", cluster]);
    let mut child = spawn_with_input(&mut c, &line(input));
    let started = Instant::now();
    while sim.sim().faults()[0]["applied"].as_u64() != Some(1) {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before its reset"
        );
        assert!(started.elapsed() < Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    let _ = child.wait();
    sim.sim().clear_faults();
}

/// The copy's mark, as the tool wrote it on the assignment it made for `principal` at `scope`.
fn description(sim: &TestSim, principal: &str, scope: &str) -> String {
    role_assignments_of(sim, principal)
        .iter()
        .find(|ra| ra["scope"].as_str().unwrap().eq_ignore_ascii_case(scope))
        .and_then(|ra| ra["description"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// A crash between the copy and the reset: a rerun that does not reset (here the pull check
/// fails) removes the copy; one that resets keeps it.
#[test]
fn a_rerun_after_a_crash_between_copy_and_reset_finishes_the_cleanup() {
    let sim = sim();
    let (s, grant) = setup(&sim);
    let subnet = sim.var("SUBNET_ID");
    killed_before_the_reset(&sim, &s.envelope(&sim), &sim.var("CLUSTER_ID"));
    assert!(has(&sim, s.sp_a(), NETWORK_CONTRIBUTOR, &subnet));
    let mark = description(&sim, s.sp_a(), &subnet);
    assert!(
        mark.to_ascii_lowercase()
            .contains(&sim.var("CLUSTER_ID").to_ascii_lowercase()),
        "the copy names the cluster: {mark:?}"
    );
    assert_eq!(sim.resets(), 0);

    // The pull grant is gone: the rerun refuses before the reset, and cleans up.
    let (status, body) = Operator::new(&sim).arm(
        Method::DELETE,
        &sim.var("REGISTRY_TENANT_ID"),
        &format!("{grant}?api-version=2022-04-01"),
        None,
    );
    assert!(status < 300, "{body}");
    let r = run(&sim, &[], &s.envelope(&sim));
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(sim.resets(), 0);
    assert!(
        !has(&sim, s.sp_a(), NETWORK_CONTRIBUTOR, &subnet),
        "{}",
        r.stderr
    );

    // Granted again, the rerun copies and resets, and the copy stays.
    Operator::new(&sim).assign_role(
        &sim.var("REGISTRY_TENANT_ID"),
        &sim.var("REGISTRY_ID"),
        ACR_PULL,
        s.sp_b(),
    );
    let r = run(&sim, &[], &s.envelope(&sim));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(has(&sim, s.sp_a(), NETWORK_CONTRIBUTOR, &subnet));
    assert!(cluster_pulls(&sim));
}

/// A copy's mark is a claim: it removes an assignment only of the app's own principal, of an
/// allowlisted role at the cluster's resources, that no cluster running as the app needs.
#[test]
fn a_marked_copy_a_cluster_on_the_app_needs_is_kept() {
    let second = "aks-edge";
    let state = scenario(|st| {
        let id = sp_cluster(st)["id"]
            .as_str()
            .unwrap()
            .replace("aks-prod", second);
        add_cluster(st, &id)["tags"] = json!({});
    });
    let sim = sim_with(Some(state));
    let (s, grant) = setup(&sim);
    let subnet = sim.var("SUBNET_ID");
    let edge = sim.var("CLUSTER_ID").replace("aks-prod", second);
    // aks-prod's switch copies the subnet's role and dies before its reset; aks-edge (on the
    // same subnet) then switches to the app, using that assignment.
    killed_before_the_reset(&sim, &s.envelope(&sim), &sim.var("CLUSTER_ID"));
    let mark = description(&sim, s.sp_a(), &subnet);
    assert!(!mark.is_empty());
    let mut for_edge = s.envelope(&sim);
    for_edge["cluster_id"] = json!(edge);
    let r = run(&sim, &["--cluster", &edge], &for_edge);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // A forged mark on a role that is not the cluster's, for aks-prod.
    let op = Operator::new(&sim);
    let tenant = sim.var("CLUSTER_TENANT_ID");
    let (status, body) = op.arm(
        Method::PUT,
        &tenant,
        &format!(
            "{}/providers/Microsoft.Authorization/roleAssignments/{}?api-version=2022-04-01",
            sub_a(&sim),
            uuid::Uuid::new_v4()
        ),
        Some(&json!({"properties": {
            "roleDefinitionId": format!("{}/providers/Microsoft.Authorization/roleDefinitions/{READER}", sub_a(&sim)),
            "principalId": s.sp_a(),
            "principalType": "ServicePrincipal",
            "description": mark,
        }})),
    );
    assert_eq!(status, 201, "{body}");
    let before = held(&sim, s.sp_a());

    // aks-prod's rerun refuses before its reset (no pull grant): both marked ones stay.
    let (status, body) = op.arm(
        Method::DELETE,
        &sim.var("REGISTRY_TENANT_ID"),
        &format!("{grant}?api-version=2022-04-01"),
        None,
    );
    assert!(status < 300, "{body}");
    let r = run(&sim, &[], &s.envelope(&sim));
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(held(&sim, s.sp_a()), before, "{}", r.stderr);
    assert!(
        r.stderr.contains(second),
        "the warning names the cluster that needs it: {}",
        r.stderr
    );
}

/// A dry run plans the copy, in the future tense, and says which right it needs.
#[test]
fn a_dry_run_plans_the_copy_and_the_right_it_needs() {
    let sim = sim();
    let (s, _) = setup(&sim);
    let before = sim.writes().len();
    let r = run(&sim, &["--dry-run"], &s.envelope(&sim));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(sim.writes().len(), before);
    let subnet = sim.var("SUBNET_ID");
    let name = subnet.rsplit('/').next().unwrap();
    assert!(
        r.stderr.contains(&format!(
            "would give the app Network Contributor on subnet {name} ("
        )),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("User Access Administrator")
            && r.stderr.contains("Role Based Access Control Administrator"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("gave "), "{}", r.stderr);
}

/// Attack 3 as filed: team B swapped `app_id` for its own multitenant app (which has a
/// service principal in tenant A); the operator, told the pull check failed, reran with
/// `--force` and the real app's secret in a file. AKS refuses the secret for team B's app
/// (AADSTS7000215): team B's principal keeps no role in tenant A.
#[test]
fn a_swapped_app_refused_by_aks_keeps_no_role() {
    let sim = sim();
    let (s, _) = setup(&sim);
    let team_b = Operator::new(&sim).create_app(
        &NewApp::multitenant("team-b-app")
            .redirect_uris(&["https://www.microsoft.com"])
            .sp_in_a(true)
            .sp_in_b(true),
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("app.secret");
    std::fs::write(&file, s.secret()).unwrap();
    let mut swapped = s.envelope(&sim);
    let o = swapped.as_object_mut().unwrap();
    o.insert("app_id".into(), json!(team_b.app_id));
    o.insert("cluster_sp_object_id".into(), json!(team_b.sp_a()));
    o.remove("client_secret");
    o.remove("client_secret_key_id");
    let r = run(
        &sim,
        &["--force", "--client-secret-file", file.to_str().unwrap()],
        &swapped,
    );
    assert_ne!(r.code, 0, "{}", r.stderr);
    assert!(
        held(&sim, team_b.sp_a()).is_empty(),
        "team B's principal holds roles in tenant A: {:?}\n{}",
        held(&sim, team_b.sp_a()),
        r.stderr
    );
    assert!(!r.stderr.contains(s.secret()), "{}", r.stderr);
    assert_eq!(
        live_sp(&sim),
        xtenant_tests::azure::service_principal_of(
            &sim,
            &sim.var("CLUSTER_TENANT_ID"),
            "a1a1a1a1-a100-4000-8000-000000000001"
        )
        .unwrap(),
        "the cluster still runs as its old app"
    );
}

/// A kubenet cluster's route table and its subnet's network security group are attached to
/// the subnet, not named by the cluster: step 4 reads the subnet and copies the old
/// principal's Network Contributor on them too (issue 23's gap: it was only warned about).
#[test]
fn the_route_table_and_nsg_on_the_clusters_subnet_are_its_own_scopes() {
    let base = TestSim::start();
    let subnet = base.var("SUBNET_ID");
    let rg = subnet[..subnet.find("/providers/").unwrap()].to_owned();
    let rt = format!("{rg}/providers/Microsoft.Network/routeTables/rt-aks");
    let nsg = format!("{rg}/providers/Microsoft.Network/networkSecurityGroups/nsg-aks");
    drop(base);
    let state = scenario(|s| {
        let resources = s["resources"].as_array_mut().unwrap();
        for r in resources.iter_mut() {
            if r["id"] == subnet.as_str() {
                r["properties"] =
                    json!({"routeTable": {"id": rt}, "networkSecurityGroup": {"id": nsg}});
            }
        }
        resources.push(json!({"id": rt, "location": "eastus"}));
        resources.push(json!({"id": nsg, "location": "eastus"}));
    });
    let sim = sim_with(Some(state));
    let (s, _) = setup(&sim);
    let old = live_sp(&sim);
    let op = Operator::new(&sim);
    let tenant = sim.var("CLUSTER_TENANT_ID");
    op.assign_role(&tenant, &rt, NETWORK_CONTRIBUTOR, &old);
    op.assign_role(&tenant, &nsg, NETWORK_CONTRIBUTOR, &old);
    let r = run(&sim, &[], &s.envelope(&sim));
    assert_eq!(r.code, 0, "{}", r.stderr);
    for scope in [&rt, &nsg, &subnet] {
        assert!(
            has(&sim, s.sp_a(), NETWORK_CONTRIBUTOR, scope),
            "{scope}: {}",
            r.stderr
        );
    }
    assert!(!warnings(&r).join("\n").contains("rt-aks"), "{}", r.stderr);
}
