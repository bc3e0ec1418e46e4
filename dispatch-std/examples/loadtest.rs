//! Load and fault runs against a Dispatch function endpoint on 127.0.0.1.
//!
//! Driven by `scripts/loadtest` (see `docs/load.md`), which starts the
//! `endpoint` example with this tool's verification key:
//!
//! ```text
//! loadtest key                         # prints the base64 public key to configure
//! loadtest core  SECONDS               # one thread: dispatch_core::signature::verify/s
//! loadtest bench ADDR SECONDS CONNS PID # signed Run requests/s, server RSS at start/middle/end
//! loadtest faults ADDR COUNT CONCURRENCY LIMIT_BYTES STALL_BOUND_SECONDS PID [--http2=STREAMS]
//! ```
//!
//! Every loop is bounded in count or time and only 127.0.0.1 is targeted.
//! `tests/endpoint_load.rs` runs a small fault run in CI with this same code.

use core::net::SocketAddr;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use core::time::Duration;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use dispatch_core::proto::sdk::v1 as pb;
use dispatch_core::signature::{BorrowedRequest, Policy, SIGNING_BUFFER_LEN, sign_request, verify};
use dispatch_std::endpoint::RUN_PATH;
use ed25519_dalek::SigningKey;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The load generator's signing key (a test key, known to everyone).
pub fn signing_key() -> SigningKey {
    SigningKey::from_bytes(&[0x5a; 32])
}

/// The current time in Unix seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs() as i64)
}

/// The server's resident memory in KiB, from `/proc/PID/status`.
pub fn rss_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmRSS:")
}

/// The most resident memory the server has had, in KiB (`VmHWM`).
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmHWM:")
}

fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The CPU time in nanoseconds that the threads of process `pid` have run,
/// from `/proc/PID/task/*/schedstat` (robust to other load on the machine).
pub fn cpu_ns(pid: u32) -> Option<u64> {
    let mut total = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let stat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        total += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(total)
}

/// The binary body of an `echo` Run request carrying `text`.
pub fn echo_body(text: &str) -> Vec<u8> {
    prost::Message::encode_to_vec(&pb::RunRequest {
        function: "echo".to_owned(),
        dispatch_id: text.to_owned(),
        directive: Some(pb::run_request::Directive::Input(dispatch_core::any::pack(
            &text.to_owned(),
        ))),
        ..Default::default()
    })
}

/// The header field lines a scheduler sends with `body`, signed at `created`.
pub fn signed_headers(addr: SocketAddr, body: &[u8], created: i64) -> Vec<(String, String)> {
    let url = format!("http://{addr}{RUN_PATH}");
    let unsigned = [("content-type", "application/proto")];
    let request = BorrowedRequest::from_url("POST", &url, &unsigned).expect("an absolute URL");
    let mut buffer = [0u8; SIGNING_BUFFER_LEN];
    let signed = sign_request(&request, body, &signing_key(), created, &mut buffer)
        .expect("the request can be signed");
    vec![
        ("content-type".into(), "application/proto".into()),
        ("content-digest".into(), signed.content_digest.into()),
        ("signature-input".into(), signed.signature_input.into()),
        ("signature".into(), signed.signature.into()),
    ]
}

/// An HTTP/1.1 request to the Run path: `Host`, `headers`, then `body`,
/// announced with `content_length` (the body's own length when `None`).
pub fn http_request(
    addr: SocketAddr,
    headers: &[(String, String)],
    body: &[u8],
    content_length: Option<usize>,
) -> Vec<u8> {
    let mut head = format!("POST {RUN_PATH} HTTP/1.1\r\nhost: {addr}\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    let length = content_length.unwrap_or(body.len());
    head.push_str(&format!("content-length: {length}\r\n\r\n"));
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// One HTTP/1.1 response.
#[derive(Debug)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// `Content-Type`, if any.
    pub content_type: Option<String>,
    /// The body (`Content-Length` bytes).
    pub body: Vec<u8>,
}

/// Reads one response from `stream`, using `buffer` (left empty after).
pub async fn read_reply(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> std::io::Result<Reply> {
    let mut chunk = [0u8; 4096];
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut response = httparse::Response::new(&mut headers);
        let parsed = response
            .parse(buffer)
            .map_err(|error| std::io::Error::other(format!("bad response: {error}")))?;
        if let httparse::Status::Complete(head_len) = parsed {
            let status = response.code.unwrap_or(0);
            let header = |wanted: &str| {
                response
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case(wanted))
                    .map(|h| String::from_utf8_lossy(h.value).into_owned())
            };
            let content_type = header("content-type");
            let length: usize = header("content-length")
                .and_then(|value| value.parse().ok())
                .unwrap_or(0);
            while buffer.len() < head_len + length {
                let read = stream.read(&mut chunk).await?;
                if read == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                buffer.extend_from_slice(&chunk[..read]);
            }
            let body = buffer[head_len..head_len + length].to_vec();
            buffer.drain(..head_len + length);
            return Ok(Reply {
                status,
                content_type,
                body,
            });
        }
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buffer.extend_from_slice(&chunk[..read]);
    }
}

/// How many distinct pre-signed requests the throughput runs cycle through.
pub const POOL: usize = 256;

/// A request's header field lines and body.
pub type SignedRequest = (Vec<(String, String)>, Vec<u8>);

/// `POOL` valid signed echo requests.
pub fn presigned(addr: SocketAddr) -> Vec<SignedRequest> {
    let created = now();
    (0..POOL)
        .map(|index| {
            let body = echo_body(&format!("load-{index:06}"));
            (signed_headers(addr, &body, created), body)
        })
        .collect()
}

/// `dispatch_core::signature::verify` calls per second on this thread, over
/// the requests of [`presigned`] (with the `Host` and `Content-Length` lines
/// the endpoint also sees), for about `duration`: per second of wall-clock
/// time, and per second of this process's CPU time.
pub fn core_verify_rate(addr: SocketAddr, duration: Duration) -> (f64, f64) {
    let key = signing_key().verifying_key();
    let authority = addr.to_string();
    let requests: Vec<_> = presigned(addr)
        .into_iter()
        .map(|(mut headers, body)| {
            headers.insert(0, ("host".into(), authority.clone()));
            headers.push(("content-length".into(), body.len().to_string()));
            (headers, body)
        })
        .collect();
    let borrowed: Vec<Vec<(&str, &str)>> = requests
        .iter()
        .map(|(headers, _)| {
            headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect()
        })
        .collect();
    let cpu_start = cpu_ns(std::process::id()).unwrap_or(0);
    let started = Instant::now();
    let mut count = 0u64;
    while started.elapsed() < duration {
        for ((_, body), headers) in requests.iter().zip(&borrowed) {
            let request = BorrowedRequest {
                method: "POST",
                scheme: "http",
                authority: &authority,
                path: RUN_PATH,
                query: None,
                headers,
            };
            verify(&request, body, &key, now(), &Policy::DEFAULT).expect("a valid signature");
            count += 1;
        }
    }
    let wall = started.elapsed().as_secs_f64();
    let cpu = cpu_ns(std::process::id())
        .unwrap_or(0)
        .saturating_sub(cpu_start);
    (count as f64 / wall, count as f64 * 1e9 / cpu.max(1) as f64)
}

/// What a throughput run measured.
#[derive(Debug)]
pub struct BenchResult {
    /// Requests answered 200 per second, after the warm-up.
    pub per_second: f64,
    /// Requests answered 200 per second of the server's CPU time.
    pub per_cpu_second: Option<f64>,
    /// Requests answered 200 in all, warm-up included.
    pub answered: u64,
    /// Answers other than 200 (must be zero).
    pub failures: u64,
    /// The server's RSS in KiB at the start, middle and end of the run.
    pub rss_kib: [Option<u64>; 3],
}

/// How the throughput run talks to the endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// HTTP/1.1 keep-alive, `depth` requests written at once on each
    /// connection (one write) before their answers are read: 1 is plain
    /// keep-alive, more is pipelining.
    Http1 {
        /// Requests in flight per connection.
        depth: usize,
    },
    /// HTTP/2 with prior knowledge (h2c), `streams` requests in flight per
    /// connection.
    Http2 {
        /// Concurrent streams per connection.
        streams: usize,
    },
}

/// Sends the [`presigned`] requests over `connections` keep-alive
/// connections for one second of warm-up and then `duration`.
pub async fn bench(
    addr: SocketAddr,
    duration: Duration,
    connections: usize,
    transport: Transport,
    pid: Option<u32>,
) -> BenchResult {
    let done = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(1) + duration;
    let tasks = match transport {
        Transport::Http1 { depth } => {
            http1_clients(addr, connections, depth, deadline, &done, &failures)
        }
        Transport::Http2 { streams } => {
            http2_clients(addr, connections, streams, deadline, &done, &failures).await
        }
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    let start_count = done.load(Ordering::Relaxed);
    let started = Instant::now();
    let rss_start = pid.and_then(rss_kib);
    let cpu_start = pid.and_then(cpu_ns);
    tokio::time::sleep(duration / 2).await;
    let rss_middle = pid.and_then(rss_kib);
    tokio::time::sleep(duration.saturating_sub(started.elapsed())).await;
    let end_count = done.load(Ordering::Relaxed);
    let elapsed = started.elapsed();
    let rss_end = pid.and_then(rss_kib);
    let cpu_end = pid.and_then(cpu_ns);
    for task in tasks {
        task.await.ok();
    }
    let answered = (end_count - start_count) as f64;
    BenchResult {
        per_second: answered / elapsed.as_secs_f64(),
        per_cpu_second: cpu_start
            .zip(cpu_end)
            .map(|(start, end)| answered * 1e9 / end.saturating_sub(start).max(1) as f64),
        answered: done.load(Ordering::Relaxed),
        failures: failures.load(Ordering::Relaxed),
        rss_kib: [rss_start, rss_middle, rss_end],
    }
}

/// HTTP/1.1 clients: each connection writes `depth` requests in one write,
/// then reads their `depth` answers, until `deadline`.
fn http1_clients(
    addr: SocketAddr,
    connections: usize,
    depth: usize,
    deadline: Instant,
    done: &Arc<AtomicU64>,
    failures: &Arc<AtomicU64>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let pool: Arc<Vec<Vec<u8>>> = Arc::new(
        presigned(addr)
            .iter()
            .map(|(headers, body)| http_request(addr, headers, body, None))
            .collect(),
    );
    (0..connections)
        .map(|connection| {
            let (pool, done, failures) = (pool.clone(), done.clone(), failures.clone());
            tokio::spawn(async move {
                let mut stream = TcpStream::connect(addr).await.expect("connect");
                stream.set_nodelay(true).ok();
                let mut buffer = Vec::with_capacity(4096);
                let mut batch = Vec::with_capacity(depth * 1024);
                let mut index = connection;
                while Instant::now() < deadline {
                    batch.clear();
                    for _ in 0..depth {
                        batch.extend_from_slice(&pool[index % pool.len()]);
                        index += connections;
                    }
                    let mut ok = stream.write_all(&batch).await.is_ok();
                    for _ in 0..depth {
                        ok = ok
                            && read_reply(&mut stream, &mut buffer)
                                .await
                                .is_ok_and(|reply| reply.status == 200);
                        if ok {
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    if !ok {
                        failures.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                }
            })
        })
        .collect()
}

/// HTTP/2 (h2c, prior knowledge) clients: `connections` connections, each
/// with `streams` tasks sending one request at a time on it, until
/// `deadline`.
async fn http2_clients(
    addr: SocketAddr,
    connections: usize,
    streams: usize,
    deadline: Instant,
    done: &Arc<AtomicU64>,
    failures: &Arc<AtomicU64>,
) -> Vec<tokio::task::JoinHandle<()>> {
    use bytes::Bytes;
    use http_body_util::{BodyExt, Full};
    use hyper_util::rt::{TokioExecutor, TokioIo};

    let uri = format!("http://{addr}{RUN_PATH}");
    let uri: http::Uri = uri.parse().expect("a URI");
    let pool: Arc<Vec<(http::HeaderMap, Bytes)>> = Arc::new(
        presigned(addr)
            .into_iter()
            .map(|(headers, body)| (header_map(&headers, body.len()), Bytes::from(body)))
            .collect(),
    );
    let mut tasks = Vec::new();
    for connection in 0..connections {
        let stream = TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).ok();
        let (sender, driver) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
                .await
                .expect("an HTTP/2 handshake");
        tokio::spawn(driver);
        for stream in 0..streams {
            let (pool, done, failures) = (pool.clone(), done.clone(), failures.clone());
            let (mut sender, uri) = (sender.clone(), uri.clone());
            let step = connections * streams;
            tasks.push(tokio::spawn(async move {
                let mut index = connection * streams + stream;
                while Instant::now() < deadline {
                    let (headers, body) = &pool[index % pool.len()];
                    index += step;
                    let request = post(&uri, headers.clone(), Full::new(body.clone()));
                    let ok = match sender.send_request(request).await {
                        Ok(response) => {
                            let status = response.status();
                            response.into_body().collect().await.is_ok() && status == 200
                        }
                        Err(_) => false,
                    };
                    if ok {
                        done.fetch_add(1, Ordering::Relaxed);
                    } else {
                        failures.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                }
            }));
        }
    }
    tasks
}

/// The kinds of request in a fault run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// Signed now: must run (200, the input echoed).
    Valid,
    /// One body byte changed after signing: 403 permission_denied.
    TamperedBody,
    /// One signature byte changed: 403 permission_denied.
    TamperedSignature,
    /// Signed ten minutes ago: 403 permission_denied.
    Expired,
    /// `Signature-Input` is not a structured-field dictionary: 401 unauthenticated.
    Malformed,
    /// No signature at all: 401 unauthenticated.
    Unsigned,
    /// A `Content-Length` over the limit, no body sent: 413 resource_exhausted.
    Oversized,
    /// A valid request whose `Content-Length` is one byte short of the
    /// body: the truncated body fails its digest (403) and the stray byte
    /// starts a request that is not HTTP (a 4xx or a close, never a run).
    LyingShortLength,
}

const MIX: [Kind; 8] = [
    Kind::Valid,
    Kind::TamperedBody,
    Kind::Valid,
    Kind::TamperedSignature,
    Kind::Expired,
    Kind::Malformed,
    Kind::Unsigned,
    Kind::Oversized,
];

/// The status and Connect code a kind must get.
fn expected(kind: Kind) -> (u16, &'static str) {
    match kind {
        Kind::Valid => (200, ""),
        Kind::TamperedBody | Kind::TamperedSignature | Kind::Expired | Kind::LyingShortLength => {
            (403, "permission_denied")
        }
        Kind::Malformed | Kind::Unsigned => (401, "unauthenticated"),
        Kind::Oversized => (413, "resource_exhausted"),
    }
}

/// The bytes to send for a request of `kind` numbered `index` over HTTP/1.1.
fn fault_request(addr: SocketAddr, kind: Kind, index: usize, limit: usize) -> (Vec<u8>, String) {
    let fault = fault_parts(addr, kind, index, limit);
    let bytes = http_request(addr, &fault.headers, &fault.body, fault.content_length);
    (bytes, fault.text)
}

/// A fault-mix request before framing.
struct Fault {
    /// Signed (or not) header field lines, without `Host` and `Content-Length`.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// The `Content-Length` to announce when it is not the body's length.
    content_length: Option<usize>,
    /// The text a valid request's function echoes.
    text: String,
}

fn fault_parts(addr: SocketAddr, kind: Kind, index: usize, limit: usize) -> Fault {
    let text = format!("fault-{index:06}");
    let mut body = echo_body(&text);
    let created = if kind == Kind::Expired {
        now() - 600
    } else {
        now()
    };
    let mut headers = signed_headers(addr, &body, created);
    let mut length = None;
    match kind {
        Kind::Valid | Kind::Expired => {}
        Kind::TamperedBody => {
            let last = body.len() - 1;
            body[last] ^= 1;
        }
        Kind::TamperedSignature => {
            // `sig1=:BASE64:`: change a base64 digit in the middle.
            let value = &mut headers[3].1;
            let middle = value.len() / 2;
            let replaced = if &value[middle..=middle] == "A" {
                "B"
            } else {
                "A"
            };
            value.replace_range(middle..=middle, replaced);
        }
        Kind::Malformed => headers[2].1 = "sig1=(\"@method\";created=".into(),
        Kind::Unsigned => headers.truncate(1),
        Kind::Oversized => {
            length = Some(limit + 1);
            body.clear();
        }
        Kind::LyingShortLength => length = Some(body.len() - 1),
    }
    Fault {
        headers,
        body,
        content_length: length,
        text,
    }
}

/// Checks one reply against what its kind must get; `Err` says what is wrong.
fn check(kind: Kind, text: &str, reply: &Reply) -> Result<(), String> {
    let (status, code) = expected(kind);
    if reply.status != status {
        return Err(format!(
            "{kind:?}: status {} instead of {status}: {}",
            reply.status,
            String::from_utf8_lossy(&reply.body)
        ));
    }
    if status == 200 {
        let response: pb::RunResponse = prost::Message::decode(reply.body.as_slice())
            .map_err(|error| format!("{kind:?}: not a RunResponse: {error}"))?;
        let echoed = match response.directive {
            Some(pb::run_response::Directive::Exit(exit)) => exit
                .result
                .and_then(|result| result.output)
                .and_then(|output| dispatch_core::any::unpack::<String>(&output).ok()),
            _ => None,
        };
        if echoed.as_deref() != Some(text) {
            return Err(format!("{kind:?}: echoed {echoed:?} instead of {text:?}"));
        }
        return Ok(());
    }
    if reply.content_type.as_deref() != Some("application/json") {
        return Err(format!("{kind:?}: content type {:?}", reply.content_type));
    }
    let json: serde_json::Value = serde_json::from_slice(&reply.body)
        .map_err(|error| format!("{kind:?}: error body is not JSON: {error}"))?;
    if json["code"] != code || !json["message"].is_string() {
        return Err(format!("{kind:?}: Connect error {json} instead of {code}"));
    }
    Ok(())
}

/// What a fault run saw.
#[derive(Debug, Default)]
pub struct FaultReport {
    /// Requests sent, by kind.
    pub sent: BTreeMap<String, u64>,
    /// Every answer that was not the expected one (must be empty).
    pub wrong: Vec<String>,
    /// Of those, answers of 200 to a request that had to be refused.
    pub wrong_accepts: u64,
    /// Answers with a 5xx status.
    pub server_errors: u64,
    /// Stalled requests answered 408 within the bound.
    pub stalls_timed_out: u64,
    /// Oversized chunked bodies with a lying `Content-Length` answered 413.
    pub chunked_refused: u64,
    /// The server's RSS in KiB before and after, when a pid was given.
    pub rss_kib: [Option<u64>; 2],
}

impl FaultReport {
    /// Counts one request of `kind` and what came back for it (`Err` of the
    /// outer result: no reply within the client's 30 s).
    fn record(
        &mut self,
        kind: Kind,
        text: &str,
        reply: Result<Result<Reply, String>, tokio::time::error::Elapsed>,
    ) {
        *self.sent.entry(format!("{kind:?}")).or_default() += 1;
        match reply {
            Ok(Ok(reply)) => {
                if reply.status >= 500 {
                    self.server_errors += 1;
                }
                if reply.status == 200 && kind != Kind::Valid {
                    self.wrong_accepts += 1;
                }
                if let Err(error) = check(kind, text, &reply) {
                    self.wrong.push(error);
                }
            }
            Ok(Err(error)) => self.wrong.push(format!("{kind:?}: {error}")),
            Err(_) => self.wrong.push(format!("{kind:?}: no reply in 30 s")),
        }
    }
}

/// How many clients send an oversized chunked body at the same time (each
/// may make the server hold up to `limit` bytes).
pub const CHUNKED_CLIENTS: usize = 4;

/// Sends `count` requests of the fault mix with `concurrency` clients, plus
/// `concurrency / 8 + 1` clients that stall mid-body (each must get a 408
/// within `stall_bound`) and [`CHUNKED_CLIENTS`] oversized chunked bodies
/// with a lying `Content-Length` (each must get a 413). The server's body
/// limit is `limit`.
pub async fn faults(
    addr: SocketAddr,
    count: usize,
    concurrency: usize,
    limit: usize,
    stall_bound: Duration,
    pid: Option<u32>,
) -> FaultReport {
    let report = Arc::new(std::sync::Mutex::new(FaultReport::default()));
    report.lock().expect("not poisoned").rss_kib[0] = pid.and_then(rss_kib);
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    let specials = concurrency / 8 + 1;
    let oversized = Arc::new(signed_oversized(addr, limit));
    for special in 0..specials {
        let stall_report = report.clone();
        tasks.push(tokio::spawn(async move {
            let report = stall_report;
            let outcome = tokio::time::timeout(stall_bound, stall(addr)).await;
            let mut report = report.lock().expect("not poisoned");
            match outcome {
                Ok(Ok(())) => report.stalls_timed_out += 1,
                Ok(Err(error)) => report.wrong.push(format!("stall: {error}")),
                Err(_) => report.wrong.push("stall: no 408 within the bound".into()),
            }
        }));
        if special >= CHUNKED_CLIENTS {
            continue;
        }
        let (chunked_report, oversized) = (report.clone(), oversized.clone());
        tasks.push(tokio::spawn(async move {
            let report = chunked_report;
            let outcome = chunked_over_limit(addr, limit, oversized).await;
            let mut report = report.lock().expect("not poisoned");
            match outcome {
                Ok(()) => report.chunked_refused += 1,
                Err(error) => report.wrong.push(format!("chunked: {error}")),
            }
        }));
    }
    for _ in 0..concurrency {
        let (report, next) = (report.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut buffer = Vec::new();
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= count {
                    return;
                }
                let kind = if index % 97 == 96 {
                    Kind::LyingShortLength
                } else {
                    MIX[index % MIX.len()]
                };
                let (bytes, text) = fault_request(addr, kind, index, limit);
                buffer.clear();
                let reply = async {
                    let mut stream = TcpStream::connect(addr).await?;
                    stream.write_all(&bytes).await?;
                    read_reply(&mut stream, &mut buffer).await
                };
                let reply = tokio::time::timeout(Duration::from_secs(30), reply).await;
                let reply = reply.map(|read| read.map_err(|error| error.to_string()));
                report
                    .lock()
                    .expect("not poisoned")
                    .record(kind, &text, reply);
            }
        }));
    }
    for task in tasks {
        if let Err(error) = task.await {
            report
                .lock()
                .expect("not poisoned")
                .wrong
                .push(format!("a client task failed: {error}"));
        }
    }
    let mut report = core::mem::take(&mut *report.lock().expect("not poisoned"));
    report.rss_kib[1] = pid.and_then(rss_kib);
    report
}

/// The fault mix over HTTP/2 (h2c, prior knowledge): `count` requests on
/// `connections` connections with `streams` requests in flight on each, plus
/// one stream per connection that sends 10 body bytes and then stalls (each
/// must get a 408 within `stall_bound`). HTTP/2 frames its own bodies, so
/// the lying-length kinds become an honest body over `limit` (413).
pub async fn faults_http2(
    addr: SocketAddr,
    count: usize,
    connections: usize,
    streams: usize,
    limit: usize,
    stall_bound: Duration,
) -> FaultReport {
    use http_body_util::BodyExt;
    use hyper_util::rt::{TokioExecutor, TokioIo};

    let report = Arc::new(std::sync::Mutex::new(FaultReport::default()));
    let next = Arc::new(AtomicUsize::new(0));
    let uri: http::Uri = format!("http://{addr}{RUN_PATH}").parse().expect("a URI");
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let stream = match TcpStream::connect(addr).await {
            Ok(stream) => stream,
            Err(error) => {
                report
                    .lock()
                    .expect("not poisoned")
                    .wrong
                    .push(format!("connect: {error}"));
                continue;
            }
        };
        stream.set_nodelay(true).ok();
        let (sender, driver) =
            match hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
                .await
            {
                Ok(handshake) => handshake,
                Err(error) => {
                    let mut report = report.lock().expect("not poisoned");
                    report.wrong.push(format!("HTTP/2 handshake: {error}"));
                    continue;
                }
            };
        tokio::spawn(driver);
        let (stall_report, mut stall_sender, stall_uri) =
            (report.clone(), sender.clone(), uri.clone());
        tasks.push(tokio::spawn(async move {
            let body = echo_body("stall");
            let headers = header_map(&signed_headers(addr, &body, now()), body.len());
            let request = post(
                &stall_uri,
                headers,
                FaultBody {
                    chunk: Some(bytes::Bytes::from(body[..10].to_vec())),
                    stalls: true,
                },
            );
            let outcome =
                tokio::time::timeout(stall_bound, stall_sender.send_request(request)).await;
            let mut report = stall_report.lock().expect("not poisoned");
            match outcome {
                Ok(Ok(response)) if response.status() == 408 => report.stalls_timed_out += 1,
                Ok(Ok(response)) => report
                    .wrong
                    .push(format!("HTTP/2 stall: status {}", response.status())),
                Ok(Err(error)) => report.wrong.push(format!("HTTP/2 stall: {error}")),
                Err(_) => report
                    .wrong
                    .push("HTTP/2 stall: no 408 within the bound".into()),
            }
        }));
        for _ in 0..streams {
            let (report, next, uri) = (report.clone(), next.clone(), uri.clone());
            let mut sender = sender.clone();
            tasks.push(tokio::spawn(async move {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= count {
                        return;
                    }
                    let kind = MIX[index % MIX.len()];
                    let mut fault = fault_parts(addr, kind, index, limit);
                    if fault.content_length.is_some() {
                        fault.body = vec![0; limit + 1];
                    }
                    let headers = header_map(&fault.headers, fault.body.len());
                    let body = FaultBody {
                        chunk: Some(bytes::Bytes::from(fault.body)),
                        stalls: false,
                    };
                    let request = post(&uri, headers, body);
                    let reply = async {
                        let response = sender
                            .send_request(request)
                            .await
                            .map_err(|e| e.to_string())?;
                        let status = response.status().as_u16();
                        let content_type = response
                            .headers()
                            .get(http::header::CONTENT_TYPE)
                            .and_then(|value| value.to_str().ok())
                            .map(str::to_owned);
                        let body = response
                            .into_body()
                            .collect()
                            .await
                            .map_err(|e| e.to_string())?
                            .to_bytes()
                            .to_vec();
                        Ok::<_, String>(Reply {
                            status,
                            content_type,
                            body,
                        })
                    };
                    let reply = tokio::time::timeout(Duration::from_secs(30), reply).await;
                    report
                        .lock()
                        .expect("not poisoned")
                        .record(kind, &fault.text, reply);
                }
            }));
        }
    }
    for task in tasks {
        if let Err(error) = task.await {
            let mut report = report.lock().expect("not poisoned");
            report.wrong.push(format!("a client task failed: {error}"));
        }
    }
    core::mem::take(&mut *report.lock().expect("not poisoned"))
}

/// `headers` and a `Content-Length` of `length`, for an HTTP/2 request.
fn header_map(headers: &[(String, String)], length: usize) -> http::HeaderMap {
    let mut map = http::HeaderMap::new();
    for (name, value) in headers {
        map.append(
            http::HeaderName::try_from(name.as_str()).expect("a header name"),
            http::HeaderValue::try_from(value.as_str()).expect("a header value"),
        );
    }
    map.insert(http::header::CONTENT_LENGTH, length.into());
    map
}

/// A POST of `body` to `uri` with `headers`.
fn post<B>(uri: &http::Uri, headers: http::HeaderMap, body: B) -> http::Request<B> {
    let mut request = http::Request::new(body);
    *request.method_mut() = http::Method::POST;
    *request.uri_mut() = uri.clone();
    *request.headers_mut() = headers;
    request
}

/// An HTTP/2 request body: one chunk, then the end, or nothing ever again
/// when it stalls.
struct FaultBody {
    chunk: Option<bytes::Bytes>,
    stalls: bool,
}

impl http_body::Body for FaultBody {
    type Data = bytes::Bytes;
    type Error = core::convert::Infallible;

    fn poll_frame(
        mut self: core::pin::Pin<&mut Self>,
        _: &mut core::task::Context<'_>,
    ) -> core::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, Self::Error>>> {
        match self.chunk.take() {
            Some(chunk) => core::task::Poll::Ready(Some(Ok(http_body::Frame::data(chunk)))),
            // Never woken: the stream stays open until the server answers.
            None if self.stalls => core::task::Poll::Pending,
            None => core::task::Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.chunk.is_none() && !self.stalls
    }
}

/// Sends a signed request's head and 10 of its body bytes, then nothing:
/// the server must answer 408 `deadline_exceeded` on its own.
async fn stall(addr: SocketAddr) -> Result<(), String> {
    let body = echo_body("stall");
    let headers = signed_headers(addr, &body, now());
    let bytes = http_request(addr, &headers, &body, None);
    let head_and_some = bytes.len() - body.len() + 10;
    let mut stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    stream
        .write_all(&bytes[..head_and_some])
        .await
        .map_err(|e| e.to_string())?;
    let reply = read_reply(&mut stream, &mut Vec::new())
        .await
        .map_err(|e| e.to_string())?;
    if reply.status != 408 {
        return Err(format!("status {} instead of 408", reply.status));
    }
    let json: serde_json::Value =
        serde_json::from_slice(&reply.body).map_err(|e| format!("not JSON: {e}"))?;
    if json["code"] != "deadline_exceeded" {
        return Err(format!("{json} instead of deadline_exceeded"));
    }
    Ok(())
}

/// The chunk size of [`chunked_over_limit`].
const CHUNK: usize = 64 * 1024;

/// The headers of a signed request whose body is `limit + 2 * CHUNK` bytes
/// of `a` (signed once: the body is the same for every such request).
fn signed_oversized(addr: SocketAddr, limit: usize) -> Vec<(String, String)> {
    signed_headers(addr, &vec![b'a'; limit + 2 * CHUNK], now())
}

/// Sends a request signed over a body past `limit` (see
/// [`signed_oversized`]), claiming `Content-Length: 10` but sending the body
/// chunked and never finishing it: the server must answer 413 once past the
/// limit. The body is written while the reply is awaited, and writing stops
/// at the first error (the server may close the connection after answering).
async fn chunked_over_limit(
    addr: SocketAddr,
    limit: usize,
    signed: Arc<Vec<(String, String)>>,
) -> Result<(), String> {
    let stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let (mut reader, mut writer) = stream.into_split();
    let mut head = format!("POST {RUN_PATH} HTTP/1.1\r\nhost: {addr}\r\n");
    for (name, value) in signed.iter() {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("content-length: 10\r\ntransfer-encoding: chunked\r\n\r\n");
    let writing = tokio::spawn(async move {
        writer.write_all(head.as_bytes()).await?;
        let chunk = vec![b'a'; CHUNK];
        let mut sent = 0;
        while sent <= limit + chunk.len() {
            writer
                .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                .await?;
            writer.write_all(&chunk).await?;
            writer.write_all(b"\r\n").await?;
            sent += chunk.len();
        }
        // Keep the connection open (unfinished body) until the reply is read.
        Ok::<_, std::io::Error>(writer)
    });
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let outcome = loop {
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut response = httparse::Response::new(&mut headers);
        if let Ok(httparse::Status::Complete(_)) = response.parse(&buffer) {
            break match response.code {
                Some(413) => Ok(()),
                other => Err(format!("status {other:?} instead of 413")),
            };
        }
        match reader.read(&mut chunk).await {
            Ok(0) | Err(_) => break Err("closed without a reply".to_owned()),
            Ok(read) => buffer.extend_from_slice(&chunk[..read]),
        }
    };
    writing.abort();
    outcome
}

fn argument<T: core::str::FromStr>(args: &[String], index: usize, name: &str) -> T {
    args.get(index)
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("argument {index} ({name}) is missing or invalid"))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    match args.get(1).map(String::as_str) {
        Some("key") => {
            let mut key = String::new();
            dispatch_core::key::write_public_key_base64(&signing_key().verifying_key(), &mut key)
                .expect("a key renders");
            println!("{key}");
        }
        Some("core") => {
            let seconds: u64 = argument(&args, 2, "SECONDS");
            let addr: SocketAddr = "127.0.0.1:8000".parse().expect("an address");
            let (wall, cpu) = core_verify_rate(addr, Duration::from_secs(seconds.min(120)));
            println!("core_verify_per_second {wall:.0}");
            println!("core_verify_per_cpu_second {cpu:.0}");
        }
        Some("bench") => {
            let addr: SocketAddr = argument(&args, 2, "ADDR");
            assert!(addr.ip().is_loopback(), "only 127.0.0.1 is a target");
            let seconds: u64 = argument(&args, 3, "SECONDS");
            let connections: usize = argument(&args, 4, "CONNS");
            // Optional, in any order: the server's PID, `--pipeline=DEPTH`,
            // `--http2=STREAMS`.
            let mut pid: Option<u32> = None;
            let mut transport = Transport::Http1 { depth: 1 };
            for option in args.iter().skip(5) {
                if let Some(depth) = option.strip_prefix("--pipeline=") {
                    let depth: usize = depth.parse().expect("--pipeline=DEPTH");
                    transport = Transport::Http1 {
                        depth: depth.clamp(1, 256),
                    };
                } else if let Some(streams) = option.strip_prefix("--http2=") {
                    let streams: usize = streams.parse().expect("--http2=STREAMS");
                    transport = Transport::Http2 {
                        streams: streams.clamp(1, 1024),
                    };
                } else {
                    pid = Some(option.parse().expect("the server's PID"));
                }
            }
            let result = runtime.block_on(bench(
                addr,
                Duration::from_secs(seconds.min(120)),
                connections.clamp(1, 1024),
                transport,
                pid,
            ));
            println!("endpoint_run_per_second {:.0}", result.per_second);
            if let Some(per_cpu_second) = result.per_cpu_second {
                println!("endpoint_run_per_cpu_second {per_cpu_second:.0}");
            }
            println!("answered {}", result.answered);
            println!("failures {}", result.failures);
            let [start, middle, end] = result.rss_kib;
            println!("server_rss_kib start {start:?} middle {middle:?} end {end:?}");
            if result.failures > 0 {
                std::process::exit(1);
            }
        }
        Some("faults") => {
            let addr: SocketAddr = argument(&args, 2, "ADDR");
            assert!(addr.ip().is_loopback(), "only 127.0.0.1 is a target");
            let count: usize = argument(&args, 3, "COUNT");
            let concurrency: usize = argument(&args, 4, "CONCURRENCY");
            let limit: usize = argument(&args, 5, "LIMIT_BYTES");
            let stall_bound: u64 = argument(&args, 6, "STALL_BOUND_SECONDS");
            let pid: Option<u32> = args.get(7).and_then(|pid| pid.parse().ok());
            // `--http2=STREAMS`: CONCURRENCY h2c connections of STREAMS streams.
            let http2_streams: Option<usize> = args.iter().find_map(|arg| {
                arg.strip_prefix("--http2=")
                    .map(|streams| streams.parse().expect("--http2=STREAMS"))
            });
            let started = Instant::now();
            let (count, stall_bound) = (
                count.min(1_000_000),
                Duration::from_secs(stall_bound.min(300)),
            );
            let report = match http2_streams {
                Some(streams) => {
                    let mut report = runtime.block_on(faults_http2(
                        addr,
                        count,
                        concurrency.clamp(1, 64),
                        streams.clamp(1, 256),
                        limit,
                        stall_bound,
                    ));
                    report.rss_kib = [None, pid.and_then(rss_kib)];
                    report
                }
                None => runtime.block_on(faults(
                    addr,
                    count,
                    concurrency.clamp(1, 1024),
                    limit,
                    stall_bound,
                    pid,
                )),
            };
            println!("sent {:?}", report.sent);
            println!(
                "wrong_accepts {} server_errors {} wrong {} stalls_timed_out {} chunked_refused {}",
                report.wrong_accepts,
                report.server_errors,
                report.wrong.len(),
                report.stalls_timed_out,
                report.chunked_refused
            );
            for wrong in report.wrong.iter().take(20) {
                println!("WRONG {wrong}");
            }
            println!(
                "server_rss_kib before {:?} after {:?} peak_so_far {:?}",
                report.rss_kib[0],
                report.rss_kib[1],
                pid.and_then(peak_rss_kib)
            );
            println!("elapsed_seconds {:.1}", started.elapsed().as_secs_f64());
            if !report.wrong.is_empty() || report.server_errors > 0 {
                std::process::exit(1);
            }
        }
        _ => {
            eprintln!(
                "usage: loadtest key | core SECONDS | bench ADDR SECONDS CONNS [PID] [--pipeline=DEPTH | --http2=STREAMS] | faults ADDR COUNT CONCURRENCY LIMIT_BYTES STALL_BOUND_SECONDS [PID] [--http2=STREAMS]"
            );
            std::process::exit(2);
        }
    }
}
