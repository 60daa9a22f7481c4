//! The fidelity review's findings (issue 24), each as Azure answers it: a new service principal
//! unknown beyond Graph until it replicated, a tag deny policy on the cluster's own scope, the
//! api-version refusals of Microsoft.Authorization and Key Vault, the durations' defaults.

use std::time::Duration;

use base64::Engine as _;
use serde_json::json;

use crate::common::{ARM, Env, GRAPH, Resp, start_with, start_with_policies, to_resp};

/// A new multitenant app with a secret and a service principal in both tenants, made as a
/// client must (Graph's lags and the app's replication waited out on Azure's clock); returns
/// (app id, secret, principal id in tenant B) the moment tenant B's principal was created.
async fn new_app_with_principals(env: &Env) -> (String, String, String) {
    let ga = env.op("CLUSTER_TENANT_ID", GRAPH).await;
    let gb = env.op("REGISTRY_TENANT_ID", GRAPH).await;
    let app = env
        .create_app(
            &ga,
            json!({"displayName": "fresh", "signInAudience": "AzureADMultipleOrgs"}),
        )
        .await;
    let app_id = app["appId"].as_str().unwrap().to_string();
    let secret = env.add_password(&ga, app["id"].as_str().unwrap()).await;
    env.create_sp(&ga, &app_id).await;
    let sp_b = env.create_sp(&gb, &app_id).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    (app_id, secret, sp_b)
}

fn basic(user: &str, pass: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
    )
}

/// The registry's token service asked for a pull token with the app's own credential.
async fn registry_token(env: &Env, app_id: &str, secret: &str) -> Resp {
    let ls = env.var("REGISTRY_LOGIN_SERVER");
    let url = env.registry_url(
        "fabrikamacr",
        &format!("/oauth2/token?service={ls}&scope=repository:samples/hello:pull"),
    );
    let r = env
        .http
        .get(url)
        .header("authorization", basic(app_id, secret))
        .send()
        .await
        .unwrap();
    to_resp(r).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_service_principal_is_unknown_beyond_graph_until_it_replicated() {
    // At Azure's pace: the clock moves only when the test moves it (and by the real seconds).
    let env = start_with(|c| c.time_scale = 1.0).await;
    let (app_id, secret, _) = new_app_with_principals(&env).await;
    let (a, b) = (env.var("CLUSTER_TENANT_ID"), env.var("REGISTRY_TENANT_ID"));
    // The token endpoint, in either tenant: AADSTS700016, as for an app with no principal.
    for tenant in [&a, &b] {
        let r = env.token_resp(tenant, &app_id, &secret, ARM).await;
        assert_eq!(
            (r.status, r.body["error"].as_str(), &r.body["error_codes"]),
            (400, Some("unauthorized_client"), &json!([700_016])),
            "{}",
            r.text
        );
        let m = r.body["error_description"].as_str().unwrap();
        assert!(
            m.starts_with("AADSTS700016: Application with identifier"),
            "{m}"
        );
        assert!(m.contains(&app_id), "{m}");
    }
    // The registry's token service: ACR's own words for an app Entra does not know.
    let r = registry_token(&env, &app_id, &secret).await;
    assert_eq!(
        (r.status, r.body["errors"][0]["code"].as_str()),
        (401, Some("UNAUTHORIZED")),
        "{}",
        r.text
    );
    assert!(
        r.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("Application not registered with AAD"),
        "{}",
        r.text
    );
    // AKS's credential check during the reset (aka.ms/aks-sp-help).
    let r = env.reset(&env.var("CLUSTER_ID"), &app_id, &secret).await;
    assert_eq!(
        (r.status, r.code()),
        (400, Some("ServicePrincipalValidationClientError")),
        "{}",
        r.text
    );
    let m = r.body["error"]["message"].as_str().unwrap();
    assert!(
        m.contains(&format!(
            "Service principal clientID: {app_id} not found in Active Directory tenant {a}"
        )) && m.contains("https://aka.ms/aks-sp-help"),
        "{m}"
    );
    // Two seconds short of the replication delay: still unknown; past it, known everywhere.
    env.sim.advance(
        azure_sim::REPLICATION_DELAY
            .checked_sub(Duration::from_secs(2))
            .unwrap(),
    );
    let r = env.token_resp(&a, &app_id, &secret, ARM).await;
    assert_eq!(r.status, 400, "{}", r.text);
    env.sim.advance(Duration::from_secs(2));
    for tenant in [&a, &b] {
        let r = env.token_resp(tenant, &app_id, &secret, ARM).await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let r = registry_token(&env, &app_id, &secret).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = env.reset(&env.var("CLUSTER_ID"), &app_id, &secret).await;
    assert_eq!(r.status, 202, "{}", r.text);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_replication_leniency_makes_a_new_principal_known_at_once() {
    let env = start_with(|c| {
        c.time_scale = 1.0;
        c.lenient.insert(azure_sim::Leniency::Replication);
    })
    .await;
    let (app_id, secret, _) = new_app_with_principals(&env).await;
    // Only the secret's own propagation is left to wait for (shorter than the replication
    // delay the leniency skips).
    env.sim.advance(Duration::from_secs(20));
    let r = env
        .token_resp(&env.var("CLUSTER_TENANT_ID"), &app_id, &secret, ARM)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = registry_token(&env, &app_id, &secret).await;
    assert_eq!(r.status, 200, "{}", r.text);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_deny_policy_on_the_clusters_own_scope_refuses_the_patch_at_once() {
    let env = start_with_policies(|base| {
        let group = format!(
            "/subscriptions/{}/resourceGroups/rg-aks",
            base.var("CLUSTER_SUBSCRIPTION_ID")
        );
        // Assigned at the cluster's resource group: it governs the cluster itself.
        json!([{"name": "no-xtenant-tags", "scope": group, "deny_tags": ["xtenant-*"]}])
    })
    .await;
    let (sub, cluster) = (env.var("CLUSTER_SUBSCRIPTION_ID"), env.var("CLUSTER_ID"));
    let group = format!("/subscriptions/{sub}/resourceGroups/rg-aks");
    assert!(cluster.starts_with(&format!("{group}/")), "{cluster}");
    let ta = env.op("CLUSTER_TENANT_ID", ARM).await;
    let url = format!("{cluster}?api-version=2025-10-01");
    let before = env.get(&url, &ta).await;
    assert_eq!(before.status, 200, "{}", before.text);
    let r = env
        .patch_tags(&url, &ta, json!({"team": "a", "xtenant-client-id": "x"}))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (403, Some("RequestDisallowedByPolicy")),
        "{}",
        r.text
    );
    let e = &r.body["error"];
    assert_eq!(e["target"], "aks-prod");
    let m = e["message"].as_str().unwrap();
    assert!(
        m.starts_with("Resource 'aks-prod' was disallowed by policy. Policy identifiers:")
            && m.contains("no-xtenant-tags")
            && m.contains("xtenant-client-id"),
        "{m}"
    );
    let info = &e["additionalInfo"][0];
    assert_eq!(info["type"], "PolicyViolation");
    assert_eq!(info["info"]["policyDefinitionEffect"], "deny");
    assert_eq!(
        info["info"]["policyAssignmentId"],
        format!("{group}/providers/Microsoft.Authorization/policyAssignments/no-xtenant-tags")
    );
    assert!(r.header("azure-asyncoperation").is_none());
    // Nothing kept, no update started: the cluster and its tags are as they were.
    let after = env.get(&url, &ta).await;
    assert_eq!(after.body["tags"], before.body["tags"]);
    assert_eq!(after.body["properties"]["provisioningState"], "Succeeded");
    assert_eq!(
        env.sim.state()["operations"].as_array().map_or(0, Vec::len),
        0
    );
    // Tags the policy allows go through as the usual cluster update.
    let r = env.patch_tags(&url, &ta, json!({"team": "a"})).await;
    assert_eq!(r.status, 202, "{}", r.text);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_refuses_a_version_as_azure_does_and_has_2020_10_01_preview() {
    let env = crate::common::start().await;
    let ta = env.op("CLUSTER_TENANT_ID", ARM).await;
    let sub = env.var("CLUSTER_SUBSCRIPTION_ID");
    let ra = format!("/subscriptions/{sub}/providers/Microsoft.Authorization/roleAssignments");
    // The list as ARM printed it for api-version=dummyapi (December 2024), oldest first.
    let listed = "2014-04-01-preview,2014-07-01-preview,2014-10-01-preview,2015-05-01-preview,2015-06-01,2015-07-01,2016-07-01,2017-05-01,2017-09-01,2017-10-01-preview,2018-01-01-preview,2018-07-01,2018-09-01-preview,2018-12-01-preview,2019-04-01-preview,2020-03-01-preview,2020-04-01-preview,2020-08-01-preview,2020-10-01-preview,2021-04-01-preview,2022-01-01-preview,2022-04-01";
    let r = env.get(&format!("{ra}?api-version=dummyapi"), &ta).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(
        r.body,
        json!({"error": {"code": "InvalidResourceType", "message": format!("The resource type 'roleAssignments' could not be found in the namespace 'Microsoft.Authorization' for api version 'dummyapi'. The supported api-versions are '{listed}'.")}})
    );
    // The type named as ARM spells it whatever the path's case.
    let lower = ra.replace("roleAssignments", "roleassignments");
    let r = env
        .get(&format!("{lower}?api-version=2020-07-01-preview"), &ta)
        .await;
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("The resource type 'roleAssignments' could not be found"),
        "{}",
        r.text
    );
    for good in ["2020-10-01-preview", "2022-04-01"] {
        let r = env.get(&format!("{ra}?api-version={good}"), &ta).await;
        assert_eq!(r.status, 200, "{good}: {}", r.text);
    }
    // Role definitions: NoRegisteredProviderFound, no locations (azure-sdk-for-java#28334).
    let rd = format!("/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions");
    let r = env
        .get(&format!("{rd}?api-version=2020-07-01-preview"), &ta)
        .await;
    assert_eq!(
        (r.status, r.code()),
        (400, Some("NoRegisteredProviderFound")),
        "{}",
        r.text
    );
    let m = r.body["error"]["message"].as_str().unwrap();
    assert!(
        m.contains("and API version '2020-07-01-preview' for type 'roleDefinitions'")
            && m.contains("2021-04-01-preview, 2022-01-01-preview, 2022-04-01'")
            && m.ends_with("The supported locations are ''."),
        "{m}"
    );
    env.stop().await;
}

/// The pull actions a registry token of the app's grants on `samples/hello`.
async fn pull_actions(env: &Env, app_id: &str, secret: &str) -> serde_json::Value {
    let r = registry_token(env, app_id, secret).await;
    assert_eq!(r.status, 200, "{}", r.text);
    crate::common::claims(r.body["access_token"].as_str().unwrap())["access"][0]["actions"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_reaches_the_registry_after_the_documented_ten_minutes() {
    assert_eq!(azure_sim::ROLE_PROPAGATION, Duration::from_secs(600));
    assert_eq!(azure_sim::REPLICATION_DELAY, Duration::from_secs(30));
    let env = start_with(|c| c.time_scale = 1.0).await;
    let (app_id, secret, sp_b) = new_app_with_principals(&env).await;
    env.sim.advance(azure_sim::REPLICATION_DELAY);
    env.grant_pull(&sp_b).await;
    // Past the directory's replication, a minute short of the role's propagation: no pull.
    env.sim.advance(Duration::from_secs(9 * 60));
    assert_eq!(pull_actions(&env, &app_id, &secret).await, json!([]));
    env.sim.advance(Duration::from_secs(60));
    assert_eq!(pull_actions(&env, &app_id, &secret).await, json!(["pull"]));
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_time_scale_compresses_the_role_propagation_too() {
    // At the tests' scale (0.001) the ten minutes pass in 0.6 real seconds.
    let env = crate::common::start().await;
    let (app_id, secret, sp_b) = new_app_with_principals(&env).await;
    env.sim.advance(azure_sim::REPLICATION_DELAY);
    env.grant_pull(&sp_b).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(pull_actions(&env, &app_id, &secret).await, json!(["pull"]));
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_vault_takes_its_published_versions_and_refuses_others_in_its_own_words() {
    let env = crate::common::start().await;
    let tok = env.op("CLUSTER_TENANT_ID", crate::common::VAULT).await;
    let url = |v: &str| {
        format!(
            "{}/secrets/fidelity?api-version={v}",
            env.var("KEYVAULT_URL")
        )
    };
    for v in [
        "2016-10-01",
        "7.0",
        "7.5",
        "7.6",
        "2025-07-01",
        "2026-04-01",
    ] {
        let r = env.send("PUT", &url(v), &tok, &json!({"value": "v"})).await;
        assert_eq!(r.status, 200, "{v}: {}", r.text);
    }
    for v in ["7.7", "2016-10-02", "1"] {
        let r = env.send("PUT", &url(v), &tok, &json!({"value": "v"})).await;
        assert_eq!(r.status, 400, "{v}: {}", r.text);
        assert_eq!(
            r.body,
            json!({"error": {"code": "BadParameter", "message": format!("The specified version ({v}) is not recognized. Consider using the latest supported version (2026-04-01).")}})
        );
    }
    env.stop().await;
}

/// A cluster's `eTag` changes on every cluster-level write, and a tag update with `If-Match`
/// naming an older one is refused (412 `PreConditionFailed`), nothing kept: a writer whose
/// body was made from an earlier read cannot put back what another writer changed since.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_update_with_a_stale_if_match_is_refused_and_keeps_nothing() {
    let env = crate::common::lenient(&[azure_sim::Leniency::ClusterUpdates]).await;
    let ta = env.op("CLUSTER_TENANT_ID", ARM).await;
    let url = format!("{}?api-version=2025-10-01", env.var("CLUSTER_ID"));
    let etag = |r: &Resp| r.body["eTag"].as_str().unwrap().to_owned();
    let first = etag(&env.get(&url, &ta).await);
    let patch = |tags: serde_json::Value, if_match: String| {
        let (env, ta, url) = (&env, &ta, &url);
        async move {
            let body = json!({ "tags": tags });
            env.call_h(
                "PATCH",
                url,
                Some(ta),
                Some(&body),
                &[("If-Match", &if_match)],
            )
            .await
        }
    };
    let r = patch(json!({"team": "a"}), first.clone()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let second = etag(&r);
    assert_ne!(first, second, "a tag update changes the eTag");
    assert_eq!(
        etag(&env.get(&url, &ta).await),
        second,
        "pools and GET show it"
    );
    // Another writer's body from the first read: refused, the tags as the second write left them.
    let r = patch(json!({"owner": "b"}), first.clone()).await;
    assert_eq!(
        (r.status, r.code()),
        (412, Some("PreConditionFailed")),
        "{}",
        r.text
    );
    assert_eq!(
        r.body["error"]["message"],
        format!(
            "Etag provided in if-match header \"{first}\" does not match etag \"{second}\" of resource."
        )
    );
    let now = env.get(&url, &ta).await;
    assert_eq!(now.body["tags"], json!({"team": "a"}));
    assert_eq!(etag(&now), second);
    // `*` and the current eTag go through; the request log shows the header sent.
    let r = patch(json!({"team": "c"}), "*".into()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let third = etag(&r);
    let r = patch(json!({"team": "d"}), third.clone()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let sent: Vec<serde_json::Value> = env
        .sim
        .requests()
        .into_iter()
        .filter(|r| r["method"] == "PATCH")
        .map(|r| r["request_headers"]["if-match"].clone())
        .collect();
    assert_eq!(sent, [json!(first), json!(first), json!("*"), json!(third)]);
    // Before 2024-09-01 the cluster has no eTag: If-Match is no condition there.
    let old = format!("{}?api-version=2024-08-01", env.var("CLUSTER_ID"));
    let body = json!({"tags": {"team": "e"}});
    let r = env
        .call_h(
            "PATCH",
            &old,
            Some(&ta),
            Some(&body),
            &[("If-Match", &first)],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.body.get("eTag").is_none(), "{}", r.text);
    // A reset is a cluster-level write too.
    let before = etag(&env.get(&url, &ta).await);
    let r = env.reset_to_operator(&env.var("CLUSTER_ID")).await;
    assert!(r.status < 300, "{}", r.text);
    assert_ne!(etag(&env.get(&url, &ta).await), before);
    env.stop().await;
}

/// attack12 (review of 4915ab0). A managed cluster's `eTag` (and its pools') is part of the
/// AKS API from `2024-09-01` on: the spec's `ManagedClustersGet.json` example shows
/// `"eTag": "beywbwei"` (and the pool's `"nvewbvoi"`) in `stable/2024-09-01` and
/// `stable/2025-10-01`, and none in `stable/2024-08-01`, `2024-07-01`, `2024-05-01` or
/// `2024-02-01`. A GET at an older api-version (what a national cloud that lags gets, e.g.
/// the `national` scenario's newest, `2023-11-01`) must show none: the simulator shows one at
/// every version, so `--remove-legacy-tags` works in it where AKS would give it no eTag.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_read_at_an_api_version_before_2024_09_01_has_no_etag() {
    let env = crate::common::lenient(&[azure_sim::Leniency::ClusterUpdates]).await;
    let ta = env.op("CLUSTER_TENANT_ID", ARM).await;
    let at = |v: &str| format!("{}?api-version={v}", env.var("CLUSTER_ID"));
    let new = env.get(&at("2024-09-01"), &ta).await;
    assert_eq!(new.status, 200, "{}", new.text);
    assert!(new.body["eTag"].is_string(), "{}", new.text);
    for v in ["2024-08-01", "2023-11-01", "2021-10-01"] {
        let old = env.get(&at(v), &ta).await;
        assert_eq!(old.status, 200, "{v}: {}", old.text);
        assert!(
            old.body.get("eTag").is_none(),
            "{v}: the cluster shows an eTag its api-version does not have: {}",
            old.body["eTag"]
        );
        let pools = old.body["properties"]["agentPoolProfiles"]
            .as_array()
            .unwrap();
        assert!(
            pools.iter().all(|p| p.get("eTag").is_none()),
            "{v}: a pool shows an eTag: {pools:?}"
        );
    }
    env.stop().await;
}
