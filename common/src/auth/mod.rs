//! Credentials: one per tenant, built on demand, tokens cached per scope.
//!
//! A credential is bound to one tenant, so each step asks for the tenant it acts in
//! (A or B): one person logged in to both, or two identities, both work. azure_identity
//! does the token protocol; our one reqwest client is its transport (our timeouts and
//! CA), and its retry is kept short so a dead endpoint fails in seconds, not 80.
//!
//! [`classify`] (in `refusal`) maps every sign-in failure to one of our codes, with the
//! command that fixes it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use azure_core::credentials::TokenCredential;
use azure_core::http::{ClientOptions, ExponentialRetryOptions, RetryOptions, Transport};
use azure_identity::{
    AzureCliCredential, AzureCliCredentialOptions, ClientSecretCredential,
    ClientSecretCredentialOptions, ManagedIdentityCredential, ManagedIdentityCredentialOptions,
    WorkloadIdentityCredential, WorkloadIdentityCredentialOptions,
};
use time::OffsetDateTime;

use crate::cloud::Cloud;
use crate::error::Result;
use crate::http::{Http, TokenFuture, Tokens};
use crate::secret::Secret;

mod cli_config;
mod refusal;
mod said;
mod source;

use cli_config::check_cli_cloud;
pub use cli_config::cli_default_subscription;
pub use refusal::classify;
use said::chain;
pub use source::AuthMethod;
use source::{Source, process_var, resolve};

/// One (tenant, scope)'s token, fetched by one caller at a time.
#[derive(Default)]
struct TokenSlot {
    /// Attempts ended so far: a caller that saw fewer before it waited waited on one.
    ended: AtomicU64,
    last: tokio::sync::Mutex<Fetched>,
}

/// What the last attempt got.
#[derive(Default)]
struct Fetched {
    token: Option<(Secret, OffsetDateTime)>,
    /// Its failure (after azure_identity's retries), for the callers that waited on it.
    failed: Option<crate::error::Error>,
}

/// The run's credentials: one per tenant, tokens per (tenant, scope).
pub struct Credentials {
    method: AuthMethod,
    source: Result<Source>,
    cloud: Arc<Cloud>,
    http: reqwest::Client,
    /// Per (tenant, scope): see [`Credentials::credential`].
    creds: Mutex<HashMap<(String, String), Arc<dyn TokenCredential>>>,
    tokens: Mutex<HashMap<(String, String), Arc<TokenSlot>>>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("method", &self.method)
            .field("source", &self.source.as_ref().ok())
            .finish_non_exhaustive()
    }
}

/// Our reqwest client as azure_identity's transport, except that a certificate the client
/// does not trust is not a transport error worth retrying: it fails at once, as what it is.
#[derive(Debug)]
struct SignInTransport(reqwest::Client);

#[async_trait::async_trait]
impl azure_core::http::HttpClient for SignInTransport {
    async fn execute_request(
        &self,
        request: &azure_core::http::Request,
    ) -> azure_core::Result<azure_core::http::AsyncRawResponse> {
        self.0.execute_request(request).await.map_err(|e| {
            if is_certificate_error(&chain(&e)) {
                // Not Io or Connection: the SDK's retry policy gives up on it.
                azure_core::Error::with_error(azure_core::error::ErrorKind::Other, e, "TLS")
            } else {
                e
            }
        })
    }
}

/// Whether an error text says a TLS certificate was not accepted.
pub(crate) fn is_certificate_error(text: &str) -> bool {
    text.contains("invalid peer certificate") || text.contains("UnknownIssuer")
}

/// The retry azure_identity uses for token requests: a few quick tries, seconds in total.
/// azure_core doubles the initial delay from the first retry on (its wait for retry n is
/// `initial · 2ⁿ`, plus up to 255 ms of jitter): 150 ms makes the tries 300 ms, 600 ms and
/// 1.2 s apart (2.1 s in all; 300 ms gave 600 ms, 1.2 s and 2.4 s).
fn token_retry() -> RetryOptions {
    RetryOptions::exponential(ExponentialRetryOptions {
        initial_delay: azure_core::time::Duration::milliseconds(150),
        max_retries: 3,
        max_total_elapsed: azure_core::time::Duration::seconds(20),
        max_delay: azure_core::time::Duration::seconds(5),
    })
}

impl Credentials {
    /// Resolves the credential source now (so `auto` is decided once); credentials are built per tenant later.
    pub fn new(method: AuthMethod, cloud: Arc<Cloud>, http: reqwest::Client) -> Self {
        Self {
            method,
            source: resolve(method),
            cloud,
            http,
            creds: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
        }
    }

    /// Credentials from a client secret given directly (for programs and tests; the CLI reads the environment).
    pub fn client_secret(
        client_id: &str,
        secret: Secret,
        cloud: Arc<Cloud>,
        http: reqwest::Client,
    ) -> Self {
        Self {
            method: AuthMethod::Env,
            source: Ok(Source::ClientSecret {
                client_id: client_id.to_owned(),
                secret,
            }),
            cloud,
            http,
            creds: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
        }
    }

    /// Credentials of their own for `client_id` with `secret`, on `http`'s client and cloud:
    /// a sign-in as another identity (an app proving its secret) through the run's one client.
    pub fn of_app(http: &Http, client_id: &str, secret: Secret) -> Self {
        Self::client_secret(
            client_id,
            secret,
            http.shared_cloud(),
            http.client().clone(),
        )
    }

    /// The identity acted as, for messages (never the secret).
    pub fn describe(&self) -> String {
        match &self.source {
            Ok(s) => format!("{s:?}"),
            Err(_) => "no credential".to_owned(),
        }
    }

    fn client_options(&self) -> ClientOptions {
        ClientOptions {
            cloud: Some(Arc::new(self.cloud.sdk_config())),
            transport: Some(Transport::new(Arc::new(SignInTransport(self.http.clone())))),
            retry: token_retry(),
            ..Default::default()
        }
    }

    /// The credential for `scope` in `tenant`, built on first use and kept for the run. One
    /// per scope: azure_identity's own token cache holds one lock per credential while it
    /// fetches, so the tokens of two services (Graph and ARM) in one tenant would wait for
    /// each other; ours ([`Credentials::token`]) already keeps one slot per tenant and scope.
    fn credential(&self, tenant: &str, scope: &str) -> Result<Arc<dyn TokenCredential>> {
        let key = (tenant.to_owned(), scope.to_owned());
        let mut map = self
            .creds
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(c) = map.get(&key) {
            return Ok(c.clone());
        }
        let source = self.source.clone()?;
        let built: azure_core::Result<Arc<dyn TokenCredential>> = match source {
            Source::ClientSecret { client_id, secret } => ClientSecretCredential::new(
                tenant,
                client_id,
                azure_core::credentials::Secret::new(secret.expose().to_owned()),
                Some(ClientSecretCredentialOptions {
                    client_options: self.client_options(),
                }),
            )
            .map(|c| c as Arc<dyn TokenCredential>),
            Source::Workload {
                client_id,
                token_file,
            } => {
                let mut o = WorkloadIdentityCredentialOptions {
                    client_id: Some(client_id),
                    tenant_id: Some(tenant.to_owned()),
                    token_file_path: Some(token_file.into()),
                    ..Default::default()
                };
                o.credential_options.client_options = self.client_options();
                WorkloadIdentityCredential::new(Some(o)).map(|c| c as Arc<dyn TokenCredential>)
            }
            Source::Cli => {
                check_cli_cloud(&self.cloud.name, process_var)?;
                AzureCliCredential::new(Some(AzureCliCredentialOptions {
                    tenant_id: Some(tenant.to_owned()),
                    ..Default::default()
                }))
                .map(|c| c as Arc<dyn TokenCredential>)
            }
            Source::ManagedIdentity { client_id } => {
                let o = ManagedIdentityCredentialOptions {
                    user_assigned_id: client_id.map(azure_identity::UserAssignedId::ClientId),
                    client_options: self.client_options(),
                };
                ManagedIdentityCredential::new(Some(o)).map(|c| c as Arc<dyn TokenCredential>)
            }
        };
        let cred = built.map_err(|e| classify(&e, tenant, scope, &self.describe()))?;
        map.insert(key, cred.clone());
        Ok(cred)
    }

    /// A bearer token for `scope` in `tenant`; concurrent callers share one request, and
    /// its failure: a caller that waited while an attempt ran gets that attempt's answer
    /// rather than a second round of retries (an endpoint that is down is reported after
    /// one round, however many objects or early sign-ins asked at once). A caller that
    /// comes after a failure asks again.
    pub async fn token(&self, tenant: &str, scope: &str) -> Result<Secret> {
        let slot = {
            let mut map = self
                .tokens
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            map.entry((tenant.to_owned(), scope.to_owned()))
                .or_default()
                .clone()
        };
        let seen = slot.ended.load(Ordering::Acquire);
        let mut guard = slot.last.lock().await;
        if let Some((tok, exp)) = guard.token.as_ref()
            && *exp - OffsetDateTime::now_utc() > time::Duration::minutes(2)
        {
            return Ok(tok.clone());
        }
        if slot.ended.load(Ordering::Acquire) != seen
            && let Some(e) = &guard.failed
        {
            return Err(e.clone());
        }
        let fetched = self.fetch(tenant, scope).await;
        // (An attempt cut short — its caller gone — ends nothing: the next caller asks.)
        guard.failed = fetched.as_ref().err().cloned();
        slot.ended.fetch_add(1, Ordering::Release);
        let tok = fetched?;
        let secret = Secret::from(tok.token);
        guard.token = Some((secret.clone(), tok.expires_on));
        Ok(secret)
    }

    /// One attempt (azure_identity's retries included) at a token for `scope` in `tenant`.
    async fn fetch(
        &self,
        tenant: &str,
        scope: &str,
    ) -> Result<azure_core::credentials::AccessToken> {
        let cred = self.credential(tenant, scope)?;
        crate::ui::debug(&format!(
            "token: {scope} in tenant {tenant} as {}",
            self.describe()
        ));
        cred.get_token(&[scope], None)
            .await
            .map_err(|e| classify(&e, tenant, scope, &self.describe()))
    }
}

impl Tokens for Credentials {
    fn token<'a>(&'a self, tenant: &'a str, scope: &'a str) -> TokenFuture<'a> {
        Box::pin(Credentials::token(self, tenant, scope))
    }

    fn describe(&self) -> String {
        Credentials::describe(self)
    }
}
