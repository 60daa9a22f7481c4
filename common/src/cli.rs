//! Flags every tool shares, pulled into each tool's `Cli` with `#[command(flatten)]`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

use crate::auth::AuthMethod;
use crate::envelope::{Envelope, fields};
use crate::error::{Error, Result};
use crate::secret::Secret;
use crate::validate::clap_duration;

/// The exit-code table, appended to every tool's `--help`.
pub const EXIT_CODES: &str = "\
Exit codes:
  0  every object succeeded
  1  one or more objects failed (each carries error.code)
  2  usage error, or input that is not JSON objects (nothing written for it)
  3  no usable credential";

/// What `--generate` writes to stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Generate {
    /// A man page (roff).
    Man,
    /// bash completions.
    Bash,
    /// zsh completions.
    Zsh,
    /// fish completions.
    Fish,
}

/// The shared flags.
#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    /// Azure cloud: AzureCloud, AzureChinaCloud, AzureUSGovernment, or the path of a cloud file
    ///
    /// Without it, AzureCloud. An input object whose `cloud` field differs is refused, never followed.
    #[arg(long, env = crate::env::XTENANT_CLOUD, value_name = "NAME|FILE", global = true)]
    pub cloud: Option<String>,

    /// Credential to act with: env (AZURE_CLIENT_ID + AZURE_CLIENT_SECRET or AZURE_FEDERATED_TOKEN_FILE), cli (az login), managed-identity, or auto
    #[arg(long, env = crate::env::XTENANT_AUTH, value_enum, default_value_t = AuthMethod::Auto, global = true)]
    pub auth: AuthMethod,

    /// Give up on an object after this long (waits included), e.g. 90s, 10m
    #[arg(long, value_parser = clap_duration, default_value = "15m", value_name = "DURATION", global = true)]
    pub timeout: Duration,

    /// Process up to N input objects at once (output stays in input order)
    #[arg(long, short = 'j', default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64), global = true)]
    pub jobs: u16,

    /// Send reads, but only report the writes that would be made (as JSON on stderr)
    #[arg(long, global = true)]
    pub dry_run: bool,

    /// More detail on stderr (-v: each request, -vv: also the Azure SDK's logs)
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Less on stderr (errors only)
    #[arg(short, long, action = clap::ArgAction::Count, global = true, conflicts_with = "verbose")]
    pub quiet: u8,

    /// Write a man page or shell completions to stdout and exit
    #[arg(long, value_enum, hide = true)]
    pub generate: Option<Generate>,
}

/// Where the app's client secret comes from, for the steps that use it. Never argv.
#[derive(Debug, Clone, Args)]
pub struct SecretArgs {
    /// Read the app's client secret from this file (instead of the input's client_secret)
    #[arg(long, value_name = "PATH")]
    pub client_secret_file: Option<PathBuf>,

    /// Read the app's client secret from the environment variable VAR
    #[arg(long, value_name = "VAR", conflicts_with = "client_secret_file")]
    pub client_secret_env: Option<String>,
}

impl SecretArgs {
    /// The secret: from the file or variable when given (flags win), else the envelope's `client_secret`.
    pub fn resolve(&self, env: &Envelope) -> Result<Option<Secret>> {
        if let Some(path) = &self.client_secret_file {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Error::input(
                    fields::CLIENT_SECRET.name,
                    format!("cannot read --client-secret-file {}: {e}", path.display()),
                )
            })?;
            let s = text.trim_end_matches(['\n', '\r']);
            if s.is_empty() {
                return Err(Error::input(
                    fields::CLIENT_SECRET.name,
                    format!("--client-secret-file {} is empty", path.display()),
                ));
            }
            return Ok(Some(Secret::new(s)));
        }
        if let Some(var) = &self.client_secret_env {
            return match std::env::var(var) {
                Ok(v) if !v.is_empty() => Ok(Some(Secret::new(v))),
                _ => Err(Error::input(
                    fields::CLIENT_SECRET.name,
                    format!("--client-secret-env {var}: the variable is not set or empty"),
                )),
            };
        }
        env.secret(&fields::CLIENT_SECRET)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        common: CommonArgs,
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let t = T::parse_from(["t"]);
        assert_eq!(t.common.timeout, Duration::from_secs(15 * 60));
        assert_eq!(t.common.jobs, 1);
        assert!(!t.common.dry_run);
        assert!(T::try_parse_from(["t", "--jobs", "0"]).is_err());
        assert!(T::try_parse_from(["t", "--timeout", "soon"]).is_err());
        assert_eq!(
            T::parse_from(["t", "--timeout", "90s"]).common.timeout,
            Duration::from_secs(90)
        );
    }
}
