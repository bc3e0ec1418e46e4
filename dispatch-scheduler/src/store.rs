//! Where runs are kept: the [`Store`] trait, the in-memory store, and what
//! the wait route reports of a run ([`RunInfo`]).
//!
//! A store keeps every run's [`RunState`] as the machine last changed it.
//! The driver commits each batch of changes in one call to
//! [`Store::commit`] (group commit) before any effect of that batch is
//! visible: a Dispatch answered with ids, a Run request sent, an outcome
//! reported. After a restart, [`Store::unfinished`] gives the machine back
//! every run that has no outcome.

use core::fmt;
use std::collections::HashMap;

use dispatch_core::proto::sdk::v1 as pb;
use dispatch_core::status::Status;
use serde_json::{Value, json};

use crate::machine::RunState;

/// Why a store failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum StoreError {
    /// The store could not be opened: what, and why.
    Open(String),
    /// A read or a write failed.
    Io(String),
    /// The store was written by a newer version of this program.
    NewerSchema {
        /// The schema version in the store.
        found: u32,
        /// The newest version this program knows.
        known: u32,
    },
    /// A run's record does not decode.
    Corrupt(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Open(why) => write!(f, "the store cannot be opened: {why}"),
            StoreError::Io(why) => write!(f, "the store failed: {why}"),
            StoreError::NewerSchema { found, known } => write!(
                f,
                "the store's schema is version {found}, newer than this program knows \
                 ({known}): run the newer dispatch, or point --db at another store"
            ),
            StoreError::Corrupt(why) => write!(f, "a run in the store does not decode: {why}"),
        }
    }
}

impl core::error::Error for StoreError {}

/// Which runs [`Store::list`] returns: every field set must match; newest
/// (by creation) first, at most `limit`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunQuery {
    /// Finished runs only (`Some(true)`) or unfinished ones only.
    pub done: Option<bool>,
    /// Finished runs with this outcome status only.
    pub status: Option<Status>,
    /// Runs whose (last) function is this one only.
    pub function: Option<String>,
    /// The runs of this tree only (its root included).
    pub root: Option<String>,
    /// The most runs returned (0: none).
    pub limit: usize,
}

impl RunQuery {
    /// Whether `run` matches (the limit aside).
    pub fn matches(&self, run: &RunState) -> bool {
        self.done.is_none_or(|done| run.is_done() == done)
            && self
                .status
                .is_none_or(|status| run.outcome_status() == Some(status))
            && self.function.as_ref().is_none_or(|f| *f == run.function)
            && self.root.as_ref().is_none_or(|r| *r == run.root)
    }
}

/// Where the scheduler keeps its runs. Small on purpose: every backend
/// (memory, SQLite, PostgreSQL) implements these five calls.
pub trait Store: Send {
    /// Makes every state in `changes` durable (inserted or replaced by id),
    /// all or none: when it returns `Ok`, they survive a crash.
    fn commit(&mut self, changes: &[RunState]) -> Result<(), StoreError>;
    /// Every run without an outcome.
    fn unfinished(&mut self) -> Result<Vec<RunState>, StoreError>;
    /// Run `id`, finished or not.
    fn get(&mut self, id: &str) -> Result<Option<RunState>, StoreError>;
    /// Deletes the runs finished before `before_ms` (ms since the epoch);
    /// returns how many.
    fn purge(&mut self, before_ms: u64) -> Result<usize, StoreError>;
    /// The runs matching `query` (for operators: `dispatch runs`).
    fn list(&mut self, query: &RunQuery) -> Result<Vec<RunState>, StoreError>;
    /// The store's leases, when several scheduler processes may share it
    /// (PostgreSQL); `None` (the default): one process holds every run.
    fn leases(&mut self) -> Option<&mut dyn Leases> {
        None
    }
}

/// Leases on unfinished runs, for scheduler processes sharing one store:
/// a run is driven only by the owner holding its lease, and every write of
/// a run is fenced by it. Ownership changes only through [`Leases::claim`].
pub trait Leases {
    /// [`Store::commit`] for `owner`, all in one transaction: a new run is
    /// inserted held by `owner` until `now_ms + lease_ms`; a run another
    /// owner holds is not written. Returns the ids not written (runs
    /// `owner` lost and must stop driving).
    fn commit_as(
        &mut self,
        owner: &str,
        now_ms: u64,
        lease_ms: u64,
        changes: &[RunState],
    ) -> Result<Vec<String>, StoreError>;
    /// Takes up to `limit` unfinished runs whose lease ended by `now_ms`
    /// (or that never had one) for `owner`, until `now_ms + lease_ms`.
    fn claim(
        &mut self,
        owner: &str,
        now_ms: u64,
        lease_ms: u64,
        limit: usize,
    ) -> Result<Vec<RunState>, StoreError>;
    /// Extends to `now_ms + lease_ms` every lease `owner` still holds;
    /// returns the ids of those runs (a run it drives that is not among
    /// them was taken over).
    fn renew(&mut self, owner: &str, now_ms: u64, lease_ms: u64)
    -> Result<Vec<String>, StoreError>;
    /// Ends `owner`'s leases at once (a clean shutdown); returns how many.
    fn release(&mut self, owner: &str) -> Result<usize, StoreError>;
    /// The finished runs among `ids` (children whose results a parent
    /// held here awaits).
    fn finished_among(&mut self, ids: &[String]) -> Result<Vec<RunState>, StoreError>;
}

/// Runs in memory: nothing survives the process (the tests' and the
/// benchmark's baseline). Finished runs are still purged after the retention.
#[derive(Debug, Default)]
pub struct MemoryStore {
    runs: HashMap<String, RunState>,
}

impl Store for MemoryStore {
    fn commit(&mut self, changes: &[RunState]) -> Result<(), StoreError> {
        for run in changes {
            self.runs.insert(run.id.clone(), run.clone());
        }
        Ok(())
    }

    fn unfinished(&mut self) -> Result<Vec<RunState>, StoreError> {
        Ok(self
            .runs
            .values()
            .filter(|r| !r.is_done())
            .cloned()
            .collect())
    }

    fn get(&mut self, id: &str) -> Result<Option<RunState>, StoreError> {
        Ok(self.runs.get(id).cloned())
    }

    fn purge(&mut self, before_ms: u64) -> Result<usize, StoreError> {
        let before = self.runs.len();
        self.runs
            .retain(|_, run| !(run.is_done() && run.finished_ms < before_ms));
        Ok(before - self.runs.len())
    }

    fn list(&mut self, query: &RunQuery) -> Result<Vec<RunState>, StoreError> {
        let mut runs: Vec<RunState> = self
            .runs
            .values()
            .filter(|run| query.matches(run))
            .cloned()
            .collect();
        runs.sort_by(|a, b| b.created_ms.cmp(&a.created_ms).then(b.id.cmp(&a.id)));
        runs.truncate(query.limit);
        Ok(runs)
    }
}

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

impl From<&RunState> for RunInfo {
    fn from(run: &RunState) -> Self {
        RunInfo {
            dispatch_id: run.id.clone(),
            function: run.function.clone(),
            endpoint: run.endpoint.clone(),
            parent_dispatch_id: run.parent.clone(),
            root_dispatch_id: run.root.clone(),
            attempts: run.attempts,
            outcome: run.outcome_status().map(|status| RunOutcome {
                status,
                result: run.result.clone().unwrap_or_default(),
            }),
        }
    }
}
