//! One set of bad Run requests, sent to every host this crate offers — the
//! hyper server over HTTP/1.1 and HTTP/2, the tower service called directly,
//! the axum router, gRPC on the same server, and the verify layer in front of
//! an application's own service — must get the same status, Connect code and
//! message from each: the answers are the core's, and a host only moves them.
//! Needs `--features axum`.

mod endpoint_support;

use core::convert::Infallible;
use core::net::SocketAddr;
use core::pin::Pin;
use core::task::{Context, Poll};

use bytes::Bytes;
use dispatch_core::connect::RUN_PATH;
use dispatch_core::proto::sdk::v1 as pb;
use dispatch_core::run::Refusal;
use dispatch_core::signature::{BorrowedRequest, SIGNING_BUFFER_LEN, sign_request};
use dispatch_std::endpoint::Endpoint;
use dispatch_std::layer::VerifyLayer;
use ed25519_dalek::SigningKey;
use endpoint_support::{GUARD, Server, input_request, registry, string_any};
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use prost::Message;
use tower_layer::Layer;
use tower_service::Service;

/// Every request names this authority, whatever host it reaches, so that
/// one signature is valid at all of them.
const AUTHORITY: &str = "endpoint.test";

fn key() -> SigningKey {
    SigningKey::from_bytes(&[7; 32])
}

fn endpoint() -> Endpoint {
    Endpoint::new(registry())
        .verification_key(Some(key().verifying_key()))
        .body_limit(4096)
}

/// A request as the tests describe it, before a host's transport sends it.
#[derive(Clone, Debug)]
struct Case {
    name: &'static str,
    method: &'static str,
    path: &'static str,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    /// Whether the verify layer alone judges this request the same way (it
    /// checks the size and the signature, nothing of the RPC).
    layer_judges: bool,
    /// How this case is sent over gRPC, when it has a gRPC form.
    grpc: Option<GrpcForm>,
}

#[derive(Clone, Copy, Debug)]
enum GrpcForm {
    /// The same request in a gRPC frame, with `application/grpc`.
    Framed,
    /// As `Framed`, plus one header. The gRPC header differs from the
    /// Connect one, and the answer names the header sent: the core's
    /// refusal for it is the expected one.
    FramedWith(&'static str, &'static str, Refusal<'static>),
    /// As `Framed`, with the frame's bytes changed after signing.
    FramedTampered,
}

/// `(name, value)` pairs with the three signature headers of `body`, signed
/// at the current time for `path` and `content_type`.
fn signed(path: &str, content_type: &str, body: &[u8]) -> Vec<(&'static str, String)> {
    let url = format!("http://{AUTHORITY}{path}");
    let unsigned = [("content-type", content_type)];
    let request = BorrowedRequest::from_url("POST", &url, &unsigned).unwrap();
    let mut buffer = [0u8; SIGNING_BUFFER_LEN];
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let signature = sign_request(&request, body, &key(), now, &mut buffer).unwrap();
    vec![
        ("content-type", content_type.to_owned()),
        ("content-digest", signature.content_digest.to_owned()),
        ("signature-input", signature.signature_input.to_owned()),
        ("signature", signature.signature.to_owned()),
    ]
}

fn proto(headers: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    let mut all = vec![("content-type", "application/proto".to_owned())];
    all.extend(headers.iter().map(|(n, v)| (*n, (*v).to_owned())));
    all
}

fn cases() -> Vec<Case> {
    let echo = input_request("echo", string_any("hi")).encode_to_vec();
    let unknown = input_request("nope", string_any("hi")).encode_to_vec();
    let garbage = b"\xff\xff\xff\xff".to_vec();
    let case = |name, method, path, headers, body: &Vec<u8>| Case {
        name,
        method,
        path,
        headers,
        body: body.clone(),
        layer_judges: false,
        grpc: None,
    };
    let mut tampered = case(
        "signature: body changed after signing",
        "POST",
        RUN_PATH,
        signed(RUN_PATH, "application/proto", &echo),
        &input_request("echo", string_any("forged")).encode_to_vec(),
    );
    tampered.layer_judges = true;
    tampered.grpc = Some(GrpcForm::FramedTampered);
    let mut unsigned = case("signature: none", "POST", RUN_PATH, proto(&[]), &echo);
    unsigned.layer_judges = true;
    unsigned.grpc = Some(GrpcForm::Framed);
    let mut too_large = case(
        "body: over the limit",
        "POST",
        RUN_PATH,
        proto(&[]),
        &vec![0; 5000],
    );
    too_large.layer_judges = true;
    let mut undecodable = case(
        "body: not a RunRequest",
        "POST",
        RUN_PATH,
        signed(RUN_PATH, "application/proto", &garbage),
        &garbage,
    );
    undecodable.grpc = Some(GrpcForm::Framed);
    let mut not_registered = case(
        "function: not registered",
        "POST",
        RUN_PATH,
        signed(RUN_PATH, "application/proto", &unknown),
        &unknown,
    );
    not_registered.grpc = Some(GrpcForm::Framed);
    let mut wrong_path = case(
        "path: another RPC",
        "POST",
        "/dispatch.sdk.v1.FunctionService/Walk",
        proto(&[]),
        &echo,
    );
    wrong_path.grpc = Some(GrpcForm::Framed);
    let mut bad_encoding = case(
        "encoding: br",
        "POST",
        RUN_PATH,
        proto(&[("content-encoding", "br")]),
        &echo,
    );
    // gRPC compresses per message, and only identity is served there.
    bad_encoding.grpc = Some(GrpcForm::FramedWith(
        "grpc-encoding",
        "gzip",
        Refusal::UnsupportedEncoding { gzip: false },
    ));
    let mut gzip_headers = signed(RUN_PATH, "application/proto", &echo);
    gzip_headers.push(("content-encoding", "gzip".to_owned()));
    let not_gzip = case(
        "encoding: gzip, body not gzip",
        "POST",
        RUN_PATH,
        gzip_headers,
        &echo,
    );
    let mut bad_timeout = case(
        "timeout: not a number",
        "POST",
        RUN_PATH,
        proto(&[("connect-timeout-ms", "soon")]),
        &echo,
    );
    bad_timeout.grpc = Some(GrpcForm::FramedWith(
        "grpc-timeout",
        "soon",
        Refusal::BadGrpcTimeout,
    ));
    vec![
        case("method: GET", "GET", RUN_PATH, proto(&[]), &Vec::new()),
        wrong_path,
        case(
            "version: 2",
            "POST",
            RUN_PATH,
            proto(&[("connect-protocol-version", "2")]),
            &echo,
        ),
        bad_encoding,
        not_gzip,
        case(
            "content type: text/plain",
            "POST",
            RUN_PATH,
            vec![("content-type", "text/plain".to_owned())],
            &echo,
        ),
        bad_timeout,
        too_large,
        undecodable,
        unsigned,
        tampered,
        not_registered,
    ]
}

/// What a host answered: the HTTP status, the Connect (or gRPC) code and
/// the message.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Answer {
    status: u16,
    code: String,
    message: String,
}

fn request(case: &Case, uri: &str) -> Request<Full<Bytes>> {
    let mut builder = Request::builder()
        .method(case.method)
        .uri(uri)
        .header("host", AUTHORITY);
    for (name, value) in &case.headers {
        builder = builder.header(*name, value.as_str());
    }
    // Every transport declares the length, as real clients do.
    builder = builder.header("content-length", case.body.len());
    builder
        .body(Full::new(Bytes::from(case.body.clone())))
        .unwrap()
}

async fn connect_answer<B>(response: Response<B>) -> Answer
where
    B: http_body::Body,
    B::Error: core::fmt::Debug,
{
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let json: serde_json::Value = serde_json::from_slice(&body)
        .unwrap_or_else(|_| panic!("HTTP {status}: not Connect error JSON: {body:?}"));
    Answer {
        status,
        code: json["code"].as_str().unwrap_or_default().to_owned(),
        message: json["message"].as_str().unwrap_or_default().to_owned(),
    }
}

/// The hyper server over one HTTP/1.1 connection per request.
async fn over_http1(addr: SocketAddr, case: &Case) -> Answer {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let response = sender.send_request(request(case, case.path)).await.unwrap();
    connect_answer(response).await
}

/// The hyper server over HTTP/2 (prior knowledge).
async fn over_http2(addr: SocketAddr, case: &Case) -> Answer {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    let uri = format!("http://{AUTHORITY}{}", case.path);
    let mut request = request(case, &uri);
    request.headers_mut().remove("host");
    let response = sender.send_request(request).await.unwrap();
    connect_answer(response).await
}

/// The endpoint's tower service, called in the test's own task.
async fn through_service(endpoint: &Endpoint, case: &Case) -> Answer {
    let mut service = endpoint.service();
    let response = service.call(request(case, case.path)).await.unwrap();
    connect_answer(response).await
}

/// The endpoint mounted in an axum router beside another route.
async fn through_axum(endpoint: &Endpoint, case: &Case) -> Answer {
    let mut router = endpoint
        .router()
        .route("/health", axum::routing::get(|| async { "ok" }));
    let response = Service::call(&mut router, request(case, case.path))
        .await
        .unwrap();
    connect_answer(response).await
}

/// An application's own service behind the verify layer: it answers 200
/// to whatever reaches it.
#[derive(Clone)]
struct Application;

impl Service<Request<Full<Bytes>>> for Application {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future =
        Pin<Box<dyn core::future::Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _request: Request<Full<Bytes>>) -> Self::Future {
        Box::pin(async { Ok(Response::new(Full::new(Bytes::from_static(b"reached")))) })
    }
}

async fn through_layer(case: &Case) -> Answer {
    let layer = VerifyLayer::new(Some(key().verifying_key())).body_limit(4096);
    let mut service = layer.layer(Application);
    let response = service.call(request(case, case.path)).await.unwrap();
    connect_answer(response).await
}

/// The same server over gRPC: the case in a gRPC frame, its code and
/// message read from `grpc-status` and `grpc-message` (headers or trailers).
async fn over_grpc(addr: SocketAddr, case: &Case, form: GrpcForm) -> Answer {
    let message = &case.body;
    let mut framed = vec![0u8];
    framed.extend_from_slice(&u32::try_from(message.len()).unwrap().to_be_bytes());
    framed.extend_from_slice(message);
    let mut headers = if case.headers.iter().any(|(n, _)| *n == "signature") {
        signed(case.path, "application/grpc", &framed)
    } else {
        vec![("content-type", "application/grpc".to_owned())]
    };
    headers.push(("te", "trailers".to_owned()));
    match form {
        GrpcForm::Framed => {}
        GrpcForm::FramedWith(name, value, _) => headers.push((name, value.to_owned())),
        GrpcForm::FramedTampered => {
            // Signed over the echo request, then sent with the case's body.
            let original = input_request("echo", string_any("hi")).encode_to_vec();
            let mut signed_frame = vec![0u8];
            signed_frame.extend_from_slice(&u32::try_from(original.len()).unwrap().to_be_bytes());
            signed_frame.extend_from_slice(&original);
            headers = signed(case.path, "application/grpc", &signed_frame);
            headers.push(("te", "trailers".to_owned()));
        }
    }
    let grpc_case = Case {
        headers,
        body: framed,
        ..case.clone()
    };
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    let uri = format!("http://{AUTHORITY}{}", case.path);
    let mut request = request(&grpc_case, &uri);
    request.headers_mut().remove("host");
    let response = sender.send_request(request).await.unwrap();
    let status = response.status().as_u16();
    let (parts, body) = response.into_parts();
    let collected = body.collect().await.unwrap();
    let trailers = collected.trailers().cloned().unwrap_or_default();
    let field = |name: &str| {
        parts
            .headers
            .get(name)
            .or_else(|| trailers.get(name))
            .map(|value| value.to_str().unwrap().to_owned())
            .unwrap_or_else(|| panic!("{}: no {name} in the gRPC answer", case.name))
    };
    let number: u32 = field("grpc-status").parse().unwrap();
    let code = dispatch_core::connect::Code::from_grpc_number(number)
        .unwrap_or_else(|| panic!("{}: grpc-status {number} is no code", case.name));
    Answer {
        status,
        code: code.name().to_owned(),
        message: percent_decode(&field("grpc-message")),
    }
}

/// `grpc-message` is percent-encoded (gRPC over HTTP/2): the text it holds.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = core::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

#[tokio::test]
async fn every_host_gives_the_same_answer_to_the_same_bad_request() {
    let endpoint = endpoint();
    let server = Server::start(endpoint.clone()).await;
    let mut failures = Vec::new();
    for case in cases() {
        let reference = tokio::time::timeout(GUARD, over_http1(server.addr, &case))
            .await
            .unwrap();
        assert!(
            reference.status >= 400 && !reference.code.is_empty() && !reference.message.is_empty(),
            "{}: {reference:?}",
            case.name
        );
        let mut answers = vec![
            ("HTTP/2", over_http2(server.addr, &case).await),
            ("tower service", through_service(&endpoint, &case).await),
            ("axum router", through_axum(&endpoint, &case).await),
        ];
        if case.layer_judges {
            answers.push(("verify layer", through_layer(&case).await));
        }
        for (host, answer) in answers {
            if answer != reference {
                failures.push(format!(
                    "{}: {host} answered {answer:?}, HTTP/1.1 {reference:?}",
                    case.name
                ));
            }
        }
        if let Some(form) = case.grpc {
            let answer = over_grpc(server.addr, &case, form).await;
            let expected = match form {
                GrpcForm::FramedWith(_, _, refusal) => Answer {
                    status: 200,
                    code: refusal.code().name().to_owned(),
                    message: refusal.to_string(),
                },
                _ => Answer {
                    status: 200,
                    ..reference.clone()
                },
            };
            if answer != expected {
                failures.push(format!(
                    "{}: gRPC answered {answer:?}, expected {expected:?}",
                    case.name
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn the_answers_are_the_documented_ones() {
    let endpoint = endpoint();
    let expected = [
        ("method: GET", 405, "unimplemented"),
        ("path: another RPC", 404, "unimplemented"),
        ("version: 2", 400, "invalid_argument"),
        ("encoding: br", 501, "unimplemented"),
        ("encoding: gzip, body not gzip", 400, "invalid_argument"),
        ("content type: text/plain", 415, "unimplemented"),
        ("timeout: not a number", 400, "invalid_argument"),
        ("body: over the limit", 413, "resource_exhausted"),
        ("body: not a RunRequest", 400, "invalid_argument"),
        ("signature: none", 401, "unauthenticated"),
        (
            "signature: body changed after signing",
            403,
            "permission_denied",
        ),
        ("function: not registered", 404, "not_found"),
    ];
    let cases = cases();
    assert_eq!(cases.len(), expected.len());
    for (case, (name, status, code)) in cases.iter().zip(expected) {
        assert_eq!(case.name, name);
        let answer = through_service(&endpoint, case).await;
        assert_eq!(
            (answer.status, answer.code.as_str()),
            (status, code),
            "{name}: {answer:?}"
        );
    }
    // A request none of them refuses reaches the function, through every host.
    let body = input_request("echo", string_any("hi")).encode_to_vec();
    let valid = Case {
        name: "valid",
        method: "POST",
        path: RUN_PATH,
        headers: signed(RUN_PATH, "application/proto", &body),
        body,
        layer_judges: true,
        grpc: None,
    };
    let response = endpoint
        .service()
        .call(request(&valid, RUN_PATH))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let run = pb::RunResponse::decode(bytes).unwrap();
    assert_eq!(run.status, dispatch_core::status::Status::Ok.number());
    let reached = through_layer_raw(&valid).await;
    assert_eq!(reached, (200, b"reached".to_vec()));
}

async fn through_layer_raw(case: &Case) -> (u16, Vec<u8>) {
    let layer = VerifyLayer::new(Some(key().verifying_key())).body_limit(4096);
    let mut service = layer.layer(Application);
    let response = service.call(request(case, case.path)).await.unwrap();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, body.to_vec())
}
