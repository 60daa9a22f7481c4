//! A container registry as ARM shows it (the recorded `RegistryGet` spec example), read by id
//! or listed by subscription: the one place these requests are built.
//!
//! Lenient to the fields it does not name; strict about those the tools decide on (its id,
//! name, `loginServer`, `roleAssignmentMode`, `provisioningState`): one that does not fit is
//! an `UnexpectedArmAnswer` naming the field.

use serde::Deserialize;
use serde_json::Value;

use crate::arm::ResourceId;
use crate::error::Result;
use crate::http::{Api, ApiVersions};
use crate::json::null_as_default;

/// The ARM type of a registry.
pub const REGISTRY_TYPE: &str = "Microsoft.ContainerRegistry/registries";

/// The registry api-versions: written for the newest stable one (with `roleAssignmentMode`);
/// `loginServer` is in every stable version since 2017-10-01, and a version without
/// `roleAssignmentMode` describes a cloud without ABAC registries: the legacy mode.
pub const REGISTRY_API: ApiVersions = ApiVersions {
    resource_type: REGISTRY_TYPE,
    pinned: "2025-11-01",
    oldest: "2017-10-01",
};

/// What an error calls a registry ARM answered in an unexpected shape.
const REGISTRY_NOUN: &str = "registry";

/// How the registry decides who may pull.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `LegacyRegistryPermissions` (or no `roleAssignmentMode`): registry-wide roles such as AcrPull.
    Legacy,
    /// `AbacRepositoryPermissions`: only repository data actions; AcrPull is ignored.
    Abac,
}

impl Mode {
    /// The `roleAssignmentMode` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Legacy => "LegacyRegistryPermissions",
            Self::Abac => "AbacRepositoryPermissions",
        }
    }
}

/// A registry, as the GET and the listing show it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RegistryResource {
    /// Its ARM id, as ARM spells it.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its properties.
    #[serde(default, deserialize_with = "null_as_default")]
    pub properties: RegistryProperties,
}

/// A registry's `properties`: what the tools read of them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistryProperties {
    /// `myregistry.azurecr.io`.
    pub login_server: Option<String>,
    /// `LegacyRegistryPermissions` or `AbacRepositoryPermissions`; absent in older versions.
    pub role_assignment_mode: Option<String>,
    /// `Succeeded`, …
    pub provisioning_state: Option<String>,
}

impl RegistryResource {
    /// Reads a registry from an ARM body; `what` names it in the error.
    pub fn from_value(v: &Value, what: &str) -> Result<Self> {
        crate::arm::arm_typed(v, &format!("{REGISTRY_NOUN} {what}"))
    }

    /// The mode its `roleAssignmentMode` names; `None` for a value this code does not know
    /// (the caller says so, and treats it as legacy). Older api-versions and registries
    /// omit the property: they are legacy.
    pub fn mode(&self) -> Option<Mode> {
        match self.properties.role_assignment_mode.as_deref() {
            Some(m) if m.eq_ignore_ascii_case(Mode::Abac.as_str()) => Some(Mode::Abac),
            Some(m) if !m.eq_ignore_ascii_case(Mode::Legacy.as_str()) => None,
            _ => Some(Mode::Legacy),
        }
    }
}

/// GETs the registry `id`: `None` when there is none.
pub async fn get_opt(api: &Api<'_>, id: &ResourceId) -> Result<Option<RegistryResource>> {
    crate::arm::get_opt_typed(api, &REGISTRY_API, id, REGISTRY_NOUN).await
}

/// The registries of subscription `sub`; one that does not fit the model is an error.
pub async fn registries_in(api: &Api<'_>, sub: &str) -> Result<Vec<RegistryResource>> {
    crate::arm::list_typed(api, &REGISTRY_API, sub, REGISTRY_NOUN).await
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The 200 body of the recorded `RegistryGet` spec example (source noted in
    /// `common/tests/fixtures/recordings/README.md`).
    fn recorded_get() -> Value {
        let v: Value = serde_json::from_str(include_str!(
            "../../tests/fixtures/recordings/RegistryGet.json"
        ))
        .unwrap();
        v["responses"]["200"]["body"].clone()
    }

    #[test]
    fn reads_the_recorded_registry() {
        let r = RegistryResource::from_value(&recorded_get(), "recorded").unwrap();
        assert_eq!(r.name, "myRegistry");
        assert_eq!(
            r.properties.login_server.as_deref(),
            Some("myRegistry.azurecr.io")
        );
        assert_eq!(
            r.properties.provisioning_state.as_deref(),
            Some("Succeeded")
        );
        assert_eq!(r.mode(), Some(Mode::Legacy));
    }

    #[test]
    fn the_mode_comes_from_the_body() {
        let m = |p: Value| {
            RegistryResource::from_value(&json!({"id": "/r", "name": "r", "properties": p}), "r")
                .unwrap()
                .mode()
        };
        assert_eq!(
            m(json!({"roleAssignmentMode": "AbacRepositoryPermissions"})),
            Some(Mode::Abac)
        );
        assert_eq!(m(json!({})), Some(Mode::Legacy));
        assert_eq!(m(json!({"roleAssignmentMode": null})), Some(Mode::Legacy));
        assert_eq!(m(json!({"roleAssignmentMode": "Other"})), None);
    }

    #[test]
    fn a_field_the_tools_decide_on_that_does_not_fit_is_an_error_naming_it() {
        for (body, field) in [
            (
                json!({"id": "/r", "name": "r", "properties": {"roleAssignmentMode": 1}}),
                "properties.roleAssignmentMode",
            ),
            (
                json!({"id": "/r", "name": "r", "properties": {"loginServer": ["a"]}}),
                "properties.loginServer",
            ),
            (json!({"id": "/r"}), "."),
        ] {
            let e = RegistryResource::from_value(&body, "r").unwrap_err();
            assert_eq!(e.code(), "UnexpectedArmAnswer");
            assert!(
                e.message().contains(&if field == "." {
                    "shape: ".to_owned()
                } else {
                    format!("at `{field}`: ")
                }),
                "{}",
                e.message()
            );
        }
    }
}
