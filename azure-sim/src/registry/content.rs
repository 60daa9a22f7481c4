//! Repository content: manifests (Docker v2 or OCI by `Accept`), blobs, tag lists.

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::Response;
use serde_json::json;

use crate::blobs::{DOCKER_V2, OCI_V1};
use crate::core::Core;
use crate::crypto::sha256_hex;
use crate::http::{Req, json_with, registry_err, set_header, with_caller};
use crate::model::Registry;

use super::token::pull_caller;

pub(super) fn pick_media(headers: &HeaderMap) -> &'static str {
    let accept: String = headers
        .get_all("accept")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    if accept.contains(OCI_V1) && !accept.contains(DOCKER_V2) {
        OCI_V1
    } else {
        DOCKER_V2
    }
}

pub(super) fn manifest(
    core: &Core,
    req: &Req,
    reg: &Registry,
    repo: &str,
    reference: &str,
) -> Response {
    let app_id = match pull_caller(core, req, reg, repo) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let media = pick_media(&req.headers);
    let state = core.state();
    let current = state
        .registries
        .iter()
        .find(|r| r.id == reg.id)
        .cloned()
        .unwrap_or_else(|| reg.clone());
    drop(state);
    let Some(tags) = current.images.get(repo) else {
        return with_caller(
            registry_err(
                StatusCode::NOT_FOUND,
                "NAME_UNKNOWN",
                "repository name not known to registry",
                json!({"name": repo}),
            ),
            &app_id,
            &reg.tenant_id,
        );
    };
    let found = tags.iter().find_map(|t| {
        let bytes = crate::blobs::manifest(reg, repo, t, media);
        let digest = format!("sha256:{}", sha256_hex(&bytes));
        (t == reference || digest == reference).then_some((bytes, digest))
    });
    let Some((bytes, digest)) = found else {
        let detail = if reference.starts_with("sha256:") {
            json!({"Digest": reference})
        } else {
            json!({"Tag": reference})
        };
        return with_caller(
            registry_err(
                StatusCode::NOT_FOUND,
                "MANIFEST_UNKNOWN",
                &format!("manifest tagged by \"{reference}\" is not found"),
                detail,
            ),
            &app_id,
            &reg.tenant_id,
        );
    };
    let mut r = Response::new(axum::body::Body::from(bytes.clone()));
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static(media));
    set_header(&mut r, "docker-content-digest", &digest);
    set_header(&mut r, "etag", &format!("\"{digest}\""));
    if req.method == Method::HEAD {
        set_header(&mut r, "content-length", &bytes.len().to_string());
    }
    with_caller(r, &app_id, &reg.tenant_id)
}

/// `GET`/`HEAD /v2/<repo>/blobs/<digest>`: an image's config or layer, with the same pull
/// permission as its manifest.
pub(super) fn blob(core: &Core, req: &Req, reg: &Registry, repo: &str, digest: &str) -> Response {
    let app_id = match pull_caller(core, req, reg, repo) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let tags = core
        .state()
        .registries
        .iter()
        .find(|r| r.id == reg.id)
        .and_then(|r| r.images.get(repo).cloned())
        .unwrap_or_default();
    let Some(bytes) = crate::blobs::find(reg, repo, &tags, digest) else {
        return with_caller(
            registry_err(
                StatusCode::NOT_FOUND,
                "BLOB_UNKNOWN",
                "blob unknown to registry",
                json!(digest),
            ),
            &app_id,
            &reg.tenant_id,
        );
    };
    let len = bytes.len();
    let mut r = Response::new(axum::body::Body::from(bytes));
    r.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/octet-stream"),
    );
    set_header(&mut r, "docker-content-digest", digest);
    set_header(&mut r, "content-length", &len.to_string());
    with_caller(r, &app_id, &reg.tenant_id)
}

pub(super) fn tags(core: &Core, req: &Req, reg: &Registry, repo: &str) -> Response {
    let app_id = match pull_caller(core, req, reg, repo) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let state = core.state();
    let tags = state
        .registries
        .iter()
        .find(|r| r.id == reg.id)
        .and_then(|r| r.images.get(repo).cloned());
    drop(state);
    let r = match tags {
        Some(t) => json_with(
            StatusCode::OK,
            &json!({"name": repo, "tags": t}),
            "application/json; charset=utf-8",
        ),
        None => registry_err(
            StatusCode::NOT_FOUND,
            "NAME_UNKNOWN",
            "repository name not known to registry",
            json!({"name": repo}),
        ),
    };
    with_caller(r, &app_id, &reg.tenant_id)
}
