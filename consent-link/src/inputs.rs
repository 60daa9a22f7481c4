//! The step's inputs, from the flags and the envelope, all checked before any request.

use common::envelope::{DEFAULT_REDIRECT_URI, Envelope, fields};
use common::error::Result;
use common::target::{Same, Target};
use common::validate;

use crate::cli::Cli;
use crate::link::Form;

/// Validated inputs of one object.
#[derive(Debug, Clone)]
pub struct Inputs {
    pub(crate) tenant_b: String,
    pub(crate) app_id: String,
    pub(crate) tenant_a: Option<String>,
    pub(crate) redirect_uri: String,
    pub(crate) form: Form,
    pub(crate) open: bool,
    pub(crate) wait: bool,
    pub(crate) create: bool,
    /// The envelope says step 1 made the app (it carries `app_object_id`): while Graph does
    /// not show it yet (read lag), it is waited for rather than reported missing. It can only
    /// make the check wait, boundedly; it changes nothing else.
    pub(crate) app_made_earlier: bool,
    /// Where tenant B and tenant A came from (a flag or the input's field), and
    /// `--same-tenant`: they are compared before anything is sent to tenant B.
    pub(crate) tenants_from: (&'static str, &'static str),
    pub(crate) same_tenant: bool,
}

impl Inputs {
    /// Reads the flags (they win) and `env`, and validates every input; nothing is sent before this.
    pub(crate) fn read(cli: &Cli, env: &Envelope) -> Result<Self> {
        let tenant_b = if cli.create {
            create_in(cli, env)?
        } else {
            // The link and --wait only read: the input's tenant may make them.
            parse_tenant(
                &env.flag_or_require(&fields::REGISTRY_TENANT_ID, cli.registry_tenant.as_deref())?,
            )?
        };
        let app_id = validate::guid_or_placeholder(
            &fields::APP_ID,
            &env.flag_or_require(&fields::APP_ID, cli.app_id.as_deref())?,
            cli.common.dry_run,
        )?;
        let tenant_a =
            match env.flag_or_str(&fields::CLUSTER_TENANT_ID, cli.cluster_tenant.as_deref())? {
                Some(t) => Some(validate::tenant(fields::CLUSTER_TENANT_ID.name, &t)?),
                None => None,
            };
        let redirect_uri = env
            .flag_or_str(&fields::REDIRECT_URI, cli.redirect_uri.as_deref())?
            .map_or_else(|| DEFAULT_REDIRECT_URI.to_owned(), |r| r.trim().to_owned());
        validate::redirect_uri(fields::REDIRECT_URI.name, &redirect_uri).map_err(|e| {
            e.with_hint("pass --redirect-uri with one of the app's web redirect URIs")
        })?;
        Ok(Self {
            tenant_b,
            app_id,
            tenant_a,
            redirect_uri,
            form: cli.form,
            open: cli.open,
            wait: cli.wait,
            create: cli.create,
            app_made_earlier: env.str(&fields::APP_OBJECT_ID)?.is_some(),
            tenants_from: (
                from(cli.registry_tenant.is_some(), &fields::REGISTRY_TENANT_ID),
                from(cli.cluster_tenant.is_some(), &fields::CLUSTER_TENANT_ID),
            ),
            same_tenant: cli.same_tenant,
        })
    }
}

/// How a value was given, for messages: its flag, or its field in the input.
fn from(flag: bool, field: &common::envelope::Field) -> &'static str {
    match field.flag {
        Some(f) if flag => f,
        _ => field.name,
    }
}

/// Tenant B, where `--create` writes: named by `--registry-tenant`, or by the input with
/// `--targets-from-input`.
const TENANT_B: Target = Target {
    field: fields::REGISTRY_TENANT_ID,
    flag: "--registry-tenant TENANT",
    what: "tenant",
    write: "gets the app's service principal (--create)",
    fields: &[
        fields::REGISTRY_TENANT_ID.name,
        fields::CONSENT_URL.name,
        fields::REGISTRY_SP_OBJECT_ID.name,
    ],
};

fn parse_tenant(value: &str) -> Result<String> {
    validate::tenant(fields::REGISTRY_TENANT_ID.name, value)
}

/// The tenant `--create` makes the service principal in (see [`TENANT_B`]).
fn create_in(cli: &Cli, env: &Envelope) -> Result<String> {
    let flag = cli
        .registry_tenant
        .as_deref()
        .filter(|t| !t.trim().is_empty())
        .map(parse_tenant)
        .transpose()?;
    let input = env.str(&fields::REGISTRY_TENANT_ID)?;
    // Which tenant a domain is only Entra knows: an id and a domain are not taken as the same.
    if let (Some(f), Some(i)) = (&flag, &input)
        && validate::is_guid(f) != validate::is_guid(i.trim())
        && parse_tenant(i).is_ok()
    {
        return Err(TENANT_B
            .mismatch(&format!("{f:?}"), &format!("{:?}", i.trim()))
            .with_hint("give --registry-tenant as the input writes it (both tenant ids, or both domains), or remove `registry_tenant_id` from the input (jq 'del(.registry_tenant_id)')"));
    }
    let same = |a: &String, b: &String| if a == b { Same::Yes } else { Same::No };
    Ok(TENANT_B
        .choose(
            flag,
            input.as_deref(),
            cli.targets_from_input,
            parse_tenant,
            same,
        )?
        .target)
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use common::ErrorKind;

    use super::*;

    fn cli(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("consent-link").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn flags_win_and_inputs_are_validated() {
        let c = cli(&[
            "--registry-tenant",
            "Fabrikam.onmicrosoft.com",
            "--app-id",
            "11111111-2222-3333-4444-555555555555",
        ]);
        let env = Envelope::parse(r#"{"app_id":"x","keep":1}"#).unwrap();
        let inp = Inputs::read(&c, &env).unwrap();
        assert_eq!(inp.tenant_b, "fabrikam.onmicrosoft.com");
        assert_eq!(inp.app_id, "11111111-2222-3333-4444-555555555555");
        assert_eq!(inp.redirect_uri, DEFAULT_REDIRECT_URI);
        assert!(inp.tenant_a.is_none());
        let written: Vec<_> = c.fields().into_iter().map(|(f, v)| (f.name, v)).collect();
        assert_eq!(
            written,
            [
                ("registry_tenant_id", "Fabrikam.onmicrosoft.com".to_owned()),
                ("app_id", "11111111-2222-3333-4444-555555555555".to_owned())
            ]
        );

        let bad = |args: &[&str], input: &str, field: &str| {
            let env = Envelope::parse(input).unwrap();
            let e = Inputs::read(&cli(args), &env)
                .err()
                .unwrap_or_else(|| panic!("{args:?} {input} passed"));
            assert_eq!(
                e.kind(),
                &ErrorKind::Input {
                    field: field.into()
                },
                "{e}"
            );
        };
        let ok_app = r#"{"app_id":"11111111-2222-3333-4444-555555555555","registry_tenant_id":"b.example.com"}"#;
        bad(&[], "{}", "registry_tenant_id");
        bad(&["--registry-tenant", "b.example.com"], "{}", "app_id");
        bad(
            &["--registry-tenant", "not a tenant"],
            ok_app,
            "registry_tenant_id",
        );
        bad(&["--app-id", "nope"], ok_app, "app_id");
        bad(&["--cluster-tenant", "a/b"], ok_app, "cluster_tenant_id");
        bad(
            &["--redirect-uri", "http://www.microsoft.com"],
            ok_app,
            "redirect_uri",
        );
        bad(
            &["--redirect-uri", "https://x.example/#frag"],
            ok_app,
            "redirect_uri",
        );
        bad(
            &[],
            r#"{"app_id":"11111111-2222-3333-4444-555555555555","registry_tenant_id":5}"#,
            "registry_tenant_id",
        );
    }

    #[test]
    fn create_writes_only_in_the_tenant_the_person_names() {
        let b = "bbbbbbbb-0000-0000-0000-00000000000b";
        let input = format!(
            r#"{{"app_id":"11111111-2222-3333-4444-555555555555","registry_tenant_id":"{b}"}}"#
        );
        let env = Envelope::parse(&input).unwrap();
        let read = |args: &[&str]| Inputs::read(&cli(args), &env);
        let said = |args: &[&str]| {
            let e = read(args)
                .err()
                .unwrap_or_else(|| panic!("{args:?} passed"));
            assert_eq!(
                e.kind(),
                &ErrorKind::Input {
                    field: "registry_tenant_id".into()
                },
                "{e}"
            );
            e.full_message()
        };
        // The link and --wait read only: the input's tenant makes them, a flag wins.
        assert_eq!(read(&[]).unwrap().tenant_b, b);
        assert_eq!(read(&["--wait"]).unwrap().tenant_b, b);
        assert_eq!(
            read(&["--registry-tenant", "a.example.com"])
                .unwrap()
                .tenant_b,
            "a.example.com"
        );
        // --create: the flag, or the input with --targets-from-input.
        let m = said(&["--create"]);
        assert!(m.contains("--targets-from-input") && m.contains(b), "{m}");
        let upper = b.to_ascii_uppercase();
        assert_eq!(
            read(&["--create", "--registry-tenant", &upper])
                .unwrap()
                .tenant_b,
            b
        );
        assert_eq!(
            read(&["--create", "--targets-from-input"])
                .unwrap()
                .tenant_b,
            b
        );
        for other in ["cccccccc-0000-0000-0000-00000000000c", "b.example.com"] {
            let m = said(&["--create", "--registry-tenant", other]);
            assert!(m.contains("mismatch") && m.contains(other), "{m}");
            let m = said(&[
                "--create",
                "--targets-from-input",
                "--registry-tenant",
                other,
            ]);
            assert!(m.contains("mismatch"), "{m}");
        }
        assert!(said(&["--create", "--registry-tenant", "b.example.com"]).contains("both domains"));
    }
}
