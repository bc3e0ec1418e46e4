//! The gRPC client against a local gRPC `DispatchService` on 127.0.0.1
//! (tonic's server core on hyper, h2c): ids in order, Bearer metadata and
//! `grpc-timeout` sent, gRPC statuses mapped to the client's error codes,
//! client-side checks before sending, opt-in retry of `unavailable`, waiting
//! as long as a `google.rpc.RetryInfo` detail asks.

use core::convert::Infallible;
use core::net::SocketAddr;
use core::time::Duration;
use std::sync::{Arc, Mutex};

use dispatch_core::connect::DISPATCH_PATH;
use dispatch_std::client::proto::{Call, DispatchRequest, DispatchResponse};
use dispatch_std::client::{Client, ClientError, Code, ConfigError, RetryPolicy};
use dispatch_std::grpc::GrpcClient;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;

const KEY: &str = "grpc-test-key-0123456789";

/// A request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    authorization: Option<String>,
    grpc_timeout: Option<String>,
    functions: Vec<String>,
}

/// The server's behaviour: answer ids `id-<function>` in order, unless the
/// key is wrong (UNAUTHENTICATED) or the first call's function names a
/// status to fail with (`fail_<number>`), for the first `failures` requests.
#[derive(Clone)]
struct TestDispatch {
    seen: Arc<Mutex<Vec<Seen>>>,
    failures: Arc<Mutex<u32>>,
}

impl tonic::server::UnaryService<DispatchRequest> for TestDispatch {
    type Response = DispatchResponse;
    type Future = core::pin::Pin<
        Box<dyn Future<Output = Result<tonic::Response<DispatchResponse>, tonic::Status>> + Send>,
    >;

    fn call(&mut self, request: tonic::Request<DispatchRequest>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let text = |name: &str| {
                request
                    .metadata()
                    .get(name)
                    .map(|value| value.to_str().unwrap().to_owned())
            };
            let authorization = text("authorization");
            let grpc_timeout = text("grpc-timeout");
            let message = request.into_inner();
            {
                let mut seen = this.seen.lock().unwrap();
                let record = seen.last_mut().unwrap();
                record.authorization = authorization.clone();
                record.grpc_timeout = grpc_timeout;
                record.functions = message.calls.iter().map(|c| c.function.clone()).collect();
            }
            if authorization.as_deref() != Some(&format!("Bearer {KEY}")) {
                return Err(tonic::Status::unauthenticated("bad key"));
            }
            let first = message
                .calls
                .first()
                .map(|c| c.function.as_str())
                .unwrap_or("");
            if first == "hang" {
                core::future::pending::<()>().await;
            }
            if let Some(millis) = first.strip_prefix("busy_ms_") {
                let mut failures = this.failures.lock().unwrap();
                if *failures > 0 {
                    *failures -= 1;
                    return Err(busy_for(Duration::from_millis(millis.parse().unwrap())));
                }
            }
            if let Some(number) = first.strip_prefix("fail_") {
                let mut failures = this.failures.lock().unwrap();
                if *failures > 0 {
                    *failures -= 1;
                    let code = tonic::Code::from_i32(number.parse().unwrap());
                    return Err(tonic::Status::new(code, format!("failing with {number}")));
                }
            }
            Ok(tonic::Response::new(DispatchResponse {
                dispatch_ids: message
                    .calls
                    .iter()
                    .map(|c| format!("id-{}", c.function))
                    .collect(),
            }))
        })
    }
}

/// `google.rpc.RetryInfo`.
#[derive(Clone, PartialEq, prost::Message)]
struct RetryInfo {
    #[prost(message, optional, tag = "1")]
    retry_delay: Option<prost_types::Duration>,
}

/// `google.rpc.Status`, as tonic expects a status's details.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
    #[prost(message, repeated, tag = "3")]
    details: Vec<prost_types::Any>,
}

/// UNAVAILABLE with a `RetryInfo` detail asking for `delay`, the way Google
/// APIs and grpc-go's `status.WithDetails` send it.
fn busy_for(delay: Duration) -> tonic::Status {
    use prost::Message;
    let retry_info = RetryInfo {
        retry_delay: Some(delay.try_into().unwrap()),
    };
    let status = RpcStatus {
        code: tonic::Code::Unavailable as i32,
        message: "busy".into(),
        details: vec![prost_types::Any {
            type_url: "type.googleapis.com/google.rpc.RetryInfo".into(),
            value: retry_info.encode_to_vec(),
        }],
    };
    tonic::Status::with_details(
        tonic::Code::Unavailable,
        "busy",
        status.encode_to_vec().into(),
    )
}

struct TestServer {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    failures: Arc<Mutex<u32>>,
}

impl TestServer {
    async fn start() -> TestServer {
        Self::start_with(None).await
    }

    /// The server, behind TLS when `tls` is given.
    async fn start_with(tls: Option<tokio_rustls::TlsAcceptor>) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let failures = Arc::new(Mutex::new(u32::MAX));
        let service = TestDispatch {
            seen: Arc::clone(&seen),
            failures: Arc::clone(&failures),
        };
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let service = service.clone();
                let handler = hyper::service::service_fn(
                    move |request: http::Request<hyper::body::Incoming>| {
                        let service = service.clone();
                        async move {
                            service.seen.lock().unwrap().push(Seen {
                                path: request.uri().path().to_owned(),
                                authorization: None,
                                grpc_timeout: None,
                                functions: Vec::new(),
                            });
                            let mut grpc = tonic::server::Grpc::new(tonic_prost::ProstCodec::<
                                DispatchResponse,
                                DispatchRequest,
                            >::default(
                            ));
                            Ok::<_, Infallible>(grpc.unary(service, request).await)
                        }
                    },
                );
                let tls = tls.clone();
                tokio::spawn(async move {
                    let builder = auto::Builder::new(TokioExecutor::new());
                    match tls {
                        None => builder
                            .serve_connection(TokioIo::new(stream), handler)
                            .await
                            .ok(),
                        Some(tls) => match tls.accept(stream).await {
                            Ok(stream) => builder
                                .serve_connection(TokioIo::new(stream), handler)
                                .await
                                .ok(),
                            Err(_) => None,
                        },
                    };
                });
            }
        });
        TestServer {
            addr,
            seen,
            failures,
        }
    }

    fn client(&self, key: &str) -> GrpcClient {
        GrpcClient::from_builder_with_env(
            Client::builder()
                .api_key(key)
                .api_url(format!("http://{}", self.addr))
                .timeout(Duration::from_secs(7)),
            |_| None,
        )
        .unwrap()
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn call(function: &str) -> Call {
    Call {
        endpoint: "http://127.0.0.1:8000".into(),
        function: function.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_batch_gets_its_ids_in_order_with_bearer_and_timeout_metadata() {
    let server = TestServer::start().await;
    let client = server.client(KEY);
    let ids = client
        .dispatch_batch([call("b"), call("a"), call("c")])
        .await
        .unwrap();
    assert_eq!(ids, ["id-b", "id-a", "id-c"]);
    let id = client.dispatch(call("one")).await.unwrap();
    assert_eq!(id, "id-one");

    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].path, DISPATCH_PATH);
    assert_eq!(seen[0].functions, ["b", "a", "c"]);
    assert_eq!(
        seen[0].authorization.as_deref(),
        Some(format!("Bearer {KEY}").as_str())
    );
    // tonic writes the deadline in the largest unit that keeps 8 digits.
    let timeout = seen[0].grpc_timeout.as_deref().unwrap();
    assert_eq!(
        dispatch_core::run::parse_grpc_timeout(timeout),
        Some(Duration::from_secs(7))
    );
}

#[tokio::test]
async fn grpc_statuses_map_to_their_codes() {
    let server = TestServer::start().await;
    let client = server.client(KEY);
    for (number, code) in [
        (5, Code::NotFound),
        (8, Code::ResourceExhausted),
        (3, Code::InvalidArgument),
        (14, Code::Unavailable),
        (13, Code::Internal),
    ] {
        let error = client
            .dispatch(call(&format!("fail_{number}")))
            .await
            .unwrap_err();
        assert_eq!(error.code(), code, "{error}");
        assert!(matches!(error, ClientError::Grpc { .. }), "{error:?}");
        assert_eq!(error.message(), format!("failing with {number}"));
        assert_eq!(error.http_status(), None);
    }
}

#[tokio::test]
async fn a_refused_key_names_the_variable_and_hides_the_key() {
    let server = TestServer::start().await;
    let error = server
        .client("wrong-key-abcdefgh")
        .dispatch(call("a"))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::Unauthenticated);
    let ClientError::Unauthenticated {
        key_hint,
        server_message,
        ..
    } = &error
    else {
        panic!("{error:?}");
    };
    assert_eq!(key_hint, "wro********");
    assert_eq!(server_message.as_deref(), Some("bad key"));
    let shown = error.to_string();
    assert!(shown.contains("DISPATCH_API_KEY"), "{shown}");
    assert!(!shown.contains("wrong-key"), "{shown}");
}

#[tokio::test]
async fn nothing_is_sent_for_an_empty_or_invalid_batch() {
    let server = TestServer::start().await;
    let client = server.client(KEY);
    assert!(client.dispatch_batch([]).await.unwrap().is_empty());
    let error = client.dispatch(call("not a name!")).await.unwrap_err();
    assert!(matches!(error, ClientError::InvalidRequest(_)), "{error:?}");
    assert_eq!(error.code(), Code::InvalidArgument);
    assert!(server.seen().is_empty());
}

#[tokio::test]
async fn unavailable_is_retried_only_when_asked() {
    let server = TestServer::start().await;
    *server.failures.lock().unwrap() = 1;
    let error = server
        .client(KEY)
        .dispatch(call("fail_14"))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::Unavailable);

    *server.failures.lock().unwrap() = 1;
    let client = GrpcClient::from_builder_with_env(
        Client::builder()
            .api_key(KEY)
            .api_url(format!("http://{}", server.addr))
            .retry(RetryPolicy::exponential(3)),
        |_| None,
    )
    .unwrap();
    assert_eq!(
        client.dispatch(call("fail_14")).await.unwrap(),
        "id-fail_14"
    );

    // Not retried even with a policy: a permanent refusal.
    *server.failures.lock().unwrap() = 1;
    let error = client.dispatch(call("fail_5")).await.unwrap_err();
    assert_eq!(error.code(), Code::NotFound);
    assert_eq!(server.seen().len(), 4);
}

#[tokio::test]
async fn the_server_s_retry_info_sets_the_wait() {
    let server = TestServer::start().await;
    // Without a policy the delay is only reported.
    *server.failures.lock().unwrap() = 1;
    let error = server
        .client(KEY)
        .dispatch(call("busy_ms_120000"))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::Unavailable);
    assert_eq!(error.retry_after(), Some(Duration::from_secs(120)));

    let client = GrpcClient::from_builder_with_env(
        Client::builder()
            .api_key(KEY)
            .api_url(format!("http://{}", server.addr))
            .retry(
                RetryPolicy::exponential(3)
                    .initial_backoff(Duration::from_millis(1))
                    .max_server_delay(Duration::from_secs(60)),
            ),
        |_| None,
    )
    .unwrap();
    // Longer than the policy allows: returned at once, not retried early.
    *server.failures.lock().unwrap() = 1;
    let error = client.dispatch(call("busy_ms_120000")).await.unwrap_err();
    assert_eq!(error.retry_after(), Some(Duration::from_secs(120)));
    assert_eq!(server.seen().len(), 2);

    // Within it: tried again (after that wait; RetryPolicy::next_wait's unit
    // test checks the length).
    *server.failures.lock().unwrap() = 1;
    assert_eq!(
        client.dispatch(call("busy_ms_20")).await.unwrap(),
        "id-busy_ms_20"
    );
    assert_eq!(server.seen().len(), 4);
}

#[tokio::test]
async fn the_built_in_transport_takes_only_http_and_https() {
    let error = GrpcClient::from_builder_with_env(
        Client::builder().api_key(KEY).api_url("ftp://api.example"),
        |_| None,
    )
    .unwrap_err();
    assert!(
        matches!(error, ConfigError::UnsupportedScheme { .. }),
        "{error:?}"
    );
}

/// The test certificates (tests/fixtures/tls/make.sh): a CA and a leaf for
/// 127.0.0.1 and localhost.
fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tls")
        .join(name)
}

fn tls_acceptor() -> tokio_rustls::TlsAcceptor {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain = CertificateDer::pem_file_iter(fixture("server.pem"))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(fixture("server.key")).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec()];
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

/// A client configuration trusting only the test CA.
fn trusting_the_test_ca() -> rustls::ClientConfig {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(fixture("ca.pem")).unwrap())
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth()
}

fn https_config(server: &TestServer, key: &str) -> dispatch_std::client::ClientConfig {
    Client::builder()
        .api_key(key)
        .api_url(format!("https://{}", server.addr))
        .timeout(Duration::from_secs(7))
        .build_with_env(|_| None)
        .unwrap()
        .config()
        .clone()
}

#[tokio::test]
async fn an_https_api_url_is_reached_over_tls() {
    let server = TestServer::start_with(Some(tls_acceptor())).await;
    let client = GrpcClient::with_tls(https_config(&server, KEY), trusting_the_test_ca()).unwrap();
    let ids = client.dispatch_batch([call("b"), call("a")]).await.unwrap();
    assert_eq!(ids, ["id-b", "id-a"]);
    let seen = server.seen();
    assert_eq!(
        seen.last().unwrap().authorization.as_deref(),
        Some(&*format!("Bearer {KEY}"))
    );
    // The wrong key is refused over TLS as over h2c.
    let refused = GrpcClient::with_tls(
        https_config(&server, "wrong-key-0123456789"),
        trusting_the_test_ca(),
    )
    .unwrap()
    .dispatch(call("x"))
    .await
    .unwrap_err();
    assert!(
        matches!(refused, ClientError::Unauthenticated { .. }),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_certificate_the_client_does_not_trust_fails_closed() {
    let server = TestServer::start_with(Some(tls_acceptor())).await;
    // The platform's roots do not include the test CA.
    let error = GrpcClient::from_config(https_config(&server, KEY))
        .unwrap()
        .dispatch(call("x"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            ClientError::Grpc {
                code: Code::Unavailable,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(
        server.seen().is_empty(),
        "a request reached the server: {:?}",
        server.seen()
    );
}

#[tokio::test]
async fn a_server_that_does_not_answer_in_time_is_deadline_exceeded() {
    let server = TestServer::start().await;
    let client = GrpcClient::from_builder_with_env(
        Client::builder()
            .api_key(KEY)
            .api_url(format!("http://{}", server.addr))
            .timeout(Duration::from_millis(100)),
        |_| None,
    )
    .unwrap();
    let error = client.dispatch(call("hang")).await.unwrap_err();
    assert_eq!(error.code(), Code::DeadlineExceeded, "{error:?}");
}

#[tokio::test]
async fn a_server_that_is_not_there_is_unavailable() {
    // A port that was just free: nothing listens on it.
    let addr = {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap()
    };
    let client = GrpcClient::from_builder_with_env(
        Client::builder()
            .api_key(KEY)
            .api_url(format!("http://{addr}")),
        |_| None,
    )
    .unwrap();
    let error = client.dispatch(call("a")).await.unwrap_err();
    assert_eq!(error.code(), Code::Unavailable, "{error:?}");
}
