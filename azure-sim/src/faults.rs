//! Injected faults: per-request rules (status, latency, dropped connection, a patched body)
//! and outcomes for the next long-running operations.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::http::Req;
use crate::sync::lock;

fn star() -> String {
    "*".into()
}
fn one() -> u64 {
    1
}

/// One fault rule, as posted to `/_sim/faults`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FaultRule {
    /// HTTP method to match, or `*`.
    #[serde(default = "star")]
    pub method: String,
    /// Substring the path must contain (case-insensitive); any path when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Substring the Host header must contain (case-insensitive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Matching requests let through before the rule applies.
    #[serde(default)]
    pub skip: u64,
    /// How many matching requests it affects (0 = unlimited).
    #[serde(default = "one")]
    pub count: u64,
    /// Answer with this status instead of handling the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Extra response headers (e.g. `Retry-After`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Added latency before answering.
    #[serde(default)]
    pub delay_ms: u64,
    /// Latency added after the request was handled: its effect is made (and logged), the
    /// answer comes late, or never when the caller gives up or dies meanwhile.
    #[serde(default)]
    pub delay_after_ms: u64,
    /// Close the connection without answering.
    #[serde(default)]
    pub drop: bool,
    /// A JSON merge patch (RFC 7396) applied to the answer's JSON body: the request is
    /// handled as usual (or answered with `status`), then e.g. `{"nextLink": "https://…"}`
    /// is added to it (`null` removes a key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_patch: Option<Value>,
    /// For operation rules: how the next reset operation(s) end (`Succeeded`, `Failed`,
    /// `Canceled`, `Hang`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    /// Requests (or operations) that matched so far.
    #[serde(default)]
    pub matched: u64,
    /// Times it was applied so far.
    #[serde(default)]
    pub applied: u64,
}

/// An operation outcome taken from the rules.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    pub status: String,
    pub code: Option<String>,
    pub message: Option<String>,
}

impl FaultRule {
    fn validate(&mut self) -> Result<(), String> {
        if let Some(op) = &self.operation {
            let canon = ["Succeeded", "Failed", "Canceled", "Hang"]
                .into_iter()
                .find(|x| x.eq_ignore_ascii_case(op))
                .ok_or_else(|| {
                    format!("operation must be Succeeded, Failed, Canceled or Hang, not '{op}'")
                })?;
            self.operation = Some(canon.to_string());
            return Ok(());
        }
        if let Some(s) = self.status
            && !(100..=599).contains(&s)
        {
            return Err(format!("status {s} is not an HTTP status"));
        }
        if self.body_patch.as_ref().is_some_and(|p| !p.is_object()) {
            return Err("body_patch must be a JSON object (a merge patch)".into());
        }
        if self.status.is_none()
            && self.delay_ms == 0
            && self.delay_after_ms == 0
            && !self.drop
            && self.body_patch.is_none()
        {
            return Err(
                "a fault rule needs status, delay_ms, delay_after_ms, drop, body_patch or operation"
                    .into(),
            );
        }
        if self.method.is_empty() {
            self.method = star();
        }
        Ok(())
    }

    fn matches(&self, req: &Req) -> bool {
        (self.method == "*" || self.method.eq_ignore_ascii_case(req.method.as_str()))
            && self.path.as_ref().is_none_or(|p| {
                req.path
                    .to_ascii_lowercase()
                    .contains(&p.to_ascii_lowercase())
            })
            && self
                .host
                .as_ref()
                .is_none_or(|h| req.host.contains(&h.to_ascii_lowercase()))
    }

    fn has_budget(&self) -> bool {
        self.count == 0 || self.applied < self.count
    }
}

/// Applies the JSON merge patch `patch` to `target` (RFC 7396, section 2).
pub(crate) fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(serde_json::Map::new());
    }
    if let Value::Object(t) = target {
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

/// Parse and add one rule or an array of rules.
pub(crate) fn add(faults: &Mutex<Vec<FaultRule>>, v: Value) -> Result<usize, String> {
    let items = match v {
        Value::Array(a) => a,
        other => vec![other],
    };
    let mut rules = Vec::new();
    for item in items {
        let mut r: FaultRule = serde_json::from_value(item).map_err(|e| e.to_string())?;
        r.validate()?;
        rules.push(r);
    }
    let n = rules.len();
    lock(faults).extend(rules);
    Ok(n)
}

/// The request fault to apply to `req`, if any (counting it).
pub(crate) fn take(faults: &Mutex<Vec<FaultRule>>, req: &Req) -> Option<FaultRule> {
    let mut rules = lock(faults);
    for r in rules.iter_mut().filter(|r| r.operation.is_none()) {
        if !r.has_budget() || !r.matches(req) {
            continue;
        }
        r.matched += 1;
        if r.matched > r.skip {
            r.applied += 1;
            return Some(r.clone());
        }
    }
    None
}

/// The outcome the next operation must have, if a rule says so (counting it).
pub(crate) fn take_operation_outcome(faults: &Mutex<Vec<FaultRule>>) -> Option<Outcome> {
    let mut rules = lock(faults);
    for r in rules.iter_mut() {
        let Some(op) = r.operation.clone() else {
            continue;
        };
        if !r.has_budget() {
            continue;
        }
        r.matched += 1;
        if r.matched > r.skip {
            r.applied += 1;
            return Some(Outcome {
                status: op,
                code: r.code.clone(),
                message: r.message.clone(),
            });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::merge_patch;

    /// The examples of RFC 7396, appendix A (a selection).
    #[test]
    fn merge_patch_follows_rfc_7396() {
        for (target, patch, result) in [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (
                json!({"a": "b"}),
                json!({"b": "c"}),
                json!({"a": "b", "b": "c"}),
            ),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (
                json!({"a": {"b": "c"}}),
                json!({"a": {"b": "d", "c": null}}),
                json!({"a": {"b": "d"}}),
            ),
            (
                json!({"a": [{"b": "c"}]}),
                json!({"a": [1]}),
                json!({"a": [1]}),
            ),
            (json!(["a", "b"]), json!({"a": "c"}), json!({"a": "c"})),
            (
                json!({}),
                json!({"a": {"bb": {"ccc": null}}}),
                json!({"a": {"bb": {}}}),
            ),
        ] {
            let mut t = target.clone();
            merge_patch(&mut t, &patch);
            assert_eq!(t, result, "{target} + {patch}");
        }
    }
}
