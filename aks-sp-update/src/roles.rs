//! Tenant A permissions: what the old service principal may do that the new one may not.
//!
//! The cluster's identity also acts in tenant A (load balancers, routes, disks, a custom
//! VNet's subnet). The old service principal's role assignments in the cluster's
//! subscription (ARM lists those at, above and below the scope) are compared with the new
//! one's; a gap is an assignment of the old whose role the new holds neither at the same
//! scope nor above it.

use common::arm::{RoleAssignment, ensure_listed_role_assignment, list_assignments};
use common::driver::Ctx;
use common::error::codes;
use common::http::Api;
use common::{Error, Result, ui};

use crate::early;
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
    /// The previous service principal compared with (for the cluster's record).
    pub previous_sp: Option<String>,
}

impl Outcome {
    /// The outcome for the summary line ("" when there was nothing to copy).
    pub(crate) fn summary(&self) -> String {
        match (self.copied, self.gaps.len()) {
            (0, 0) => String::new(),
            (0, n) => format!(
                "; {n} role assignment(s) of the old service principal not copied (--no-copy-role-assignments)"
            ),
            (c, _) => format!("; {c} role assignment(s) copied to the new service principal"),
        }
    }
}

/// The service principal the cluster ran as before the app: the one it shows now, or the
/// one its record names once it runs as the app.
#[derive(Debug, Clone, Default)]
pub(crate) struct Previous {
    /// Its app id.
    pub app_id: Option<String>,
    /// Its object id in tenant A, as the record keeps it (used when the app id finds none).
    pub sp_object_id: Option<String>,
}

/// What [`read`] found: the principals, and the old one's assignments the new one lacks.
#[derive(Debug, Default)]
pub(crate) struct Found {
    /// The app's service principal in tenant A, as Microsoft Graph names it (none: nothing to compare).
    new_sp: Option<String>,
    /// The previous service principal compared with.
    previous_sp: Option<String>,
    /// The assignments the new one lacks.
    missing: Vec<RoleAssignment>,
}

impl Found {
    /// The previous service principal compared with (for the cluster's record).
    pub(crate) fn previous_sp(&self) -> Option<String> {
        self.previous_sp.clone()
    }
}

/// Compares the previous and new service principals' role assignments in tenant A; gives
/// the new one those it lacks (unless `--no-copy-role-assignments`: then lists them).
pub(crate) async fn compare(ctx: &Ctx, inputs: &Inputs, previous: &Previous) -> Result<Outcome> {
    let found = read(ctx, inputs, previous).await?;
    apply(ctx, inputs, found).await
}

/// The reads of [`compare`], all at once: the app's service principal in tenant A (from
/// Microsoft Graph), the previous one's assignments (found once per run, often before the
/// object arrived), and the new one's — listed beside the Graph lookup for the object's
/// `cluster_sp_object_id`, and again for Graph's answer when that differs.
///
/// The new service principal is the app's in tenant A as Microsoft Graph says, never an
/// object id from the input; roles are copied only at the scopes the old one holds them.
pub(crate) async fn read(ctx: &Ctx, inputs: &Inputs, previous: &Previous) -> Result<Found> {
    let graph = ctx.graph(&inputs.tenant);
    let arm = ctx.arm(&inputs.tenant);
    let scope = format!("/subscriptions/{}", inputs.cluster.subscription);
    // The old app's service principal (once per run: a fleet of clusters usually leaves the
    // same old app), the record's object id when the app has none any more; its assignments.
    let old = async {
        let looked_up = match &previous.app_id {
            Some(app) => ctx.service_principal_id(&graph, app).await?,
            None => None,
        };
        let Some(old_sp) = looked_up.or_else(|| previous.sp_object_id.clone()) else {
            return Ok(None);
        };
        let listed = early::previous_assignments(ctx, &arm, &scope, &old_sp).await?;
        Ok::<_, Error>(Some((old_sp, listed)))
    };
    let guessed = async {
        match &inputs.sp_hint {
            // A guess that fails to list is only a guess: Graph's answer is listed then.
            Some(hint) => list_assignments(&arm, &scope, hint).await.ok(),
            None => None,
        }
    };
    let (new_sp, old, guessed) = tokio::join!(
        ctx.service_principal_id(&graph, &inputs.app_id),
        old,
        guessed
    );
    let Some(new_sp) = new_sp? else {
        let e = Error::step(
            "ServicePrincipalNotInClusterTenant",
            format!(
                "app {} has no service principal in the cluster's tenant {}: the cluster could not sign in as it",
                inputs.app_id, inputs.tenant
            ),
        )
        .with_hint("run entra-app-create, which creates the app's service principal in tenant A");
        if inputs.force && !inputs.copy_role_assignments {
            ui::warn(&format!("{} (--force: resetting anyway)", e.message()));
            return Ok(Found::default());
        }
        return Err(e);
    };
    let Some((old_sp, old)) = old? else {
        if let Some(app) = &previous.app_id {
            ui::warn(&format!(
                "the cluster's previous app {app} has no service principal in tenant {}: its role assignments cannot be compared",
                inputs.tenant
            ));
        }
        return Ok(Found::default());
    };
    if old_sp.eq_ignore_ascii_case(&new_sp) {
        return Ok(Found::default());
    }
    let new = match guessed {
        Some(listed) if inputs.sp_hint.as_deref() == Some(new_sp.to_ascii_lowercase().as_str()) => {
            listed
        }
        _ => list_assignments(&arm, &scope, &new_sp).await?,
    };
    let missing = gaps(&old, &new).into_iter().cloned().collect();
    Ok(Found {
        new_sp: Some(new_sp),
        previous_sp: Some(old_sp.to_ascii_lowercase()),
        missing,
    })
}

/// Gives the new service principal the roles [`read`] found it lacks (with
/// `--no-copy-role-assignments`, lists them). The roles' names are read beside the copies.
/// Refused copies (`AuthorizationFailed`) end in `RoleCopyNotAllowed`, before the reset.
pub(crate) async fn apply(ctx: &Ctx, inputs: &Inputs, found: Found) -> Result<Outcome> {
    let arm = ctx.arm(&inputs.tenant);
    let mut out = Outcome {
        previous_sp: found.previous_sp,
        ..Outcome::default()
    };
    let Some(new_sp) = found.new_sp.filter(|_| !found.missing.is_empty()) else {
        if out.previous_sp.is_some() {
            ui::debug(&format!(
                "the new service principal holds every role the old one holds in subscription {}",
                inputs.cluster.subscription
            ));
        }
        return Ok(out);
    };
    let copy = inputs.copy_role_assignments;
    // Each missing role: its name (for messages) and, unless told not to, its copy: at once.
    let each = found.missing.iter().map(|a| {
        let (arm, new_sp) = (&arm, &new_sp);
        async move {
            let guid = common::arm::guid_of(&a.role_definition_id);
            let label = format!(
                "giving role {guid} on {} to the new service principal",
                a.scope
            );
            let give = async {
                if copy {
                    Some(
                        ensure_listed_role_assignment(
                            arm,
                            &a.scope,
                            &a.role_definition_id,
                            new_sp,
                            &label,
                        )
                        .await,
                    )
                } else {
                    None
                }
            };
            let (name, given) = tokio::join!(role_name(ctx, arm, &a.role_definition_id), give);
            (
                Gap {
                    role_definition_id: a.role_definition_id.clone(),
                    role_name: name,
                    scope: a.scope.clone(),
                },
                given,
            )
        }
    });
    let results = futures::future::join_all(each).await;
    let mut refused = None;
    for (gap, given) in results {
        match given {
            Some(Ok(a)) if a.created => {
                out.copied += 1;
                ui::info(&format!(
                    "gave {} on {} to the new service principal",
                    gap.role_name, gap.scope
                ));
            }
            Some(Ok(_)) | None => {}
            Some(Err(e)) if e.is_code("AuthorizationFailed") || e.status() == Some(403) => {
                refused.get_or_insert(Refusal::NotAllowed(e));
            }
            Some(Err(e)) => {
                let what = format!("copying {} on {}", gap.role_name, gap.scope);
                refused.get_or_insert(Refusal::Failed(e.context(what)));
            }
        }
        out.gaps.push(gap);
    }
    match refused {
        Some(Refusal::NotAllowed(e)) => return Err(not_allowed(inputs, &out, &e)),
        Some(Refusal::Failed(e)) => return Err(e),
        None => {}
    }
    if !copy {
        for g in &out.gaps {
            ui::warn(&format!(
                "the new service principal lacks {} on {} (the old one has it; --no-copy-role-assignments)",
                g.role_name, g.scope
            ));
        }
        ui::hint(
            "the cluster acts in tenant A as its service principal (load balancers, disks, a custom VNet's subnet): rerun without --no-copy-role-assignments to give the new one these roles",
        );
    }
    Ok(out)
}

/// Why a copy did not happen.
enum Refusal {
    /// Azure refused the identity the write (403).
    NotAllowed(Error),
    /// Anything else.
    Failed(Error),
}

/// `RoleCopyNotAllowed`: the roles the new service principal lacks, and both ways forward.
fn not_allowed(inputs: &Inputs, out: &Outcome, e: &Error) -> Error {
    let roles: Vec<String> = out
        .gaps
        .iter()
        .map(|g| format!("{} on {}", g.role_name, g.scope))
        .collect();
    let done = if out.copied > 0 {
        format!(" ({} already given)", out.copied)
    } else {
        String::new()
    };
    Error::step(
        codes::ROLE_COPY_NOT_ALLOWED.name,
        format!(
            "the cluster's new service principal (app {}) lacks role(s) the old one has in tenant A: {}; the identity may not give them ({}){done}; the cluster was not reset",
            inputs.app_id,
            roles.join(", "),
            e.code()
        ),
    )
    .with_hint(
        "give this identity User Access Administrator (or Owner) where those roles are, and rerun; \
         or give the roles yourself (az role assignment create) and rerun with --no-copy-role-assignments",
    )
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
