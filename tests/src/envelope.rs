//! The envelope as the tests read it: strict. Every field of the contract (docs/envelope.md)
//! and nothing else, so a test that reads an envelope fails on a field no one documented
//! (a typo in a tool, a field left behind); the `error` object, the verdict and the plan's
//! writes are strict too.
//!
//! It is the tests' own copy of the field list, on purpose: `common::envelope::fields` is
//! what the tools write, this is what the documentation promises.

use serde::Deserialize;
use serde_json::Value;

/// An envelope object: its fields by name. A value is as the object had it: a field a tool
/// passes through unchanged may hold anything another team wrote, only the names are fixed.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(
    missing_docs,
    reason = "the fields of docs/envelope.md, named as there"
)]
pub struct Envelope {
    pub cloud: Option<Value>,
    pub cluster_tenant_id: Option<Value>,
    pub registry_tenant_id: Option<Value>,
    pub app_display_name: Option<Value>,
    pub app_unique_name: Option<Value>,
    pub redirect_uri: Option<Value>,
    pub app_id: Option<Value>,
    pub app_object_id: Option<Value>,
    pub cluster_sp_object_id: Option<Value>,
    pub client_secret: Option<Value>,
    pub client_secret_key_id: Option<Value>,
    pub client_secret_expires_at: Option<Value>,
    pub client_secret_ref: Option<Value>,
    pub consent_url: Option<Value>,
    pub registry_sp_object_id: Option<Value>,
    pub registry_id: Option<Value>,
    pub registry_login_server: Option<Value>,
    pub role_name: Option<Value>,
    pub role_assignment_id: Option<Value>,
    pub pull_verified_at: Option<Value>,
    pub pull_proof: Option<Value>,
    pub registry_image: Option<Value>,
    pub cluster_id: Option<Value>,
    pub cluster_provisioning_state: Option<Value>,
    pub cluster_operation_url: Option<Value>,
    pub cluster_pull_verified: Option<PullVerified>,
    pub cluster_pull_probe: Option<Value>,
    pub status: Option<Value>,
    pub dry_run: Option<Value>,
    pub plan: Option<Vec<PlannedWrite>>,
    pub error: Option<StepError>,
}

/// `error`: `{"step", "code", "message", "hint"?, "request_id"?}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepError {
    /// The step that failed.
    pub step: String,
    /// Azure's code or one of ours.
    pub code: String,
    /// What happened.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
    /// Azure's request id.
    pub request_id: Option<String>,
}

/// `cluster_pull_verified`: `{"image", "at"}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullVerified {
    /// The image the cluster can pull.
    pub image: String,
    /// When it was checked.
    pub at: String,
}

/// One write of a dry run's `plan`: `{"method", "url", "body", "note"?}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlannedWrite {
    /// The HTTP method.
    pub method: String,
    /// Where it would be sent.
    pub url: String,
    /// What would be sent (secrets redacted).
    pub body: Value,
    /// What the write does beyond its body.
    pub note: Option<String>,
}

impl Envelope {
    /// `o` read strictly; panics naming the field no envelope has.
    #[track_caller]
    pub fn of(o: &Value) -> Self {
        Self::of_passing(o, &[])
    }

    /// The same, with the fields `extra` a test put in its input itself (passed through).
    #[track_caller]
    pub fn of_passing(o: &Value, extra: &[&str]) -> Self {
        let mut v = o.clone();
        if let Some(m) = v.as_object_mut() {
            for k in extra {
                m.remove(*k);
            }
        }
        match serde_json::from_value(v) {
            Ok(e) => e,
            Err(e) => panic!("not an envelope ({e}): {o}"),
        }
    }

    /// The write of its `plan` whose URL contains `part`; panics when there is none.
    #[track_caller]
    pub fn planned(&self, part: &str) -> &PlannedWrite {
        let plan = self.plan.as_deref().unwrap_or_default();
        match plan.iter().find(|w| w.url.contains(part)) {
            Some(w) => w,
            None => panic!("no write to {part} in the plan: {plan:#?}"),
        }
    }

    /// Its `error`; panics when it has none.
    #[track_caller]
    pub fn error(&self) -> &StepError {
        match &self.error {
            Some(e) => e,
            None => panic!("the envelope has no error: {self:?}"),
        }
    }
}

impl StepError {
    /// What it says: its message, then its hint.
    pub fn said(&self) -> String {
        format!(
            "{} {}",
            self.message,
            self.hint.as_deref().unwrap_or_default()
        )
    }
}

/// What an error object says: its message, then its hint; its `error` read strictly (a
/// space alone when it has none).
#[track_caller]
pub fn said(o: &Value) -> String {
    match o.get("error") {
        Some(e) => match serde_json::from_value::<StepError>(e.clone()) {
            Ok(e) => e.said(),
            Err(err) => panic!("not an envelope's error ({err}): {o}"),
        },
        None => " ".to_owned(),
    }
}
