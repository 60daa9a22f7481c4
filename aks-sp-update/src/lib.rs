//! `aks-sp-update`: step 4 of the procedure, the reset of an AKS cluster's service principal.
//!
//! The one disruptive step, so everything that can be checked is checked before the
//! reset is posted: the inputs, that the cluster uses a service principal at all, that
//! the new credential gets a pull token from the registry, and which roles in tenant A of
//! the service principal the cluster runs as the new one needs and lacks. The reset is a
//! long-running operation; its URL is written to the object while unfinished, and a
//! rerun with that object resumes it instead of posting again.
//!
//! Layout (the same in every tool): `cli.rs` the flags, `inputs.rs` the checked inputs
//! (the only code that reads the envelope, with `named.rs`: the cluster the person named),
//! `act/` the step. Particular to this step: `early.rs` (what the flags alone determine,
//! read before the object arrives), `cluster.rs` (what a reset costs the cluster, which is
//! common's `ManagedCluster`), `operation.rs` (following the reset; `operation_ref.rs` checks
//! the envelope's operation URL), `output.rs` (the fields the step writes, and what a failed
//! run leaves), `record/` (the entry on the app saying which key the cluster holds),
//! `pull.rs` (the new credential's pull check), `scopes.rs` (where roles may be copied),
//! `roles/` (tenant A role assignments: the allowlist, the copies and their removal) and
//! `probe/` (`--probe-image`: a pull from inside the cluster, through AKS run command);
//! `status/` is `--status`, the read-only report (its own inputs and output: [`Mode`] and
//! [`Output`] dispatch between the two).
//!
//! Layers, bottom up (a module never imports one above it; `common/tests/it/source.rs` checks
//! there is no cycle): `scopes`, `operation_ref`, `output`, `cluster`; `cli`, `named`,
//! `inputs`; `early`, `pull`, `record`, `verdict`; `roles`, `operation`; `act`; `probe`,
//! `status`, `lookup`; this file.

mod act;
mod cli;
mod cluster;
mod early;
mod inputs;
mod lookup;
mod named;
mod operation;
mod operation_ref;
mod output;
mod probe;
mod pull;
mod record;
mod roles;
mod scopes;
mod status;
mod verdict;

pub use cli::{Cli, StatusArgs};

use common::cloud::Cloud;
use common::driver::{Ctx, Done, Either, Failed, Named, Rollout, Tool};
use common::envelope::{Envelope, Field};
use common::error::Result;

/// AKS refuses longer client secrets ("make sure the secret isn't longer than 190 bytes").
pub const MAX_SECRET_BYTES: usize = 190;

/// What one object asks for: the reset, with `--probe-image` the probe of its pull (the
/// step), or the report (`--status`, read-only).
pub type Mode = Either<Box<probe::Planned>, Box<status::Inputs>>;

/// What one object came to: the reset's (and the probe's) fields, or the report.
pub type Output = Either<Box<probe::Output>, Box<status::Report>>;

impl Tool for Cli {
    const NAME: &'static str = "aks-sp-update";
    type Inputs = Mode;
    type Output = Output;
    type Partial = probe::Partial;

    fn common(&self) -> &common::cli::CommonArgs {
        &self.common
    }

    fn flags(&self) -> Vec<(Field, String)> {
        self.fields()
    }

    fn inputs(&self, input: &Envelope, cloud: &Cloud) -> Result<Mode> {
        if self.status.status {
            return status::Inputs::read(self, input, cloud).map(|i| Mode::Other(Box::new(i)));
        }
        probe::plan(self, input, cloud).map(|p| Mode::Step(Box::new(p)))
    }

    fn settle<'a>(&'a self, ctx: &'a Ctx) -> Option<futures::future::LocalBoxFuture<'a, ()>> {
        lookup::needed(self).then(|| {
            let looked: futures::future::LocalBoxFuture<'a, ()> = Box::pin(async move {
                let found = lookup::cluster(self, ctx).await;
                let _ = self.looked_up.set(found);
            });
            looked
        })
    }

    fn prepare(&self, ctx: &Ctx) {
        if !self.probe_only && !self.status.status {
            early::prepare(self, ctx);
        }
    }

    async fn act(mode: &Mode, ctx: &Ctx) -> Result<Done<Output>, Failed<probe::Partial>> {
        let planned = match mode {
            Mode::Step(planned) => planned,
            Mode::Other(inputs) => {
                return status::run(inputs, ctx)
                    .await
                    .map(|d| d.map(|r| Output::Other(Box::new(r))))
                    .map_err(Failed::from);
            }
        };
        let done = match &planned.step {
            Some(inputs) => Some(act::run(inputs, ctx).await.map_err(|f| Failed {
                error: pull::reset_refused(
                    explain_refusal(f.error, inputs),
                    &inputs.app_id,
                    inputs.key_id.as_deref(),
                    &inputs.tenant,
                ),
                partial: probe::Partial {
                    step: f.partial,
                    ..probe::Partial::default()
                },
            })?),
            None => None,
        };
        probe::after(planned, done, ctx)
            .await
            .map(|d| d.map(|o| Output::Step(Box::new(o))))
    }

    fn objects<'a>(
        &'a self,
        ctx: &'a Ctx,
    ) -> Option<futures::future::LocalBoxFuture<'a, Vec<Named>>> {
        status::all_objects(self, ctx)
    }

    /// A fleet's resets: one alone first, then `--jobs`; none started after `--max-failures`.
    fn rollout(&self) -> Rollout {
        if self.status.status || self.probe_only {
            return Rollout::default();
        }
        Rollout {
            canary: true,
            max_failures: Some(self.max_failures),
        }
    }

    /// A `--status` run ends with its report's summary line (it stands for the driver's).
    fn finish(&self, ctx: &Ctx) -> bool {
        if self.status.status {
            status::finish(ctx);
        }
        self.status.status
    }
}

/// An ARM refusal of the identity acting in tenant A, without a hint yet: the role it lacks.
fn explain_refusal(e: common::Error, inputs: &inputs::Inputs) -> common::Error {
    if e.status() != Some(403) || e.hint().is_some() {
        return e;
    }
    let (cluster, tenant) = (inputs.cluster.id(), &inputs.tenant);
    let text = format!("{} {}", e.message(), e.detail().unwrap_or(""));
    let need = if text.contains("roleAssignments/write") {
        "copying the old service principal's roles needs User Access Administrator (or Owner) where they are"
    } else if text.contains("managedClusters/read")
        && !text.contains("resetServicePrincipalProfile")
    {
        "reading the cluster needs Reader (resetting it, Contributor) on it"
    } else {
        "resetting the cluster's service principal needs Contributor (or Azure Kubernetes Service Contributor Role) on it"
    };
    e.with_hint(format!(
        "{need}: cluster {cluster} in tenant {tenant}; ask an administrator of tenant A for the role, or to run this step"
    ))
}
