//! Registry data plane and the pull truth endpoint, end to end with raw HTTP.

use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};

use crate::common::{ARM, Env, GRAPH, claims, start, start_with, to_resp};

fn basic(user: &str, pass: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
    )
}

async fn reg_get(env: &Env, reg: &str, path: &str, auth: Option<&str>) -> crate::common::Resp {
    let mut rb = env.http.get(env.registry_url(reg, path));
    if let Some(a) = auth {
        rb = rb.header("authorization", a);
    }
    to_resp(rb.send().await.unwrap()).await
}

/// A new multitenant app with an SP in both tenants and a secret: (app id, secret, SP id in B).
async fn cross_tenant_app(env: &Env) -> (String, String, String) {
    let ga = env.op("CLUSTER_TENANT_ID", GRAPH).await;
    let app = env
        .create_app(
            &ga,
            json!({"displayName": "xt", "signInAudience": "AzureADMultipleOrgs"}),
        )
        .await;
    let app_id = app["appId"].as_str().unwrap().to_string();
    let secret = env.add_password(&ga, app["id"].as_str().unwrap()).await;
    let gb = env.op("REGISTRY_TENANT_ID", GRAPH).await;
    // as a client must: wait out NoBackingApplicationObject while the app replicates
    let mut sp_b = None;
    for _ in 0..100 {
        let ra = env
            .send(
                "POST",
                "/v1.0/servicePrincipals",
                &ga,
                &json!({"appId": app_id}),
            )
            .await;
        if ra.status == 201 {
            sp_b = Some(env.create_sp(&gb, &app_id).await);
            break;
        }
        assert_eq!(
            ra.body["error"]["details"][0]["code"],
            "NoBackingApplicationObject"
        );
        env.sim.advance(Duration::from_secs(5));
    }
    // The new principals are known beyond Graph (to the registry's token service) once they
    // replicated.
    env.sim.advance(azure_sim::REPLICATION_DELAY);
    (
        app_id,
        secret,
        sp_b.unwrap()["id"].as_str().unwrap().to_string(),
    )
}

async fn assign(env: &Env, scope: &str, role: &str, principal: &str) {
    let tb = env.op("REGISTRY_TENANT_ID", ARM).await;
    let name = uuid::Uuid::new_v4();
    let body = json!({"properties": {"roleDefinitionId": format!("/subscriptions/{}/providers/Microsoft.Authorization/roleDefinitions/{role}", env.var("REGISTRY_SUBSCRIPTION_ID")), "principalId": principal, "principalType": "ServicePrincipal"}});
    let url = format!(
        "{scope}/providers/Microsoft.Authorization/roleAssignments/{name}?api-version=2022-04-01"
    );
    let r = env.send("PUT", &url, &tb, &body).await;
    assert_eq!(r.status, 201, "{}", r.text);
}

fn access(token: &str) -> Value {
    claims(token)["access"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_protocol_and_manifests() {
    // At Azure's pace: a new role assignment reaches the registry after the replication delay.
    let env = start_with(|c| c.time_scale = 1.0).await;
    let (app_id, secret, sp) = cross_tenant_app(&env).await;
    let ls = env.var("REGISTRY_LOGIN_SERVER");
    // challenge
    let r = reg_get(&env, "fabrikamacr", "/v2/", None).await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate").unwrap(),
        format!("Bearer realm=\"https://{ls}/oauth2/token\",service=\"{ls}\"")
    );
    assert_eq!(r.body["errors"][0]["code"], "UNAUTHORIZED");
    // wrong secret, unknown app, no SP in B
    let query = format!("/oauth2/token?service={ls}&scope=repository:samples/hello:pull");
    let r = reg_get(&env, "fabrikamacr", &query, Some(&basic(&app_id, "nope"))).await;
    assert_eq!(
        (r.status, r.body["errors"][0]["code"].as_str()),
        (401, Some("UNAUTHORIZED"))
    );
    assert!(r.header("www-authenticate").is_some());
    let r = reg_get(
        &env,
        "fabrikamacr",
        &query,
        Some(&basic("a1a1a1a1-a100-4000-8000-000000000001", &secret)),
    )
    .await;
    assert_eq!(r.status, 401);
    // authenticated but no role: 200 with empty actions
    let r = reg_get(&env, "fabrikamacr", &query, Some(&basic(&app_id, &secret))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.body["refresh_token"].is_string());
    let tok = r.body["access_token"].as_str().unwrap().to_string();
    assert_eq!(
        access(&tok),
        json!([{"type": "repository", "name": "samples/hello", "actions": []}])
    );
    let cl = claims(&tok);
    assert_eq!(cl["aud"], ls.as_str());
    assert!(cl["exp"].is_i64() && cl["iss"].is_string() && cl["sub"].is_string());
    let r = reg_get(
        &env,
        "fabrikamacr",
        "/v2/samples/hello/manifests/1.0",
        Some(&format!("Bearer {tok}")),
    )
    .await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate").unwrap(),
        format!(
            "Bearer realm=\"https://{ls}/oauth2/token\",service=\"{ls}\",scope=\"repository:samples/hello:pull\""
        )
    );
    assert_eq!(
        reg_get(&env, "fabrikamacr", "/v2/", Some(&format!("Bearer {tok}")))
            .await
            .status,
        200
    );
    // AcrPull on the registry: effective once the role propagated
    assign(
        &env,
        &env.var("REGISTRY_ID"),
        "7f951dda-4ed3-4680-a7ca-43fe172d538d",
        &sp,
    )
    .await;
    let r = reg_get(&env, "fabrikamacr", &query, Some(&basic(&app_id, &secret))).await;
    assert_eq!(
        access(r.body["access_token"].as_str().unwrap())[0]["actions"],
        json!([])
    );
    env.sim.advance(azure_sim::ROLE_PROPAGATION);
    let r = reg_get(
        &env,
        "fabrikamacr",
        &format!("{query},push"),
        Some(&basic(&app_id, &secret)),
    )
    .await;
    let tok = r.body["access_token"].as_str().unwrap().to_string();
    assert_eq!(
        access(&tok)[0]["actions"],
        json!(["pull"]),
        "AcrPull grants no push"
    );
    let bearer = format!("Bearer {tok}");
    let r = reg_get(
        &env,
        "fabrikamacr",
        "/v2/samples/hello/manifests/1.0",
        Some(&bearer),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type").unwrap(),
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    let digest = r.header("docker-content-digest").unwrap();
    assert!(digest.starts_with("sha256:"));
    assert_eq!(r.body["schemaVersion"], 2);
    // by digest, HEAD, OCI accept, missing tag, missing repo
    assert_eq!(
        reg_get(
            &env,
            "fabrikamacr",
            &format!("/v2/samples/hello/manifests/{digest}"),
            Some(&bearer)
        )
        .await
        .status,
        200
    );
    let head = env
        .http
        .head(env.registry_url("fabrikamacr", "/v2/samples/hello/manifests/1.0"))
        .header("authorization", &bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(
        head.headers()["docker-content-digest"].to_str().unwrap(),
        digest
    );
    let oci = env
        .http
        .get(env.registry_url("fabrikamacr", "/v2/samples/hello/manifests/1.0"))
        .header("authorization", &bearer)
        .header("accept", "application/vnd.oci.image.manifest.v1+json")
        .send()
        .await
        .unwrap();
    assert_eq!(
        oci.headers()["content-type"].to_str().unwrap(),
        "application/vnd.oci.image.manifest.v1+json"
    );
    let r = reg_get(
        &env,
        "fabrikamacr",
        "/v2/samples/hello/manifests/9.9",
        Some(&bearer),
    )
    .await;
    assert_eq!(
        (r.status, r.body["errors"][0]["code"].as_str()),
        (404, Some("MANIFEST_UNKNOWN"))
    );
    let r = reg_get(
        &env,
        "fabrikamacr",
        "/v2/samples/hello/tags/list",
        Some(&bearer),
    )
    .await;
    assert_eq!(r.body["tags"], json!(["1.0", "latest"]));
    // Basic credentials directly on the manifest
    assert_eq!(
        reg_get(
            &env,
            "fabrikamacr",
            "/v2/samples/hello/manifests/1.0",
            Some(&basic(&app_id, &secret))
        )
        .await
        .status,
        200
    );
    // a token for one registry is no good on another
    assert_eq!(
        reg_get(
            &env,
            "fabrikamabac",
            "/v2/samples/hello/manifests/1.0",
            Some(&bearer)
        )
        .await
        .status,
        401
    );
    // refresh token → access token
    let r = reg_get(&env, "fabrikamacr", &query, Some(&basic(&app_id, &secret))).await;
    let rt = r.body["refresh_token"].as_str().unwrap().to_string();
    let r = env
        .http
        .post(env.registry_url("fabrikamacr", "/oauth2/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("service", ls.as_str()),
            ("scope", "repository:samples/hello:pull"),
            ("refresh_token", rt.as_str()),
        ])
        .send()
        .await
        .unwrap();
    let r = to_resp(r).await;
    assert_eq!(
        access(r.body["access_token"].as_str().unwrap())[0]["actions"],
        json!(["pull"])
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchange_and_abac_mode() {
    let env = start().await;
    let (app_id, secret, sp) = cross_tenant_app(&env).await;
    let b = env.var("REGISTRY_TENANT_ID");
    let ls = format!("fabrikamabac.azurecr.sim:{}", env.sim.port());
    // AcrPull is not honoured in ABAC mode; the repository reader is
    assign(
        &env,
        &env.var("ABAC_REGISTRY_ID"),
        "7f951dda-4ed3-4680-a7ca-43fe172d538d",
        &sp,
    )
    .await;
    let q = format!("/oauth2/token?service={ls}&scope=repository:samples/hello:pull");
    let r = reg_get(&env, "fabrikamabac", &q, Some(&basic(&app_id, &secret))).await;
    assert_eq!(
        access(r.body["access_token"].as_str().unwrap())[0]["actions"],
        json!([])
    );
    assign(
        &env,
        &env.var("ABAC_REGISTRY_ID"),
        "b93aa761-3e63-49ed-ac28-beffa264f7ac",
        &sp,
    )
    .await;
    // Once the assignment reached the registry.
    env.sim.advance(azure_sim::ROLE_PROPAGATION);
    // Entra token for the registry audience → exchange → refresh → access
    let aad = env
        .token(&b, &app_id, &secret, "https://containerregistry.azure.net")
        .await;
    let ex = |aad: String| {
        let env = &env;
        let (ls, b) = (ls.clone(), b.clone());
        async move {
            let r = env
                .http
                .post(env.registry_url("fabrikamabac", "/oauth2/exchange"))
                .form(&[
                    ("grant_type", "access_token"),
                    ("service", ls.as_str()),
                    ("tenant", b.as_str()),
                    ("access_token", aad.as_str()),
                ])
                .send()
                .await
                .unwrap();
            to_resp(r).await
        }
    };
    let r = ex(aad).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let rt = r.body["refresh_token"].as_str().unwrap().to_string();
    let r = env
        .http
        .post(env.registry_url("fabrikamabac", "/oauth2/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("service", ls.as_str()),
            ("scope", "repository:samples/hello:pull"),
            ("refresh_token", rt.as_str()),
        ])
        .send()
        .await
        .unwrap();
    let r = to_resp(r).await;
    let t = r.body["access_token"].as_str().unwrap().to_string();
    assert_eq!(access(&t)[0]["actions"], json!(["pull"]));
    assert_eq!(
        reg_get(
            &env,
            "fabrikamabac",
            "/v2/samples/hello/manifests/1.0",
            Some(&format!("Bearer {t}"))
        )
        .await
        .status,
        200
    );
    // a token from tenant A is refused by B's registry
    let aad_a = env
        .token(
            &env.var("CLUSTER_TENANT_ID"),
            &app_id,
            &secret,
            "https://containerregistry.azure.net",
        )
        .await;
    assert_eq!(ex(aad_a).await.status, 401);
    // an unknown registry host
    let r = reg_get(&env, "nosuchreg", "/v2/", None).await;
    assert_eq!(r.status, 404);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truth_flips_after_grant_and_reset() {
    let env = start().await;
    let image = env.var("REGISTRY_IMAGE");
    let pull = |env: &Env| {
        let url = env.url(&format!(
            "/_sim/clusters/{}/pull?image={}",
            env.var("CLUSTER_NAME"),
            image
        ));
        let http = env.http.clone();
        async move { to_resp(http.get(url).send().await.unwrap()).await.body }
    };
    let v = pull(&env).await;
    assert_eq!(v["pulled"], false);
    assert_eq!(v["status"], 401);
    assert!(
        v["reason"]
            .as_str()
            .unwrap()
            .contains("no service principal in the registry's tenant"),
        "{v}"
    );
    // step 1: app, SP in A, secret
    let (app_id, secret, sp_b) = cross_tenant_app(&env).await;
    // step 3: AcrPull in B
    assign(
        &env,
        &env.var("REGISTRY_ID"),
        "7f951dda-4ed3-4680-a7ca-43fe172d538d",
        &sp_b,
    )
    .await;
    assert_eq!(
        pull(&env).await["pulled"],
        false,
        "the cluster still holds the old credentials"
    );
    // step 4: reset
    let r = env.reset(&env.var("CLUSTER_ID"), &app_id, &secret).await;
    assert_eq!(r.status, 202, "{}", r.text);
    env.sim.advance(Duration::from_secs(15 * 60));
    let v = pull(&env).await;
    assert_eq!(
        v,
        json!({"pulled": true, "status": 200, "reason": v["reason"]})
    );
    assert_eq!(env.sim.pull("aks-prod", &image)["pulled"], true);
    // missing image, MI cluster, unknown cluster
    let missing = image.replace(":1.0", ":9.9");
    let v = env.sim.pull("aks-prod", &missing);
    assert_eq!(
        (v["pulled"].as_bool(), v["status"].as_u64()),
        (Some(false), Some(404))
    );
    let v = env.sim.pull("aks-msi", &image);
    assert_eq!(v["pulled"], false);
    assert!(
        v["reason"].as_str().unwrap().contains("managed identity"),
        "{v}"
    );
    let r = env
        .call("GET", "/_sim/clusters/nope/pull?image=x/y:z", None, None)
        .await;
    assert_eq!(r.status, 404);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_secret_is_refused_everywhere_until_it_has_spread() {
    // --secret-propagation: Entra, the registry's token service (and AKS) refuse a secret
    // addPassword made a moment ago as invalid (microsoftgraph/microsoft-graph-docs#17966).
    // At Azure's pace, the clock moved on by the test (longer than the app's replication,
    // which making the app waits out).
    let spread = Duration::from_secs(3600);
    let env = start_with(|c| {
        c.time_scale = 1.0;
        c.behaviour = Some(json!({"secret_propagation_ms": spread.as_millis()}));
    })
    .await;
    let (app_id, secret, _) = cross_tenant_app(&env).await;
    let a = env.var("CLUSTER_TENANT_ID");
    let ls = format!("fabrikamacr.azurecr.sim:{}", env.sim.port());
    let q = format!("/oauth2/token?service={ls}&scope=repository:samples/hello:pull");
    let r = env.token_resp(&a, &app_id, &secret, GRAPH).await;
    assert_eq!(
        (r.status, &r.body["error_codes"]),
        (401, &json!([7_000_215]))
    );
    let r = reg_get(&env, "fabrikamacr", &q, Some(&basic(&app_id, &secret))).await;
    assert_eq!(r.status, 401, "{}", r.text);
    env.sim.advance(spread);
    let r = env.token_resp(&a, &app_id, &secret, GRAPH).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = reg_get(&env, "fabrikamacr", &q, Some(&basic(&app_id, &secret))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    // A wrong secret is refused the same way, before and after.
    let r = env.token_resp(&a, &app_id, "not-the-secret", GRAPH).await;
    assert_eq!(r.body["error_codes"], json!([7_000_215]));
    env.stop().await;
}
