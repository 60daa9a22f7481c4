//! Who may pull from a registry, as ARM shows it: the registry's mode, whether a role
//! definition grants pull in that mode, and the pull roles a principal holds there.
//!
//! Used by `acr-grant` (choosing and revoking the pull role) and by `aks-sp-update --status`
//! (does the app's service principal in tenant B still hold one).

use serde_json::Value;

use crate::arm::{AUTHORIZATION_API, RoleAssignment, list_assignments};
use crate::error::Result;
use crate::http::{Api, ApiVersions};
use crate::json::strings;

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

/// The action a legacy registry checks for a pull.
pub const LEGACY_PULL: &str = "Microsoft.ContainerRegistry/registries/pull/read";
/// The data action an ABAC registry checks for a pull.
pub const ABAC_PULL: &str = "Microsoft.ContainerRegistry/registries/repositories/content/read";

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

    /// The mode a registry's ARM body names; `None` for a value this code does not know
    /// (the caller says so, and treats it as legacy). Older api-versions and registries
    /// omit the property: they are legacy.
    pub fn of(registry: &Value) -> Option<Self> {
        match registry
            .pointer("/properties/roleAssignmentMode")
            .and_then(Value::as_str)
        {
            Some(m) if m.eq_ignore_ascii_case(Self::Abac.as_str()) => Some(Self::Abac),
            Some(m) if !m.eq_ignore_ascii_case(Self::Legacy.as_str()) => None,
            _ => Some(Self::Legacy),
        }
    }
}

/// Whether a role definition's `properties.permissions` grant pull in `mode`; `None` when
/// they are not a list.
pub fn permissions_grant_pull(permissions: &Value, mode: Mode) -> Option<bool> {
    let perms = permissions.as_array()?;
    let list = |p: &Value, key: &str| strings(p.get(key));
    Some(perms.iter().any(|p| {
        match mode {
            // A registry's data plane ignores generic read wildcards such as Reader's `*/read`.
            Mode::Legacy => {
                list(p, "actions")
                    .iter()
                    .any(|a| !a.starts_with("*/") && glob(a, LEGACY_PULL))
                    && !list(p, "notActions").iter().any(|a| glob(a, LEGACY_PULL))
            }
            Mode::Abac => {
                list(p, "dataActions").iter().any(|a| glob(a, ABAC_PULL))
                    && !list(p, "notDataActions").iter().any(|a| glob(a, ABAC_PULL))
            }
        }
    }))
}

/// Case-insensitive match of an Azure permission pattern, where `*` matches any run of characters.
pub fn glob(pattern: &str, action: &str) -> bool {
    fn go(p: &[u8], a: &[u8]) -> bool {
        match p.split_first() {
            None => a.is_empty(),
            Some((b'*', rest)) => (0..=a.len()).any(|i| go(rest, &a[i..])),
            Some((c, rest)) => a
                .split_first()
                .is_some_and(|(d, more)| c.eq_ignore_ascii_case(d) && go(rest, more)),
        }
    }
    go(pattern.as_bytes(), action.as_bytes())
}

/// A role assignment of a principal at (or above) a registry, and whether its role grants
/// pull there (`None`: its definition lists no permissions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// The assignment.
    pub assignment: RoleAssignment,
    /// Whether its role grants pull in the registry's mode.
    pub pulls: Option<bool>,
    /// Its role's `properties.permissions`, as the definition lists them.
    pub permissions: Option<Value>,
}

/// The role assignments `principal` holds at the registry `registry_id` (inherited ones
/// included), each with whether its role lets it pull in the registry's `mode`. Reads
/// only: the assignments, and each role's definition.
pub async fn held_at(
    arm: &Api<'_>,
    registry_id: &str,
    mode: Mode,
    principal: &str,
) -> Result<Vec<Held>> {
    let assignments = list_assignments(arm, registry_id, principal).await?;
    let mut out = Vec::with_capacity(assignments.len());
    for a in assignments {
        let def = arm
            .get(&format!(
                "{}?api-version={AUTHORIZATION_API}",
                a.role_definition_id
            ))
            .await?;
        let permissions = def.pointer("/properties/permissions").cloned();
        let pulls = permissions
            .as_ref()
            .and_then(|p| permissions_grant_pull(p, mode));
        out.push(Held {
            assignment: a,
            pulls,
            permissions,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn def(actions: &[&str], not_actions: &[&str], data: &[&str]) -> Value {
        json!([{"actions":actions,"notActions":not_actions,"dataActions":data,"notDataActions":[]}])
    }

    #[test]
    fn globs() {
        assert!(glob("*", LEGACY_PULL));
        assert!(glob("microsoft.containerregistry/*", LEGACY_PULL));
        assert!(glob(
            "Microsoft.ContainerRegistry/registries/*/read",
            LEGACY_PULL
        ));
        assert!(!glob(
            "Microsoft.ContainerRegistry/registries/push/write",
            LEGACY_PULL
        ));
        assert!(!glob("Microsoft.Network/*", LEGACY_PULL));
    }

    #[test]
    fn which_roles_pull_in_which_mode() {
        let acr_pull = def(&[LEGACY_PULL], &[], &[]);
        let owner = def(&["*"], &[], &[]);
        let reader = def(&["*/read"], &[], &[]);
        let repo_reader = def(
            &[],
            &[],
            &[
                "Microsoft.ContainerRegistry/registries/repositories/metadata/read",
                ABAC_PULL,
            ],
        );
        let no_pull = def(&["*"], &["Microsoft.ContainerRegistry/*"], &[]);
        let g = permissions_grant_pull;
        assert_eq!(g(&acr_pull, Mode::Legacy), Some(true));
        assert_eq!(g(&owner, Mode::Legacy), Some(true));
        assert_eq!(g(&reader, Mode::Legacy), Some(false));
        assert_eq!(g(&no_pull, Mode::Legacy), Some(false));
        assert_eq!(g(&repo_reader, Mode::Legacy), Some(false));
        assert_eq!(g(&acr_pull, Mode::Abac), Some(false));
        assert_eq!(g(&owner, Mode::Abac), Some(false));
        assert_eq!(g(&repo_reader, Mode::Abac), Some(true));
        assert_eq!(g(&json!({}), Mode::Abac), None);
    }

    #[test]
    fn the_mode_comes_from_the_body() {
        let m = |v: Value| Mode::of(&json!({"properties": v}));
        assert_eq!(
            m(json!({"roleAssignmentMode": "AbacRepositoryPermissions"})),
            Some(Mode::Abac)
        );
        assert_eq!(m(json!({})), Some(Mode::Legacy));
        assert_eq!(m(json!({"roleAssignmentMode": "Other"})), None);
    }
}
