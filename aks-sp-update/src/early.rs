//! What the flags alone determine, started before the first object arrives
//! ([`common::driver::Tool::prepare`]): the tokens of tenant A (ARM and Graph), the cluster
//! `--cluster` names, the service principal it runs as and its role assignments. Only reads.
//!
//! The cluster is read once early: the first object for it takes that answer, read while
//! the object was on its way, if it came within the early-read window; later objects, and
//! every read after a wait, ask afresh. The previous service principal's assignments stand
//! for the same window: a fleet of clusters leaving the same app lists them once, and no
//! object copies roles the old principal lost long ago.
//!
//! The window is judged on the tool's own clock (how long the object took to come down
//! the pipe is this process's time, not Azure's): [`crate::cli::EARLY_READ_MAX_AGE`], or
//! shorter with `--early-read-max-age` / `XTENANT_EARLY_READ_MAX_AGE`; `0` reads nothing
//! early for an object, and every object reads afresh.

use std::time::{Duration, Instant};

use common::Result;
use common::arm::{ResourceId, RoleAssignment, list_assignments};
use common::driver::{Ctx, Memo, Primed};
use common::envelope::fields;
use common::http::Api;
use common::validate::{self, is_guid};

use crate::cluster;
use common::arm::clusters::CLUSTER_TYPE;
use common::arm::clusters::ManagedCluster;

use crate::Cli;

/// The run's early answers.
#[derive(Default)]
pub(crate) struct Early {
    /// (tenant, cluster id) → the cluster (or why it could not be read), read before its
    /// first object arrived, and when the read ended.
    clusters: Primed<(String, String), (Instant, Result<ManagedCluster>)>,
    /// (tenant, scope, principal) → a previous service principal's role assignments there,
    /// and when they were listed.
    previous: Memo<(String, String, String), (Instant, Vec<RoleAssignment>)>,
}

fn cluster_key(tenant: &str, id: &ResourceId) -> (String, String) {
    (tenant.to_ascii_lowercase(), id.id().to_ascii_lowercase())
}

/// Whether a read made at `read_at` still stands at `now` for an object, within `window`
/// (the run's early-read window): at most `window` old, and never with a `window` of 0.
pub(crate) fn stands(read_at: Instant, now: Instant, window: Duration) -> bool {
    !window.is_zero() && now.saturating_duration_since(read_at) <= window
}

/// The cluster: read before the object arrived if this is the first object asking for it
/// and that read stands within `window` ([`stands`]), else read now.
pub(crate) async fn cluster(
    ctx: &Ctx,
    arm: &Api<'_>,
    id: &ResourceId,
    window: Duration,
) -> Result<ManagedCluster> {
    if window.is_zero() {
        // Nothing was read early (see `prepare`): the object's own read.
        return cluster::get(arm, id).await;
    }
    let asked = Instant::now();
    let early = ctx
        .state::<Early>()
        .clusters
        .take_or(&cluster_key(arm.tenant(), id), || async {
            Ok((Instant::now(), cluster::get(arm, id).await))
        })
        .await;
    match early {
        Ok((at, Ok(found))) if stands(at, Instant::now(), window) => Ok(found),
        Ok((at, Err(e))) if failed_while_asked(at, asked, &e) => Err(e),
        // Too old, or it failed before the object came (perhaps a moment's fault long
        // before): the object's own read decides.
        _ => cluster::get(arm, id).await,
    }
}

/// Whether a read that ended at `ended` with `e` is the object's own answer, the object
/// having asked at `asked`: it failed while the object waited for it (or it was the
/// object's own read), so a read made now would meet the same outage or refusal after a
/// second round of retries — but not a deadline or an interrupt of its own, which the
/// object's may outlast: a `Timeout`, or Azure's failure (a 503, a 429) whose retries the
/// early read's deadline cut short.
fn failed_while_asked(ended: Instant, asked: Instant, e: &common::Error) -> bool {
    ended >= asked
        && !e.is(common::error::codes::TIMEOUT)
        && !e.is_cut_by_deadline()
        && !e.is_interrupted()
}

/// The role assignments of the previous service principal `principal` at or below `scope`:
/// listed once for the objects of the next `window` (a fleet of clusters leaving the same
/// app), afresh after that; with a `window` of 0, for each object.
pub(crate) async fn previous_assignments(
    ctx: &Ctx,
    arm: &Api<'_>,
    scope: &str,
    principal: &str,
    window: Duration,
) -> Result<Vec<RoleAssignment>> {
    if window.is_zero() {
        return list_assignments(arm, scope, principal).await;
    }
    let key = (
        arm.tenant().to_ascii_lowercase(),
        scope.to_ascii_lowercase(),
        principal.to_ascii_lowercase(),
    );
    let listed = ctx
        .state::<Early>()
        .previous
        .get_or(key, || async {
            let listed = list_assignments(arm, scope, principal).await?;
            Ok(Some((Instant::now(), listed)))
        })
        .await?;
    match listed {
        Some((at, listed)) if stands(at, Instant::now(), window) => Ok(listed),
        _ => list_assignments(arm, scope, principal).await,
    }
}

/// The app whose service principal an object will compare: the one the cluster runs as
/// (the source of a switch's roles, or the new one of a rerun or a new secret), with its
/// assignments. Never one a record names: a record is not a source of roles.
fn candidates(c: &ManagedCluster) -> Vec<(String, bool)> {
    c.client_id()
        .filter(|id| is_guid(id))
        .map(|current| vec![(current.to_owned(), true)])
        .unwrap_or_default()
}

/// Starts what `--cluster-tenant` and `--cluster` determine (nothing without both; only the
/// tokens with an early-read window of 0, since no object would use an early read).
pub(crate) fn prepare(cli: &Cli, ctx: &Ctx) {
    let Some(tenant) = cli
        .cluster_tenant
        .as_deref()
        .and_then(|t| validate::tenant(fields::CLUSTER_TENANT_ID.name, t).ok())
    else {
        return;
    };
    ctx.sign_in_early(&tenant, common::driver::EarlyTokens::GraphAndArm);
    let window = cli.early_read_max_age;
    if window.is_zero() {
        return;
    }
    let Some(id) = cli
        .cluster_id()
        .ok()
        .flatten()
        .and_then(|id| ResourceId::parse(fields::CLUSTER_ID.name, &id, CLUSTER_TYPE).ok())
    else {
        return;
    };
    let run = ctx.next_object();
    ctx.state::<Early>()
        .clusters
        .start(cluster_key(&tenant, &id), async move {
            let found = match cluster::get(&run.arm(&tenant), &id).await {
                Ok(found) => found,
                Err(e) => return Ok((Instant::now(), Err(e))),
            };
            let at = Instant::now();
            // Then, beside the wait for the object, the principals it will compare.
            if found.managed_identity().is_none() {
                for (app, list) in candidates(&found) {
                    let (roles, tenant) = (run.next_object(), tenant.clone());
                    let scope = format!("/subscriptions/{}", id.subscription);
                    run.spawn(async move {
                        let graph = roles.graph(&tenant);
                        if let Some(sp) = roles.service_principal_id(&graph, &app).await?
                            && list
                        {
                            let arm = roles.arm(&tenant);
                            previous_assignments(&roles, &arm, &scope, &sp, window).await?;
                        }
                        Ok(())
                    });
                }
            }
            Ok((at, Ok(found)))
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_early_read_stands_up_to_the_window_and_not_a_moment_longer() {
        let read = Instant::now();
        let at = |ms: u64| read + Duration::from_millis(ms);
        let window = crate::cli::EARLY_READ_MAX_AGE;
        assert!(stands(read, read, window));
        assert!(stands(read, at(29_999), window));
        assert!(
            stands(read, at(30_000), window),
            "the boundary itself stands"
        );
        assert!(!stands(
            read,
            read + window + Duration::from_nanos(1),
            window
        ));
        assert!(!stands(read, at(31_000), window));
        // A shorter window, as XTENANT_EARLY_READ_MAX_AGE=300ms sets it.
        let short = Duration::from_millis(300);
        assert!(stands(read, at(300), short));
        assert!(!stands(read, at(301), short));
        // A read stamped after `now` (clock readings raced) is no older than now.
        assert!(stands(at(5), read, short));
    }

    #[test]
    fn a_failed_read_is_the_objects_only_if_it_ended_after_the_object_asked() {
        let asked = Instant::now();
        let refused = common::Error::credential(common::error::codes::SIGN_IN_UNAVAILABLE, "down");
        assert!(failed_while_asked(asked, asked, &refused));
        assert!(failed_while_asked(
            asked + Duration::from_secs(4),
            asked,
            &refused
        ));
        // Before the object came: perhaps a moment's fault, the object reads again.
        assert!(!failed_while_asked(
            asked,
            asked + Duration::from_millis(1),
            &refused
        ));
        // The early read's own deadline, or an interrupt: the object's may outlast it.
        let timeout = common::Error::step(common::error::codes::TIMEOUT, "late");
        assert!(!failed_while_asked(
            asked + Duration::from_secs(1),
            asked,
            &timeout
        ));
        // Azure's 503 whose retries the early read's deadline cut: its code is Azure's.
        let cut = common::Error::azure(
            common::ErrorKind::Http { status: 503 },
            "ServiceUnavailable",
            "busy",
        )
        .cut_by_deadline();
        assert!(!failed_while_asked(
            asked + Duration::from_secs(1),
            asked,
            &cut
        ));
        let stopped = common::Error::interrupted(common::interrupt::Signal::Int, "stopped");
        assert!(!failed_while_asked(
            asked + Duration::from_secs(1),
            asked,
            &stopped
        ));
    }

    #[test]
    fn a_window_of_zero_never_lets_an_early_read_stand() {
        let read = Instant::now();
        assert!(!stands(read, read, Duration::ZERO));
        assert!(!stands(read + Duration::from_secs(1), read, Duration::ZERO));
    }
}
