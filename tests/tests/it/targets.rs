//! The person names what is written (issue 23): a write acts on the registry, cluster or
//! tenant a flag names (`--registry`, `--cluster`, `--registry-tenant` with `--create`). The
//! input object may name it only with `--targets-from-input`; without either the tool
//! refuses before any request, and a flag with another value in the input is a mismatch.
//!
//! Each test hands a tool the object another team could hand back, naming another of the
//! reader's registries or clusters, and reads the simulator's log and state: no write, or
//! the write on the target the person named. The examples (`examples/Makefile`,
//! `rotate.sh`, `fleet.sh`) take their destinations from the person's variables and flags:
//! run with hostile values there and in the envelopes they read, no command runs (a marker
//! file stays absent) and no tool is given a flag the example does not pass.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use xtenant_tests::azure::{App, NewApp, Operator, role_assignments_of};
use xtenant_tests::{Run, TestSim, bin_dir, line, run_cmd};

/// A simulator whose tenant A holds a second service-principal cluster, `aks-other` (a copy
/// of `aks-prod`): another of the reader's clusters. Returns it and that cluster's id.
fn sim_with_two_clusters() -> (TestSim, String) {
    let base = TestSim::start();
    let mut state = base.state();
    let prod = base.var("CLUSTER_ID");
    let other = format!("{}/aks-other", prod.rsplit_once('/').unwrap().0);
    let mut copy = state["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == prod.as_str())
        .cloned()
        .unwrap();
    copy["id"] = json!(other);
    state["clusters"].as_array_mut().unwrap().push(copy);
    drop(base);
    let sim = TestSim::start_with(|c| c.scenario = Some(state));
    (sim, other)
}

/// The multitenant app with a secret, its service principals in A and B, and AcrPull on the
/// scenario's registry for B's (what steps 1–3 leave).
fn granted_app(sim: &TestSim) -> App {
    Operator::new(sim).granted_app("xtenant-targets")
}

/// The object team B hands back after step 3, naming `cluster_id` (the reader's own
/// objects never carry one; a handed-back file may).
fn handed_back(sim: &TestSim, app: &App, cluster_id: &str) -> Value {
    json!({
        "cluster_tenant_id": sim.var("CLUSTER_TENANT_ID"),
        "registry_tenant_id": sim.var("REGISTRY_TENANT_ID"),
        "app_id": app.app_id,
        "client_secret": app.secret(),
        "client_secret_key_id": app.key_id,
        "registry_id": sim.var("REGISTRY_ID"),
        "registry_login_server": sim.var("REGISTRY_LOGIN_SERVER"),
        "cluster_id": cluster_id,
    })
}

/// The client id the cluster `id` runs as.
fn client_of(sim: &TestSim, id: &str) -> String {
    sim.state()["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"].as_str().is_some_and(|c| c.eq_ignore_ascii_case(id)))
        .and_then(|c| c["service_principal_client_id"].as_str())
        .unwrap_or_else(|| panic!("no cluster {id}"))
        .to_owned()
}

/// Asserts the run refused its one object as invalid input naming `field` and every text in
/// `names`, and that the tools sent nothing but reads (and, with `none_at_all`, nothing).
#[track_caller]
fn refused(sim: &TestSim, r: &Run, field: &str, names: &[&str], none_at_all: bool) {
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let o = r.object();
    assert_eq!(o["error"]["code"], "InvalidInput", "{o}");
    let said = format!(
        "{} {}",
        o["error"]["message"].as_str().unwrap_or_default(),
        o["error"]["hint"].as_str().unwrap_or_default()
    );
    for n in std::iter::once(&field).chain(names) {
        assert!(said.contains(n), "the refusal does not name {n}: {said}");
    }
    assert!(
        sim.writes().is_empty(),
        "refused, yet written: {:?}",
        sim.writes()
    );
    if none_at_all {
        assert!(
            sim.azure_requests().is_empty(),
            "refused from the flags and the input alone, yet sent: {:?}",
            sim.azure_requests()
        );
    }
}

// ------------------------------------------------------------------ aks-sp-update

#[test]
fn a_handed_back_cluster_id_without_cluster_resets_nothing() {
    let (sim, other) = sim_with_two_clusters();
    let app = granted_app(&sim);
    let before = client_of(&sim, &other);
    sim.sim().clear_requests();
    let r = sim.run(
        "aks-sp-update",
        &[],
        &line(&handed_back(&sim, &app, &other)),
    );
    refused(
        &sim,
        &r,
        "cluster_id",
        &["--cluster", "--targets-from-input"],
        true,
    );
    assert_eq!(client_of(&sim, &other), before, "aks-other was reset");
    assert_ne!(client_of(&sim, &sim.var("CLUSTER_ID")), app.app_id);
}

#[test]
fn a_cluster_flag_and_another_cluster_in_the_input_are_a_mismatch() {
    let (sim, other) = sim_with_two_clusters();
    let app = granted_app(&sim);
    let prod = sim.var("CLUSTER_ID");
    let input = line(&handed_back(&sim, &app, &other));
    let (rg, name) = {
        let parts: Vec<&str> = prod.split('/').collect();
        (parts[4].to_owned(), parts[8].to_owned())
    };
    let sub = sim.var("CLUSTER_SUBSCRIPTION_ID");
    let by_parts = [
        "--resource-group",
        rg.as_str(),
        "--name",
        name.as_str(),
        "--cluster-subscription",
        sub.as_str(),
    ];
    for args in [
        vec!["--cluster", prod.as_str()],
        by_parts.to_vec(),
        vec!["--cluster", prod.as_str(), "--targets-from-input"],
    ] {
        sim.sim().clear_requests();
        let r = sim.run("aks-sp-update", &args, &input);
        refused(&sim, &r, "cluster_id", &["--cluster", "aks-other"], true);
    }
    assert_ne!(client_of(&sim, &other), app.app_id);
    assert_ne!(client_of(&sim, &prod), app.app_id);
}

#[test]
fn the_cluster_the_flag_names_is_reset_whatever_the_spelling_in_the_input() {
    let (sim, other) = sim_with_two_clusters();
    let app = granted_app(&sim);
    let prod = sim.var("CLUSTER_ID");
    // ARM ids are case-insensitive: the same cluster in another spelling is no mismatch.
    let shouted = prod
        .replace("resourceGroups", "RESOURCEGROUPS")
        .replace("managedClusters", "MANAGEDCLUSTERS");
    let r = sim.run(
        "aks-sp-update",
        &["--cluster", &shouted],
        &line(&handed_back(&sim, &app, &prod.to_ascii_uppercase())),
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(client_of(&sim, &prod), app.app_id);
    assert_ne!(client_of(&sim, &other), app.app_id);
}

#[test]
fn targets_from_input_resets_the_cluster_the_input_names() {
    let (sim, other) = sim_with_two_clusters();
    let app = granted_app(&sim);
    let r = sim.run(
        "aks-sp-update",
        &["--targets-from-input"],
        &line(&handed_back(&sim, &app, &other)),
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(r.object()["cluster_id"], other.as_str());
    assert_eq!(client_of(&sim, &other), app.app_id);
    assert_ne!(client_of(&sim, &sim.var("CLUSTER_ID")), app.app_id);
}

#[test]
fn aks_sp_update_on_its_flags_alone_without_a_cluster_names_the_flag() {
    let sim = TestSim::start();
    let r = sim.run(
        "aks-sp-update",
        &[
            "--cluster-tenant",
            &sim.var("CLUSTER_TENANT_ID"),
            "--app-id",
            "11111111-2222-3333-4444-555555555555",
            "--client-secret-env",
            "PATH",
        ],
        "",
    );
    refused(&sim, &r, "cluster_id", &["--cluster"], true);
}

// ------------------------------------------------------------------ acr-grant

/// The object team A hands to team B for step 3, naming `registry_id`.
fn for_step_three(sim: &TestSim, app: &App, registry_id: &str) -> Value {
    json!({
        "cluster_tenant_id": sim.var("CLUSTER_TENANT_ID"),
        "registry_tenant_id": sim.var("REGISTRY_TENANT_ID"),
        "app_id": app.app_id,
        "registry_id": registry_id,
    })
}

/// The role assignments the app's service principal in B holds, by scope (lower case).
fn granted_scopes(sim: &TestSim, app: &App) -> Vec<String> {
    role_assignments_of(sim, app.sp_b())
        .iter()
        .filter_map(|ra| ra["scope"].as_str().map(str::to_ascii_lowercase))
        .collect()
}

/// An app with its service principals and no role anywhere.
fn consented_app(sim: &TestSim) -> App {
    Operator::new(sim).create_app(
        &NewApp::multitenant("xtenant-targets")
            .redirect_uris(&["https://www.microsoft.com"])
            .sp_in_a(true)
            .sp_in_b(true),
    )
}

#[test]
fn a_handed_back_registry_id_without_registry_grants_nothing() {
    let sim = TestSim::start();
    let app = consented_app(&sim);
    let other = sim.var("ABAC_REGISTRY_ID");
    sim.sim().clear_requests();
    let r = sim.run("acr-grant", &[], &line(&for_step_three(&sim, &app, &other)));
    refused(
        &sim,
        &r,
        "registry_id",
        &["--registry", "--targets-from-input"],
        true,
    );
    assert!(granted_scopes(&sim, &app).is_empty());
}

#[test]
fn a_registry_flag_and_another_registry_in_the_input_are_a_mismatch() {
    let sim = TestSim::start();
    let app = consented_app(&sim);
    let (name, id) = (sim.var("REGISTRY_NAME"), sim.var("REGISTRY_ID"));
    let (other, other_name) = (sim.var("ABAC_REGISTRY_ID"), sim.var("ABAC_REGISTRY_NAME"));
    let input = line(&for_step_three(&sim, &app, &other));
    // By id, by name, and with --targets-from-input: the input names another registry.
    for args in [
        vec!["--registry", id.as_str()],
        vec!["--registry", name.as_str()],
        vec!["--registry", name.as_str(), "--targets-from-input"],
    ] {
        sim.sim().clear_requests();
        let r = sim.run("acr-grant", &args, &input);
        refused(&sim, &r, "registry_id", &["--registry", &other_name], true);
    }
    // The flag's name with another id in the input (same name, another resource group):
    // only Azure knows the name's id, so the registry is looked up, then refused unwritten.
    let forged = id.replacen("/resourceGroups/", "/resourceGroups/other-", 1);
    assert_ne!(forged, id);
    sim.sim().clear_requests();
    let r = sim.run(
        "acr-grant",
        &["--registry", &name],
        &line(&for_step_three(&sim, &app, &forged)),
    );
    refused(&sim, &r, "registry_id", &["--registry"], false);
    assert!(granted_scopes(&sim, &app).is_empty());
}

#[test]
fn the_registry_the_flag_names_is_granted_on_by_name_or_id() {
    let sim = TestSim::start();
    let app = consented_app(&sim);
    let (name, id) = (sim.var("REGISTRY_NAME"), sim.var("REGISTRY_ID"));
    // The flag by name, the input by its full id in another spelling: the same registry.
    let r = sim.run(
        "acr-grant",
        &["--registry", &name.to_ascii_uppercase()],
        &line(&for_step_three(&sim, &app, &id.to_ascii_uppercase())),
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(granted_scopes(&sim, &app), vec![id.to_ascii_lowercase()]);
    // The flag by id, the input by name (as a failed run of `--registry NAME` leaves it).
    let r = sim.run(
        "acr-grant",
        &["--registry", &id],
        &line(&for_step_three(&sim, &app, &name)),
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
}

#[test]
fn targets_from_input_grants_on_the_registry_the_input_names() {
    let sim = TestSim::start();
    let app = consented_app(&sim);
    let other = sim.var("ABAC_REGISTRY_ID");
    let r = sim.run(
        "acr-grant",
        &["--targets-from-input"],
        &line(&for_step_three(&sim, &app, &other)),
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(granted_scopes(&sim, &app), vec![other.to_ascii_lowercase()]);
}

// ------------------------------------------------------------------ consent-link --create

/// An app with its service principal in A only (step 1's output, as a file).
fn app_only(sim: &TestSim) -> (App, Value) {
    let app = Operator::new(sim).create_app(
        &NewApp::multitenant("xtenant-targets")
            .redirect_uris(&["https://www.microsoft.com"])
            .sp_in_a(true),
    );
    let env = json!({
        "cluster_tenant_id": sim.var("CLUSTER_TENANT_ID"),
        "registry_tenant_id": sim.var("REGISTRY_TENANT_ID"),
        "app_id": app.app_id,
    });
    (app, env)
}

fn sps_in(sim: &TestSim, tenant: &str, app: &App) -> usize {
    sim.state()["service_principals"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["app_id"] == app.app_id.as_str() && s["tenant_id"] == tenant)
        .count()
}

#[test]
fn consent_link_creates_only_in_the_tenant_the_person_names() {
    let sim = TestSim::start();
    let (a, b) = (sim.var("CLUSTER_TENANT_ID"), sim.var("REGISTRY_TENANT_ID"));
    let (app, env) = app_only(&sim);
    let input = line(&env);
    // Without --registry-tenant: the input's registry_tenant_id may not choose where it writes.
    sim.sim().clear_requests();
    let r = sim.run("consent-link", &["--create"], &input);
    refused(
        &sim,
        &r,
        "registry_tenant_id",
        &["--registry-tenant", "--targets-from-input"],
        true,
    );
    // Another tenant on the flag than in the input: a mismatch.
    sim.sim().clear_requests();
    let r = sim.run(
        "consent-link",
        &["--create", "--registry-tenant", &a],
        &input,
    );
    refused(&sim, &r, "registry_tenant_id", &["--registry-tenant"], true);
    assert_eq!(sps_in(&sim, &b, &app), 0);
    // The link alone writes nothing: the input's tenant still makes it.
    let r = sim.run("consent-link", &[], &input);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.object()["consent_url"].as_str().unwrap().contains(&b));
    // The same tenant on the flag, or --targets-from-input: created in B.
    let r = sim.run(
        "consent-link",
        &["--create", "--registry-tenant", &b.to_ascii_uppercase()],
        &input,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(sps_in(&sim, &b, &app), 1);
    let r = sim.run(
        "consent-link",
        &["--create", "--targets-from-input"],
        &input,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(sps_in(&sim, &b, &app), 1, "found, not made again");
}

// ------------------------------------------------------------------ the examples

/// The tools behind wrappers that keep each call's arguments (one file per call, NUL
/// between them), a marker file a hostile value would create, and the commands to run the
/// examples with them against the simulator.
struct Logged {
    dir: tempfile::TempDir,
}

/// Values that would run a command (creating the marker) or add a flag if an example put
/// them in a command line unquoted, or let them through unchecked.
fn hostile(marker: &Path) -> Vec<String> {
    let m = marker.display();
    vec![
        format!("$(touch {m})"),
        format!("`touch {m}`"),
        format!("x;touch {m}"),
        format!("a$(touch${{IFS}}{m})"),
        format!("x'$(touch {m})'"),
        "x --force".to_owned(),
        "--force".to_owned(),
    ]
}

const TOOLS: [&str; 4] = [
    "entra-app-create",
    "consent-link",
    "acr-grant",
    "aks-sp-update",
];

impl Logged {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("bin")).unwrap();
        std::fs::create_dir(dir.path().join("calls")).unwrap();
        for tool in TOOLS {
            let real = bin_dir().join(tool);
            let path = dir.path().join("bin").join(tool);
            std::fs::write(
                &path,
                format!(
                    "#!/bin/sh\nf=$(mktemp \"$XT_CALLS/call.XXXXXX\")\nprintf '%s\\0' {tool} \"$@\" > \"$f\"\nexec '{}' \"$@\"\n",
                    real.display()
                ),
            )
            .unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        Self { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The file a hostile value would create.
    fn marker(&self) -> PathBuf {
        self.path("pwned")
    }

    /// `program` with the simulator's environment, the logging tools first on PATH, in the repo.
    fn cmd(&self, sim: &TestSim, program: &str) -> Command {
        let mut c = sim.shell(program);
        c.env(
            "PATH",
            format!(
                "{}:{}",
                self.path("bin").display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env("XT_CALLS", self.path("calls"));
        c
    }

    /// Every tool call so far: the tool and its arguments.
    fn calls(&self) -> Vec<(String, Vec<String>)> {
        let mut calls: Vec<(String, Vec<String>)> = std::fs::read_dir(self.path("calls"))
            .unwrap()
            .map(|e| {
                let bytes = std::fs::read(e.unwrap().path()).unwrap();
                let mut parts: Vec<String> = bytes
                    .split(|b| *b == 0)
                    .map(|p| String::from_utf8_lossy(p).into_owned())
                    .collect();
                parts.pop(); // after the last NUL
                let tool = parts.remove(0);
                (tool, parts)
            })
            .collect();
        calls.sort();
        calls
    }

    fn forget_calls(&self) {
        for e in std::fs::read_dir(self.path("calls")).unwrap() {
            std::fs::remove_file(e.unwrap().path()).unwrap();
        }
    }

    /// Nothing ran (no marker) and each tool was given only `flags` (name, before any `=`),
    /// each value whole (`--flag=value` or the argument after the flag).
    #[track_caller]
    fn assert_no_command_and_no_flag(&self, flags: &[(&str, &[&str])], what: &str) {
        assert!(!self.marker().exists(), "{what}: a command ran");
        for (tool, args) in self.calls() {
            let allowed = flags
                .iter()
                .find(|(t, _)| *t == tool)
                .map_or(&[][..], |(_, f)| *f);
            for a in args.iter().filter(|a| a.starts_with('-')) {
                let name = a.split('=').next().unwrap();
                assert!(
                    allowed.contains(&name),
                    "{what}: {tool} was given the flag {a:?}: {args:?}"
                );
            }
        }
    }
}

#[test]
fn the_makefile_refuses_hostile_variables_before_running_anything() {
    let sim = TestSim::start();
    let log = Logged::new();
    let state = log.path("state");
    let good = |k: &str| match k {
        "STATE" => state.display().to_string(),
        "CLUSTER_TENANT" => sim.var("CLUSTER_TENANT_ID"),
        "REGISTRY_TENANT" => sim.var("REGISTRY_TENANT_ID"),
        "REGISTRY" => sim.var("REGISTRY_ID"),
        "CLUSTER" => sim.var("CLUSTER_ID"),
        "IMAGE" => sim.var("REGISTRY_IMAGE"),
        "DISPLAY_NAME" => "xtenant-acr-pull".to_owned(),
        "CONSENT" => "--create".to_owned(),
        other => panic!("{other}"),
    };
    let vars = [
        "STATE",
        "CLUSTER_TENANT",
        "REGISTRY_TENANT",
        "REGISTRY",
        "CLUSTER",
        "IMAGE",
        "DISPLAY_NAME",
        "CONSENT",
    ];
    sim.sim().clear_requests();
    for var in vars {
        let mut values = hostile(&log.marker());
        if var == "CONSENT" {
            values.push("--create --force".to_owned());
        }
        for bad in values {
            let mut args = vec!["-s".to_owned(), "-f".into(), "examples/Makefile".into()];
            args.extend(
                vars.iter()
                    .map(|k| format!("{k}={}", if *k == var { bad.clone() } else { good(k) })),
            );
            args.push("all".into());
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let r = run_cmd(log.cmd(&sim, "make"), &args, "");
            let what = format!("{var}={bad:?}");
            assert_ne!(r.code, 0, "{what}: {}", r.stderr);
            assert!(r.stderr.contains(var), "{what}: {}", r.stderr);
            assert!(log.calls().is_empty(), "{what}: {:?}", log.calls());
            log.assert_no_command_and_no_flag(&[], &what);
        }
    }
    assert!(sim.azure_requests().is_empty());
}

#[test]
fn the_makefile_takes_the_registry_and_cluster_from_its_variables_never_from_the_files() {
    let sim = TestSim::start();
    let log = Logged::new();
    let state = log.path("state");
    std::fs::create_dir(&state).unwrap();
    std::fs::write(state.join("secret"), "not-a-real-secret\n").unwrap();
    let app = json!({
        "cluster_tenant_id": sim.var("CLUSTER_TENANT_ID"),
        "registry_tenant_id": sim.var("REGISTRY_TENANT_ID"),
        "app_id": "11111111-2222-3333-4444-555555555555",
    });
    let flags: &[(&str, &[&str])] = &[
        (
            "acr-grant",
            &["--registry", "--verify", "--client-secret-file"],
        ),
        ("aks-sp-update", &["--cluster", "--client-secret-file"]),
    ];
    sim.sim().clear_requests();
    for bad in hostile(&log.marker())
        .into_iter()
        .chain([sim.var("ABAC_REGISTRY_ID")])
    {
        // The files each step left, oldest first, naming a hostile registry and cluster.
        let mut o = app.clone();
        let t0 = std::time::SystemTime::now() - Duration::from_secs(60);
        for (i, (file, field)) in [
            ("1-app.json", None),
            ("2-consent.json", Some("registry_id")),
            ("3-grant.json", Some("cluster_id")),
        ]
        .into_iter()
        .enumerate()
        {
            if let Some(f) = field {
                o[f] = json!(bad);
            }
            let path = state.join(file);
            std::fs::write(&path, line(&o)).unwrap();
            let f = std::fs::File::options().write(true).open(&path).unwrap();
            f.set_modified(t0 + Duration::from_secs(i as u64)).unwrap();
        }
        for target in ["grant", "cluster"] {
            log.forget_calls();
            let r = run_cmd(
                log.cmd(&sim, "make"),
                &[
                    "-s",
                    "-f",
                    "examples/Makefile",
                    &format!("STATE={}", state.display()),
                    &format!("REGISTRY={}", sim.var("REGISTRY_NAME")),
                    &format!("CLUSTER={}", sim.var("CLUSTER_ID")),
                    target,
                ],
                "",
            );
            let what = format!("make {target} on {bad:?}");
            assert_ne!(r.code, 0, "{what}: {}", r.stderr);
            let tool = if target == "grant" {
                "acr-grant"
            } else {
                "aks-sp-update"
            };
            let calls = log.calls();
            assert_eq!(calls.len(), 1, "{what}: {calls:?}");
            assert_eq!(calls[0].0, tool, "{what}");
            assert!(
                r.stderr.contains("mismatch") || r.stderr.contains("InvalidInput"),
                "{what}: {}",
                r.stderr
            );
            log.assert_no_command_and_no_flag(flags, &what);
        }
    }
    assert!(sim.writes().is_empty(), "{:?}", sim.writes());
}

/// The envelope of a finished pipeline for rotate.sh (nothing is run on it: it is refused).
fn finished(sim: &TestSim) -> Value {
    json!({
        "cluster_tenant_id": sim.var("CLUSTER_TENANT_ID"),
        "registry_tenant_id": sim.var("REGISTRY_TENANT_ID"),
        "app_id": "11111111-2222-3333-4444-555555555555",
        "client_secret_ref": format!("{}/secrets/app/0123456789abcdef0123456789abcdef", sim.var("KEYVAULT_URL")),
        "registry_id": sim.var("REGISTRY_ID"),
        "cluster_id": sim.var("CLUSTER_ID"),
    })
}

#[test]
fn rotate_refuses_hostile_values_and_envelopes_before_any_tool_runs() {
    let sim = TestSim::start();
    let log = Logged::new();
    let env_file = log.path("envelope.json");
    let good = |flag: &str| match flag {
        "--cluster" => sim.var("CLUSTER_ID"),
        "--registry" => sim.var("REGISTRY_NAME"),
        "--image" => sim.var("REGISTRY_IMAGE"),
        "--secret-keyvault" => format!("{}/secrets/app", sim.var("KEYVAULT_URL")),
        other => panic!("{other}"),
    };
    let flags = ["--cluster", "--registry", "--image", "--secret-keyvault"];
    let rotate = |bad_flag: Option<(&str, &str)>, envelope: &Value, extra: &[&str]| {
        std::fs::write(&env_file, line(envelope)).unwrap();
        let mut args = vec!["examples/rotate.sh".to_owned()];
        for f in flags {
            args.push(f.to_owned());
            args.push(match bad_flag {
                Some((b, v)) if b == f => v.to_owned(),
                _ => good(f),
            });
        }
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        args.push(env_file.display().to_string());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_cmd(log.cmd(&sim, "bash"), &args, "")
    };
    let ok = finished(&sim);
    sim.sim().clear_requests();
    // A hostile value on each flag, and a second flag after them.
    let mut cases: Vec<(String, Run)> = Vec::new();
    for f in flags {
        for bad in hostile(&log.marker()) {
            cases.push((format!("{f} {bad:?}"), rotate(Some((f, &bad)), &ok, &[])));
        }
    }
    cases.push(("--force".into(), rotate(None, &ok, &["--force"])));
    // A hostile or another target in each envelope field the destinations could come from.
    for field in ["cluster_id", "registry_id", "client_secret_ref"] {
        for bad in hostile(&log.marker()).into_iter().chain([
            sim.var("ABAC_REGISTRY_ID"),
            sim.var("MSI_CLUSTER_ID"),
            "https://evil.vault.azure.net/secrets/app/0123456789abcdef0123456789abcdef".into(),
        ]) {
            let mut e = ok.clone();
            e[field] = json!(bad);
            cases.push((format!("{field}: {bad:?}"), rotate(None, &e, &[])));
            let left = std::fs::read_to_string(&env_file).unwrap();
            assert_eq!(left, line(&e), "{field}: the envelope was changed");
        }
    }
    for (what, r) in &cases {
        assert_eq!(r.code, 2, "{what}: {}", r.stderr);
        assert!(r.stderr.starts_with("rotate: "), "{what}: {}", r.stderr);
        assert!(log.calls().is_empty(), "{what}: {:?}", log.calls());
        log.assert_no_command_and_no_flag(&[], what);
    }
    assert!(sim.azure_requests().is_empty());
}

#[test]
fn fleet_refuses_hostile_arguments_and_its_lines_stay_single_values() {
    let sim = TestSim::start();
    let log = Logged::new();
    let registries = log.path("registries");
    let clusters = log.path("clusters");
    let state = log.path("state");
    let fleet = |a: &str, b: &str, jobs: &str| {
        run_cmd(
            log.cmd(&sim, "bash"),
            &[
                "examples/fleet.sh",
                "--state",
                state.to_str().unwrap(),
                a,
                b,
                registries.to_str().unwrap(),
                clusters.to_str().unwrap(),
                jobs,
            ],
            "",
        )
    };
    let (a, b) = (sim.var("CLUSTER_TENANT_ID"), sim.var("REGISTRY_TENANT_ID"));
    let bad_values = hostile(&log.marker());
    // Hostile values on the command line: refused before any tool.
    std::fs::write(&registries, "").unwrap();
    std::fs::write(&clusters, "").unwrap();
    for bad in &bad_values {
        for r in [fleet(bad, &b, "2"), fleet(&a, bad, "2"), fleet(&a, &b, bad)] {
            assert_eq!(r.code, 2, "{bad:?}: {}", r.stderr);
            assert!(log.calls().is_empty(), "{bad:?}: {:?}", log.calls());
        }
    }
    log.assert_no_command_and_no_flag(&[], "the arguments");
    assert!(sim.azure_requests().is_empty());
    // Hostile lines: each is one id's value, refused by the step; the good registry is granted.
    std::fs::write(
        &registries,
        format!("{}\n{}\n", sim.var("REGISTRY_ID"), bad_values.join("\n")),
    )
    .unwrap();
    std::fs::write(&clusters, bad_values.join("\n") + "\n").unwrap();
    let r = fleet(&a, &b, "2");
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let objs = r.objects();
    assert_eq!(objs.len(), 1 + 2 * bad_values.len(), "{}", r.stdout);
    for o in &objs {
        let id = o["registry_id"].as_str().unwrap_or_default();
        let granted = id == sim.var("REGISTRY_ID") && o.get("cluster_id").is_none();
        assert_eq!(o["error"].is_null(), granted, "{o}");
    }
    let flags: &[(&str, &[&str])] = &[
        ("entra-app-create", &["--cluster-tenant"]),
        ("consent-link", &["--registry-tenant", "--create"]),
        ("acr-grant", &["--targets-from-input", "--jobs", "--verify"]),
        ("aks-sp-update", &["--targets-from-input", "--jobs"]),
    ];
    log.assert_no_command_and_no_flag(flags, "the lines");
    let resets = sim
        .writes()
        .iter()
        .filter(|w| w["path"].as_str().unwrap_or("").contains("managedClusters"))
        .count();
    assert_eq!(resets, 0, "{:?}", sim.writes());
}
