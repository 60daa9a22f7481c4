//! What step 4 checks before it writes its pending entry, so that a refusal comes before
//! anything is written (no role copied, no entry, no reset).

use common::arm::clusters::ManagedCluster;
use common::record::{self, AppKeys, Entry};
use common::{Error, Result};

use super::Claim;
use crate::inputs::Inputs;

/// Whether this run may write its pending entry over `entry`, decided before anything is
/// written (no role copied, no entry): an object with a key id ([`keyless`]), and an entry
/// that fits in a tag ([`pending_fits`]).
pub(crate) fn may_claim(
    inputs: &Inputs,
    cluster: &ManagedCluster,
    entry: Option<&Entry>,
    keys: &AppKeys,
) -> Result<()> {
    keyless(inputs, entry)?;
    pending_fits(inputs, cluster, entry, keys)
}

/// Refuses the reset when the pending entry it would write, made from the entry read, is
/// longer than a tag (`RecordFull`: the keys of too many unconfirmed resets the app still has,
/// `keys` as read with `entry`). The write itself checks again on each fresh read.
fn pending_fits(
    inputs: &Inputs,
    cluster: &ManagedCluster,
    entry: Option<&Entry>,
    keys: &AppKeys,
) -> Result<()> {
    let pending = Claim::new(inputs, cluster, entry).pending(entry, keys);
    record::entry_fits(&inputs.app_id, &inputs.cluster.id(), &pending)
}

/// Refuses an object without `client_secret_key_id` for a cluster the record has an entry
/// for (`entry`, read before anything is written): its reset could only leave the cluster's
/// entry naming no key, and the keys the entry names (another run's pending reset among
/// them) would be lost to a prune. Checked again on the record as it is just before the reset
/// is posted (another run's entry may have come since the first read: reset over it, the cluster
/// would hold this object's key while the entry names that run's).
pub(crate) fn keyless(inputs: &Inputs, entry: Option<&Entry>) -> Result<()> {
    if inputs.key_id.is_some() || entry.is_none_or(Entry::is_empty) {
        return Ok(());
    }
    Err(Error::input(
        "client_secret_key_id",
        format!(
            "the object names no client_secret_key_id, and the record on app {} has an entry for cluster {}: a reset would have to drop the keys it names; nothing was changed",
            inputs.app_id, inputs.cluster.name
        ),
    )
    .with_hint("give the object the key id of its client_secret (entra-app-create's output carries it as client_secret_key_id)"))
}
