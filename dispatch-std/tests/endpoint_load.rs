//! A small load and fault run in CI, with the code of `examples/loadtest.rs`:
//! many concurrent clients on 127.0.0.1 send a mix of valid, tampered,
//! expired, malformed, unsigned, oversized and lying-length signed requests,
//! plus clients that stall mid-body and oversized chunked bodies. Every valid
//! request must run, every other one must get its own refusal with a Connect
//! JSON body, nothing may get a 5xx, and the server must keep serving. The
//! same mix then runs over HTTP/2, many streams per connection.

mod endpoint_support;

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/loadtest.rs"]
mod loadtest;

use core::time::Duration;

use dispatch_std::endpoint::Endpoint;
use endpoint_support::{GUARD, Server, registry};

/// One fault run at a time: the HTTP/1.1 run measures this process's memory.
static ONE_RUN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The body limit of the endpoints under test.
const LIMIT: usize = 64 * 1024;

/// An endpoint verifying with the load generator's key, with [`LIMIT`] and
/// this read timeout.
async fn start(read_timeout: Duration) -> Server {
    Server::start(
        Endpoint::new(registry())
            .verification_key(Some(loadtest::signing_key().verifying_key()))
            .body_limit(LIMIT)
            .read_timeout(Some(read_timeout)),
    )
    .await
}

/// No wrong answer, no wrong accept, no 5xx, `count` requests of `kinds` kinds.
fn assert_proper(report: &loadtest::FaultReport, count: u64, kinds: usize) {
    assert!(report.wrong.is_empty(), "{:#?}", report.wrong);
    assert_eq!(report.wrong_accepts, 0);
    assert_eq!(report.server_errors, 0);
    assert_eq!(report.sent.values().sum::<u64>(), count);
    assert_eq!(
        report.sent.len(),
        kinds,
        "every kind was sent: {:?}",
        report.sent
    );
}

/// This process's resident memory in KiB.
fn own_rss_kib() -> u64 {
    loadtest::rss_kib(std::process::id()).expect("/proc/self/status has VmRSS")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrent_fault_mix_gets_only_proper_answers() {
    let _alone = ONE_RUN.lock().await;
    let server = start(Duration::from_millis(300)).await;
    let before = own_rss_kib();

    let report = tokio::time::timeout(
        4 * GUARD,
        loadtest::faults(server.addr, 240, 32, LIMIT, GUARD, None),
    )
    .await
    .expect("the fault run did not finish");

    assert_proper(&report, 240, 8);
    assert_eq!(report.stalls_timed_out, 32 / 8 + 1);
    assert_eq!(report.chunked_refused, loadtest::CHUNKED_CLIENTS as u64);

    // The server still runs valid requests after all that…
    let again = loadtest::faults(server.addr, 8, 2, LIMIT, GUARD, None).await;
    assert!(again.wrong.is_empty(), "{:#?}", again.wrong);
    // …and the memory the run left behind is bounded (clients included).
    let grown = own_rss_kib().saturating_sub(before);
    assert!(grown < 64 * 1024, "RSS grew by {grown} KiB");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fault_mix_over_http2_gets_only_proper_answers() {
    let _alone = ONE_RUN.lock().await;
    // Longer than the HTTP/1.1 run's: here the timer runs between frames of
    // one connection, and a busy test machine must not make it fire.
    let server = start(Duration::from_secs(1)).await;

    let report = tokio::time::timeout(
        4 * GUARD,
        loadtest::faults_http2(server.addr, 240, 4, 8, LIMIT, GUARD),
    )
    .await
    .expect("the HTTP/2 fault run did not finish");

    assert_proper(&report, 240, 7);
    assert_eq!(report.stalls_timed_out, 4);

    // The connections' stalls and refusals left the server serving.
    let again = loadtest::faults_http2(server.addr, 16, 1, 4, LIMIT, GUARD).await;
    assert!(again.wrong.is_empty(), "{:#?}", again.wrong);
    server.shutdown().await;
}
