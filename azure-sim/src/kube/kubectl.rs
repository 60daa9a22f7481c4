//! `kubectl` as a run command's script uses it, over the cluster's pods and namespaces:
//! `get` (namespaces, pods, events; `-o name|json|jsonpath=…` or the default table), `create
//! namespace`, `run` (a pod), `delete` (pods by name or label selector). Flags, messages and
//! exit statuses are kubectl's; any other verb or flag fails as kubectl fails it.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use super::Pod;
use super::exec::Identity;
use super::kubelet::{self, Spec};
use crate::core::Core;
use crate::model::Cluster;

/// What one `kubectl` call printed and its exit status.
#[derive(Debug, Default)]
pub(super) struct Out {
    pub stdout: String,
    pub stderr: String,
    pub status: i32,
}

impl Out {
    pub(super) fn ok(stdout: String) -> Self {
        Self {
            stdout,
            ..Self::default()
        }
    }

    fn err(stderr: String) -> Self {
        Self {
            stderr,
            status: 1,
            ..Self::default()
        }
    }
}

/// `kubectl` inside one command: the cluster, who it acts as, and when (in the command's
/// clock) it made each pod.
pub(super) struct Kubectl<'a> {
    pub core: &'a Core,
    pub cluster_id: String,
    pub identity: Identity,
    pub made: HashMap<(String, String), u64>,
}

/// Flags that take a value, by long name (and the short letter that means the same).
const VALUE_FLAGS: &[(&str, Option<char>)] = &[
    ("namespace", Some('n')),
    ("selector", Some('l')),
    ("output", Some('o')),
    ("image", None),
    ("image-pull-policy", None),
    ("restart", None),
    ("labels", None),
    ("field-selector", None),
    ("timeout", None),
    ("grace-period", None),
];
/// Flags that are switches (`--x` or `--x=true|false`).
const BOOL_FLAGS: &[&str] = &["ignore-not-found", "wait", "now", "force"];

#[derive(Debug)]
/// A kubectl command line: its positional arguments and its flags (by long name).
pub(super) struct Args {
    pub positional: Vec<String>,
    pub flags: BTreeMap<String, String>,
}

fn parse_args(verb: &str, args: &[String]) -> Result<Args, String> {
    let usage = format!("See 'kubectl {verb} --help' for usage.");
    let mut out = Args {
        positional: Vec::new(),
        flags: BTreeMap::new(),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--" {
            // A container's command: the pod runs its image either way.
            out.positional.push("--".into());
            out.positional.extend(it.by_ref().cloned());
            break;
        }
        let (name, inline) = if let Some(long) = a.strip_prefix("--") {
            match long.split_once('=') {
                Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
                None => (long.to_owned(), None),
            }
        } else if let Some(short) = a.strip_prefix('-').filter(|s| !s.is_empty()) {
            let c = short.chars().next().unwrap_or('-');
            let Some((long, _)) = VALUE_FLAGS.iter().find(|(_, s)| *s == Some(c)) else {
                return Err(format!(
                    "error: unknown shorthand flag: '{c}' in {a}\n{usage}"
                ));
            };
            let rest = &short[c.len_utf8()..];
            let inline = (!rest.is_empty()).then(|| rest.trim_start_matches('=').to_owned());
            ((*long).to_owned(), inline)
        } else {
            out.positional.push(a.clone());
            continue;
        };
        if VALUE_FLAGS.iter().any(|(l, _)| *l == name) {
            let value = match inline {
                Some(v) => v,
                None => it
                    .next()
                    .cloned()
                    .ok_or_else(|| format!("error: flag needs an argument: --{name}\n{usage}"))?,
            };
            out.flags.insert(name, value);
        } else if BOOL_FLAGS.contains(&name.as_str()) {
            let v = inline.unwrap_or_else(|| "true".into());
            if v != "true" && v != "false" {
                return Err(format!(
                    "error: invalid argument \"{v}\" for \"--{name}\" flag: strconv.ParseBool: parsing \"{v}\": invalid syntax\n{usage}"
                ));
            }
            out.flags.insert(name, v);
        } else {
            return Err(format!("error: unknown flag: --{name}\n{usage}"));
        }
    }
    Ok(out)
}

/// Whether `s` is a DNS-1123 label (namespaces, and the pod names here).
fn dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A label selector: `key`, `key=value`, `key==value`, `key!=value`, comma-separated.
pub(super) fn selects(selector: &str, labels: &BTreeMap<String, String>) -> bool {
    selector
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .all(|term| {
            if let Some((k, v)) = term.split_once("!=") {
                labels.get(k.trim()).is_none_or(|x| x != v.trim())
            } else if let Some((k, v)) = term.split_once('=') {
                labels.get(k.trim()) == Some(&v.trim_start_matches('=').trim().to_owned())
            } else {
                labels.contains_key(term)
            }
        })
}

pub(super) fn kind(resource: &str) -> Option<&'static str> {
    match resource {
        "pod" | "pods" | "po" => Some("pods"),
        "namespace" | "namespaces" | "ns" => Some("namespaces"),
        "event" | "events" | "ev" => Some("events"),
        _ => None,
    }
}

impl Kubectl<'_> {
    /// Runs `kubectl args…` at cluster time `clock`.
    pub(super) fn run(&mut self, args: &[String], clock: u64) -> Out {
        if self.identity == Identity::Unauthorized {
            return Out::err("error: You must be logged in to the server (Unauthorized)\n".into());
        }
        let Some(verb) = args.first() else {
            return Out::err("error: kubectl needs a command (get, create, run, delete)\n".into());
        };
        let parsed = match parse_args(verb, &args[1..]) {
            Ok(p) => p,
            Err(e) => return Out::err(format!("{e}\n")),
        };
        let ns = parsed
            .flags
            .get("namespace")
            .cloned()
            .unwrap_or_else(|| "default".into());
        let r = match verb.as_str() {
            "get" => self.get(&parsed, &ns, clock),
            "create" => self.create(&parsed),
            "run" => self.run_pod(&parsed, &ns, clock),
            "delete" => self.delete(&parsed, &ns),
            other => Err(format!(
                "azure-sim: `kubectl {other}` is not simulated (get, create namespace, run, delete pods)"
            )),
        };
        r.unwrap_or_else(|e| Out::err(format!("{e}\n")))
    }

    /// The cluster (a copy), or the message kubectl would give for a cluster that is gone.
    pub(super) fn cluster(&self) -> Result<Cluster, String> {
        self.core
            .state()
            .clusters
            .iter()
            .find(|c| c.id.eq_ignore_ascii_case(&self.cluster_id))
            .cloned()
            .ok_or_else(|| "Unable to connect to the server: the cluster no longer exists".into())
    }

    /// Changes the cluster's model under the state lock.
    fn change<T>(&self, f: impl FnOnce(&mut Cluster) -> T) -> Result<T, String> {
        let mut state = self.core.state();
        let c = state
            .clusters
            .iter_mut()
            .find(|c| c.id.eq_ignore_ascii_case(&self.cluster_id))
            .ok_or("Unable to connect to the server: the cluster no longer exists")?;
        Ok(f(c))
    }

    pub(super) fn made(&self, pod: &Pod) -> Option<u64> {
        self.made
            .get(&(pod.namespace.clone(), pod.name.clone()))
            .copied()
    }

    fn create(&self, a: &Args) -> Result<Out, String> {
        match a.positional.as_slice() {
            [r, name] if kind(r) == Some("namespaces") => {
                if !dns_label(name) {
                    return Err(format!(
                        "The Namespace \"{name}\" is invalid: metadata.name: Invalid value: \"{name}\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'"
                    ));
                }
                self.change(|c| {
                    if c.kube.has_namespace(name) {
                        Err(format!("Error from server (AlreadyExists): namespaces \"{name}\" already exists"))
                    } else {
                        c.kube.namespaces.push(name.clone());
                        Ok(Out::ok(format!("namespace/{name} created\n")))
                    }
                })?
            }
            _ => Err("azure-sim: only `kubectl create namespace NAME` is simulated".into()),
        }
    }

    fn run_pod(&mut self, a: &Args, ns: &str, clock: u64) -> Result<Out, String> {
        let name = a
            .positional
            .first()
            .filter(|n| n.as_str() != "--")
            .ok_or("error: NAME is required for run")?;
        if !dns_label(name) {
            return Err(format!(
                "The Pod \"{name}\" is invalid: metadata.name: Invalid value: \"{name}\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'"
            ));
        }
        let image = a
            .flags
            .get("image")
            .filter(|i| !i.is_empty())
            .ok_or("error: --image is required")?;
        if let Some(r) = a.flags.get("restart")
            && !["Never", "OnFailure", "Always"].contains(&r.as_str())
        {
            return Err(format!("error: invalid restart policy: {r}"));
        }
        let policy = a.flags.get("image-pull-policy").map_or("", String::as_str);
        if !["", "Always", "IfNotPresent", "Never"].contains(&policy) {
            return Err(format!("error: invalid image pull policy: {policy}"));
        }
        let mut labels = BTreeMap::new();
        labels.insert("run".to_owned(), name.clone());
        if let Some(l) = a.flags.get("labels") {
            labels.clear();
            for kv in l.split(',') {
                let (k, v) = kv
                    .split_once('=')
                    .ok_or_else(|| format!("error: invalid label spec: {kv}"))?;
                labels.insert(k.to_owned(), v.to_owned());
            }
        }
        let cluster = self.cluster()?;
        if !cluster.kube.has_namespace(ns) {
            return Err(format!(
                "Error from server (NotFound): namespaces \"{ns}\" not found"
            ));
        }
        if cluster
            .kube
            .pods
            .iter()
            .any(|p| p.namespace == ns && &p.name == name)
        {
            return Err(format!(
                "Error from server (AlreadyExists): pods \"{name}\" already exists"
            ));
        }
        // The kubelet pulls with the state unlocked (the pull truth reads it itself).
        let spec = Spec {
            namespace: ns,
            name,
            image,
            policy,
            labels,
        };
        let pod = kubelet::schedule(self.core, &cluster, &spec);
        let pulled = pod.pull.outcome == "Pulled";
        let image = pod.image.clone();
        self.change(|c| {
            if pulled && !c.kube.node_images.contains(&image) {
                c.kube.node_images.push(image);
            }
            c.kube.pods.push(pod);
        })?;
        self.made.insert((ns.to_owned(), name.clone()), clock);
        Ok(Out::ok(format!("pod/{name} created\n")))
    }

    fn delete(&mut self, a: &Args, ns: &str) -> Result<Out, String> {
        let (resource, names) = a
            .positional
            .split_first()
            .ok_or("error: You must provide one or more resources by argument or filename.")?;
        if kind(resource) != Some("pods") {
            return Err("azure-sim: only `kubectl delete pod` is simulated".into());
        }
        let selector = a.flags.get("selector").cloned();
        if names.is_empty() == selector.is_none() {
            return Err("error: resource(s) were provided, but no name was specified (give names or a selector, not both)".into());
        }
        let ignore = a.flags.get("ignore-not-found").is_some_and(|v| v == "true");
        let (deleted, missing) = self.change(|c| {
            let mut deleted = Vec::new();
            let mut missing = Vec::new();
            for n in names {
                if !c
                    .kube
                    .pods
                    .iter()
                    .any(|p| p.namespace == ns && &p.name == n)
                {
                    missing.push(n.clone());
                }
            }
            c.kube.pods.retain(|p| {
                let hit = p.namespace == ns
                    && (names.contains(&p.name)
                        || selector.as_deref().is_some_and(|s| selects(s, &p.labels)));
                if hit {
                    deleted.push(p.name.clone());
                }
                !hit
            });
            (deleted, missing)
        })?;
        for n in &deleted {
            self.made.remove(&(ns.to_owned(), n.clone()));
        }
        let mut out = Out::ok(deleted.iter().fold(String::new(), |mut s, n| {
            let _ = writeln!(s, "pod \"{n}\" deleted");
            s
        }));
        if selector.is_some() && deleted.is_empty() && !ignore {
            out.stderr = "No resources found\n".into();
        }
        if !missing.is_empty() && !ignore {
            out.status = 1;
            for n in missing {
                let _ = writeln!(
                    out.stderr,
                    "Error from server (NotFound): pods \"{n}\" not found"
                );
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::{dns_label, parse_args, selects};
    use std::collections::BTreeMap;

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn flags_as_kubectl_reads_them() {
        let a = parse_args(
            "run",
            &v(&[
                "p",
                "-n",
                "ns",
                "--image=r.io/x:1",
                "--labels",
                "a=b",
                "--wait=false",
                "-ojsonpath={.a}",
            ]),
        )
        .unwrap();
        assert_eq!(a.positional, ["p"]);
        assert_eq!(a.flags["namespace"], "ns");
        assert_eq!(a.flags["image"], "r.io/x:1");
        assert_eq!(a.flags["wait"], "false");
        assert_eq!(a.flags["output"], "jsonpath={.a}");
        assert!(
            parse_args("get", &v(&["--bogus"]))
                .unwrap_err()
                .contains("unknown flag: --bogus")
        );
        assert!(
            parse_args("get", &v(&["-x"]))
                .unwrap_err()
                .contains("unknown shorthand flag")
        );
        assert!(
            parse_args("get", &v(&["-n"]))
                .unwrap_err()
                .contains("needs an argument")
        );
        assert!(parse_args("get", &v(&["--wait=maybe"])).is_err());
    }

    #[test]
    fn selectors_and_names() {
        let mut l = BTreeMap::new();
        l.insert("xtenant.io/probe".to_owned(), "true".to_owned());
        assert!(selects("xtenant.io/probe", &l));
        assert!(selects("xtenant.io/probe=true", &l));
        assert!(!selects("xtenant.io/probe=false", &l));
        assert!(selects("xtenant.io/probe!=false", &l));
        assert!(!selects("other", &l));
        assert!(dns_label("xtenant-probe-1a2b") && !dns_label("Bad") && !dns_label("-x"));
    }
}
