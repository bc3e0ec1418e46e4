//! The real `dispatch scheduler` under load and trouble, on a SQLite file:
//!
//! * a burst of calls against an endpoint that throttles (it answers
//!   `STATUS_THROTTLED` whenever more than [`CAPACITY`] requests are inside
//!   it): the requests in flight, as the endpoint counts them, never pass
//!   the scheduler's per-endpoint limit, every run ends `STATUS_OK`, and the
//!   scheduler's resident memory (`VmRSS` of its process) stays flat once
//!   warmed up;
//! * the same burst with the scheduler started under `ulimit -n 1024`;
//! * an endpoint that is down (connections refused) for a while, then back:
//!   every run completes;
//! * SIGTERM: the scheduler stops taking calls, lets the Run requests in
//!   flight finish within its grace period, and a restart on the same file
//!   runs the rest, each call exactly once.
//!
//! Sizes: `DISPATCH_LOAD_CALLS` (default 20,000 per burst) and
//! `DISPATCH_DOWN_SECS` (default 20 s); `scripts/scheduler-load` runs the
//! full sizes (100,000 calls, 60 s down).

mod process_support;
#[path = "../../dispatch-scheduler/tests/scheduler_support/mod.rs"]
mod scheduler_support;

use core::sync::atomic::{AtomicU64, Ordering};
use core::time::Duration;
use std::sync::{Arc, Mutex};

use dispatch_std::client::{Client, RetryPolicy};
use dispatch_std::endpoint::{self, Directive, FunctionError, Outcome, Registry, Run};
use process_support::start_scheduler;
use scheduler_support::serve_endpoint;
use tokio::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_dispatch");
const KEY: &str = "load-test-key";
/// Requests the throttling endpoint takes at once; past it, `THROTTLED`.
const CAPACITY: u64 = 16;
/// The scheduler's per-endpoint limit in these tests (its default).
const PER_ENDPOINT: u64 = 64;
/// Calls per wave of a burst (one Dispatch request each 1,000).
const WAVE: usize = 2000;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A fresh directory for one test's database.
fn temp_db(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("dispatch-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("scheduler.db")
}

/// `dispatch scheduler` on `db` with `extra` arguments, under `ulimit -n
/// <limit>` when given; the child and its URL. Its log (at the default
/// level, info: one line per attempt) is drained; warnings, errors and
/// attempts that failed with a transport error are kept in `log`, and the
/// notes that a limit was capped to fit the descriptor limit.
async fn start(
    db: &std::path::Path,
    extra: &[&str],
    nofile: Option<u32>,
    log: &Arc<Mutex<Vec<String>>>,
) -> (Child, String) {
    let ulimit = nofile.map_or(String::new(), |n| format!("ulimit -n {n} && "));
    let mut command = Command::new("bash");
    command
        .arg("-c")
        .arg(format!("{ulimit}exec \"$0\" \"$@\""))
        .arg(BIN)
        .args(["scheduler", "--listen", "127.0.0.1:0", "--db"])
        .arg(db)
        .args(extra)
        .env("DISPATCH_API_KEY", KEY)
        .env("RUST_LOG", "info");
    let log = Arc::clone(log);
    start_scheduler(command, move |line| keep(&log, line)).await
}

/// Keeps the log lines [`start`] promises.
fn keep(log: &Mutex<Vec<String>>, line: String) {
    if line.contains("WARN")
        || line.contains("ERROR")
        || line.contains("capped at")
        || line.contains("STATUS_TCP_ERROR")
        || line.contains("STATUS_HTTP_ERROR")
    {
        log.lock().unwrap().push(line);
    }
}

fn client(url: &str) -> Client {
    Client::builder()
        .api_url(url.to_owned())
        .api_key(KEY.to_owned())
        .retry(RetryPolicy::none())
        .build()
        .unwrap()
}

/// The resident memory of process `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .expect("VmRSS in /proc/<pid>/status")
}

/// Waits (through the wait route, on a few kept-alive connections) for
/// every run in `ids` to be done, and returns the runs that did not end
/// `STATUS_OK`, with their JSON, and the highest attempt count seen.
async fn outcomes(url: &str, ids: &[String]) -> (Vec<String>, u64) {
    let http = dispatch_std::client::http_client("load-test").unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for chunk in ids.chunks(ids.len().div_ceil(8).max(1)) {
        let (http, url, chunk) = (http.clone(), url.to_owned(), chunk.to_vec());
        tasks.spawn(async move {
            let mut failed = Vec::new();
            let mut attempts = 0;
            for id in chunk {
                let run = loop {
                    let response = http
                        .get(format!("{url}/_dispatch/v1/runs/{id}?wait_ms=60000"))
                        .bearer_auth(KEY)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(response.status().as_u16(), 200, "{id}");
                    let run: serde_json::Value =
                        serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
                    if run["done"] == true {
                        break run;
                    }
                };
                attempts = attempts.max(run["attempts"].as_u64().unwrap_or(0));
                if run["status"] != "STATUS_OK" {
                    failed.push(format!("{id}: {run}"));
                }
            }
            (failed, attempts)
        });
    }
    let mut failed = Vec::new();
    let mut attempts = 0;
    while let Some(done) = tasks.join_next().await {
        let (chunk_failed, chunk_attempts) = done.unwrap();
        failed.extend(chunk_failed);
        attempts = attempts.max(chunk_attempts);
    }
    (failed, attempts)
}

/// What the throttling endpoint saw.
#[derive(Default)]
struct Seen {
    inside: AtomicU64,
    highest: AtomicU64,
    throttled: AtomicU64,
    served: AtomicU64,
}

/// `work(n)` returns `n`; past [`CAPACITY`] requests inside, `THROTTLED`.
fn throttling(seen: &Arc<Seen>) -> Registry {
    let mut registry = Registry::new();
    let seen = Arc::clone(seen);
    registry.register("work", move |run: Run<i64>| {
        let seen = Arc::clone(&seen);
        async move {
            let inside = seen.inside.fetch_add(1, Ordering::SeqCst) + 1;
            seen.highest.fetch_max(inside, Ordering::SeqCst);
            let answer = if inside > CAPACITY {
                seen.throttled.fetch_add(1, Ordering::Relaxed);
                Err(FunctionError::throttled("busy"))
            } else {
                // A little work, so that requests overlap.
                tokio::time::sleep(Duration::from_millis(1)).await;
                seen.served.fetch_add(1, Ordering::Relaxed);
                match run.directive {
                    Directive::Input(n) => Ok(Outcome::value(&n)),
                    Directive::Resume(_) => Err(FunctionError::permanent("work never polls")),
                }
            };
            seen.inside.fetch_sub(1, Ordering::SeqCst);
            answer
        }
    });
    registry
}

/// The burst: `DISPATCH_LOAD_CALLS` calls in waves of [`WAVE`], each wave
/// awaited; then the checks (see the module).
async fn burst(name: &str, nofile: Option<u32>) {
    let total = usize::try_from(env_or("DISPATCH_LOAD_CALLS", 20_000)).unwrap();
    let waves = total.div_ceil(WAVE).max(4);
    let seen = Arc::new(Seen::default());
    let endpoint = serve_endpoint(throttling(&seen)).await;
    let log = Arc::new(Mutex::new(Vec::new()));
    let db = temp_db(name);
    let (child, url) = start(&db, &[], nofile, &log).await;
    let pid = child.id().unwrap();
    let client = client(&url);
    let mut rss = Vec::new();
    let mut failed = Vec::new();
    let mut attempts = 0;
    for wave in 0..waves {
        let mut ids = Vec::with_capacity(WAVE);
        for batch in 0..WAVE / 1000 {
            let calls = (0..1000).map(|k| {
                let n = i64::try_from(wave * WAVE + batch * 1000 + k).unwrap();
                endpoint::call(&endpoint, "work", 0, &n)
            });
            let batch_ids = client.dispatch_batch(calls).await.unwrap();
            ids.extend(batch_ids.into_iter().map(|id| id.to_string()));
        }
        let (wave_failed, wave_attempts) = outcomes(&url, &ids).await;
        failed.extend(wave_failed);
        attempts = attempts.max(wave_attempts);
        rss.push(rss_kib(pid));
    }
    let highest = seen.highest.load(Ordering::SeqCst);
    let throttled = seen.throttled.load(Ordering::Relaxed);
    let served = seen.served.load(Ordering::Relaxed);
    eprintln!(
        "{name}: {} calls in {waves} waves; {served} served, {throttled} throttled, \
         at most {highest} in flight, at most {attempts} attempts per run; VmRSS (KiB) per wave: {rss:?}",
        waves * WAVE
    );
    assert!(
        failed.is_empty(),
        "{} runs failed: {:?}",
        failed.len(),
        &failed[..failed.len().min(5)]
    );
    assert_eq!(served, (waves * WAVE) as u64, "every call served once");
    assert!(
        highest <= PER_ENDPOINT,
        "{highest} requests in flight at once, over the limit of {PER_ENDPOINT}"
    );
    assert!(
        throttled > 0,
        "the endpoint never throttled: the test shows nothing"
    );
    // The window adapted: with a fixed window of 64 against a capacity of
    // 16, most attempts would be throttled.
    assert!(
        throttled * 10 < served,
        "{throttled} throttled answers for {served} served: the window did not adapt"
    );
    // Flat memory: after a quarter of the waves (warm-up: pools, caches,
    // the allocator's arenas), at most 16 MiB more by the end.
    let warm = rss[waves / 4];
    let end = *rss.last().unwrap();
    assert!(
        end <= warm + 16 * 1024,
        "VmRSS grew from {warm} KiB after warm-up to {end} KiB: {rss:?}"
    );
    let log = log.lock().unwrap();
    let (capped, log): (Vec<_>, Vec<_>) = log.iter().partition(|l| l.contains("capped at"));
    if nofile.is_some() {
        // 1024 descriptors: 512 for the server's connections, 256 for Run requests.
        assert!(
            capped.iter().any(|l| l.contains("max_in_flight=256")),
            "{capped:?}"
        );
    }
    // No attempt failed for want of a connection (retries would hide it
    // from the outcomes), and nothing went wrong enough to warn.
    assert!(
        log.is_empty(),
        "{} lines: {:?}",
        log.len(),
        &log[..log.len().min(5)]
    );
    drop(child);
    let _ = std::fs::remove_dir_all(db.parent().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_against_a_throttling_endpoint_stays_under_the_limit_and_in_flat_memory() {
    burst("burst", None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_burst_under_ulimit_n_1024_completes_every_run() {
    burst("burst-nofile", Some(1024)).await;
}

/// Serves `registry` as an endpoint on `listener` until the test ends.
fn serve_on(listener: tokio::net::TcpListener, url: &str, registry: Registry) {
    let endpoint =
        dispatch_std::endpoint::Endpoint::new(registry).endpoint_url(Some(url.to_owned()));
    tokio::spawn(endpoint.serve(listener, core::future::pending()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_down_for_a_while_then_back_gets_every_run_done() {
    let down = Duration::from_secs(env_or("DISPATCH_DOWN_SECS", 20));
    // A port nothing listens on, for now.
    let address = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let endpoint = format!("http://{address}");
    let log = Arc::new(Mutex::new(Vec::new()));
    let db = temp_db("down");
    let (child, url) = start(&db, &[], None, &log).await;
    let calls = (0..500).map(|n: i64| endpoint::call(&endpoint, "work", 0, &n));
    let ids: Vec<String> = client(&url)
        .dispatch_batch(calls)
        .await
        .unwrap()
        .into_iter()
        .map(|id| id.to_string())
        .collect();
    tokio::time::sleep(down).await;
    let refused = log
        .lock()
        .unwrap()
        .iter()
        .filter(|line| line.contains("STATUS_TCP_ERROR"))
        .count();
    assert!(
        refused >= ids.len(),
        "{refused} refused attempts while down"
    );

    let seen = Arc::new(Seen::default());
    let listener = tokio::net::TcpListener::bind(address).await.unwrap();
    serve_on(listener, &endpoint, throttling(&seen));
    let (failed, attempts) = outcomes(&url, &ids).await;
    eprintln!(
        "down {down:?}: {} runs, {refused} refused attempts while down, at most {attempts} attempts per run",
        ids.len()
    );
    assert!(
        failed.is_empty(),
        "{} runs failed: {:?}",
        failed.len(),
        &failed[..failed.len().min(5)]
    );
    assert_eq!(seen.served.load(Ordering::Relaxed), ids.len() as u64);
    drop(child);
    let _ = std::fs::remove_dir_all(db.parent().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_refuses_new_calls_finishes_those_in_flight_and_a_restart_runs_the_rest_once() {
    // slow(n) takes 3 s and returns n; it counts its starts and ends.
    let started = Arc::new(AtomicU64::new(0));
    let ended = Arc::new(AtomicU64::new(0));
    let mut registry = Registry::new();
    let (starts, ends) = (Arc::clone(&started), Arc::clone(&ended));
    registry.register("slow", move |run: Run<i64>| {
        let (starts, ends) = (Arc::clone(&starts), Arc::clone(&ends));
        async move {
            starts.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_secs(3)).await;
            ends.fetch_add(1, Ordering::SeqCst);
            match run.directive {
                Directive::Input(n) => Ok(Outcome::value(&n)),
                Directive::Resume(_) => Err(FunctionError::permanent("slow never polls")),
            }
        }
    });
    let endpoint = serve_endpoint(registry).await;
    let log = Arc::new(Mutex::new(Vec::new()));
    let db = temp_db("sigterm");
    let args = [
        "--max-in-flight-per-endpoint",
        "4",
        "--shutdown-grace",
        "20",
    ];
    let (mut child, url) = start(&db, &args, None, &log).await;
    let calls = (0..12).map(|n: i64| endpoint::call(&endpoint, "slow", 0, &n));
    let ids: Vec<String> = client(&url)
        .dispatch_batch(calls)
        .await
        .unwrap()
        .into_iter()
        .map(|id| id.to_string())
        .collect();
    // Four requests in flight (the limit), eight waiting in the scheduler.
    for _ in 0..3000 {
        if started.load(Ordering::SeqCst) == 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(started.load(Ordering::SeqCst), 4);
    let pid = rustix::process::Pid::from_raw(i32::try_from(child.id().unwrap()).unwrap()).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();

    // No new work: the listener closes, and a call is refused.
    let address = url.trim_start_matches("http://").to_owned();
    for _ in 0..1000 {
        if tokio::net::TcpStream::connect(&address).await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let late = endpoint::call(&endpoint, "slow", 0, &99i64);
    assert!(
        client(&url).dispatch(late).await.is_err(),
        "a call accepted after SIGTERM"
    );
    // The requests in flight finish within the grace; nothing else is sent.
    let exit = tokio::time::timeout(Duration::from_secs(40), child.wait())
        .await
        .expect("the scheduler did not exit within its grace")
        .unwrap();
    assert!(exit.success(), "{exit:?}");
    assert_eq!(
        ended.load(Ordering::SeqCst),
        4,
        "the requests in flight finished"
    );
    assert_eq!(
        started.load(Ordering::SeqCst),
        4,
        "nothing sent after SIGTERM"
    );

    // A restart on the same file runs the eight others, and only those.
    let (child, url) = start(&db, &args, None, &log).await;
    let (failed, _) = outcomes(&url, &ids).await;
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(
        started.load(Ordering::SeqCst),
        12,
        "each call ran exactly once"
    );
    drop(child);
    let _ = std::fs::remove_dir_all(db.parent().unwrap());
}
