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
    let listed = api
        .list(&format!("/subscriptions?api-version={SUBSCRIPTIONS_API}"))
        .await?;
    let tenant = api.tenant();
    let mut ids: Vec<String> = listed
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
        .filter_map(|s| s.get("subscriptionId").and_then(Value::as_str))
        .filter(|s| is_guid(s))
        .map(str::to_ascii_lowercase)
        .collect();
    ids.sort();
    ids.dedup();
    Ok(ids)
}
