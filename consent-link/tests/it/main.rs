//! consent-link's integration tests: one test binary, one module per subject.

mod act;
mod cli;
