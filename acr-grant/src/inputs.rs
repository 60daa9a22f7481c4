//! The step's inputs, from flags and the envelope, all checked before any request.
//!
//! Length: over 400 lines with its tests (about 230 of code). The registry is `named.rs`.

use common::arm::ResourceId;
use common::client_secret::ClientSecret;
use common::cloud::Cloud;
use common::envelope::{Envelope, fields};
use common::error::{Error, Result};
use common::registry::Image;
use common::validate::{self, shown};

use crate::Cli;
use crate::named::{Named, RegistryRef};

/// The repository a pull token is asked for when no image is given.
pub(crate) use common::registry::PROBE_REPOSITORY as DEFAULT_REPOSITORY;

/// What `--verify` checks with.
#[derive(Debug, Clone)]
pub(crate) struct Check {
    /// The client secret, or the vault secret holding it (read in `act`).
    pub secret: ClientSecret,
    pub image: Option<Image>,
    pub repository: String,
    /// The object's `cluster_tenant_id`: where the app is registered (tenant A), in which the
    /// secret is proven to be its key before the role is assigned. `None`: the home tenant its
    /// service principal in tenant B names.
    pub home_tenant: Option<String>,
    /// The object's `client_secret_key_id`: which of the app's keys the secret is said to be.
    pub key_id: Option<String>,
}

/// What `--verify` checks with: the app's secret (flags win), the image or repository.
/// A dry run verifies nothing, and the secret a dry-run step 1 would mint does not exist:
/// there, no secret is no check.
fn verify_check(
    cli: &Cli,
    env: &Envelope,
    cloud: &Cloud,
    image: Option<Image>,
    repository: String,
) -> Result<Option<Check>> {
    match cli.secret.resolve(env, cli.common.timeout(), cloud)? {
        Some(secret) => Ok(Some(Check {
            secret,
            image,
            repository,
            home_tenant: env
                .str(&fields::CLUSTER_TENANT_ID)?
                .map(|t| validate::tenant(fields::CLUSTER_TENANT_ID.name, &t))
                .transpose()?,
            key_id: env
                .str(&fields::CLIENT_SECRET_KEY_ID)?
                .map(|k| validate::guid(fields::CLIENT_SECRET_KEY_ID.name, &k))
                .transpose()?,
        })),
        None if cli.common.dry_run => Ok(None),
        None => Err(Error::input(
            fields::CLIENT_SECRET.name,
            "--verify needs the app's client secret: pipe in the output of entra-app-create (client_secret or client_secret_ref), or pass --client-secret-file PATH, --client-secret-env VAR or --client-secret-ref URL",
        )),
    }
}

/// The role asked for, and who asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RoleRequest {
    /// The role's name.
    pub name: String,
    /// Given with `--role` (the reader's choice): any role. From the envelope: a pull role only.
    pub from_flag: bool,
}

/// What the input said before the flags, to tell whether an old `pull_verified_at` still holds.
#[derive(Debug, Clone, Default)]
pub(crate) struct Earlier {
    registry_id: Option<String>,
    app_id: Option<String>,
}

impl Earlier {
    /// Whether the input's registry and app were `registry_id` and `app_id`.
    pub(crate) fn same(&self, registry_id: &str, app_id: &str) -> bool {
        self.registry_id
            .as_deref()
            .is_some_and(|r| r.eq_ignore_ascii_case(registry_id))
            && self
                .app_id
                .as_deref()
                .is_some_and(|a| a.eq_ignore_ascii_case(app_id))
    }
}

/// Every input of one object, validated.
#[derive(Debug, Clone)]
pub struct Inputs {
    pub(crate) tenant: String,
    pub(crate) app_id: String,
    pub(crate) registry: RegistryRef,
    pub(crate) subscription: Option<String>,
    /// `None` for auto.
    pub(crate) role: Option<RoleRequest>,
    pub(crate) check: Option<Check>,
    /// The input's `registry_sp_object_id`, to compare with what Graph says.
    pub(crate) known_sp: Option<String>,
    /// The same, when a GUID (lower case): untrusted, it only chooses what is read early
    /// (the role assignment it would have, beside Graph's lookup). The role goes to the
    /// principal Graph names, whatever this says.
    pub(crate) sp_hint: Option<String>,
    /// The input's registry and app.
    pub(crate) earlier: Earlier,
    /// The input's `registry_id` when `--registry` gave a name: the registry found must have this id.
    pub(crate) claimed: Option<ResourceId>,
}

impl Inputs {
    /// Reads the flags (they win) and `env`, and checks every input.
    pub(crate) fn read(cli: &Cli, env: &Envelope, cloud: &Cloud) -> Result<Self> {
        let tenant = validate::tenant(
            fields::REGISTRY_TENANT_ID.name,
            &env.flag_or_require(&fields::REGISTRY_TENANT_ID, cli.registry_tenant.as_deref())?,
        )?;
        let app_id = validate::guid_or_placeholder(
            &fields::APP_ID,
            &env.flag_or_require(&fields::APP_ID, cli.app_id.as_deref())?,
            cli.common.dry_run,
        )?;
        // The input's registry: its role_name was chosen for it.
        let earlier = Earlier {
            registry_id: env.str(&fields::REGISTRY_ID).ok().flatten(),
            app_id: env.str(&fields::APP_ID).ok().flatten(),
        };
        // The registry: --registry; the object's registry_id only with --targets-from-input,
        // and never another than the flag's.
        let Named { registry, claimed } = Named::choose(cli, env)?;
        let subscription = cli
            .registry_subscription
            .as_deref()
            .map(|s| validate::guid("registry_subscription", s))
            .transpose()?;
        if let (RegistryRef::Id(id), Some(sub)) = (&registry, &subscription)
            && !id.subscription.eq_ignore_ascii_case(sub)
        {
            return Err(Error::input(
                "registry_subscription",
                format!(
                    "--registry-subscription {sub} differs from the subscription in the registry id {id}: drop one of them"
                ),
            ));
        }
        let role = match cli.role.as_deref() {
            Some(flag) => role_name(flag)?.map(|name| RoleRequest {
                name,
                from_flag: true,
            }),
            // The input's registry, if it names one, is this one (another is refused above).
            None => env
                .str(&fields::ROLE_NAME)?
                .map(|r| role_name(&r))
                .transpose()?
                .flatten()
                .map(|name| RoleRequest {
                    name,
                    from_flag: false,
                }),
        };
        let known_sp = env
            .str(&fields::REGISTRY_SP_OBJECT_ID)?
            .map(|s| {
                validate::guid_or_placeholder(
                    &fields::REGISTRY_SP_OBJECT_ID,
                    &s,
                    cli.common.dry_run,
                )
            })
            .transpose()?;
        let sp_hint = known_sp
            .as_deref()
            .filter(|s| validate::is_guid(s))
            .map(str::to_ascii_lowercase);
        let image = cli
            .image
            .as_deref()
            .map(|i| Image::parse("image", i, cloud))
            .transpose()?;
        let repository = match (&image, cli.repository.as_deref()) {
            (Some(i), _) => i.repository.clone(),
            (None, Some(r)) => repository(r)?,
            (None, None) => DEFAULT_REPOSITORY.to_owned(),
        };
        let check = if cli.verify {
            verify_check(cli, env, cloud, image, repository)?
        } else {
            None
        };
        Ok(Self {
            tenant,
            app_id,
            registry,
            subscription,
            role,
            check,
            known_sp,
            sp_hint,
            earlier,
            claimed,
        })
    }

    /// Refuses the registry found when the input's `registry_id` names another (see [`Named::confirm`]).
    pub(crate) fn confirm(&self, found_id: &str) -> Result<()> {
        Named::confirm_parts(&self.registry, self.claimed.as_ref(), found_id)
    }
}

/// The role to assign: `None` for auto.
fn role_name(value: &str) -> Result<Option<String>> {
    let v = value.trim();
    if v.eq_ignore_ascii_case("auto") {
        return Ok(None);
    }
    if v.is_empty() || v.len() > 512 || v.chars().any(char::is_control) {
        return Err(Error::input(
            fields::ROLE_NAME.name,
            format!(
                "`role_name` must be auto or a role name such as AcrPull, got {}",
                shown(value)
            ),
        ));
    }
    Ok(Some(v.to_owned()))
}

/// A repository name: lower-case path components of letters, digits and `. _ -`.
fn repository(value: &str) -> Result<String> {
    let ok = !value.is_empty()
        && value.len() <= 256
        && value.split('/').all(|c| {
            !c.is_empty()
                && c != "."
                && c != ".."
                && c.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        });
    if ok {
        Ok(value.to_owned())
    } else {
        Err(Error::input(
            "repository",
            format!(
                "--repository must be a repository name such as samples/hello (lower-case letters, digits, . _ - and /), got {}",
                shown(value)
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::named::registry_ref;
    use clap::Parser;

    const SUB: &str = "00000000-0000-0000-0000-0000000000b1";
    const APP: &str = "11111111-2222-3333-4444-555555555555";

    fn id(name: &str) -> String {
        format!(
            "/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/{name}"
        )
    }

    /// The inputs of `args` on `input`, its registry_id trusted (the rule is tested on its own).
    fn read(args: &[&str], input: &str) -> Result<Inputs> {
        let mut all = vec!["--targets-from-input"];
        all.extend_from_slice(args);
        bare_read(&all, input)
    }

    fn bare_read(args: &[&str], input: &str) -> Result<Inputs> {
        let cli = Cli::try_parse_from(std::iter::once(&"acr-grant").chain(args)).unwrap();
        let env = Envelope::parse(input).unwrap();
        Inputs::read(&cli, &env, &Cloud::azure_public())
    }

    fn role(i: &Inputs) -> Option<&str> {
        i.role.as_ref().map(|r| r.name.as_str())
    }

    fn base() -> String {
        format!(
            r#"{{"registry_tenant_id":"contoso.onmicrosoft.com","app_id":"{APP}","registry_id":"{}"}}"#,
            id("myreg")
        )
    }

    fn field_of(e: &Error) -> String {
        match e.kind() {
            common::ErrorKind::Input { field } => field.clone(),
            other => panic!("not an input error: {other:?} {e}"),
        }
    }

    #[test]
    fn flags_win() {
        let i = read(&["--registry", "MYREG", "--role", "AcrPush"], &base()).unwrap();
        assert_eq!(i.registry, RegistryRef::Name("MYREG".into()));
        assert_eq!(
            i.role,
            Some(RoleRequest {
                name: "AcrPush".into(),
                from_flag: true
            })
        );
        assert_eq!(i.tenant, "contoso.onmicrosoft.com");
        assert!(i.check.is_none());
        let cli = Cli::try_parse_from(["acr-grant", "--registry", "otherreg", "--role", "AcrPush"])
            .unwrap();
        let written: Vec<_> = cli.fields().into_iter().map(|(f, v)| (f.name, v)).collect();
        assert_eq!(
            written,
            [
                ("registry_id", "otherreg".to_owned()),
                ("role_name", "AcrPush".to_owned())
            ]
        );
    }

    #[test]
    fn role_defaults_to_auto_and_follows_the_input() {
        let i = read(&[], &base()).unwrap();
        assert_eq!(i.role, None);
        let with_role = base().replace(
            '}',
            r#","role_name":"Container Registry Repository Reader"}"#,
        );
        let i = read(&[], &with_role).unwrap();
        assert_eq!(role(&i), Some("Container Registry Repository Reader"));
        assert!(
            !i.role.unwrap().from_flag,
            "a role from the envelope must be a pull role"
        );
        assert_eq!(read(&["--role", "AUTO"], &with_role).unwrap().role, None);
        assert_eq!(
            field_of(&read(&["--role", " "], &base()).unwrap_err()),
            "role_name"
        );
    }

    #[test]
    fn the_registry_is_the_one_a_flag_names() {
        let with_role = base().replace('}', r#","role_name":"AcrPull"}"#);
        let on = |args: &[&str]| bare_read(args, &with_role);
        // The input alone names it only with --targets-from-input.
        let e = on(&[]).unwrap_err();
        assert_eq!(field_of(&e), "registry_id");
        assert!(
            e.full_message().contains("--targets-from-input") && e.message().contains("myreg"),
            "{e}"
        );
        assert_eq!(
            on(&["--targets-from-input"]).unwrap().registry,
            registry_ref(&id("myreg")).unwrap()
        );
        // The flag, and the input naming the same registry: its role is kept.
        for (flag, to_confirm) in [("MYREG", true), (&id("MyReg"), false)] {
            let i = on(&["--registry", flag]).unwrap();
            assert_eq!(role(&i), Some("AcrPull"), "{flag}");
            assert_eq!(i.claimed.is_some(), to_confirm, "{flag}");
        }
        let by_name = base().replace(&id("myreg"), "myreg");
        assert!(bare_read(&["--registry", &id("myreg")], &by_name).is_ok());
        // Another registry in the input: a mismatch, with --targets-from-input too.
        for flags in [
            vec!["--registry", "otherreg"],
            vec!["--registry", "/x"],
            vec!["--registry", &id("otherreg")],
            vec!["--registry", "otherreg", "--targets-from-input"],
        ] {
            let Err(e) = on(&flags) else {
                panic!("{flags:?} passed")
            };
            assert_eq!(field_of(&e), "registry_id", "{flags:?}");
        }
        let e = on(&["--registry", &id("otherreg")]).unwrap_err();
        assert!(e.message().contains("--registry names"), "{e}");
        // A name and the input's id: the registry found must have that id.
        let i = on(&["--registry", "myreg"]).unwrap();
        assert_eq!(i.claimed.as_ref().map(ResourceId::id), Some(id("myreg")));
        assert!(i.confirm(&id("MYREG")).is_ok());
        let e = i
            .confirm(&id("myreg").replace("/rg/", "/other/"))
            .unwrap_err();
        assert_eq!(field_of(&e), "registry_id");
        assert!(e.message().contains("/other/"), "{e}");
    }

    #[test]
    fn an_old_verification_holds_only_for_the_same_registry_and_app() {
        let i = read(&[], &base()).unwrap();
        assert!(i.earlier.same(&id("MYREG"), APP));
        assert!(!i.earlier.same(&id("other"), APP));
        assert!(!i.earlier.same(&id("myreg"), "b"));
        assert!(!Earlier::default().same("x", "a"));
    }

    #[test]
    fn every_input_is_checked() {
        let cases: &[(&[&str], &str, &str)] = &[
            (&["--app-id", "nope"], "", "app_id"),
            (&["--registry-tenant", "../x"], "", "registry_tenant_id"),
            (&["--registry", "a?b"], "", "registry_id"),
            (
                &["--registry", "myreg", "--registry-subscription", "123"],
                "",
                "registry_subscription",
            ),
            (
                &[
                    "--registry-subscription",
                    "00000000-0000-0000-0000-0000000000b2",
                ],
                "",
                "registry_subscription",
            ),
            (&["--verify"], "", "client_secret"),
            (
                &["--verify", "--image", "docker.io/library/x:1"],
                r#","client_secret":"s""#,
                "image",
            ),
            (
                &["--verify", "--repository", "Upper"],
                r#","client_secret":"s""#,
                "repository",
            ),
            (
                &[
                    "--verify",
                    "--client-secret-env",
                    "XTENANT_SURELY_UNSET_VAR",
                ],
                "",
                "client_secret",
            ),
            (
                &[],
                r#","registry_sp_object_id":"x""#,
                "registry_sp_object_id",
            ),
        ];
        for (args, extra, field) in cases {
            let input = base().replace('}', &format!("{extra}}}"));
            let e = read(args, &input).unwrap_err();
            assert_eq!(&field_of(&e), field, "{args:?}: {e}");
            assert!(
                e.message().contains(field.trim_end_matches("_id")) || e.message().contains("--"),
                "{e}"
            );
        }
        let e = read(&[], "{}").unwrap_err();
        assert_eq!(field_of(&e), "registry_tenant_id");
        let e = read(&[], r#"{"registry_tenant_id":"contoso.onmicrosoft.com","app_id":"11111111-2222-3333-4444-555555555555"}"#).unwrap_err();
        assert!(e.message().contains("--registry"), "{e}");
    }

    #[test]
    fn verify_takes_the_secret_and_a_repository() {
        let input = base().replace('}', r#","client_secret":"s3cret"}"#);
        let i = read(&["--verify"], &input).unwrap();
        let c = i.check.unwrap();
        assert!(matches!(&c.secret, ClientSecret::Value(s) if s.expose() == "s3cret"));
        assert_eq!(c.repository, DEFAULT_REPOSITORY);
        // A vault secret: the envelope's reference, or --client-secret-ref (which wins);
        // both a value and a reference in the input is refused, naming client_secret_ref.
        let kv = "https://kv1.vault.azure.net/secrets/app/0123456789abcdef0123456789abcdef";
        let with_ref = base().replace('}', &format!(r#","client_secret_ref":"{kv}"}}"#));
        let c = read(&["--verify"], &with_ref).unwrap().check.unwrap();
        assert!(
            matches!(&c.secret, ClientSecret::Vault { secret, from_envelope: true } if secret.to_string() == kv)
        );
        let flag = "https://kv2.vault.azure.net/secrets/app/0123456789abcdef0123456789abcdef";
        let c = read(&["--verify", "--client-secret-ref", flag], &input)
            .unwrap()
            .check
            .unwrap();
        assert!(matches!(
            &c.secret,
            ClientSecret::Vault {
                from_envelope: false,
                ..
            }
        ));
        let both = input.replace('}', &format!(r#","client_secret_ref":"{kv}"}}"#));
        assert_eq!(
            field_of(&read(&["--verify"], &both).unwrap_err()),
            "client_secret_ref"
        );
        let elsewhere = base().replace(
            '}',
            r#","client_secret_ref":"https://kv1.vault.azure.net.evil.example/secrets/app/0123456789abcdef0123456789abcdef"}"#,
        );
        assert_eq!(
            field_of(&read(&["--verify"], &elsewhere).unwrap_err()),
            "client_secret_ref"
        );
        let i = read(
            &["--verify", "--image", "myreg.azurecr.io/samples/hello:1.0"],
            &input,
        )
        .unwrap();
        let c = i.check.unwrap();
        assert_eq!(c.repository, "samples/hello");
        assert_eq!(
            c.image.unwrap().login_server.as_deref(),
            Some("myreg.azurecr.io")
        );
        let i = read(&["--verify", "--repository", "team/app"], &input).unwrap();
        assert_eq!(i.check.unwrap().repository, "team/app");
        assert!(!format!("{:?}", read(&["--verify"], &input).unwrap()).contains("s3cret"));
    }

    #[test]
    fn repositories() {
        assert!(repository("samples/hello-world_1.0").is_ok());
        for bad in ["", "Upper", "a//b", "a/../b", "/a", "a b", "a:b"] {
            assert!(repository(bad).is_err(), "{bad}");
        }
    }
}
