//! The step's `act` in process, with a `Ctx` built here against the simulator: no subprocess.

use std::time::Duration;

use clap::Parser;
use common::driver::{Ctx, Fields, Tool};
use common::envelope::Envelope;
use consent_link::Cli;
use serde_json::{Value, json};
use xtenant_tests::TestSim;
use xtenant_tests::azure::{NewApp, Operator};

#[test]
fn act_creates_the_service_principal_in_tenant_b_once() {
    let sim = TestSim::start();
    let app = Operator::new(&sim).create_app(
        &NewApp::multitenant("act-consent")
            .redirect_uris(&["https://www.microsoft.com"])
            .sp_in_a(true),
    );
    let input = json!({
        "cluster_tenant_id": sim.var("CLUSTER_TENANT_ID"),
        "registry_tenant_id": sim.var("REGISTRY_TENANT_ID"),
        "app_id": app.app_id,
    });
    let env = Envelope::parse(&input.to_string()).unwrap();
    let cli = Cli::try_parse_from(["consent-link", "--create", "--targets-from-input"]).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let ctx = sim.ctx(Duration::from_secs(20));
    let step = |ctx: &Ctx| {
        rt.block_on(async {
            let inputs = cli.inputs(&env, ctx.cloud()).unwrap();
            let done = Cli::act(&inputs, ctx)
                .await
                .unwrap_or_else(|f| panic!("{}", f.error));
            let mut out = Envelope::new();
            done.output.write_to(&mut out);
            let out: Value = serde_json::from_str(&out.to_line()).unwrap();
            (out, done.changed)
        })
    };
    let (out, changed) = step(&ctx);
    assert!(changed);
    let sp = out["registry_sp_object_id"].as_str().unwrap().to_owned();
    assert!(
        out["consent_url"].as_str().unwrap().contains(&app.app_id),
        "{out}"
    );
    assert_eq!(out["redirect_uri"], "https://www.microsoft.com");
    let (again, changed) = step(&ctx.next_object());
    assert!(!changed, "the second run finds it");
    assert_eq!(again["registry_sp_object_id"], sp.as_str());
}
