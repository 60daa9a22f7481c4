//! The end-to-end tests: one test binary, one module per subject (`cargo nextest run -p
//! xtenant-tests -E 'test(/^e2e::/)'` runs one).

mod attacks;
mod binding;
mod claims;
mod clouds;
mod crash;
mod demo;
mod e2e;
mod early;
mod faults;
mod hostile;
mod interrupt;
mod keyvault;
mod memory;
mod newcomer;
mod offboard;
mod pipes;
mod probe;
mod readme;
mod record;
mod record_batch;
mod record_claims;
mod record_gone;
mod record_stale;
mod recovery;
mod renew;
mod rollout;
mod secret_flags;
mod secrets;
mod snapshot;
mod status;
mod tamper;
mod targets;
mod transport;
mod ux;
mod vault;
