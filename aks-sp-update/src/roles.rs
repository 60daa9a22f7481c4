//! Tenant A permissions: what the old service principal may do that the new one may not.
//!
//! The cluster's identity also acts in tenant A (load balancers, routes, disks, a custom
//! VNet's subnet). The old service principal's role assignments in the cluster's
//! subscription (ARM lists those at, above and below the scope) are compared with the new
//! one's; a gap is an assignment of the old whose role the new holds neither at the same
//! scope nor above it.

use common::arm::{RoleAssignment, ensure_listed_role_assignment, list_assignments};
use common::driver::Ctx;
use common::http::Api;
use common::{Error, Result, ui};

use crate::early::{self, Early};
use crate::inputs::Inputs;

/// An assignment the new service principal lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Gap {
    pub role_definition_id: String,
    pub role_name: String,
    pub scope: String,
}

/// Whether a role assignment at `outer` applies at `inner` (the same scope or below it).
pub(crate) fn covers(outer: &str, inner: &str) -> bool {
    let o = outer.trim_end_matches('/').to_ascii_lowercase();
    let i = inner.trim_end_matches('/').to_ascii_lowercase();
    o.is_empty() || i == o || i.strip_prefix(&o).is_some_and(|rest| rest.starts_with('/'))
}

/// The assignments of `old` whose role `new` holds neither at their scope nor above it.
pub(crate) fn gaps<'a>(
    old: &'a [RoleAssignment],
    new: &[RoleAssignment],
) -> Vec<&'a RoleAssignment> {
    let mut out: Vec<&RoleAssignment> = Vec::new();
    for a in old {
        let held = new
            .iter()
            .any(|b| b.role_guid() == a.role_guid() && covers(&b.scope, &a.scope));
        let dup = out
            .iter()
            .any(|g| g.role_guid() == a.role_guid() && g.scope.eq_ignore_ascii_case(&a.scope));
        if !held && !dup {
            out.push(a);
        }
    }
    out
}

/// The role's name, for messages (its GUID when the definition cannot be read); read once per run.
async fn role_name(ctx: &Ctx, arm: &Api<'_>, role_definition_id: &str) -> String {
    match ctx.role_name(arm, role_definition_id).await {
        Ok(Some(name)) => name,
        _ => common::arm::guid_of(role_definition_id),
    }
}

/// What [`compare`] found and did.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    /// Assignments the new service principal lacks (before copying).
    pub gaps: Vec<Gap>,
    /// How many were created for it.
    pub copied: usize,
}

/// Compares the old and new service principals' role assignments in tenant A; lists the
/// gaps on stderr, or with `copy` creates them for the new one.
///
/// The new service principal is the app's in tenant A as Microsoft Graph says, never an
/// object id from the input; roles are copied only at the scopes the old one holds them.
pub(crate) async fn compare(ctx: &Ctx, inputs: &Inputs, old_app: &str) -> Result<Outcome> {
    let (copy, force) = (inputs.copy_role_assignments, inputs.force);
    let graph = ctx.graph(&inputs.tenant);
    let arm = ctx.arm(&inputs.tenant);
    // The two service principals are independent lookups: at once (the old one's is
    // usually known already, looked up before the object arrived).
    let (new_sp, old_sp) = futures::future::join(
        ctx.service_principal_id(&graph, &inputs.app_id),
        ctx.service_principal_id(&graph, old_app),
    )
    .await;
    let Some(new_sp) = new_sp? else {
        let e = Error::step(
            "ServicePrincipalNotInClusterTenant",
            format!(
                "app {} has no service principal in the cluster's tenant {}: the cluster could not sign in as it",
                inputs.app_id, inputs.tenant
            ),
        )
        .with_hint("run entra-app-create, which creates the app's service principal in tenant A");
        if force && !copy {
            ui::warn(&format!("{} (--force: resetting anyway)", e.message()));
            return Ok(Outcome::default());
        }
        return Err(e);
    };
    let scope = format!("/subscriptions/{}", inputs.cluster.subscription);
    let Some(old_sp) = old_sp? else {
        ui::warn(&format!(
            "the cluster's current app {old_app} has no service principal in tenant {}: its role assignments cannot be compared",
            inputs.tenant
        ));
        return Ok(Outcome::default());
    };
    // The two lists are independent reads: at once (the old one's may have been started
    // before the object arrived).
    let early = ctx.state::<Early>();
    let old_key = early::assignments_key(&inputs.tenant, &scope, &old_sp);
    let (old, new) = tokio::join!(
        early
            .assignments
            .take_or(&old_key, || list_assignments(&arm, &scope, &old_sp)),
        list_assignments(&arm, &scope, &new_sp)
    );
    let (old, new) = (old?, new?);
    let missing = gaps(&old, &new);
    let mut out = Outcome::default();
    if missing.is_empty() {
        ui::debug(&format!(
            "the new service principal holds every role the old one holds in subscription {}",
            inputs.cluster.subscription
        ));
        return Ok(out);
    }
    // The roles' names (for messages) are independent reads: at once, and beside the copies,
    // which need only the ids.
    let names = futures::future::join_all(
        missing
            .iter()
            .map(|a| role_name(ctx, &arm, &a.role_definition_id)),
    );
    let copies = async {
        if copy {
            copy_all(&arm, &missing, &new_sp).await
        } else {
            Ok(Vec::new())
        }
    };
    let (names, made) = futures::future::join(names, copies).await;
    let made = made?;
    for (a, role_name) in missing.into_iter().zip(names) {
        out.gaps.push(Gap {
            role_definition_id: a.role_definition_id.clone(),
            role_name,
            scope: a.scope.clone(),
        });
    }
    if !copy {
        for g in &out.gaps {
            ui::warn(&format!(
                "the new service principal lacks {} on {} (the old one has it)",
                g.role_name, g.scope
            ));
        }
        ui::hint(
            "the cluster acts in tenant A as its service principal (load balancers, disks, a custom VNet's subnet): pass --copy-role-assignments to give the new one these roles before the reset",
        );
        return Ok(out);
    }
    for (g, created) in out.gaps.iter().zip(made) {
        if created {
            out.copied += 1;
            ui::info(&format!(
                "gave {} on {} to the new service principal",
                g.role_name, g.scope
            ));
        }
    }
    Ok(out)
}

/// Gives `new_sp` each of `missing` (its assignments were just listed, without these: no
/// GET first); whether each was created.
async fn copy_all(arm: &Api<'_>, missing: &[&RoleAssignment], new_sp: &str) -> Result<Vec<bool>> {
    let mut made = Vec::new();
    for a in missing {
        let role = common::arm::guid_of(&a.role_definition_id);
        let label = format!(
            "giving role {role} on {} to the new service principal",
            a.scope
        );
        let assigned =
            ensure_listed_role_assignment(arm, &a.scope, &a.role_definition_id, new_sp, &label)
                .await
                .map_err(|e| e.context(format!("copying role {role} on {}", a.scope)))?;
        made.push(assigned.created);
    }
    Ok(made)
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
        }
    }

    const SUBNET: &str = "/subscriptions/s/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/v/subnets/a";

    #[test]
    fn scopes_cover_themselves_and_below() {
        assert!(covers(
            "/subscriptions/S",
            "/subscriptions/s/resourceGroups/g"
        ));
        assert!(covers("/subscriptions/s/", "/subscriptions/s"));
        assert!(covers("/", "/subscriptions/s"));
        assert!(!covers("/subscriptions/s", "/subscriptions/s2"));
        assert!(!covers(
            "/subscriptions/s/resourceGroups/g",
            "/subscriptions/s"
        ));
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
