//! The machine stepped on virtual time: no clock, no I/O.

use super::*;

const T0: u64 = 1_700_000_000_000;

fn config() -> MachineConfig {
    MachineConfig {
        default_expiration: Duration::from_secs(60),
        default_max_wait: Duration::from_secs(10),
        attempt_timeout: Duration::from_secs(5),
        backoff: Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(2),
            max_attempts: None,
        },
        max_in_flight_per_endpoint: 64,
        max_in_flight: 1024,
        max_pause: Duration::from_secs(60),
        deliver_locally: true,
    }
}

fn call(function: &str) -> pb::Call {
    pb::Call {
        function: function.into(),
        endpoint: "http://127.0.0.1:1".into(),
        ..Default::default()
    }
}

fn sends(machine: &mut Machine) -> Vec<SendRun> {
    let mut out = Vec::new();
    while let Some(action) = machine.poll_action() {
        if let Action::Send(send) = action {
            out.push(send);
        }
    }
    out
}

fn actions(machine: &mut Machine) -> Vec<Action> {
    core::iter::from_fn(|| machine.poll_action()).collect()
}

fn exit(status: Status, output: Option<prost_types::Any>) -> pb::RunResponse {
    pb::RunResponse {
        status: status.number(),
        directive: Some(pb::run_response::Directive::Exit(pb::Exit {
            result: Some(pb::CallResult {
                output,
                ..Default::default()
            }),
            tail_call: None,
        })),
    }
}

fn poll(calls: Vec<pb::Call>, min: i32, max: i32, max_wait_s: i64) -> pb::RunResponse {
    pb::RunResponse {
        status: Status::Ok.number(),
        directive: Some(pb::run_response::Directive::Poll(pb::Poll {
            calls,
            min_results: min,
            max_results: max,
            max_wait: (max_wait_s > 0).then_some(prost_types::Duration {
                seconds: max_wait_s,
                nanos: 0,
            }),
            state: Some(pb::poll::State::CoroutineState(b"s".to_vec())),
        })),
    }
}

fn failure(status: Status) -> Failure {
    Failure {
        status,
        message: "down".into(),
        retry_after: None,
        http_status: None,
    }
}

fn finished(actions: &[Action]) -> Vec<(String, Status)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Finished { run, status, .. } => Some((run.clone(), *status)),
            Action::Send(_) => None,
        })
        .collect()
}

fn marker(n: u8) -> prost_types::Any {
    prost_types::Any {
        type_url: "t".into(),
        value: vec![n],
    }
}

#[test]
fn a_return_is_the_outcome_and_is_recorded_once() {
    let mut m = Machine::new(config(), 1);
    let ids = m.dispatch(T0, vec![call("f")]);
    assert_eq!(m.take_changes().len(), 1);
    let send = sends(&mut m).remove(0);
    assert_eq!(send.request.dispatch_id, ids[0]);
    assert_eq!(send.request.root_dispatch_id, ids[0]);
    assert_eq!(send.timeout, Duration::from_secs(5));
    m.handle_answer(T0 + 5, &ids[0], send.attempt, Ok(exit(Status::Ok, None)))
        .unwrap();
    let done = finished(&actions(&mut m));
    assert_eq!(done, vec![(ids[0].clone(), Status::Ok)]);
    let changes = m.take_changes();
    assert_eq!(changes.len(), 1);
    assert!(changes[0].is_done());
    assert!(m.is_empty());
    // A duplicate answer (at-least-once delivery) changes nothing.
    assert!(
        m.handle_answer(T0 + 6, &ids[0], send.attempt, Ok(exit(Status::Ok, None)))
            .is_none()
    );
    assert!(actions(&mut m).is_empty());
}

#[test]
fn temporary_failures_back_off_exponentially_with_capped_jitter_until_expiration() {
    let mut m = Machine::new(config(), 42);
    let id = m.dispatch(T0, vec![call("f")]).remove(0);
    let mut now = T0;
    let mut waits = Vec::new();
    while let Some(send) = sends(&mut m).pop() {
        let attempted = m
            .handle_answer(now, &id, send.attempt, Err(failure(Status::TcpError)))
            .unwrap();
        let Some(wake) = m.poll_timeout() else { break };
        if attempted.next == "retry" {
            waits.push(wake - now);
        }
        now = wake;
        m.handle_timeout(now);
        if m.is_empty() {
            break;
        }
    }
    // Each wait is in [base/2, base], base = 100 ms doubling up to 2 s (the
    // last is cut short by the expiration).
    waits.pop();
    for (i, wait) in waits.iter().enumerate() {
        let base = config().backoff.base(u32::try_from(i).unwrap() + 1);
        let base = u64::try_from(base.as_millis()).unwrap();
        assert!(
            *wait >= base / 2 && *wait <= base,
            "wait {i}: {wait} vs {base}"
        );
    }
    // Retried for the whole minute (far more than 10 attempts), then timeout.
    assert!(waits.len() > 30, "{} retries", waits.len());
    assert!(now >= T0 + 60_000);
    let done = finished(&actions(&mut m));
    assert_eq!(done, vec![(id, Status::Timeout)]);
    let result = m.take_changes().pop().unwrap().result.unwrap();
    assert!(result.error.unwrap().message.contains("STATUS_TCP_ERROR"));
}

#[test]
fn the_same_seed_gives_the_same_jitter() {
    let waits = |seed| {
        let mut m = Machine::new(config(), seed);
        let id = m.dispatch(T0, vec![call("f")]).remove(0);
        let send = sends(&mut m).remove(0);
        m.handle_answer(T0, &id, send.attempt, Err(failure(Status::Throttled)));
        m.poll_timeout().unwrap()
    };
    assert_eq!(waits(9), waits(9));
}

#[test]
fn retry_after_is_honoured_and_max_attempts_ends_retries() {
    let mut cfg = config();
    cfg.backoff.max_attempts = Some(2);
    let mut m = Machine::new(cfg, 3);
    let id = m.dispatch(T0, vec![call("f")]).remove(0);
    let send = sends(&mut m).remove(0);
    let asked = Failure {
        retry_after: Some(Duration::from_secs(7)),
        ..failure(Status::Throttled)
    };
    m.handle_answer(T0, &id, send.attempt, Err(asked));
    assert_eq!(m.poll_timeout(), Some(T0 + 7000));
    m.handle_timeout(T0 + 6999);
    assert!(sends(&mut m).is_empty());
    m.handle_timeout(T0 + 7000);
    let send = sends(&mut m).remove(0);
    m.handle_answer(
        T0 + 7001,
        &id,
        send.attempt,
        Err(failure(Status::Throttled)),
    );
    assert_eq!(finished(&actions(&mut m)), vec![(id, Status::Throttled)]);
}

#[test]
fn permanent_failures_end_the_run_at_once() {
    let mut m = Machine::new(config(), 3);
    let id = m.dispatch(T0, vec![call("f")]).remove(0);
    let send = sends(&mut m).remove(0);
    m.handle_answer(T0, &id, send.attempt, Err(failure(Status::NotFound)));
    assert_eq!(finished(&actions(&mut m)), vec![(id, Status::NotFound)]);
}

#[test]
fn a_tail_call_replaces_the_function_and_keeps_the_id() {
    let mut m = Machine::new(config(), 3);
    let id = m.dispatch(T0, vec![call("f")]).remove(0);
    let send = sends(&mut m).remove(0);
    let tail = pb::RunResponse {
        status: Status::Ok.number(),
        directive: Some(pb::run_response::Directive::Exit(pb::Exit {
            result: None,
            tail_call: Some(pb::Call {
                function: "g".into(),
                input: Some(marker(5)),
                ..Default::default()
            }),
        })),
    };
    m.handle_answer(T0, &id, send.attempt, Ok(tail));
    let send = sends(&mut m).remove(0);
    assert_eq!(send.request.function, "g");
    assert_eq!(send.request.dispatch_id, id);
    assert_eq!(send.endpoint, "http://127.0.0.1:1");
    assert_eq!(
        send.request.directive,
        Some(pb::run_request::Directive::Input(marker(5)))
    );
}

/// Starts a root that polls on `n` children; returns (root, child sends).
fn parent_with_children(m: &mut Machine, n: usize, min: i32, max: i32) -> (String, Vec<SendRun>) {
    let id = m.dispatch(T0, vec![call("parent")]).remove(0);
    let send = sends(m).remove(0);
    let calls = (0..n)
        .map(|i| pb::Call {
            correlation_id: i as u64,
            function: "child".into(),
            ..Default::default()
        })
        .collect();
    m.handle_answer(T0, &id, send.attempt, Ok(poll(calls, min, max, 30)));
    (id, sends(m))
}

#[test]
fn a_poll_resumes_once_min_results_are_in_with_out_of_order_results() {
    let mut m = Machine::new(config(), 5);
    let (root, children) = parent_with_children(&mut m, 3, 2, 0);
    assert_eq!(children.len(), 3);
    for child in &children {
        assert_eq!(child.request.parent_dispatch_id, root);
        assert_eq!(child.request.root_dispatch_id, root);
        assert_eq!(
            child.endpoint, "http://127.0.0.1:1",
            "the caller's endpoint"
        );
    }
    // The third child finishes first, then the first.
    let c = &children[2];
    m.handle_answer(
        T0 + 1,
        &c.run,
        c.attempt,
        Ok(exit(Status::Ok, Some(marker(3)))),
    );
    assert!(sends(&mut m).is_empty(), "one result is not enough");
    let c = &children[0];
    m.handle_answer(
        T0 + 2,
        &c.run,
        c.attempt,
        Ok(exit(Status::Ok, Some(marker(1)))),
    );
    // Both results and the parent's new state are one batch of changes.
    let changes = m.take_changes();
    assert!(changes.iter().any(|r| r.id == root));
    let resume = sends(&mut m).remove(0);
    assert_eq!(resume.run, root);
    let Some(pb::run_request::Directive::PollResult(result)) = resume.request.directive else {
        panic!("not a resume")
    };
    assert_eq!(
        result.state,
        Some(pb::poll_result::State::CoroutineState(b"s".to_vec()))
    );
    let got: Vec<(u64, &str)> = result
        .results
        .iter()
        .map(|r| (r.correlation_id, r.dispatch_id.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![(2, children[2].run.as_str()), (0, children[0].run.as_str())]
    );
}

#[test]
fn max_results_caps_a_resume_and_the_rest_wait_for_the_next_poll() {
    let mut m = Machine::new(config(), 5);
    let (root, children) = parent_with_children(&mut m, 3, 3, 2);
    for (i, c) in children.iter().enumerate() {
        let output = Some(marker(u8::try_from(i).unwrap()));
        m.handle_answer(T0 + 1, &c.run, c.attempt, Ok(exit(Status::Ok, output)));
    }
    let resume = sends(&mut m).remove(0);
    let Some(pb::run_request::Directive::PollResult(result)) = resume.request.directive else {
        panic!()
    };
    assert_eq!(result.results.len(), 2);
    // The function polls again with no calls: the third result is there.
    m.handle_answer(T0 + 2, &root, resume.attempt, Ok(poll(vec![], 1, 0, 30)));
    let resume = sends(&mut m).remove(0);
    let Some(pb::run_request::Directive::PollResult(result)) = resume.request.directive else {
        panic!()
    };
    assert_eq!(result.results.len(), 1);
}

#[test]
fn a_poll_resumes_after_max_wait_with_what_is_in() {
    let mut m = Machine::new(config(), 5);
    let (root, children) = parent_with_children(&mut m, 2, 2, 0);
    let c = &children[0];
    m.handle_answer(T0 + 1, &c.run, c.attempt, Ok(exit(Status::Ok, None)));
    assert!(sends(&mut m).is_empty());
    // Child 1 is retried in the meantime, so timers may fire before.
    let c = &children[1];
    m.handle_answer(
        T0 + 1,
        &c.run,
        c.attempt,
        Err(failure(Status::TemporaryError)),
    );
    let mut now;
    let resume = loop {
        now = m.poll_timeout().unwrap();
        m.handle_timeout(now);
        if let Some(send) = sends(&mut m).into_iter().find(|s| s.run == root) {
            break send;
        }
    };
    assert_eq!(now, T0 + 30_000);
    let Some(pb::run_request::Directive::PollResult(result)) = resume.request.directive else {
        panic!()
    };
    assert_eq!(result.results.len(), 1);
}

#[test]
fn a_poll_without_calls_is_a_durable_sleep() {
    let mut m = Machine::new(config(), 5);
    let id = m.dispatch(T0, vec![call("sleeper")]).remove(0);
    let send = sends(&mut m).remove(0);
    m.handle_answer(T0, &id, send.attempt, Ok(poll(vec![], 1, 0, 0)));
    assert!(sends(&mut m).is_empty());
    assert_eq!(m.poll_timeout(), Some(T0 + 10_000), "the default max_wait");
    m.handle_timeout(T0 + 10_000);
    assert_eq!(sends(&mut m).len(), 1);
}

#[test]
fn a_poll_with_an_invalid_call_resumes_with_an_error() {
    let mut m = Machine::new(config(), 5);
    let id = m.dispatch(T0, vec![call("p")]).remove(0);
    let send = sends(&mut m).remove(0);
    let bad = pb::Call::default(); // no function
    m.handle_answer(T0, &id, send.attempt, Ok(poll(vec![bad], 1, 0, 5)));
    let resume = sends(&mut m).remove(0);
    assert_eq!(resume.run, id);
    let Some(pb::run_request::Directive::PollResult(result)) = resume.request.directive else {
        panic!()
    };
    assert_eq!(result.error.unwrap().r#type, "STATUS_INVALID_ARGUMENT");
    assert_eq!(m.len(), 1, "no child started");
}

#[test]
fn a_child_finishing_after_its_parent_expired_is_dropped() {
    let mut m = Machine::new(config(), 5);
    let (root, children) = parent_with_children(&mut m, 1, 1, 0);
    // The child fails temporarily and is retried; the parent expires first
    // (its poll waits 30 s but the call lives 60 s: step to 60 s).
    let c = &children[0];
    m.handle_answer(T0, &c.run, c.attempt, Err(failure(Status::TemporaryError)));
    m.handle_timeout(T0 + 30_000);
    let resume = sends(&mut m).into_iter().find(|s| s.run == root).unwrap();
    m.handle_answer(
        T0 + 30_001,
        &root,
        resume.attempt,
        Ok(poll(vec![], 1, 0, 50)),
    );
    m.handle_timeout(T0 + 60_000);
    let done = finished(&actions(&mut m));
    assert!(done.contains(&(root.clone(), Status::Timeout)), "{done:?}");
    m.take_changes();
    // The child (dispatched at T0 with the same lifetime) is also out of time;
    // whatever ends it, nothing reaches the parent and nothing panics.
    let late = m.dispatch(T0 + 60_000, vec![]);
    assert!(late.is_empty());
    for send in sends(&mut m) {
        m.handle_answer(
            T0 + 60_001,
            &send.run,
            send.attempt,
            Ok(exit(Status::Ok, None)),
        );
    }
    assert!(m.run(&root).is_none());
    for change in m.take_changes() {
        assert_ne!(change.id, root, "the expired parent is never changed again");
    }
}

#[test]
fn a_child_result_for_a_live_parent_is_delivered_even_when_it_is_not_polling() {
    let mut m = Machine::new(config(), 5);
    let (root, children) = parent_with_children(&mut m, 2, 1, 0);
    let c = &children[0];
    m.handle_answer(T0 + 1, &c.run, c.attempt, Ok(exit(Status::Ok, None)));
    let resume = sends(&mut m).remove(0);
    assert_eq!(resume.run, root);
    // The parent is in flight when the second child ends.
    let c = &children[1];
    m.handle_answer(T0 + 2, &c.run, c.attempt, Ok(exit(Status::Ok, None)));
    assert_eq!(m.run(&root).unwrap().ready.len(), 1);
    m.handle_answer(T0 + 3, &root, resume.attempt, Ok(poll(vec![], 1, 0, 30)));
    assert_eq!(
        sends(&mut m).len(),
        1,
        "resumed at once with the waiting result"
    );
}

#[test]
fn expiration_ends_a_run_in_flight_and_ignores_its_late_answer() {
    let mut m = Machine::new(config(), 5);
    let mut c = call("slow");
    c.expiration = Some(prost_types::Duration {
        seconds: 2,
        nanos: 0,
    });
    let id = m.dispatch(T0, vec![c]).remove(0);
    let send = sends(&mut m).remove(0);
    assert_eq!(
        send.timeout,
        Duration::from_secs(2),
        "never past the expiration"
    );
    assert_eq!(m.poll_timeout(), Some(T0 + 2000));
    m.handle_timeout(T0 + 2000);
    assert_eq!(
        finished(&actions(&mut m)),
        vec![(id.clone(), Status::Timeout)]
    );
    assert!(
        m.handle_answer(T0 + 2500, &id, send.attempt, Ok(exit(Status::Ok, None)))
            .is_none()
    );
}

#[test]
fn restored_runs_resend_what_was_in_flight() {
    let mut m = Machine::new(config(), 5);
    let (root, _children) = parent_with_children(&mut m, 2, 2, 0);
    let saved = m.take_changes();
    // A new process: the same states, a new seed.
    let mut m = Machine::new(config(), 6);
    m.restore(T0 + 100, saved.clone());
    let resent = sends(&mut m);
    assert!(resent.is_empty(), "nothing sent before the timers fire");
    m.handle_timeout(T0 + 100);
    let resent = sends(&mut m);
    assert_eq!(resent.len(), 2, "both children again, at least once");
    for c in &resent {
        m.handle_answer(T0 + 200, &c.run, c.attempt, Ok(exit(Status::Ok, None)));
    }
    let resume = sends(&mut m).remove(0);
    assert_eq!(resume.run, root);
    // State survives encoding.
    use prost::Message as _;
    for state in saved {
        assert_eq!(
            RunState::decode(state.encode_to_vec().as_slice()).unwrap(),
            state
        );
    }
}

#[test]
fn no_status_is_ok_unless_there_is_an_error() {
    assert!(matches!(
        step_of(exit(Status::Unspecified, None)),
        Step::Done(Status::Ok, _)
    ));
    let with_error = pb::RunResponse {
        status: 0,
        directive: Some(pb::run_response::Directive::Exit(pb::Exit {
            result: Some(pb::CallResult {
                error: Some(pb::Error::default()),
                ..Default::default()
            }),
            tail_call: None,
        })),
    };
    assert!(matches!(
        step_of(with_error),
        Step::Done(Status::PermanentError, _)
    ));
    let no_directive = pb::RunResponse {
        status: 0,
        directive: None,
    };
    assert!(matches!(
        step_of(no_directive),
        Step::Failed(Status::InvalidResponse, _)
    ));
}

fn call_to(endpoint: &str) -> pb::Call {
    pb::Call {
        endpoint: endpoint.into(),
        ..call("f")
    }
}

fn limited(per_endpoint: usize, global: usize) -> Machine {
    let mut cfg = config();
    cfg.max_in_flight_per_endpoint = per_endpoint;
    cfg.max_in_flight = global;
    cfg.default_expiration = Duration::from_secs(3600);
    Machine::new(cfg, 11)
}

const A: &str = "http://a.test:8000";
const B: &str = "http://b.test:8000";

fn refused(http_status: u16, retry_after: Option<Duration>) -> Failure {
    Failure {
        retry_after,
        http_status: Some(http_status),
        ..failure(Status::from_http_status(http_status))
    }
}

#[test]
fn the_window_halves_on_throttling_once_per_window_and_grows_back_by_one() {
    let mut m = limited(8, 1000);
    m.dispatch(T0, (0..2000).map(|_| call_to(A)).collect());
    let mut out: VecDeque<SendRun> = sends(&mut m).into();
    assert_eq!(out.len(), 8, "no more than the limit goes out");
    assert_eq!(m.throttle.window(A), Some((8, 8)));

    // Two refusals of requests sent under the same window: halved once.
    let first = out.pop_front().unwrap();
    m.handle_answer(T0 + 1, &first.run, first.attempt, Err(refused(429, None)));
    let second = out.pop_front().unwrap();
    m.handle_answer(T0 + 2, &second.run, second.attempt, Err(refused(429, None)));
    assert_eq!(m.throttle.window(A), Some((4, 6)));
    assert!(sends(&mut m).is_empty(), "6 in flight, the window is 4");

    // Answers come back: the window is never exceeded, and grows back to the
    // limit, by one per window's worth of answers.
    let mut now = T0 + 10;
    let mut windows = vec![4];
    let mut answered = 0;
    while let Some(send) = out.pop_front() {
        now += 1;
        m.handle_answer(now, &send.run, send.attempt, Ok(exit(Status::Ok, None)));
        answered += 1;
        let new = sends(&mut m);
        let (window, in_flight) = m.throttle.window(A).unwrap();
        // Over the window only while the requests sent before the shrink
        // are out; nothing new goes out then.
        assert!(
            new.is_empty() || in_flight <= window,
            "{in_flight} in flight, window {window}"
        );
        assert!(window <= 8);
        out.extend(new);
        assert_eq!(in_flight, out.len());
        if windows.last() != Some(&window) {
            windows.push(window);
        }
        if window == 8 {
            break;
        }
    }
    assert_eq!(windows, vec![4, 5, 6, 7, 8]);
    assert_eq!(answered, 4 + 5 + 6 + 7, "one more per window's worth");
    // A run that was refused is retried later, not lost.
    assert!(m.run(&first.run).is_some());
}

#[test]
fn a_throttled_run_response_and_a_503_shrink_the_window_a_transport_failure_does_not() {
    let mut m = limited(8, 1000);
    m.dispatch(T0, (0..100).map(|_| call_to(A)).collect());
    let mut out = sends(&mut m);
    let tcp = out.remove(0);
    m.handle_answer(
        T0 + 1,
        &tcp.run,
        tcp.attempt,
        Err(failure(Status::TcpError)),
    );
    assert_eq!(m.throttle.window(A), Some((8, 8)));
    out.extend(sends(&mut m));
    assert_eq!(out.len(), 8, "its slot went to the next");
    let throttled = out.remove(0);
    let response = exit(Status::Throttled, None);
    m.handle_answer(T0 + 2, &throttled.run, throttled.attempt, Ok(response));
    assert_eq!(m.throttle.window(A).map(|w| w.0), Some(4));
    assert!(sends(&mut m).is_empty());
    for send in out.drain(..4) {
        m.handle_answer(T0 + 3, &send.run, send.attempt, Ok(exit(Status::Ok, None)));
    }
    // Sent after the first shrink: a 503 shrinks it again.
    let after = sends(&mut m).pop().unwrap();
    m.handle_answer(T0 + 3, &after.run, after.attempt, Err(refused(503, None)));
    assert_eq!(m.throttle.window(A).map(|w| w.0), Some(2));
}

#[test]
fn a_retry_after_pauses_the_endpoints_sends_and_not_the_others() {
    let mut m = limited(4, 1000);
    m.dispatch(T0, (0..10).map(|_| call_to(A)).collect());
    let out = sends(&mut m);
    assert_eq!(out.len(), 4);
    let delay = Some(Duration::from_secs(3));
    m.handle_answer(
        T0 + 10,
        &out[0].run,
        out[0].attempt,
        Err(refused(429, delay)),
    );
    for send in &out[1..] {
        m.handle_answer(T0 + 20, &send.run, send.attempt, Ok(exit(Status::Ok, None)));
    }
    assert!(sends(&mut m).is_empty(), "paused, with free slots");
    assert_eq!(m.poll_timeout(), Some(T0 + 3010));
    // Another endpoint is not held back.
    m.dispatch(T0 + 30, vec![call_to(B)]);
    let other = sends(&mut m);
    assert_eq!(other.len(), 1);
    assert_eq!(other[0].endpoint, B);
    m.handle_timeout(T0 + 3009);
    assert!(sends(&mut m).is_empty());
    m.handle_timeout(T0 + 3010);
    let resumed = sends(&mut m);
    let (window, in_flight) = m.throttle.window(A).unwrap();
    assert!(!resumed.is_empty() && resumed.len() == in_flight && in_flight <= window);
    assert!(resumed.iter().all(|s| s.endpoint == A));
}

#[test]
fn a_pause_is_capped_at_max_pause() {
    let mut m = limited(4, 1000);
    m.dispatch(T0, (0..2).map(|_| call_to(A)).collect());
    let out = sends(&mut m);
    let year = Some(Duration::from_secs(365 * 86400));
    m.handle_answer(T0, &out[0].run, out[0].attempt, Err(refused(429, year)));
    assert_eq!(m.throttle.poll_timeout(), Some(T0 + 60_000));
}

#[test]
fn the_global_limit_caps_every_endpoint_and_endpoints_take_turns() {
    let mut m = limited(4, 4);
    m.dispatch(T0, (0..10).map(|_| call_to(A)).collect());
    m.dispatch(T0, (0..10).map(|_| call_to(B)).collect());
    let out = sends(&mut m);
    // A got the four slots before B's calls came; it is full, so B is first in line.
    assert_eq!(out.len(), 4);
    assert!(out.iter().all(|s| s.endpoint == A));
    // From now on, freed slots alternate between the two.
    let mut now = T0;
    let mut order = Vec::new();
    let mut out: VecDeque<SendRun> = out.into();
    for _ in 0..8 {
        let send = out.pop_front().unwrap();
        now += 1;
        m.handle_answer(now, &send.run, send.attempt, Ok(exit(Status::Ok, None)));
        let next = sends(&mut m);
        assert_eq!(m.in_flight(), 4);
        order.extend(next.iter().map(|s| s.endpoint.clone()));
        out.extend(next);
    }
    assert_eq!(order, [B, A, B, A, B, A, B, A]);
}

#[test]
fn endpoint_state_is_forgotten_once_idle() {
    let mut m = limited(4, 1000);
    let calls = (0..500)
        .map(|i| call_to(&format!("http://host{i}.test:8000")))
        .collect();
    m.dispatch(T0, calls);
    let out = sends(&mut m);
    assert_eq!(out.len(), 500);
    assert_eq!(m.tracked_endpoints(), 500);
    for send in &out {
        m.handle_answer(T0 + 1, &send.run, send.attempt, Ok(exit(Status::Ok, None)));
    }
    assert_eq!(m.tracked_endpoints(), 0);
    assert_eq!(m.in_flight(), 0);

    // A paused endpoint is kept until its pause ends.
    let mut cfg = config();
    cfg.backoff.max_attempts = Some(1);
    let mut m = Machine::new(cfg, 12);
    m.dispatch(T0, vec![call_to(A)]);
    let send = sends(&mut m).remove(0);
    let delay = Some(Duration::from_secs(2));
    m.handle_answer(T0, &send.run, send.attempt, Err(refused(429, delay)));
    assert!(m.is_empty(), "one attempt only: it failed");
    assert_eq!(m.tracked_endpoints(), 1);
    assert_eq!(m.poll_timeout(), Some(T0 + 2000));
    m.handle_timeout(T0 + 2000);
    assert_eq!(m.tracked_endpoints(), 0);
    assert_eq!(m.poll_timeout(), None);
}

#[test]
fn a_request_that_expires_waiting_for_a_slot_is_never_sent() {
    let mut m = limited(1, 1000);
    m.dispatch(T0, vec![call_to(A)]);
    let mut short = call_to(A);
    short.expiration = Some(prost_types::Duration {
        seconds: 1,
        nanos: 0,
    });
    let waiting = m.dispatch(T0, vec![short]).remove(0);
    let long = m.dispatch(T0, vec![call_to(A)]).remove(0);
    let first = sends(&mut m);
    assert_eq!(first.len(), 1);
    m.handle_timeout(T0 + 1000);
    assert_eq!(
        finished(&actions(&mut m)),
        vec![(waiting.clone(), Status::Timeout)]
    );
    m.handle_answer(
        T0 + 1500,
        &first[0].run,
        first[0].attempt,
        Ok(exit(Status::Ok, None)),
    );
    let next = sends(&mut m);
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].run, long, "the expired one is skipped");
    // Its wait for a slot is no part of its attempt's timeout.
    assert_eq!(next[0].timeout, Duration::from_secs(5));
}

#[test]
fn origins_ignore_case_paths_credentials_and_default_ports() {
    use super::throttle::origin;
    assert_eq!(origin("HTTP://Example.COM:80/a/b?q"), "http://example.com");
    assert_eq!(origin("https://u:p@h.test:443/"), "https://h.test");
    assert_eq!(origin("http://h.test:8080"), "http://h.test:8080");
    assert_eq!(
        origin("http://h.test:8080/x"),
        origin("http://h.test:8080/y")
    );
}

#[test]
fn every_attempt_is_recorded_and_the_history_is_bounded() {
    let mut cfg = config();
    cfg.default_expiration = Duration::from_secs(100_000);
    cfg.backoff.max = Duration::from_millis(100);
    let mut m = Machine::new(cfg, 5);
    let id = m.dispatch(T0, vec![call("f")]).remove(0);
    let mut now = T0;
    let total = MAX_HISTORY as u32 + 20;
    for attempt in 1..=total {
        let send = sends(&mut m).remove(0);
        assert_eq!(send.attempt, attempt);
        let answer = if attempt == total {
            Ok(exit(Status::Ok, None))
        } else {
            Err(failure(Status::TemporaryError))
        };
        m.handle_answer(now + 7, &id, send.attempt, answer);
        now = m.poll_timeout().unwrap_or(now + 7).max(now + 7);
        m.handle_timeout(now);
    }
    let done = m.take_changes().into_iter().find(|r| r.id == id).unwrap();
    assert!(done.is_done());
    assert_eq!(done.attempts, total);
    assert_eq!(done.history.len(), MAX_HISTORY, "only the latest are kept");
    let last = done.history.last().unwrap();
    assert_eq!(last.attempt, total);
    assert_eq!(last.status, Status::Ok.number());
    assert_eq!(last.next, "exit");
    assert_eq!(last.duration_ms, 7);
    let before = &done.history[MAX_HISTORY - 2];
    assert_eq!(before.attempt, total - 1);
    assert_eq!(before.next, "retry");
    assert_eq!(before.status, Status::TemporaryError.number());
    assert!(before.error.contains("down"), "{}", before.error);
    assert_eq!(done.history[0].attempt, total - MAX_HISTORY as u32 + 1);
}

#[test]
fn a_poll_call_whose_endpoint_breaks_the_url_rule_resumes_with_an_error() {
    let mut m = Machine::new(config(), 9);
    let id = m.dispatch(T0, vec![call("parent")]).remove(0);
    let send = sends(&mut m).remove(0);
    let bad = pb::Call {
        endpoint: "http:///x".into(),
        ..call("child")
    };
    m.handle_answer(T0 + 1, &id, send.attempt, Ok(poll(vec![bad], 1, 1, 5)));
    let resumed = sends(&mut m).remove(0);
    assert_eq!(resumed.run, id, "no child was started");
    let Some(pb::run_request::Directive::PollResult(result)) = resumed.request.directive else {
        panic!("a poll result");
    };
    let error = result.error.expect("an error");
    assert_eq!(error.r#type, Status::InvalidArgument.name());
    assert!(error.message.contains("poll.calls[0]"), "{}", error.message);
    assert!(error.message.contains("has no host"), "{}", error.message);
}

fn shared() -> MachineConfig {
    MachineConfig {
        deliver_locally: false,
        ..config()
    }
}

#[test]
fn with_shared_runs_a_child_result_waits_for_the_host_and_is_taken_once() {
    let mut m = Machine::new(shared(), 5);
    let (root, children) = parent_with_children(&mut m, 2, 2, 0);
    m.take_changes();
    assert_eq!(m.run(&root).unwrap().children.len(), 2);
    let c = &children[0];
    m.handle_answer(
        T0 + 1,
        &c.run,
        c.attempt,
        Ok(exit(Status::Ok, Some(marker(1)))),
    );
    let changes = m.take_changes();
    assert!(
        changes.iter().all(|r| r.id != root),
        "the parent does not change before the child's outcome is durable"
    );
    let Some(Action::Finished { parent, result, .. }) = actions(&mut m).pop() else {
        panic!("no outcome")
    };
    assert_eq!(parent, root);
    assert!(m.deliver(T0 + 2, &parent, &c.run, result.clone()));
    assert!(!m.deliver(T0 + 2, &parent, &c.run, result), "taken once");
    assert_eq!(m.run(&root).unwrap().outstanding, 1);
    assert!(m.take_changes().iter().any(|r| r.id == root));
    // The other child is held by another process: the parent awaits it.
    assert!(m.forget(T0 + 3, &children[1].run));
    assert_eq!(
        m.awaited_elsewhere(),
        vec![(root.clone(), children[1].run.clone())]
    );
    let result = pb::CallResult {
        output: Some(marker(2)),
        dispatch_id: children[1].run.clone(),
        ..Default::default()
    };
    assert!(m.deliver(T0 + 4, &root, &children[1].run, result));
    let resume = sends(&mut m).remove(0);
    assert_eq!(resume.run, root);
    let Some(pb::run_request::Directive::PollResult(result)) = resume.request.directive else {
        panic!("not a resume")
    };
    assert_eq!(result.results.len(), 2);
    assert!(m.awaited_elsewhere().is_empty());
}

#[test]
fn a_forgotten_run_sends_nothing_and_frees_its_slot() {
    let mut m = limited(1, 10);
    let a = m
        .dispatch(T0, vec![call_to("http://127.0.0.1:1")])
        .remove(0);
    let b = m
        .dispatch(T0, vec![call_to("http://127.0.0.1:1")])
        .remove(0);
    // a's request is queued as an action (not sent); b waits for the slot.
    assert!(m.forget(T0, &a));
    assert!(!m.forget(T0, &a));
    assert!(m.run(&a).is_none());
    let sent = sends(&mut m);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].run, b, "a's slot went to b");
    // An answer for a forgotten run is ignored, its timers are gone.
    assert!(m.forget(T0, &b));
    assert!(
        m.handle_answer(T0 + 1, &b, sent[0].attempt, Ok(exit(Status::Ok, None)))
            .is_none()
    );
    assert_eq!(m.in_flight(), 0);
    assert!(m.poll_timeout().is_none());
    assert!(m.take_changes().is_empty());
}

#[test]
fn a_run_forgotten_in_flight_and_taken_back_keeps_the_count_honest() {
    let mut m = limited(2, 10);
    let a = m
        .dispatch(T0, vec![call_to("http://127.0.0.1:1")])
        .remove(0);
    let first = sends(&mut m).remove(0);
    let state = m.run(&a).unwrap().clone();
    assert!(m.forget(T0, &a));
    assert_eq!(m.in_flight(), 1, "the request sent is still out");
    m.restore(T0 + 1, vec![state]);
    m.handle_timeout(T0 + 1);
    let again = sends(&mut m).remove(0);
    assert_ne!(again.attempt, first.attempt);
    assert_eq!(m.in_flight(), 1);
    // The stale answer is ignored; the new one finishes the run.
    assert!(
        m.handle_answer(T0 + 2, &a, first.attempt, Ok(exit(Status::Ok, None)))
            .is_none()
    );
    assert!(
        m.handle_answer(T0 + 3, &a, again.attempt, Ok(exit(Status::Ok, None)))
            .is_some()
    );
    assert_eq!(m.in_flight(), 0);
}
