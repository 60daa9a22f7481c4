//! Roles copied for a switch that did not happen are removed again.
//!
//! A copy is made only for the reset that follows it. When that reset does not happen — AKS
//! answers an error to the POST, the operation ends Failed or Canceled, the cluster
//! afterwards does not run as the app, or the run stops before the reset (a refused check,
//! a refused copy) — what the copy made is removed. A crash between the copy and the reset
//! leaves its assignments behind; each copy is marked (its `description` names the
//! cluster), and a later run for that cluster that does not go on to reset removes them.
//!
//! The mark is a claim (anyone who may write role assignments may write it), so it may only
//! ever cause a removal, and only of an assignment that no cluster needs:
//! 1. of the app's own service principal in tenant A (Microsoft Graph's answer for
//!    `app_id`);
//! 2. of a role on the allowlist, at or below this cluster's own resources or a
//!    `--copy-role-scope` of this run (what this step could have made for this cluster);
//! 3. while this cluster, read afresh, does not run as the app and no operation runs on it;
//! 4. when no other cluster in the subscriptions concerned that runs as the app (or is
//!    being changed) has a resource at, above or below its scope — and when those clusters
//!    cannot be listed, nothing is removed;
//! 5. and no other object of this run relies on it.
//!
//! Everything else is left in place and named in one warning. A run whose reset may still
//! happen (its answer lost, its operation still running, `--timeout`, an interrupt) removes
//! nothing: its rerun resumes or decides.

use std::sync::Mutex;

use common::arm::{AUTHORIZATION_API, RoleAssignment, clusters, list_assignments};
use common::driver::Ctx;
use common::error::codes;
use common::validate::is_guid;
use common::{Error, Result, ui};
use reqwest::Method;

use super::allowlist;
use crate::cluster;
use crate::inputs::Inputs;
use crate::scopes::{self, Allowed, overlap};

/// The start of every copy's mark.
const MARK: &str = "xtenant aks-sp-update: copied for the switch of cluster";

/// The `description` of an assignment copied for the switch of `cluster_id`.
pub(crate) fn mark(cluster_id: &str, from_sp: &str) -> String {
    format!(
        "{MARK} {} from service principal {from_sp}; removed again if the switch does not happen",
        cluster_id.to_ascii_lowercase()
    )
}

/// Whether `description` is a copy's mark for `cluster_id`.
fn marks(description: Option<&str>, cluster_id: &str) -> bool {
    let start = format!("{MARK} {} ", cluster_id.to_ascii_lowercase()).to_ascii_lowercase();
    description.is_some_and(|d| d.to_ascii_lowercase().starts_with(&start))
}

/// An assignment this run created (its PUT answered 201 after a list without it).
#[derive(Debug, Clone)]
pub(crate) struct Created {
    /// Its ARM id.
    pub id: String,
    /// Its scope.
    pub scope: String,
    /// Its role's GUID.
    pub role_guid: String,
    /// Its role's name.
    pub role_name: String,
}

/// What one object's copy did, for [`undo`].
#[derive(Debug, Default)]
pub(crate) struct Ledger(Mutex<(bool, Vec<Created>)>);

impl Ledger {
    /// The object is switching the cluster from another app: a failure looks for copies.
    pub(crate) fn switching(&self) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .0 = true;
    }

    /// Notes an assignment this run created.
    pub(crate) fn created(&self, c: Created) {
        let mut g = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        g.1.push(c);
    }

    fn take(&self) -> (bool, Vec<Created>) {
        let mut g = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        (g.0, std::mem::take(&mut g.1))
    }
}

/// The run's copies other objects rely on: (principal, scope, role GUID, cluster), lower case.
#[derive(Default)]
struct InUse(Mutex<Vec<[String; 4]>>);

/// Notes that the object for `cluster_id` relies on `principal` holding `role_guid` at `scope`.
pub(crate) fn rely(ctx: &Ctx, principal: &str, scope: &str, role_guid: &str, cluster_id: &str) {
    let key = [principal, scope, role_guid, cluster_id].map(str::to_ascii_lowercase);
    let state = ctx.state::<InUse>();
    let mut v = state
        .0
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !v.contains(&key) {
        v.push(key);
    }
}

/// Another cluster of this run relying on the assignment, if any; this cluster's notes go.
fn relied_on(ctx: &Ctx, principal: &str, a: &Created, cluster_id: &str) -> Option<String> {
    let state = ctx.state::<InUse>();
    let mut v = state
        .0
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let this = cluster_id.to_ascii_lowercase();
    let same = |k: &[String; 4]| {
        k[0].eq_ignore_ascii_case(principal)
            && k[1].eq_ignore_ascii_case(&a.scope)
            && k[2].eq_ignore_ascii_case(&a.role_guid)
    };
    v.retain(|k| !(same(k) && k[3] == this));
    v.iter().find(|k| same(k)).map(|k| k[3].clone())
}

/// Whether the reset a failure ended may still happen (then nothing is removed).
fn may_still_apply(e: &Error) -> bool {
    e.is_outcome_unknown()
        || e.is_timeout()
        || e.is_interrupted()
        || e.is(codes::OPERATION_STILL_RUNNING)
}

/// After a failed object: removes the copies made for a switch that did not happen (this
/// run's and, from their marks, an earlier run's), under the rules of this module. Never
/// fails: what it cannot remove is named in a warning.
pub(crate) async fn undo(ctx: &Ctx, inputs: &Inputs, ledger: &Ledger, why: &Error) {
    let (switching, created) = ledger.take();
    if ctx.http().dry_run() || may_still_apply(why) || (!switching && created.is_empty()) {
        return;
    }
    if let Err(e) = cleanup(ctx, inputs, created.clone()).await {
        if created.is_empty() {
            ui::debug(&format!(
                "looking for role copies to remove: {}",
                e.message()
            ));
        } else {
            ui::warn(&format!(
                "the role assignment(s) copied for the switch could not be removed ({}): {}; a rerun that does not reset removes them",
                e.message(),
                listed(&created)
            ));
        }
    }
}

fn listed(items: &[Created]) -> String {
    items
        .iter()
        .map(|c| format!("{} on {}", c.role_name, c.scope))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A candidate's fate.
enum Fate {
    Remove,
    Keep(String),
}

async fn cleanup(ctx: &Ctx, inputs: &Inputs, created: Vec<Created>) -> Result<()> {
    if !is_guid(&inputs.app_id) {
        return Ok(());
    }
    let (arm, graph) = (ctx.arm(&inputs.tenant), ctx.graph(&inputs.tenant));
    let (sp, now) = tokio::join!(
        ctx.service_principal_id(&graph, &inputs.app_id),
        cluster::get(&arm, &inputs.cluster)
    );
    let (Some(sp), now) = (sp?, now?) else {
        return Ok(());
    };
    let name = &inputs.cluster.name;
    if now.uses(&inputs.app_id) {
        ui::debug(&format!(
            "cluster {name} runs as app {}: the roles copied for it stay",
            inputs.app_id
        ));
        return Ok(());
    }
    if now.in_progress() {
        if !created.is_empty() {
            ui::warn(&format!(
                "an operation runs on cluster {name} ({}): the role assignment(s) copied for its switch stay for now: {}; a rerun that does not reset removes them",
                now.provisioning_state(),
                listed(&created)
            ));
        }
        return Ok(());
    }
    let allowed = Allowed {
        own: scopes::with_attached(&arm, &scopes::of_cluster(&now)).await,
        named: inputs.copy_role_scopes.clone(),
    };
    let id = inputs.cluster.id();
    let subs = allowed.subscriptions(&inputs.cluster.subscription);
    let candidates = with_marked(created, list_all(&arm, &subs, &sp).await?, &sp, &id);
    if candidates.is_empty() {
        return Ok(());
    }
    let users = users_of_the_app(&arm, inputs, &candidates, &id).await;
    let mut fates = Vec::new();
    for c in candidates {
        let fate = if !allowlist::needed(&c.role_guid) || !allowed.allows(&c.scope) {
            Fate::Keep(format!(
                "not a role and scope a copy for cluster {name} makes"
            ))
        } else if let Err(why) = &users {
            Fate::Keep(format!(
                "which clusters run as the app could not be read: {why}"
            ))
        } else if let Some(other) = users.as_ref().ok().and_then(|u| {
            u.iter()
                .find(|(_, scopes)| scopes.iter().any(|s| overlap(s, &c.scope)))
                .map(|(n, _)| n.clone())
        }) {
            Fate::Keep(format!(
                "cluster {other} runs as the app (or is being changed) and uses it"
            ))
        } else if let Some(other) = relied_on(ctx, &sp, &c, &id) {
            Fate::Keep(format!("this run's switch of {other} relies on it"))
        } else {
            Fate::Remove
        };
        fates.push((c, fate));
    }
    settle(&arm, inputs, fates).await;
    Ok(())
}

/// This run's copies and the assignments of `sp` among `listed` marked for `cluster_id`.
fn with_marked(
    mut candidates: Vec<Created>,
    listed: Vec<RoleAssignment>,
    sp: &str,
    cluster_id: &str,
) -> Vec<Created> {
    for a in listed {
        if a.principal_id.eq_ignore_ascii_case(sp)
            && marks(a.description.as_deref(), cluster_id)
            && !candidates.iter().any(|c| c.id.eq_ignore_ascii_case(&a.id))
        {
            let role_guid = a.role_guid();
            let role_name = allowlist::known(&role_guid)
                .map_or_else(|| role_guid.clone(), |k| k.name.to_owned());
            candidates.push(Created {
                id: a.id,
                scope: a.scope,
                role_guid,
                role_name,
            });
        }
    }
    candidates
}

/// Removes what is to be removed, and says what was removed and what is left, and why.
async fn settle(arm: &common::http::Api<'_>, inputs: &Inputs, fates: Vec<(Created, Fate)>) {
    let name = &inputs.cluster.name;
    let mut removed = Vec::new();
    let mut kept: Vec<String> = Vec::new();
    for (c, fate) in fates {
        match fate {
            Fate::Keep(why) => kept.push(format!("{} on {} ({why})", c.role_name, c.scope)),
            Fate::Remove => match delete(arm, &c.id).await {
                Ok(()) => removed.push(c),
                Err(e) => kept.push(format!(
                    "{} on {} (its removal failed: {e})",
                    c.role_name, c.scope
                )),
            },
        }
    }
    if !removed.is_empty() {
        ui::info(&format!(
            "removed {} role assignment(s) copied for the switch of cluster {name} to app {}, which did not happen: {}",
            removed.len(),
            inputs.app_id,
            listed(&removed)
        ));
    }
    if !kept.is_empty() {
        ui::warn(&format!(
            "role assignment(s) of app {}'s service principal marked as copied for cluster {name} are left in place, for a person to decide: {}",
            inputs.app_id,
            kept.join(", ")
        ));
    }
}

/// `principal`'s role assignments listed in each subscription, once each.
async fn list_all(
    arm: &common::http::Api<'_>,
    subs: &[String],
    principal: &str,
) -> Result<Vec<RoleAssignment>> {
    let lists = futures::future::try_join_all(subs.iter().map(|s| async move {
        list_assignments(arm, &format!("/subscriptions/{s}"), principal).await
    }))
    .await?;
    let mut out: Vec<RoleAssignment> = Vec::new();
    for a in lists.into_iter().flatten() {
        if !out.iter().any(|o| o.id.eq_ignore_ascii_case(&a.id)) {
            out.push(a);
        }
    }
    Ok(out)
}

/// The other clusters, in the subscriptions of the candidates and the cluster, that run as
/// the app or are being changed: each one's name and own resources.
async fn users_of_the_app(
    arm: &common::http::Api<'_>,
    inputs: &Inputs,
    candidates: &[Created],
    this: &str,
) -> std::result::Result<Vec<(String, Vec<String>)>, String> {
    let mut subs = vec![inputs.cluster.subscription.to_ascii_lowercase()];
    for c in candidates {
        if let Some(s) = scopes::subscription_of(&c.scope).map(str::to_ascii_lowercase)
            && !subs.contains(&s)
        {
            subs.push(s);
        }
    }
    let mut out = Vec::new();
    for s in subs {
        let listed = clusters::clusters_in(arm, &s)
            .await
            .map_err(|e| e.message().to_owned())?;
        for c in listed {
            if c.id.eq_ignore_ascii_case(this) {
                continue;
            }
            if c.uses(&inputs.app_id) || c.in_progress() {
                let name = if c.name.is_empty() { &c.id } else { &c.name };
                out.push((name.clone(), scopes::of_cluster(&c)));
            }
        }
    }
    Ok(out)
}

/// DELETEs a role assignment (gone already: done); why not, for the warning.
async fn delete(arm: &common::http::Api<'_>, id: &str) -> std::result::Result<(), String> {
    if !scopes::well_formed(id) {
        return Err(format!(
            "not a role assignment id: {}",
            common::validate::shown(id)
        ));
    }
    let url = arm
        .url(&format!("{id}?api-version={AUTHORIZATION_API}"))
        .map_err(|e| e.message().to_owned())?;
    arm.write(arm.request(Method::DELETE, url).accept(&[404]))
        .await
        .map(|_| ())
        .map_err(|e| e.message().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use common::error::ErrorKind;

    #[test]
    fn a_mark_names_one_cluster() {
        let id = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/aks";
        let m = mark(id, "sp");
        assert!(marks(Some(&m), id));
        assert!(marks(Some(&m.to_ascii_uppercase()), id));
        assert!(!marks(Some(&m), &format!("{id}2")));
        assert!(!marks(Some(&mark(&format!("{id}2"), "sp")), id));
        assert!(!marks(None, id));
        assert!(!marks(Some("copied for the switch"), id));
    }

    #[test]
    fn a_reset_that_may_still_happen_removes_nothing() {
        assert!(may_still_apply(&Error::timeout("t")));
        assert!(may_still_apply(
            &Error::step(codes::OPERATION_FAILED, "x").outcome_unknown()
        ));
        assert!(may_still_apply(&Error::step(
            codes::OPERATION_STILL_RUNNING,
            "x"
        )));
        assert!(!may_still_apply(&Error::azure(
            ErrorKind::Http { status: 400 },
            "ServicePrincipalValidationClientError",
            "AADSTS7000215"
        )));
        assert!(!may_still_apply(&Error::step(
            codes::RESET_NOT_APPLIED,
            "x"
        )));
    }
}
