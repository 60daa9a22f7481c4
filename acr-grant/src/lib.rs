//! `acr-grant`: step 3 of the cross-tenant procedure.
//!
//! Assigns the pull role on a registry in tenant B to the app's service principal **in
//! tenant B** (looked up by app id, never tenant A's object id), choosing the role the
//! registry's permission mode honours, and with `--verify` proves that the app's own
//! credential gets a pull token from the registry, as a kubelet in service-principal mode would.
//!
//! Layout (the same in every tool): `cli.rs` the flags, `inputs.rs` the checked inputs
//! (the only code that reads the envelope, with `named.rs`: the registry the person named),
//! `act.rs` the step; `lookup.rs` (the registry),
//! `role.rs` (which role) and `verify.rs` (`--verify`) are particular to this step.

mod act;
mod cli;
mod early;
mod inputs;
mod lookup;
mod named;
mod role;
mod verify;

pub use cli::Cli;

use common::cloud::Cloud;
use common::driver::{Ctx, Done, Failed, Tool};
use common::envelope::{Envelope, Field};
use common::error::Result;

impl Tool for Cli {
    const NAME: &'static str = "acr-grant";
    type Inputs = inputs::Inputs;
    type Output = act::Output;
    type Partial = act::Partial;

    fn common(&self) -> &common::cli::CommonArgs {
        &self.common
    }

    fn flags(&self) -> Vec<(Field, String)> {
        self.fields()
    }

    fn prepare(&self, ctx: &Ctx) {
        early::prepare(self, ctx);
    }

    fn inputs(&self, input: &Envelope, cloud: &Cloud) -> Result<inputs::Inputs> {
        inputs::Inputs::read(self, input, cloud)
    }

    async fn act(
        inputs: &inputs::Inputs,
        ctx: &Ctx,
    ) -> Result<Done<act::Output>, Failed<act::Partial>> {
        Box::pin(act::run(inputs, ctx)).await
    }
}
