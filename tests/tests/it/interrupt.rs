//! Interrupts lose nothing (DESIGN.md, envelope point 5).
//!
//! Each tool gets SIGINT or SIGTERM at each of its waits and between requests (an answer
//! held by the simulator), and a whole pipeline's process group gets SIGINT. The objects
//! written must carry everything the run made (ids, a minted secret, the consent link, the
//! reset's operation URL) and `error.code` `Interrupted`, the exit code must be 130 or
//! 143, and rerunning the same commands on them must complete the procedure: one app, one
//! secret per successful mint, one reset posted, and the cluster pulling (the simulator's
//! truth endpoint).

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use xtenant_tests::clock::{azure, fast_forward};
use xtenant_tests::snapshot::{Setup, Setups};
use xtenant_tests::steps::{Census, Step, census, cluster_pulls, par_map, run_steps};
use xtenant_tests::{Run, SimConfig, TestSim, person, run_cmd, spawn_with_input};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sig {
    Int,
    Term,
}

impl Sig {
    fn flag(self) -> &'static str {
        match self {
            Sig::Int => "-INT",
            Sig::Term => "-TERM",
        }
    }

    fn code(self) -> i32 {
        match self {
            Sig::Int => 130,
            Sig::Term => 143,
        }
    }
}

/// Sends `sig` to a process (`pid`), or to a process group (`-pgid`).
fn kill(target: &str, sig: Sig) {
    let ok = Command::new("kill")
        .args([sig.flag(), "--", target])
        .status()
        .expect("run kill")
        .success();
    assert!(ok, "kill {} {target}", sig.flag());
}

/// Waits until the simulator's request log satisfies `ready`; panics if `child` ends first.
fn wait_for(sim: &TestSim, child: &mut Child, what: &str, ready: &dyn Fn(&[Value]) -> bool) {
    let started = Instant::now();
    loop {
        if ready(&sim.requests()) {
            return;
        }
        if let Some(status) = child.try_wait().expect("try_wait") {
            let out = child.stderr.take().map(|mut e| {
                let mut s = String::new();
                let _ = std::io::Read::read_to_string(&mut e, &mut s);
                s
            });
            panic!("the tool ended ({status}) before {what}: {out:?}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "never reached: {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn collect(child: Child) -> Run {
    child.wait_with_output().expect("wait").into()
}

fn args_of(sim: &TestSim, step: Step, wait_for_consent: bool) -> Vec<String> {
    if step == Step::Consent && wait_for_consent {
        return vec![
            "--registry-tenant".into(),
            sim.var("REGISTRY_TENANT_ID"),
            "--wait".into(),
        ];
    }
    step.args(sim)
}

fn logged(reqs: &[Value], method: &str, path: &str, status: Option<u64>) -> usize {
    reqs.iter()
        .filter(|r| {
            (method == "*" || r["method"] == method)
                && r["path"].as_str().unwrap_or("").contains(path)
                && status.is_none_or(|s| r["status"].as_u64() == Some(s))
        })
        .count()
}

/// Where a case interrupts, what it holds, and what the interrupted object must carry.
struct Case {
    name: &'static str,
    step: Step,
    sig: Sig,
    replication: Duration,
    lro: Duration,
    /// consent-link --wait instead of --create.
    wait_for_consent: bool,
    /// A fault rule holding an answer.
    hold: Option<Value>,
    /// When to send the signal.
    ready: fn(&[Value]) -> bool,
    /// Send it once the hold is applied instead.
    ready_on_hold: bool,
    /// Fields the interrupted object carries (beyond those of the input).
    carries: &'static [&'static str],
    /// Fields it must not carry.
    lacks: &'static [&'static str],
    /// Whether the message says a write's outcome is unknown.
    unknown: bool,
    /// The secrets the app ends with (one per successful mint).
    passwords: usize,
}

impl Case {
    fn new(name: &'static str, step: Step, ready: fn(&[Value]) -> bool) -> Self {
        Self {
            name,
            step,
            sig: Sig::Int,
            replication: Duration::ZERO,
            lro: Duration::from_millis(300),
            wait_for_consent: false,
            hold: None,
            ready,
            ready_on_hold: false,
            carries: &[],
            lacks: &[],
            unknown: false,
            passwords: 1,
        }
    }
}

fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    for sig in [Sig::Int, Sig::Term] {
        v.push(Case {
            sig,
            replication: Duration::from_secs(3),
            carries: &["app_id", "app_object_id", "app_unique_name"],
            lacks: &["client_secret", "cluster_sp_object_id"],
            ..Case::new(
                "entra-app-create waiting for NoBackingApplicationObject",
                Step::App,
                |r| {
                    logged(r, "POST", "servicePrincipals", Some(400))
                        + logged(r, "PATCH", "servicePrincipals", Some(400))
                        >= 1
                },
            )
        });
        v.push(Case {
            sig,
            wait_for_consent: true,
            carries: &["consent_url"],
            lacks: &["registry_sp_object_id"],
            ..Case::new("consent-link --wait", Step::Consent, |r| {
                logged(r, "GET", "/servicePrincipals(", Some(404)) >= 2
            })
        });
        v.push(Case {
            sig,
            // ARM does not know the new principal yet (principalType avoids most of it in
            // the simulator, so it is injected, as Azure answers it).
            hold: Some(json!({"method": "PUT", "path": "/roleAssignments/", "status": 400,
                "code": "PrincipalNotFound", "message": "Principal does not exist in the directory.", "count": 0})),
            lacks: &["role_assignment_id"],
            ..Case::new(
                "acr-grant waiting for PrincipalNotFound",
                Step::Grant,
                |r| logged(r, "PUT", "/roleAssignments/", Some(400)) >= 1,
            )
        });
        v.push(Case {
            sig,
            replication: Duration::from_secs(3),
            carries: &[
                "role_assignment_id",
                "registry_id",
                "registry_sp_object_id",
                "role_name",
            ],
            lacks: &["pull_verified_at"],
            ..Case::new(
                "acr-grant waiting for the role to reach the registry",
                Step::Grant,
                |r| {
                    logged(r, "PUT", "/roleAssignments/", Some(201)) >= 1
                        && logged(r, "*", "/oauth2/token", None) >= 1
                },
            )
        });
        v.push(Case {
            sig,
            lro: Duration::from_secs(3),
            carries: &["cluster_operation_url"],
            lacks: &["cluster_provisioning_state"],
            ..Case::new("aks-sp-update following the reset", Step::Reset, |r| {
                logged(r, "GET", "/operations/", None) >= 1
            })
        });
    }
    v.extend(between_requests());
    v
}

/// Between requests: an answer the simulator holds.
fn between_requests() -> Vec<Case> {
    let mut v = Vec::new();
    v.push(Case {
        hold: Some(json!({"method": "GET", "path": "/managedClusters/", "delay_ms": 60_000})),
        ready_on_hold: true,
        ..Case::new("aks-sp-update during a read", Step::Reset, |r| {
            logged(r, "GET", "/managedClusters/", None) >= 1
        })
    });
    v.push(Case {
        sig: Sig::Term,
        hold: Some(
            json!({"method": "GET", "path": "/managedClusters/", "status": 503,
            "headers": {"Retry-After": "30"}, "count": 0}),
        ),
        ..Case::new("aks-sp-update pausing before a retry", Step::Reset, |r| {
            logged(r, "GET", "/managedClusters/", Some(503)) >= 1
        })
    });
    v.push(Case {
        sig: Sig::Term,
        hold: Some(
            json!({"method": "POST", "path": "/resetServicePrincipalProfile", "delay_after_ms": 1500}),
        ),
        lro: Duration::from_secs(3),
        carries: &["cluster_operation_url"],
        ..Case::new(
            "aks-sp-update's reset answered within the grace",
            Step::Reset,
            |r| logged(r, "POST", "/resetServicePrincipalProfile", None) >= 1,
        )
    });
    v.push(Case {
        hold: Some(
            json!({"method": "POST", "path": "/resetServicePrincipalProfile", "delay_after_ms": 60_000}),
        ),
        lro: Duration::from_secs(1),
        lacks: &["cluster_operation_url"],
        unknown: true,
        ..Case::new(
            "aks-sp-update's reset unanswered past the grace",
            Step::Reset,
            |r| logged(r, "POST", "/resetServicePrincipalProfile", None) >= 1,
        )
    });
    v.push(Case {
        hold: Some(json!({"method": "POST", "path": "/addPassword", "delay_after_ms": 60_000})),
        carries: &["app_id", "app_object_id"],
        lacks: &["client_secret", "client_secret_key_id"],
        unknown: true,
        // The lost secret was minted: the rerun mints another.
        passwords: 2,
        ..Case::new(
            "entra-app-create's addPassword unanswered past the grace",
            Step::App,
            |r| logged(r, "POST", "/addPassword", None) >= 1,
        )
    });
    v
}

/// What makes a case's setup differ from another's: its step and its simulator's delays.
type SetupKey = (Step, Duration, Duration);

fn setup_key(c: &Case) -> SetupKey {
    (c.step, c.replication, c.lro)
}

/// The case's simulator and its input: what the steps before its step made, on a clock moved
/// on `ahead` meanwhile (only the interrupted run waits for the replication or the operation
/// in real time). They run once for the cases of one step and delays, each case's simulator
/// loaded with what they left; step 1's cases start from a new simulator.
fn start(c: &Case, setups: &Setups<SetupKey>, ahead: Duration) -> (TestSim, String) {
    let config = |cfg: &mut SimConfig| {
        cfg.replication_delay = cfg.azure_time(c.replication);
        cfg.role_propagation = cfg.replication_delay;
        cfg.lro_duration = Some(cfg.azure_time(c.lro));
    };
    if c.step.before().is_empty() {
        return (TestSim::start_with(config), String::new());
    }
    let setup = setups.get(&setup_key(c), || {
        Setup::make(config, |sim| {
            fast_forward(sim, ahead, || run_steps(sim, c.step.before(), ""))
        })
    });
    setup.start(config)
}

/// Runs one case; returns a description of what failed, if anything.
fn run_case(c: &Case, setups: &Setups<SetupKey>) -> Result<(), String> {
    // The steps before, and after the rerun, on a clock moved on.
    let ahead = azure(c.replication.max(c.lro)) / 2;
    let (sim, input) = start(c, setups, ahead);
    let args = args_of(&sim, c.step, c.wait_for_consent);
    if let Some(rule) = &c.hold {
        let mut rule = rule.clone();
        if rule.get("count").is_none() {
            rule["count"] = json!(1);
        }
        sim.sim().add_fault(rule).expect("add the hold");
    }
    let mut cmd = sim.cmd(c.step.bin());
    cmd.args(&args);
    if c.unknown {
        // A write unanswered past the grace: the grace shortened to what a supervisor that
        // kills a second after its SIGTERM leaves (the default 5 s is the cases' within it).
        cmd.env("XTENANT_WRITE_GRACE", GRACE);
    }
    let mut child = spawn_with_input(&mut cmd, &input);
    if c.ready_on_hold {
        // A held read is logged once answered: wait for the hold itself.
        let started = Instant::now();
        while sim.sim().faults()[0]["applied"].as_u64() != Some(1) {
            assert!(started.elapsed() < Duration::from_secs(60), "{}", c.name);
            std::thread::sleep(Duration::from_millis(5));
        }
    } else {
        wait_for(&sim, &mut child, c.name, &c.ready);
    }
    let signalled = Instant::now();
    kill(&child.id().to_string(), c.sig);
    let run = collect(child);
    let took = signalled.elapsed();
    sim.sim().clear_faults();
    let ctx = format!("{} ({:?}):\n{}\n{}", c.name, c.sig, run.stderr, run.stdout);
    check(
        run.code == c.sig.code(),
        &format!("exit {}: {ctx}", run.code),
    )?;
    // The grace for a write already sent (1 s here, 5 s by default); nothing else waits.
    let limit = if c.unknown { 5 } else { 3 };
    check(
        took < Duration::from_secs(limit),
        &format!("took {took:?} after the signal: {ctx}"),
    )?;
    let out = run.object();
    check(
        out["error"]["step"] == c.step.bin() && out["error"]["code"] == "Interrupted",
        &format!("error: {ctx}"),
    )?;
    // Unknown past the grace given (and named): "… did not come within 1s of the SIGINT".
    let message = out["error"]["message"].as_str().unwrap_or("");
    check(
        message.contains("unknown") == c.unknown
            && message.contains(&format!("within {GRACE}")) == c.unknown,
        &format!("outcome unknown = {}: {ctx}", c.unknown),
    )?;
    for f in c.carries {
        check(out.get(*f).is_some(), &format!("lacks {f}: {ctx}"))?;
    }
    for f in c.lacks {
        check(out.get(*f).is_none(), &format!("carries {f}: {ctx}"))?;
    }
    // Everything the input had is kept (the secret of step 1 above all).
    let before: Value = input
        .lines()
        .next()
        .map_or(json!({}), |l| serde_json::from_str(l).expect("json"));
    if let Some(o) = before.as_object() {
        for (k, v) in o {
            check(out.get(k) == Some(v), &format!("changed {k}: {ctx}"))?;
        }
    }
    if let Some(s) = out["client_secret"].as_str() {
        check(!run.stderr.contains(s), "the secret is on stderr")?;
    }

    // The consent a person gives between the two runs.
    if c.wait_for_consent {
        let ca = sim.sim().sim().ca_pem_path().to_path_buf();
        let url = out["consent_url"].as_str().expect("consent_url");
        person::consent(url, &ca, "accept").map_err(|e| format!("consent: {e}"))?;
    }
    // The same command on the interrupted output completes it; then the later steps.
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (rerun, end) = fast_forward(&sim, ahead, || {
        let rerun = run_cmd(sim.cmd(c.step.bin()), &args, &run.stdout);
        let end =
            (rerun.code == 0).then(|| run_steps(&sim, &c.step.from_here()[1..], &rerun.stdout));
        (rerun, end)
    });
    check(
        rerun.code == 0,
        &format!("rerun: {}\n{}", rerun.stderr, rerun.stdout),
    )?;
    let end = end.unwrap_or_default();
    check(!end.contains("\"error\""), &format!("end: {end}"))?;
    let expected = Census {
        passwords: c.passwords,
        ..Census::after(Step::Reset)
    };
    let got = census(&sim);
    check(got == expected, &format!("{got:?} != {expected:?}: {ctx}"))?;
    check(
        sim.resets() == 1,
        &format!("{} resets posted", sim.resets()),
    )?;
    check(cluster_pulls(&sim), "the cluster does not pull")
}

/// `XTENANT_WRITE_GRACE` for the cases whose write stays unanswered past it.
const GRACE: &str = "1s";

fn check(ok: bool, what: &str) -> Result<(), String> {
    if ok { Ok(()) } else { Err(what.to_owned()) }
}

#[test]
fn each_tool_interrupted_at_each_wait_and_between_requests_loses_nothing() {
    let cases = cases();
    let setups = Setups::new(cases.iter().map(setup_key));
    let results = par_map(&cases, 3, |c| run_case(c, &setups));
    let failed: Vec<String> = cases
        .iter()
        .zip(&results)
        .filter_map(|(c, r)| {
            r.as_ref()
                .err()
                .map(|e| format!("{} ({:?}): {e}", c.name, c.sig))
        })
        .collect();
    assert!(failed.is_empty(), "{}", failed.join("\n\n"));
    println!(
        "figure: interrupt points tried (SIGINT/SIGTERM, then a rerun): {}",
        cases.len()
    );
}

/// Where entra-app-create keeps a new secret the moment it is minted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Home {
    /// `--secret-file PATH --no-secret-output`.
    File,
    /// `--secret-keyvault URL`.
    Vault,
}

/// The versions of step 1's secret in the simulator's vault.
fn vault_versions(sim: &TestSim) -> Vec<Value> {
    sim.state()["vaults"][0]["secrets"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["name"] == "xtenant-acr-pull-client-secret")
        .and_then(|s| s["versions"].as_array().cloned())
        .unwrap_or_default()
}

/// How long a new app takes to replicate in [`interrupted_beside_the_wait`] (real time): the
/// signal lands while its service principal waits for it.
const REPLICATION: Duration = Duration::from_secs(3);

/// entra-app-create with a home for the secret (`home`), interrupted while the new app's
/// service principal waits for NoBackingApplicationObject, after the secret minted beside
/// that wait was kept (or, `held`, with its addPassword unanswered past the grace too).
fn interrupted_beside_the_wait(home: Home, held: bool) -> Result<(), String> {
    let sim = TestSim::start_with(|cfg| {
        cfg.replication_delay = cfg.azure_time(REPLICATION);
        // The hold catches the first addPassword: on a fast machine Graph's write lag answered
        // that one 404 (nothing minted), and the mint this test counts was the retry's.
        cfg.lenient.insert(xtenant_tests::Leniency::GraphLag);
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("app.secret");
    let mut args = Step::App.args(&sim);
    match home {
        Home::File => args.extend([
            "--secret-file".to_owned(),
            file.display().to_string(),
            "--no-secret-output".to_owned(),
        ]),
        Home::Vault => args.extend(["--secret-keyvault".to_owned(), sim.var("KEYVAULT_URL")]),
    }
    if held {
        sim.sim()
            .add_fault(json!({"method": "POST", "path": "/addPassword", "delay_after_ms": 60_000, "count": 1}))
            .expect("add the hold");
    }
    let mut cmd = sim.cmd(Step::App.bin());
    cmd.args(&args);
    if held {
        cmd.env("XTENANT_WRITE_GRACE", GRACE);
    }
    let mut child = spawn_with_input(&mut cmd, "");
    let kept: fn(&[Value]) -> bool = if home == Home::Vault && !held {
        |r| logged(r, "PUT", "/secrets/", None) >= 1
    } else {
        |r| logged(r, "POST", "/addPassword", None) >= 1
    };
    wait_for(&sim, &mut child, "the secret beside the wait", &|r| {
        logged(r, "PATCH", "servicePrincipals", Some(400)) >= 1 && kept(r)
    });
    let signalled = Instant::now();
    kill(&child.id().to_string(), Sig::Int);
    let run = collect(child);
    let took = signalled.elapsed();
    sim.sim().clear_faults();
    let ctx = format!("{home:?}, held {held}:\n{}\n{}", run.stderr, run.stdout);
    check(run.code == 130, &format!("exit {}: {ctx}", run.code))?;
    check(
        took < Duration::from_secs(if held { 5 } else { 3 }),
        &format!("took {took:?} after the signal: {ctx}"),
    )?;
    let out = run.object();
    // Held, both parts failed: the secret's error, which says what became of it.
    let message = out["error"]["message"].as_str().unwrap_or("");
    check(
        out["error"]["code"] == "Interrupted" && message.contains("unknown") == held,
        &format!("error: {ctx}"),
    )?;
    check(
        out.get("cluster_sp_object_id").is_none()
            && out.get("client_secret").is_none()
            && out["client_secret_key_id"].is_string() != held,
        &format!("carries: {ctx}"),
    )?;
    check(census(&sim).passwords == 1, &format!("one mint: {ctx}"))?;
    // Where a success keeps it: the file, or the vault (the reference in the object).
    let stored = match home {
        Home::File => std::fs::read_to_string(&file).ok(),
        Home::Vault => vault_versions(&sim)
            .last()
            .map(|v| {
                check(
                    out["client_secret_ref"].is_string()
                        && v["tags"]["key_id"] == out["client_secret_key_id"],
                    &format!("the vault's version is not the output's: {ctx}"),
                )
                .map(|()| v.to_string())
            })
            .transpose()?,
    };
    check(
        stored.is_some() != held,
        &format!("stored: {stored:?}: {ctx}"),
    )?;
    let file = (home == Home::File).then_some(file.as_path());
    rerun_after_the_wait(&sim, &args, &out, held, file, &ctx)
}

/// The same command on the interrupted object `out`: a kept secret is kept (the file
/// unchanged) and only the service principal is written; a lost one (`held`) is replaced,
/// one more password for --prune-secrets.
fn rerun_after_the_wait(
    sim: &TestSim,
    args: &[String],
    out: &Value,
    held: bool,
    file: Option<&std::path::Path>,
    ctx: &str,
) -> Result<(), String> {
    let before = file.map(std::fs::read_to_string);
    sim.sim().clear_requests();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    // Rerun later, on Azure's clock moved on: the app's replication ends within a tick or two.
    let rerun = fast_forward(sim, azure(REPLICATION) / 2, || {
        run_cmd(sim.cmd(Step::App.bin()), &args, &format!("{out}\n"))
    });
    check(
        rerun.code == 0,
        &format!("rerun: {}\n{}", rerun.stderr, rerun.stdout),
    )?;
    let got = census(sim);
    check(
        got.sps_a == 1 && got.passwords == if held { 2 } else { 1 },
        &format!("{got:?}: {ctx}"),
    )?;
    if held {
        return Ok(());
    }
    // Writes: only the service principal's upsert (resent while the app replicates).
    let writes = sim.writes();
    let only_the_principal = writes.iter().all(|w| {
        w["method"] == "PATCH"
            && w["path"]
                .as_str()
                .unwrap_or("")
                .contains("servicePrincipals")
    }) && writes.iter().filter(|w| w["status"] == 201).count() == 1;
    check(
        only_the_principal,
        &format!("the rerun wrote {writes:#?}: {ctx}"),
    )?;
    let again = rerun.object();
    check(
        again["client_secret_key_id"] == out["client_secret_key_id"]
            && again.get("client_secret_ref") == out.get("client_secret_ref"),
        &format!("the rerun did not keep the secret: {}", rerun.stdout),
    )?;
    let after = file.map(std::fs::read_to_string);
    check(
        before.map(Result::ok) == after.map(Result::ok),
        &format!("the file changed: {ctx}"),
    )
}

#[test]
fn entra_app_create_interrupted_in_the_principals_wait_keeps_the_secret_minted_beside_it() {
    let cases = [
        (Home::File, false),
        (Home::Vault, false),
        (Home::File, true),
    ];
    let failed: Vec<String> = par_map(&cases, 3, |&(home, held)| {
        interrupted_beside_the_wait(home, held)
    })
    .into_iter()
    .filter_map(Result::err)
    .collect();
    assert!(failed.is_empty(), "{}", failed.join("\n\n"));
}

/// One run with several objects: the one being worked on is written with what it made, one
/// carrying another step's error passes through, and one that arrives after the signal
/// (stdin still open) is written as not started; then a second signal is not needed.
#[test]
fn an_interrupted_run_drains_stdin_and_writes_every_object() {
    let sim = TestSim::start();
    let first = run_steps(&sim, Step::App.before(), "");
    let app = run_steps(&sim, &[Step::App], &first);
    let other_error = json!({"app_id": "x", "error": {"step": "entra-app-create", "code": "Timeout", "message": "m"}});
    let mut cmd = sim.cmd("consent-link");
    cmd.args(args_of(&sim, Step::Consent, true))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    writeln!(stdin, "{}", app.trim()).expect("write");
    writeln!(stdin, "{other_error}").expect("write");
    stdin.flush().expect("flush");
    wait_for(&sim, &mut child, "the consent wait", &|r| {
        logged(r, "GET", "/servicePrincipals(", Some(404)) >= 2
    });
    kill(&child.id().to_string(), Sig::Int);
    std::thread::sleep(Duration::from_millis(300));
    let sent = sim.azure_requests().len();
    // Still reading: an object that arrives now is written, not started.
    writeln!(stdin, "{}", app.trim()).expect("the tool still reads stdin");
    drop(stdin);
    let run = collect(child);
    assert_eq!(
        sim.azure_requests().len(),
        sent,
        "a request was sent after the interrupt"
    );
    assert_eq!(run.code, 130, "{}", run.stderr);
    let objects = run.objects();
    assert_eq!(objects.len(), 3, "{}", run.stdout);
    assert_eq!(objects[0]["error"]["code"], "Interrupted");
    assert!(objects[0]["consent_url"].is_string(), "{}", run.stdout);
    for (k, v) in other_error.as_object().unwrap() {
        assert_eq!(
            &objects[1][k], v,
            "passed through as it came: {}",
            objects[1]
        );
    }
    assert_eq!(
        objects[1]["registry_tenant_id"],
        sim.var("REGISTRY_TENANT_ID"),
        "with the flags"
    );
    assert_eq!(objects[2]["error"]["code"], "Interrupted");
    assert_eq!(objects[2]["error"]["step"], "consent-link");
    assert!(
        objects[2]["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("did not start"),
        "{}",
        run.stdout
    );
    assert_eq!(
        objects[2]["registry_tenant_id"],
        sim.var("REGISTRY_TENANT_ID"),
        "the flags are written"
    );
    assert!(
        run.stderr.contains(
            "SIGINT: 3 objects: 0 changed, 0 unchanged, 1 failed, 1 skipped, 1 not started; rerun the same command on the output to finish"
        ),
        "{}",
        run.stderr
    );
}

/// A second signal stops at once, even while a write's answer is awaited.
#[test]
fn a_second_signal_exits_at_once() {
    let sim = TestSim::start();
    let input = run_steps(&sim, Step::Reset.before(), "");
    sim.sim()
        .add_fault(json!({"method": "POST", "path": "/resetServicePrincipalProfile", "delay_after_ms": 60_000, "count": 1}))
        .expect("hold");
    let mut cmd = sim.cmd("aks-sp-update");
    cmd.args(Step::Reset.args(&sim));
    let mut child = spawn_with_input(&mut cmd, &input);
    wait_for(&sim, &mut child, "the reset", &|r| {
        logged(r, "POST", "/resetServicePrincipalProfile", None) >= 1
    });
    let pid = child.id().to_string();
    kill(&pid, Sig::Int);
    std::thread::sleep(Duration::from_millis(300));
    let second = Instant::now();
    kill(&pid, Sig::Int);
    let run = collect(child);
    assert!(
        second.elapsed() < Duration::from_secs(2),
        "{:?}",
        second.elapsed()
    );
    assert_eq!(run.code, 130, "{}", run.stderr);
    assert_eq!(run.stdout, "", "nothing more is written");
    assert!(run.stderr.contains("stopping at once"), "{}", run.stderr);
}

/// Ctrl-C reaching every process of a pipeline (its process group) while step 2 waits for
/// consent: every tool drains, the object with the secret reaches the end of the pipe, and
/// the same pipeline rerun on it (once consent is given) completes the procedure.
#[test]
fn ctrl_c_on_a_whole_pipeline_drains_to_the_end_of_the_pipe() {
    pipeline_interrupted(Step::Consent);
}

/// The story: Ctrl-C on the pipeline while aks-sp-update follows the reset. The
/// object reaches `out.json` with the secret and the operation URL, and the same pipeline
/// rerun on it resumes the reset instead of posting another.
#[test]
fn ctrl_c_on_a_pipeline_during_the_reset_keeps_the_secret_and_the_operation() {
    pipeline_interrupted(Step::Reset);
}

/// Runs the four tools as `sh -c 'a | b | c | d'` in a process group of their own, sends
/// SIGINT to the group while `at` waits, then reruns the same pipeline on the output.
/// The exit code of step `s` when the pipeline interrupted at `at` is rerun on its output:
/// a step before `at` passes the error on (1), the others complete the object (0).
fn exit_on_rerun(s: Step, at: Step) -> &'static str {
    if at.before().contains(&s) { "1" } else { "0" }
}

/// Issue 25: one Ctrl-C, at most two lines (the step that was stopped says what to do;
/// the steps that only passed its object on say nothing more).
fn said_in_two_lines_at_most(stderr: &str) {
    let said: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("SIGINT") || l.to_ascii_lowercase().contains("interrupt"))
        .collect();
    assert!(
        (1..=2).contains(&said.len()) && !stderr.contains("skipped:"),
        "{stderr}"
    );
    assert!(
        said.last().unwrap().contains("rerun the same command"),
        "{said:?}"
    );
}

fn pipeline_interrupted(at: Step) {
    // The reset lasts long enough for the signal to land while it is followed.
    let lro = Duration::from_secs(3);
    let sim = TestSim::start_with(|c| c.lro_duration = Some(c.azure_time(lro)));
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = |s: &str| xtenant_tests::bin_path(s).display().to_string();
    let quote = |v: &[String]| {
        v.iter()
            .map(|a| format!("'{a}'"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let stage = |name: &str, args: &[String]| {
        // Each stage records its exit code; the shells wait for their tool (a trap, not death).
        format!(
            "{{ trap : INT TERM; {} {}; echo $? > '{}/{name}.code'; }}",
            bin(name),
            quote(args),
            dir.path().display()
        )
    };
    let consent_waits = at == Step::Consent;
    let pipeline = Step::ALL
        .iter()
        .map(|s| stage(s.bin(), &args_of(&sim, *s, consent_waits)))
        .collect::<Vec<_>>()
        .join(" | ");
    let script = format!("trap : INT TERM; {pipeline}");
    let run_pipeline = |input: &str, interrupt: bool| -> Run {
        let tool = sim.cmd("entra-app-create");
        let mut sh = Command::new("sh");
        sh.arg("-c").arg(&script).env_clear();
        for (k, v) in tool.get_envs() {
            if let Some(v) = v {
                sh.env(k, v);
            }
        }
        sh.process_group(0);
        let mut child = spawn_with_input(&mut sh, input);
        if interrupt {
            wait_for(&sim, &mut child, "the wait", &|r| {
                if consent_waits {
                    logged(r, "GET", "/servicePrincipals(", Some(404)) >= 2
                } else {
                    logged(r, "GET", "/operations/", None) >= 1
                }
            });
            kill(&format!("-{}", child.id()), Sig::Int);
        }
        collect(child)
    };
    let code = |name: &str| {
        std::fs::read_to_string(dir.path().join(format!("{name}.code")))
            .unwrap_or_default()
            .trim()
            .to_owned()
    };

    let first = run_pipeline("", true);
    let before = at.before();
    for s in Step::ALL {
        // The steps before `at` had ended; `at` and those after it drained.
        let expected = if before.contains(&s) { "0" } else { "130" };
        assert_eq!(code(s.bin()), expected, "{}: {}", s.bin(), first.stderr);
    }
    let out = first.object();
    assert_eq!(out["error"]["step"], at.bin(), "{}", first.stdout);
    said_in_two_lines_at_most(&first.stderr);
    assert_eq!(out["error"]["code"], "Interrupted");
    let made: &[&str] = if consent_waits {
        &[
            "client_secret",
            "client_secret_key_id",
            "app_id",
            "consent_url",
        ]
    } else {
        &[
            "client_secret",
            "client_secret_key_id",
            "app_id",
            "role_assignment_id",
            "cluster_operation_url",
        ]
    };
    for f in made {
        assert!(out[*f].is_string(), "{f} lost: {}", first.stdout);
    }
    if consent_waits {
        let ca = sim.sim().sim().ca_pem_path().to_path_buf();
        person::consent(out["consent_url"].as_str().expect("url"), &ca, "accept").expect("consent");
    }

    // Rerun later, on Azure's clock moved on: the reset ends within a tick or two.
    let second = fast_forward(&sim, azure(lro) / 2, || run_pipeline(&first.stdout, false));
    for s in Step::ALL {
        assert_eq!(code(s.bin()), exit_on_rerun(s, at), "{}", second.stderr);
    }
    let done = second.object();
    assert!(done.get("error").is_none(), "{}", second.stdout);
    assert_eq!(
        done["client_secret"], out["client_secret"],
        "the same secret"
    );
    assert_eq!(census(&sim), Census::after(Step::Reset));
    assert_eq!(sim.resets(), 1);
    assert!(cluster_pulls(&sim));
}
