//! The endpoint over gRPC, on real sockets on 127.0.0.1 (HTTP/2 cleartext):
//! a signed gRPC `Run` runs the function; unsigned, tampered and wrong-key
//! requests are refused with UNAUTHENTICATED / PERMISSION_DENIED; an unknown
//! function is NOT_FOUND; `grpc-timeout` bounds the run; Connect requests
//! are still served on the same port.

mod endpoint_support;

use core::net::SocketAddr;

use bytes::Bytes;
use dispatch_core::proto::sdk::v1 as pb;
use dispatch_core::signature::{BorrowedRequest, SIGNING_BUFFER_LEN, sign_request};
use dispatch_core::status::Status;
use dispatch_std::endpoint::{Endpoint, RUN_PATH};
use ed25519_dalek::SigningKey;
use endpoint_support::{GUARD, input_request, registry, string_any};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use prost::Message;
use tokio::sync::oneshot;

fn scheduler_key() -> SigningKey {
    SigningKey::from_bytes(&[7; 32])
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// An endpoint serving Connect and gRPC on an ephemeral port; dropping the
/// sender stops it.
async fn start(endpoint: Endpoint) -> (SocketAddr, oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(endpoint.serve(listener, async {
        stopped.await.ok();
    }));
    (addr, stop)
}

async fn signed_server() -> (SocketAddr, oneshot::Sender<()>) {
    start(Endpoint::new(registry()).verification_key(Some(scheduler_key().verifying_key()))).await
}

/// A gRPC length-prefixed message: uncompressed flag, big-endian length, bytes.
fn framed(message: &impl Message) -> Vec<u8> {
    let payload = message.encode_to_vec();
    let mut out = vec![0u8];
    out.extend_from_slice(&u32::try_from(payload.len()).unwrap().to_be_bytes());
    out.extend_from_slice(&payload);
    out
}

/// The signature headers the scheduler adds to a gRPC request with `body`
/// (the framed message, as sent) to `url`.
fn signature_headers(key: &SigningKey, url: &str, body: &[u8]) -> Vec<(String, String)> {
    let unsigned = [("content-type", "application/grpc")];
    let request = BorrowedRequest::from_url("POST", url, &unsigned).unwrap();
    let mut buffer = [0u8; SIGNING_BUFFER_LEN];
    let signed = sign_request(&request, body, key, now(), &mut buffer).unwrap();
    vec![
        ("content-digest".into(), signed.content_digest.into()),
        ("signature-input".into(), signed.signature_input.into()),
        ("signature".into(), signed.signature.into()),
    ]
}

/// What came back: the gRPC status number and message (from the trailers,
/// or the headers of a trailers-only answer) and the messages' bytes.
#[derive(Debug)]
struct GrpcReply {
    http_status: u16,
    content_type: Option<String>,
    grpc_status: Option<u32>,
    grpc_message: Option<String>,
    body: Bytes,
}

impl GrpcReply {
    /// The single response message, deframed.
    fn run_response(&self) -> pb::RunResponse {
        assert_eq!(self.grpc_status, Some(0), "{self:?}");
        let (header, payload) = self.body.split_at(5);
        assert_eq!(header[0], 0, "compressed");
        let length = u32::from_be_bytes(header[1..5].try_into().unwrap()) as usize;
        assert_eq!(payload.len(), length);
        pb::RunResponse::decode(payload).unwrap()
    }

    fn assert_refused(&self, number: u32) {
        assert_eq!(self.http_status, 200, "{self:?}");
        assert_eq!(self.content_type.as_deref(), Some("application/grpc"));
        assert_eq!(self.grpc_status, Some(number), "{self:?}");
        assert!(
            self.grpc_message.as_deref().is_some_and(|m| !m.is_empty()),
            "{self:?}"
        );
    }
}

/// Sends one HTTP/2 request (h2c, prior knowledge) and reads everything back.
async fn send(
    addr: SocketAddr,
    content_type: &str,
    headers: &[(String, String)],
    body: Vec<u8>,
) -> GrpcReply {
    let client = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http::<Full<Bytes>>();
    let mut request = http::Request::post(format!("http://{addr}{RUN_PATH}"))
        .header("content-type", content_type)
        .header("te", "trailers");
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let request = request.body(Full::new(Bytes::from(body))).unwrap();
    let response = tokio::time::timeout(GUARD, client.request(request))
        .await
        .expect("no answer")
        .unwrap();
    let (parts, body) = response.into_parts();
    let collected = tokio::time::timeout(GUARD, body.collect())
        .await
        .expect("no body")
        .unwrap();
    let trailers = collected.trailers().cloned().unwrap_or_default();
    let field = |name: &str| {
        trailers
            .get(name)
            .or_else(|| parts.headers.get(name))
            .map(|value| value.to_str().unwrap().to_owned())
    };
    GrpcReply {
        http_status: parts.status.as_u16(),
        content_type: parts
            .headers
            .get("content-type")
            .map(|value| value.to_str().unwrap().to_owned()),
        grpc_status: field("grpc-status").map(|value| value.parse().unwrap()),
        grpc_message: field("grpc-message"),
        body: collected.to_bytes(),
    }
}

async fn send_grpc(addr: SocketAddr, headers: &[(String, String)], body: Vec<u8>) -> GrpcReply {
    send(addr, "application/grpc", headers, body).await
}

fn run_url(addr: SocketAddr) -> String {
    format!("http://{addr}{RUN_PATH}")
}

#[tokio::test]
async fn a_signed_grpc_run_runs_the_function() {
    let (addr, _stop) = signed_server().await;
    let body = framed(&input_request("echo", string_any("over grpc")));
    let signature = signature_headers(&scheduler_key(), &run_url(addr), &body);
    let reply = send_grpc(addr, &signature, body).await;
    assert_eq!(reply.http_status, 200);
    let response = reply.run_response();
    assert_eq!(response.status, Status::Ok.number());
    let Some(pb::run_response::Directive::Exit(exit)) = response.directive else {
        panic!("not an exit: {response:?}");
    };
    assert_eq!(exit.result.unwrap().output, Some(string_any("over grpc")));
}

#[tokio::test]
async fn an_unsigned_grpc_run_is_unauthenticated_when_a_key_is_configured() {
    let (addr, _stop) = signed_server().await;
    let body = framed(&input_request("echo", string_any("unsigned")));
    send_grpc(addr, &[], body).await.assert_refused(16);
}

#[tokio::test]
async fn a_tampered_or_wrongly_signed_grpc_run_is_permission_denied() {
    let (addr, _stop) = signed_server().await;
    let body = framed(&input_request("echo", string_any("signed")));
    let signature = signature_headers(&scheduler_key(), &run_url(addr), &body);
    let forged = framed(&input_request("echo", string_any("forged")));
    send_grpc(addr, &signature, forged).await.assert_refused(7);

    let other_key = SigningKey::from_bytes(&[9; 32]);
    let signature = signature_headers(&other_key, &run_url(addr), &body);
    send_grpc(addr, &signature, body).await.assert_refused(7);
}

#[tokio::test]
async fn an_unknown_function_is_not_found() {
    let (addr, _stop) = signed_server().await;
    let body = framed(&input_request("nope", string_any("x")));
    let signature = signature_headers(&scheduler_key(), &run_url(addr), &body);
    let reply = send_grpc(addr, &signature, body).await;
    reply.assert_refused(5);
    assert!(reply.grpc_message.unwrap().contains("nope"));
}

#[tokio::test]
async fn an_empty_function_and_an_undecodable_message_are_invalid_argument() {
    let (addr, _stop) = start(Endpoint::new(registry())).await;
    let body = framed(&input_request("", string_any("x")));
    send_grpc(addr, &[], body).await.assert_refused(3);
    // A frame announcing more bytes than it carries, or bytes that are no
    // RunRequest: INVALID_ARGUMENT, the core's answer over every transport
    // (where tonic-based servers would say INTERNAL).
    send_grpc(addr, &[], vec![0, 0, 0, 0, 9, 1])
        .await
        .assert_refused(3);
    send_grpc(addr, &[], vec![0, 0, 0, 0, 2, 0xff, 0xff])
        .await
        .assert_refused(3);
}

#[tokio::test]
async fn grpc_timeout_bounds_the_run() {
    let (addr, _stop) = start(Endpoint::new(registry())).await;
    let body = framed(&input_request("hang", string_any("x")));
    let timeout = [("grpc-timeout".to_owned(), "50m".to_owned())];
    send_grpc(addr, &timeout, body.clone())
        .await
        .assert_refused(4);
    let malformed = [("grpc-timeout".to_owned(), "50x".to_owned())];
    send_grpc(addr, &malformed, body).await.assert_refused(3);
}

#[tokio::test]
async fn a_body_over_the_limit_is_resource_exhausted() {
    let (addr, _stop) = start(Endpoint::new(registry()).body_limit(64)).await;
    let body = framed(&input_request("echo", string_any(&"x".repeat(200))));
    send_grpc(addr, &[], body).await.assert_refused(8);
}

#[tokio::test]
async fn connect_requests_are_served_on_the_same_port() {
    let (addr, _stop) = start(Endpoint::new(registry())).await;
    let body = input_request("echo", string_any("connect")).encode_to_vec();
    let reply = send(addr, "application/proto", &[], body).await;
    assert_eq!(reply.http_status, 200);
    assert_eq!(reply.content_type.as_deref(), Some("application/proto"));
    assert_eq!(reply.grpc_status, None);
    let response = pb::RunResponse::decode(reply.body).unwrap();
    let Some(pb::run_response::Directive::Exit(exit)) = response.directive else {
        panic!("not an exit");
    };
    assert_eq!(exit.result.unwrap().output, Some(string_any("connect")));

    // gRPC-Web is not spoken: the Connect side refuses its content type.
    let reply = send(addr, "application/grpc-web", &[], vec![]).await;
    assert_eq!(reply.http_status, 415);
}

#[tokio::test]
async fn tonic_clients_run_functions_and_read_statuses() {
    let (addr, _stop) = start(Endpoint::new(registry())).await;
    let channel = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http::<tonic::body::Body>();
    let origin: http::Uri = format!("http://{addr}").parse().unwrap();
    let mut grpc = tonic::client::Grpc::with_origin(channel, origin);
    let path = http::uri::PathAndQuery::from_static(RUN_PATH);
    let codec = || tonic_prost::ProstCodec::<pb::RunRequest, pb::RunResponse>::default();

    grpc.ready().await.unwrap();
    let response = grpc
        .unary(
            tonic::Request::new(input_request("echo", string_any("tonic"))),
            path.clone(),
            codec(),
        )
        .await
        .unwrap()
        .into_inner();
    let Some(pb::run_response::Directive::Exit(exit)) = response.directive else {
        panic!("not an exit");
    };
    assert_eq!(exit.result.unwrap().output, Some(string_any("tonic")));

    grpc.ready().await.unwrap();
    let status = grpc
        .unary(
            tonic::Request::new(input_request("missing", string_any("x"))),
            path,
            codec(),
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::NotFound);
}

#[tokio::test]
async fn a_function_suspends_and_resumes_over_grpc() {
    let (addr, _stop) = start(Endpoint::new(registry())).await;
    let body = framed(&input_request("suspend", string_any("ping")));
    let response = send_grpc(addr, &[], body).await.run_response();
    let Some(pb::run_response::Directive::Poll(poll)) = response.directive else {
        panic!("not a poll: {response:?}");
    };
    let Some(pb::poll::State::TypedCoroutineState(state)) = poll.state else {
        panic!("no typed state");
    };
    let resume = pb::RunRequest {
        function: "suspend".into(),
        directive: Some(pb::run_request::Directive::PollResult(pb::PollResult {
            state: Some(pb::poll_result::State::TypedCoroutineState(state)),
            results: vec![pb::CallResult {
                correlation_id: 7,
                output: Some(string_any("pong")),
                ..Default::default()
            }],
            ..Default::default()
        })),
        ..Default::default()
    };
    let response = send_grpc(addr, &[], framed(&resume)).await.run_response();
    assert_eq!(response.status, Status::Ok.number());
    let Some(pb::run_response::Directive::Exit(exit)) = response.directive else {
        panic!("not an exit: {response:?}");
    };
    assert_eq!(exit.result.unwrap().output, Some(string_any("ping->pong")));
}
