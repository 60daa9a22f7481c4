//! The service-principal reset (`resetServicePrincipalProfile`): AKS's checks, the node image
//! upgrade it starts, and its async operation (`Azure-AsyncOperation` and `Location` URLs).

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::checks::check_sub;
use super::clusters::{aks_err, find_cluster};
use super::{R, json_object};
use crate::core::{Core, Principal};
use crate::crypto::{digest_eq, sha256_hex};
use crate::dates::fmt_ticks;
use crate::http::{Req, arm_err, empty, json, set_header, set_retry_after};
use crate::model::{Cluster, Operation, State};
use crate::nodes::node_count;

/// `POST .../managedClusters/{name}/resetServicePrincipalProfile`: AKS checks a reset in one
/// fixed order (permission, scope, cluster, body, credential), then starts the operation.
pub(super) fn reset(core: &Core, req: &Req, p: &Principal, state: &mut State, id: &str) -> R {
    let cluster = find_cluster(
        req,
        p,
        state,
        id,
        "Microsoft.ContainerService/managedClusters/resetServicePrincipalProfile/action",
    )?
    .clone();
    let body = json_object(req)?;
    let (client_id, secret) = reset_body(state, &cluster, &body)?;
    validate_sp_credentials(core, state, &cluster, &client_id, &secret)?;
    Ok(start_reset(core, state, &cluster, client_id, &secret))
}

/// The new client id and secret of a reset body, checked as AKS checks them.
fn reset_body(
    state: &State,
    cluster: &Cluster,
    body: &serde_json::Map<String, Value>,
) -> Result<(String, String), Response> {
    let client_id = body
        .get("clientId")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if client_id.is_empty() {
        return Err(aks_err(
            state,
            StatusCode::BAD_REQUEST,
            "InvalidParameter",
            "Required parameter servicePrincipalProfile.clientId is missing (null).",
        ));
    }
    if cluster.runs_as_msi() || cluster.identity.is_some() {
        return Err(aks_err(
            state,
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "This action cannot be performed on a cluster that is not using a service principal",
        ));
    }
    let busy = !matches!(
        cluster.provisioning_state.as_str(),
        "Succeeded" | "Failed" | "Canceled"
    );
    if busy || state.running_operation(&cluster.id).is_some() {
        let doing = if busy {
            cluster.provisioning_state.as_str()
        } else {
            "Updating"
        };
        return Err(aks_err(
            state,
            StatusCode::CONFLICT,
            "OperationNotAllowed",
            &format!(
                "Operation is not allowed: Another operation ({doing}) is in progress, please wait for it to finish before starting a new operation. See https://aka.ms/aks-pending-operation for more details"
            ),
        ));
    }
    let Some(secret) = body
        .get("secret")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    else {
        return Err(aks_err(
            state,
            StatusCode::BAD_REQUEST,
            "InvalidParameter",
            "Required parameter servicePrincipalProfile.secret is missing (null).",
        ));
    };
    if secret.len() > 190 {
        return Err(aks_err(
            state,
            StatusCode::BAD_REQUEST,
            "InvalidParameter",
            &format!(
                "The value of parameter servicePrincipalProfile.secret is invalid: the secret is {} bytes long; it must not be longer than 190 bytes.",
                secret.len()
            ),
        ));
    }
    Ok((client_id, secret.to_string()))
}

/// Record the reset's operation (its outcome taken from the fault plan), mark the cluster
/// `Updating` and answer 202 with the operation's URLs.
fn start_reset(
    core: &Core,
    state: &mut State,
    cluster: &Cluster,
    client_id: String,
    secret: &str,
) -> Response {
    let outcome = crate::faults::take_operation_outcome(&core.faults);
    let op_id = uuid::Uuid::new_v4().to_string();
    let loc = cluster.location.clone();
    let (final_status, fault_code, fault_message) = match &outcome {
        Some(o) => (o.status.clone(), o.code.clone(), o.message.clone()),
        None => ("Succeeded".to_string(), None, None),
    };
    let (error_code, error_message) =
        match final_status.as_str() {
            "Failed" => (
                Some(fault_code.unwrap_or_else(|| "InternalOperationError".into())),
                Some(fault_message.unwrap_or_else(|| {
                    "Resetting the service principal profile failed (injected by azure-sim).".into()
                })),
            ),
            "Canceled" => (
                Some(fault_code.unwrap_or_else(|| "OperationCanceled".into())),
                Some(fault_message.unwrap_or_else(|| {
                    "The operation was canceled (injected by azure-sim).".into()
                })),
            ),
            _ => (None, None),
        };
    state.operations.push(Operation {
        id: op_id.clone(),
        kind: crate::model::RESET.into(),
        new_tags: None,
        cluster_id: cluster.id.clone(),
        subscription_id: cluster.subscription_id.clone(),
        location: loc.clone(),
        started_at: core.now(),
        duration_ms: u64::try_from(reset_duration(core, cluster).as_millis()).unwrap_or(u64::MAX),
        outcome: final_status,
        error_code,
        error_message,
        new_client_id: client_id,
        new_secret_sha256: Some(sha256_hex(secret.as_bytes())),
        status: "InProgress".into(),
        ended_at: None,
    });
    if let Some(c) = state
        .clusters
        .iter_mut()
        .find(|c| c.id.eq_ignore_ascii_case(&cluster.id))
    {
        "Updating".clone_into(&mut c.provisioning_state);
        c.touch();
    }
    let mut r = empty(StatusCode::ACCEPTED);
    follow_me(&mut r, core, cluster, &op_id, reset_duration(core, cluster));
    r
}

/// Where AKS keeps the operations of a subscription's clusters in `location`.
fn operations_base(core: &Core, subscription: &str, location: &str) -> String {
    format!(
        "{}/subscriptions/{subscription}/providers/Microsoft.ContainerService/locations/{location}",
        core.cloud.arm_url()
    )
}

/// The headers of an accepted AKS operation: `Azure-AsyncOperation` and `Location` (AKS's
/// operation URLs, api-version 2016-03-30 as AKS gives them) and `Retry-After`.
pub(super) fn follow_me(
    r: &mut Response,
    core: &Core,
    cluster: &Cluster,
    op_id: &str,
    lasts: std::time::Duration,
) {
    let base = operations_base(core, &cluster.subscription_id, &cluster.location);
    set_header(
        r,
        "azure-asyncoperation",
        &format!("{base}/operations/{op_id}?api-version=2016-03-30"),
    );
    set_header(
        r,
        "location",
        &format!("{base}/operationresults/{op_id}?api-version=2016-03-30"),
    );
    set_retry_after(r, &core.clock, poll_interval(lasts.as_secs_f64(), false));
}

/// AKS checks the new credential before accepting a reset: the app's service principal in the
/// cluster's tenant must have replicated beyond Graph (a just-created one is "not found in
/// Active Directory tenant", aka.ms/aks-sp-help, MicrosoftDocs/azure-docs#4701), the secret
/// must be current and have propagated.
pub(super) fn validate_sp_credentials(
    core: &Core,
    state: &State,
    cluster: &Cluster,
    client_id: &str,
    secret: &str,
) -> Result<(), Response> {
    let not_found = || {
        aks_err(
            state,
            StatusCode::BAD_REQUEST,
            "ServicePrincipalValidationClientError",
            &format!(
                "Service principal clientID: {client_id} not found in Active Directory tenant {}, Please see https://aka.ms/aks-sp-help for more details.",
                cluster.tenant_id
            ),
        )
    };
    let app = state.app_by_app_id(client_id).ok_or_else(not_found)?;
    let t = core.now();
    core.sp_replicated(state, client_id, &cluster.tenant_id)
        .ok_or_else(not_found)?;
    let h = sha256_hex(secret.as_bytes());
    if !app.password_credentials.iter().any(|p| {
        digest_eq(&p.secret_sha256, &h) && p.usable(t, state.behaviour.secret_propagation())
    }) {
        return Err(aks_err(
            state,
            StatusCode::BAD_REQUEST,
            "ServicePrincipalValidationClientError",
            &format!(
                "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{client_id}'."
            ),
        ));
    }
    Ok(())
}

/// Seconds of Azure's time to wait before polling again: at least 1, at most the time left,
/// capped at 10.
fn poll_interval(remaining_secs: f64, hang: bool) -> u64 {
    if hang {
        return 5;
    }
    (remaining_secs.floor() as u64).clamp(1, 10)
}

pub(crate) fn operation(core: &Core, p: &Principal, sub: &str, op_id: &str, result: bool) -> R {
    let state = core.state();
    check_sub(&state, p, sub)?;
    let op = state
        .operations
        .iter()
        .find(|o| o.id.eq_ignore_ascii_case(op_id) && o.subscription_id.eq_ignore_ascii_case(sub))
        .ok_or_else(|| {
            arm_err(
                StatusCode::NOT_FOUND,
                "NotFound",
                &format!("The operation '{op_id}' could not be found."),
            )
        })?;
    let error = || json!({"code": op.error_code, "message": op.error_message});
    if result {
        return Ok(match op.status.as_str() {
            "InProgress" => {
                let mut r = empty(StatusCode::ACCEPTED);
                let base = operations_base(core, &op.subscription_id, &op.location);
                set_header(
                    &mut r,
                    "location",
                    &format!("{base}/operationresults/{}?api-version=2016-03-30", op.id),
                );
                set_retry_after(&mut r, &core.clock, remaining(core, op));
                r
            }
            "Succeeded" => empty(StatusCode::NO_CONTENT),
            "Canceled" => json(StatusCode::CONFLICT, &json!({"error": error()})),
            _ => json(StatusCode::BAD_REQUEST, &json!({"error": error()})),
        });
    }
    let mut v = json!({
        "name": op.id,
        "status": op.status,
        "startTime": fmt_ticks(op.started_at),
    });
    if let Some(e) = op.ended_at {
        v["endTime"] = json!(fmt_ticks(e));
    }
    if op.status == "Failed" || op.status == "Canceled" {
        v["error"] = error();
    }
    let mut r = json(StatusCode::OK, &v);
    if op.status == "InProgress" {
        set_retry_after(&mut r, &core.clock, remaining(core, op));
    }
    Ok(r)
}

/// The poll interval while `op` runs (Azure's seconds).
fn remaining(core: &Core, op: &Operation) -> u64 {
    let ends = op.started_at.saturating_add(time::Duration::milliseconds(
        i64::try_from(op.duration_ms).unwrap_or(i64::MAX),
    ));
    poll_interval((ends - core.now()).as_seconds_f64(), op.outcome == "Hang")
}

/// How long a reset of `cluster` runs, in Azure's time: the configured fixed duration, else
/// its nodes one after the other.
fn reset_duration(core: &Core, cluster: &Cluster) -> std::time::Duration {
    core.lro_duration.unwrap_or_else(|| {
        core.node_reimage_time
            .saturating_mul(node_count(&cluster.agent_pools))
    })
}
