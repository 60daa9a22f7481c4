//! `--remove`: offboarding, the undo of step 2 — the app's service principal in tenant B
//! (what the consent made) is deleted.
//!
//! Tenant B and the app are the ones the reader names (`--registry-tenant`, `--app-id`), or,
//! with `--targets-from-input`, each input object's: a file from another team cannot choose
//! whose service principal is deleted. While a cluster of tenant A (`--cluster-tenant` or the
//! object's `cluster_tenant_id`) still runs as the app the removal is refused, naming the
//! clusters — also when that cannot be told (no tenant A, no identity or right there) —
//! unless `--force`. A service principal already gone is success. Remove the pull role first
//! (`acr-grant --revoke`): a deleted principal's role assignments are left behind, orphaned.

use common::Result;
use common::arm::clusters::refuse_while_in_use_at_home;
use common::binding::owner_tenant;
use common::driver::{Ctx, Done, Failed};
use common::envelope::{Envelope, fields};
use common::graph::alt_key;
use common::http::Sent;
use common::target::{Same, Target};
use common::validate;
use reqwest::Method;

use crate::act::Partial;
use crate::cli::Cli;

/// What `--remove` acts on.
#[derive(Debug, Clone)]
pub struct Inputs {
    /// Tenant B, where the service principal is deleted.
    pub(crate) tenant_b: String,
    /// The app whose service principal goes.
    pub(crate) app_id: String,
    /// Tenant A, where the clusters that may still run as the app are looked for.
    pub(crate) tenant_a: Option<String>,
    /// `--force`.
    pub(crate) force: bool,
}

/// The tenant and the app whose service principal goes: named by the flags, or by the input
/// with `--targets-from-input`.
const TENANT_B: Target = Target {
    field: fields::REGISTRY_TENANT_ID,
    flag: "--registry-tenant TENANT",
    what: "tenant",
    write: "loses the app's service principal (--remove)",
    fields: &[
        fields::REGISTRY_TENANT_ID.name,
        fields::REGISTRY_SP_OBJECT_ID.name,
    ],
};
const APP: Target = Target {
    field: fields::APP_ID,
    flag: "--app-id GUID",
    what: "app",
    write: "loses its service principal in tenant B (--remove)",
    fields: &[fields::APP_ID.name],
};

/// The target `t` names: the flag's, or the input's with `--targets-from-input` (the same
/// value in another case is the same target).
fn named(
    t: &Target,
    flag: Option<&str>,
    env: &Envelope,
    trust: bool,
    parse: impl Fn(&str) -> Result<String>,
) -> Result<String> {
    let same = |a: &String, b: &String| {
        if a.eq_ignore_ascii_case(b) {
            Same::Yes
        } else {
            Same::No
        }
    };
    let flag = flag.map(&parse).transpose()?;
    Ok(
        t.choose(flag, env.str(&t.field)?.as_deref(), trust, parse, same)?
            .target,
    )
}

impl Inputs {
    /// The flags, and the object only where they allow it; nothing is sent.
    pub(crate) fn read(cli: &Cli, env: &Envelope) -> Result<Self> {
        let trust = cli.targets_from_input;
        let tenant_b = named(&TENANT_B, cli.registry_tenant.as_deref(), env, trust, |t| {
            validate::tenant(fields::REGISTRY_TENANT_ID.name, t)
        })?;
        let app_id = named(&APP, cli.app_id.as_deref(), env, trust, |a| {
            validate::guid(fields::APP_ID.name, a)
        })?;
        // Only where clusters are looked for (a read): the input may name it.
        let tenant_a = env
            .flag_or_str(&fields::CLUSTER_TENANT_ID, cli.cluster_tenant.as_deref())?
            .map(|t| validate::tenant(fields::CLUSTER_TENANT_ID.name, &t))
            .transpose()?;
        Ok(Self {
            tenant_b,
            app_id,
            tenant_a,
            force: cli.force,
        })
    }
}

/// Deletes the app's service principal in tenant B (see the module's doc).
pub(crate) async fn run(inputs: &Inputs, ctx: &Ctx) -> Result<Done<Removed>, Failed<Partial>> {
    let (app, b) = (&inputs.app_id, &inputs.tenant_b);
    let graph = ctx.graph(b);
    let Some(sp) = ctx.service_principal_id(&graph, app).await? else {
        return Ok(gone(app, b));
    };
    let arm_a = inputs.tenant_a.as_deref().map(|a| ctx.arm(a));
    // The object's tenant A is a claim: the app's home tenant (Graph) is looked in too.
    let home = owner_tenant(&graph, app).await?.map(|h| ctx.arm(&h));
    let what = format!("remove app {app}'s service principal in tenant {b}");
    refuse_while_in_use_at_home(arm_a.as_ref(), home.as_ref(), app, inputs.force, &what).await?;
    let url = graph.url(&alt_key("servicePrincipals", "appId", app))?;
    let sent = graph
        .write(graph.request(Method::DELETE, url).accept(&[404]))
        .await
        .map_err(|e| {
            if e.status() == Some(403) {
                e.with_hint(format!(
                    "deleting a service principal needs Application Administrator (or Cloud Application Administrator, or Application.ReadWrite.All) in tenant {b}"
                ))
            } else {
                e
            }
        })?;
    Ok(match sent {
        Sent::Skipped => Done {
            output: Removed,
            changed: true,
            summary: format!("would remove app {app}'s service principal {sp} in tenant {b}"),
        },
        Sent::Done(r) if r.status == 404 => gone(app, b),
        Sent::Done(_) => Done {
            output: Removed,
            changed: true,
            summary: format!(
                "removed app {app}'s service principal {sp} in tenant {b}: the consent is undone (consent-link makes it again)"
            ),
        },
    })
}

/// A service principal already gone: success, nothing changed.
fn gone(app: &str, b: &str) -> Done<Removed> {
    Done {
        output: Removed,
        changed: false,
        summary: format!("app {app} has no service principal in tenant {b}: already gone"),
    }
}

/// The output of `--remove`: the object loses `registry_sp_object_id`, which names nothing now.
#[derive(Debug, Clone, Copy)]
pub struct Removed;

impl common::driver::Fields for Removed {
    fn write_to(&self, object: &mut Envelope) {
        object.remove(fields::REGISTRY_SP_OBJECT_ID.name);
    }
}
