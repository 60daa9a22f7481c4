//! Azure's clock moved on while a test's setup or follow-up runs, so what the tools wait for
//! (replication, a reset's operation) happens at once instead of in real seconds.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::{TIME_SCALE, TestSim};

/// How often [`fast_forward`] moves the clock on.
const TICK: Duration = Duration::from_millis(50);

/// `real` as a span of Azure's time on a test simulator's clock (the inverse of what
/// [`azure_sim::SimConfig::azure_time`] sets from real time).
pub fn azure(real: Duration) -> Duration {
    real.div_f64(TIME_SCALE)
}

/// Runs `f` while Azure's clock is moved on by `by` (Azure's time) every 50 ms. The tools
/// still wait for what they made to replicate or finish — each wait just ends within a tick
/// or two of `by` — as in a run made long after the objects before it: for the steps before
/// the one a test is about and the rest of the pipeline after it, never for the step whose
/// wait the test needs on the clock alone. `by` zero: `f` alone.
pub fn fast_forward<R>(sim: &TestSim, by: Duration, f: impl FnOnce() -> R) -> R {
    fast_forward_after(sim, Duration::ZERO, by, f)
}

/// [`fast_forward`], the clock moved on only once `after` (real time) has passed: `f` first
/// meets Azure as it is (a reset still running), then what it waits for ends within a tick.
pub fn fast_forward_after<R>(
    sim: &TestSim,
    after: Duration,
    by: Duration,
    f: impl FnOnce() -> R,
) -> R {
    struct Stop<'a>(&'a AtomicBool);
    impl Drop for Stop<'_> {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
        }
    }
    if by.is_zero() {
        return f();
    }
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            let started = std::time::Instant::now();
            while !done.load(Ordering::Relaxed) {
                if started.elapsed() >= after {
                    sim.sim().advance(by);
                }
                std::thread::sleep(TICK);
            }
        });
        // Stops the clock's driver however `f` ends (a failed assertion included).
        let _stop = Stop(&done);
        f()
    })
}

/// A span of Azure's time that lasts a minute of real time on a test simulator's clock: as
/// good as forever for a test, which moves the clock on past it ([`SimHandle::advance`])
/// when it wants it over. (A fixed span of Azure's time, two hours say, passes in 1.4 s of
/// real time at [`TIME_SCALE`]: a loaded machine can be slower than that.)
///
/// [`SimHandle::advance`]: azure_sim::SimHandle::advance
pub fn until_moved() -> Duration {
    azure(Duration::from_secs(60))
}

/// Azure's time [`later`] moves the clock on by every tick: five minutes, past any
/// replication or propagation delay and most of a reset's node image upgrade.
pub const LATER: Duration = Duration::from_secs(300);

/// Runs `f` as long after what came before as Azure's waits need ([`fast_forward`] by
/// [`LATER`]): for a setup or follow-up whose waits the test is not about.
pub fn later<R>(sim: &TestSim, f: impl FnOnce() -> R) -> R {
    fast_forward(sim, LATER, f)
}
