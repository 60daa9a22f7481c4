//! Replays the calls of the real recordings in `tests/fixtures/recordings/` (copied byte for byte
//! from their public sources, listed in that directory's README) against the
//! simulator, with the simulator's ids, and checks the status and that every recorded field
//! name is present in the simulator's body (recursively; `tags` are user data and skipped).
//! Ids learned from responses (`id`, `appId`, `keyId`, ...) are substituted into later calls.

use std::path::PathBuf;

use serde_json::{Value, json};

use crate::common::{ARM, Env, GRAPH, start, start_with};

/// The recordings, kept in the repository: a replay never depends on anything outside it.
fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/recordings")
}

#[derive(Debug, Default)]
struct Interaction {
    method: String,
    uri: String,
    req_body: Option<String>,
    status: u16,
    resp_body: String,
}

/// Read a YAML single-quoted scalar that starts after the quote on `lines[*i]` at `rest`.
fn quoted(lines: &[&str], i: &mut usize, rest: &str) -> String {
    let mut out = String::new();
    let mut cur = rest.to_string();
    loop {
        let mut chars = cur.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '\'' {
                if chars.peek() == Some(&'\'') {
                    chars.next();
                    out.push('\'');
                } else {
                    return out;
                }
            } else {
                out.push(c);
            }
        }
        *i += 1;
        out.push(' ');
        cur = lines[*i].trim_start().to_string();
    }
}

/// A minimal reader of vcrpy cassettes: method, uri, request body, status, response body.
fn parse_cassette(text: &str) -> Vec<Interaction> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out: Vec<Interaction> = Vec::new();
    let mut in_response = false;
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i];
        let t = l.trim_start();
        if l.starts_with("- request:") {
            out.push(Interaction::default());
            in_response = false;
        } else if l.starts_with("  response:") {
            in_response = true;
        } else if let Some(cur) = out.last_mut() {
            if !in_response && l.starts_with("    body: ") {
                let v = &l["    body: ".len()..];
                if let Some(rest) = v.strip_prefix('\'') {
                    cur.req_body = Some(quoted(&lines, &mut i, rest));
                }
            } else if !in_response && l.starts_with("    method: ") {
                cur.method = t["method: ".len()..].to_string();
            } else if !in_response && l.starts_with("    uri: ") {
                cur.uri = t["uri: ".len()..].to_string();
            } else if in_response && l.starts_with("      string: ") {
                let v = &l["      string: ".len()..];
                if let Some(rest) = v.strip_prefix('\'') {
                    cur.resp_body = quoted(&lines, &mut i, rest);
                }
            } else if in_response && l.starts_with("      code: ") {
                cur.status = t["code: ".len()..].parse().unwrap();
            }
        }
        i += 1;
    }
    out
}

fn subst(s: &str, map: &[(String, String)]) -> String {
    map.iter().fold(s.to_string(), |acc, (from, to)| {
        acc.replace(from.as_str(), to)
    })
}

/// Learn id substitutions from a recorded body and the simulator's.
fn learn(rec: &Value, sim: &Value, map: &mut Vec<(String, String)>) {
    match (rec, sim) {
        (Value::Object(r), Value::Object(s)) => {
            for (k, rv) in r {
                let Some(sv) = s.get(k) else { continue };
                if let (Value::String(a), Value::String(b)) = (rv, sv) {
                    if ["id", "appId", "keyId", "principalId"].contains(&k.as_str())
                        && a != b
                        && !map.iter().any(|(f, _)| f == a)
                    {
                        map.push((a.clone(), b.clone()));
                    }
                } else {
                    learn(rv, sv, map);
                }
            }
        }
        (Value::Array(r), Value::Array(s)) => {
            for (a, b) in r.iter().zip(s) {
                learn(a, b, map);
            }
        }
        _ => {}
    }
}

fn without_tags(v: &Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.iter()
                .filter(|(k, _)| *k != "tags")
                .map(|(k, v)| (k.clone(), without_tags(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(without_tags).collect()),
        other => other.clone(),
    }
}

/// Replay a cassette: `graph` and `arm` are the tokens to use, `map` the initial substitutions,
/// `skip` URI fragments of calls the simulator does not model.
async fn replay(
    env: &Env,
    file: &str,
    graph: &str,
    arm: &str,
    mut map: Vec<(String, String)>,
    skip: &[&str],
) -> usize {
    let path = dir().join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut replayed = 0;
    for it in parse_cassette(&text) {
        if skip.iter().any(|s| it.uri.contains(s)) {
            continue;
        }
        let is_graph = it.uri.starts_with("https://graph.microsoft.com");
        let uri = subst(&it.uri, &map)
            .replace("https://graph.microsoft.com", &env.sim.url())
            .replace("https://management.azure.com", &env.sim.url());
        let mut rb = env
            .http
            .request(it.method.parse().unwrap(), &uri)
            .bearer_auth(if is_graph { graph } else { arm });
        if let Some(b) = &it.req_body {
            rb = rb
                .header("content-type", "application/json")
                .body(subst(b, &map));
        }
        let r = crate::common::to_resp(rb.send().await.unwrap()).await;
        assert_eq!(
            r.status, it.status,
            "{file}: {} {uri}: {}",
            it.method, r.text
        );
        if !it.resp_body.trim().is_empty() {
            let rec: Value = serde_json::from_str(&it.resp_body)
                .unwrap_or_else(|e| panic!("{file}: recorded body: {e}: {}", it.resp_body));
            crate::common::assert_keys_subset(
                &without_tags(&rec),
                &r.body,
                &format!("{file} {} {}", it.method, it.uri),
            );
            learn(&rec, &r.body, &mut map);
        }
        replayed += 1;
    }
    replayed
}

const REC_SUB: &str = "00000000-0000-0000-0000-000000000000";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cassettes_replay_with_same_status_and_fields() {
    // The cassettes pin shapes, not Azure's timing: their requests follow each other as fast
    // as the replay sends them, so a new app backs its principal at once.
    let env = start_with(|c| {
        c.lenient.extend([
            azure_sim::Leniency::Replication,
            azure_sim::Leniency::GraphLag,
            azure_sim::Leniency::SecretPropagation,
        ]);
    })
    .await;
    let ga = env.op("CLUSTER_TENANT_ID", GRAPH).await;
    let aa = env.op("CLUSTER_TENANT_ID", ARM).await;
    let ab = env.op("REGISTRY_TENANT_ID", ARM).await;
    let sub_a = vec![(REC_SUB.to_string(), env.var("CLUSTER_SUBSCRIPTION_ID"))];
    let n = replay(
        &env,
        "test_create_for_rbac_password.yaml",
        &ga,
        &aa,
        sub_a.clone(),
        &[],
    )
    .await;
    let m = replay(
        &env,
        "test_app_create_idempotent.yaml",
        &ga,
        &aa,
        sub_a,
        &[],
    )
    .await;
    // The user-assigned identity the recording creates first is not modelled; its principal
    // is played by the reader's service principal in tenant B.
    let gb = env.op("REGISTRY_TENANT_ID", GRAPH).await;
    let reader_sp = env
        .get(
            &format!(
                "/v1.0/servicePrincipals(appId='{}')",
                env.var("READER_CLIENT_ID")
            ),
            &gb,
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let map = vec![
        (REC_SUB.to_string(), env.var("REGISTRY_SUBSCRIPTION_ID")),
        ("cli_role_assign000001".to_string(), "rg-acr".to_string()),
        (
            "88c53162-584e-4c98-984b-62149c2e9bca".to_string(),
            reader_sp,
        ),
    ];
    let k = replay(
        &env,
        "test_role_assignment_at_scope.yaml",
        &gb,
        &ab,
        map,
        &["Microsoft.ManagedIdentity/userAssignedIdentities"],
    )
    .await;
    // The 403 recording: an identity without Graph application permissions.
    let app = env
        .create_app(&ga, json!({"displayName": "no-graph-roles"}))
        .await;
    let secret = env.add_password(&ga, app["id"].as_str().unwrap()).await;
    env.create_sp(&ga, app["appId"].as_str().unwrap()).await;
    let weak = env.app_token(&app, &secret, GRAPH).await;
    let f = replay(
        &env,
        "test_app_credential.yaml",
        &weak,
        &aa,
        Vec::new(),
        &[],
    )
    .await;
    assert_eq!((n, m, k, f), (12, 11, 3, 1), "every modelled call replayed");
    env.stop().await;
}

fn example(file: &str) -> Value {
    let path = dir().join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spec_examples_have_the_same_fields() {
    let env = start().await;
    let ab = env.op("REGISTRY_TENANT_ID", ARM).await;
    let aa = env.op("CLUSTER_TENANT_ID", ARM).await;
    {
        let ex = example("RegistryGet.json");
        let r = env.get_resource("REGISTRY_ID", "2025-11-01", &ab).await;
        assert_eq!(r.status, 200);
        crate::common::assert_keys_subset(
            &without_tags(&ex["responses"]["200"]["body"]),
            &r.body,
            "RegistryGet",
        );
    }
    {
        let ex = example("ManagedClustersGet.json");
        let r = env.get_resource("CLUSTER_ID", "2025-10-01", &aa).await;
        assert_eq!(r.status, 200);
        crate::common::assert_keys_subset(
            &without_tags(&ex["responses"]["200"]["body"]),
            &r.body,
            "ManagedClustersGet",
        );
    }
    {
        let ex = example("ManagedClustersResetServicePrincipalProfile.json");
        let body = json!({"clientId": env.var("AZURE_CLIENT_ID"), "secret": env.var("AZURE_CLIENT_SECRET")});
        let r = env
            .send(
                "POST",
                &format!(
                    "{}/resetServicePrincipalProfile?api-version=2025-10-01",
                    env.var("CLUSTER_ID")
                ),
                &aa,
                &body,
            )
            .await;
        let recorded = ex["responses"].as_object().unwrap();
        assert!(recorded.contains_key(&r.status.to_string()), "{}", r.status);
        for h in recorded[&r.status.to_string()]["headers"]
            .as_object()
            .into_iter()
            .flatten()
        {
            assert!(r.header(h.0).is_some(), "header {}", h.0);
        }
    }
    env.stop().await;
}
