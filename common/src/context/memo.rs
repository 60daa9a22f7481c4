//! Run-wide memos: a lookup made once per run ([`Memo`]), and work started before an object
//! asks for it ([`Primed`]).

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;

use crate::error::Result;

/// Answers found once per run, by typed key: every object (and every job) asking for the
/// same key while or after it is looked up shares the answer. For reads whose answer does
/// not change during a run (an app's service principal, a built-in role), so that a stream
/// of 200 objects does not ask 200 times. Nothing found (`None`) and errors are not kept:
/// the next object asks again.
pub struct Memo<K, V> {
    slots: std::sync::Mutex<HashMap<K, Arc<tokio::sync::Mutex<Option<V>>>>>,
}

impl<K, V> Default for Memo<K, V> {
    fn default() -> Self {
        Self {
            slots: std::sync::Mutex::default(),
        }
    }
}

impl<K: Eq + Hash, V: Clone> Memo<K, V> {
    /// The answer for `key`, from `lookup` the first time.
    pub async fn get_or<F, Fut>(&self, key: K, lookup: F) -> Result<Option<V>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<V>>>,
    {
        let slot = {
            let mut slots = self
                .slots
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            slots.entry(key).or_default().clone()
        };
        let mut found = slot.lock().await;
        if let Some(v) = found.as_ref() {
            return Ok(Some(v.clone()));
        }
        let answer = lookup().await?;
        found.clone_from(&answer);
        Ok(answer)
    }
}

/// A value some work started before an object asked for it (see [`crate::driver::Tool::prepare`]),
/// taken by the first object that needs it: for reads of things that may change during a run
/// (a cluster's state), which later objects read afresh. A failure of the early work is
/// the failure of the object that takes it, never of the run.
pub struct Primed<K, V> {
    slots: std::sync::Mutex<HashMap<K, tokio::task::JoinHandle<Result<V>>>>,
}

impl<K, V> Default for Primed<K, V> {
    fn default() -> Self {
        Self {
            slots: std::sync::Mutex::default(),
        }
    }
}

impl<K: Eq + Hash, V: Send + 'static> Primed<K, V> {
    /// Starts `work` for `key` now (on the run's runtime), unless it is already started.
    pub fn start<Fut>(&self, key: K, work: Fut)
    where
        Fut: Future<Output = Result<V>> + Send + 'static,
    {
        let mut slots = self
            .slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        slots.entry(key).or_insert_with(|| tokio::spawn(work));
    }

    /// The early answer for `key` if one was started (once), else `lookup`'s.
    pub async fn take_or<F, Fut>(&self, key: &K, lookup: F) -> Result<V>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V>>,
    {
        let early = self
            .slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(key);
        match early {
            Some(task) => match task.await {
                Ok(answer) => answer,
                // The task was cancelled (the runtime ending): ask now.
                Err(_) => lookup().await,
            },
            None => lookup().await,
        }
    }
}
