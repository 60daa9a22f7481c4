//! Who owns an app: its owners may add secrets to it, so a tag on it (written by those
//! owners) is no evidence of who made it; its owner list is.

use crate::error::{Error, Result, codes};
use crate::http::Api;

/// The object ids of the owners of the app with object id `app_object_id`
/// (`GET /applications/{id}/owners?$select=id`, every page).
pub async fn app_owners(api: &Api<'_>, app_object_id: &str) -> Result<Vec<String>> {
    let items = api
        .list(&format!("/applications/{app_object_id}/owners?$select=id"))
        .await?;
    items
        .iter()
        .map(|v| {
            v.get("id")
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| {
                    Error::step(
                        codes::UNEXPECTED_RESPONSE,
                        format!(
                            "Microsoft Graph listed an owner of the app {app_object_id} without its id: {v}"
                        ),
                    )
                })
        })
        .collect()
}
