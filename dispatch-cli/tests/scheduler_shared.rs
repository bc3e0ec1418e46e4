//! Several `dispatch scheduler` processes (the real binary) on one
//! PostgreSQL database share the work: calls are dispatched to every
//! process, polls with children included, one process is killed with
//! SIGKILL mid-workload and never restarted, and every run must end with
//! the right outcome, recorded once, with nothing left unfinished in the
//! store.
//!
//! Needs `DISPATCH_TEST_POSTGRES_URL` (`scripts/ci/postgres` sets it); each
//! test makes a database of its own there. Without it, a SKIP line.

#[path = "../../dispatch-scheduler/tests/postgres_support/mod.rs"]
mod postgres_support;
mod process_support;
#[path = "../../dispatch-scheduler/tests/scheduler_support/mod.rs"]
mod scheduler_support;

use core::time::Duration;
use std::io::Write as _;
use std::sync::{Arc, Mutex};

use dispatch_std::client::Client;
use dispatch_std::endpoint::{self, Directive, FunctionError, Outcome, Registry, Run};
use postgres_support::TestDatabase;
use process_support::{done_counts, output_i64, start_scheduler, total_registry, wait_done};
use scheduler_support::serve_endpoint;
use tokio::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_dispatch");
const KEY: &str = "shared-test-key";

/// Calls dispatched before the kill, and as many after it.
const CALLS_PER_PHASE: u64 = 30;

/// Scheduler process `owner` on `db`, its URL; its stderr lines go to `log`.
async fn start(db: &str, owner: &str, log: &Arc<Mutex<Vec<String>>>) -> (Child, String) {
    let mut command = Command::new(BIN);
    command
        .args(["scheduler", "--listen", "127.0.0.1:0", "--db", db])
        // Short leases and claims: a takeover within seconds.
        .args([
            "--lease",
            "2",
            "--claim-interval-ms",
            "200",
            "--owner",
            owner,
        ])
        .env("DISPATCH_API_KEY", KEY)
        .env("RUST_LOG", "dispatch::scheduler=info");
    let log = Arc::clone(log);
    let owner = owner.to_owned();
    start_scheduler(command, move |line| {
        log.lock().unwrap().push(format!("{owner}: {line}"));
    })
    .await
}

/// Runs `sql` (one row, one BIGINT column) on `db`.
async fn count(db: &str, sql: &'static str, owner: &str) -> i64 {
    let db = db.to_owned();
    let owner = owner.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut client = postgres::Client::connect(&db, postgres::NoTls).unwrap();
        let row = if sql.contains("$1") {
            client.query_one(sql, &[&owner]).unwrap()
        } else {
            client.query_one(sql, &[]).unwrap()
        };
        row.get::<_, i64>(0)
    })
    .await
    .unwrap()
}

/// A database of its own for `test` on the test server; `None` (after a
/// SKIP line) without one, or without the `postgres` feature.
fn database(test: &str) -> Option<TestDatabase> {
    TestDatabase::new(&format!("scheduler_shared {test}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_share_the_runs_and_finish_a_killed_ones() {
    if let Some(db) = database("two") {
        shared_test(&db.url, 2).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_processes_share_the_runs_and_finish_a_killed_ones() {
    if let Some(db) = database("three") {
        shared_test(&db.url, 3).await;
    }
}

/// `processes` schedulers on `db`; calls dispatched round-robin; the first
/// process killed once it holds unfinished runs; then more calls to the
/// others; every acknowledged run checked.
async fn shared_test(db: &str, processes: usize) {
    let endpoint = serve_endpoint(total_registry(
        Duration::from_millis(20),
        Duration::from_secs(300),
    ))
    .await;
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut children = Vec::new();
    let mut clients = Vec::new();
    let mut urls = Vec::new();
    for i in 0..processes {
        let (child, url) = start(db, &format!("p{i}"), &log).await;
        children.push(child);
        clients.push(
            Client::builder()
                .api_url(url.clone())
                .api_key(KEY.to_owned())
                .build()
                .unwrap(),
        );
        urls.push(url);
    }
    // (dispatch id, n) of every call acknowledged.
    let mut acknowledged = Vec::new();
    for k in 0..CALLS_PER_PHASE {
        let to = usize::try_from(k).unwrap() % processes;
        acknowledged.push(dispatch(&clients[to], &endpoint, k).await);
    }

    // Kill p0 while it holds unfinished runs (wait for that: no timing).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let held = loop {
        let held = count(
            db,
            "SELECT COUNT(*) FROM runs WHERE owner = $1 AND NOT done",
            "p0",
        )
        .await;
        if held > 0 {
            break held;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "p0 never held an unfinished run"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    children[0].start_kill().unwrap(); // SIGKILL
    children[0].wait().await.unwrap();
    let _ = writeln!(
        std::io::stderr(),
        "p0 killed holding {held} unfinished runs"
    );

    for k in CALLS_PER_PHASE..2 * CALLS_PER_PHASE {
        let to = 1 + usize::try_from(k).unwrap() % (processes - 1);
        acknowledged.push(dispatch(&clients[to], &endpoint, k).await);
    }

    // Every acknowledged run ends with its sum; any live process answers.
    for (i, (id, n)) in acknowledged.iter().enumerate() {
        let url = &urls[1 + i % (processes - 1)];
        let run = wait_done(url, KEY, id, 5).await;
        assert_eq!(run["status"], "STATUS_OK", "{id}: {run}");
        let got = output_i64(&run).unwrap_or_else(|| panic!("{id}: no output in {run}"));
        assert_eq!(got, n * (n + 1), "{id}: {run}");
    }

    // The store: nothing unfinished, every child of every root done.
    let unfinished = count(db, "SELECT COUNT(*) FROM runs WHERE NOT done", "").await;
    assert_eq!(unfinished, 0, "runs left unfinished");
    let roots = count(db, "SELECT COUNT(*) FROM runs WHERE parent = ''", "").await;
    assert_eq!(roots, acknowledged.len() as i64);
    let expected_children: i64 = acknowledged.iter().map(|(_, n)| n).sum();
    let done_children = count(
        db,
        "SELECT COUNT(*) FROM runs WHERE parent <> '' AND done",
        "",
    )
    .await;
    assert_eq!(done_children, expected_children);

    // No run was reported done twice, across every process; the survivors
    // took over the killed one's runs.
    let lines = log.lock().unwrap().clone();
    let done = done_counts(&lines);
    let twice: Vec<_> = done.iter().filter(|(_, count)| **count > 1).collect();
    assert!(twice.is_empty(), "runs done more than once: {twice:?}");
    // (p0 may have been killed between a commit and its log line.)
    assert!(done.len() as i64 <= roots + expected_children);
    let claims = lines
        .iter()
        .filter(|line| !line.starts_with("p0:") && line.contains("(claimed)"))
        .count();
    assert!(claims > 0, "no survivor claimed a run");
    let from_store = lines
        .iter()
        .filter(|line| line.contains("taken from the store"))
        .count();
    let per_process: Vec<usize> = (0..processes)
        .map(|i| {
            let prefix = format!("p{i}:");
            lines
                .iter()
                .filter(|l| l.starts_with(&prefix) && l.contains("run done"))
                .count()
        })
        .collect();
    let _ = writeln!(
        std::io::stderr(),
        "{processes} processes: {} runs acknowledged, {} outcomes, per process {per_process:?}, \
         {claims} claims by survivors, {from_store} turns took children's results from the store",
        acknowledged.len(),
        done.len()
    );
}

/// Dispatches `total(1 + k % 6)` through `client`: (its id, n).
async fn dispatch(client: &Client, endpoint: &str, k: u64) -> (String, i64) {
    let n = 1 + i64::try_from(k % 6).unwrap();
    let call = endpoint::call(endpoint, "total", k, &n);
    let id = client.dispatch(call).await.unwrap();
    (id.to_string(), n)
}

/// Calls per process count in the benchmark.
const BENCH_CALLS: u64 = 6000;

/// Not a check: durable steps per second with 1, 2 and 3 processes on one
/// PostgreSQL database (`--ignored`; in release:
/// `scripts/ci/postgres cargo test --release -p dispatch-cli --test
/// scheduler_shared bench -- --ignored --nocapture`). A step here is one
/// call: Dispatch committed, one Run request, its outcome committed.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "a benchmark; run with --ignored"]
async fn bench_durable_steps_per_second_with_1_2_3_processes() {
    let endpoint = serve_endpoint(step_registry()).await;
    for processes in 1..=3usize {
        let Some(database) = database(&format!("bench{processes}")) else {
            return;
        };
        let db = &database.url;
        let (total, elapsed) = time_steps(db, processes, &endpoint).await;
        let _ = writeln!(
            std::io::stderr(),
            "{processes} process(es): {total} durable steps in {:.2} s: {:.0} steps/s",
            elapsed.as_secs_f64(),
            total as f64 / elapsed.as_secs_f64()
        );
    }
}

/// How the cost of a step grows with the unfinished runs in the store
/// (`--ignored`; in release: `scripts/ci/postgres cargo test --release -p
/// dispatch-cli --test scheduler_shared bench_step_cost -- --ignored
/// --nocapture`): the store holds 0, 1 thousand, 100 thousand, then 1
/// million unfinished runs leased to an owner that never comes (as runs
/// held by other processes are), and one process does the benchmark's
/// steps beside them. Every claim, renewal and commit works on the same
/// table and indexes as those runs.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "a benchmark; run with --ignored"]
async fn bench_step_cost_with_0_1k_100k_1m_unfinished_runs_in_the_store() {
    let endpoint = serve_endpoint(step_registry()).await;
    for parked in [0i64, 1_000, 100_000, 1_000_000] {
        let Some(database) = database(&format!("parked{parked}")) else {
            return;
        };
        let db = &database.url;
        // One start creates the schema; the parked runs go in beside it.
        let log = Arc::new(Mutex::new(Vec::new()));
        let (mut schema, _) = start(db, "schema", &log).await;
        let _ = schema.start_kill();
        let _ = schema.wait().await;
        database.with_client(|client| {
            client
                .execute(
                    "INSERT INTO runs (id, parent, root, function, done, status, created_ms, \
                     finished_ms, state, owner, lease_until_ms) \
                     SELECT 'parked-' || g, '', 'parked-' || g, 'parked', false, 0, 0, 0, \
                     '\\x'::bytea, 'parked', 9223372036854775807 FROM generate_series(1, $1::bigint) g",
                    &[&parked],
                )
                .unwrap();
            client.batch_execute("ANALYZE runs").unwrap();
        });
        let (total, elapsed) = time_steps(db, 1, &endpoint).await;
        let per_step = elapsed.as_secs_f64() * 1e6 / total as f64;
        let _ = writeln!(
            std::io::stderr(),
            "{parked} unfinished runs in the store: {total} durable steps in {:.2} s: \
             {:.0} steps/s, {per_step:.0} µs per step",
            elapsed.as_secs_f64(),
            total as f64 / elapsed.as_secs_f64()
        );
    }
}

/// The benchmarks' function: `step(k)` returns k + 1 at once.
fn step_registry() -> Registry {
    let mut registry = Registry::new();
    registry.register("step", |run: Run<i64>| async move {
        match run.directive {
            Directive::Input(k) => Ok(Outcome::value(&(k + 1))),
            Directive::Resume(_) => Err(FunctionError::permanent("step never polls")),
        }
    });
    registry
}

/// [`BENCH_CALLS`] calls of `step` dispatched in batches of 100, spread
/// evenly over `processes` new processes on `db`, timed from the first
/// Dispatch until the store shows every one done: (steps, time).
async fn time_steps(db: &str, processes: usize, endpoint: &str) -> (i64, Duration) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut children = Vec::new();
    let mut clients = Vec::new();
    for i in 0..processes {
        let (child, url) = start(db, &format!("p{i}"), &log).await;
        children.push(child);
        clients.push(
            Client::builder()
                .api_url(url)
                .api_key(KEY.to_owned())
                .build()
                .unwrap(),
        );
    }
    let started = std::time::Instant::now();
    let mut dispatchers = Vec::new();
    for (i, client) in clients.into_iter().enumerate() {
        let endpoint = endpoint.to_owned();
        dispatchers.push(tokio::spawn(async move {
            let share = BENCH_CALLS / processes as u64;
            let first = i as u64 * share;
            for batch in (first..first + share).collect::<Vec<_>>().chunks(100) {
                let calls = batch
                    .iter()
                    .map(|k| endpoint::call(&endpoint, "step", *k, &i64::try_from(*k).unwrap()));
                client.dispatch_batch(calls).await.unwrap();
            }
        }));
    }
    for dispatcher in dispatchers {
        dispatcher.await.unwrap();
    }
    let total = i64::try_from(BENCH_CALLS / processes as u64 * processes as u64).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
    while count(db, "SELECT COUNT(*) FROM runs WHERE done", "").await < total {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not done in 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.elapsed();
    for mut child in children {
        let _ = child.start_kill();
        let _ = child.wait().await;
    }
    (total, elapsed)
}
