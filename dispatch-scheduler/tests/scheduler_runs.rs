//! The scheduler's run loop against real endpoints on loopback: returns,
//! retries, the retry limit, tail calls, polls, expiration, and endpoints
//! that are unreachable, answer garbage or never answer.

mod scheduler_support;

use core::sync::atomic::{AtomicU32, Ordering};
use core::time::Duration;
use std::sync::Arc;

use dispatch_core::proto::sdk::v1 as pb;
use dispatch_core::status::Status;
use dispatch_scheduler::{DispatchError, RunInfo, Scheduler};
use dispatch_std::endpoint::{self, Directive, FunctionError, Outcome, Poll, Registry, Run};
use prost_types::Any;
use scheduler_support::{fast_scheduler, raw_server, serve_endpoint};

fn call(endpoint: &str, function: &str, input: i64) -> pb::Call {
    endpoint::call(endpoint, function, 0, &input)
}

async fn run_to_end(scheduler: &Scheduler, call: pb::Call) -> RunInfo {
    let ids = scheduler.dispatch(vec![call]).await.unwrap();
    let id = &ids[0];
    let info = scheduler.wait(id, None).await.unwrap();
    assert!(info.outcome.is_some(), "the run is not done");
    info
}

fn output_i64(info: &RunInfo) -> i64 {
    let outcome = info.outcome.as_ref().unwrap();
    let output: &Any = outcome.result.output.as_ref().expect("an output");
    output.to_msg::<i64>().unwrap()
}

fn status(info: &RunInfo) -> Status {
    info.outcome.as_ref().unwrap().status
}

fn error_message(info: &RunInfo) -> String {
    let outcome = info.outcome.as_ref().unwrap();
    let error = outcome.result.error.as_ref().expect("an error");
    format!("{}: {}", error.r#type, error.message)
}

fn arithmetic() -> Registry {
    let mut registry = Registry::new();
    registry.register("double", |run: Run<i64>| async move {
        match run.directive {
            Directive::Input(n) => Ok(Outcome::value(&(2 * n))),
            Directive::Resume(_) => Err(FunctionError::permanent("double never polls")),
        }
    });
    registry
}

#[tokio::test]
async fn a_return_is_the_outcome() {
    let url = serve_endpoint(arithmetic()).await;
    let scheduler = fast_scheduler(3);
    let info = run_to_end(&scheduler, call(&url, "double", 21)).await;
    assert_eq!(status(&info), Status::Ok);
    assert_eq!(output_i64(&info), 42);
    assert_eq!(info.attempts, 1);
    let result = &info.outcome.as_ref().unwrap().result;
    assert_eq!(result.dispatch_id, info.dispatch_id);
    assert_eq!(info.root_dispatch_id, info.dispatch_id);
    assert!(info.parent_dispatch_id.is_empty());
}

#[tokio::test]
async fn temporary_failures_are_retried_until_success() {
    let tries = Arc::new(AtomicU32::new(0));
    let mut registry = Registry::new();
    let counter = Arc::clone(&tries);
    registry.register("flaky", move |_run: Run<i64>| {
        let counter = Arc::clone(&counter);
        async move {
            if counter.fetch_add(1, Ordering::SeqCst) < 2 {
                Err(FunctionError::temporary("not yet"))
            } else {
                Ok(Outcome::value(&7i64))
            }
        }
    });
    let url = serve_endpoint(registry).await;
    let info = run_to_end(&fast_scheduler(5), call(&url, "flaky", 0)).await;
    assert_eq!(status(&info), Status::Ok);
    assert_eq!(output_i64(&info), 7);
    assert_eq!(info.attempts, 3);
    assert_eq!(tries.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn retries_stop_at_the_limit() {
    let mut registry = Registry::new();
    registry.register("always_throttled", |_run: Run<i64>| async move {
        Err::<Outcome, _>(FunctionError::throttled("slow down"))
    });
    let url = serve_endpoint(registry).await;
    let info = run_to_end(&fast_scheduler(4), call(&url, "always_throttled", 0)).await;
    assert_eq!(status(&info), Status::Throttled);
    assert_eq!(info.attempts, 4);
    assert!(
        error_message(&info).contains("slow down"),
        "{}",
        error_message(&info)
    );
}

#[tokio::test]
async fn permanent_failures_are_not_retried() {
    let mut registry = Registry::new();
    registry.register("broken", |_run: Run<i64>| async move {
        Err::<Outcome, _>(FunctionError::permanent("bad input"))
    });
    let url = serve_endpoint(registry).await;
    let info = run_to_end(&fast_scheduler(5), call(&url, "broken", 0)).await;
    assert_eq!(status(&info), Status::PermanentError);
    assert_eq!(info.attempts, 1);
    assert!(error_message(&info).contains("bad input"));
}

#[tokio::test]
async fn an_unknown_function_is_not_found_at_once() {
    let url = serve_endpoint(arithmetic()).await;
    let info = run_to_end(&fast_scheduler(5), call(&url, "missing", 0)).await;
    assert_eq!(status(&info), Status::NotFound);
    assert_eq!(info.attempts, 1);
}

#[tokio::test]
async fn a_tail_call_replaces_the_function() {
    let mut registry = arithmetic();
    registry.register("double_later", |run: Run<i64>| async move {
        let Directive::Input(n) = run.directive else {
            return Err(FunctionError::permanent("no resume expected"));
        };
        let endpoint = run.endpoint_url.as_deref().unwrap_or_default().to_owned();
        Ok(Outcome::tail_call(endpoint::call(
            &endpoint,
            "double",
            0,
            &(n + 1),
        )))
    });
    let url = serve_endpoint(registry).await;
    let info = run_to_end(&fast_scheduler(3), call(&url, "double_later", 4)).await;
    assert_eq!(status(&info), Status::Ok);
    assert_eq!(output_i64(&info), 10);
    assert_eq!(info.function, "double");
    assert_eq!(info.attempts, 2);
}

/// `sum_of_doubles(n)` polls `double(1..=n)` with `min_results` 1 and
/// `max_results` 2, so the results come over several resumes; its state is
/// `"n,sum,received"`.
fn summing() -> Registry {
    let mut registry = arithmetic();
    registry.register("sum_of_doubles", |run: Run<i64>| async move {
        let endpoint = run.endpoint_url.as_deref().unwrap_or_default().to_owned();
        let (n, sum, received) = match &run.directive {
            Directive::Input(n) => {
                let mut poll = Poll::new(&format!("{n},0,0"))
                    .min_results(1)
                    .max_results(2)
                    .max_wait(Duration::from_secs(60));
                for k in 1..=*n {
                    poll = poll.call(endpoint::call(&endpoint, "double", k as u64, &k));
                }
                return Ok(Outcome::poll(poll));
            }
            Directive::Resume(resume) => {
                let state: String = resume.state()?;
                let parts: Vec<i64> = state.split(',').map(|p| p.parse().unwrap()).collect();
                if resume.results().is_empty() || resume.results().len() > 2 {
                    return Err(FunctionError::permanent(format!(
                        "{} results in one resume",
                        resume.results().len()
                    )));
                }
                let mut sum = parts[1];
                for result in resume.results() {
                    let output = result.output.as_ref().expect("an output");
                    sum += output.to_msg::<i64>().unwrap();
                }
                (parts[0], sum, parts[2] + resume.results().len() as i64)
            }
        };
        if received == n {
            return Ok(Outcome::value(&sum));
        }
        Ok(Outcome::poll(
            Poll::new(&format!("{n},{sum},{received}"))
                .min_results(1)
                .max_results(2)
                .max_wait(Duration::from_secs(60)),
        ))
    });
    registry
}

#[tokio::test]
async fn a_poll_dispatches_its_calls_and_resumes_with_their_results() {
    let url = serve_endpoint(summing()).await;
    let scheduler = fast_scheduler(3);
    let info = run_to_end(&scheduler, call(&url, "sum_of_doubles", 5)).await;
    assert_eq!(status(&info), Status::Ok, "{:?}", info.outcome);
    assert_eq!(output_i64(&info), 30);
    // One first run, then at least three resumes (5 results, at most 2 each).
    assert!(info.attempts >= 4, "{} attempts", info.attempts);
}

#[tokio::test]
async fn children_know_their_parent_and_root() {
    let mut registry = Registry::new();
    registry.register("lineage", |run: Run<i64>| async move {
        Ok(Outcome::value(&format!(
            "{},{}",
            run.parent_dispatch_id, run.root_dispatch_id
        )))
    });
    registry.register("ask_child", |run: Run<i64>| async move {
        let endpoint = run.endpoint_url.as_deref().unwrap_or_default().to_owned();
        match run.directive {
            Directive::Input(_) => Ok(Outcome::poll(
                Poll::new(&0u64).call(endpoint::call(&endpoint, "lineage", 9, &0i64)),
            )),
            Directive::Resume(resume) => {
                let result = resume.result(9).expect("the child's result");
                Ok(Outcome::any(result.output.clone().expect("an output")))
            }
        }
    });
    let url = serve_endpoint(registry).await;
    let info = run_to_end(&fast_scheduler(3), call(&url, "ask_child", 0)).await;
    assert_eq!(status(&info), Status::Ok, "{:?}", info.outcome);
    let output = info
        .outcome
        .as_ref()
        .unwrap()
        .result
        .output
        .as_ref()
        .unwrap();
    let id = &info.dispatch_id;
    assert_eq!(output.to_msg::<String>().unwrap(), format!("{id},{id}"));
}

#[tokio::test]
async fn an_expired_call_ends_with_timeout() {
    let mut registry = Registry::new();
    registry.register("sleepy", |_run: Run<i64>| async move {
        tokio::time::sleep(Duration::from_secs(30)).await;
        Ok(Outcome::none())
    });
    let url = serve_endpoint(registry).await;
    let mut call = call(&url, "sleepy", 0);
    call.expiration = Some(prost_types::Duration {
        seconds: 1,
        nanos: 0,
    });
    let info = run_to_end(&fast_scheduler(10), call).await;
    assert_eq!(status(&info), Status::Timeout);
    assert!(
        error_message(&info).contains("expired"),
        "{}",
        error_message(&info)
    );
}

#[tokio::test]
async fn an_unreachable_endpoint_is_a_tcp_error_after_the_retries() {
    // Bind, then drop, a port: nothing listens there.
    let address = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let info = run_to_end(
        &fast_scheduler(3),
        call(&format!("http://{address}"), "double", 1),
    )
    .await;
    assert_eq!(status(&info), Status::TcpError);
    assert_eq!(info.attempts, 3);
    assert!(error_message(&info).contains(&address.to_string()));
}

#[tokio::test]
async fn a_garbage_answer_is_an_invalid_response() {
    let address = raw_server(Some(
        b"HTTP/1.1 200 OK\r\ncontent-type: application/proto\r\ncontent-length: 3\r\n\r\n\xff\xff\xff",
    ))
    .await;
    let info = run_to_end(
        &fast_scheduler(3),
        call(&format!("http://{address}"), "double", 1),
    )
    .await;
    assert_eq!(status(&info), Status::InvalidResponse);
    assert_eq!(info.attempts, 1);
}

#[tokio::test]
async fn a_non_http_answer_is_retried_then_reported() {
    let address = raw_server(Some(b"hello, I am not HTTP\r\n\r\n")).await;
    let info = run_to_end(
        &fast_scheduler(2),
        call(&format!("http://{address}"), "double", 1),
    )
    .await;
    assert_eq!(status(&info), Status::HttpError);
    assert_eq!(info.attempts, 2);
}

#[tokio::test]
async fn a_silent_endpoint_times_out() {
    let address = raw_server(None).await;
    let scheduler = Scheduler::new(
        scheduler_support::fast_config(2).attempt_timeout(Duration::from_millis(300)),
    )
    .unwrap();
    let info = run_to_end(&scheduler, call(&format!("http://{address}"), "double", 1)).await;
    assert_eq!(status(&info), Status::Timeout);
    assert_eq!(info.attempts, 2);
}

#[tokio::test]
async fn invalid_calls_are_refused_all_or_none() {
    let scheduler = fast_scheduler(1);
    let good = call("http://127.0.0.1:1", "double", 1);
    let bad = call("ftp://example.com", "double", 1);
    let error = scheduler.dispatch(vec![good, bad]).await.unwrap_err();
    assert!(error.to_string().contains("calls[1].endpoint"), "{error}");
}

#[tokio::test]
async fn a_poll_resumes_after_max_wait_with_what_is_in() {
    let mut registry = Registry::new();
    registry.register("never", |_run: Run<i64>| async move {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Ok(Outcome::none())
    });
    registry.register("impatient", |run: Run<i64>| async move {
        let endpoint = run.endpoint_url.as_deref().unwrap_or_default().to_owned();
        match run.directive {
            Directive::Input(_) => Ok(Outcome::poll(
                Poll::new(&0u64)
                    .call(endpoint::call(&endpoint, "never", 1, &0i64))
                    .min_results(1)
                    .max_wait(Duration::from_secs(1)),
            )),
            Directive::Resume(resume) => Ok(Outcome::value(&(resume.results().len() as i64))),
        }
    });
    let url = serve_endpoint(registry).await;
    let info = run_to_end(&fast_scheduler(3), call(&url, "impatient", 0)).await;
    assert_eq!(status(&info), Status::Ok, "{:?}", info.outcome);
    assert_eq!(output_i64(&info), 0);
}

/// An endpoint answering every Run with `answer(request)`, built by hand so
/// that it can say what our own endpoint never would.
async fn hand_made_endpoint(answer: fn(pb::RunRequest) -> pb::RunResponse) -> String {
    use http_body_util::{BodyExt, Full};
    use prost::Message as _;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let service = hyper::service::service_fn(
                move |request: hyper::Request<hyper::body::Incoming>| async move {
                    let body = request.into_body().collect().await.unwrap().to_bytes();
                    let response = answer(pb::RunRequest::decode(body).unwrap());
                    let mut http = hyper::Response::new(Full::new(bytes::Bytes::from(
                        response.encode_to_vec(),
                    )));
                    http.headers_mut()
                        .insert("content-type", "application/proto".parse().unwrap());
                    Ok::<_, core::convert::Infallible>(http)
                },
            );
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service),
            );
        }
    });
    url
}

#[tokio::test]
async fn a_poll_with_an_invalid_call_resumes_with_a_poll_error() {
    use pb::run_request::Directive as Asked;
    let url = hand_made_endpoint(|request| match request.directive {
        Some(Asked::Input(_)) => Outcome::poll(Poll::new(&0u64).call(pb::Call {
            function: "not a name".into(),
            endpoint: "http://127.0.0.1:1".into(),
            ..Default::default()
        }))
        .into_response(),
        Some(Asked::PollResult(result)) => {
            let message = result.error.map(|e| e.message).unwrap_or_default();
            Outcome::value(&message).into_response()
        }
        None => Outcome::none().into_response(),
    })
    .await;
    let info = run_to_end(&fast_scheduler(3), call(&url, "bad_poll", 0)).await;
    assert_eq!(status(&info), Status::Ok, "{:?}", info.outcome);
    let output = info
        .outcome
        .as_ref()
        .unwrap()
        .result
        .output
        .as_ref()
        .unwrap();
    let message = output.to_msg::<String>().unwrap();
    assert!(message.contains("poll.calls[0]"), "{message}");
}

#[tokio::test]
async fn a_response_without_a_directive_is_an_invalid_response() {
    let url = hand_made_endpoint(|_| pb::RunResponse {
        status: pb::Status::Ok as i32,
        directive: None,
    })
    .await;
    let info = run_to_end(&fast_scheduler(3), call(&url, "empty", 0)).await;
    assert_eq!(status(&info), Status::InvalidResponse);
    assert_eq!(info.attempts, 1);
}

#[tokio::test]
async fn a_tail_call_with_a_temporary_status_is_followed_after_a_backoff() {
    // dispatch-py's `Reset`: restart as another call, reported TEMPORARY_ERROR.
    let mut registry = arithmetic();
    registry.register("reset_to_double", |run: Run<i64>| async move {
        let endpoint = run.endpoint_url.as_deref().unwrap_or_default().to_owned();
        let Directive::Input(n) = run.directive else {
            return Err(FunctionError::permanent("no resume expected"));
        };
        Ok(
            Outcome::tail_call(endpoint::call(&endpoint, "double", 0, &n))
                .with_status(Status::TemporaryError),
        )
    });
    let url = serve_endpoint(registry).await;
    let info = run_to_end(&fast_scheduler(3), call(&url, "reset_to_double", 5)).await;
    assert_eq!(status(&info), Status::Ok, "{:?}", info.outcome);
    assert_eq!(output_i64(&info), 10);
}

#[test]
fn dispatching_outside_a_runtime_is_an_error_not_a_panic() {
    let scheduler = fast_scheduler(1);
    // The future polled by hand, outside any runtime.
    let future = scheduler.dispatch(vec![call("http://127.0.0.1:1", "double", 1)]);
    let mut future = core::pin::pin!(future);
    let mut context = core::task::Context::from_waker(core::task::Waker::noop());
    let core::task::Poll::Ready(Err(error)) = future.as_mut().poll(&mut context) else {
        panic!("dispatch outside a runtime did not fail at once");
    };
    assert_eq!(error, DispatchError::NoRuntime);
}

#[tokio::test]
async fn a_poll_without_calls_is_a_timer() {
    let mut registry = Registry::new();
    registry.register("nap", |run: Run<i64>| async move {
        match run.directive {
            Directive::Input(_) => Ok(Outcome::poll(
                Poll::new(&0u64).max_wait(Duration::from_secs(1)),
            )),
            Directive::Resume(resume) => Ok(Outcome::value(&(resume.results().len() as i64))),
        }
    });
    let url = serve_endpoint(registry).await;
    let info = run_to_end(&fast_scheduler(3), call(&url, "nap", 0)).await;
    assert_eq!(status(&info), Status::Ok, "{:?}", info.outcome);
    assert_eq!(output_i64(&info), 0);
    assert_eq!(info.attempts, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_requests_in_flight_stay_under_the_endpoint_limit() {
    let current = Arc::new(AtomicU32::new(0));
    let highest = Arc::new(AtomicU32::new(0));
    let mut registry = Registry::new();
    let (now, top) = (Arc::clone(&current), Arc::clone(&highest));
    registry.register("slow", move |_run: Run<i64>| {
        let (now, top) = (Arc::clone(&now), Arc::clone(&top));
        async move {
            let inside = now.fetch_add(1, Ordering::SeqCst) + 1;
            top.fetch_max(inside, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            now.fetch_sub(1, Ordering::SeqCst);
            Ok(Outcome::value(&1i64))
        }
    });
    let url = serve_endpoint(registry).await;
    let scheduler =
        Scheduler::new(scheduler_support::fast_config(3).max_in_flight_per_endpoint(4)).unwrap();
    let calls = (0..40).map(|_| call(&url, "slow", 0)).collect();
    let ids = scheduler.dispatch(calls).await.unwrap();
    for id in &ids {
        let info = scheduler.wait(id, None).await.unwrap();
        assert_eq!(status(&info), Status::Ok, "{:?}", info.outcome);
    }
    let highest = highest.load(Ordering::SeqCst);
    assert!(highest <= 4, "{highest} requests in flight at once");
    assert!(highest >= 2, "the limit is not a queue of one ({highest})");
}

#[tokio::test]
async fn a_dispatch_request_over_the_call_limit_is_refused_whole() {
    let scheduler =
        Scheduler::new(scheduler_support::fast_config(1).max_dispatch_calls(3)).unwrap();
    let calls = (0..4)
        .map(|_| call("http://127.0.0.1:1", "double", 1))
        .collect();
    let error = scheduler.dispatch(calls).await.unwrap_err();
    assert!(
        error
            .to_string()
            .contains("4 calls in one Dispatch request; at most 3"),
        "{error}"
    );
}

/// A TCP relay to `target` that counts the connections made to it.
async fn counting_relay(target: &str) -> (String, Arc<AtomicU32>) {
    let target = target.trim_start_matches("http://").to_owned();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let count = Arc::new(AtomicU32::new(0));
    let counter = Arc::clone(&count);
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            let target = target.clone();
            tokio::spawn(async move {
                let mut outbound = tokio::net::TcpStream::connect(target).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            });
        }
    });
    (url, count)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_to_an_endpoint_are_reused() {
    let (url, connections) = counting_relay(&serve_endpoint(arithmetic()).await).await;
    let scheduler =
        Scheduler::new(scheduler_support::fast_config(3).max_in_flight_per_endpoint(4)).unwrap();
    for _ in 0..5 {
        let calls = (0..100).map(|_| call(&url, "double", 1)).collect();
        let ids = scheduler.dispatch(calls).await.unwrap();
        for id in &ids {
            let info = scheduler.wait(id, None).await.unwrap();
            assert_eq!(status(&info), Status::Ok, "{:?}", info.outcome);
        }
    }
    // 500 Run requests, at most 4 at a time: a few connections, kept alive.
    let connections = connections.load(Ordering::SeqCst);
    assert!(
        (1..=8).contains(&connections),
        "{connections} connections for 500 requests"
    );
}

#[tokio::test]
async fn a_retry_info_in_a_throttled_refusal_delays_the_retry() {
    // google.rpc.RetryInfo { retry_delay: 1 s }, base64 without padding.
    let body = r#"{"code":"resource_exhausted","message":"slow down","details":[{"type":"google.rpc.RetryInfo","value":"CgIIAQ"}]}"#;
    let answer = format!(
        "HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let address = raw_server(Some(Box::leak(answer.into_bytes().into_boxed_slice()))).await;
    let started = std::time::Instant::now();
    let info = run_to_end(
        &fast_scheduler(2),
        call(&format!("http://{address}"), "double", 1),
    )
    .await;
    assert_eq!(status(&info), Status::Throttled, "{:?}", info.outcome);
    assert_eq!(info.attempts, 2);
    assert!(
        error_message(&info).contains("slow down"),
        "{}",
        error_message(&info)
    );
    // The backoff alone is 2 to 4 ms; the endpoint asked for 1 s.
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}
