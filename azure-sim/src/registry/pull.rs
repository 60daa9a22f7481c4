//! The truth endpoint: can a cluster, with the credentials it holds now, pull an image? It
//! takes the kubelet's steps through the same handlers as the HTTP endpoints, over the
//! cluster's network path (its egress address meets the registry's firewall). AKS run
//! command's pods ([`crate::kube`]) pull through the same [`verdict`].

use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::Value;

use crate::core::Core;
use crate::http::Req;
use crate::model::{Cluster, ClusterIdentity, Registry};
use crate::rbac::registry_grants;

use super::token::basic_token;
use super::verdict::{Stage, Verdict};
use super::{Secret, handle};

pub(super) fn body_message(r: Response) -> (u16, String) {
    let status = r.status().as_u16();
    let body = body_bytes(r);
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let msg = v["errors"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    (status, msg)
}

/// The bytes of a response built by this crate (always a full, in-memory body).
pub(crate) fn body_bytes(r: Response) -> Vec<u8> {
    use axum::body::HttpBody as _;
    let mut body = r.into_body();
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    let mut out = Vec::new();
    while let std::task::Poll::Ready(Some(Ok(frame))) =
        std::pin::Pin::new(&mut body).poll_frame(&mut cx)
    {
        if let Ok(data) = frame.into_data() {
            out.extend_from_slice(&data);
        }
    }
    out
}

/// Why a principal has no pull on a registry, in words.
pub(super) fn diagnose(core: &Core, reg: &Registry, oid: &str) -> String {
    let state = core.state();
    let t = core.now();
    let mut pending = false;
    let mut wrong_mode = Vec::new();
    for ra in state.role_assignments.iter().filter(|ra| {
        ra.principal_id.eq_ignore_ascii_case(oid) && crate::rbac::scope_covers(&ra.scope, &reg.id)
    }) {
        let name = state
            .role_definition(&ra.role_definition_id)
            .map(|d| d.role_name.clone())
            .unwrap_or_default();
        let alone = registry_grants(
            &state,
            reg,
            oid,
            "x",
            &["pull".to_string()],
            t.saturating_add(core.role_propagation),
            core.role_propagation,
        );
        if ra.created_at.saturating_add(core.role_propagation) > t && !alone.is_empty() {
            pending = true;
        } else {
            wrong_mode.push(name);
        }
    }
    if pending {
        return "a role allowing pull is assigned but has not propagated to the registry yet (role propagation)".into();
    }
    let mode = &reg.role_assignment_mode;
    if wrong_mode.is_empty() {
        format!(
            "no role allowing pull is assigned to the service principal {oid} at the registry or above (registry mode {mode})"
        )
    } else {
        format!(
            "the roles assigned to the service principal {oid} ({}) do not allow pull in registry mode {mode}",
            wrong_mode.join(", ")
        )
    }
}

/// A refusal of the truth endpoint.
type Refusal = Verdict;

/// The registry token a cluster's credentials get, who it stands for, and its principal id.
type Token = (String, String, String);

/// The cluster, the registry, the repository and the reference an image names.
fn target(
    core: &Core,
    cluster_name: &str,
    image: &str,
) -> Result<(Cluster, Registry, String, String), Refusal> {
    let state = core.state();
    let Some(cluster) = state
        .clusters
        .iter()
        .find(|c| {
            c.name.eq_ignore_ascii_case(cluster_name) || c.id.eq_ignore_ascii_case(cluster_name)
        })
        .cloned()
    else {
        return Err(Verdict {
            http: StatusCode::NOT_FOUND,
            ..Verdict::new(
                Stage::Resolve,
                0,
                format!("no cluster named '{cluster_name}'"),
            )
        });
    };
    let Some((host, path)) = image.split_once('/') else {
        return Err(Verdict {
            http: StatusCode::BAD_REQUEST,
            ..Verdict::new(
                Stage::Resolve,
                0,
                format!("'{image}' is not <login server>/<repository>:<tag>"),
            )
        });
    };
    let (repo, reference) = if let Some((r, d)) = path.split_once('@') {
        (r.to_string(), d.to_string())
    } else if let Some((r, t)) = path.rsplit_once(':') {
        (r.to_string(), t.to_string())
    } else {
        (path.to_string(), "latest".to_string())
    };
    let hostname = host
        .split(':')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let Some(reg) = hostname
        .strip_suffix(&format!(".{}", core.cloud.registry_suffix()))
        .and_then(|n| state.registries.iter().find(|r| r.name == n))
        .cloned()
    else {
        return Err(Verdict::new(
            Stage::Resolve,
            0,
            format!(
                "'{host}' is not the login server of any registry here (the name would not resolve)"
            ),
        ));
    };
    drop(state);
    Ok((cluster, reg, repo, reference))
}

/// Step 1 for a managed-identity cluster: Entra token, exchange, then the access token.
fn mi_token(
    core: &Core,
    reg: &Registry,
    identity: ClusterIdentity,
    scope: &str,
) -> Result<Token, Refusal> {
    let (aad, _) = core.mint_entra_token(
        &identity.tenant_id,
        &identity.principal_id,
        &identity.principal_id,
        "https://containerregistry.azure.net",
        &[],
        "2",
    );
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "access_token")
        .append_pair("service", &core.login_server(&reg.name))
        .append_pair("tenant", &identity.tenant_id)
        .append_pair("access_token", &aad)
        .finish();
    let r = handle(
        core,
        &synthetic(core, reg, Method::POST, "/oauth2/exchange", "", body, None),
        &reg.name,
    );
    if r.status() != StatusCode::OK {
        let (status, msg) = body_message(r);
        return Err(Verdict::new(
            Stage::Credentials,
            status,
            format!(
                "the cluster uses a managed identity (tenant {}); the registry refused its token: {msg}",
                identity.tenant_id
            ),
        ));
    }
    let v: Value = serde_json::from_slice(&body_bytes(r)).unwrap_or(Value::Null);
    let rt = v["refresh_token"].as_str().unwrap_or_default().to_string();
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "refresh_token")
        .append_pair("service", &core.login_server(&reg.name))
        .append_pair("scope", scope)
        .append_pair("refresh_token", &rt)
        .finish();
    let r = handle(
        core,
        &synthetic(core, reg, Method::POST, "/oauth2/token", "", body, None),
        &reg.name,
    );
    let v: Value = serde_json::from_slice(&body_bytes(r)).unwrap_or(Value::Null);
    Ok((
        v["access_token"].as_str().unwrap_or_default().to_string(),
        format!("managed identity {}", identity.principal_id),
        identity.principal_id,
    ))
}

/// Step 1 for a service-principal cluster: Basic client id and secret at the token endpoint.
fn sp_token(core: &Core, reg: &Registry, cluster: &Cluster, scope: &str) -> Result<Token, Refusal> {
    let Some(hash) = cluster.secret_sha256.clone() else {
        return Err(Verdict::new(
            Stage::Credentials,
            401,
            "the cluster holds no service principal secret".into(),
        ));
    };
    let client = cluster.service_principal_client_id.clone();
    match basic_token(core, reg, &client, &Secret::Sha256(&hash), &[scope]) {
        Ok((access, _, _)) => {
            let oid = core
                .state()
                .sp_in_tenant(&client, &reg.tenant_id)
                .map(|s| s.id.clone())
                .unwrap_or_default();
            Ok((access, format!("client id {client}"), oid))
        }
        Err(r) => {
            let (status, msg) = body_message(r);
            Err(Verdict::new(
                Stage::Credentials,
                status,
                format!(
                    "the registry refused the cluster's credentials (client id {client}): {msg}"
                ),
            ))
        }
    }
}

/// Whether `cluster_name` can pull `image` with the credentials it holds now: the truth
/// endpoint's status and answer (see [`verdict`]).
pub(crate) fn pull(core: &Core, cluster_name: &str, image: &str) -> (StatusCode, Value) {
    let v = verdict(core, cluster_name, image);
    (v.http, v.json())
}

/// Whether `cluster_name` can pull `image` with the credentials it holds now, over its own
/// network path: the kubelet's steps (the registry's firewall as the cluster's egress address
/// meets it, token, manifest, blobs), told in order.
pub(crate) fn verdict(core: &Core, cluster_name: &str, image: &str) -> Verdict {
    let (cluster, reg, repo, reference) = match target(core, cluster_name, image) {
        Ok(t) => t,
        Err(refusal) => return refusal,
    };
    // The nodes' traffic leaves from the cluster's egress address; without one they reach
    // the registry over a private path (a private endpoint) its firewall admits.
    if let Some(ip) = cluster.kube.egress_address()
        && !reg.network_rules.allows(ip)
    {
        let (status, msg) = body_message(crate::firewall::denied(ip));
        return Verdict::new(
            Stage::Network,
            status,
            format!("the registry's firewall denies the cluster's egress address {ip}: {msg}"),
        );
    }
    let scope = format!("repository:{repo}:pull");
    // Step 1: the registry token, as the kubelet's credential provider gets it.
    let step1 = match cluster.identity.clone() {
        Some(identity) => mi_token(core, &reg, identity, &scope),
        None => sp_token(core, &reg, &cluster, &scope),
    };
    let (bearer, who, oid) = match step1 {
        Ok(t) => t,
        Err(refusal) => return refusal,
    };
    // Step 2: the manifest, with that token.
    let path = format!("/v2/{repo}/manifests/{reference}");
    let r = handle(
        core,
        &synthetic(
            core,
            &reg,
            Method::GET,
            &path,
            "",
            String::new(),
            Some(format!("Bearer {bearer}")),
        ),
        &reg.name,
    );
    let status = r.status().as_u16();
    match status {
        200 => {
            let digest = r
                .headers()
                .get("docker-content-digest")
                .and_then(|d| d.to_str().ok())
                .map(str::to_owned);
            let manifest: Value = serde_json::from_slice(&body_bytes(r)).unwrap_or(Value::Null);
            match pull_blobs(core, &reg, &repo, &manifest, &bearer) {
                Ok(n) => Verdict {
                    digest,
                    ..Verdict::new(
                        Stage::Pulled,
                        200,
                        format!("pulled {image} as {who} (the manifest and {n} blobs)"),
                    )
                },
                Err((status, msg)) => Verdict::new(
                    Stage::Content,
                    status,
                    format!("the registry did not serve all of {image}: {msg}"),
                ),
            }
        }
        401 => {
            drop(r);
            Verdict::new(
                Stage::Authorization,
                401,
                format!(
                    "the registry token for {who} grants no pull on '{repo}': {}",
                    diagnose(core, &reg, &oid)
                ),
            )
        }
        _ => {
            let (status, msg) = body_message(r);
            Verdict::new(
                Stage::Manifest,
                status,
                format!("the image does not exist: {msg}"),
            )
        }
    }
}

/// Step 3 of a pull: every blob the manifest names, fetched with the same token and checked
/// against its digest and size, as a container runtime does. Returns how many were fetched.
pub(super) fn pull_blobs(
    core: &Core,
    reg: &Registry,
    repo: &str,
    manifest: &Value,
    bearer: &str,
) -> Result<usize, (u16, String)> {
    let descriptors: Vec<&Value> = std::iter::once(&manifest["config"])
        .chain(manifest["layers"].as_array().into_iter().flatten())
        .collect();
    for d in &descriptors {
        let digest = d["digest"].as_str().unwrap_or_default();
        let r = handle(
            core,
            &synthetic(
                core,
                reg,
                Method::GET,
                &format!("/v2/{repo}/blobs/{digest}"),
                "",
                String::new(),
                Some(format!("Bearer {bearer}")),
            ),
            &reg.name,
        );
        if r.status() != StatusCode::OK {
            let (status, msg) = body_message(r);
            return Err((status, format!("blob {digest}: {msg}")));
        }
        let bytes = body_bytes(r);
        let size_ok = d["size"].as_u64() == u64::try_from(bytes.len()).ok();
        if !size_ok || !crate::blobs::digest(&bytes).eq_ignore_ascii_case(digest) {
            return Err((200, format!("blob {digest}: its content does not match")));
        }
    }
    Ok(descriptors.len())
}

pub(super) fn synthetic(
    core: &Core,
    reg: &Registry,
    method: Method,
    path: &str,
    query: &str,
    body: String,
    auth: Option<String>,
) -> Req {
    let uri = if query.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{query}")
    };
    let mut b = axum::http::Request::builder()
        .method(method)
        .uri(uri)
        .header("host", core.login_server(&reg.name));
    if let Some(a) = auth {
        b = b.header("authorization", a);
    }
    if !body.is_empty() {
        b = b.header("content-type", "application/x-www-form-urlencoded");
    }
    let (parts, ()) = b
        .body(())
        .unwrap_or_else(|_| axum::http::Request::new(()))
        .into_parts();
    let mut req = Req::new(&parts, axum::body::Bytes::from(body));
    req.at = core.now();
    req
}
