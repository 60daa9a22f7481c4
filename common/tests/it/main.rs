//! common's integration tests: one test binary, one module per subject.

mod deps;
mod driver;
mod http;
mod props;
mod readme;
mod source;
mod tree;
