//! Worlds for day-two tests: more clusters than the default scenario has, and time passed
//! (a key's end date moved), built from the simulator's own state and loaded into a new one.

use std::path::Path;

use serde_json::{Value, json};

use crate::steps::{Step, run_step};
use crate::{Run, TestSim};

/// The simulator's default world with the clusters `extra` (names) cloned from its
/// service-principal cluster, same resource group.
pub fn state_with_clusters(extra: &[&str]) -> Value {
    let base = TestSim::start();
    let mut state = base.state();
    for name in extra {
        add_cluster(&mut state, &cluster_id(&base, name));
    }
    state
}

/// A copy of the state's service-principal cluster ([`crate::sp_cluster`]: the default one,
/// `CLUSTER_ID`) with the id `id`, added to `state`; the copy, for a test to change further.
pub fn add_cluster<'s>(state: &'s mut Value, id: &str) -> &'s mut Value {
    let mut c = crate::sp_cluster(state).clone();
    c["id"] = json!(id);
    // Derived from the id when the state is loaded.
    c.as_object_mut().expect("a cluster object").remove("name");
    let clusters = state["clusters"]
        .as_array_mut()
        .expect("state has clusters");
    clusters.push(c);
    clusters.last_mut().expect("the copy")
}

/// A simulator on `state` (Azure as documented, compressed as the kit runs it).
pub fn start(state: Value) -> TestSim {
    TestSim::start_with(|c| c.scenario = Some(state))
}

/// The id of the cluster `name` in the default cluster's resource group.
pub fn cluster_id(sim: &TestSim, name: &str) -> String {
    let first = sim.var("CLUSTER_ID");
    format!("{}/{name}", first.rsplit_once('/').expect("a cluster id").0)
}

/// Time passed: the key `key_id` ended `ago` before now (its start moved back with it).
/// Panics when no app has the key.
pub fn expire_key(state: &mut Value, key_id: &str, ago: time::Duration) {
    let end = time::OffsetDateTime::now_utc() - ago;
    let fmt = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .expect("a time")
    };
    let mut moved = false;
    for a in state["applications"].as_array_mut().expect("applications") {
        for p in a["password_credentials"].as_array_mut().expect("passwords") {
            if p["key_id"] == key_id {
                p["start"] = json!(fmt(end - time::Duration::days(20)));
                p["end"] = json!(fmt(end));
                moved = true;
            }
        }
    }
    assert!(moved, "no app has the key {key_id}");
}

/// An envelope of the simulator `old` (its `REGISTRY_IMAGE`) as it reads in a new
/// simulator loaded with its state: the registry's login server carries the new port.
pub fn moved(envelope: &str, old_image: &str, new: &TestSim) -> String {
    let server = |image: &str| image.split('/').next().unwrap_or("").to_owned();
    envelope.replace(&server(old_image), &server(&new.var("REGISTRY_IMAGE")))
}

/// Asserts the run exited 0; its stdout.
#[track_caller]
pub fn ok(r: &Run, what: &str) -> String {
    assert_eq!(r.code, 0, "{what}:\n{}\n{}", r.stderr, r.stdout);
    r.stdout.clone()
}

/// Steps 1–3 for a new app (display name `name`): its envelope.
pub fn granted_app(sim: &TestSim, name: &str) -> String {
    crate::clock::later(sim, || {
        let a = run_step(sim, Step::App, &["--display-name", name], "");
        let b = run_step(sim, Step::Consent, &[], &ok(&a, "entra-app-create"));
        let c = run_step(sim, Step::Grant, &[], &ok(&b, "consent-link"));
        ok(&c, "acr-grant")
    })
}

/// A new secret for the envelope's app, ending in `lifetime`: the envelope with it.
pub fn new_secret(sim: &TestSim, envelope: &str, lifetime: &str) -> String {
    let r = crate::clock::later(sim, || {
        sim.run(
            "entra-app-create",
            &["--new-secret", "--secret-lifetime", lifetime],
            envelope,
        )
    });
    ok(&r, "entra-app-create --new-secret")
}

/// Step 4 on the cluster `name`: the envelope it wrote.
pub fn reset(sim: &TestSim, envelope: &str, name: &str) -> String {
    let r = crate::clock::later(sim, || {
        sim.run(
            "aks-sp-update",
            &["--cluster", &cluster_id(sim, name)],
            envelope,
        )
    });
    ok(&r, &format!("aks-sp-update on {name}"))
}

/// `examples/rotate.sh --cluster <CLUSTER_ID> --registry <REGISTRY_ID>` and then `rest` (more
/// flags, the envelope file), run by bash in the person's shell with no input.
pub fn rotate(sim: &TestSim, rest: &[&str]) -> Run {
    let (cluster, registry) = (sim.var("CLUSTER_ID"), sim.var("REGISTRY_ID"));
    let mut args = vec![
        "examples/rotate.sh",
        "--cluster",
        &cluster,
        "--registry",
        &registry,
    ];
    args.extend_from_slice(rest);
    crate::run_cmd(sim.shell("bash"), &args, "")
}

/// The lists `examples/fleet.sh` reads, written in `dir`: `registries` and `clusters` (an id
/// a line).
pub fn fleet_lists(dir: &Path, registries: &[impl AsRef<str>], clusters: &[impl AsRef<str>]) {
    std::fs::write(dir.join("registries"), lines(registries)).expect("write the registries");
    std::fs::write(dir.join("clusters"), lines(clusters)).expect("write the clusters");
}

fn lines(ids: &[impl AsRef<str>]) -> String {
    ids.iter().flat_map(|i| [i.as_ref(), "\n"]).collect()
}

/// `examples/fleet.sh --state <state> <opts> <tenant A> <tenant B> <dir>/registries
/// <dir>/clusters <jobs>` (the lists the test wrote in `dir`), run by bash in the person's
/// shell with no input.
pub fn fleet_sh(sim: &TestSim, dir: &Path, state: &Path, opts: &[&str], jobs: &str) -> Run {
    let (a, b) = (sim.var("CLUSTER_TENANT_ID"), sim.var("REGISTRY_TENANT_ID"));
    let (registries, clusters) = (dir.join("registries"), dir.join("clusters"));
    let mut args = vec!["examples/fleet.sh", "--state", state.to_str().unwrap()];
    args.extend_from_slice(opts);
    args.extend_from_slice(&[
        &a,
        &b,
        registries.to_str().unwrap(),
        clusters.to_str().unwrap(),
        jobs,
    ]);
    crate::run_cmd(sim.shell("bash"), &args, "")
}
