//! `--revoke`: offboarding, the undo of step 3 — the pull role the app's service principal
//! in tenant B holds on the registry is removed.
//!
//! The registry is the one the reader names (`--registry`, or with `--targets-from-input`
//! each object's `registry_id`, never another than the flag's), and so is the app
//! (`--app-id`, or the object's `app_id` with `--targets-from-input`): a file from another
//! team cannot choose whose access to which registry ends. The principal is Graph's for the
//! app in tenant B. Removed: its role assignments *at the registry itself* whose role grants
//! nothing but pull (AcrPull, Container Registry Repository Reader, a custom pull-only role)
//! — what step 3 gives. Anything else that still lets it pull (an inherited or a wider
//! role) is named in a warning, and left. While a cluster of tenant A (`--cluster-tenant` or
//! the object's `cluster_tenant_id`) still runs as the app the revoke is refused, naming the
//! clusters — also when that cannot be told — unless `--force`. Nothing to remove (no
//! principal, no such assignment) is success.

use common::arm::AUTHORIZATION_API;
use common::arm::clusters::refuse_while_in_use_at_home;
use common::binding::owner_tenant;
use common::driver::{Ctx, Done, Failed, Fields};
use common::envelope::{Envelope, fields};
use common::http::Sent;
use common::registry::access::held_at;
use common::target::{Same, Target};
use common::validate;
use common::{Error, Result, ui};
use reqwest::Method;

use crate::Cli;
use crate::act::Partial;
use crate::lookup;
use crate::named::{self, Named, RegistryRef};
use crate::role::pull_only;

/// The app whose pull role ends: named by `--app-id`, or by the input with `--targets-from-input`.
const APP: Target = Target {
    field: fields::APP_ID,
    flag: "--app-id GUID",
    what: "app",
    write: "loses its pull role",
    fields: &[fields::APP_ID.name],
};

/// What `--revoke` acts on.
#[derive(Debug, Clone)]
pub struct Inputs {
    /// Tenant B.
    pub(crate) tenant: String,
    /// The app.
    pub(crate) app_id: String,
    /// The registry, as named.
    pub(crate) registry: RegistryRef,
    /// `--registry-subscription`.
    pub(crate) subscription: Option<String>,
    /// The input's `registry_id` when `--registry` gave a name: the registry found must have it.
    pub(crate) claimed: Option<common::arm::ResourceId>,
    /// Tenant A, where the clusters that may still run as the app are looked for.
    pub(crate) cluster_tenant: Option<String>,
    /// `--force`.
    pub(crate) force: bool,
}

impl Inputs {
    /// The flags, and the object only where they allow it; nothing is sent.
    pub(crate) fn read(cli: &Cli, env: &Envelope) -> Result<Self> {
        let tenant = validate::tenant(
            fields::REGISTRY_TENANT_ID.name,
            &env.flag_or_require(&fields::REGISTRY_TENANT_ID, cli.registry_tenant.as_deref())?,
        )?;
        let parse = |a: &str| validate::guid(fields::APP_ID.name, a);
        let same = |a: &String, b: &String| {
            if a.eq_ignore_ascii_case(b) {
                Same::Yes
            } else {
                Same::No
            }
        };
        let flag = cli.app_id.as_deref().map(parse).transpose()?;
        let app_id = APP
            .choose(
                flag,
                env.str(&fields::APP_ID)?.as_deref(),
                cli.targets_from_input,
                parse,
                same,
            )?
            .target;
        let Named { registry, claimed } = Named::choose(cli, env)?;
        let subscription = named::registry_subscription(cli, &registry)?;
        // Only where clusters are looked for (a read): the input may name it.
        let cluster_tenant = env
            .flag_or_str(&fields::CLUSTER_TENANT_ID, cli.cluster_tenant.as_deref())?
            .map(|t| validate::tenant(fields::CLUSTER_TENANT_ID.name, &t))
            .transpose()?;
        Ok(Self {
            tenant,
            app_id,
            registry,
            subscription,
            claimed,
            cluster_tenant,
            force: cli.force,
        })
    }
}

/// The output of `--revoke`: what named the grant goes (`role_assignment_id`, `role_name`), and
/// any pull proof made with it.
#[derive(Debug, Clone)]
pub struct Revoked {
    /// The registry's id.
    pub registry_id: String,
}

impl Fields for Revoked {
    fn write_to(&self, object: &mut Envelope) {
        object.set(fields::REGISTRY_ID.name, &self.registry_id);
        for f in [
            &fields::ROLE_ASSIGNMENT_ID,
            &fields::ROLE_NAME,
            &fields::PULL_VERIFIED_AT,
            &fields::PULL_PROOF,
        ] {
            object.remove(f.name);
        }
    }
}

/// Removes the app's pull roles on the registry (see the module's doc).
pub(crate) async fn run(inputs: &Inputs, ctx: &Ctx) -> Result<Done<Revoked>, Failed<Partial>> {
    let (app, b) = (&inputs.app_id, &inputs.tenant);
    let arm = ctx.arm(b);
    let reg = lookup::resolve(&arm, &inputs.registry, inputs.subscription.as_deref()).await?;
    Named::confirm_parts(&inputs.registry, inputs.claimed.as_ref(), &reg.id)?;
    let out = Revoked {
        registry_id: reg.id.clone(),
    };
    let nothing = |why: String| Done {
        output: out.clone(),
        changed: false,
        summary: format!(
            "{why}: nothing to revoke on registry {} (already gone)",
            reg.name
        ),
    };
    let graph = ctx.graph(b);
    let Some(sp) = ctx.service_principal_id(&graph, app).await? else {
        return Ok(nothing(format!(
            "app {app} has no service principal in tenant {b}"
        )));
    };
    let held = held_at(&arm, &reg.id, reg.mode, &sp).await?;
    let (ours, others): (Vec<_>, Vec<_>) = held.into_iter().partition(|h| {
        h.assignment.scope.eq_ignore_ascii_case(&reg.id)
            && h.permissions.as_deref().is_some_and(pull_only)
    });
    let still: Vec<String> = others
        .iter()
        .filter(|h| h.pulls == Some(true))
        .map(|h| {
            format!(
                "{} at {}",
                h.assignment.role_definition_id, h.assignment.scope
            )
        })
        .collect();
    if !still.is_empty() {
        ui::warn(&format!(
            "app {app}'s service principal {sp} can still pull from registry {} through role assignments --revoke does not remove (not a pull-only role at the registry itself): {}",
            reg.name,
            still.join("; ")
        ));
    }
    if ours.is_empty() {
        return Ok(nothing(format!(
            "app {app}'s service principal {sp} holds no pull role at registry {}",
            reg.name
        )));
    }
    let arm_a = inputs.cluster_tenant.as_deref().map(|a| ctx.arm(a));
    // The object's tenant A is a claim: the app's home tenant (Graph) is looked in too.
    let home = owner_tenant(&graph, app).await?.map(|h| ctx.arm(&h));
    let what = format!("revoke app {app}'s pull role on registry {}", reg.name);
    refuse_while_in_use_at_home(arm_a.as_ref(), home.as_ref(), app, inputs.force, &what).await?;

    let mut removed = 0;
    for h in &ours {
        let url = arm.url(&format!(
            "{}?api-version={AUTHORIZATION_API}",
            h.assignment.id
        ))?;
        let sent = arm
            .write(arm.request(Method::DELETE, url).accept(&[204, 404]))
            .await
            .map_err(|e| refused(e, &reg.name))?;
        if let Sent::Done(r) = sent
            && r.status == 200
        {
            removed += 1;
        }
    }
    let summary = if ctx.dry_run() {
        format!(
            "would remove {} pull role assignment(s) of app {app} on registry {}",
            ours.len(),
            reg.name
        )
    } else {
        format!(
            "removed {removed} pull role assignment(s) of app {app}'s service principal {sp} on registry {}",
            reg.name
        )
    };
    Ok(Done {
        output: out,
        changed: removed > 0 || ctx.dry_run(),
        summary,
    })
}

/// A refused delete names the right it needs.
fn refused(e: Error, registry: &str) -> Error {
    if e.status() == Some(403) {
        e.with_hint(format!(
            "removing a role assignment needs Owner, User Access Administrator or Role Based Access Control Administrator on registry {registry}"
        ))
    } else {
        e
    }
}
