//! Crash test: the real `dispatch scheduler` on one SQLite file, killed with
//! SIGKILL at many points of a durable workload (dispatching, running,
//! polling, results pending) and restarted on the same file. Every run whose
//! id the Dispatch RPC returned must end with the right outcome, and no run
//! may be reported done twice.
//!
//! `DISPATCH_CRASH_ITERATIONS` sets the number of kills (default 8);
//! `scripts/scheduler-crash` runs many more. The same test runs on
//! PostgreSQL when `DISPATCH_TEST_POSTGRES_URL` names a server
//! (`scripts/ci/postgres`).

#[path = "../../dispatch-scheduler/tests/postgres_support/mod.rs"]
mod postgres_support;
mod process_support;
#[path = "../../dispatch-scheduler/tests/scheduler_support/mod.rs"]
mod scheduler_support;

use core::time::Duration;
use std::sync::{Arc, Mutex};

use dispatch_std::client::Client;
use dispatch_std::endpoint;
use postgres_support::TestDatabase;
use process_support::{done_counts, output_i64, start_scheduler, total_registry, wait_done};
use scheduler_support::serve_endpoint;
use tokio::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_dispatch");
const KEY: &str = "crash-test-key";

/// A scheduler process on `db`, its URL; its stderr lines go to `log`.
async fn start(db: &std::ffi::OsStr, log: &Arc<Mutex<Vec<String>>>) -> (Child, String) {
    let mut command = Command::new(BIN);
    command
        .args(["scheduler", "--listen", "127.0.0.1:0", "--db"])
        .arg(db)
        // On PostgreSQL: each restart takes back the killed process's
        // leases at once (one process at a time; ignored on SQLite).
        .args(["--owner", "crash-test"])
        .env("DISPATCH_API_KEY", KEY)
        .env("RUST_LOG", "dispatch::scheduler=info");
    let log = Arc::clone(log);
    start_scheduler(command, move |line| log.lock().unwrap().push(line)).await
}

/// A small deterministic sequence for the kill delays (no clock, no rand).
fn delay_ms(iteration: u64) -> u64 {
    let mut z = iteration
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .wrapping_add(17);
    z = (z ^ (z >> 31)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    30 + z % 600
}

/// `DISPATCH_CRASH_ITERATIONS`, or 8.
fn iterations() -> u64 {
    std::env::var("DISPATCH_CRASH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_run_survives_sigkill_with_its_outcome_recorded_once() {
    let dir = std::env::temp_dir().join(format!("dispatch-crash-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("scheduler.db");
    crash_test(db.as_os_str(), iterations()).await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// The same on PostgreSQL (`--db postgres://…`), in a database of its own
/// on the server `DISPATCH_TEST_POSTGRES_URL` names (`scripts/ci/postgres`);
/// without it, a SKIP line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_every_run_survives_sigkill_with_its_outcome_recorded_once() {
    let Some(db) = TestDatabase::new("scheduler_crash on_postgres") else {
        return;
    };
    crash_test(db.url.as_ref(), iterations()).await;
}

/// Kills the scheduler on `db` `iterations` times mid-workload, starts it
/// once more, and checks every acknowledged run's outcome.
async fn crash_test(db: &std::ffi::OsStr, iterations: u64) {
    // A little work in `double`, so that kills land while requests are in flight.
    let registry = total_registry(Duration::from_millis(5), Duration::from_secs(120));
    let endpoint = serve_endpoint(registry).await;
    let log = Arc::new(Mutex::new(Vec::new()));
    // Every id the Dispatch RPC returned, with the n of its call.
    let acknowledged: Arc<Mutex<Vec<(String, i64)>>> = Arc::default();

    for iteration in 0..iterations {
        let (mut child, url) = start(db, &log).await;
        let client = Client::builder()
            .api_url(url)
            .api_key(KEY.to_owned())
            .build()
            .unwrap();
        let acked = Arc::clone(&acknowledged);
        let endpoint = endpoint.clone();
        let dispatcher = tokio::spawn(async move {
            for k in 0u64.. {
                let n = 1 + i64::try_from((iteration * 7 + k) % 6).unwrap();
                let call = endpoint::call(&endpoint, "total", k, &n);
                match client.dispatch(call).await {
                    Ok(id) => acked.lock().unwrap().push((id.to_string(), n)),
                    Err(_) => return,
                }
                tokio::time::sleep(Duration::from_millis(15)).await;
            }
        });
        tokio::time::sleep(Duration::from_millis(delay_ms(iteration))).await;
        child.start_kill().unwrap(); // SIGKILL
        child.wait().await.unwrap();
        dispatcher.abort();
        let _ = dispatcher.await;
    }

    // The last start: let every run finish.
    let (_child, url) = start(db, &log).await;
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        acknowledged.len() as u64 >= iterations,
        "only {} calls acknowledged",
        acknowledged.len()
    );
    for (id, n) in &acknowledged {
        let run = wait_done(&url, KEY, id, 3).await;
        assert_eq!(run["status"], "STATUS_OK", "{id}: {run}");
        let got = output_i64(&run).unwrap_or_else(|| panic!("{id}: no output in {run}"));
        assert_eq!(got, n * (n + 1), "{id}: {run}");
    }

    // No run was reported done twice, across every process.
    let done = done_counts(log.lock().unwrap().iter());
    let twice: Vec<_> = done.iter().filter(|(_, count)| **count > 1).collect();
    let resumed = log
        .lock()
        .unwrap()
        .iter()
        .filter(|line| line.contains("unfinished runs resumed"))
        .count();
    eprintln!(
        "{iterations} kills, {} runs acknowledged, {} outcomes logged, {resumed} restarts resumed runs",
        acknowledged.len(),
        done.len()
    );
    assert!(twice.is_empty(), "runs done more than once: {twice:?}");
}
