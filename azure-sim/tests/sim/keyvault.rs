//! Key Vault's data plane: the challenge, set/get/versions/delete with real shapes, RBAC by
//! role, tenant and audience checks, soft-deleted names, and values kept out of the log.

use serde_json::{Value, json};

use crate::common::{ARM, Env, Resp, VAULT, start, start_with};

const API: &str = "api-version=7.5";

impl Env {
    fn kv(&self, path: &str) -> String {
        format!("{}{path}", self.var("KEYVAULT_URL"))
    }

    async fn put_secret(&self, token: &str, name: &str, body: &Value) -> Resp {
        self.call(
            "PUT",
            &self.kv(&format!("/secrets/{name}?{API}")),
            Some(token),
            Some(body),
        )
        .await
    }
}

fn is_version_id(id: &str, prefix: &str) -> bool {
    id.strip_prefix(prefix)
        .is_some_and(|v| v.len() == 32 && v.chars().all(|c| c.is_ascii_hexdigit()))
}

#[tokio::test]
async fn an_unauthenticated_request_gets_the_challenge_naming_the_vault_tenant() {
    let env = start().await;
    let r = env
        .call(
            "PUT",
            &env.kv(&format!("/secrets/x?{API}")),
            None,
            Some(&json!({"value": "v"})),
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.text);
    assert_eq!(
        r.header("www-authenticate").unwrap(),
        format!(
            "Bearer authorization=\"{}/{}\", resource=\"https://vault.azure.net\"",
            env.sim.url(),
            env.var("CLUSTER_TENANT_ID")
        )
    );
    assert_eq!(r.body["error"]["code"], "Unauthorized");
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("AKV10000")
    );
    assert!(r.header("x-ms-request-id").is_some());
    // The cloud file and sim.env describe the vault the way clients need it.
    let cloud: Value =
        serde_json::from_str(&std::fs::read_to_string(env.sim.cloud_file_path()).unwrap()).unwrap();
    assert_eq!(cloud["keyvault_suffix"], "vault.azure.sim");
    assert_eq!(cloud["keyvault_audience"], VAULT);
    assert_eq!(cloud["keyvault_connect_addr"], "127.0.0.1");
    assert_eq!(
        env.var("KEYVAULT_URL"),
        format!("https://contoso-kv.vault.azure.sim:{}", env.sim.port())
    );
    env.stop().await;
}

#[tokio::test]
async fn the_operator_sets_versions_and_reads_each_one_back() {
    let env = start().await;
    let tok = env.op("CLUSTER_TENANT_ID", VAULT).await;
    let exp = time::OffsetDateTime::now_utc().unix_timestamp() + 86_400;
    let body = json!({
        "value": "first-value~1",
        "contentType": "text/plain; client secret",
        "attributes": {"enabled": true, "exp": exp},
        "tags": {"app_id": "a", "key_id": "k"},
    });
    let r1 = env.put_secret(&tok, "xtenant-app", &body).await;
    assert_eq!(r1.status, 200, "{}", r1.text);
    let prefix = env.kv("/secrets/xtenant-app/");
    let id1 = r1.body["id"].as_str().unwrap().to_string();
    assert!(is_version_id(&id1, &prefix), "{id1}");
    assert_eq!(r1.body["value"], "first-value~1");
    assert_eq!(r1.body["contentType"], "text/plain; client secret");
    assert_eq!(r1.body["attributes"]["exp"], exp);
    assert_eq!(r1.body["attributes"]["enabled"], true);
    assert_eq!(
        r1.body["attributes"]["recoveryLevel"],
        "Recoverable+Purgeable"
    );
    assert!(r1.body["attributes"]["created"].is_i64());
    assert_eq!(r1.body["tags"]["key_id"], "k");

    let r2 = env
        .put_secret(&tok, "xtenant-app", &json!({"value": "second-value~2"}))
        .await;
    assert_eq!(r2.status, 200, "{}", r2.text);
    let id2 = r2.body["id"].as_str().unwrap().to_string();
    assert_ne!(id1, id2);

    let latest = env
        .get(&env.kv(&format!("/secrets/xtenant-app?{API}")), &tok)
        .await;
    assert_eq!(latest.status, 200, "{}", latest.text);
    assert_eq!(latest.body["value"], "second-value~2");
    assert_eq!(latest.body["id"], id2.as_str());
    let first = env.get(&format!("{id1}?{API}"), &tok).await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.body["value"], "first-value~1");
    assert_eq!(first.body["attributes"]["exp"], exp);

    // Versions come in pages of maxresults, linked by nextLink; items carry no value.
    let mut url = env.kv(&format!("/secrets/xtenant-app/versions?{API}&maxresults=1"));
    let mut ids = Vec::new();
    for _ in 0..5 {
        let page = env.get(&url, &tok).await;
        assert_eq!(page.status, 200, "{}", page.text);
        for item in page.body["value"].as_array().unwrap() {
            assert!(item.get("value").is_none(), "{item}");
            ids.push(item["id"].as_str().unwrap().to_string());
        }
        match page.body["nextLink"].as_str() {
            Some(next) => url = next.to_string(),
            None => break,
        }
    }
    assert_eq!(ids, vec![id1.clone(), id2.clone()]);

    // PATCH changes attributes, never the value; a disabled version cannot be read.
    let patched = env
        .send(
            "PATCH",
            &format!("{id1}?{API}"),
            &tok,
            &json!({"attributes": {"enabled": false}, "tags": {"state": "old"}}),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    assert!(patched.body.get("value").is_none());
    assert_eq!(patched.body["attributes"]["enabled"], false);
    assert_eq!(patched.body["tags"], json!({"state": "old"}));
    let disabled = env.get(&format!("{id1}?{API}"), &tok).await;
    assert_eq!(disabled.status, 403, "{}", disabled.text);
    assert_eq!(
        disabled.body["error"]["innererror"]["code"],
        "SecretDisabled"
    );
    let no_value = env
        .send(
            "PATCH",
            &format!("{id1}?{API}"),
            &tok,
            &json!({"value": "x"}),
        )
        .await;
    assert_eq!(no_value.status, 400, "{}", no_value.text);

    let missing = env
        .get(
            &env.kv(&format!(
                "/secrets/xtenant-app/0123456789abcdef0123456789abcdef?{API}"
            )),
            &tok,
        )
        .await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.body["error"]["code"], "SecretNotFound");
    let no_api = env.get(&env.kv("/secrets/xtenant-app"), &tok).await;
    assert_eq!(no_api.status, 400, "{}", no_api.text);
    assert_eq!(no_api.body["error"]["code"], "BadParameter");
    env.stop().await;
}

#[tokio::test]
async fn rbac_decides_by_role_tenant_and_audience() {
    let env = start().await;
    let op = env.op("CLUSTER_TENANT_ID", VAULT).await;
    let r = env
        .put_secret(&op, "shared", &json!({"value": "s3cret-shared"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let id = r.body["id"].as_str().unwrap().to_string();

    // Key Vault Secrets User reads but cannot write.
    let reader = env.reader("CLUSTER_TENANT_ID", VAULT).await;
    let got = env.get(&format!("{id}?{API}"), &reader).await;
    assert_eq!(got.status, 200, "{}", got.text);
    assert_eq!(got.body["value"], "s3cret-shared");
    let denied = env
        .put_secret(&reader, "shared", &json!({"value": "x"}))
        .await;
    assert_eq!(denied.status, 403, "{}", denied.text);
    assert_eq!(denied.body["error"]["code"], "Forbidden");
    assert_eq!(
        denied.body["error"]["innererror"]["code"],
        "ForbiddenByRbac"
    );
    let msg = denied.body["error"]["message"].as_str().unwrap();
    assert!(
        msg.starts_with("Caller is not authorized to perform action on resource."),
        "{msg}"
    );
    assert!(
        msg.contains("Action: 'Microsoft.KeyVault/vaults/secrets/setSecret/action'"),
        "{msg}"
    );
    assert!(msg.contains("Vault: contoso-kv;location=eastus"), "{msg}");

    // A token of another tenant: 401 naming the vault's tenant in the challenge.
    let other = env.op("REGISTRY_TENANT_ID", VAULT).await;
    let wrong = env.get(&format!("{id}?{API}"), &other).await;
    assert_eq!(wrong.status, 401, "{}", wrong.text);
    assert!(
        wrong.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("AKV10032")
    );
    assert!(
        wrong
            .header("www-authenticate")
            .unwrap()
            .contains(&env.var("CLUSTER_TENANT_ID"))
    );
    // An ARM token is not a vault token.
    let arm = env.op("CLUSTER_TENANT_ID", ARM).await;
    let aud = env.get(&format!("{id}?{API}"), &arm).await;
    assert_eq!(aud.status, 401, "{}", aud.text);
    assert!(
        aud.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("audience")
    );
    // The vault's roles are real built-in roles ARM knows by name.
    let state = env.sim.state();
    let names: Vec<&str> = state["role_definitions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["role_name"].as_str())
        .collect();
    assert!(
        names.contains(&"Key Vault Secrets Officer") && names.contains(&"Key Vault Secrets User")
    );
    env.stop().await;
}

#[tokio::test]
async fn a_deleted_name_cannot_be_reused_and_values_stay_out_of_logs() {
    let env = start().await;
    let op = env.op("CLUSTER_TENANT_ID", VAULT).await;
    let value = "never-logged-value~Zq9";
    let r = env.put_secret(&op, "gone", &json!({"value": value})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let del = env
        .delete(&env.kv(&format!("/secrets/gone?{API}")), &op)
        .await;
    assert_eq!(del.status, 200, "{}", del.text);
    assert_eq!(
        del.body["recoveryId"],
        env.kv("/secrets/gone")
            .replace("/secrets/", "/deletedsecrets/")
    );
    assert!(del.body["scheduledPurgeDate"].is_i64());
    assert!(del.body.get("value").is_none());
    let get = env.get(&env.kv(&format!("/secrets/gone?{API}")), &op).await;
    assert_eq!(get.status, 404);
    let again = env.put_secret(&op, "gone", &json!({"value": "new"})).await;
    assert_eq!(again.status, 409, "{}", again.text);
    assert_eq!(again.body["error"]["code"], "Conflict");
    assert_eq!(
        again.body["error"]["message"],
        "Secret gone is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged."
    );
    assert_eq!(
        again.body["error"]["innererror"]["code"],
        "ObjectIsDeletedButRecoverable"
    );

    let log = serde_json::to_string(&env.sim.requests()).unwrap();
    assert!(
        log.contains("/secrets/gone"),
        "the vault requests are logged"
    );
    assert!(
        !log.contains(value),
        "a secret value reached the request log"
    );
    let state = env.sim.state().to_string();
    assert!(
        !state.contains(value),
        "a secret value reached the state dump"
    );
    assert!(state.contains("value_sha256"));
    env.stop().await;
}

#[tokio::test]
async fn a_new_role_assignment_counts_once_propagated_and_faults_use_key_vault_shape() {
    let env = start_with(|c| c.time_scale = 1.0).await;
    let reader = env.reader("CLUSTER_TENANT_ID", VAULT).await;
    let r = env.put_secret(&reader, "x", &json!({"value": "v"})).await;
    assert_eq!(r.status, 403);
    // The operator (User Access Administrator on subscription A) makes the reader an officer.
    let arm = env.op("CLUSTER_TENANT_ID", ARM).await;
    let sub = env.var("CLUSTER_SUBSCRIPTION_ID");
    let url = format!(
        "{}/providers/Microsoft.Authorization/roleAssignments/{}?api-version=2022-04-01",
        env.var("KEYVAULT_ID"),
        uuid_like()
    );
    let body = json!({"properties": {
        "roleDefinitionId": format!("/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/b86a8fe4-44ce-4948-aee5-eccb2c155cd7"),
        "principalId": READER_SP_A,
        "principalType": "ServicePrincipal",
    }});
    let ra = env.send("PUT", &url, &arm, &body).await;
    assert_eq!(ra.status, 201, "{}", ra.text);
    let early = env.put_secret(&reader, "x", &json!({"value": "v"})).await;
    assert_eq!(
        early.status, 403,
        "a new assignment is not effective at once"
    );
    env.sim.advance(azure_sim::ROLE_PROPAGATION);
    let late = env.put_secret(&reader, "x", &json!({"value": "v"})).await;
    assert_eq!(late.status, 200, "{}", late.text);

    env.sim
        .add_fault(json!({"host": "contoso-kv.vault.azure.sim", "status": 503}))
        .unwrap();
    let op = env.op("CLUSTER_TENANT_ID", VAULT).await;
    let f = env.put_secret(&op, "x", &json!({"value": "v"})).await;
    assert_eq!(f.status, 503, "{}", f.text);
    assert_eq!(f.body["error"]["code"], "ServiceUnavailable", "{}", f.text);
    let ok = env.put_secret(&op, "x", &json!({"value": "v"})).await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    let unknown = env
        .get(
            &format!(
                "https://nosuchkv.vault.azure.sim:{}/secrets/x?{API}",
                env.sim.port()
            ),
            &op,
        )
        .await;
    assert_eq!(unknown.status, 404);
    env.stop().await;
}

/// The reader app's service principal in tenant A (a fixed id of the default scenario).
const READER_SP_A: &str = "a1a1a1a1-5900-4000-8000-000000000003";

fn uuid_like() -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("c0ffee00-0000-4000-8000-{n:012}")
}
