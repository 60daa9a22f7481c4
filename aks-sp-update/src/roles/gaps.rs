//! The roles the old service principal holds that the new one lacks, and where each goes:
//! copied, or named in one warning for a person to decide.

use common::arm::RoleAssignment;
use common::ui;

use super::Found;
use super::allowlist::Kind;
use crate::inputs::Inputs;
use crate::scopes::{Allowed, covers};

/// An assignment the new service principal lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Gap {
    pub role_definition_id: String,
    pub role_name: String,
    pub scope: String,
}

/// Why a role the old principal holds is not copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Left {
    /// It may assign roles, or do anything.
    Privileged,
    /// Not a role a cluster's identity needs.
    NotNeeded,
    /// Needed, but not at the cluster's resources or a scope the flags name.
    Elsewhere,
    /// It holds only under an ABAC condition: a copy without the condition grants more.
    Conditional,
}

/// The assignments of `old` whose role `new` holds neither at their scope nor above it.
pub(super) fn gaps<'a>(
    old: &'a [RoleAssignment],
    new: &[RoleAssignment],
) -> Vec<&'a RoleAssignment> {
    let mut out: Vec<&RoleAssignment> = Vec::new();
    for a in old {
        // A conditioned assignment of the new one may not cover what the old one holds.
        let held = new.iter().any(|b| {
            b.condition.is_none() && b.role_guid() == a.role_guid() && covers(&b.scope, &a.scope)
        });
        let dup = out
            .iter()
            .any(|g| g.role_guid() == a.role_guid() && g.scope.eq_ignore_ascii_case(&a.scope));
        if !held && !dup {
            out.push(a);
        }
    }
    out
}

impl Found {
    /// Puts each missing assignment, with its role's name and kind, where it belongs: copied
    /// (a needed role at an allowed scope) or left for a person.
    pub(super) fn sort<'a>(
        &mut self,
        allowed: &Allowed,
        missing: impl Iterator<Item = (&'a RoleAssignment, (String, Kind))>,
    ) {
        for (a, (role_name, kind)) in missing {
            let gap = Gap {
                role_definition_id: a.role_definition_id.clone(),
                role_name,
                scope: a.scope.clone(),
            };
            match kind {
                // The copy would be made without the condition: more than the old one held.
                Kind::Needed if a.condition.is_some() => self.left.push((gap, Left::Conditional)),
                Kind::Needed if allowed.allows(&a.scope) => self.copy.push(gap),
                Kind::Needed => self.left.push((gap, Left::Elsewhere)),
                Kind::Privileged => self.left.push((gap, Left::Privileged)),
                Kind::Other => self.left.push((gap, Left::NotNeeded)),
            }
        }
    }
}

/// The one warning naming what is not copied, for a person to decide.
pub(super) fn warn_left(inputs: &Inputs, left: &[(Gap, Left)]) {
    if left.is_empty() {
        return;
    }
    let items: Vec<String> = left
        .iter()
        .map(|(g, why)| {
            let why = match why {
                Left::Privileged => "privileged: it may assign roles, or do anything",
                Left::NotNeeded => "not a role the cluster's identity needs",
                Left::Elsewhere => "not at the cluster's own resources; name the scope with --copy-role-scope to copy it",
                Left::Conditional => "it holds under an ABAC condition, which a copy would not carry",
            };
            format!("{} on {} ({why})", g.role_name, g.scope)
        })
        .collect();
    ui::warn(&format!(
        "role assignment(s) of the service principal cluster {} runs as are not copied to app {}'s, for a person to decide: {}",
        inputs.cluster.name,
        inputs.app_id,
        items.join(", ")
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ra(scope: &str, role: &str) -> RoleAssignment {
        RoleAssignment {
            id: format!("{scope}/providers/Microsoft.Authorization/roleAssignments/x"),
            scope: scope.into(),
            role_definition_id: format!(
                "/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/{role}"
            ),
            principal_id: "p".into(),
            description: None,
            condition: None,
        }
    }

    const SUBNET: &str = "/subscriptions/s/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/v/subnets/a";

    #[test]
    fn a_conditioned_role_is_left_for_a_person_and_covers_nothing() {
        let mut conditioned = ra(SUBNET, "NC");
        conditioned.condition = Some("@Resource[x] StringEquals 'y'".into());
        let allowed = Allowed {
            own: vec![SUBNET.to_owned()],
            named: Vec::new(),
        };
        let mut found = Found::default();
        let plain = ra(SUBNET, "NC");
        let needed = || ("Network Contributor".to_owned(), Kind::Needed);
        found.sort(
            &allowed,
            [(&conditioned, needed()), (&plain, needed())].into_iter(),
        );
        assert_eq!(found.copy.len(), 1, "{found:?}");
        assert_eq!(found.left.len(), 1);
        assert_eq!(found.left[0].1, Left::Conditional);
        assert_eq!(
            gaps(&[plain], &[conditioned]).len(),
            1,
            "a condition covers nothing"
        );
    }

    #[test]
    fn gaps_are_roles_the_new_one_lacks_there_or_above() {
        let old = vec![
            ra(SUBNET, "NC"),
            ra("/subscriptions/s/resourceGroups/g", "R"),
            ra(SUBNET, "NC"),
        ];
        assert_eq!(gaps(&old, &[]).len(), 2, "duplicates counted once");
        let new = vec![ra("/subscriptions/s/resourceGroups/net", "nc")];
        let g = gaps(&old, &new);
        assert_eq!(g.len(), 1);
        assert_eq!(g[0].role_guid(), "r");
        let other_role = vec![ra(SUBNET, "Reader")];
        assert_eq!(gaps(&old, &other_role).len(), 2);
    }
}
