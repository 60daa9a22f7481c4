//! The record's part in step 4: what the entry for the cluster on the app says about the
//! object's secret, and the entries step 4 writes (see [`common::record`] for where the
//! record lives and who may write it).
//!
//! Claims rules, in this step's terms: an entry may cause a read, a check or a reset; on its
//! own it never skips a reset, and never writes another entry.
//! - The reset is skipped ("nothing to do") only when ARM shows the cluster running as the
//!   app in state `Succeeded` and the entry names the object's key.
//! - A pending entry becomes a confirmed one only when the cluster is then seen running as
//!   the app and the pending key is the object's: after a switch from another app (only a
//!   reset switches it), or when the very operation the entry names has ended.
//! - Step 4 writes nothing to the cluster but the reset: the pending entry before it and the
//!   confirmed one after it go to the app (and the old `xtenant-*` tags go only when
//!   `--remove-legacy-tags` asks).

use common::driver::Ctx;
use common::error::codes;
use common::interrupt::WRITE_GRACE;
use common::record::{self, Entry, ReadBack, Update, Written};
use common::wait::Deadline;
use common::{Error, Result, ui};
use url::Url;

use crate::inputs::Inputs;
use common::arm::clusters::ManagedCluster;

/// What the record and ARM say about the object's secret on the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Held {
    /// The cluster runs as another app (or none).
    OtherApp,
    /// It runs as the app in state Succeeded and the entry names the object's key.
    Ours,
    /// A switch to the app with the object's key was posted (by a run that lost its answer)
    /// and the cluster now runs as the app, Succeeded: only that reset can have switched it.
    Switched,
    /// It runs as the app, but the record names none of its keys for it.
    Unrecorded,
    /// The record names another key of the app.
    OtherKey(String),
    /// A reset to this key was posted and never confirmed: which key it holds is unknown.
    Unconfirmed(String),
    /// It runs as the app with the object's key recorded, but its state is not Succeeded.
    NotSucceeded(String),
    /// The object names no key id to compare with.
    NoKeyInObject,
}

impl Held {
    /// What `entry` (the cluster's on the app) and ARM's `cluster` say about the object's key.
    pub(crate) fn of(inputs: &Inputs, cluster: &ManagedCluster, entry: Option<&Entry>) -> Self {
        if !cluster.uses(&inputs.app_id) {
            return Self::OtherApp;
        }
        let Some(k) = &inputs.key_id else {
            return Self::NoKeyInObject;
        };
        let succeeded = cluster.succeeded();
        let not_succeeded = || Self::NotSucceeded(cluster.provisioning_state().to_owned());
        // Keys an entry kept from another run's reset (`was`) may be the one the cluster
        // holds: never "nothing to do", never a confirmed switch.
        match entry {
            Some(e) if e.switch && e.pending_is(k) && e.was.is_empty() => {
                if succeeded {
                    Self::Switched
                } else {
                    not_succeeded()
                }
            }
            // Only while no reset to another key is pending: that one may have been applied.
            Some(e)
                if e.holds(k)
                    && e.was.is_empty()
                    && e.pending
                        .as_deref()
                        .is_none_or(|p| p.eq_ignore_ascii_case(k)) =>
            {
                if succeeded {
                    Self::Ours
                } else {
                    not_succeeded()
                }
            }
            Some(Entry {
                pending: Some(p), ..
            }) => Self::Unconfirmed(p.clone()),
            Some(e) if !e.was.is_empty() => Self::Unconfirmed(e.was[0].clone()),
            Some(Entry { key: Some(r), .. }) => Self::OtherKey(r.clone()),
            _ => Self::Unrecorded,
        }
    }

    /// Whether the cluster holds the object's secret and is left alone (no `--force`).
    pub(crate) fn left_alone(&self, force: bool) -> bool {
        matches!(self, Self::Ours | Self::Switched) && !force
    }

    /// Why the cluster is reset although it runs as the app ("" when it does not).
    pub(crate) fn why(&self, force: bool) -> String {
        match self {
            Self::Ours | Self::Switched if force => "; --force: it already held this secret".into(),
            Self::OtherApp | Self::Ours | Self::Switched => String::new(),
            Self::Unrecorded => {
                "; it ran as the app, but the record on the app said nothing of which secret it held".into()
            }
            Self::OtherKey(k) => format!("; it held the app's secret {k}, not the object's"),
            Self::Unconfirmed(p) => format!(
                "; a reset to the app's secret {p} was posted and never confirmed: which secret it held was unknown"
            ),
            Self::NotSucceeded(s) => format!("; it ran as the app in state {s}, not Succeeded"),
            Self::NoKeyInObject => {
                "; it ran as the app, and the object names no client_secret_key_id to compare with the record".into()
            }
        }
    }
}

/// Refuses to switch the cluster away from `old_app` to the object's app, copying `old_app`'s
/// roles, when the record on `old_app` names the cluster (these tools set it up on that app)
/// and only the object names the new app: the object is a claim, and a swapped `app_id` with
/// that app's own secret would otherwise take the cluster and its roles (issue 23). The
/// person names the app with `--app-id`, or copies no role (`--no-copy-role-assignments`).
pub(crate) async fn switch_named(ctx: &Ctx, inputs: &Inputs, old_app: &str) -> Result<()> {
    if inputs.app_named || !inputs.copy_role_assignments {
        return Ok(());
    }
    let graph = ctx.graph(&inputs.tenant);
    let Some(entry) = record::read(&graph, old_app)
        .await?
        .entry(&inputs.cluster.id())
    else {
        return Ok(());
    };
    let held = entry.key.or(entry.pending).unwrap_or_default();
    Err(Error::step(
        codes::ROLE_COPY_NOT_ALLOWED,
        format!(
            "cluster {} runs as app {old_app}, whose record names it (secret {held}): the object names another app, {}, and only the object does; \
             switching would give that app's service principal the roles of app {old_app}'s; the cluster was not reset",
            inputs.cluster.name, inputs.app_id
        ),
    )
    .with_hint(format!(
        "if the cluster is meant to move to app {}, say so: --app-id {}; else use the object of app {old_app} (a file from another team may carry another app)",
        inputs.app_id, inputs.app_id
    )))
}

/// Writes the cluster's entry on the app as `update` makes it from the entry each attempt
/// reads, read back as `read_back` says (`Guarded` for the pending entry before a reset: its
/// loss would let a prune remove the key the cluster holds).
pub(crate) async fn write(
    ctx: &Ctx,
    inputs: &Inputs,
    update: Update,
    read_back: ReadBack,
) -> Result<Written> {
    let graph = ctx.graph(&inputs.tenant);
    let cluster = inputs.cluster.id();
    record::update(ctx, &graph, &inputs.app_id, &cluster, update, read_back).await
}

/// Writes as `update` says under a deadline of its own ([`WRITE_GRACE`] from the moment its
/// batch starts, not from when it was queued behind others), which an interrupt does not end.
async fn write_in_grace(
    ctx: &Ctx,
    inputs: &Inputs,
    update: Update,
    read_back: ReadBack,
) -> Result<Written> {
    let graph = ctx
        .http()
        .graph(&inputs.tenant, Deadline::after(WRITE_GRACE));
    let ids = (inputs.app_id.as_str(), inputs.cluster.id());
    record::update_in_grace(ctx, &graph, (ids.0, &ids.1), update, read_back, WRITE_GRACE).await
}

/// Writes as `update` says under a deadline of its own, which an interrupt does not end
/// (after a failure at --timeout or on Ctrl-C); a failure is a warning naming `what`.
pub(crate) async fn write_anyway(ctx: &Ctx, inputs: &Inputs, update: Update, what: &str) {
    if let Err(e) = write_in_grace(ctx, inputs, update, ReadBack::Measured).await {
        ui::warn(&format!(
            "the record of cluster {} on app {} could not be written ({what}): {}",
            inputs.cluster.name,
            inputs.app_id,
            e.message()
        ));
    }
}

/// Binds the posted reset's operation to the pending entry: a rerun's
/// `cluster_operation_url` stands for the reset only if it is this operation. Written under
/// a deadline of its own that an interrupt does not end (a Ctrl-C just after the post must
/// not cost a second reimage). A failure is a warning: the rerun of a reset left running
/// then resets again instead of following it. When the reset ends first, the confirmed entry
/// queued behind this write ends its pause and is read back instead (`common::record`).
pub(crate) async fn bind_operation(ctx: &Ctx, inputs: &Inputs, claim: &Claim, op: &Url) {
    let Some(bound) = claim.bound(op) else {
        return;
    };
    // Its read-back may be left to the confirmed entry, queued behind it once the reset ends.
    if let Err(e) = write_in_grace(ctx, inputs, bound, ReadBack::Supersedable).await {
        ui::warn(&format!(
            "the reset's operation could not be noted in the record of cluster {} on app {} ({}): a rerun resets again instead of following it",
            inputs.cluster.name,
            inputs.app_id,
            e.message()
        ));
    }
}

/// Writes the entry of a confirmed reset; a failure leaves the pending entry (the next run
/// resets again; a prune keeps both keys), so it is reported, not fatal. The summary's note.
pub(crate) async fn record_confirmed(ctx: &Ctx, inputs: &Inputs) -> String {
    let confirmed = confirmed_update(inputs, false);
    match write(ctx, inputs, confirmed, ReadBack::Measured).await {
        // Recorded: nothing to say on the step's line.
        Ok(_) if inputs.key_id.is_some() => String::new(),
        Ok(_) => "; key id unknown: the next run resets again".into(),
        Err(e) => {
            ui::warn(&format!(
                "the reset of cluster {} is done but could not be recorded on app {} ({}): the next run resets it again",
                inputs.cluster.name,
                inputs.app_id,
                e.message()
            ));
            "; NOT recorded on the app".into()
        }
    }
}

/// A pending entry that could not be written before the reset: nothing was reset.
pub(crate) fn refused(e: Error, inputs: &Inputs) -> Error {
    if e.hint().is_some() {
        return e.context("writing the record on the app before the reset");
    }
    e.with_hint(format!(
        "the record of which secret cluster {} holds is kept on app {} in tenant {}: writing it needs an owner of the app or Application.ReadWrite.All; nothing was reset",
        inputs.cluster.name, inputs.app_id, inputs.tenant
    ))
}

/// `--remove-legacy-tags`: removes the old record's `xtenant-*` tags from the cluster (a
/// cluster write); the note for the summary.
pub(crate) async fn remove_legacy(ctx: &Ctx, inputs: &Inputs) -> Result<String> {
    if !inputs.remove_legacy_tags {
        return Ok(String::new());
    }
    let arm = ctx.arm(&inputs.tenant);
    let removed = record::remove_legacy_tags(&arm, &inputs.cluster)
        .await
        .map_err(|e| {
            // The removal's own hint says what helps (by hand, or a rerun once it is quiet).
            if e.hint().is_some() {
                e.context("the step itself is done; the old xtenant-* tags were not removed")
            } else {
                e.with_hint("the step itself is done; a rerun finds it done and removes the tags")
            }
        })?;
    Ok(if removed {
        "; the old xtenant-* tags removed from the cluster (--remove-legacy-tags)".into()
    } else {
        String::new()
    })
}

mod checks;
mod claim;
pub(crate) use checks::{keyless, may_claim};
pub(crate) use claim::{Claim, confirmed_update, is_pending_reset};

#[cfg(test)]
mod tests;
