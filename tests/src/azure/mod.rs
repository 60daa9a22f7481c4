//! Acting on the simulator as the operator with plain HTTP: the steps a test sets up by hand
//! before the tool under test runs (an app, its secret, its service principals, a role).
//!
//! [`Operator`] gets its tokens from the simulator's token endpoint with client credentials
//! (`AZURE_CLIENT_ID` and `AZURE_CLIENT_SECRET` from `sim.env`) and calls Graph and ARM
//! directly, so that a tool's tests depend on no other tool. The free functions read the
//! simulator's state instead, without sending a request a test could see in the log.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

pub use reqwest::Method;
use serde_json::{Value, json};

use crate::TestSim;

/// The operator talking to the simulator directly: Graph and ARM with its own tokens.
///
/// Every call blocks on a small runtime of its own, so it is for plain `#[test]` functions.
/// A failed token request panics; Graph and ARM answers are returned with their status for
/// the test to judge, except in the higher-level helpers, which assert success.
pub struct Operator {
    rt: tokio::runtime::Runtime,
    client: reqwest::Client,
    login: String,
    graph: String,
    arm: String,
    graph_scope: String,
    arm_scope: String,
    client_id: String,
    client_secret: String,
    cluster_tenant: String,
    registry_tenant: String,
    tokens: Mutex<HashMap<(String, String), String>>,
    /// The simulator, whose clock what is made by hand is waited out on.
    sim: azure_sim::Sim,
}

mod new_app;
pub use new_app::NewApp;

mod state;
pub use state::{
    app_tags, apps_tagged, key_ids, record_entry, role_assignments_of, service_principal_of,
    set_app_tags, write_cluster_tags,
};

/// The built-in role AcrPull (its GUID, the same in every cloud).
pub const ACR_PULL: &str = "7f951dda-4ed3-4680-a7ca-43fe172d538d";

/// An app [`Operator::create_app`] made, with what was asked for besides.
#[derive(Debug, Clone)]
pub struct App {
    /// The application's object id in tenant A.
    pub object_id: String,
    /// Its `appId` (the client id).
    pub app_id: String,
    /// Its client secret, when one was asked for.
    pub secret: Option<String>,
    /// That secret's key id.
    pub key_id: Option<String>,
    /// Its service principal's object id in tenant A, when one was asked for.
    pub sp_a: Option<String>,
    /// Its service principal's object id in tenant B, when one was asked for.
    pub sp_b: Option<String>,
}

impl App {
    /// The client secret; panics when the app was made without one.
    pub fn secret(&self) -> &str {
        self.secret
            .as_deref()
            .expect("the app was made without a secret")
    }

    /// Tenant A's service principal; panics when none was made.
    pub fn sp_a(&self) -> &str {
        self.sp_a
            .as_deref()
            .expect("the app was made without a service principal in tenant A")
    }

    /// Tenant B's service principal; panics when none was made.
    pub fn sp_b(&self) -> &str {
        self.sp_b
            .as_deref()
            .expect("the app was made without a service principal in tenant B")
    }

    /// The envelope acr-grant would have written for this app (made with a secret and its
    /// service principals in both tenants), naming the scenario's registry and cluster.
    pub fn envelope(&self, sim: &TestSim) -> Value {
        json!({
            "cluster_tenant_id": sim.var("CLUSTER_TENANT_ID"),
            "registry_tenant_id": sim.var("REGISTRY_TENANT_ID"),
            "app_id": self.app_id,
            "cluster_sp_object_id": self.sp_a(),
            "client_secret": self.secret(),
            "client_secret_key_id": self.key_id,
            "registry_id": sim.var("REGISTRY_ID"),
            "registry_login_server": sim.var("REGISTRY_LOGIN_SERVER"),
            "cluster_id": sim.var("CLUSTER_ID"),
        })
    }
}

impl Operator {
    /// The operator of `sim` (`AZURE_CLIENT_ID`), trusting only what `SIM_CA_FILE` holds,
    /// with the endpoints and token audiences of the simulator's cloud file.
    pub fn new(sim: &TestSim) -> Self {
        Self::acting_as(sim, "AZURE")
    }

    /// Another identity of `sim.env`: `{prefix}_CLIENT_ID` and `{prefix}_CLIENT_SECRET`
    /// (e.g. `CLUSTER_WRITER`, which may write the cluster and nothing else).
    pub fn acting_as(sim: &TestSim, prefix: &str) -> Self {
        // The cloud file (the China cloud's names its real endpoints, reached by XTENANT_RESOLVE).
        let cloud_file = sim.sim().cloud_file_path().to_path_buf();
        let cloud: Value = serde_json::from_str(
            &std::fs::read_to_string(&cloud_file)
                .unwrap_or_else(|e| panic!("read {}: {e}", cloud_file.display())),
        )
        .expect("the cloud file is JSON");
        let field = |k: &str| {
            cloud[k]
                .as_str()
                .unwrap_or_else(|| panic!("the cloud file has no {k}"))
                .trim_end_matches('/')
                .to_owned()
        };
        let client = crate::person::client_resolving(
            &PathBuf::from(sim.var("SIM_CA_FILE")),
            sim.var_opt("XTENANT_RESOLVE").as_deref(),
        )
        .expect("HTTP client");
        Self {
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime"),
            client,
            login: field("login_endpoint"),
            graph: format!("{}/v1.0", field("graph_endpoint")),
            arm: field("arm_endpoint"),
            graph_scope: format!("{}/.default", field("graph_audience")),
            arm_scope: format!("{}/.default", field("arm_audience")),
            client_id: sim.var(&format!("{prefix}_CLIENT_ID")),
            client_secret: sim.var(&format!("{prefix}_CLIENT_SECRET")),
            cluster_tenant: sim.var("CLUSTER_TENANT_ID"),
            registry_tenant: sim.var("REGISTRY_TENANT_ID"),
            tokens: Mutex::new(HashMap::new()),
            sim: azure_sim::Sim::clone(sim.sim()),
        }
    }

    /// An access token for `scope` in `tenant` (client credentials), fetched once and reused.
    pub fn token(&self, tenant: &str, scope: &str) -> String {
        let key = (tenant.to_owned(), scope.to_owned());
        if let Some(t) = self.tokens.lock().expect("token cache").get(&key) {
            return t.clone();
        }
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.client_secret.as_str()),
            ("scope", scope),
        ];
        let url = format!("{}/{tenant}/oauth2/v2.0/token", self.login);
        let (status, v) = self.rt.block_on(async {
            let r = self
                .client
                .post(url)
                .form(&form)
                .send()
                .await
                .expect("token request");
            let status = r.status();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        });
        assert!(status.is_success(), "token for {tenant}: {status} {v}");
        let token = v["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("token for {tenant} has no access_token: {v}"))
            .to_owned();
        self.tokens
            .lock()
            .expect("token cache")
            .insert(key, token.clone());
        token
    }

    /// A Graph v1.0 call in `tenant` (`path` after `/v1.0`): the status and the JSON body (Null when none).
    pub fn graph(
        &self,
        method: Method,
        tenant: &str,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let url = format!("{}{path}", self.graph);
        self.call(method, tenant, &self.graph_scope, &url, body)
    }

    /// An ARM call in `tenant` (`path_and_query` with its `api-version`): the status and the JSON body.
    pub fn arm(
        &self,
        method: Method,
        tenant: &str,
        path_and_query: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let url = format!("{}{path_and_query}", self.arm);
        self.call(method, tenant, &self.arm_scope, &url, body)
    }

    /// Resets the cluster `cluster_id` (tenant A) to `client_id` with `secret` by hand, as
    /// `az aks update-credentials` or another run of step 4 does; asserts Azure took it.
    #[track_caller]
    pub fn reset_cluster(&self, cluster_id: &str, client_id: &Value, secret: &Value) {
        let (status, body) = self.arm(
            Method::POST,
            &self.cluster_tenant,
            &format!("{cluster_id}/resetServicePrincipalProfile?api-version=2025-10-01"),
            Some(&serde_json::json!({"clientId": client_id, "secret": secret})),
        );
        assert!(status == 200 || status == 202, "{status}: {body}");
    }

    /// One call to `url` with a token for `scope` in `tenant`.
    fn call(
        &self,
        method: Method,
        tenant: &str,
        scope: &str,
        url: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let token = self.token(tenant, scope);
        self.rt.block_on(async {
            let mut b = self.client.request(method, url).bearer_auth(token);
            if let Some(body) = body {
                b = b.json(body);
            }
            let r = b.send().await.unwrap_or_else(|e| panic!("{url}: {e}"));
            let status = r.status().as_u16();
            let text = r.text().await.unwrap_or_default();
            (status, serde_json::from_str(&text).unwrap_or(Value::Null))
        })
    }

    /// Step 1 (and 2) by hand: creates `spec`'s app in tenant A, then what it asks for
    /// besides, in this order: a secret, the service principal in A, the one in B; service
    /// principals are waited out on Azure's clock (moved on by [`azure_sim::REPLICATION_DELAY`])
    /// until the sign-in service, AKS and the registries know them, as ones made a while before
    /// the tools run. Asserts every answer is a success.
    pub fn create_app(&self, spec: &NewApp) -> App {
        // As the portal registers an app: with Microsoft Graph User.Read (delegated).
        let mut body = json!({
            "displayName": spec.display_name,
            "signInAudience": spec.sign_in_audience,
            "requiredResourceAccess": [{
                "resourceAppId": "00000003-0000-0000-c000-000000000000",
                "resourceAccess": [{"id": "e1fe6dd8-ba31-4d61-89e7-88639da4683d", "type": "Scope"}],
            }],
        });
        if !spec.redirect_uris.is_empty() {
            body["web"] = json!({"redirectUris": spec.redirect_uris});
        }
        let a = &self.cluster_tenant;
        let (status, app) = self.graph(Method::POST, a, "/applications", Some(&body));
        assert_eq!(status, 201, "POST /applications: {app}");
        let object_id = app["id"].as_str().expect("application id").to_owned();
        let app_id = app["appId"].as_str().expect("appId").to_owned();
        let (secret, key_id) = if spec.secret {
            let (secret, key) = self.add_secret(&object_id);
            (Some(secret), Some(key))
        } else {
            (None, None)
        };
        let sp_a = spec
            .sp_in_a
            .then(|| self.create_service_principal(a, &app_id));
        let sp_b = spec
            .sp_in_b
            .then(|| self.create_service_principal(&self.registry_tenant, &app_id));
        if spec.sp_in_a || spec.sp_in_b {
            self.sim.advance(azure_sim::REPLICATION_DELAY);
        }
        App {
            object_id,
            app_id,
            secret,
            key_id,
            sp_a,
            sp_b,
        }
    }

    /// Sends `call` again while Graph answers 404 for an app made a moment ago (its write lag:
    /// the replica serving the write lacks it), as a client must; the last answer.
    fn while_too_new(call: impl Fn() -> (u16, Value)) -> (u16, Value) {
        let mut answer = call();
        for _ in 0..200 {
            if answer.0 != 404 {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
            answer = call();
        }
        answer
    }

    /// Adds a client secret to the application `object_id` in tenant A: its text and key id.
    pub fn add_secret(&self, object_id: &str) -> (String, String) {
        let (status, pw) = Self::while_too_new(|| {
            self.graph(
                Method::POST,
                &self.cluster_tenant,
                &format!("/applications/{object_id}/addPassword"),
                Some(&json!({"passwordCredential": {"displayName": "test"}})),
            )
        });
        assert_eq!(status, 200, "addPassword: {pw}");
        (
            pw["secretText"].as_str().expect("secretText").to_owned(),
            pw["keyId"].as_str().expect("keyId").to_owned(),
        )
    }

    /// Creates the service principal of `app_id` in `tenant`, retrying while a new app is not
    /// replicated yet (`NoBackingApplicationObject`); its object id.
    pub fn create_service_principal(&self, tenant: &str, app_id: &str) -> String {
        let body = json!({"appId": app_id});
        for _ in 0..200 {
            let (status, v) = Self::while_too_new(|| {
                self.graph(Method::POST, tenant, "/servicePrincipals", Some(&body))
            });
            if status == 201 {
                return v["id"].as_str().expect("service principal id").to_owned();
            }
            assert!(
                v.to_string().contains("NoBackingApplicationObject"),
                "POST /servicePrincipals in {tenant}: {status} {v}"
            );
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("the app {app_id} never backed a service principal in {tenant}");
    }

    /// Assigns the built-in role `role` (its definition GUID) to the service principal
    /// `principal` at `scope` (an ARM id under `/subscriptions/{id}`), as a new assignment
    /// in `tenant`, and waits on Azure's clock (moved on by [`azure_sim::ROLE_PROPAGATION`])
    /// until it reached the registries' and vaults' data planes: a role set up by hand is one
    /// given a while before the tools run. Asserts success; the assignment's id.
    pub fn assign_role(&self, tenant: &str, scope: &str, role: &str, principal: &str) -> String {
        let subscription = scope
            .strip_prefix("/subscriptions/")
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_else(|| panic!("{scope} is not under a subscription"));
        let name = uuid::Uuid::new_v4();
        let path = format!(
            "{scope}/providers/Microsoft.Authorization/roleAssignments/{name}?api-version=2022-04-01"
        );
        let body = json!({"properties": {
            "roleDefinitionId": format!("/subscriptions/{subscription}/providers/Microsoft.Authorization/roleDefinitions/{role}"),
            "principalId": principal,
            "principalType": "ServicePrincipal",
        }});
        let (status, v) = self.arm(Method::PUT, tenant, &path, Some(&body));
        assert!(
            (200..300).contains(&status),
            "PUT role assignment at {scope}: {status} {v}"
        );
        self.sim.advance(azure_sim::ROLE_PROPAGATION);
        v["id"].as_str().expect("role assignment id").to_owned()
    }

    /// Removes the secret `key_id` of the app `app_object_id` in tenant A (as its owner could),
    /// asserting Graph took it (204).
    #[track_caller]
    pub fn remove_secret(&self, app_object_id: &str, key_id: &str) {
        let (status, body) = self.graph(
            Method::POST,
            &self.cluster_tenant,
            &format!("/applications/{app_object_id}/removePassword"),
            Some(&json!({ "keyId": key_id })),
        );
        assert_eq!(status, 204, "removePassword: {body}");
    }

    /// AcrPull on the scenario's registry for the app's service principal in tenant B (step
    /// 3 by hand). The assignment's id.
    pub fn grant_pull(&self, app: &App) -> String {
        let var = |k: &str| {
            self.sim
                .env_var(k)
                .unwrap_or_else(|| panic!("sim.env has no {k}"))
        };
        self.assign_role(
            &var("REGISTRY_TENANT_ID"),
            &var("REGISTRY_ID"),
            ACR_PULL,
            app.sp_b(),
        )
    }

    /// Steps 1–3 by hand for a new app `name`: [`NewApp::procedure`], then [`Self::grant_pull`].
    pub fn granted_app(&self, name: &str) -> App {
        let app = self.create_app(&NewApp::procedure(name));
        self.grant_pull(&app);
        app
    }
}
