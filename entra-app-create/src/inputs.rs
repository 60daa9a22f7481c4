//! The step's inputs: flags over envelope fields over defaults, all checked before any request.

use std::path::PathBuf;
use std::time::Duration;

use common::client_secret::ClientSecret;
use common::cloud::Cloud;
use common::envelope::{DEFAULT_REDIRECT_URI, Envelope, fields};
use common::keyvault::SecretRef;
use common::validate::{self, shown};
use common::{Error, Result, Secret};

use crate::cli::Cli;

/// The display name when neither `--display-name` nor `app_display_name` gives one.
pub(crate) const DEFAULT_DISPLAY_NAME: &str = "xtenant-acr-pull";

/// The pseudo-field errors about `--secret-keyvault` name.
pub(crate) const KEYVAULT_FIELD: &str = "secret_keyvault";

/// Graph's limit on an application's `displayName`.
const MAX_DISPLAY_NAME: usize = 256;
/// Our limit on `uniqueName` (Graph documents none; long keys only make paths unwieldy).
const MAX_UNIQUE_NAME: usize = 120;

/// How the app is found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AppKey {
    /// By `uniqueName` (created when absent).
    UniqueName(String),
    /// By the input's `app_id` (an app made elsewhere; never created).
    AppId(String),
}

/// Everything the step needs from the flags and the input object.
#[derive(Debug)]
pub struct Inputs {
    /// Tenant A (GUID or domain, lower case).
    pub(crate) tenant: String,
    /// The display name to create the app with (and to rename it to when `rename` is set).
    pub(crate) display_name: String,
    /// Whether `--display-name` was given: then an existing app is renamed to it.
    pub(crate) rename: bool,
    /// How the app is found.
    pub(crate) key: AppKey,
    /// The input's `app_id`, if any (checked against the app found).
    pub(crate) app_id: Option<String>,
    /// The input's `client_secret_key_id`, if any.
    pub(crate) key_id: Option<String>,
    /// The input's `client_secret`, if any.
    pub(crate) secret: Option<Secret>,
    /// The input's `client_secret_ref`, if any (used only if its tags name the app).
    pub(crate) secret_ref: Option<SecretRef>,
    /// The web redirect URI, exactly as given (Entra compares them as strings).
    pub(crate) redirect_uri: String,
    /// What the flags ask beyond the fields.
    pub(crate) options: Options,
    /// Tenant B and the cluster, when given, to check tenant A against.
    pub(crate) others: crate::tenants::Others,
}

/// What the flags ask of the step beyond the fields.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub(crate) secret_lifetime: Duration,
    pub(crate) secret_name: String,
    pub(crate) new_secret: bool,
    pub(crate) prune_secrets: bool,
    /// `--force`: prune secrets clusters use, or without knowing which clusters use them.
    pub(crate) force: bool,
    pub(crate) secret_file: Option<PathBuf>,
    pub(crate) no_secret_output: bool,
    /// `--secret-keyvault`: the vault URL (optionally with `/secrets/NAME`), checked against
    /// the cloud; the secret's name is settled once the app is known.
    pub(crate) keyvault: Option<String>,
    /// `--adopt` with the app named by the reader's own flags (`--app-id` or `--unique-name`).
    pub(crate) adopt: bool,
}

impl Inputs {
    /// Reads the flags (they win) and `env`, and checks every input; nothing is sent.
    pub(crate) fn read(cli: &Cli, env: &Envelope, cloud: &Cloud) -> Result<Self> {
        let tenant = validate::tenant(
            fields::CLUSTER_TENANT_ID.name,
            &env.flag_or_require(&fields::CLUSTER_TENANT_ID, cli.cluster_tenant.as_deref())?,
        )?;
        let display_name =
            match env.flag_or_str(&fields::APP_DISPLAY_NAME, cli.display_name.as_deref())? {
                Some(d) => display_name(d.trim())?,
                None => DEFAULT_DISPLAY_NAME.to_owned(),
            };
        let app_id = env
            .flag_or_str(&fields::APP_ID, cli.app_id.as_deref())?
            .map(|a| validate::guid(fields::APP_ID.name, &a))
            .transpose()?;
        let unique = env.flag_or_str(&fields::APP_UNIQUE_NAME, cli.unique_name.as_deref())?;
        let key = match (unique, &app_id) {
            (Some(u), _) => AppKey::UniqueName(unique_name(u.trim())?),
            (None, Some(id)) => AppKey::AppId(id.clone()),
            (None, None) => AppKey::UniqueName(derive_unique_name(&display_name).ok_or_else(|| {
                Error::input(
                    fields::APP_UNIQUE_NAME.name,
                    format!(
                        "`app_unique_name` cannot be derived from the display name {} (no letters or digits): pass --unique-name",
                        shown(&display_name)
                    ),
                )
            })?),
        };
        let key_id = env
            .str(&fields::CLIENT_SECRET_KEY_ID)?
            .map(|k| validate::guid(fields::CLIENT_SECRET_KEY_ID.name, &k))
            .transpose()?;
        let (secret, secret_ref) = match ClientSecret::from_envelope(env, cloud)? {
            Some(ClientSecret::Value(v)) => (Some(v), None),
            Some(ClientSecret::Vault { secret, .. }) => (None, Some(secret)),
            None => (None, None),
        };
        if let Some(url) = &cli.secret_keyvault {
            SecretRef::parse_target(KEYVAULT_FIELD, url, cloud, "checked")?;
        }
        let redirect_uri = env
            .flag_or_str(&fields::REDIRECT_URI, cli.redirect_uri.as_deref())?
            .map_or_else(|| DEFAULT_REDIRECT_URI.to_owned(), |r| r.trim().to_owned());
        validate::redirect_uri(fields::REDIRECT_URI.name, &redirect_uri)?;
        if cli.prune_secrets && !cli.new_secret && key_id.is_none() {
            return Err(Error::input(
                fields::CLIENT_SECRET_KEY_ID.name,
                "--prune-secrets keeps only the secret of the input, but the input has no client_secret_key_id: \
                 pipe in the output of entra-app-create, or add --new-secret to mint one and keep only that",
            ));
        }
        if cli.adopt && cli.app_id.is_none() && cli.unique_name.is_none() {
            return Err(Error::input(
                fields::APP_ID.name,
                "--adopt changes an app this tool did not create: name it on the command line with --app-id GUID or --unique-name NAME (an input object cannot choose it)",
            ));
        }
        Ok(Self {
            tenant,
            display_name,
            rename: cli.display_name.is_some(),
            key,
            app_id,
            key_id,
            secret,
            secret_ref,
            redirect_uri,
            options: Options {
                secret_lifetime: cli.secret_lifetime,
                secret_name: cli.secret_name.clone(),
                new_secret: cli.new_secret,
                prune_secrets: cli.prune_secrets,
                force: cli.force,
                secret_file: cli.secret_file.clone(),
                no_secret_output: cli.no_secret_output,
                keyvault: cli.secret_keyvault.clone(),
                adopt: cli.adopt,
            },
            others: crate::tenants::Others::read(cli, env)?,
        })
    }
}

fn display_name(d: &str) -> Result<String> {
    let field = fields::APP_DISPLAY_NAME.name;
    if d.is_empty() || d.chars().count() > MAX_DISPLAY_NAME || d.chars().any(char::is_control) {
        return Err(Error::input(
            field,
            format!(
                "`{field}` must be 1 to {MAX_DISPLAY_NAME} characters without control characters, got {}",
                shown(d)
            ),
        ));
    }
    Ok(d.to_owned())
}

fn unique_name(u: &str) -> Result<String> {
    let field = fields::APP_UNIQUE_NAME.name;
    let ok = !u.is_empty()
        && u.len() <= MAX_UNIQUE_NAME
        && u.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'));
    if ok {
        Ok(u.to_owned())
    } else {
        Err(Error::input(
            field,
            format!(
                "`{field}` must be 1 to {MAX_UNIQUE_NAME} letters, digits, '-', '_' or '.', got {}",
                shown(u)
            ),
        ))
    }
}

/// A unique name from a display name: lower case, every run of other characters one '-'.
pub(crate) fn derive_unique_name(display: &str) -> Option<String> {
    let mut out = String::new();
    for c in display.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    out.truncate(MAX_UNIQUE_NAME);
    let out = out.trim_end_matches('-').to_owned();
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    const T: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

    fn read(line: &str, args: &[&str]) -> Result<Inputs> {
        let cli = Cli::try_parse_from(std::iter::once(&"entra-app-create").chain(args)).unwrap();
        Inputs::read(
            &cli,
            &Envelope::parse(line).unwrap(),
            &Cloud::azure_public(),
        )
    }

    #[test]
    fn unique_names_are_derived_from_display_names() {
        assert_eq!(
            derive_unique_name("xtenant-acr-pull").as_deref(),
            Some("xtenant-acr-pull")
        );
        assert_eq!(
            derive_unique_name("  My App (Prod) / ACR ").as_deref(),
            Some("my-app-prod-acr")
        );
        assert_eq!(
            derive_unique_name("Café ünïcode").as_deref(),
            Some("caf-n-code")
        );
        assert_eq!(derive_unique_name("!!!"), None);
        let long = derive_unique_name(&"ab ".repeat(100)).unwrap();
        assert!(
            long.len() <= MAX_UNIQUE_NAME && !long.ends_with('-'),
            "{long}"
        );
    }

    #[test]
    fn defaults_flags_and_envelope() {
        let i = read("{}", &["--cluster-tenant", T]).unwrap();
        assert_eq!(i.display_name, DEFAULT_DISPLAY_NAME);
        assert_eq!(i.key, AppKey::UniqueName("xtenant-acr-pull".into()));
        assert!(!i.rename);
        assert_eq!(i.tenant, T);
        assert_eq!(i.redirect_uri, DEFAULT_REDIRECT_URI);

        let line = format!(
            r#"{{"cluster_tenant_id":"{T}","app_display_name":"Old","app_unique_name":"keep-me"}}"#
        );
        let i = read(&line, &["--display-name", "New Name"]).unwrap();
        assert_eq!(i.display_name, "New Name");
        assert!(i.rename);
        assert_eq!(i.key, AppKey::UniqueName("keep-me".into()));

        let line = format!(
            r#"{{"cluster_tenant_id":"{}","app_id":"{}"}}"#,
            T.to_uppercase(),
            T.to_uppercase()
        );
        let i = read(&line, &[]).unwrap();
        assert_eq!(i.key, AppKey::AppId(T.into()));
        assert_eq!(i.tenant, T);
    }

    #[test]
    fn bad_inputs_name_their_field() {
        let cases: [(&str, &[&str], &str); 8] = [
            ("{}", &[], "cluster_tenant_id"),
            (
                "{}",
                &["--cluster-tenant", "not a tenant"],
                "cluster_tenant_id",
            ),
            (
                "{}",
                &["--cluster-tenant", T, "--display-name", "!!!"],
                "app_unique_name",
            ),
            (
                "{}",
                &["--cluster-tenant", T, "--unique-name", "a b"],
                "app_unique_name",
            ),
            (r#"{"app_id":"nope"}"#, &["--cluster-tenant", T], "app_id"),
            (
                r#"{"client_secret_key_id":7}"#,
                &["--cluster-tenant", T],
                "client_secret_key_id",
            ),
            (
                "{}",
                &["--cluster-tenant", T, "--prune-secrets"],
                "client_secret_key_id",
            ),
            // --adopt needs the app named by a flag: the input's app_id is not enough.
            (
                r#"{"app_id":"11111111-2222-3333-4444-555555555555"}"#,
                &["--cluster-tenant", T, "--adopt"],
                "app_id",
            ),
        ];
        for (line, args, field) in cases {
            let e = read(line, args).unwrap_err();
            assert_eq!(
                e.kind(),
                &common::ErrorKind::Input {
                    field: field.into()
                },
                "{line} {args:?}: {e}"
            );
            assert!(
                e.message().contains(field) || e.message().contains("--"),
                "{e}"
            );
        }
        let e = read("{}", &["--cluster-tenant", T, "--display-name", "a\nb"]).unwrap_err();
        assert!(e.message().contains("app_display_name"), "{e}");
    }
}
