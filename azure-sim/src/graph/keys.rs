//! How Graph addresses an object: by id, or by an alternate key in a segment
//! (`applications(appId='...')`, `applications(uniqueName='...')`).

/// How an object is addressed.
#[derive(Debug, Clone)]
pub(super) enum Key {
    Id(String),
    AppId(String),
    UniqueName(String),
}

impl Key {
    pub(super) fn text(&self) -> &str {
        match self {
            Key::Id(s) | Key::AppId(s) | Key::UniqueName(s) => s,
        }
    }
}

/// Parse an OData string literal `'...'` with `''` escapes.
pub(super) fn odata_string(s: &str) -> Option<String> {
    let s = s.trim();
    let inner = s.strip_prefix('\'')?.strip_suffix('\'')?;
    let mut out = String::new();
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' {
            if chars.peek() == Some(&'\'') {
                chars.next();
                out.push('\'');
            } else {
                return None;
            }
        } else {
            out.push(c);
        }
    }
    Some(out)
}

/// The message for a key property the collection does not have (Microsoft Graph's alternate-key
/// pattern: `'name' is not a valid alternate key for the resource type 'user'.`).
pub(super) fn unsupported_key(property: &str, collection: &str) -> String {
    let resource = match collection {
        "applications" => "application",
        "serviceprincipals" => "servicePrincipal",
        other => other,
    };
    format!("'{property}' is not a valid alternate key for the resource type '{resource}'.")
}

/// Split `applications(appId='x')` into `("applications", Some(AppId("x")))`.
pub(super) fn parse_segment(seg: &str) -> Result<(String, Option<Key>), String> {
    let Some(open) = seg.find('(') else {
        return Ok((seg.to_ascii_lowercase(), None));
    };
    let name = seg[..open].to_ascii_lowercase();
    let inner = seg[open + 1..]
        .strip_suffix(')')
        .ok_or_else(|| format!("Bad Request - Error in query syntax: '{seg}'."))?;
    if let Some(v) = odata_string(inner) {
        return Ok((name, Some(Key::Id(v))));
    }
    let (k, v) = inner
        .split_once('=')
        .ok_or_else(|| format!("Bad Request - Error in query syntax: '{seg}'."))?;
    let v =
        odata_string(v).ok_or_else(|| format!("Bad Request - Error in query syntax: '{seg}'."))?;
    let key = match k.trim().to_ascii_lowercase().as_str() {
        "appid" => Key::AppId(v),
        "uniquename" if name == "applications" => Key::UniqueName(v),
        "id" => Key::Id(v),
        _ => {
            return Err(unsupported_key(k.trim(), &name));
        }
    };
    Ok((name, Some(key)))
}

#[cfg(test)]
mod tests {
    use super::{Key, parse_segment};

    #[test]
    fn segments() {
        let (n, k) = parse_segment("applications(appId='a''b')").unwrap();
        assert_eq!(n, "applications");
        assert!(matches!(k, Some(Key::AppId(ref s)) if s == "a'b"));
        let (_, k) = parse_segment("applications(uniqueName='x')").unwrap();
        assert!(matches!(k, Some(Key::UniqueName(_))));
        assert!(parse_segment("applications(foo='x')").is_err());
    }
}
