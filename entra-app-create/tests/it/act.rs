//! The step's `act` in process, with a `Ctx` built here against the simulator: no subprocess.

use std::time::Duration;

use clap::Parser;
use common::driver::{Ctx, Fields, Tool};
use common::envelope::Envelope;
use entra_app_create::Cli;
use serde_json::Value;
use xtenant_tests::TestSim;

#[test]
fn act_creates_the_app_its_service_principal_and_a_secret_then_keeps_them() {
    let sim = TestSim::start();
    let tenant = sim.var("CLUSTER_TENANT_ID");
    let cli = Cli::try_parse_from(["entra-app-create", "--cluster-tenant", &tenant]).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let ctx = sim.ctx(Duration::from_secs(30));
    let step = |ctx: &Ctx, input: &Envelope| {
        rt.block_on(async {
            let inputs = cli.inputs(input, ctx.cloud()).unwrap();
            let done = Cli::act(&inputs, ctx)
                .await
                .unwrap_or_else(|f| panic!("{}", f.error));
            let mut out = input.clone();
            done.output.write_to(&mut out);
            (out, done.changed)
        })
    };
    let (out, changed) = step(&ctx, &Envelope::new());
    assert!(changed);
    let v: Value = serde_json::from_str(&out.to_line()).unwrap();
    for f in [
        "app_id",
        "app_object_id",
        "cluster_sp_object_id",
        "client_secret",
        "client_secret_key_id",
    ] {
        assert!(v[f].is_string(), "{f}: {v}");
    }
    assert_eq!(v["cluster_tenant_id"], tenant.as_str());
    let (again, changed) = step(&ctx.next_object(), &out);
    assert!(!changed, "a rerun on its own output changes nothing");
    assert_eq!(again.to_line(), out.to_line());
}
