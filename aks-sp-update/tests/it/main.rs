//! aks-sp-update's integration tests: one test binary, one module per subject.

mod act;
mod cli;
mod roles;
