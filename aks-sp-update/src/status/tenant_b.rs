//! Tenant B's side of the report: does the app still have a service principal there (the
//! consent), and does it hold a pull role on the registry.
//!
//! Read with the run's credential for tenant B, when there is one. Without an identity in
//! tenant B, or without the rights to read there, each answer is `unknown`, naming the right
//! that would tell — never a guess, and never a failure of the cluster's report.

use common::arm::ResourceId;
use common::driver::{Ctx, Memo};
use common::error::ErrorKind;
use common::http::Api;
use common::registry::access;
use common::registry::resource::{self, Mode};
use common::{Error, Result};
use serde::Serialize;

use super::inputs::Inputs;
use super::report::{Problem, Report};

/// One answer about tenant B.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state", content = "detail")]
pub(crate) enum Check {
    /// It is there (the detail names it).
    Present(String),
    /// It is gone (the detail says what that means).
    Absent(String),
    /// It could not be told (the detail says which right would tell).
    Unknown(String),
}

/// Tenant B's answers for one app and registry.
#[derive(Debug, Clone)]
pub(crate) struct TenantB {
    /// The app's service principal in tenant B.
    pub principal: Check,
    /// A pull role of that principal on the registry.
    pub pull_role: Check,
}

impl TenantB {
    /// Writes the answers into the report; a principal or role gone breaks the cluster.
    pub(crate) fn apply(self, r: &mut Report) {
        if let Check::Absent(why) = &self.principal {
            r.problem(Problem::broken("RegistryPrincipalGone", why.clone()));
        } else if let Check::Absent(why) = &self.pull_role {
            r.problem(Problem::broken("PullRoleGone", why.clone()));
        }
        r.registry_principal = Some(self.principal);
        r.registry_pull_role = Some(self.pull_role);
    }
}

/// The run's answers: (tenant B, registry, app) → its answers, read once for every cluster.
#[derive(Default)]
struct Answers(Memo<(String, String, String), TenantB>);

/// Tenant B's answers for `app_id` (every unknown says why).
pub(crate) async fn check(ctx: &Ctx, inputs: &Inputs, app_id: &str) -> TenantB {
    let Some(tenant) = &inputs.registry_tenant else {
        let why = "tenant B is not named: pass --registry-tenant (and --registry ID), or pipe in objects with registry_tenant_id and registry_id".to_owned();
        return TenantB {
            principal: Check::Unknown(why.clone()),
            pull_role: Check::Unknown(why),
        };
    };
    let registry = inputs
        .registry
        .as_ref()
        .map(ResourceId::id)
        .unwrap_or_default();
    let key = (
        tenant.to_ascii_lowercase(),
        registry.to_ascii_lowercase(),
        app_id.to_ascii_lowercase(),
    );
    let found = ctx
        .state::<Answers>()
        .0
        .get_or(key, || async {
            Ok(Some(
                read(ctx, tenant, inputs.registry.as_ref(), app_id).await,
            ))
        })
        .await;
    // The lookup never fails and always answers.
    if let Ok(Some(b)) = found {
        return b;
    }
    let why = "tenant B's answers were not kept".to_owned();
    TenantB {
        principal: Check::Unknown(why.clone()),
        pull_role: Check::Unknown(why),
    }
}

async fn read(ctx: &Ctx, tenant: &str, registry: Option<&ResourceId>, app_id: &str) -> TenantB {
    let graph = ctx.graph(tenant);
    let principal = match ctx.service_principal_id(&graph, app_id).await {
        Ok(Some(sp)) => sp,
        Ok(None) => {
            let gone = format!(
                "app {app_id} has no service principal in tenant {tenant}: the consent was revoked (or never given), so no pull role can apply; consent-link makes it again"
            );
            return TenantB {
                pull_role: Check::Absent(gone.clone()),
                principal: Check::Absent(gone),
            };
        }
        Err(e) => {
            let why = unknown(
                &e,
                tenant,
                "reading service principals there needs Application.Read.All (or the Directory Readers role)",
            );
            return TenantB {
                principal: Check::Unknown(why.clone()),
                pull_role: Check::Unknown(why),
            };
        }
    };
    let present = Check::Present(format!("service principal {principal} in tenant {tenant}"));
    let Some(registry) = registry else {
        return TenantB {
            principal: present,
            pull_role: Check::Unknown(
                "no registry is named: pass --registry ID, or pipe in objects with registry_id"
                    .into(),
            ),
        };
    };
    let arm = ctx.arm(tenant);
    let pull_role = match pull_role(&arm, registry, &principal).await {
        Ok(c) => c,
        Err(e) => Check::Unknown(unknown(
            &e,
            tenant,
            &format!(
                "reading the registry {} and its role assignments needs Reader on it",
                registry.name
            ),
        )),
    };
    TenantB {
        principal: present,
        pull_role,
    }
}

/// Whether `principal` holds a role that lets it pull from `registry` (in its mode).
async fn pull_role(arm: &Api<'_>, registry: &ResourceId, principal: &str) -> Result<Check> {
    let id = registry.id();
    let Some(found) = resource::get_opt(arm, registry).await? else {
        return Ok(Check::Absent(format!(
            "registry {} is not found in tenant {}: nothing can pull from it",
            registry.name,
            arm.tenant()
        )));
    };
    let mode = found.mode().unwrap_or(Mode::Legacy);
    let held = access::held_at(arm, &id, mode, principal).await?;
    let pulling: Vec<String> = held
        .iter()
        .filter(|h| h.pulls == Some(true))
        .map(|h| h.assignment.id.clone())
        .collect();
    Ok(match pulling.first() {
        Some(a) => Check::Present(format!("role assignment {a}")),
        None => Check::Absent(format!(
            "the app's service principal {principal} holds no role that pulls from registry {} ({}): acr-grant gives it again",
            registry.name,
            mode.as_str()
        )),
    })
}

/// Why an answer is unknown: no identity for tenant B, or no right to read there.
fn unknown(e: &Error, tenant: &str, right: &str) -> String {
    match e.kind() {
        ErrorKind::Credential => format!(
            "no identity for tenant {tenant} ({}): sign in there (az login --tenant {tenant}, or an AZURE_CLIENT_ID known in that tenant) to tell; {right}",
            e.message()
        ),
        ErrorKind::Http { status: 401 | 403 } => format!(
            "the identity may not read in tenant {tenant} ({}): {right}",
            e.code()
        ),
        _ => format!("could not be read in tenant {tenant}: {}", e.message()),
    }
}
