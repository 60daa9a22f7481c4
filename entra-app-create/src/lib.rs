//! entra-app-create: step 1 — the multitenant app, its service principal in tenant A, a client secret.
//!
//! Safe to rerun: the app is found by `uniqueName` (or the input's `app_id`) before
//! anything is written, the service principal is looked up by `appId`, and a secret is
//! minted only when the input holds none that still works for this app. A rerun on the
//! tool's own output sends only reads. An existing app is changed (a new secret, a prune,
//! fixes) only when this tool created it (tag `xtenant:managed`, and owned by exactly the
//! identity the run signs in as: `act/owned.rs`) or the reader's flags name it with `--adopt`.
//!
//! Layout (the same in every tool): `cli.rs` the flags, `inputs.rs` the checked inputs
//! (the only code that reads the envelope), `act.rs` the step; `app.rs` (find, create or
//! fix the app), `graph.rs` (the app as Graph shows it), `secrets.rs` (the client secret), `secret_file.rs` (`--secret-file`)
//! and `vault.rs` (`--secret-keyvault`) are particular to this step; `delete.rs` is
//! `--delete`, its undo (offboarding).

mod act;
mod cli;
mod delete;
mod graph;
mod inputs;
mod secret_file;
mod secrets;
mod tenants;
mod unique_key;
mod vault;

pub use cli::Cli;

use common::cloud::Cloud;
use common::driver::{Ctx, Done, Failed, Tool};
use common::envelope::{Envelope, Field};
use common::error::Result;

/// What one object asks for: the app (found, made, fixed, its secret), or its deletion.
#[derive(Debug)]
pub enum Mode {
    /// Step 1.
    Create(Box<inputs::Inputs>),
    /// `--delete`.
    Delete(delete::Inputs),
}

impl Tool for Cli {
    const NAME: &'static str = "entra-app-create";
    type Inputs = Mode;
    type Output = act::Output;
    type Partial = act::Output;

    fn common(&self) -> &common::cli::CommonArgs {
        &self.common
    }

    fn flags(&self) -> Vec<(Field, String)> {
        self.fields()
    }

    /// The Graph token of the tenant `--cluster-tenant` names, before the first object arrives.
    fn prepare(&self, ctx: &Ctx) {
        let field = common::envelope::fields::CLUSTER_TENANT_ID.name;
        if let Some(t) = self
            .cluster_tenant
            .as_deref()
            .and_then(|t| common::validate::tenant(field, t).ok())
        {
            let apis = if tenants::Others::needs_arm(self) {
                common::driver::EarlyTokens::GraphAndArm
            } else {
                common::driver::EarlyTokens::Graph
            };
            ctx.sign_in_early(&t, apis);
        }
    }

    fn inputs(&self, input: &Envelope, cloud: &Cloud) -> Result<Mode> {
        if self.delete {
            return delete::Inputs::read(self, input).map(Mode::Delete);
        }
        inputs::Inputs::read(self, input, cloud).map(|i| Mode::Create(Box::new(i)))
    }

    async fn act(mode: &Mode, ctx: &Ctx) -> Result<Done<act::Output>, Failed<act::Output>> {
        match mode {
            Mode::Create(inputs) => act::run(inputs, ctx).await,
            Mode::Delete(inputs) => delete::run(inputs, ctx).await,
        }
    }
}
