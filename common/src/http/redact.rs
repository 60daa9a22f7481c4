//! Redaction of secret-bearing fields in JSON bodies shown on stderr (dry-run reports).

use serde_json::Value;

/// A copy of a JSON body with secret-bearing fields replaced, for reports and logs.
pub fn redact(body: &Value) -> Value {
    match body {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let lk = k.to_ascii_lowercase();
                    let secret = ["secret", "password", "token", "secrettext"]
                        .iter()
                        .any(|s| lk.contains(s))
                        && !lk.ends_with("id");
                    (
                        k.clone(),
                        if secret && v.is_string() {
                            Value::String(crate::secret::REDACTED.into())
                        } else {
                            redact(v)
                        },
                    )
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(redact).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn redaction_hides_secret_fields_only() {
        let b = json!({"passwordCredential":{"displayName":"x","endDateTime":"2027"},"clientId":"a","secret":"s","secretText":"t","keyId":"k","nested":[{"client_secret":"c"}]});
        let r = redact(&b).to_string();
        for s in ["\"s\"", "\"t\"", "\"c\""] {
            assert!(!r.contains(s), "{r}");
        }
        assert!(
            r.contains("\"keyId\":\"k\"")
                && r.contains("\"clientId\":\"a\"")
                && r.contains("endDateTime"),
            "{r}"
        );
    }
}
