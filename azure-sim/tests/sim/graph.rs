//! Microsoft Graph: applications, passwords, service principals, permissions, replication.

use serde_json::json;

use azure_sim::Leniency::{GraphLag, SecretPropagation};

use crate::common::{ARM, GRAPH, end_in_days, lenient, start_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn application_lifecycle_and_queries() {
    // About shapes and rules, not Graph's lags.
    let env = lenient(&[GraphLag]).await;
    let t = env.op("CLUSTER_TENANT_ID", GRAPH).await;
    let app = env
        .create_app(&t, json!({"displayName": "xt-app", "signInAudience": "AzureADMultipleOrgs", "web": {"redirectUris": ["https://www.microsoft.com"]}, "tags": ["a"]}))
        .await;
    let (id, app_id) = (
        app["id"].as_str().unwrap().to_string(),
        app["appId"].as_str().unwrap().to_string(),
    );
    assert_eq!(app["signInAudience"], "AzureADMultipleOrgs");
    assert_eq!(
        app["web"]["redirectUris"],
        json!(["https://www.microsoft.com"])
    );
    assert_eq!(app["publisherDomain"], env.var("CLUSTER_TENANT_DOMAIN"));
    assert!(
        app["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("$metadata#applications/$entity")
    );
    // get by id, by appId
    let r = env.get(&format!("/v1.0/applications/{id}"), &t).await;
    assert_eq!(
        (r.status, r.body["appId"].as_str()),
        (200, Some(app_id.as_str()))
    );
    assert!(r.header("request-id").is_some() && r.header("client-request-id").is_some());
    let r = env
        .get(&format!("/v1.0/applications(appId='{app_id}')"), &t)
        .await;
    assert_eq!(r.body["id"], id.as_str());
    // filters
    for f in [
        format!("appId eq '{app_id}'"),
        "displayName eq 'xt-app'".into(),
        "startswith(displayName,'xt-')".into(),
    ] {
        let r = env
            .http
            .get(env.url("/v1.0/applications"))
            .query(&[("$filter", f.as_str())])
            .bearer_auth(&t)
            .send()
            .await
            .unwrap();
        let r = crate::common::to_resp(r).await;
        assert_eq!(
            r.body["value"].as_array().unwrap().len(),
            1,
            "{f}: {}",
            r.text
        );
    }
    let r = env
        .http
        .get(env.url("/v1.0/applications"))
        .query(&[("$filter", "startswith(displayName,'zz')")])
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(crate::common::to_resp(r).await.body["value"], json!([]));
    let r = env
        .http
        .get(env.url("/v1.0/applications"))
        .query(&[("$filter", "appId gt 'x'")])
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    let r = crate::common::to_resp(r).await;
    assert_eq!(
        (r.status, r.code()),
        (400, Some("Request_UnsupportedQuery"))
    );
    // patch
    let r = env
        .send(
            "PATCH",
            &format!("/v1.0/applications/{id}"),
            &t,
            &json!({"displayName": "xt-app-2"}),
        )
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(r.text, "");
    let r = env.get(&format!("/v1.0/applications/{id}"), &t).await;
    assert_eq!(r.body["displayName"], "xt-app-2");
    // unknown property, bad id, missing object
    let r = env
        .send(
            "PATCH",
            &format!("/v1.0/applications/{id}"),
            &t,
            &json!({"bogus": 1}),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, Some("Request_BadRequest")));
    let r = env.get("/v1.0/applications/not-a-guid", &t).await;
    assert_eq!(r.status, 400);
    let r = env
        .get(
            "/v1.0/applications/99999999-9999-4999-8999-999999999999",
            &t,
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (404, Some("Request_ResourceNotFound"))
    );
    assert!(r.body["error"]["innerError"]["request-id"].is_string());
    // the app lives in A: tenant B does not see it
    let tb = env.op("REGISTRY_TENANT_ID", GRAPH).await;
    let r = env.get(&format!("/v1.0/applications/{id}"), &tb).await;
    assert_eq!(r.status, 404);
    // delete, then deleted item
    let r = env.delete(&format!("/v1.0/applications/{id}"), &t).await;
    assert_eq!(r.status, 204);
    let r = env.get(&format!("/v1.0/applications/{id}"), &t).await;
    assert_eq!(r.status, 404);
    let r = env
        .get(&format!("/v1.0/directory/deletedItems/{id}"), &t)
        .await;
    assert_eq!(r.status, 200);
    let r = env
        .delete(&format!("/v1.0/directory/deletedItems/{id}"), &t)
        .await;
    assert_eq!(r.status, 204);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upsert_by_unique_name() {
    // About shapes and rules, not Graph's lags.
    let env = lenient(&[GraphLag]).await;
    let t = env.op("CLUSTER_TENANT_ID", GRAPH).await;
    let path = "/v1.0/applications(uniqueName='xt-unique')";
    let body = json!({"displayName": "xt-unique", "signInAudience": "AzureADMultipleOrgs"});
    let r = env.call("PATCH", path, Some(&t), Some(&body)).await;
    assert_eq!(
        (r.status, r.code()),
        (404, Some("Request_ResourceNotFound"))
    );
    let prefer = [("Prefer", "create-if-missing")];
    let r = env
        .call_h("PATCH", path, Some(&t), Some(&body), &prefer)
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["uniqueName"], "xt-unique");
    let id = r.body["id"].as_str().unwrap().to_string();
    let r = env
        .call_h(
            "PATCH",
            path,
            Some(&t),
            Some(&json!({"displayName": "xt-unique", "notes": "n"})),
            &prefer,
        )
        .await;
    assert_eq!((r.status, r.text.as_str()), (204, ""));
    let r = env.get(path, &t).await;
    assert_eq!(
        (r.body["id"].as_str(), r.body["notes"].as_str()),
        (Some(id.as_str()), Some("n"))
    );
    let r = env
        .http
        .get(env.url("/v1.0/applications"))
        .query(&[("$filter", "uniqueName eq 'xt-unique'")])
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(
        crate::common::to_resp(r).await.body["value"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    env.stop().await;
}

/// Whoever creates an app (POST or the upsert), a service principal with
/// `Application.ReadWrite.All` too, is its owner, listed by `GET …/owners` as a
/// `#microsoft.graph.servicePrincipal` (microsoftgraph/msgraph-sdk-powershell#829).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_creator_of_an_app_is_its_owner() {
    let env = lenient(&[GraphLag]).await;
    let t = env.op("CLUSTER_TENANT_ID", GRAPH).await;
    let me = env
        .get(
            &format!(
                "/v1.0/servicePrincipals(appId='{}')",
                env.var("AZURE_CLIENT_ID")
            ),
            &t,
        )
        .await;
    let me = me.body["id"].as_str().unwrap().to_owned();
    let app = env.create_app(&t, json!({"displayName": "xt-owned"})).await;
    let id = app["id"].as_str().unwrap();
    let r = env
        .get(&format!("/v1.0/applications/{id}/owners?$select=id"), &t)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body["value"],
        json!([{"@odata.type": "#microsoft.graph.servicePrincipal", "id": me}]),
        "{}",
        r.text
    );
    let path = "/v1.0/applications(uniqueName='xt-owned-too')";
    let r = env
        .call_h(
            "PATCH",
            path,
            Some(&t),
            Some(&json!({"displayName": "xt-owned-too"})),
            &[("Prefer", "create-if-missing")],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = env.get(&format!("{path}/owners"), &t).await;
    assert_eq!(r.body["value"][0]["id"], me.as_str(), "{}", r.text);
    let r = env
        .get(
            "/v1.0/applications/00000000-0000-4000-8000-000000000000/owners",
            &t,
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.text);
    env.stop().await;
}

/// `GET /applications/{key}/federatedIdentityCredentials` lists an app's federated
/// credentials in Graph's shape ("List federatedIdentityCredentials", v1.0), `$filter` `eq` on
/// `subject`; an app's read shows its `keyCredentials` (none for a new app), 404 for no app.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apps_federated_credentials_are_listed() {
    let env = lenient(&[GraphLag]).await;
    let t = env.op("CLUSTER_TENANT_ID", GRAPH).await;
    let path = format!(
        "/v1.0/applications(appId='{}')/federatedIdentityCredentials",
        env.var("AZURE_CLIENT_ID")
    );
    let r = env.get(&path, &t).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let fic = &r.body["value"][0];
    assert_eq!(fic["name"], "cluster-a-operator", "{}", r.text);
    assert_eq!(
        fic["subject"], "system:serviceaccount:xtenant:operator",
        "{}",
        r.text
    );
    assert_eq!(
        fic["issuer"], "https://oidc.azure.sim/cluster-a",
        "{}",
        r.text
    );
    assert_eq!(
        fic["audiences"],
        json!(["api://AzureADTokenExchange"]),
        "{}",
        r.text
    );
    assert!(
        fic["id"].is_string() && fic["description"].is_null(),
        "{}",
        r.text
    );
    let r = env
        .get(&format!("{path}?$filter=subject%20eq%20'other'"), &t)
        .await;
    assert_eq!(
        (r.status, &r.body["value"]),
        (200, &json!([])),
        "{}",
        r.text
    );
    let app = env.create_app(&t, json!({"displayName": "xt-fic"})).await;
    assert_eq!(app["keyCredentials"], json!([]));
    let id = app["id"].as_str().unwrap();
    let r = env
        .get(
            &format!("/v1.0/applications/{id}/federatedIdentityCredentials"),
            &t,
        )
        .await;
    assert_eq!(
        (r.status, &r.body["value"]),
        (200, &json!([])),
        "{}",
        r.text
    );
    let r = env
        .get(
            "/v1.0/applications/00000000-0000-4000-8000-000000000000/federatedIdentityCredentials",
            &t,
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.text);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwords_and_lifetime_policy() {
    // About shapes and rules, not Graph's lags or a new secret's propagation.
    let env = lenient(&[GraphLag, SecretPropagation]).await;
    let t = env.op("CLUSTER_TENANT_ID", GRAPH).await;
    let app = env.create_app(&t, json!({"displayName": "pw"})).await;
    let (id, app_id) = (app["id"].as_str().unwrap(), app["appId"].as_str().unwrap());
    let end = end_in_days(30);
    let r = env
        .send(
            "POST",
            &format!("/v1.0/applications(appId='{app_id}')/addPassword"),
            &t,
            &json!({"passwordCredential": {"displayName": "p1", "endDateTime": end}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let secret = r.body["secretText"].as_str().unwrap().to_string();
    assert!(secret.len() >= 32);
    assert_eq!(r.body["hint"].as_str().unwrap(), &secret[..3]);
    assert_eq!(r.body["endDateTime"], end.as_str());
    let key_id = r.body["keyId"].as_str().unwrap().to_string();
    for k in [
        "customKeyIdentifier",
        "displayName",
        "startDateTime",
        "@odata.context",
    ] {
        assert!(r.body.get(k).is_some(), "{k}");
    }
    // later reads show secretText null; the state has only a hash
    let r = env.get(&format!("/v1.0/applications/{id}"), &t).await;
    assert_eq!(
        r.body["passwordCredentials"][0]["secretText"],
        serde_json::Value::Null
    );
    let state = env.sim.state().to_string();
    assert!(!state.contains(&secret));
    assert!(state.contains("secret_sha256"));
    // the secret works (after an SP exists in A and replicated to the sign-in service)
    env.create_sp(&t, app_id).await;
    env.sim.advance(azure_sim::REPLICATION_DELAY);
    env.token(&env.var("CLUSTER_TENANT_ID"), app_id, &secret, ARM)
        .await;
    // policy: tenant A allows 730 days
    let r = env
        .send(
            "POST",
            &format!("/v1.0/applications/{id}/addPassword"),
            &t,
            &json!({"passwordCredential": {"endDateTime": end_in_days(800)}}),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (400, Some("CredentialInvalidLifetimeAsPerAppPolicy"))
    );
    assert_eq!(r.body["error"]["details"][0]["code"], "InvalidKeyEndDate");
    assert_eq!(r.body["error"]["details"][0]["target"], "EndDate");
    assert!(r.body["error"]["message"].as_str().unwrap().contains("730"));
    // remove
    let r = env
        .send(
            "POST",
            &format!("/v1.0/applications/{id}/removePassword"),
            &t,
            &json!({"keyId": key_id}),
        )
        .await;
    assert_eq!(r.status, 204);
    let r = env
        .token_resp(&env.var("CLUSTER_TENANT_ID"), app_id, &secret, ARM)
        .await;
    assert_eq!(r.status, 401);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_principals_and_rules() {
    // About rules, not Graph's lags or a new secret's propagation.
    let env = lenient(&[GraphLag, SecretPropagation]).await;
    let ta = env.op("CLUSTER_TENANT_ID", GRAPH).await;
    let tb = env.op("REGISTRY_TENANT_ID", GRAPH).await;
    let multi = env
        .create_app(
            &ta,
            json!({"displayName": "m", "signInAudience": "AzureADMultipleOrgs"}),
        )
        .await;
    let single = env.create_app(&ta, json!({"displayName": "s"})).await;
    env.sim.advance(azure_sim::REPLICATION_DELAY);
    let mid = multi["appId"].as_str().unwrap();
    // single-tenant app cannot have an SP in B
    let r = env
        .send(
            "POST",
            "/v1.0/servicePrincipals",
            &tb,
            &json!({"appId": single["appId"]}),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, Some("Request_BadRequest")));
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("AzureADMultipleOrgs")
    );
    // GET missing → 404; upsert creates (201) then updates (204)
    let path = format!("/v1.0/servicePrincipals(appId='{mid}')");
    assert_eq!(env.get(&path, &tb).await.status, 404);
    let prefer = [("Prefer", "create-if-missing")];
    let r = env
        .call_h(
            "PATCH",
            &path,
            Some(&tb),
            Some(&json!({"tags": ["x"]})),
            &prefer,
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        r.body["appOwnerOrganizationId"],
        env.var("CLUSTER_TENANT_ID")
    );
    assert_eq!(r.body["servicePrincipalNames"], json!([mid]));
    let sp_id = r.body["id"].as_str().unwrap().to_string();
    let r = env
        .call_h(
            "PATCH",
            &path,
            Some(&tb),
            Some(&json!({"tags": ["y"]})),
            &prefer,
        )
        .await;
    assert_eq!(r.status, 204);
    // duplicate POST conflicts
    let r = env
        .send(
            "POST",
            "/v1.0/servicePrincipals",
            &tb,
            &json!({"appId": mid}),
        )
        .await;
    assert_eq!(r.status, 409);
    // filters
    for f in [
        format!("appId eq '{mid}'"),
        format!("servicePrincipalNames/any(c:c eq '{mid}')"),
    ] {
        let r = env
            .http
            .get(env.url("/v1.0/servicePrincipals"))
            .query(&[("$filter", f.as_str())])
            .bearer_auth(&tb)
            .send()
            .await
            .unwrap();
        let r = crate::common::to_resp(r).await;
        assert_eq!(r.body["value"][0]["id"], sp_id.as_str(), "{f}");
    }
    let r = env
        .get(&format!("/v1.0/servicePrincipals/{sp_id}"), &tb)
        .await;
    assert_eq!(r.status, 200);
    // unknown app → NoBackingApplicationObject
    let r = env
        .send(
            "POST",
            "/v1.0/servicePrincipals",
            &tb,
            &json!({"appId": "99999999-9999-4999-8999-999999999999"}),
        )
        .await;
    assert_eq!(
        r.body["error"]["details"][0]["code"],
        "NoBackingApplicationObject"
    );
    // delete
    assert_eq!(
        env.delete(&format!("/v1.0/servicePrincipals/{sp_id}"), &tb)
            .await
            .status,
        204
    );
    assert_eq!(env.get(&path, &tb).await.status, 404);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permissions_and_auth_errors() {
    // About rules, not Graph's lags or a new secret's propagation.
    let env = lenient(&[GraphLag, SecretPropagation]).await;
    let reader = env.reader("CLUSTER_TENANT_ID", GRAPH).await;
    let r = env.get("/v1.0/applications", &reader).await;
    assert_eq!(r.status, 200);
    let r = env
        .send(
            "POST",
            "/v1.0/applications",
            &reader,
            &json!({"displayName": "no"}),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (403, Some("Authorization_RequestDenied"))
    );
    assert_eq!(
        r.body["error"]["message"],
        "Insufficient privileges to complete the operation."
    );
    for k in ["date", "request-id", "client-request-id"] {
        assert!(r.body["error"]["innerError"][k].is_string(), "{k}");
    }
    // no token, garbage token, ARM token
    let r = env.call("GET", "/v1.0/applications", None, None).await;
    assert_eq!(
        (r.status, r.code()),
        (401, Some("InvalidAuthenticationToken"))
    );
    let r = env.get("/v1.0/applications", "a.b.c").await;
    assert_eq!(r.status, 401);
    let arm = env.op("CLUSTER_TENANT_ID", ARM).await;
    let r = env.get("/v1.0/applications", &arm).await;
    assert_eq!(
        (r.status, r.code()),
        (401, Some("InvalidAuthenticationToken"))
    );
    // the simulator's own URL is a valid Graph audience (a custom cloud's resource id)
    let own = env.op("CLUSTER_TENANT_ID", &env.sim.url()).await;
    assert_eq!(env.get("/v1.0/applications", &own).await.status, 200);
    // an identity without Graph roles cannot even read
    let t = env.op("CLUSTER_TENANT_ID", GRAPH).await;
    let app = env.create_app(&t, json!({"displayName": "noroles"})).await;
    let secret = env.add_password(&t, app["id"].as_str().unwrap()).await;
    env.create_sp(&t, app["appId"].as_str().unwrap()).await;
    // Known to the sign-in service once it replicated.
    env.sim.advance(azure_sim::REPLICATION_DELAY);
    let weak = env.app_token(&app, &secret, GRAPH).await;
    assert_eq!(env.get("/v1.0/applications", &weak).await.status, 403);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_app_refuses_writes_for_the_write_lag_and_backs_no_principal_elsewhere_until_replicated()
 {
    // At Azure's pace, the clock moved on by the test.
    let env = start_with(|c| c.time_scale = 1.0).await;
    let ta = env.op("CLUSTER_TENANT_ID", GRAPH).await;
    let app = env
        .create_app(
            &ta,
            json!({"displayName": "fresh", "signInAudience": "AzureADMultipleOrgs"}),
        )
        .await;
    let (id, app_id) = (app["id"].as_str().unwrap(), app["appId"].as_str().unwrap());
    let not_found = |r: &crate::common::Resp, what: &str| {
        assert_eq!(
            (r.status, r.code()),
            (404, Some("Request_ResourceNotFound")),
            "{what}: {}",
            r.text
        );
    };
    // Writes addressed to it, in its home tenant: the replica serving them lacks it.
    let pw = json!({"passwordCredential": {"displayName": "t"}});
    let r = env
        .send(
            "POST",
            &format!("/v1.0/applications/{id}/addPassword"),
            &ta,
            &pw,
        )
        .await;
    not_found(&r, "addPassword");
    let r = env
        .send(
            "PATCH",
            &format!("/v1.0/applications/{id}"),
            &ta,
            &json!({"notes": "n"}),
        )
        .await;
    not_found(&r, "PATCH by id");
    let r = env
        .send(
            "PATCH",
            &format!("/v1.0/applications(appId='{app_id}')"),
            &ta,
            &json!({"notes": "n"}),
        )
        .await;
    not_found(&r, "PATCH by appId");
    let sp = json!({"appId": app_id});
    let r = env.send("POST", "/v1.0/servicePrincipals", &ta, &sp).await;
    not_found(&r, "its service principal");
    let upsert = env
        .call_h(
            "PATCH",
            &format!("/v1.0/servicePrincipals(appId='{app_id}')"),
            Some(&ta),
            Some(&json!({})),
            &[("Prefer", "create-if-missing")],
        )
        .await;
    not_found(&upsert, "its service principal's upsert");
    // A refused write made nothing.
    let state = env.sim.state();
    let made = state["applications"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["app_id"] == app_id)
        .unwrap();
    assert!(made["password_credentials"].as_array().unwrap().is_empty());
    assert!(
        !state["service_principals"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["app_id"] == app_id)
    );
    // In another tenant it backs no principal until it replicated.
    let gb = env.op("REGISTRY_TENANT_ID", GRAPH).await;
    env.sim.advance(std::time::Duration::from_secs(10));
    let r = env.send("POST", "/v1.0/servicePrincipals", &gb, &sp).await;
    assert_eq!((r.status, r.code()), (400, Some("Request_BadRequest")));
    assert_eq!(
        r.body["error"]["details"][0]["code"],
        "NoBackingApplicationObject"
    );
    // Past the write lag (10 s) the home tenant takes the writes.
    let r = env
        .send(
            "POST",
            &format!("/v1.0/applications/{id}/addPassword"),
            &ta,
            &pw,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    env.create_sp(&ta, app_id).await;
    // Past the replication delay (30 s) another tenant too.
    env.sim.advance(azure_sim::REPLICATION_DELAY);
    env.create_sp(&gb, app_id).await;
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphs_lags_are_defaults_and_a_leniency_by_name() {
    let env = start_with(|c| c.time_scale = 1.0).await;
    let b = env.sim.state()["behaviour"].clone();
    assert_eq!(
        (
            b["graph_read_lag_ms"].as_u64(),
            b["graph_write_lag_ms"].as_u64()
        ),
        (Some(5_000), Some(10_000))
    );
    let ta = env.op("CLUSTER_TENANT_ID", GRAPH).await;
    let app = env
        .create_app(&ta, json!({"displayName": "read-lag"}))
        .await;
    let path = format!("/v1.0/applications/{}", app["id"].as_str().unwrap());
    assert_eq!(env.get(&path, &ta).await.status, 404);
    env.sim.advance(std::time::Duration::from_secs(5));
    assert_eq!(env.get(&path, &ta).await.status, 200);
    env.stop().await;
    let env = start_with(|c| {
        c.time_scale = 1.0;
        c.lenient.insert(GraphLag);
    })
    .await;
    let ta = env.op("CLUSTER_TENANT_ID", GRAPH).await;
    let app = env.create_app(&ta, json!({"displayName": "no-lag"})).await;
    let id = app["id"].as_str().unwrap();
    let path = format!("/v1.0/applications/{id}");
    assert_eq!(env.get(&path, &ta).await.status, 200);
    let r = env
        .send(
            "POST",
            &format!("{path}/addPassword"),
            &ta,
            &json!({"passwordCredential": {}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    env.stop().await;
}

/// An application's `tags` as Entra keeps them: a PATCH replaces the whole collection; each
/// tag 1–256 characters, no whitespace, no duplicates; 1200 entries over all collections.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn application_tags_are_replaced_whole_within_entras_limits() {
    // About shapes and rules, not Graph's lags.
    let env = lenient(&[GraphLag]).await;
    let t = env.op("CLUSTER_TENANT_ID", GRAPH).await;
    let app = env
        .create_app(&t, json!({"displayName": "tagged", "tags": ["a", "b"]}))
        .await;
    let app_path = format!(
        "/v1.0/applications(appId='{}')",
        app["appId"].as_str().unwrap()
    );
    let set_tags = |tags: serde_json::Value| {
        let (env, t, path) = (&env, &t, &app_path);
        async move {
            env.call("PATCH", path, Some(t), Some(&json!({ "tags": tags })))
                .await
        }
    };
    assert_eq!(set_tags(json!(["c"])).await.status, 204);
    let r = env.get(&format!("{app_path}?$select=tags"), &t).await;
    assert_eq!(r.body["tags"], json!(["c"]), "replaced, not merged");
    for bad in [
        json!(["x".repeat(257)]),
        json!([""]),
        json!(["two words"]),
        json!(["tab\there"]),
        json!(["d", "d"]),
        json!([1]),
        json!("e"),
    ] {
        let r = set_tags(bad.clone()).await;
        assert_eq!(
            (r.status, r.code()),
            (400, Some("Request_BadRequest")),
            "{bad}: {}",
            r.text
        );
    }
    assert_eq!(set_tags(json!(["y".repeat(256)])).await.status, 204);
    // The manifest limit counts every collection: 1200 entries in all.
    let many: Vec<String> = (0..1200).map(|i| format!("t{i}")).collect();
    assert_eq!(set_tags(json!(many)).await.status, 204);
    let r = set_tags(json!([many.clone(), vec!["one-more".to_owned()]].concat())).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(
        r.text
            .contains("size of the manifest has exceeded its limit"),
        "{}",
        r.text
    );
    let r = env
        .send(
            "POST",
            &format!(
                "/v1.0/applications/{}/addPassword",
                app["id"].as_str().unwrap()
            ),
            &t,
            &json!({"passwordCredential": {"displayName": "x", "endDateTime": end_in_days(30)}}),
        )
        .await;
    assert_eq!(r.status, 400, "a secret is an entry too: {}", r.text);
    env.stop().await;
}
