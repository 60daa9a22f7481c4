//! A batch of record writes (the entries of several clusters of one app, queued at once with
//! `--jobs` and written in one read and one write) is not cut short by one member's deadline
//! or interrupt while another member's write must still land (an attack on the record, issue
//! 28): a Ctrl-C must not refuse another cluster's note of its posted reset (it keeps 5 s of
//! its own), nor an object near its `--timeout` fail another object's entry.

use std::time::Duration;

use common::driver::Ctx;
use common::http::Api;
use common::interrupt::{Interrupt, Signal};
use common::record::{self, ReadBack, Written};
use common::wait::Deadline;
use serde_json::json;
use xtenant_tests::TestSim;
use xtenant_tests::azure::record_entry;

use super::record::{P_KEY, Q_KEY, cluster_named, key_entry, race_world};

/// A current-thread runtime.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Writes the entry naming `key` of the cluster `name` on `app`.
async fn write_key(
    ctx: &Ctx,
    graph: &Api<'_>,
    app: &str,
    name: &str,
    key: &str,
    asks: ReadBack,
) -> common::Result<Written> {
    let cluster = cluster_named(name);
    record::write(ctx, graph, app, &cluster, Some(key_entry(key)), asks).await
}

/// How many writes of an app the simulator answered.
fn record_writes(sim: &TestSim) -> usize {
    sim.writes()
        .iter()
        .filter(|r| {
            r["method"] == "PATCH"
                && r["path"]
                    .as_str()
                    .is_some_and(|p| p.contains("/applications"))
        })
        .count()
}

/// Holds the read of the second batch on its way 300 ms: the first batch (one write, read,
/// read back and looked at again) lets the two writers queued behind it through, as one batch.
fn hold_the_second_batch(sim: &TestSim) {
    sim.sim()
        .add_fault(json!({"method": "GET", "path": "/applications", "skip": 3, "count": 1, "delay_ms": 300}))
        .unwrap();
}

/// Three writers of one app in one run: the first holds the app's turn while the second (a
/// step's write under the run's interrupt) and the third (the note of a posted reset, under a
/// deadline of its own that the signal does not end) queue behind it. Ctrl-C comes while the
/// batch of the two is on its way: the second's write stops, the third's is still made.
#[test]
fn an_interrupt_does_not_stop_a_write_of_its_own_grace_batched_with_another() {
    let (sim, app, tenant) = race_world("xtenant-record-batch-interrupt");
    let ctx = sim.ctx(Duration::from_secs(30));
    let interrupt = Interrupt::for_run();
    let step = ctx.http().graph(
        &tenant,
        Deadline::watched(Duration::from_secs(30), interrupt),
    );
    let grace = ctx
        .http()
        .graph(&tenant, Deadline::after(Duration::from_secs(5)));
    let rt = runtime();
    rt.block_on(record::read(&step, &app)).unwrap();
    hold_the_second_batch(&sim);
    let (first, second, noted, before) = rt.block_on(async {
        let first = write_key(&ctx, &step, &app, "first", P_KEY, ReadBack::Measured);
        let second = write_key(&ctx, &step, &app, "second", P_KEY, ReadBack::Measured);
        let noted = write_key(&ctx, &grace, &app, "noted", Q_KEY, ReadBack::Supersedable);
        let signal = async {
            while sim.sim().faults()[0]["applied"] == 0 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            interrupt.raise(Signal::Int);
            record_writes(&sim)
        };
        // `join!` polls them in this order first: the first takes the app's turn and its batch
        // before the others queue.
        let (first, second, noted, before) = tokio::join!(first, second, noted, signal);
        (first, second, noted, before)
    });
    // The premise, from the simulator's log: the held read is the second batch's, after the
    // first batch (the first writer alone) wrote once.
    assert_eq!(before, 1, "{:#?}", sim.requests());
    assert_eq!(first.unwrap(), Written::Written);
    assert!(
        second.as_ref().is_err_and(common::Error::is_interrupted),
        "{second:?}"
    );
    assert_eq!(noted.unwrap(), Written::Written, "{:#?}", sim.requests());
    assert_eq!(
        record_entry(&sim, &app, &cluster_named("noted")),
        Some(json!({ "key": Q_KEY }))
    );
}

/// The same three writers, each with its own deadline: the second's passes while the batch of
/// the second and third is on its way. The third, with time left, is written all the same.
#[test]
fn a_writer_near_its_timeout_does_not_fail_another_writers_entry_in_its_batch() {
    let (sim, app, tenant) = race_world("xtenant-record-batch-deadline");
    let ctx = sim.ctx(Duration::from_secs(30));
    let long = ctx
        .http()
        .graph(&tenant, Deadline::after(Duration::from_secs(30)));
    let rt = runtime();
    rt.block_on(record::read(&long, &app)).unwrap();
    hold_the_second_batch(&sim);
    let near = ctx
        .http()
        .graph(&tenant, Deadline::after(Duration::from_millis(250)));
    let (first, third) = rt.block_on(async {
        let first = write_key(&ctx, &long, &app, "first", P_KEY, ReadBack::Measured);
        let second = write_key(&ctx, &near, &app, "second", P_KEY, ReadBack::Measured);
        let third = write_key(&ctx, &long, &app, "third", Q_KEY, ReadBack::Measured);
        let (first, _, third) = tokio::join!(first, second, third);
        (first, third)
    });
    assert_eq!(first.unwrap(), Written::Written);
    assert_eq!(third.unwrap(), Written::Written, "{:#?}", sim.requests());
    assert_eq!(
        record_entry(&sim, &app, &cluster_named("third")),
        Some(json!({ "key": Q_KEY }))
    );
}
