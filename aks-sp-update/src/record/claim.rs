//! This run's claim on the cluster's entry: the entries step 4 writes before, during and
//! after its reset, each made from the entry (and the app's keys) its write reads.

use common::record::{self, AppKeys, Entry, Update, operation_key};
use url::Url;

use crate::inputs::Inputs;
use common::arm::clusters::ManagedCluster;

/// This run's claim on the cluster's entry before its reset. Every entry it writes is made
/// from the entry that write reads ([`Update`]), never from the one read before: another
/// run's write that landed since (a confirmation) is kept, not written over.
#[derive(Debug, Clone)]
pub(crate) struct Claim {
    pub(super) key_id: Option<String>,
    /// The reset switches the cluster from another app (as ARM showed it before the reset).
    pub(super) switch: bool,
    /// The entry read before this run wrote its own.
    pub(super) read: Option<Entry>,
    /// This run's mark in its pending entry ([`record::run_mark`]): another process's
    /// identical claim (same object, same entry read) is not this run's to put back — nor
    /// evidence of anything: [`Claim::judged`] takes it for this run's own.
    pub(super) run: String,
}

impl Claim {
    /// The claim of a reset of `cluster` (as ARM showed it) whose entry was `read`.
    pub(crate) fn new(inputs: &Inputs, cluster: &ManagedCluster, read: Option<&Entry>) -> Self {
        Self {
            key_id: inputs.key_id.clone(),
            switch: !cluster.uses(&inputs.app_id),
            read: read
                .cloned()
                .map(Entry::normalized)
                .filter(|e| !e.is_empty()),
            run: record::run_mark(),
        }
    }

    /// The entry written before the reset over `now`: the object's key pending (a switch when
    /// the cluster runs as another app); the confirmed key `now` names kept while the cluster
    /// runs as the app and the object names the key it moves to (a prune then keeps both). A
    /// confirmation another writer recorded after this run's read is kept too, and then no
    /// switch is claimed (another reset may have switched the cluster since). Another run's
    /// pending key, and the keys `now` kept from others (`was`), stay in `was`: that reset may
    /// have landed or land yet, and a prune must keep its key — but not the keys the app no
    /// longer has (`keys`, read with `now`): no prune can delete those, and none is the one the
    /// cluster authenticates with; one of them stays while no other `was` key keeps the entry
    /// unconfirmed ([`Entry::without_gone`]: dropping them never makes a reset skipped). An
    /// object without a key id claims nothing: no entry where there was none (the next run
    /// resets, a prune refuses), and one another run wrote since this run's read
    /// (`checks::keyless` refused one read) is left as it is.
    pub(super) fn pending(&self, now: Option<&Entry>, keys: &AppKeys) -> Entry {
        let Some(k) = &self.key_id else {
            return now.cloned().unwrap_or_default();
        };
        let now = now.filter(|e| !e.is_empty());
        let newer_key = now.is_some_and(|e| e.key.is_some()) && now != self.read.as_ref();
        let switch = self.switch && !newer_key;
        Entry {
            key: now.and_then(|e| e.key.clone()).filter(|_| !switch),
            pending: Some(k.clone()),
            switch,
            operation: None,
            run: Some(self.run.clone()),
            was: now
                .iter()
                .flat_map(|e| e.pending.iter().chain(&e.was))
                .cloned()
                .collect(),
        }
        .normalized()
        .without_gone(keys)
    }

    /// The pending entry, made from the entry (and the app's keys) each write reads.
    pub(crate) fn pending_update(&self) -> Update {
        let claim = self.clone();
        Update::with_keys(move |now, keys| Some(claim.pending(now, keys)))
    }

    /// The pending entry with the posted reset's operation `op` (none without a key id); left
    /// as it is when it confirms the object's key with nothing pending (this reset's
    /// confirmation, or another run's of the same key, landed first). Without the operation
    /// when the entry would not fit in a tag with it (the keys of other unconfirmed resets):
    /// the pending entry is still written (another writer may have replaced it), and a rerun
    /// given the operation resets again instead of following it.
    pub(super) fn bound(&self, op: &Url) -> Option<Update> {
        let k = self.key_id.clone()?;
        let (claim, op) = (self.clone(), operation_key(op));
        Some(Update::with_keys(move |now, keys| {
            if now.is_some_and(|e| e.holds(&k) && e.pending.is_none()) {
                return now.cloned();
            }
            let pending = claim.pending(now, keys);
            let bound = Entry {
                operation: Some(op.clone()),
                ..pending.clone()
            };
            Some(if bound.fits() { bound } else { pending })
        }))
    }

    /// The entry a decision on the reset goes by, from the entry the record shows `now`,
    /// after this run wrote its pending entry (never evidence of anything itself): the entry
    /// read before while the record shows the pending entry made from it, if it was read
    /// while the cluster ran as the app (read while it ran as another app, it says nothing of
    /// what the operation waited for did: none, the cluster is reset); none while it shows
    /// this run's pending entry made over another writer's (what that one said is lost: the
    /// cluster is reset); else what it shows (another run's write, landed since).
    /// Another process's identical claim (this run's pending entry but for its `run` mark)
    /// counts as this run's own: it was made from the same read, before that process's reset
    /// (if any) was posted, so it says nothing of what the awaited operation did — trusted as
    /// a switch, a reset by hand with another key would pass for it (attack11, finding 1).
    /// The entry read comes back without its switch claim, as [`Self::put_back`]'s does: a
    /// switch claim read before the wait says nothing of what the awaited operation did
    /// either (attack12, finding 3).
    /// `keys`: the app's keys, as the read that showed `now` showed them.
    pub(crate) fn judged(&self, now: Option<&Entry>, keys: &AppKeys) -> Option<Entry> {
        let now = now.cloned().filter(|e| !e.is_empty());
        if now.clone().map(unmarked) == self.ours(keys).map(unmarked) {
            return self.read.clone().map(unswitched).filter(|_| !self.switch);
        }
        if now
            .as_ref()
            .is_some_and(|e| self.pending(Some(e), keys) == *e)
        {
            return None;
        }
        now
    }

    /// The pending entry made from the entry read (none without a key id).
    pub(super) fn ours(&self, keys: &AppKeys) -> Option<Entry> {
        Some(self.pending(self.read.as_ref(), keys)).filter(|e| !e.is_empty())
    }

    /// What goes back when nothing was reset after the pending entry was written: the entry
    /// read before, only over the pending entry made from it, and without its switch claim:
    /// the run that wrote that claim may have ended without posting (its own put-back found
    /// this run's entry and left it), and a switch claim brought back would let a reset by
    /// hand with another key pass for its switch (attack11, finding 2). Its pending key stays
    /// (a prune keeps it; the next run resets — one more reset when that switch had landed).
    /// Any other entry is left as it is: the one read (already back), another run's newer
    /// confirmation or claim — an identical one of another process too (its mark differs: its
    /// reset may have been accepted, and putting the read entry back over it lost its key) —
    /// or this run's pending entry made over another writer's (a prune keeps every key it
    /// names).
    pub(crate) fn put_back(&self) -> Update {
        let claim = self.clone();
        Update::with_keys(move |now, keys| {
            if now.cloned().filter(|e| !e.is_empty()) == claim.ours(keys) {
                claim.read.clone().map(unswitched)
            } else {
                now.cloned()
            }
        })
    }
}

/// The entry without its writer's mark (what [`Claim::judged`] compares).
fn unmarked(e: Entry) -> Entry {
    Entry { run: None, ..e }
}

/// The entry without its switch claim (what [`Claim::put_back`] restores).
fn unswitched(e: Entry) -> Entry {
    Entry { switch: false, ..e }
}

/// The entry of a confirmed reset to the object's key, made from the entry each write reads
/// (`now`): another run's pending reset it shows (a key other than the object's) stays
/// pending, with its operation and switch — that reset may land after this one. Keys kept
/// from displaced resets (`was`) stay when `keep_was` (a switch found done: which reset
/// switched the cluster is not known); after this run's own reset ended they go: a reset
/// posted before it was superseded by it, one posted after it names its key again in its
/// own entry. Without a key id none (the next run resets, a prune refuses).
pub(super) fn confirmed(
    key_id: Option<&str>,
    now: Option<&Entry>,
    keep_was: bool,
) -> Option<Entry> {
    let k = key_id?;
    let other = now.filter(|e| e.pending.is_some() && !e.pending_is(k));
    Some(
        Entry {
            key: Some(k.to_owned()),
            pending: other.and_then(|e| e.pending.clone()),
            switch: other.is_some_and(|e| e.switch),
            operation: other.and_then(|e| e.operation.clone()),
            run: other.and_then(|e| e.run.clone()),
            // Another run's newer pending entry is kept whole, with the keys it kept: only
            // this run's own entry loses them after its own reset.
            was: now
                .filter(|_| keep_was || other.is_some())
                .map(|e| e.was.clone())
                .unwrap_or_default(),
        }
        .normalized(),
    )
}

/// [`confirmed`] as the update each write makes.
pub(crate) fn confirmed_update(inputs: &Inputs, keep_was: bool) -> Update {
    let k = inputs.key_id.clone();
    Update::with(move |now| confirmed(k.as_deref(), now, keep_was))
}

/// Whether the envelope's operation `op` is the reset `entry` names as pending with the
/// object's key: its own operation, or a switch (then the cluster found on the app says it).
/// A switch claim counts only with no displaced key (`was`): another run's reset may have
/// switched the cluster to one of those, and confirming over it would drop that key.
pub(crate) fn is_pending_reset(inputs: &Inputs, entry: Option<&Entry>, op: &Url) -> bool {
    names_pending_reset(inputs.key_id.as_deref(), entry, &operation_key(op))
}

/// [`is_pending_reset`] on the object's key id and the operation's key.
pub(super) fn names_pending_reset(
    key_id: Option<&str>,
    entry: Option<&Entry>,
    op_key: &str,
) -> bool {
    let (Some(e), Some(k)) = (entry, key_id) else {
        return false;
    };
    e.pending_is(k) && ((e.switch && e.was.is_empty()) || e.operation.as_deref() == Some(op_key))
}
