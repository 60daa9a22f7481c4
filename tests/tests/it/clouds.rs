//! Real Azure's rough edges (issue 15), each switched on in the simulator, and the tools
//! handling them: api-versions a national cloud lacks, a busy cluster, Graph read lag, a
//! registry firewall, the app as the portal registers it, a Graph without the `uniqueName`
//! key, and the shipped national-cloud scenario end to end.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use xtenant_tests::azure::{App, Method, NewApp, Operator, apps_tagged};
use xtenant_tests::steps::{Step, cluster_pulls, run_step, run_steps};
use xtenant_tests::{Run, TestSim, line, person};

const CLUSTERS: &str = "Microsoft.ContainerService/managedClusters";
const REGISTRIES: &str = "Microsoft.ContainerRegistry/registries";
const USER_READ: &str = "e1fe6dd8-ba31-4d61-89e7-88639da4683d";

fn national() -> Value {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../azure-sim/scenarios/national.json");
    serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap()
}

fn error_code(r: &Run) -> String {
    r.object()["error"]["code"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

/// The api-version of a logged request, and whether it was for resource type `t`.
fn version_of(r: &Value, t: &str) -> Option<String> {
    let path = r["path"].as_str()?.to_ascii_lowercase();
    // The last provider segment says whose request it is (a role assignment at a
    // registry's scope is Microsoft.Authorization's).
    let last = &path[path.rfind("/providers/")? + "/providers/".len()..];
    if !last.starts_with(&t.to_ascii_lowercase()) {
        return None;
    }
    let q = r["query"].as_str().unwrap_or("");
    url::form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == "api-version")
        .map(|(_, v)| v.into_owned())
}

#[test]
fn the_whole_pipeline_passes_in_the_national_cloud_scenario() {
    let scenario = national();
    let sim = TestSim::start_with(|c| c.scenario = Some(scenario.clone()));
    let out = run_steps(&sim, &Step::ALL, "");
    let o: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert!(o.get("error").is_none(), "{o}");
    assert_eq!(o["cluster_provisioning_state"], "Succeeded", "{o}");
    assert!(o["pull_verified_at"].is_string(), "{o}");
    // No uniqueName key: the app carries its unique name in a tag, and the output names it.
    assert_eq!(
        o["app_unique_name"],
        xtenant_tests::steps::UNIQUE_NAME,
        "{o}"
    );
    assert!(cluster_pulls(&sim), "the cluster cannot pull");

    // Each type's pinned version was tried once per tool run (then remembered), and every
    // other request used a version the cloud lists.
    let reqs = sim.azure_requests();
    for (t, pinned) in [(CLUSTERS, "2025-10-01"), (REGISTRIES, "2025-11-01")] {
        let listed: Vec<&str> = scenario["behaviour"]["api_versions"][t]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let used: Vec<String> = reqs.iter().filter_map(|r| version_of(r, t)).collect();
        assert!(!used.is_empty(), "no request for {t}");
        assert_eq!(
            used.iter().filter(|v| *v == pinned).count(),
            1,
            "{t}: {used:?}"
        );
        for v in used.iter().filter(|v| *v != pinned) {
            assert!(listed.contains(&v.as_str()), "{t}: {v} is not listed");
        }
        assert!(
            used.iter().any(|v| v == listed.last().unwrap()),
            "{t}: {used:?}"
        );
    }
}

#[test]
fn a_cloud_without_a_usable_api_version_fails_clearly_before_any_write() {
    let sim = TestSim::start_with(|c| {
        c.behaviour = Some(json!({"api_versions": {CLUSTERS: ["2017-08-31", "2019-02-01"]}}));
    });
    let op = Operator::new(&sim);
    let app = op.create_app(&NewApp::multitenant("old-cloud").secret(true).sp_in_a(true));
    sim.sim().clear_requests();
    let input = json!({"cluster_tenant_id": sim.var("CLUSTER_TENANT_ID"), "app_id": app.app_id,
        "client_secret": app.secret(), "cluster_id": sim.var("CLUSTER_ID")});
    let r = sim.run(
        "aks-sp-update",
        &["--cluster", &sim.var("CLUSTER_ID"), "--force"],
        &line(&input),
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(error_code(&r), "ApiVersionUnsupported", "{}", r.stdout);
    assert!(r.stdout.contains("2019-02-01"), "{}", r.stdout);
    assert!(sim.writes().is_empty(), "{:?}", sim.writes());
}

/// The app of steps 1–3 made by hand, and the envelope acr-grant would have written.
fn granted(sim: &TestSim) -> (App, Value) {
    let app = Operator::new(sim).granted_app("rough-edges");
    let env = json!({
        "cluster_tenant_id": sim.var("CLUSTER_TENANT_ID"),
        "registry_tenant_id": sim.var("REGISTRY_TENANT_ID"),
        "app_id": app.app_id,
        "client_secret": app.secret(),
        "registry_sp_object_id": app.sp_b(),
        "registry_login_server": sim.var("REGISTRY_LOGIN_SERVER"),
        "cluster_id": sim.var("CLUSTER_ID"),
    });
    (app, env)
}

#[test]
fn a_busy_cluster_is_waited_out_with_progress() {
    let sim = TestSim::start_with(|c| {
        c.behaviour = Some(json!({"aks_error_shape": "top_level"}));
    });
    let (_, env) = granted(&sim);
    // Refused twice although the cluster reads Succeeded: the answer is what counts.
    sim.sim().add_fault(json!({"method": "POST", "path": "resetServicePrincipalProfile",
        "status": 409, "code": "OperationNotAllowed", "count": 2,
        "message": "Operation is not allowed: Another operation (Updating) is in progress, please wait for it to finish before starting a new operation. See https://aka.ms/aks-pending-operation for more details"})).unwrap();
    let r = sim.run(
        "aks-sp-update",
        &["--cluster", &sim.var("CLUSTER_ID"), "--timeout", "60s"],
        &line(&env),
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stderr, r.stdout);
    assert!(r.stderr.contains("busy"), "{}", r.stderr);
    assert!(r.stderr.contains("Another operation"), "{}", r.stderr);
    assert!(cluster_pulls(&sim));
}

#[test]
fn graph_read_lag_is_waited_for_only_where_an_earlier_step_made_the_object() {
    let sim = TestSim::start_with(|c| c.behaviour = Some(json!({"graph_read_lag_ms": 3000})));
    // Step 1 just made the app: consent-link waits until Graph shows it.
    let one = run_step(&sim, Step::App, &[], "");
    assert_eq!(one.code, 0, "{}", one.stderr);
    let r = run_step(
        &sim,
        Step::Consent,
        &["--cluster-tenant", &sim.var("CLUSTER_TENANT_ID")],
        &one.stdout,
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stderr, r.stdout);
    // acr-grant right after (registry_sp_object_id in the input): waits for the new SP.
    let r = run_step(&sim, Step::Grant, &[], &r.stdout);
    assert_eq!(r.code, 0, "{}\n{}", r.stderr, r.stdout);

    // An app nobody made is reported at once, not after the lag.
    let ghost = "0f0f0f0f-1111-4222-8333-444444444444";
    let started = Instant::now();
    let r = consent_by_app_id(&sim, ghost);
    assert_eq!(error_code(&r), "AppNotFound", "{}", r.stdout);
    let r2 = sim.run(
        "acr-grant",
        &[
            "--registry",
            &sim.var("REGISTRY_ID"),
            "--app-id",
            ghost,
            "--registry-tenant",
            &sim.var("REGISTRY_TENANT_ID"),
        ],
        "",
    );
    assert_eq!(
        error_code(&r2),
        "ServicePrincipalNotInRegistryTenant",
        "{}",
        r2.stdout
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_registry_firewall_is_named_as_such_and_force_resets_anyway() {
    let first = TestSim::start();
    let (app, env) = granted(&first);
    let mut state = first.state();
    // The rules admit the cluster's egress address, not this machine's.
    let egress = first.var("CLUSTER_EGRESS_IP");
    drop(first);
    for r in state["registries"].as_array_mut().unwrap() {
        r["network_rules"] = json!({"default_action": "Deny", "ip_rules": ["203.0.113.7", egress]});
    }
    let sim = TestSim::start_with(|c| c.scenario = Some(state));
    let secret = app.secret();
    // The envelope names the new simulator's registry port.
    let mut env = env;
    env["registry_login_server"] = json!(sim.var("REGISTRY_LOGIN_SERVER"));

    // acr-grant: the role is granted (and kept in the failed object); the check names the firewall.
    let r = sim.run(
        "acr-grant",
        &[
            "--registry",
            &sim.var("REGISTRY_ID"),
            "--verify",
            "--timeout",
            "20s",
        ],
        &line(&env),
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    let o = r.object();
    assert_eq!(o["error"]["code"], "RegistryNetworkDenied", "{o}");
    let m = o["error"]["message"].as_str().unwrap();
    assert!(
        m.contains("127.0.0.1") && m.contains("firewall") && m.contains("not about")
            || m.contains("says nothing about the app's credential"),
        "{m}"
    );
    assert!(o["role_assignment_id"].is_string(), "{o}");
    assert!(!r.stderr.contains(secret) && !r.stdout.replace(secret, "").contains(secret));

    // aks-sp-update: refuses for the right reason, and says --force resets anyway.
    let r = sim.run(
        "aks-sp-update",
        &["--cluster", &sim.var("CLUSTER_ID")],
        &line(&env),
    );
    assert_eq!(error_code(&r), "RegistryNetworkDenied", "{}", r.stdout);
    assert!(r.stderr.contains("--force"), "{}", r.stderr);
    assert!(!r.stderr.contains(secret));
    let r = sim.run(
        "aks-sp-update",
        &[
            "--cluster",
            &sim.var("CLUSTER_ID"),
            "--force",
            "--timeout",
            "60s",
        ],
        &line(&env),
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stderr, r.stdout);
    // The cluster's egress address is admitted: it pulls.
    assert!(cluster_pulls(&sim));
}

/// Whether the app `app_id` requests Microsoft Graph User.Read, as Graph shows it.
fn requests_user_read(sim: &TestSim, app_id: &str) -> bool {
    let (status, app) = Operator::new(sim).graph(
        Method::GET,
        &sim.var("CLUSTER_TENANT_ID"),
        &format!("/applications(appId='{app_id}')"),
        None,
    );
    assert_eq!(status, 200, "{app}");
    app["requiredResourceAccess"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|r| {
            r["resourceAppId"] == "00000003-0000-0000-c000-000000000000"
                && r["resourceAccess"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|a| a["id"] == USER_READ && a["type"] == "Scope")
        })
}

#[test]
fn the_app_requests_user_read_as_the_portal_registers_it() {
    let sim =
        TestSim::start_with(|c| c.behaviour = Some(json!({"consent_requires_permissions": true})));
    let r = run_step(&sim, Step::App, &[], "");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let made = r.object()["app_id"].as_str().unwrap().to_owned();
    assert!(requests_user_read(&sim, &made));

    // An app registered without any permission: consent-link names the problem; --adopt fixes it.
    let op = Operator::new(&sim);
    let (status, bare) = op.graph(
        Method::POST,
        &sim.var("CLUSTER_TENANT_ID"),
        "/applications",
        Some(
            &json!({"displayName": "bare", "signInAudience": "AzureADMultipleOrgs",
            "web": {"redirectUris": ["https://www.microsoft.com"]}}),
        ),
    );
    assert_eq!(status, 201, "{bare}");
    let bare_id = bare["appId"].as_str().unwrap();
    let r = consent_by_app_id(&sim, bare_id);
    assert_eq!(error_code(&r), "AppRequestsNoPermission", "{}", r.stdout);
    assert!(r.stdout.contains("AADSTS650056"), "{}", r.stdout);
    assert!(!requests_user_read(&sim, bare_id));
    let r = sim.run(
        "entra-app-create",
        &[
            "--cluster-tenant",
            &sim.var("CLUSTER_TENANT_ID"),
            "--app-id",
            bare_id,
            "--adopt",
        ],
        "",
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stderr, r.stdout);
    assert!(requests_user_read(&sim, bare_id));
}

#[test]
fn without_the_unique_name_key_step_one_stays_idempotent_across_reruns_and_lost_answers() {
    let sim = TestSim::start_with(|c| {
        c.behaviour = Some(json!({"unique_name_key": false, "graph_read_lag_ms": 1000}));
    });
    let args = ["--unique-name", "nat-app", "--timeout", "2s"];
    // The create's answer is lost (the app is made): the run fails.
    sim.sim()
        .add_fault(
            json!({"method": "POST", "path": "/applications", "count": 1, "delay_after_ms": 6000}),
        )
        .unwrap();
    let r = run_step(&sim, Step::App, &args, "");
    assert_ne!(r.code, 0, "{}", r.stderr);
    assert_eq!(apps_tagged(&sim, "nat-app").len(), 1);
    // Reruns find it by its tag: no second app.
    let r = run_step(&sim, Step::App, &["--unique-name", "nat-app"], "");
    assert_eq!(r.code, 0, "{}\n{}", r.stderr, r.stdout);
    let again = run_step(&sim, Step::App, &["--unique-name", "nat-app"], &r.stdout);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(r.object()["app_id"], again.object()["app_id"]);
    assert_eq!(again.object()["app_unique_name"], "nat-app");
    assert_eq!(apps_tagged(&sim, "nat-app").len(), 1);
}

fn china() -> Value {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../azure-sim/scenarios/china.json");
    serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap()
}

/// Runs `bin` with `--cloud AzureChinaCloud` and `args` on `input`; asserts exit 0.
/// consent-link on no input, the app named by `--app-id` (with both tenants).
fn consent_by_app_id(sim: &TestSim, app_id: &str) -> Run {
    sim.run(
        "consent-link",
        &[
            "--registry-tenant",
            &sim.var("REGISTRY_TENANT_ID"),
            "--cluster-tenant",
            &sim.var("CLUSTER_TENANT_ID"),
            "--app-id",
            app_id,
        ],
        "",
    )
}

fn in_china(sim: &TestSim, bin: &str, args: &[&str], input: &str) -> Run {
    let mut all = vec!["--cloud", "AzureChinaCloud", "--timeout", "60s"];
    all.extend_from_slice(args);
    let r = sim.run(bin, &all, input);
    assert_eq!(r.code, 0, "{bin} {args:?}:\n{}\n{}", r.stderr, r.stdout);
    r
}

/// The whole procedure in Azure China as the procedure's China edition runs it: the tools on
/// their built-in `AzureChinaCloud` table, unchanged, with only name resolution pointed at
/// the simulator (`XTENANT_RESOLVE`) and its CA trusted (`XTENANT_CA_FILE`); tenant B's
/// administrator opens the consent link on `login.chinacloudapi.cn`. With Graph's
/// `uniqueName` key and without it (sources disagree on China).
#[test]
fn the_whole_procedure_runs_in_azure_china_on_the_built_in_table() {
    for key in [true, false] {
        let scenario = china();
        let sim = TestSim::start_with(|c| {
            c.scenario = Some(scenario);
            c.behaviour = Some(json!({ "unique_name_key": key }));
        });
        let (a, b) = (sim.var("CLUSTER_TENANT_ID"), sim.var("REGISTRY_TENANT_ID"));
        assert_eq!(sim.var("XTENANT_CLOUD"), "AzureChinaCloud");
        let r1 = in_china(&sim, "entra-app-create", &["--cluster-tenant", &a], "");
        assert_eq!(
            r1.stderr.contains("no uniqueName key"),
            !key,
            "uniqueName key {key}: {}",
            r1.stderr
        );
        let r2 = in_china(&sim, "consent-link", &["--registry-tenant", &b], &r1.stdout);
        let o2 = r2.object();
        let app_id = o2["app_id"].as_str().unwrap();
        // Exactly the link of the procedure's China edition.
        assert_eq!(
            o2["consent_url"],
            format!(
                "https://login.chinacloudapi.cn/{b}/oauth2/authorize?client_id={app_id}&response_type=code&redirect_uri=https%3A%2F%2Fwww.microsoft.com"
            ),
            "{o2}"
        );
        let to = person::consent_resolving(
            o2["consent_url"].as_str().unwrap(),
            Path::new(&sim.var("SIM_CA_FILE")),
            sim.var_opt("XTENANT_RESOLVE").as_deref(),
            "accept",
        )
        .expect("tenant B's administrator accepts");
        assert!(to.starts_with("https://www.microsoft.com"), "{to}");
        let r3 = in_china(
            &sim,
            "consent-link",
            &["--registry-tenant", &b, "--wait"],
            &r2.stdout,
        );
        let r4 = in_china(
            &sim,
            "acr-grant",
            &[
                "--registry",
                &sim.var("REGISTRY_ID"),
                "--verify",
                "--image",
                &sim.var("REGISTRY_IMAGE"),
            ],
            &r3.stdout,
        );
        let r5 = in_china(
            &sim,
            "aks-sp-update",
            &["--cluster", &sim.var("CLUSTER_ID")],
            &r4.stdout,
        );
        let o = r5.object();
        assert!(o.get("error").is_none(), "{o}");
        assert_eq!(o["cloud"], "AzureChinaCloud");
        assert_eq!(o["registry_login_server"], "fabrikamacr.azurecr.cn");
        assert_eq!(o["cluster_provisioning_state"], "Succeeded", "{o}");
        assert!(o["pull_verified_at"].is_string(), "{o}");
        assert!(cluster_pulls(&sim), "the cluster cannot pull");
        // China's managed-cluster versions end at 2021-10-01: the tools fell back to it.
        assert!(r5.stderr.contains("using 2021-10-01"), "{}", r5.stderr);

        // Every request went to one of China's hosts — the sign-in too (azure_identity on the
        // tools' transport) — and none to the simulator's own address.
        let hosts: std::collections::BTreeSet<String> = sim
            .azure_requests()
            .iter()
            .map(|r| r["host"].as_str().unwrap().to_owned())
            .collect();
        let china_hosts = [
            "login.chinacloudapi.cn",
            "microsoftgraph.chinacloudapi.cn",
            "management.chinacloudapi.cn",
            "fabrikamacr.azurecr.cn",
        ];
        for h in &hosts {
            assert!(
                china_hosts.contains(&h.as_str()),
                "a request to {h}: {hosts:?}"
            );
        }
        for h in china_hosts {
            assert!(hosts.contains(h), "no request to {h}: {hosts:?}");
        }
        let token_requests = sim
            .azure_requests()
            .iter()
            .filter(|r| r["path"].as_str().unwrap().ends_with("/oauth2/v2.0/token"))
            .filter(|r| r["host"] == "login.chinacloudapi.cn")
            .count();
        assert!(token_requests >= 2, "the sign-in went elsewhere");
    }
}

/// attack12 (review of 4915ab0/94d3c3f). In a cloud whose newest managed-cluster api-version
/// predates `2024-09-01` (the national scenario: `2023-11-01`; the China scenario:
/// `2021-11-01-preview`), AKS's cluster has no `eTag` (the spec's examples show one from
/// `stable/2024-09-01` on), so `--remove-legacy-tags` is refused there — every time: no rerun
/// removes the tags. The refusal must say so (remove them by hand), not promise that "a rerun
/// finds it done and removes the tags" (`record::remove_legacy` replaces the removal's own
/// hint with that one). Fails on main first because the simulator shows an eTag at every
/// api-version, so the removal passes here where it cannot on AKS.
#[test]
fn removing_the_old_tags_where_clusters_have_no_etag_is_refused_with_a_hint_that_holds() {
    let sim = TestSim::start_with(|c| c.scenario = Some(national()));
    let out = run_steps(&sim, &Step::FIRST_THREE, "");
    let env: Value = serde_json::from_str(out.trim()).unwrap();
    let reset = run_step(&sim, Step::Reset, &[], &line(&env));
    assert_eq!(reset.code, 0, "{}", reset.stderr);
    let cluster = sim.var("CLUSTER_ID");
    let legacy = json!({"team": "a", "xtenant-client-id": env["app_id"],
        "xtenant-client-secret-key-id": env["client_secret_key_id"]});
    let (status, body) = Operator::new(&sim).arm(
        Method::PATCH,
        &sim.var("CLUSTER_TENANT_ID"),
        &format!("{cluster}?api-version=2023-11-01"),
        Some(&json!({ "tags": legacy })),
    );
    assert_eq!(status, 202, "{body}");
    sim.sim().advance(azure_sim::CLUSTER_UPDATE_TIME);
    let r = run_step(&sim, Step::Reset, &["--remove-legacy-tags"], &line(&env));
    assert_eq!(
        r.code, 1,
        "the old tags were removed through a cluster read with an eTag AKS gives no api-version this cloud has: {}",
        r.stderr
    );
    let o = r.object();
    let hint = o["error"]["hint"].as_str().unwrap_or("");
    assert!(
        hint.contains("by hand") && !hint.contains("a rerun finds it done and removes the tags"),
        "{o}"
    );
}
