//! Malformed input, unknown paths, bad ids, concurrency, faults, the request log, scenarios.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::{ARM, GRAPH, start, start_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_unknown_requests_get_azure_shaped_4xx() {
    let env = start().await;
    let g = env.op("CLUSTER_TENANT_ID", GRAPH).await;
    let a = env.op("REGISTRY_TENANT_ID", ARM).await;
    let sub = env.var("REGISTRY_SUBSCRIPTION_ID");
    // Graph
    for (method, path, body) in [
        ("POST", "/v1.0/applications", "{not json"),
        ("POST", "/v1.0/applications", "[1,2]"),
        ("POST", "/v1.0/applications", "{\"displayName\": 5}"),
        ("POST", "/v1.0/servicePrincipals", "{}"),
        ("GET", "/v1.0/nothing", ""),
        ("GET", "/v1.0/applications(appId='x'", ""),
        ("GET", "/v1.0/applications/zzz", ""),
        (
            "POST",
            "/v1.0/applications/99999999-9999-4999-8999-999999999999/frobnicate",
            "",
        ),
    ] {
        let r = env.raw(method, path, Some(&g), body).await;
        assert!(
            (400..500).contains(&r.status),
            "{method} {path}: {}",
            r.status
        );
        assert!(
            r.body["error"]["code"].is_string(),
            "{method} {path}: {}",
            r.text
        );
    }
    // ARM
    let reg = env.var("REGISTRY_ID");
    for (method, path, body) in [
        (
            "PUT",
            format!(
                "{reg}/providers/Microsoft.Authorization/roleAssignments/11111111-1111-4111-8111-111111111111?api-version=2022-04-01"
            ),
            "{\"properties\": {\"roleDefinitionId\": \"nope\"}}",
        ),
        (
            "PUT",
            format!(
                "{reg}/providers/Microsoft.Authorization/roleAssignments/11111111-1111-4111-8111-111111111111?api-version=2022-04-01"
            ),
            "\u{0}\u{1}",
        ),
        (
            "GET",
            format!("/subscriptions/{sub}/providers/Microsoft.Nope/things?api-version=1"),
            "",
        ),
        (
            "GET",
            format!(
                "/subscriptions/{sub}/resourceGroups/rg-acr/providers/Microsoft.ContainerRegistry/registries/fabrikamacr/bogus/x?api-version=2025-11-01"
            ),
            "",
        ),
        (
            "GET",
            format!("/subscriptions/{sub}/bogus?api-version=2022-12-01"),
            "",
        ),
        ("DELETE", format!("{reg}?api-version=2025-11-01"), ""),
        (
            "GET",
            format!(
                "/subscriptions/{sub}/resourceGroups/rg-acr/providers/Microsoft.ContainerRegistry/registries/..%2F..?api-version=2025-11-01"
            ),
            "",
        ),
    ] {
        let r = env.raw(method, &path, Some(&a), body).await;
        assert!(
            (400..500).contains(&r.status),
            "{method} {path}: {} {}",
            r.status,
            r.text
        );
        assert!(
            r.body["error"]["code"].is_string(),
            "{method} {path}: {}",
            r.text
        );
    }
    // unknown top-level paths are read as Entra's /{tenant}/... and answered as Entra does
    let r = env.call("GET", "/nothing/here", None, None).await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (404, Some("invalid_request"))
    );
    // Entra with junk
    let r = env
        .raw(
            "POST",
            &format!("/{}/oauth2/v2.0/token", env.var("CLUSTER_TENANT_ID")),
            None,
            "%%%&&&===",
        )
        .await;
    assert_eq!(r.status, 400);
    // a huge body is refused, not buffered forever
    let big = "x".repeat(5 * 1024 * 1024);
    let r = env.raw("POST", "/v1.0/applications", Some(&g), &big).await;
    assert_eq!(r.status, 413);
    // the server is still fine
    assert_eq!(env.get("/v1.0/applications", &g).await.status, 200);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundreds_of_concurrent_requests() {
    let env = start().await;
    let g = env.op("CLUSTER_TENANT_ID", GRAPH).await;
    let a = env.op("REGISTRY_TENANT_ID", ARM).await;
    let reg = env.var("REGISTRY_ID");
    let mut tasks = Vec::new();
    for i in 0..300 {
        let http = env.http.clone();
        let (g, a, reg, base) = (g.clone(), a.clone(), reg.clone(), env.sim.url());
        tasks.push(tokio::spawn(async move {
            let r = match i % 3 {
                0 => {
                    http.get(format!("{base}/v1.0/applications"))
                        .bearer_auth(&g)
                        .send()
                        .await
                }
                1 => {
                    http.post(format!("{base}/v1.0/applications"))
                        .bearer_auth(&g)
                        .json(&json!({"displayName": format!("c{i}")}))
                        .send()
                        .await
                }
                _ => {
                    http.get(format!("{base}{reg}?api-version=2025-11-01"))
                        .bearer_auth(&a)
                        .send()
                        .await
                }
            };
            r.unwrap().status().as_u16()
        }));
    }
    for t in tasks {
        let s = t.await.unwrap();
        assert!(s == 200 || s == 201, "{s}");
    }
    let state = env.sim.state();
    let made = state["applications"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["display_name"].as_str().unwrap().starts_with('c'))
        .count();
    assert_eq!(made, 100);
    assert!(env.sim.requests().len() >= 300);
    env.stop().await;
}

/// `body_patch` merges into the answer the request would have had (a hostile `nextLink` in a
/// real listing), keeps its status, and needs an object.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_patch_the_answers_body() {
    let env = start().await;
    let at = env.op("REGISTRY_TENANT_ID", ARM).await;
    let gt = env.op("CLUSTER_TENANT_ID", GRAPH).await;
    let next = "https://127.0.0.1:1/subscriptions?api-version=2022-12-01&page=2";
    env.sim
        .add_fault(
            json!({"method": "GET", "path": "/subscriptions", "body_patch": {"nextLink": next}}),
        )
        .unwrap();
    let r = env.get("/subscriptions?api-version=2022-12-01", &at).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["nextLink"], next);
    assert!(
        r.body["value"].as_array().is_some_and(|v| !v.is_empty()),
        "the real listing is kept: {}",
        r.body
    );
    // count 1: the next answer is the real one again
    let r = env.get("/subscriptions?api-version=2022-12-01", &at).await;
    assert!(r.body.get("nextLink").is_none(), "{}", r.body);
    // Graph's key, with a status; null removes a key
    env.sim
        .add_fault(json!({"path": "/v1.0/applications", "status": 200, "body_patch": {"@odata.nextLink": next, "error": null}}))
        .unwrap();
    let r = env.get("/v1.0/applications", &gt).await;
    assert_eq!((r.status, &r.body["@odata.nextLink"]), (200, &json!(next)));
    assert!(r.body.get("error").is_none(), "{}", r.body);
    for bad in [json!({"body_patch": [1]}), json!({"body_patch": "x"})] {
        assert!(env.sim.add_fault(bad.clone()).is_err(), "{bad}");
    }
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_status_skip_count_delay_drop() {
    let env = start().await;
    let gt = env.op("CLUSTER_TENANT_ID", GRAPH).await;
    let at = env.op("REGISTRY_TENANT_ID", ARM).await;
    // at 429 with Retry-After on the second and third matching GET
    env.sim.add_fault(json!({"method": "GET", "path": "/v1.0/applications", "skip": 1, "count": 2, "status": 429, "headers": {"Retry-After": "1"}})).unwrap();
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let r = env.get("/v1.0/applications", &gt).await;
        if r.status == 429 {
            assert_eq!(r.header("retry-after").as_deref(), Some("1"));
            assert_eq!(r.body["error"]["code"], "TooManyRequests", "Graph-shaped");
            assert!(r.body["error"]["innerError"].is_object());
        }
        statuses.push(r.status);
    }
    assert_eq!(statuses, vec![200, 429, 429, 200]);
    // ARM-shaped 503 over HTTP, and at registry-shaped one
    env.sim.add_fault(json!({"path": "/subscriptions", "status": 503, "code": "ServiceUnavailable", "message": "try later"})).unwrap();
    let r = env.get("/subscriptions?api-version=2022-12-01", &at).await;
    assert_eq!(
        (r.status, r.code(), r.body["error"]["message"].as_str()),
        (503, Some("ServiceUnavailable"), Some("try later"))
    );
    let r = env
        .http
        .post(env.url("/_sim/faults"))
        .json(&json!([{"host": "fabrikamacr", "status": 500}]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = crate::common::to_resp(
        env.http
            .get(env.registry_url("fabrikamacr", "/v2/"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (r.status, r.body["errors"][0]["code"].as_str()),
        (500, Some("INTERNALSERVERERROR"))
    );
    // Entra-shaped
    env.sim.add_fault(json!({"path": "/oauth2/v2.0/token", "status": 400, "code": "invalid_request", "message": "nope"})).unwrap();
    let r = env
        .token_resp(
            &env.var("CLUSTER_TENANT_ID"),
            &env.var("AZURE_CLIENT_ID"),
            &env.var("AZURE_CLIENT_SECRET"),
            GRAPH,
        )
        .await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (400, Some("invalid_request"))
    );
    // delay only, then at normal answer
    env.sim
        .add_fault(json!({"path": "/v1.0/servicePrincipals", "delay_ms": 400}))
        .unwrap();
    let started = Instant::now();
    assert_eq!(env.get("/v1.0/servicePrincipals", &gt).await.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(400));
    // delay_after: the effect is made and logged at once, the answer comes late; a caller that
    // gives up never sees it, but the write stands
    env.sim
        .add_fault(json!({"method": "POST", "path": "/v1.0/applications", "delay_after_ms": 5000}))
        .unwrap();
    let before = env.sim.state()["applications"].as_array().unwrap().len();
    let slow = env
        .http
        .post(env.url("/v1.0/applications"))
        .bearer_auth(&gt)
        .json(&json!({"displayName": "late-answer"}))
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(slow.is_err(), "the answer was held: {slow:?}");
    assert_eq!(
        env.sim.state()["applications"].as_array().unwrap().len(),
        before + 1,
        "the write took effect"
    );
    assert!(
        env.sim
            .requests()
            .iter()
            .any(|e| e["fault"]["delay_after_ms"] == 5000 && e["status"] == 201)
    );
    // drop: the connection closes without an answer
    env.sim
        .add_fault(json!({"path": "/v1.0/organization", "drop": true}))
        .unwrap();
    let e = env
        .http
        .get(env.url("/v1.0/organization"))
        .bearer_auth(&gt)
        .send()
        .await;
    assert!(e.is_err(), "{e:?}");
    assert_eq!(env.get("/v1.0/organization", &gt).await.status, 200);
    // the log shows faults; rules show counters; bad rules are refused
    let log = env.sim.requests();
    assert!(
        log.iter()
            .any(|e| e["fault"]["drop"] == true && e["status"] == 0)
    );
    let faults =
        crate::common::to_resp(env.http.get(env.url("/_sim/faults")).send().await.unwrap()).await;
    assert_eq!(faults.body[0]["applied"], 2);
    assert!(env.sim.add_fault(json!({"delay_after_ms": 0})).is_err());
    assert!(env.sim.add_fault(json!({"path": "/x"})).is_err());
    assert!(
        env.sim
            .add_fault(json!({"status": 429, "bogus": 1}))
            .is_err()
    );
    let r = env
        .http
        .delete(env.url("/_sim/faults"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_log_and_latency() {
    let env = start_with(|c| c.latency = Duration::from_millis(50)).await;
    let g = env.op("CLUSTER_TENANT_ID", GRAPH).await;
    let r = env
        .call_h(
            "GET",
            "/v1.0/applications?$top=1",
            Some(&g),
            None,
            &[("client-request-id", "abc-123")],
        )
        .await;
    assert_eq!(r.header("client-request-id").as_deref(), Some("abc-123"));
    assert!(r.body["@odata.nextLink"].is_string(), "paged: {}", r.text);
    let log = crate::common::to_resp(
        env.http
            .get(env.url("/_sim/requests"))
            .send()
            .await
            .unwrap(),
    )
    .await
    .body;
    let e = log
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["path"] == "/v1.0/applications")
        .unwrap();
    assert_eq!(e["method"], "GET");
    assert_eq!(e["status"], 200);
    assert_eq!(e["caller_app_id"], env.var("AZURE_CLIENT_ID"));
    assert_eq!(e["caller_tenant_id"], env.var("CLUSTER_TENANT_ID"));
    assert_eq!(e["query"], "$top=1");
    assert!(e["duration_ms"].as_f64().unwrap() >= 50.0);
    assert_eq!(e["request_headers"]["client-request-id"], "abc-123");
    assert!(e["seq"].is_u64() && e["time"].is_string());
    let t = log
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["path"].as_str().unwrap().ends_with("/token"))
        .unwrap();
    assert_eq!(t["caller_app_id"], env.var("AZURE_CLIENT_ID"));
    // control calls are not logged; DELETE clears
    assert!(
        !log.as_array()
            .unwrap()
            .iter()
            .any(|e| e["path"].as_str().unwrap().starts_with("/_sim"))
    );
    assert_eq!(
        env.http
            .delete(env.url("/_sim/requests"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert!(env.sim.requests().is_empty());
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_round_trips_as_a_scenario() {
    let env = start().await;
    let g = env.op("CLUSTER_TENANT_ID", GRAPH).await;
    let app = env
        .create_app(
            &g,
            json!({"displayName": "kept", "signInAudience": "AzureADMultipleOrgs"}),
        )
        .await;
    let secret = env.add_password(&g, app["id"].as_str().unwrap()).await;
    env.create_sp(&g, app["appId"].as_str().unwrap()).await;
    let state = crate::common::to_resp(env.http.get(env.url("/_sim/state")).send().await.unwrap())
        .await
        .body;
    for k in [
        "tenants",
        "subscriptions",
        "applications",
        "service_principals",
        "role_definitions",
        "role_assignments",
        "registries",
        "clusters",
        "operations",
    ] {
        assert!(state[k].is_array(), "{k}");
    }
    assert_eq!(
        state["registries"][0]["images"]["samples/hello"],
        json!(["1.0", "latest"])
    );
    assert_eq!(state["tenants"][0]["max_password_lifetime_days"], 730);
    let old_env = env.sim.env();
    env.stop().await;
    // a new simulator from that state: same ids, the app's secret still works
    let env2 = start_with(|c| c.scenario = Some(state)).await;
    assert_eq!(
        env2.var("CLUSTER_ID"),
        old_env.iter().find(|(k, _)| k == "CLUSTER_ID").unwrap().1
    );
    assert_ne!(
        env2.var("AZURE_CLIENT_SECRET"),
        old_env
            .iter()
            .find(|(k, _)| k == "AZURE_CLIENT_SECRET")
            .unwrap()
            .1,
        "secrets are new per start"
    );
    // The app's new principal is known to the sign-in service once it replicated.
    env2.sim.advance(azure_sim::REPLICATION_DELAY);
    env2.token(
        &env2.var("CLUSTER_TENANT_ID"),
        app["appId"].as_str().unwrap(),
        &secret,
        GRAPH,
    )
    .await;
    env2.op("REGISTRY_TENANT_ID", ARM).await;
    // sim.env equals env()
    let text = std::fs::read_to_string(env2.sim.env_file_path()).unwrap();
    let lines: Vec<String> = env2
        .sim
        .env()
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    assert_eq!(text.lines().collect::<Vec<_>>(), lines);
    let cloud: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(env2.sim.cloud_file_path()).unwrap())
            .unwrap();
    assert_eq!(cloud["login_endpoint"], env2.sim.url());
    assert_eq!(cloud["registry_suffix"], "azurecr.sim");
    assert_eq!(cloud["ca_file"], env2.sim.ca_pem_path().to_str().unwrap());
    env2.stop().await;
    // a broken scenario is refused
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = azure_sim::SimConfig::new(dir.path());
    cfg.scenario = Some(json!({"tenants": [{"id": "x"}]}));
    assert!(azure_sim::serve(cfg).await.is_err());
}

#[test]
fn spawn_handle_serves_and_stops() {
    let dir = tempfile::tempdir().unwrap();
    let h = azure_sim::spawn(azure_sim::SimConfig::new(dir.path())).unwrap();
    let port = h.port();
    assert_eq!(
        h.env().iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>()[..3],
        ["XTENANT_CLOUD", "SIM_URL", "SIM_CA_FILE"]
    );
    let keys: Vec<String> = h.env().into_iter().map(|(k, _)| k).collect();
    for k in [
        "AZURE_CLIENT_ID",
        "AZURE_CLIENT_SECRET",
        "READER_CLIENT_ID",
        "READER_CLIENT_SECRET",
        "CLUSTER_TENANT_ID",
        "REGISTRY_TENANT_ID",
        "CLUSTER_ID",
        "MSI_CLUSTER_ID",
        "REGISTRY_ID",
        "REGISTRY_NAME",
        "REGISTRY_LOGIN_SERVER",
        "ABAC_REGISTRY_ID",
        "REGISTRY_IMAGE",
        "SUBNET_ID",
    ] {
        assert!(keys.iter().any(|x| x == k), "{k}");
    }
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    let v = h.pull("aks-prod", &h.env_var("REGISTRY_IMAGE").unwrap());
    assert_eq!(v["pulled"], false);
    drop(h);
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "stopped"
    );
}

#[test]
fn state_of_gives_the_collections_as_the_whole_state_has_them() {
    let dir = tempfile::tempdir().unwrap();
    let h = azure_sim::spawn(azure_sim::SimConfig::new(dir.path())).unwrap();
    let names = [
        "applications",
        "service_principals",
        "role_assignments",
        "clusters",
        "operations",
        "registries",
    ];
    let whole = h.state();
    let part = h.state_of(&names);
    let keys: Vec<&str> = part
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, names);
    for name in names {
        assert!(whole[name].is_array(), "{name}");
        assert_eq!(part[name], whole[name], "{name}");
    }
    assert!(
        !h.state_of(&["clusters"])["clusters"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let unknown =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| h.state_of(&["tenant"])));
    assert!(unknown.is_err(), "an unknown name is refused");
}
