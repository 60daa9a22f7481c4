//! `--probe-image`: the cluster itself proves the pull.
//!
//! Every other check is made from the operator's machine, with the app's credential. The
//! cluster's nodes pull over their own network path (a registry firewall or private endpoint
//! may admit the operator and not them) with the secret AKS holds, which Azure never shows.
//! So after the step (or alone, with `--probe-only`) the probe asks AKS run command to run a
//! short `kubectl` script inside the cluster ([`script`]): one pod of the image in the
//! namespace `xtenant-probe`, the kubelet's verdict, the pod deleted. The verdict is written
//! to `cluster_pull_probe`; a pull that failed is the object's error, with a hint read from
//! the kubelet's message (credentials, network, or a missing image). A cluster that does not
//! run the command is a clear refusal, never a false "pulled".

mod plan;
mod run_command;
mod script;
mod verdict;

use common::arm::ResourceId;
use common::driver::{Ctx, Done, Failed, Fields};
use common::envelope::{Change, Envelope, fields};
use common::error::codes;
use common::{Error, Result, ui};

use crate::inputs::Inputs;
use crate::output;
pub(crate) use plan::{plan, probe_image};
pub(crate) use verdict::Probe;
use verdict::{Cause, Outcome, cause, denied_address};

/// What one object asks for: the step (absent with `--probe-only`) and the probe.
#[derive(Debug)]
pub struct Planned {
    /// The step's inputs.
    pub step: Option<Inputs>,
    pub(crate) cluster: ResourceId,
    pub(crate) tenant: String,
    /// The image the probe's pod runs (`<login server>/<repository>:<tag>`), when asked.
    pub(crate) image: Option<String>,
}

/// The fields written on success: the step's, and the probe's verdict.
#[derive(Debug, Clone, Default)]
pub struct Output {
    /// The step's fields.
    pub step: Option<output::Output>,
    /// `cluster_pull_probe`.
    pub probe: Change<Probe>,
}

impl Fields for Output {
    fn write_to(&self, object: &mut Envelope) {
        if let Some(s) = &self.step {
            s.write_to(object);
        }
        object.change(&fields::CLUSTER_PULL_PROBE, &self.probe);
    }
}

/// The fields a failed object carries: the step's partial output, or, when the step went
/// through and the probe failed, the step's output and the probe's verdict.
#[derive(Debug, Clone, Default)]
pub struct Partial {
    /// What the failed step leaves for its rerun.
    pub step: output::Partial,
    /// The step's fields, when it went through.
    pub done: Option<output::Output>,
    /// `cluster_pull_probe`.
    pub probe: Change<Probe>,
}

impl Fields for Partial {
    fn write_to(&self, object: &mut Envelope) {
        match &self.done {
            Some(done) => done.write_to(object),
            None => self.step.write_to(object),
        }
        object.change(&fields::CLUSTER_PULL_PROBE, &self.probe);
    }
}

/// After the step went through (`done`; `None` with `--probe-only`): the probe, if asked.
pub(crate) async fn after(
    planned: &Planned,
    done: Option<Done<output::Output>>,
    ctx: &Ctx,
) -> std::result::Result<Done<Output>, Failed<Partial>> {
    let (step, changed, summary) = match done {
        Some(d) => (Some(d.output), d.changed, Some(d.summary)),
        None => (None, false, None),
    };
    // A cluster reset and not probed: an earlier verdict no longer describes it.
    let stale = if changed {
        Change::Remove
    } else {
        Change::Keep
    };
    let Some(image) = &planned.image else {
        let mut d = finish(step, changed, summary, String::new());
        d.output.probe = stale;
        return Ok(d);
    };
    let name = &planned.cluster.name;
    match pull(&planned.cluster, &planned.tenant, image, ctx).await {
        Ok(None) => Ok(finish(
            step,
            changed,
            summary,
            format!("would probe the pull of {image} from inside cluster {name} (a run command)"),
        )),
        Ok(Some(p)) if p.pulled => {
            let node = p.node.as_deref().unwrap_or("unknown");
            let line = format!("cluster {name} pulled {image} from inside (node {node})");
            let mut d = finish(step, changed, summary, line);
            d.output.probe = Change::Set(p);
            Ok(d)
        }
        Ok(Some(p)) => Err(Failed::with(
            refused_pull(&p, name),
            Partial {
                done: step,
                probe: Change::Set(p),
                ..Partial::default()
            },
        )),
        Err(e) => Err(Failed::with(
            e,
            Partial {
                done: step,
                probe: stale,
                ..Partial::default()
            },
        )),
    }
}

/// The step's output and summary with the probe's line.
fn finish(
    step: Option<output::Output>,
    changed: bool,
    summary: Option<String>,
    line: String,
) -> Done<Output> {
    let summary = match (summary, line.is_empty()) {
        (Some(s), true) => s,
        (Some(s), false) => format!("{s}; {line}"),
        (None, _) => line,
    };
    Done {
        output: Output {
            step,
            probe: Change::Keep,
        },
        changed,
        summary,
    }
}

/// Runs the probe of `image` in `cluster` (tenant `tenant`): `None` in a dry run, else the
/// kubelet's verdict; refusals as errors. Also `--status --probe-image`'s.
pub(crate) async fn pull(
    cluster: &ResourceId,
    tenant: &str,
    image: &str,
    ctx: &Ctx,
) -> Result<Option<Probe>> {
    let arm = ctx.arm(tenant);
    let name = &cluster.name;
    let access = run_command::access(&arm, cluster).await?;
    if access.disabled {
        return Err(Error::step(
            codes::RUN_COMMAND_REFUSED,
            format!(
                "cluster {name} does not run commands (apiServerAccessProfile.disableRunCommand is true): the pull cannot be probed from inside; nothing was run"
            ),
        )
        .with_hint("enable run command on the cluster (az aks update --enable-run-command), or check the pull from a machine in the cluster's network"));
    }
    let token = if access.needs_token() {
        let scope = format!("{}/.default", run_command::AKS_SERVER_APP);
        Some(
            ctx.http()
                .credentials()
                .token(tenant, &scope)
                .await
                .map_err(|e| {
                    e.context(format!(
                        "cluster {name} uses Microsoft Entra integration: run command needs a token of the operator's identity for the AKS AAD server application {}",
                        run_command::AKS_SERVER_APP
                    ))
                })?,
        )
    } else {
        None
    };
    let pod = script::pod_name();
    let command = script::build(image, &pod)?;
    ui::info(&format!(
        "probing {image} from inside cluster {name} (run command: pod {}/{pod}, deleted after)",
        script::NAMESPACE
    ));
    let finished = run_command::run(&arm, cluster, &command, token.as_ref())
        .await
        .map_err(|e| refused_command(e, name, &access))?;
    let Some(finished) = finished else {
        return Ok(None);
    };
    if !finished.ran() {
        return Err(Error::step(
            codes::RUN_COMMAND_REFUSED,
            format!(
                "AKS could not run the probe in cluster {name}: the command ended {} ({})",
                finished.state,
                finished.reason.as_deref().unwrap_or("no reason given")
            ),
        )
        .with_hint("AKS runs the command in a pod of its own (namespace aks-command): check that the cluster's nodes can schedule it and pull AKS's image; nothing of the probe was made"));
    }
    let at = common::wait::now_rfc3339();
    let probe = |pulled: bool, node: Option<String>, message: String| Probe {
        image: image.to_owned(),
        pulled,
        node,
        at: at.clone(),
        message,
    };
    match verdict::read(finished.exit_code.unwrap_or(-1), &finished.logs) {
        Outcome::Pulled { node, message } => Ok(Some(probe(true, node, message))),
        Outcome::NotPulled { node, message, .. } => Ok(Some(probe(false, node, message))),
        Outcome::Undecided { tail } => Err(Error::step(
            codes::CLUSTER_PULL_UNDECIDED,
            format!("the kubelet gave no verdict on {image} in cluster {name} within the probe's wait: {tail}"),
        )
        .with_hint("the probe's pod was not scheduled or is still pulling (a large image, a busy cluster); the pod was deleted: rerun to probe again")),
        Outcome::Broken { exit_code, tail } => Err(Error::step(
            codes::RUN_COMMAND_REFUSED,
            format!("the probe in cluster {name} could not make its pod (exit {exit_code}): {tail}"),
        )
        .with_hint(format!(
            "the run command acts as the cluster's admin, or with Entra integration as the operator: it needs to create namespace {} and pods in it (Kubernetes RBAC, admission policies)",
            script::NAMESPACE
        ))),
    }
}

/// A run command AKS refused: what the cluster's settings and Azure's answer say.
fn refused_command(e: Error, name: &str, access: &run_command::Access) -> Error {
    let Some(status) = e.status().filter(|s| matches!(s, 400 | 403 | 409)) else {
        return e;
    };
    let why = if status == 403 {
        "the identity may not run commands in it: it needs Microsoft.ContainerService/managedClusters/runcommand/action and …/commandResults/read on the cluster (Contributor, or Azure Kubernetes Service Cluster Admin Role)".to_owned()
    } else if access.no_local_accounts {
        format!(
            "the cluster has no local accounts, so the command runs as the operator's Microsoft Entra identity: a token for the AKS AAD server application {} in the cluster's tenant",
            run_command::AKS_SERVER_APP
        )
    } else {
        "AKS refused it".to_owned()
    };
    Error::step(
        codes::RUN_COMMAND_REFUSED,
        format!(
            "cluster {name} would not run the probe ({} {}: {}); nothing was run",
            status,
            e.code(),
            e.message()
        ),
    )
    .with_hint(why)
}

/// The object's error for a pull the kubelet refused: its message, and what it points at.
pub(crate) fn refused_pull(p: &Probe, name: &str) -> Error {
    let image = &p.image;
    let hint = match cause("", &p.message) {
        Cause::Credentials => format!(
            "credentials: the registry refused the secret cluster {name} holds (Azure never shows it): the reset did not give the cluster the object's secret, or that secret was removed or has expired since; rerun aks-sp-update with the app's current secret (--force resets a cluster that already runs as the app)"
        ),
        Cause::Authorization => "authorization: the cluster's credentials get a registry token that grants no pull: the app's service principal in tenant B has no pull role on the registry (run acr-grant), or a new role has not reached the registry yet (wait a few minutes and rerun)".to_owned(),
        Cause::Network => {
            let from = denied_address(&p.message)
                .map_or_else(|| "the cluster's outbound address".to_owned(), |ip| format!("the cluster's address {ip}"));
            format!(
                "network: the registry does not admit {from}, or its name does not resolve from the nodes; add the cluster's outbound IP to the registry's network rules (az acr network-rule add --ip-address …) or reach it through a private endpoint. acr-grant --verify checks from this machine, which the firewall may admit"
            )
        }
        Cause::Missing => format!(
            "missing image: the registry has no {image}; check the repository and tag (acr-grant --verify --image {image} checks it with the app's credential)"
        ),
        Cause::BadReference => format!("the kubelet cannot read {image} as an image reference"),
        Cause::Other => "the kubelet's message above says why; the probe's pod was deleted".to_owned(),
    };
    let node = p
        .node
        .as_deref()
        .map(|n| format!(" (node {n})"))
        .unwrap_or_default();
    Error::step(
        codes::CLUSTER_PULL_FAILED,
        format!(
            "cluster {name} could not pull {image} from inside{node}: {}",
            p.message
        ),
    )
    .with_hint(hint)
}
