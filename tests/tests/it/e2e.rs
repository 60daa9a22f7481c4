//! End-to-end: the four real tool binaries composed as users compose them, against an
//! in-process azure-sim, ending in the simulator's truth endpoint.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use xtenant_tests::clock::{azure, later};
use xtenant_tests::world::{add_cluster, fleet_lists, fleet_sh};
use xtenant_tests::{Run, TestSim, line, person, run_cmd, run_on_empty_pipe};

fn sim() -> TestSim {
    TestSim::start()
}

fn pulled(sim: &TestSim) -> Value {
    sim.sim()
        .pull(&sim.var("CLUSTER_NAME"), &sim.var("REGISTRY_IMAGE"))
}

/// The four steps as one shell-less pipeline of processes; tenant B's administrator
/// (this test) opens the link consent-link prints and accepts it.
fn pipeline(sim: &TestSim, stdin: &str) -> (i32, Vec<Value>, String) {
    let steps: Vec<(&str, Vec<String>)> = vec![
        (
            "entra-app-create",
            vec!["--cluster-tenant".into(), sim.var("CLUSTER_TENANT_ID")],
        ),
        (
            "consent-link",
            vec![
                "--registry-tenant".into(),
                sim.var("REGISTRY_TENANT_ID"),
                "--wait".into(),
                "--timeout".into(),
                "60s".into(),
            ],
        ),
        (
            "acr-grant",
            vec![
                "--registry".into(),
                sim.var("REGISTRY_ID"),
                "--verify".into(),
                "--image".into(),
                sim.var("REGISTRY_IMAGE"),
            ],
        ),
        (
            "aks-sp-update",
            vec!["--cluster".into(), sim.var("CLUSTER_ID")],
        ),
    ];
    let mut children = Vec::new();
    let mut prev: Option<std::process::ChildStdout> = None;
    for (bin, args) in &steps {
        let mut c = sim.cmd(bin);
        c.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
        c.stdin(match prev.take() {
            Some(out) => Stdio::from(out),
            None if stdin.is_empty() => Stdio::null(),
            None => Stdio::piped(),
        });
        let mut child = c.spawn().expect("spawn");
        if let Some(mut i) = child.stdin.take() {
            i.write_all(stdin.as_bytes()).unwrap();
        }
        prev = child.stdout.take();
        children.push(child);
    }
    // Read every stderr on its own thread; consent-link's carries the link to open.
    let ca = std::path::PathBuf::from(sim.var("SIM_CA_FILE"));
    let readers: Vec<_> = children
        .iter_mut()
        .enumerate()
        .map(|(i, ch)| {
            let err = ch.stderr.take().unwrap();
            let ca = ca.clone();
            std::thread::spawn(move || {
                let mut text = String::new();
                for l in BufReader::new(err).lines().map_while(Result::ok) {
                    if i == 1
                        && let Some(start) = l.find("https://")
                        && l.contains("/oauth2/authorize?")
                    {
                        let url = l[start..].split_whitespace().next().unwrap().to_owned();
                        let loc = person::consent(&url, &ca, "accept").expect("accept consent");
                        assert!(loc.starts_with("https://www.microsoft.com"), "{loc}");
                    }
                    text.push_str(&l);
                    text.push('\n');
                }
                text
            })
        })
        .collect();
    let mut out = String::new();
    std::io::Read::read_to_string(&mut prev.unwrap(), &mut out).unwrap();
    let mut code = 0;
    for ch in &mut children {
        code = ch.wait().unwrap().code().unwrap_or(-1);
    }
    let stderr: String = readers.into_iter().map(|r| r.join().unwrap()).collect();
    let objs = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (code, objs, stderr)
}

#[test]
fn the_whole_pipeline_ends_with_the_cluster_pulling() {
    let sim = sim();
    assert_eq!(
        pulled(&sim)["pulled"],
        false,
        "the cluster cannot pull before"
    );
    let (code, objs, stderr) = pipeline(&sim, "");
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(objs.len(), 1);
    let o = &objs[0];
    for f in [
        "cluster_tenant_id",
        "app_id",
        "app_object_id",
        "cluster_sp_object_id",
        "client_secret_key_id",
        "consent_url",
        "registry_tenant_id",
        "registry_sp_object_id",
        "registry_id",
        "registry_login_server",
        "role_name",
        "role_assignment_id",
        "pull_verified_at",
        "cluster_id",
        "cluster_provisioning_state",
        "cloud",
    ] {
        assert!(o.get(f).is_some_and(|v| !v.is_null()), "missing {f}: {o}");
    }
    assert!(o.get("error").is_none(), "{o}");
    assert_eq!(o["cluster_provisioning_state"], "Succeeded");
    assert!(o.get("cluster_operation_url").is_none());
    let truth = pulled(&sim);
    assert_eq!(truth["pulled"], true, "{truth}");
    // The secret went only where it belongs.
    let secret = o["client_secret"].as_str().unwrap();
    assert!(!stderr.contains(secret));
}

/// Runs a step with `input` on stdin and returns its run; asserts exit 0.
fn step(sim: &TestSim, bin: &str, args: &[&str], input: &str) -> Run {
    let r = sim.run(bin, args, input);
    assert_eq!(r.code, 0, "{bin} {args:?}: {}\n{}", r.stderr, r.stdout);
    r
}

/// The four steps with files between them, as a Makefile would run them.
fn four_files(sim: &TestSim, dir: &Path) {
    let (a, b) = (sim.var("CLUSTER_TENANT_ID"), sim.var("REGISTRY_TENANT_ID"));
    let r1 = step(sim, "entra-app-create", &["--cluster-tenant", &a], "");
    std::fs::write(dir.join("1.json"), &r1.stdout).unwrap();
    let r2 = step(
        sim,
        "consent-link",
        &["--registry-tenant", &b, "--create"],
        &std::fs::read_to_string(dir.join("1.json")).unwrap(),
    );
    std::fs::write(dir.join("2.json"), &r2.stdout).unwrap();
    let r3 = step(
        sim,
        "acr-grant",
        &[
            "--registry",
            &sim.var("REGISTRY_NAME"),
            "--verify",
            "--image",
            &sim.var("REGISTRY_IMAGE"),
        ],
        &std::fs::read_to_string(dir.join("2.json")).unwrap(),
    );
    std::fs::write(dir.join("3.json"), &r3.stdout).unwrap();
    let r4 = step(
        sim,
        "aks-sp-update",
        &["--cluster", &sim.var("CLUSTER_ID")],
        &std::fs::read_to_string(dir.join("3.json")).unwrap(),
    );
    std::fs::write(dir.join("4.json"), &r4.stdout).unwrap();
}

/// State without the fields that only record when things happened.
fn timeless(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| {
                    ![
                        "created_at",
                        "updated_at",
                        "time",
                        "start_time",
                        "end_time",
                        "last_used",
                        "azure_time",
                    ]
                    .contains(&k.as_str())
                })
                .map(|(k, v)| (k.clone(), timeless(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(timeless).collect()),
        other => other.clone(),
    }
}

#[test]
fn four_separate_steps_with_files_and_every_rerun_changes_nothing() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    four_files(&sim, dir.path());
    assert_eq!(pulled(&sim)["pulled"], true);

    let before = timeless(&sim.state());
    sim.sim().clear_requests();
    let read = |n: u8| std::fs::read_to_string(dir.path().join(format!("{n}.json"))).unwrap();
    // Each step rerun on its own output (its targets trusted): no writes, same output, same state.
    for (bin, n) in [
        ("entra-app-create", 1),
        ("consent-link", 2),
        ("acr-grant", 3),
        ("aks-sp-update", 4),
    ] {
        let args: &[&str] = match bin {
            "consent-link" => &["--create", "--targets-from-input"],
            "acr-grant" => &["--verify", "--targets-from-input"],
            "aks-sp-update" => &["--targets-from-input"],
            _ => &[],
        };
        let r = step(&sim, bin, args, &read(n));
        let again: Value = serde_json::from_str(r.stdout.trim()).unwrap();
        let first: Value = serde_json::from_str(read(n).trim()).unwrap();
        // The time of a check, and its proof (bound to that time), change with each check.
        let strip = |mut v: Value| {
            v.as_object_mut().unwrap().remove("pull_verified_at");
            v.as_object_mut().unwrap().remove("pull_proof");
            v
        };
        assert_eq!(strip(again), strip(first), "{bin} rerun changed its output");
        assert!(
            sim.writes().is_empty(),
            "{bin} rerun wrote: {:?}",
            sim.writes()
        );
        assert!(r.stderr.contains("(unchanged)"), "{bin}: {}", r.stderr);
    }
    assert_eq!(
        timeless(&sim.state()),
        before,
        "the simulator's state changed"
    );
}

#[test]
fn step_four_before_step_three_refuses_then_the_full_order_succeeds() {
    let sim = sim();
    let (a, b) = (sim.var("CLUSTER_TENANT_ID"), sim.var("REGISTRY_TENANT_ID"));
    let r1 = step(&sim, "entra-app-create", &["--cluster-tenant", &a], "");
    let r2 = step(
        &sim,
        "consent-link",
        &["--registry-tenant", &b, "--create"],
        &r1.stdout,
    );
    let early = sim.run(
        "aks-sp-update",
        &["--cluster", &sim.var("CLUSTER_ID")],
        &r2.stdout,
    );
    early.failed("aks-sp-update", "PullNotVerified");
    assert!(!sim.writes().iter().any(|w| {
        w["path"]
            .as_str()
            .unwrap()
            .ends_with("resetServicePrincipalProfile")
    }));
    // Naming the registry without granting: the check itself refuses.
    let mut named: Value = serde_json::from_str(r2.stdout.trim()).unwrap();
    named["registry_login_server"] = json!(sim.var("REGISTRY_LOGIN_SERVER"));
    let refused = sim.run(
        "aks-sp-update",
        &["--cluster", &sim.var("CLUSTER_ID")],
        &line(&named),
    );
    refused.failed("aks-sp-update", "PullVerificationFailed");

    let r3 = step(
        &sim,
        "acr-grant",
        &["--registry", &sim.var("REGISTRY_ID"), "--verify"],
        &r2.stdout,
    );
    step(
        &sim,
        "aks-sp-update",
        &["--cluster", &sim.var("CLUSTER_ID")],
        &r3.stdout,
    );
    assert_eq!(pulled(&sim)["pulled"], true);
}

#[test]
fn an_early_error_passes_through_the_later_steps_with_their_flags() {
    let sim = sim();
    // Step 1 fails for this object (a tenant that does not exist); the others go on.
    let input = format!(
        "{}{}",
        line(&json!({"cluster_tenant_id": "nosuchtenant.onmicrosoft.com", "tag": 1})),
        line(&json!({"cluster_tenant_id": sim.var("CLUSTER_TENANT_ID"), "tag": 2}))
    );
    let r1 = sim.run("entra-app-create", &[], &input);
    assert_eq!(
        r1.code, 3,
        "an unknown tenant is a credential failure: {}",
        r1.stderr
    );
    let first_line = r1.stdout.lines().next().unwrap().to_owned();
    assert!(first_line.contains("\"error\""));
    let r2 = sim.run(
        "consent-link",
        &[
            "--registry-tenant",
            &sim.var("REGISTRY_TENANT_ID"),
            "--create",
        ],
        &r1.stdout,
    );
    let r3 = sim.run(
        "acr-grant",
        &["--registry", &sim.var("REGISTRY_ID"), "--verify"],
        &r2.stdout,
    );
    let r4 = sim.run(
        "aks-sp-update",
        &["--cluster", &sim.var("CLUSTER_ID")],
        &r3.stdout,
    );
    assert_eq!(
        r4.code, 1,
        "the last step passes the error through, and reports it (a pipe's outcome): {}",
        r4.stderr
    );
    // As it came (byte for byte), plus each later step's flags: the procedure it was part of.
    let objs = r4.objects();
    let came: Value = serde_json::from_str(&first_line).unwrap();
    for (k, v) in came.as_object().unwrap() {
        assert_eq!(&objs[0][k], v, "{k}");
    }
    assert!(
        r4.stdout
            .lines()
            .next()
            .unwrap()
            .starts_with(first_line.strip_suffix('}').unwrap()),
        "byte for byte, then the flags"
    );
    assert_eq!(objs[0]["registry_tenant_id"], sim.var("REGISTRY_TENANT_ID"));
    assert_eq!(objs[0]["cluster_id"], sim.var("CLUSTER_ID"));
    assert_eq!(objs[1]["cluster_provisioning_state"], "Succeeded");
    assert_eq!(objs[0]["error"]["step"], "entra-app-create");

    // A step failing in the middle: the last exits 1 and the error is the middle one's.
    let bad = line(
        &json!({"cluster_tenant_id": sim.var("CLUSTER_TENANT_ID"), "app_id": "00000000-0000-0000-0000-000000000001", "client_secret": "x"}),
    );
    let r3 = sim.run(
        "acr-grant",
        &[
            "--registry-tenant",
            &sim.var("REGISTRY_TENANT_ID"),
            "--registry",
            &sim.var("REGISTRY_ID"),
        ],
        &bad,
    );
    assert_eq!(r3.code, 1);
    let r4 = sim.run(
        "aks-sp-update",
        &["--cluster", &sim.var("CLUSTER_ID")],
        &r3.stdout,
    );
    let (passed, failed) = (r4.object(), r3.object());
    for (k, v) in failed.as_object().unwrap() {
        assert_eq!(&passed[k], v, "{k} passed through as it came");
    }
    assert_eq!(
        passed["cluster_id"],
        sim.var("CLUSTER_ID"),
        "with the flags"
    );
    assert_eq!(passed["error"]["step"], "acr-grant");
}

/// A simulator whose tenant B holds `n` more legacy registries (with `samples/hello:1.0`),
/// and their ids.
fn sim_with_registries(
    n: usize,
    configure: impl FnOnce(&mut xtenant_tests::SimConfig),
) -> (TestSim, Vec<String>) {
    let base = TestSim::start();
    let mut state = base.state();
    let reg0 = base.var("REGISTRY_ID");
    let prefix = reg0.rsplit_once('/').unwrap().0;
    let ids: Vec<String> = (0..n).map(|i| format!("{prefix}/fleetacr{i:02}")).collect();
    for id in &ids {
        state["registries"].as_array_mut().unwrap().push(json!({
            "id": id, "location": "westus", "role_assignment_mode": "LegacyRegistryPermissions",
            "images": {"samples/hello": ["1.0"]},
        }));
    }
    drop(base);
    let sim = TestSim::start_with(|c| {
        c.scenario = Some(state);
        configure(c);
    });
    (sim, ids)
}

/// Steps 1 and 2 once, then the app's envelope once per registry: one NDJSON stream.
fn app_per_registry(sim: &TestSim, ids: &[String]) -> String {
    let (a, b) = (sim.var("CLUSTER_TENANT_ID"), sim.var("REGISTRY_TENANT_ID"));
    let r1 = step(sim, "entra-app-create", &["--cluster-tenant", &a], "");
    let r2 = step(
        sim,
        "consent-link",
        &["--registry-tenant", &b, "--create"],
        &r1.stdout,
    );
    let app: Value = serde_json::from_str(r2.stdout.trim()).unwrap();
    ids.iter()
        .map(|id| {
            let mut o = app.clone();
            o["registry_id"] = json!(id);
            line(&o)
        })
        .collect()
}

#[test]
fn twenty_registries_in_one_stream_with_four_jobs() {
    let (sim, ids) = sim_with_registries(20, |_| {});
    let stream = app_per_registry(&sim, &ids);
    let r3 = step(
        &sim,
        "acr-grant",
        &[
            "--targets-from-input",
            "--jobs",
            "4",
            "--verify",
            "--image",
            "samples/hello:1.0",
        ],
        &stream,
    );
    let objs = r3.objects();
    assert_eq!(objs.len(), 20);
    for (o, id) in objs.iter().zip(&ids) {
        assert_eq!(o["registry_id"].as_str().unwrap(), id, "input order kept");
        assert!(o["pull_verified_at"].is_string(), "{o}");
    }
    let sp = objs[0]["registry_sp_object_id"].as_str().unwrap();
    let n = sim.state()["role_assignments"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["principal_id"] == sp)
        .count();
    assert_eq!(n, 20, "one assignment per registry");
}

#[test]
fn throttled_writes_are_waited_out_not_failed() {
    // ARM's write throttling (429 + Retry-After) far harsher than ARM's: one write per 300 ms
    // of real time (a third of the 10 a second the tools pace themselves to, so that they are
    // sent away) for ten jobs at once. Writes are sent away nine times or more; honouring
    // Retry-After within --timeout is not a failure, however many times it takes.
    let (sim, ids) = sim_with_registries(10, |c| {
        c.arm_write_limit = Some(azure_sim::WriteLimit {
            per_second: 1.0 / azure(Duration::from_millis(300)).as_secs_f64(),
            burst: 1,
        });
    });
    let stream = app_per_registry(&sim, &ids);
    let r3 = step(
        &sim,
        "acr-grant",
        &["--targets-from-input", "--jobs", "10"],
        &stream,
    );
    let objs = r3.objects();
    assert_eq!(objs.len(), ids.len());
    assert!(objs.iter().all(|o| o.get("error").is_none()), "{objs:?}");
    let throttled = sim
        .requests()
        .iter()
        .filter(|r| r["method"] == "PUT" && r["status"] == 429)
        .count();
    assert!(
        throttled >= 9,
        "the simulator throttled only {throttled} PUTs"
    );
}

#[test]
fn a_step_run_from_flags_alone_with_empty_stdin() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("secret");
    let a = sim.var("CLUSTER_TENANT_ID");
    let sf = secret_file.to_str().unwrap();
    let r1 = step(
        &sim,
        "entra-app-create",
        &[
            "--cluster-tenant",
            &a,
            "--secret-file",
            sf,
            "--no-secret-output",
        ],
        "",
    );
    let app_id = r1.ok()["app_id"].as_str().unwrap().to_owned();
    let b = sim.var("REGISTRY_TENANT_ID");
    step(
        &sim,
        "consent-link",
        &["--registry-tenant", &b, "--app-id", &app_id, "--create"],
        "",
    );
    // As in a Makefile recipe: no pipe, stdin empty (not a terminal), everything from flags.
    let r3 = step(
        &sim,
        "acr-grant",
        &[
            "--registry-tenant",
            &b,
            "--app-id",
            &app_id,
            "--registry",
            &sim.var("REGISTRY_NAME"),
            "--verify",
            "--client-secret-file",
            sf,
        ],
        "",
    );
    let o = r3.ok();
    assert_eq!(o["app_id"], app_id.as_str());
    assert!(o["pull_verified_at"].is_string());
    assert!(
        o.get("client_secret").is_none(),
        "a secret from a file is not written out"
    );
    let r4 = step(
        &sim,
        "aks-sp-update",
        &[
            "--cluster",
            &sim.var("CLUSTER_ID"),
            "--cluster-tenant",
            &a,
            "--app-id",
            &app_id,
            "--client-secret-file",
            sf,
            "--force",
        ],
        "",
    );
    assert_eq!(r4.ok()["cluster_provisioning_state"], "Succeeded");
    assert_eq!(pulled(&sim)["pulled"], true);
}

// ---- the examples, each run against the simulator ----

#[test]
fn example_makefile_runs_each_step_and_make_grant_reruns_only_step_three() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let vars = [
        format!("STATE={}", state.display()),
        format!("CLUSTER_TENANT={}", sim.var("CLUSTER_TENANT_ID")),
        format!("REGISTRY_TENANT={}", sim.var("REGISTRY_TENANT_ID")),
        format!("REGISTRY={}", sim.var("REGISTRY_ID")),
        format!("CLUSTER={}", sim.var("CLUSTER_ID")),
        format!("IMAGE={}", sim.var("REGISTRY_IMAGE")),
        "CONSENT=--create".to_owned(),
    ];
    let make = |target: &str| {
        let mut args: Vec<&str> = vec!["-s", "-f", "examples/Makefile"];
        args.extend(vars.iter().map(String::as_str));
        args.push(target);
        // make's stdin an empty pipe, as some CI runners give: the recipes do not read it.
        run_on_empty_pipe(sim.shell("make"), &args)
    };
    let all = make("all");
    assert_eq!(all.code, 0, "{}\n{}", all.stdout, all.stderr);
    assert_eq!(pulled(&sim)["pulled"], true);
    for f in [
        "1-app.json",
        "2-consent.json",
        "3-grant.json",
        "4-cluster.json",
    ] {
        assert!(state.join(f).is_file(), "{f}");
    }
    let secret = std::fs::read_to_string(state.join("secret")).unwrap();
    assert!(
        !std::fs::read_to_string(state.join("4-cluster.json"))
            .unwrap()
            .contains(secret.trim())
    );

    sim.sim().clear_requests();
    let grant = make("grant");
    assert_eq!(grant.code, 0, "{}", grant.stderr);
    let tools: std::collections::BTreeSet<&str> = grant
        .stderr
        .lines()
        .filter_map(|l| l.split(':').next())
        .filter(|t| t.contains('-'))
        .collect();
    assert_eq!(
        tools.into_iter().collect::<Vec<_>>(),
        vec!["acr-grant"],
        "{}",
        grant.stderr
    );
    assert!(
        sim.writes().is_empty(),
        "rerunning step 3 wrote: {:?}",
        sim.writes()
    );

    // And step 1 rerun keeps the secret it saved (no second secret).
    let app = make("app");
    assert_eq!(app.code, 0, "{}", app.stderr);
    assert!(sim.writes().is_empty(), "{:?}", sim.writes());
}

#[test]
fn example_rotation_replaces_the_secret_in_the_safe_order() {
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    // The procedure, then the rotation, on Azure's clock moved on five minutes every 50 ms:
    // the test is about the rotation's order and outcome, not how long Azure takes.
    later(&sim, || {
        four_files(&sim, dir.path());
    });
    let env_file = dir.path().join("4.json");
    let old: Value =
        serde_json::from_str(std::fs::read_to_string(&env_file).unwrap().trim()).unwrap();
    let r = later(&sim, || {
        run_cmd(
            sim.shell("bash"),
            &[
                "examples/rotate.sh",
                "--cluster",
                &sim.var("CLUSTER_ID"),
                "--registry",
                &sim.var("REGISTRY_NAME"),
                "--image",
                &sim.var("REGISTRY_IMAGE"),
                env_file.to_str().unwrap(),
            ],
            "",
        )
    });
    assert_eq!(r.code, 0, "{}", r.stderr);
    let new: Value =
        serde_json::from_str(std::fs::read_to_string(&env_file).unwrap().trim()).unwrap();
    assert_ne!(new["client_secret_key_id"], old["client_secret_key_id"]);
    assert_eq!(new["app_id"], old["app_id"]);
    let app = sim.state()["applications"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["app_id"] == old["app_id"])
        .cloned()
        .unwrap();
    let keys: Vec<&Value> = app["password_credentials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["key_id"])
        .collect();
    assert_eq!(
        keys,
        vec![&new["client_secret_key_id"]],
        "only the new secret is left"
    );
    assert_eq!(
        pulled(&sim)["pulled"],
        true,
        "the cluster pulls with the new secret"
    );
    let order: Vec<usize> = ["1/5", "2/5", "3/5", "4/5", "5/5"]
        .iter()
        .map(|s| r.stderr.find(s).unwrap())
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn example_fleet_grants_many_registries_and_resets_many_clusters() {
    let base = TestSim::start();
    let mut state = base.state();
    let reg0 = base.var("REGISTRY_ID");
    let cl0 = base.var("CLUSTER_ID");
    let reg_prefix = reg0.rsplit_once('/').unwrap().0.to_owned();
    let cl_prefix = cl0.rsplit_once('/').unwrap().0.to_owned();
    let registries: Vec<String> = std::iter::once(reg0.clone())
        .chain((1..4).map(|i| format!("{reg_prefix}/fleetacr{i}")))
        .collect();
    for id in &registries[1..] {
        state["registries"].as_array_mut().unwrap().push(json!({"id": id, "role_assignment_mode": "LegacyRegistryPermissions", "images": {"samples/hello": ["1.0"]}}));
    }
    let clusters: Vec<String> = std::iter::once(cl0.clone())
        .chain((1..3).map(|i| format!("{cl_prefix}/aks-fleet{i}")))
        .collect();
    for id in &clusters[1..] {
        add_cluster(&mut state, id);
    }
    drop(base);
    let sim = TestSim::start_with(|c| c.scenario = Some(state));
    let dir = tempfile::tempdir().unwrap();
    fleet_lists(dir.path(), &registries, &clusters);
    let state_dir = dir.path().join("state");
    // On Azure's clock moved on five minutes every 50 ms: the test is about what the fleet
    // does and that a rerun does nothing, not how long each reset takes.
    let fleet = || later(&sim, || fleet_sh(&sim, dir.path(), &state_dir, &[], "4"));
    let r = fleet();
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let objs = r.objects();
    assert_eq!(objs.len(), registries.len() + clusters.len());
    for c in &clusters {
        let name = c.rsplit('/').next().unwrap();
        let v = sim.sim().pull(name, &sim.var("REGISTRY_IMAGE"));
        assert_eq!(v["pulled"], true, "{name}: {v}");
    }
    // The envelopes are kept: a rerun reuses the app and its secret and resets nothing.
    for f in ["app.json", "registries.ndjson", "clusters.ndjson"] {
        assert!(state_dir.join(f).is_file(), "{f}");
    }
    sim.sim().clear_requests();
    let again = fleet();
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(again.objects().len(), objs.len());
    assert!(
        sim.writes().is_empty(),
        "the rerun wrote (a new secret, a grant or a reset): {:?}",
        sim.writes()
    );
}

#[test]
fn two_teams_hand_over_files_and_the_secret_stays_in_its_file() {
    // The README's two-identity flow: tenant A's steps, then B's, then A's again.
    let sim = sim();
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("app.secret");
    let sf = secret.to_str().unwrap();
    let r1 = step(
        &sim,
        "entra-app-create",
        &[
            "--cluster-tenant",
            &sim.var("CLUSTER_TENANT_ID"),
            "--secret-file",
            sf,
            "--no-secret-output",
        ],
        "",
    );
    let b = sim.var("REGISTRY_TENANT_ID");
    let r2 = step(
        &sim,
        "consent-link",
        &["--registry-tenant", &b, "--create"],
        &r1.stdout,
    );
    let r3 = step(
        &sim,
        "acr-grant",
        &["--registry", &sim.var("REGISTRY_NAME")],
        &r2.stdout,
    );
    let handed = r3.ok();
    assert!(
        handed.get("client_secret").is_none() && handed["registry_login_server"].is_string(),
        "{handed}"
    );
    let r4 = step(
        &sim,
        "aks-sp-update",
        &[
            "--cluster",
            &sim.var("CLUSTER_ID"),
            "--client-secret-file",
            sf,
        ],
        &r3.stdout,
    );
    let out = r4.ok();
    assert!(
        out["pull_verified_at"].is_string(),
        "step 4 checked the pull itself: {out}"
    );
    assert!(out.get("client_secret").is_none());
    let text = std::fs::read_to_string(&secret).unwrap();
    for r in [&r1, &r2, &r3, &r4] {
        assert!(!r.stdout.contains(text.trim()) && !r.stderr.contains(text.trim()));
    }
    assert_eq!(pulled(&sim)["pulled"], true);
}

#[test]
fn every_tool_generates_its_man_page_and_completions() {
    // What `make install` installs, generated from the flag definitions.
    for tool in [
        "entra-app-create",
        "consent-link",
        "acr-grant",
        "aks-sp-update",
    ] {
        for (what, marker) in [
            ("man", ".TH"),
            ("bash", "complete"),
            ("zsh", "#compdef"),
            ("fish", "complete -c"),
        ] {
            let r = run_cmd(
                Command::new(xtenant_tests::bin_path(tool)),
                &["--generate", what],
                "",
            );
            assert_eq!(r.code, 0, "{tool} --generate {what}: {}", r.stderr);
            assert!(
                r.stdout.contains(marker) && r.stdout.contains(tool),
                "{tool} --generate {what}"
            );
        }
        let help = run_cmd(Command::new(xtenant_tests::bin_path(tool)), &["--help"], "");
        assert!(
            help.stdout.contains("Exit codes:") && help.stdout.contains("no usable credential"),
            "{tool} --help"
        );
    }
}
