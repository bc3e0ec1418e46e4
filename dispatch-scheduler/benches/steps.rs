//! The scheduler's throughput and latency, durable (SQLite) beside the
//! in-memory store, measured in the same run:
//!
//! * `steps/{memory,sqlite}`: durable steps per second. A step is one Run
//!   request, signed with the scheduler's Ed25519 key, sent over loopback
//!   HTTP/1.1 to a trivial in-process endpoint that returns at once (it
//!   does **not** verify the signature: the benchmark measures the
//!   scheduler) and recorded as the run's outcome. Each iteration
//!   dispatches [`BATCH`] calls (in Dispatch requests of 1000) and waits
//!   for all their outcomes; on SQLite every outcome is committed with
//!   `synchronous = FULL` before it is visible, many per transaction
//!   (group commit).
//! * `latency/{memory,sqlite}`: one call at a time, from `dispatch` to the
//!   outcome being visible to `wait`. Before the criterion groups the
//!   benchmark also times [`LATENCY_SAMPLES`] such calls per store and
//!   prints their p50 and p99 (criterion reports means and medians only).
//!
//! Everything (the scheduler's driver, its HTTP client, the endpoint) runs
//! on one current-thread tokio runtime, so on one core; the store's writes
//! run on tokio's blocking thread, as in `dispatch scheduler`. Because a
//! loaded machine stretches wall time, the benchmark also prints, on Linux,
//! steps per second of the process's CPU time (user + system, from
//! `/proc/self/stat`) over [`CPU_BATCHES`] batches per store: the rate one
//! core would sustain.
//!
//! ```text
//! cargo bench -p dispatch-scheduler --bench steps
//! cargo bench -p dispatch-scheduler --bench steps -- --test   # once, as a check
//! ```
#![allow(missing_docs)]

use core::time::Duration;
use std::path::PathBuf;
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use dispatch_core::proto::sdk::v1 as pb;
use dispatch_core::status::Status;
use dispatch_scheduler::{MemoryStore, Scheduler, SchedulerConfig, SqliteStore, Store};
use dispatch_std::endpoint::{self, Directive, Endpoint, FunctionError, Outcome, Registry, Run};
use ed25519_dalek::SigningKey;
use tokio::net::TcpListener;
use tokio::runtime::Runtime;

/// Calls per iteration of `steps`.
const BATCH: usize = 2000;
/// Calls per Dispatch request (the scheduler's default maximum).
const PER_REQUEST: usize = 1000;
/// Calls timed one at a time for the printed percentiles.
const LATENCY_SAMPLES: usize = 2000;
/// Batches timed in CPU time per store.
const CPU_BATCHES: usize = 10;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

fn quick() -> bool {
    std::env::args().any(|arg| arg == "--test")
}

/// Serves the trivial function on loopback; returns the endpoint URL.
async fn serve_endpoint() -> String {
    let mut registry = Registry::new();
    registry.register("noop", |run: Run<i64>| async move {
        match run.directive {
            Directive::Input(n) => Ok(Outcome::value(&n)),
            Directive::Resume(_) => Err(FunctionError::permanent("noop never polls")),
        }
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let url = format!("http://{}", listener.local_addr().expect("an address"));
    let endpoint = Endpoint::new(registry).endpoint_url(Some(url.clone()));
    tokio::spawn(endpoint.serve(listener, core::future::pending()));
    url
}

struct Bench {
    scheduler: Scheduler,
    url: String,
    path: Option<PathBuf>,
}

impl Drop for Bench {
    fn drop(&mut self) {
        if let Some(path) = &self.path {
            for suffix in ["", "-wal", "-shm"] {
                let mut name = path.clone().into_os_string();
                name.push(suffix);
                let _ = std::fs::remove_file(name);
            }
        }
    }
}

fn setup(runtime: &Runtime, durable: bool) -> Bench {
    let path = durable.then(|| {
        std::env::temp_dir().join(format!("dispatch-bench-steps-{}.db", std::process::id()))
    });
    let store: Box<dyn Store> = match &path {
        Some(path) => {
            let _ = std::fs::remove_file(path);
            Box::new(SqliteStore::open(path).expect("the SQLite store"))
        }
        None => Box::new(MemoryStore::default()),
    };
    let config = SchedulerConfig::new().signing_key(Some(SigningKey::from_bytes(&[7; 32])));
    let scheduler = Scheduler::with_store(config, store).expect("a scheduler");
    let url = runtime.block_on(async {
        scheduler.start().expect("the driver");
        serve_endpoint().await
    });
    let bench = Bench {
        scheduler,
        url,
        path,
    };
    // The first call opens the connection and checks the whole path.
    runtime.block_on(one_call(&bench));
    bench
}

fn call(url: &str, n: i64) -> pb::Call {
    endpoint::call(url, "noop", 0, &n)
}

/// One call from dispatch to its outcome; panics unless it is `STATUS_OK`.
async fn one_call(bench: &Bench) -> Duration {
    let started = Instant::now();
    let ids = bench
        .scheduler
        .dispatch(vec![call(&bench.url, 1)])
        .await
        .expect("dispatched");
    let info = bench.scheduler.wait(&ids[0], None).await.expect("a run");
    let elapsed = started.elapsed();
    let status = info.outcome.map(|o| o.status);
    assert_eq!(status, Some(Status::Ok), "the trivial call failed");
    elapsed
}

/// [`BATCH`] calls dispatched at once, every outcome awaited.
async fn batch(bench: &Bench) {
    let requests = (0..BATCH / PER_REQUEST).map(|r| {
        let calls = (0..PER_REQUEST)
            .map(|i| call(&bench.url, (r * PER_REQUEST + i) as i64))
            .collect();
        let scheduler = bench.scheduler.clone();
        async move { scheduler.dispatch(calls).await }
    });
    let mut ids = Vec::with_capacity(BATCH);
    for answer in futures_join(requests).await {
        ids.extend(answer.expect("dispatched"));
    }
    for id in &ids {
        let info = bench.scheduler.wait(id, None).await.expect("a run");
        let status = info.outcome.map(|o| o.status);
        assert_eq!(status, Some(Status::Ok), "a call failed");
    }
}

/// Awaits every future, concurrently, in order (no futures crate needed).
async fn futures_join<F>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: core::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut outputs = Vec::with_capacity(handles.len());
    for handle in handles {
        outputs.push(handle.await.expect("a dispatch task"));
    }
    outputs
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn print_latencies(runtime: &Runtime, benches: &[(&str, &Bench)]) {
    let samples = if quick() { 20 } else { LATENCY_SAMPLES };
    for (name, bench) in benches {
        let mut times: Vec<Duration> = runtime.block_on(async {
            let mut times = Vec::with_capacity(samples);
            for _ in 0..samples {
                times.push(one_call(bench).await);
            }
            times
        });
        times.sort();
        println!(
            "latency/{name}: dispatch to outcome, {samples} calls one at a time: \
             p50 {:.3} ms, p99 {:.3} ms",
            percentile(&times, 0.50).as_secs_f64() * 1e3,
            percentile(&times, 0.99).as_secs_f64() * 1e3,
        );
    }
}

/// The process's CPU time (user + system), on Linux.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The fields after the command name (which may hold spaces), from field 3.
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // Clock ticks: 100 per second on every Linux this runs on (USER_HZ).
    Some(Duration::from_millis((utime + stime) * 10))
}

fn print_cpu_rates(runtime: &Runtime, benches: &[(&str, &Bench)]) {
    let batches = if quick() { 1 } else { CPU_BATCHES };
    for (name, bench) in benches {
        let (Some(cpu_before), wall_before) = (cpu_time(), Instant::now()) else {
            println!("steps/{name}: no CPU time on this system (/proc/self/stat), skipped");
            continue;
        };
        for _ in 0..batches {
            runtime.block_on(batch(bench));
        }
        let wall = wall_before.elapsed();
        let cpu = cpu_time().unwrap_or(cpu_before).saturating_sub(cpu_before);
        let steps = (batches * BATCH) as f64;
        println!(
            "steps/{name}: {} steps in {:.3} s wall ({:.0}/s), {:.3} s CPU ({:.0} per CPU-second)",
            batches * BATCH,
            wall.as_secs_f64(),
            steps / wall.as_secs_f64(),
            cpu.as_secs_f64(),
            steps / cpu.as_secs_f64().max(0.01),
        );
    }
}

fn steps(c: &mut Criterion) {
    let runtime = runtime();
    let memory = setup(&runtime, false);
    let sqlite = setup(&runtime, true);
    print_latencies(&runtime, &[("memory", &memory), ("sqlite", &sqlite)]);
    print_cpu_rates(&runtime, &[("memory", &memory), ("sqlite", &sqlite)]);

    let mut group = c.benchmark_group("steps");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.sample_size(10);
    for (name, bench) in [("memory", &memory), ("sqlite", &sqlite)] {
        group.bench_function(name, |b| {
            b.iter_custom(|iterations| {
                let started = Instant::now();
                for _ in 0..iterations {
                    runtime.block_on(batch(bench));
                }
                started.elapsed()
            });
        });
    }
    group.finish();

    let mut group = c.benchmark_group("latency");
    group.sample_size(20);
    for (name, bench) in [("memory", &memory), ("sqlite", &sqlite)] {
        group.bench_function(name, |b| {
            b.iter_custom(|iterations| {
                runtime.block_on(async {
                    let mut total = Duration::ZERO;
                    for _ in 0..iterations {
                        total += one_call(bench).await;
                    }
                    total
                })
            });
        });
    }
    group.finish();
}

criterion_group!(benches, steps);
criterion_main!(benches);
