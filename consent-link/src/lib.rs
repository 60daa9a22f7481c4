//! consent-link: step 2, the admin-consent link for tenant B, and optionally waiting for it.
//!
//! An administrator of tenant B opens the link, signs in and accepts on behalf of the
//! organization; that provisions the app's service principal in tenant B. `--wait` turns
//! this manual step into one a pipeline can wait on; `--create` provisions the service
//! principal directly when the caller may.
//!
//! Layout (the same in every tool): `cli.rs` the flags, `inputs.rs` the checked inputs
//! (the only code that reads the envelope), `act.rs` the step; `link.rs` (the link and the
//! app's fitness for it) and `browser.rs` (`--open`) are particular to this step; `remove.rs`
//! is `--remove`, its undo (offboarding).

mod act;
mod browser;
mod cli;
mod inputs;
mod link;
mod remove;

pub use cli::Cli;
pub use link::Form;

use common::cloud::Cloud;
use common::driver::{Ctx, Done, Either, Failed, Tool};
use common::envelope::{Envelope, Field, fields};
use common::error::Result;

/// What one object asks for: step 2 (its inputs), or its undo (`--remove`).
pub type Mode = Either<inputs::Inputs, remove::Inputs>;

/// What one object came to: step 2's fields, or `--remove`'s.
pub type Output = Either<act::Output, remove::Removed>;

impl Tool for Cli {
    const NAME: &'static str = "consent-link";
    type Inputs = Mode;
    type Output = Output;
    type Partial = act::Partial;

    fn common(&self) -> &common::cli::CommonArgs {
        &self.common
    }

    fn flags(&self) -> Vec<(Field, String)> {
        self.fields()
    }

    /// The Graph tokens of the tenants the flags name, before the first object arrives.
    fn prepare(&self, ctx: &Ctx) {
        let tenants = [
            (
                fields::REGISTRY_TENANT_ID.name,
                self.registry_tenant.as_deref(),
            ),
            (
                fields::CLUSTER_TENANT_ID.name,
                self.cluster_tenant.as_deref(),
            ),
        ];
        // Only --wait, --create and --remove read tenant B.
        for (i, (field, tenant)) in tenants.into_iter().enumerate() {
            if i == 0 && !(self.wait || self.create || self.remove) {
                continue;
            }
            if let Some(t) = tenant.and_then(|t| common::validate::tenant(field, t).ok()) {
                ctx.sign_in_early(&t, common::driver::EarlyTokens::Graph);
            }
        }
    }

    fn inputs(&self, input: &Envelope, _cloud: &Cloud) -> Result<Mode> {
        if self.remove {
            return remove::Inputs::read(self, input).map(Mode::Other);
        }
        inputs::Inputs::read(self, input).map(Mode::Step)
    }

    async fn act(mode: &Mode, ctx: &Ctx) -> Result<Done<Output>, Failed<act::Partial>> {
        match mode {
            Mode::Step(i) => act::run(i, ctx).await.map(|d| d.map(Output::Step)),
            Mode::Other(i) => remove::run(i, ctx).await.map(|d| d.map(Output::Other)),
        }
    }
}
