//! The registry a grant acts on: how it is named (a name or an ARM id), and that the person
//! named it — `--registry`, or the input's `registry_id` only with `--targets-from-input`,
//! never another than the flag's (see [`common::target`]).

use common::arm::ResourceId;
use common::envelope::{Envelope, fields};
use common::error::{Error, Result};
use common::target::{Same, Target};
use common::validate::{self, shown};

use crate::Cli;

pub(crate) use common::registry::resource::REGISTRY_TYPE;

/// How the registry was named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RegistryRef {
    /// Its full ARM id.
    Id(ResourceId),
    /// Its name, to be found in tenant B's subscriptions.
    Name(String),
}

impl std::fmt::Display for RegistryRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Id(id) => id.fmt(f),
            Self::Name(name) => f.write_str(name),
        }
    }
}

/// The registry of one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Named {
    /// What the grant acts on.
    pub registry: RegistryRef,
    /// The input's `registry_id` when `--registry` gave a name: the registry found must have this id.
    pub claimed: Option<ResourceId>,
}

impl Named {
    /// The registry `--registry` names, checked against the input's `registry_id`; the input's
    /// alone with `--targets-from-input`.
    pub(crate) fn choose(cli: &Cli, env: &Envelope) -> Result<Self> {
        let flag = cli
            .registry
            .as_deref()
            .filter(|v| !v.trim().is_empty())
            .map(registry_ref)
            .transpose()?;
        let chosen = REGISTRY.choose(
            flag,
            env.str(&fields::REGISTRY_ID)?.as_deref(),
            cli.targets_from_input,
            registry_ref,
            same_registry,
        )?;
        Ok(Self {
            registry: chosen.target,
            claimed: match chosen.confirm {
                Some(RegistryRef::Id(id)) => Some(id),
                _ => None,
            },
        })
    }

    /// Refuses the registry found (`found_id`) for `--registry NAME` when the input's
    /// `registry_id` is another registry's id (only Azure knows a name's id); nothing is
    /// written before this.
    pub(crate) fn confirm_parts(
        registry: &RegistryRef,
        claimed: Option<&ResourceId>,
        found_id: &str,
    ) -> Result<()> {
        match (claimed, registry) {
            (Some(claimed), RegistryRef::Name(name))
                if !claimed.id().eq_ignore_ascii_case(found_id) =>
            {
                Err(REGISTRY.mismatch(
                    &format!("{name:?} ({found_id})"),
                    &format!("{:?}", claimed.id()),
                ))
            }
            _ => Ok(()),
        }
    }
}

/// `--registry-subscription`, checked: a GUID, and the subscription of `registry` when that
/// is an id (a name is looked for in it). The grant and `--revoke` read it alike.
pub(crate) fn registry_subscription(cli: &Cli, registry: &RegistryRef) -> Result<Option<String>> {
    let subscription = cli
        .registry_subscription
        .as_deref()
        .map(|s| validate::guid("registry_subscription", s))
        .transpose()?;
    if let (RegistryRef::Id(id), Some(sub)) = (registry, &subscription)
        && !id.subscription.eq_ignore_ascii_case(sub)
    {
        return Err(Error::input(
            "registry_subscription",
            format!(
                "--registry-subscription {sub} differs from the subscription in the registry id {id}: drop one of them"
            ),
        ));
    }
    Ok(subscription)
}

/// A registry name (5 to 50 letters and digits) or a registry's full ARM id.
pub(crate) fn registry_ref(value: &str) -> Result<RegistryRef> {
    let v = value.trim();
    if v.starts_with('/') {
        return ResourceId::parse(fields::REGISTRY_ID.name, v, REGISTRY_TYPE).map(RegistryRef::Id);
    }
    if (5..=50).contains(&v.len()) && v.bytes().all(|c| c.is_ascii_alphanumeric()) {
        return Ok(RegistryRef::Name(v.to_owned()));
    }
    Err(Error::input(
        fields::REGISTRY_ID.name,
        format!(
            "`registry_id` must be a registry name (5 to 50 letters and digits) or a registry's full id (/subscriptions/<guid>/resourceGroups/<group>/providers/{REGISTRY_TYPE}/<name>), got {}",
            shown(value)
        ),
    ))
}

/// The registry, the target of the grant: named by `--registry`, or by the input with
/// `--targets-from-input`.
const REGISTRY: Target = Target {
    field: fields::REGISTRY_ID,
    flag: "--registry NAME|ID",
    what: "registry",
    write: "is granted on",
    fields: &[
        fields::REGISTRY_ID.name,
        fields::REGISTRY_LOGIN_SERVER.name,
        fields::ROLE_NAME.name,
        fields::ROLE_ASSIGNMENT_ID.name,
        fields::REGISTRY_IMAGE.name,
        fields::PULL_VERIFIED_AT.name,
        fields::PULL_PROOF.name,
    ],
};

/// Whether the input's registry `input` is the flag's `flag`. A registry's name is unique in
/// its cloud (it is its login server's), so a name and an id of that name are the same one,
/// except that only Azure knows whether the name's registry has that id: compared once found.
fn same_registry(flag: &RegistryRef, input: &RegistryRef) -> Same {
    let yes = |same: bool| if same { Same::Yes } else { Same::No };
    match (flag, input) {
        (RegistryRef::Id(a), RegistryRef::Id(b)) => yes(a.id().eq_ignore_ascii_case(&b.id())),
        (RegistryRef::Id(a), RegistryRef::Name(b)) => yes(a.name.eq_ignore_ascii_case(b)),
        (RegistryRef::Name(a), RegistryRef::Name(b)) => yes(a.eq_ignore_ascii_case(b)),
        (RegistryRef::Name(a), RegistryRef::Id(b)) if a.eq_ignore_ascii_case(&b.name) => {
            Same::Later
        }
        (RegistryRef::Name(_), RegistryRef::Id(_)) => Same::No,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUB: &str = "00000000-0000-0000-0000-0000000000b1";

    fn id(name: &str) -> String {
        format!(
            "/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/{name}"
        )
    }

    fn field_of(e: &Error) -> String {
        match e.kind() {
            common::ErrorKind::Input { field } => field.clone(),
            other => panic!("not an input error: {other:?} {e}"),
        }
    }

    /// The grant and `--revoke` refuse a `--registry-subscription` other than the registry
    /// id's, naming the flag, before anything is sent (`--revoke` ignored it before).
    #[test]
    fn a_registry_subscription_other_than_the_ids_is_refused_by_grant_and_revoke() {
        use clap::Parser as _;
        let other = "00000000-0000-0000-0000-0000000000b2";
        let app = "11111111-2222-3333-4444-555555555555";
        let input =
            format!(r#"{{"registry_tenant_id":"contoso.onmicrosoft.com","app_id":"{app}"}}"#);
        let env = Envelope::parse(&input).unwrap();
        let reg = id("myreg");
        for revoke in [false, true] {
            let mut args = vec!["acr-grant", "--registry", &reg, "--registry-subscription"];
            args.push(other);
            if revoke {
                args.extend(["--revoke", "--app-id", app]);
            }
            let cli = Cli::try_parse_from(&args).unwrap();
            let e = if revoke {
                crate::revoke::Inputs::read(&cli, &env)
                    .map(drop)
                    .unwrap_err()
            } else {
                crate::inputs::Inputs::read(&cli, &env, &common::cloud::Cloud::azure_public())
                    .map(drop)
                    .unwrap_err()
            };
            assert_eq!(
                field_of(&e),
                "registry_subscription",
                "revoke: {revoke}: {e}"
            );
            assert!(e.to_string().contains("drop one of them"), "{e}");
            // The id's own subscription is accepted.
            let same = Cli::try_parse_from(args.iter().map(|a| if *a == other { SUB } else { a }))
                .unwrap();
            assert_eq!(
                registry_subscription(&same, &registry_ref(&reg).unwrap())
                    .unwrap()
                    .as_deref(),
                Some(SUB)
            );
        }
    }

    #[test]
    fn names_and_ids() {
        assert_eq!(
            registry_ref("myReg01").unwrap(),
            RegistryRef::Name("myReg01".into())
        );
        match registry_ref(&id("MyReg")).unwrap() {
            RegistryRef::Id(r) => assert_eq!(r.name, "MyReg"),
            RegistryRef::Name(_) => panic!("an id"),
        }
        let wrong_provider = id("x").replace(
            "ContainerRegistry/registries",
            "ContainerService/managedClusters",
        );
        let not_guid = id("x").replace(SUB, "not-a-guid");
        for bad in [
            "abcd",
            &"a".repeat(51),
            "my-reg",
            "my_reg",
            "..",
            "a?b",
            "reg/../x",
            "myreg?api-version=1",
            &id(".."),
            &id("a?b"),
            &wrong_provider,
            &not_guid,
            "",
        ] {
            let e = registry_ref(bad).unwrap_err();
            assert_eq!(field_of(&e), "registry_id", "{bad}");
        }
    }
}
