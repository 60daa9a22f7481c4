//! The step: checks, the reset, following it, and reading the cluster back.

use common::driver::{Ctx, Done};
use common::envelope::{Envelope, fields};
use common::http::{Api, Sent};
use std::time::Duration;

use common::registry::{Denied, PullAs, PullCheck, wait_for_pull};
use common::validate::is_guid;
use common::wait::{Poll, follow_operation, human, now_rfc3339, operation_url, poll_until};
use common::{Error, ErrorKind, Result, ui};
use reqwest::Method;
use serde_json::json;
use url::Url;

use crate::cluster::{self, Cluster};
use crate::{AKS_API, Cli, Inputs, PullTarget, roles};

/// Runs the step on one validated object.
pub(crate) async fn run(cli: &Cli, mut env: Envelope, inputs: &Inputs, ctx: &Ctx) -> Result<Done> {
    let arm = ctx.arm(&inputs.tenant);
    let name = &inputs.cluster.name;
    let cluster = cluster::get(&arm, &inputs.cluster).await?;
    if let Some(why) = cluster.managed_identity() {
        return Err(Error::step(
            "ManagedIdentityCluster",
            format!(
                "cluster {name} cannot pull across tenants: {why}. A managed identity cannot authenticate to a registry in another \
                 Microsoft Entra tenant; only a cluster that authenticates with a service principal can use the multitenant app"
            ),
        )
        .with_hint("the cluster must use a service principal: use a service-principal cluster (az aks create --service-principal …) for pulls from another tenant; nothing was changed"));
    }

    if let Some(op) = &inputs.operation {
        return resume(env, inputs, &arm, &cluster, op).await;
    }

    // A reset posted by a run killed before it wrote cluster_operation_url (or anyone's
    // operation) is waited out first: then the cluster may already run as the app.
    let cluster = settle(&arm, inputs, cluster).await?;
    if cluster.uses(&inputs.app_id) && !cli.force {
        return Ok(already(env, inputs, &cluster));
    }

    check_new_credential(cli, &mut env, inputs, ctx).await?;

    let old_app = cluster.client_id.clone().unwrap_or_default();
    let roles = if is_guid(&old_app) && !old_app.eq_ignore_ascii_case(&inputs.app_id) {
        roles::compare(ctx, inputs, &old_app, cli.copy_role_assignments, cli.force).await?
    } else {
        roles::Outcome::default()
    };

    let url = arm.url(&format!(
        "{}/resetServicePrincipalProfile?api-version={AKS_API}",
        inputs.cluster.id()
    ))?;
    let body = json!({"clientId": inputs.app_id, "secret": inputs.secret.expose()});
    // A POST: never resent after an unknown outcome (the transport retries only 429 and 503).
    let post = arm.request(Method::POST, url).json(body);
    let sent = match arm.write(post.clone()).await {
        // An operation started between our read and our POST (409 until it ends): wait it
        // out; if it was a reset to this app, nothing is left to do, else post once more.
        Err(e) if e.status() == Some(409) && e.is_code("OperationNotAllowed") => {
            let now = cluster::get(&arm, &inputs.cluster).await?;
            let now = settle(&arm, inputs, now).await?;
            if now.uses(&inputs.app_id) && !cli.force {
                return Ok(already(env, inputs, &now));
            }
            arm.write(post).await?
        }
        other => other?,
    };
    let Sent::Done(r) = sent else {
        return Ok(Done {
            envelope: env,
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
        env.set(fields::CLUSTER_OPERATION_URL.name, op.as_str());
        if cli.detach {
            return Err(still_running(inputs, op, "--detach: not followed"));
        }
        follow(&arm, inputs, op).await?;
    } else if r.status != 200 {
        // Accepted without an operation URL: watch the cluster itself.
        wait_for_cluster(&arm, inputs).await?;
    }
    let done = confirm(&arm, inputs, &mut env, op.as_ref()).await?;
    let copied = match (roles.copied, roles.gaps.len()) {
        (0, 0) => String::new(),
        (0, n) => format!("; {n} role assignment(s) of the old service principal not copied"),
        (c, _) => format!("; {c} role assignment(s) copied to the new service principal"),
    };
    Ok(Done {
        envelope: env,
        changed: true,
        summary: format!(
            "cluster {name} now uses app {} (state {}){copied}",
            inputs.app_id, done.provisioning_state
        ),
    })
}

/// The object of a cluster that already runs as the app.
fn already(mut env: Envelope, inputs: &Inputs, cluster: &Cluster) -> Done {
    env.set(
        fields::CLUSTER_PROVISIONING_STATE.name,
        &cluster.provisioning_state,
    );
    Done {
        envelope: env,
        changed: false,
        summary: format!(
            "cluster {} already uses app {} (state {}): nothing to do; --force resets it anyway",
            inputs.cluster.name, inputs.app_id, cluster.provisioning_state
        ),
    }
}

/// Whether a provisioning state says an operation is still running on the cluster.
fn in_progress(state: &str) -> bool {
    !matches!(
        state.to_ascii_lowercase().as_str(),
        "succeeded" | "failed" | "canceled" | "cancelled" | "unknown"
    )
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
        if matches!(e.kind(), ErrorKind::Timeout) {
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
    mut env: Envelope,
    inputs: &Inputs,
    arm: &Api<'_>,
    cluster: &Cluster,
    op: &Url,
) -> Result<Done> {
    let name = &inputs.cluster.name;
    ui::info(&format!(
        "resuming the reset of cluster {name} from cluster_operation_url"
    ));
    match follow(arm, inputs, op).await {
        Ok(()) => {}
        // Operations expire: a cluster that already runs as the app is what the operation was for.
        Err(e) if e.status() == Some(404) && cluster.uses(&inputs.app_id) => {
            ui::debug(&format!(
                "the operation is gone ({}); the cluster already uses the app",
                e.code()
            ));
        }
        Err(e) => return Err(e),
    }
    let done = confirm(arm, inputs, &mut env, Some(op)).await?;
    Ok(Done {
        envelope: env,
        changed: false,
        summary: format!(
            "the reset of cluster {name} to app {} finished (state {})",
            inputs.app_id, done.provisioning_state
        ),
    })
}

/// The pull check with the new credential; `true` when the pull would work.
/// How long a pull check waits for a role the object says was just assigned.
const PROPAGATION_GRACE: Duration = Duration::from_secs(120);

async fn pull_check(
    ctx: &Ctx,
    inputs: &Inputs,
    t: &PullTarget,
    force: bool,
    granted: bool,
) -> Result<bool> {
    let what = t.reference.as_ref().map_or_else(
        || format!("{} (token only)", t.repository),
        |r| format!("{}:{r}", t.repository),
    );
    ui::debug(&format!(
        "checking that app {} can pull {what} from {}",
        inputs.app_id, t.login_server
    ));
    // A role assigned by acr-grant (the object names it) may still be on its way to the
    // registry: "no pull yet" is waited out for a while then, with progress.
    let grace = if granted {
        PROPAGATION_GRACE.min(ctx.deadline().remaining())
    } else {
        Duration::ZERO
    };
    let label = format!(
        "waiting until app {} can pull from {}",
        inputs.app_id, t.login_server
    );
    let pull = PullAs {
        login_server: &t.login_server,
        app_id: &inputs.app_id,
        secret: &inputs.secret,
        repository: &t.repository,
        reference: t.reference.as_deref(),
    };
    let looked = wait_for_pull(
        ctx.http(),
        pull,
        ctx.deadline(),
        &label,
        |denied, waited| {
            (matches!(denied, Denied::NoPullRole | Denied::ManifestRefused(_)) && waited < grace)
                .then(|| "the role has not reached the registry yet".to_owned())
        },
    )
    .await;
    let refusal = match looked {
        Ok(PullCheck::Allowed) => {
            ui::info(&format!("the app's credential can pull {what} from {}", t.login_server));
            return Ok(true);
        }
        Ok(PullCheck::Denied(d)) => Error::step(
            "PullCheckFailed",
            format!("the new credential cannot pull from {}: {}", t.login_server, d.explain()),
        )
        .with_hint("grant and verify first with acr-grant --verify (it waits for a new role to reach the registry); --force resets anyway"),
        Err(e) => e.context(format!("checking the pull from {}", t.login_server)),
    };
    if force {
        ui::warn(&format!(
            "{} (--force: resetting anyway)",
            refusal.message()
        ));
        Ok(false)
    } else {
        let hint = refusal.hint().unwrap_or("--force resets anyway").to_owned();
        Err(refusal.with_hint(format!("{hint}; nothing was changed")))
    }
}

/// Follows the operation; its errors say whether a rerun should resume it.
async fn follow(arm: &Api<'_>, inputs: &Inputs, op: &Url) -> Result<()> {
    let label = format!(
        "resetting the service principal of cluster {}",
        inputs.cluster.name
    );
    match follow_operation(arm, op, &label).await {
        Ok(_) => Ok(()),
        Err(e) => Err(match e.kind() {
            ErrorKind::Timeout => still_running(inputs, op, &format!("not finished after --timeout {}", human(arm.deadline().timeout()))),
            // The operation ended Failed or Canceled: Azure's code; a rerun posts again.
            ErrorKind::Step => inputs.resumable(e.context(format!("the reset of cluster {}", inputs.cluster.name)), None),
            ErrorKind::Http { status: 404 } => inputs.resumable(
                e.context("the reset's operation is unknown").with_hint("operations expire; a rerun reads the cluster and posts the reset again if needed"),
                None,
            ),
            _ => inputs.resumable(e, Some(op)),
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
        Ok(match c.provisioning_state.to_ascii_lowercase().as_str() {
            "succeeded" | "failed" | "canceled" => Poll::Ready(()),
            _ => Poll::Pending(c.provisioning_state, None),
        })
    })
    .await
    .map_err(|e| {
        if matches!(e.kind(), ErrorKind::Timeout) {
            Error::step("OperationStillRunning", e.message())
        } else {
            e
        }
    })
}

/// Reads the cluster back: it must run as the app, and be Succeeded.
async fn confirm(
    arm: &Api<'_>,
    inputs: &Inputs,
    env: &mut Envelope,
    op: Option<&Url>,
) -> Result<Cluster> {
    let c = cluster::get(arm, &inputs.cluster)
        .await
        .map_err(|e| inputs.resumable(e, op))?;
    if !c.uses(&inputs.app_id) || !c.provisioning_state.eq_ignore_ascii_case("Succeeded") {
        let now_uses = c.client_id.as_deref().unwrap_or("no service principal");
        return Err(inputs.resumable(
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
    env.set(
        fields::CLUSTER_PROVISIONING_STATE.name,
        &c.provisioning_state,
    );
    env.remove(fields::CLUSTER_OPERATION_URL.name);
    Ok(c)
}

/// Checks that the new credential can pull before the disruptive reset (unless `--force`).
async fn check_new_credential(
    cli: &Cli,
    env: &mut Envelope,
    inputs: &Inputs,
    ctx: &Ctx,
) -> Result<()> {
    if let Some(target) = &inputs.pull {
        let granted = env.has(fields::ROLE_ASSIGNMENT_ID.name);
        if pull_check(ctx, inputs, target, cli.force, granted).await? {
            env.set(fields::PULL_VERIFIED_AT.name, now_rfc3339());
        }
    } else if cli.force {
        ui::warn(
            "the object names no registry (registry_login_server): the new credential's pull is not checked (--force)",
        );
    } else {
        // Step 4 before step 3: nothing shows the new credential can pull, and the reset
        // would leave the cluster unable to pull from the other tenant.
        return Err(Error::step(
            "PullNotVerified",
            format!(
                "nothing in the input shows that app {} can pull from the registry: the object names no registry (registry_login_server), so the reset of cluster {} could leave it unable to pull",
                inputs.app_id, inputs.cluster.name
            ),
        )
        .with_hint("run acr-grant --verify first and pipe its output here (it names the registry), or pass --force to reset without the check"));
    }
    Ok(())
}

/// The error of a reset left running: the object keeps the URL, and a rerun resumes.
fn still_running(inputs: &Inputs, op: &Url, why: &str) -> Error {
    inputs.resumable(
        Error::step("OperationStillRunning", format!("the reset of cluster {} is still running ({why})", inputs.cluster.name))
            .with_hint("rerun aks-sp-update on this object: it follows cluster_operation_url instead of posting again"),
        Some(op),
    )
}
