//! Posting the reset: a cluster busy with another operation waited out, a reset whose answer
//! never came explained.

use common::driver::Ctx;
use common::error::codes;
use common::http::{Api, Sent};
use common::record::{self, ReadBack};
use common::wait::{Poll, poll_until};
use common::{Error, Result, Secret, ui};
use reqwest::Method;
use serde_json::json;

use crate::cluster;
use crate::inputs::Inputs;
use crate::record::{Claim, Held};
use common::arm::clusters::{MANAGED_CLUSTER_API, ManagedCluster};

/// What posting the reset came to.
pub(super) enum Posted {
    /// The answer (or, in a dry run, its report).
    Sent(Sent),
    /// While it was busy, another operation made the cluster run as the app with the
    /// object's secret (as ARM and the record show it, [`Claim::judged`]).
    Already(Box<ManagedCluster>, Held),
}

/// Posting the reset failed: why, and whether Azure may have accepted a POST (`false` only
/// when every POST sent was answered with a refusal, 4xx: then nothing was reset).
struct Unposted {
    error: Error,
    maybe_posted: bool,
}

impl Unposted {
    fn new(error: Error, maybe_posted: &std::cell::Cell<bool>) -> Self {
        Self {
            error,
            maybe_posted: maybe_posted.get(),
        }
    }
}

/// Posts the reset ([`post_reset`]). When it fails and Azure took no POST (every one was
/// refused, or none was sent: a 409 wait that ended at --timeout or on Ctrl-C), nothing was
/// reset: the entry read goes back over this run's pending entry, under a deadline of its
/// own (its switch claim must not outlive the run: a rerun would take another reset's
/// switch of the cluster for its own).
pub(super) async fn posted(
    ctx: &Ctx,
    apis: (&Api<'_>, &Api<'_>),
    inputs: &Inputs,
    secret: &Secret,
    reimage: &str,
    claim: &Claim,
) -> Result<Posted> {
    let u = match post_reset(ctx, apis, inputs, secret, reimage, claim).await {
        Ok(p) => return Ok(p),
        Err(u) => u,
    };
    if !u.maybe_posted {
        let what = "putting back the entry of a reset Azure did not take";
        crate::record::write_anyway(ctx, inputs, claim.put_back(), what).await;
    }
    Err(u.error)
}

/// Posts the reset. A cluster busy with another operation answers 409 `OperationNotAllowed`
/// ("Another operation (Updating) is in progress", also when its `provisioningState` does
/// not show it yet): that is waited out, within --timeout and with progress saying why, and
/// the reset posted again — unless the operation it waited for made the cluster hold the
/// object's key by the record as it is then (`claim` says how this run's own pending entry
/// counts: another run's write may have landed since, its reset the operation waited for).
async fn post_reset(
    ctx: &Ctx,
    (arm, graph): (&Api<'_>, &Api<'_>),
    inputs: &Inputs,
    secret: &Secret,
    reimage: &str,
    claim: &Claim,
) -> std::result::Result<Posted, Unposted> {
    let name = &inputs.cluster.name;
    let body = json!({"clientId": inputs.app_id, "secret": secret.expose()});
    // Whether a POST may have been accepted: set as one is sent, cleared when Azure answered
    // it with a refusal (a 4xx: nothing started). An answer lost, a 5xx, a write cut short by
    // --timeout or a signal may have started the reset.
    let maybe_posted = std::cell::Cell::new(false);
    let post = |v: String| {
        let body = body.clone();
        let maybe_posted = &maybe_posted;
        async move {
            let url = arm.url(&format!(
                "{}/resetServicePrincipalProfile?api-version={v}",
                inputs.cluster.id()
            ))?;
            maybe_posted.set(true);
            // A POST: never resent after an unknown outcome (the transport retries only 429 and 503).
            let r = arm
                .write(arm.request(Method::POST, url).json(body).note(reimage))
                .await;
            let refused = |e: &Error| e.status().is_some_and(|s| (400..500).contains(&s));
            if r.as_ref().is_err_and(refused) {
                maybe_posted.set(false);
            }
            r
        }
    };
    let fail = |e: Error| Unposted::new(e, &maybe_posted);
    let busy = |e: &Error| e.status() == Some(409) && e.is_code("OperationNotAllowed");
    // An object without a key id wrote no claim: it posts only while no entry came since.
    let keyless = || async {
        if inputs.key_id.is_some() {
            return Ok(());
        }
        let now = record::read(graph, &inputs.app_id).await?;
        crate::record::keyless(inputs, now.entry(&inputs.cluster.id()).as_ref())
    };
    keyless().await.map_err(fail)?;
    match arm.with_api_version(&MANAGED_CLUSTER_API, &post).await {
        Ok(sent) => return Ok(Posted::Sent(sent)),
        Err(e) if busy(&e) => ui::info(&format!(
            "cluster {name} is busy, Azure refused the reset for now: {}",
            e.message()
        )),
        Err(e) => return Err(fail(outcome_unknown_hint(e, name))),
    }
    let label = format!("waiting for the operation running on cluster {name} to end");
    // A failure of a later POST (e.g. its answer lost at --timeout) is reported as itself,
    // not as the busy cluster: it may have started the reset.
    let failed: std::cell::RefCell<Option<Error>> = std::cell::RefCell::new(None);
    let result = poll_until(&label, arm.deadline(), || {
        let (post, failed) = (&post, &failed);
        async move {
            // The cluster is read before posting again: a busy cluster is not posted to, and
            // one that the awaited operation moved to the app is left alone.
            let now = cluster::get(arm, &inputs.cluster).await?;
            if now.in_progress() {
                return Ok(Poll::Pending(
                    format!("another operation is in progress (cluster {})", now.provisioning_state()),
                    None,
                ));
            }
            let read = record::read(graph, &inputs.app_id).await?;
            let found = read.entry(&inputs.cluster.id());
            crate::record::keyless(inputs, found.as_ref())?;
            let entry = claim.judged(found.as_ref(), &read.app_keys);
            let held = Held::of(inputs, &now, entry.as_ref());
            if held.left_alone(inputs.force) {
                return Ok(Poll::Ready(Posted::Already(Box::new(now), held)));
            }
            // Posted again only with an entry naming this run's key: another run's
            // confirmation may have replaced this run's pending entry while the cluster was
            // busy (a reset of that key, landing now, must stay known to a prune).
            if let Some(k) = &inputs.key_id
                && !found.as_ref().is_some_and(|e| e.pending_is(k))
            {
                crate::record::write(ctx, inputs, claim.pending_update(), ReadBack::Guarded)
                    .await
                    .map_err(|e| crate::record::refused(e, inputs))?;
            }
            match arm.with_api_version(&MANAGED_CLUSTER_API, post).await {
                Ok(sent) => Ok(Poll::Ready(Posted::Sent(sent))),
                Err(e) if busy(&e) => Ok(Poll::Pending(
                    "Azure refuses the reset: another operation is in progress (OperationNotAllowed)".into(),
                    None,
                )),
                Err(e) => {
                    *failed.borrow_mut() = Some(e.clone());
                    Err(e)
                }
            }
        }
    })
    .await;
    if let Some(e) = failed.take() {
        return Err(fail(outcome_unknown_hint(e, name)));
    }
    result.map_err(|e| {
        fail(if e.is_timeout() {
            Error::step(codes::CLUSTER_BUSY, e.message()).with_hint(format!(
                "another operation kept running on cluster {name} (OperationNotAllowed); nothing was changed: rerun when it has ended"
            ))
        } else {
            e
        })
    })
}

/// A reset whose answer never came (it may run now): what the rerun of the same command does.
fn outcome_unknown_hint(e: Error, name: &str) -> Error {
    if e.is_outcome_unknown() {
        e.with_hint(format!(
            "the rerun of the same command reads cluster {name}: it waits for the reset running on it and then finds \
             the cluster on the app (a switch from another app, recorded as pending), or posts the reset again"
        ))
    } else {
        e
    }
}
