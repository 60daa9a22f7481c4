//! `kubectl get`: namespaces, pods and events, as `-o name`, `-o json`, `-o jsonpath=…` or
//! kubectl's default table.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{Value, json};

use super::jsonpath;
use super::kubectl::{Args, Kubectl, Out, kind, selects};
use super::{Pod, SYSTEM_NAMESPACES, kubelet};

/// Listed objects: name (empty for events) and JSON.
type Items = Vec<(String, Value)>;

impl Kubectl<'_> {
    /// `kubectl get RESOURCE [NAMES…]`.
    pub(super) fn get(&self, a: &Args, ns: &str, clock: u64) -> Result<Out, String> {
        let (resource, names) = a.positional.split_first().ok_or(
            "You must specify the type of resource to get. Use \"kubectl api-resources\" for a complete list of supported resources.",
        )?;
        let (items, what) = match kind(resource) {
            Some("namespaces") => (self.namespaces(names)?, "namespace"),
            Some("pods") => (self.pods(a, ns, names, clock)?, "pod"),
            Some("events") => (self.events(a, ns, clock)?, "event"),
            _ => {
                return Err(format!(
                    "error: the server doesn't have a resource type \"{resource}\""
                ));
            }
        };
        let output = a.flags.get("output").map_or("", String::as_str);
        if items.is_empty() && output.is_empty() {
            let mut o = Out::ok(String::new());
            o.stderr = format!("No resources found in {ns} namespace.\n");
            return Ok(o);
        }
        let data = if names.len() == 1 {
            items[0].1.clone()
        } else {
            json!({"apiVersion": "v1", "kind": "List", "items": items.iter().map(|(_, v)| v.clone()).collect::<Vec<_>>()})
        };
        let text = if let Some(t) = output.strip_prefix("jsonpath=") {
            jsonpath::render(t, &data)
                .map_err(|e| format!("error: error parsing jsonpath {t}, {e}"))?
        } else {
            match output {
                "name" => items.iter().fold(String::new(), |mut s, (n, _)| {
                    let _ = writeln!(s, "{what}/{n}");
                    s
                }),
                "json" => format!("{data:#}\n"),
                "" => table(what, &items),
                other => {
                    return Err(format!(
                        "error: unable to match a printer suitable for the output format \"{other}\", allowed formats are: json,jsonpath,name"
                    ));
                }
            }
        };
        Ok(Out::ok(text))
    }

    fn namespaces(&self, names: &[String]) -> Result<Items, String> {
        let cluster = self.cluster()?;
        let all: Vec<String> = SYSTEM_NAMESPACES
            .iter()
            .map(ToString::to_string)
            .chain(cluster.kube.namespaces.iter().cloned())
            .collect();
        let shown = |n: &String| {
            (
                n.clone(),
                json!({"kind": "Namespace", "metadata": {"name": n}, "status": {"phase": "Active"}}),
            )
        };
        if names.is_empty() {
            return Ok(all.iter().map(shown).collect());
        }
        names
            .iter()
            .map(|n| {
                if all.contains(n) {
                    Ok(shown(n))
                } else {
                    Err(format!(
                        "Error from server (NotFound): namespaces \"{n}\" not found"
                    ))
                }
            })
            .collect()
    }

    fn pods(&self, a: &Args, ns: &str, names: &[String], clock: u64) -> Result<Items, String> {
        let cluster = self.cluster()?;
        let in_ns: Vec<&Pod> = cluster
            .kube
            .pods
            .iter()
            .filter(|p| p.namespace == ns)
            .collect();
        let shown = |p: &Pod| (p.name.clone(), kubelet::pod_json(p, self.made(p), clock));
        if names.is_empty() {
            let selector = a.flags.get("selector");
            return Ok(in_ns
                .into_iter()
                .filter(|p| selector.is_none_or(|s| selects(s, &p.labels)))
                .map(shown)
                .collect());
        }
        names
            .iter()
            .map(|n| {
                in_ns
                    .iter()
                    .find(|p| &p.name == n)
                    .map(|p| shown(p))
                    .ok_or_else(|| format!("Error from server (NotFound): pods \"{n}\" not found"))
            })
            .collect()
    }

    fn events(&self, a: &Args, ns: &str, clock: u64) -> Result<Items, String> {
        let filter = a.flags.get("field-selector").map_or("", String::as_str);
        let mut wanted = BTreeMap::new();
        for term in filter.split(',').filter(|t| !t.is_empty()) {
            let (k, v) = term
                .split_once('=')
                .ok_or_else(|| format!("error: invalid field selector: {term}"))?;
            if !FIELDS.contains(&k) {
                return Err(format!(
                    "Error from server (BadRequest): Unable to find \"/v1, Resource=events\" that match label selector \"\", field selector \"{filter}\": field label not supported: {k}"
                ));
            }
            wanted.insert(k.to_owned(), v.trim_start_matches('=').to_owned());
        }
        let field = |e: &Value, k: &str| {
            e.pointer(&format!("/{}", k.replace('.', "/")))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        Ok(self
            .cluster()?
            .kube
            .pods
            .iter()
            .filter(|p| p.namespace == ns)
            .flat_map(|p| kubelet::events(p, self.made(p), clock))
            .filter(|e| wanted.iter().all(|(k, v)| &field(e, k) == v))
            .map(|e| (String::new(), e))
            .collect())
    }
}

/// The event fields a field selector may name.
const FIELDS: &[&str] = &[
    "involvedObject.name",
    "involvedObject.kind",
    "reason",
    "type",
];

/// kubectl's default table for `what`.
fn table(what: &str, items: &[(String, Value)]) -> String {
    let s = |v: &Value, p: &str| {
        v.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    let rows: Vec<Vec<String>> = match what {
        "pod" => std::iter::once(vec![
            "NAME".into(),
            "READY".into(),
            "STATUS".into(),
            "RESTARTS".into(),
        ])
        .chain(items.iter().map(|(n, v)| {
            let ready = v.pointer("/status/containerStatuses/0/ready") == Some(&json!(true));
            let waiting = s(v, "/status/containerStatuses/0/state/waiting/reason");
            let status = if waiting.is_empty() {
                s(v, "/status/phase")
            } else {
                waiting
            };
            vec![
                n.clone(),
                if ready { "1/1" } else { "0/1" }.into(),
                status,
                "0".into(),
            ]
        }))
        .collect(),
        "event" => std::iter::once(vec![
            "TYPE".into(),
            "REASON".into(),
            "OBJECT".into(),
            "MESSAGE".into(),
        ])
        .chain(items.iter().map(|(_, v)| {
            vec![
                s(v, "/type"),
                s(v, "/reason"),
                format!("pod/{}", s(v, "/involvedObject/name")),
                s(v, "/message"),
            ]
        }))
        .collect(),
        _ => std::iter::once(vec!["NAME".into(), "STATUS".into()])
            .chain(items.iter().map(|(n, _)| vec![n.clone(), "Active".into()]))
            .collect(),
    };
    let cols = rows[0].len();
    let widths: Vec<usize> = (0..cols)
        .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    rows.iter()
        .map(|r| {
            let mut line = String::new();
            for (i, cell) in r.iter().enumerate() {
                if i + 1 == cols {
                    line.push_str(cell);
                } else {
                    let _ = write!(line, "{cell:<w$}   ", w = widths[i]);
                }
            }
            line.push('\n');
            line
        })
        .collect()
}
