//! Reading values out of Azure's JSON answers.

use serde_json::Value;

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

    use super::strings;

    #[test]
    fn strings_of_an_array_or_none() {
        let v = json!({"a": ["x", 1, "y", null], "b": "x"});
        assert_eq!(strings(v.get("a")), ["x", "y"]);
        assert!(strings(v.get("b")).is_empty());
        assert!(strings(v.get("c")).is_empty());
    }
}
