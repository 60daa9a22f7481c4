//! Test kit: start a simulator in-process, a client trusting its CA, tokens, JSON calls.

use std::time::Duration;

use azure_sim::{Running, SimConfig};
use reqwest::header::HeaderMap;
use serde_json::Value;

pub(crate) struct Env {
    pub(crate) sim: Running,
    pub(crate) http: reqwest::Client,
    _dir: tempfile::TempDir,
}

#[derive(Debug)]
pub(crate) struct Resp {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Value,
    pub(crate) text: String,
}

impl Resp {
    /// The body's `error.code` (ARM's and Graph's error shape).
    pub(crate) fn code(&self) -> Option<&str> {
        self.body["error"]["code"].as_str()
    }

    pub(crate) fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
}

/// A reqwest client builder, ring installed first as the process's TLS crypto (reqwest is
/// built without a provider of its own, as the tools' client is).
pub(crate) fn builder() -> reqwest::ClientBuilder {
    // Err: already installed by an earlier test of this process.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
}

pub(crate) fn client(ca: &[u8], port: u16) -> reqwest::Client {
    let loopback = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    builder()
        .tls_certs_merge([reqwest::Certificate::from_pem(ca).unwrap()])
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .resolve("fabrikamacr.azurecr.sim", loopback)
        .resolve("fabrikamabac.azurecr.sim", loopback)
        .resolve("nosuchreg.azurecr.sim", loopback)
        .resolve("contoso-kv.vault.azure.sim", loopback)
        .resolve("nosuchkv.vault.azure.sim", loopback)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

pub(crate) async fn start() -> Env {
    start_with(|_| {}).await
}

/// A simulator kinder than Azure where the test names it, for a test about something else.
/// A fresh simulator on real time whose world is the default one with the ARM `policies` built
/// from it (by `policies`, given the default world's simulator).
pub(crate) async fn start_with_policies(policies: impl FnOnce(&Env) -> Value) -> Env {
    let base = start().await;
    let mut state = base.sim.state();
    state["policies"] = policies(&base);
    base.stop().await;
    start_with(|c| {
        c.time_scale = 1.0;
        c.scenario = Some(state);
    })
    .await
}

pub(crate) async fn lenient(names: &[azure_sim::Leniency]) -> Env {
    start_with(|c| c.lenient.extend(names.iter().copied())).await
}

/// Azure's clock in these tests: a thousand times faster (a three-node reset in 0.9 s).
pub(crate) const TIME_SCALE: f64 = 0.001;

/// Graph's default write lag (a new app refuses writes addressed to it this long).
pub(crate) const GRAPH_WRITE_LAG: Duration = Duration::from_secs(10);

/// A simulator of Azure as documented, its clock compressed by [`TIME_SCALE`], with the
/// config `f` adjusts.
pub(crate) async fn start_with(f: impl FnOnce(&mut SimConfig)) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = SimConfig::new(dir.path());
    cfg.time_scale = TIME_SCALE;
    f(&mut cfg);
    let sim = azure_sim::serve(cfg).await.unwrap();
    let ca = std::fs::read(sim.ca_pem_path()).unwrap();
    let http = client(&ca, sim.port());
    Env {
        sim,
        http,
        _dir: dir,
    }
}

/// The built-in role AcrPull (its GUID, the same in every cloud).
pub(crate) const ACR_PULL: &str = "7f951dda-4ed3-4680-a7ca-43fe172d538d";

pub(crate) const GRAPH: &str = "https://graph.microsoft.com";
pub(crate) const ARM: &str = "https://management.azure.com/";
pub(crate) const VAULT: &str = "https://vault.azure.net";

impl Env {
    /// `POST {cluster_id}/resetServicePrincipalProfile` as the operator in tenant A, to the
    /// app `client_id` and its `secret`.
    pub(crate) async fn reset(&self, cluster_id: &str, client_id: &str, secret: &str) -> Resp {
        let ta = self.op("CLUSTER_TENANT_ID", ARM).await;
        let body = serde_json::json!({"clientId": client_id, "secret": secret});
        self.reset_as(&ta, cluster_id, &body).await
    }

    /// `POST {cluster_id}/resetServicePrincipalProfile` with `token` and the request `body`.
    pub(crate) async fn reset_as(&self, token: &str, cluster_id: &str, body: &Value) -> Resp {
        self.call(
            "POST",
            &format!("{cluster_id}/resetServicePrincipalProfile?api-version=2025-10-01"),
            Some(token),
            Some(body),
        )
        .await
    }

    /// `GET` the ARM resource whose id is the variable `id_var`, at `api_version`.
    pub(crate) async fn get_resource(&self, id_var: &str, api_version: &str, token: &str) -> Resp {
        let url = format!("{}?api-version={api_version}", self.var(id_var));
        self.get(&url, token).await
    }

    /// `PATCH` of the resource `url` (with its api-version) setting its `tags`.
    pub(crate) async fn patch_tags(&self, url: &str, token: &str, tags: Value) -> Resp {
        let body = serde_json::json!({ "tags": tags });
        self.call("PATCH", url, Some(token), Some(&body)).await
    }

    /// A Graph/ARM token in tenant A for the app `app` (a created application) and its `secret`.
    pub(crate) async fn app_token(&self, app: &Value, secret: &str, resource: &str) -> String {
        let app_id = app["appId"].as_str().unwrap();
        self.token(&self.var("CLUSTER_TENANT_ID"), app_id, secret, resource)
            .await
    }

    /// [`Env::reset`] of `cluster_id` to the operator's own identity.
    pub(crate) async fn reset_to_operator(&self, cluster_id: &str) -> Resp {
        let (op, secret) = (self.var("AZURE_CLIENT_ID"), self.var("AZURE_CLIENT_SECRET"));
        self.reset(cluster_id, &op, &secret).await
    }

    /// Assigns AcrPull on the default registry to the principal `sp` in tenant B; asserts 201.
    pub(crate) async fn grant_pull(&self, sp: &str) {
        let tb = self.op("REGISTRY_TENANT_ID", ARM).await;
        let body = serde_json::json!({"properties": {
            "roleDefinitionId": format!(
                "/subscriptions/{}/providers/Microsoft.Authorization/roleDefinitions/{ACR_PULL}",
                self.var("REGISTRY_SUBSCRIPTION_ID")
            ),
            "principalId": sp,
            "principalType": "ServicePrincipal",
        }});
        let r = self
            .call(
                "PUT",
                &format!(
                    "{}/providers/Microsoft.Authorization/roleAssignments/{}?api-version=2022-04-01",
                    self.var("REGISTRY_ID"),
                    uuid::Uuid::new_v4()
                ),
                Some(&tb),
                Some(&body),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }

    pub(crate) fn var(&self, k: &str) -> String {
        self.sim
            .env_var(k)
            .unwrap_or_else(|| panic!("sim.env has no {k}"))
    }

    pub(crate) fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.sim.url())
        }
    }

    pub(crate) fn registry_url(&self, name: &str, path: &str) -> String {
        format!("https://{name}.azurecr.sim:{}{path}", self.sim.port())
    }

    pub(crate) async fn stop(self) {
        self.sim.shutdown().await;
    }

    /// Raw client-credentials token request.
    pub(crate) async fn token_resp(
        &self,
        tenant: &str,
        client_id: &str,
        secret: &str,
        resource: &str,
    ) -> Resp {
        let scope = format!("{}/.default", resource.trim_end_matches('/'));
        let r = self
            .http
            .post(self.url(&format!("/{tenant}/oauth2/v2.0/token")))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", client_id),
                ("client_secret", secret),
                ("scope", scope.as_str()),
            ])
            .send()
            .await
            .unwrap();
        to_resp(r).await
    }

    pub(crate) async fn token(
        &self,
        tenant: &str,
        client_id: &str,
        secret: &str,
        resource: &str,
    ) -> String {
        let r = self.token_resp(tenant, client_id, secret, resource).await;
        assert_eq!(r.status, 200, "token: {}", r.text);
        r.body["access_token"].as_str().unwrap().to_string()
    }

    /// The operator's token in tenant A or B for `resource`.
    pub(crate) async fn op(&self, tenant_key: &str, resource: &str) -> String {
        self.token(
            &self.var(tenant_key),
            &self.var("AZURE_CLIENT_ID"),
            &self.var("AZURE_CLIENT_SECRET"),
            resource,
        )
        .await
    }

    pub(crate) async fn reader(&self, tenant_key: &str, resource: &str) -> String {
        self.token(
            &self.var(tenant_key),
            &self.var("READER_CLIENT_ID"),
            &self.var("READER_CLIENT_SECRET"),
            resource,
        )
        .await
    }

    /// `GET path` with the bearer `token`.
    pub(crate) async fn get(&self, path: &str, token: &str) -> Resp {
        self.call("GET", path, Some(token), None).await
    }

    /// `method path` (a write) with `token` and the JSON `body`.
    pub(crate) async fn send(&self, method: &str, path: &str, token: &str, body: &Value) -> Resp {
        self.call(method, path, Some(token), Some(body)).await
    }

    /// `DELETE path` with `token`.
    pub(crate) async fn delete(&self, path: &str, token: &str) -> Resp {
        self.call("DELETE", path, Some(token), None).await
    }

    pub(crate) async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Resp {
        self.call_h(method, path, token, body, &[]).await
    }

    pub(crate) async fn call_h(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut rb = self.http.request(method.parse().unwrap(), self.url(path));
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        if let Some(b) = body {
            rb = rb
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        to_resp(rb.send().await.unwrap()).await
    }

    pub(crate) async fn raw(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: &str,
    ) -> Resp {
        let mut rb = self
            .http
            .request(method.parse().unwrap(), self.url(path))
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        to_resp(rb.send().await.unwrap()).await
    }

    /// Create an app (in the token's tenant) and return its JSON.
    pub(crate) async fn create_app(&self, token: &str, body: Value) -> Value {
        let r = self
            .call("POST", "/v1.0/applications", Some(token), Some(&body))
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.body
    }

    /// Adds a secret to the app and returns it; an app too new for Graph's writes (404) is
    /// waited out as a client must, by moving Azure's clock past the write lag.
    pub(crate) async fn add_password(&self, token: &str, app_object_id: &str) -> String {
        let body = serde_json::json!({"passwordCredential": {"displayName": "t", "endDateTime": end_in_days(90)}});
        let path = format!("/v1.0/applications/{app_object_id}/addPassword");
        let mut r = self.call("POST", &path, Some(token), Some(&body)).await;
        if r.status == 404 {
            self.sim.advance(GRAPH_WRITE_LAG);
            r = self.call("POST", &path, Some(token), Some(&body)).await;
        }
        assert_eq!(r.status, 200, "{}", r.text);
        r.body["secretText"].as_str().unwrap().to_string()
    }

    /// Create the service principal of `app_id` (in the token's tenant) and return its JSON;
    /// a new app Graph's write replica lacks (404, in its home tenant) or that does not back one
    /// yet (`NoBackingApplicationObject`, elsewhere) is waited out as a client must, by moving
    /// Azure's clock past the lag or the replication delay.
    pub(crate) async fn create_sp(&self, token: &str, app_id: &str) -> Value {
        let body = serde_json::json!({"appId": app_id});
        let post = || self.call("POST", "/v1.0/servicePrincipals", Some(token), Some(&body));
        let mut r = post().await;
        if r.status == 404 {
            self.sim.advance(GRAPH_WRITE_LAG);
            r = post().await;
        }
        if r.body["error"]["details"][0]["code"] == "NoBackingApplicationObject" {
            self.sim.advance(azure_sim::REPLICATION_DELAY);
            r = post().await;
        }
        assert_eq!(r.status, 201, "{}", r.text);
        r.body
    }
}

pub(crate) async fn to_resp(r: reqwest::Response) -> Resp {
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Resp {
        status,
        headers,
        body,
        text,
    }
}

pub(crate) fn end_in_days(days: i64) -> String {
    let t = time::OffsetDateTime::now_utc() + time::Duration::days(days);
    t.replace_nanosecond(0)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// The JWT payload, unverified.
pub(crate) fn claims(token: &str) -> Value {
    use base64::Engine as _;
    let p = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(p)
            .unwrap(),
    )
    .unwrap()
}

/// Every key of `expected` (recursively; first array elements) is in `actual`.
pub(crate) fn assert_keys_subset(expected: &Value, actual: &Value, path: &str) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, ev) in e {
                let av = a
                    .get(k)
                    .unwrap_or_else(|| panic!("missing field {path}.{k} in {actual}"));
                assert_keys_subset(ev, av, &format!("{path}.{k}"));
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            if let (Some(e0), Some(a0)) = (e.first(), a.first()) {
                assert_keys_subset(e0, a0, &format!("{path}[0]"));
            }
        }
        _ => {}
    }
}
