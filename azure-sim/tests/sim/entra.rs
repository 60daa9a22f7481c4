//! Entra: token endpoint (secret, assertion, errors), discovery, consent pages; azure_identity.

use std::sync::Arc;

use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::credentials::{Secret, TokenCredential};
use azure_core::http::{ClientOptions, RetryOptions, Transport};
use azure_identity::{ClientSecretCredential, ClientSecretCredentialOptions};
use base64::Engine as _;
use serde_json::json;

use crate::common::{ARM, Env, GRAPH, claims, start, start_with};

fn credential(
    env: &Env,
    tenant: &str,
    client_id: &str,
    secret: &str,
) -> Arc<ClientSecretCredential> {
    let mut c = CustomConfiguration::default();
    c.authority_host = env.sim.url();
    let opts = ClientOptions {
        cloud: Some(Arc::new(CloudConfiguration::Custom(c))),
        transport: Some(Transport::new(Arc::new(env.http.clone()))),
        retry: RetryOptions::none(),
        ..Default::default()
    };
    ClientSecretCredential::new(
        tenant,
        client_id.to_string(),
        Secret::new(secret.to_string()),
        Some(ClientSecretCredentialOptions {
            client_options: opts,
        }),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_identity_gets_tokens_and_sees_bad_secret() {
    let env = start().await;
    let cred = credential(
        &env,
        &env.var("CLUSTER_TENANT_ID"),
        &env.var("AZURE_CLIENT_ID"),
        &env.var("AZURE_CLIENT_SECRET"),
    );
    let t = cred
        .get_token(&["https://graph.microsoft.com/.default"], None)
        .await
        .unwrap();
    let c = claims(t.token.secret());
    assert_eq!(c["aud"], "https://graph.microsoft.com");
    assert_eq!(c["tid"], env.var("CLUSTER_TENANT_ID"));
    assert_eq!(c["appid"], env.var("AZURE_CLIENT_ID"));
    assert!(
        c["roles"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == "Application.ReadWrite.All")
    );
    for k in ["iss", "oid", "iat", "nbf", "exp"] {
        assert!(!c[k].is_null(), "claim {k}");
    }
    // the token works against Graph
    let r = env.get("/v1.0/applications", t.token.secret()).await;
    assert_eq!(r.status, 200);
    // by domain, for ARM
    let cred = credential(
        &env,
        &env.var("REGISTRY_TENANT_DOMAIN"),
        &env.var("AZURE_CLIENT_ID"),
        &env.var("AZURE_CLIENT_SECRET"),
    );
    let t = cred
        .get_token(&["https://management.azure.com/.default"], None)
        .await
        .unwrap();
    assert_eq!(
        claims(t.token.secret())["tid"],
        env.var("REGISTRY_TENANT_ID")
    );

    let bad = credential(
        &env,
        &env.var("CLUSTER_TENANT_ID"),
        &env.var("AZURE_CLIENT_ID"),
        "wrong-secret",
    );
    let err = bad
        .get_token(&["https://graph.microsoft.com/.default"], None)
        .await
        .unwrap_err();
    let text = format!("{err:?} {err}");
    assert!(text.contains("7000215"), "{text}");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_errors_are_entra_shaped() {
    let env = start().await;
    let (a, op, secret) = (
        env.var("CLUSTER_TENANT_ID"),
        env.var("AZURE_CLIENT_ID"),
        env.var("AZURE_CLIENT_SECRET"),
    );
    let r = env.token_resp(&a, &op, "nope", GRAPH).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.body["error"], "invalid_client");
    assert_eq!(r.body["error_codes"], json!([7_000_215]));
    assert!(
        r.body["error_description"]
            .as_str()
            .unwrap()
            .starts_with("AADSTS7000215: Invalid client secret provided.")
    );
    for k in ["timestamp", "trace_id", "correlation_id"] {
        assert!(r.body[k].is_string(), "{k}");
    }
    // app not in tenant: the old single-tenant app has no SP in B
    let r = env
        .token_resp(
            &env.var("REGISTRY_TENANT_ID"),
            "a1a1a1a1-a100-4000-8000-000000000001",
            &secret,
            GRAPH,
        )
        .await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (400, Some("unauthorized_client"))
    );
    assert_eq!(r.body["error_codes"], json!([700_016]));
    // unknown app
    let r = env
        .token_resp(&a, "99999999-9999-4999-8999-999999999999", &secret, GRAPH)
        .await;
    assert_eq!(r.body["error_codes"], json!([700_016]));
    // unknown tenant, malformed tenant
    let r = env
        .token_resp("99999999-9999-4999-8999-999999999999", &op, &secret, GRAPH)
        .await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (400, Some("invalid_request"))
    );
    assert_eq!(r.body["error_codes"], json!([90_002]));
    let r = env.token_resp("not a tenant", &op, &secret, GRAPH).await;
    assert_eq!(r.body["error_codes"], json!([900_023]));
    // bad scope, unknown resource
    let r = env
        .http
        .post(env.url(&format!("/{a}/oauth2/v2.0/token")))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", op.as_str()),
            ("client_secret", secret.as_str()),
            ("scope", "https://graph.microsoft.com/User.Read"),
        ])
        .send()
        .await
        .unwrap();
    let r = crate::common::to_resp(r).await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (400, Some("invalid_scope"))
    );
    let r = env
        .token_resp(&a, &op, &secret, "https://storage.azure.com")
        .await;
    assert_eq!(r.body["error_codes"], json!([500_011]));
    // missing grant type, GET on the endpoint
    let r = env
        .http
        .post(env.url(&format!("/{a}/oauth2/v2.0/token")))
        .form(&[("client_id", op.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(
        crate::common::to_resp(r).await.body["error_codes"],
        json!([900_144])
    );
    let r = env
        .call("GET", &format!("/{a}/oauth2/v2.0/token"), None, None)
        .await;
    assert_eq!(r.body["error_codes"], json!([900_561]));
    // the ok shape
    let r = env.token_resp(&a, &op, &secret, ARM).await;
    assert_eq!(r.body["token_type"], "Bearer");
    assert_eq!(r.body["expires_in"], 3599);
    assert_eq!(r.body["ext_expires_in"], 3599);
    assert_eq!(
        claims(r.body["access_token"].as_str().unwrap())["aud"],
        "https://management.azure.com"
    );
    // v1 endpoint with resource=
    let r = env
        .http
        .post(env.url(&format!("/{a}/oauth2/token")))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", op.as_str()),
            ("client_secret", secret.as_str()),
            ("resource", "https://management.core.windows.net/"),
        ])
        .send()
        .await
        .unwrap();
    let r = crate::common::to_resp(r).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["resource"], "https://management.core.windows.net/");
    env.stop().await;
}

fn assertion(claims: &serde_json::Value) -> String {
    let e = |v: &serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    format!(
        "{}.{}.c2ln",
        e(&json!({"alg": "RS256", "typ": "JWT"})),
        e(claims)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_assertion_federated_credential() {
    let env = start().await;
    let a = env.var("CLUSTER_TENANT_ID");
    let op = env.var("AZURE_CLIENT_ID");
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let post = |assertion: String| {
        let env = &env;
        let (a, op) = (a.clone(), op.clone());
        async move {
            let r = env
                .http
                .post(env.url(&format!("/{a}/oauth2/v2.0/token")))
                .form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", op.as_str()),
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    ),
                    ("client_assertion", assertion.as_str()),
                    ("scope", "https://management.azure.com/.default"),
                ])
                .send()
                .await
                .unwrap();
            crate::common::to_resp(r).await
        }
    };
    let good = json!({"iss": "https://oidc.azure.sim/cluster-a", "sub": "system:serviceaccount:xtenant:operator", "aud": "api://AzureADTokenExchange", "exp": now + 600, "nbf": now - 5});
    let r = post(assertion(&good)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        claims(r.body["access_token"].as_str().unwrap())["appidacr"],
        "2"
    );
    let mut wrong = good.clone();
    wrong["sub"] = json!("system:serviceaccount:other:sa");
    let r = post(assertion(&wrong)).await;
    assert_eq!(r.body["error_codes"], json!([70_021]));
    let mut expired = good.clone();
    expired["exp"] = json!(now - 10);
    let r = post(assertion(&expired)).await;
    assert_eq!(r.body["error_codes"], json!([700_024]));
    let r = post("garbage".into()).await;
    assert_eq!(r.body["error_codes"], json!([50_027]));
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openid_configuration() {
    let env = start().await;
    let a = env.var("CLUSTER_TENANT_ID");
    let r = env
        .call(
            "GET",
            &format!(
                "/{}/v2.0/.well-known/openid-configuration",
                env.var("CLUSTER_TENANT_DOMAIN")
            ),
            None,
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body["token_endpoint"],
        format!("{}/{a}/oauth2/v2.0/token", env.sim.url())
    );
    assert_eq!(r.body["issuer"], format!("{}/{a}/v2.0", env.sim.url()));
    assert!(
        r.body["authorization_endpoint"]
            .as_str()
            .unwrap()
            .starts_with(&env.sim.url())
    );
    let r = env
        .call(
            "GET",
            "/99999999-9999-4999-8999-999999999999/v2.0/.well-known/openid-configuration",
            None,
            None,
        )
        .await;
    assert_eq!(r.body["error_codes"], json!([90_002]));
    env.stop().await;
}

/// Parse the consent page's form: (action, hidden fields).
fn parse_form(page: &str) -> (String, Vec<(String, String)>) {
    let attr = |tag: &str, name: &str| -> Option<String> {
        let key = format!("{name}=\"");
        let start = tag.find(&key)? + key.len();
        let end = tag[start..].find('"')? + start;
        Some(
            tag[start..end]
                .replace("&amp;", "&")
                .replace("&quot;", "\"")
                .replace("&#39;", "'")
                .replace("&lt;", "<")
                .replace("&gt;", ">"),
        )
    };
    let form_start = page.find("<form").unwrap();
    let form_tag = &page[form_start..page[form_start..].find('>').unwrap() + form_start];
    let action = attr(form_tag, "action").unwrap();
    let mut fields = Vec::new();
    let mut rest = &page[form_start..];
    while let Some(i) = rest.find("<input") {
        let end = rest[i..].find('>').unwrap() + i;
        let tag = &rest[i..end];
        fields.push((
            attr(tag, "name").unwrap(),
            attr(tag, "value").unwrap_or_default(),
        ));
        rest = &rest[end..];
    }
    (action, fields)
}

async fn new_multitenant_app(env: &Env, multi: bool) -> serde_json::Value {
    let t = env.op("CLUSTER_TENANT_ID", GRAPH).await;
    let audience = if multi {
        "AzureADMultipleOrgs"
    } else {
        "AzureADMyOrg"
    };
    // As the portal registers one: with Microsoft Graph User.Read (the consent page refuses an
    // app that requests nothing).
    env.create_app(&t, json!({"displayName": "consent-test", "signInAudience": audience, "web": {"redirectUris": ["https://www.microsoft.com"]},
        "requiredResourceAccess": [{"resourceAppId": "00000003-0000-0000-c000-000000000000", "resourceAccess": [{"id": "e1fe6dd8-ba31-4d61-89e7-88639da4683d", "type": "Scope"}]}]})).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_flow_accept_and_cancel() {
    let env = start().await;
    let b = env.var("REGISTRY_TENANT_ID");
    let app = new_multitenant_app(&env, true).await;
    // Known to tenant B's consent page once replicated.
    env.sim.advance(azure_sim::REPLICATION_DELAY);
    let app_id = app["appId"].as_str().unwrap();
    let page = env
        .call("GET", &format!("/{b}/oauth2/authorize?client_id={app_id}&response_type=code&redirect_uri=https%3A%2F%2Fwww.microsoft.com&state=xyz"), None, None)
        .await;
    assert_eq!(page.status, 200);
    assert!(page.text.contains("consent-test"), "app name on the page");
    assert!(
        page.text.contains(&env.var("CLUSTER_TENANT_DOMAIN")),
        "publisher on the page"
    );
    assert!(page.text.contains(">Accept<") && page.text.contains(">Cancel<"));
    let (action, fields) = parse_form(&page.text);
    assert!(fields.iter().any(|(k, v)| k == "client_id" && v == app_id));
    assert!(fields.iter().any(|(k, v)| k == "tenant" && *v == b));
    // cancel first
    let mut cancel = fields.clone();
    cancel.push(("action".into(), "cancel".into()));
    let r = env
        .http
        .post(env.url(&action))
        .form(&cancel)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    assert!(
        loc.starts_with("https://www.microsoft.com?")
            && loc.contains("error=access_denied")
            && loc.contains("error_description="),
        "{loc}"
    );
    let t_b = env.op("REGISTRY_TENANT_ID", GRAPH).await;
    let r = env
        .get(&format!("/v1.0/servicePrincipals(appId='{app_id}')"), &t_b)
        .await;
    assert_eq!(r.status, 404);
    // then accept
    let mut accept = fields.clone();
    accept.push(("action".into(), "accept".into()));
    let r = env
        .http
        .post(env.url(&action))
        .form(&accept)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    assert!(loc.contains("code=") && loc.contains("state=xyz"), "{loc}");
    // Readable once past Graph's read lag.
    env.sim.advance(std::time::Duration::from_secs(5));
    let r = env
        .get(&format!("/v1.0/servicePrincipals(appId='{app_id}')"), &t_b)
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body["appOwnerOrganizationId"],
        env.var("CLUSTER_TENANT_ID")
    );

    // adminconsent by domain
    let app2 = new_multitenant_app(&env, true).await;
    env.sim.advance(azure_sim::REPLICATION_DELAY);
    let id2 = app2["appId"].as_str().unwrap();
    let page = env
        .call(
            "GET",
            &format!(
                "/{}/adminconsent?client_id={id2}&redirect_uri=https://www.microsoft.com",
                env.var("REGISTRY_TENANT_DOMAIN")
            ),
            None,
            None,
        )
        .await;
    assert_eq!(page.status, 200);
    let (action, mut fields) = parse_form(&page.text);
    fields.push(("action".into(), "accept".into()));
    let r = env
        .http
        .post(env.url(&action))
        .form(&fields)
        .send()
        .await
        .unwrap();
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    assert!(
        loc.contains("admin_consent=True") && loc.contains(&format!("tenant={b}")),
        "{loc}"
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_errors() {
    // At Azure's pace: a new app stays unknown to other tenants for the replication delay.
    let env = start_with(|c| c.time_scale = 1.0).await;
    let b = env.var("REGISTRY_TENANT_ID");
    let code = |text: &str| {
        text.split("data-code=\"")
            .nth(1)
            .map(|s| s[..s.find('"').unwrap()].to_string())
            .unwrap_or_default()
    };
    // unknown tenant, unknown app
    let r = env
        .call(
            "GET",
            "/99999999-9999-4999-8999-999999999999/adminconsent?client_id=x",
            None,
            None,
        )
        .await;
    assert_eq!((r.status, code(&r.text).as_str()), (400, "AADSTS90002"));
    let r = env
        .call(
            "GET",
            &format!("/{b}/adminconsent?client_id=99999999-9999-4999-8999-999999999999"),
            None,
            None,
        )
        .await;
    assert_eq!(code(&r.text), "AADSTS700016");
    // single-tenant app in a foreign tenant
    let single = new_multitenant_app(&env, false).await;
    let multi = new_multitenant_app(&env, true).await;
    env.sim.advance(azure_sim::REPLICATION_DELAY);
    let r = env
        .call(
            "GET",
            &format!(
                "/{b}/adminconsent?client_id={}",
                single["appId"].as_str().unwrap()
            ),
            None,
            None,
        )
        .await;
    assert_eq!(code(&r.text), "AADSTS700016");
    // redirect mismatch
    let r = env.call("GET", &format!("/{b}/oauth2/authorize?client_id={}&response_type=code&redirect_uri=https://evil.example", multi["appId"].as_str().unwrap()), None, None).await;
    assert_eq!(code(&r.text), "AADSTS50011");
    // a brand-new app is not yet visible (replication delay)
    let fresh = new_multitenant_app(&env, true).await;
    let r = env
        .call(
            "GET",
            &format!(
                "/{b}/adminconsent?client_id={}",
                fresh["appId"].as_str().unwrap()
            ),
            None,
            None,
        )
        .await;
    assert_eq!(code(&r.text), "AADSTS700016");
    env.stop().await;
}
