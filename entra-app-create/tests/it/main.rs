//! entra-app-create's integration tests: one test binary, one module per subject.

mod act;
mod adopt;
mod cli;
mod handover;
mod upsert;
