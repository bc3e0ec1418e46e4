//! A durable run survives its endpoint process: the real `endpoint` example
//! (dispatch-std/examples/endpoint.rs) is killed with SIGKILL while one of
//! `sum_of_squares`' squares is pending, and started again on the same
//! port; the run completes, its resume answered by the new process from the
//! journal alone.

use core::time::Duration;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use dispatch_core::status::Status;
use dispatch_scheduler::{Backoff, Scheduler, SchedulerConfig};
use dispatch_std::endpoint;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

/// Builds the `endpoint` example (a no-op when it is up to date) and
/// returns its path, as cargo reports it.
fn endpoint_binary() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = std::process::Command::new(cargo);
    command.args([
        "build",
        "--quiet",
        // The workspace's features, as `cargo test --workspace --all-features`
        // unifies them, so that the dependencies already built are reused.
        "--workspace",
        "--all-features",
        "--example",
        "endpoint",
        "--message-format=json",
    ]);
    if !cfg!(debug_assertions) {
        command.arg("--release");
    }
    let output = command.stderr(Stdio::inherit()).output().unwrap();
    assert!(
        output.status.success(),
        "building the endpoint example failed"
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| message["target"]["name"] == "endpoint")
        .find_map(|message| message["executable"].as_str().map(PathBuf::from))
        .expect("cargo named no endpoint executable")
}

/// The example on `port`, once it listens, and its log lines as they come.
async fn start(binary: &PathBuf, port: u16, lines: mpsc::UnboundedSender<String>) -> Child {
    for _ in 0..50 {
        let mut child = Command::new(binary)
            .env("DISPATCH_ENDPOINT_URL", format!("http://127.0.0.1:{port}"))
            .env("DISPATCH_ENDPOINT_ADDR", format!("127.0.0.1:{port}"))
            .env_remove("DISPATCH_VERIFICATION_KEY")
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut listening = false;
        while let Ok(Some(line)) = stdout.next_line().await {
            if line.contains("dispatch endpoint listening") {
                listening = true;
                break;
            }
        }
        if listening {
            let lines = lines.clone();
            tokio::spawn(async move {
                while let Ok(Some(line)) = stdout.next_line().await {
                    let _ = lines.send(line);
                }
            });
            return child;
        }
        // The port is not free again yet: try once more shortly.
        let _ = child.wait().await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the endpoint example did not start on port {port}");
}

/// Reads `lines` until one contains `text`.
async fn wait_for(
    lines: &mut mpsc::UnboundedReceiver<String>,
    text: &str,
    seen: &Mutex<Vec<String>>,
) {
    let found = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.recv().await {
            seen.lock().unwrap().push(line.clone());
            if line.contains(text) {
                return;
            }
        }
        panic!("the endpoint's log ended before {text:?}");
    })
    .await;
    assert!(
        found.is_ok(),
        "no {text:?} in the endpoint's log within 60 s"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_durable_run_completes_across_an_endpoint_killed_and_restarted() {
    let binary = endpoint_binary();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();

    let (first_lines, mut first_log) = mpsc::unbounded_channel();
    let mut first = start(&binary, port, first_lines).await;
    let scheduler = Scheduler::new(SchedulerConfig::new().retry(Backoff {
        initial: Duration::from_millis(50),
        max: Duration::from_millis(500),
        max_attempts: None,
    }))
    .unwrap();
    let ids = scheduler
        .dispatch(vec![endpoint::call(&url, "sum_of_squares", 0, &4i64)])
        .await
        .unwrap();

    // The first run polled; a square is being computed (500 ms): kill.
    wait_for(&mut first_log, "square: computing", &seen).await;
    first.start_kill().unwrap(); // SIGKILL
    first.wait().await.unwrap();

    let (second_lines, mut second_log) = mpsc::unbounded_channel();
    let _second = start(&binary, port, second_lines).await;
    let info = scheduler
        .wait(&ids[0], Some(Duration::from_secs(120)))
        .await
        .unwrap();
    let outcome = info.outcome.as_ref().expect("the run is not done in 120 s");
    assert_eq!(outcome.status, Status::Ok, "{outcome:?}");
    let sum: i64 = dispatch_core::any::unpack(outcome.result.output.as_ref().unwrap()).unwrap();
    assert_eq!(sum, 1 + 4 + 9 + 16);
    // The resume that ended the run was the new process's.
    wait_for(&mut second_log, "sum_of_squares: done", &seen).await;
}
