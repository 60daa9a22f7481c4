//! `--status --all`: the clusters of tenant A that run as an app these tools made.
//!
//! "Made by these tools" is the app's tag `xtenant:managed`: `entra-app-create` puts it on
//! every app it creates (and on an app a person adopts with `--adopt` and their own
//! `--app-id`/`--unique-name`), and only the app's owners and directory administrators can
//! write an app's tags. The apps come from one Graph query on that tag; the clusters from
//! every subscription the identity sees in tenant A, each kept when ARM shows it running as
//! one of those apps. A subscription whose clusters cannot be listed is one error object
//! (naming it and the right), and the others are still reported.

use std::collections::BTreeMap;

use common::arm::clusters::clusters_in;
use common::arm::subscriptions::subscriptions;
use common::driver::{Ctx, Named};
use common::envelope::{Envelope, fields};
use common::error::codes;
use common::graph::{Application, MANAGED_TAG, any_eq_filter};
use common::validate::{self, is_guid};
use common::{Error, Result, ui};

use crate::Cli;

/// The objects `--all` reports on: one per cluster found, or the failure to look.
pub(crate) async fn objects(cli: &Cli, ctx: &Ctx) -> Vec<Named> {
    let raw = cli.cluster_tenant.clone().unwrap_or_default();
    let mut base = Envelope::new();
    base.set(fields::CLUSTER_TENANT_ID.name, &raw);
    let tenant = match validate::tenant(fields::CLUSTER_TENANT_ID.name, &raw) {
        Ok(t) => t,
        Err(e) => return vec![Named::Failed(base, e)],
    };
    let apps = match managed_apps(ctx, &tenant).await {
        Ok(a) => a,
        Err(e) => return vec![Named::Failed(base, e)],
    };
    let arm = ctx.arm(&tenant);
    let subs = match subscriptions(&arm).await {
        Ok(s) if !s.is_empty() => s,
        Ok(_) => {
            let e = Error::step(
                codes::CLUSTERS_NOT_LISTED,
                format!(
                    "the identity sees no subscription in tenant {tenant}: no cluster to report on"
                ),
            )
            .with_hint(format!(
                "give it Reader on the subscriptions of tenant {tenant}'s clusters"
            ));
            return vec![Named::Failed(base, e)];
        }
        Err(e) => {
            return vec![Named::Failed(
                base,
                e.context("listing the subscriptions of tenant A"),
            )];
        }
    };
    let listed = futures::future::join_all(subs.iter().map(|s| clusters_in(&arm, s))).await;
    let mut out = Vec::new();
    let mut apps_seen = std::collections::BTreeSet::new();
    for (sub, found) in subs.iter().zip(listed) {
        match found {
            Ok(clusters) => {
                for c in clusters {
                    let Some(app) = c.client_id().map(str::to_ascii_lowercase) else {
                        continue;
                    };
                    if apps.contains_key(&app) {
                        apps_seen.insert(app);
                        let mut o = base.clone();
                        o.set(fields::CLUSTER_ID.name, &c.id);
                        out.push(Named::Object(o));
                    }
                }
            }
            Err(e) => {
                let e = Error::step(
                    codes::CLUSTERS_NOT_LISTED,
                    format!(
                        "cannot list the clusters of subscription {sub} in tenant {tenant}: {} ({})",
                        e.message(),
                        e.code()
                    ),
                )
                .with_hint(format!(
                    "give the identity Reader (Microsoft.ContainerService/managedClusters/read) on subscription {sub}"
                ));
                out.push(Named::Failed(base.clone(), e));
            }
        }
    }
    ui::info(&format!(
        "--all: {} cluster(s) in {} subscription(s) of tenant {tenant} run as {} of the {} app(s) these tools made (tag {MANAGED_TAG})",
        out.iter().filter(|n| matches!(n, Named::Object(_))).count(),
        subs.len(),
        apps_seen.len(),
        apps.len()
    ));
    out
}

/// The apps of tenant A tagged [`MANAGED_TAG`]: app id (lower case) → display name.
async fn managed_apps(ctx: &Ctx, tenant: &str) -> Result<BTreeMap<String, String>> {
    let graph = ctx.graph(tenant);
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("$filter", &any_eq_filter("tags", MANAGED_TAG))
        .append_pair("$select", "id,appId,displayName")
        .finish();
    let listed = graph
        .list(&format!("/applications?{query}"))
        .await
        .map_err(|e| {
            let e = e.context("listing the apps these tools made (tag xtenant:managed) in tenant A");
            if e.status() == Some(403) {
                e.with_hint(format!(
                    "listing applications needs Application.Read.All (or the Directory Readers role) in tenant {tenant}"
                ))
            } else {
                e
            }
        })?;
    let mut out = BTreeMap::new();
    for v in &listed {
        let a: Application = common::json::read(
            v,
            codes::UNEXPECTED_GRAPH_ANSWER,
            "Microsoft Graph's list of the apps these tools made",
        )?;
        if let Some(id) = a.app_id.filter(|s| is_guid(s)) {
            out.insert(
                id.to_ascii_lowercase(),
                a.settings.display_name.unwrap_or_default(),
            );
        }
    }
    Ok(out)
}
