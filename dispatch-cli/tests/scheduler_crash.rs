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

#[path = "../../dispatch-scheduler/tests/scheduler_support/mod.rs"]
mod scheduler_support;

use core::sync::atomic::{AtomicU64, Ordering};
use core::time::Duration;
use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use dispatch_std::client::Client;
use dispatch_std::endpoint::{self, Directive, FunctionError, Outcome, Poll, Registry, Run};
use scheduler_support::serve_endpoint;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_dispatch");
const KEY: &str = "crash-test-key";

/// `total(n)` polls `double(1..=n)` one or two results at a time, carrying
/// `"n,sum,received"` as its state, and returns the sum: n * (n + 1).
/// `double` fails temporarily one time in three.
fn registry() -> Registry {
    let calls = Arc::new(AtomicU64::new(0));
    let mut registry = Registry::new();
    registry.register("double", move |run: Run<i64>| {
        let calls = Arc::clone(&calls);
        async move {
            if calls.fetch_add(1, Ordering::Relaxed).is_multiple_of(3) {
                return Err(FunctionError::temporary("flaky"));
            }
            // A little work, so that kills land while requests are in flight.
            tokio::time::sleep(Duration::from_millis(5)).await;
            match run.directive {
                Directive::Input(k) => Ok(Outcome::value(&(2 * k))),
                Directive::Resume(_) => Err(FunctionError::permanent("double never polls")),
            }
        }
    });
    registry.register("total", |run: Run<i64>| async move {
        let endpoint = run.endpoint_url.as_deref().unwrap_or_default().to_owned();
        let poll = |state: String| {
            Poll::new(&state)
                .min_results(1)
                .max_results(2)
                .max_wait(Duration::from_secs(120))
        };
        let (n, sum, received) = match &run.directive {
            Directive::Input(n) => {
                let mut first = poll(format!("{n},0,0"));
                for k in 1..=*n {
                    first = first.call(endpoint::call(&endpoint, "double", k as u64, &k));
                }
                return Ok(Outcome::poll(first));
            }
            Directive::Resume(resume) => {
                let state: String = resume.state()?;
                let parts: Vec<i64> = state.split(',').map(|p| p.parse().unwrap()).collect();
                let mut sum = parts[1];
                for result in resume.results() {
                    let Some(output) = result.output.as_ref() else {
                        return Err(FunctionError::permanent("a child without output"));
                    };
                    sum += output.to_msg::<i64>().unwrap();
                }
                (parts[0], sum, parts[2] + resume.results().len() as i64)
            }
        };
        if received >= n {
            return Ok(Outcome::value(&sum));
        }
        Ok(Outcome::poll(poll(format!("{n},{sum},{received}"))))
    });
    registry
}

/// A scheduler process on `db`, its URL, and its stderr lines as they come.
async fn start(db: &std::ffi::OsStr, log: &Arc<Mutex<Vec<String>>>) -> (Child, String) {
    let mut child = Command::new(BIN)
        .args(["scheduler", "--listen", "127.0.0.1:0", "--db"])
        .arg(db)
        // On PostgreSQL: each restart takes back the killed process's
        // leases at once (one process at a time; ignored on SQLite).
        .args(["--owner", "crash-test"])
        .env("DISPATCH_API_KEY", KEY)
        .env("RUST_LOG", "dispatch::scheduler=info")
        .env("NO_COLOR", "1")
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let url = loop {
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("the scheduler did not start within 30 s")
            .unwrap()
            .expect("the scheduler exited at start");
        if let Some(rest) = line.split("dispatch scheduler on ").nth(1) {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    let log = Arc::clone(log);
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            log.lock().unwrap().push(line);
        }
    });
    (child, url)
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
    use std::io::Write as _;
    const VAR: &str = "DISPATCH_TEST_POSTGRES_URL";
    if !cfg!(feature = "postgres") {
        let _ = writeln!(
            std::io::stderr(),
            "SKIP scheduler_crash on_postgres: dispatch-cli was built without its `postgres` feature"
        );
        return;
    }
    let Ok(admin) = std::env::var(VAR) else {
        let _ = writeln!(
            std::io::stderr(),
            "SKIP scheduler_crash on_postgres: {VAR} is not set (scripts/ci/postgres sets it)"
        );
        return;
    };
    let database = format!("dispatch_crash_{}", std::process::id());
    let admin_for_setup = admin.clone();
    let setup = database.clone();
    tokio::task::spawn_blocking(move || {
        let mut client = postgres::Client::connect(&admin_for_setup, postgres::NoTls).unwrap();
        client
            .batch_execute(&format!("DROP DATABASE IF EXISTS {setup}"))
            .unwrap();
        client
            .batch_execute(&format!("CREATE DATABASE {setup}"))
            .unwrap();
    })
    .await
    .unwrap();
    let (base, _) = admin.rsplit_once('/').unwrap();
    let url = format!("{base}/{database}");
    crash_test(url.as_ref(), iterations()).await;
    tokio::task::spawn_blocking(move || {
        if let Ok(mut client) = postgres::Client::connect(&admin, postgres::NoTls) {
            let _ =
                client.batch_execute(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"));
        }
    })
    .await
    .unwrap();
}

/// Kills the scheduler on `db` `iterations` times mid-workload, starts it
/// once more, and checks every acknowledged run's outcome.
async fn crash_test(db: &std::ffi::OsStr, iterations: u64) {
    let endpoint = serve_endpoint(registry()).await;
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
        let run = wait_done(&url, id).await;
        assert_eq!(run["status"], "STATUS_OK", "{id}: {run}");
        let value = &run["result"]["output"]["value"];
        let got: i64 = value
            .as_str()
            .map(|s| s.parse().unwrap())
            .or_else(|| value.as_i64())
            .unwrap_or_else(|| panic!("{id}: no output in {run}"));
        assert_eq!(got, n * (n + 1), "{id}: {run}");
    }

    // No run was reported done twice, across every process.
    let mut done: HashMap<String, u32> = HashMap::new();
    for line in log.lock().unwrap().iter() {
        if line.contains("run done")
            && let Some(id) = line
                .split("dispatch_id=")
                .nth(1)
                .and_then(|rest| rest.split_whitespace().next())
        {
            *done.entry(id.trim_matches('"').to_owned()).or_default() += 1;
        }
    }
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

/// Reads the wait route until the run is done (at most 3 minutes).
async fn wait_done(url: &str, id: &str) -> serde_json::Value {
    let address = url.trim_start_matches("http://").to_owned();
    for _ in 0..180 {
        let body = raw_get(&address, &format!("/_dispatch/v1/runs/{id}?wait_ms=1000")).await;
        let run: serde_json::Value =
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("{id}: not JSON ({e}): {body}"));
        if run["done"] == true {
            return run;
        }
    }
    panic!("{id} is not done after 3 minutes");
}

/// A GET over a fresh HTTP/1.1 connection; returns the body.
async fn raw_get(address: &str, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {KEY}\r\n\
         Connection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    assert!(head.starts_with("HTTP/1.1 200"), "{head}\n{body}");
    body.to_owned()
}
