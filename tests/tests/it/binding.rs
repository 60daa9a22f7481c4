//! Claims bound to the secret in hand (issue 23): before a grant, a record or a reset, a step
//! proves that the secret it holds is a key of `app_id`, an app registered in tenant A, and
//! the key `client_secret_key_id` names. A forged `app_id` or key id, or a secret of another
//! app, is refused naming the field, and nothing is written: the simulator's request log
//! shows no write after the refused run. `--force` skips only the pull check.
//!
//! Also the truthful pull proofs of issue 25: a pull proof stands only while its key still
//! exists, and a secret whose key is gone fails at once, not after a wait.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use xtenant_tests::azure::{Method, NewApp, Operator, role_assignments_of, service_principal_of};
use xtenant_tests::clock::until_moved;
use xtenant_tests::steps::{Step, run_step, run_steps};
use xtenant_tests::{Run, TestSim, line, spawn_with_input};

fn object(out: &str) -> Value {
    serde_json::from_str(out.trim()).unwrap()
}

/// The run's error object, asserting it is the refusal `SecretNotBound` naming `field`.
#[track_caller]
fn refused(r: &Run, field: &str) -> Value {
    assert_eq!(r.code, 1, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    let e = r.object()["error"].clone();
    assert_eq!(e["code"], "SecretNotBound", "{e}\n{}", r.stderr);
    let m = e["message"].as_str().unwrap();
    assert!(
        m.starts_with(&format!("{field}:")),
        "not naming {field}: {m}"
    );
    assert!(m.contains("nothing was written"), "{m}");
    assert!(e["hint"].is_string(), "{e}");
    e
}

/// Asserts that no secret of `secrets` shows on stderr (stdout carries an envelope's own
/// `client_secret` field, so only other places are searched there: its error).
#[track_caller]
fn nowhere(r: &Run, secrets: &[&str]) {
    for s in secrets {
        assert!(
            !r.stderr.contains(s),
            "a secret is on stderr:\n{}",
            r.stderr
        );
        for o in r.objects() {
            assert!(
                !o["error"].to_string().contains(s),
                "a secret is in the error"
            );
        }
    }
}

/// Team A's step 1 keeping its secret in `dir/app.secret`: the envelope (no secret in it).
fn step1_with_secret_file(sim: &TestSim, dir: &Path) -> Value {
    let file = dir.join("app.secret");
    let r = run_step(
        sim,
        Step::App,
        &[
            "--secret-file",
            file.to_str().unwrap(),
            "--no-secret-output",
        ],
        "",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.object()
}

/// Team B's steps 2 and 3 without `--verify` (it holds no secret): `granted.json`.
fn team_b(sim: &TestSim, input: &Value) -> Value {
    let out = run_steps(sim, &[Step::Consent], &line(input));
    let r = sim.run("acr-grant", &["--registry", &sim.var("REGISTRY_ID")], &out);
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.object()
}

/// Team B's own multitenant app, registered in tenant B, with a service principal in tenant A
/// (as an app another organisation's admin consented to) and in B: its app id.
fn foreign_app(sim: &TestSim) -> String {
    let op = Operator::new(sim);
    let b = sim.var("REGISTRY_TENANT_ID");
    let (status, app) = op.graph(
        Method::POST,
        &b,
        "/applications",
        Some(
            &json!({"displayName": "team-b-app", "signInAudience": "AzureADMultipleOrgs",
            "web": {"redirectUris": ["https://www.microsoft.com"]}}),
        ),
    );
    assert_eq!(status, 201, "{app}");
    let app_id = app["appId"].as_str().unwrap().to_owned();
    op.create_service_principal(&b, &app_id);
    op.create_service_principal(&sim.var("CLUSTER_TENANT_ID"), &app_id);
    app_id
}

/// The cluster's client id, from the simulator's state.
fn cluster_client_id(sim: &TestSim) -> String {
    let id = sim.var("CLUSTER_ID");
    sim.state()["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| {
            c["id"]
                .as_str()
                .is_some_and(|i| i.eq_ignore_ascii_case(&id))
        })
        .map(|c| {
            c["service_principal_client_id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .unwrap()
}

#[test]
fn attack_3_a_swapped_app_id_with_force_is_refused_before_any_role_copy_or_reset() {
    // Team B's registry behind a firewall (this machine cannot check the pull, the hint
    // suggests --force), from the start.
    let mut state = TestSim::start().state();
    for r in state["registries"].as_array_mut().unwrap() {
        r["network_rules"] = json!({"default_action": "Deny", "ip_rules": ["203.0.113.7"]});
    }
    let sim = TestSim::start_with(|c| c.scenario = Some(state));
    let dir = tempfile::tempdir().unwrap();
    let app = step1_with_secret_file(&sim, dir.path());
    let mut granted = team_b(&sim, &app);
    // Team B hands back granted.json with its own app in place of team A's.
    let theirs = foreign_app(&sim);
    granted["app_id"] = json!(theirs);
    let secret = std::fs::read_to_string(dir.path().join("app.secret")).unwrap();
    let cluster_before = cluster_client_id(&sim);
    let before = sim.writes().len();

    let r = sim.run(
        "aks-sp-update",
        &[
            "--cluster",
            &sim.var("CLUSTER_ID"),
            "--force",
            "--client-secret-file",
            dir.path().join("app.secret").to_str().unwrap(),
            "--timeout",
            "60s",
        ],
        &line(&granted),
    );
    let e = refused(&r, "app_id");
    let m = e["message"].as_str().unwrap();
    assert!(m.contains(&theirs) && m.contains("not in tenant"), "{m}");
    assert_eq!(sim.writes()[before..], [] as [Value; 0], "a write was sent");
    assert_eq!(cluster_client_id(&sim), cluster_before);
    let their_sp = service_principal_of(&sim, &sim.var("CLUSTER_TENANT_ID"), &theirs).unwrap();
    assert!(role_assignments_of(&sim, &their_sp).is_empty());
    nowhere(&r, &[secret.trim()]);
}

#[test]
fn a_forged_key_id_another_key_or_another_apps_secret_is_refused_by_steps_3_and_4() {
    let sim = TestSim::start();
    let out = run_steps(&sim, &Step::FIRST_THREE, "");
    let env = object(&out);
    let op = Operator::new(&sim);
    // Another current key of the same app, and another app of tenant A with its own secret.
    let (other_secret, other_key) = op.add_secret(env["app_object_id"].as_str().unwrap());
    let other_app = op.create_app(
        &NewApp::multitenant("other-app")
            .secret(true)
            .sp_in_a(true)
            .sp_in_b(true),
    );
    let mine = env["client_secret"].as_str().unwrap().to_owned();
    let with = |k: &str, v: &str| {
        let mut e = env.clone();
        e[k] = json!(v);
        e
    };
    let cases = [
        (
            "another key of the app",
            with("client_secret_key_id", &other_key),
            "client_secret_key_id",
        ),
        (
            "a key the app does not have",
            with(
                "client_secret_key_id",
                "0badc0de-0000-4000-8000-000000000001",
            ),
            "client_secret_key_id",
        ),
        (
            "a secret of another app",
            with("client_secret", other_app.secret()),
            "client_secret_key_id",
        ),
        (
            "another app of tenant A with this secret",
            with("app_id", &other_app.app_id),
            "client_secret_key_id",
        ),
    ];
    let secrets = [mine.as_str(), other_secret.as_str(), other_app.secret()];
    for (what, input, field) in &cases {
        let before = sim.writes().len();
        // Step 3 on a registry not granted yet (a grant would be a write; the input without
        // what step 3 wrote about the first registry, else a mismatch), then step 4.
        let mut for_abac = input.clone();
        for f in [
            "registry_id",
            "registry_login_server",
            "role_name",
            "role_assignment_id",
        ] {
            for_abac.as_object_mut().unwrap().remove(f);
        }
        let r = sim.run(
            "acr-grant",
            &["--registry", &sim.var("ABAC_REGISTRY_ID"), "--verify"],
            &line(&for_abac),
        );
        let e = refused(&r, field);
        println!("{what} (acr-grant): {e}");
        nowhere(&r, &secrets);
        let r = sim.run(
            "aks-sp-update",
            &["--cluster", &sim.var("CLUSTER_ID"), "--force"],
            &line(input),
        );
        let e = refused(&r, field);
        println!("{what} (aks-sp-update): {e}");
        nowhere(&r, &secrets);
        assert_eq!(
            sim.writes()[before..],
            [] as [Value; 0],
            "{what}: a write was sent"
        );
    }
    // The envelope as written passes: the claims were the only thing wrong.
    run_steps(&sim, &[Step::Reset], &out);
}

#[test]
fn a_pull_proof_whose_key_was_removed_stands_for_nothing_and_fails_at_once() {
    // Issue 25 finding 1: a fresh pull proof of a secret rotated out since.
    let sim = TestSim::start();
    let out = run_steps(&sim, &Step::FIRST_THREE, "");
    let env = object(&out);
    assert!(env["pull_proof"].is_string(), "{env}");
    Operator::new(&sim).remove_secret(
        env["app_object_id"].as_str().unwrap(),
        env["client_secret_key_id"].as_str().unwrap(),
    );
    let before = sim.writes().len();
    let started = Instant::now();
    let r = run_step(&sim, Step::Reset, &[], &out);
    let e = refused(&r, "client_secret_key_id");
    assert!(e["message"].as_str().unwrap().contains("has no key"), "{e}");
    assert!(!r.stderr.contains("not checked again"), "{}", r.stderr);
    // Step 3 again: at once too, not after the 2-minute wait for a refused credential.
    let r = run_step(&sim, Step::Grant, &[], &out);
    refused(&r, "client_secret_key_id");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(sim.writes()[before..], [] as [Value; 0], "a write was sent");
    nowhere(&r, &[env["client_secret"].as_str().unwrap()]);
}

#[test]
fn an_old_key_that_entra_refuses_is_wrong_at_once_and_a_new_one_is_waited_for() {
    // A secret that begins as the hint of a key a month old but is not it: no wait.
    // Entra refuses a new secret until Azure's clock is moved on.
    let propagation = until_moved();
    let sim = TestSim::start_with(|c| {
        let ms = u64::try_from(propagation.as_millis()).unwrap();
        c.behaviour = Some(json!({ "secret_propagation_ms": ms }));
    });
    let state = sim.state();
    let old = state["applications"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| {
            a["password_credentials"]
                .as_array()
                .is_some_and(|p| p.iter().any(|k| k["display_name"] == "aks-prod"))
        })
        .unwrap()
        .clone();
    let key = old["password_credentials"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["display_name"] == "aks-prod")
        .unwrap();
    let forged = format!("{}-not-the-secret-at-all", key["hint"].as_str().unwrap());
    let input = json!({
        "cluster_tenant_id": sim.var("CLUSTER_TENANT_ID"),
        "app_id": old["app_id"],
        "client_secret_key_id": key["key_id"],
        "client_secret": forged,
    });
    let started = Instant::now();
    let r = sim.run(
        "aks-sp-update",
        &["--cluster", &sim.var("CLUSTER_ID"), "--force"],
        &line(&input),
    );
    let e = refused(&r, "app_id");
    assert!(e["message"].as_str().unwrap().contains("refused"), "{e}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    nowhere(&r, &[&forged]);

    // A secret minted a moment ago: Entra refuses it; step 3 waits, says so, and passes.
    let made = run_step(&sim, Step::App, &[], "");
    assert_eq!(made.code, 0, "{}", made.stderr);
    grant_waits_for_entra(&sim, &made.stdout, propagation);
}

#[test]
fn a_new_service_principal_sign_in_does_not_know_yet_is_waited_for() {
    // Entra's sign-in knows a new service principal only once it replicated (AADSTS700016 until
    // then): here until Azure's clock is moved on. Step 1 waits for its app to replicate (the clock
    // moved on until it made tenant A's principal) and makes that principal at its end; step
    // 3's proof that the secret is the app's signs in there at once, is refused, waits, says
    // so, and passes once the clock is moved on past the replication.
    let replication = until_moved();
    let sim = TestSim::start_with(|c| c.replication_delay = replication);
    // (The secret itself propagates in seconds of Azure's time: the wait is for the principal.)
    let made = step_1_until_its_principal(&sim, replication / 4);
    grant_waits_for_entra(&sim, &made, replication);
}

/// Step 1, with Azure's clock moved on by `tick` every 50 ms until the log shows tenant A's
/// service principal made (its app had to replicate first), then on the clock alone; its
/// output.
fn step_1_until_its_principal(sim: &TestSim, tick: Duration) -> String {
    let a = sim.var("CLUSTER_TENANT_ID");
    let made = |log: &[Value]| {
        log.iter().any(|r| {
            matches!(r["method"].as_str(), Some("POST" | "PATCH"))
                && matches!(r["status"].as_u64(), Some(200 | 201))
                && r["caller_tenant_id"] == a.as_str()
                && r["path"]
                    .as_str()
                    .is_some_and(|p| p.contains("/servicePrincipals"))
        })
    };
    let mut args = Step::App.args(sim);
    args.push("--timeout".into());
    args.push("60s".into());
    let mut c = sim.cmd(Step::App.bin());
    c.args(&args);
    let mut child = spawn_with_input(&mut c, "");
    let started = Instant::now();
    while child.try_wait().expect("try_wait").is_none() && !made(&sim.requests()) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "step 1 never made its principal"
        );
        sim.sim().advance(tick);
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("wait for step 1");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Step 2 on step 1's output `made`, then step 3 at once: Entra refuses the app's sign-in (its
/// new secret or principal not known yet, for hours of Azure's time); once step 3 says it
/// waits for that, Azure's clock is moved on by `past`, and step 3 says it is done and
/// passes; no secret leaks.
#[track_caller]
fn grant_waits_for_entra(sim: &TestSim, made: &str, past: Duration) {
    use std::io::{BufRead, BufReader, Read};
    let out = run_steps(sim, &[Step::Consent], made);
    let mut args = Step::Grant.args(sim);
    args.push("--timeout".into());
    args.push("60s".into());
    let mut c = sim.cmd(Step::Grant.bin());
    c.args(&args);
    let mut child = spawn_with_input(&mut c, &out);
    let (said_waiting, waiting) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("waiting for Entra to accept app") {
                let _ = said_waiting.send(());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let refused = waiting.recv_timeout(Duration::from_secs(60));
    sim.sim().advance(past);
    let status = child.wait().expect("wait for step 3");
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut stdout)
        .expect("read stdout");
    let r = Run {
        code: status.code().unwrap_or(-1),
        stdout,
        stderr: reader.join().expect("stderr reader"),
    };
    assert!(
        refused.is_ok(),
        "step 3 never waited for Entra:\n{}",
        r.stderr
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .lines()
            .any(|l| l.contains("waiting for Entra to accept app") && l.contains("done after")),
        "{}",
        r.stderr
    );
    let o = r.object();
    assert!(o["pull_verified_at"].is_string(), "{o}");
    nowhere(&r, &[o["client_secret"].as_str().unwrap()]);
}

#[test]
fn a_reset_aks_refuses_for_its_credential_says_which_credential_and_what_to_run() {
    let sim = TestSim::start();
    let out = run_steps(&sim, &Step::FIRST_THREE, "");
    let env = object(&out);
    // AKS's own check of the credential, after ours passed (e.g. a secret AKS has not seen yet).
    sim.sim()
        .add_fault(json!({"method": "POST", "path": "resetServicePrincipalProfile", "status": 400,
            "code": "ServicePrincipalValidationClientError",
            "message": "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID."}))
        .unwrap();
    let r = run_step(&sim, Step::Reset, &[], &out);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let e = &r.object()["error"];
    assert_eq!(e["code"], "ServicePrincipalValidationClientError", "{e}");
    let hint = e["hint"].as_str().unwrap();
    for part in [
        env["app_id"].as_str().unwrap(),
        env["client_secret_key_id"].as_str().unwrap(),
        "--new-secret",
        "rerun in a minute",
    ] {
        assert!(hint.contains(part), "{part} not in {hint}");
    }
    nowhere(&r, &[env["client_secret"].as_str().unwrap()]);
}
