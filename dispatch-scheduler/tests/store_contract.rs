//! The `Store` trait's contract, one suite run against every store: the
//! memory store, SQLite, and PostgreSQL.
//!
//! The PostgreSQL half needs a server: `DISPATCH_TEST_POSTGRES_URL`
//! (`postgres://user@host:port/database`, a role that may create databases)
//! names it, and each test makes a database of its own there and drops it
//! after. Without the variable, or without the crate's `postgres` feature,
//! each PostgreSQL test prints a `SKIP` line saying why (on stderr, past the
//! test harness's capture) and does nothing. `scripts/ci/postgres` starts a
//! throwaway server and runs this file with the variable set.

use std::path::PathBuf;

use dispatch_core::proto::sdk::v1 as pb;
use dispatch_core::status::Status;
use dispatch_scheduler::machine::{Phase, RunState};
use dispatch_scheduler::{MemoryStore, RunQuery, SCHEMA_VERSION, SqliteStore, Store, StoreError};

#[cfg(feature = "postgres")]
mod postgres_support;

/// A store under test, and the means to open it again on the same data.
trait Backend {
    /// The store, opened for the first time.
    fn open(&mut self) -> Box<dyn Store>;
    /// The store opened again on the same data (`None`: it keeps nothing).
    fn reopen(&mut self) -> Option<Box<dyn Store>>;
}

struct Memory;

impl Backend for Memory {
    fn open(&mut self) -> Box<dyn Store> {
        Box::new(MemoryStore::default())
    }

    fn reopen(&mut self) -> Option<Box<dyn Store>> {
        None
    }
}

/// A SQLite file in a directory of its own, removed when dropped.
struct Sqlite {
    dir: PathBuf,
}

impl Sqlite {
    fn new(test: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "dispatch-store-contract-{test}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Sqlite { dir }
    }

    fn path(&self) -> PathBuf {
        self.dir.join("runs.db")
    }
}

impl Drop for Sqlite {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Backend for Sqlite {
    fn open(&mut self) -> Box<dyn Store> {
        Box::new(SqliteStore::open(&self.path()).unwrap())
    }

    fn reopen(&mut self) -> Option<Box<dyn Store>> {
        Some(self.open())
    }
}

/// Says, past the harness's capture, that a test did not run and why.
#[cfg(not(feature = "postgres"))]
fn skip(test: &str, why: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "SKIP store_contract {test}: {why}");
}

#[cfg(feature = "postgres")]
mod pg {
    use super::*;
    use dispatch_scheduler::{Leases as _, PostgresStore};

    impl Backend for TestDatabase {
        fn open(&mut self) -> Box<dyn Store> {
            Box::new(PostgresStore::open(&self.url).unwrap())
        }

        fn reopen(&mut self) -> Option<Box<dyn Store>> {
            Some(self.open())
        }
    }

    #[test]
    fn a_url_without_a_server_fails_to_open_naming_it_without_its_password() {
        let error = PostgresStore::open("postgres://me:s3cret@127.0.0.1:1/none").unwrap_err();
        let message = error.to_string();
        assert!(matches!(error, StoreError::Open(_)), "{message}");
        assert!(
            message.contains("postgres://me:***@127.0.0.1:1/none"),
            "{message}"
        );
        assert!(!message.contains("s3cret"), "{message}");
    }

    #[test]
    fn a_connection_the_server_cuts_is_made_again_and_the_call_repeated() {
        let Some(db) = TestDatabase::new("store_contract postgres::reconnect") else {
            return;
        };
        let mut store = PostgresStore::open(&db.url).unwrap();
        store.commit(&[run("a", false, 0)]).unwrap();
        for _ in 0..2 {
            let cut: i64 = ::postgres::Client::connect(&db.admin, ::postgres::NoTls)
                .unwrap()
                .query_one(
                    "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity \
                     WHERE datname = $1 AND pid <> pg_backend_pid()",
                    &[&db.name],
                )
                .unwrap()
                .get(0);
            assert_eq!(cut, 1, "the store's one connection");
            store.commit(&[run("b", false, 0)]).unwrap();
        }
        assert_eq!(
            sorted(store.unfinished().unwrap()),
            vec![run("a", false, 0), run("b", false, 0)]
        );
    }

    /// A store at `now` claiming for `owner` with 1 s leases.
    fn claim(store: &mut PostgresStore, owner: &str, now: u64) -> Vec<String> {
        let mut ids: Vec<String> = store
            .claim(owner, now, 1000, 1000)
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect();
        ids.sort();
        ids
    }

    #[test]
    fn processes_claiming_at_once_get_disjoint_runs_and_every_unfinished_one() {
        let Some(db) = TestDatabase::new("store_contract postgres::claim_at_once") else {
            return;
        };
        let mut store = PostgresStore::open(&db.url).unwrap();
        let runs: Vec<RunState> = (0..600)
            .map(|i| run(&format!("r{i:03}"), i % 5 == 0, 1))
            .collect();
        store.commit(&runs).unwrap();
        let claimers: Vec<_> = (0..3)
            .map(|p| {
                let url = db.url.clone();
                std::thread::spawn(move || {
                    let mut store = PostgresStore::open(&url).unwrap();
                    let mut mine = Vec::new();
                    loop {
                        let got = store.claim(&format!("p{p}"), 10_000, 60_000, 7).unwrap();
                        if got.is_empty() {
                            return mine;
                        }
                        mine.extend(got.into_iter().map(|r| r.id));
                    }
                })
            })
            .collect();
        let mut all: Vec<String> = Vec::new();
        for claimer in claimers {
            all.extend(claimer.join().unwrap());
        }
        let claimed = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), claimed, "no run claimed twice");
        let unfinished: Vec<String> = runs
            .iter()
            .filter(|r| !r.is_done())
            .map(|r| r.id.clone())
            .collect();
        assert_eq!(all, unfinished, "every unfinished run, no finished one");
    }

    #[test]
    fn a_lease_renewed_is_kept_and_one_left_to_expire_is_taken_over() {
        let Some(db) = TestDatabase::new("store_contract postgres::lease_expiry") else {
            return;
        };
        let mut a = PostgresStore::open(&db.url).unwrap();
        let mut b = PostgresStore::open(&db.url).unwrap();
        a.commit(&[run("x", false, 0), run("y", false, 0), run("z", true, 1)])
            .unwrap();
        assert_eq!(claim(&mut a, "a", 10_000), ["x", "y"]);
        assert_eq!(claim(&mut b, "b", 10_500), Vec::<String>::new(), "held");
        let mut renewed = a.renew("a", 10_900, 1000).unwrap();
        renewed.sort();
        assert_eq!(renewed, ["x", "y"]);
        assert_eq!(
            claim(&mut b, "b", 11_500),
            Vec::<String>::new(),
            "renewed until 11 900"
        );
        // The holder's new states keep its lease.
        let mut x = run("x", false, 0);
        x.attempts = 3;
        a.commit(core::slice::from_ref(&x)).unwrap();
        assert_eq!(claim(&mut b, "b", 11_800), Vec::<String>::new());
        // `a` stops renewing: at 11 900 the lease is over.
        assert_eq!(claim(&mut b, "b", 11_900), ["x", "y"], "taken over");
        let x_in_store = b.get("x").unwrap().unwrap();
        assert_eq!(x_in_store, x, "with the last state its holder committed");
        assert_eq!(
            a.renew("a", 12_000, 1000).unwrap(),
            Vec::<String>::new(),
            "the old holder learns it lost them"
        );
        assert_eq!(claim(&mut a, "a", 12_000), Vec::<String>::new());
        // A run that finishes is no one's to claim or renew.
        b.commit(&[run("x", true, 12_100)]).unwrap();
        assert_eq!(b.renew("b", 12_200, 1000).unwrap(), ["y"]);
        assert_eq!(claim(&mut a, "a", 99_999), ["y"]);
    }

    #[test]
    fn a_commit_for_an_owner_holds_new_runs_and_never_overwrites_another_holders() {
        let Some(db) = TestDatabase::new("store_contract postgres::commit_as") else {
            return;
        };
        let mut a = PostgresStore::open(&db.url).unwrap();
        let mut b = PostgresStore::open(&db.url).unwrap();
        let lost = a
            .commit_as("a", 10_000, 1000, &[run("x", false, 0), run("y", false, 0)])
            .unwrap();
        assert_eq!(lost, Vec::<String>::new());
        assert_eq!(
            claim(&mut b, "b", 10_999),
            Vec::<String>::new(),
            "new runs are a's"
        );
        let mut by_b = run("x", false, 0);
        by_b.attempts = 9;
        assert_eq!(
            b.commit_as("b", 10_999, 1000, core::slice::from_ref(&by_b))
                .unwrap(),
            ["x"],
            "not b's to write"
        );
        assert_eq!(b.get("x").unwrap(), Some(run("x", false, 0)));
        // a's leases run out; b takes the runs over, and a's late writes are refused.
        assert_eq!(claim(&mut b, "b", 11_000), ["x", "y"]);
        let mut late = run("x", false, 0);
        late.attempts = 1;
        assert_eq!(
            a.commit_as("a", 11_001, 1000, &[late, run("z", false, 0)])
                .unwrap(),
            ["x"]
        );
        assert_eq!(b.get("x").unwrap(), Some(run("x", false, 0)));
        assert_eq!(
            b.get("z").unwrap(),
            Some(run("z", false, 0)),
            "a new run of a's"
        );
        assert_eq!(
            b.commit_as("b", 11_002, 1000, &[run("x", true, 11_002)])
                .unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(b.get("x").unwrap(), Some(run("x", true, 11_002)));
        let mut held = b.renew("b", 11_003, 1000).unwrap();
        held.sort();
        assert_eq!(held, ["y"], "x finished");
    }

    #[test]
    fn the_children_a_lost_parent_started_in_the_same_commit_are_not_inserted() {
        let Some(db) = TestDatabase::new("store_contract postgres::commit_as_children") else {
            return;
        };
        let mut a = PostgresStore::open(&db.url).unwrap();
        let mut b = PostgresStore::open(&db.url).unwrap();
        assert!(
            a.commit_as("a", 10_000, 1000, &[run("p", false, 0)])
                .unwrap()
                .is_empty()
        );
        assert_eq!(claim(&mut b, "b", 11_000), ["p"]);
        // a, late, commits p's poll with its new child c and grandchild g,
        // and an unrelated new run n (children listed before parents).
        let child = |id: &str, parent: &str| {
            let mut r = run(id, false, 0);
            r.parent = parent.into();
            r.root = "p".into();
            r
        };
        let mut late = run("p", false, 0);
        late.attempts = 1;
        let mut lost = a
            .commit_as(
                "a",
                11_001,
                1000,
                &[child("g", "c"), child("c", "p"), late, run("n", false, 0)],
            )
            .unwrap();
        lost.sort();
        assert_eq!(lost, ["c", "g", "p"]);
        assert_eq!(b.get("p").unwrap(), Some(run("p", false, 0)));
        assert_eq!(b.get("c").unwrap(), None, "never inserted");
        assert_eq!(b.get("g").unwrap(), None, "never inserted");
        assert_eq!(b.get("n").unwrap(), Some(run("n", false, 0)));
    }

    #[test]
    fn released_runs_may_be_claimed_at_once() {
        let Some(db) = TestDatabase::new("store_contract postgres::release") else {
            return;
        };
        let mut a = PostgresStore::open(&db.url).unwrap();
        let mut b = PostgresStore::open(&db.url).unwrap();
        a.commit(&[run("x", false, 0)]).unwrap();
        assert_eq!(claim(&mut a, "a", 10_000), ["x"]);
        assert_eq!(a.release("b").unwrap(), 0, "not b's");
        assert_eq!(a.release("a").unwrap(), 1);
        assert_eq!(claim(&mut b, "b", 10_001), ["x"]);
    }

    #[test]
    fn a_read_only_store_reads_and_cannot_write() {
        let Some(db) = TestDatabase::new("store_contract postgres::read_only") else {
            return;
        };
        let error = PostgresStore::open_read_only(&db.url).unwrap_err();
        assert!(
            error.to_string().contains("no runs table yet"),
            "an empty database: {error}"
        );
        let mut store = PostgresStore::open(&db.url).unwrap();
        store.commit(&[run("a", false, 0)]).unwrap();
        let mut reader = PostgresStore::open_read_only(&db.url).unwrap();
        assert_eq!(reader.get("a").unwrap(), Some(run("a", false, 0)));
        assert_eq!(reader.unfinished().unwrap(), vec![run("a", false, 0)]);
        let refused = reader.commit(&[run("b", false, 0)]).unwrap_err();
        assert!(refused.to_string().contains("read-only"), "{refused}");
        assert_eq!(store.get("b").unwrap(), None);
    }

    #[test]
    fn a_database_of_schema_1_is_upgraded_keeping_its_runs() {
        let Some(db) = TestDatabase::new("store_contract postgres::upgrade") else {
            return;
        };
        let state = prost::Message::encode_to_vec(&run("old", false, 0));
        db.with_client(|client| {
            client.batch_execute(SCHEMA_1_POSTGRES).unwrap();
            client
                .execute(
                    "INSERT INTO runs VALUES ('old', '', 'old', 'f', FALSE, 0, 0, 0, $1)",
                    &[&state],
                )
                .unwrap();
        });
        let mut store = PostgresStore::open(&db.url).unwrap();
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        assert_eq!(store.unfinished().unwrap(), vec![run("old", false, 0)]);
        assert_eq!(
            claim(&mut store, "a", 1),
            ["old"],
            "claimable after the upgrade"
        );
    }

    /// Schema 1 as it shipped (a fixture: the migrations must upgrade it).
    const SCHEMA_1_POSTGRES: &str = "
        CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY NOT NULL,
            description TEXT NOT NULL, applied_ms BIGINT NOT NULL);
        INSERT INTO schema_migrations VALUES (1, 'runs: one row per run, its state as a RunState message', 0);
        CREATE TABLE runs (id TEXT PRIMARY KEY NOT NULL, parent TEXT NOT NULL, root TEXT NOT NULL,
            function TEXT NOT NULL, done BOOLEAN NOT NULL, status INTEGER NOT NULL,
            created_ms BIGINT NOT NULL, finished_ms BIGINT NOT NULL, state BYTEA NOT NULL);
        CREATE INDEX runs_by_done ON runs (done, finished_ms);
        CREATE INDEX runs_by_root ON runs (root);";

    #[test]
    fn migrations_are_recorded_once_even_when_processes_open_at_once() {
        let Some(db) = TestDatabase::new("store_contract postgres::migrations_at_once") else {
            return;
        };
        let url = db.url.clone();
        let openers: Vec<_> = (0..4)
            .map(|_| {
                let url = url.clone();
                std::thread::spawn(move || PostgresStore::open(&url).map(|_| ()))
            })
            .collect();
        for opener in openers {
            opener.join().unwrap().unwrap();
        }
        let mut store = PostgresStore::open(&url).unwrap();
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        let versions: Vec<i32> = db.with_client(|client| {
            client
                .query(
                    "SELECT version FROM schema_migrations ORDER BY version",
                    &[],
                )
                .unwrap()
                .iter()
                .map(|r| r.get(0))
                .collect()
        });
        assert_eq!(
            versions,
            (1..=SCHEMA_VERSION as i32).collect::<Vec<_>>(),
            "one row per step"
        );
    }

    #[test]
    fn postgres_and_sqlite_record_the_same_steps() {
        let Some(db) = TestDatabase::new("store_contract postgres::same_steps") else {
            return;
        };
        drop(PostgresStore::open(&db.url).unwrap());
        let from_postgres: Vec<(i32, String)> = db.with_client(|client| {
            client
                .query(
                    "SELECT version, description FROM schema_migrations ORDER BY version",
                    &[],
                )
                .unwrap()
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect()
        });
        let sqlite = Sqlite::new("same_steps");
        drop(SqliteStore::open(&sqlite.path()).unwrap());
        let connection = rusqlite::Connection::open(sqlite.path()).unwrap();
        let mut query = connection
            .prepare("SELECT version, description FROM schema_migrations ORDER BY version")
            .unwrap();
        let from_sqlite: Vec<(i32, String)> = query
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(from_postgres, from_sqlite);
        assert_eq!(from_postgres.len(), SCHEMA_VERSION as usize);
    }

    #[test]
    fn a_newer_schema_is_refused_naming_its_version_and_left_alone() {
        let Some(db) = TestDatabase::new("store_contract postgres::newer_schema") else {
            return;
        };
        let mut store = PostgresStore::open(&db.url).unwrap();
        store.commit(&[run("a", false, 0)]).unwrap();
        drop(store);
        let future = SCHEMA_VERSION as i32 + 1;
        db.with_client(|client| {
            client
                .execute(
                    "INSERT INTO schema_migrations VALUES ($1, 'from the future', 0)",
                    &[&future],
                )
                .unwrap();
        });
        assert!(matches!(
            PostgresStore::open_read_only(&db.url),
            Err(StoreError::NewerSchema { .. })
        ));
        let error = PostgresStore::open(&db.url).unwrap_err();
        assert!(
            matches!(error, StoreError::NewerSchema { found, known }
                if found == future as u32 && known == SCHEMA_VERSION),
            "{error}"
        );
        let message = error.to_string();
        assert!(
            message.contains(&format!("version {future}, newer than this program knows")),
            "{message}"
        );
        let runs: i64 = db.with_client(|client| {
            client
                .query_one("SELECT COUNT(*) FROM runs", &[])
                .unwrap()
                .get(0)
        });
        assert_eq!(runs, 1, "the refused database is not changed");
    }
}

#[cfg(feature = "postgres")]
use postgres_support::TestDatabase;

#[cfg(not(feature = "postgres"))]
#[test]
fn postgres_schema_checks() {
    skip(
        "pg::* (migrations at once, same steps as SQLite, newer schema, URL redaction)",
        "dispatch-scheduler was built without its `postgres` feature",
    );
}

#[test]
fn sqlite_a_newer_schema_is_refused_naming_its_version_and_left_alone() {
    let sqlite = Sqlite::new("newer_schema");
    let mut store = SqliteStore::open(&sqlite.path()).unwrap();
    store.commit(&[run("a", false, 0)]).unwrap();
    drop(store);
    let future = i64::from(SCHEMA_VERSION) + 1;
    let connection = rusqlite::Connection::open(sqlite.path()).unwrap();
    connection
        .execute(
            "INSERT INTO schema_migrations VALUES (?1, 'from the future', 0)",
            [future],
        )
        .unwrap();
    let error = SqliteStore::open(&sqlite.path()).unwrap_err();
    assert!(
        matches!(error, StoreError::NewerSchema { found, known }
            if i64::from(found) == future && known == SCHEMA_VERSION),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .contains(&format!("version {future}, newer than this program knows")),
        "{error}"
    );
    let runs: i64 = connection
        .query_row("SELECT COUNT(*) FROM runs", [], |r| r.get(0))
        .unwrap();
    assert_eq!(runs, 1, "the refused file is not changed");
}

#[test]
fn sqlite_a_file_of_schema_1_is_upgraded_keeping_its_runs() {
    let sqlite = Sqlite::new("upgrade");
    let connection = rusqlite::Connection::open(sqlite.path()).unwrap();
    // Schema 1 as it shipped (a fixture: the migrations must upgrade it).
    connection
        .execute_batch(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY NOT NULL,
                 description TEXT NOT NULL, applied_ms INTEGER NOT NULL);
             INSERT INTO schema_migrations VALUES (1, 'runs: one row per run, its state as a RunState message', 0);
             CREATE TABLE runs (id TEXT PRIMARY KEY NOT NULL, parent TEXT NOT NULL,
                 root TEXT NOT NULL, function TEXT NOT NULL, done INTEGER NOT NULL,
                 status INTEGER NOT NULL, created_ms INTEGER NOT NULL,
                 finished_ms INTEGER NOT NULL, state BLOB NOT NULL);
             CREATE INDEX runs_by_done ON runs (done, finished_ms);
             CREATE INDEX runs_by_root ON runs (root);",
        )
        .unwrap();
    connection
        .execute(
            "INSERT INTO runs VALUES ('old', '', 'old', 'f', 0, 0, 0, 0, ?1)",
            [prost::Message::encode_to_vec(&run("old", false, 0))],
        )
        .unwrap();
    drop(connection);
    let mut store = SqliteStore::open(&sqlite.path()).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(store.unfinished().unwrap(), vec![run("old", false, 0)]);
    store.commit(&[run("old", true, 5)]).unwrap();
    assert_eq!(store.unfinished().unwrap(), vec![]);
}

// ---- the contract: each check runs on every backend ----

fn run(id: &str, done: bool, finished_ms: u64) -> RunState {
    RunState {
        id: id.into(),
        root: id.into(),
        function: "f".into(),
        endpoint: "http://127.0.0.1:1".into(),
        phase: if done { Phase::Done } else { Phase::Pending } as i32,
        finished_ms,
        ..Default::default()
    }
}

fn sorted(mut runs: Vec<RunState>) -> Vec<RunState> {
    runs.sort_by(|a, b| a.id.cmp(&b.id));
    runs
}

fn committed_runs_are_got_back_as_they_were(backend: &mut dyn Backend) {
    let mut store = backend.open();
    let full = RunState {
        id: "full".into(),
        parent: "p".into(),
        root: "r".into(),
        correlation_id: u64::MAX,
        function: "a function with ünïcode".into(),
        endpoint: "http://127.0.0.1:1/x".into(),
        created_ms: 1_700_000_000_000,
        expires_ms: u64::MAX,
        input: Some(prost_types::Any {
            type_url: "type.googleapis.com/google.protobuf.BytesValue".into(),
            value: vec![0, 1, 2, 255],
        }),
        step_attempts: 3,
        attempts: 7,
        phase: Phase::Polling as i32,
        wake_ms: 42,
        outstanding: 2,
        ready: vec![pb::CallResult {
            correlation_id: 9,
            dispatch_id: "child".into(),
            ..Default::default()
        }],
        last_failure: "UNAVAILABLE".into(),
        ..Default::default()
    };
    store.commit(&[full.clone(), run("b", true, 5)]).unwrap();
    assert_eq!(store.get("full").unwrap(), Some(full.clone()));
    assert_eq!(store.get("b").unwrap(), Some(run("b", true, 5)));
    assert_eq!(store.get("nobody").unwrap(), None);
    if let Some(mut store) = backend.reopen() {
        assert_eq!(store.get("full").unwrap(), Some(full), "durable");
        assert_eq!(store.get("b").unwrap(), Some(run("b", true, 5)));
    }
}

fn a_commit_replaces_by_id_and_the_last_state_in_a_batch_wins(backend: &mut dyn Backend) {
    let mut store = backend.open();
    store.commit(&[run("a", false, 0)]).unwrap();
    let mut later = run("a", false, 0);
    later.attempts = 1;
    let mut last = run("a", false, 0);
    last.attempts = 2;
    store
        .commit(&[later, run("b", false, 0), last.clone()])
        .unwrap();
    assert_eq!(store.get("a").unwrap(), Some(last.clone()));
    assert_eq!(
        sorted(store.unfinished().unwrap()),
        vec![last, run("b", false, 0)]
    );
    store.commit(&[]).unwrap();
    assert_eq!(
        store.unfinished().unwrap().len(),
        2,
        "an empty commit changes nothing"
    );
}

fn unfinished_is_every_run_without_an_outcome(backend: &mut dyn Backend) {
    let mut store = backend.open();
    assert_eq!(store.unfinished().unwrap(), vec![]);
    let mut in_flight = run("c", false, 0);
    in_flight.phase = Phase::InFlight as i32;
    let mut polling = run("d", false, 0);
    polling.phase = Phase::Polling as i32;
    store
        .commit(&[
            run("a", false, 0),
            run("b", true, 1),
            in_flight.clone(),
            polling.clone(),
        ])
        .unwrap();
    let expected = vec![run("a", false, 0), in_flight.clone(), polling.clone()];
    assert_eq!(sorted(store.unfinished().unwrap()), expected);
    store.commit(&[run("a", true, 2)]).unwrap();
    assert_eq!(
        sorted(store.unfinished().unwrap()),
        vec![in_flight.clone(), polling.clone()],
        "a run that finishes leaves the unfinished ones"
    );
    if let Some(mut store) = backend.reopen() {
        assert_eq!(
            sorted(store.unfinished().unwrap()),
            vec![in_flight, polling],
            "what a restart resumes"
        );
    }
}

fn purge_deletes_only_runs_finished_before_the_time(backend: &mut dyn Backend) {
    let mut store = backend.open();
    store
        .commit(&[
            run("old", true, 10),
            run("edge", true, 50),
            run("new", true, 99),
            run("open", false, 0),
        ])
        .unwrap();
    assert_eq!(store.purge(50).unwrap(), 1);
    assert_eq!(store.get("old").unwrap(), None);
    assert!(
        store.get("edge").unwrap().is_some(),
        "finished at 50, not before"
    );
    assert!(store.get("new").unwrap().is_some());
    assert_eq!(store.purge(u64::MAX).unwrap(), 2);
    assert_eq!(
        store.unfinished().unwrap(),
        vec![run("open", false, 0)],
        "unfinished runs are never purged"
    );
    assert_eq!(store.purge(u64::MAX).unwrap(), 0);
    if let Some(mut store) = backend.reopen() {
        assert_eq!(store.get("new").unwrap(), None, "the purge is durable");
    }
}

fn a_large_batch_is_one_commit(backend: &mut dyn Backend) {
    let mut store = backend.open();
    // More than the driver's batch (4096) and than any store's statement.
    let runs: Vec<RunState> = (0..5000)
        .map(|i| run(&format!("run-{i:05}"), i % 2 == 0, i))
        .collect();
    store.commit(&runs).unwrap();
    let unfinished = sorted(store.unfinished().unwrap());
    assert_eq!(unfinished.len(), 2500);
    assert_eq!(unfinished.first().unwrap().id, "run-00001");
    assert_eq!(store.get("run-04998").unwrap(), Some(runs[4998].clone()));
    assert_eq!(store.purge(1000).unwrap(), 500);
}

fn list_filters_and_puts_the_newest_first(backend: &mut dyn Backend) {
    let mut store = backend.open();
    // (function, status: 0 while unfinished, root)
    let shapes = [
        ("f", 1, "r0"),
        ("g", 1, "r0"),
        ("f", 7, "r2"),
        ("f", 0, "r2"),
    ];
    let runs: Vec<RunState> = shapes
        .iter()
        .enumerate()
        .map(|(i, (function, status, root))| RunState {
            function: (*function).into(),
            status: *status,
            root: (*root).into(),
            created_ms: i as u64,
            ..run(&format!("r{i}"), *status != 0, 10)
        })
        .collect();
    store.commit(&runs).unwrap();
    let ids = |query: RunQuery, store: &mut Box<dyn Store>| -> Vec<String> {
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
    assert_eq!(ids(all.clone(), &mut store), ["r3", "r2", "r1", "r0"]);
    let f = RunQuery {
        function: Some("f".into()),
        ..all.clone()
    };
    assert_eq!(ids(f, &mut store), ["r3", "r2", "r0"]);
    let ok = RunQuery {
        status: Some(Status::Ok),
        ..all.clone()
    };
    assert_eq!(ids(ok, &mut store), ["r1", "r0"]);
    let running = RunQuery {
        done: Some(false),
        ..all.clone()
    };
    assert_eq!(ids(running, &mut store), ["r3"]);
    let tree = RunQuery {
        root: Some("r2".into()),
        ..all.clone()
    };
    assert_eq!(ids(tree, &mut store), ["r3", "r2"]);
    let two = RunQuery { limit: 2, ..all };
    assert_eq!(ids(two, &mut store), ["r3", "r2"]);
}

/// One `#[test]` per check and backend: `memory::name`, `sqlite::name`,
/// `postgres::name`.
macro_rules! contract {
    ($($check:ident),* $(,)?) => {
        mod memory {
            $(#[test] fn $check() { super::$check(&mut super::Memory); })*
        }
        mod sqlite {
            $(#[test] fn $check() { super::$check(&mut super::Sqlite::new(stringify!($check))); })*
        }
        mod postgres {
            $(#[test] fn $check() {
                #[cfg(feature = "postgres")]
                if let Some(mut db) = super::TestDatabase::new(concat!("store_contract postgres::", stringify!($check))) {
                    super::$check(&mut db);
                }
                #[cfg(not(feature = "postgres"))]
                super::skip(
                    concat!("postgres::", stringify!($check)),
                    "dispatch-scheduler was built without its `postgres` feature",
                );
            })*
        }
    };
}

contract!(
    committed_runs_are_got_back_as_they_were,
    a_commit_replaces_by_id_and_the_last_state_in_a_batch_wins,
    unfinished_is_every_run_without_an_outcome,
    purge_deletes_only_runs_finished_before_the_time,
    a_large_batch_is_one_commit,
    list_filters_and_puts_the_newest_first,
);
