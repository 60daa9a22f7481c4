//! Finding the registry in tenant B: by id, or by name in one or every visible subscription.

use common::arm::ResourceId;
use common::arm::subscriptions::subscriptions;
use common::error::{Error, Result};
use common::http::Api;
use common::registry::resource::{self, REGISTRY_TYPE, RegistryResource};

use crate::named::RegistryRef;

pub(crate) use common::registry::resource::Mode;

/// A registry as ARM describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Registry {
    /// The canonical ARM id.
    pub id: String,
    pub name: String,
    pub login_server: String,
    pub mode: Mode,
}

impl Registry {
    /// The registry ARM shows: its id canonical, its login server present.
    pub(crate) fn of(r: &RegistryResource) -> Result<Self> {
        let unexpected = |what: &str| {
            Error::step(
                common::error::codes::UNEXPECTED_ARM_ANSWER,
                format!(
                    "Azure Resource Manager described registry {} without {what}",
                    common::validate::shown(&r.id)
                ),
            )
        };
        let id = ResourceId::parse("registry_id", &r.id, REGISTRY_TYPE)
            .map_err(|_| unexpected("a valid id"))?;
        let login_server = r
            .properties
            .login_server
            .as_deref()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| unexpected("properties.loginServer"))?
            .to_ascii_lowercase();
        let mode = r.mode().unwrap_or_else(|| {
            common::ui::warn(&format!(
                "registry {} has an unknown roleAssignmentMode; treating it as {}",
                id.name,
                Mode::Legacy.as_str()
            ));
            Mode::Legacy
        });
        Ok(Self {
            name: id.name.clone(),
            id: id.id(),
            login_server,
            mode,
        })
    }
}

/// Finds the registry named by `r` in the tenant `arm` acts in.
pub(crate) async fn resolve(
    arm: &Api<'_>,
    r: &RegistryRef,
    subscription: Option<&str>,
) -> Result<Registry> {
    match r {
        RegistryRef::Id(id) => {
            let found = resource::get_opt(arm, id)
                .await
                .map_err(|e| tenant_hint(e, arm))?;
            match found {
                Some(r) => Registry::of(&r),
                None => Err(Error::step(
                    common::error::codes::REGISTRY_NOT_FOUND,
                    format!("there is no registry {} in tenant {} (or the caller cannot see it)", id.id(), arm.tenant()),
                )
                .with_hint("check the registry id and --registry-tenant; a registry's id is shown by `az acr show -n NAME --query id`")),
            }
        }
        RegistryRef::Name(name) => {
            let subs = match subscription {
                Some(s) => vec![s.to_owned()],
                None => subscriptions(arm).await?,
            };
            if subs.is_empty() {
                return Err(Error::step(
                    common::error::codes::REGISTRY_NOT_FOUND,
                    format!("the caller sees no subscription in tenant {}, so the registry {name} cannot be found", arm.tenant()),
                )
                .with_hint("pass the registry's full id as --registry, or give the caller a role on the registry's subscription in tenant B"));
            }
            let found = futures::future::join_all(subs.iter().map(|s| registries_in(arm, s))).await;
            let mut matches = Vec::new();
            for listed in found {
                for r in listed? {
                    if r.name.eq_ignore_ascii_case(name) {
                        matches.push(Registry::of(&r)?);
                    }
                }
            }
            matches.dedup_by(|a, b| a.id.eq_ignore_ascii_case(&b.id));
            let where_ = match subscription {
                Some(s) => format!("subscription {s}"),
                None => format!(
                    "the {} subscription(s) the caller sees in tenant {}",
                    subs.len(),
                    arm.tenant()
                ),
            };
            match matches.len() {
                0 => Err(Error::step(common::error::codes::REGISTRY_NOT_FOUND, format!("there is no registry named {name} in {where_}"))
                    .with_hint("check the name and --registry-tenant, or pass the registry's full id as --registry")),
                1 => Ok(matches.remove(0)),
                _ => Err(Error::step(
                    common::error::codes::AMBIGUOUS_REGISTRY_NAME,
                    format!(
                        "{} registries are named {name} in {where_}: {}",
                        matches.len(),
                        matches.iter().map(|m| m.id.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                )
                .with_hint("pass --registry-subscription GUID, or the registry's full id as --registry")),
            }
        }
    }
}

/// The registries of one subscription.
async fn registries_in(arm: &Api<'_>, subscription: &str) -> Result<Vec<RegistryResource>> {
    resource::registries_in(arm, subscription)
        .await
        .map_err(|e| {
            tenant_hint(
                e.context(format!(
                    "listing the registries of subscription {subscription}"
                )),
                arm,
            )
        })
}

/// Adds a hint when the subscription is not in the tenant the token is for.
fn tenant_hint(e: Error, arm: &Api<'_>) -> Error {
    if e.is_code("InvalidAuthenticationTokenTenant") || e.is_code("SubscriptionNotFound") {
        let t = arm.tenant().to_owned();
        e.with_hint(format!(
            "the registry's subscription is not in the registry tenant {t}: check --registry-tenant"
        ))
    } else {
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn read(v: &Value) -> Result<Registry> {
        Registry::of(&RegistryResource::from_value(v, "r")?)
    }

    #[test]
    fn reads_the_recorded_registry() {
        // The recorded `RegistryGet` spec example (compiled in: never skipped; source noted in
        // `common/tests/fixtures/recordings/README.md`).
        let recorded: Value = serde_json::from_str(include_str!(
            "../../common/tests/fixtures/recordings/RegistryGet.json"
        ))
        .unwrap();
        let body = recorded["responses"]["200"]["body"].clone();
        let r = read(&body).unwrap();
        assert_eq!(r.mode, Mode::Legacy);
        assert!(r.login_server.ends_with(".azurecr.io"), "{r:?}");
        assert!(
            r.id.contains("/providers/Microsoft.ContainerRegistry/registries/"),
            "{r:?}"
        );
    }

    #[test]
    fn modes_and_canonical_ids() {
        let v = json!({"id":"/subscriptions/00000000-0000-0000-0000-00000000000B/resourcegroups/RG/providers/microsoft.containerregistry/registries/Abc12","name":"Abc12","properties":{"loginServer":"Abc12.azurecr.io","roleAssignmentMode":"AbacRepositoryPermissions"}});
        let r = read(&v).unwrap();
        assert_eq!(r.mode, Mode::Abac);
        assert_eq!(
            r.id,
            "/subscriptions/00000000-0000-0000-0000-00000000000b/resourceGroups/RG/providers/Microsoft.ContainerRegistry/registries/Abc12"
        );
        assert_eq!(r.login_server, "abc12.azurecr.io");
        let mut missing = v.clone();
        missing["properties"]
            .as_object_mut()
            .unwrap()
            .remove("roleAssignmentMode");
        assert_eq!(read(&missing).unwrap().mode, Mode::Legacy);
        let mut no_server = v;
        no_server["properties"]
            .as_object_mut()
            .unwrap()
            .remove("loginServer");
        assert_eq!(read(&no_server).unwrap_err().code(), "UnexpectedArmAnswer");
    }
}
