//! Ending the arrangement: steps 3, 2 and 1 undone (`acr-grant --revoke`, `consent-link
//! --remove`, `entra-app-create --delete`) on the same envelope, refused while a cluster
//! still runs as the app, dry-runnable, and "already gone" on a rerun.

use serde_json::Value;
use xtenant_tests::azure::{role_assignments_of, service_principal_of};
use xtenant_tests::steps::{Step, run_step, run_steps};
use xtenant_tests::{Run, TestSim};

fn sim() -> TestSim {
    TestSim::start()
}

fn object(r: &Run) -> Value {
    r.object()
}

fn app_ids(sim: &TestSim) -> Vec<String> {
    sim.state()["applications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["app_id"].as_str().unwrap().to_owned())
        .collect()
}

/// The four steps for the default cluster: the envelope step 4 wrote.
fn arranged(sim: &TestSim) -> (String, Value) {
    let out = run_steps(sim, &Step::ALL, "");
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    (out, v)
}

#[test]
fn offboarding_refuses_while_a_cluster_runs_as_the_app_then_leaves_nothing() {
    let sim = sim();
    let (envelope, made) = arranged(&sim);
    let app = made["app_id"].as_str().unwrap().to_owned();
    let (a, b) = (sim.var("CLUSTER_TENANT_ID"), sim.var("REGISTRY_TENANT_ID"));
    let sp_b = service_principal_of(&sim, &b, &app).expect("the app's principal in B");
    assert!(!role_assignments_of(&sim, &sp_b).is_empty());

    // While aks-prod runs as the app: each undo is refused, naming the cluster; nothing written.
    sim.sim().clear_requests();
    let remove = |extra: &[&str], input: &str| {
        let mut args = vec!["--remove", "--registry-tenant", &b, "--app-id", &app];
        args.extend_from_slice(extra);
        sim.run("consent-link", &args, input)
    };
    let reg = sim.var("REGISTRY_ID");
    let revoke = |extra: &[&str], input: &str| {
        let mut args = vec!["--revoke", "--registry", &reg, "--app-id", &app];
        args.extend_from_slice(extra);
        sim.run("acr-grant", &args, input)
    };
    let delete = |extra: &[&str], input: &str| {
        let mut args = vec!["--delete", "--app-id", &app];
        args.extend_from_slice(extra);
        sim.run("entra-app-create", &args, input)
    };
    for r in [
        revoke(&[], &envelope),
        remove(&[], &envelope),
        delete(&[], &envelope),
    ] {
        assert_eq!(r.code, 1, "{}", r.stderr);
        let o = object(&r);
        assert_eq!(o["error"]["code"], "AppInUse", "{o}");
        assert!(
            o["error"]["message"]
                .as_str()
                .unwrap()
                .contains(&sim.var("CLUSTER_ID")),
            "{o}"
        );
    }
    // No tenant A to look in: refused too (it cannot tell).
    let r = remove(&[], "");
    assert_eq!(object(&r)["error"]["code"], "AppInUse", "{}", r.stderr);
    assert!(r.stderr.contains("tenant A"), "{}", r.stderr);
    // A dry run with --force plans the deletes and sends none.
    for r in [
        revoke(&["--force", "--dry-run"], &envelope),
        delete(&["--force", "--dry-run"], &envelope),
    ] {
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(r.stderr.contains("DELETE"), "{}", r.stderr);
    }
    assert!(sim.writes().is_empty(), "{:?}", sim.writes());
    assert!(app_ids(&sim).contains(&app));

    // The cluster moves to another app (a new partnership); then the old app goes.
    move_to_another_app(&sim, &a);

    // Undo 3, 2 then 1 on the same envelope, each piped into the next.
    let r3 = revoke(&[], &envelope);
    assert_eq!(r3.code, 0, "{}", r3.stderr);
    assert!(
        role_assignments_of(&sim, &sp_b).is_empty(),
        "no role left in B"
    );
    assert!(object(&r3).get("role_assignment_id").is_none());
    let r2 = remove(&[], &r3.stdout);
    assert_eq!(r2.code, 0, "{}", r2.stderr);
    assert!(object(&r2).get("registry_sp_object_id").is_none());
    assert_eq!(service_principal_of(&sim, &b, &app), None);
    let r1 = delete(&[], &r2.stdout);
    assert_eq!(r1.code, 0, "{}", r1.stderr);
    let o = object(&r1);
    assert!(
        o.get("client_secret").is_none(),
        "the dead secret is dropped: {o}"
    );
    assert_eq!(o["app_id"], app.as_str());
    assert!(!app_ids(&sim).contains(&app), "tenant A has no app {app}");
    assert_eq!(service_principal_of(&sim, &a, &app), None);

    // Reruns: already gone, success, nothing written.
    sim.sim().clear_requests();
    let again = revoke(&[], &r1.stdout);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(again.stderr.contains("already gone"), "{}", again.stderr);
    let again = remove(&[], &again.stdout);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(again.stderr.contains("already gone"), "{}", again.stderr);
    // An app not found is gone only in a tenant the person names (the input's is a claim).
    let again = delete(&["--cluster-tenant", &a], &again.stdout);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(again.stderr.contains("already gone"), "{}", again.stderr);
    assert!(sim.writes().is_empty(), "{:?}", sim.writes());
}

#[test]
fn what_is_removed_is_what_the_person_names() {
    let sim = sim();
    let (envelope, e) = arranged(&sim);
    let b = sim.var("REGISTRY_TENANT_ID");
    sim.sim().clear_requests();
    // The envelope alone names no app to remove or delete.
    let r = sim.run(
        "consent-link",
        &["--remove", "--registry-tenant", &b, "--force"],
        &envelope,
    );
    assert_eq!(object(&r)["error"]["code"], "InvalidInput", "{}", r.stderr);
    assert!(r.stderr.contains("--targets-from-input"), "{}", r.stderr);
    let r = sim.run("entra-app-create", &["--delete", "--force"], &envelope);
    assert_eq!(object(&r)["error"]["code"], "InvalidInput", "{}", r.stderr);
    let r = sim.run(
        "acr-grant",
        &[
            "--revoke",
            "--app-id",
            e["app_id"].as_str().unwrap(),
            "--force",
        ],
        &envelope,
    );
    assert_eq!(object(&r)["error"]["code"], "InvalidInput", "{}", r.stderr);
    assert!(r.stderr.contains("registry"), "{}", r.stderr);
    // A flag and another app in the input: refused.
    let r = sim.run(
        "entra-app-create",
        &[
            "--delete",
            "--app-id",
            "a1a1a1a1-a100-4000-8000-000000000002",
        ],
        &envelope,
    );
    assert_eq!(object(&r)["error"]["code"], "InvalidInput", "{}", r.stderr);
    // An app these tools did not make is never deleted (the scenario's old app).
    let r = sim.run(
        "entra-app-create",
        &[
            "--delete",
            "--force",
            "--cluster-tenant",
            &sim.var("CLUSTER_TENANT_ID"),
            "--app-id",
            "a1a1a1a1-a100-4000-8000-000000000001",
        ],
        "",
    );
    assert_eq!(object(&r)["error"]["code"], "AppNotManaged", "{}", r.stderr);
    assert!(sim.writes().is_empty(), "{:?}", sim.writes());
    // Your own file, with --targets-from-input (and --force: the cluster still uses it).
    let r = sim.run(
        "consent-link",
        &["--remove", "--targets-from-input", "--force"],
        &envelope,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        service_principal_of(&sim, &b, e["app_id"].as_str().unwrap()),
        None
    );
}

/// Steps 1–4 for another app (`xtenant-next`) on the cluster. It runs as an app these tools
/// set up, so the switch needs the person's word (`--app-id`): refused without it.
fn move_to_another_app(sim: &TestSim, a: &str) {
    let other = sim.run(
        "entra-app-create",
        &["--cluster-tenant", a, "--display-name", "xtenant-next"],
        "",
    );
    let granted = run_steps(sim, &[Step::Consent, Step::Grant], &other.stdout);
    let new_app: Value = serde_json::from_str(granted.trim()).unwrap();
    let new_app = new_app["app_id"].as_str().unwrap().to_owned();
    // The cluster runs as an app these tools set up: the person names the app it moves to.
    let refused = run_step(sim, Step::Reset, &[], &granted);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("RoleCopyNotAllowed"),
        "{}",
        refused.stderr
    );
    let next = run_step(sim, Step::Reset, &["--app-id", &new_app], &granted);
    assert_eq!(next.code, 0, "{}", next.stderr);
    assert!(
        next.stdout.contains("cluster_provisioning_state"),
        "{}",
        next.stdout
    );
}
