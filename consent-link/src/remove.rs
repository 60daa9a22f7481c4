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

use common::arm::clusters::refuse_while_in_use;
use common::driver::{Ctx, Done, Failed};
use common::envelope::{Envelope, Field, fields};
use common::graph::alt_key;
use common::http::Sent;
use common::validate;
use common::{Error, Result};
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

/// The value a flag gives, else the input's only with `--targets-from-input`; a flag and
/// another value in the input are a mismatch.
pub(crate) fn named(
    field: &Field,
    flag: Option<&str>,
    env: &Envelope,
    trust_input: bool,
    parse: impl Fn(&str) -> Result<String>,
) -> Result<String> {
    let name = field.name;
    let flag_name = field.flag.unwrap_or(name);
    let input = env.str(field)?;
    match (flag.map(&parse).transpose()?, input) {
        (Some(f), Some(i)) if !parse(&i).is_ok_and(|i| i.eq_ignore_ascii_case(&f)) => {
            Err(Error::input(
                name,
                format!("{flag_name} {f} and the input's `{name}` {i:?} differ: refusing to act on either"),
            ))
        }
        (Some(f), _) => Ok(f),
        (None, Some(i)) if trust_input => parse(&i),
        (None, Some(i)) => Err(Error::input(
            name,
            format!("the input's `{name}` {i:?} names what is removed, but a removal acts only on what you name"),
        )
        .with_hint(format!(
            "pass {flag_name}, or --targets-from-input to act on the `{name}` of each input object (your own files)"
        ))),
        (None, None) => Err(Error::input(name, format!("`{name}` is missing: pass {flag_name}"))),
    }
}

impl Inputs {
    /// The flags, and the object only where they allow it; nothing is sent.
    pub(crate) fn read(cli: &Cli, env: &Envelope) -> Result<Self> {
        let trust = cli.targets_from_input;
        let tenant_b = named(
            &fields::REGISTRY_TENANT_ID,
            cli.registry_tenant.as_deref(),
            env,
            trust,
            |t| validate::tenant(fields::REGISTRY_TENANT_ID.name, t),
        )?;
        let app_id = named(&fields::APP_ID, cli.app_id.as_deref(), env, trust, |a| {
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
    let what = format!("remove app {app}'s service principal in tenant {b}");
    refuse_while_in_use(arm_a.as_ref(), app, inputs.force, &what).await?;
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
