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
//! `role.rs` (which role) and `verify.rs` (`--verify`) are particular to this step;
//! `revoke.rs` is `--revoke`, its undo (offboarding).

mod act;
mod cli;
mod early;
mod inputs;
mod lookup;
mod named;
mod revoke;
mod role;
mod verify;

pub use cli::Cli;

use common::cloud::Cloud;
use common::driver::{Ctx, Done, Either, Failed, Tool};
use common::envelope::{Envelope, Field};
use common::error::Result;

/// What one object asks for: step 3 (its inputs), or its undo (`--revoke`).
pub type Mode = Either<Box<inputs::Inputs>, Box<revoke::Inputs>>;

/// What one object came to: step 3's fields, or `--revoke`'s.
pub type Output = Either<act::Output, revoke::Revoked>;

impl Tool for Cli {
    const NAME: &'static str = "acr-grant";
    type Inputs = Mode;
    type Output = Output;
    type Partial = act::Partial;

    fn common(&self) -> &common::cli::CommonArgs {
        &self.common
    }

    fn flags(&self) -> Vec<(Field, String)> {
        self.fields()
    }

    fn prepare(&self, ctx: &Ctx) {
        if !self.revoke {
            early::prepare(self, ctx);
        }
    }

    fn inputs(&self, input: &Envelope, cloud: &Cloud) -> Result<Mode> {
        if self.revoke {
            return revoke::Inputs::read(self, input).map(|i| Mode::Other(Box::new(i)));
        }
        inputs::Inputs::read(self, input, cloud).map(|i| Mode::Step(Box::new(i)))
    }

    async fn act(mode: &Mode, ctx: &Ctx) -> Result<Done<Output>, Failed<act::Partial>> {
        match mode {
            Mode::Step(i) => Box::pin(act::run(i, ctx))
                .await
                .map(|d| d.map(Output::Step)),
            Mode::Other(i) => Box::pin(revoke::run(i, ctx))
                .await
                .map(|d| d.map(Output::Other)),
        }
    }
}
