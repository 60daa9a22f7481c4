//! Tenant A (the cluster's) and tenant B (the registry's), told apart where a step first
//! knows both.
//!
//! The procedure is for a registry in another tenant than the cluster's. The same tenant
//! given twice, or the two swapped, otherwise shows only at step 4 — a token "from the wrong
//! issuer" — after an app and a role assignment were made. So the first step that knows both
//! tenants refuses the same one twice ([`refuse_same`]) unless the person says it is meant
//! (`--same-tenant`), and step 1 given `--cluster` checks which tenant holds the cluster's
//! subscription ([`subscription_holder`]).

use reqwest::Method;
use serde::Deserialize;

use crate::error::{Error, Result, codes};
use crate::http::{Api, Auth, Http, Request, Service, WRONG_ISSUER, wrong_issuer};
use crate::json::{lenient, object};
use crate::validate::is_guid;
use crate::wait::Deadline;

/// One side of the comparison: how the person gave the tenant, and its value.
#[derive(Debug, Clone, Copy)]
pub struct Named<'a> {
    /// Where it came from, for the message: `--registry-tenant`, `cluster_tenant_id`, …
    pub from: &'a str,
    /// The tenant: an id, or a verified domain.
    pub tenant: &'a str,
}

/// The flag that says tenant A and tenant B are meant to be the same.
pub const SAME_TENANT_FLAG: &str = "--same-tenant";

/// Refuses tenant B = tenant A (code `SameTenant`), unless `meant`. Two ids, or two equal
/// values, are compared as given; otherwise each domain is resolved to its tenant id by
/// Entra's OpenID discovery (anonymous: one GET each, nothing signed in, nothing written). A
/// domain Entra does not know is left to the step that signs in there (it says so).
pub async fn refuse_same(
    http: &Http,
    deadline: Deadline,
    a: Named<'_>,
    b: Named<'_>,
    meant: bool,
) -> Result<()> {
    if meant {
        return Ok(());
    }
    let same = if a.tenant.eq_ignore_ascii_case(b.tenant) {
        true
    } else if is_guid(a.tenant) && is_guid(b.tenant) {
        false
    } else {
        let (ia, ib) = tokio::join!(
            tenant_id(http, a.tenant, deadline),
            tenant_id(http, b.tenant, deadline)
        );
        matches!((ia?, ib?), (Some(x), Some(y)) if x.eq_ignore_ascii_case(&y))
    };
    if !same {
        return Ok(());
    }
    let shown = |n: Named<'_>| format!("{} {}", n.from, n.tenant);
    Err(Error::step(
        codes::SAME_TENANT,
        format!(
            "tenant B ({}) is tenant A ({}): the registry's tenant and the cluster's are one",
            shown(b),
            shown(a)
        ),
    )
    .with_hint(format!(
        "give the cluster's tenant to --cluster-tenant and the registry's to --registry-tenant; if both really are in one tenant, pass {SAME_TENANT_FLAG}"
    )))
}

/// The tenant id of `tenant` (an id, or a domain resolved by Entra's OpenID discovery).
/// `None` when Entra does not know the domain (the step that signs in there reports it).
pub async fn tenant_id(http: &Http, tenant: &str, deadline: Deadline) -> Result<Option<String>> {
    if is_guid(tenant) {
        return Ok(Some(tenant.to_ascii_lowercase()));
    }
    let mut url = http.cloud().login.clone();
    url.path_segments_mut()
        .map_err(|()| Error::usage("the cloud's login endpoint cannot take a path"))?
        .pop_if_empty()
        .extend([tenant, "v2.0", ".well-known", "openid-configuration"]);
    let req = Request::new(Method::GET, url, Service::Graph, Auth::None).accept(&[400, 404]);
    let answer = http.read(req, deadline).await?;
    if answer.status != 200 {
        crate::ui::debug(&format!(
            "tenant {tenant}: Entra's discovery answered {}; not compared",
            answer.status
        ));
        return Ok(None);
    }
    // The issuer is `https://<login>/<tenant id>/v2.0`.
    let discovery = object::<Discovery>(&answer.body).unwrap_or_default();
    Ok(discovery
        .issuer
        .as_deref()
        .and_then(|i| i.split('/').find(|s| is_guid(s)))
        .map(str::to_ascii_lowercase))
}

/// Entra's OpenID discovery document: its `issuer` alone.
#[derive(Default, Deserialize)]
struct Discovery {
    #[serde(default, deserialize_with = "lenient")]
    issuer: Option<String>,
}

/// A subscription as ARM shows it: its `tenantId` alone.
#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SubscriptionTenant {
    #[serde(default, deserialize_with = "lenient")]
    tenant_id: Option<String>,
}

/// Which tenant holds a subscription, as ARM tells a caller signed in to another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    /// The tenant signed in to (ARM showed the subscription).
    SignedIn,
    /// Another tenant: ARM refused the token as from the wrong issuer, naming this one.
    Other(String),
    /// Not known: the caller cannot see the subscription, or ARM did not answer.
    Unknown(String),
}

/// Which tenant holds `subscription`, asked with `arm`'s tenant: one GET.
pub async fn subscription_holder(arm: &Api<'_>, subscription: &str) -> Holder {
    let path = format!(
        "/subscriptions/{subscription}?api-version={}",
        crate::arm::subscriptions::SUBSCRIPTIONS_API
    );
    match arm.get(&path).await {
        Ok(body) => match object::<SubscriptionTenant>(&body)
            .unwrap_or_default()
            .tenant_id
        {
            Some(t) if !t.eq_ignore_ascii_case(arm.tenant()) && is_guid(arm.tenant()) => {
                Holder::Other(t.to_ascii_lowercase())
            }
            _ => Holder::SignedIn,
        },
        Err(e) => match wrong_issuer(e.detail().unwrap_or(e.message())) {
            Some((_, holder)) if e.is_code(WRONG_ISSUER) => Holder::Other(holder),
            _ => Holder::Unknown(format!("{} ({})", e.message(), e.code())),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arms_wrong_issuer_message_names_both_tenants() {
        let m = "The access token is from the wrong issuer 'https://sts.windows.net/b2b2b2b2-0000-4000-8000-00000000000B/'. It must match the tenant 'https://sts.windows.net/a1a1a1a1-0000-4000-8000-00000000000a/' associated with this subscription. Please use the authority (URL) 'https://login.windows.net/a1a1a1a1-0000-4000-8000-00000000000a' to get the token.";
        assert_eq!(
            wrong_issuer(m),
            Some((
                "b2b2b2b2-0000-4000-8000-00000000000b".to_owned(),
                "a1a1a1a1-0000-4000-8000-00000000000a".to_owned()
            ))
        );
        assert_eq!(wrong_issuer("no tenants here"), None);
    }
}
