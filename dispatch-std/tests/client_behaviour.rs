//! The client's own rules over real sockets: the 401 message, validation
//! before sending, batches, response checks, timeouts and opt-in retries.

mod client_support;

use core::time::Duration;

use client_support::{Reply, TestServer};
use dispatch_std::client::proto::Call;
use dispatch_std::client::{Client, ClientError, Code, RetryPolicy};

fn call(function: &str) -> Call {
    Call {
        endpoint: "https://my-app.example.com".into(),
        function: function.into(),
        ..Default::default()
    }
}

fn client(server: &TestServer, key: &str, retry: RetryPolicy) -> Client {
    Client::builder()
        .api_key(key)
        .api_url(server.url.clone())
        .retry(retry)
        .build_with_env(|_| None)
        .unwrap()
}

/// Backoff short enough not to slow the tests down.
fn quick_retry(attempts: u32) -> RetryPolicy {
    RetryPolicy::exponential(attempts)
        .initial_backoff(Duration::from_millis(1))
        .max_backoff(Duration::from_millis(4))
}

#[tokio::test]
async fn single_dispatch_returns_the_id() {
    let server = TestServer::start(vec![Reply::ids(&["id-1"])]).await;
    let id = client(&server, "key-0123456789", RetryPolicy::none())
        .dispatch(call("greet"))
        .await
        .unwrap();
    assert_eq!(id, "id-1");
    assert_eq!(id.to_string(), "id-1");
}

#[tokio::test]
async fn batch_keeps_order_and_empties_on_success() {
    let server = TestServer::start(vec![Reply::ids(&["id-a", "id-b", "id-c"])]).await;
    let client = client(&server, "key-0123456789", RetryPolicy::none());
    let mut batch = client.batch();
    batch.add(call("a")).add(call("b")).add(call("c"));
    let ids = batch.dispatch().await.unwrap();
    assert_eq!(ids, ["id-a", "id-b", "id-c"]);
    assert!(batch.calls().is_empty());
}

#[tokio::test]
async fn empty_batch_sends_nothing() {
    let server = TestServer::start(vec![Reply::ids(&["unexpected"])]).await;
    let client = client(&server, "key-0123456789", RetryPolicy::none());
    assert!(client.dispatch_batch([]).await.unwrap().is_empty());
    assert!(client.batch().dispatch().await.unwrap().is_empty());
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn wrong_number_of_ids_is_an_error() {
    let server = TestServer::start(vec![Reply::ids(&["only-one"])]).await;
    let client = client(&server, "key-0123456789", RetryPolicy::none());
    let err = client
        .dispatch_batch([call("a"), call("b")])
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::InvalidResponse { .. }),
        "{err:?}"
    );
    assert_eq!(err.code(), Code::Internal);

    let server = TestServer::start(vec![Reply::ids(&["x", "y"])]).await;
    let client = self::client(&server, "key-0123456789", RetryPolicy::none());
    let err = client.dispatch(call("a")).await.unwrap_err();
    assert_eq!(err.code(), Code::Internal);
}

#[tokio::test]
async fn unauthenticated_names_the_variable_and_redacts_the_key() {
    let key = "abcdef-very-secret-key";
    for reply in [
        Reply::new(
            401,
            Some("application/json"),
            r#"{"code":"unauthenticated","message":"invalid token"}"#,
        ),
        Reply::new(401, Some("text/plain"), "Unauthorized"),
    ] {
        let server = TestServer::start(vec![reply]).await;
        let err = client(&server, key, quick_retry(3))
            .dispatch(call("greet"))
            .await
            .unwrap_err();
        assert!(
            matches!(err, ClientError::Unauthenticated { .. }),
            "{err:?}"
        );
        assert_eq!(err.code(), Code::Unauthenticated);
        assert_eq!(err.http_status(), Some(401));
        let shown = err.to_string();
        assert!(shown.contains("DISPATCH_API_KEY"), "{shown}");
        assert!(shown.contains("abc********"), "{shown}");
        for text in [shown, err.message(), format!("{err:?}")] {
            assert!(!text.contains("abcd"), "key leaked: {text}");
        }
        // Not retried.
        assert_eq!(server.requests().len(), 1);
    }
}

#[tokio::test]
async fn invalid_calls_are_refused_before_sending() {
    let server = TestServer::start(vec![Reply::ids(&["unexpected"])]).await;
    let client = client(&server, "key-0123456789", RetryPolicy::none());
    let bad = [
        Call {
            endpoint: String::new(),
            ..call("greet")
        },
        Call {
            endpoint: "ftp://my-app.example.com".into(),
            ..call("greet")
        },
        call(""),
        call("1starts_with_a_digit"),
        call("has space"),
        Call {
            expiration: Some(prost_types::Duration {
                seconds: -1,
                nanos: 0,
            }),
            ..call("greet")
        },
    ];
    for bad_call in bad {
        let err = client
            .dispatch_batch([call("fine"), bad_call.clone()])
            .await
            .unwrap_err();
        let ClientError::InvalidRequest(violation) = &err else {
            panic!("{bad_call:?}: {err:?}");
        };
        // The second call is the bad one, and the error says so.
        assert!(err.message().starts_with("calls[1]."), "{err}");
        assert_eq!(err.message(), violation.to_string());
        assert_eq!(err.code(), Code::InvalidArgument);
        assert_eq!(err.http_status(), None);
    }
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn success_needs_the_proto_content_type() {
    use dispatch_proto::sdk::v1::DispatchResponse;
    use prost::Message as _;
    let body = DispatchResponse {
        dispatch_ids: vec!["id".into()],
    }
    .encode_to_vec();
    for (content_type, code) in [
        (Some("application/json"), Code::Internal),
        (Some("text/html"), Code::Unknown),
        (None, Code::Unknown),
    ] {
        let server = TestServer::start(vec![Reply::new(200, content_type, body.clone())]).await;
        let err = client(&server, "key-0123456789", RetryPolicy::none())
            .dispatch(call("greet"))
            .await
            .unwrap_err();
        assert_eq!(err.code(), code, "{content_type:?}: {err}");
        assert_eq!(err.http_status(), Some(200));
    }
    let server =
        TestServer::start(vec![Reply::new(200, Some("application/proto"), "\u{ff}")]).await;
    let err = client(&server, "key-0123456789", RetryPolicy::none())
        .dispatch(call("greet"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Internal, "{err}");
}

#[tokio::test]
async fn success_in_an_unknown_encoding_is_internal() {
    let reply = Reply::ids(&["id"]).with_header("content-encoding", "br");
    let server = TestServer::start(vec![reply]).await;
    let err = client(&server, "key-0123456789", RetryPolicy::none())
        .dispatch(call("greet"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::InvalidResponse { .. }),
        "{err:?}"
    );
    assert_eq!(err.code(), Code::Internal);

    let reply = Reply::ids(&["id"]).with_header("content-encoding", "identity");
    let server = TestServer::start(vec![reply]).await;
    let id = client(&server, "key-0123456789", RetryPolicy::none())
        .dispatch(call("greet"))
        .await
        .unwrap();
    assert_eq!(id, "id");
}

#[tokio::test]
async fn timeout_is_sent_and_enforced() {
    let server = TestServer::start(vec![Reply::Hang]).await;
    let client = Client::builder()
        .api_key("key-0123456789")
        .api_url(server.url.clone())
        .timeout(Duration::from_millis(1000))
        .retry(quick_retry(5))
        .build_with_env(|_| None)
        .unwrap();
    let err = client.dispatch(call("greet")).await.unwrap_err();
    assert_eq!(err.code(), Code::DeadlineExceeded, "{err}");
    let requests = server.requests();
    // A timeout may have dispatched the calls: never retried.
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].header("connect-timeout-ms"), Some("1000"));
}

#[tokio::test]
async fn no_retry_by_default() {
    let server = TestServer::start(vec![
        Reply::new(503, Some("text/plain"), "busy"),
        Reply::ids(&["id-1"]),
    ])
    .await;
    let err = client(&server, "key-0123456789", RetryPolicy::none())
        .dispatch(call("greet"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable);
    assert!(err.is_retryable());
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn opt_in_retry_recovers_from_unavailable_and_resource_exhausted() {
    let server = TestServer::start(vec![
        Reply::new(503, Some("text/plain"), "busy"),
        Reply::new(
            429,
            Some("application/json"),
            r#"{"code":"resource_exhausted","message":"slow down"}"#,
        ),
        Reply::new(
            503,
            Some("application/json"),
            r#"{"code":"unavailable","message":"try again"}"#,
        ),
        Reply::ids(&["id-1"]),
    ])
    .await;
    let id = client(&server, "key-0123456789", quick_retry(4))
        .dispatch(call("greet"))
        .await
        .unwrap();
    assert_eq!(id, "id-1");
    let requests = server.requests();
    assert_eq!(requests.len(), 4);
    // Every attempt carries the same request.
    assert!(requests.iter().all(|r| r.body == requests[0].body));
}

#[tokio::test]
async fn retries_are_bounded() {
    let server = TestServer::start(vec![Reply::new(503, Some("text/plain"), "busy")]).await;
    let err = client(&server, "key-0123456789", quick_retry(3))
        .dispatch(call("greet"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable);
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn other_errors_are_never_retried() {
    for reply in [
        Reply::new(
            400,
            Some("application/json"),
            r#"{"code":"invalid_argument","message":"no"}"#,
        ),
        Reply::new(400, Some("text/plain"), "bad request"),
        Reply::new(500, Some("text/plain"), "oops"),
        Reply::new(
            409,
            Some("application/json"),
            r#"{"code":"already_exists"}"#,
        ),
    ] {
        let server = TestServer::start(vec![reply.clone(), Reply::ids(&["id-1"])]).await;
        let err = client(&server, "key-0123456789", quick_retry(5))
            .dispatch(call("greet"))
            .await
            .unwrap_err();
        assert!(!err.is_retryable(), "{reply:?}");
        assert_eq!(server.requests().len(), 1, "{reply:?}");
    }
}

#[tokio::test]
async fn connection_refused_is_unavailable() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let client = Client::builder()
        .api_key("key-0123456789")
        .api_url(url)
        .build_with_env(|_| None)
        .unwrap();
    let err = client.dispatch(call("greet")).await.unwrap_err();
    assert!(matches!(err, ClientError::Transport { .. }), "{err:?}");
    assert_eq!(err.code(), Code::Unavailable);
    assert_eq!(err.http_status(), None);
}

#[tokio::test]
async fn error_without_connect_body_quotes_the_status_and_body() {
    let server = TestServer::start(vec![Reply::new(
        503,
        Some("text/plain"),
        "upstream unavailable",
    )])
    .await;
    let err = client(&server, "key-0123456789", RetryPolicy::none())
        .dispatch(call("greet"))
        .await
        .unwrap_err();
    assert_eq!(
        err.message(),
        "HTTP 503 Service Unavailable: upstream unavailable"
    );
}

#[tokio::test]
async fn routing_prefix_is_kept() {
    let server = TestServer::start(vec![Reply::ids(&["id-1"])]).await;
    let client = Client::builder()
        .api_key("key-0123456789")
        .api_url(format!("{}/prefix/", server.url))
        .build_with_env(|_| None)
        .unwrap();
    client.dispatch(call("greet")).await.unwrap();
    assert_eq!(
        server.requests()[0].path,
        "/prefix/dispatch.sdk.v1.DispatchService/Dispatch"
    );
}

#[test]
fn client_and_its_futures_can_cross_threads() {
    fn assert_send_sync<T: Send + Sync>(_: &T) {}
    fn assert_send<T: Send>(_: &T) {}
    let client = Client::builder()
        .api_key("key-0123456789")
        .build_with_env(|_| None)
        .unwrap();
    assert_send_sync(&client);
    let single = client.dispatch(call("greet"));
    assert_send(&single);
    let batch = client.dispatch_batch([call("a"), call("b")]);
    assert_send(&batch);
}

#[tokio::test]
async fn the_server_says_how_long_to_wait() {
    let retry_info =
        r#"{"code":"unavailable","details":[{"type":"google.rpc.RetryInfo","value":"CgIIHg"}]}"#;
    for (reply, asked) in [
        (
            Reply::new(503, Some("text/plain"), "busy").with_header("retry-after", "120"),
            Some(120),
        ),
        // The RetryInfo detail (30 s) wins over the header.
        (
            Reply::new(503, Some("application/json"), retry_info).with_header("retry-after", "7"),
            Some(30),
        ),
        (
            Reply::new(503, Some("application/json"), retry_info),
            Some(30),
        ),
        (
            Reply::new(503, Some("text/plain"), "busy").with_header("retry-after", "soon"),
            None,
        ),
        // An HTTP-date counts from the response's Date, not from our clock.
        (
            Reply::new(503, Some("text/plain"), "busy")
                .with_header("date", "Wed, 21 Oct 2015 07:28:00 GMT")
                .with_header("retry-after", "Wed, 21 Oct 2015 07:29:30 GMT"),
            Some(90),
        ),
        // Without a Date, from ours: a date long past means now.
        (
            Reply::new(503, Some("text/plain"), "busy")
                .with_header("retry-after", "Wed, 21 Oct 2015 07:29:30 GMT"),
            Some(0),
        ),
    ] {
        let server = TestServer::start(vec![reply]).await;
        let err = client(&server, "key-0123456789", RetryPolicy::none())
            .dispatch(call("greet"))
            .await
            .unwrap_err();
        assert_eq!(err.retry_after(), asked.map(Duration::from_secs), "{err}");
    }
}

#[tokio::test]
async fn a_longer_wait_than_allowed_ends_the_retries() {
    let server = TestServer::start(vec![
        Reply::new(503, Some("text/plain"), "busy").with_header("retry-after", "120"),
        Reply::ids(&["id-1"]),
    ])
    .await;
    let policy = quick_retry(3).max_server_delay(Duration::from_secs(60));
    let err = client(&server, "key-0123456789", policy)
        .dispatch(call("greet"))
        .await
        .unwrap_err();
    assert_eq!(err.retry_after(), Some(Duration::from_secs(120)));
    assert_eq!(server.requests().len(), 1);

    // Within the limit, the client waits and tries again.
    let server = TestServer::start(vec![
        Reply::new(503, Some("text/plain"), "busy").with_header("retry-after", "0"),
        Reply::ids(&["id-1"]),
    ])
    .await;
    let id = client(&server, "key-0123456789", policy)
        .dispatch(call("greet"))
        .await
        .unwrap();
    assert_eq!(id, "id-1");
    assert_eq!(server.requests().len(), 2);
}
