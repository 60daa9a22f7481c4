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
use std::sync::{Arc, Mutex};

use azure_core::credentials::TokenCredential;
use azure_core::http::{ClientOptions, ExponentialRetryOptions, RetryOptions, Transport};
use azure_identity::{
    AzureCliCredential, AzureCliCredentialOptions, ClientSecretCredential,
    ClientSecretCredentialOptions, ManagedIdentityCredential, ManagedIdentityCredentialOptions,
    WorkloadIdentityCredential, WorkloadIdentityCredentialOptions,
};
use clap::ValueEnum;
use time::OffsetDateTime;

use crate::cloud::Cloud;
use crate::env;
use crate::error::{Error, Result, codes};
use crate::http::{Http, TokenFuture, Tokens};
use crate::secret::Secret;

mod refusal;

use refusal::chain;
pub use refusal::classify;

/// Which credential to act with (`--auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthMethod {
    /// env if its variables are set, else the Azure CLI if installed, else managed identity where configured.
    Auto,
    /// A client secret (AZURE_CLIENT_ID + AZURE_CLIENT_SECRET) or workload identity (AZURE_FEDERATED_TOKEN_FILE).
    Env,
    /// The Azure CLI's login (`az login --tenant …`).
    Cli,
    /// The managed identity of the machine.
    ManagedIdentity,
}

/// The source `auto` resolved to, or the one asked for.
#[derive(Clone)]
enum Source {
    ClientSecret {
        client_id: String,
        secret: Secret,
    },
    Workload {
        client_id: String,
        token_file: String,
    },
    Cli,
    ManagedIdentity {
        client_id: Option<String>,
    },
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ClientSecret { client_id, .. } => write!(f, "client secret of {client_id}"),
            Self::Workload { client_id, .. } => write!(f, "workload identity {client_id}"),
            Self::Cli => f.write_str("Azure CLI login"),
            Self::ManagedIdentity { .. } => f.write_str("managed identity"),
        }
    }
}

type TokenSlot = Arc<tokio::sync::Mutex<Option<(Secret, OffsetDateTime)>>>;

/// The run's credentials: one per tenant, tokens per (tenant, scope).
pub struct Credentials {
    method: AuthMethod,
    source: Result<Source>,
    cloud: Arc<Cloud>,
    http: reqwest::Client,
    /// Per (tenant, scope): see [`Credentials::credential`].
    creds: Mutex<HashMap<(String, String), Arc<dyn TokenCredential>>>,
    tokens: Mutex<HashMap<(String, String), TokenSlot>>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("method", &self.method)
            .field("source", &self.source.as_ref().ok())
            .finish_non_exhaustive()
    }
}

fn process_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn az_on_path() -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("az").is_file()))
}

fn resolve(method: AuthMethod) -> Result<Source> {
    resolve_with(method, process_var, az_on_path)
}

/// Which source `method` means, given the environment (`var`) and whether `az` is installed.
fn resolve_with(
    method: AuthMethod,
    var: impl Fn(&str) -> Option<String>,
    az_installed: impl Fn() -> bool,
) -> Result<Source> {
    let client_id = var(env::AZURE_CLIENT_ID);
    let env_source = || -> Option<Source> {
        let id = client_id.clone()?;
        if let Some(secret) = var(env::AZURE_CLIENT_SECRET) {
            return Some(Source::ClientSecret {
                client_id: id,
                secret: Secret::new(secret),
            });
        }
        var(env::AZURE_FEDERATED_TOKEN_FILE).map(|f| Source::Workload {
            client_id: id,
            token_file: f,
        })
    };
    let mi_configured =
        var(env::IDENTITY_ENDPOINT).is_some() || var(env::XTENANT_USE_IMDS).is_some();
    match method {
        AuthMethod::Env => env_source().ok_or_else(|| {
            Error::credential(
                "CredentialUnavailable",
                "--auth env: AZURE_CLIENT_ID with AZURE_CLIENT_SECRET or AZURE_FEDERATED_TOKEN_FILE is not set",
            )
            .with_hint("export AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (or AZURE_FEDERATED_TOKEN_FILE), or use --auth cli after 'az login'")
        }),
        AuthMethod::Cli => Ok(Source::Cli),
        AuthMethod::ManagedIdentity => Ok(Source::ManagedIdentity { client_id }),
        AuthMethod::Auto => {
            if let Some(s) = env_source() {
                Ok(s)
            } else if az_installed() {
                Ok(Source::Cli)
            } else if mi_configured {
                Ok(Source::ManagedIdentity { client_id })
            } else {
                Err(Error::credential(
                    "CredentialUnavailable",
                    "no credential found: AZURE_CLIENT_ID/AZURE_CLIENT_SECRET are not set, the Azure CLI (az) is not on PATH, and no managed identity is configured",
                )
                .with_hint("export AZURE_CLIENT_ID and AZURE_CLIENT_SECRET, or install the Azure CLI and run 'az login --tenant <tenant>'"))
            }
        }
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
fn token_retry() -> RetryOptions {
    RetryOptions::exponential(ExponentialRetryOptions {
        initial_delay: azure_core::time::Duration::milliseconds(300),
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
        Self::client_secret(client_id, secret, http.shared_cloud(), http.client().clone())
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

    /// A bearer token for `scope` in `tenant`; concurrent callers share one request.
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
        let mut guard = slot.lock().await;
        if let Some((tok, exp)) = guard.as_ref()
            && *exp - OffsetDateTime::now_utc() > time::Duration::minutes(2)
        {
            return Ok(tok.clone());
        }
        let cred = self.credential(tenant, scope)?;
        crate::ui::debug(&format!(
            "token: {scope} in tenant {tenant} as {}",
            self.describe()
        ));
        let tok = cred
            .get_token(&[scope], None)
            .await
            .map_err(|e| classify(&e, tenant, scope, &self.describe()))?;
        let secret = Secret::from(tok.token);
        *guard = Some((secret.clone(), tok.expires_on));
        Ok(secret)
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

/// The clouds the Azure CLI knows by these names (`az cloud list`).
const CLI_CLOUDS: [&str; 3] = ["AzureCloud", "AzureChinaCloud", "AzureUSGovernment"];

/// The Azure CLI's active cloud as its config file says, without running `az` (seconds per
/// start): `[cloud] name` in `$AZURE_CONFIG_DIR/config` (default `~/.azure/config`), and
/// `AzureCloud` (the CLI's default) when the file or the key is absent. Also the path read.
fn cli_active_cloud(var: impl Fn(&str) -> Option<String>) -> (String, std::path::PathBuf) {
    let path = cli_config_dir(&var).join("config");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let mut section = String::new();
    for line in text.lines() {
        let line = line.trim();
        if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            s.trim().to_ascii_lowercase().clone_into(&mut section);
        } else if section == "cloud"
            && let Some((k, v)) = line.split_once(['=', ':'])
            && k.trim().eq_ignore_ascii_case("name")
            && !v.trim().is_empty()
        {
            return (v.trim().to_owned(), path);
        }
    }
    ("AzureCloud".to_owned(), path)
}

/// The Azure CLI's configuration folder: `$AZURE_CONFIG_DIR`, default `~/.azure`.
fn cli_config_dir(var: &impl Fn(&str) -> Option<String>) -> std::path::PathBuf {
    var(env::AZURE_CONFIG_DIR).map_or_else(
        || {
            std::path::PathBuf::from(
                var("HOME")
                    .or_else(|| var("USERPROFILE"))
                    .unwrap_or_default(),
            )
            .join(".azure")
        },
        std::path::PathBuf::from,
    )
}

/// The Azure CLI's default subscription (`az account set`), as its `azureProfile.json` says
/// (the one `az aks` commands act in), without running `az`: its id, if there is one.
pub fn cli_default_subscription() -> Option<String> {
    cli_default_subscription_with(process_var)
}

fn cli_default_subscription_with(var: impl Fn(&str) -> Option<String>) -> Option<String> {
    let text = std::fs::read_to_string(cli_config_dir(&var).join("azureProfile.json")).ok()?;
    // The CLI writes it with a byte order mark.
    let profile: serde_json::Value =
        serde_json::from_str(text.trim_start_matches('\u{feff}')).ok()?;
    profile
        .get("subscriptions")?
        .as_array()?
        .iter()
        .find(|s| s.get("isDefault").and_then(serde_json::Value::as_bool) == Some(true))
        .and_then(|s| s.get("id").and_then(serde_json::Value::as_str))
        .filter(|id| crate::validate::is_guid(id))
        .map(str::to_ascii_lowercase)
}

/// `--auth cli` takes its tokens from the Azure CLI's active cloud, whatever `--cloud` says: a
/// mismatch (a China user who never ran `az cloud set`) is refused here with the one command
/// that fixes it, instead of a confusing token failure later. Only the clouds the CLI knows
/// by name are compared (a custom cloud file's name is ours, not the CLI's).
fn check_cli_cloud(wanted: &str, var: impl Fn(&str) -> Option<String>) -> Result<()> {
    let Some(wanted) = CLI_CLOUDS.iter().find(|c| c.eq_ignore_ascii_case(wanted)) else {
        return Ok(());
    };
    let (active, path) = cli_active_cloud(var);
    if active.eq_ignore_ascii_case(wanted) {
        return Ok(());
    }
    Err(Error::credential(
        codes::CLI_CLOUD_MISMATCH.name,
        format!(
            "--auth cli: the Azure CLI's active cloud is {active} ({}), not {wanted}",
            path.display()
        ),
    )
    .with_hint(format!(
        "az cloud set --name {wanted} (then az login, if you have not logged in to {wanted})"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::ExitCode;

    #[test]
    fn the_cli_cloud_must_match() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap().to_owned();
        let var = |k: &str| (k == env::AZURE_CONFIG_DIR).then(|| d.clone());
        // No config file: the CLI's default, AzureCloud.
        assert!(check_cli_cloud("AzureCloud", var).is_ok());
        let e = check_cli_cloud("AzureChinaCloud", var).unwrap_err();
        assert_eq!(e.code(), codes::CLI_CLOUD_MISMATCH.name);
        assert_eq!(e.exit_code(), ExitCode::Credential);
        assert!(
            e.hint()
                .unwrap()
                .starts_with("az cloud set --name AzureChinaCloud"),
            "{e:?}"
        );
        std::fs::write(
            dir.path().join("config"),
            "[core]\nname = x\n\n[cloud]\nname = AzureChinaCloud\n",
        )
        .unwrap();
        assert!(check_cli_cloud("AzureChinaCloud", var).is_ok());
        let e = check_cli_cloud("AzureUSGovernment", var).unwrap_err();
        assert!(
            e.message().contains("AzureChinaCloud") && e.message().contains("config"),
            "{e}"
        );
        assert!(
            e.hint()
                .unwrap()
                .contains("az cloud set --name AzureUSGovernment")
        );
        // A custom cloud (a cloud file) is not compared.
        assert!(check_cli_cloud("AzureSim", var).is_ok());
    }

    #[test]
    fn the_cli_default_subscription_is_read_from_its_profile() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap().to_owned();
        let var = |k: &str| (k == env::AZURE_CONFIG_DIR).then(|| d.clone());
        assert_eq!(cli_default_subscription_with(var), None);
        std::fs::write(
            dir.path().join("azureProfile.json"),
            "\u{feff}{\"subscriptions\":[{\"id\":\"11111111-1111-1111-1111-111111111111\",\"isDefault\":false},{\"id\":\"22222222-2222-2222-2222-22222222222A\",\"isDefault\":true}]}",
        )
        .unwrap();
        assert_eq!(
            cli_default_subscription_with(var).as_deref(),
            Some("22222222-2222-2222-2222-22222222222a")
        );
    }
}

#[cfg(test)]
mod resolve_tests {
    use super::*;
    use crate::exit::ExitCode;

    fn pick(method: AuthMethod, vars: &[(&str, &str)], az: bool) -> Result<Source> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        resolve_with(
            method,
            |k| vars.get(k).filter(|v| !v.is_empty()).cloned(),
            || az,
        )
    }

    #[test]
    fn auto_prefers_env_then_cli_then_a_configured_managed_identity() {
        let secret = [("AZURE_CLIENT_ID", "id"), ("AZURE_CLIENT_SECRET", "s3cret")];
        assert!(matches!(
            pick(AuthMethod::Auto, &secret, true),
            Ok(Source::ClientSecret { .. })
        ));
        let federated = [
            ("AZURE_CLIENT_ID", "id"),
            ("AZURE_FEDERATED_TOKEN_FILE", "/t"),
        ];
        assert!(matches!(
            pick(AuthMethod::Auto, &federated, true),
            Ok(Source::Workload { .. })
        ));
        assert!(matches!(
            pick(AuthMethod::Auto, &[("AZURE_CLIENT_ID", "id")], true),
            Ok(Source::Cli)
        ));
        // Managed identity only where its endpoint is configured: never a blind IMDS probe.
        assert!(matches!(
            pick(
                AuthMethod::Auto,
                &[("IDENTITY_ENDPOINT", "http://127.0.0.1:1/msi")],
                false
            ),
            Ok(Source::ManagedIdentity { .. })
        ));
        assert!(matches!(
            pick(AuthMethod::Auto, &[("XTENANT_USE_IMDS", "1")], false),
            Ok(Source::ManagedIdentity { .. })
        ));
        let none = pick(AuthMethod::Auto, &[], false).unwrap_err();
        assert_eq!(
            (none.code(), none.exit_code()),
            ("CredentialUnavailable", ExitCode::Credential)
        );
        assert!(none.hint().is_some());
    }

    #[test]
    fn explicit_methods_do_not_fall_through() {
        let e = pick(AuthMethod::Env, &[("AZURE_CLIENT_ID", "id")], true).unwrap_err();
        assert_eq!(e.exit_code(), ExitCode::Credential);
        assert!(matches!(
            pick(
                AuthMethod::Cli,
                &[("AZURE_CLIENT_ID", "id"), ("AZURE_CLIENT_SECRET", "s")],
                false
            ),
            Ok(Source::Cli)
        ));
        assert!(matches!(
            pick(AuthMethod::ManagedIdentity, &[], true),
            Ok(Source::ManagedIdentity { .. })
        ));
        // The secret never shows in how the source describes itself.
        let s = pick(
            AuthMethod::Env,
            &[
                ("AZURE_CLIENT_ID", "id"),
                ("AZURE_CLIENT_SECRET", "s3cret-value"),
            ],
            false,
        )
        .unwrap();
        assert!(!format!("{s:?}").contains("s3cret"));
    }
}
