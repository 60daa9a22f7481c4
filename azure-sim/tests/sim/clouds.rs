//! Real Azure's rough edges, each switched on from the scenario's `behaviour` object: API versions
//! a cloud lacks, the AKS RP's error shape and a busy cluster, Graph's read lag, a Graph without
//! the `uniqueName` key, and the shipped national-cloud scenario.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{ARM, Env, GRAPH, start, start_with};

/// At Azure's pace, with the behaviour `b`: a reset runs its 15 minutes, a lag its whole
/// length, until the test advances the clock.
async fn behaving(b: Value) -> Env {
    start_with(|c| {
        c.behaviour = Some(b);
        c.time_scale = 1.0;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_versions_the_cloud_lacks_are_refused_listing_the_supported_ones() {
    let env = behaving(json!({
        "strict_api_versions": true,
        "api_versions": {
            "Microsoft.ContainerService/managedClusters": ["2023-11-01", "2024-02-01"],
            "Microsoft.Authorization/roleAssignments": ["2022-04-01"],
        }
    }))
    .await;
    let ta = env.op("CLUSTER_TENANT_ID", ARM).await;
    let cluster = env.var("CLUSTER_ID");
    let r = env
        .get(&format!("{cluster}?api-version=2025-10-01"), &ta)
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.body["error"]["code"], "NoRegisteredProviderFound");
    assert_eq!(
        r.body["error"]["message"],
        "No registered resource provider found for location 'eastus' and API version '2025-10-01' for type 'managedClusters'. The supported api-versions are '2024-02-01, 2023-11-01'. The supported locations are 'eastus'."
    );
    // the reset is refused the same way, before anything happens
    let r = env.reset_as(&ta, &cluster, &json!({"clientId": env.var("AZURE_CLIENT_ID"), "secret": env.var("AZURE_CLIENT_SECRET")}))
        .await;
    assert_eq!(r.body["error"]["code"], "NoRegisteredProviderFound");
    assert!(env.sim.state()["operations"].as_array().unwrap().is_empty());
    let r = env
        .get(&format!("{cluster}?api-version=2024-02-01"), &ta)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // registries: strict mode uses the public cloud's set
    let tb = env.op("REGISTRY_TENANT_ID", ARM).await;
    let reg = env.var("REGISTRY_ID");
    let r = env.get(&format!("{reg}?api-version=2025-11-01"), &tb).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = env.get(&format!("{reg}?api-version=2099-01-01"), &tb).await;
    assert_eq!(r.body["error"]["code"], "NoRegisteredProviderFound");
    let msg = r.body["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains(
            "for type 'registries'. The supported api-versions are '2025-11-01, 2025-05-01-preview, 2025-04-01,"
        ),
        "{msg}"
    );
    // role assignments: Microsoft.Authorization's InvalidResourceType
    let r = env
        .get(
            &format!(
                "{reg}/providers/Microsoft.Authorization/roleAssignments?api-version=2015-07-01"
            ),
            &tb,
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error"]["code"], "InvalidResourceType");
    assert_eq!(
        r.body["error"]["message"],
        "The resource type 'roleAssignments' could not be found in the namespace 'Microsoft.Authorization' for api version '2015-07-01'. The supported api-versions are '2022-04-01'."
    );
    env.stop().await;
    // by default (Azure) the public cloud's sets are checked; leniency by name serves any
    let env = start().await;
    let ta = env.op("CLUSTER_TENANT_ID", ARM).await;
    let r = env
        .get(&format!("{cluster}?api-version=2099-01-01"), &ta)
        .await;
    assert_eq!(
        (r.status, r.code()),
        (400, Some("NoRegisteredProviderFound"))
    );
    env.stop().await;
    let env = start_with(|c| {
        c.lenient.insert(azure_sim::Leniency::ApiVersions);
    })
    .await;
    let ta = env.op("CLUSTER_TENANT_ID", ARM).await;
    let r = env
        .get(&format!("{cluster}?api-version=2099-01-01"), &ta)
        .await;
    assert_eq!(r.status, 200);
    env.stop().await;
}

const BUSY: &str = "Operation is not allowed: Another operation (Updating) is in progress, please wait for it to finish before starting a new operation. See https://aka.ms/aks-pending-operation for more details";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aks_errors_are_top_level_and_a_busy_cluster_refuses_a_reset() {
    let env = behaving(json!({"aks_error_shape": "top_level"})).await;
    let cluster = env.var("CLUSTER_ID");
    assert_eq!(env.reset_to_operator(&cluster).await.status, 202);
    let r = env.reset_to_operator(&cluster).await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(r.body["code"], "OperationNotAllowed");
    assert_eq!(r.body["message"], BUSY);
    assert!(r.body.get("error").is_none(), "{}", r.text);
    let r = env.reset_to_operator(&env.var("MSI_CLUSTER_ID")).await;
    assert_eq!(
        (r.status, r.body["code"].as_str()),
        (400, Some("BadRequest"))
    );
    // ARM's own errors keep ARM's shape
    let reader = env.reader("CLUSTER_TENANT_ID", ARM).await;
    let r = env
        .reset_as(&reader, &cluster, &json!({"clientId": "x", "secret": "y"}))
        .await;
    assert_eq!(r.body["error"]["code"], "AuthorizationFailed");
    env.stop().await;
    // wrapped by default, with the same text
    let env = behaving(json!({})).await;
    assert_eq!(env.reset_to_operator(&cluster).await.status, 202);
    let r = env.reset_to_operator(&cluster).await;
    assert_eq!(r.body["error"]["code"], "OperationNotAllowed");
    assert_eq!(r.body["error"]["message"], BUSY);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_busy_with_another_operation_refuses_a_reset() {
    let probe = start().await;
    let mut state = probe.sim.state();
    probe.stop().await;
    for c in state["clusters"].as_array_mut().unwrap() {
        c["provisioning_state"] = json!("Upgrading");
    }
    let env = start_with(|c| c.scenario = Some(state)).await;
    let r = env.reset_to_operator(&env.var("CLUSTER_ID")).await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(
        r.body["error"]["message"],
        BUSY.replace("(Updating)", "(Upgrading)")
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_reads_of_new_objects_lag_separately_from_replication() {
    let env = behaving(json!({"graph_read_lag_ms": 1500})).await;
    let ga = env.op("CLUSTER_TENANT_ID", GRAPH).await;
    let app = env
        .create_app(
            &ga,
            json!({"displayName": "lagging", "uniqueName": "lagging-1", "signInAudience": "AzureADMultipleOrgs"}),
        )
        .await;
    let (id, app_id) = (
        app["id"].as_str().unwrap().to_string(),
        app["appId"].as_str().unwrap().to_string(),
    );
    // the write answered; reads of the new object do not find it yet
    for path in [
        format!("/v1.0/applications/{id}"),
        format!("/v1.0/applications(appId='{app_id}')"),
        "/v1.0/applications(uniqueName='lagging-1')".to_string(),
    ] {
        let r = env.get(&path, &ga).await;
        assert_eq!(r.status, 404, "{path}: {}", r.text);
        assert_eq!(r.body["error"]["code"], "Request_ResourceNotFound");
    }
    // replication (the SP's backing-app check) is a separate delay, zero here
    let sp = env.create_sp(&ga, &app_id).await;
    let r = env
        .get(&format!("/v1.0/servicePrincipals(appId='{app_id}')"), &ga)
        .await;
    assert_eq!(r.status, 404, "{}", r.text);
    let r = env
        .get(
            &format!("/v1.0/servicePrincipals/{}", sp["id"].as_str().unwrap()),
            &ga,
        )
        .await;
    assert_eq!(r.status, 404);
    // older objects read at once
    let r = env
        .get(
            &format!("/v1.0/applications(appId='{}')", env.var("AZURE_CLIENT_ID")),
            &ga,
        )
        .await;
    assert_eq!(r.status, 200);
    env.sim.advance(Duration::from_millis(1600));
    let r = env.get(&format!("/v1.0/applications/{id}"), &ga).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = env
        .get(&format!("/v1.0/servicePrincipals(appId='{app_id}')"), &ga)
        .await;
    assert_eq!(r.status, 200);
    env.stop().await;
}

const NO_KEY: &str =
    "'uniqueName' is not a valid alternate key for the resource type 'application'.";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_without_the_unique_name_key_answers_as_for_an_unsupported_key() {
    let env = behaving(json!({"unique_name_key": false})).await;
    let ga = env.op("CLUSTER_TENANT_ID", GRAPH).await;
    let r = env.get("/v1.0/applications(uniqueName='x')", &ga).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.body["error"]["code"], "Request_BadRequest");
    assert_eq!(r.body["error"]["message"], NO_KEY);
    let r = env
        .call_h(
            "PATCH",
            "/v1.0/applications(uniqueName='x')",
            Some(&ga),
            Some(&json!({"displayName": "x"})),
            &[("Prefer", "create-if-missing")],
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error"]["message"], NO_KEY);
    assert!(
        !env.sim.state()["applications"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["display_name"] == "x"),
        "no app was made"
    );
    // any other unsupported key answers the same way
    let r = env.get("/v1.0/applications(displayName='x')", &ga).await;
    assert_eq!(
        r.body["error"]["message"],
        "'displayName' is not a valid alternate key for the resource type 'application'."
    );
    // the appId key and $filter still work
    let r = env
        .get(
            &format!("/v1.0/applications(appId='{}')", env.var("AZURE_CLIENT_ID")),
            &ga,
        )
        .await;
    assert_eq!(r.status, 200);
    env.stop().await;
}

async fn app_requesting(env: &Env, name: &str, rra: Value) -> String {
    let ga = env.op("CLUSTER_TENANT_ID", GRAPH).await;
    let app = env
        .create_app(
            &ga,
            json!({"displayName": name, "signInAudience": "AzureADMultipleOrgs", "web": {"redirectUris": ["https://www.microsoft.com"]}, "requiredResourceAccess": rra}),
        )
        .await;
    // Known to tenant B's consent page once replicated.
    env.sim.advance(azure_sim::REPLICATION_DELAY);
    app["appId"].as_str().unwrap().to_string()
}

const USER_READ: &str = "e1fe6dd8-ba31-4d61-89e7-88639da4683d";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_consent_page_lists_permissions_and_refuses_an_app_requesting_none() {
    // Azure's default.
    let env = behaving(json!({})).await;
    let b = env.var("REGISTRY_TENANT_ID");
    let with = app_requesting(
        &env,
        "with-user-read",
        json!([{"resourceAppId": "00000003-0000-0000-c000-000000000000", "resourceAccess": [{"id": USER_READ, "type": "Scope"}]}]),
    )
    .await;
    let page = env
        .call(
            "GET",
            &format!("/{b}/adminconsent?client_id={with}&redirect_uri=https://www.microsoft.com"),
            None,
            None,
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.text);
    assert!(
        page.text.contains("Microsoft Graph: User.Read (Delegated)"),
        "{}",
        page.text
    );
    let without = app_requesting(&env, "no-permissions", json!([])).await;
    for method in ["GET", "POST"] {
        let url = env.url(&format!(
            "/{b}/adminconsent?client_id={without}&redirect_uri=https://www.microsoft.com"
        ));
        let r = if method == "GET" {
            env.http.get(url).send().await.unwrap()
        } else {
            env.http
                .post(env.url(&format!("/{b}/adminconsent")))
                .form(&[
                    ("client_id", without.as_str()),
                    ("redirect_uri", "https://www.microsoft.com"),
                    ("action", "accept"),
                ])
                .send()
                .await
                .unwrap()
        };
        assert_eq!(r.status(), 400);
        let text = r.text().await.unwrap();
        assert!(text.contains("data-code=\"AADSTS650056\""), "{text}");
        assert!(
            text.contains("AADSTS650056: Misconfigured application. This could be due to one of the following: The client has not listed any permissions for &#39;AAD Graph&#39;"),
            "{text}"
        );
        assert!(
            text.contains(&format!("Client app ID: {without}.")),
            "{text}"
        );
    }
    let gb = env.op("REGISTRY_TENANT_ID", GRAPH).await;
    let r = env
        .get(&format!("/v1.0/servicePrincipals(appId='{without}')"), &gb)
        .await;
    assert_eq!(r.status, 404, "no service principal was made");
    env.stop().await;
    // Lenient by name (`consent`): the page shows an empty list and consent works.
    let env = start_with(|c| {
        c.lenient.insert(azure_sim::Leniency::Consent);
    })
    .await;
    let without = app_requesting(&env, "no-permissions", json!([])).await;
    let page = env
        .call(
            "GET",
            &format!(
                "/{b}/adminconsent?client_id={without}&redirect_uri=https://www.microsoft.com"
            ),
            None,
            None,
        )
        .await;
    assert_eq!(page.status, 200);
    assert!(
        page.text.contains("<ul id=\"permissions\">\n</ul>"),
        "{}",
        page.text
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_national_cloud_scenario_combines_versions_read_lag_and_no_unique_name_key() {
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/national.json");
    let scenario: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    let env = start_with(|c| {
        c.scenario = Some(scenario);
        c.time_scale = 1.0;
    })
    .await;
    // the default world, with the national cloud's behaviour
    let ta = env.op("CLUSTER_TENANT_ID", ARM).await;
    let r = env.get_resource("CLUSTER_ID", "2025-10-01", &ta).await;
    assert_eq!(r.body["error"]["code"], "NoRegisteredProviderFound");
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("The supported api-versions are '2023-11-01, 2023-10-01,")
    );
    let tb = env.op("REGISTRY_TENANT_ID", ARM).await;
    let r = env.get_resource("REGISTRY_ID", "2025-11-01", &tb).await;
    assert_eq!(r.body["error"]["code"], "NoRegisteredProviderFound");
    let r = env.get_resource("REGISTRY_ID", "2023-07-01", &tb).await;
    assert_eq!(r.status, 200);
    let ga = env.op("CLUSTER_TENANT_ID", GRAPH).await;
    let r = env.get("/v1.0/applications(uniqueName='x')", &ga).await;
    assert_eq!(r.body["error"]["message"], NO_KEY);
    let app = env
        .create_app(&ga, json!({"displayName": "national"}))
        .await;
    let r = env
        .get(
            &format!("/v1.0/applications/{}", app["id"].as_str().unwrap()),
            &ga,
        )
        .await;
    assert_eq!(r.status, 404);
    let state = env.sim.state();
    assert_eq!(state["behaviour"]["graph_read_lag_ms"], 2000);
    assert_eq!(state["clusters"].as_array().unwrap().len(), 2);
    env.stop().await;
}
