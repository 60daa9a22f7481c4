//! Secret hygiene: the client secret, the operator's secret and every token stay where they belong.
//!
//! Every tool runs at `-vv`, and again with `RUST_LOG=trace`, on its success path and on
//! failure paths that handle a secret (wrong secrets, refusals, server errors, dry runs).
//! Then, with every secret and token value the run used — the app's client secrets, the
//! operator's AZURE_CLIENT_SECRET, and each bearer token and Basic credential the simulator
//! saw in an Authorization header — this test checks stderr, the `error` objects, the
//! request log's URLs and headers, the processes' argv, the flags each tool offers, and the
//! mode of the files written with a secret.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};
use xtenant_tests::steps::{Step, run_step};
use xtenant_tests::{Run, TestSim, line, run_cmd, spawn_with_input};

/// Everything the runs of one test printed, and what they were given.
#[derive(Default)]
struct Seen {
    /// stderr of every run, with what ran.
    stderr: Vec<(String, String)>,
    /// Every `error` object written.
    errors: Vec<(String, Value)>,
    runs: usize,
}

impl Seen {
    fn add(&mut self, what: &str, r: &Run) {
        self.runs += 1;
        self.stderr.push((what.to_owned(), r.stderr.clone()));
        for l in r.stdout.lines() {
            if let Ok(v) = serde_json::from_str::<Value>(l)
                && v.get("error").is_some()
            {
                self.errors.push((what.to_owned(), v["error"].clone()));
            }
        }
    }
}

/// Runs `bin` with `args` on `input`, at `-vv`, and again with `RUST_LOG=trace` when `trace`.
fn run(
    sim: &TestSim,
    seen: &mut Seen,
    bin: &str,
    args: &[&str],
    input: &str,
    env: &[(&str, &str)],
) -> Run {
    let mut c = sim.cmd(bin);
    for (k, v) in env {
        c.env(k, v);
    }
    let mut all: Vec<&str> = args.to_vec();
    all.push("-vv");
    let r = run_cmd(c, &all, input);
    seen.add(&format!("{bin} {args:?} -vv"), &r);
    r
}

fn run_traced(sim: &TestSim, seen: &mut Seen, bin: &str, args: &[&str], input: &str) -> Run {
    let mut c = sim.cmd(bin);
    c.env("RUST_LOG", "trace");
    let r = run_cmd(c, args, input);
    seen.add(&format!("{bin} {args:?} RUST_LOG=trace"), &r);
    r
}

/// The secret values in the request log's Authorization headers: bearer tokens, Basic credentials.
fn tokens_in_log(sim: &TestSim) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut bearer = BTreeSet::new();
    let mut basic = BTreeSet::new();
    for r in sim.requests() {
        let Some(auth) = r["request_headers"]["authorization"].as_str() else {
            continue;
        };
        if let Some(t) = auth.strip_prefix("Bearer ") {
            bearer.insert(t.to_owned());
        } else if let Some(b) = auth.strip_prefix("Basic ") {
            basic.insert(b.to_owned());
        }
    }
    (bearer, basic)
}

/// The parts of a secret worth looking for: the whole value, and for a JWT its signature.
fn needles(secret: &str) -> Vec<String> {
    let mut v = vec![secret.to_owned()];
    if let Some(sig) = secret
        .rsplit('.')
        .next()
        .filter(|s| s.len() >= 16 && *s != secret)
    {
        v.push(sig.to_owned());
    }
    v
}

/// Where any of `secrets` shows: stderr, error objects, request URLs.
fn leaks(seen: &Seen, secrets: &BTreeSet<String>, sim: &TestSim) -> Vec<String> {
    let mut leaks = Vec::new();
    for s in secrets {
        for n in needles(s) {
            for (what, text) in &seen.stderr {
                if text.contains(&n) {
                    leaks.push(format!("stderr of {what}"));
                }
            }
            for (what, e) in &seen.errors {
                if e.to_string().contains(&n) {
                    leaks.push(format!("error object of {what}: {e}"));
                }
            }
            for r in sim.requests() {
                let url = format!("{}{}?{}", r["host"], r["path"], r["query"]);
                if url.contains(&n) {
                    leaks.push(format!("a URL: {url}"));
                }
            }
        }
    }
    // One finding per place: two secrets sharing a needle (a token and its own signature) are one leak.
    leaks.sort();
    leaks.dedup();
    leaks
}

/// Checks what the simulator's log shows: the app's secret only in Basic auth to a registry's
/// token endpoint, Entra tokens only to Graph and ARM, the operator's secret nowhere.
fn check_log(sim: &TestSim, app_secrets: &BTreeSet<String>, operator: &str) -> (usize, usize) {
    let log = sim.requests();
    let text = serde_json::to_string(&log).unwrap();
    assert!(
        !text.contains(operator),
        "the operator's secret is in the request log"
    );
    for s in app_secrets {
        assert!(
            !text.contains(s.as_str()),
            "an app secret is in the request log in the clear"
        );
    }
    let (bearer, _) = tokens_in_log(sim);
    let entra: BTreeSet<&String> = log
        .iter()
        .filter(|r| !r["host"].as_str().unwrap_or("").contains("azurecr"))
        .filter_map(|r| r["request_headers"]["authorization"].as_str())
        .filter_map(|a| a.strip_prefix("Bearer "))
        .filter_map(|t| bearer.get(t))
        .collect();
    let mut basic_seen = 0;
    for r in &log {
        let host = r["host"].as_str().unwrap_or("");
        let path = r["path"].as_str().unwrap_or("");
        let Some(auth) = r["request_headers"]["authorization"].as_str() else {
            continue;
        };
        if let Some(b) = auth.strip_prefix("Basic ") {
            basic_seen += 1;
            let decoded = base64::engine::general_purpose::STANDARD.decode(b).unwrap();
            let decoded = String::from_utf8(decoded).unwrap();
            assert!(
                host.contains("azurecr") && path == "/oauth2/token",
                "Basic credentials sent to {host}{path}"
            );
            assert!(
                !decoded.contains(operator),
                "the operator's secret went to a registry"
            );
        } else if let Some(t) = auth.strip_prefix("Bearer ")
            && host.contains("azurecr")
        {
            assert!(
                !entra.contains(&t.to_owned()),
                "an Entra token went to the registry {host}{path}"
            );
        }
    }
    (entra.len(), basic_seen)
}

/// The argv of a running process, from /proc.
fn argv_of(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .unwrap_or_default()
}

/// Runs `step` with its first request held for a moment, and returns the argv `ps` shows meanwhile.
fn argv_while_running(sim: &TestSim, step: Step, extra: &[&str], input: &str) -> String {
    sim.sim()
        .add_fault(json!({"method": "*", "delay_ms": 100, "count": 1}))
        .unwrap();
    let mut c = sim.cmd(step.bin());
    c.args(step.args(sim)).args(extra);
    let child = spawn_with_input(&mut c, input);
    let started = Instant::now();
    while sim.sim().faults()[0]["applied"] != 1 && started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let argv = argv_of(child.id());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    sim.sim().clear_faults();
    assert!(
        argv.contains(step.bin()),
        "read the argv of the tool: {argv:?}"
    );
    argv
}

/// Runs `step` with its pipeline flags on `input`, at `-vv` (with `env`) or with `RUST_LOG=trace`.
fn step_seen(
    sim: &TestSim,
    seen: &mut Seen,
    step: Step,
    input: &str,
    traced: bool,
    env: &[(&str, &str)],
) -> Run {
    let flags: Vec<String> = step.args(sim);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    if traced {
        run_traced(sim, seen, step.bin(), &flags, input)
    } else {
        run(sim, seen, step.bin(), &flags, input, env)
    }
}

fn secret_of(out: &str) -> String {
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    v["client_secret"].as_str().unwrap().to_owned()
}

/// The success paths: the pipeline at -vv (argv read while each step runs), again with
/// RUST_LOG=trace, a rotation and a dry run. Returns the pipeline's output.
fn success_paths(
    sim: &TestSim,
    seen: &mut Seen,
    app_secrets: &mut BTreeSet<String>,
    ps: &mut Vec<String>,
) -> String {
    let mut out = String::new();
    for s in Step::ALL {
        ps.push(argv_while_running(sim, s, &[], &out));
        let r = step_seen(sim, seen, s, &out, false, &[]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        out = r.stdout;
    }
    app_secrets.insert(secret_of(&out));
    for s in Step::ALL {
        let r = step_seen(sim, seen, s, &out, true, &[]);
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    // A rotation's first step, and the reset to the new secret as a dry run (its report redacted).
    let r = run(sim, seen, "entra-app-create", &["--new-secret"], &out, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    app_secrets.insert(secret_of(&r.stdout));
    let dry = run(
        sim,
        seen,
        "aks-sp-update",
        &["--cluster", &sim.var("CLUSTER_ID"), "--force", "--dry-run"],
        &r.stdout,
        &[],
    );
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(
        dry.stderr.contains("dry-run:") && dry.stderr.contains("[redacted]"),
        "{}",
        dry.stderr
    );
    out
}

/// Failure paths that hold a secret: wrong secrets, Azure refusing while a secret is in
/// flight, a wrong operator secret, an identity without rights.
fn failure_paths(
    sim: &TestSim,
    seen: &mut Seen,
    app_secrets: &mut BTreeSet<String>,
    out: &str,
) -> String {
    let done: Value = serde_json::from_str(out.trim()).unwrap();
    let wrong = "Wr0ng~secret-value-that-must-not-show.xyz";
    let mut wrong_secret = done.clone();
    wrong_secret["client_secret"] = json!(wrong);
    wrong_secret
        .as_object_mut()
        .unwrap()
        .remove("pull_verified_at");
    app_secrets.insert(wrong.to_owned());
    for (bin, args) in [
        ("acr-grant", vec!["--verify", "--timeout", "1s"]),
        ("aks-sp-update", vec!["--force", "--timeout", "10s"]),
    ] {
        let r = run(sim, seen, bin, &args, &line(&wrong_secret), &[]);
        assert_eq!(
            r.code, 1,
            "{bin} {args:?} with a wrong secret: {}",
            r.stderr
        );
        let r = run_traced(sim, seen, bin, &args, &line(&wrong_secret));
        assert_eq!(r.code, 1, "{bin}: {}", r.stderr);
    }
    // The secret in the input but not for its key: entra-app-create mints another.
    let r = run(
        sim,
        seen,
        "entra-app-create",
        &[],
        &line(&wrong_secret),
        &[],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    app_secrets.insert(secret_of(&r.stdout));
    let minted = r.stdout;
    // Azure failing while a secret is in flight: addPassword, the role PUT, the reset.
    sim.sim()
        .add_fault(json!([
            {"path": "/addPassword", "status": 500, "count": 1},
            {"method": "PUT", "path": "/roleAssignments/", "status": 400, "code": "InvalidRequest", "count": 1},
            {"path": "/resetServicePrincipalProfile", "status": 400, "code": "BadRequest", "count": 1},
        ]))
        .unwrap();
    let mut fresh_key = done.clone();
    fresh_key.as_object_mut().unwrap().remove("client_secret");
    for (bin, args, input) in [
        ("entra-app-create", vec![], line(&fresh_key)),
        (
            "acr-grant",
            vec!["--registry", "fabrikamabac", "--verify"],
            line(&done),
        ),
        ("aks-sp-update", vec!["--force"], minted),
    ] {
        let r = run(sim, seen, bin, &args, &input, &[]);
        assert_eq!(r.code, 1, "{bin}: {}", r.stderr);
    }
    sim.sim().clear_faults();
    // A wrong operator secret (AADSTS7000215), and the reader without the rights to --create.
    let wrong_operator = "Op3rator~wrong-secret-that-must-not-show";
    for s in Step::ALL {
        let r = step_seen(
            sim,
            seen,
            s,
            out,
            false,
            &[("AZURE_CLIENT_SECRET", wrong_operator)],
        );
        assert!(r.code == 3 || r.code == 0, "{}: {}", s.bin(), r.stderr);
    }
    let mut reader = sim.cmd_as_reader("consent-link");
    reader.arg("-vv");
    let r = run_cmd(
        reader,
        &[
            "--registry-tenant",
            &sim.var("REGISTRY_TENANT_ID"),
            "--create",
            "--app-id",
            done["app_id"].as_str().unwrap(),
            "--cluster-tenant",
            &sim.var("CLUSTER_TENANT_ID"),
        ],
        "",
    );
    seen.add("consent-link as reader", &r);
    wrong_operator.to_owned()
}

#[test]
fn secrets_and_tokens_stay_out_of_stderr_errors_urls_and_argv() {
    let sim = TestSim::start();
    let operator = sim.var("AZURE_CLIENT_SECRET");
    let mut seen = Seen::default();
    let mut app_secrets = BTreeSet::new();
    let mut ps = Vec::new();
    let out = success_paths(&sim, &mut seen, &mut app_secrets, &mut ps);
    let wrong_operator = failure_paths(&sim, &mut seen, &mut app_secrets, &out);

    // What was there to leak: app secrets, the operator's and reader's secrets, every token and Basic credential.
    let (bearer, basic) = tokens_in_log(&sim);
    assert!(bearer.len() >= 6, "tokens seen: {}", bearer.len());
    assert!(!basic.is_empty());
    let mut all: BTreeSet<String> = app_secrets.clone();
    all.insert(operator.clone());
    all.insert(wrong_operator);
    all.insert(sim.var("READER_CLIENT_SECRET"));
    all.extend(bearer.iter().cloned());
    all.extend(basic.iter().cloned());
    let found = leaks(&seen, &all, &sim);
    assert!(found.is_empty(), "secrets leaked:\n{}", found.join("\n"));
    // The search finds what it looks for: a token's signature planted in a stderr is caught.
    let planted_token = bearer.iter().next().unwrap();
    let planted = Seen {
        stderr: vec![(
            "planted".into(),
            format!("x {} y", planted_token.rsplit('.').next().unwrap()),
        )],
        errors: vec![("planted".into(), json!({"message": secret_of(&out)}))],
        runs: 1,
    };
    assert_eq!(leaks(&planted, &all, &sim).len(), 2);
    let (entra_tokens, basic_uses) = check_log(&sim, &app_secrets, &operator);
    assert!(
        entra_tokens >= 4 && basic_uses >= 2,
        "{entra_tokens} {basic_uses}"
    );
    for cmdline in &ps {
        for s in &all {
            assert!(!cmdline.contains(s.as_str()), "a secret in argv: {cmdline}");
        }
    }
    // stdout carries the secret only in client_secret, and only where the README says.
    assert!(!seen.stderr.is_empty() && seen.runs >= 20);
    println!(
        "figure: secret-hygiene runs checked: {} ({} secret and token values looked for)",
        seen.runs,
        all.len()
    );
}

/// Failures holding a vault secret: a version that does not exist, another app's secret (a
/// tampered reference), the vault write refused after the secret was minted, and the reader
/// (Key Vault Secrets User, no rights on the cluster) resetting with the secret in hand.
/// Returns their stdouts.
fn vault_failure_paths(
    sim: &TestSim,
    seen: &mut Seen,
    app_secrets: &mut BTreeSet<String>,
    done: &Value,
    minted: &str,
) -> Vec<String> {
    let vault = sim.var("KEYVAULT_URL");
    let kv: [&str; 2] = ["--secret-keyvault", &vault];
    let reference = done["client_secret_ref"].as_str().unwrap().to_owned();
    let mut stdouts = Vec::new();
    let mut missing = done.clone();
    missing["client_secret_ref"] = json!(format!(
        "{}/{}",
        reference.rsplit_once('/').unwrap().0,
        "0".repeat(32)
    ));
    let other = run(
        sim,
        seen,
        "entra-app-create",
        &[
            "--cluster-tenant",
            &sim.var("CLUSTER_TENANT_ID"),
            "--unique-name",
            "other-app",
            kv[0],
            kv[1],
        ],
        "",
        &[],
    );
    assert_eq!(other.code, 0, "{}", other.stderr);
    let o: Value = serde_json::from_str(other.stdout.trim()).unwrap();
    app_secrets.insert(sim.vault_value(o["client_secret_ref"].as_str().unwrap()));
    let mut tampered = done.clone();
    tampered["client_secret_ref"] = o["client_secret_ref"].clone();
    for input in [&missing, &tampered] {
        for (bin, args) in [
            (
                "acr-grant",
                vec!["--targets-from-input", "--verify", "--timeout", "5s"],
            ),
            (
                "aks-sp-update",
                vec!["--targets-from-input", "--force", "--timeout", "10s"],
            ),
        ] {
            let r = run(sim, seen, bin, &args, &line(input), &[]);
            assert_eq!(r.code, 1, "{bin}: {}", r.stderr);
            stdouts.push(r.stdout);
        }
    }
    sim.sim()
        .add_fault(json!({"method": "PUT", "path": "/secrets/", "status": 403, "code": "Forbidden", "count": 1}))
        .unwrap();
    let refused = run(
        sim,
        seen,
        "entra-app-create",
        &["--new-secret", kv[0], kv[1]],
        minted,
        &[],
    );
    sim.sim().clear_faults();
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    let e: Value = serde_json::from_str(refused.stdout.trim()).unwrap();
    assert!(
        e.get("client_secret").is_none(),
        "a secret the vault refused went to stdout: {e}"
    );
    stdouts.push(refused.stdout);
    let mut reader = sim.cmd_as_reader("aks-sp-update");
    reader.arg("-vv");
    let r = run_cmd(
        reader,
        &["--targets-from-input", "--force", "--timeout", "10s"],
        minted,
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    seen.add("aks-sp-update as reader", &r);
    stdouts.push(r.stdout);

    stdouts
}

#[test]
fn the_vault_path_keeps_secrets_out_of_stdout_stderr_errors_urls_and_argv() {
    let sim = TestSim::start();
    let operator = sim.var("AZURE_CLIENT_SECRET");
    let vault = sim.var("KEYVAULT_URL");
    let kv: [&str; 2] = ["--secret-keyvault", &vault];
    let extra = |s: Step| if s == Step::App { &kv[..] } else { &[][..] };
    let mut seen = Seen::default();
    let mut stdouts = Vec::new();
    let mut ps = Vec::new();
    let mut app_secrets = BTreeSet::new();
    // The procedure at -vv (argv read while each step runs), then each step with RUST_LOG=trace.
    let mut out = String::new();
    for s in Step::ALL {
        ps.push(argv_while_running(&sim, s, extra(s), &out));
        let mut args = s.args(&sim);
        args.extend(extra(s).iter().map(|a| (*a).to_owned()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = run(&sim, &mut seen, s.bin(), &args, &out, &[]);
        assert_eq!(r.code, 0, "{}: {}", s.bin(), r.stderr);
        let t = run_traced(&sim, &mut seen, s.bin(), &args, &r.stdout);
        assert_eq!(t.code, 0, "{}: {}", s.bin(), t.stderr);
        stdouts.extend([r.stdout.clone(), t.stdout]);
        out = r.stdout;
    }
    let done: Value = serde_json::from_str(out.trim()).unwrap();
    let reference = done["client_secret_ref"].as_str().unwrap().to_owned();
    app_secrets.insert(sim.vault_value(&reference));
    // A new secret (a new version), and the reset to it as a dry run.
    let minted = run(
        &sim,
        &mut seen,
        "entra-app-create",
        &["--new-secret", kv[0], kv[1]],
        &out,
        &[],
    );
    assert_eq!(minted.code, 0, "{}", minted.stderr);
    let m: Value = serde_json::from_str(minted.stdout.trim()).unwrap();
    app_secrets.insert(sim.vault_value(m["client_secret_ref"].as_str().unwrap()));
    let dry = run(
        &sim,
        &mut seen,
        "aks-sp-update",
        &["--targets-from-input", "--force", "--dry-run"],
        &minted.stdout,
        &[],
    );
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    stdouts.extend([minted.stdout.clone(), dry.stdout]);
    stdouts.extend(vault_failure_paths(
        &sim,
        &mut seen,
        &mut app_secrets,
        &done,
        &minted.stdout,
    ));
    let (bearer, basic) = tokens_in_log(&sim);
    let vault_tokens = sim
        .requests()
        .iter()
        .filter(|q| q["host"].as_str().unwrap_or("").contains(".vault."))
        .filter_map(|q| q["request_headers"]["authorization"].as_str())
        .count();
    assert!(vault_tokens >= 5, "the vault saw {vault_tokens} tokens");
    let mut all: BTreeSet<String> = app_secrets.clone();
    all.insert(operator.clone());
    all.insert(sim.var("READER_CLIENT_SECRET"));
    all.extend(bearer);
    all.extend(basic);
    let found = leaks(&seen, &all, &sim);
    assert!(found.is_empty(), "secrets leaked:\n{}", found.join("\n"));
    check_log(&sim, &app_secrets, &operator);
    for s in &app_secrets {
        for o in &stdouts {
            assert!(
                !o.contains(s.as_str()),
                "an app secret on stdout in vault mode"
            );
        }
        for cmdline in &ps {
            assert!(!cmdline.contains(s.as_str()), "a secret in argv: {cmdline}");
        }
    }
    println!(
        "figure: secret-hygiene runs checked, vault path: {} ({} secret and token values looked for)",
        seen.runs,
        all.len()
    );
}

#[test]
fn no_flag_takes_a_secret_and_a_secret_flag_is_refused_without_echo() {
    let sim = TestSim::start();
    // The only flags about secrets name where a secret is (a file, a variable) or describe one.
    let allowed = [
        ("--client-secret-file", "PATH"),
        ("--client-secret-env", "NAME"),
        ("--client-secret-ref", "URL"),
        ("--secret-keyvault", "URL"),
        ("--secret-file", "PATH"),
        ("--secret-lifetime", "DURATION"),
        ("--secret-name", "NAME"),
    ];
    for s in Step::ALL {
        let help = run_cmd(sim.cmd(s.bin()), &["--help"], "");
        assert_eq!(help.code, 0);
        let mut options = 0;
        for l in help.stdout.lines() {
            let t = l.trim_start();
            let t = t
                .strip_prefix("-j, ")
                .or_else(|| t.strip_prefix("-v, "))
                .unwrap_or(t);
            let Some(rest) = t.strip_prefix("--") else {
                continue;
            };
            options += 1;
            let (name, value) = match rest.split_once(" <") {
                Some((n, v)) => (
                    format!("--{n}"),
                    v.split('>').next().unwrap_or("").to_owned(),
                ),
                None => (
                    format!("--{}", rest.split_whitespace().next().unwrap_or("")),
                    String::new(),
                ),
            };
            if value.is_empty() {
                continue;
            }
            let lower = format!("{name} {value}").to_ascii_lowercase();
            if ["secret", "password", "token", "key", "credential"]
                .iter()
                .any(|w| lower.contains(w))
            {
                assert!(
                    allowed.contains(&(name.as_str(), value.as_str())),
                    "{}: {name} <{value}> could take a secret on the command line",
                    s.bin()
                );
            }
        }
        assert!(
            options >= 10,
            "{}: parsed {options} options from --help",
            s.bin()
        );
        // A secret given as a flag is refused, and not repeated back.
        for flag in ["--client-secret", "--secret", "--password"] {
            let r = run_cmd(sim.cmd(s.bin()), &[flag, "Sup3r~s3cret-value"], "");
            assert_eq!(r.code, 2, "{} {flag}", s.bin());
            assert!(
                !r.stderr.contains("Sup3r~s3cret-value"),
                "{}: {}",
                s.bin(),
                r.stderr
            );
            assert!(r.stdout.is_empty());
        }
    }
    assert!(sim.azure_requests().is_empty());
}

#[test]
fn secret_files_are_0600_and_read_back_only_from_files() {
    let sim = TestSim::start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("secret");
    // An existing world-readable file is replaced, not written through.
    std::fs::write(&path, "old\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let p = path.to_str().unwrap();
    let r = run_step(
        &sim,
        Step::App,
        &["--secret-file", p, "--no-secret-output"],
        "",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{mode:o}");
    let secret = std::fs::read_to_string(&path).unwrap().trim().to_owned();
    assert!(secret.len() >= 30);
    let o = r.object();
    assert!(o.get("client_secret").is_none(), "{o}");
    assert!(!r.stdout.contains(&secret) && !r.stderr.contains(&secret));
    let entries: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(entries.len(), 1, "no temporary file is left");
    // The later steps take it from the file; it reaches neither stdout nor stderr.
    let r2 = run_step(&sim, Step::Consent, &[], &r.stdout);
    let r3 = run_step(&sim, Step::Grant, &["--client-secret-file", p], &r2.stdout);
    assert_eq!(r3.code, 0, "{}", r3.stderr);
    let r4 = run_step(&sim, Step::Reset, &["--client-secret-file", p], &r3.stdout);
    assert_eq!(r4.code, 0, "{}", r4.stderr);
    for r in [&r2, &r3, &r4] {
        assert!(!r.stdout.contains(&secret) && !r.stderr.contains(&secret));
    }
    // A rerun of step 1 keeps the file as it is (same secret, same mode).
    let again = run_step(
        &sim,
        Step::App,
        &["--secret-file", p, "--no-secret-output"],
        &r.stdout,
    );
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(std::fs::read_to_string(&path).unwrap().trim(), secret);
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
}
