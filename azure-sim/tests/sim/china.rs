//! The China cloud (`scenarios/china.json`): Azure operated by 21Vianet under its real host
//! names, reached by a client that resolves those names to the simulator and trusts its CA.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{Env, Resp, builder, start_with, to_resp};

const LOGIN: &str = "https://login.chinacloudapi.cn";
const GRAPH: &str = "https://microsoftgraph.chinacloudapi.cn";
const ARM: &str = "https://management.chinacloudapi.cn";
const ARM_CORE: &str = "https://management.core.chinacloudapi.cn/";
const VAULT: &str = "https://vault.azure.cn";

fn china() -> Value {
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/china.json");
    serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap()
}

/// A client that resolves China's names to the simulator (and nothing else), trusting `ca.pem`.
fn china_client(env: &Env) -> reqwest::Client {
    let ca = std::fs::read(env.sim.ca_pem_path()).unwrap();
    let to = std::net::SocketAddr::from(([127, 0, 0, 1], env.sim.port()));
    let mut b = builder()
        .tls_certs_merge([reqwest::Certificate::from_pem(&ca).unwrap()])
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30));
    for host in [
        "login.chinacloudapi.cn",
        "microsoftgraph.chinacloudapi.cn",
        "management.chinacloudapi.cn",
        "fabrikamacr.azurecr.cn",
        "contoso-kv.vault.azure.cn",
    ] {
        b = b.resolve(host, to);
    }
    b.build().unwrap()
}

async fn send(rb: reqwest::RequestBuilder) -> Resp {
    to_resp(rb.send().await.unwrap()).await
}

async fn token(http: &reqwest::Client, env: &Env, tenant_key: &str, resource: &str) -> Resp {
    let scope = format!("{}/.default", resource.trim_end_matches('/'));
    send(
        http.post(format!("{LOGIN}/{}/oauth2/v2.0/token", env.var(tenant_key)))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", env.var("AZURE_CLIENT_ID").as_str()),
                ("client_secret", env.var("AZURE_CLIENT_SECRET").as_str()),
                ("scope", scope.as_str()),
            ]),
    )
    .await
}

async fn access_token(
    http: &reqwest::Client,
    env: &Env,
    tenant_key: &str,
    resource: &str,
) -> String {
    let r = token(http, env, tenant_key, resource).await;
    assert_eq!(r.status, 200, "{resource}: {}", r.text);
    r.body["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_china_cloud_answers_on_its_own_names_with_its_own_audiences() {
    let env = start_with(|c| c.scenario = Some(china())).await;
    let http = china_client(&env);
    // sim.env says how the tools reach it: the built-in table, a resolve override, the CA.
    assert_eq!(env.var("XTENANT_CLOUD"), "AzureChinaCloud");
    let port = env.sim.port();
    assert_eq!(
        env.var("XTENANT_RESOLVE"),
        format!(
            "login.chinacloudapi.cn:443:127.0.0.1:{port},microsoftgraph.chinacloudapi.cn:443:127.0.0.1:{port},management.chinacloudapi.cn:443:127.0.0.1:{port},*.azurecr.cn:443:127.0.0.1:{port},*.vault.azure.cn:443:127.0.0.1:{port}"
        )
    );
    assert_eq!(
        env.var("XTENANT_CA_FILE"),
        env.sim.ca_pem_path().to_str().unwrap()
    );
    assert_eq!(env.var("REGISTRY_LOGIN_SERVER"), "fabrikamacr.azurecr.cn");
    assert_eq!(env.var("KEYVAULT_URL"), "https://contoso-kv.vault.azure.cn");
    assert_eq!(
        env.var("REGISTRY_IMAGE"),
        "fabrikamacr.azurecr.cn/samples/hello:1.0"
    );

    // Entra issues China's audiences only; the public cloud's resources are unknown there.
    for public in [
        "https://graph.microsoft.com",
        "https://management.azure.com/",
        "https://vault.azure.net",
    ] {
        let r = token(&http, &env, "CLUSTER_TENANT_ID", public).await;
        assert_eq!(r.status, 400, "{public}: {}", r.text);
        assert!(
            r.body["error_description"]
                .as_str()
                .unwrap()
                .starts_with("AADSTS500011"),
            "{}",
            r.text
        );
    }
    let graph = access_token(&http, &env, "CLUSTER_TENANT_ID", GRAPH).await;
    let claims = claims(&graph);
    assert_eq!(claims["aud"], GRAPH);
    assert!(
        claims["iss"]
            .as_str()
            .unwrap()
            .starts_with("https://sts.chinacloudapi.cn/"),
        "{claims}"
    );

    // Graph at its host, paging links and Location on its host too.
    let r = send(
        http.get(format!("{GRAPH}/v1.0/applications?$top=1"))
            .bearer_auth(&graph),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        r.body["@odata.nextLink"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{GRAPH}/v1.0/applications?")),
        "{}",
        r.text
    );
    // No uniqueName key in this scenario.
    let r = send(
        http.get(format!("{GRAPH}/v1.0/applications(uniqueName='x')"))
            .bearer_auth(&graph),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text);

    // ARM takes both of China's ARM audiences, and no Graph token.
    let cluster = env.var("CLUSTER_ID");
    for aud in [ARM, ARM_CORE] {
        let t = access_token(&http, &env, "CLUSTER_TENANT_ID", aud).await;
        let r = send(
            http.get(format!("{ARM}{cluster}?api-version=2021-10-01"))
                .bearer_auth(&t),
        )
        .await;
        assert_eq!(r.status, 200, "{aud}: {}", r.text);
    }
    let r = send(
        http.get(format!("{ARM}{cluster}?api-version=2021-10-01"))
            .bearer_auth(&graph),
    )
    .await;
    assert_eq!(r.status, 401, "{}", r.text);
    assert!(
        r.text.contains("'https://management.chinacloudapi.cn'"),
        "{}",
        r.text
    );
    // China's published managed-cluster versions: the public cloud's newest is refused.
    let arm = access_token(&http, &env, "CLUSTER_TENANT_ID", ARM).await;
    let r = send(
        http.get(format!("{ARM}{cluster}?api-version=2025-10-01"))
            .bearer_auth(&arm),
    )
    .await;
    assert_eq!(
        r.body["error"]["code"], "NoRegisteredProviderFound",
        "{}",
        r.text
    );
    assert!(r.text.contains("2021-10-01, 2021-09-01"), "{}", r.text);
    // A path of another service sent to ARM's host is ARM's (routing is by host here).
    let r = send(
        http.get(format!("{ARM}/v1.0/applications"))
            .bearer_auth(&arm),
    )
    .await;
    assert_ne!(r.status, 200, "{}", r.text);

    // The reset's operation URL is on ARM's host.
    let r = send(
        http.post(format!(
            "{ARM}{cluster}/resetServicePrincipalProfile?api-version=2021-10-01"
        ))
        .bearer_auth(&arm)
        .json(&json!({"clientId": env.var("AZURE_CLIENT_ID"), "secret": env.var("AZURE_CLIENT_SECRET")})),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert!(
        r.header("azure-asyncoperation")
            .unwrap()
            .starts_with(&format!("{ARM}/subscriptions/")),
        "{:?}",
        r.headers
    );

    // The registry: its login server is `<name>.azurecr.cn`, on 443, reached by name.
    let tb = access_token(&http, &env, "REGISTRY_TENANT_ID", ARM).await;
    let r = send(
        http.get(format!(
            "{ARM}{}?api-version=2023-07-01",
            env.var("REGISTRY_ID")
        ))
        .bearer_auth(&tb),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body["properties"]["loginServer"],
        "fabrikamacr.azurecr.cn"
    );
    let r = send(http.get("https://fabrikamacr.azurecr.cn/v2/")).await;
    assert_eq!(r.status, 401, "{}", r.text);
    assert!(
        r.header("www-authenticate")
            .unwrap()
            .contains("realm=\"https://fabrikamacr.azurecr.cn/oauth2/token\""),
        "{:?}",
        r.headers
    );

    // Key Vault: its challenge names China's login host and audience.
    let r = send(http.get("https://contoso-kv.vault.azure.cn/secrets/x?api-version=7.5")).await;
    assert_eq!(r.status, 401, "{}", r.text);
    let challenge = r.header("www-authenticate").unwrap();
    assert!(
        challenge.contains(&format!("authorization=\"{LOGIN}/")),
        "{challenge}"
    );
    assert!(
        challenge.contains(&format!("resource=\"{VAULT}\"")),
        "{challenge}"
    );
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_certificate_names_china_and_not_the_local_cloud_hosts_it_does_not_present() {
    let env = start_with(|c| c.scenario = Some(china())).await;
    let ca = std::fs::read(env.sim.ca_pem_path()).unwrap();
    let to = std::net::SocketAddr::from(([127, 0, 0, 1], env.sim.port()));
    // A name the certificate does not carry fails the TLS check, even resolved here.
    let other = builder()
        .tls_certs_merge([reqwest::Certificate::from_pem(&ca).unwrap()])
        .no_proxy()
        .resolve("management.azure.com", to)
        .resolve("fabrikamacr.azurecr.sim", to)
        .build()
        .unwrap();
    for url in [
        "https://management.azure.com/subscriptions?api-version=2022-12-01",
        "https://fabrikamacr.azurecr.sim/v2/",
    ] {
        let e = other.get(url).send().await.unwrap_err();
        let text = format!("{e:?}");
        assert!(
            text.contains("certificate") || text.contains("Certificate"),
            "{url}: {text}"
        );
    }
    // The control API stays on the listening address.
    let r = to_resp(env.http.get(env.url("/_sim/state")).send().await.unwrap()).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["cloud"], "AzureChinaCloud");
    env.stop().await;
}

/// The claims of a token (not verified).
fn claims(token: &str) -> Value {
    use base64::Engine as _;
    let part = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}
