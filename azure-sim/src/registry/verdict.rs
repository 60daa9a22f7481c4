//! A pull's outcome as the kubelet would see it: the stage it reached and the registry's
//! answer there (the truth endpoint's JSON, and what a run command's kubelet reports).

use axum::http::StatusCode;
use serde_json::{Value, json};

/// Where a pull stopped, or that it went through: what a kubelet's message says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// The login server names no registry here (its name would not resolve).
    Resolve,
    /// The registry's firewall denies the cluster's egress address.
    Network,
    /// The registry refused the cluster's credentials (no token).
    Credentials,
    /// The token grants no pull on the repository.
    Authorization,
    /// No such manifest (repository or tag).
    Manifest,
    /// A blob was missing or did not match.
    Content,
    /// The manifest and every blob came through.
    Pulled,
}

/// A pull as the kubelet would see it: where it stopped, the registry's status, the reason in
/// words, and the manifest's digest when it was read.
#[derive(Debug, Clone)]
pub(crate) struct Verdict {
    /// The truth endpoint's own HTTP status (404 for an unknown cluster, 400 for a bad image).
    pub http: StatusCode,
    pub stage: Stage,
    /// The registry's status at that stage (0: no registry answered).
    pub status: u16,
    pub reason: String,
    /// `sha256:…` of the manifest, when it was read.
    pub digest: Option<String>,
}

impl Verdict {
    pub(super) fn new(stage: Stage, status: u16, reason: String) -> Self {
        Self {
            http: StatusCode::OK,
            stage,
            status,
            reason,
            digest: None,
        }
    }

    /// Whether the image came through.
    pub(crate) fn pulled(&self) -> bool {
        self.stage == Stage::Pulled
    }

    /// The truth endpoint's answer: `{"pulled","status","reason"}`.
    pub(crate) fn json(&self) -> Value {
        json!({"pulled": self.pulled(), "status": self.status, "reason": self.reason})
    }
}
