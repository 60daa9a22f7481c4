//! `aks-sp-update --probe-image`: the cluster itself proves the pull (issue 27), end to end
//! against the simulator's AKS run command. After the procedure the probe says pulled; with
//! a stale secret, a firewall that excludes the cluster's egress, or a missing tag it fails
//! with the right hint while the operator-side check (acr-grant --verify) tells the
//! difference where it can; run command disabled is a refusal; an interrupted probe leaves
//! no pod after the rerun.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use xtenant_tests::azure::Operator;
use xtenant_tests::steps::{Step, pods, run_step, run_steps};
use xtenant_tests::{Run, TestSim, line, run_cmd, sp_cluster, spawn_with_input};

fn sim_with(f: impl FnOnce(&mut Value)) -> TestSim {
    let first = TestSim::start();
    let mut state = first.state();
    drop(first);
    f(&mut state);
    TestSim::start_with(|c| c.scenario = Some(state))
}

fn sim() -> TestSim {
    TestSim::start()
}

/// Step 4 (without a probe) on the envelope of steps 1 to 3; asserts it exits 0.
#[track_caller]
fn reset_granted(sim: &TestSim) -> Run {
    let r = run_step(sim, Step::Reset, &["--timeout", "60s"], &granted(sim));
    assert_eq!(r.code, 0, "{}", r.stderr);
    r
}

/// The envelope after steps 1 to 3 (acr-grant --verify passed from this machine).
fn granted(sim: &TestSim) -> String {
    run_steps(sim, &Step::FIRST_THREE, "")
}

/// The probe on `input`, the cluster its objects name (`--targets-from-input`: the test's own
/// outputs, as a rerun or a fleet gives them).
fn probe(sim: &TestSim, extra: &[&str], input: &str) -> Run {
    let mut args = vec![
        "--targets-from-input",
        "--probe-image",
        "samples/hello:1.0",
        "--timeout",
        "60s",
    ];
    args.extend_from_slice(extra);
    run_cmd(sim.cmd("aks-sp-update"), &args, input)
}

fn posted_commands(sim: &TestSim) -> usize {
    sim.requests()
        .iter()
        .filter(|r| {
            r["method"] == "POST" && r["path"].as_str().unwrap_or("").ends_with("/runCommand")
        })
        .count()
}

/// Step 4 with `--probe-image` the scenario's image, on `input`.
fn probe_reset(sim: &TestSim, input: &str) -> Run {
    run_step(
        sim,
        Step::Reset,
        &[
            "--probe-image",
            &sim.var("REGISTRY_IMAGE"),
            "--timeout",
            "60s",
        ],
        input,
    )
}

#[test]
fn after_the_procedure_the_cluster_pulls_from_inside() {
    let sim = sim();
    let env = granted(&sim);
    let r = probe_reset(&sim, &env);
    assert_eq!(r.code, 0, "{}\n{}", r.stderr, r.stdout);
    let o = r.object();
    let p = &o["cluster_pull_probe"];
    assert_eq!(p["pulled"], true, "{o}");
    assert_eq!(p["image"], sim.var("REGISTRY_IMAGE"));
    assert!(
        p["node"].as_str().unwrap().starts_with("aks-nodepool1-"),
        "{p}"
    );
    assert!(
        p["message"]
            .as_str()
            .unwrap()
            .starts_with("Successfully pulled image"),
        "{p}"
    );
    assert!(p["at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(o["cluster_provisioning_state"], "Succeeded");
    let last = r.stderr.lines().last().unwrap();
    assert!(
        last.contains(&format!(
            "cluster aks-prod pulled {} from inside (node aks-nodepool1-",
            sim.var("REGISTRY_IMAGE")
        )),
        "{}",
        r.stderr
    );
    // The probe's pod is gone, and only it was made (its namespace stays, empty).
    assert!(pods(&sim).is_empty(), "{:?}", pods(&sim));
    assert_eq!(posted_commands(&sim), 1);
    // The secret went nowhere it should not.
    let secret = o["client_secret"].as_str().unwrap();
    assert!(!r.stderr.contains(secret));

    // A fleet run: each object's cluster is probed after its step (here two objects, the
    // second finding the cluster already on the app), a bare repository:tag completed with
    // each object's registry.
    let two = format!("{}\n{}\n", line(&o), line(&o));
    let r = probe(&sim, &[], &two);
    assert_eq!(r.code, 0, "{}\n{}", r.stderr, r.stdout);
    let objs = r.objects();
    assert_eq!(objs.len(), 2);
    for x in &objs {
        assert_eq!(x["cluster_pull_probe"]["pulled"], true, "{x}");
    }
    assert_eq!(posted_commands(&sim), 3);
    assert!(pods(&sim).is_empty());
}

#[test]
fn a_stale_secret_is_named_by_the_kubelet_while_the_new_one_pulls_from_here() {
    let sim = sim();
    let r = reset_granted(&sim);
    let done = r.object();
    // A new secret is minted, and the one the cluster holds is removed (a rotation that
    // forgot step 4).
    let r = run_cmd(
        sim.cmd("entra-app-create"),
        &[
            "--cluster-tenant",
            &sim.var("CLUSTER_TENANT_ID"),
            "--new-secret",
        ],
        &line(&done),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rotated = r.object();
    assert_ne!(
        rotated["client_secret_key_id"],
        done["client_secret_key_id"]
    );
    Operator::new(&sim).remove_secret(
        rotated["app_object_id"].as_str().unwrap(),
        done["client_secret_key_id"].as_str().unwrap(),
    );
    // From this machine the new secret pulls.
    let r = run_step(&sim, Step::Grant, &[], &line(&rotated));
    assert_eq!(
        r.code, 0,
        "acr-grant --verify passes with the new secret: {}",
        r.stderr
    );
    // From inside, the cluster's (old) secret does not.
    let r = probe(&sim, &["--probe-only"], &line(&rotated));
    let o = r.failed("aks-sp-update", "ClusterPullFailed");
    assert!(
        o["error"]["message"]
            .as_str()
            .unwrap()
            .contains("401 Unauthorized"),
        "{o}"
    );
    assert!(
        o["error"]["hint"]
            .as_str()
            .unwrap()
            .starts_with("credentials:"),
        "{o}"
    );
    assert_eq!(o["cluster_pull_probe"]["pulled"], false);
    assert!(pods(&sim).is_empty());
    // The step itself (with --force: the cluster already runs as the app) fixes it.
    let r = run_step(
        &sim,
        Step::Reset,
        &[
            "--force",
            "--probe-image",
            &sim.var("REGISTRY_IMAGE"),
            "--timeout",
            "60s",
        ],
        &line(&rotated),
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stderr, r.stdout);
    assert_eq!(r.object()["cluster_pull_probe"]["pulled"], true);
}

#[test]
fn a_firewall_that_admits_this_machine_but_not_the_cluster() {
    let sim = sim_with(|s| {
        for r in s["registries"].as_array_mut().unwrap() {
            r["network_rules"] = json!({"default_action": "Deny", "ip_rules": ["127.0.0.0/8"]});
        }
    });
    // acr-grant --verify passes: it checks from here.
    let env = granted(&sim);
    let r = probe_reset(&sim, &env);
    let o = r.failed("aks-sp-update", "ClusterPullFailed");
    let egress = sim.var("CLUSTER_EGRESS_IP");
    assert!(
        o["error"]["message"]
            .as_str()
            .unwrap()
            .contains("403 Forbidden"),
        "{o}"
    );
    let hint = o["error"]["hint"].as_str().unwrap();
    assert!(
        hint.starts_with("network:") && hint.contains(&egress),
        "{hint}"
    );
    // The reset went through and says so; the verdict is in the object.
    assert_eq!(o["cluster_provisioning_state"], "Succeeded", "{o}");
    assert_eq!(o["cluster_pull_probe"]["pulled"], false);
    assert!(
        o["cluster_pull_probe"]["message"]
            .as_str()
            .unwrap()
            .contains(&format!("client with IP '{egress}'"))
    );
    // The operator-side check still passes: only the cluster's own path tells.
    let r = run_step(&sim, Step::Grant, &[], &env);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(pods(&sim).is_empty());
}

#[test]
fn a_missing_tag_fails_inside_and_from_here() {
    let sim = sim();
    let r = reset_granted(&sim);
    let done = r.stdout;
    let missing = sim.var("REGISTRY_IMAGE").replace(":1.0", ":9.9");
    let r = run_cmd(
        sim.cmd("aks-sp-update"),
        &[
            "--targets-from-input",
            "--probe-only",
            "--probe-image",
            &missing,
        ],
        &done,
    );
    let o = r.failed("aks-sp-update", "ClusterPullFailed");
    assert!(
        o["error"]["message"]
            .as_str()
            .unwrap()
            .ends_with(&format!("{missing}: not found")),
        "{o}"
    );
    assert!(
        o["error"]["hint"]
            .as_str()
            .unwrap()
            .starts_with("missing image:"),
        "{o}"
    );
    // From here too: the operator-side check says the same.
    let r = run_cmd(
        sim.cmd("acr-grant"),
        &[
            "--registry",
            &sim.var("REGISTRY_ID"),
            "--verify",
            "--image",
            &missing,
        ],
        &done,
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("9.9"), "{}", r.stderr);
}

#[test]
fn clusters_that_do_not_run_commands_are_refused_never_pulled() {
    let sim = sim_with(|s| {
        sp_cluster(s)["disable_run_command"] = json!(true);
    });
    let env = granted(&sim);
    let r = probe_reset(&sim, &env);
    let o = r.failed("aks-sp-update", "RunCommandRefused");
    assert!(
        o["error"]["message"]
            .as_str()
            .unwrap()
            .contains("disableRunCommand"),
        "{o}"
    );
    assert!(o.get("cluster_pull_probe").is_none(), "{o}");
    assert_eq!(posted_commands(&sim), 0, "nothing was posted");
    // The reset itself went through.
    assert_eq!(o["cluster_provisioning_state"], "Succeeded");

    // An identity without runcommand/action (the reader) is told which right it lacks.
    let sim = TestSim::start();
    let r = run_cmd(
        sim.cmd_as_reader("aks-sp-update"),
        &[
            "--probe-only",
            "--probe-image",
            &sim.var("REGISTRY_IMAGE"),
            "--cluster",
            &sim.var("CLUSTER_ID"),
            "--cluster-tenant",
            &sim.var("CLUSTER_TENANT_ID"),
        ],
        "",
    );
    let o = r.failed("aks-sp-update", "RunCommandRefused");
    assert!(
        o["error"]["hint"]
            .as_str()
            .unwrap()
            .contains("managedClusters/runcommand/action"),
        "{o}"
    );
}

#[test]
fn an_entra_cluster_without_local_accounts_runs_the_probe_as_the_operator() {
    let sim = sim_with(|s| {
        let c = sp_cluster(s);
        c["aad_managed"] = json!(true);
        c["disable_local_accounts"] = json!(true);
    });
    let env = granted(&sim);
    let r = probe_reset(&sim, &env);
    assert_eq!(r.code, 0, "{}\n{}", r.stderr, r.stdout);
    assert_eq!(r.object()["cluster_pull_probe"]["pulled"], true);
    // The cluster token is shown nowhere.
    assert!(
        !r.stderr.contains("eyJ") && !r.stdout.contains("eyJ"),
        "{}",
        r.stderr
    );
    // The token for the AKS AAD server application was asked for with the operator's identity.
    let asked = sim.requests().iter().any(|q| {
        q["path"]
            .as_str()
            .unwrap_or("")
            .ends_with("/oauth2/v2.0/token")
            && q["caller_app_id"] == sim.var("AZURE_CLIENT_ID")
    });
    assert!(asked);
}

#[test]
fn an_interrupted_probe_leaves_no_pod_after_the_rerun() {
    // An earlier probe's pod, left when its run command was killed midway.
    let image = "fabrikamacr.azurecr.sim/samples/hello:1.0";
    let sim = sim_with(|s| {
        let c = sp_cluster(s);
        c["namespaces"] = json!(["xtenant-probe"]);
        c["pods"] = json!([{
            "namespace": "xtenant-probe", "name": "xtenant-probe-0000000000", "uid": "u",
            "labels": {"xtenant.io/probe": "true"}, "image": image, "image_pull_policy": "Always",
            "node": "aks-nodepool1-1-vmss000000", "created_at": "2026-01-01T00:00:00Z",
            "pull": {"outcome": "ErrImagePull", "error": "x", "took_ms": 500}
        }]);
    });
    let r = reset_granted(&sim);
    let done = r.stdout;
    assert_eq!(pods(&sim).len(), 1);
    // The result is held: the tool is interrupted while it waits for it.
    sim.sim()
        .add_fault(
            json!({"method": "GET", "path": "/commandResults/", "delay_ms": 3000, "count": 0}),
        )
        .unwrap();
    let mut c = sim.cmd("aks-sp-update");
    c.args([
        "--targets-from-input",
        "--probe-only",
        "--probe-image",
        "samples/hello:1.0",
        "--timeout",
        "60s",
    ]);
    let child = spawn_with_input(&mut c, &done);
    let started = Instant::now();
    while posted_commands(&sim) == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no run command posted"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(200));
    let ok = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let interrupted: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(interrupted["error"]["code"], "Interrupted", "{interrupted}");
    sim.sim().clear_faults();
    // The rerun of the same command on its output probes again; nothing is left after it.
    let r = run_cmd(
        sim.cmd("aks-sp-update"),
        &[
            "--targets-from-input",
            "--probe-only",
            "--probe-image",
            "samples/hello:1.0",
            "--timeout",
            "60s",
        ],
        &line(&interrupted),
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stderr, r.stdout);
    assert_eq!(r.object()["cluster_pull_probe"]["pulled"], true);
    assert!(pods(&sim).is_empty(), "{:?}", pods(&sim));
}

#[test]
fn the_probe_is_planned_in_a_dry_run_and_refuses_bad_images_first() {
    let sim = sim();
    let env = granted(&sim);
    let r = probe(
        &sim,
        &["--dry-run", "--cluster", &sim.var("CLUSTER_ID")],
        &env,
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stderr, r.stdout);
    let o = r.object();
    let plan = o["plan"].as_array().unwrap();
    let posted = plan
        .iter()
        .find(|w| w["url"].as_str().unwrap_or("").contains("/runCommand"))
        .unwrap_or_else(|| panic!("{o}"));
    assert!(
        posted["body"]["command"]
            .as_str()
            .unwrap()
            .contains("kubectl run")
    );
    assert!(o.get("cluster_pull_probe").is_none());
    assert_eq!(posted_commands(&sim), 0);
    for bad in [
        "x'y:1",
        "samples/hello",
        "other.azurecr.io/samples/hello:1",
        "samples/hello:$(id)",
    ] {
        sim.sim().clear_requests();
        let r = run_cmd(
            sim.cmd("aks-sp-update"),
            &[
                "--probe-only",
                "--probe-image",
                bad,
                "--cluster",
                &sim.var("CLUSTER_ID"),
            ],
            &env,
        );
        let o = r.failed("aks-sp-update", "InvalidInput");
        assert!(
            o["error"]["message"]
                .as_str()
                .unwrap()
                .contains("--probe-image"),
            "{o}"
        );
        assert!(sim.azure_requests().is_empty(), "{bad}: nothing sent");
    }
}

/// A run command that ends `Failed` after a wait (AKS could not run it) ends its progress
/// line saying so: a progress line never says "done" for a wait that ended in failure
/// (issue 25).
#[test]
fn a_run_command_that_could_not_run_ends_its_wait_without_done() {
    let sim = sim();
    let env = granted(&sim);
    let env = run_step(&sim, Step::Reset, &[], &env).stdout;
    // The first look: still running; every later one: AKS could not run the command.
    sim.sim()
        .add_fault(json!({"method": "GET", "path": "commandResults", "status": 202, "count": 1}))
        .unwrap();
    sim.sim()
        .add_fault(
            json!({"method": "GET", "path": "commandResults", "count": 0,
        "body_patch": {"properties": {"provisioningState": "Failed", "exitCode": null,
            "reason": "the command's pod could not be scheduled"}}}),
        )
        .unwrap();
    let r = probe(&sim, &["--probe-only"], &env);
    r.failed("aks-sp-update", "RunCommandRefused");
    assert!(
        r.stderr
            .contains("running the probe in cluster aks-prod: could not run (Failed) after"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("done after"), "{}", r.stderr);
}
