//! `dispatch run` and `dispatch scheduler` as processes: an outcome printed
//! as JSON with the exit code of its status, and clear errors (never a hang)
//! when the scheduler is out of reach or stops mid-run.

#[path = "../../dispatch-scheduler/tests/scheduler_support/mod.rs"]
mod scheduler_support;

use core::time::Duration;
use std::process::Stdio;
use std::sync::Arc;

use dispatch_scheduler::Scheduler;
use dispatch_std::endpoint::{Directive, FunctionError, Outcome, Registry, Run};
use scheduler_support::{fast_config, serve_endpoint, serve_scheduler};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::sync::Notify;

const BIN: &str = env!("CARGO_BIN_EXE_dispatch");
const KEY: &str = "cli-run-key";

/// Runs `dispatch` with `args`, at most 60 s; returns (exit code, stdout, stderr).
async fn dispatch(args: &[&str]) -> (Option<i32>, String, String) {
    let child = Command::new(BIN)
        .args(args)
        .env("DISPATCH_API_KEY", KEY)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("dispatch did not finish within 60 s")
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn registry(started: Arc<Notify>) -> Registry {
    let mut registry = Registry::new();
    registry.register("greet", |run: Run<String>| async move {
        match run.directive {
            Directive::Input(name) => Ok(Outcome::value(&format!("Hello, {name}!"))),
            Directive::Resume(_) => Ok(Outcome::none()),
        }
    });
    registry.register("refuse", |_run: Run<String>| async move {
        Err::<Outcome, _>(FunctionError::permanent("no, thanks"))
    });
    registry.register("sleepy", move |_run: Run<String>| {
        let started = Arc::clone(&started);
        async move {
            started.notify_one();
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok(Outcome::none())
        }
    });
    registry
}

async fn in_process() -> (String, String) {
    let endpoint = serve_endpoint(registry(Arc::new(Notify::new()))).await;
    let scheduler = Scheduler::new(fast_config(2).api_key(Some(KEY.into()))).unwrap();
    (endpoint, serve_scheduler(&scheduler).await)
}

#[tokio::test(flavor = "multi_thread")]
async fn run_prints_the_outcome() {
    let (endpoint, scheduler) = in_process().await;
    let (code, stdout, stderr) = dispatch(&[
        "run",
        "--scheduler",
        &scheduler,
        "--endpoint",
        &endpoint,
        "greet",
        r#""CLI""#,
    ])
    .await;
    assert_eq!(code, Some(0), "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["status"], "STATUS_OK");
    assert_eq!(json["result"]["output"]["value"], "Hello, CLI!");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_call_exits_5() {
    let (endpoint, scheduler) = in_process().await;
    let (code, stdout, _) = dispatch(&[
        "run",
        "--scheduler",
        &scheduler,
        "--endpoint",
        &endpoint,
        "refuse",
        r#""x""#,
    ])
    .await;
    assert_eq!(code, Some(5));
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["status"], "STATUS_PERMANENT_ERROR");
    assert_eq!(json["result"]["error"]["message"], "no, thanks");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_json_is_an_error() {
    let (code, _, stderr) = dispatch(&[
        "run",
        "--scheduler",
        "http://127.0.0.1:1",
        "--endpoint",
        "http://127.0.0.1:2",
        "greet",
        "{not json",
    ])
    .await;
    assert_eq!(code, Some(1));
    assert!(stderr.contains("the input is not JSON"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_scheduler_is_a_clear_error() {
    let address = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let url = format!("http://{address}");
    let (code, _, stderr) = dispatch(&[
        "run",
        "--scheduler",
        &url,
        "--endpoint",
        "http://127.0.0.1:2",
        "greet",
        r#""x""#,
    ])
    .await;
    assert_eq!(code, Some(1));
    assert!(stderr.contains("is out of reach"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scheduler_stopped_mid_run_is_a_clear_error() {
    let started = Arc::new(Notify::new());
    let endpoint = serve_endpoint(registry(Arc::clone(&started))).await;
    let mut scheduler = Command::new(BIN)
        .args(["scheduler", "--memory", "--listen", "127.0.0.1:0"])
        .env("DISPATCH_API_KEY", KEY)
        .env("RUST_LOG", "warn")
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(scheduler.stderr.take().unwrap()).lines();
    let url = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(rest) = line.strip_prefix("dispatch scheduler on ") {
                return rest.split_whitespace().next().unwrap().to_owned();
            }
        }
        panic!("the scheduler printed no address");
    })
    .await
    .expect("the scheduler did not start");

    let run = {
        let url = url.clone();
        let endpoint = endpoint.clone();
        tokio::spawn(async move {
            dispatch(&[
                "run",
                "--scheduler",
                &url,
                "--endpoint",
                &endpoint,
                "sleepy",
                r#""zz""#,
            ])
            .await
        })
    };
    tokio::time::timeout(Duration::from_secs(30), started.notified())
        .await
        .expect("the run never reached the endpoint");
    scheduler.kill().await.unwrap();

    let (code, _, stderr) = run.await.unwrap();
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("lost the scheduler"), "{stderr}");
}

/// Runs `dispatch` with `args` and the environment `env` (DISPATCH_API_KEY
/// removed unless given), at most 60 s.
async fn dispatch_env(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env_remove("DISPATCH_API_KEY")
        .env_remove("DISPATCH_VERIFICATION_KEY")
        .env_remove("DISPATCH_SIGNING_KEY_FILE")
        .env_remove("DISPATCH_ENDPOINT_URL")
        .env_remove("DISPATCH_ENDPOINT_ADDR")
        .env_remove("DISPATCH_ALLOW_UNVERIFIED")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (name, value) in env {
        command.env(name, value);
    }
    let output = tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .expect("dispatch did not finish within 60 s")
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn servers_refuse_bad_configuration_clearly() {
    let (code, stderr) =
        dispatch_env(&["scheduler", "--memory", "--listen", "127.0.0.1:0"], &[]).await;
    assert_eq!(code, Some(1));
    assert!(stderr.contains("set DISPATCH_API_KEY"), "{stderr}");

    let (code, stderr) = dispatch_env(
        &[
            "scheduler",
            "--memory",
            "--listen",
            "127.0.0.1:0",
            "--signing-key",
            "/nonexistent/key.pem",
        ],
        &[("DISPATCH_API_KEY", KEY)],
    )
    .await;
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("cannot read /nonexistent/key.pem"),
        "{stderr}"
    );

    let busy = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = busy.local_addr().unwrap().to_string();
    let (code, stderr) = dispatch_env(
        &["scheduler", "--memory", "--listen", &address],
        &[("DISPATCH_API_KEY", KEY)],
    )
    .await;
    assert_eq!(code, Some(1));
    assert!(stderr.contains("cannot listen on"), "{stderr}");

    for (entry, why) in [
        (
            "http://app.internal",
            "an entry is a host, not a URL (write app.internal)",
        ),
        ("10.0.0.1/8", "did you mean 10.0.0.0/8?"),
        ("app:99999", "the port must be 1 to 65535"),
    ] {
        let (code, stderr) = dispatch_env(
            &[
                "scheduler",
                "--memory",
                "--listen",
                "127.0.0.1:0",
                "--allow-endpoint",
                "localhost",
                "--allow-endpoint",
                entry,
            ],
            &[("DISPATCH_API_KEY", KEY)],
        )
        .await;
        assert_eq!(code, Some(1), "{entry}: {stderr}");
        assert!(
            stderr.contains(&format!("--allow-endpoint {entry:?}")) && stderr.contains(why),
            "{stderr}"
        );
    }

    let (code, stderr) = dispatch_env(
        &["serve", "--listen", "127.0.0.1:0"],
        &[("DISPATCH_VERIFICATION_KEY", "not-a-key")],
    )
    .await;
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains(
            "DISPATCH_VERIFICATION_KEY is not valid: the key is not valid standard padded base64"
        ),
        "{stderr}"
    );

    // No key at a public URL: refused, naming the opt-out.
    let (code, stderr) = dispatch_env(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--url",
            "https://my-app.example.com",
        ],
        &[],
    )
    .await;
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("DISPATCH_VERIFICATION_KEY is not set")
            && stderr.contains("DISPATCH_ALLOW_UNVERIFIED=1"),
        "{stderr}"
    );

    // A private key where the public one belongs.
    let (code, stderr) = dispatch_env(
        &["serve", "--listen", "127.0.0.1:0"],
        &[(
            "DISPATCH_VERIFICATION_KEY",
            "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEINQ7r3X8Q2t7v1hJm+zMZnP5d2zv8pJvQm7fZ2xJ2Z5M\n-----END PRIVATE KEY-----\n",
        )],
    )
    .await;
    assert_eq!(code, Some(1));
    assert!(stderr.contains("a private key was given"), "{stderr}");
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn a_verification_key_that_is_not_utf8_stops_serve() {
    use std::os::unix::ffi::OsStrExt as _;
    let output = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env_remove("DISPATCH_ENDPOINT_URL")
        .env_remove("DISPATCH_ALLOW_UNVERIFIED")
        .env(
            "DISPATCH_VERIFICATION_KEY",
            std::ffi::OsStr::from_bytes(b"JrQLj5P\xff"),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(60), output)
        .await
        .expect("dispatch did not finish within 60 s")
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("DISPATCH_VERIFICATION_KEY is not valid UTF-8"),
        "{stderr}"
    );
}
