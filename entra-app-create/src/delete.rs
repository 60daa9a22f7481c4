//! `--delete`: offboarding, the undo of step 1 — the app in tenant A is deleted, its secrets
//! and its service principal in tenant A with it.
//!
//! The app is the one the reader names (`--app-id`), or, with
//! `--targets-from-input`, each input object's `app_id`; it must carry the tag these tools put
//! on the apps they make (`xtenant:managed`): an app made elsewhere is never deleted. While a
//! cluster of tenant A still runs as the app (ARM, every subscription the identity sees) the
//! delete is refused, naming the clusters — also when that cannot be told — unless `--force`.
//! An app already gone is success. Entra keeps a deleted app for 30 days in its deleted items
//! (restorable there, `az ad app restore`); no one can sign in as it meanwhile.

use common::arm::clusters::refuse_while_in_use;
use common::driver::{Ctx, Done, Failed};
use common::envelope::{Envelope, fields};
use common::error::codes;
use common::graph::{Application, MANAGED_TAG, alt_key};
use common::http::Sent;
use common::json::read;
use common::validate::{self, is_guid};
use common::{Error, Result, ui};
use reqwest::Method;

use crate::act::{Output, SecretOut};
use crate::cli::Cli;

/// What `--delete` acts on.
#[derive(Debug, Clone)]
pub struct Inputs {
    /// Tenant A.
    pub(crate) tenant: String,
    /// The app's client id.
    pub(crate) app_id: String,
    /// `--force`: delete while clusters run as it (or when that cannot be told).
    pub(crate) force: bool,
    /// Whether the person named the tenant (`--cluster-tenant`, or the input's with
    /// `--targets-from-input`): only then is an app not found there "already gone".
    pub(crate) tenant_named: bool,
}

impl Inputs {
    /// The flags, and the object only where they allow it; nothing is sent.
    pub(crate) fn read(cli: &Cli, env: &Envelope) -> Result<Self> {
        let tenant = validate::tenant(
            fields::CLUSTER_TENANT_ID.name,
            &env.flag_or_require(&fields::CLUSTER_TENANT_ID, cli.cluster_tenant.as_deref())?,
        )?;
        let from_input = env
            .str(&fields::APP_ID)?
            .map(|a| validate::guid(fields::APP_ID.name, &a))
            .transpose()?;
        let app_id = match (&cli.app_id, from_input) {
            (Some(a), input) => {
                let a = validate::guid(fields::APP_ID.name, a)?;
                if let Some(i) = input.filter(|i| !i.eq_ignore_ascii_case(&a)) {
                    return Err(Error::input(
                        fields::APP_ID.name,
                        format!(
                            "--app-id {a} and the input's app_id {i} name two apps: refusing to delete either"
                        ),
                    ));
                }
                a
            }
            (None, Some(i)) if cli.targets_from_input => i,
            (None, Some(i)) => {
                return Err(Error::input(
                    fields::APP_ID.name,
                    format!("the input's app_id {i} names the app to delete, but an app is deleted only when you name it"),
                )
                .with_hint("pass --app-id GUID, or --targets-from-input to delete the app_id of each input object (your own files)"));
            }
            (None, None) => {
                return Err(Error::input(
                    fields::APP_ID.name,
                    "--delete needs the app: pass --app-id GUID",
                ));
            }
        };
        Ok(Self {
            tenant,
            app_id,
            force: cli.force,
            tenant_named: cli.cluster_tenant.is_some() || cli.targets_from_input,
        })
    }
}

/// Deletes the app (see the module's doc).
pub(crate) async fn run(inputs: &Inputs, ctx: &Ctx) -> Result<Done<Output>, Failed<Output>> {
    let graph = ctx.graph(&inputs.tenant);
    let path = alt_key("applications", "appId", &inputs.app_id);
    let shown = format!("app {}", inputs.app_id);
    let found = graph
        .get_opt(&format!("{path}?$select=id,appId,displayName,tags"))
        .await?;
    let Some(app) = found else {
        if !inputs.tenant_named {
            // The input's cluster_tenant_id is a claim: another tenant there would make an
            // app that lives on look deleted.
            return Err(Error::step(
                codes::APP_NOT_FOUND,
                format!(
                    "{shown} is not in tenant {}, which only the input's cluster_tenant_id names: it may be gone, or live in another tenant; nothing was changed",
                    inputs.tenant
                ),
            )
            .with_hint("name the app's tenant with --cluster-tenant (or --targets-from-input for your own files) to delete it there, or to confirm it is gone")
            .into());
        }
        return Ok(gone(&shown, &inputs.tenant, None));
    };
    let app: Application = read(
        &app,
        codes::UNEXPECTED_GRAPH_ANSWER,
        &format!("Microsoft Graph's answer for {shown}"),
    )?;
    let app_id = app.app_id.filter(|a| is_guid(a)).ok_or_else(|| {
        Error::step(
            codes::UNEXPECTED_GRAPH_ANSWER,
            format!("Microsoft Graph answered {shown} without an appId"),
        )
    })?;
    let name = app.settings.display_name.unwrap_or_default();
    if !app.tags.iter().any(|t| t.eq_ignore_ascii_case(MANAGED_TAG)) {
        return Err(Error::step(
            codes::APP_NOT_MANAGED,
            format!(
                "refusing to delete the app {name:?} (app_id {app_id}) in tenant {}: these tools did not make it (it has no tag {MANAGED_TAG})",
                inputs.tenant
            ),
        )
        .with_hint("delete it yourself (az ad app delete --id …) if it is really to go")
        .into());
    }
    let what = format!("delete app {app_id}");
    let arm = ctx.arm(&inputs.tenant);
    refuse_while_in_use(Some(&arm), &app_id, inputs.force, &what).await?;

    let url = graph.url(&alt_key("applications", "appId", &app_id))?;
    let sent = graph
        .write(graph.request(Method::DELETE, url).accept(&[404]))
        .await
        .map_err(|e| {
            if e.status() == Some(403) {
                e.with_hint(format!(
                    "deleting an app needs to be its owner, or Application Administrator (or Cloud Application Administrator, or Application.ReadWrite.All) in tenant {}",
                    inputs.tenant
                ))
            } else {
                e
            }
        })?;
    let Sent::Done(r) = sent else {
        return Ok(Done {
            output: deleted(&app_id, &inputs.tenant),
            changed: true,
            summary: format!(
                "would delete the app {name:?} (app_id {app_id}) in tenant {}",
                inputs.tenant
            ),
        });
    };
    if r.status == 404 {
        return Ok(gone(&shown, &inputs.tenant, Some(&app_id)));
    }
    ui::debug(&format!("deleted app {app_id}: HTTP {}", r.status));
    Ok(Done {
        output: deleted(&app_id, &inputs.tenant),
        changed: true,
        summary: format!(
            "deleted the app {name:?} (app_id {app_id}) in tenant {}, its secrets and its service principal there with it (Entra keeps it 30 days in its deleted items); a client_secret_ref's Key Vault secret is left to you",
            inputs.tenant
        ),
    })
}

/// The output of a deleted app: the object keeps `app_id` (its rerun finds it gone), and
/// loses the secret, which nothing can use any more.
fn deleted(app_id: &str, tenant: &str) -> Output {
    Output {
        cluster_tenant_id: Some(tenant.to_owned()),
        app_id: Some(app_id.to_owned()),
        secret: SecretOut::Remove,
        ..Output::default()
    }
}

/// An app already gone: success, nothing changed.
fn gone(shown: &str, tenant: &str, app_id: Option<&str>) -> Done<Output> {
    Done {
        output: Output {
            cluster_tenant_id: Some(tenant.to_owned()),
            app_id: app_id.map(str::to_owned),
            secret: SecretOut::Remove,
            ..Output::default()
        },
        changed: false,
        summary: format!("{shown} is not in tenant {tenant}: already gone"),
    }
}
