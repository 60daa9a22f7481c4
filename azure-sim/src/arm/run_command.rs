//! AKS run command: `POST …/managedClusters/{name}/runCommand` and `GET
//! …/managedClusters/{name}/commandResults/{commandId}`.
//!
//! Sources: the AKS REST reference "Managed Clusters - Run Command" and "Get Command Result"
//! and the spec examples `RunCommandRequest.json`, `RunCommandResultSucceed.json`,
//! `RunCommandResultFailed.json` (azure-rest-api-specs, `aks/stable/2025-10-01`; copied into
//! `tests/fixtures/recordings/`): a body `{"command", "context", "clusterToken"}`, 202 with a
//! `location` of the command's result, which answers 202 while the command runs and then 200
//! `{"id", "properties": {"provisioningState", "exitCode", "startedAt", "finishedAt", "logs"}}`
//! (or `"provisioningState": "failed"` with a `reason`). The rights (`runCommand/action`,
//! `commandResults/read`) are those of the AKS article "Access a private AKS cluster using the
//! command invoke or Run command feature"; `apiServerAccessProfile.disableRunCommand` turns it
//! off; Azure CLI `aks_runcommand` sends a `clusterToken` for the AKS AAD server application on
//! clusters with AKS-managed Entra integration. The refusals of a disabled cluster and of a
//! cluster without local accounts and without a token are not documented word for word: their
//! codes and messages are the simulator's.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use axum::response::Response;
use base64::Engine as _;
use serde_json::{Value, json};

use super::checks::{check_sub, resource_not_found};
use super::clusters::{aks_err, find_cluster};
use super::{R, json_object, not_allowed};
use crate::core::{Core, Principal, audience_in};
use crate::dates::fmt_secs;
use crate::http::{Req, empty, json, set_header};
use crate::kube::{AKS_SERVER_APP, Command, Identity, MAX_COMMANDS, run_script};
use crate::model::{Cluster, State};

/// How long after it was submitted a command's result is ready, besides its own time, in
/// Azure's time: a real command takes seconds more (AKS starts a pod that runs it).
const RUN_COMMAND_TAKES: Duration = Duration::from_secs(6);

/// The cluster's id from a `…/managedClusters/{name}/…` path.
fn cluster_id(req: &Req) -> String {
    format!("/{}", req.segs[..8].join("/"))
}

/// Serves the two run command paths.
pub(super) fn handle(core: &Core, req: &Req, p: &Principal) -> R {
    let segs: Vec<String> = req.segs.iter().map(|s| s.to_ascii_lowercase()).collect();
    match (segs.len(), segs[8].as_str(), &req.method) {
        (9, "runcommand", &Method::POST) => submit(core, req, p),
        (10, "commandresults", &Method::GET) => result(core, req, p, &req.segs[9]),
        (9 | 10, _, _) => Err(not_allowed(req)),
        _ => Err(resource_not_found(
            &req.segs[5],
            &[&req.segs[6], &req.segs[7]],
            &req.segs[3],
        )),
    }
}

/// The checks both paths pass, in ARM's order: subscription, the right, the resource group,
/// the cluster.
fn find<'s>(
    req: &Req,
    p: &Principal,
    state: &'s State,
    action: &str,
) -> Result<&'s Cluster, Response> {
    check_sub(state, p, &req.segs[1])?;
    find_cluster(req, p, state, &cluster_id(req), action)
}

/// `POST …/runCommand`: checks, then the command runs (in the cluster's own time) and its
/// result is ready [`RUN_COMMAND_TAKES`] later.
fn submit(core: &Core, req: &Req, p: &Principal) -> R {
    let (cluster, identity, script) = {
        let state = core.state();
        let cluster = find(
            req,
            p,
            &state,
            "Microsoft.ContainerService/managedClusters/runCommand/action",
        )?
        .clone();
        let (script, token) = read_body(&state, req)?;
        let identity = who(core, &state, &cluster, &token)?;
        (cluster, identity, script)
    };
    // The script runs with the state unlocked: its kubectl and kubelet take the lock.
    let started = core.now();
    let outcome = run_script(core, &cluster.id, identity, &script);
    let id = uuid::Uuid::new_v4().simple().to_string();
    let command = Command {
        id: id.clone(),
        started_at: started,
        finished_at: started
            + time::Duration::try_from(RUN_COMMAND_TAKES + Duration::from_millis(outcome.took_ms))
                .unwrap_or(time::Duration::ZERO),
        provisioning_state: "Succeeded".into(),
        exit_code: outcome.exit_code,
        logs: outcome.logs,
        reason: None,
    };
    {
        let mut state = core.state();
        let Some(c) = state
            .clusters
            .iter_mut()
            .find(|c| c.id.eq_ignore_ascii_case(&cluster.id))
        else {
            return Err(resource_not_found(
                &req.segs[5],
                &[&req.segs[6], &req.segs[7]],
                &req.segs[3],
            ));
        };
        c.kube.commands.push(command);
        let extra = c.kube.commands.len().saturating_sub(MAX_COMMANDS);
        c.kube.commands.drain(..extra);
    }
    let mut r = empty(StatusCode::ACCEPTED);
    set_header(&mut r, "location", &result_url(core, req, &id));
    Ok(r)
}

/// The body's `command` and `clusterToken` (empty when absent), `context` checked.
fn read_body(state: &State, req: &Req) -> Result<(String, String), Response> {
    let body = json_object(req)?;
    let bad = |m: &str| aks_err(state, StatusCode::BAD_REQUEST, "InvalidParameter", m);
    let text = |name: &str| match body.get(name) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(t)) => Ok(t.clone()),
        Some(_) => Err(bad(&format!(
            "The value of parameter {name} is invalid: it must be a string."
        ))),
    };
    let script = text("command")?;
    if script.trim().is_empty() {
        return Err(bad("Required parameter command is missing (null)."));
    }
    let context: String = text("context")?
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    if base64::engine::general_purpose::STANDARD
        .decode(context.as_bytes())
        .is_err()
    {
        return Err(bad(
            "The value of parameter context is invalid: it must be a base64 encoded zip file.",
        ));
    }
    Ok((script, text("clusterToken")?.trim().to_owned()))
}

/// Who the command's `kubectl` acts as; a cluster that takes no command refuses here.
fn who(core: &Core, state: &State, cluster: &Cluster, token: &str) -> Result<Identity, Response> {
    if cluster.kube.disable_run_command {
        return Err(aks_err(
            state,
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "Run command is disabled for this cluster (apiServerAccessProfile.disableRunCommand is true). Enable it, or run the command from a machine that reaches the cluster's API server.",
        ));
    }
    if !token.is_empty() {
        // The API server checks the token: one it refuses fails every kubectl call.
        return Ok(
            match core.verify_entra_token(token, &|a| audience_in(a, &[AKS_SERVER_APP])) {
                Ok(p) if p.tenant_id.eq_ignore_ascii_case(&cluster.tenant_id) => Identity::User,
                _ => Identity::Unauthorized,
            },
        );
    }
    if cluster.kube.disable_local_accounts {
        return Err(aks_err(
            state,
            StatusCode::BAD_REQUEST,
            "BadRequest",
            &format!(
                "Local accounts are disabled on this cluster: run command needs a clusterToken, a Microsoft Entra token for the AKS AAD server application {AKS_SERVER_APP}."
            ),
        ));
    }
    Ok(Identity::Admin)
}

/// Where a command's result is read (the request's own api-version).
fn result_url(core: &Core, req: &Req, id: &str) -> String {
    format!(
        "{}{}/commandResults/{id}?api-version={}",
        core.cloud.arm_url(),
        cluster_id(req),
        req.q("api-version").unwrap_or_default()
    )
}

/// `GET …/commandResults/{id}`: 202 while the command runs, then its result.
fn result(core: &Core, req: &Req, p: &Principal, id: &str) -> R {
    let state = core.state();
    let cluster = find(
        req,
        p,
        &state,
        "Microsoft.ContainerService/managedClusters/commandResults/read",
    )?;
    let c = cluster
        .kube
        .commands
        .iter()
        .find(|c| c.id.eq_ignore_ascii_case(id))
        .ok_or_else(|| {
            aks_err(
                &state,
                StatusCode::NOT_FOUND,
                "NotFound",
                &format!("The command result {id} was not found."),
            )
        })?;
    if core.now() < c.finished_at {
        let mut r = json(
            StatusCode::ACCEPTED,
            &json!({"id": c.id, "properties": {"provisioningState": "Running", "startedAt": fmt_secs(c.started_at)}}),
        );
        set_header(&mut r, "location", &result_url(core, req, &c.id));
        return Ok(r);
    }
    let mut props = json!({
        "provisioningState": c.provisioning_state,
        "startedAt": fmt_secs(c.started_at),
        "finishedAt": fmt_secs(c.finished_at),
    });
    if c.provisioning_state == "Succeeded" {
        props["exitCode"] = json!(c.exit_code);
        props["logs"] = json!(c.logs);
    } else {
        props["reason"] = json!(c.reason);
    }
    Ok(json(
        StatusCode::OK,
        &json!({"id": c.id, "properties": props}),
    ))
}
