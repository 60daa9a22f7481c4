//! Which identity to act as: `--auth` and, for `auto`, what the environment offers
//! (a client secret, workload identity, the Azure CLI, a managed identity).

use clap::ValueEnum;

use crate::env;
use crate::error::{Error, Result, codes};
use crate::secret::Secret;

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
pub(super) enum Source {
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

pub(super) fn process_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn az_on_path() -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("az").is_file()))
}

pub(super) fn resolve(method: AuthMethod) -> Result<Source> {
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
                codes::CREDENTIAL_UNAVAILABLE,
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
                    codes::CREDENTIAL_UNAVAILABLE,
                    "no credential found: AZURE_CLIENT_ID/AZURE_CLIENT_SECRET are not set, the Azure CLI (az) is not on PATH, and no managed identity is configured",
                )
                .with_hint("export AZURE_CLIENT_ID and AZURE_CLIENT_SECRET, or install the Azure CLI and run 'az login --tenant <tenant>'"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::ExitCode;
    use std::collections::HashMap;

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
