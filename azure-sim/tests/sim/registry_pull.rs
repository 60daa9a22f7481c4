//! A pull a standard client can finish (challenge, token, manifest, every blob, digests that
//! match), the truth endpoint pulling through that same path, and a registry firewall.

use base64::Engine as _;
use serde_json::{Value, json};

use crate::common::{ARM, Env, GRAPH, start, start_with, to_resp};

async fn get(
    env: &Env,
    path: &str,
    auth: Option<&str>,
    accept: Option<&str>,
) -> (u16, Vec<u8>, reqwest::header::HeaderMap) {
    let mut rb = env.http.get(env.registry_url("fabrikamacr", path));
    if let Some(a) = auth {
        rb = rb.header("authorization", a);
    }
    if let Some(a) = accept {
        rb = rb.header("accept", a);
    }
    let r = rb.send().await.unwrap();
    let (status, headers) = (r.status().as_u16(), r.headers().clone());
    (status, r.bytes().await.unwrap().to_vec(), headers)
}

fn sha(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let d = ring::digest::digest(&ring::digest::SHA256, bytes);
    d.as_ref().iter().fold("sha256:".to_string(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// A multitenant app with SPs in both tenants, a secret, and AcrPull on the registry; the SP
/// cluster is reset to it. Returns (app id, secret).
pub(crate) async fn cluster_with_pull(env: &Env) -> (String, String) {
    let ga = env.op("CLUSTER_TENANT_ID", GRAPH).await;
    let app = env
        .create_app(
            &ga,
            json!({"displayName": "puller", "signInAudience": "AzureADMultipleOrgs"}),
        )
        .await;
    let app_id = app["appId"].as_str().unwrap().to_string();
    let secret = env.add_password(&ga, app["id"].as_str().unwrap()).await;
    env.sim.advance(azure_sim::REPLICATION_DELAY);
    env.create_sp(&ga, &app_id).await;
    let gb = env.op("REGISTRY_TENANT_ID", GRAPH).await;
    let sp_b = env.create_sp(&gb, &app_id).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    env.grant_pull(&sp_b).await;
    // AKS knows the new principal once it replicated.
    env.sim.advance(azure_sim::REPLICATION_DELAY);
    let r = env.reset(&env.var("CLUSTER_ID"), &app_id, &secret).await;
    assert_eq!(r.status, 202, "{}", r.text);
    env.sim.advance(std::time::Duration::from_secs(15 * 60));
    (app_id, secret)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standard_client_pulls_the_manifest_and_every_blob() {
    let env = start().await;
    let (app_id, secret) = cluster_with_pull(&env).await;
    let ls = env.var("REGISTRY_LOGIN_SERVER");
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{app_id}:{secret}"))
    );
    // a blob without a token: the challenge names the scope
    let (status, _, h) = get(&env, "/v2/samples/hello/blobs/sha256:00", None, None).await;
    assert_eq!(status, 401);
    assert!(
        h["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("scope=\"repository:samples/hello:pull\"")
    );
    let (status, body, _) = get(
        &env,
        &format!("/oauth2/token?service={ls}&scope=repository:samples/hello:pull"),
        Some(&basic),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let token: Value = serde_json::from_slice(&body).unwrap();
    let bearer = format!("Bearer {}", token["access_token"].as_str().unwrap());
    for accept in [
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
    ] {
        let (status, body, h) = get(
            &env,
            "/v2/samples/hello/manifests/1.0",
            Some(&bearer),
            Some(accept),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(h["docker-content-digest"].to_str().unwrap(), sha(&body));
        let m: Value = serde_json::from_slice(&body).unwrap();
        let descriptors: Vec<Value> = std::iter::once(m["config"].clone())
            .chain(m["layers"].as_array().unwrap().iter().cloned())
            .collect();
        assert_eq!(descriptors.len(), 2);
        for d in &descriptors {
            let digest = d["digest"].as_str().unwrap();
            let (status, blob, h) = get(
                &env,
                &format!("/v2/samples/hello/blobs/{digest}"),
                Some(&bearer),
                None,
            )
            .await;
            assert_eq!(status, 200, "{digest}");
            assert_eq!(sha(&blob), digest);
            assert_eq!(d["size"].as_u64().unwrap(), blob.len() as u64);
            assert_eq!(h["docker-content-digest"].to_str().unwrap(), digest);
        }
        let (_, layer, _) = get(
            &env,
            &format!(
                "/v2/samples/hello/blobs/{}",
                descriptors[1]["digest"].as_str().unwrap()
            ),
            Some(&bearer),
            None,
        )
        .await;
        assert_eq!(&layer[..2], &[0x1f, 0x8b], "the layer is gzip");
        let (_, config, _) = get(
            &env,
            &format!(
                "/v2/samples/hello/blobs/{}",
                descriptors[0]["digest"].as_str().unwrap()
            ),
            Some(&bearer),
            None,
        )
        .await;
        let config: Value = serde_json::from_slice(&config).unwrap();
        assert_eq!(config["rootfs"]["type"], "layers");
    }
    let (status, body, _) = get(
        &env,
        &format!("/v2/samples/hello/blobs/sha256:{}", "0".repeat(64)),
        Some(&bearer),
        None,
    )
    .await;
    assert_eq!(status, 404);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["errors"][0]["code"], "BLOB_UNKNOWN");
    // the truth endpoint pulls the same way
    let image = format!("{ls}/samples/hello:1.0");
    let v = env.sim.pull(&env.var("CLUSTER_NAME"), &image);
    assert_eq!(v["pulled"], true, "{v}");
    assert!(
        v["reason"]
            .as_str()
            .unwrap()
            .contains("the manifest and 2 blobs"),
        "{v}"
    );
    env.stop().await;
}

const DENIED_AT: &str = "client with IP '127.0.0.1' is not allowed access. Refer https://aka.ms/acr/firewall to grant access.";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_firewall_meets_this_machine_and_the_cluster_by_address() {
    let env = start().await;
    let (app_id, secret) = cluster_with_pull(&env).await;
    let mut state = env.sim.state();
    env.stop().await;
    for r in state["registries"].as_array_mut().unwrap() {
        r["network_rules"] =
            json!({"default_action": "Deny", "ip_rules": ["203.0.113.7", "10.0.0.0/8"]});
    }
    let env = start_with(|c| c.scenario = Some(state.clone())).await;
    let ls = env.var("REGISTRY_LOGIN_SERVER");
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{app_id}:{secret}"))
    );
    for (path, auth) in [
        (
            format!("/oauth2/token?service={ls}&scope=repository:samples/hello:pull"),
            Some(basic.as_str()),
        ),
        (
            "/v2/samples/hello/manifests/1.0".to_string(),
            Some(basic.as_str()),
        ),
        ("/v2/".to_string(), None),
    ] {
        let (status, body, _) = get(&env, &path, auth, None).await;
        assert_eq!(status, 403, "{path}");
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            v,
            json!({"errors": [{"code": "DENIED", "message": DENIED_AT}]}),
            "{path}"
        );
    }
    let r = env
        .raw(
            "POST",
            &env.registry_url("fabrikamacr", "/oauth2/exchange"),
            None,
            "",
        )
        .await;
    assert_eq!(r.status, 403);
    // ARM shows the rules
    let tb = env.op("REGISTRY_TENANT_ID", ARM).await;
    let r = env.get_resource("REGISTRY_ID", "2025-11-01", &tb).await;
    assert_eq!(
        r.body["properties"]["networkRuleSet"]["defaultAction"],
        "Deny"
    );
    assert_eq!(
        r.body["properties"]["networkRuleSet"]["ipRules"][0]["value"],
        "203.0.113.7"
    );
    // the cluster's nodes meet the firewall with their egress address: denied too
    let image = format!("{ls}/samples/hello:1.0");
    let v = env.sim.pull(&env.var("CLUSTER_NAME"), &image);
    assert_eq!(
        (v["pulled"].as_bool(), v["status"].as_u64()),
        (Some(false), Some(403)),
        "{v}"
    );
    let egress = env.var("CLUSTER_EGRESS_IP");
    assert!(
        v["reason"]
            .as_str()
            .unwrap()
            .contains(&format!("client with IP '{egress}'")),
        "{v}"
    );
    env.stop().await;
    // admitting the cluster's egress lets the nodes through, not this machine
    for r in state["registries"].as_array_mut().unwrap() {
        r["network_rules"]["ip_rules"] = json!([egress.clone()]);
    }
    let env = start_with(|c| c.scenario = Some(state.clone())).await;
    let v = env.sim.pull(&env.var("CLUSTER_NAME"), &image);
    assert_eq!(v["pulled"], true, "{v}");
    let (status, _, _) = get(&env, "/v2/", None, None).await;
    assert_eq!(status, 403);
    env.stop().await;
    // allowing this machine's address lets it through
    for r in state["registries"].as_array_mut().unwrap() {
        r["network_rules"]["ip_rules"] = json!(["127.0.0.0/8"]);
    }
    let env = start_with(|c| c.scenario = Some(state)).await;
    let r = to_resp(
        env.http
            .get(env.registry_url(
                "fabrikamacr",
                &format!("/oauth2/token?service={ls}&scope=repository:samples/hello:pull"),
            ))
            .header("authorization", &basic)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    env.stop().await;
}
