//! Section 2: the requests each tool sent beside the minimal sequence the procedure needs,
//! with the reason for every extra one.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::log::Req;
use crate::run::TOOLS;
use crate::section::table;

/// Request kinds in order of first appearance, with counts.
pub(crate) type Counts = Vec<(String, usize)>;

pub(crate) fn counts(reqs: &[Req], a: &str, b: &str) -> Counts {
    let mut out: Counts = Vec::new();
    for r in reqs {
        let l = r.label(a, b);
        match out.iter_mut().find(|(k, _)| *k == l) {
            Some((_, n)) => *n += 1,
            None => out.push((l, 1)),
        }
    }
    out
}

/// The procedure's minimal request count for the four steps with these flags.
pub(crate) const MINIMAL_TOTAL: usize = 16;

/// One kind of request: how many the procedure needs at least, and why we send more.
struct Need {
    label: &'static str,
    minimal: usize,
    why: &'static str,
}

const fn need(label: &'static str, minimal: usize, why: &'static str) -> Need {
    Need {
        label,
        minimal,
        why,
    }
}

/// The minimal sequence per tool (one object, nothing made yet), and the reason for each extra.
fn model(tool: &str) -> (&'static str, Vec<Need>) {
    match tool {
        "entra-app-create" => (
            "token (A, Graph) → `PATCH /applications(uniqueName=…)` with `Prefer: create-if-missing` → \
             `PATCH /servicePrincipals(appId=…)` create-if-missing → `POST /applications/{id}/addPassword`: 4",
            vec![
                need("POST Entra token (tenant A)", 1, ""),
                need(
                    "GET Graph application by uniqueName (tenant A)",
                    0,
                    "find before write: a rerun finds the app and sends only reads; an existing app is checked (multitenant, redirect URI) before it is used",
                ),
                need("PATCH Graph application by uniqueName (tenant A)", 1, ""),
                need(
                    "GET Graph service principal by appId (tenant A)",
                    0,
                    "find before write, for an app that already existed (a rerun writes nothing)",
                ),
                need(
                    "PATCH Graph service principal by appId (tenant A)",
                    1,
                    "more than one: the new app is not replicated yet (NoBackingApplicationObject), waited out",
                ),
                need("POST Graph application addPassword (tenant A)", 1, ""),
            ],
        ),
        "consent-link" => (
            "none for the link itself (built locally); with `--create`: token (B, Graph) → \
             `PATCH /servicePrincipals(appId=…)` create-if-missing: 2",
            vec![
                need(
                    "POST Entra token (tenant A)",
                    0,
                    "a token for tenant A, to read the app in its home tenant",
                ),
                need(
                    "GET Graph application by appId (tenant A)",
                    0,
                    "checks that the app is multitenant and has the redirect URI, which the consent page would otherwise fail on (AADSTS700016, AADSTS50011)",
                ),
                need("POST Entra token (tenant B)", 1, ""),
                need(
                    "GET Graph service principal by appId (tenant B)",
                    0,
                    "a service principal that exists (consent already given) is taken as is: a rerun writes nothing",
                ),
                need("PATCH Graph service principal by appId (tenant B)", 1, ""),
            ],
        ),
        "acr-grant" => (
            "token (B, Graph) → `GET /servicePrincipals(appId=…)` (the role goes to tenant B's object id) → \
             token (B, ARM) → `GET` registry (login server; permission mode decides the role) → `PUT` role \
             assignment → with `--verify --image`: registry `GET /oauth2/token` (Basic app id:secret) → \
             `HEAD` manifest: 7",
            vec![
                need("POST Entra token (tenant B)", 2, ""),
                need(
                    "POST Entra token (tenant A)",
                    0,
                    "a Graph token in the app's home tenant (the object's cluster_tenant_id), to prove the secret is the app's before the role is assigned",
                ),
                need(
                    "GET Graph application by appId (tenant A)",
                    0,
                    "the app's key ids in its home tenant: the secret given must be one of them (an envelope is a claim)",
                ),
                need("GET Graph service principal by appId (tenant B)", 1, ""),
                need("GET ARM registry (tenant B)", 1, ""),
                need(
                    "GET ARM role definitions by roleName (list) (tenant B)",
                    0,
                    "resolves the role by name at the registry, so a role missing there (a custom --role, a cloud without it) fails before any write; the built-in GUID would save it for --role auto",
                ),
                need(
                    "GET ARM role assignment (deterministic name) (tenant B)",
                    0,
                    "GET before PUT: a rerun writes nothing, and a read spends ARM's read bucket (25/s), not the write bucket (10/s)",
                ),
                need(
                    "PUT ARM role assignment (deterministic name) (tenant B)",
                    1,
                    "",
                ),
                need(
                    "GET registry /oauth2/token (app's Basic credential)",
                    1,
                    "more than one: polls while the role reaches the registry",
                ),
                need("HEAD registry manifest", 1, ""),
            ],
        ),
        "aks-sp-update" => (
            "token (A, ARM) → `POST …/resetServicePrincipalProfile` → `GET` the `Azure-AsyncOperation` URL \
             until it ends: 3",
            vec![
                need(
                    "POST Entra token (tenant A)",
                    1,
                    "the second: a Graph token in tenant A, for the role comparison",
                ),
                need(
                    "GET ARM cluster (tenant A)",
                    0,
                    "before: refuses a managed-identity cluster and skips a cluster already on the app (a rerun writes nothing); after: confirms the new client id and state Succeeded",
                ),
                need(
                    "GET registry /oauth2/token (app's Basic credential)",
                    0,
                    "pull check with the new credential before the disruptive reset",
                ),
                need(
                    "HEAD registry manifest",
                    0,
                    "pull check of the image acr-grant verified",
                ),
                need(
                    "GET Graph service principal by appId (tenant A)",
                    0,
                    "the old app's service principal in tenant A, whose role assignments (load balancers, subnet) the new one needs",
                ),
                need(
                    "GET ARM role assignments of a principal (list) (tenant A)",
                    0,
                    "the old and the new service principal's assignments in the cluster's subscription, to find what the new one lacks",
                ),
                need(
                    "GET ARM subnet (tenant A)",
                    0,
                    "the cluster's subnet, for its route table and network security group: the identity needs its roles there too (kubenet)",
                ),
                need(
                    "GET ARM role definition by id (tenant A)",
                    0,
                    "the lacking role's name, for the warning and the summary",
                ),
                need(
                    "GET ARM role assignment (deterministic name) (tenant A)",
                    0,
                    "GET before PUT of the copied assignment: a rerun writes nothing",
                ),
                need(
                    "PUT ARM role assignment (deterministic name) (tenant A)",
                    0,
                    "copied by default: the old identity's Network Contributor on the cluster's subnet, which the procedure leaves to luck",
                ),
                need(
                    "GET Graph application by appId (tenant A)",
                    0,
                    "the record on the app of which key each cluster holds (Azure never shows a cluster's secret): a rerun and --prune-secrets read it; each write is read back (another process may have replaced it)",
                ),
                need(
                    "PATCH Graph application by appId (tenant A)",
                    0,
                    "the cluster's entry in that record: the key pending before the reset, the reset's operation beside the wait for it, confirmed after it (not on the cluster: a tag write there is a managed-cluster update)",
                ),
                need("POST ARM resetServicePrincipalProfile (tenant A)", 1, ""),
                need(
                    "GET ARM reset operation status (tenant A)",
                    1,
                    "more than one: polls at the server's Retry-After until the operation ends",
                ),
            ],
        ),
        _ => ("", Vec::new()),
    }
}

pub(crate) fn sequences_md(
    seqs: &BTreeMap<String, Counts>,
    reruns: &BTreeMap<String, Counts>,
) -> (String, Vec<String>) {
    let mut md = String::from(
        "\n## 2. Requests: the minimal sequence beside ours\n\n\
         The minimal sequence is what the procedure needs for one object when nothing exists yet, with \
         the flags above (`--create`, `--verify --image`). *Ours* is counted from the simulator's log of \
         the first run at 0 ms latency; every request beyond the minimal one is listed with its reason.\n\n",
    );
    let mut unexplained = Vec::new();
    for tool in TOOLS {
        let (minimal, needs) = model(tool);
        let seen = seqs.get(tool).cloned().unwrap_or_default();
        let _ = writeln!(md, "### {tool}\n\nMinimal: {minimal}.\n");
        let mut rows = Vec::new();
        let mut labels: Vec<String> = seen.iter().map(|(l, _)| l.clone()).collect();
        for n in &needs {
            if !labels.iter().any(|l| l == n.label) {
                labels.push(n.label.to_owned());
            }
        }
        let (mut tot_min, mut tot_ours) = (0, 0);
        for l in labels {
            let ours = seen.iter().find(|(k, _)| *k == l).map_or(0, |(_, n)| *n);
            let n = needs.iter().find(|n| n.label == l);
            let minimal = n.map_or(0, |n| n.minimal);
            tot_min += minimal;
            tot_ours += ours;
            let why = match n {
                _ if ours <= minimal => String::new(),
                Some(n) if !n.why.is_empty() => n.why.to_owned(),
                _ => {
                    unexplained.push(format!("{tool}: {l}"));
                    "**unexplained**".to_owned()
                }
            };
            rows.push(vec![
                format!("`{l}`"),
                minimal.to_string(),
                ours.to_string(),
                why,
            ]);
        }
        rows.push(vec![
            "**total**".into(),
            format!("**{tot_min}**"),
            format!("**{tot_ours}**"),
            String::new(),
        ]);
        md.push_str(&table(
            &["request", "minimal", "ours", "why the extra ones"],
            &rows,
        ));
        if let Some(r) = reruns.get(tool) {
            let list: Vec<String> = r.iter().map(|(l, n)| format!("{n}× `{l}`")).collect();
            let _ = writeln!(
                md,
                "\nRerun on its own output (no-op): {} requests, reads only: {}.\n",
                r.iter().map(|(_, n)| n).sum::<usize>(),
                list.join(", ")
            );
        }
    }
    (md, unexplained)
}
