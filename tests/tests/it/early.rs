//! Work started before the object arrives (issue 17): tokens and lookups from the flags are
//! sent while a tool waits for its object, never a write; a failure of that work lands on
//! the object that needed it; a pull check recorded by step 3 stands for step 4's only while
//! fresh and of the same app, secret and image.

use std::io::Write as _;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use xtenant_tests::steps::{Step, run_steps};
use xtenant_tests::{TestSim, overlap, span};

/// Waits (bounded, no timing asserted) until the log holds requests matching every one of `wanted`.
fn wait_for_log(sim: &TestSim, wanted: &[&dyn Fn(&Value) -> bool], what: &str) {
    let started = Instant::now();
    loop {
        let log = sim.azure_requests();
        if wanted.iter().all(|w| log.iter().any(w)) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{what}: the early requests never came: {log:#?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn is(method: &'static str, path_has: &'static str) -> impl Fn(&Value) -> bool {
    move |r: &Value| {
        r["method"] == method
            && r["path"]
                .as_str()
                .unwrap_or("")
                .to_ascii_lowercase()
                .contains(&path_has.to_ascii_lowercase())
    }
}

/// Starts `bin args` with stdin open and nothing written; once the early reads `wanted` are
/// in the log, checks that nothing was written, then writes `input` and returns the output.
fn early_then_object(
    sim: &TestSim,
    bin: &str,
    args: &[String],
    wanted: &[&dyn Fn(&Value) -> bool],
    input: &str,
) -> (i32, String, String) {
    let (code, out, err, _) =
        early_then_late_object(sim, bin, args, &[], wanted, input, Duration::ZERO);
    (code, out, err)
}

/// [`early_then_object`] with `env` added to the tool's environment, the object written
/// `late` after the early reads; also returns the requests sent before the object was.
fn early_then_late_object(
    sim: &TestSim,
    bin: &str,
    args: &[String],
    env: &[(&str, &str)],
    wanted: &[&dyn Fn(&Value) -> bool],
    input: &str,
    late: Duration,
) -> (i32, String, String, Vec<Value>) {
    sim.sim().clear_requests();
    let mut c = sim.cmd(bin);
    c.args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn");
    wait_for_log(sim, wanted, bin);
    assert!(
        sim.writes().is_empty(),
        "{bin} wrote before its object arrived: {:#?}",
        sim.writes()
    );
    std::thread::sleep(late);
    let before = sim.azure_requests();
    {
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(input.as_bytes()).expect("write the object");
    }
    let out = child.wait_with_output().expect("wait");
    assert!(
        sim.azure_requests().len() > before.len(),
        "{bin} acted on the object"
    );
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        before,
    )
}

#[test]
fn early_work_sends_no_write_before_its_object_arrives_and_is_used_when_it_does() {
    let sim = TestSim::start();
    let b = sim.var("REGISTRY_TENANT_ID");
    let consented = run_steps(&sim, &[Step::App, Step::Consent], "");

    // Step 3: the registry and its built-in pull role are looked up from the flags.
    let mut grant = vec!["--registry-tenant".to_owned(), b];
    grant.extend(Step::Grant.args(&sim));
    let (code, granted, err) = early_then_object(
        &sim,
        "acr-grant",
        &grant,
        &[
            &is("GET", "/providers/Microsoft.ContainerRegistry/registries/"),
            &is("GET", "/roleDefinitions"),
        ],
        &consented,
    );
    assert_eq!(code, 0, "{err}");
    let log = sim.azure_requests();
    let registry = sim.var("REGISTRY_ID").to_ascii_lowercase();
    let registry_reads = log
        .iter()
        .filter(|r| {
            r["method"] == "GET"
                && r["path"].as_str().unwrap_or("").to_ascii_lowercase() == registry
        })
        .count();
    assert_eq!(
        registry_reads, 1,
        "the early answer was used, not asked again"
    );

    let out: Value = serde_json::from_str(granted.trim()).expect("one object");
    assert!(out["pull_proof"].is_string(), "{granted}");
}

#[test]
fn the_inputs_principal_has_its_assignment_read_beside_graphs_lookup() {
    let sim = TestSim::start();
    let b = sim.var("REGISTRY_TENANT_ID");
    let consented = run_steps(&sim, &[Step::App, Step::Consent], "");
    // 200 ms per answer of the two reads compared: sent one after the other, they could not
    // overlap.
    for path in ["/roleAssignments/", "/servicePrincipals(appId="] {
        sim.sim()
            .add_fault(
                serde_json::json!({"method": "GET", "path": path, "delay_ms": 200, "count": 0}),
            )
            .unwrap();
    }
    let mut grant = vec!["--registry-tenant".to_owned(), b.clone()];
    grant.extend(Step::Grant.args(&sim));
    let early: [&dyn Fn(&Value) -> bool; 2] = [
        &is("GET", "/providers/Microsoft.ContainerRegistry/registries/"),
        &is("GET", "/roleDefinitions"),
    ];
    let named = |method: &'static str| {
        let log = sim.azure_requests();
        log.into_iter()
            .filter(is(method, "/roleAssignments/"))
            .collect::<Vec<_>>()
    };

    let (code, granted, err) = early_then_object(&sim, "acr-grant", &grant, &early, &consented);
    assert_eq!(code, 0, "{err}");
    let (gets, puts) = (named("GET"), named("PUT"));
    assert_eq!((gets.len(), puts.len()), (1, 1), "one GET, one PUT");
    let sp_reads: Vec<Value> = sim
        .azure_requests()
        .into_iter()
        .filter(|r| {
            is("GET", "/servicePrincipals(appId=")(r) && r["caller_tenant_id"] == b.as_str()
        })
        .collect();
    assert_eq!(sp_reads.len(), 1);
    for r in [&gets[0], &sp_reads[0]] {
        assert!(
            r["duration_ms"].as_f64() >= Some(200.0),
            "not held 200 ms: {r}"
        );
    }
    assert!(
        overlap(&gets[0], &sp_reads[0]),
        "the assignment was read after Graph answered: {:?} then {:?}",
        span(&sp_reads[0]),
        span(&gets[0])
    );

    // A rerun: the same read, nothing written.
    let (code, _, err) = early_then_object(&sim, "acr-grant", &grant, &early, &granted);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        (named("GET").len(), named("PUT").len()),
        (1, 0),
        "one GET, no PUT"
    );
}

/// The id `var` names with its last segment replaced by `name`: a resource that does not exist.
fn missing(sim: &TestSim, var: &str, name: &str) -> String {
    sim.var(var)
        .rsplit_once('/')
        .map(|(head, _)| format!("{head}/{name}"))
        .expect("an id")
}

/// Runs `bin args` on an object an earlier step failed, then `input`, whose early work
/// fails: the first passes through, the second carries the failure; nothing is written.
/// Returns the failed object.
fn early_failure(sim: &TestSim, bin: &str, args: &[&str], input: &str) -> Value {
    let passed =
        r#"{"app_id":"x","error":{"step":"earlier","code":"SomethingFailed","message":"m"}}"#;
    sim.sim().clear_requests();
    let r = sim.run(bin, args, &format!("{passed}\n{input}"));
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", r.stdout);
    assert!(
        lines[0].starts_with(passed.strip_suffix('}').unwrap()),
        "an object that needed nothing passes through as it came (plus the flags): {}",
        lines[0]
    );
    assert!(sim.writes().is_empty(), "{:#?}", sim.writes());
    let failed: Value = serde_json::from_str(lines[1]).expect("json");
    assert_eq!(failed["error"]["step"], bin, "{}", lines[1]);
    failed
}

#[test]
fn an_early_failure_lands_on_the_object_that_needed_it() {
    let sim = TestSim::start();
    let consented = run_steps(&sim, &[Step::App, Step::Consent], "");
    let registry = missing(&sim, "REGISTRY_ID", "nosuchregistry");
    let tenant = sim.var("REGISTRY_TENANT_ID");
    let failed = early_failure(
        &sim,
        "acr-grant",
        &["--registry-tenant", &tenant, "--registry", &registry],
        &consented,
    );
    assert_eq!(failed["error"]["code"], "RegistryNotFound", "{failed}");
}

/// The GETs in `log` whose path `path` accepts.
fn gets(log: &[Value], path: impl Fn(&str) -> bool) -> usize {
    log.iter()
        .filter(|r| r["method"] == "GET" && r["path"].as_str().is_some_and(&path))
        .count()
}

/// Step 4 (`--cluster-tenant`, `--cluster`): the cluster and the old service principal's
/// roles are read while it waits for its object, nothing is written, and the early answers
/// are what the object uses (the cluster is read once before the reset, not twice).
#[test]
fn step_4_reads_the_cluster_and_the_old_roles_before_its_object() {
    let sim = TestSim::start();
    let granted = run_steps(&sim, &Step::FIRST_THREE, "");
    let cluster = sim.var("CLUSTER_ID");
    let (code, out, err) = early_then_object(
        &sim,
        "aks-sp-update",
        &cluster_args(&sim),
        &[
            &is(
                "GET",
                "/providers/Microsoft.ContainerService/managedClusters/",
            ),
            &is("GET", "/providers/Microsoft.Authorization/roleAssignments"),
        ],
        &granted,
    );
    assert_eq!(code, 0, "{err}");
    let out: Value = serde_json::from_str(out.trim()).expect("one object");
    assert_eq!(out["cluster_provisioning_state"], "Succeeded", "{out}");
    let log = sim.azure_requests();
    assert_eq!(
        gets(&log, |p| p.eq_ignore_ascii_case(&cluster)),
        2,
        "the early read stood for the first one (the other confirms the reset): {log:#?}"
    );
    assert_eq!(
        gets(&log, |p| p.ends_with("/roleAssignments")),
        2,
        "the old and the new principal's, once each: {log:#?}"
    );
}

/// The flags naming step 4's cluster, in tenant A.
fn cluster_args(sim: &TestSim) -> Vec<String> {
    vec![
        "--cluster-tenant".to_owned(),
        sim.var("CLUSTER_TENANT_ID"),
        "--cluster".to_owned(),
        sim.var("CLUSTER_ID"),
    ]
}

/// An object that comes later than the early-read window after the early read of its
/// cluster (step 2 waited for a consent, say) reads the cluster afresh: its state and tags
/// decide the step. The window is 30 s by default; `XTENANT_EARLY_READ_MAX_AGE` shortens
/// it, here to 300 ms, so the object comes 800 ms late (the margin absorbs a loaded machine
/// between the simulator's answer and the tool's reading of it).
#[test]
fn step_4_reads_the_cluster_again_for_an_object_that_came_late() {
    let sim = TestSim::start();
    let granted = run_steps(&sim, &Step::FIRST_THREE, "");
    let cluster = sim.var("CLUSTER_ID");
    let (code, _, err, before) = early_then_late_object(
        &sim,
        "aks-sp-update",
        &cluster_args(&sim),
        &[("XTENANT_EARLY_READ_MAX_AGE", "300ms")],
        &[&is(
            "GET",
            "/providers/Microsoft.ContainerService/managedClusters/",
        )],
        &granted,
        Duration::from_millis(800),
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(gets(&before, |p| p.eq_ignore_ascii_case(&cluster)), 1);
    assert_eq!(
        gets(&sim.azure_requests(), |p| p.eq_ignore_ascii_case(&cluster)),
        3,
        "early, afresh for the late object, and after the reset"
    );
}

/// `XTENANT_EARLY_READ_MAX_AGE=0`: nothing is read early for an object (only the tokens),
/// and the object reads its cluster itself, once before the reset and once after.
#[test]
fn step_4_with_an_early_read_window_of_0_reads_the_cluster_only_for_its_object() {
    let sim = TestSim::start();
    let granted = run_steps(&sim, &Step::FIRST_THREE, "");
    let cluster = sim.var("CLUSTER_ID");
    let tenant = sim.var("CLUSTER_TENANT_ID");
    let token_a = move |r: &Value| {
        r["method"] == "POST"
            && r["path"]
                .as_str()
                .is_some_and(|p| p.contains(&tenant) && p.contains("/oauth2/"))
    };
    // The tokens are signed in early; then the time a cluster read made beside them would
    // take to show, before the object is written.
    let (code, _, err, before) = early_then_late_object(
        &sim,
        "aks-sp-update",
        &cluster_args(&sim),
        &[("XTENANT_EARLY_READ_MAX_AGE", "0")],
        &[&token_a],
        &granted,
        Duration::from_millis(300),
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        before.iter().all(|r| r["method"] != "GET"),
        "nothing read before the object came: {before:#?}"
    );
    assert_eq!(
        gets(&sim.azure_requests(), |p| p.eq_ignore_ascii_case(&cluster)),
        2,
        "the object's own read, and after the reset"
    );
}

/// A bad `XTENANT_EARLY_READ_MAX_AGE` (longer than 30 s, or no duration) is a usage error
/// naming the variable and the limit: exit 2, nothing on stdout, no request sent.
#[test]
fn step_4_refuses_a_bad_early_read_window_before_any_request() {
    let sim = TestSim::start();
    let granted = run_steps(&sim, &Step::FIRST_THREE, "");
    let args = cluster_args(&sim);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    for (value, says) in [("45s", "at most 30s"), ("soon", "a duration from 0 to 30s")] {
        sim.sim().clear_requests();
        let mut c = sim.cmd("aks-sp-update");
        c.env("XTENANT_EARLY_READ_MAX_AGE", value);
        let r = xtenant_tests::run_cmd(c, &args, &granted);
        assert_eq!(r.code, 2, "{value}: {}", r.stderr);
        assert!(r.stdout.is_empty(), "{value}: {}", r.stdout);
        for part in ["XTENANT_EARLY_READ_MAX_AGE", says] {
            assert!(r.stderr.contains(part), "{value}: {part}: {}", r.stderr);
        }
        assert!(
            sim.azure_requests().is_empty(),
            "{value}: {:#?}",
            sim.azure_requests()
        );
        // Every mode checks it, --status too (the README says so).
        let mut c = sim.cmd("aks-sp-update");
        c.env("XTENANT_EARLY_READ_MAX_AGE", value);
        let r = xtenant_tests::run_cmd(c, &[&args[..], &["--status"]].concat(), "");
        assert_eq!(r.code, 2, "--status, {value}: {}", r.stderr);
        assert!(
            r.stderr.contains("XTENANT_EARLY_READ_MAX_AGE"),
            "{}",
            r.stderr
        );
        assert!(sim.azure_requests().is_empty(), "--status, {value}");
    }
}

/// An early read that fails (the flag names no cluster) is the error of the object that
/// needed it; an object that needed nothing passes untouched; nothing is written.
#[test]
fn step_4s_early_failure_lands_on_its_object() {
    let sim = TestSim::start();
    let granted = run_steps(&sim, &Step::FIRST_THREE, "");
    let cluster = missing(&sim, "CLUSTER_ID", "nosuchcluster");
    let tenant = sim.var("CLUSTER_TENANT_ID");
    let failed = early_failure(
        &sim,
        "aks-sp-update",
        &["--cluster-tenant", &tenant, "--cluster", &cluster],
        &granted,
    );
    assert!(
        failed["error"]["hint"]
            .as_str()
            .is_some_and(|h| h.contains("check the cluster id")),
        "{failed}"
    );
}

/// Requests step 4 sent to the registry (its pull check: the token, the manifest).
fn registry_requests(sim: &TestSim) -> usize {
    sim.azure_requests()
        .iter()
        .filter(|r| {
            r["path"]
                .as_str()
                .is_some_and(|p| p.starts_with("/v2/") || p.starts_with("/oauth2/"))
        })
        .count()
}

/// Step 3's recorded check (`pull_proof`) stands for step 4's only when fresh and of the
/// same app, secret and image: a fresh one saves the registry's two requests; an older one,
/// one for another image, or a proof that does not match, and step 4 checks the pull itself.
#[test]
fn a_fresh_proof_stands_for_step_4s_pull_check_and_a_stale_or_different_one_does_not() {
    use common::registry::proof;
    use common::secret::Secret;

    let sim = TestSim::start();
    let granted = run_steps(&sim, &Step::FIRST_THREE, "");
    let reset = Step::Reset.args(&sim);
    let reset: Vec<&str> = reset.iter().map(String::as_str).collect();
    sim.sim().clear_requests();
    let r = sim.run("aks-sp-update", &reset, &granted);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        registry_requests(&sim),
        0,
        "the fresh proof stood: {}",
        r.stderr
    );
    let done = r.object();
    assert_eq!(
        done["pull_verified_at"],
        serde_json::from_str::<Value>(&granted).unwrap()["pull_verified_at"]
    );

    // The rerun on step 4's output (the cluster holds the app's secret) checks the pull
    // again when the object names a registry: the same rule.
    let with = |edit: &dyn Fn(&mut serde_json::Map<String, Value>)| {
        let mut v: Value = serde_json::from_str(&granted).unwrap();
        edit(v.as_object_mut().unwrap());
        v.to_string()
    };
    let secret = Secret::new(
        serde_json::from_str::<Value>(&granted).unwrap()["client_secret"]
            .as_str()
            .unwrap(),
    );
    let app = serde_json::from_str::<Value>(&granted).unwrap()["app_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let image = sim.var("REGISTRY_IMAGE");
    let old = (time::OffsetDateTime::now_utc() - time::Duration::minutes(10))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let other_image = image.replace(":1.0", ":latest");
    let cases: Vec<(&str, String, bool)> = vec![
        ("the same, fresh", granted.clone(), false),
        (
            "a true proof, ten minutes old",
            with(&|o| {
                o.insert("pull_verified_at".into(), old.clone().into());
                o.insert(
                    "pull_proof".into(),
                    proof::make(&secret, &app, &image, &old).into(),
                );
            }),
            true,
        ),
        (
            "another image",
            with(&|o| {
                o.insert("registry_image".into(), other_image.clone().into());
            }),
            true,
        ),
        (
            "a proof that does not match",
            with(&|o| {
                let p = o["pull_proof"].as_str().unwrap();
                let flipped = if p.starts_with('0') { "1" } else { "0" };
                o.insert("pull_proof".into(), format!("{flipped}{}", &p[1..]).into());
            }),
            true,
        ),
        (
            "no proof",
            with(&|o| {
                o.remove("pull_proof");
            }),
            true,
        ),
    ];
    for (what, input, checks) in cases {
        sim.sim().clear_requests();
        let r = sim.run("aks-sp-update", &reset, &input);
        assert_eq!(r.code, 0, "{what}: {}", r.stderr);
        assert_eq!(
            registry_requests(&sim) > 0,
            checks,
            "{what}: the pull check {} sent: {}",
            if checks { "was not" } else { "was" },
            r.stderr
        );
        assert!(sim.writes().is_empty(), "{what}: a rerun writes nothing");
    }
}
