//! Signed requests against an endpoint with a verification key, over real
//! sockets on 127.0.0.1: requests signed by the core's signer at the current
//! time run; tampered, expired, unsigned and wrong-key requests are refused
//! with 401 or 403 and a Connect JSON body.

mod endpoint_support;

use core::net::SocketAddr;

use dispatch_core::proto::sdk::v1 as pb;
use dispatch_core::signature::{BorrowedRequest, SIGNING_BUFFER_LEN, sign_request};
use dispatch_core::status::Status;
use dispatch_std::endpoint::{Endpoint, RUN_PATH};
use dispatch_std::http::PublicUrl;
use ed25519_dalek::SigningKey;
use endpoint_support::*;

fn scheduler_key() -> SigningKey {
    SigningKey::from_bytes(&[7; 32])
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

async fn server() -> Server {
    Server::start(Endpoint::new(registry()).verification_key(Some(scheduler_key().verifying_key())))
        .await
}

/// The headers the scheduler adds to a request for `url` with `body`.
fn signature_headers(
    key: &SigningKey,
    url: &str,
    content_type: &str,
    body: &[u8],
    created: i64,
) -> Vec<(String, String)> {
    let unsigned = [("content-type", content_type)];
    let request = BorrowedRequest::from_url("POST", url, &unsigned).unwrap();
    let mut buffer = [0u8; SIGNING_BUFFER_LEN];
    let signed = sign_request(&request, body, key, created, &mut buffer).unwrap();
    vec![
        ("content-digest".into(), signed.content_digest.into()),
        ("signature-input".into(), signed.signature_input.into()),
        ("signature".into(), signed.signature.into()),
    ]
}

fn run_url(addr: SocketAddr) -> String {
    format!("http://{addr}{RUN_PATH}")
}

fn echo_body(text: &str) -> Vec<u8> {
    prost::Message::encode_to_vec(&input_request("echo", string_any(text)))
}

/// Sends `body` with `signature` headers (and a proto content type).
async fn send_signed(addr: SocketAddr, signature: &[(String, String)], body: &[u8]) -> Reply {
    let mut headers: Vec<(&str, &str)> = vec![("content-type", "application/proto")];
    headers.extend(signature.iter().map(|(n, v)| (n.as_str(), v.as_str())));
    send(addr, "POST", RUN_PATH, &headers, body).await
}

fn assert_refused(reply: &Reply, status: u16, code: &str) {
    assert_eq!(
        reply.status,
        status,
        "{:?}",
        String::from_utf8_lossy(&reply.body)
    );
    let (actual_code, message) = reply.connect_error();
    assert_eq!(actual_code, code);
    assert!(!message.is_empty());
}

#[tokio::test]
async fn a_request_signed_now_runs_the_function() {
    let server = server().await;
    let body = echo_body("signed");
    let signature = signature_headers(
        &scheduler_key(),
        &run_url(server.addr),
        "application/proto",
        &body,
        now(),
    );
    let response = send_signed(server.addr, &signature, &body)
        .await
        .run_response();
    assert_eq!(response.status, Status::Ok.number());
    let Some(pb::run_response::Directive::Exit(exit)) = response.directive else {
        panic!("not an exit");
    };
    assert_eq!(exit.result.unwrap().output, Some(string_any("signed")));
}

#[tokio::test]
async fn a_tampered_body_is_403() {
    let server = server().await;
    let body = echo_body("signed");
    let signature = signature_headers(
        &scheduler_key(),
        &run_url(server.addr),
        "application/proto",
        &body,
        now(),
    );
    let reply = send_signed(server.addr, &signature, &echo_body("forged")).await;
    assert_refused(&reply, 403, "permission_denied");
}

#[tokio::test]
async fn a_request_signed_for_another_authority_is_403() {
    let server = server().await;
    let body = echo_body("signed");
    let signature = signature_headers(
        &scheduler_key(),
        &format!("http://other.example{RUN_PATH}"),
        "application/proto",
        &body,
        now(),
    );
    let reply = send_signed(server.addr, &signature, &body).await;
    assert_refused(&reply, 403, "permission_denied");
}

#[tokio::test]
async fn an_expired_signature_is_403() {
    let server = server().await;
    let body = echo_body("old");
    let signature = signature_headers(
        &scheduler_key(),
        &run_url(server.addr),
        "application/proto",
        &body,
        now() - 3600,
    );
    let reply = send_signed(server.addr, &signature, &body).await;
    assert_refused(&reply, 403, "permission_denied");
}

#[tokio::test]
async fn an_unsigned_request_is_401_when_a_key_is_configured() {
    let server = server().await;
    let reply = send_signed(server.addr, &[], &echo_body("unsigned")).await;
    assert_refused(&reply, 401, "unauthenticated");
}

#[tokio::test]
async fn a_request_signed_with_another_key_is_403() {
    let server = server().await;
    let body = echo_body("intruder");
    let signature = signature_headers(
        &SigningKey::from_bytes(&[8; 32]),
        &run_url(server.addr),
        "application/proto",
        &body,
        now(),
    );
    let reply = send_signed(server.addr, &signature, &body).await;
    assert_refused(&reply, 403, "permission_denied");
}

#[tokio::test]
async fn the_public_url_is_the_authority_behind_a_proxy() {
    let public = "https://my-app.example.com";
    let server = Server::start(
        Endpoint::new(registry())
            .verification_key(Some(scheduler_key().verifying_key()))
            .public_url(PublicUrl::parse(public)),
    )
    .await;
    let body = echo_body("proxied");
    // Signed for the public URL, received with Host 127.0.0.1:port.
    let signature = signature_headers(
        &scheduler_key(),
        &format!("{public}{RUN_PATH}"),
        "application/proto",
        &body,
        now(),
    );
    let response = send_signed(server.addr, &signature, &body)
        .await
        .run_response();
    assert_eq!(response.status, Status::Ok.number());
}

#[tokio::test]
async fn a_signed_json_request_runs_and_answers_json() {
    let server = server().await;
    let body = br#"{"function":"echo","input":{"@type":"type.googleapis.com/google.protobuf.StringValue","value":"j"}}"#;
    let signature = signature_headers(
        &scheduler_key(),
        &run_url(server.addr),
        "application/json",
        body,
        now(),
    );
    let mut headers: Vec<(&str, &str)> = vec![("content-type", "application/json")];
    headers.extend(signature.iter().map(|(n, v)| (n.as_str(), v.as_str())));
    let reply = send(server.addr, "POST", RUN_PATH, &headers, body).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
}

#[tokio::test]
async fn a_signed_request_over_http2_uses_the_authority_pseudo_header() {
    use http_body_util::{BodyExt, Full};
    use hyper_util::rt::{TokioExecutor, TokioIo};

    let server = server().await;
    let body = echo_body("h2");
    let url = run_url(server.addr);
    let signature = signature_headers(&scheduler_key(), &url, "application/proto", &body, now());

    let stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    let mut request = http::Request::post(&url).header("content-type", "application/proto");
    for (name, value) in &signature {
        request = request.header(name, value);
    }
    let request = request.body(Full::new(bytes::Bytes::from(body))).unwrap();
    let response = tokio::time::timeout(GUARD, sender.send_request(request))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), http::Version::HTTP_2);
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let response: pb::RunResponse = prost::Message::decode(bytes).unwrap();
    assert_eq!(response.status, Status::Ok.number());
}

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

/// Sends a gzip `body` signed as sent (the digest covers the compressed bytes).
async fn send_gzip(addr: SocketAddr, body: &[u8]) -> Reply {
    let signature = signature_headers(
        &scheduler_key(),
        &run_url(addr),
        "application/proto",
        body,
        now(),
    );
    let mut headers: Vec<(&str, &str)> = vec![
        ("content-type", "application/proto"),
        ("content-encoding", "gzip"),
    ];
    headers.extend(signature.iter().map(|(n, v)| (n.as_str(), v.as_str())));
    send(addr, "POST", RUN_PATH, &headers, body).await
}

#[tokio::test]
async fn a_gzip_body_signed_as_sent_runs_the_function() {
    let server = server().await;
    let reply = send_gzip(server.addr, &gzip(&echo_body("compressed"))).await;
    assert_eq!(reply.header("accept-encoding"), Some("gzip"));
    let response = reply.run_response();
    let Some(pb::run_response::Directive::Exit(exit)) = response.directive else {
        panic!("not an exit");
    };
    assert_eq!(exit.result.unwrap().output, Some(string_any("compressed")));
}

#[tokio::test]
async fn a_gzip_body_that_inflates_past_the_limit_is_413() {
    let server = server().await;
    // 20 MB of zeros inside a valid RunRequest field: about 20 KB compressed,
    // past the 16 MB body limit once inflated.
    let mut body = echo_body("x");
    let padding = vec![0u8; 20_000_000];
    prost::encoding::bytes::encode(15, &padding, &mut body);
    let compressed = gzip(&body);
    assert!(compressed.len() < 100_000);
    assert_refused(
        &send_gzip(server.addr, &compressed).await,
        413,
        "resource_exhausted",
    );
}

#[tokio::test]
async fn a_corrupt_gzip_body_is_400() {
    let server = server().await;
    let mut compressed = gzip(&echo_body("x"));
    let last = compressed.len() - 5;
    compressed[last] ^= 0xff; // the CRC no longer matches
    let reply = send_gzip(server.addr, &compressed).await;
    assert_refused(&reply, 400, "invalid_argument");
    assert!(
        reply.connect_error().1.contains("gzip"),
        "{:?}",
        reply.connect_error()
    );
}

fn gunzip(data: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data)
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// Sends a signed echo of `text`, with `accept_encoding` when given.
async fn send_accepting(addr: SocketAddr, text: &str, accept_encoding: Option<&str>) -> Reply {
    let body = echo_body(text);
    let signature = signature_headers(
        &scheduler_key(),
        &run_url(addr),
        "application/proto",
        &body,
        now(),
    );
    let mut headers: Vec<(&str, &str)> = vec![("content-type", "application/proto")];
    if let Some(value) = accept_encoding {
        headers.push(("accept-encoding", value));
    }
    headers.extend(signature.iter().map(|(n, v)| (n.as_str(), v.as_str())));
    send(addr, "POST", RUN_PATH, &headers, &body).await
}

fn exit_output(response: &pb::RunResponse) -> Option<prost_types::Any> {
    match &response.directive {
        Some(pb::run_response::Directive::Exit(exit)) => exit.result.clone()?.output,
        _ => None,
    }
}

#[tokio::test]
async fn a_large_response_is_gzip_when_the_client_accepts_it() {
    let server = server().await;
    let text = "a response worth compressing ".repeat(100);
    let reply = send_accepting(server.addr, &text, Some("gzip")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-encoding"), Some("gzip"));
    assert!(
        reply.body.len() < text.len() / 4,
        "{} bytes",
        reply.body.len()
    );
    let response: pb::RunResponse = prost::Message::decode(&gunzip(&reply.body)[..]).unwrap();
    assert_eq!(exit_output(&response), Some(string_any(&text)));
}

#[tokio::test]
async fn responses_stay_identity_unless_asked_and_large_enough() {
    let server = server().await;
    let large = "x".repeat(4096);
    for (text, accept) in [
        (large.as_str(), None),
        (large.as_str(), Some("gzip;q=0, br")),
        ("small", Some("gzip")),
    ] {
        let reply = send_accepting(server.addr, text, accept).await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.header("content-encoding"), None, "{accept:?}");
        assert_eq!(exit_output(&reply.run_response()), Some(string_any(text)));
    }
}
