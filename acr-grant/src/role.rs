//! Choosing the pull role the registry's mode honours, and telling when a chosen role cannot pull.

use common::arm::{self, Permission};
use common::driver::Ctx;
use common::envelope::fields;
use common::error::{Error, Result};
use common::http::Api;
use common::registry::access::{ABAC_PULL, LEGACY_PULL, permissions_grant_pull};
use common::ui;

use crate::inputs::RoleRequest;
use crate::lookup::{Mode, Registry};

/// The pull role of a registry in legacy mode.
pub(crate) const ACR_PULL: &str = "AcrPull";
/// The pull role of a registry in ABAC mode.
pub(crate) const REPOSITORY_READER: &str = "Container Registry Repository Reader";

/// The actions a pull-only role may hold (AcrPull's).
const PULL_ACTIONS: &[&str] = &[LEGACY_PULL];
/// The data actions a pull-only role may hold (Container Registry Repository Reader's).
const PULL_DATA_ACTIONS: &[&str] = &[
    "Microsoft.ContainerRegistry/registries/repositories/metadata/read",
    ABAC_PULL,
];

/// The role to assign.
#[derive(Debug, Clone)]
pub(crate) struct Role {
    /// The role definition id.
    pub id: String,
    /// The role's name, as Azure spells it.
    pub name: String,
    /// Whether it grants pull in the registry's mode (`false` only when known not to).
    pub can_pull: bool,
}

/// The role for `requested` (`None`: auto) on `reg`.
///
/// A role named by the envelope (not by `--role`) must be a pull role: its definition may
/// grant nothing but pull. The file another team hands over must not widen what the reader
/// grants on its own registry.
pub(crate) async fn choose(
    ctx: &Ctx,
    arm: &Api<'_>,
    reg: &Registry,
    requested: Option<&RoleRequest>,
) -> Result<Role> {
    let name = match requested {
        Some(r) => r.name.as_str(),
        None => auto_role(reg),
    };
    let not_found = || {
        Error::step(common::error::codes::ROLE_NOT_FOUND, format!("there is no role named {name:?} at the registry {}", reg.id)).with_hint(
            "give a role name as `az role definition list --query [].roleName` shows it, or --role auto",
        )
    };
    let Some(requested) = requested else {
        // A built-in role has one id per subscription: looked up once per run, not per registry.
        let def = ctx
            .built_in_role(arm, &reg.id, name)
            .await?
            .ok_or_else(not_found)?;
        return Ok(Role {
            id: def.id,
            name: def.role_name,
            can_pull: true,
        });
    };
    let def = arm::find_role(arm, &reg.id, name)
        .await?
        .ok_or_else(not_found)?;
    if !requested.from_flag && !def.permissions.as_deref().is_some_and(pull_only) {
        return Err(Error::input(
            fields::ROLE_NAME.name,
            format!(
                "the input's `role_name` {:?} grants more than pull on a registry: a role from the input may only be a pull role ({ACR_PULL}, {REPOSITORY_READER}, or one whose permissions are pull only); to assign a wider role, pass it with --role on the command line, or remove `role_name` from the input",
                def.role_name
            ),
        ));
    }
    // The listing already holds the definition's permissions: no second read.
    let can_pull = def
        .permissions
        .as_deref()
        .map(|p| permissions_grant_pull(p, reg.mode));
    if can_pull.is_none() {
        ui::debug(&format!(
            "the definition of role {} lists no permissions",
            def.role_name
        ));
    }
    if can_pull == Some(false) {
        ui::warn(&cannot_pull(&def.role_name, reg));
    }
    Ok(Role {
        id: def.id,
        name: def.role_name,
        can_pull: can_pull != Some(false),
    })
}

/// Whether a role definition's `properties.permissions` grant pull and nothing else: every
/// action and data action is one of the pull actions (no wildcard), and there is one.
pub(crate) fn pull_only(permissions: &[Permission]) -> bool {
    let mut any = false;
    for p in permissions {
        for (list, allowed) in [
            (&p.actions, PULL_ACTIONS),
            (&p.data_actions, PULL_DATA_ACTIONS),
        ] {
            for a in list {
                if !allowed.iter().any(|x| x.eq_ignore_ascii_case(a)) {
                    return false;
                }
                any = true;
            }
        }
    }
    any
}

/// The auto choice for the registry's mode.
pub(crate) fn auto_role_name(reg: &Registry) -> &'static str {
    match reg.mode {
        Mode::Legacy => ACR_PULL,
        Mode::Abac => REPOSITORY_READER,
    }
}

/// The auto choice for the registry's mode, with a note when it is not the familiar AcrPull.
fn auto_role(reg: &Registry) -> &'static str {
    match reg.mode {
        Mode::Legacy => ACR_PULL,
        Mode::Abac => {
            ui::info(&format!(
                "registry {} is in ABAC mode (roleAssignmentMode {}), which ignores AcrPull: the role is {REPOSITORY_READER}, on the whole registry",
                reg.name,
                Mode::Abac.as_str()
            ));
            REPOSITORY_READER
        }
    }
}

/// Why `role` will not let the app pull from `reg`.
pub(crate) fn cannot_pull(role: &str, reg: &Registry) -> String {
    match reg.mode {
        Mode::Abac => format!(
            "registry {} is in ABAC mode ({}), which does not honour {role} for pulls: the role is assigned as asked, but the app cannot pull with it (--verify fails); use --role auto ({REPOSITORY_READER})",
            reg.name,
            Mode::Abac.as_str()
        ),
        Mode::Legacy => format!(
            "role {role} has no {LEGACY_PULL} action, so it does not let the app pull from registry {} ({}): the role is assigned as asked, but --verify fails; use --role auto ({ACR_PULL})",
            reg.name,
            Mode::Legacy.as_str()
        ),
    }
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
    fn only_pull_roles_are_pull_only() {
        let acr_pull = def(&[LEGACY_PULL], &[], &[]);
        let repo_reader = def(&[], &[], PULL_DATA_ACTIONS);
        assert!(pull_only(&acr_pull));
        assert!(pull_only(&repo_reader));
        for wider in [
            def(&["*"], &[], &[]),
            def(
                &[
                    LEGACY_PULL,
                    "Microsoft.ContainerRegistry/registries/push/write",
                ],
                &[],
                &[],
            ),
            def(&["Microsoft.ContainerRegistry/registries/*"], &[], &[]),
            def(&[], &[], &["Microsoft.ContainerRegistry/*"]),
            def(&["*/read"], &[], &[]),
            def(&[], &[], &[]),
        ] {
            assert!(!pull_only(&wider), "{wider:?}");
        }
        assert!(!pull_only(&[]));
    }

    #[test]
    fn the_warning_names_the_mode_and_the_fix() {
        let reg = Registry {
            id: "/x".into(),
            name: "abacreg".into(),
            login_server: "abacreg.azurecr.io".into(),
            mode: Mode::Abac,
        };
        let w = cannot_pull("AcrPull", &reg);
        assert!(
            w.contains("ABAC")
                && w.contains("AcrPull")
                && w.contains("--role auto")
                && w.contains(REPOSITORY_READER),
            "{w}"
        );
    }
}
