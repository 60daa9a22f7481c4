//! Attacks with partial rights on the day-two paths (issue 23): a claim — an envelope field
//! another team handed back — may cause a read or a check, never a write to a target the
//! person did not name, nor skip the check that guards a destructive write.
//!
//! Each test is one attack, against the simulator; each failed before its fix.

use serde_json::{Value, json};
use xtenant_tests::azure::{role_assignments_of, service_principal_of};
use xtenant_tests::steps::{Step, app_key_ids, run_steps};
use xtenant_tests::world::{cluster_id, granted_app, reset, rotate, start, state_with_clusters};
use xtenant_tests::{Run, TestSim, line};

/// The run commands posted, by cluster name.
fn run_commands_on(sim: &TestSim, name: &str) -> Vec<Value> {
    sim.requests()
        .into_iter()
        .filter(|r| {
            let p = r["path"].as_str().unwrap_or("");
            r["method"] == "POST"
                && p.ends_with("/runCommand")
                && p.contains(&format!("/managedClusters/{name}/"))
        })
        .collect()
}

/// Every run command posted, anywhere.
fn run_commands(sim: &TestSim) -> Vec<Value> {
    sim.requests()
        .into_iter()
        .filter(|r| {
            r["method"] == "POST" && r["path"].as_str().unwrap_or("").ends_with("/runCommand")
        })
        .collect()
}

fn parse(envelope: &str) -> Value {
    serde_json::from_str(envelope.trim()).unwrap()
}

#[track_caller]
fn refused(r: &Run, code: &str, names: &[&str]) {
    assert_eq!(r.code, 1, "{}\n{}", r.stderr, r.stdout);
    let o = r.object();
    assert_eq!(o["error"]["code"], code, "{o}\n{}", r.stderr);
    let text = format!("{} {}", o["error"]["message"], o["error"]["hint"]);
    for n in names {
        assert!(text.contains(n), "{n} not named: {text}");
    }
}

/// Persona (d): team B hands back `aks-prod`'s envelope with `cluster_id` set to another of
/// the reader's clusters. `--status --probe-image` on it must not run a command (make a
/// namespace, run a pod) in a cluster the person did not name: the probe is a write.
#[test]
fn a_handed_back_cluster_id_gets_no_status_probe_run_in_it() {
    let sim = start(state_with_clusters(&["aks-other"]));
    let env = granted_app(&sim, "xtenant-attack-status");
    let prod = reset(&sim, &env, "aks-prod");
    let mut forged = parse(&prod);
    forged["cluster_id"] = json!(cluster_id(&sim, "aks-other"));
    let image = sim.var("REGISTRY_IMAGE");

    sim.sim().clear_requests();
    let r = sim.run(
        "aks-sp-update",
        &["--status", "--probe-image", &image, "--timeout", "60s"],
        &line(&forged),
    );
    assert!(
        run_commands(&sim).is_empty(),
        "a run command in a cluster only the envelope names: {:?}\n{}",
        run_commands(&sim),
        r.stderr
    );
    assert!(sim.writes().is_empty(), "{:?}", sim.writes());
    refused(&r, "InvalidInput", &["cluster_id", "--cluster"]);

    // The cluster the flag names is probed, whatever the envelope says.
    let r = sim.run(
        "aks-sp-update",
        &[
            "--status",
            "--cluster",
            &cluster_id(&sim, "aks-prod"),
            "--probe-image",
            &image,
            "--timeout",
            "60s",
        ],
        &line(&parse(&prod)),
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stderr, r.stdout);
    assert_eq!(run_commands_on(&sim, "aks-prod").len(), 1);
    assert!(run_commands_on(&sim, "aks-other").is_empty());
    // The reader's own files, trusted by the flag: the object's cluster is probed.
    let r = sim.run(
        "aks-sp-update",
        &[
            "--status",
            "--targets-from-input",
            "--probe-image",
            &image,
            "--timeout",
            "60s",
        ],
        &prod,
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stderr, r.stdout);
    assert_eq!(run_commands_on(&sim, "aks-prod").len(), 2);
}

/// Persona (d): the envelope's `registry_login_server` names another registry of the cloud
/// (one the forger controls). `--probe-image REPOSITORY:TAG` must not let it choose which
/// registry's image runs in the reader's cluster.
#[test]
fn a_handed_back_login_server_does_not_choose_the_probes_registry() {
    let sim = start(state_with_clusters(&[]));
    let env = granted_app(&sim, "xtenant-attack-probe");
    let prod = reset(&sim, &env, "aks-prod");
    let theirs = sim
        .var("REGISTRY_LOGIN_SERVER")
        .replace("fabrikamacr", "fabrikamabac");
    let mut forged = parse(&prod);
    forged["registry_login_server"] = json!(theirs);
    let cluster = cluster_id(&sim, "aks-prod");

    sim.sim().clear_requests();
    for mode in [&["--probe-only"][..], &["--status"][..]] {
        let mut args = mode.to_vec();
        args.extend([
            "--cluster",
            &cluster,
            "--probe-image",
            "samples/hello:1.0",
            "--timeout",
            "60s",
        ]);
        let r = sim.run("aks-sp-update", &args, &line(&forged));
        let posted: Vec<String> = run_commands(&sim).iter().map(ToString::to_string).collect();
        assert!(
            run_commands(&sim).is_empty(),
            "{mode:?}: the cluster ran an image of a registry the envelope chose: {posted:?}\n{}",
            r.stderr
        );
        assert_eq!(r.code, 1, "{mode:?}: {}\n{}", r.stderr, r.stdout);
        assert!(r.stdout.contains("--probe-image"), "{mode:?}: {}", r.stdout);
    }
    // A full reference on the flag: the person named the registry.
    let r = sim.run(
        "aks-sp-update",
        &[
            "--probe-only",
            "--cluster",
            &cluster,
            "--probe-image",
            &sim.var("REGISTRY_IMAGE"),
            "--timeout",
            "60s",
        ],
        &line(&forged),
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stderr, r.stdout);
    assert_eq!(r.object()["cluster_pull_probe"]["pulled"], true);
}

/// Persona (d): the envelope handed back for offboarding names another tenant as
/// `cluster_tenant_id` (one where the reader's identity sees no cluster on the app). The
/// in-use check must not be moved there: `aks-prod` still runs as the app, so revoking its
/// pull role or removing its principal in tenant B is refused.
#[test]
fn a_handed_back_cluster_tenant_does_not_skip_the_in_use_check_of_offboarding() {
    let sim = TestSim::start();
    let out = run_steps(&sim, &Step::ALL, "");
    let made = parse(&out);
    let app = made["app_id"].as_str().unwrap().to_owned();
    let b = sim.var("REGISTRY_TENANT_ID");
    let reg = sim.var("REGISTRY_ID");
    let sp_b = service_principal_of(&sim, &b, &app).expect("the app's principal in B");
    let roles = role_assignments_of(&sim, &sp_b).len();
    assert!(roles > 0);
    let mut forged = made.clone();
    forged["cluster_tenant_id"] = json!(b);

    sim.sim().clear_requests();
    let r = sim.run(
        "acr-grant",
        &["--revoke", "--registry", &reg, "--app-id", &app],
        &line(&forged),
    );
    assert_eq!(
        role_assignments_of(&sim, &sp_b).len(),
        roles,
        "the pull role of a cluster in use was revoked: {}",
        r.stderr
    );
    refused(&r, "AppInUse", &[&sim.var("CLUSTER_ID")]);
    let r = sim.run(
        "consent-link",
        &["--remove", "--registry-tenant", &b, "--app-id", &app],
        &line(&forged),
    );
    assert!(
        service_principal_of(&sim, &b, &app).is_some(),
        "the principal of a cluster in use was removed: {}",
        r.stderr
    );
    refused(&r, "AppInUse", &[&sim.var("CLUSTER_ID")]);
    assert!(sim.writes().is_empty(), "{:?}", sim.writes());
}

/// Persona (d): the envelope handed back for offboarding names tenant B as
/// `cluster_tenant_id`. `entra-app-create --delete --app-id APP` must not look for the app
/// there and call it "already gone" (exit 0, the secret dropped from the object) while it
/// lives on in tenant A with its secrets — the person believes the partner's credential dead.
#[test]
fn a_handed_back_cluster_tenant_does_not_make_a_live_app_look_deleted() {
    let sim = TestSim::start();
    let out = run_steps(&sim, &Step::ALL, "");
    let made = parse(&out);
    let app = made["app_id"].as_str().unwrap().to_owned();
    let (a, b) = (sim.var("CLUSTER_TENANT_ID"), sim.var("REGISTRY_TENANT_ID"));
    let mut forged = made.clone();
    forged["cluster_tenant_id"] = json!(b);

    sim.sim().clear_requests();
    let r = sim.run(
        "entra-app-create",
        &["--delete", "--force", "--app-id", &app],
        &line(&forged),
    );
    assert!(
        service_principal_of(&sim, &a, &app).is_some(),
        "the app was deleted from a tenant the person did not name"
    );
    assert!(
        !r.stderr.contains("already gone"),
        "a live app reported gone: {}",
        r.stderr
    );
    refused(&r, "AppNotFound", &["--cluster-tenant"]);
    assert!(sim.writes().is_empty(), "{:?}", sim.writes());
    // Named by the flag: found in tenant A, and refused there while aks-prod runs as it.
    let r = sim.run(
        "entra-app-create",
        &["--delete", "--cluster-tenant", &a, "--app-id", &app],
        &line(&forged),
    );
    refused(&r, "AppInUse", &[&sim.var("CLUSTER_ID")]);
}

/// Persona (d): the envelope `examples/rotate.sh` renews (one team B handed back) names as
/// `app_id` another app of the reader's — tagged `xtenant:managed`, consented in tenant B,
/// with a key something else uses. Without `--within` the rotation must not mint a secret on
/// that app, switch the cluster to it, or prune its key: the cluster runs as another app.
#[test]
fn a_handed_back_app_id_does_not_turn_a_rotation_into_a_switch_and_a_prune() {
    let sim = TestSim::start();
    let out = run_steps(&sim, &Step::ALL, "");
    let made = parse(&out);
    let theirs = parse(&granted_app(&sim, "xtenant-other-partnership"));
    let other = theirs["app_id"].as_str().unwrap().to_owned();
    let other_keys = app_key_ids(&sim, &other);
    assert_eq!(other_keys.len(), 1);
    let mut forged = made.clone();
    forged["app_id"] = theirs["app_id"].clone();
    for f in ["app_object_id", "app_unique_name", "app_display_name"] {
        forged[f] = theirs[f].clone();
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cluster.json");
    std::fs::write(&file, line(&forged)).unwrap();

    sim.sim().clear_requests();
    let r = rotate(&sim, &[file.to_str().unwrap()]);
    let cluster_app = sim.state()["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == sim.var("CLUSTER_ID").as_str())
        .unwrap()["service_principal_client_id"]
        .clone();
    assert_eq!(
        cluster_app, made["app_id"],
        "the rotation switched the cluster to the envelope's app: {}",
        r.stderr
    );
    assert_eq!(
        app_key_ids(&sim, &other),
        other_keys,
        "the other app's keys changed: {}",
        r.stderr
    );
    assert_ne!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("ClusterOnAnotherApp"), "{}", r.stderr);
}
