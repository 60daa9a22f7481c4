//! docs/day-two.md's commands, run as written (issue 28/25: every claim in the docs is one a
//! test checks): the daily routine (`--status --all`, then `examples/rotate.sh --within 30d`)
//! over a year of Azure's clock, and the offboarding pipeline. `status.rs`, `renew.rs` and
//! `offboard.rs` test these features through their flags; these tests prove the doc's own
//! commands do what the prose around them says, with the simulator's names put in for `A`
//! and `B` and its ids in the shell variables the commands read.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use xtenant_tests::azure::{NewApp, Operator, role_assignments_of, service_principal_of};
use xtenant_tests::clock::later;
use xtenant_tests::readme::{commands, doc_block_for, repo_root};
use xtenant_tests::steps::{Step, app_key_ids, cluster_pulls, run_steps};
use xtenant_tests::world::{new_secret, reset};
use xtenant_tests::{Run, TestSim, run_cmd};

/// The person's shell in `dir` (where the doc's `cluster.json` is, and `examples/` as in the
/// repository): bash with `pipefail`, the tools on PATH, the operator's credential (who may
/// act in both tenants) and the shell variables `vars`.
fn shell(sim: &TestSim, dir: &Path, vars: &[(&str, &str)], script: &str) -> Run {
    let mut c = sim.shell("bash");
    c.current_dir(dir);
    for (k, v) in vars {
        c.env(k, v);
    }
    run_cmd(c, &["-o", "pipefail", "-c", script], "")
}

/// A folder holding `cluster.json` (`envelope`) and `examples/` (the repository's).
fn workdir(envelope: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(repo_root().join("examples"), dir.path().join("examples")).unwrap();
    std::fs::write(dir.path().join("cluster.json"), envelope).unwrap();
    dir
}

fn read(file: &Path) -> Value {
    serde_json::from_str(std::fs::read_to_string(file).unwrap().trim()).unwrap()
}

/// The one `--status` object of the default cluster (`--all` reports every cluster on an app
/// the tools made: here there is one), its health and problem codes.
fn health(sim: &TestSim, r: &Run) -> (String, Vec<String>) {
    let objects = r.objects();
    assert_eq!(objects.len(), 1, "{}\n{}", r.stdout, r.stderr);
    let o = &objects[0];
    assert_eq!(o["cluster_id"], sim.var("CLUSTER_ID").as_str(), "{o}");
    let codes = o["status"]["problems"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|p| p["code"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default();
    (
        o["status"]["health"].as_str().unwrap_or("").to_owned(),
        codes,
    )
}

/// The routine as the doc (and the cron file) runs it, day after day: healthy; then the
/// cluster on a key ending within 30 days; then on a key someone removed. The status exits
/// 0, 4, 1 as the prose says; the renewal renews only what is due (nothing is written
/// otherwise), the cluster pulls with the new key and the old ones are pruned, a rerun renews
/// nothing, and a renewal stopped at the reset goes on from there without a second secret.
/// (A key's end is set by the tool's clock, the real one: the simulator's is not moved on.)
#[test]
fn the_day_two_routine_reports_and_renews_only_what_is_due() {
    let sim = TestSim::start();
    let dir = workdir(&run_steps(&sim, &Step::ALL, ""));
    let block = doc_block_for(&sim, "docs/day-two.md", "routine");
    let [status, rotate] = <[String; 2]>::try_from(commands(&block)).expect("two commands");
    assert!(
        status.starts_with("aks-sp-update --status --all") && rotate.contains("--within 30d"),
        "{block}"
    );
    let (cluster, registry) = (sim.var("CLUSTER_ID"), sim.var("REGISTRY_ID"));
    let vars = [
        ("CLUSTER_ID", cluster.as_str()),
        ("REGISTRY_ID", registry.as_str()),
    ];
    let run = |cmd: &str| later(&sim, || shell(&sim, dir.path(), &vars, cmd));
    let file = dir.path().join("cluster.json");
    let app = read(&file)["app_id"].as_str().unwrap().to_owned();
    let key = || {
        read(&file)["client_secret_key_id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    // The routine on a day nothing is due: exit 0 twice, nothing written.
    let quiet = |what: &str| {
        sim.sim().clear_requests();
        let r = run(&status);
        assert_eq!(r.code, 0, "{what}: healthy is exit 0\n{}", r.stderr);
        assert_eq!(health(&sim, &r), ("healthy".into(), vec![]), "{what}");
        let r = run(&rotate);
        assert_eq!(r.code, 0, "{what}: {}", r.stderr);
        assert!(
            r.stderr.contains("nothing to renew"),
            "{what}: {}",
            r.stderr
        );
        assert!(sim.writes().is_empty(), "{what}: {:?}", sim.writes());
    };
    quiet("the first day (a key of 365 days)");

    // The cluster on a key that ends in 10 days: exit 4, and it is renewed.
    let soon = new_secret(&sim, &std::fs::read_to_string(&file).unwrap(), "10d");
    std::fs::write(&file, reset(&sim, &soon, "aks-prod")).unwrap();
    let r = run(&status);
    assert_eq!(r.code, 4, "expiring is exit 4\n{}", r.stderr);
    assert_eq!(
        health(&sim, &r),
        ("expiring".into(), vec!["KeyExpiresSoon".into()])
    );
    let before = key();
    let r = run(&rotate);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("renewing"), "{}", r.stderr);
    let renewed = key();
    assert_ne!(renewed, before);
    assert_eq!(
        app_key_ids(&sim, &app),
        [renewed.as_str()],
        "the old keys pruned"
    );
    assert!(cluster_pulls(&sim), "the cluster pulls with the new key");
    assert!(!dir.path().join("cluster.json.rotate").exists());
    quiet("the day after the renewal");

    // Someone removes the cluster's key: it cannot pull, the status is broken (exit 1). AKS
    // refuses the renewal's reset once: it stops there, and the next run goes on from the
    // reset with the secret it minted.
    let op = Operator::new(&sim);
    op.remove_secret(read(&file)["app_object_id"].as_str().unwrap(), &renewed);
    drop(op);
    assert!(!cluster_pulls(&sim), "a removed key does not pull");
    let r = run(&status);
    assert_eq!(r.code, 1, "broken is exit 1\n{}", r.stderr);
    assert_eq!(health(&sim, &r), ("broken".into(), vec!["KeyGone".into()]));
    sim.sim()
        .add_fault(
            json!({"method": "POST", "path": "resetServicePrincipalProfile",
            "status": 400, "code": "BadRequest", "message": "A transient refusal.", "count": 1}),
        )
        .unwrap();
    let r = run(&rotate);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        dir.path().join("cluster.json.rotate").is_dir(),
        "{}",
        r.stderr
    );
    assert_eq!(app_key_ids(&sim, &app).len(), 1, "one new key");
    let r = run(&rotate);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("1/5 minting a new secret: done in an earlier run"),
        "{}",
        r.stderr
    );
    assert_eq!(app_key_ids(&sim, &app), [key()], "one secret minted");
    assert!(cluster_pulls(&sim));
    quiet("the day after the second renewal");
}

/// The offboarding pipeline as written: refused with `AppInUse` (nothing written) while the
/// cluster runs as the app; planned and not sent with `--dry-run --force`; once the cluster
/// runs as another app, it leaves no role assignment, no principal in B and no app (nor its
/// principal) in A; run again, everything is already gone and nothing is written.
#[test]
fn the_day_two_offboarding_refuses_while_the_cluster_runs_as_the_app_then_leaves_nothing() {
    let sim = TestSim::start();
    let dir = workdir(&run_steps(&sim, &Step::ALL, ""));
    let block = doc_block_for(&sim, "docs/day-two.md", "offboarding");
    let app = read(&dir.path().join("cluster.json"))["app_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let registry = sim.var("REGISTRY_NAME");
    let vars = [("APP", app.as_str()), ("REGISTRY", registry.as_str())];
    let run = |script: &str| shell(&sim, dir.path(), &vars, script);
    let (a, b) = (sim.var("CLUSTER_TENANT_ID"), sim.var("REGISTRY_TENANT_ID"));
    let sp_b = service_principal_of(&sim, &b, &app).expect("the app's principal in B");
    assert_eq!(role_assignments_of(&sim, &sp_b).len(), 1);

    sim.sim().clear_requests();
    let r = run(&block);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let o = r.object();
    assert_eq!(o["error"]["code"], "AppInUse", "{o}");
    assert!(
        o["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&sim.var("CLUSTER_ID")),
        "{o}"
    );
    // Dry-runnable: each command with `--dry-run` (and `--force`, past the refusal) plans its
    // delete and sends none.
    let dry = block.replace("--app-id \"$APP\"", "--app-id \"$APP\" --force --dry-run");
    assert_eq!(dry.matches("--dry-run").count(), 3, "{dry}");
    let r = run(&dry);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stderr.matches("DELETE").count(), 3, "{}", r.stderr);
    assert!(sim.writes().is_empty(), "{:?}", sim.writes());
    assert!(service_principal_of(&sim, &a, &app).is_some());

    // The cluster moves to another app (reset by hand, as `az aks update-credentials` does).
    let op = Operator::new(&sim);
    let next = op.create_app(&NewApp::procedure("xtenant-next"));
    op.reset_cluster(
        &sim.var("CLUSTER_ID"),
        &json!(next.app_id),
        &json!(next.secret()),
    );
    drop(op);
    sim.sim().advance(Duration::from_secs(15 * 60));

    let r = run(&block);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(r.object()["app_id"], app.as_str());
    assert!(role_assignments_of(&sim, &sp_b).is_empty(), "no role left");
    assert_eq!(
        service_principal_of(&sim, &b, &app),
        None,
        "no principal in B"
    );
    assert_eq!(
        service_principal_of(&sim, &a, &app),
        None,
        "no principal in A"
    );
    let apps = sim.collection("applications");
    assert!(
        !apps
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["app_id"] == app.as_str()),
        "no app {app} in A"
    );
    // Idempotent: already gone is success, and nothing is written.
    sim.sim().clear_requests();
    let r = run(&block);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stderr.matches("already gone").count(), 3, "{}", r.stderr);
    assert!(sim.writes().is_empty(), "{:?}", sim.writes());
}
