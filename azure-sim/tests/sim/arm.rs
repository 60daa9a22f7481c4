//! ARM: subscriptions, registries, role definitions and assignments, clusters, the reset LRO.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{ACR_PULL, ARM, Env, GRAPH, start, start_with, start_with_policies};

const V: &str = "api-version=2022-04-01";

fn ra_path(scope: &str, name: &str) -> String {
    format!("{scope}/providers/Microsoft.Authorization/roleAssignments/{name}?{V}")
}

fn ra_body(sub: &str, role: &str, principal: &str, ptype: Option<&str>) -> Value {
    let mut p = json!({"roleDefinitionId": format!("/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{role}"), "principalId": principal});
    if let Some(t) = ptype {
        p["principalType"] = json!(t);
    }
    json!({"properties": p})
}

async fn sp_in_b(env: &Env, app_id: &str) -> String {
    let tb = env.op("REGISTRY_TENANT_ID", GRAPH).await;
    let r = env
        .get(&format!("/v1.0/servicePrincipals(appId='{app_id}')"), &tb)
        .await;
    r.body["id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_registries_definitions() {
    let env = start().await;
    let tb = env.op("REGISTRY_TENANT_ID", ARM).await;
    let r = env.get("/subscriptions?api-version=2022-12-01", &tb).await;
    assert_eq!(r.status, 200);
    let subs = r.body["value"].as_array().unwrap();
    assert_eq!(subs.len(), 1);
    assert_eq!(
        subs[0]["subscriptionId"],
        env.var("REGISTRY_SUBSCRIPTION_ID")
    );
    assert!(r.body.get("nextLink").is_none());
    assert!(
        r.header("x-ms-request-id").is_some() && r.header("x-ms-correlation-request-id").is_some()
    );
    let r = env
        .get(
            &format!(
                "/subscriptions/{}?api-version=2022-12-01",
                env.var("REGISTRY_SUBSCRIPTION_ID")
            ),
            &tb,
        )
        .await;
    assert_eq!(r.body["tenantId"], env.var("REGISTRY_TENANT_ID"));
    // registry get, case-insensitive path
    let id = env.var("REGISTRY_ID");
    let r = env
        .get(
            &format!(
                "{}?api-version=2025-11-01",
                id.to_uppercase().replace("SUBSCRIPTIONS", "subscriptions")
            ),
            &tb,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body["properties"]["loginServer"],
        env.var("REGISTRY_LOGIN_SERVER")
    );
    assert_eq!(
        r.body["properties"]["roleAssignmentMode"],
        "LegacyRegistryPermissions"
    );
    let r = env
        .get_resource("ABAC_REGISTRY_ID", "2025-11-01", &tb)
        .await;
    assert_eq!(
        r.body["properties"]["roleAssignmentMode"],
        "AbacRepositoryPermissions"
    );
    // lists
    let sub = env.var("REGISTRY_SUBSCRIPTION_ID");
    let r = env.get(&format!("/subscriptions/{sub}/providers/Microsoft.ContainerRegistry/registries?api-version=2025-11-01"), &tb).await;
    assert_eq!(r.body["value"].as_array().unwrap().len(), 2);
    let r = env.get(&format!("/subscriptions/{sub}/resourceGroups/rg-acr/providers/Microsoft.ContainerRegistry/registries?api-version=2025-11-01"), &tb).await;
    assert_eq!(r.body["value"].as_array().unwrap().len(), 2);
    // unknown registry, unknown group
    let r = env.get(&format!("/subscriptions/{sub}/resourceGroups/rg-acr/providers/Microsoft.ContainerRegistry/registries/nope?api-version=2025-11-01"), &tb).await;
    assert_eq!((r.status, r.code()), (404, Some("ResourceNotFound")));
    let r = env.get(&format!("/subscriptions/{sub}/resourceGroups/nope/providers/Microsoft.ContainerRegistry/registries/x?api-version=2025-11-01"), &tb).await;
    assert_eq!((r.status, r.code()), (404, Some("ResourceGroupNotFound")));
    // role definitions by filter, by id, at a resource scope
    let r = env
        .http
        .get(env.url(&format!(
            "{id}/providers/Microsoft.Authorization/roleDefinitions"
        )))
        .query(&[
            ("$filter", "roleName eq 'AcrPull'"),
            ("api-version", "2022-04-01"),
        ])
        .bearer_auth(&tb)
        .send()
        .await
        .unwrap();
    let r = crate::common::to_resp(r).await;
    assert_eq!(r.body["value"][0]["name"], ACR_PULL);
    assert_eq!(
        r.body["value"][0]["properties"]["permissions"][0]["actions"],
        json!(["Microsoft.ContainerRegistry/registries/pull/read"])
    );
    for (name, guid) in [
        ("Owner", "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"),
        ("Contributor", "b24988ac-6180-42a0-ab88-20f7382dd24c"),
        ("Reader", "acdd72a7-3385-48ef-bd42-f606fba81ae7"),
        (
            "User Access Administrator",
            "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",
        ),
        (
            "Network Contributor",
            "4d97b98b-1d4f-4787-a291-c67834d212e7",
        ),
        (
            "Container Registry Repository Reader",
            "b93aa761-3e63-49ed-ac28-beffa264f7ac",
        ),
    ] {
        let r = env.get(&format!("/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{guid}?{V}"), &tb).await;
        assert_eq!(r.body["properties"]["roleName"], name);
    }
    let r = env.get(&format!("/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/99999999-9999-4999-8999-999999999999?{V}"), &tb).await;
    assert_eq!(r.status, 404);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arm_auth_errors() {
    let env = start().await;
    let sub_b = env.var("REGISTRY_SUBSCRIPTION_ID");
    let ta = env.op("CLUSTER_TENANT_ID", ARM).await;
    // a token from A on B's subscription
    let r = env.get_resource("REGISTRY_ID", "2025-11-01", &ta).await;
    assert_eq!(
        (r.status, r.code()),
        (401, Some("InvalidAuthenticationTokenTenant"))
    );
    let r = env
        .call(
            "GET",
            &format!("/subscriptions/{sub_b}?api-version=2022-12-01"),
            None,
            None,
        )
        .await;
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").is_some());
    let graph = env.op("REGISTRY_TENANT_ID", GRAPH).await;
    let r = env
        .get(
            &format!("/subscriptions/{sub_b}?api-version=2022-12-01"),
            &graph,
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (401, Some("InvalidAuthenticationToken"))
    );
    // the other ARM audience works too
    let core = env
        .op("REGISTRY_TENANT_ID", "https://management.core.windows.net/")
        .await;
    assert_eq!(
        env.get(
            &format!("/subscriptions/{sub_b}?api-version=2022-12-01"),
            &core
        )
        .await
        .status,
        200
    );
    let tb = env.op("REGISTRY_TENANT_ID", ARM).await;
    let r = env.get(&format!("/subscriptions/{sub_b}"), &tb).await;
    assert_eq!(
        (r.status, r.code()),
        (400, Some("MissingApiVersionParameter"))
    );
    let r = env
        .get("/subscriptions/not-a-guid?api-version=2022-12-01", &tb)
        .await;
    assert_eq!((r.status, r.code()), (400, Some("InvalidSubscriptionId")));
    let r = env
        .get(
            "/subscriptions/99999999-9999-4999-8999-999999999999?api-version=2022-12-01",
            &tb,
        )
        .await;
    assert_eq!((r.status, r.code()), (404, Some("SubscriptionNotFound")));
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_assignments() {
    let env = start().await;
    let tb = env.op("REGISTRY_TENANT_ID", ARM).await;
    let sub = env.var("REGISTRY_SUBSCRIPTION_ID");
    let reg = env.var("REGISTRY_ID");
    let reader_sp = sp_in_b(&env, &env.var("READER_CLIENT_ID")).await;
    let name = "11111111-2222-4333-8444-555555555555";
    let body = ra_body(&sub, ACR_PULL, &reader_sp, Some("ServicePrincipal"));
    let r = env.send("PUT", &ra_path(&reg, name), &tb, &body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["name"], name);
    assert_eq!(r.body["type"], "Microsoft.Authorization/roleAssignments");
    assert_eq!(r.body["properties"]["scope"], reg.as_str());
    // the same again is fine
    let r = env.send("PUT", &ra_path(&reg, name), &tb, &body).await;
    assert_eq!(r.status, 201);
    // same principal+role+scope under another name conflicts
    let r = env
        .send(
            "PUT",
            &ra_path(&reg, "99999999-2222-4333-8444-555555555555"),
            &tb,
            &body,
        )
        .await;
    assert_eq!((r.status, r.code()), (409, Some("RoleAssignmentExists")));
    let msg = r.body["error"]["message"].as_str().unwrap();
    assert!(
        msg.ends_with(&format!("{}.", name.replace('-', ""))),
        "{msg}"
    );
    // GET, lists with filters (inherited from the subscription included)
    let r = env.get(&ra_path(&reg, name), &tb).await;
    assert_eq!(r.status, 200);
    let list = |filter: String| {
        let env = &env;
        let tb = tb.clone();
        let reg = reg.clone();
        async move {
            let r = env
                .http
                .get(env.url(&format!(
                    "{reg}/providers/Microsoft.Authorization/roleAssignments"
                )))
                .query(&[("$filter", filter.as_str()), ("api-version", "2022-04-01")])
                .bearer_auth(&tb)
                .send()
                .await
                .unwrap();
            crate::common::to_resp(r).await
        }
    };
    let r = list(format!("principalId eq '{reader_sp}'")).await;
    let roles: Vec<String> = r.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            v["properties"]["roleDefinitionId"]
                .as_str()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(
        roles.contains(&ACR_PULL.to_string())
            && roles.contains(&"acdd72a7-3385-48ef-bd42-f606fba81ae7".to_string()),
        "{roles:?}"
    );
    let r = list("atScope()".into()).await;
    assert!(r.body["value"].as_array().unwrap().len() >= 2);
    let r = list(format!("assignedTo('{reader_sp}')")).await;
    assert_eq!(r.body["value"].as_array().unwrap().len(), 2);
    let r = list("bogus".into()).await;
    assert_eq!(r.status, 400);
    // unknown principal without principalType
    let r = env
        .call(
            "PUT",
            &ra_path(&reg, "22222222-2222-4333-8444-555555555555"),
            Some(&tb),
            Some(&ra_body(
                &sub,
                ACR_PULL,
                "99999999-9999-4999-8999-999999999999",
                None,
            )),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, Some("PrincipalNotFound")));
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("99999999999949998999999999999999")
    );
    // a caller without roleAssignments/write
    let reader = env.reader("REGISTRY_TENANT_ID", ARM).await;
    let r = env
        .send(
            "PUT",
            &ra_path(&reg, "33333333-2222-4333-8444-555555555555"),
            &reader,
            &body,
        )
        .await;
    assert_eq!((r.status, r.code()), (403, Some("AuthorizationFailed")));
    let m = r.body["error"]["message"].as_str().unwrap();
    assert!(
        m.contains(&env.var("READER_CLIENT_ID"))
            && m.contains("Microsoft.Authorization/roleAssignments/write")
            && m.contains(&reg),
        "{m}"
    );
    // bad ids, bad bodies
    let r = env
        .send("PUT", &ra_path(&reg, "not-a-guid"), &tb, &body)
        .await;
    assert_eq!(r.status, 400);
    let r = env
        .raw(
            "PUT",
            &ra_path(&reg, "44444444-2222-4333-8444-555555555555"),
            Some(&tb),
            "{nope",
        )
        .await;
    assert_eq!((r.status, r.code()), (400, Some("InvalidRequestContent")));
    // delete
    let r = env.delete(&ra_path(&reg, name), &tb).await;
    assert_eq!(r.status, 200);
    let r = env.get(&ra_path(&reg, name), &tb).await;
    assert_eq!((r.status, r.code()), (404, Some("RoleAssignmentNotFound")));
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn principal_not_found_during_replication() {
    // At Azure's pace: a new principal stays unknown to ARM for the whole replication delay.
    let env = start_with(|c| c.time_scale = 1.0).await;
    let ta = env.op("CLUSTER_TENANT_ID", GRAPH).await;
    let app = env
        .create_app(
            &ta,
            json!({"displayName": "r", "signInAudience": "AzureADMultipleOrgs"}),
        )
        .await;
    env.sim.advance(azure_sim::REPLICATION_DELAY);
    let gb = env.op("REGISTRY_TENANT_ID", GRAPH).await;
    let sp = env.create_sp(&gb, app["appId"].as_str().unwrap()).await;
    let sp_id = sp["id"].as_str().unwrap();
    let tb = env.op("REGISTRY_TENANT_ID", ARM).await;
    let (sub, reg) = (env.var("REGISTRY_SUBSCRIPTION_ID"), env.var("REGISTRY_ID"));
    let r = env
        .call(
            "PUT",
            &ra_path(&reg, "55555555-2222-4333-8444-555555555555"),
            Some(&tb),
            Some(&ra_body(&sub, ACR_PULL, sp_id, None)),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, Some("PrincipalNotFound")));
    let r = env
        .call(
            "PUT",
            &ra_path(&reg, "55555555-2222-4333-8444-555555555555"),
            Some(&tb),
            Some(&ra_body(&sub, ACR_PULL, sp_id, Some("ServicePrincipal"))),
        )
        .await;
    assert_eq!(r.status, 201);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_lifecycle() {
    // At Azure's pace: the reset of the default cluster's three nodes runs for 15 minutes.
    let env = start_with(|c| c.time_scale = 1.0).await;
    let ta = env.op("CLUSTER_TENANT_ID", ARM).await;
    let cluster = env.var("CLUSTER_ID");
    let r = env
        .get(&format!("{cluster}?api-version=2025-10-01"), &ta)
        .await;
    assert_eq!(
        r.body["properties"]["servicePrincipalProfile"]["clientId"],
        "a1a1a1a1-a100-4000-8000-000000000001"
    );
    assert_eq!(r.body["properties"]["provisioningState"], "Succeeded");
    assert!(r.body.get("identity").is_none());
    let (op, secret) = (env.var("AZURE_CLIENT_ID"), env.var("AZURE_CLIENT_SECRET"));
    let r = env.reset(&cluster, &op, &secret).await;
    assert_eq!(r.status, 202, "{}", r.text);
    let async_url = r.header("azure-asyncoperation").unwrap();
    let location = r.header("location").unwrap();
    assert!(
        async_url.contains("/providers/Microsoft.ContainerService/locations/eastus/operations/")
            && async_url.ends_with("?api-version=2016-03-30")
    );
    assert!(location.contains("/operationresults/"));
    let ra: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert_eq!(ra, 10, "at most 10 s between polls");
    assert!(
        r.header("retry-after-ms").is_none(),
        "at Azure's pace, as Azure answers"
    );
    // while running
    let r = env
        .get(&format!("{cluster}?api-version=2025-10-01"), &ta)
        .await;
    assert_eq!(r.body["properties"]["provisioningState"], "Updating");
    let r = env.get(&async_url, &ta).await;
    assert_eq!(r.body["status"], "InProgress");
    assert!(r.body["startTime"].is_string() && r.body["name"].is_string());
    assert_eq!(env.get(&location, &ta).await.status, 202);
    let r = env.reset(&cluster, &op, &secret).await;
    assert_eq!((r.status, r.code()), (409, Some("OperationNotAllowed")));
    env.sim.advance(Duration::from_secs(14 * 60));
    let r = env.get(&async_url, &ta).await;
    assert_eq!(r.body["status"], "InProgress", "3 nodes × 5 minutes");
    env.sim.advance(Duration::from_secs(60));
    let r = env.get(&async_url, &ta).await;
    assert_eq!(r.body["status"], "Succeeded");
    assert!(r.body["endTime"].is_string());
    assert_eq!(env.get(&location, &ta).await.status, 204);
    let r = env
        .get(&format!("{cluster}?api-version=2025-10-01"), &ta)
        .await;
    assert_eq!(
        r.body["properties"]["servicePrincipalProfile"]["clientId"],
        op.as_str()
    );
    assert_eq!(r.body["properties"]["provisioningState"], "Succeeded");
    // the state keeps only the hash
    let state = env.sim.state();
    assert!(!state.to_string().contains(&secret));
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_refusals_and_outcomes() {
    let env = start().await;
    let (op, secret) = (env.var("AZURE_CLIENT_ID"), env.var("AZURE_CLIENT_SECRET"));
    let cluster = env.var("CLUSTER_ID");
    let r = env.reset(&env.var("MSI_CLUSTER_ID"), &op, &secret).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body["error"]["message"],
        "This action cannot be performed on a cluster that is not using a service principal"
    );
    let r = env.reset(&cluster, &op, &"x".repeat(191)).await;
    assert_eq!(r.status, 400);
    let r = env.reset(&cluster, &op, "wrong").await;
    assert_eq!(
        (r.status, r.code()),
        (400, Some("ServicePrincipalValidationClientError"))
    );
    // a reader may not reset
    let reader = env.reader("CLUSTER_TENANT_ID", ARM).await;
    let r = env
        .reset_as(
            &reader,
            &cluster,
            &json!({"clientId": op, "secret": secret}),
        )
        .await;
    assert_eq!((r.status, r.code()), (403, Some("AuthorizationFailed")));
    // outcomes: Failed, Canceled, Hang
    let ta = env.op("CLUSTER_TENANT_ID", ARM).await;
    for (outcome, status, code) in [
        ("Failed", "Failed", "ReconcileFailed"),
        ("Canceled", "Canceled", "OperationCanceled"),
    ] {
        env.sim
            .add_fault(json!({"operation": outcome, "code": code, "message": "injected"}))
            .unwrap();
        let r = env.reset(&cluster, &op, &secret).await;
        assert_eq!(r.status, 202);
        let url = r.header("azure-asyncoperation").unwrap();
        let loc = r.header("location").unwrap();
        env.sim.advance(Duration::from_secs(15 * 60));
        let s = env.get(&url, &ta).await;
        assert_eq!(s.body["status"], status);
        assert_eq!(s.body["error"]["code"], code);
        let l = env.get(&loc, &ta).await;
        assert!(
            l.status >= 400 && l.body["error"]["code"] == code,
            "{}",
            l.text
        );
        let c = env
            .get(&format!("{cluster}?api-version=2025-10-01"), &ta)
            .await;
        assert_eq!(c.body["properties"]["provisioningState"], status);
        assert_eq!(
            c.body["properties"]["servicePrincipalProfile"]["clientId"],
            "a1a1a1a1-a100-4000-8000-000000000001"
        );
    }
    env.sim.add_fault(json!({"operation": "Hang"})).unwrap();
    let r = env.reset(&cluster, &op, &secret).await;
    let url = r.header("azure-asyncoperation").unwrap();
    env.sim.advance(Duration::from_secs(24 * 3600));
    assert_eq!(env.get(&url, &ta).await.body["status"], "InProgress");
    assert_eq!(env.reset(&cluster, &op, &secret).await.status, 409);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_throttling() {
    // At ARM's pace: Retry-After in whole seconds, and nothing else.
    let env = start_with(|c| {
        c.time_scale = 1.0;
        c.arm_write_limit = Some(azure_sim::WriteLimit {
            per_second: 2.0,
            burst: 3,
        });
    })
    .await;
    let tb = env.op("REGISTRY_TENANT_ID", ARM).await;
    let (sub, reg) = (env.var("REGISTRY_SUBSCRIPTION_ID"), env.var("REGISTRY_ID"));
    let reader_sp = sp_in_b(&env, &env.var("READER_CLIENT_ID")).await;
    let body = ra_body(&sub, ACR_PULL, &reader_sp, Some("ServicePrincipal"));
    let mut statuses = Vec::new();
    let mut retry = None;
    for _ in 0..5 {
        let r = env
            .send(
                "PUT",
                &ra_path(&reg, "66666666-2222-4333-8444-555555555555"),
                &tb,
                &body,
            )
            .await;
        if r.status == 429 {
            assert_eq!(r.body["error"]["code"], "SubscriptionRequestsThrottled");
            assert_eq!(r.header("retry-after-ms"), None, "ARM's own headers only");
            retry = r.header("retry-after");
        }
        statuses.push(r.status);
    }
    assert_eq!(&statuses[..3], &[201, 201, 201]);
    assert!(statuses[3..].contains(&429), "{statuses:?}");
    assert_eq!(retry.as_deref(), Some("1"));
    // reads are not throttled
    assert_eq!(
        env.get(&ra_path(&reg, "66666666-2222-4333-8444-555555555555"), &tb)
            .await
            .status,
        200
    );
    // The bucket refills on Azure's clock: moved on, it has tokens again.
    env.sim.advance(Duration::from_secs(1));
    assert_eq!(
        env.send(
            "PUT",
            &ra_path(&reg, "66666666-2222-4333-8444-555555555555"),
            &tb,
            &body
        )
        .await
        .status,
        201
    );
    assert!(env.sim.requests().iter().any(|e| e["status"] == 429));
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_compressed_clock_a_throttled_write_is_told_its_wait_in_real_milliseconds() {
    // One write per 200 s of Azure's time: 200 ms at the compressed scale.
    let env = start_with(|c| {
        c.arm_write_limit = Some(azure_sim::WriteLimit {
            per_second: 0.005,
            burst: 1,
        });
    })
    .await;
    let tb = env.op("REGISTRY_TENANT_ID", ARM).await;
    let (sub, reg) = (env.var("REGISTRY_SUBSCRIPTION_ID"), env.var("REGISTRY_ID"));
    let reader_sp = sp_in_b(&env, &env.var("READER_CLIENT_ID")).await;
    let body = ra_body(&sub, ACR_PULL, &reader_sp, Some("ServicePrincipal"));
    let path = ra_path(&reg, "66666666-2222-4333-8444-555555555555");
    assert_eq!(env.send("PUT", &path, &tb, &body).await.status, 201);
    let r = env.send("PUT", &path, &tb, &body).await;
    assert_eq!(r.status, 429, "{}", r.text);
    // Azure's wait (up to 200 s) in whole real seconds rounded up, and exactly in retry-after-ms.
    assert_eq!(r.header("retry-after").as_deref(), Some("1"));
    let ms: u64 = r.header("retry-after-ms").unwrap().parse().unwrap();
    assert!((100..=200).contains(&ms), "{ms}");
    tokio::time::sleep(Duration::from_millis(ms)).await;
    assert_eq!(env.send("PUT", &path, &tb, &body).await.status, 201);
    env.stop().await;
}

/// The operation a 202 names, followed to its end.
async fn follow(env: &Env, token: &str, r: &crate::common::Resp) -> Value {
    let url = r
        .header("azure-asyncoperation")
        .expect("Azure-AsyncOperation");
    env.get(&url, token).await.body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_throttling_has_buckets_of_its_own() {
    let env = start_with(|c| {
        c.time_scale = 1.0;
        c.arm_read_limit = Some(azure_sim::WriteLimit {
            per_second: 2.0,
            burst: 3,
        });
    })
    .await;
    let ta = env.op("CLUSTER_TENANT_ID", ARM).await;
    let url = format!("{}?api-version=2025-10-01", env.var("CLUSTER_ID"));
    let mut statuses = Vec::new();
    let mut left = Vec::new();
    for _ in 0..5 {
        let r = env.get(&url, &ta).await;
        if r.status == 429 {
            assert_eq!(r.body["error"]["code"], "SubscriptionRequestsThrottled");
            assert!(r.text.contains("'read' requests"), "{}", r.text);
            assert_eq!(r.header("retry-after").as_deref(), Some("1"));
        }
        left.push(r.header("x-ms-ratelimit-remaining-subscription-reads"));
        statuses.push(r.status);
    }
    assert_eq!(&statuses[..3], &[200, 200, 200], "{statuses:?}");
    assert!(statuses[3..].contains(&429), "{statuses:?}");
    assert_eq!(left[0].as_deref(), Some("2"));
    assert!(
        env.get(&url, &ta)
            .await
            .header("x-ms-ratelimit-remaining-subscription-global-reads")
            .is_some()
    );
    // A write spends the write bucket, which is not throttled here.
    let r = env.patch_tags(&url, &ta, json!({"a": "1"})).await;
    assert!(r.status < 300, "{}", r.text);
    // Tenant-level reads (no subscription) are not counted.
    let tenants = env.get("/tenants?api-version=2022-12-01", &ta).await;
    assert_eq!(tenants.status, 200, "{}", tenants.text);
    env.sim.advance(Duration::from_secs(1));
    assert_eq!(env.get(&url, &ta).await.status, 200);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_update_is_a_cluster_update_that_copies_the_tags_onto_the_node_resources() {
    // At Azure's pace, the clock moved on by the test.
    let env = start_with(|c| c.time_scale = 1.0).await;
    let ta = env.op("CLUSTER_TENANT_ID", ARM).await;
    let cluster = env.var("CLUSTER_ID");
    let url = format!("{cluster}?api-version=2025-10-01");
    let patch = |tags: Value| json!({ "tags": tags });
    let r = env.get(&url, &ta).await;
    assert_eq!(r.body["tags"], json!({}));
    let r = env
        .call(
            "PATCH",
            &url,
            Some(&ta),
            Some(&patch(json!({"a": "1", "b": ""}))),
        )
        .await;
    // Accepted: the tags are the cluster's at once, the cluster reconciles meanwhile.
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.body["tags"], json!({"a": "1", "b": ""}));
    assert_eq!(r.body["id"], cluster.as_str());
    assert_eq!(r.body["properties"]["provisioningState"], "Updating");
    assert!(r.header("location").unwrap().contains("/operationresults/"));
    assert_eq!(r.header("retry-after").as_deref(), Some("10"));
    assert_eq!(follow(&env, &ta, &r).await["status"], "InProgress");
    let node_tags = |env: &Env| env.sim.state()["clusters"][0]["node_resource_tags"].clone();
    assert_eq!(node_tags(&env), json!({}), "not copied before it ends");
    // Every other write is refused meanwhile: another tag update, a reset.
    let again = env
        .call("PATCH", &url, Some(&ta), Some(&patch(json!({"c": "3"}))))
        .await;
    assert_eq!(
        (again.status, again.code()),
        (409, Some("OperationNotAllowed"))
    );
    let (op, secret) = (env.var("AZURE_CLIENT_ID"), env.var("AZURE_CLIENT_SECRET"));
    assert_eq!(env.reset(&cluster, &op, &secret).await.status, 409);
    // Three minutes later: done, and the node resource group's resources carry the tags.
    env.sim.advance(azure_sim::CLUSTER_UPDATE_TIME);
    assert_eq!(follow(&env, &ta, &r).await["status"], "Succeeded");
    let g = env.get(&url, &ta).await;
    assert_eq!(g.body["properties"]["provisioningState"], "Succeeded");
    assert_eq!(node_tags(&env), json!({"a": "1", "b": ""}));
    // The whole set is replaced (TagsObject): a tag not sent is gone.
    let r = env
        .call("PATCH", &url, Some(&ta), Some(&patch(json!({"c": "3"}))))
        .await;
    assert_eq!(r.body["tags"], json!({"c": "3"}));
    env.sim.advance(azure_sim::CLUSTER_UPDATE_TIME);
    let r = env.get(&url, &ta).await;
    assert_eq!(r.body["tags"], json!({"c": "3"}));
    assert_eq!(node_tags(&env), json!({"c": "3"}));
    // ARM's tag limits.
    for (bad, code) in [
        (json!({"a/b": "x"}), "InvalidTagNameCharacters"),
        (json!({"a": "x".repeat(257)}), "InvalidTag"),
        (json!({"a": 1}), "InvalidRequestContent"),
    ] {
        let r = env
            .call("PATCH", &url, Some(&ta), Some(&patch(bad.clone())))
            .await;
        assert_eq!((r.status, r.code()), (400, Some(code)), "{bad}");
    }
    // The reader may read, not write.
    let reader = env.reader("CLUSTER_TENANT_ID", ARM).await;
    let r = env
        .call(
            "PATCH",
            &url,
            Some(&reader),
            Some(&patch(json!({"x": "1"}))),
        )
        .await;
    assert_eq!((r.status, r.code()), (403, Some("AuthorizationFailed")));
    // Not while a reset runs on the cluster.
    assert_eq!(env.reset(&cluster, &op, &secret).await.status, 202);
    let r = env
        .call("PATCH", &url, Some(&ta), Some(&patch(json!({"x": "1"}))))
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_policy_on_the_node_resource_group_fails_the_whole_update() {
    let env = start_with_policies(|base| {
        let node_rg = format!(
            "/subscriptions/{}/resourceGroups/MC_rg-aks_aks-prod_eastus",
            base.var("CLUSTER_SUBSCRIPTION_ID")
        );
        json!([{"name": "no-xtenant-tags", "scope": node_rg, "deny_tags": ["xtenant-*"]}])
    })
    .await;
    let ta = env.op("CLUSTER_TENANT_ID", ARM).await;
    let url = format!("{}?api-version=2025-10-01", env.var("CLUSTER_ID"));
    let r = env
        .patch_tags(&url, &ta, json!({"team": "a", "xtenant-client-id": "x"}))
        .await;
    assert_eq!(r.status, 202, "ARM took the write: {}", r.text);
    env.sim.advance(azure_sim::CLUSTER_UPDATE_TIME);
    let status = follow(&env, &ta, &r).await;
    assert_eq!(status["status"], "Failed", "{status}");
    assert_eq!(status["error"]["code"], "RequestDisallowedByPolicy");
    let message = status["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("MC_rg-aks_aks-prod_eastus")
            && message.contains("no-xtenant-tags")
            && message.contains("xtenant-client-id"),
        "{message}"
    );
    let g = env.get(&url, &ta).await;
    assert_eq!(g.body["properties"]["provisioningState"], "Failed");
    assert_eq!(
        env.sim.state()["clusters"][0]["node_resource_tags"],
        json!({}),
        "nothing copied"
    );
    // Tags the policy allows go through.
    let r = env.patch_tags(&url, &ta, json!({"team": "a"})).await;
    assert_eq!(r.status, 202);
    env.sim.advance(azure_sim::CLUSTER_UPDATE_TIME);
    assert_eq!(follow(&env, &ta, &r).await["status"], "Succeeded");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_update_is_a_plain_write_only_by_name() {
    let env = start_with(|c| {
        c.time_scale = 1.0;
        c.lenient.insert(azure_sim::Leniency::ClusterUpdates);
    })
    .await;
    let ta = env.op("CLUSTER_TENANT_ID", ARM).await;
    let url = format!("{}?api-version=2025-10-01", env.var("CLUSTER_ID"));
    let r = env.patch_tags(&url, &ta, json!({"a": "1"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.header("azure-asyncoperation").is_none());
    assert_eq!(r.body["properties"]["provisioningState"], "Succeeded");
    env.stop().await;
}
