//! A setup loaded into a new simulator ([`Setup`]) is the world it left: the same state, dumped
//! again, and an envelope that works there as it did on the setup's simulator.

use serde_json::Value;
use xtenant_tests::snapshot::Setup;
use xtenant_tests::steps::{Census, Step, census, cluster_pulls, run_steps};
use xtenant_tests::world;

/// `state` without what every start makes anew (the simulator's own `azure-sim` secrets of the
/// operator identities) and Azure's time of the dump; that time, apart.
fn comparable(mut state: Value) -> (Value, time::OffsetDateTime) {
    let at = state
        .as_object_mut()
        .and_then(|o| o.remove("azure_time"))
        .and_then(|t| {
            time::OffsetDateTime::parse(t.as_str()?, &time::format_description::well_known::Rfc3339)
                .ok()
        })
        .expect("a dump has Azure's time");
    for app in state["applications"].as_array_mut().expect("applications") {
        app["password_credentials"]
            .as_array_mut()
            .expect("password credentials")
            .retain(|p| p["display_name"] != "azure-sim");
    }
    (state, at)
}

#[test]
fn a_loaded_setup_is_the_state_it_left_and_its_envelope_works_there() {
    let setup = Setup::make(|_| {}, |sim| run_steps(sim, &Step::FIRST_THREE, ""));
    let (left, left_at) = comparable(setup.state().clone());
    let (sim, input) = setup.start(|_| {});
    let (loaded, loaded_at) = comparable(sim.state());
    assert_eq!(loaded, left, "the loaded state is the one the setup left");
    assert!(
        loaded_at >= left_at,
        "Azure's clock resumes where the setup left it: {loaded_at} < {left_at}"
    );
    assert_ne!(
        input,
        setup.envelope(),
        "the envelope names the new registry"
    );
    assert_eq!(census(&sim), Census::after(Step::Grant));

    // Step 4 on it: the secret signs in, and step 3's pull check, made again for the moved
    // image, stands for step 4's own (no request to the registry).
    let out = run_steps(&sim, &[Step::Reset], &input);
    let to_registry: Vec<Value> = sim
        .requests()
        .into_iter()
        .filter(|r| r["host"].as_str().is_some_and(|h| h.contains("azurecr")))
        .collect();
    assert!(to_registry.is_empty(), "{to_registry:?}");
    assert_eq!(census(&sim), Census::after(Step::Reset), "{out}");
    assert!(cluster_pulls(&sim));

    // A state with a finished reset (its operation, the record on the app, the cluster on
    // the new app) loads as it was too.
    let (after, _) = comparable(sim.state());
    let again = world::start(sim.state());
    assert_eq!(comparable(again.state()).0, after);
    assert_eq!(census(&again), Census::after(Step::Reset));
    assert!(cluster_pulls(&again));
}
