//! `azure-sim`: a local, stateful simulator of the Azure endpoints the xtenant tools use.
//!
//! One HTTPS port serves Entra ID (token endpoint, discovery, consent pages), Microsoft Graph
//! (applications, service principals, passwords), Azure Resource Manager (subscriptions,
//! registries, role definitions and assignments, managed clusters and the service-principal
//! reset with its async operation), every registry's data plane (by Host header), and a control
//! API under `/_sim/`. See the crate README for the scenario format and the control API.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let dir = std::env::temp_dir().join("sim");
//! let sim = azure_sim::serve(azure_sim::SimConfig::new(&dir)).await?;
//! let (url, ca) = (sim.url(), sim.ca_pem_path().to_path_buf());
//! # let _ = (url, ca);
//! sim.shutdown().await;
//! # Ok(()) }
//! ```
#![warn(missing_docs)]
#![recursion_limit = "256"]
#![allow(
    clippy::result_large_err,
    reason = "handlers return an HTTP response on both arms; boxing the error arm buys nothing"
)]

mod api_versions;
mod arm;
mod behaviour;
mod blobs;
mod clock;
mod cloud;
mod config;
mod control;
mod core;
mod crypto;
mod dates;
mod entra;
mod faults;
mod firewall;
mod graph;
mod http;
mod keyvault;
mod kube;
mod model;
mod nodes;
mod policy;
mod rbac;
mod registry;
mod scenario;
mod server;
mod sign_in_policy;
mod sync;
mod tls;

use std::ops::Deref;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

pub use crate::clock::TIME_SCALE_RANGE;
pub use crate::config::{
    CLUSTER_UPDATE_TIME, Leniency, NODE_REIMAGE_TIME, REPLICATION_DELAY, ROLE_PROPAGATION,
    SimConfig, WriteLimit, parse_duration, parse_time_scale,
};
use crate::core::Core;
pub use crate::model::sp_cluster;
use crate::sync::lock;

/// A running simulator's view: addresses, files, state, log, faults, truth.
#[derive(Clone)]
pub struct Sim {
    core: Arc<Core>,
}

impl std::fmt::Debug for Sim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sim")
            .field("url", &self.core.url)
            .finish_non_exhaustive()
    }
}

impl Sim {
    /// `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.core.url.clone()
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.core.port
    }

    /// The directory holding its files (absolute).
    pub fn dir(&self) -> &Path {
        &self.core.dir
    }

    /// `DIR/ca.pem`.
    pub fn ca_pem_path(&self) -> &Path {
        &self.core.ca_file
    }

    /// `DIR/cloud.json`.
    pub fn cloud_file_path(&self) -> &Path {
        &self.core.cloud_file
    }

    /// `DIR/sim.env`.
    pub fn env_file_path(&self) -> &Path {
        &self.core.env_file
    }

    /// The `sim.env` pairs, in file order.
    pub fn env(&self) -> Vec<(String, String)> {
        self.core.env.clone()
    }

    /// The value of one `sim.env` key.
    pub fn env_var(&self, key: &str) -> Option<String> {
        self.core
            .env
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    }

    /// The whole state, as `GET /_sim/state` returns it.
    pub fn state(&self) -> Value {
        control::state_json(&self.core)
    }

    /// Some collections of the state (`applications`, `service_principals`,
    /// `role_assignments`, `clusters`, `operations`, `registries`), each as [`Sim::state`] has
    /// it, in an object without the rest: a test checking one app's tags serializes only
    /// the apps, not the whole world.
    ///
    /// # Panics
    /// When a name is not one of those collections.
    pub fn state_of(&self, names: &[&str]) -> Value {
        control::state_of(&self.core, names)
    }

    /// The request log, as `GET /_sim/requests` returns it.
    pub fn requests(&self) -> Vec<Value> {
        lock(&self.core.log).clone()
    }

    /// Empty the request log.
    pub fn clear_requests(&self) {
        lock(&self.core.log).clear();
    }

    /// Add a fault rule (or an array of rules), as `POST /_sim/faults` does.
    pub fn add_fault(&self, rule: Value) -> anyhow::Result<()> {
        faults::add(&self.core.faults, rule)
            .map(|_| ())
            .map_err(anyhow::Error::msg)
    }

    /// The fault rules with their counters.
    pub fn faults(&self) -> Value {
        serde_json::to_value(&*lock(&self.core.faults)).unwrap_or(Value::Null)
    }

    /// Remove every fault rule.
    pub fn clear_faults(&self) {
        lock(&self.core.faults).clear();
    }

    /// Azure's time now on this simulator's clock.
    pub fn now(&self) -> time::OffsetDateTime {
        self.core.now()
    }

    /// Moves Azure's clock on by `by` (Azure's time), as `POST /_sim/clock/advance` does:
    /// every delay and operation due meanwhile is due now, so a test of an hour-long reset
    /// does not wait an hour.
    pub fn advance(&self, by: Duration) {
        self.core.clock.advance(by);
    }

    /// Real seconds per second of Azure's time.
    pub fn time_scale(&self) -> f64 {
        self.core.clock.scale()
    }

    /// Whether the cluster (by name or id) can pull `image` now: `{"pulled","status","reason"}`.
    pub fn pull(&self, cluster_name: &str, image: &str) -> Value {
        registry::pull(&self.core, cluster_name, image).1
    }
}

/// A simulator serving on the caller's runtime.
pub struct Running {
    sim: Sim,
    stop: tokio::sync::watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("sim", &self.sim)
            .finish_non_exhaustive()
    }
}

impl Deref for Running {
    type Target = Sim;
    fn deref(&self) -> &Sim {
        &self.sim
    }
}

impl Running {
    /// A cloneable view of this simulator.
    pub fn sim(&self) -> Sim {
        self.sim.clone()
    }

    /// Stop accepting, finish or drop open connections, and wait for the server to end.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Bind, write `ca.pem`, `cloud.json` and `sim.env`, and serve on the current runtime until
/// [`Running::shutdown`] (or drop).
pub async fn serve(cfg: SimConfig) -> anyhow::Result<Running> {
    let started = server::start(cfg).await?;
    Ok(Running {
        sim: Sim { core: started.core },
        stop: started.stop,
        task: Some(started.task),
    })
}

/// A simulator on its own thread and runtime; dropping it stops it and joins the thread.
pub struct SimHandle {
    sim: Sim,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimHandle")
            .field("sim", &self.sim)
            .finish_non_exhaustive()
    }
}

impl Deref for SimHandle {
    type Target = Sim;
    fn deref(&self) -> &Sim {
        &self.sim
    }
}

impl SimHandle {
    /// A cloneable view of this simulator.
    pub fn sim(&self) -> Sim {
        self.sim.clone()
    }

    /// Stop the server and join its thread.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// Like [`serve`], on a new thread with its own multi-thread runtime (for synchronous tests).
pub fn spawn(cfg: SimConfig) -> anyhow::Result<SimHandle> {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<anyhow::Result<Sim>>();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("azure-sim".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(e.into()));
                    return;
                }
            };
            rt.block_on(async move {
                match serve(cfg).await {
                    Ok(running) => {
                        let _ = ready_tx.send(Ok(running.sim()));
                        let _ = stop_rx.await;
                        running.shutdown().await;
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            });
        })?;
    match ready_rx.recv() {
        Ok(Ok(sim)) => Ok(SimHandle {
            sim,
            stop: Some(stop_tx),
            thread: Some(thread),
        }),
        Ok(Err(e)) => {
            let _ = thread.join();
            Err(e)
        }
        Err(_) => {
            let _ = thread.join();
            anyhow::bail!("the simulator thread ended before it was ready")
        }
    }
}
