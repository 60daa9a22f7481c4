//! Shared mechanisms of the xtenant tools.
//!
//! Every tool is a thin `main.rs` over [`driver::main`]: the driver parses the flags,
//! reads the NDJSON envelope from stdin, runs the tool's step once per object (with
//! `--jobs` concurrency, output kept in input order), writes the objects to stdout and
//! maps the outcome to one exit code. The modules here are mechanisms only — clouds,
//! credentials, HTTP with retry, waiting, the envelope, errors — and never know a step.

#![warn(missing_docs)]

pub mod app_keys;
pub mod arm;
pub mod auth;
pub mod binding;
pub mod cli;
pub mod client_secret;
pub mod cloud;
mod context;
pub mod driver;
pub mod duration;
pub mod env;
pub mod envelope;
pub mod error;
pub mod exit;
pub mod graph;
pub mod http;
pub mod interrupt;
pub mod json;
pub mod keyvault;
pub mod odata;
pub mod record;
pub mod registry;
pub mod resolve;
pub mod secret;
pub mod target;
pub mod tenants;
pub mod ui;
pub mod validate;
pub mod wait;

pub use error::{Error, ErrorKind, Result};
pub use secret::Secret;
