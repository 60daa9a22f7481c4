//! The step: checks, the reset, following it, and reading the cluster back.

use common::arm::{OperationKind, operation_url};
use common::driver::{Ctx, Done};
use common::envelope::Change;
use common::error::codes;
use common::http::{Api, Sent};
use common::record::{self as app_record, AppKeys, Entry, ReadBack, Written};
use common::{Error, Result, Secret, ui};

use common::arm::clusters::ManagedCluster;

use crate::cluster;
use crate::inputs::Inputs;
use crate::operation::{
    self, Resumed, confirm, follow, resume, settle, still_running, wait_for_cluster,
};
use crate::record::{self, Held};
use crate::verdict::{can_pull, declared_too, verdict};
use crate::{early, pull, roles};

mod post;
use post::{Posted, posted};

use crate::output::{Fail, Output};

/// Runs the step on one validated object. A failure whose reset did not happen removes the
/// roles copied for it (see [`roles::undo`]); `--remove-legacy-tags` comes last.
pub(crate) async fn run(inputs: &Inputs, ctx: &Ctx) -> Result<Done<Output>, Fail> {
    claim(ctx, inputs)?;
    let ledger = roles::Ledger::default();
    let result = switch(inputs, ctx, &ledger).await;
    if let Err(f) = &result {
        roles::undo(ctx, inputs, &ledger, &f.error).await;
    }
    let mut done = result?;
    done.output.cluster_pull_verified = verdict(inputs, &done.output, ctx.dry_run());
    done.summary
        .push_str(&record::remove_legacy(ctx, inputs).await?);
    Ok(done)
}

/// The clusters this run's objects were for, with the app and key each was to hold (a
/// [`Ctx::state`]).
#[derive(Default)]
struct Claimed(std::sync::Mutex<std::collections::HashMap<String, (String, Option<String>)>>);

/// Refuses an object for a cluster an earlier object of this run was for with another app or
/// key, before anything is sent: the two would race for the cluster and for its entry in the
/// record (`--jobs`), each told its entry was written while the other's won. The same object
/// again is a rerun: it finds the cluster on the app.
fn claim(ctx: &Ctx, inputs: &Inputs) -> Result<()> {
    let id = inputs.cluster.id().to_ascii_lowercase();
    let wants = (
        inputs.app_id.to_ascii_lowercase(),
        inputs.key_id.as_deref().map(str::to_ascii_lowercase),
    );
    let claimed = ctx.state::<Claimed>();
    let mut claimed = claimed
        .0
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let first = claimed.entry(id).or_insert_with(|| wants.clone());
    if *first == wants {
        return Ok(());
    }
    Err(Error::input(
        "cluster_id",
        format!(
            "cluster {} is the cluster of an earlier object of this run, for another app or secret: one cluster, one secret in a run",
            inputs.cluster.name
        ),
    )
    .with_hint("give each cluster the one object whose secret it should hold; nothing was sent for this one"))
}

/// The step itself ([`run`]); the roles it copies are noted in `ledger`.
///
/// Nothing is written before [`pull::bind`] proved the secret in hand to be the object's app
/// and key: a resumed reset and a cluster left alone prove it first; a reset proves it in
/// `prepare`, beside the other reads (the answer is kept for the run).
async fn switch(inputs: &Inputs, ctx: &Ctx, ledger: &roles::Ledger) -> Result<Done<Output>, Fail> {
    let arm = ctx.arm(&inputs.tenant);
    let graph = ctx.graph(&inputs.tenant);
    let name = &inputs.cluster.name;
    let (cluster, mut entry, mut keys) = first_reads(ctx, inputs, &arm, &graph).await?;

    let cluster = match &inputs.operation {
        Some(op) => match Box::pin(async {
            pull::bind(inputs, ctx).await?;
            let waiting = operation::for_the_reset(ctx, &arm, &cluster);
            resume(ctx, inputs, &waiting, &cluster, entry.as_ref(), op).await
        })
        .await?
        {
            Resumed::Done(done) => return Ok(done),
            Resumed::NotThisReset(now) => *now,
        },
        None => cluster,
    };

    // A reset posted by a run killed before it wrote cluster_operation_url (or anyone's
    // operation) is waited out first: then the cluster may already run as the app (and the
    // record may have changed meanwhile).
    let waited = cluster.in_progress();
    let cluster = settle(
        &operation::for_the_reset(ctx, &arm, &cluster),
        inputs,
        cluster,
    )
    .await?;
    if waited {
        let read = app_record::read(&graph, &inputs.app_id).await?;
        entry = read.entry(&inputs.cluster.id());
        keys = read.app_keys;
    }
    let held = Held::of(inputs, &cluster, entry.as_ref());
    if held.left_alone(inputs.force) {
        Box::pin(pull::bind(inputs, ctx)).await?;
        return Ok(already(ctx, inputs, &cluster, &held).await?);
    }
    record::may_claim(inputs, &cluster, entry.as_ref(), &keys)?;
    if held != Held::OtherApp {
        ui::info(&format!(
            "resetting cluster {name} to app {}'s secret {}{}",
            inputs.app_id,
            inputs.key_text(),
            held.why(inputs.force)
        ));
    }

    let (secret, pull_verified_at, roles, claim) =
        prepare(ctx, inputs, &cluster, entry.as_ref(), &held, ledger).await?;

    let waiting = operation::for_the_reset(ctx, &arm, &cluster);
    operation::announce(ctx, name, &waiting, &cluster);
    let disruption = cluster::disruption(&cluster);
    let sent = match posted(ctx, (&arm, &graph), inputs, &secret, &disruption, &claim).await? {
        Posted::Sent(s) => s,
        Posted::Already(now, was) => {
            // Another operation made the cluster hold the object's key: the entry read goes
            // back, over this run's pending entry only (a newer one another run wrote stays).
            record::write(ctx, inputs, claim.put_back(), ReadBack::Measured).await?;
            return Ok(already(ctx, inputs, &now, &was).await?);
        }
    };
    let Sent::Done(r) = sent else {
        return Ok(would_reset(inputs, &held, pull_verified_at, &cluster));
    };
    ui::info(&format!("posted the reset of cluster {name}"));
    let (op, kind) = match operation_url(&r) {
        Some((u, k)) if r.status != 200 => (Some(u), k),
        _ => (None, OperationKind::Status),
    };
    // The entry names this operation beside the wait for it: a run that leaves it running
    // hands the rerun an operation the record binds (and no other is followed). The
    // confirmed entry, once the reset ended, is queued behind it and ends its read-back
    // pause (common::record's write: a pause another write of the same entries makes moot).
    // The binding is polled first, so it is queued first.
    let bind = async {
        if let Some(op) = &op {
            record::bind_operation(ctx, inputs, &claim, op).await;
        }
    };
    let finish = async {
        if let Some(op) = &op {
            if inputs.detach {
                return Err(still_running(inputs, op, "--detach: not followed"));
            }
            follow(&waiting, inputs, op, kind).await?;
        } else if r.status != 200 {
            // Accepted without an operation URL: watch the cluster itself.
            wait_for_cluster(&waiting, inputs).await?;
        }
        let done = confirm(&arm, inputs, op.as_ref()).await?;
        Ok((done, record::record_confirmed(ctx, inputs).await))
    };
    let ((), finished) = tokio::join!(Box::pin(bind), Box::pin(finish));
    let (done, recorded) = finished?;
    Ok(Done {
        summary: format!(
            "cluster {name} {}{}{}{recorded}{}",
            can_pull(inputs, &pull_verified_at),
            held.why(inputs.force),
            roles.summary(),
            declared_too(ctx)
        ),
        output: Output {
            cluster_provisioning_state: Some(done.provisioning_state().to_owned()),
            cluster_operation_url: Change::Remove,
            pull_verified_at,
            cluster_pull_verified: Change::Keep,
        },
        changed: true,
    })
}

/// The cluster as ARM shows it (refused when it uses a managed identity), and its entry in the
/// record on the app with the app's keys, read at once.
async fn first_reads(
    ctx: &Ctx,
    inputs: &Inputs,
    arm: &Api<'_>,
    graph: &Api<'_>,
) -> Result<(ManagedCluster, Option<Entry>, AppKeys)> {
    let name = &inputs.cluster.name;
    let (cluster, read) = tokio::join!(
        early::cluster(ctx, arm, &inputs.cluster, inputs.early_read_max_age),
        app_record::read(graph, &inputs.app_id)
    );
    let cluster = cluster?;
    if let Some(why) = cluster.managed_identity() {
        return Err(managed_identity(name, &why));
    }
    let read = read?;
    let entry = read.entry(&inputs.cluster.id());
    if app_record::has_legacy_tags(&cluster.tags) && !inputs.remove_legacy_tags {
        ui::info(&format!(
            "cluster {name} carries the xtenant-* tags of earlier versions: no longer trusted nor written (the record is on the app); --remove-legacy-tags removes them"
        ));
    }
    Ok((cluster, entry, read.app_keys))
}

/// Everything before the reset: the new credential's pull, the roles of the principal the
/// cluster runs as (a switch from another app only), and the entry on the app naming the
/// object's key as pending (a crash after the reset then leaves a record a prune keeps both
/// keys by, and a rerun resets again unless it finds the cluster switched to the app).
///
/// In two rounds: first every read at once (the secret, the pull check, the principals and
/// their roles), then, only once all of them passed, the writes at once (the roles the new
/// principal lacks, the entry). A role copy that fails puts the entry back as it was.
async fn prepare(
    ctx: &Ctx,
    inputs: &Inputs,
    cluster: &ManagedCluster,
    entry: Option<&Entry>,
    held: &Held,
    ledger: &roles::Ledger,
) -> Result<(Secret, Change<String>, roles::Outcome, record::Claim)> {
    // The only source of roles: the principal ARM shows the cluster running as, before a
    // switch from another app (never a record). A planned app (dry run) has no service
    // principal whose roles could be compared.
    let source = cluster
        .client_id()
        .map(str::to_owned)
        .filter(|c| *held == Held::OtherApp && inputs.replaces(c));
    if source.is_some() {
        ledger.switching();
    } else {
        no_copy_on_the_app(inputs);
    }
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
    // The secret is proven the object's app's (a mistyped app_id is refused as such first).
    if let Some(old) = &source {
        record::switch_named(ctx, inputs, old).await?;
    }
    let found = found?;
    let pull_verified_at = verified.map_or(Change::Keep, Change::Set);

    // Made from the entry the write reads, not from `entry`: another run's write may have
    // landed since.
    let claim = record::Claim::new(inputs, cluster, entry);
    let (roles, recorded) = tokio::join!(
        Box::pin(roles::apply(ctx, inputs, found, ledger)),
        Box::pin(record::write(
            ctx,
            inputs,
            claim.pending_update(),
            ReadBack::Guarded
        ))
    );
    let recorded = recorded.map_err(|e| record::refused(e, inputs));
    let roles = match (roles, recorded) {
        (Ok(roles), Ok(_)) => roles,
        // Nothing will be reset: the entry goes back to what it said, when it was written or
        // its write failed after it may have landed (only over this run's pending entry).
        // Under a deadline of its own, which an interrupt does not end: the copy may have
        // failed because the object's --timeout passed, or on Ctrl-C, and the entry must not
        // stay.
        (Err(e), recorded) => {
            if matches!(recorded, Ok(Written::Written) | Err(_)) {
                record::write_anyway(ctx, inputs, claim.put_back(), UNDONE).await;
            }
            return Err(e);
        }
        (Ok(_), Err(e)) => {
            record::write_anyway(ctx, inputs, claim.put_back(), UNDONE).await;
            return Err(e);
        }
    };
    Ok((secret, pull_verified_at, roles, claim))
}

/// What a put-back after a failure before the reset is, in its warning.
const UNDONE: &str = "putting back the entry written before a reset that did not happen";

/// The refusal of a managed-identity cluster.
fn managed_identity(name: &str, why: &str) -> Error {
    Error::step(
            codes::MANAGED_IDENTITY_CLUSTER,
            format!(
                "cluster {name} cannot pull across tenants: {why}. A managed identity cannot authenticate to a registry in another \
                 Microsoft Entra tenant; only a cluster that authenticates with a service principal can use the multitenant app"
            ),
        )
        .with_hint("the cluster must use a service principal: use a service-principal cluster (az aks create --service-principal …) for pulls from another tenant; nothing was changed")
}

/// A dry run's output: the reset that would be posted.
fn would_reset(
    inputs: &Inputs,
    held: &Held,
    pull_verified_at: Change<String>,
    cluster: &ManagedCluster,
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
            cluster::reimage(cluster),
            inputs.app_id,
            inputs.key_text(),
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

/// The output for a cluster that already holds the object's secret (ARM shows it Succeeded
/// on the app, and the entry names the key): the pull is checked again when the object
/// names a registry. No role is copied: a record is a claim, never a source of grants. A
/// switch an earlier run posted and lost the answer of is confirmed now.
async fn already(
    ctx: &Ctx,
    inputs: &Inputs,
    cluster: &ManagedCluster,
    held: &Held,
) -> Result<Done<Output>> {
    // The cluster is seen on the app and the pending key is the object's: only that reset
    // can have switched it, so the entry is confirmed.
    let recorded = *held == Held::Switched
        && record::write(
            ctx,
            inputs,
            record::confirmed_update(inputs, true),
            ReadBack::Measured,
        )
        .await?
            == Written::Written;
    no_copy_on_the_app(inputs);
    let pull_verified_at = match &inputs.pull {
        Some(_) => pull::new_credential(inputs, ctx)
            .await?
            .1
            .map_or(Change::Keep, Change::Set),
        None => Change::Keep,
    };
    let summary = format!(
        "cluster {} already runs as the app with this secret{}: nothing to do (--force resets it); it {}",
        inputs.cluster.name,
        if recorded {
            " (the reset an earlier run posted, now recorded)"
        } else {
            ""
        },
        can_pull(inputs, &pull_verified_at),
    );
    Ok(Done {
        output: Output {
            cluster_provisioning_state: Some(cluster.provisioning_state().to_owned()),
            pull_verified_at,
            // An operation URL the envelope carried stood for nothing: gone.
            cluster_operation_url: Change::Remove,
            cluster_pull_verified: Change::Keep,
        },
        changed: recorded,
        summary,
    })
}
