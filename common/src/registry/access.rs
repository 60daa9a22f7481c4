//! Who may pull from a registry, as ARM shows it: the registry's mode, whether a role
//! definition grants pull in that mode, and the pull roles a principal holds there.
//!
//! Used by `acr-grant` (choosing and revoking the pull role) and by `aks-sp-update --status`
//! (does the app's service principal in tenant B still hold one).

pub use super::resource::{Mode, REGISTRY_API, REGISTRY_TYPE};

use crate::arm::{Permission, RoleAssignment, list_assignments, role_definition};
use crate::error::{Error, Result, codes};
use crate::http::Api;

/// The action a legacy registry checks for a pull.
pub const LEGACY_PULL: &str = "Microsoft.ContainerRegistry/registries/pull/read";
/// The data action an ABAC registry checks for a pull.
pub const ABAC_PULL: &str = "Microsoft.ContainerRegistry/registries/repositories/content/read";

/// Whether a role definition's `properties.permissions` grant pull in `mode`.
pub fn permissions_grant_pull(permissions: &[Permission], mode: Mode) -> bool {
    permissions.iter().any(|p| {
        match mode {
            // A registry's data plane ignores generic read wildcards such as Reader's `*/read`.
            Mode::Legacy => {
                p.actions
                    .iter()
                    .any(|a| !a.starts_with("*/") && glob(a, LEGACY_PULL))
                    && !p.not_actions.iter().any(|a| glob(a, LEGACY_PULL))
            }
            Mode::Abac => {
                p.data_actions.iter().any(|a| glob(a, ABAC_PULL))
                    && !p.not_data_actions.iter().any(|a| glob(a, ABAC_PULL))
            }
        }
    })
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
    pub permissions: Option<Vec<Permission>>,
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
        let def = role_definition(arm, &a.role_definition_id)
            .await?
            .ok_or_else(|| {
                Error::step(
                    codes::UNEXPECTED_ARM_ANSWER,
                    format!(
                        "role assignment {} names role definition {}, which ARM does not show",
                        a.id, a.role_definition_id
                    ),
                )
            })?;
        let permissions = def.permissions;
        let pulls = permissions
            .as_deref()
            .map(|p| permissions_grant_pull(p, mode));
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

    fn def(actions: &[&str], not_actions: &[&str], data: &[&str]) -> Vec<Permission> {
        serde_json::from_value(
            json!([{"actions":actions,"notActions":not_actions,"dataActions":data,"notDataActions":[]}]),
        )
        .unwrap()
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
        assert!(g(&acr_pull, Mode::Legacy));
        assert!(g(&owner, Mode::Legacy));
        assert!(!g(&reader, Mode::Legacy));
        assert!(!g(&no_pull, Mode::Legacy));
        assert!(!g(&repo_reader, Mode::Legacy));
        assert!(!g(&acr_pull, Mode::Abac));
        assert!(!g(&owner, Mode::Abac));
        assert!(g(&repo_reader, Mode::Abac));
        assert!(!g(&[], Mode::Abac));
    }
}
