//! Tenant A permissions: the roles the cluster's identity holds that the app's lacks.
//!
//! The cluster's identity also acts in tenant A (load balancers, routes, disks, a custom
//! VNet's subnet). Before a switch from another app, the role assignments of the service
//! principal ARM shows the cluster running as (`servicePrincipalProfile.clientId`, looked up
//! in tenant A by Microsoft Graph, read live: never a record) are compared with those of
//! the app's service principal. Of those the app's lacks, only the roles a cluster's
//! identity needs ([`allowlist`]) at or below the cluster's own resources or a scope the
//! flags name ([`scopes`]) are copied, each marked for the cluster; every other one (a
//! privileged role, another role, another scope) is named in one warning for a person to
//! decide. Copies made for a switch that does not happen are removed again ([`undo`]).

mod allowlist;
mod gaps;
mod undo;

use common::arm::{ensure_listed_role_assignment, list_assignments};
use common::driver::Ctx;
use common::envelope::{fields, is_placeholder, placeholder};
use common::error::codes;
use common::{Error, Result, ui};

pub(crate) use undo::{Ledger, undo};

use self::allowlist::classify;
use self::undo::{Created, mark, rely};
use crate::early;
use crate::inputs::Inputs;
use crate::scopes::{self, Allowed};
use common::arm::clusters::ManagedCluster;

pub(crate) use gaps::Gap;
use gaps::{Left, gaps, warn_left};

/// What [`apply`] found and did.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    /// The roles to copy the new service principal lacks (before copying).
    pub gaps: Vec<Gap>,
    /// How many were created for it.
    pub copied: usize,
    /// The previous service principal compared with (for the cluster's record).
    pub previous_sp: Option<String>,
}

impl Outcome {
    /// The outcome for the summary line ("" when there was nothing to copy).
    pub(crate) fn summary(&self) -> String {
        // Each copy had its own line ("gave the app …"); what was not given is said here.
        match (self.copied, self.gaps.len()) {
            (0, n) if n > 0 => format!(
                "; {n} role(s) of the old principal not copied (--no-copy-role-assignments)"
            ),
            _ => String::new(),
        }
    }
}

/// What [`read`] found: the principals, what to copy and what is left for a person.
#[derive(Debug, Default)]
pub(crate) struct Found {
    /// The app's service principal in tenant A, as Microsoft Graph names it (none: nothing to compare).
    new_sp: Option<String>,
    /// The previous service principal compared with.
    previous_sp: Option<String>,
    /// The roles the new one lacks and gets.
    copy: Vec<Gap>,
    /// The roles the new one lacks and does not get, and why.
    left: Vec<(Gap, Left)>,
}

/// The reads before a switch of `cluster` from the app `source` (the one ARM shows it
/// running as) to the object's app, all at once: both service principals in tenant A (from
/// Microsoft Graph), their assignments in the subscriptions of the cluster and of the
/// scopes concerned (the old one's found once per run for the early-read window, 30 s at
/// most; the new one's beside the Graph lookup for the object's `cluster_sp_object_id`, and
/// again for Graph's answer when that differs), and the definitions of roles the tool does
/// not know.
///
/// The new service principal is the app's in tenant A as Microsoft Graph says, never an
/// object id from the input.
pub(crate) async fn read(
    ctx: &Ctx,
    inputs: &Inputs,
    cluster: &ManagedCluster,
    source: &str,
) -> Result<Found> {
    let graph = ctx.graph(&inputs.tenant);
    let arm = ctx.arm(&inputs.tenant);
    let allowed = Allowed {
        own: scopes::with_attached(&arm, &scopes::of_cluster(cluster)).await,
        named: inputs.copy_role_scopes.clone(),
    };
    let subs = allowed.subscriptions(&inputs.cluster.subscription);
    let scope = format!("/subscriptions/{}", inputs.cluster.subscription);
    let list_in = |sp: String, lister: bool| {
        let (arm, subs) = (&arm, &subs);
        async move {
            let each = subs.iter().map(|s| {
                let (sp, s) = (sp.clone(), format!("/subscriptions/{s}"));
                async move {
                    if lister {
                        early::previous_assignments(ctx, arm, &s, &sp, inputs.early_read_max_age)
                            .await
                    } else {
                        list_assignments(arm, &s, &sp).await
                    }
                }
            });
            Ok::<_, Error>(futures::future::try_join_all(each).await?.concat())
        }
    };
    // The old app's service principal (once per run: a fleet of clusters usually leaves
    // the same old app) and its assignments.
    let old = async {
        let Some(old_sp) = ctx.service_principal_id(&graph, source).await? else {
            return Ok(None);
        };
        let listed = list_in(old_sp.clone(), true).await?;
        Ok::<_, Error>(Some((old_sp, listed)))
    };
    let guessed = async {
        match &inputs.sp_hint {
            _ if is_placeholder(&inputs.app_id) => None,
            // A guess that fails to list is only a guess: Graph's answer is listed then.
            Some(hint) if subs.len() == 1 => list_assignments(&arm, &scope, hint).await.ok(),
            _ => None,
        }
    };
    // A dry run's planned app has a planned service principal, which holds no role yet.
    let planned = is_placeholder(&inputs.app_id);
    let new_sp = async {
        if planned {
            Ok(Some(placeholder(&fields::CLUSTER_SP_OBJECT_ID)))
        } else {
            ctx.service_principal_id(&graph, &inputs.app_id).await
        }
    };
    let (new_sp, old, guessed) = tokio::join!(new_sp, old, guessed);
    let Some(new_sp) = new_sp? else {
        return no_service_principal(inputs);
    };
    let Some((old_sp, old)) = old? else {
        ui::warn(&format!(
            "the cluster's app {source} has no service principal in tenant {}: its role assignments cannot be compared",
            inputs.tenant
        ));
        return Ok(Found::default());
    };
    if old_sp.eq_ignore_ascii_case(&new_sp) {
        return Ok(Found::default());
    }
    let new = match guessed {
        _ if planned => Vec::new(),
        Some(listed) if inputs.sp_hint.as_deref() == Some(new_sp.to_ascii_lowercase().as_str()) => {
            listed
        }
        _ => list_in(new_sp.clone(), false).await?,
    };
    let missing = gaps(&old, &new);
    let kinds = futures::future::join_all(missing.iter().map(|a| async {
        classify(ctx, &arm, &inputs.cluster.subscription, &a.role_guid()).await
    }))
    .await;
    let mut found = Found {
        new_sp: Some(new_sp),
        previous_sp: Some(old_sp.to_ascii_lowercase()),
        ..Found::default()
    };
    found.sort(&allowed, missing.into_iter().zip(kinds));
    Ok(found)
}

/// The app has no service principal in tenant A: refused (with `--force` and
/// `--no-copy-role-assignments`, a warning and nothing to compare).
fn no_service_principal(inputs: &Inputs) -> Result<Found> {
    let e = Error::step(
        codes::SERVICE_PRINCIPAL_NOT_IN_CLUSTER_TENANT,
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
    Err(e)
}

/// Gives the new service principal the roles [`read`] chose (with
/// `--no-copy-role-assignments`, lists them), each marked for the cluster and noted in
/// `ledger`. Refused copies (`AuthorizationFailed`) end in `RoleCopyNotAllowed`, before the reset.
pub(crate) async fn apply(
    ctx: &Ctx,
    inputs: &Inputs,
    found: Found,
    ledger: &Ledger,
) -> Result<Outcome> {
    let arm = ctx.arm(&inputs.tenant);
    warn_left(inputs, &found.left);
    let mut out = Outcome {
        previous_sp: found.previous_sp.clone(),
        ..Outcome::default()
    };
    let (Some(new_sp), Some(old_sp)) = (
        found.new_sp.filter(|_| !found.copy.is_empty()),
        found.previous_sp,
    ) else {
        if out.previous_sp.is_some() {
            ui::debug(&format!(
                "the new service principal holds every role to copy from the old one in subscription {}",
                inputs.cluster.subscription
            ));
        }
        return Ok(out);
    };
    if !inputs.copy_role_assignments {
        for g in &found.copy {
            ui::warn(&format!(
                "the new service principal lacks {} on {} (the old one has it; --no-copy-role-assignments)",
                g.role_name, g.scope
            ));
        }
        ui::hint(
            "the cluster acts in tenant A as its service principal (load balancers, disks, a custom VNet's subnet): give the new one these roles yourself \
             (az role assignment create); once the cluster runs as the app, aks-sp-update no longer copies them",
        );
        out.gaps = found.copy;
        return Ok(out);
    }
    let (id, dry) = (inputs.cluster.id(), ctx.http().dry_run());
    let description = mark(&id, &old_sp);
    let each = found.copy.iter().map(|g| {
        let (arm, new_sp, description) = (&arm, &new_sp, &description);
        async move {
            let label = format!(
                "giving {} on {} to the new service principal",
                g.role_name, g.scope
            );
            ensure_listed_role_assignment(
                arm,
                &g.scope,
                &g.role_definition_id,
                new_sp,
                &label,
                Some(description),
            )
            .await
        }
    });
    let results = futures::future::join_all(each).await;
    let mut refused = None;
    for (gap, given) in found.copy.into_iter().zip(results) {
        let guid = common::arm::guid_of(&gap.role_definition_id);
        match given {
            Ok(_) if dry => ui::info(&format!(
                "would give the app {} on {} (needs User Access Administrator or Role Based Access Control Administrator there)",
                gap.role_name,
                scopes::short(&gap.scope)
            )),
            Ok(a) => {
                rely(ctx, &new_sp, &gap.scope, &guid, &id);
                if a.created {
                    out.copied += 1;
                    ledger.created(Created {
                        id: a.id,
                        scope: gap.scope.clone(),
                        role_guid: guid,
                        role_name: gap.role_name.clone(),
                    });
                    ui::info(&format!(
                        "gave the app {} on {}",
                        gap.role_name,
                        scopes::short(&gap.scope)
                    ));
                }
            }
            Err(e) if e.is_code("AuthorizationFailed") || e.status() == Some(403) => {
                refused.get_or_insert(Refusal::NotAllowed(e));
            }
            Err(e) => {
                let what = format!("copying {} on {}", gap.role_name, gap.scope);
                refused.get_or_insert(Refusal::Failed(e.context(what)));
            }
        }
        out.gaps.push(gap);
    }
    match refused {
        Some(Refusal::NotAllowed(e)) => Err(not_allowed(inputs, &out, &e)),
        Some(Refusal::Failed(e)) => Err(e),
        None => Ok(out),
    }
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
        format!(" ({} given, removed again)", out.copied)
    } else {
        String::new()
    };
    Error::step(
        codes::ROLE_COPY_NOT_ALLOWED,
        format!(
            "the cluster's new service principal (app {}) lacks role(s) the old one has in tenant A: {}; the identity may not give them ({}){done}; the cluster was not reset",
            inputs.app_id,
            roles.join(", "),
            e.code()
        ),
    )
    .with_hint(
        "give this identity User Access Administrator or Role Based Access Control Administrator where those roles are, and rerun; \
         or give the roles yourself (az role assignment create) and rerun with --no-copy-role-assignments",
    )
}
