//! The lost envelope: the full procedure, its envelope lost, the README's recovery advice
//! followed line by line, with the simulator's truth endpoint asked after every step whether
//! the cluster pulls. And `--prune-secrets` never cutting a cluster off unasked.

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};
use xtenant_tests::azure::{app_tags, record_entry, set_app_tags};
use xtenant_tests::readme::readme_block;
use xtenant_tests::steps::{Step, app_key_ids, cluster_pulls, run_step, run_steps};
use xtenant_tests::{Run, TestSim, line, run_cmd};

fn sim() -> TestSim {
    TestSim::start()
}

/// The key the record on the app `app_id` says the cluster holds (`Null`: none).
fn recorded_key(sim: &TestSim, app_id: &str) -> Value {
    record_entry(sim, app_id, &sim.var("CLUSTER_ID")).map_or(Value::Null, |e| e["key"].clone())
}

fn object(text: &str) -> Value {
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// The commands of README.md's recovery advice: its sh block marked `recovery`.
fn readme_recovery() -> Vec<String> {
    readme_block("recovery")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// The tools a command line runs, in order, each with its flags.
fn tools_of(command: &str) -> Vec<String> {
    command
        .split('|')
        .map(|part| {
            part.split_whitespace()
                .take_while(|w| !w.starts_with('<') && !w.starts_with('>'))
                .filter(|w| !w.starts_with('"'))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

/// bash in `dir` with the simulator's environment, the built tools first on PATH, and the
/// variables the README's advice names.
fn shell(sim: &TestSim, dir: &Path) -> Command {
    let mut c = sim.shell("bash");
    c.env("TENANT_A", sim.var("CLUSTER_TENANT_ID"))
        .env("TENANT_B", sim.var("REGISTRY_TENANT_ID"))
        .env("REGISTRY", sim.var("REGISTRY_ID"))
        .env("CLUSTER_ID", sim.var("CLUSTER_ID"))
        .current_dir(dir);
    c
}

/// The full procedure, undisturbed; its envelope (which the caller may then "lose").
fn full_procedure(sim: &TestSim) -> Value {
    assert!(
        !cluster_pulls(sim),
        "the cluster must not pull before the procedure"
    );
    let out = object(&run_steps(sim, &Step::ALL, ""));
    assert!(cluster_pulls(sim), "the cluster pulls after the procedure");
    out
}

#[test]
fn the_readmes_recovery_advice_is_the_sequence_this_test_runs() {
    // The order is the point: the pipeline again (the cluster reset to the new secret),
    // then the prune. If the README says otherwise, the advice and the test differ.
    let lines = readme_recovery();
    let tools: Vec<Vec<String>> = lines.iter().map(|l| tools_of(l)).collect();
    let names: Vec<Vec<&str>> = tools
        .iter()
        .map(|t| t.iter().map(|c| c.split(' ').next().unwrap()).collect())
        .collect();
    assert_eq!(
        names,
        vec![
            vec![
                "entra-app-create",
                "consent-link",
                "acr-grant",
                "aks-sp-update"
            ],
            vec!["entra-app-create"],
        ],
        "{lines:#?}"
    );
    assert!(tools[1][0].contains("--prune-secrets"), "{lines:#?}");
    assert!(
        !lines.iter().any(|l| l.contains("--force")),
        "the advice never needs --force: {lines:#?}"
    );
    // The second line prunes on the first line's output.
    let first_out = lines[0].rsplit_once('>').unwrap().1.trim();
    assert!(lines[1].contains(&format!("< {first_out}")), "{lines:#?}");
}

#[test]
fn a_lost_envelope_is_recovered_by_the_readmes_advice_with_the_cluster_pulling_throughout() {
    let sim = sim();
    let lost = full_procedure(&sim);
    let app_id = lost["app_id"].as_str().unwrap().to_owned();
    let lost_key = lost["client_secret_key_id"].as_str().unwrap().to_owned();
    assert_eq!(recorded_key(&sim, &app_id), json!(lost_key));
    drop(lost); // the envelope is lost: nothing below reads it

    let dir = tempfile::tempdir().unwrap();
    for (i, command) in readme_recovery().iter().enumerate() {
        let r = run_cmd(
            shell(&sim, dir.path()),
            &["-o", "pipefail", "-c", command],
            "",
        );
        assert_eq!(
            r.code,
            0,
            "README recovery line {}: {command}\n{}",
            i + 1,
            r.stderr
        );
        assert!(
            cluster_pulls(&sim),
            "README recovery line {} reported success, but the cluster cannot pull: {command}\n{}",
            i + 1,
            r.stderr
        );
        if i == 0 {
            let recovered =
                object(&std::fs::read_to_string(dir.path().join("recovered.json")).unwrap());
            let new_key = recovered["client_secret_key_id"].as_str().unwrap();
            assert_ne!(new_key, lost_key, "a new secret was minted");
            assert_eq!(
                app_key_ids(&sim, &app_id).len(),
                2,
                "the lost secret and the new one"
            );
            assert_eq!(
                recorded_key(&sim, &app_id),
                json!(new_key),
                "the cluster was reset to the new secret: {}",
                r.stderr
            );
            assert!(
                r.stderr
                    .contains(&format!("it held the app's secret {lost_key}")),
                "{}",
                r.stderr
            );
        }
    }
    let final_envelope =
        object(&std::fs::read_to_string(dir.path().join("envelope.json")).unwrap());
    assert_eq!(
        app_key_ids(&sim, &app_id),
        vec![
            final_envelope["client_secret_key_id"]
                .as_str()
                .unwrap()
                .to_owned()
        ],
        "only the envelope's secret is left"
    );
    assert!(cluster_pulls(&sim));
}

#[test]
fn pruning_first_keeps_the_secret_the_cluster_uses_and_force_removes_it() {
    let sim = sim();
    let lost = full_procedure(&sim);
    let app_id = lost["app_id"].as_str().unwrap().to_owned();
    let lost_key = lost["client_secret_key_id"].as_str().unwrap().to_owned();
    drop(lost);

    // Step 1 rerun mints a new secret; pruning now, before the cluster is reset to it.
    let minted = run_step(&sim, Step::App, &[], "");
    assert_eq!(minted.code, 0, "{}", minted.stderr);
    let prune = run_step(&sim, Step::App, &["--prune-secrets"], &minted.stdout);
    assert_eq!(prune.code, 0, "{}", prune.stderr);
    assert!(
        prune
            .stderr
            .contains(&format!("kept the secret {lost_key}"))
            && prune.stderr.contains(&sim.var("CLUSTER_NAME")),
        "the warning names the secret and the cluster: {}",
        prune.stderr
    );
    assert_eq!(
        app_key_ids(&sim, &app_id).len(),
        2,
        "nothing the cluster uses was removed"
    );
    assert!(cluster_pulls(&sim), "the prune did not cut the cluster off");

    // --force removes it, saying which cluster loses its pull.
    let forced = run_step(
        &sim,
        Step::App,
        &["--prune-secrets", "--force"],
        &minted.stdout,
    );
    assert_eq!(forced.code, 0, "{}", forced.stderr);
    assert!(
        forced.stderr.contains("--force") && forced.stderr.contains(&sim.var("CLUSTER_NAME")),
        "{}",
        forced.stderr
    );
    assert_eq!(app_key_ids(&sim, &app_id).len(), 1);
    assert!(!cluster_pulls(&sim), "forced: the cluster's secret is gone");

    // The rest of the pipeline on the new envelope puts the cluster on the new secret.
    let out = run_steps(&sim, Step::Consent.from_here(), &forced.stdout);
    assert!(cluster_pulls(&sim), "{out}");
}

#[test]
fn pruning_refuses_while_a_cluster_on_the_app_has_no_record() {
    let sim = sim();
    let first = full_procedure(&sim);
    let app_id = first["app_id"].as_str().unwrap().to_owned();
    // A cluster reset before records existed (or by hand): on the app, no entry for it.
    let others: Vec<String> = app_tags(&sim, &app_id)
        .into_iter()
        .filter(|t| !t.starts_with("xtenant-cluster:"))
        .collect();
    set_app_tags(
        &sim,
        &app_id,
        &others.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    assert_eq!(recorded_key(&sim, &app_id), Value::Null);
    let minted = run_step(&sim, Step::App, &["--new-secret"], &line(&first));
    assert_eq!(minted.code, 0, "{}", minted.stderr);
    let prune = run_step(&sim, Step::App, &["--prune-secrets"], &minted.stdout);
    assert_eq!(prune.code, 1, "{}", prune.stderr);
    let e = &prune.object()["error"];
    assert_eq!(e["code"], "ClusterSecretUnknown", "{e}");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains(&sim.var("CLUSTER_NAME")),
        "{e}"
    );
    assert!(prune.stderr.contains("aks-sp-update"), "{}", prune.stderr);
    assert_eq!(app_key_ids(&sim, &app_id).len(), 2, "nothing was removed");
    assert!(cluster_pulls(&sim));

    // The way the hint gives: step 4 on the new output records the cluster; then the prune.
    let reset = run_steps(&sim, &[Step::Reset], &minted.stdout);
    let pruned = run_step(&sim, Step::App, &["--prune-secrets"], &reset);
    assert_eq!(pruned.code, 0, "{}", pruned.stderr);
    assert_eq!(app_key_ids(&sim, &app_id).len(), 1);
    assert!(cluster_pulls(&sim));
}

#[test]
fn pruning_refuses_when_the_clusters_cannot_be_listed_unless_forced() {
    // An identity with Graph rights but no role on tenant A's subscriptions.
    let base = TestSim::start();
    let mut state = base.state();
    let operator = base.var("AZURE_CLIENT_ID");
    let operator_sp_a = state["service_principals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|sp| {
            sp["app_id"] == operator.as_str()
                && sp["tenant_id"] == base.var("CLUSTER_TENANT_ID").as_str()
        })
        .map(|sp| sp["id"].clone())
        .unwrap();
    state["role_assignments"]
        .as_array_mut()
        .unwrap()
        .retain(|ra| ra["principal_id"] != operator_sp_a);
    drop(base);
    let sim = TestSim::start_with(|c| c.scenario = Some(state));
    let first = run_step(&sim, Step::App, &[], "");
    assert_eq!(first.code, 0, "{}", first.stderr);
    let app_id = first.object()["app_id"].as_str().unwrap().to_owned();
    let minted = run_step(&sim, Step::App, &["--new-secret"], &first.stdout);
    assert_eq!(minted.code, 0, "{}", minted.stderr);
    let prune: Run = run_step(&sim, Step::App, &["--prune-secrets"], &minted.stdout);
    assert_eq!(prune.code, 1, "{}", prune.stderr);
    let e = &prune.object()["error"];
    assert_eq!(e["code"], "ClustersNotListed", "{e}");
    assert!(
        prune.stderr.contains("Reader"),
        "names the right: {}",
        prune.stderr
    );
    assert_eq!(app_key_ids(&sim, &app_id).len(), 2, "nothing was removed");

    let forced = run_step(
        &sim,
        Step::App,
        &["--prune-secrets", "--force"],
        &minted.stdout,
    );
    assert_eq!(forced.code, 0, "{}", forced.stderr);
    assert!(forced.stderr.contains("--force"), "{}", forced.stderr);
    assert_eq!(app_key_ids(&sim, &app_id).len(), 1);
}
