//! The runs a scheduler knows: their identity, attempts and outcome, in memory.

use core::hash::{BuildHasher, Hasher};
use core::sync::atomic::{AtomicU64, Ordering};
use core::time::Duration;
use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::sync::{Mutex, PoisonError};

use dispatch_core::proto::sdk::v1 as pb;
use dispatch_core::status::Status;
use serde_json::{Value, json};
use tokio::sync::watch;

/// How a run ended: its status and its result.
#[derive(Clone, Debug, PartialEq)]
pub struct RunOutcome {
    /// The status of the last attempt (`OK` for a normal return).
    pub status: Status,
    /// The result, as the caller of the run gets it: the output or the error,
    /// with the run's dispatch id and the call's correlation id.
    pub result: pb::CallResult,
}

/// A run as the scheduler knows it.
#[derive(Clone, Debug, PartialEq)]
pub struct RunInfo {
    /// The run's id.
    pub dispatch_id: String,
    /// The function called (after tail calls: the last one).
    pub function: String,
    /// The endpoint called (after tail calls: the last one).
    pub endpoint: String,
    /// The run that dispatched this one through a poll (empty for a root).
    pub parent_dispatch_id: String,
    /// The root of this run's tree (its own id for a root).
    pub root_dispatch_id: String,
    /// Run requests sent so far, all steps and retries included.
    pub attempts: u32,
    /// The outcome, once the run is done.
    pub outcome: Option<RunOutcome>,
}

impl RunInfo {
    /// The JSON the wait route answers with: `dispatchId`, `function`,
    /// `endpoint`, `parentDispatchId`, `rootDispatchId`, `attempts`, `done`
    /// and, when done, `status` (the enum name) and `result` (the
    /// `CallResult` in proto3 JSON; `null` with a `resultNote` when its
    /// output's type has no JSON form here).
    pub fn to_json(&self) -> Value {
        let mut value = json!({
            "dispatchId": self.dispatch_id,
            "function": self.function,
            "endpoint": self.endpoint,
            "parentDispatchId": self.parent_dispatch_id,
            "rootDispatchId": self.root_dispatch_id,
            "attempts": self.attempts,
            "done": self.outcome.is_some(),
        });
        if let (Some(outcome), Some(map)) = (&self.outcome, value.as_object_mut()) {
            map.insert("status".into(), outcome.status.name().into());
            match dispatch_std::json::to_json(&outcome.result) {
                Ok(result) => {
                    map.insert("result".into(), result);
                }
                Err(error) => {
                    map.insert("result".into(), Value::Null);
                    map.insert("resultNote".into(), error.to_string().into());
                }
            }
        }
        value
    }
}

/// One run's record; `done` is `Some` once the outcome is known.
struct Record {
    info: RunInfo,
    done: watch::Sender<bool>,
}

/// Every run, by dispatch id.
#[derive(Default)]
pub(crate) struct Store {
    runs: Mutex<HashMap<String, Record>>,
    counter: AtomicU64,
}

impl Store {
    /// A new, unique dispatch id: 64 random bits and a counter, in hex.
    pub(crate) fn new_id(&self) -> String {
        let mut hasher = RandomState::new().build_hasher();
        hasher.write_u64(0xd15_a7c4);
        let count = self.counter.fetch_add(1, Ordering::Relaxed);
        format!("{:016x}{count:06x}", hasher.finish())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Record>> {
        // A panic elsewhere while holding the lock leaves the map usable.
        self.runs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records a new run.
    pub(crate) fn insert(&self, info: RunInfo) {
        let (done, _) = watch::channel(false);
        self.lock()
            .insert(info.dispatch_id.clone(), Record { info, done });
    }

    /// Counts one more attempt of run `id`, now calling `function` at `endpoint`.
    pub(crate) fn attempted(&self, id: &str, function: &str, endpoint: &str) {
        if let Some(record) = self.lock().get_mut(id) {
            record.info.attempts = record.info.attempts.saturating_add(1);
            if record.info.function != function {
                function.clone_into(&mut record.info.function);
            }
            if record.info.endpoint != endpoint {
                endpoint.clone_into(&mut record.info.endpoint);
            }
        }
    }

    /// Records the outcome of run `id` and wakes its waiters.
    pub(crate) fn finish(&self, id: &str, outcome: RunOutcome) {
        if let Some(record) = self.lock().get_mut(id) {
            record.info.outcome = Some(outcome);
            record.done.send_replace(true);
        }
    }

    /// Run `id` as it is now.
    pub(crate) fn info(&self, id: &str) -> Option<RunInfo> {
        self.lock().get(id).map(|record| record.info.clone())
    }

    /// Waits for run `id` to be done, at most `timeout`, then returns it.
    pub(crate) async fn wait(&self, id: &str, timeout: Option<Duration>) -> Option<RunInfo> {
        let mut done = self.lock().get(id)?.done.subscribe();
        let finished = done.wait_for(|done| *done);
        match timeout {
            Some(timeout) => {
                let _ = tokio::time::timeout(timeout, finished).await;
            }
            None => {
                let _ = finished.await;
            }
        }
        self.info(id)
    }
}
