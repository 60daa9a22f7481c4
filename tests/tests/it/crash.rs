//! Crash safety: each tool SIGKILLed at every request it makes, then rerun from the same input.
//!
//! For a tool that makes N requests undisturbed (token requests included), every k in 1..=N
//! is tried twice on a fresh simulator: the k-th request handled by Azure but its answer
//! never arriving (`Kill::AnswerLost`), and the k-th request never taking effect
//! (`Kill::RequestLost`). After the kill the same command is rerun on the same input, and
//! the later steps run undisturbed; the end state must be the one an undisturbed pipeline
//! reaches: one app, one service principal per tenant, one role assignment per tenant, one
//! client secret, the cluster on the new app and pulling.
//!
//! The steps before the one killed run once per test, undisturbed; every kill point's
//! simulator is loaded with the state they left ([`Setup`]), as is each run counting N.

use std::time::Duration;

use xtenant_tests::azure::record_entry;
use xtenant_tests::clock::{LATER, fast_forward_after};
use xtenant_tests::snapshot::Setup;
use xtenant_tests::steps::{
    Census, Kill, Step, census, cluster_pulls, count_requests, par_map, run_killed_at, run_step,
    run_steps,
};
use xtenant_tests::{Leniency, SimConfig, TestSim};

/// How long a rerun of step 4 meets Azure as the killed run left it, before Azure's clock is
/// moved on (a third of the reset's 600 ms: the rerun's first look at its operation).
const RERUN_MEETS_RESET: Duration = Duration::from_millis(200);

fn config_for(step: Step, c: &mut SimConfig) {
    // The kill points are counted in one run and used in the next: Azure's waits (a new
    // app backing its principal, a role reaching the registry) would make the count vary.
    c.lenient.insert(Leniency::Replication);
    // And Graph's write-after-create lag: a 404 answered first adds a request, or not,
    // by how fast the machine is.
    c.lenient.insert(Leniency::GraphLag);
    // Long enough that a rerun of step 4 meets its own reset still running.
    c.lro_duration = Some(if step == Step::Reset {
        c.azure_time(Duration::from_millis(600))
    } else {
        Duration::ZERO
    });
}

/// Kills `step` at every request; returns the number of kill points tried.
fn kill_everywhere(step: Step) -> usize {
    // The steps before, undisturbed, once: every run below starts from what they left
    // (step 1's: from a new simulator).
    let setup = (!step.before().is_empty()).then(|| {
        Setup::make(
            |c| config_for(step, c),
            |sim| run_steps(sim, step.before(), ""),
        )
    });
    let start = || match &setup {
        Some(setup) => setup.start(|c| config_for(step, c)),
        None => (TestSim::start_with(|c| config_for(step, c)), String::new()),
    };
    // The fewest requests of three undisturbed runs: how often a running reset is polled
    // depends on the machine's speed against Azure's (compressed) clock, so a kill point
    // past the fewest may never be reached.
    // (The three side by side: each its own simulator.)
    let n = par_map(&[0; 3], 3, |_| {
        let (sim, input) = start();
        count_requests(&sim, step, &input) as u64
    })
    .into_iter()
    .min()
    .unwrap_or(0);
    assert!(n >= 3, "{} made only {n} requests", step.bin());
    let points: Vec<(u64, Kill)> = (1..=n)
        .flat_map(|k| [(k, Kill::AnswerLost), (k, Kill::RequestLost)])
        .collect();
    let killed = par_map(&points, 6, |&(k, how)| {
        let (sim, input) = start();
        let ctx = format!("{} killed at request {k}/{n} ({how:?})", step.bin());
        let finished = run_killed_at(&sim, step.bin(), &step.args(&sim), &input, k, how);
        if let Some(run) = finished {
            // This run made fewer than k requests (a reset polled once less, the operation's
            // note left to the confirmed entry when the reset ended during its pause): only at
            // the last point, and the run, undisturbed, must have ended as an undisturbed
            // run does — for step 4, the cluster pulling and the record naming the key it
            // holds, nothing pending.
            assert_eq!(k, n, "{ctx}: it ended first: {run:?}");
            assert_eq!(run.code, 0, "{ctx}: it ended first, and failed: {run:?}");
            assert_eq!(census(&sim), Census::after(step), "{ctx}: it ended first");
            if step == Step::Reset {
                assert!(cluster_pulls(&sim), "{ctx}: the cluster cannot pull");
                let out: serde_json::Value =
                    serde_json::from_str(run.stdout.trim()).expect("one object");
                let (app, key) = (&out["app_id"], &out["client_secret_key_id"]);
                let cluster = out["cluster_id"].as_str().expect("cluster_id");
                let entry = record_entry(&sim, app.as_str().expect("app_id"), cluster);
                assert_eq!(entry, Some(serde_json::json!({ "key": key })), "{ctx}");
                assert!(out.get("cluster_operation_url").is_none(), "{ctx}: {out}");
            }
            return false;
        }
        let held_add_password = sim.requests().iter().any(|r| {
            !r["fault"].is_null()
                && r["path"]
                    .as_str()
                    .is_some_and(|p| p.ends_with("/addPassword"))
        });

        // The rerun from the same input completes the step: it meets a reset still running
        // (the killed run's), then Azure's clock is moved on so that the reset ends.
        let rerun = fast_forward_after(&sim, RERUN_MEETS_RESET, LATER, || {
            run_step(&sim, step, &[], &input)
        });
        assert_eq!(
            rerun.code, 0,
            "{ctx}: the rerun failed:\n{}\n{}",
            rerun.stderr, rerun.stdout
        );
        let mut out = rerun.stdout;
        let mut now = census(&sim);
        // A secret minted by the killed run whose answer was lost cannot be recovered: the
        // rerun mints another, and --prune-secrets (docs/reliability.md; README, "I lost the envelope") removes the lost one.
        // Which request was held is read from the simulator's log (the count of requests can
        // differ between runs when a slow machine makes a tool retry one).
        let lost_secret = step == Step::App && how == Kill::AnswerLost && held_add_password;
        if lost_secret {
            assert_eq!(now.passwords, 2, "{ctx}: {now:?}");
            let pruned = run_step(&sim, Step::App, &["--prune-secrets"], &out);
            assert_eq!(pruned.code, 0, "{ctx}: prune: {}", pruned.stderr);
            out = pruned.stdout;
            now = census(&sim);
        }
        assert_eq!(now, Census::after(step), "{ctx}: after the rerun");

        // The rest of the pipeline, undisturbed, reaches the undisturbed end state.
        run_steps(&sim, &step.from_here()[1..], &out);
        assert_eq!(
            census(&sim),
            Census::after(Step::Reset),
            "{ctx}: at the end"
        );
        assert!(cluster_pulls(&sim), "{ctx}: the cluster cannot pull");
        true
    });
    // A run makes fewer requests than the fewest counted only at its end, now and then: at
    // most the last point's two kills go unreached.
    let unreached = killed.iter().filter(|k| !**k).count();
    assert!(
        unreached <= 2,
        "{unreached} of {} kill points were never reached",
        points.len()
    );
    points.len()
}

#[test]
fn entra_app_create_killed_at_every_request_converges() {
    let n = kill_everywhere(Step::App);
    println!("figure: kill points tried (entra-app-create): {n}");
}

#[test]
fn consent_link_killed_at_every_request_converges() {
    let n = kill_everywhere(Step::Consent);
    println!("figure: kill points tried (consent-link): {n}");
}

#[test]
fn acr_grant_killed_at_every_request_converges() {
    let n = kill_everywhere(Step::Grant);
    println!("figure: kill points tried (acr-grant): {n}");
}

#[test]
fn aks_sp_update_killed_at_every_request_converges() {
    let n = kill_everywhere(Step::Reset);
    println!("figure: kill points tried (aks-sp-update): {n}");
}
