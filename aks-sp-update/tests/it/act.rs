//! The step's `act` in process, with a `Ctx` built here against the simulator: no subprocess.

use std::time::Duration;

use aks_sp_update::Cli;
use clap::Parser;
use common::driver::{Fields, Tool};
use common::envelope::Envelope;
use serde_json::{Value, json};
use xtenant_tests::TestSim;
use xtenant_tests::azure::Operator;

#[test]
fn act_resets_the_cluster_and_writes_its_state() {
    let sim = TestSim::start();
    let app = Operator::new(&sim).granted_app("act-aks");
    let input = json!({
        "cluster_tenant_id": sim.var("CLUSTER_TENANT_ID"),
        "app_id": app.app_id,
        "client_secret": app.secret(),
        "registry_login_server": sim.var("REGISTRY_LOGIN_SERVER"),
        "cluster_id": sim.var("CLUSTER_ID"),
        "cluster_operation_url": null,
    });
    let cli = Cli::try_parse_from([
        "aks-sp-update",
        "--cluster",
        &sim.var("CLUSTER_ID"),
        "--timeout",
        "30s",
    ])
    .unwrap();
    let env = Envelope::parse(&input.to_string()).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (out, changed) = rt.block_on(async {
        let ctx = sim.ctx(Duration::from_secs(30));
        let inputs = cli.inputs(&env, ctx.cloud()).unwrap();
        let done = Cli::act(&inputs, &ctx)
            .await
            .unwrap_or_else(|f| panic!("{}", f.error));
        let mut out = env.clone();
        done.output.write_to(&mut out);
        let out: Value = serde_json::from_str(&out.to_line()).unwrap();
        (out, done.changed)
    });
    assert!(changed);
    assert_eq!(out["cluster_provisioning_state"], "Succeeded", "{out}");
    assert!(out.get("cluster_operation_url").is_none(), "{out}");
    assert!(out["pull_verified_at"].is_string(), "{out}");
    let pulled = sim
        .sim()
        .pull(&sim.var("CLUSTER_NAME"), &sim.var("REGISTRY_IMAGE"));
    assert_eq!(pulled["pulled"], true, "{pulled}");
}
