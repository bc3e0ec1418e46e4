//! `dispatch scheduler --db`: the store is chosen by the value (a file is
//! SQLite, a `postgres://` URL PostgreSQL), and a store whose schema is
//! newer than the binary knows stops it at start with a message naming the
//! version, on both.
//!
//! The PostgreSQL cases need `DISPATCH_TEST_POSTGRES_URL` (see
//! `scripts/ci/postgres`); without it they print a SKIP line and do nothing.

use core::time::Duration;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::process::{Child, Command, Stdio};

use dispatch_scheduler::SCHEMA_VERSION;

const BIN: &str = env!("CARGO_BIN_EXE_dispatch");
const POSTGRES_URL_VAR: &str = "DISPATCH_TEST_POSTGRES_URL";

fn scheduler(db: &str) -> Child {
    Command::new(BIN)
        .args([
            "scheduler",
            "--no-auth",
            "--listen",
            "127.0.0.1:0",
            "--db",
            db,
        ])
        .env_remove("DISPATCH_SCHEDULER_DB")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits for the scheduler to exit (killing it, and failing, if it is
/// still up after a minute: it should stop before it listens). Returns its
/// exit code and stderr.
fn refused(mut child: Child) -> (i32, String) {
    let mut waited = Duration::ZERO;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if waited > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("the scheduler did not stop");
        }
        std::thread::sleep(Duration::from_millis(50));
        waited += Duration::from_millis(50);
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (status.code().unwrap_or(-1), stderr)
}

/// Waits for the scheduler's "listening" line, then stops it.
fn serves(mut child: Child) -> String {
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    for line in stderr.lines() {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if line.starts_with("dispatch scheduler on http://") {
            let _ = child.kill();
            let _ = child.wait();
            return seen;
        }
    }
    let _ = child.wait();
    panic!("the scheduler stopped without serving:\n{seen}");
}

fn assert_refuses_newer(code: i32, stderr: &str) {
    let future = SCHEMA_VERSION + 1;
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "the store's schema is version {future}, newer than this program knows ({SCHEMA_VERSION})"
        )),
        "{stderr}"
    );
}

#[test]
fn a_sqlite_file_of_a_newer_schema_stops_the_scheduler() {
    let dir = std::env::temp_dir().join(format!("dispatch-cli-schema-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("runs.db");
    let db = path.to_str().unwrap();
    serves(scheduler(db));
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute(
            "INSERT INTO schema_migrations VALUES (?1, 'from the future', 0)",
            [i64::from(SCHEMA_VERSION) + 1],
        )
        .unwrap();
    let (code, stderr) = refused(scheduler(db));
    assert_refuses_newer(code, &stderr);
    assert!(stderr.contains(&format!("--db {db}")), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_postgres_url_without_a_server_stops_the_scheduler_naming_it_without_its_password() {
    let (code, stderr) = refused(scheduler("postgres://me:s3cret@127.0.0.1:1/none"));
    assert_eq!(code, 1, "{stderr}");
    if !cfg!(feature = "postgres") {
        assert!(stderr.contains("built without PostgreSQL"), "{stderr}");
        return;
    }
    assert!(
        stderr.contains("postgres://me:***@127.0.0.1:1/none"),
        "{stderr}"
    );
    assert!(!stderr.contains("s3cret"), "{stderr}");
    assert!(
        !std::path::Path::new("postgres:").exists(),
        "the URL was not taken for a file"
    );
}

#[test]
fn a_postgres_database_serves_then_of_a_newer_schema_stops_the_scheduler() {
    if !cfg!(feature = "postgres") {
        let _ = writeln!(
            std::io::stderr(),
            "SKIP scheduler_schema postgres: dispatch-cli was built without its `postgres` feature"
        );
        return;
    }
    let Ok(admin) = std::env::var(POSTGRES_URL_VAR) else {
        let _ = writeln!(
            std::io::stderr(),
            "SKIP scheduler_schema postgres: {POSTGRES_URL_VAR} is not set (scripts/ci/postgres sets it)"
        );
        return;
    };
    let database = format!("dispatch_cli_schema_{}", std::process::id());
    let mut client = postgres::Client::connect(&admin, postgres::NoTls).unwrap();
    client
        .batch_execute(&format!("DROP DATABASE IF EXISTS {database}"))
        .unwrap();
    client
        .batch_execute(&format!("CREATE DATABASE {database}"))
        .unwrap();
    let (base, _) = admin.rsplit_once('/').unwrap();
    let url = format!("{base}/{database}");

    let seen = serves(scheduler(&url));
    assert!(!seen.contains("error"), "{seen}");
    let mut own = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let version: i32 = own
        .query_one("SELECT MAX(version) FROM schema_migrations", &[])
        .unwrap()
        .get(0);
    assert_eq!(version, SCHEMA_VERSION as i32, "migrated at start");
    own.execute(
        "INSERT INTO schema_migrations VALUES ($1, 'from the future', 0)",
        &[&(SCHEMA_VERSION as i32 + 1)],
    )
    .unwrap();
    drop(own);
    let (code, stderr) = refused(scheduler(&url));
    assert_refuses_newer(code, &stderr);
    let _ = client.batch_execute(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"));
}
