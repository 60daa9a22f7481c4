//! What a person sees (issue 19): exit codes that tell the truth about a pipe, empty
//! pipes, dry runs that chain and never leak, short messages with their hint apart, and
//! step 1 on a later step's envelope. The README's pipelines are run as the README
//! writes them, the simulator's names put in.

use std::process::Stdio;

use serde_json::{Value, json};
use xtenant_tests::readme::readme_block_for;
use xtenant_tests::steps::{Step, run_steps};
use xtenant_tests::{Envelope, Run, TestSim, line, run_cmd, run_on_empty_pipe};

/// Runs `script` under `sh -c` with `set -e` (and no pipefail).
fn sh_set_e(sim: &TestSim, script: &str) -> Run {
    run_cmd(
        sim.shell("sh"),
        &["-c", &format!("set -e\n{script}\necho REACHED >&2")],
        "",
    )
}

/// A tool with stdin an empty pipe (the step before wrote nothing).
fn with_empty_pipe(sim: &TestSim, bin: &str, args: &[&str]) -> Run {
    run_on_empty_pipe(sim.cmd(bin), args)
}

// ------------------------------------------------------------------ exit codes

#[test]
fn the_readme_pipeline_fails_under_set_e_without_pipefail_when_step_1_fails() {
    let sim = TestSim::start();
    let pipeline = readme_block_for(&sim, "pipeline");
    assert!(pipeline.contains("| aks-sp-update --cluster"), "{pipeline}");

    // Step 1 fails on an object (a tenant the operator cannot sign in to): its error object
    // passes through every later step, and the last one exits 1 (before: 0).
    let unknown = "0e0e0e0e-0000-4000-8000-00000000000e";
    let failing = pipeline.replace(&sim.var("CLUSTER_TENANT_ID"), unknown);
    let r = sh_set_e(&sim, &failing);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(!r.stderr.contains("REACHED"), "{}", r.stderr);
    let o = r.object();
    assert_eq!(o["error"]["step"], "entra-app-create", "{o}");

    // Step 1 fails on its flags (a typo: exit 2, nothing written): the next step says so
    // instead of running on its flags, and the pipeline fails (before: an unrelated
    // missing field from step 2, and exit 0 at the end... or 1 for another reason).
    let typo = pipeline.replacen("entra-app-create ", "entra-app-create --no-such-flag ", 1);
    let r = sh_set_e(&sim, &typo);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(!r.stderr.contains("REACHED"), "{}", r.stderr);
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    assert!(
        r.stderr.contains(
            "consent-link: error: no input objects: the previous step wrote none — see its error above"
        ),
        "{}",
        r.stderr
    );
    assert!(
        !r.stderr.contains("app_id"),
        "no unrelated missing field: {}",
        r.stderr
    );
    assert!(sim.writes().is_empty(), "{:?}", sim.writes());
}

#[test]
fn an_error_passed_through_fails_the_step_that_passed_it() {
    let sim = TestSim::start();
    let failed = json!({"app_id": "x", "keep": [1], "error": {"step": "entra-app-create", "code": "Timeout", "message": "m"}});
    for (bin, args) in [
        ("consent-link", vec!["--registry-tenant", "b.example.com"]),
        ("acr-grant", vec!["--registry", "fabrikamacr"]),
        ("aks-sp-update", vec!["--cluster", "/subscriptions/s/x"]),
    ] {
        let r = sim.run(bin, &args, &line(&failed));
        assert_eq!(r.code, 1, "{bin}: {}", r.stderr);
        let got = r.object();
        for (k, v) in failed.as_object().unwrap() {
            assert_eq!(&got[k], v, "{bin}: {k} passed through as it came");
        }
        assert!(
            r.stderr.contains(&format!(
                "{bin}: skipped: carries entra-app-create's Timeout; rerun entra-app-create on this output"
            )),
            "{bin}: {}",
            r.stderr
        );
    }
    assert!(sim.azure_requests().is_empty());
}

#[test]
fn an_empty_pipe_is_refused_but_dev_null_runs_from_the_flags() {
    let sim = TestSim::start();
    let args = [
        "--registry-tenant",
        "b.example.com",
        "--app-id",
        "11111111-2222-4333-8444-555555555555",
    ];
    let r = with_empty_pipe(&sim, "consent-link", &args);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stdout.is_empty());
    assert!(r.stderr.contains("no input objects"), "{}", r.stderr);
    // An empty file is the same: the output of a step that wrote nothing.
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("app.json");
    std::fs::write(&empty, "").unwrap();
    let mut c = sim.cmd("consent-link");
    c.args(args)
        .stdin(std::fs::File::open(&empty).unwrap())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = c.output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no input objects"));

    // /dev/null (a Makefile recipe, a CI job, a step run by hand): one run on the flags.
    let r = sim.run("consent-link", &args, "");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.object()["consent_url"].as_str().is_some());
    assert!(sim.azure_requests().is_empty());
}

// ------------------------------------------------------------------ dry runs

#[test]
fn the_readme_dry_run_plans_the_whole_procedure_and_a_real_run_refuses_it() {
    let sim = TestSim::start();
    let pipeline = readme_block_for(&sim, "dry-run");
    assert_eq!(pipeline.matches("--dry-run").count(), 4, "{pipeline}");
    let r = sh_set_e(&sim, &pipeline);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(sim.writes().is_empty(), "{:?}", sim.writes());
    let o = r.object();
    assert_eq!(o["dry_run"], true, "{o}");
    assert!(o.get("error").is_none(), "{o}");
    // Ids that do not exist yet are placeholders the later steps planned against.
    assert_eq!(o["app_id"], "dry-run:app_id");
    assert_eq!(o["registry_sp_object_id"], "dry-run:registry_sp_object_id");
    // Before: acr-grant wrote the id of an assignment it never made.
    assert_eq!(o["role_assignment_id"], "dry-run:role_assignment_id");
    assert!(o.get("pull_verified_at").is_none(), "{o}");
    let plan = o["plan"].as_array().unwrap();
    let shown: Vec<(String, String)> = plan
        .iter()
        .map(|w| {
            let url = w["url"].as_str().unwrap();
            let path = url.split_once("://").unwrap().1;
            (
                w["method"].as_str().unwrap().to_owned(),
                path[path.find('/').unwrap()..].to_owned(),
            )
        })
        .collect();
    let has = |method: &str, part: &str| shown.iter().any(|(m, p)| m == method && p.contains(part));
    assert!(
        has("PATCH", "/applications(uniqueName=")
            && has("POST", "/addPassword")
            && has("PUT", "/roleAssignments/")
            && has("POST", "/resetServicePrincipalProfile"),
        "{shown:#?}"
    );
    // Each planned write is one JSON line on stderr, the same as in the plan, no secret.
    let lines: Vec<Value> = r
        .stderr
        .lines()
        .filter_map(|l| l.split_once(": dry-run: ").map(|(_, j)| j))
        .map(|j| serde_json::from_str(j).unwrap())
        .collect();
    assert_eq!(&lines, plan, "{}", r.stderr);
    let envelope = Envelope::of(&o);
    let reset = envelope.planned("resetServicePrincipalProfile");
    assert_eq!(reset.body["clientId"], "dry-run:app_id");
    assert_eq!(reset.body["secret"], "[redacted]", "{reset:?}");
    // Labels: "would …" and "(dry run)", never "(changed, dry run)".
    for tool in [
        "entra-app-create",
        "consent-link",
        "acr-grant",
        "aks-sp-update",
    ] {
        let summary = r
            .stderr
            .lines()
            .find(|l| l.starts_with(&format!("{tool}: ")) && l.ends_with("(dry run)"))
            .unwrap_or_else(|| panic!("{tool} has no dry-run summary: {}", r.stderr));
        assert!(summary.contains("would "), "{summary}");
    }
    assert!(!r.stderr.contains("changed, dry run"), "{}", r.stderr);

    // A real run refuses the dry run's object, naming dry_run, before any request.
    sim.sim().clear_requests();
    let real = sim.run(
        "acr-grant",
        &["--registry", &sim.var("REGISTRY_NAME")],
        &r.stdout,
    );
    assert_eq!(real.code, 1, "{}", real.stderr);
    let e = &real.object()["error"];
    assert_eq!(e["code"], "InvalidInput", "{e}");
    assert!(e["message"].as_str().unwrap().contains("`dry_run`"), "{e}");
    assert!(e["hint"].as_str().unwrap().contains("--dry-run"), "{e}");
    assert!(
        sim.azure_requests().is_empty(),
        "{:?}",
        sim.azure_requests()
    );
}

// ------------------------------------------------------------------ messages

#[test]
fn refusals_are_short_with_the_hint_apart_and_azures_text_at_v() {
    let sim = TestSim::start();
    // An app with its service principal in B, as the operator makes it.
    let consented = run_steps(&sim, &[Step::App, Step::Consent], "");

    // The reader may not assign roles in B: ARM's long AuthorizationFailed.
    let args = ["--registry", &sim.var("REGISTRY_NAME")];
    let mut c = sim.cmd_as_reader("acr-grant");
    c.args(args);
    let r = run_cmd(c, &[], &consented);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let e = &r.object()["error"];
    assert_eq!(e["code"], "AuthorizationFailed");
    let message = e["message"].as_str().unwrap();
    let hint = e["hint"].as_str().unwrap();
    assert!(
        !message.contains("Hint") && !message.contains(hint),
        "the hint is its own field: {e}"
    );
    assert!(hint.contains("User Access Administrator"), "{hint}");
    for l in r.stderr.lines() {
        assert!(l.chars().count() <= 240, "{l}");
    }
    let error_line = r.stderr.lines().find(|l| l.contains(": error: ")).unwrap();
    assert!(error_line.chars().count() <= 200, "{error_line}");
    // ARM's whole text (the caller, its object id, the scope) only at -v.
    assert!(
        !r.stderr.contains("does not have authorization"),
        "{}",
        r.stderr
    );
    let mut c = sim.cmd_as_reader("acr-grant");
    c.args(args).arg("-v");
    let v = run_cmd(c, &[], &consented);
    assert!(
        v.stderr.contains("does not have authorization"),
        "{}",
        v.stderr
    );

    // Step 4's reader refusal names the role it lacks (before: ARM's 403 and no hint).
    // First the old service principal's roles, which it copies by default: it may not.
    let mut c = sim.cmd_as_reader("aks-sp-update");
    c.args(["--cluster", &sim.var("CLUSTER_ID"), "--force"]);
    let r = run_cmd(c, &[], &consented);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let e = &r.object()["error"];
    assert_eq!(e["code"], "RoleCopyNotAllowed", "{e}");
    assert!(
        e["hint"]
            .as_str()
            .unwrap()
            .contains("User Access Administrator"),
        "{e}"
    );
    // Without the roles, its first write: the record on the app, which it may not change.
    let mut c = sim.cmd_as_reader("aks-sp-update");
    c.args([
        "--cluster",
        &sim.var("CLUSTER_ID"),
        "--force",
        "--no-copy-role-assignments",
    ]);
    let r = run_cmd(c, &[], &consented);
    r.refused_not_owner();
    assert!(r.stderr.contains("hint: "), "{}", r.stderr);
}

// ------------------------------------------------------------------ step 1 again

#[test]
fn step_1_on_a_later_envelope_drops_a_stale_pull_and_a_second_secret_is_announced() {
    let sim = TestSim::start();
    let a = sim.var("CLUSTER_TENANT_ID");
    let first = sim.run("entra-app-create", &["--cluster-tenant", &a], "");
    assert_eq!(first.code, 0, "{}", first.stderr);
    // As step 3 --verify leaves it.
    let mut verified = first.object();
    verified["pull_verified_at"] = json!("2026-01-01T00:00:00Z");
    verified["registry_image"] = json!(sim.var("REGISTRY_IMAGE"));

    // The same secret kept: the verification still holds.
    let kept = sim.run("entra-app-create", &[], &line(&verified));
    assert_eq!(kept.code, 0, "{}", kept.stderr);
    assert_eq!(kept.object()["pull_verified_at"], "2026-01-01T00:00:00Z");

    // A new secret: the pull was verified with the old one, so it goes (before: kept).
    let renewed = sim.run("entra-app-create", &["--new-secret"], &line(&verified));
    assert_eq!(renewed.code, 0, "{}", renewed.stderr);
    let o = renewed.object();
    assert_ne!(o["client_secret_key_id"], verified["client_secret_key_id"]);
    assert!(o.get("pull_verified_at").is_none(), "{o}");
    assert_eq!(o["registry_image"], verified["registry_image"]);
    assert!(
        renewed.stderr.contains("--prune-secrets"),
        "{}",
        renewed.stderr
    );

    // A rerun from the flags alone cannot reuse the secret it does not have: it adds one,
    // and says so (before: silently).
    let again = sim.run("entra-app-create", &["--cluster-tenant", &a], "");
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        again.stderr.contains("live client secrets") && again.stderr.contains("--prune-secrets"),
        "{}",
        again.stderr
    );
}
