//! acr-grant against azure-sim: the real binary, the simulator's request log and state as the truth.

// Each test is one scenario told start to end; stderr is printed for --nocapture and failures.
#![allow(clippy::too_many_lines, clippy::print_stdout)]

use std::time::Duration;

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use xtenant_tests::azure::{App, NewApp, Operator, role_assignments_of};
use xtenant_tests::clock::{azure, fast_forward};
use xtenant_tests::{Run, TestSim, line, run_cmd, said};

const BIN: &str = "acr-grant";
const ACR_PULL: &str = "7f951dda-4ed3-4680-a7ca-43fe172d538d";
const REPOSITORY_READER: &str = "b93aa761-3e63-49ed-ac28-beffa264f7ac";
const OWNER: &str = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635";

// ------------------------------------------------------------------ setup as the operator

/// Step 1 by hand: a multitenant app in tenant A with a secret and its service principal there;
/// with `in_b`, also its service principal in tenant B (step 2).
fn new_app(op: &Operator, name: &str, in_b: bool) -> App {
    op.create_app(
        &NewApp::multitenant(name)
            .secret(true)
            .sp_in_a(true)
            .sp_in_b(in_b),
    )
}

/// The input envelope of a pipeline: what steps 1 and 2 wrote.
fn envelope(sim: &TestSim, app: &App) -> Value {
    let mut v = json!({
        "cluster_tenant_id": sim.var("CLUSTER_TENANT_ID"),
        "registry_tenant_id": sim.var("REGISTRY_TENANT_ID"),
        "app_id": app.app_id,
        "cluster_sp_object_id": app.sp_a(),
        "client_secret": app.secret(),
    });
    if let Some(b) = &app.sp_b {
        v["registry_sp_object_id"] = json!(b);
    }
    v
}

fn run(sim: &TestSim, args: &[&str], input: &Value) -> Run {
    let r = sim.run(BIN, args, &line(input));
    // Shown with --nocapture, or when a test fails.
    println!("$ acr-grant {}\n{}", args.join(" "), r.stderr);
    r
}

fn same_id(a: &Value, b: &str) -> bool {
    a.as_str().is_some_and(|a| a.eq_ignore_ascii_case(b))
}

fn secs_since(t: OffsetDateTime) -> f64 {
    (OffsetDateTime::now_utc() - t).as_seconds_f64()
}

// ------------------------------------------------------------------ tests

#[test]
fn grants_and_verifies_on_the_legacy_registry_and_a_rerun_writes_nothing() {
    let sim = TestSim::start();
    let op = Operator::new(&sim);
    let app = new_app(&op, "legacy-pull", true);
    let sp_b = app.sp_b().to_owned();
    let input = envelope(&sim, &app);
    let registry_id = sim.var("REGISTRY_ID");

    // --dry-run: reads only, and says what it would write.
    let before = sim.writes().len();
    let r = run(
        &sim,
        &["--registry", &registry_id, "--dry-run", "--timeout", "20s"],
        &input,
    );
    let o = r.ok();
    assert_eq!(
        sim.writes().len(),
        before,
        "a dry run wrote: {:?}",
        sim.writes()
    );
    assert!(
        r.stderr.contains("dry-run:") && r.stderr.contains("roleAssignments"),
        "{}",
        r.stderr
    );
    assert_eq!(o["role_name"], "AcrPull");

    let image = sim.var("REGISTRY_IMAGE");
    let r = run(
        &sim,
        &[
            "--registry",
            &registry_id,
            "--verify",
            "--image",
            &image,
            "--timeout",
            "30s",
        ],
        &input,
    );
    let out = r.ok();
    assert!(same_id(&out["registry_id"], &registry_id), "{out}");
    assert!(
        same_id(
            &out["registry_login_server"],
            &sim.var("REGISTRY_LOGIN_SERVER")
        ),
        "{out}"
    );
    assert_eq!(out["registry_sp_object_id"], sp_b.as_str());
    assert_eq!(out["role_name"], "AcrPull");
    assert!(
        out["role_assignment_id"]
            .as_str()
            .unwrap()
            .to_ascii_lowercase()
            .starts_with(&format!(
                "{}/providers/microsoft.authorization/roleassignments/",
                registry_id.to_ascii_lowercase()
            )),
        "{out}"
    );
    let verified =
        OffsetDateTime::parse(out["pull_verified_at"].as_str().unwrap(), &Rfc3339).unwrap();
    assert!(secs_since(verified).abs() < 60.0, "{out}");
    // Fields it does not own pass through, and the secret never reaches stderr.
    assert_eq!(out["cluster_sp_object_id"], app.sp_a());
    assert_eq!(out["client_secret"], app.secret());
    assert!(!r.stderr.contains(app.secret()), "{}", r.stderr);
    assert!(r.stderr.contains("(changed)"), "{}", r.stderr);

    // The simulator's truth: exactly one assignment, AcrPull on the registry, for B's service principal.
    let ras = role_assignments_of(&sim, &sp_b);
    assert_eq!(ras.len(), 1, "{ras:?}");
    assert_eq!(ras[0]["role_definition_id"], ACR_PULL);
    assert!(same_id(&ras[0]["scope"], &registry_id), "{ras:?}");
    assert_eq!(ras[0]["principal_type"], "ServicePrincipal");
    assert!(
        role_assignments_of(&sim, app.sp_a()).is_empty(),
        "tenant A's object id got a role"
    );
    // The PUT named the assignment deterministically.
    let put = sim
        .writes()
        .into_iter()
        .find(|w| w["method"] == "PUT")
        .unwrap();
    assert!(
        put["path"]
            .as_str()
            .unwrap()
            .to_ascii_lowercase()
            .ends_with(&ras[0]["name"].as_str().unwrap().to_ascii_lowercase()),
        "{put}"
    );

    // A rerun on its own output (its registry_id trusted) writes nothing and still verifies.
    let before = sim.writes().len();
    let r = run(
        &sim,
        &[
            "--targets-from-input",
            "--verify",
            "--image",
            &image,
            "--timeout",
            "30s",
        ],
        &out,
    );
    let again = r.ok();
    assert_eq!(
        sim.writes().len(),
        before,
        "the rerun wrote: {:?}",
        &sim.writes()[before..]
    );
    assert!(r.stderr.contains("(unchanged)"), "{}", r.stderr);
    for f in [
        "registry_id",
        "registry_login_server",
        "registry_sp_object_id",
        "role_name",
        "role_assignment_id",
    ] {
        assert_eq!(again[f], out[f], "{f}");
    }
    assert_eq!(role_assignments_of(&sim, &sp_b).len(), 1);

    // Piped on to another registry (ABAC): a mismatch, refused before any write; without
    // what the object says about the first registry (as the refusal's hint has it), the role
    // is chosen afresh.
    let to_abac = [
        "--registry",
        &sim.var("ABAC_REGISTRY_ID"),
        "--timeout",
        "20s",
    ];
    let before = sim.writes().len();
    let o = run(&sim, &to_abac, &again).failed(BIN, "InvalidInput");
    let hint = o["error"]["hint"].as_str().unwrap();
    assert_eq!(sim.writes().len(), before);
    let fields = hint
        .split("jq 'del(")
        .nth(1)
        .and_then(|h| h.split(")'").next())
        .unwrap_or_else(|| panic!("no jq in the hint: {hint}"));
    let mut fresh = again.clone();
    for f in fields.split(", ") {
        fresh
            .as_object_mut()
            .unwrap()
            .remove(f.trim_start_matches('.'));
    }
    let r = run(&sim, &to_abac, &fresh);
    let other = r.ok();
    assert_eq!(other["role_name"], "Container Registry Repository Reader");
    assert!(other.get("pull_verified_at").is_none(), "{other}");
    assert!(same_id(&other["registry_id"], &sim.var("ABAC_REGISTRY_ID")));
}

#[test]
fn abac_registry_gets_the_repository_reader_role_and_acr_pull_fails_verify_there() {
    let sim = TestSim::start();
    let op = Operator::new(&sim);
    let abac_id = sim.var("ABAC_REGISTRY_ID");
    let secret_dir = tempfile::tempdir().unwrap();

    // auto: Container Registry Repository Reader, with a note why; the secret from a file.
    let app = new_app(&op, "abac-pull", true);
    let secret_file = secret_dir.path().join("secret");
    std::fs::write(&secret_file, format!("{}\n", app.secret())).unwrap();
    let mut input = envelope(&sim, &app);
    input.as_object_mut().unwrap().remove("client_secret");
    let r = run(
        &sim,
        &[
            "--registry",
            &abac_id,
            "--verify",
            "--client-secret-file",
            secret_file.to_str().unwrap(),
            "--timeout",
            "30s",
        ],
        &input,
    );
    let out = r.ok();
    assert_eq!(out["role_name"], "Container Registry Repository Reader");
    assert!(out["pull_verified_at"].is_string(), "{out}");
    assert!(
        out.get("client_secret").is_none(),
        "a secret from a file must not be written out"
    );
    assert!(
        r.stderr.contains("ABAC") && r.stderr.contains("AcrPull"),
        "{}",
        r.stderr
    );
    let ras = role_assignments_of(&sim, app.sp_b());
    assert_eq!(ras.len(), 1);
    assert_eq!(ras[0]["role_definition_id"], REPOSITORY_READER);

    // --role AcrPull on ABAC: assigned as asked, warned about, and the verification fails at once.
    let app2 = new_app(&op, "abac-acrpull", true);
    let started = std::time::Instant::now();
    let r = run(
        &sim,
        &[
            "--registry",
            &abac_id,
            "--role",
            "AcrPull",
            "--verify",
            "--timeout",
            "60s",
        ],
        &envelope(&sim, &app2),
    );
    let o = r.failed(BIN, "PullVerificationFailed");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "it waited for a role that cannot work"
    );
    assert!(
        r.stderr.contains("warning:")
            && r.stderr.contains("ABAC")
            && r.stderr.contains("--role auto"),
        "{}",
        r.stderr
    );
    assert!(said(&o).contains("no pull"), "{o}");
    let ras = role_assignments_of(&sim, app2.sp_b());
    assert_eq!(ras.len(), 1);
    assert_eq!(ras[0]["role_definition_id"], ACR_PULL);

    // An image of another registry is refused, naming --image.
    let r = run(
        &sim,
        &[
            "--registry",
            &abac_id,
            "--verify",
            "--image",
            &sim.var("REGISTRY_IMAGE"),
            "--timeout",
            "20s",
        ],
        &envelope(&sim, &app),
    );
    let o = r.failed(BIN, "InvalidInput");
    assert!(said(&o).contains("--image"), "{o}");

    // An unknown role is RoleNotFound, before any write.
    let before = sim.writes().len();
    let r = run(
        &sim,
        &[
            "--registry",
            &abac_id,
            "--role",
            "Acr Puller",
            "--timeout",
            "20s",
        ],
        &envelope(&sim, &app),
    );
    r.failed(BIN, "RoleNotFound");
    assert_eq!(sim.writes().len(), before);
}

#[test]
fn finds_the_registry_by_name_with_and_without_the_subscription() {
    let sim = TestSim::start();
    let op = Operator::new(&sim);
    let app = new_app(&op, "by-name", true);
    let mut input = envelope(&sim, &app);
    // The classic mistake: tenant A's object id where tenant B's belongs. Graph is trusted.
    input["registry_sp_object_id"] = json!(app.sp_a());
    let name = sim.var("REGISTRY_NAME");
    let registry_id = sim.var("REGISTRY_ID");
    let list_subs = |sim: &TestSim| {
        sim.azure_requests()
            .iter()
            .filter(|r| r["method"] == "GET" && r["path"] == "/subscriptions")
            .count()
    };

    let r = run(&sim, &["--registry", &name, "--timeout", "20s"], &input);
    let out = r.ok();
    assert!(same_id(&out["registry_id"], &registry_id), "{out}");
    assert_eq!(list_subs(&sim), 1);
    assert_eq!(out["registry_sp_object_id"], app.sp_b());
    assert!(
        r.stderr.contains("warning:") && r.stderr.contains(app.sp_a()),
        "{}",
        r.stderr
    );
    assert!(
        role_assignments_of(&sim, app.sp_a()).is_empty(),
        "tenant A's object id got a role"
    );

    let r = run(
        &sim,
        &[
            "--registry",
            &name.to_ascii_uppercase(),
            "--registry-subscription",
            &sim.var("REGISTRY_SUBSCRIPTION_ID"),
            "--timeout",
            "20s",
        ],
        &input,
    );
    let out = r.ok();
    assert!(same_id(&out["registry_id"], &registry_id), "{out}");
    assert_eq!(
        list_subs(&sim),
        1,
        "with the subscription given, subscriptions are not listed"
    );

    let r = run(
        &sim,
        &["--registry", "nosuchregistry", "--timeout", "20s"],
        &input,
    );
    let o = r.failed(BIN, "RegistryNotFound");
    assert!(said(&o).contains("nosuchregistry"), "{o}");
}

#[test]
fn an_ambiguous_registry_name_is_refused_listing_the_candidates() {
    // A second subscription in tenant B, visible to the operator, with a registry of the same name.
    let base = TestSim::start();
    let mut state = base.state();
    let b = base.var("REGISTRY_TENANT_ID");
    let name = base.var("REGISTRY_NAME");
    let operator = base.var("AZURE_CLIENT_ID");
    let op_oid = state["service_principals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| same_id(&s["app_id"], &operator) && same_id(&s["tenant_id"], &b))
        .expect("the operator's service principal in tenant B")["id"]
        .clone();
    let sub2 = "0b0b0b0b-1111-4222-8333-444444444444";
    let second_id = format!(
        "/subscriptions/{sub2}/resourceGroups/rg-other/providers/Microsoft.ContainerRegistry/registries/{name}"
    );
    state["subscriptions"].as_array_mut().unwrap().push(json!({
        "id": sub2, "tenant_id": b, "display_name": "second", "resource_groups": [{"name": "rg-other"}]
    }));
    state["registries"]
        .as_array_mut()
        .unwrap()
        .push(json!({"id": second_id}));
    state["role_assignments"]
        .as_array_mut()
        .unwrap()
        .push(json!({
            "name": "0c0c0c0c-1111-4222-8333-444444444444",
            "scope": format!("/subscriptions/{sub2}"),
            "role_definition_id": OWNER,
            "principal_id": op_oid,
            "principal_type": "ServicePrincipal",
        }));
    drop(base);
    let sim = TestSim::start_with(|cfg| cfg.scenario = Some(state));
    let op = Operator::new(&sim);
    let app = new_app(&op, "ambiguous", true);
    let input = envelope(&sim, &app);
    let registry_id = sim.var("REGISTRY_ID");

    let r = run(&sim, &["--registry", &name, "--timeout", "20s"], &input);
    let o = r.failed(BIN, "AmbiguousRegistryName");
    let msg = said(&o).to_ascii_lowercase();
    assert!(
        msg.contains(&registry_id.to_ascii_lowercase())
            && msg.contains(&second_id.to_ascii_lowercase()),
        "{msg}"
    );
    assert!(msg.contains("--registry-subscription"), "{msg}");
    // Both subscriptions were searched.
    let lists: Vec<String> = sim
        .azure_requests()
        .iter()
        .filter(|r| {
            r["path"]
                .as_str()
                .unwrap()
                .to_ascii_lowercase()
                .ends_with("/providers/microsoft.containerregistry/registries")
        })
        .map(|r| r["path"].as_str().unwrap().to_ascii_lowercase())
        .collect();
    assert!(
        lists.iter().any(|p| p.contains(sub2))
            && lists
                .iter()
                .any(|p| p.contains(&sim.var("REGISTRY_SUBSCRIPTION_ID").to_ascii_lowercase())),
        "{lists:?}"
    );
    assert!(
        sim.writes()
            .iter()
            .all(|w| !w["path"].as_str().unwrap().contains("roleAssignments"))
    );

    let r = run(
        &sim,
        &[
            "--registry",
            &name,
            "--registry-subscription",
            sub2,
            "--timeout",
            "20s",
        ],
        &input,
    );
    let out = r.ok();
    assert!(same_id(&out["registry_id"], &second_id), "{out}");
}

#[test]
fn a_missing_service_principal_in_tenant_b_points_to_consent_link() {
    let sim = TestSim::start();
    let op = Operator::new(&sim);
    let app = new_app(&op, "no-consent", false);
    let r = run(
        &sim,
        &["--registry", &sim.var("REGISTRY_ID"), "--timeout", "20s"],
        &envelope(&sim, &app),
    );
    let o = r.failed(BIN, "ServicePrincipalNotInRegistryTenant");
    assert!(said(&o).contains("consent-link"), "{o}");
    assert!(
        r.stderr.contains("hint:") && r.stderr.contains("consent-link"),
        "{}",
        r.stderr
    );
    assert!(
        sim.writes()
            .iter()
            .all(|w| !w["path"].as_str().unwrap().contains("roleAssignments"))
    );
    assert!(
        role_assignments_of(&sim, app.sp_a()).is_empty(),
        "tenant A's object id got a role"
    );
}

#[test]
fn the_reader_identity_gets_authorization_failed_explained() {
    let sim = TestSim::start();
    let op = Operator::new(&sim);
    let app = new_app(&op, "reader-tries", true);
    let mut c = sim.cmd_as_reader(BIN);
    c.env("NO_COLOR", "1");
    let r = run_cmd(
        c,
        &["--registry", &sim.var("REGISTRY_ID"), "--timeout", "20s"],
        &line(&envelope(&sim, &app)),
    );
    println!("{}", r.stderr);
    let o = r.failed(BIN, "AuthorizationFailed");
    let msg = said(&o);
    for role in [
        "Owner",
        "User Access Administrator",
        "Role Based Access Control Administrator",
    ] {
        assert!(msg.contains(role), "{msg}");
    }
    assert!(msg.contains("tenant B"), "{msg}");
    assert!(role_assignments_of(&sim, app.sp_b()).is_empty());
}

#[test]
fn a_wrong_secret_fails_verify_naming_the_secret() {
    let sim = TestSim::start();
    let op = Operator::new(&sim);
    let app = new_app(&op, "wrong-secret", true);
    let mut input = envelope(&sim, &app);
    input["client_secret"] = json!("not-the-secret-at-all");
    let before = sim.writes().len();
    let r = run(
        &sim,
        &[
            "--registry",
            &sim.var("REGISTRY_ID"),
            "--verify",
            "--timeout",
            "6s",
        ],
        &input,
    );
    // The secret is proven to be the app's before anything is granted.
    let o = r.failed(BIN, "SecretNotBound");
    let msg = said(&o);
    assert!(
        msg.starts_with("client_secret:")
            && msg.contains("none of app")
            && msg.contains("--new-secret"),
        "{msg}"
    );
    assert!(!r.stderr.contains("not-the-secret-at-all"), "{}", r.stderr);
    assert_eq!(sim.writes().len(), before, "{:?}", sim.writes());
    assert!(role_assignments_of(&sim, app.sp_b()).is_empty());
}

#[test]
fn replication_delay_is_waited_out_and_verify_ends_soon_after_the_grant_takes_effect() {
    // Past the 1 s after which a wait shows its progress.
    let delay = Duration::from_millis(1500);
    let sim = TestSim::start_with(|cfg| {
        cfg.replication_delay = cfg.azure_time(delay);
        cfg.role_propagation = cfg.replication_delay;
    });
    let op = Operator::new(&sim);
    // The app and its principals made long before (the clock moved on while they replicate):
    // only the grant's propagation is waited for in real time.
    let app = fast_forward(&sim, azure(delay) / 2, || new_app(&op, "delayed", true));
    sim.sim().advance(azure(delay));
    let sp_b = app.sp_b().to_owned();
    let r = run(
        &sim,
        &[
            "--registry",
            &sim.var("REGISTRY_ID"),
            "--verify",
            "--timeout",
            "60s",
        ],
        &envelope(&sim, &app),
    );
    // On Azure's clock (TIME_SCALE: far faster than the real one here).
    let exited = sim.sim().now();
    let out = r.ok();
    assert!(out["pull_verified_at"].is_string());
    assert!(
        r.stderr.contains("waiting until the app can pull"),
        "no progress shown:\n{}",
        r.stderr
    );
    let ras = role_assignments_of(&sim, &sp_b);
    assert_eq!(ras.len(), 1);
    let created = OffsetDateTime::parse(ras[0]["created_at"].as_str().unwrap(), &Rfc3339).unwrap();
    let effective = created + delay.div_f64(xtenant_tests::TIME_SCALE);
    // In real seconds.
    let lag = (exited - effective).as_seconds_f64() * xtenant_tests::TIME_SCALE;
    println!(
        "verify ended {lag:.2}s after the grant became effective (replication delay {delay:?})"
    );
    assert!(
        lag >= -0.5,
        "verified before the grant was effective: {lag:.2}s"
    );
    assert!(lag < 4.0, "verify noticed the grant {lag:.2}s late");
}

#[test]
fn principal_not_found_is_waited_out() {
    let sim = TestSim::start();
    let op = Operator::new(&sim);
    let app = new_app(&op, "fresh-sp", true);
    sim.sim()
        .add_fault(json!({"method": "PUT", "path": "/roleAssignments/", "count": 2, "status": 400, "code": "PrincipalNotFound",
            "message": "Principal does not exist in the directory."}))
        .unwrap();
    let r = run(
        &sim,
        &["--registry", &sim.var("REGISTRY_ID"), "--timeout", "30s"],
        &envelope(&sim, &app),
    );
    r.ok();
    assert!(
        r.stderr
            .contains("waiting for Azure to know service principal"),
        "{}",
        r.stderr
    );
    let puts = sim.writes().iter().filter(|w| w["method"] == "PUT").count();
    assert_eq!(puts, 3, "two refused, one accepted");
    assert_eq!(role_assignments_of(&sim, app.sp_b()).len(), 1);
}

#[test]
fn bad_inputs_are_refused_before_any_request() {
    let sim = TestSim::start();
    let b = sim.var("REGISTRY_TENANT_ID");
    let good_id = sim.var("REGISTRY_ID");
    let app_id = "6a2f3d3e-1b2c-4d5e-8f90-a1b2c3d4e5f6";
    let base = json!({"registry_tenant_id": b, "app_id": app_id});
    let (prefix, _) = good_id.rsplit_once('/').unwrap();
    let sub = sim.var("REGISTRY_SUBSCRIPTION_ID");
    let cases: Vec<(Vec<String>, Value, &str)> = vec![
        (
            vec!["--registry".into(), "..".into()],
            base.clone(),
            "registry_id",
        ),
        (
            vec!["--registry".into(), "myreg?x=1".into()],
            base.clone(),
            "registry_id",
        ),
        (
            vec!["--registry".into(), format!("{prefix}/..")],
            base.clone(),
            "registry_id",
        ),
        (
            vec!["--registry".into(), format!("{prefix}/a?api-version=1")],
            base.clone(),
            "registry_id",
        ),
        (
            vec!["--registry".into(), format!("{prefix}/../../x")],
            base.clone(),
            "registry_id",
        ),
        (
            vec![
                "--registry".into(),
                good_id.replace(
                    "Microsoft.ContainerRegistry/registries",
                    "Microsoft.ContainerService/managedClusters",
                ),
            ],
            base.clone(),
            "registry_id",
        ),
        (
            vec!["--registry".into(), good_id.replace(&sub, "not-a-guid")],
            base.clone(),
            "registry_id",
        ),
        (
            vec![
                "--registry".into(),
                "myregistry".into(),
                "--registry-subscription".into(),
                "not-a-guid".into(),
            ],
            base.clone(),
            "registry_subscription",
        ),
        (
            vec![
                "--registry".into(),
                good_id.clone(),
                "--app-id".into(),
                "not-a-guid".into(),
            ],
            base.clone(),
            "app_id",
        ),
        (
            vec![
                "--registry".into(),
                good_id.clone(),
                "--registry-tenant".into(),
                "../evil".into(),
            ],
            base.clone(),
            "registry_tenant_id",
        ),
        (
            vec![
                "--registry".into(),
                good_id.clone(),
                "--role".into(),
                String::new(),
            ],
            base.clone(),
            "role_name",
        ),
        (
            vec!["--registry".into(), good_id.clone(), "--verify".into()],
            base.clone(),
            "client_secret",
        ),
        (
            vec![
                "--registry".into(),
                good_id.clone(),
                "--verify".into(),
                "--image".into(),
                "docker.io/library/nginx:1".into(),
            ],
            json!({"registry_tenant_id": b, "app_id": app_id, "client_secret": "s"}),
            "image",
        ),
        (vec![], base.clone(), "registry_id"),
        (
            vec!["--registry".into(), good_id.clone()],
            json!({"app_id": app_id}),
            "registry_tenant_id",
        ),
    ];
    for (args, input, field) in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = run(&sim, &args, input);
        let o = r.failed(BIN, "InvalidInput");
        assert!(
            said(&o).contains(field.trim_end_matches("_id")),
            "{args:?}: {o}"
        );
        assert!(
            sim.azure_requests().is_empty(),
            "{args:?} sent {:?}",
            sim.azure_requests()
        );
    }
}

#[test]
fn many_registries_with_jobs_keep_their_order() {
    let sim = TestSim::start();
    let op = Operator::new(&sim);
    let app = new_app(&op, "many", true);
    let base = envelope(&sim, &app);
    let with = |n: u32, registry: &str| {
        let mut v = base.clone();
        v["n"] = json!(n);
        v["registry_id"] = json!(registry);
        line(&v)
    };
    let input = [
        with(1, &sim.var("REGISTRY_ID")),
        with(2, &sim.var("ABAC_REGISTRY_ID")),
        with(3, "nosuchregistry"),
        with(4, &sim.var("REGISTRY_NAME")),
        with(5, "bad?name"),
        with(6, &sim.var("ABAC_REGISTRY_NAME")),
    ]
    .concat();
    let r = sim.run(
        BIN,
        &[
            "--targets-from-input",
            "--jobs",
            "4",
            "--verify",
            "--timeout",
            "30s",
        ],
        &input,
    );
    println!("{}", r.stderr);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let out = r.objects();
    assert_eq!(
        out.iter()
            .map(|o| o["n"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        [1, 2, 3, 4, 5, 6]
    );
    let codes: Vec<&str> = out
        .iter()
        .map(|o| o["error"]["code"].as_str().unwrap_or("ok"))
        .collect();
    assert_eq!(
        codes,
        ["ok", "ok", "RegistryNotFound", "ok", "InvalidInput", "ok"],
        "{}",
        r.stderr
    );
    assert_eq!(out[1]["role_name"], "Container Registry Repository Reader");
    assert_eq!(out[5]["role_name"], "Container Registry Repository Reader");
    assert_eq!(out[3]["role_name"], "AcrPull");
    assert!(same_id(&out[3]["registry_id"], &sim.var("REGISTRY_ID")));
    assert_eq!(role_assignments_of(&sim, app.sp_b()).len(), 2);
}

#[test]
fn a_wait_that_ends_in_a_refusal_never_says_done() {
    // The registry refuses the credentials once (waited out: "not yet"), then the image is
    // missing (final): the progress line ends "refused", not "done", and the step fails.
    let sim = TestSim::start();
    let op = Operator::new(&sim);
    let app = new_app(&op, "never-done", true);
    let input = envelope(&sim, &app);
    sim.sim()
        .add_fault(json!({"method": "*", "path": "/oauth2/token", "host": "azurecr", "status": 401, "count": 1}))
        .unwrap();
    let image = format!(
        "{}:no-such-tag",
        sim.var("REGISTRY_IMAGE").rsplit_once(':').unwrap().0
    );
    let r = run(
        &sim,
        &[
            "--registry",
            &sim.var("REGISTRY_ID"),
            "--verify",
            "--image",
            &image,
            "--timeout",
            "30s",
        ],
        &input,
    );
    let o = r.failed(BIN, "PullVerificationFailed");
    assert!(said(&o).contains("--image"), "{o}");
    assert!(
        r.stderr.contains("can pull from") && r.stderr.contains("refused (no such image) after"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("done after"), "{}", r.stderr);
}
