//! A refusal decided before the body is read never breaks the exchange over
//! HTTP/1.1: the client, still writing its body, reads the status and the
//! Connect JSON, and its next request on the same kept-alive connection
//! succeeds; a body that cannot be drained (declared over the limit) is
//! answered with `Connection: close`. Each case runs many times, since a
//! broken exchange shows in some runs and not in others.

mod endpoint_support;

use core::net::SocketAddr;

use dispatch_core::signature::{BorrowedRequest, SIGNING_BUFFER_LEN, sign_request};
use dispatch_std::endpoint::{Endpoint, RUN_PATH};
use ed25519_dalek::SigningKey;
use endpoint_support::{GUARD, Server, head, input_request, read_reply, registry, string_any};
use prost::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const ROUNDS: usize = 30;

/// A name, method, path, extra headers and the status expected.
type Case = (
    &'static str,
    &'static str,
    &'static str,
    Vec<(String, String)>,
    u16,
);
/// Large enough that the client is still writing when a server that did not
/// read would already have answered.
const BODY_LEN: usize = 1 << 20;

fn key() -> SigningKey {
    SigningKey::from_bytes(&[9; 32])
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A signed request for `echo`, for the host `addr`.
fn signed_echo(addr: SocketAddr) -> Vec<u8> {
    let body = input_request("echo", string_any("after")).encode_to_vec();
    let url = format!("http://{addr}{RUN_PATH}");
    let unsigned = [("content-type", "application/proto")];
    let request = BorrowedRequest::from_url("POST", &url, &unsigned).unwrap();
    let mut buffer = [0u8; SIGNING_BUFFER_LEN];
    let signed = sign_request(&request, &body, &key(), now(), &mut buffer).unwrap();
    let length = body.len().to_string();
    let mut bytes = head(
        "POST",
        RUN_PATH,
        addr,
        &[
            ("content-type", "application/proto"),
            ("content-length", &length),
            ("content-digest", signed.content_digest),
            ("signature-input", signed.signature_input),
            ("signature", signed.signature),
        ],
    );
    bytes.extend_from_slice(&body);
    bytes
}

/// Sends a head and a large body concurrently with reading the answer, as
/// a client that writes its whole request before it reads does.
async fn refused_while_writing(
    stream: TcpStream,
    request_head: Vec<u8>,
) -> (endpoint_support::Reply, TcpStream) {
    let (mut read, mut write) = stream.into_split();
    let writer = tokio::spawn(async move {
        write.write_all(&request_head).await.unwrap();
        let chunk = vec![b'x'; 64 * 1024];
        for _ in 0..BODY_LEN / chunk.len() {
            write
                .write_all(&chunk)
                .await
                .expect("the server stopped reading the body (EPIPE)");
        }
        write
    });
    let reply = tokio::time::timeout(GUARD, async {
        // read_reply wants a TcpStream: read the head through a small
        // adapter by reuniting once the writer is done.
        let mut buffer = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            let n = read.read(&mut chunk).await.unwrap();
            assert!(n > 0, "the connection closed before a response");
            buffer.extend_from_slice(&chunk[..n]);
            if let Some(reply) = parse_reply(&buffer) {
                break reply;
            }
        }
    })
    .await
    .expect("no answer");
    let write = writer.await.unwrap();
    (reply, read.reunite(write).unwrap())
}

fn parse_reply(buffer: &[u8]) -> Option<endpoint_support::Reply> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    let httparse::Status::Complete(head_len) = response.parse(buffer).unwrap() else {
        return None;
    };
    let headers: Vec<(String, String)> = response
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_owned(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .map_or(0, |(_, v)| v.parse().unwrap());
    let body = buffer.get(head_len..head_len + length)?.to_vec();
    Some(endpoint_support::Reply {
        status: response.code.unwrap(),
        headers,
        body,
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refusal_from_the_headers_reaches_a_client_still_writing() {
    let server =
        Server::start(Endpoint::new(registry()).verification_key(Some(key().verifying_key())))
            .await;
    let addr = server.addr;
    let length = BODY_LEN.to_string();
    let expired = {
        // Signed long ago: refused from the headers, 403.
        let url = format!("http://{addr}{RUN_PATH}");
        let unsigned = [("content-type", "application/proto")];
        let request = BorrowedRequest::from_url("POST", &url, &unsigned).unwrap();
        let mut buffer = [0u8; SIGNING_BUFFER_LEN];
        let signed = sign_request(&request, b"", &key(), now() - 3600, &mut buffer).unwrap();
        vec![
            (
                "signature-input".to_owned(),
                signed.signature_input.to_owned(),
            ),
            ("signature".to_owned(), signed.signature.to_owned()),
            (
                "content-digest".to_owned(),
                signed.content_digest.to_owned(),
            ),
        ]
    };
    let cases: Vec<Case> = vec![
        ("unsigned", "POST", RUN_PATH, vec![], 401),
        ("expired", "POST", RUN_PATH, expired, 403),
        (
            "wrong path",
            "POST",
            "/dispatch.sdk.v1.FunctionService/Walk",
            vec![],
            404,
        ),
        ("wrong method", "PUT", RUN_PATH, vec![], 405),
        (
            "content type",
            "POST",
            RUN_PATH,
            vec![("content-type".to_owned(), "text/plain".to_owned())],
            415,
        ),
    ];
    for (name, method, path, extra, status) in &cases {
        for round in 0..ROUNDS {
            let mut headers: Vec<(&str, &str)> = vec![("content-length", &length)];
            if !extra.iter().any(|(n, _)| n == "content-type") {
                headers.push(("content-type", "application/proto"));
            }
            headers.extend(extra.iter().map(|(n, v)| (n.as_str(), v.as_str())));
            let stream = TcpStream::connect(addr).await.unwrap();
            let (reply, mut stream) =
                refused_while_writing(stream, head(method, path, addr, &headers)).await;
            assert_eq!(reply.status, *status, "{name}, round {round}");
            let (code, message) = reply.connect_error();
            assert!(!code.is_empty() && !message.is_empty(), "{name}");
            assert_eq!(
                reply.header("connection"),
                None,
                "{name}: drained, kept alive"
            );
            // The same connection carries the next request.
            stream.write_all(&signed_echo(addr)).await.unwrap();
            let next = tokio::time::timeout(GUARD, read_reply(&mut stream))
                .await
                .expect("no answer to the next request");
            assert_eq!(next.status, 200, "{name}, round {round}: the next request");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_declared_over_the_limit_is_answered_then_the_connection_closes() {
    let server = Server::start(Endpoint::new(registry()).body_limit(1024)).await;
    let addr = server.addr;
    for round in 0..ROUNDS {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let request = head(
            "POST",
            RUN_PATH,
            addr,
            &[
                ("content-type", "application/proto"),
                ("content-length", "100000000"),
            ],
        );
        stream.write_all(&request).await.unwrap();
        let reply = tokio::time::timeout(GUARD, read_reply(&mut stream))
            .await
            .expect("no answer");
        assert_eq!(reply.status, 413, "round {round}");
        assert_eq!(reply.connect_error().0, "resource_exhausted");
        assert_eq!(reply.header("connection"), Some("close"), "round {round}");
        // Closed once the answer is out.
        let mut rest = Vec::new();
        let read = tokio::time::timeout(GUARD, stream.read_to_end(&mut rest))
            .await
            .expect("the connection stayed open");
        assert!(read.is_err() || rest.is_empty(), "{rest:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_over_the_limit_while_streaming_closes_after_the_answer() {
    let server = Server::start(Endpoint::new(registry()).body_limit(1024)).await;
    let addr = server.addr;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut request = head(
        "POST",
        RUN_PATH,
        addr,
        &[
            ("content-type", "application/proto"),
            ("transfer-encoding", "chunked"),
        ],
    );
    request.extend_from_slice(b"800\r\n");
    request.extend_from_slice(&[b'x'; 0x800]);
    request.extend_from_slice(b"\r\n");
    stream.write_all(&request).await.unwrap();
    let reply = tokio::time::timeout(GUARD, read_reply(&mut stream))
        .await
        .expect("no answer");
    assert_eq!(reply.status, 413);
    assert_eq!(reply.header("connection"), Some("close"));
}
