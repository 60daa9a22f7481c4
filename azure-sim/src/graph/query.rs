//! Collections: `$filter` (the subset Graph supports on these properties), `$top`, paging
//! with `$skiptoken`, `$select`.

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::keys::odata_string;
use super::{R, base, select};
use crate::core::Core;
use crate::http::{Req, graph_err, graph_json};

#[derive(Debug)]
enum Cond {
    Eq(String, String),
    StartsWith(String, String),
    AnyEq(String, String),
}

fn split_and(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_q = false;
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        if c == '\'' {
            in_q = !in_q;
        }
        if !in_q
            && rest
                .get(..5)
                .is_some_and(|w| w.eq_ignore_ascii_case(" and "))
        {
            out.push(std::mem::take(&mut cur));
            rest = &rest[5..];
            continue;
        }
        cur.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out.push(cur);
    out
}

fn parse_filter(s: &str) -> Result<Vec<Cond>, String> {
    let unsupported = || format!("Invalid filter clause: unsupported expression '{s}'.");
    let mut conds = Vec::new();
    for clause in split_and(s) {
        let mut c = clause.trim();
        while c.starts_with('(')
            && c.ends_with(')')
            && !c.to_ascii_lowercase().starts_with("startswith")
        {
            c = c[1..c.len() - 1].trim();
        }
        let lc = c.to_ascii_lowercase();
        if lc.starts_with("startswith(") && c.ends_with(')') {
            let inner = &c["startswith(".len()..c.len() - 1];
            let (prop, val) = inner.split_once(',').ok_or_else(unsupported)?;
            let val = odata_string(val).ok_or_else(unsupported)?;
            conds.push(Cond::StartsWith(prop.trim().to_string(), val));
        } else if let Some(pos) = lc.find("/any(") {
            let prop = c[..pos].trim().to_string();
            let inner = c[pos + 5..].strip_suffix(')').ok_or_else(unsupported)?;
            let (var, expr) = inner.split_once(':').ok_or_else(unsupported)?;
            let expr = expr.trim();
            let rest = expr
                .strip_prefix(var.trim())
                .map(str::trim_start)
                .ok_or_else(unsupported)?;
            let val = rest
                .strip_prefix("eq ")
                .and_then(odata_string)
                .ok_or_else(unsupported)?;
            conds.push(Cond::AnyEq(prop, val));
        } else {
            let (prop, rest) = c.split_once(char::is_whitespace).ok_or_else(unsupported)?;
            let rest = rest.trim_start();
            let val = rest
                .strip_prefix("eq ")
                .or_else(|| rest.strip_prefix("EQ "))
                .and_then(odata_string)
                .ok_or_else(unsupported)?;
            conds.push(Cond::Eq(prop.to_string(), val));
        }
    }
    Ok(conds)
}

fn matches(v: &Value, conds: &[Cond]) -> bool {
    let prop = |p: &str| {
        v.as_object().and_then(|o| {
            o.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(p))
                .map(|(_, x)| x.clone())
        })
    };
    conds.iter().all(|c| match c {
        Cond::Eq(p, val) => prop(p).is_some_and(|x| match x {
            Value::String(s) => s.eq_ignore_ascii_case(val),
            Value::Bool(b) => b.to_string() == *val,
            _ => false,
        }),
        Cond::StartsWith(p, val) => prop(p).is_some_and(|x| {
            x.as_str().is_some_and(|s| {
                s.to_ascii_lowercase()
                    .starts_with(&val.to_ascii_lowercase())
            })
        }),
        Cond::AnyEq(p, val) => prop(p).is_some_and(|x| {
            x.as_array().is_some_and(|a| {
                a.iter()
                    .any(|e| e.as_str().is_some_and(|s| s.eq_ignore_ascii_case(val)))
            })
        }),
    })
}

pub(super) fn list(core: &Core, req: &Req, items: Vec<Value>, set: &str, filterable: &[&str]) -> R {
    let conds = match req.q("$filter") {
        Some(f) => parse_filter(f)
            .map_err(|m| graph_err(req, StatusCode::BAD_REQUEST, "Request_UnsupportedQuery", &m))?,
        None => Vec::new(),
    };
    for c in &conds {
        let (Cond::Eq(p, _) | Cond::StartsWith(p, _) | Cond::AnyEq(p, _)) = c;
        if !filterable.iter().any(|f| f.eq_ignore_ascii_case(p)) {
            return Err(graph_err(
                req,
                StatusCode::BAD_REQUEST,
                "Request_UnsupportedQuery",
                &format!(
                    "Unsupported or invalid query filter clause specified for property '{p}' of resource '{set}'."
                ),
            ));
        }
    }
    let all: Vec<Value> = items.into_iter().filter(|v| matches(v, &conds)).collect();
    let top = match req.q("$top") {
        Some(t) => t
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=999).contains(n))
            .ok_or_else(|| {
                graph_err(
                    req,
                    StatusCode::BAD_REQUEST,
                    "Request_BadRequest",
                    &format!(
                        "Invalid page size specified: '{t}'. Must be between 1 and 999 inclusive."
                    ),
                )
            })?,
        None => 100,
    };
    let skip = req
        .q("$skiptoken")
        .and_then(|s| s.parse::<usize>().ok())
        .unwrap_or(0);
    let page: Vec<Value> = all
        .iter()
        .skip(skip)
        .take(top)
        .cloned()
        .map(|v| select(req, v))
        .collect();
    let mut body = json!({
        "@odata.context": format!("{}/$metadata#{set}", base(core, req)),
        "value": page,
    });
    if skip + top < all.len() {
        let mut q: Vec<(String, String)> = req
            .query
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("$skiptoken"))
            .cloned()
            .collect();
        q.push(("$skiptoken".into(), (skip + top).to_string()));
        let qs = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(q)
            .finish();
        body["@odata.nextLink"] = json!(format!("{}{}?{qs}", core.cloud.graph_url(), req.path));
    }
    Ok(graph_json(StatusCode::OK, &body))
}

#[cfg(test)]
mod tests {
    use super::{Cond, parse_filter};
    use crate::graph::keys::parse_segment;

    #[test]
    fn filters() {
        let c = parse_filter("appId eq 'x' and startswith(displayName,'a b')").unwrap();
        assert!(matches!(&c[0], Cond::Eq(p, v) if p == "appId" && v == "x"));
        assert!(matches!(&c[1], Cond::StartsWith(_, v) if v == "a b"));
        let c = parse_filter("servicePrincipalNames/any(c:c eq 'id')").unwrap();
        assert!(matches!(&c[0], Cond::AnyEq(p, v) if p == "servicePrincipalNames" && v == "id"));
        assert!(parse_filter("appId gt 'x'").is_err());
        let c = parse_filter("displayName eq 'é and ü' AND appId eq 'x'").unwrap();
        assert!(matches!(&c[0], Cond::Eq(_, v) if v == "é and ü"));
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn hostile_input_never_panics() {
        for s in [
            "",
            "(",
            ")",
            "'",
            "é",
            "startswith(",
            "startswith(é,'",
            "x/any(",
            "x/any(é:é eq 'a')",
            "(((",
            "a eq 'é''",
            "ü and ü and",
        ] {
            let _ = parse_filter(s);
            let _ = parse_segment(s);
            let _ = parse_segment(&format!("applications({s})"));
            let _ = crate::rbac::condition_allows_repo(Some(s), "é");
        }
    }
}
