//! Subscriptions: the one list of the subscriptions a caller sees, and its api-version
//! (used by acr-grant's registry lookup, the cluster listing and the tenant checks).

use serde::Deserialize;

use crate::error::{Result, codes};
use crate::http::Api;
use crate::json::{lenient, read};
use crate::validate::is_guid;

/// The api-version of the subscription calls (`GET /subscriptions`, `/subscriptions/{id}`).
pub const SUBSCRIPTIONS_API: &str = "2022-12-01";

/// The ids of the enabled subscriptions the caller sees in `api`'s tenant.
pub async fn subscriptions(api: &Api<'_>) -> Result<Vec<String>> {
    Ok(subscriptions_named(api)
        .await?
        .into_iter()
        .map(|(id, _)| id)
        .collect())
}

/// A subscription as ARM lists it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Subscription {
    /// Which subscription: decided on.
    #[serde(rename = "subscriptionId")]
    id: String,
    /// Its tenant (a token for one tenant lists that tenant's; another that slips in is skipped).
    #[serde(default, deserialize_with = "lenient")]
    tenant_id: Option<String>,
    /// `Enabled`, `Disabled`, `Deleted`, …
    #[serde(default, deserialize_with = "lenient")]
    state: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    display_name: String,
}

/// The enabled subscriptions the caller sees in `api`'s tenant, with their display names
/// (sorted by id).
pub async fn subscriptions_named(api: &Api<'_>) -> Result<Vec<(String, String)>> {
    let listed = api
        .list(&format!("/subscriptions?api-version={SUBSCRIPTIONS_API}"))
        .await?;
    let tenant = api.tenant();
    let mut found = Vec::new();
    for item in &listed {
        let s: Subscription = read(
            item,
            codes::UNEXPECTED_ARM_ANSWER,
            "a subscription ARM listed",
        )?;
        let in_tenant = !is_guid(tenant)
            || s.tenant_id
                .as_deref()
                .is_none_or(|t| t.eq_ignore_ascii_case(tenant));
        let usable = !s.state.as_deref().is_some_and(|st| {
            st.eq_ignore_ascii_case("Disabled") || st.eq_ignore_ascii_case("Deleted")
        });
        if in_tenant && usable && is_guid(&s.id) {
            found.push((s.id.to_ascii_lowercase(), s.display_name));
        }
    }
    found.sort();
    found.dedup_by(|a, b| a.0 == b.0);
    Ok(found)
}
