//! `-g GROUP -n NAME` without a subscription, as `az aks` users type it: before the run, the
//! subscription is found among those the identity sees in tenant A (`--cluster-tenant`) — by
//! its display name (`--subscription NAME`), or as the only one that holds a cluster of that
//! group and name. Reads only; several candidates are refused, naming them.

use common::arm::subscriptions::subscriptions_named;
use common::arm::{ResourceId, clusters};
use common::driver::Ctx;
use common::envelope::fields;
use common::error::codes;
use common::{Error, Result, validate};

use common::arm::clusters::CLUSTER_TYPE;

use crate::Cli;

/// Whether the flags name the cluster by group and name, its subscription unknown.
pub(crate) fn needed(cli: &Cli) -> bool {
    cli.cluster.is_none()
        && cli.resource_group.is_some()
        && cli.name.is_some()
        && cli.known_subscription().is_none()
}

/// The id of the cluster `-g`/`-n` name, its subscription looked up in tenant A.
pub(crate) async fn cluster(cli: &Cli, ctx: &Ctx) -> Result<String> {
    let field = fields::CLUSTER_ID.name;
    let (group, name) = (
        cli.resource_group.as_deref().unwrap_or_default().trim(),
        cli.name.as_deref().unwrap_or_default().trim(),
    );
    // The parts are checked before they go in a URL.
    let zero = "00000000-0000-0000-0000-000000000000";
    ResourceId::new(field, zero, group, CLUSTER_TYPE, name)?;
    let Some(tenant) = cli
        .cluster_tenant
        .as_deref()
        .map(|t| validate::tenant(fields::CLUSTER_TENANT_ID.name, t))
        .transpose()?
    else {
        return Err(Error::input(
            field,
            format!(
                "cluster {group}/{name}: pass --subscription, or --cluster-tenant to look its subscription up"
            ),
        ));
    };
    let arm = ctx.arm(&tenant);
    let subs = subscriptions_named(&arm).await?;
    let sub = match cli.subscription.as_deref().map(str::trim) {
        Some(wanted) => by_name(&subs, wanted, &tenant)?,
        None => holding(&arm, &subs, group, name, &tenant).await?,
    };
    ResourceId::new(field, &sub, group, CLUSTER_TYPE, name).map(|r| r.id())
}

/// The subscription whose display name is `wanted`.
fn by_name(subs: &[(String, String)], wanted: &str, tenant: &str) -> Result<String> {
    let field = fields::CLUSTER_ID.name;
    let named: Vec<&(String, String)> = subs
        .iter()
        .filter(|(_, n)| n.eq_ignore_ascii_case(wanted))
        .collect();
    match named.as_slice() {
        [(id, _)] => Ok(id.clone()),
        [] => Err(Error::input(
            field,
            format!("no subscription named {wanted} in tenant {tenant} that this identity sees"),
        )
        .with_hint("pass --subscription with the subscription's id or name (az account list)")),
        _ => Err(Error::input(
            field,
            format!("more than one subscription is named {wanted}: pass --subscription ID"),
        )),
    }
}

/// The one subscription of `subs` that holds cluster `group`/`name` (each asked at once).
async fn holding(
    arm: &common::http::Api<'_>,
    subs: &[(String, String)],
    group: &str,
    name: &str,
    tenant: &str,
) -> Result<String> {
    let field = fields::CLUSTER_ID.name;
    let looks = futures::future::join_all(subs.iter().map(|(sub, _)| async move {
        let id = ResourceId::new(field, sub, group, CLUSTER_TYPE, name)?;
        clusters::get_opt(arm, &id).await
    }))
    .await;
    let mut found = Vec::new();
    let mut unknown = Vec::new();
    for ((sub, display), looked) in subs.iter().zip(looks) {
        match looked {
            Ok(Some(_)) => found.push((sub, display)),
            Ok(None) => {}
            Err(e) if e.is_interrupted() => return Err(e),
            Err(e) => unknown.push(format!("{display} ({})", e.code())),
        }
    }
    match found.as_slice() {
        [(sub, display)] => {
            common::ui::debug(&format!(
                "cluster {group}/{name} is in subscription {display} ({sub})"
            ));
            Ok((*sub).clone())
        }
        [] => {
            let also = if unknown.is_empty() {
                String::new()
            } else {
                format!("; not readable in {}", unknown.join(", "))
            };
            Err(Error::step(
                codes::CLUSTER_NOT_FOUND,
                format!(
                    "no cluster {group}/{name} in the {} subscription(s) this identity sees in tenant {tenant}{also}",
                    subs.len()
                ),
            )
            .with_hint("check -g, -n and --cluster-tenant, or pass --subscription"))
        }
        many => {
            // Names first: they are what --subscription takes (an id where there is none).
            let names: Vec<&str> = many
                .iter()
                .map(|(sub, display)| {
                    if display.is_empty() {
                        sub.as_str()
                    } else {
                        display.as_str()
                    }
                })
                .collect();
            Err(Error::step(
                codes::AMBIGUOUS_CLUSTER_NAME,
                format!(
                    "cluster {group}/{name} is in {} subscriptions: {}",
                    many.len(),
                    names.join(", ")
                ),
            )
            .with_hint("pass --subscription with the one meant"))
        }
    }
}
