//! The one HTTP client: Graph, ARM, registries, key vaults and (as its transport) azure_identity.
//!
//! Requests carry a bearer token for their service's audience (or Basic auth for a
//! registry), parse Azure's error bodies into [`Error`]s with status, code, message and
//! request id, and retry transient failures (408, 429, 500, 502, 503, 504, connection
//! errors) with `Retry-After` honoured and jittered backoff — never past the object's
//! deadline. With `--dry-run`, writes are reported on stderr instead of being sent, and
//! a write's outcome says so: [`Sent::Skipped`].
//!
//! One job per module: [`client`](build_client) (the reqwest client, DNS override, one
//! attempt with its authorization header), `retry` (the retry policy), `error_body` (error
//! bodies in every shape), `errors` (error answers into errors), `origin` (where a URL from
//! an answer may be followed), `paging` ([`Api::list`]), `redact` (secret fields in
//! reports), `request` (the request model), `api` ([`Api`], one service in one tenant),
//! `versions` (ARM api-versions a cloud lacks); this file holds [`Http`], the [`Tokens`]
//! that sign requests (given by `auth`, the layer above), and the read/write split that
//! carries `--dry-run`.

mod api;
mod client;
mod error_body;
mod errors;
mod origin;
mod pace;
mod paging;
mod redact;
mod request;
mod retry;
mod versions;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::cloud::Cloud;
use crate::error::{Error, Result};
use crate::secret::Secret;
use crate::ui;
use crate::wait::Deadline;
use client::host_path;

pub use api::Api;
pub use client::{build_client, install_crypto};
pub use error_body::{ErrorBody, ErrorParts, parse_error_body};
pub use errors::{WRONG_ISSUER, error_from_response, wrong_issuer};
pub use origin::{check_origin, same_origin};
pub use pace::{
    GLOBAL_READS_LEFT, GLOBAL_WRITES_LEFT, PRINCIPAL_READS_LEFT, PRINCIPAL_WRITES_LEFT,
};
pub use redact::redact;
pub use request::{Auth, Request, Response, Sent};
pub use retry::{resend_wait, retry_after};
pub use versions::{ApiVersions, choose as choose_api_version, supported_versions};

/// Which Azure service a request goes to (decides token audience and error shape).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// Microsoft Graph.
    Graph,
    /// Azure Resource Manager.
    Arm,
    /// A container registry's data plane.
    Registry,
    /// A key vault's data plane (its origin is the vault's own host, `<vault>.<Key Vault
    /// suffix>`, so requests are built from a validated `keyvault::SecretRef`).
    KeyVault,
}

/// A bearer token on its way.
pub type TokenFuture<'a> = Pin<Box<dyn Future<Output = Result<Secret>> + Send + 'a>>;

/// Who gives the bearer tokens requests carry: `auth::Credentials`, the layer above, which
/// signs in through this client; http knows it only as this.
pub trait Tokens: std::fmt::Debug + Send + Sync {
    /// A bearer token for `scope` in `tenant`.
    fn token<'a>(&'a self, tenant: &'a str, scope: &'a str) -> TokenFuture<'a>;
    /// The identity acted as, for messages (never a secret).
    fn describe(&self) -> String;
}

tokio::task_local! {
    /// The writes a `--dry-run` planned for the object being processed.
    static PLAN: std::cell::RefCell<Vec<serde_json::Value>>;
}

/// Reports one write a `--dry-run` would make (`{"method", "url", "body"}`, secrets already
/// redacted): one JSON line on stderr, and an entry of the object's `plan` when it runs
/// inside [`collect_plan`].
pub fn plan(write: &serde_json::Value) {
    ui::json(write);
    let _ = PLAN.try_with(|p| p.borrow_mut().push(write.clone()));
}

/// Runs `work` (one object's step), returning its output and the writes it planned.
pub async fn collect_plan<F: Future>(work: F) -> (F::Output, Vec<serde_json::Value>) {
    PLAN.scope(std::cell::RefCell::new(Vec::new()), async move {
        let out = work.await;
        let planned = PLAN.with(|p| std::mem::take(&mut *p.borrow_mut()));
        (out, planned)
    })
    .await
}

/// The HTTP client shared by a run.
#[derive(Debug, Clone)]
pub struct Http {
    client: reqwest::Client,
    cloud: Arc<Cloud>,
    tokens: Arc<dyn Tokens>,
    dry_run: bool,
    sent: Arc<AtomicU64>,
    versions: versions::Chosen,
    /// ARM reads and writes paced per principal and subscription, across the run's jobs.
    pacer: Arc<pace::Pacer>,
}

impl Http {
    /// A client for `cloud` acting with `tokens`.
    pub fn new(
        client: reqwest::Client,
        cloud: Arc<Cloud>,
        tokens: Arc<dyn Tokens>,
        dry_run: bool,
    ) -> Self {
        Self {
            client,
            cloud,
            tokens,
            dry_run,
            sent: Arc::new(AtomicU64::new(0)),
            versions: versions::Chosen::default(),
            pacer: Arc::default(),
        }
    }

    /// The cloud.
    pub fn cloud(&self) -> &Cloud {
        &self.cloud
    }

    /// The cloud, shared (for a sign-in of its own through this client: `auth::Credentials::of_app`).
    pub fn shared_cloud(&self) -> Arc<Cloud> {
        self.cloud.clone()
    }

    /// The reqwest client every request of the run goes through.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// The credentials requests are signed with.
    pub fn credentials(&self) -> &dyn Tokens {
        &*self.tokens
    }

    /// Whether writes are only reported.
    pub fn dry_run(&self) -> bool {
        self.dry_run
    }

    /// How many HTTP requests were sent (all attempts).
    pub fn requests_sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Graph in `tenant`, until `deadline`.
    pub fn graph(&self, tenant: &str, deadline: Deadline) -> Api<'_> {
        Api {
            http: self,
            service: Service::Graph,
            tenant: tenant.to_owned(),
            deadline,
        }
    }

    /// ARM in `tenant`, until `deadline`.
    pub fn arm(&self, tenant: &str, deadline: Deadline) -> Api<'_> {
        Api {
            http: self,
            service: Service::Arm,
            tenant: tenant.to_owned(),
            deadline,
        }
    }

    /// Sends a read (GET or HEAD) with retry, until `deadline`.
    ///
    /// A write is refused here, in every mode, so a write site cannot forget `--dry-run`:
    /// writes go through [`Http::write`].
    pub async fn read(&self, req: Request, deadline: Deadline) -> Result<Response> {
        if req.is_write() {
            return Err(Error::usage(format!(
                "internal error: {} {} was sent as a read; writes go through Http::write",
                req.method,
                host_path(&req.url)
            )));
        }
        self.send(req, deadline).await
    }

    /// Sends a write (PUT, PATCH, POST, DELETE) with retry, until `deadline`; with
    /// `--dry-run` it is reported on stderr (secrets redacted) and [`Sent::Skipped`].
    ///
    /// A read is refused here, in every mode: it has no skipped outcome, use [`Http::read`].
    pub async fn write(&self, req: Request, deadline: Deadline) -> Result<Sent> {
        if !req.is_write() {
            return Err(Error::usage(format!(
                "internal error: {} {} was sent as a write; reads go through Http::read",
                req.method,
                host_path(&req.url)
            )));
        }
        if self.dry_run {
            let mut planned = serde_json::json!({
                "method": req.method.as_str(),
                "url": req.url.as_str(),
                "body": req.body.as_ref().map(redact),
            });
            if let Some(note) = &req.note {
                planned["note"] = note.as_str().into();
            }
            plan(&planned);
            return Ok(Sent::Skipped);
        }
        self.send(req, deadline).await.map(Sent::Done)
    }
}
