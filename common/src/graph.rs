//! Small helpers for Microsoft Graph paths and OData filters, and the lookups several tools share.

use serde_json::Value;

use crate::error::{Error, Result};
use crate::http::Api;

/// Quotes a string for an OData literal: `'…'` with single quotes doubled.
pub fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// An alternate-key path such as `/applications(appId='…')`, percent-encoded.
pub fn alt_key(collection: &str, key: &str, value: &str) -> String {
    let q = quote(value);
    let encoded: String = url::form_urlencoded::byte_serialize(q.as_bytes())
        .collect::<String>()
        .replace('+', "%20");
    // Keep the quotes readable; they are legal in a path.
    format!("/{collection}({key}={})", encoded.replace("%27", "'"))
}

/// A path with a `$filter` query, encoded.
pub fn filter(collection: &str, filter: &str) -> String {
    let f: String = url::form_urlencoded::byte_serialize(filter.as_bytes()).collect();
    format!("/{collection}?$filter={f}")
}

/// The object id of `app_id`'s service principal in the Graph tenant of `api`, if it has one.
///
/// `GET /servicePrincipals(appId='…')?$select=id,appId`; a 404 is `None`. An answer
/// without an `id` is an error (`UnexpectedGraphAnswer`), not "none".
pub async fn service_principal_id(api: &Api<'_>, app_id: &str) -> Result<Option<String>> {
    let path = format!(
        "{}?$select=id,appId",
        alt_key("servicePrincipals", "appId", app_id)
    );
    let Some(sp) = api.get_opt(&path).await? else {
        return Ok(None);
    };
    let id = sp.get("id").and_then(Value::as_str).ok_or_else(|| {
        Error::step(
            "UnexpectedGraphAnswer",
            format!("Microsoft Graph answered the service principal of app {app_id} without an id"),
        )
    })?;
    Ok(Some(id.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alternate_keys_and_filters() {
        assert_eq!(
            alt_key("applications", "appId", "abc"),
            "/applications(appId='abc')"
        );
        assert_eq!(
            alt_key("applications", "uniqueName", "o'x y/z"),
            "/applications(uniqueName='o''x%20y%2Fz')"
        );
        assert_eq!(
            filter("servicePrincipals", "appId eq 'a'"),
            "/servicePrincipals?$filter=appId+eq+%27a%27"
        );
    }
}
