//! The step's inputs: flags over envelope fields over defaults, all checked before any request.

use common::envelope::{Envelope, fields};
use common::validate::{self, shown};
use common::{Error, Result, Secret};

/// The display name when neither `--display-name` nor `app_display_name` gives one.
pub(crate) const DEFAULT_DISPLAY_NAME: &str = "xtenant-acr-pull";

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
pub(crate) struct Inputs {
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
    /// The web redirect URI, exactly as given (Entra compares them as strings).
    pub(crate) redirect_uri: String,
}

/// The flag values that feed the envelope fields.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Flags<'a> {
    /// `--cluster-tenant`.
    pub(crate) cluster_tenant: Option<&'a str>,
    /// `--display-name`.
    pub(crate) display_name: Option<&'a str>,
    /// `--unique-name`.
    pub(crate) unique_name: Option<&'a str>,
    /// `--redirect-uri`.
    pub(crate) redirect_uri: Option<&'a str>,
}

impl Inputs {
    /// Applies the flags to `env` (flags win) and reads and checks every input.
    pub(crate) fn read(env: &mut Envelope, flags: Flags<'_>) -> Result<Self> {
        env.apply_flag(&fields::CLUSTER_TENANT_ID, flags.cluster_tenant);
        env.apply_flag(&fields::APP_DISPLAY_NAME, flags.display_name);
        env.apply_flag(&fields::APP_UNIQUE_NAME, flags.unique_name);
        env.apply_flag(&fields::REDIRECT_URI, flags.redirect_uri);

        let tenant = validate::tenant(
            fields::CLUSTER_TENANT_ID.name,
            &env.require_str(&fields::CLUSTER_TENANT_ID)?,
        )?;
        env.set(fields::CLUSTER_TENANT_ID.name, &tenant);

        let display_name = match env.str(&fields::APP_DISPLAY_NAME)? {
            Some(d) => display_name(d.trim())?,
            None => DEFAULT_DISPLAY_NAME.to_owned(),
        };
        let app_id = env
            .str(&fields::APP_ID)?
            .map(|a| validate::guid(fields::APP_ID.name, &a))
            .transpose()?;
        let key = match (env.str(&fields::APP_UNIQUE_NAME)?, &app_id) {
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
        let secret = env.secret(&fields::CLIENT_SECRET)?;
        let redirect_uri = env.str(&fields::REDIRECT_URI)?.map_or_else(
            || crate::DEFAULT_REDIRECT_URI.to_owned(),
            |r| r.trim().to_owned(),
        );
        validate::redirect_uri(fields::REDIRECT_URI.name, &redirect_uri)?;
        env.set(fields::REDIRECT_URI.name, &redirect_uri);
        Ok(Self {
            tenant,
            display_name,
            rename: flags.display_name.is_some(),
            key,
            app_id,
            key_id,
            secret,
            redirect_uri,
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

    const T: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

    fn read(line: &str, flags: Flags<'_>) -> Result<(Inputs, Envelope)> {
        let mut env = Envelope::parse(line).unwrap();
        Inputs::read(&mut env, flags).map(|i| (i, env))
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
        let (i, env) = read(
            "{}",
            Flags {
                cluster_tenant: Some(T),
                ..Flags::default()
            },
        )
        .unwrap();
        assert_eq!(i.display_name, DEFAULT_DISPLAY_NAME);
        assert_eq!(i.key, AppKey::UniqueName("xtenant-acr-pull".into()));
        assert!(!i.rename);
        assert_eq!(
            env.to_line(),
            format!(r#"{{"cluster_tenant_id":"{T}","redirect_uri":"https://www.microsoft.com"}}"#)
        );

        let line = format!(
            r#"{{"cluster_tenant_id":"{T}","app_display_name":"Old","app_unique_name":"keep-me"}}"#
        );
        let (i, env) = read(
            &line,
            Flags {
                display_name: Some("New Name"),
                ..Flags::default()
            },
        )
        .unwrap();
        assert_eq!(i.display_name, "New Name");
        assert!(i.rename);
        assert_eq!(i.key, AppKey::UniqueName("keep-me".into()));
        assert!(env.to_line().contains(r#""app_display_name":"New Name""#));

        let line = format!(
            r#"{{"cluster_tenant_id":"{}","app_id":"{}"}}"#,
            T.to_uppercase(),
            T.to_uppercase()
        );
        let (i, env) = read(&line, Flags::default()).unwrap();
        assert_eq!(i.key, AppKey::AppId(T.into()));
        assert_eq!(i.tenant, T);
        assert!(
            env.to_line()
                .contains(&format!(r#""cluster_tenant_id":"{T}""#))
        );
    }

    #[test]
    fn bad_inputs_name_their_field() {
        let cases: [(&str, Flags<'_>, &str); 6] = [
            ("{}", Flags::default(), "cluster_tenant_id"),
            (
                "{}",
                Flags {
                    cluster_tenant: Some("not a tenant"),
                    ..Flags::default()
                },
                "cluster_tenant_id",
            ),
            (
                "{}",
                Flags {
                    cluster_tenant: Some(T),
                    display_name: Some("!!!"),
                    ..Flags::default()
                },
                "app_unique_name",
            ),
            (
                "{}",
                Flags {
                    cluster_tenant: Some(T),
                    unique_name: Some("a b"),
                    ..Flags::default()
                },
                "app_unique_name",
            ),
            (
                r#"{"app_id":"nope"}"#,
                Flags {
                    cluster_tenant: Some(T),
                    ..Flags::default()
                },
                "app_id",
            ),
            (
                r#"{"client_secret_key_id":7}"#,
                Flags {
                    cluster_tenant: Some(T),
                    ..Flags::default()
                },
                "client_secret_key_id",
            ),
        ];
        for (line, flags, field) in cases {
            let e = read(line, flags).unwrap_err();
            assert_eq!(
                e.kind(),
                &common::ErrorKind::Input {
                    field: field.into()
                },
                "{line} {flags:?}: {e}"
            );
            assert!(e.message().contains(field), "{e}");
        }
        let e = read(
            "{}",
            Flags {
                cluster_tenant: Some(T),
                display_name: Some("a\nb"),
                ..Flags::default()
            },
        )
        .unwrap_err();
        assert!(e.message().contains("app_display_name"), "{e}");
    }
}
