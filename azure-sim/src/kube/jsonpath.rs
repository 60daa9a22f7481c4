//! `kubectl … -o jsonpath=TEMPLATE`: the subset of Kubernetes JSONPath a script needs.
//!
//! Text outside braces is printed as it is; inside braces: a path (`.a.b[0].c`, `['a']`,
//! `[*]`, an optional leading `@` or `$`), a quoted literal (`{"\t"}`), or `range PATH` …
//! `end`. As `kubectl get` does (`allowMissingKeys`), a missing key or index prints nothing;
//! strings print as they are, other values as JSON, several results separated by a space.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
    All,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Text(String),
    Path(Vec<Step>),
    Range(Vec<Step>, Vec<Node>),
}

/// Renders `template` over `data`; `Err` names what could not be read.
pub(crate) fn render(template: &str, data: &Value) -> Result<String, String> {
    let pieces = pieces(template)?;
    let mut at = 0;
    let nodes = nodes(&pieces, &mut at, false)?;
    let mut out = String::new();
    emit(&nodes, data, &mut out);
    Ok(out)
}

/// A piece of a template: text, or the inside of `{ … }`.
#[derive(Debug, Clone)]
enum Piece {
    Text(String),
    Expr(String),
}

fn pieces(template: &str) -> Result<Vec<Piece>, String> {
    let mut out = Vec::new();
    let mut text = String::new();
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '{' {
            text.push(c);
            continue;
        }
        if !text.is_empty() {
            out.push(Piece::Text(std::mem::take(&mut text)));
        }
        let mut expr = String::new();
        let mut quote = false;
        loop {
            match chars.next() {
                Some('"') => {
                    quote = !quote;
                    expr.push('"');
                }
                Some('\\') if quote => {
                    expr.push('\\');
                    if let Some(n) = chars.next() {
                        expr.push(n);
                    }
                }
                Some('}') if !quote => break,
                Some(c) => expr.push(c),
                None => return Err(format!("unclosed action in template {template:?}")),
            }
        }
        out.push(Piece::Expr(expr.trim().to_owned()));
    }
    if !text.is_empty() {
        out.push(Piece::Text(text));
    }
    Ok(out)
}

fn nodes(pieces: &[Piece], at: &mut usize, in_range: bool) -> Result<Vec<Node>, String> {
    let mut out = Vec::new();
    while let Some(p) = pieces.get(*at) {
        *at += 1;
        match p {
            Piece::Text(t) => out.push(Node::Text(t.clone())),
            Piece::Expr(e) if e == "end" => {
                return if in_range {
                    Ok(out)
                } else {
                    Err("not in range, nothing to end".into())
                };
            }
            Piece::Expr(e) => {
                if let Some(path) = e.strip_prefix("range ") {
                    let steps = path_steps(path.trim())?;
                    let inner = nodes(pieces, at, true)?;
                    out.push(Node::Range(steps, inner));
                } else if e.starts_with('"') {
                    out.push(Node::Text(literal(e)?));
                } else {
                    out.push(Node::Path(path_steps(e)?));
                }
            }
        }
    }
    if in_range {
        return Err("range without end".into());
    }
    Ok(out)
}

/// `"…"` with `\t`, `\n`, `\\`, `\"`.
fn literal(e: &str) -> Result<String, String> {
    let inner = e
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .ok_or_else(|| format!("unterminated quoted literal {e}"))?;
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('t') => out.push('\t'),
                Some('n') => out.push('\n'),
                Some('r') => out.push('\r'),
                Some(o) => out.push(o),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

fn path_steps(p: &str) -> Result<Vec<Step>, String> {
    let p = p.strip_prefix(['@', '$']).unwrap_or(p);
    let mut steps = Vec::new();
    let mut rest = p;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let key = &r[..end];
            if key.is_empty() {
                return Err(format!("unrecognized identifier in {p:?}"));
            }
            steps.push(Step::Key(key.to_owned()));
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r
                .find(']')
                .ok_or_else(|| format!("unterminated array in {p:?}"))?;
            let inside = r[..end].trim();
            steps.push(if inside == "*" {
                Step::All
            } else if let Some(k) = inside.strip_prefix('\'').and_then(|k| k.strip_suffix('\'')) {
                Step::Key(k.to_owned())
            } else {
                Step::Index(
                    inside
                        .parse()
                        .map_err(|_| format!("unsupported array index {inside:?} in {p:?}"))?,
                )
            });
            rest = &r[end + 1..];
        } else {
            return Err(format!("unrecognized character in action: {p:?}"));
        }
    }
    Ok(steps)
}

fn eval<'v>(steps: &[Step], v: &'v Value) -> Vec<&'v Value> {
    let mut cur = vec![v];
    for s in steps {
        cur = cur
            .into_iter()
            .flat_map(|v| -> Vec<&Value> {
                match (s, v) {
                    (Step::Key(k), Value::Object(m)) => m.get(k).into_iter().collect(),
                    (Step::Index(i), Value::Array(a)) => a.get(*i).into_iter().collect(),
                    (Step::All, Value::Array(a)) => a.iter().collect(),
                    (Step::All, Value::Object(m)) => m.values().collect(),
                    _ => Vec::new(),
                }
            })
            .collect();
    }
    cur
}

fn emit(nodes: &[Node], data: &Value, out: &mut String) {
    for n in nodes {
        match n {
            Node::Text(t) => out.push_str(t),
            Node::Path(steps) => {
                let shown: Vec<String> = eval(steps, data)
                    .into_iter()
                    .map(|v| match v {
                        Value::String(s) => s.clone(),
                        Value::Null => String::new(),
                        other => other.to_string(),
                    })
                    .collect();
                out.push_str(&shown.join(" "));
            }
            Node::Range(steps, inner) => {
                for item in eval(steps, data) {
                    let items: Vec<&Value> = match item {
                        Value::Array(a) => a.iter().collect(),
                        other => vec![other],
                    };
                    for i in items {
                        emit(inner, i, out);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::render;
    use serde_json::json;

    #[test]
    fn renders_paths_literals_and_ranges() {
        let pod = json!({"spec": {"nodeName": "n1"}, "status": {"containerStatuses": [{"imageID": "r/x@sha256:1", "state": {"waiting": {"reason": "ErrImagePull"}}}]}});
        assert_eq!(
            render("{.status.containerStatuses[0].imageID}", &pod).unwrap(),
            "r/x@sha256:1"
        );
        assert_eq!(
            render(
                "{.status.containerStatuses[0].state.waiting.reason}|{.spec.nodeName}",
                &pod
            )
            .unwrap(),
            "ErrImagePull|n1"
        );
        assert_eq!(
            render("{.status.containerStatuses[1].imageID}{.nope.x}", &pod).unwrap(),
            ""
        );
        let list = json!({"items": [{"reason": "Pulling", "message": "a"}, {"reason": "Failed", "message": "b\tc"}]});
        assert_eq!(
            render(
                r#"{range .items[*]}{.reason}{"\t"}{.message}{"\n"}{end}"#,
                &list
            )
            .unwrap(),
            "Pulling\ta\nFailed\tb\tc\n"
        );
        assert_eq!(
            render("{.items[*].reason}", &list).unwrap(),
            "Pulling Failed"
        );
        assert_eq!(render("{['items'][0].message}", &list).unwrap(), "a");
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        for bad in ["{.a", "{range .a}x", "{end}", "{.a[x]}", "{a b}", "{\"x}"] {
            assert!(render(bad, &json!({})).is_err(), "{bad}");
        }
    }
}
