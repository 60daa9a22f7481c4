//! Subscriptions: the one list of the subscriptions a caller sees, and its api-version
//! (used by acr-grant's registry lookup, the cluster listing and the tenant checks).

use serde_json::Value;

use crate::error::Result;
use crate::http::Api;
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

/// The enabled subscriptions the caller sees in `api`'s tenant, with their display names
/// (sorted by id).
pub async fn subscriptions_named(api: &Api<'_>) -> Result<Vec<(String, String)>> {
    let listed = api
        .list(&format!("/subscriptions?api-version={SUBSCRIPTIONS_API}"))
        .await?;
    let tenant = api.tenant();
    let mut found: Vec<(String, String)> = listed
        .iter()
        .filter(|s| {
            // A token for one tenant lists that tenant's subscriptions; skip any other that slips in.
            let in_tenant = !is_guid(tenant)
                || s.get("tenantId")
                    .and_then(Value::as_str)
                    .is_none_or(|t| t.eq_ignore_ascii_case(tenant));
            let usable = !s.get("state").and_then(Value::as_str).is_some_and(|st| {
                st.eq_ignore_ascii_case("Disabled") || st.eq_ignore_ascii_case("Deleted")
            });
            in_tenant && usable
        })
        .filter_map(|s| {
            let id = s.get("subscriptionId").and_then(Value::as_str)?;
            let name = s.get("displayName").and_then(Value::as_str).unwrap_or("");
            is_guid(id).then(|| (id.to_ascii_lowercase(), name.to_owned()))
        })
        .collect();
    found.sort();
    found.dedup_by(|a, b| a.0 == b.0);
    Ok(found)
}
