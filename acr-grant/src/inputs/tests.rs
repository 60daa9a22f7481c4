//! The checks of acr-grant's inputs, one refusal at a time.

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
    let cli =
        Cli::try_parse_from(["acr-grant", "--registry", "otherreg", "--role", "AcrPush"]).unwrap();
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
