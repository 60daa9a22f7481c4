//! The step's `act` in process, with a `Ctx` built here against the simulator: no subprocess.

use std::time::Duration;

use acr_grant::Cli;
use clap::Parser;
use common::driver::{Ctx, Done, Fields, Tool};
use common::envelope::Envelope;
use serde_json::{Value, json};
use xtenant_tests::TestSim;
use xtenant_tests::azure::{NewApp, Operator, role_assignments_of};

fn ctx(sim: &TestSim) -> Ctx {
    sim.ctx(Duration::from_secs(20))
}

/// Runs `inputs` then `act` as the driver does, on the registry the input names; the
/// written fields, or the error.
fn step(sim: &TestSim, args: &[&str], input: &Value) -> Result<(Value, bool), common::Error> {
    let cli =
        Cli::try_parse_from(["acr-grant", "--targets-from-input"].iter().chain(args)).unwrap();
    let env = Envelope::parse(&input.to_string()).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let ctx = ctx(sim);
        let inputs = cli.inputs(&env, ctx.cloud())?;
        match Cli::act(&inputs, &ctx).await {
            Ok(Done {
                output, changed, ..
            }) => {
                let mut out = Envelope::new();
                output.write_to(&mut out);
                Ok((serde_json::from_str(&out.to_line()).unwrap(), changed))
            }
            Err(f) => Err(f.error),
        }
    })
}

fn setup() -> (TestSim, Value, String) {
    let sim = TestSim::start();
    let op = Operator::new(&sim);
    let app = op.create_app(
        &NewApp::multitenant("act-test")
            .secret(true)
            .sp_in_a(true)
            .sp_in_b(true),
    );
    let input = json!({
        "registry_tenant_id": sim.var("REGISTRY_TENANT_ID"),
        "app_id": app.app_id,
        "registry_id": sim.var("REGISTRY_ID"),
    });
    let sp_b = app.sp_b().to_owned();
    (sim, input, sp_b)
}

#[test]
fn act_assigns_the_pull_role_once() {
    let (sim, input, sp_b) = setup();
    let (out, changed) = step(&sim, &[], &input).unwrap();
    assert!(changed);
    assert_eq!(out["role_name"], "AcrPull");
    assert_eq!(out["registry_sp_object_id"], sp_b.as_str());
    assert_eq!(role_assignments_of(&sim, &sp_b).len(), 1);
    let (again, changed) = step(&sim, &[], &input).unwrap();
    assert!(!changed, "a rerun creates nothing");
    assert_eq!(again["role_assignment_id"], out["role_assignment_id"]);
}

/// AcrPull's role definition GUID (the built-in role the registry gets by default).
const ACR_PULL: &str = "7f951dda-4ed3-4680-a7ca-43fe172d538d";

#[test]
fn a_tampered_principal_in_the_input_is_only_read_and_the_apps_own_gets_the_role() {
    let (sim, mut input, sp_b) = setup();
    // Another service principal in tenant B, named by the input as the app's.
    let other = Operator::new(&sim).create_app(&NewApp::multitenant("payroll").sp_in_b(true));
    let other_sp = other.sp_b().to_owned();
    input["registry_sp_object_id"] = json!(other_sp);
    let name = |principal: &str| {
        common::arm::assignment_name(&sim.var("REGISTRY_ID"), ACR_PULL, principal).to_string()
    };
    let (own, tampered) = (name(&sp_b), name(&other_sp));
    // The early read of the tampered principal's assignment is refused: not the step's concern.
    sim.sim()
        .add_fault(json!({"method": "GET", "path": tampered, "status": 403, "code": "AuthorizationFailed"}))
        .unwrap();
    sim.sim().clear_requests();
    let (out, changed) = step(&sim, &[], &input).unwrap();
    assert!(changed);
    assert_eq!(out["registry_sp_object_id"], sp_b.as_str());
    assert!(role_assignments_of(&sim, &other_sp).is_empty());
    let granted = role_assignments_of(&sim, &sp_b);
    assert_eq!(granted.len(), 1, "{granted:?}");
    assert!(same(&granted[0]["name"], &own), "{granted:?}");

    // The tampered principal's assignment was read (early, before Graph answered), never written.
    let log = sim.azure_requests();
    let sent = |method: &str, name: &str| -> Vec<u64> {
        log.iter()
            .filter(|r| {
                r["method"] == method
                    && r["path"]
                        .as_str()
                        .unwrap()
                        .to_ascii_lowercase()
                        .ends_with(&format!("/roleassignments/{name}"))
            })
            .map(|r| r["status"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(sent("GET", &tampered), [403], "read early, refused");
    assert!(sent("PUT", &tampered).is_empty(), "written");
    assert_eq!(
        (sent("GET", &own), sent("PUT", &own)),
        (vec![404], vec![201]),
        "the app's own, as without the input's id"
    );
}

#[test]
fn a_refused_early_read_of_the_apps_own_assignment_fails_as_the_read_did_before() {
    let (sim, mut input, sp_b) = setup();
    input["registry_sp_object_id"] = json!(sp_b);
    let own = common::arm::assignment_name(&sim.var("REGISTRY_ID"), ACR_PULL, &sp_b).to_string();
    sim.sim()
        .add_fault(
            json!({"method": "GET", "path": own, "status": 403, "code": "AuthorizationFailed"}),
        )
        .unwrap();
    sim.sim().clear_requests();
    let e = step(&sim, &[], &input).unwrap_err();
    assert_eq!(e.code(), "AuthorizationFailed", "{e}");
    assert!(
        e.hint()
            .is_some_and(|h| h.contains("assigning a role needs Owner")),
        "{e}"
    );
    assert!(role_assignments_of(&sim, &sp_b).is_empty());
    assert!(sim.writes().is_empty(), "{} writes", sim.writes().len());
}

fn same(v: &Value, s: &str) -> bool {
    v.as_str().is_some_and(|v| v.eq_ignore_ascii_case(s))
}

#[test]
fn a_wider_role_from_the_envelope_is_refused_but_taken_from_the_flag() {
    // Before, the envelope's role_name was assigned as asked (with a warning when it could not pull).
    let (sim, mut input, sp_b) = setup();
    for wider in ["Owner", "AcrPush", "Contributor"] {
        input["role_name"] = json!(wider);
        let e = step(&sim, &[], &input).unwrap_err();
        assert_eq!(
            e.kind(),
            &common::ErrorKind::Input {
                field: "role_name".into()
            },
            "{wider}: {e}"
        );
        assert!(e.message().contains("--role"), "{e}");
        assert!(
            role_assignments_of(&sim, &sp_b).is_empty(),
            "{wider} was granted"
        );
    }
    input["role_name"] = json!("Container Registry Repository Reader");
    let (out, _) = step(&sim, &[], &input).unwrap();
    assert_eq!(out["role_name"], "Container Registry Repository Reader");
    // The reader's own flag may choose any role.
    input["role_name"] = json!("Owner");
    let (out, _) = step(&sim, &["--role", "AcrPush"], &input).unwrap();
    assert_eq!(out["role_name"], "AcrPush");
    let roles: Vec<String> = role_assignments_of(&sim, &sp_b)
        .iter()
        .map(|r| {
            r["role_definition_id"]
                .as_str()
                .unwrap_or("")
                .to_ascii_lowercase()
        })
        .collect();
    assert_eq!(roles.len(), 2, "{roles:?}");
    assert!(
        !roles
            .iter()
            .any(|r| r.ends_with("8e3af657-a8ff-443c-a75c-2fe8c4bcb635")),
        "Owner was granted: {roles:?}"
    );
}
