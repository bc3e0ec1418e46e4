//! No crowd of idle connections locks a server out: `dispatch scheduler`
//! and `dispatch serve`, each started with a descriptor limit of 1024
//! (`ulimit -n 1024`), keep answering ordinary requests while 1,100
//! connections that never send a byte are open against them.
//!
//! The read timeout is set far past the test's length, so what keeps the
//! servers answering is their connection cap (at most half the descriptor
//! limit, the longest-idle connection closed to make room), not idle
//! connections timing out.

use core::time::Duration;
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_dispatch");
const IDLE_CONNECTIONS: usize = 1100;
/// A bound on each step, so that a server that is locked out fails the test
/// rather than hanging it; far under the servers' 600 s read timeout.
const GUARD: Duration = Duration::from_secs(60);

/// Raises this test's own descriptor limit, which must hold the 1,100
/// client sockets.
fn raise_own_descriptor_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let wanted = 4096u64;
    if limit.current.is_some_and(|current| current < wanted) {
        let raised = rustix::process::Rlimit {
            current: Some(limit.maximum.map_or(wanted, |max| max.min(wanted))),
            maximum: limit.maximum,
        };
        setrlimit(Resource::Nofile, raised).expect("raising the test's descriptor limit");
    }
    let current = getrlimit(Resource::Nofile).current;
    assert!(
        current.is_none_or(|n| n as usize > IDLE_CONNECTIONS + 100),
        "this test needs more than {} descriptors; the hard limit allows {current:?}",
        IDLE_CONNECTIONS + 100
    );
}

/// Starts `dispatch <args>` under `ulimit -n 1024`; returns the child and
/// the address it listens on, read from the line it prints at start.
async fn start(args: &[&str], marker: &str) -> (Child, String) {
    let mut child = Command::new("bash")
        .arg("-c")
        .arg("ulimit -n 1024 && exec \"$0\" \"$@\"")
        .arg(BIN)
        .args(args)
        .args(["--listen", "127.0.0.1:0", "--read-timeout", "600"])
        .env("RUST_LOG", "warn")
        .env("NO_COLOR", "1")
        .env_remove("DISPATCH_VERIFICATION_KEY")
        .env_remove("DISPATCH_ENDPOINT_URL")
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let address = loop {
        let line = tokio::time::timeout(GUARD, lines.next_line())
            .await
            .expect("the server did not start")
            .unwrap()
            .expect("the server exited at start");
        if let Some(rest) = line.split(marker).nth(1) {
            let url = rest.split_whitespace().next().unwrap();
            break url.trim_start_matches("http://").to_owned();
        }
    };
    // Keep reading its log so that it never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, address)
}

/// Opens `count` connections that send nothing, and keeps them.
async fn idle_crowd(address: &str, count: usize) -> Vec<TcpStream> {
    let mut crowd = Vec::with_capacity(count);
    for _ in 0..count {
        let stream = tokio::time::timeout(GUARD, TcpStream::connect(address))
            .await
            .expect("a connection was not accepted within the guard")
            .unwrap();
        crowd.push(stream);
    }
    crowd
}

/// Sends `request` on a fresh connection; the answer's status code.
async fn status_of(address: &str, request: &[u8]) -> u16 {
    let exchange = async {
        let mut stream = TcpStream::connect(address).await.unwrap();
        stream.write_all(request).await.unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.unwrap();
        answer
    };
    let answer = tokio::time::timeout(GUARD, exchange)
        .await
        .expect("an ordinary request went unanswered: the server is locked out");
    let text = String::from_utf8_lossy(&answer);
    text.split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {text:?}"))
}

async fn check(args: &[&str], marker: &str, request: impl Fn(&str) -> Vec<u8>, expected: u16) {
    raise_own_descriptor_limit();
    let (mut child, address) = start(args, marker).await;
    let request = request(&address);
    assert_eq!(status_of(&address, &request).await, expected);
    let crowd = idle_crowd(&address, IDLE_CONNECTIONS).await;
    for round in 0..20 {
        assert_eq!(
            status_of(&address, &request).await,
            expected,
            "round {round}"
        );
    }
    // More of the crowd arrives; ordinary requests still get through.
    let more = idle_crowd(&address, 200).await;
    assert_eq!(status_of(&address, &request).await, expected);
    assert!(child.try_wait().unwrap().is_none(), "the server exited");
    drop((crowd, more));
    child.kill().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduler_answers_with_1100_idle_connections_open_under_ulimit_1024() {
    check(
        &["scheduler", "--memory", "--no-auth"],
        "dispatch scheduler on ",
        |address| {
            format!(
                "GET /_dispatch/v1/runs/no-such-run HTTP/1.1\r\nHost: {address}\r\n\
                 Connection: close\r\n\r\n"
            )
            .into_bytes()
        },
        404,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_endpoint_answers_with_1100_idle_connections_open_under_ulimit_1024() {
    check(
        &["serve"],
        "demo endpoint on ",
        |address| {
            // Unsigned (the demo endpoint on loopback verifies nothing) and
            // for a function it does not have: an ordinary, cheap answer.
            format!(
                "POST /dispatch.sdk.v1.FunctionService/Run HTTP/1.1\r\nHost: {address}\r\n\
                 Content-Type: application/proto\r\nContent-Length: 0\r\n\
                 Connection: close\r\n\r\n"
            )
            .into_bytes()
        },
        400,
    )
    .await;
}
