//! The embedded durable store: one SQLite file (bundled SQLite, WAL).
//!
//! Each [`Store::commit`] is one transaction, synced to disk
//! (`synchronous = FULL`) before it returns: a batch of changes survives a
//! `kill -9` and a power loss once committed. The schema is versioned: the
//! `schema_migrations` table records every migration applied (the steps are
//! [shared](crate::migrations) with PostgreSQL), and a file whose version is
//! newer than this program knows is refused at open.
//!
//! ```no_run
//! use dispatch_scheduler::{Scheduler, SchedulerConfig, SqliteStore};
//!
//! let store = SqliteStore::open("dispatch-scheduler.db".as_ref())?;
//! let scheduler = Scheduler::with_store(SchedulerConfig::new(), Box::new(store))?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::Path;

use prost::Message as _;
use rusqlite::{Connection, OptionalExtension as _, params};

use crate::machine::RunState;
use crate::migrations;
use crate::store::{Store, StoreError};

/// Runs in one SQLite file; see the [module](self).
#[derive(Debug)]
pub struct SqliteStore {
    connection: Connection,
}

fn io(error: rusqlite::Error) -> StoreError {
    StoreError::Io(error.to_string())
}

impl SqliteStore {
    /// Opens (or creates) the store at `path`, applying the migrations it
    /// lacks; refuses a file of a newer schema.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let connection = Connection::open(path)
            .map_err(|e| StoreError::Open(format!("{}: {e}", path.display())))?;
        Self::setup(connection, &path.display().to_string())
    }

    /// A store in memory (for tests: nothing survives).
    pub fn in_memory() -> Result<Self, StoreError> {
        let connection =
            Connection::open_in_memory().map_err(|e| StoreError::Open(e.to_string()))?;
        Self::setup(connection, ":memory:")
    }

    fn setup(connection: Connection, name: &str) -> Result<Self, StoreError> {
        let open = |e: rusqlite::Error| StoreError::Open(format!("{name}: {e}"));
        let mode: String = connection
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .map_err(open)?;
        if !mode.eq_ignore_ascii_case("wal") && name != ":memory:" {
            return Err(StoreError::Open(format!(
                "{name}: SQLite would not use write-ahead logging (journal_mode is {mode})"
            )));
        }
        connection
            .execute_batch(
                "PRAGMA synchronous = FULL;
                 PRAGMA foreign_keys = ON;
                 PRAGMA busy_timeout = 5000;
                 CREATE TABLE IF NOT EXISTS schema_migrations (
                     version     INTEGER PRIMARY KEY NOT NULL,
                     description TEXT NOT NULL,
                     applied_ms  INTEGER NOT NULL
                 );",
            )
            .map_err(open)?;
        let mut store = SqliteStore { connection };
        store.migrate(name)?;
        Ok(store)
    }

    /// The schema version of the file.
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        let version: Option<i64> = self
            .connection
            .query_row("SELECT MAX(version) FROM schema_migrations", [], |row| {
                row.get(0)
            })
            .map_err(io)?;
        Ok(u32::try_from(version.unwrap_or(0)).unwrap_or(u32::MAX))
    }

    fn migrate(&mut self, name: &str) -> Result<(), StoreError> {
        let found = self.schema_version()?;
        let pending = migrations::pending(found)?;
        let now = i64::try_from(crate::driver::now_ms()).unwrap_or(i64::MAX);
        let transaction = self.connection.transaction().map_err(io)?;
        for (version, step) in pending {
            transaction.execute_batch(step.sqlite).map_err(|e| {
                StoreError::Open(format!("{name}: migration {version} failed: {e}"))
            })?;
            transaction
                .execute(
                    "INSERT INTO schema_migrations (version, description, applied_ms) \
                     VALUES (?1, ?2, ?3)",
                    params![i64::from(version), step.description, now],
                )
                .map_err(io)?;
        }
        transaction.commit().map_err(io)
    }
}

fn decode(bytes: &[u8]) -> Result<RunState, StoreError> {
    RunState::decode(bytes).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn as_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Store for SqliteStore {
    fn commit(&mut self, changes: &[RunState]) -> Result<(), StoreError> {
        let transaction = self.connection.transaction().map_err(io)?;
        {
            let mut insert = transaction
                .prepare_cached(
                    "INSERT OR REPLACE INTO runs \
                     (id, parent, root, function, done, status, created_ms, finished_ms, state) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )
                .map_err(io)?;
            for run in changes {
                insert
                    .execute(params![
                        run.id,
                        run.parent,
                        run.root,
                        run.function,
                        run.is_done(),
                        run.status,
                        as_i64(run.created_ms),
                        as_i64(run.finished_ms),
                        run.encode_to_vec(),
                    ])
                    .map_err(io)?;
            }
        }
        transaction.commit().map_err(io)
    }

    fn unfinished(&mut self) -> Result<Vec<RunState>, StoreError> {
        let mut query = self
            .connection
            .prepare_cached("SELECT state FROM runs WHERE done = 0")
            .map_err(io)?;
        let rows = query
            .query_map([], |row| row.get::<_, Vec<u8>>(0))
            .map_err(io)?;
        let mut runs = Vec::new();
        for row in rows {
            runs.push(decode(&row.map_err(io)?)?);
        }
        Ok(runs)
    }

    fn get(&mut self, id: &str) -> Result<Option<RunState>, StoreError> {
        let bytes: Option<Vec<u8>> = self
            .connection
            .prepare_cached("SELECT state FROM runs WHERE id = ?1")
            .map_err(io)?
            .query_row([id], |row| row.get(0))
            .optional()
            .map_err(io)?;
        bytes.map(|b| decode(&b)).transpose()
    }

    fn purge(&mut self, before_ms: u64) -> Result<usize, StoreError> {
        self.connection
            .prepare_cached("DELETE FROM runs WHERE done = 1 AND finished_ms < ?1")
            .map_err(io)?
            .execute([as_i64(before_ms)])
            .map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SCHEMA_VERSION;
    use crate::machine::Phase;

    fn run(id: &str, done: bool, finished_ms: u64) -> RunState {
        RunState {
            id: id.into(),
            root: id.into(),
            function: "f".into(),
            phase: if done { Phase::Done } else { Phase::Pending } as i32,
            finished_ms,
            ..Default::default()
        }
    }

    #[test]
    fn runs_survive_reopening_and_finished_ones_are_purged() {
        let dir = std::env::temp_dir().join(format!("dispatch-sqlite-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.db");
        let _ = std::fs::remove_file(&path);
        {
            let mut store = SqliteStore::open(&path).unwrap();
            store
                .commit(&[run("a", false, 0), run("b", true, 10), run("c", true, 99)])
                .unwrap();
        }
        let mut store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        let unfinished = store.unfinished().unwrap();
        assert_eq!(unfinished, vec![run("a", false, 0)]);
        assert_eq!(store.get("b").unwrap(), Some(run("b", true, 10)));
        assert_eq!(store.purge(50).unwrap(), 1);
        assert_eq!(store.get("b").unwrap(), None);
        assert!(store.get("c").unwrap().is_some());
        assert!(
            store.get("a").unwrap().is_some(),
            "unfinished runs are never purged"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_newer_schema_is_refused_with_a_clear_message() {
        let dir = std::env::temp_dir().join(format!("dispatch-sqlite-new-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("b.db");
        let _ = std::fs::remove_file(&path);
        let store = SqliteStore::open(&path).unwrap();
        store
            .connection
            .execute(
                "INSERT INTO schema_migrations VALUES (?1, 'from the future', 0)",
                [i64::from(SCHEMA_VERSION) + 1],
            )
            .unwrap();
        drop(store);
        let error = SqliteStore::open(&path).unwrap_err();
        assert!(matches!(error, StoreError::NewerSchema { .. }), "{error}");
        assert!(
            error.to_string().contains("newer than this program knows"),
            "{error}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
