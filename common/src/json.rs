//! Reading values out of Azure's JSON answers.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

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

/// For `#[serde(deserialize_with)]`: an explicit `null` (Azure writes some empty fields so)
/// read as the type's default, as an absent field is with `#[serde(default)]`.
pub fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// The strings of the array `v` (other items skipped); empty when `v` is absent or not an
/// array, as Azure omits an empty list.
pub fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{Mismatch, strings, typed};

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
}
