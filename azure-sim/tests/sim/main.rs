//! Integration tests of the simulator: every endpoint over HTTPS, trusting its CA.
#![allow(
    clippy::too_many_lines,
    reason = "each test tells one scenario from start to end"
)]

mod arm;
mod binary;
mod china;
mod clock;
mod clouds;
mod common;
mod entra;
mod fidelity;
mod graph;
mod keyvault;
mod realism;
mod recordings;
mod registry;
mod registry_pull;
mod robustness;
mod run_command;
