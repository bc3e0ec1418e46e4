//! Shared by the tests that start `dispatch scheduler` as a process: the
//! start itself (its URL read from its log), the wait route read over a
//! plain socket, and the durable workload that the crash and shared-runs
//! tests drive.

#![allow(dead_code, unreachable_pub)]

use core::sync::atomic::{AtomicU64, Ordering};
use core::time::Duration;
use std::process::Stdio;
use std::sync::Arc;

use dispatch_std::endpoint::{self, Directive, FunctionError, Outcome, Poll, Registry, Run};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Spawns `command` (a `dispatch scheduler` command line, killed when the
/// child is dropped), waits up to 60 s for its "dispatch scheduler on URL"
/// line, and hands every other line of its stderr to `keep`, before and
/// after that one. Returns the child and the URL.
pub async fn start_scheduler(
    mut command: Command,
    mut keep: impl FnMut(String) + Send + 'static,
) -> (Child, String) {
    let mut child = command
        .env("NO_COLOR", "1")
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let url = loop {
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("the scheduler did not start within 60 s")
            .unwrap()
            .expect("the scheduler exited at start");
        if let Some(rest) = line.split("dispatch scheduler on ").nth(1) {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
        keep(line);
    };
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            keep(line);
        }
    });
    (child, url)
}

/// Reads the scheduler's wait route until run `id` is done (at most
/// `minutes`); returns the run as JSON.
pub async fn wait_done(url: &str, key: &str, id: &str, minutes: u32) -> serde_json::Value {
    let address = url.trim_start_matches("http://").to_owned();
    // Each read waits up to a second for the run to finish.
    for _ in 0..minutes * 60 {
        let path = format!("/_dispatch/v1/runs/{id}?wait_ms=1000");
        let body = raw_get(&address, key, &path).await;
        let run: serde_json::Value =
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("{id}: not JSON ({e}): {body}"));
        if run["done"] == true {
            return run;
        }
    }
    panic!("{id} is not done after {minutes} minutes");
}

/// A GET with API key `key` over a fresh HTTP/1.1 connection; asserts a 200
/// and returns the body.
pub async fn raw_get(address: &str, key: &str, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {key}\r\n\
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

/// The durable workload: `total(n)` polls `double(1..=n)` one or two
/// results at a time (each poll waiting at most `max_wait`), carrying
/// `"n,sum,received"` as its state, and returns the sum, n * (n + 1).
/// `double` fails temporarily one time in three (retried with backoff)
/// and otherwise works for `work` before answering.
pub fn total_registry(work: Duration, max_wait: Duration) -> Registry {
    let calls = Arc::new(AtomicU64::new(0));
    let mut registry = Registry::new();
    registry.register("double", move |run: Run<i64>| {
        let calls = Arc::clone(&calls);
        async move {
            if calls.fetch_add(1, Ordering::Relaxed).is_multiple_of(3) {
                return Err(FunctionError::temporary("flaky"));
            }
            tokio::time::sleep(work).await;
            match run.directive {
                Directive::Input(k) => Ok(Outcome::value(&(2 * k))),
                Directive::Resume(_) => Err(FunctionError::permanent("double never polls")),
            }
        }
    });
    registry.register("total", move |run: Run<i64>| async move {
        let endpoint = run.endpoint_url.as_deref().unwrap_or_default().to_owned();
        let poll = |state: String| {
            Poll::new(&state)
                .min_results(1)
                .max_results(2)
                .max_wait(max_wait)
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

/// The integer a done run of the wait route returned (its output's
/// `value`, a JSON number or, for 64-bit values, a string).
pub fn output_i64(run: &serde_json::Value) -> Option<i64> {
    let value = &run["result"]["output"]["value"];
    value
        .as_str()
        .and_then(|s| s.parse().ok())
        .or_else(|| value.as_i64())
}

/// How many times each run was reported done in scheduler log `lines`
/// (its "run done" lines, by `dispatch_id`).
pub fn done_counts<'a>(
    lines: impl IntoIterator<Item = &'a String>,
) -> std::collections::HashMap<String, u32> {
    let mut done = std::collections::HashMap::new();
    for line in lines {
        if line.contains("run done")
            && let Some(id) = line
                .split("dispatch_id=")
                .nth(1)
                .and_then(|rest| rest.split_whitespace().next())
        {
            *done.entry(id.trim_matches('"').to_owned()).or_default() += 1;
        }
    }
    done
}
