//! The step: checks, the reset, following it, and reading the cluster back.

use common::arm::clusters::{ClusterRecord, write_record};
use common::driver::{Ctx, Done, Failed, Fields};
use common::envelope::{Change, Envelope, fields};
use common::error::codes;
use common::http::{Api, Sent};
use common::validate::is_guid;
use common::wait::{
    Deadline, OperationKind, Poll, follow_operation, human, operation_url, poll_until,
};
use common::{Error, ErrorKind, Result, Secret, ui};
use reqwest::Method;
use serde_json::json;
use url::Url;

use crate::cluster::{self, Cluster, in_progress};
use crate::inputs::{Inputs, OperationRef};
use crate::{AKS_API, early, pull, roles};

/// The fields step 4 writes.
#[derive(Debug, Clone, Default)]
pub struct Output {
    /// The cluster's state after the reset (none in a dry run).
    pub cluster_provisioning_state: Option<String>,
    /// The reset's operation, gone once the reset is confirmed.
    pub cluster_operation_url: Change<String>,
    /// When the new credential's pull was checked, if it was.
    pub pull_verified_at: Change<String>,
}

impl Fields for Output {
    fn write_to(&self, object: &mut Envelope) {
        object.change(&fields::PULL_VERIFIED_AT, &self.pull_verified_at);
        if let Some(s) = &self.cluster_provisioning_state {
            object.set(fields::CLUSTER_PROVISIONING_STATE.name, s);
        }
        object.change(&fields::CLUSTER_OPERATION_URL, &self.cluster_operation_url);
    }
}

/// What a failed run leaves for its rerun: the reset's operation while it may still run
/// (a rerun follows it instead of posting again), or its removal when a rerun must post again.
#[derive(Debug, Clone, Default)]
pub struct Partial {
    /// The reset's operation URL.
    pub cluster_operation_url: Change<String>,
}

impl Fields for Partial {
    fn write_to(&self, object: &mut Envelope) {
        object.change(&fields::CLUSTER_OPERATION_URL, &self.cluster_operation_url);
    }
}

type Fail = Failed<Partial>;

/// A failure a rerun resumes from `operation` (`None`: the rerun posts the reset again).
fn resumable(e: Error, operation: Option<&Url>) -> Fail {
    Failed::with(
        e,
        Partial {
            cluster_operation_url: operation.map_or(Change::Remove, |u| Change::Set(u.to_string())),
        },
    )
}

/// What the cluster's record says about the object's secret.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Held {
    /// The cluster runs as another app (or none).
    OtherApp,
    /// The record names the object's key: the cluster holds the object's secret.
    Ours,
    /// A switch to the app with the object's key was posted (by a run that lost its answer)
    /// and the cluster now runs as the app: only that reset can have switched it.
    Switched,
    /// The cluster runs as the app, but no record says which of its secrets it holds.
    Unrecorded,
    /// The record names another key of the app.
    OtherKey(String),
    /// The object names no key id to compare with.
    NoKeyInObject,
}

impl Held {
    fn of(inputs: &Inputs, cluster: &Cluster) -> Self {
        if !cluster.uses(&inputs.app_id) {
            return Self::OtherApp;
        }
        match (cluster.recorded_key(&inputs.app_id), &inputs.key_id) {
            (_, None) => Self::NoKeyInObject,
            (None, Some(k))
                if cluster
                    .record
                    .pending_key_of(&inputs.app_id)
                    .is_some_and(|p| p.eq_ignore_ascii_case(k)) =>
            {
                Self::Switched
            }
            (None, Some(_)) => Self::Unrecorded,
            (Some(r), Some(k)) if r.eq_ignore_ascii_case(k) => Self::Ours,
            (Some(r), Some(_)) => Self::OtherKey(r.to_owned()),
        }
    }

    /// Whether the cluster holds the object's secret and is left alone (no `--force`).
    fn left_alone(&self, force: bool) -> bool {
        matches!(self, Self::Ours | Self::Switched) && !force
    }

    /// Why the cluster is reset although it runs as the app ("" when it does not).
    fn why(&self, force: bool) -> String {
        match self {
            Self::Ours | Self::Switched if force => "; --force: it already held this secret".into(),
            Self::OtherApp | Self::Ours | Self::Switched => String::new(),
            Self::Unrecorded => "; it ran as the app, but no record said which secret it held".into(),
            Self::OtherKey(k) => format!("; it held the app's secret {k}, not the object's"),
            Self::NoKeyInObject => {
                "; it ran as the app, and the object names no client_secret_key_id to compare with the record".into()
            }
        }
    }
}

/// The key id for messages.
fn key_text(inputs: &Inputs) -> &str {
    inputs
        .key_id
        .as_deref()
        .unwrap_or("(key id unknown: the object has no client_secret_key_id)")
}

/// Runs the step on one validated object. A failure whose reset did not happen removes the
/// roles copied for it (see [`roles::undo`]).
pub(crate) async fn run(inputs: &Inputs, ctx: &Ctx) -> Result<Done<Output>, Fail> {
    let ledger = roles::Ledger::default();
    let result = switch(inputs, ctx, &ledger).await;
    if let Err(f) = &result {
        roles::undo(ctx, inputs, &ledger, &f.error).await;
    }
    result
}

/// The step itself ([`run`]); the roles it copies are noted in `ledger`.
///
/// Nothing is written before [`pull::bind`] proved the secret in hand to be the object's app
/// and key: a resumed reset and a cluster left alone prove it first; a reset proves it in
/// `prepare`, beside the other reads (the answer is kept for the run).
async fn switch(inputs: &Inputs, ctx: &Ctx, ledger: &roles::Ledger) -> Result<Done<Output>, Fail> {
    let arm = ctx.arm(&inputs.tenant);
    let name = &inputs.cluster.name;
    let cluster = early::cluster(ctx, &arm, &inputs.cluster).await?;
    if let Some(why) = cluster.managed_identity() {
        return Err(managed_identity(name, &why).into());
    }

    let cluster = match &inputs.operation {
        Some(op) => match Box::pin(async {
            pull::bind(inputs, ctx).await?;
            resume(inputs, &arm, &cluster, op).await
        })
        .await?
        {
            Resumed::Done(done) => return Ok(done),
            Resumed::NotThisReset(now) => *now,
        },
        None => cluster,
    };

    // A reset posted by a run killed before it wrote cluster_operation_url (or anyone's
    // operation) is waited out first: then the cluster may already run as the app.
    let cluster = settle(&arm, inputs, cluster).await?;
    let held = Held::of(inputs, &cluster);
    if held.left_alone(inputs.force) {
        Box::pin(pull::bind(inputs, ctx)).await?;
        return Ok(already(ctx, inputs, &cluster).await?);
    }
    if held != Held::OtherApp {
        ui::info(&format!(
            "resetting cluster {name} to app {}'s secret {}{}",
            inputs.app_id,
            key_text(inputs),
            held.why(inputs.force)
        ));
    }

    let (secret, pull_verified_at, roles, mut record) =
        prepare(ctx, inputs, &arm, &cluster, &held, ledger).await?;

    let sent = match post_reset(&arm, inputs, &secret, &cluster.reimage()).await? {
        Posted::Sent(s) => s,
        Posted::Already(now) => return Ok(already(ctx, inputs, &now).await?),
    };
    let Sent::Done(r) = sent else {
        return Ok(would_reset(inputs, &held, pull_verified_at, &cluster));
    };
    ui::info(&format!(
        "posted the reset of cluster {name}: {}",
        cluster.reimage()
    ));
    let (op, kind) = match operation_url(&r) {
        Some((u, k)) if r.status != 200 => (Some(u), k),
        _ => (None, OperationKind::Status),
    };
    if let Some(op) = &op {
        if inputs.detach {
            return Err(still_running(inputs, op, "--detach: not followed"));
        }
        follow(&arm, inputs, op, kind).await?;
    } else if r.status != 200 {
        // Accepted without an operation URL: watch the cluster itself.
        wait_for_cluster(&arm, inputs).await?;
    }
    let done = confirm(&arm, inputs, op.as_ref()).await?;
    (record.client_id, record.key_id, record.pending_key_id) =
        (Some(inputs.app_id.clone()), inputs.key_id.clone(), None);
    let recorded = record_after(&arm, inputs, &done, &record).await;
    Ok(Done {
        output: Output {
            cluster_provisioning_state: Some(done.provisioning_state.clone()),
            cluster_operation_url: Change::Remove,
            pull_verified_at,
        },
        changed: true,
        summary: format!(
            "cluster {name} now uses app {} with secret {}{} (state {}{recorded}){}",
            inputs.app_id,
            key_text(inputs),
            held.why(inputs.force),
            done.provisioning_state,
            roles.summary()
        ),
    })
}

/// Everything before the reset: the new credential's pull, the roles of the principal the
/// cluster runs as (a switch from another app only), and the record cleared of any secret
/// (a crash after the reset then leaves a cluster the rerun resets again).
///
/// In two rounds: first every read at once (the secret, the pull check, the principals and
/// their roles), then, only once all of them passed, the writes at once (the roles the new
/// principal lacks, the record). A role copy that fails puts the record back as it was.
async fn prepare(
    ctx: &Ctx,
    inputs: &Inputs,
    arm: &Api<'_>,
    cluster: &Cluster,
    held: &Held,
    ledger: &roles::Ledger,
) -> Result<(Secret, Change<String>, roles::Outcome, ClusterRecord)> {
    // The only source of roles: the principal ARM shows the cluster running as, before a
    // switch from another app (never a record). A planned app (dry run) has no service
    // principal whose roles could be compared.
    let source = cluster
        .client_id
        .clone()
        .filter(|c| *held == Held::OtherApp && inputs.replaces(c));
    if source.is_some() {
        ledger.switching();
    } else {
        no_copy_on_the_app(inputs);
    }
    let previous_app_id = cluster.client_id.clone().filter(|c| is_guid(c));
    let role_reads = async {
        match &source {
            Some(app) => roles::read(ctx, inputs, cluster, app).await,
            None => Ok(roles::Found::default()),
        }
    };
    // Boxed: the two together make a large future.
    let (credential, found) = tokio::join!(
        Box::pin(pull::new_credential(inputs, ctx)),
        Box::pin(role_reads)
    );
    let (secret, verified) = credential?;
    let found = found?;
    let pull_verified_at = verified.map_or(Change::Keep, Change::Set);

    // The record before the reset: no secret is known until the reset is confirmed (a crash
    // in between leaves a cluster the rerun resets again), the previous principal is kept.
    let record = if *held == Held::OtherApp {
        ClusterRecord {
            client_id: Some(inputs.app_id.clone()),
            key_id: None,
            previous_client_id: previous_app_id,
            previous_sp_object_id: found.previous_sp(),
            pending_key_id: inputs.key_id.clone(),
        }
    } else {
        // A new secret for the same app: whether the reset was applied cannot be seen, so
        // nothing is pending (a rerun that lost the answer resets again, which is safe).
        ClusterRecord {
            client_id: None,
            key_id: None,
            pending_key_id: None,
            ..cluster.record.clone()
        }
    };
    let id = inputs.cluster.id();
    let (roles, recorded) = tokio::join!(
        Box::pin(roles::apply(ctx, inputs, found, ledger)),
        write_record(arm, &id, &cluster.tags, &record)
    );
    let recorded = recorded.map_err(|e| record_refused(e, &inputs.cluster.name));
    let roles = match (roles, recorded) {
        (Ok(roles), Ok(_)) => roles,
        (Err(e), Ok(true)) => {
            // Nothing will be reset: the record goes back to what it said. Under a deadline
            // of its own, which an interrupt does not end: the copy may have failed because
            // the object's --timeout passed, or on Ctrl-C, and the record must not stay.
            let written = record.merged_into(&cluster.tags);
            let undo = ctx.http().arm(
                &inputs.tenant,
                Deadline::after(common::interrupt::WRITE_GRACE),
            );
            if let Err(undo) = write_record(&undo, &id, &written, &cluster.record).await {
                ui::warn(&format!(
                    "the record on cluster {} could not be put back ({}): it names app {} as pending, which the next run rewrites",
                    inputs.cluster.name,
                    undo.message(),
                    inputs.app_id
                ));
            }
            return Err(e);
        }
        (Err(e), _) | (Ok(_), Err(e)) => return Err(e),
    };
    Ok((secret, pull_verified_at, roles, record))
}

/// The refusal of a managed-identity cluster.
fn managed_identity(name: &str, why: &str) -> Error {
    Error::step(
            "ManagedIdentityCluster",
            format!(
                "cluster {name} cannot pull across tenants: {why}. A managed identity cannot authenticate to a registry in another \
                 Microsoft Entra tenant; only a cluster that authenticates with a service principal can use the multitenant app"
            ),
        )
        .with_hint("the cluster must use a service principal: use a service-principal cluster (az aks create --service-principal …) for pulls from another tenant; nothing was changed")
}

/// What posting the reset came to.
enum Posted {
    /// The answer (or, in a dry run, its report).
    Sent(Sent),
    /// While it was busy, another operation made the cluster run as the app with the object's secret.
    Already(Cluster),
}

/// Posts the reset. A cluster busy with another operation answers 409 `OperationNotAllowed`
/// ("Another operation (Updating) is in progress", also when its `provisioningState` does
/// not show it yet): that is waited out, within --timeout and with progress saying why, and
/// the reset posted again — unless the operation it waited for made the cluster run as the app.
async fn post_reset(
    arm: &Api<'_>,
    inputs: &Inputs,
    secret: &Secret,
    reimage: &str,
) -> Result<Posted> {
    let name = &inputs.cluster.name;
    let body = json!({"clientId": inputs.app_id, "secret": secret.expose()});
    let post = |v: String| {
        let body = body.clone();
        async move {
            let url = arm.url(&format!(
                "{}/resetServicePrincipalProfile?api-version={v}",
                inputs.cluster.id()
            ))?;
            // A POST: never resent after an unknown outcome (the transport retries only 429 and 503).
            arm.write(arm.request(Method::POST, url).json(body).note(reimage))
                .await
        }
    };
    let busy = |e: &Error| e.status() == Some(409) && e.is_code("OperationNotAllowed");
    match arm.with_api_version(&AKS_API, &post).await {
        Ok(sent) => return Ok(Posted::Sent(sent)),
        Err(e) if busy(&e) => ui::info(&format!(
            "cluster {name} is busy, Azure refused the reset for now: {}",
            e.message()
        )),
        Err(e) => return Err(outcome_unknown_hint(e, name)),
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
            if in_progress(&now.provisioning_state) {
                return Ok(Poll::Pending(
                    format!("another operation is in progress (cluster {})", now.provisioning_state),
                    None,
                ));
            }
            if Held::of(inputs, &now).left_alone(inputs.force) {
                return Ok(Poll::Ready(Posted::Already(now)));
            }
            match arm.with_api_version(&AKS_API, post).await {
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
        return Err(outcome_unknown_hint(e, name));
    }
    result.map_err(|e| {
        if e.is_timeout() {
            Error::step(codes::CLUSTER_BUSY.name, e.message()).with_hint(format!(
                "another operation kept running on cluster {name} (OperationNotAllowed); nothing was changed: rerun when it has ended"
            ))
        } else {
            e
        }
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

/// A dry run's output: the reset that would be posted.
fn would_reset(
    inputs: &Inputs,
    held: &Held,
    pull_verified_at: Change<String>,
    cluster: &Cluster,
) -> Done<Output> {
    Done {
        output: Output {
            pull_verified_at,
            ..Output::default()
        },
        changed: true,
        summary: format!(
            "would reset cluster {}: {}, to app {} with secret {}{}",
            inputs.cluster.name,
            cluster.reimage(),
            inputs.app_id,
            key_text(inputs),
            held.why(inputs.force)
        ),
    }
}

/// Says, when the person asked for scopes, that a cluster already on the app gets no role
/// copied: the only source is the principal a cluster runs as before its switch.
fn no_copy_on_the_app(inputs: &Inputs) {
    let line = format!(
        "cluster {} already runs as app {}: no role is copied (roles come only from the principal a cluster runs as, before its switch)",
        inputs.cluster.name, inputs.app_id
    );
    if inputs.copy_role_scopes.is_empty() {
        ui::debug(&line);
    } else {
        ui::info(&format!("{line}; --copy-role-scope is not used"));
    }
}

/// A record that could not be written before the reset: nothing was reset.
fn record_refused(e: Error, name: &str) -> Error {
    let hint = format!(
        "the cluster's record (its tags) is written with Microsoft.ContainerService/managedClusters/write (Contributor on cluster {name}); nothing was reset"
    );
    e.with_hint(hint)
}

/// Writes the record of a confirmed reset; a failure leaves no record (the next run resets
/// again, and --prune-secrets refuses), so it is reported, not fatal. The summary's note.
async fn record_after(
    arm: &Api<'_>,
    inputs: &Inputs,
    done: &Cluster,
    record: &ClusterRecord,
) -> String {
    match write_record(arm, &inputs.cluster.id(), &done.tags, record).await {
        Ok(_) if record.key_id.is_some() => "; recorded on the cluster".into(),
        Ok(_) => "; key id unknown: the next run resets again".into(),
        Err(e) => {
            ui::warn(&format!(
                "the reset of cluster {} is done but could not be recorded on it ({}): the next run resets it again, and entra-app-create --prune-secrets refuses until it is recorded",
                inputs.cluster.name,
                e.message()
            ));
            "; NOT recorded on the cluster".into()
        }
    }
}

/// The output for a cluster that already runs as the app with the object's secret (its
/// record says so): the pull is checked again when the object names a registry. No role is
/// copied: a record's previous principal is a claim, never a source of grants.
async fn already(ctx: &Ctx, inputs: &Inputs, cluster: &Cluster) -> Result<Done<Output>> {
    // A switch an earlier run posted and could not confirm: confirmed now, and recorded.
    let mut recorded = false;
    if cluster.record.key_id.is_none() && cluster.record.pending_key_id.is_some() {
        let record = ClusterRecord {
            client_id: Some(inputs.app_id.clone()),
            key_id: inputs.key_id.clone(),
            pending_key_id: None,
            ..cluster.record.clone()
        };
        recorded = write_record(
            &ctx.arm(&inputs.tenant),
            &inputs.cluster.id(),
            &cluster.tags,
            &record,
        )
        .await?;
    }
    no_copy_on_the_app(inputs);
    let pull_verified_at = match &inputs.pull {
        Some(_) => pull::new_credential(inputs, ctx)
            .await?
            .1
            .map_or(Change::Keep, Change::Set),
        None => Change::Keep,
    };
    Ok(Done {
        output: Output {
            cluster_provisioning_state: Some(cluster.provisioning_state.clone()),
            pull_verified_at,
            // An operation URL the envelope carried stood for nothing: gone.
            cluster_operation_url: Change::Remove,
        },
        changed: recorded,
        summary: format!(
            "cluster {} already uses app {} with its secret {} ({}; state {}): nothing to do; --force resets it anyway",
            inputs.cluster.name,
            inputs.app_id,
            key_text(inputs),
            if recorded {
                "the reset an earlier run posted; now recorded on the cluster"
            } else {
                "recorded on the cluster"
            },
            cluster.provisioning_state,
        ),
    })
}

/// Waits until no operation runs on the cluster (up to --timeout); the cluster as it is then.
async fn settle(arm: &Api<'_>, inputs: &Inputs, cluster: Cluster) -> Result<Cluster> {
    if !in_progress(&cluster.provisioning_state) {
        return Ok(cluster);
    }
    let name = &inputs.cluster.name;
    ui::info(&format!(
        "cluster {name} is {}: an operation is running on it (perhaps a reset an interrupted run posted); waiting for it to end",
        cluster.provisioning_state
    ));
    let label = format!("waiting for the running operation on cluster {name}");
    poll_until(&label, arm.deadline(), || async {
        let c = cluster::get(arm, &inputs.cluster).await?;
        Ok(if in_progress(&c.provisioning_state) {
            Poll::Pending(c.provisioning_state, None)
        } else {
            Poll::Ready(c)
        })
    })
    .await
    .map_err(|e| {
        if e.is_timeout() {
            Error::step("ClusterBusy", e.message()).with_hint(format!(
                "another operation is running on cluster {name}; nothing was changed: rerun when it has ended"
            ))
        } else {
            e
        }
    })
}

/// What following the envelope's `cluster_operation_url` came to.
enum Resumed {
    /// The envelope's reset finished: the output.
    Done(Done<Output>),
    /// The operation ended but does not stand for the envelope's reset (the record names no
    /// reset pending with its key): the step goes on as if there were no URL, from the
    /// cluster as it is now.
    NotThisReset(Box<Cluster>),
}

/// Follows an operation an earlier run posted, instead of posting again.
///
/// The URL is a claim by whoever wrote the envelope: it may cause a read (the operation,
/// then the cluster), never on its own a skipped reset or a record. Its shape and
/// subscription were checked with the inputs; its location must be the cluster's. When it
/// ends, the cluster must run as the app (else `ResetNotApplied`), and the envelope's key is
/// recorded only when the record names a reset pending with that very key; otherwise the
/// step goes on and resets the cluster unless the record already names the key.
async fn resume(
    inputs: &Inputs,
    arm: &Api<'_>,
    cluster: &Cluster,
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
    let pending = done.record.pending_key_of(&inputs.app_id);
    let ours = matches!((pending, &inputs.key_id), (Some(p), Some(k)) if p.eq_ignore_ascii_case(k));
    if !ours {
        ui::info(&format!(
            "the operation in cluster_operation_url ended, but no reset of cluster {name} to app {}'s secret {} is recorded as pending: it does not stand for this object's reset",
            inputs.app_id,
            key_text(inputs)
        ));
        return Ok(Resumed::NotThisReset(Box::new(done)));
    }
    let record = ClusterRecord {
        client_id: Some(inputs.app_id.clone()),
        key_id: inputs.key_id.clone(),
        pending_key_id: None,
        ..done.record.clone()
    };
    let recorded = record_after(arm, inputs, &done, &record).await;
    Ok(Resumed::Done(Done {
        output: Output {
            cluster_provisioning_state: Some(done.provisioning_state.clone()),
            cluster_operation_url: Change::Remove,
            pull_verified_at: Change::Keep,
        },
        changed: false,
        summary: format!(
            "the reset of cluster {name} to app {} with secret {} finished (state {}{recorded})",
            inputs.app_id,
            key_text(inputs),
            done.provisioning_state
        ),
    }))
}

/// Follows the operation; its failures say whether a rerun should resume it.
async fn follow(arm: &Api<'_>, inputs: &Inputs, op: &Url, kind: OperationKind) -> Result<(), Fail> {
    let label = format!(
        "resetting the service principal of cluster {}",
        inputs.cluster.name
    );
    match follow_operation(arm, op, kind, &label).await {
        Ok(_) => Ok(()),
        Err(e) => Err(match e.kind() {
            ErrorKind::Timeout => still_running(inputs, op, &format!("not finished after --timeout {}", human(arm.deadline().timeout()))),
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
async fn wait_for_cluster(arm: &Api<'_>, inputs: &Inputs) -> Result<()> {
    let label = format!(
        "resetting the service principal of cluster {}",
        inputs.cluster.name
    );
    poll_until(&label, arm.deadline(), || async {
        let c = cluster::get(arm, &inputs.cluster).await?;
        Ok(if in_progress(&c.provisioning_state) {
            Poll::Pending(c.provisioning_state, None)
        } else {
            Poll::Ready(())
        })
    })
    .await
    .map_err(|e| {
        if e.is_timeout() {
            Error::new(ErrorKind::Timeout, "OperationStillRunning", e.message())
        } else {
            e
        }
    })
}

/// Reads the cluster back: it must run as the app, and be Succeeded.
async fn confirm(arm: &Api<'_>, inputs: &Inputs, op: Option<&Url>) -> Result<Cluster, Fail> {
    let c = cluster::get(arm, &inputs.cluster)
        .await
        .map_err(|e| resumable(e, op))?;
    if !c.uses(&inputs.app_id) || !c.provisioning_state.eq_ignore_ascii_case("Succeeded") {
        let now_uses = c.client_id.as_deref().unwrap_or("no service principal");
        return Err(resumable(
            Error::step(
                "ResetNotApplied",
                format!(
                    "after the reset, cluster {} uses {now_uses} in state {} (expected app {} in state Succeeded)",
                    inputs.cluster.name, c.provisioning_state, inputs.app_id
                ),
            )
            .with_hint("check the cluster's activity log; a rerun posts the reset again"),
            None,
        ));
    }
    Ok(c)
}

/// The error of a reset left running: the object keeps the URL, and a rerun resumes.
fn still_running(inputs: &Inputs, op: &Url, why: &str) -> Fail {
    resumable(
        Error::step("OperationStillRunning", format!("the reset of cluster {} is still running ({why})", inputs.cluster.name))
            .with_hint("rerun aks-sp-update on this object: it follows cluster_operation_url instead of posting again"),
        Some(op),
    )
}
