//! A PostgreSQL database of a test's own, on the server that
//! `DISPATCH_TEST_POSTGRES_URL` names (`scripts/ci/postgres` starts one and
//! sets it), dropped with the value. Shared by the scheduler's and the
//! command-line tool's tests.
//!
//! The synchronous `postgres` client blocks on a runtime of its own, so
//! every use here runs on a thread of its own: a [`TestDatabase`] can be
//! made and dropped inside a tokio test as well as outside one.

#![allow(dead_code, unreachable_pub)]

use core::sync::atomic::{AtomicUsize, Ordering};
use std::io::Write as _;

/// The environment variable naming the test server (a URL whose user may
/// create databases).
pub const POSTGRES_URL_VAR: &str = "DISPATCH_TEST_POSTGRES_URL";

/// A fresh database on the test server, dropped (connections and all) when
/// this is.
pub struct TestDatabase {
    /// The server's URL, as the variable gives it.
    pub admin: String,
    /// The database's name.
    pub name: String,
    /// The URL of the database: the server's, with its name.
    pub url: String,
}

impl TestDatabase {
    /// A fresh database for the test `label` names, or `None` after a
    /// `SKIP {label}: …` line when no server is configured, or when the
    /// crate under test was built without its `postgres` feature.
    pub fn new(label: &str) -> Option<Self> {
        if !cfg!(feature = "postgres") {
            let _ = writeln!(
                std::io::stderr(),
                "SKIP {label}: {} was built without its `postgres` feature",
                env!("CARGO_PKG_NAME")
            );
            return None;
        }
        let Ok(admin) = std::env::var(POSTGRES_URL_VAR) else {
            let _ = writeln!(
                std::io::stderr(),
                "SKIP {label}: {POSTGRES_URL_VAR} is not set (scripts/ci/postgres sets it)"
            );
            return None;
        };
        // Short (PostgreSQL cuts names at 63 bytes) and unique per process
        // and per database.
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "dispatch_test_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        on_own_thread(|| {
            let mut client = postgres::Client::connect(&admin, postgres::NoTls)
                .unwrap_or_else(|e| panic!("{POSTGRES_URL_VAR}: cannot connect: {e}"));
            // One statement per call: neither may run in a transaction.
            client
                .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
                .unwrap();
            client
                .batch_execute(&format!("CREATE DATABASE {name}"))
                .unwrap();
        });
        let url = with_database(&admin, &name);
        Some(TestDatabase { admin, name, url })
    }

    /// Runs `work` with a client of this database, on a thread of its own.
    pub fn with_client<T: Send>(&self, work: impl FnOnce(&mut postgres::Client) -> T + Send) -> T {
        on_own_thread(|| {
            let mut client = postgres::Client::connect(&self.url, postgres::NoTls).unwrap();
            work(&mut client)
        })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (admin, name) = (&self.admin, &self.name);
        // Not unwrapped: a drop while a failed test unwinds must not panic.
        let _ = std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    if let Ok(mut client) = postgres::Client::connect(admin, postgres::NoTls) {
                        let _ = client
                            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
                    }
                })
                .join()
        });
    }
}

/// `url` with its database replaced by `database` (its query kept).
fn with_database(url: &str, database: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let query = tail.find('?').map_or("", |at| &tail[at..]);
    format!("{scheme}://{authority}/{database}{query}")
}

/// Runs `work` on a scoped thread and returns what it returns (a panic in
/// it fails the caller).
fn on_own_thread<T: Send>(work: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| match scope.spawn(work).join() {
        Ok(value) => value,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}
