//! The Run endpoint over real sockets on 127.0.0.1, without signatures:
//! routing, codecs, the server rules of docs/protocol/connect.md, function outcomes, polls
//! and resumes, body limits, read timeouts, `Connect-Timeout-Ms`, shutdown.

mod endpoint_support;

use core::time::Duration;

use dispatch_core::proto::sdk::v1 as pb;
use dispatch_core::status::Status;
use dispatch_std::endpoint::{Endpoint, RUN_PATH};
use endpoint_support::*;
use pb::run_response::Directive as Out;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

async fn server() -> Server {
    Server::start(Endpoint::new(registry())).await
}

fn exit_of(response: &pb::RunResponse) -> &pb::Exit {
    match &response.directive {
        Some(Out::Exit(exit)) => exit,
        other => panic!("not an exit: {other:?}"),
    }
}

#[tokio::test]
async fn echo_returns_its_input_unchanged() {
    let server = server().await;
    // An opaque value no Rust type describes passes through byte for byte.
    let opaque = prost_types::Any {
        type_url: "buf.build/stealthrocket/dispatch-proto/dispatch.sdk.python.v1.Pickled".into(),
        value: vec![0x0a, 0x03, 0x80, 0x04, 0x4e],
    };
    let reply = run(server.addr, &input_request("echo", opaque.clone())).await;
    let response = reply.run_response();
    assert_eq!(response.status, Status::Ok.number());
    let result = exit_of(&response).result.as_ref().unwrap();
    assert_eq!(result.output.as_ref(), Some(&opaque));
}

#[tokio::test]
async fn unknown_function_is_404_not_found() {
    let server = server().await;
    let reply = run(server.addr, &input_request("nope", string_any("x"))).await;
    assert_eq!(reply.status, 404);
    let (code, message) = reply.connect_error();
    assert_eq!(code, "not_found");
    assert!(message.contains("nope"), "{message}");
}

#[tokio::test]
async fn empty_function_is_400_invalid_argument() {
    let server = server().await;
    let reply = run(server.addr, &input_request("", string_any("x"))).await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.connect_error().0, "invalid_argument");
}

#[tokio::test]
async fn an_undecodable_body_is_400_never_500() {
    let server = server().await;
    for (content_type, body) in [
        ("application/proto", &b"\xff\xff\xff\xff"[..]),
        ("application/json", &b"{\"function\": "[..]),
        ("application/json", &b"[1, 2]"[..]),
    ] {
        let reply = send(
            server.addr,
            "POST",
            RUN_PATH,
            &[("content-type", content_type)],
            body,
        )
        .await;
        assert_eq!(reply.status, 400, "{content_type} {body:?}");
        assert_eq!(reply.connect_error().0, "invalid_argument");
    }
}

#[tokio::test]
async fn other_content_types_are_415() {
    let server = server().await;
    for content_type in ["text/plain", "application/grpc", "application/protobuf"] {
        let reply = send(
            server.addr,
            "POST",
            RUN_PATH,
            &[("content-type", content_type)],
            b"x",
        )
        .await;
        assert_eq!(reply.status, 415, "{content_type}");
        reply.connect_error();
        assert!(reply.header("accept-post").is_some());
    }
}

#[tokio::test]
async fn other_paths_and_methods_are_refused_with_json() {
    let server = server().await;
    let reply = send(
        server.addr,
        "POST",
        "/dispatch.sdk.v1.FunctionService/Other",
        &[],
        b"",
    )
    .await;
    // 404 with the code a Connect client infers from a bare 404 (and that a
    // gRPC server answers for an unknown method).
    assert_eq!(reply.status, 404);
    assert_eq!(reply.connect_error().0, "unimplemented");

    let reply = send(server.addr, "GET", RUN_PATH, &[], b"").await;
    assert_eq!(reply.status, 405);
    assert_eq!(reply.header("allow"), Some("POST"));
    reply.connect_error();
}

#[tokio::test]
async fn a_bad_protocol_version_or_timeout_header_is_400() {
    let server = server().await;
    let body = prost::Message::encode_to_vec(&input_request("echo", string_any("x")));
    for header in [
        ("connect-protocol-version", "2"),
        ("connect-timeout-ms", "-5"),
    ] {
        let reply = send(
            server.addr,
            "POST",
            RUN_PATH,
            &[("content-type", "application/proto"), header],
            &body,
        )
        .await;
        assert_eq!(reply.status, 400, "{header:?}");
        assert_eq!(reply.connect_error().0, "invalid_argument");
    }
}

#[tokio::test]
async fn json_in_json_out() {
    let server = server().await;
    let request = r#"{
        "function": "echo",
        "dispatchId": "d-json",
        "input": {"@type": "type.googleapis.com/google.protobuf.StringValue", "value": "hé \"quoted\""}
    }"#;
    let reply = send(
        server.addr,
        "POST",
        RUN_PATH,
        &[("content-type", "application/json; charset=utf-8")],
        request.as_bytes(),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let json: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    assert_eq!(json["status"], "STATUS_OK");
    assert_eq!(
        json["exit"]["result"]["output"],
        serde_json::json!({
            "@type": "type.googleapis.com/google.protobuf.StringValue",
            "value": "hé \"quoted\""
        })
    );
    let response: pb::RunResponse = dispatch_std::json::from_json_slice(&reply.body).unwrap();
    let output = exit_of(&response).result.clone().unwrap().output.unwrap();
    assert_eq!(output, string_any("hé \"quoted\""));
}

#[tokio::test]
async fn errors_are_classified_into_statuses() {
    let server = server().await;
    for (function, status) in [
        ("fail_throttled", Status::Throttled),
        ("fail_io_timeout", Status::Timeout),
    ] {
        let response = run(server.addr, &input_request(function, string_any("x")))
            .await
            .run_response();
        assert_eq!(response.status, status.number(), "{function}");
        let error = exit_of(&response).result.clone().unwrap().error.unwrap();
        assert!(!error.message.is_empty());
    }
    // A typed function given the wrong type never runs: INVALID_ARGUMENT.
    let response = run(
        server.addr,
        &input_request("suspend", dispatch_core::any::pack(&5u64)),
    )
    .await
    .run_response();
    assert_eq!(response.status, Status::InvalidArgument.number());
}

#[tokio::test]
async fn tail_calls_and_invalid_outputs() {
    let server = server().await;
    let response = run(server.addr, &input_request("tail", string_any("x")))
        .await
        .run_response();
    assert_eq!(response.status, Status::Ok.number());
    let exit = exit_of(&response);
    assert!(exit.result.is_some(), "the protocol requires a result");
    let call = exit.tail_call.clone().expect("a tail call");
    assert_eq!(
        (call.function.as_str(), call.input),
        ("echo", Some(string_any("x")))
    );

    // A poll the scheduler would refuse (max_wait under 1 s) is reported as
    // the function's failure instead.
    let response = run(server.addr, &input_request("bad_poll", string_any("x")))
        .await
        .run_response();
    assert_eq!(response.status, Status::InvalidResponse.number());
    let error = exit_of(&response).result.clone().unwrap().error.unwrap();
    assert!(error.message.contains("max_wait"), "{}", error.message);
}

#[tokio::test]
async fn a_panicking_function_is_a_json_500_and_the_server_lives_on() {
    let server = server().await;
    let reply = run(server.addr, &input_request("panic", string_any("x"))).await;
    assert_eq!(reply.status, 500);
    assert_eq!(reply.connect_error().0, "internal");
    let reply = run(server.addr, &input_request("echo", string_any("x"))).await;
    assert_eq!(reply.status, 200);
}

#[tokio::test]
async fn suspend_polls_then_completes_on_resume() {
    let server = server().await;
    let response = run(server.addr, &input_request("suspend", string_any("ping")))
        .await
        .run_response();
    assert_eq!(response.status, Status::Ok.number());
    let Some(Out::Poll(poll)) = response.directive else {
        panic!("not a poll: {response:?}");
    };
    assert_eq!((poll.min_results, poll.max_results), (1, 1));
    assert_eq!(poll.max_wait.as_ref().map(|d| d.seconds), Some(30));
    assert_eq!(poll.calls.len(), 1);
    assert_eq!(poll.calls[0].function, "echo");
    let Some(pb::poll::State::TypedCoroutineState(state)) = poll.state.clone() else {
        panic!("no typed state");
    };

    // The scheduler runs the call, then resumes with its result, plus a
    // result with an unknown correlation id, which is ignored.
    let resume = |state: Option<pb::poll_result::State>| pb::RunRequest {
        function: "suspend".into(),
        dispatch_id: "d-1".into(),
        directive: Some(pb::run_request::Directive::PollResult(pb::PollResult {
            state,
            results: vec![
                pb::CallResult {
                    correlation_id: 99,
                    output: Some(string_any("stray")),
                    ..Default::default()
                },
                pb::CallResult {
                    correlation_id: poll.calls[0].correlation_id,
                    output: poll.calls[0].input.clone(),
                    ..Default::default()
                },
            ],
            error: None,
        })),
        ..Default::default()
    };
    let response = run(
        server.addr,
        &resume(Some(pb::poll_result::State::TypedCoroutineState(state))),
    )
    .await
    .run_response();
    assert_eq!(response.status, Status::Ok.number());
    let output = exit_of(&response).result.clone().unwrap().output.unwrap();
    assert_eq!(output, string_any("ping->ping"));

    // A poll-level error (none of the calls were dispatched) reaches the
    // function, which reports it as temporary.
    let mut failed = resume(Some(pb::poll_result::State::TypedCoroutineState(
        dispatch_core::any::pack(&"ping".to_string()),
    )));
    if let Some(pb::run_request::Directive::PollResult(result)) = &mut failed.directive {
        result.results.clear();
        result.error = Some(pb::Error {
            r#type: "Unavailable".into(),
            message: "the scheduler is overloaded".into(),
            ..Default::default()
        });
    }
    let response = run(server.addr, &failed).await.run_response();
    assert_eq!(response.status, Status::TemporaryError.number());
    let error = exit_of(&response).result.clone().unwrap().error.unwrap();
    assert_eq!(error.message, "the scheduler is overloaded");

    // State the function cannot read: INCOMPATIBLE_STATE, from the endpoint
    // (legacy bytes) or from the function (a state of another type).
    for state in [
        Some(pb::poll_result::State::CoroutineState(b"pickle".to_vec())),
        None,
        Some(pb::poll_result::State::TypedCoroutineState(
            dispatch_core::any::pack(&1u64),
        )),
    ] {
        let response = run(server.addr, &resume(state.clone()))
            .await
            .run_response();
        assert_eq!(
            response.status,
            Status::IncompatibleState.number(),
            "{state:?}"
        );
    }
}

#[tokio::test]
async fn connect_timeout_ms_bounds_the_run() {
    let server = server().await;
    let body = prost::Message::encode_to_vec(&input_request("hang", string_any("x")));
    let reply = send(
        server.addr,
        "POST",
        RUN_PATH,
        &[
            ("content-type", "application/proto"),
            ("connect-timeout-ms", "50"),
        ],
        &body,
    )
    .await;
    assert_eq!(reply.status, 504);
    assert_eq!(reply.connect_error().0, "deadline_exceeded");
}

#[tokio::test]
async fn a_declared_length_over_the_limit_is_refused_before_any_body() {
    let server = Server::start(Endpoint::new(registry()).body_limit(1024)).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let head = head(
        "POST",
        RUN_PATH,
        server.addr,
        &[
            ("content-type", "application/proto"),
            ("content-length", "1000000"),
        ],
    );
    stream.write_all(&head).await.unwrap();
    // Not one byte of the body is sent: the answer cannot depend on it.
    let reply = tokio::time::timeout(GUARD, read_reply(&mut stream))
        .await
        .expect("no 413 before the body");
    assert_eq!(reply.status, 413);
    assert_eq!(reply.connect_error().0, "resource_exhausted");
}

#[tokio::test]
async fn a_chunked_body_with_a_lying_length_is_refused_once_past_the_limit() {
    let limit = 64 * 1024;
    let server = Server::start(Endpoint::new(registry()).body_limit(limit)).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    // Content-Length claims 10 bytes; the chunked body is four times the
    // limit and is never finished (no last chunk), so a 413 can only come
    // from counting what was read.
    let head = head(
        "POST",
        RUN_PATH,
        server.addr,
        &[
            ("content-type", "application/proto"),
            ("content-length", "10"),
            ("transfer-encoding", "chunked"),
        ],
    );
    stream.write_all(&head).await.unwrap();
    let chunk = vec![b'a'; 16 * 1024];
    for _ in 0..(4 * limit / chunk.len()) {
        stream
            .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
            .await
            .unwrap();
        stream.write_all(&chunk).await.unwrap();
        stream.write_all(b"\r\n").await.unwrap();
    }
    let reply = tokio::time::timeout(GUARD, read_reply(&mut stream))
        .await
        .expect("no 413");
    assert_eq!(reply.status, 413);
    assert_eq!(reply.connect_error().0, "resource_exhausted");
}

#[tokio::test]
async fn a_client_that_stops_mid_body_is_timed_out() {
    let server =
        Server::start(Endpoint::new(registry()).read_timeout(Some(Duration::from_millis(200))))
            .await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let head = head(
        "POST",
        RUN_PATH,
        server.addr,
        &[
            ("content-type", "application/proto"),
            ("content-length", "100"),
        ],
    );
    stream.write_all(&head).await.unwrap();
    stream.write_all(&[0u8; 10]).await.unwrap();
    // …and nothing more: the server must give up on its own.
    let reply = tokio::time::timeout(GUARD, read_reply(&mut stream))
        .await
        .expect("the stalled request was never answered");
    assert_eq!(reply.status, 408);
    assert_eq!(reply.connect_error().0, "deadline_exceeded");
}

#[tokio::test]
async fn shutdown_lets_requests_in_flight_finish() {
    let release = std::sync::Arc::new(tokio::sync::Notify::new());
    let started = std::sync::Arc::new(tokio::sync::Notify::new());
    let mut registry = dispatch_std::endpoint::Registry::new();
    let (release2, started2) = (release.clone(), started.clone());
    registry.register_any("slow", move |_run| {
        let (release, started) = (release2.clone(), started2.clone());
        async move {
            started.notify_one();
            release.notified().await;
            Ok(dispatch_std::endpoint::Outcome::none())
        }
    });
    let server = Server::start(Endpoint::new(registry)).await;
    let addr = server.addr;
    let in_flight =
        tokio::spawn(async move { run(addr, &input_request("slow", string_any("x"))).await });
    started.notified().await;
    let stopping = tokio::spawn(server.shutdown());
    // The server stops accepting…
    tokio::time::timeout(GUARD, async {
        while TcpStream::connect(addr).await.is_ok() {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the listener was never closed");
    // …but does not finish while a run is in flight, nor cut it short.
    assert!(!stopping.is_finished());
    release.notify_one();
    let reply = tokio::time::timeout(GUARD, in_flight)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reply.run_response().status, Status::Ok.number());
    tokio::time::timeout(GUARD, stopping)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn a_client_that_stops_mid_headers_is_disconnected() {
    use tokio::io::AsyncReadExt;

    let server =
        Server::start(Endpoint::new(registry()).read_timeout(Some(Duration::from_millis(200))))
            .await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"POST /dispatch.sdk.v1.FunctionService/Run HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    // The head is never finished: the server closes the connection, perhaps
    // after a 408, and never waits forever.
    let mut received = Vec::new();
    tokio::time::timeout(GUARD, stream.read_to_end(&mut received))
        .await
        .expect("the stalled connection was never closed")
        .ok();
    let text = String::from_utf8_lossy(&received);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 408"),
        "{text}"
    );
}
