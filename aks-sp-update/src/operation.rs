//! Following the reset: the cluster's running operation waited out, the operation of the
//! reset (or the envelope's `cluster_operation_url`) followed, and the cluster read back.

use common::arm::{OperationKind, follow_operation};
use common::driver::{Ctx, Done};
use common::envelope::{Change, fields};
use common::http::Api;
use common::record::Entry;
use common::wait::{Deadline, Poll, human, poll_until};
use common::{Error, ErrorKind, Result, ui};
use url::Url;

use crate::cluster;
use crate::inputs::Inputs;
use crate::operation_ref::OperationRef;
use crate::output::{Fail, Output, resumable};
use crate::record;
use common::arm::clusters::ManagedCluster;

/// ARM, to wait for a reset of `cluster` with: until `--timeout` when it was given; else for
/// [`crate::cluster::reset_wait`] from now (at least an hour: AKS reimages node after node).
pub(crate) fn for_the_reset<'a>(ctx: &Ctx, arm: &Api<'a>, cluster: &ManagedCluster) -> Api<'a> {
    if ctx.common().timeout.is_some() {
        return arm.clone();
    }
    let wait = cluster::reset_wait(cluster).max(arm.deadline().remaining());
    arm.until(Deadline::watched(wait, arm.deadline().interrupt()))
}

/// Says, before the reset is posted, what it does to the nodes and how long it is waited for
/// (not in a dry run: its plan says it).
pub(crate) fn announce(ctx: &Ctx, name: &str, waiting: &Api<'_>, cluster: &ManagedCluster) {
    if ctx.dry_run() {
        return;
    }
    let given = if ctx.common().timeout.is_some() {
        "--timeout "
    } else {
        ""
    };
    ui::info(&format!(
        "resetting cluster {name} now: {} (waiting up to {given}{})",
        cluster::disruption(cluster),
        human(waiting.deadline().timeout())
    ));
}

/// Waits until no operation runs on the cluster (up to --timeout); the cluster as it is then.
pub(crate) async fn settle(
    arm: &Api<'_>,
    inputs: &Inputs,
    cluster: ManagedCluster,
) -> Result<ManagedCluster> {
    if !cluster.in_progress() {
        return Ok(cluster);
    }
    let name = &inputs.cluster.name;
    ui::info(&format!(
        "cluster {name} is {}: an operation is running on it (perhaps a reset an interrupted run posted); waiting for it to end",
        cluster.provisioning_state()
    ));
    let label = format!("waiting for the running operation on cluster {name}");
    poll_until(&label, arm.deadline(), || async {
        let c = cluster::get(arm, &inputs.cluster).await?;
        Ok(if c.in_progress() {
            Poll::Pending(c.provisioning_state().to_owned(), None)
        } else if c.succeeded() {
            Poll::Ready(c)
        } else {
            // It ended Failed or Canceled: the progress line says so, never "done".
            let status = format!("it ended {}", c.provisioning_state());
            Poll::Ended(c, status)
        })
    })
    .await
    .map_err(|e| {
        if e.is_timeout() {
            Error::step(common::error::codes::CLUSTER_BUSY, e.message()).with_hint(format!(
                "another operation is running on cluster {name}; nothing was changed: rerun when it has ended"
            ))
        } else {
            e
        }
    })
}

/// What following the envelope's `cluster_operation_url` came to.
pub(crate) enum Resumed {
    /// The envelope's reset finished: the output.
    Done(Done<Output>),
    /// The operation does not stand for the envelope's reset (the record names no reset
    /// pending with its key and this operation): the step goes on as if there were no URL.
    NotThisReset(Box<ManagedCluster>),
}

/// Follows an operation an earlier run posted, instead of posting again.
///
/// The URL is a claim by whoever wrote the envelope: it may cause a read (the operation,
/// then the cluster), never on its own a skipped reset or a record entry. Its shape and
/// subscription were checked with the inputs; its location must be the cluster's. When it
/// ends, the cluster must run as the app (else `ResetNotApplied`), and the object's key is
/// recorded only when the entry on the app names a reset pending with that very key and this
/// operation (or a switch from another app); otherwise the step goes on as without the URL,
/// and resets the cluster unless the record already names the key.
pub(crate) async fn resume(
    ctx: &Ctx,
    inputs: &Inputs,
    arm: &Api<'_>,
    cluster: &ManagedCluster,
    entry: Option<&Entry>,
    op: &OperationRef,
) -> Result<Resumed, Fail> {
    let name = &inputs.cluster.name;
    if !cluster.in_location(&op.location) {
        let field = fields::CLUSTER_OPERATION_URL.name;
        return Err(Error::input(
            field,
            format!(
                "`{field}` names an operation in location {}, but cluster {name} is in {}: it is not the cluster's operation",
                op.location,
                cluster.location.as_deref().unwrap_or("no location")
            ),
        )
        .with_hint("remove the field to post the reset again, or pass the object exactly as aks-sp-update wrote it")
        .into());
    }
    if !record::is_pending_reset(inputs, entry, &op.url) {
        ui::info(&format!(
            "cluster_operation_url is not a reset of cluster {name} to app {}'s secret {} that the record on the app names as pending: not followed",
            inputs.app_id,
            inputs.key_text()
        ));
        return Ok(Resumed::NotThisReset(Box::new(cluster.clone())));
    }
    ui::info(&format!(
        "resuming the reset of cluster {name} from cluster_operation_url"
    ));
    match follow(arm, inputs, &op.url, op.kind).await {
        Ok(()) => {}
        // Operations expire: a cluster that already runs as the app is what the operation was for.
        Err(f) if f.error.status() == Some(404) && cluster.uses(&inputs.app_id) => {
            ui::debug(&format!(
                "the operation is gone ({}); the cluster already uses the app",
                f.error.code()
            ));
        }
        Err(f) => return Err(f),
    }
    let done = confirm(arm, inputs, Some(&op.url)).await?;
    let recorded = record::record_confirmed(ctx, inputs).await;
    Ok(Resumed::Done(Done {
        output: Output {
            cluster_provisioning_state: Some(done.provisioning_state().to_owned()),
            cluster_operation_url: Change::Remove,
            pull_verified_at: Change::Keep,
            cluster_pull_verified: Change::Keep,
        },
        changed: false,
        summary: format!(
            "the reset of cluster {name} to app {} with secret {} finished (state {}{recorded})",
            inputs.app_id,
            inputs.key_text(),
            done.provisioning_state()
        ),
    }))
}

/// Follows the operation; its failures say whether a rerun should resume it.
pub(crate) async fn follow(
    arm: &Api<'_>,
    inputs: &Inputs,
    op: &Url,
    kind: OperationKind,
) -> Result<(), Fail> {
    let label = format!(
        "resetting the service principal of cluster {}",
        inputs.cluster.name
    );
    match follow_operation(arm, op, kind, &label).await {
        Ok(_) => Ok(()),
        Err(e) => Err(match e.kind() {
            ErrorKind::Timeout => still_running(inputs, op, &format!("not finished after {}", human(arm.deadline().timeout()))),
            // The operation ended Failed or Canceled: Azure's code; a rerun posts again.
            ErrorKind::OperationFailed => resumable(e.context(format!("the reset of cluster {}", inputs.cluster.name)), None),
            ErrorKind::Http { status: 404 } => resumable(
                e.context("the reset's operation is unknown").with_hint("operations expire; a rerun reads the cluster and posts the reset again if needed"),
                None,
            ),
            _ => resumable(e, Some(op)),
        }),
    }
}

/// Waits for the cluster to leave its in-progress state (a reset accepted without an operation URL).
pub(crate) async fn wait_for_cluster(arm: &Api<'_>, inputs: &Inputs) -> Result<()> {
    let label = format!(
        "resetting the service principal of cluster {}",
        inputs.cluster.name
    );
    poll_until(&label, arm.deadline(), || async {
        let c = cluster::get(arm, &inputs.cluster).await?;
        Ok(if c.in_progress() {
            Poll::Pending(c.provisioning_state().to_owned(), None)
        } else {
            Poll::Ready(())
        })
    })
    .await
    .map_err(|e| {
        if e.is_timeout() {
            Error::new(
                ErrorKind::Timeout,
                common::error::codes::OPERATION_STILL_RUNNING,
                e.message(),
            )
        } else {
            e
        }
    })
}

/// Reads the cluster back: it must run as the app, and be Succeeded.
pub(crate) async fn confirm(
    arm: &Api<'_>,
    inputs: &Inputs,
    op: Option<&Url>,
) -> Result<ManagedCluster, Fail> {
    let c = cluster::get(arm, &inputs.cluster)
        .await
        .map_err(|e| resumable(e, op))?;
    if !c.uses(&inputs.app_id) || !c.succeeded() {
        let now_uses = c.client_id().unwrap_or("no service principal");
        return Err(resumable(
            Error::step(
                common::error::codes::RESET_NOT_APPLIED,
                format!(
                    "after the reset, cluster {} uses {now_uses} in state {} (expected app {} in state Succeeded)",
                    inputs.cluster.name, c.provisioning_state(), inputs.app_id
                ),
            )
            .with_hint("check the cluster's activity log; a rerun posts the reset again"),
            None,
        ));
    }
    Ok(c)
}

/// The error of a reset left running: the object keeps the URL, and a rerun resumes.
pub(crate) fn still_running(inputs: &Inputs, op: &Url, why: &str) -> Fail {
    resumable(
        Error::step(common::error::codes::OPERATION_STILL_RUNNING, format!("the reset of cluster {} is still running ({why})", inputs.cluster.name))
            .with_hint("rerun aks-sp-update on this object: it follows cluster_operation_url instead of posting again"),
        Some(op),
    )
}
