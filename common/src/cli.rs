//! Flags every tool shares, pulled into each tool's `Cli` with `#[command(flatten)]`.

use std::ffi::OsStr;
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::TypedValueParser;
use clap::{Args, ValueEnum};

use crate::auth::AuthMethod;
use crate::resolve::Resolve;
use crate::validate::clap_duration;

/// The exit-code table, appended to every tool's `--help`.
pub const EXIT_CODES: &str = "\
Exit codes:
  0  every object succeeded
  1  one or more objects written carry an error (this step's, or an earlier step's passed on),
     or aks-sp-update --status found a cluster broken
  2  usage error, input that is not JSON objects (or one over 1 MiB), or a pipe that delivered no object
  3  no usable credential
  4  nothing failed, but something needs attention soon (aks-sp-update --status: a key
     expires within --warn-within)
  130, 143  interrupted by SIGINT or SIGTERM (every object written first)
  141  stdout closed before every object was delivered";

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

    /// Connect to ADDR[:PORT] for HOST instead of looking it up, as curl --resolve (repeatable; comma-separated in XTENANT_RESOLVE)
    ///
    /// Only the connection moves: URLs, Host headers and the certificate's names stay the host's
    /// own, so a built-in cloud runs against a stand-in (azure-sim) unchanged. HOST may be
    /// *.SUFFIX (one label before it, as a registry or vault host). Rules are for port 443 only;
    /// with any rule no proxy is used.
    #[arg(long, env = crate::env::XTENANT_RESOLVE, value_delimiter = ',', value_parser = parse_resolve, value_name = "HOST:443:ADDR[:PORT]", global = true)]
    pub resolve: Vec<Resolve>,

    /// Trust this CA certificate (PEM) besides the system roots, for any cloud
    #[arg(long, env = crate::env::XTENANT_CA_FILE, value_name = "FILE", global = true)]
    pub ca_file: Option<PathBuf>,

    /// Credential to act with: env (AZURE_CLIENT_ID + AZURE_CLIENT_SECRET or AZURE_FEDERATED_TOKEN_FILE), cli (az login), managed-identity, or auto
    #[arg(long, env = crate::env::XTENANT_AUTH, value_enum, default_value_t = AuthMethod::Auto, global = true)]
    pub auth: AuthMethod,

    /// Give up on an object after this long (waits included), e.g. 90s, 10m [default: 15m; aks-sp-update waits for a reset at least 1h, longer for many nodes]
    #[arg(long, value_parser = clap_duration, value_name = "DURATION", global = true)]
    pub timeout: Option<Duration>,

    /// Process up to N input objects at once (output stays in input order)
    #[arg(long, short = 'j', default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64), global = true)]
    pub jobs: u16,

    /// Send reads, but only report the writes that would be made (as JSON on stderr)
    #[arg(long, global = true)]
    pub dry_run: bool,

    /// After SIGINT or SIGTERM, how long a write already sent is waited for, at most 5s (0: not at all)
    ///
    /// Its answer says whether it took effect; past the grace the object says its outcome
    /// is unknown, and the rerun of the same command reads what exists before it writes.
    /// Shorter suits a supervisor that kills soon after its SIGTERM (a CI job, a pod's
    /// termination grace period); longer than 5s is refused.
    #[arg(long, env = crate::env::XTENANT_WRITE_GRACE, value_name = "DURATION", default_value = "5s", value_parser = write_grace, global = true)]
    pub write_grace: Duration,

    /// More detail on stderr (-v: each request, -vv: also the Azure SDK's logs)
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Less on stderr (errors only)
    #[arg(short, long, action = clap::ArgAction::Count, global = true, conflicts_with = "verbose")]
    pub quiet: u8,

    /// Write a man page or shell completions to stdout and exit
    #[arg(long, value_enum, hide = true)]
    pub generate: Option<Generate>,

    /// Refused (hidden): `--client-secret` / `--secret`. A secret on the command line is
    /// seen by every user of the machine (ps, /proc) and kept in shell history, so its
    /// value is refused while parsing, exit 2, without being stored or shown.
    #[arg(
        long("client-secret"),
        alias("secret"),
        hide = true,
        value_name = "REFUSED",
        num_args = 0..=1,
        default_missing_value = "",
        allow_hyphen_values = true,
        value_parser = RefuseSecret
    )]
    pub secret_on_command_line: Option<Refused>,
}

/// `--timeout` when none is given.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15 * 60);

impl CommonArgs {
    /// `--timeout`, or [`DEFAULT_TIMEOUT`].
    pub fn timeout(&self) -> Duration {
        self.timeout.unwrap_or(DEFAULT_TIMEOUT)
    }
}

/// Parses `--write-grace` / `XTENANT_WRITE_GRACE` (clap's value parser: a bad value is a
/// usage error, exit 2, before anything is sent): a duration from `0` to
/// [`crate::interrupt::WRITE_GRACE`]. A longer one is refused, not clamped: the setting
/// exists to end an interrupted run sooner, so a value that asks for more is a mistake to
/// point out.
fn write_grace(value: &str) -> Result<Duration, String> {
    let setting = format!("{} (--write-grace)", crate::env::XTENANT_WRITE_GRACE);
    let most = crate::duration::human(crate::interrupt::WRITE_GRACE);
    let Some(grace) = crate::validate::parse_duration(value) else {
        return Err(format!(
            "{setting} must be a duration from 0 to {most}, such as 1s or 500ms (0: a write in flight is not waited for)"
        ));
    };
    if grace > crate::interrupt::WRITE_GRACE {
        return Err(format!(
            "{setting} may only shorten how long a write already sent is waited for after a signal: at most {most} (the default); give {most} or less, or unset it"
        ));
    }
    Ok(grace)
}

/// One `--resolve` rule, or clap's error with [`Resolve::parse`]'s message.
fn parse_resolve(rule: &str) -> Result<Resolve, String> {
    Resolve::parse(rule).map_err(|e| e.message().to_owned())
}

/// What a refused flag leaves behind: nothing of its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused;

/// The answer to a secret given on the command line.
pub const SECRET_ON_COMMAND_LINE: &str = "secrets are never taken on the command line; use --client-secret-file FILE or --client-secret-env NAME";

/// Refuses any value, with an error that does not contain it.
#[derive(Debug, Clone, Copy)]
struct RefuseSecret;

impl TypedValueParser for RefuseSecret {
    type Value = Refused;

    fn parse_ref(
        &self,
        _cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        _value: &OsStr,
    ) -> Result<Refused, clap::Error> {
        // A raw error: clap's own value errors quote the value.
        Err(clap::Error::raw(
            clap::error::ErrorKind::ValueValidation,
            format!("{SECRET_ON_COMMAND_LINE}\n"),
        ))
    }
}

/// Accepts the NAME of an environment variable (`[A-Za-z_][A-Za-z0-9_]*`), and refuses
/// anything else without showing it: it may be the secret itself, given to the wrong flag.
#[derive(Debug, Clone, Copy)]
struct EnvVarName;

/// Whether `name` is an environment variable name (`[A-Za-z_][A-Za-z0-9_]*`).
pub fn is_env_var_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

impl TypedValueParser for EnvVarName {
    type Value = String;

    fn parse_ref(
        &self,
        _cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<String, clap::Error> {
        match value.to_str() {
            Some(name) if is_env_var_name(name) => Ok(name.to_owned()),
            _ => Err(clap::Error::raw(
                clap::error::ErrorKind::ValueValidation,
                "--client-secret-env takes the NAME of an environment variable ([A-Za-z_][A-Za-z0-9_]*), and what was given is not one (it is not shown: it may be the secret itself); e.g. --client-secret-env APP_SECRET with APP_SECRET set in the environment\n",
            )),
        }
    }
}

/// Where the app's client secret comes from, for the steps that use it. Never argv.
#[derive(Debug, Clone, Args)]
pub struct SecretArgs {
    /// Read the app's client secret from this file (a regular file of at most 4 KiB; instead of the input's client_secret)
    #[arg(long, value_name = "PATH")]
    pub client_secret_file: Option<PathBuf>,

    /// Read the app's client secret from the environment variable NAME (the name, not the value)
    #[arg(long, value_name = "NAME", value_parser = EnvVarName, conflicts_with = "client_secret_file")]
    pub client_secret_env: Option<String>,

    /// Read the app's client secret from this Key Vault secret: https://VAULT.<Key Vault suffix>/secrets/NAME/VERSION (instead of the input's client_secret_ref) [field: client_secret_ref]
    #[arg(long, value_name = "URL", conflicts_with_all = ["client_secret_file", "client_secret_env"])]
    pub client_secret_ref: Option<String>,
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

    #[derive(Parser, Debug)]
    struct WithSecret {
        #[command(flatten)]
        common: CommonArgs,
        #[command(flatten)]
        secret: SecretArgs,
    }

    #[test]
    fn a_secret_on_the_command_line_is_refused_without_its_value() {
        for args in [
            vec!["t", "--client-secret", "s3cr3t~value"],
            vec!["t", "--client-secret=s3cr3t~value"],
            vec!["t", "--secret", "-s3cr3t~value"],
            vec!["t", "--client-secret"],
        ] {
            let e = WithSecret::try_parse_from(&args).unwrap_err();
            assert_eq!(
                e.exit_code(),
                i32::from(crate::exit::ExitCode::Usage.code()),
                "{args:?}"
            );
            let text = e.render().to_string();
            assert!(text.contains(SECRET_ON_COMMAND_LINE), "{args:?}: {text}");
            assert!(!text.contains("s3cr3t"), "{args:?}: {text}");
        }
        let help = <WithSecret as clap::CommandFactory>::command()
            .render_long_help()
            .to_string();
        assert!(
            !help.contains("--client-secret <") && !help.contains("--secret"),
            "{help}"
        );
    }

    #[test]
    fn client_secret_env_takes_only_a_name() {
        let t = WithSecret::try_parse_from(["t", "--client-secret-env", "_App_SECRET2"]).unwrap();
        assert_eq!(t.secret.client_secret_env.as_deref(), Some("_App_SECRET2"));
        for bad in ["s3cr3t~value", "2ABC", "A-B", "", "A B", "ÄB"] {
            let e = WithSecret::try_parse_from(["t", "--client-secret-env", bad]).unwrap_err();
            assert_eq!(
                e.exit_code(),
                i32::from(crate::exit::ExitCode::Usage.code()),
                "{bad}"
            );
            let text = e.render().to_string();
            assert!(text.contains("takes the NAME"), "{bad}: {text}");
            assert!(bad.is_empty() || !text.contains(bad), "{bad}: {text}");
        }
        assert!(is_env_var_name("A") && is_env_var_name("_") && !is_env_var_name("1"));
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let t = T::parse_from(["t"]);
        assert_eq!(t.common.timeout(), Duration::from_secs(15 * 60));
        assert_eq!(t.common.timeout, None);
        assert_eq!(t.common.jobs, 1);
        assert!(!t.common.dry_run);
        assert!(T::try_parse_from(["t", "--jobs", "0"]).is_err());
        assert!(T::try_parse_from(["t", "--timeout", "soon"]).is_err());
        assert_eq!(
            T::parse_from(["t", "--timeout", "90s"]).common.timeout(),
            Duration::from_secs(90)
        );
        assert_eq!(t.common.write_grace, crate::interrupt::WRITE_GRACE);
    }

    #[test]
    fn the_write_grace_can_only_be_shortened() {
        for (given, grace) in [
            ("0", Duration::ZERO),
            ("300ms", Duration::from_millis(300)),
            ("1s", Duration::from_secs(1)),
            ("5s", Duration::from_secs(5)),
        ] {
            assert_eq!(write_grace(given), Ok(grace), "{given}");
            let t = T::parse_from(["t", "--write-grace", given]);
            assert_eq!(t.common.write_grace, grace, "{given}");
        }
        for bad in ["6s", "1m", "5.1s", "soon", "-1s", ""] {
            let e = write_grace(bad).expect_err(bad);
            assert!(e.contains("XTENANT_WRITE_GRACE"), "{bad}: {e}");
            assert!(e.contains("--write-grace"), "{bad}: {e}");
            assert!(e.contains("5s"), "{bad}: {e}");
            assert!(
                T::try_parse_from(["t", "--write-grace", bad]).is_err(),
                "{bad}"
            );
        }
    }
}
