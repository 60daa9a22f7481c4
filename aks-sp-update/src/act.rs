//! The step: checks, the reset, following it, and reading the cluster back.

use common::driver::{Ctx, Done, Failed, Fields};
use common::envelope::{Change, Envelope, fields};
use common::http::{Api, Sent};
use common::wait::{Poll, follow_operation, human, operation_url, poll_until};
use common::{Error, ErrorKind, Result, Secret, ui};
use reqwest::Method;
use serde_json::json;
use url::Url;

use crate::cluster::{self, Cluster, in_progress};
use crate::early;
use crate::inputs::Inputs;
use crate::{AKS_API, pull, roles};
use common::error::codes;

/// The fields step 4 writes.
#[derive(Debug, Clone, Default)]
pub struct Output {
    /// The cluster's state after the reset (none in a dry run).
    pub cluster_provisioning_state: Option<String>,
    /// The reset's operation, gone once the reset is confirmed.
    pub cluster_operation_url: Change<String>,
    /// When the new credential's pull was checked, if it was.
    pub pull_verified_at: Change<String>,
    /// The proof of that check.
    pub pull_proof: Change<String>,
}

impl Fields for Output {
    fn write_to(&self, object: &mut Envelope) {
        object.change(&fields::PULL_VERIFIED_AT, &self.pull_verified_at);
        object.change(&fields::PULL_PROOF, &self.pull_proof);
        if let Some(s) = &self.cluster_provisioning_state {
            object.set(fields::CLUSTER_PROVISIONING_STATE.name, s);
        }
        object.change(&fields::CLUSTER_OPERATION_URL, &self.cluster_operation_url);
    }
}

/// What a failed run leaves for its rerun: the reset's operation while it may still run
/// (a rerun follows it instead of posting again), or its removal when a rerun must post again.
#[derive(Debug, Clone, Default)]
pub struct Partial {
    /// The reset's operation URL.
    pub cluster_operation_url: Change<String>,
}

impl Fields for Partial {
    fn write_to(&self, object: &mut Envelope) {
        object.change(&fields::CLUSTER_OPERATION_URL, &self.cluster_operation_url);
    }
}

type Fail = Failed<Partial>;

/// A failure a rerun resumes from `operation` (`None`: the rerun posts the reset again).
fn resumable(e: Error, operation: Option<&Url>) -> Fail {
    Failed::with(
        e,
        Partial {
            cluster_operation_url: operation.map_or(Change::Remove, |u| Change::Set(u.to_string())),
        },
    )
}

/// Runs the step on one validated object.
pub(crate) async fn run(inputs: &Inputs, ctx: &Ctx) -> Result<Done<Output>, Fail> {
    let arm = ctx.arm(&inputs.tenant);
    let name = &inputs.cluster.name;
    let cluster = early::cluster(ctx, &arm, inputs).await?;
    if let Some(why) = cluster.managed_identity() {
        return Err(Error::step(
            "ManagedIdentityCluster",
            format!(
                "cluster {name} cannot pull across tenants: {why}. A managed identity cannot authenticate to a registry in another \
                 Microsoft Entra tenant; only a cluster that authenticates with a service principal can use the multitenant app"
            ),
        )
        .with_hint("the cluster must use a service principal: use a service-principal cluster (az aks create --service-principal …) for pulls from another tenant; nothing was changed").into());
    }

    if let Some(op) = &inputs.operation {
        return resume(inputs, &arm, &cluster, op).await;
    }

    // A reset posted by a run killed before it wrote cluster_operation_url (or anyone's
    // operation) is waited out first: then the cluster may already run as the app.
    let cluster = settle(&arm, inputs, cluster).await?;
    if cluster.uses(&inputs.app_id) && !inputs.force {
        return Ok(already(inputs, &cluster));
    }

    let (secret, (pull_verified_at, pull_proof)) = pull::new_credential(inputs, ctx).await?;

    let old_app = cluster.client_id.clone().unwrap_or_default();
    let roles = if inputs.replaces(&old_app) {
        roles::compare(ctx, inputs, &old_app).await?
    } else {
        roles::Outcome::default()
    };

    let sent = match post_reset(&arm, inputs, &secret).await? {
        Posted::Sent(s) => s,
        Posted::Already(now) => return Ok(already(inputs, &now)),
    };
    let Sent::Done(r) = sent else {
        return Ok(Done {
            output: Output {
                pull_verified_at,
                pull_proof,
                ..Output::default()
            },
            changed: true,
            summary: format!("would reset cluster {name} to app {}", inputs.app_id),
        });
    };
    ui::info(&format!(
        "posted the reset of cluster {name} to app {}",
        inputs.app_id
    ));
    let op = if r.status == 200 {
        None
    } else {
        operation_url(&r)
    };
    if let Some(op) = &op {
        if inputs.detach {
            return Err(still_running(inputs, op, "--detach: not followed"));
        }
        follow(&arm, inputs, op).await?;
    } else if r.status != 200 {
        // Accepted without an operation URL: watch the cluster itself.
        wait_for_cluster(&arm, inputs).await?;
    }
    let done = confirm(&arm, inputs, op.as_ref()).await?;
    let copied = match (roles.copied, roles.gaps.len()) {
        (0, 0) => String::new(),
        (0, n) => format!("; {n} role assignment(s) of the old service principal not copied"),
        (c, _) => format!("; {c} role assignment(s) copied to the new service principal"),
    };
    Ok(Done {
        output: Output {
            cluster_provisioning_state: Some(done.provisioning_state.clone()),
            cluster_operation_url: Change::Remove,
            pull_verified_at,
            pull_proof,
        },
        changed: true,
        summary: format!(
            "cluster {name} now uses app {} (state {}){copied}",
            inputs.app_id, done.provisioning_state
        ),
    })
}

/// What posting the reset came to.
enum Posted {
    /// The answer (or, in a dry run, its report).
    Sent(Sent),
    /// While it was busy, another operation made the cluster run as the app already.
    Already(Cluster),
}

/// Posts the reset. A cluster busy with another operation answers 409 `OperationNotAllowed`
/// ("Another operation (Updating) is in progress", also when its `provisioningState` does
/// not show it yet): that is waited out, within --timeout and with progress saying why, and
/// the reset posted again — unless the operation it waited for made the cluster run as the app.
async fn post_reset(arm: &Api<'_>, inputs: &Inputs, secret: &Secret) -> Result<Posted> {
    let name = &inputs.cluster.name;
    let body = json!({"clientId": inputs.app_id, "secret": secret.expose()});
    let post = |v: String| {
        let body = body.clone();
        async move {
            let url = arm.url(&format!(
                "{}/resetServicePrincipalProfile?api-version={v}",
                inputs.cluster.id()
            ))?;
            // A POST: never resent after an unknown outcome (the transport retries only 429 and 503).
            arm.write(arm.request(Method::POST, url).json(body)).await
        }
    };
    let busy = |e: &Error| e.status() == Some(409) && e.is_code("OperationNotAllowed");
    match arm.with_api_version(&AKS_API, &post).await {
        Ok(sent) => return Ok(Posted::Sent(sent)),
        Err(e) if busy(&e) => ui::info(&format!(
            "cluster {name} is busy, Azure refused the reset for now: {}",
            e.message()
        )),
        Err(e) => return Err(outcome_unknown_hint(e, name)),
    }
    let label = format!("waiting for the operation running on cluster {name} to end");
    // A failure of a later POST (e.g. its answer lost at --timeout) is reported as itself,
    // not as the busy cluster: it may have started the reset.
    let failed: std::cell::RefCell<Option<Error>> = std::cell::RefCell::new(None);
    let result = poll_until(&label, arm.deadline(), || {
        let (post, failed) = (&post, &failed);
        async move {
            // The cluster is read before posting again: a busy cluster is not posted to, and
            // one that the awaited operation moved to the app is left alone.
            let now = cluster::get(arm, &inputs.cluster).await?;
            if in_progress(&now.provisioning_state) {
                return Ok(Poll::Pending(
                    format!("another operation is in progress (cluster {})", now.provisioning_state),
                    None,
                ));
            }
            if now.uses(&inputs.app_id) && !inputs.force {
                return Ok(Poll::Ready(Posted::Already(now)));
            }
            match arm.with_api_version(&AKS_API, post).await {
                Ok(sent) => Ok(Poll::Ready(Posted::Sent(sent))),
                Err(e) if busy(&e) => Ok(Poll::Pending(
                    "Azure refuses the reset: another operation is in progress (OperationNotAllowed)".into(),
                    None,
                )),
                Err(e) => {
                    *failed.borrow_mut() = Some(e.clone());
                    Err(e)
                }
            }
        }
    })
    .await;
    if let Some(e) = failed.take() {
        return Err(outcome_unknown_hint(e, name));
    }
    result.map_err(|e| {
        if e.is_timeout() {
            Error::step(codes::CLUSTER_BUSY.name, e.message()).with_hint(format!(
                "another operation kept running on cluster {name} (OperationNotAllowed); nothing was changed: rerun when it has ended"
            ))
        } else {
            e
        }
    })
}

/// A reset whose answer never came (it may run now): what the rerun of the same command does.
fn outcome_unknown_hint(e: Error, name: &str) -> Error {
    if e.is_outcome_unknown() {
        e.with_hint(format!(
            "the rerun of the same command reads cluster {name}: it waits for the reset running on it and then finds \
             the cluster on the app, or posts the reset if it never arrived"
        ))
    } else {
        e
    }
}

/// The output for a cluster that already runs as the app.
fn already(inputs: &Inputs, cluster: &Cluster) -> Done<Output> {
    Done {
        output: Output {
            cluster_provisioning_state: Some(cluster.provisioning_state.clone()),
            ..Output::default()
        },
        changed: false,
        summary: format!(
            "cluster {} already uses app {} (state {}): nothing to do; --force resets it anyway",
            inputs.cluster.name, inputs.app_id, cluster.provisioning_state
        ),
    }
}

/// Waits until no operation runs on the cluster (up to --timeout); the cluster as it is then.
async fn settle(arm: &Api<'_>, inputs: &Inputs, cluster: Cluster) -> Result<Cluster> {
    if !in_progress(&cluster.provisioning_state) {
        return Ok(cluster);
    }
    let name = &inputs.cluster.name;
    ui::info(&format!(
        "cluster {name} is {}: an operation is running on it (perhaps a reset an interrupted run posted); waiting for it to end",
        cluster.provisioning_state
    ));
    let label = format!("waiting for the running operation on cluster {name}");
    poll_until(&label, arm.deadline(), || async {
        let c = cluster::get(arm, &inputs.cluster).await?;
        Ok(if in_progress(&c.provisioning_state) {
            Poll::Pending(c.provisioning_state, None)
        } else {
            Poll::Ready(c)
        })
    })
    .await
    .map_err(|e| {
        if e.is_timeout() {
            Error::step("ClusterBusy", e.message()).with_hint(format!(
                "another operation is running on cluster {name}; nothing was changed: rerun when it has ended"
            ))
        } else {
            e
        }
    })
}

/// Resumes an operation an earlier run posted, instead of posting again.
async fn resume(
    inputs: &Inputs,
    arm: &Api<'_>,
    cluster: &Cluster,
    op: &Url,
) -> Result<Done<Output>, Fail> {
    let name = &inputs.cluster.name;
    ui::info(&format!(
        "resuming the reset of cluster {name} from cluster_operation_url"
    ));
    match follow(arm, inputs, op).await {
        Ok(()) => {}
        // Operations expire: a cluster that already runs as the app is what the operation was for.
        Err(f) if f.error.status() == Some(404) && cluster.uses(&inputs.app_id) => {
            ui::debug(&format!(
                "the operation is gone ({}); the cluster already uses the app",
                f.error.code()
            ));
        }
        Err(f) => return Err(f),
    }
    let done = confirm(arm, inputs, Some(op)).await?;
    Ok(Done {
        output: Output {
            cluster_provisioning_state: Some(done.provisioning_state.clone()),
            cluster_operation_url: Change::Remove,
            pull_verified_at: Change::Keep,
            pull_proof: Change::Keep,
        },
        changed: false,
        summary: format!(
            "the reset of cluster {name} to app {} finished (state {})",
            inputs.app_id, done.provisioning_state
        ),
    })
}

/// Follows the operation; its failures say whether a rerun should resume it.
async fn follow(arm: &Api<'_>, inputs: &Inputs, op: &Url) -> Result<(), Fail> {
    let label = format!(
        "resetting the service principal of cluster {}",
        inputs.cluster.name
    );
    match follow_operation(arm, op, &label).await {
        Ok(_) => Ok(()),
        Err(e) => Err(match e.kind() {
            ErrorKind::Timeout => still_running(inputs, op, &format!("not finished after --timeout {}", human(arm.deadline().timeout()))),
            // The operation ended Failed or Canceled: Azure's code; a rerun posts again.
            ErrorKind::OperationFailed => resumable(e.context(format!("the reset of cluster {}", inputs.cluster.name)), None),
            ErrorKind::Http { status: 404 } => resumable(
                e.context("the reset's operation is unknown").with_hint("operations expire; a rerun reads the cluster and posts the reset again if needed"),
                None,
            ),
            _ => resumable(e, Some(op)),
        }),
    }
}

/// Waits for the cluster to leave its in-progress state (a reset accepted without an operation URL).
async fn wait_for_cluster(arm: &Api<'_>, inputs: &Inputs) -> Result<()> {
    let label = format!(
        "resetting the service principal of cluster {}",
        inputs.cluster.name
    );
    poll_until(&label, arm.deadline(), || async {
        let c = cluster::get(arm, &inputs.cluster).await?;
        Ok(if in_progress(&c.provisioning_state) {
            Poll::Pending(c.provisioning_state, None)
        } else {
            Poll::Ready(())
        })
    })
    .await
    .map_err(|e| {
        if e.is_timeout() {
            Error::new(ErrorKind::Timeout, "OperationStillRunning", e.message())
        } else {
            e
        }
    })
}

/// Reads the cluster back: it must run as the app, and be Succeeded.
async fn confirm(arm: &Api<'_>, inputs: &Inputs, op: Option<&Url>) -> Result<Cluster, Fail> {
    let c = cluster::get(arm, &inputs.cluster)
        .await
        .map_err(|e| resumable(e, op))?;
    if !c.uses(&inputs.app_id) || !c.provisioning_state.eq_ignore_ascii_case("Succeeded") {
        let now_uses = c.client_id.as_deref().unwrap_or("no service principal");
        return Err(resumable(
            Error::step(
                "ResetNotApplied",
                format!(
                    "after the reset, cluster {} uses {now_uses} in state {} (expected app {} in state Succeeded)",
                    inputs.cluster.name, c.provisioning_state, inputs.app_id
                ),
            )
            .with_hint("check the cluster's activity log; a rerun posts the reset again"),
            None,
        ));
    }
    Ok(c)
}

/// The error of a reset left running: the object keeps the URL, and a rerun resumes.
fn still_running(inputs: &Inputs, op: &Url, why: &str) -> Fail {
    resumable(
        Error::step("OperationStillRunning", format!("the reset of cluster {} is still running ({why})", inputs.cluster.name))
            .with_hint("rerun aks-sp-update on this object: it follows cluster_operation_url instead of posting again"),
        Some(op),
    )
}
