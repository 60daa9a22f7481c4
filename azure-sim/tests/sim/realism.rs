//! Azure as documented is the default: every api-version checked, a reset that reimages the
//! nodes pool after pool, a new secret refused for a while.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{ARM, Env, GRAPH, start, start_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_type_the_tools_call_refuses_a_version_it_does_not_have() {
    let env = start().await;
    let ta = env.op("CLUSTER_TENANT_ID", ARM).await;
    let (sub, cluster, reg) = (
        env.var("CLUSTER_SUBSCRIPTION_ID"),
        env.var("CLUSTER_ID"),
        env.var("REGISTRY_ID"),
    );
    let tb = env.op("REGISTRY_TENANT_ID", ARM).await;
    let ra = format!(
        "{cluster}/providers/Microsoft.Authorization/roleAssignments?$filter=atScope()&api-version="
    );
    let rd = format!(
        "/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions?api-version="
    );
    for (path, token, good, code, listed) in [
        (
            "/subscriptions?api-version=".to_string(),
            &ta,
            "2022-12-01",
            "InvalidApiVersionParameter",
            "2024-08-01",
        ),
        (
            format!("/subscriptions/{sub}?api-version="),
            &ta,
            "2022-12-01",
            "InvalidApiVersionParameter",
            "2024-08-01",
        ),
        (ra, &ta, "2022-04-01", "InvalidResourceType", "2022-04-01"),
        (
            rd,
            &ta,
            "2022-04-01",
            "NoRegisteredProviderFound",
            "2022-04-01",
        ),
        (
            format!("{cluster}?api-version="),
            &ta,
            "2025-10-01",
            "NoRegisteredProviderFound",
            "2025-10-01",
        ),
        (
            format!("{reg}?api-version="),
            &tb,
            "2025-11-01",
            "NoRegisteredProviderFound",
            "2025-11-01",
        ),
    ] {
        let ok = env.get(&format!("{path}{good}"), token).await;
        assert_eq!(ok.status, 200, "{path}{good}: {}", ok.text);
        for bad in ["1", "1999-01-01", "2099-01-01"] {
            let r = env.get(&format!("{path}{bad}"), token).await;
            assert_eq!(
                (r.status, r.code()),
                (400, Some(code)),
                "{path}{bad}: {}",
                r.text
            );
            let m = r.body["error"]["message"].as_str().unwrap();
            assert!(m.contains(bad) && m.contains(listed), "{m}");
        }
    }
    env.stop().await;
}

/// The default world with the SP cluster's pools as `pools`.
async fn with_pools(pools: Value) -> Env {
    let base = start().await;
    let mut state = base.sim.state();
    let first = base.var("CLUSTER_ID");
    base.stop().await;
    for c in state["clusters"].as_array_mut().unwrap() {
        if c["id"] == first.as_str() {
            c["agent_pools"] = pools.clone();
        }
    }
    start_with(|c| {
        c.time_scale = 1.0;
        c.scenario = Some(state);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reset_reimages_every_node_pool_after_pool_and_refuses_other_writes() {
    // 12 nodes in 3 pools: an hour at 5 minutes a node.
    let env = with_pools(json!([
        {"name": "system", "count": 3},
        {"name": "user1", "count": 4, "mode": "User"},
        {"name": "user2", "count": 5, "mode": "User"},
    ]))
    .await;
    let ta = env.op("CLUSTER_TENANT_ID", ARM).await;
    let cluster = env.var("CLUSTER_ID");
    let url = format!("{cluster}?api-version=2025-10-01");
    let pools = |v: &Value| -> Vec<(String, u64, String)> {
        v["properties"]["agentPoolProfiles"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["name"].as_str().unwrap().to_owned(),
                    p["count"].as_u64().unwrap(),
                    p["provisioningState"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let before = env.get(&url, &ta).await;
    assert_eq!(pools(&before.body).iter().map(|p| p.1).sum::<u64>(), 12);
    let (op, secret) = (env.var("AZURE_CLIENT_ID"), env.var("AZURE_CLIENT_SECRET"));
    let r = env
        .reset_as(&ta, &cluster, &json!({"clientId": op, "secret": secret}))
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let status_url = r.header("azure-asyncoperation").unwrap();
    assert_eq!(env.sim.state()["operations"][0]["duration_ms"], 3_600_000);
    let states = |g: &crate::common::Resp| -> Vec<String> {
        pools(&g.body).into_iter().map(|p| p.2).collect()
    };
    let g = env.get(&url, &ta).await;
    assert_eq!(g.body["properties"]["provisioningState"], "Updating");
    assert_eq!(states(&g), ["Updating", "Updating", "Updating"]);
    // 16 minutes: the system pool's 3 nodes are done, user1's being reimaged.
    env.sim.advance(Duration::from_secs(16 * 60));
    let g = env.get(&url, &ta).await;
    assert_eq!(states(&g), ["Succeeded", "Updating", "Updating"]);
    // Every other write to the cluster is refused meanwhile.
    let tags = env
        .send("PATCH", &url, &ta, &json!({"tags": {"a": "1"}}))
        .await;
    assert_eq!(
        (tags.status, tags.code()),
        (409, Some("OperationNotAllowed"))
    );
    // 36 minutes: 7 nodes, two pools.
    env.sim.advance(Duration::from_secs(20 * 60));
    let g = env.get(&url, &ta).await;
    assert_eq!(states(&g), ["Succeeded", "Succeeded", "Updating"]);
    assert_eq!(env.get(&status_url, &ta).await.body["status"], "InProgress");
    // An hour: done; every pool is the cluster's again.
    env.sim.advance(Duration::from_secs(24 * 60));
    let g = env.get(&url, &ta).await;
    assert_eq!(g.body["properties"]["provisioningState"], "Succeeded");
    assert_eq!(states(&g), ["Succeeded", "Succeeded", "Succeeded"]);
    assert!(
        env.sim.state()["clusters"][0]["agent_pools"][0]
            .get("provisioning_state")
            .is_none()
    );
    assert_eq!(env.get(&status_url, &ta).await.body["status"], "Succeeded");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_secret_is_refused_for_its_realistic_propagation_by_default() {
    let env = start_with(|c| c.time_scale = 1.0).await;
    assert_eq!(
        env.sim.state()["behaviour"]["secret_propagation_ms"],
        18_000
    );
    // The operator adds a second secret to itself, and signs in with it.
    let a = env.var("CLUSTER_TENANT_ID");
    let ga = env.op("CLUSTER_TENANT_ID", GRAPH).await;
    let app_id = env.var("AZURE_CLIENT_ID");
    let secret = env
        .add_password(&ga, "a1a1a1a1-a000-4000-8000-000000000002")
        .await;
    let r = env.token_resp(&a, &app_id, &secret, GRAPH).await;
    assert_eq!(
        (r.status, &r.body["error_codes"]),
        (401, &json!([7_000_215]))
    );
    // Still refused two seconds short of the 18 s, accepted past them.
    env.sim.advance(Duration::from_secs(16));
    let r = env.token_resp(&a, &app_id, &secret, GRAPH).await;
    assert_eq!(r.status, 401, "{}", r.text);
    env.sim.advance(Duration::from_secs(2));
    let r = env.token_resp(&a, &app_id, &secret, GRAPH).await;
    assert_eq!(r.status, 200, "{}", r.text);
    env.stop().await;
}
