//! Small helpers for Microsoft Graph paths and OData filters.

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
