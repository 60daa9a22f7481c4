//! What step 4 writes into the object: its fields when done ([`Output`]), and what a failed
//! run leaves for its rerun ([`Partial`]: the reset's operation while it may still run).

use common::Error;
use common::driver::{Failed, Fields};
use common::envelope::{Change, Envelope, fields};
use url::Url;

/// The fields step 4 writes.
#[derive(Debug, Clone, Default)]
pub struct Output {
    /// The cluster's state after the reset (none in a dry run).
    pub cluster_provisioning_state: Option<String>,
    /// The reset's operation, gone once the reset is confirmed.
    pub cluster_operation_url: Change<String>,
    /// When the new credential's pull was checked, if it was.
    pub pull_verified_at: Change<String>,
    /// The verdict: which image the cluster can now pull, as checked with the secret it now
    /// holds, and when (`{image, at}`); gone when this run did not check one (see
    /// [`crate::verdict`]).
    pub cluster_pull_verified: Change<serde_json::Value>,
}

impl Fields for Output {
    fn write_to(&self, object: &mut Envelope) {
        object.change(&fields::PULL_VERIFIED_AT, &self.pull_verified_at);
        if let Some(s) = &self.cluster_provisioning_state {
            object.set(fields::CLUSTER_PROVISIONING_STATE.name, s);
        }
        object.change(&fields::CLUSTER_OPERATION_URL, &self.cluster_operation_url);
        object.change(&fields::CLUSTER_PULL_VERIFIED, &self.cluster_pull_verified);
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

pub(crate) type Fail = Failed<Partial>;

/// A failure a rerun resumes from `operation` (`None`: the rerun posts the reset again).
pub(crate) fn resumable(e: Error, operation: Option<&Url>) -> Fail {
    Failed::with(
        e,
        Partial {
            cluster_operation_url: operation.map_or(Change::Remove, |u| Change::Set(u.to_string())),
        },
    )
}
