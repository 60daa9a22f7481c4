//! Reading Azure's JSON answers into types.
//!
//! Every answer a step decides on is read into a `Deserialize` struct: lenient to fields it
//! does not name (Azure adds them), strict about the ones it does. [`typed`] names the field
//! that does not fit ([`Mismatch`]), [`read`] makes that an error saying who answered;
//! [`lenient`] is for a field that only informs, whose odd value is taken as absent rather
//! than failing the answer.

use serde::Deserialize;
use serde::de::{DeserializeOwned, Deserializer, IgnoredAny};
use serde_json::Value;

use crate::error::{Error, codes::Code};

/// A field of an answer that is not what its type says: where (`properties.servicePrincipalProfile.clientId`)
/// and what is wrong (`invalid type: integer `5`, expected a string`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// The field's path, dotted (array items as `[i]`); `.` for the body itself.
    pub path: String,
    /// What is wrong with it.
    pub problem: String,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.problem)
    }
}

/// Reads `v` as a `T`, naming the field that does not fit: the typed answers are lenient to
/// fields they do not name and strict about those they do.
pub fn typed<T: DeserializeOwned>(v: &Value) -> Result<T, Mismatch> {
    serde_path_to_error::deserialize(v).map_err(|e| Mismatch {
        path: e.path().to_string(),
        problem: e.inner().to_string(),
    })
}

/// `body`, an object (as every answer of Azure's is), read as a `T`; when it is no object or
/// does not fit, an error with `code` saying `what` answered and the path of the field that
/// did not fit (e.g. `` at `value[0]`: missing field `keyId` ``).
pub fn read<T: DeserializeOwned>(body: &Value, code: Code, what: &str) -> crate::Result<T> {
    if !body.is_object() {
        return Err(Error::step(code, format!("{what} is not a JSON object")));
    }
    typed(body).map_err(|m| {
        let at = if m.path == "." {
            String::new()
        } else {
            format!(" at `{}`", m.path)
        };
        Error::step(
            code,
            format!("{what} does not have the expected shape{at}: {}", m.problem),
        )
    })
}

/// `v` read as a `T` when it is an object that fits, for an answer that only informs (a
/// struct would also read an array, by position: that is no answer of Azure's).
pub fn object<T: DeserializeOwned>(v: &Value) -> Option<T> {
    v.is_object().then(|| T::deserialize(v).ok()).flatten()
}

/// For `#[serde(deserialize_with)]`: an explicit `null` (Azure writes some empty fields so)
/// read as the type's default, as an absent field is with `#[serde(default)]`.
pub fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A field read leniently: its value when it has the type asked for, else the type's
/// default (`None`, empty) — for fields that inform a message but decide nothing.
///
/// # Errors
/// Only when the input itself is not JSON.
pub fn lenient<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Maybe::<T>::deserialize(d)?.or_default())
}

/// A value of type `T`, or anything else.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Maybe<T> {
    /// It has the type.
    Is(T),
    /// It does not.
    Not(IgnoredAny),
}

impl<T> Maybe<T> {
    /// The value, if it had the type.
    pub fn ok(self) -> Option<T> {
        match self {
            Self::Is(t) => Some(t),
            Self::Not(_) => None,
        }
    }
}

impl<T: Default> Maybe<T> {
    /// The value, or the default when it did not have the type.
    pub fn or_default(self) -> T {
        self.ok().unwrap_or_default()
    }
}

/// The strings of the array `v` (other items skipped); empty when `v` is absent or not an
/// array, as Azure omits an empty list.
pub fn strings(v: Option<&Value>) -> Vec<String> {
    v.map(|v| {
        <Vec<Maybe<String>>>::deserialize(v)
            .unwrap_or_default()
            .into_iter()
            .filter_map(Maybe::ok)
            .collect()
    })
    .unwrap_or_default()
}

/// A JWT's payload (its second part, base64url) read as a `T`; `None` when the token has
/// none or it does not fit. Not verified: for a token that came over TLS from who made it.
pub fn jwt_payload<T: DeserializeOwned>(token: &str) -> Option<T> {
    use base64::Engine as _;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// A list of strings read leniently (the [`strings`] of a field, for a struct):
/// `#[serde(default, deserialize_with = "json::string_list")]`.
///
/// # Errors
/// Only when the input itself is not JSON.
pub fn string_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let items: Vec<Maybe<String>> = lenient(d)?;
    Ok(items.into_iter().filter_map(Maybe::ok).collect())
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;
    use crate::error::codes;

    #[test]
    fn a_jwt_payload_is_read_padded_or_not_and_anything_else_is_none() {
        use base64::Engine as _;
        #[derive(Debug, PartialEq, Deserialize)]
        struct Tid {
            tid: String,
        }
        let b64 = |t: &str| base64::engine::general_purpose::URL_SAFE.encode(t);
        // Padded (`=`) as some issuers write it, or not.
        for payload in [b64(r#"{"tid":"T"}"#), b64(r#"{"tid":"T1"}"#)] {
            let t = format!("{}.{payload}.sig", b64("{}"));
            assert!(
                jwt_payload::<Tid>(&t).is_some_and(|c| c.tid.starts_with('T')),
                "{t}"
            );
        }
        assert_eq!(jwt_payload::<Tid>("opaque"), None);
        assert_eq!(jwt_payload::<Tid>("a.!!.c"), None);
        let other = format!("a.{}.c", b64(r#"{"tid":5}"#));
        assert_eq!(jwt_payload::<Tid>(&other), None);
    }

    #[test]
    fn strings_of_an_array_or_none() {
        let v = json!({"a": ["x", 1, "y", null], "b": "x"});
        assert_eq!(strings(v.get("a")), ["x", "y"]);
        assert!(strings(v.get("b")).is_empty());
        assert!(strings(v.get("c")).is_empty());
    }

    #[test]
    fn a_typed_answer_names_the_field_that_does_not_fit() {
        #[derive(Debug, serde::Deserialize)]
        struct Inner {
            #[serde(rename = "clientId")]
            client_id: Option<String>,
        }
        #[derive(Debug, serde::Deserialize)]
        struct Outer {
            #[serde(rename = "_p")]
            pools: Vec<Inner>,
        }
        let e = typed::<Outer>(&json!({"_p": [{"clientId": "a"}, {"clientId": 5}]})).unwrap_err();
        assert_eq!(e.path, "_p[1].clientId", "{e}");
        assert!(e.problem.contains("expected a string"), "{e}");
        let ok: Outer = typed(&json!({"_p": [{"clientId": null}], "more": 1})).unwrap();
        assert_eq!(ok.pools.len(), 1);
        assert_eq!(ok.pools[0].client_id, None);
        assert_eq!(
            typed::<Outer>(&json!({})).unwrap_err(),
            Mismatch {
                path: ".".into(),
                problem: "missing field `_p`".into()
            }
        );
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Answer {
        key_id: String,
        #[serde(default, deserialize_with = "lenient")]
        hint: Option<String>,
        #[serde(default, deserialize_with = "string_list")]
        tags: Vec<String>,
    }

    #[derive(Debug, Deserialize)]
    struct List {
        value: Vec<Answer>,
    }

    #[test]
    fn an_answer_is_an_object_never_read_by_position() {
        // A struct reads an array by position: ["k"] would be an Answer with keyId k.
        let e = read::<Answer>(&json!(["k"]), codes::UNEXPECTED_GRAPH_ANSWER, "Graph").unwrap_err();
        assert_eq!(e.message(), "Graph is not a JSON object");
        assert!(object::<Answer>(&json!(["k"])).is_none());
        assert!(object::<Answer>(&json!({"keyId": "k"})).is_some());
        assert!(object::<Answer>(&json!({"keyId": 1})).is_none());
    }

    #[test]
    fn a_field_decided_on_is_named_when_missing_or_wrong() {
        let ok: List = read(
            &json!({"value": [{"keyId": "k", "hint": 5, "tags": ["a", 1], "extra": {}}]}),
            codes::UNEXPECTED_GRAPH_ANSWER,
            "Graph",
        )
        .unwrap();
        let ok = ok.value;
        assert_eq!((ok[0].key_id.as_str(), ok[0].hint.as_deref()), ("k", None));
        assert_eq!(ok[0].tags, ["a"]);
        for (body, path) in [
            (
                json!({"value": [{"keyId": "k"}, {"hint": "h"}]}),
                "value[1]",
            ),
            (json!({"value": [{"keyId": 7}]}), "value[0].keyId"),
        ] {
            let e = read::<List>(&body, codes::UNEXPECTED_GRAPH_ANSWER, "Graph").unwrap_err();
            assert_eq!(e.code(), "UnexpectedGraphAnswer");
            assert!(e.message().contains(&format!("`{path}`")), "{e}");
            assert!(e.message().contains("keyId"), "{e}");
        }
    }
}
