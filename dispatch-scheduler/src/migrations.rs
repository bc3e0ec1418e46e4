//! The schema's versions, shared by every SQL store.
//!
//! Version `i + 1` is [`MIGRATIONS`]`[i]`, the same step on SQLite and on
//! PostgreSQL; each store applies the steps a database lacks when it opens
//! it, in one transaction, and records each in its `schema_migrations`
//! table (`version`, `description`, `applied_ms`). A database whose newest
//! recorded version is past [`SCHEMA_VERSION`] was written by a newer
//! program: it is refused ([`StoreError::NewerSchema`]), never changed.
//!
//! Never edit a step that shipped; add the next. A step's two texts differ
//! only where the dialects do (column types, mostly).

use crate::store::StoreError;

/// One step of the schema: what it does, and its SQL in each dialect.
#[derive(Debug)]
pub(crate) struct Migration {
    /// What the step does (recorded in `schema_migrations`).
    pub(crate) description: &'static str,
    /// The step on SQLite.
    pub(crate) sqlite: &'static str,
    /// The step on PostgreSQL.
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) postgres: &'static str,
}

/// The steps, in order.
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        description: "runs: one row per run, its state as a RunState message",
        sqlite: "CREATE TABLE runs (
         id          TEXT PRIMARY KEY NOT NULL,
         parent      TEXT NOT NULL,
         root        TEXT NOT NULL,
         function    TEXT NOT NULL,
         done        INTEGER NOT NULL,
         status      INTEGER NOT NULL,
         created_ms  INTEGER NOT NULL,
         finished_ms INTEGER NOT NULL,
         state       BLOB NOT NULL
     );
     CREATE INDEX runs_by_done ON runs (done, finished_ms);
     CREATE INDEX runs_by_root ON runs (root);",
        // SQLite's INTEGER is 64 bits; PostgreSQL's is 32, hence BIGINT.
        postgres: "CREATE TABLE runs (
         id          TEXT PRIMARY KEY NOT NULL,
         parent      TEXT NOT NULL,
         root        TEXT NOT NULL,
         function    TEXT NOT NULL,
         done        BOOLEAN NOT NULL,
         status      INTEGER NOT NULL,
         created_ms  BIGINT NOT NULL,
         finished_ms BIGINT NOT NULL,
         state       BYTEA NOT NULL
     );
     CREATE INDEX runs_by_done ON runs (done, finished_ms);
     CREATE INDEX runs_by_root ON runs (root);",
    },
    Migration {
        description: "runs: the lease of an unfinished run (its owner, and until when)",
        // Unused by one process alone (SQLite): the leases of several
        // scheduler processes sharing one PostgreSQL database.
        sqlite: "ALTER TABLE runs ADD COLUMN owner TEXT NOT NULL DEFAULT '';
     ALTER TABLE runs ADD COLUMN lease_until_ms INTEGER NOT NULL DEFAULT 0;
     CREATE INDEX runs_unfinished_by_lease ON runs (lease_until_ms) WHERE done = 0;",
        postgres: "ALTER TABLE runs ADD COLUMN owner TEXT NOT NULL DEFAULT '';
     ALTER TABLE runs ADD COLUMN lease_until_ms BIGINT NOT NULL DEFAULT 0;
     CREATE INDEX runs_unfinished_by_lease ON runs (lease_until_ms) WHERE NOT done;",
    },
    Migration {
        description: "runs: the unfinished runs by owner (a renewal reads only its own)",
        sqlite: "CREATE INDEX runs_unfinished_by_owner ON runs (owner) WHERE done = 0;",
        postgres: "CREATE INDEX runs_unfinished_by_owner ON runs (owner) WHERE NOT done;",
    },
];

/// The newest schema version this program knows.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// The steps a database at version `found` lacks, with their version
/// numbers; refuses a database newer than this program.
pub(crate) fn pending(
    found: u32,
) -> Result<impl Iterator<Item = (u32, &'static Migration)>, StoreError> {
    if found > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema {
            found,
            known: SCHEMA_VERSION,
        });
    }
    Ok((1..).zip(MIGRATIONS).skip(found as usize))
}

/// Whether a database at version `found`, named `name`, can be read as it
/// is (no migration applied: `dispatch runs`): refuses one newer than this
/// program, and one the scheduler never set up.
pub(crate) fn readable_as_is(found: u32, name: &str) -> Result<(), StoreError> {
    if found > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema {
            found,
            known: SCHEMA_VERSION,
        });
    }
    if found == 0 {
        return Err(no_runs_table(name));
    }
    Ok(())
}

/// The refusal of a database without the scheduler's tables.
pub(crate) fn no_runs_table(name: &str) -> StoreError {
    StoreError::Open(format!(
        "{name}: the store has no runs table yet (is it the --db of `dispatch scheduler`?)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_step_is_pending_on_an_empty_database_and_none_on_a_current_one() {
        let all: Vec<u32> = pending(0).unwrap().map(|(v, _)| v).collect();
        assert_eq!(all, (1..=SCHEMA_VERSION).collect::<Vec<_>>());
        assert_eq!(pending(SCHEMA_VERSION).unwrap().count(), 0);
        let error = pending(SCHEMA_VERSION + 1).err().unwrap();
        assert!(
            error
                .to_string()
                .contains(&format!("version {}", SCHEMA_VERSION + 1)),
            "{error}"
        );
    }
}
