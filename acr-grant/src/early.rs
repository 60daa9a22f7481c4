//! What the flags alone determine, started before the first object arrives
//! ([`common::driver::Tool::prepare`]): the tokens of tenant B, the registry `--registry`
//! names and the built-in pull role for its mode, the app's service principal when
//! `--app-id` names it. Only reads, kept for the run: a registry's login server and mode,
//! like a built-in role's id, do not change while it runs.

use common::driver::{Ctx, Memo};
use common::envelope::fields;
use common::http::Api;
use common::validate;
use common::{Error, Result};

use crate::Cli;
use crate::lookup::{self, Registry};
use crate::named::{RegistryRef, registry_ref};
use crate::role;

/// The run's early answers.
#[derive(Default)]
pub(crate) struct Early {
    /// (tenant, registry as named, subscription) → the registry.
    registries: Memo<(String, String, String), Registry>,
}

fn registry_key(
    tenant: &str,
    r: &RegistryRef,
    subscription: Option<&str>,
) -> (String, String, String) {
    let named = match r {
        RegistryRef::Id(id) => id.id(),
        RegistryRef::Name(n) => n.clone(),
    };
    (
        tenant.to_ascii_lowercase(),
        named.to_ascii_lowercase(),
        subscription.unwrap_or("").to_ascii_lowercase(),
    )
}

/// The registry `r` names in the tenant of `arm`, found once per run.
pub(crate) async fn registry(
    ctx: &Ctx,
    arm: &Api<'_>,
    r: &RegistryRef,
    subscription: Option<&str>,
) -> Result<Registry> {
    let key = registry_key(arm.tenant(), r, subscription);
    ctx.state::<Early>()
        .registries
        .get_or(key, || async {
            lookup::resolve(arm, r, subscription).await.map(Some)
        })
        .await?
        .ok_or_else(|| {
            Error::step(
                common::error::codes::REGISTRY_NOT_FOUND,
                "the registry was not found",
            )
        })
}

/// Starts what `--registry-tenant`, `--registry` and `--app-id` determine (nothing without the tenant).
pub(crate) fn prepare(cli: &Cli, ctx: &Ctx) {
    let Some(tenant) = cli
        .registry_tenant
        .as_deref()
        .and_then(|t| validate::tenant(fields::REGISTRY_TENANT_ID.name, t).ok())
    else {
        return;
    };
    ctx.sign_in_early(&tenant, common::driver::EarlyTokens::GraphAndArm);
    if let Some(app_id) = cli
        .app_id
        .as_deref()
        .and_then(|a| validate::guid(fields::APP_ID.name, a).ok())
    {
        let (run, tenant) = (ctx.next_object(), tenant.clone());
        ctx.spawn(async move {
            run.service_principal_id(&run.graph(&tenant), &app_id)
                .await
                .map(drop)
        });
    }
    let Some(reg) = cli.registry.as_deref().and_then(|r| registry_ref(r).ok()) else {
        return;
    };
    let subscription = cli
        .registry_subscription
        .as_deref()
        .and_then(|s| validate::guid("registry_subscription", s).ok());
    // With --role the object's role is the flag's, found with the registry by the object
    // itself; without it (auto), the built-in role for the registry's mode.
    let auto = cli
        .role
        .as_deref()
        .is_none_or(|r| r.eq_ignore_ascii_case("auto"));
    let run = ctx.next_object();
    ctx.spawn(async move {
        let arm = run.arm(&tenant);
        let found = registry(&run, &arm, &reg, subscription.as_deref()).await?;
        if auto {
            run.built_in_role(&arm, &found.id, role::auto_role_name(&found))
                .await?;
        }
        Ok(())
    });
}
