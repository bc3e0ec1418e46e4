//! The embedded durable store: one SQLite file (bundled SQLite, WAL).

use std::path::Path;

use prost::Message as _;
use rusqlite::{Connection, OptionalExtension as _, params};

use crate::machine::RunState;
use crate::migrations;
use crate::store::{RunQuery, Store, StoreError};

/// The embedded durable store: one SQLite file (bundled SQLite, WAL).
///
/// Each [`Store::commit`] is one transaction, synced to disk
/// (`synchronous = FULL`) before it returns: a batch of changes survives a
/// `kill -9` and a power loss once committed. The schema is versioned: the
/// `schema_migrations` table records every migration applied (the steps are
/// shared with PostgreSQL), and a file whose version is
/// newer than this program knows is refused at open.
///
/// ```no_run
/// use dispatch_scheduler::{Scheduler, SchedulerConfig, SqliteStore};
///
/// let store = SqliteStore::open("dispatch-scheduler.db".as_ref())?;
/// let scheduler = Scheduler::with_store(SchedulerConfig::new(), Box::new(store))?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
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

    /// Opens the store at `path` to read it only (`dispatch runs`): safe
    /// while a scheduler writes it (WAL readers see the last commit). No
    /// migration is applied; a file that is not a store, or of a newer
    /// schema, is refused.
    pub fn open_read_only(path: &Path) -> Result<Self, StoreError> {
        use rusqlite::OpenFlags;
        let name = path.display().to_string();
        if !path.is_file() {
            return Err(StoreError::Open(format!(
                "{name}: no such file (is it the --db of `dispatch scheduler`?)"
            )));
        }
        let connection = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| StoreError::Open(format!("{name}: {e}")))?;
        connection
            .execute_batch("PRAGMA busy_timeout = 5000;")
            .map_err(|e| StoreError::Open(format!("{name}: {e}")))?;
        let store = SqliteStore { connection };
        let found = store
            .schema_version()
            .map_err(|e| StoreError::Open(format!("{name}: not a scheduler store ({e})")))?;
        migrations::readable_as_is(found, &name)?;
        Ok(store)
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

    fn list(&mut self, query: &RunQuery) -> Result<Vec<RunState>, StoreError> {
        // Every filter is a column; an unset one matches all (`?n IS NULL`).
        let mut select = self
            .connection
            .prepare_cached(
                "SELECT state FROM runs \
                 WHERE (?1 IS NULL OR done = ?1) \
                   AND (?2 IS NULL OR (done = 1 AND status = ?2)) \
                   AND (?3 IS NULL OR function = ?3) \
                   AND (?4 IS NULL OR root = ?4) \
                 ORDER BY created_ms DESC, id DESC LIMIT ?5",
            )
            .map_err(io)?;
        let limit = i64::try_from(query.limit).unwrap_or(i64::MAX);
        let rows = select
            .query_map(
                params![
                    query.done,
                    query.status.map(|s| s.number()),
                    query.function,
                    query.root,
                    limit
                ],
                |row| row.get::<_, Vec<u8>>(0),
            )
            .map_err(io)?;
        let mut runs = Vec::new();
        for row in rows {
            runs.push(decode(&row.map_err(io)?)?);
        }
        Ok(runs)
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
    fn list_filters_and_orders_and_a_read_only_store_reads_what_was_committed() {
        use crate::store::{MemoryStore, RunQuery};
        use dispatch_core::status::Status;
        let dir = std::env::temp_dir().join(format!("dispatch-sqlite-list-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.db");
        let _ = std::fs::remove_file(&path);
        let mut runs = Vec::new();
        for (i, (function, status)) in [("f", 1), ("g", 1), ("f", 7), ("f", 0)].iter().enumerate() {
            let mut r = run(&format!("r{i}"), *status != 0, 10);
            r.function = (*function).into();
            r.status = *status;
            r.created_ms = i as u64;
            if i == 3 {
                r.root = "r2".into();
                r.parent = "r2".into();
            }
            runs.push(r);
        }
        let mut writer = SqliteStore::open(&path).unwrap();
        writer.commit(&runs).unwrap();
        let mut memory = MemoryStore::default();
        memory.commit(&runs).unwrap();
        let mut reader = SqliteStore::open_read_only(&path).unwrap();
        let ids = |store: &mut dyn Store, query: RunQuery| -> Vec<String> {
            store
                .list(&query)
                .unwrap()
                .into_iter()
                .map(|r| r.id)
                .collect()
        };
        let all = RunQuery {
            limit: 10,
            ..RunQuery::default()
        };
        for store in [&mut reader as &mut dyn Store, &mut memory] {
            assert_eq!(ids(store, all.clone()), ["r3", "r2", "r1", "r0"]);
            let query = RunQuery {
                function: Some("f".into()),
                done: Some(true),
                ..all.clone()
            };
            assert_eq!(ids(store, query), ["r2", "r0"]);
            let query = RunQuery {
                status: Some(Status::from_number(7).unwrap()),
                ..all.clone()
            };
            assert_eq!(ids(store, query), ["r2"]);
            let query = RunQuery {
                root: Some("r2".into()),
                ..all.clone()
            };
            assert_eq!(ids(store, query), ["r3", "r2"]);
            let query = RunQuery {
                done: Some(false),
                ..all.clone()
            };
            assert_eq!(ids(store, query), ["r3"]);
            let query = RunQuery {
                limit: 1,
                ..all.clone()
            };
            assert_eq!(ids(store, query), ["r3"]);
        }
        // The reader sees later commits, and cannot write.
        writer.commit(&[run("late", true, 5)]).unwrap();
        assert!(reader.get("late").unwrap().is_some());
        assert!(reader.commit(&[run("no", true, 5)]).is_err());
        let error = SqliteStore::open_read_only(&dir.join("absent.db")).unwrap_err();
        assert!(error.to_string().contains("no such file"), "{error}");
        assert!(!dir.join("absent.db").exists());
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
