//! The run loop: one task per dispatched call, from its first Run request to
//! its outcome.

use core::time::Duration;
use std::collections::VecDeque;

use std::sync::Arc;
use std::time::SystemTime;

use dispatch_core::proto::sdk::v1 as pb;
use dispatch_core::status::{Retry, Status};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::attempt::{self, AttemptConfig, Failure};
use crate::store::{RunInfo, RunOutcome};
use crate::{Inner, RetryPolicy, scheduler_error};

/// Where a child run sits in its tree.
struct Lineage {
    parent: String,
    root: String,
}

/// Starts a run of `call` in its own task and returns its dispatch id.
/// `parent` is the run that dispatched it through a poll, with the channel
/// its result goes to; `None` for a run dispatched through the API.
pub(crate) fn start(
    inner: &Arc<Inner>,
    runtime: &tokio::runtime::Handle,
    call: pb::Call,
    lineage: Option<(&str, &str)>,
    report: Option<mpsc::UnboundedSender<pb::CallResult>>,
) -> String {
    let id = inner.store.new_id();
    let lineage = match lineage {
        Some((parent, root)) => Lineage {
            parent: parent.to_owned(),
            root: root.to_owned(),
        },
        None => Lineage {
            parent: String::new(),
            root: id.clone(),
        },
    };
    inner.store.insert(RunInfo {
        dispatch_id: id.clone(),
        function: call.function.clone(),
        endpoint: call.endpoint.clone(),
        parent_dispatch_id: lineage.parent.clone(),
        root_dispatch_id: lineage.root.clone(),
        attempts: 0,
        outcome: None,
    });
    let task_inner = Arc::clone(inner);
    let task_id = id.clone();
    runtime.spawn(async move {
        let outcome = drive(&task_inner, &task_id, call, lineage).await;
        tracing::info!(
            target: "dispatch::scheduler",
            dispatch_id = %task_id,
            status = %outcome.status,
            "run done"
        );
        task_inner.store.finish(&task_id, outcome.clone());
        if let Some(report) = report {
            // The parent may be done already (expired); its result is then moot.
            let _ = report.send(outcome.result);
        }
    });
    id
}

/// What a Run response asks the scheduler to do next.
enum Step {
    /// The run is over.
    Done(Status, pb::CallResult),
    /// The attempt failed; retry it if the status is temporary.
    Failed(Status, pb::CallResult),
    /// Run this call in place of the function, after a backoff if the status
    /// is temporary.
    TailCall(Status, pb::Call),
    /// Dispatch these calls and resume with their results.
    Poll(pb::Poll),
}

/// Drives one run to its outcome.
async fn drive(inner: &Arc<Inner>, id: &str, call: pb::Call, lineage: Lineage) -> RunOutcome {
    let config = &inner.config;
    let correlation_id = call.correlation_id;
    let outcome = |status: Status, mut result: pb::CallResult| {
        result.correlation_id = correlation_id;
        id.clone_into(&mut result.dispatch_id);
        RunOutcome { status, result }
    };
    let fail = |status: Status, message: String| {
        outcome(
            status,
            pb::CallResult {
                error: Some(scheduler_error(status, message)),
                ..Default::default()
            },
        )
    };

    let expiration = call
        .expiration
        .and_then(|d| Duration::try_from(d).ok())
        .filter(|d| !d.is_zero())
        .unwrap_or(config.default_expiration);
    let created = SystemTime::now();
    let creation_time = Some(prost_types::Timestamp::from(created));
    let expiration_time = created
        .checked_add(expiration)
        .map(prost_types::Timestamp::from);
    let deadline = Instant::now()
        .checked_add(expiration)
        .unwrap_or_else(far_future);

    let mut children = Children::new();
    let mut endpoint = call.endpoint;
    let mut function = call.function;
    let mut directive = pb::run_request::Directive::Input(call.input.unwrap_or_default());
    // Attempts at the current step; reset when the run makes progress.
    let mut attempt: u32 = 0;

    loop {
        let now = Instant::now();
        if now >= deadline {
            return fail(
                Status::Timeout,
                format!("the call expired: it did not finish within {expiration:?}"),
            );
        }
        attempt = attempt.saturating_add(1);
        let request = pb::RunRequest {
            function: function.clone(),
            directive: Some(directive.clone()),
            dispatch_id: id.to_owned(),
            parent_dispatch_id: lineage.parent.clone(),
            root_dispatch_id: lineage.root.clone(),
            creation_time,
            expiration_time,
        };
        inner.store.attempted(id, &function, &endpoint);
        let started = Instant::now();
        let answer = match attempt::run_url(&endpoint) {
            Ok(url) => {
                let attempt_config = AttemptConfig {
                    http: &inner.http,
                    signing_key: config.signing_key.as_ref(),
                    timeout: config.attempt_timeout.min(deadline - now),
                    body_limit: config.body_limit,
                };
                attempt::attempt(&attempt_config, &url, &request).await
            }
            Err(failure) => Err(failure),
        };
        let step = match answer {
            Ok(response) => step_of(response),
            Err(Failure { status, message }) => Step::Failed(
                status,
                pb::CallResult {
                    error: Some(scheduler_error(status, message)),
                    ..Default::default()
                },
            ),
        };
        log_attempt(&function, id, attempt, &step, started.elapsed());

        match step {
            Step::Done(status, result) => return outcome(status, result),
            Step::Failed(status, result) => {
                if !status.is_temporary() || attempt >= config.retry.max_attempts() {
                    return outcome(status, result);
                }
                backoff(&config.retry, attempt, deadline).await;
            }
            Step::TailCall(status, call) => {
                if status.is_temporary() {
                    if attempt >= config.retry.max_attempts() {
                        return fail(
                            status,
                            format!("tail call to {} refused: {status}", call.function),
                        );
                    }
                    backoff(&config.retry, attempt, deadline).await;
                } else {
                    attempt = 0;
                }
                if !call.endpoint.is_empty() {
                    endpoint = call.endpoint;
                }
                function = call.function;
                directive = pb::run_request::Directive::Input(call.input.unwrap_or_default());
            }
            Step::Poll(poll) => {
                attempt = 0;
                let result = children
                    .poll(inner, id, &lineage, &endpoint, poll, deadline)
                    .await;
                directive = pb::run_request::Directive::PollResult(result);
            }
        }
    }
}

/// What to do after a Run response (docs/protocol/connect.md).
fn step_of(response: pb::RunResponse) -> Step {
    use pb::run_response::Directive;
    let status = Status::from_number(response.status).unwrap_or(Status::Unspecified);
    match response.directive {
        Some(Directive::Exit(exit)) => {
            if let Some(call) = exit.tail_call {
                return match status.retry() {
                    Retry::Permanent => Step::Failed(
                        status,
                        exit.result.unwrap_or_else(|| {
                            error_result(status, "the function ended with a tail call")
                        }),
                    ),
                    Retry::Temporary | Retry::NotApplicable => Step::TailCall(status, call),
                };
            }
            let mut result = exit.result.unwrap_or_default();
            match status.retry() {
                // dispatch-go's rule: no status means OK, unless there is an error.
                Retry::NotApplicable => {
                    let status = if status == Status::Unspecified && result.error.is_some() {
                        Status::PermanentError
                    } else if status == Status::Unspecified {
                        Status::Ok
                    } else {
                        status
                    };
                    Step::Done(status, result)
                }
                Retry::Temporary | Retry::Permanent => {
                    if result.error.is_none() {
                        result.error = Some(scheduler_error(
                            status,
                            format!("the function ended with {status}"),
                        ));
                    }
                    Step::Failed(status, result)
                }
            }
        }
        Some(Directive::Poll(poll)) => match status.retry() {
            Retry::NotApplicable => Step::Poll(poll),
            Retry::Temporary | Retry::Permanent => Step::Failed(
                status,
                error_result(status, "the function suspended with a failure status"),
            ),
        },
        None => Step::Failed(
            Status::InvalidResponse,
            error_result(
                Status::InvalidResponse,
                "the RunResponse has neither an exit nor a poll",
            ),
        ),
    }
}

fn error_result(status: Status, message: &str) -> pb::CallResult {
    pb::CallResult {
        error: Some(scheduler_error(status, message)),
        ..Default::default()
    }
}

/// One log line per attempt: function, dispatch id, attempt, status, duration.
fn log_attempt(function: &str, id: &str, attempt: u32, step: &Step, elapsed: Duration) {
    let duration_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
    let (status, next, error) = match step {
        Step::Done(status, result) => (*status, "exit", result.error.as_ref()),
        Step::Failed(status, result) => (*status, "failed", result.error.as_ref()),
        Step::TailCall(status, _) => (*status, "tail_call", None),
        Step::Poll(_) => (Status::Ok, "poll", None),
    };
    match error {
        Some(error) => tracing::info!(
            target: "dispatch::scheduler",
            function,
            dispatch_id = id,
            attempt,
            status = %status,
            duration_ms,
            next,
            error = %format_args!("{}: {}", error.r#type, error.message),
            "attempt"
        ),
        None => tracing::info!(
            target: "dispatch::scheduler",
            function,
            dispatch_id = id,
            attempt,
            status = %status,
            duration_ms,
            next,
            "attempt"
        ),
    }
}

/// Sleeps for the retry policy's jittered wait after failed attempt
/// `attempt`, never past `deadline`.
async fn backoff(retry: &RetryPolicy, attempt: u32, deadline: Instant) {
    let wake = Instant::now()
        .checked_add(retry.backoff(attempt))
        .unwrap_or_else(far_future)
        .min(deadline);
    tokio::time::sleep_until(wake).await;
}

/// An instant no run reaches (about 30 years on).
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365 * 30)
}

/// The child runs of one run: how many are still going and the results that
/// came in but were not delivered yet.
struct Children {
    sender: mpsc::UnboundedSender<pb::CallResult>,
    receiver: mpsc::UnboundedReceiver<pb::CallResult>,
    outstanding: usize,
    ready: VecDeque<pb::CallResult>,
}

impl Children {
    fn new() -> Self {
        let (sender, receiver) = mpsc::unbounded_channel();
        Children {
            sender,
            receiver,
            outstanding: 0,
            ready: VecDeque::new(),
        }
    }

    /// Dispatches the poll's calls (all, or none if one is invalid), waits
    /// for `min_results` results (never more than can still come) or
    /// `max_wait`, and returns the poll result with at most `max_results`
    /// results. A poll with no call and no result to come waits `max_wait`.
    async fn poll(
        &mut self,
        inner: &Arc<Inner>,
        id: &str,
        lineage: &Lineage,
        endpoint: &str,
        poll: pb::Poll,
        deadline: Instant,
    ) -> pb::PollResult {
        let state = poll.state.map(|state| match state {
            pb::poll::State::CoroutineState(bytes) => pb::poll_result::State::CoroutineState(bytes),
            pb::poll::State::TypedCoroutineState(any) => {
                pb::poll_result::State::TypedCoroutineState(any)
            }
        });
        let mut calls = poll.calls;
        for call in &mut calls {
            // A call without an endpoint goes to the caller's endpoint.
            if call.endpoint.is_empty() {
                endpoint.clone_into(&mut call.endpoint);
            }
        }
        let invalid = calls.iter().enumerate().find_map(|(index, call)| {
            dispatch_core::validate::validate_call(call)
                .err()
                .map(|error| format!("poll.calls[{index}]: {error}"))
        });
        if let Some(message) = invalid {
            tracing::info!(target: "dispatch::scheduler", dispatch_id = id, %message, "poll refused");
            return pb::PollResult {
                state,
                results: Vec::new(),
                error: Some(scheduler_error(Status::InvalidArgument, message)),
            };
        }
        let root = if lineage.root.is_empty() {
            id
        } else {
            &lineage.root
        };
        let runtime = tokio::runtime::Handle::current();
        for call in calls {
            start(
                inner,
                &runtime,
                call,
                Some((id, root)),
                Some(self.sender.clone()),
            );
            self.outstanding += 1;
        }

        let max_results = match usize::try_from(poll.max_results) {
            Ok(0) | Err(_) => 1000,
            Ok(n) => n.min(1000),
        };
        let min_results = usize::try_from(poll.min_results)
            .unwrap_or(1)
            .clamp(1, max_results)
            .min(self.ready.len() + self.outstanding);
        // Nothing can come in: the poll is a timer (a durable sleep), and
        // resuming at once would spin the function against its endpoint.
        let sleep = self.ready.is_empty() && self.outstanding == 0;
        let max_wait = poll
            .max_wait
            .and_then(|d| Duration::try_from(d).ok())
            .filter(|d| !d.is_zero())
            .unwrap_or(inner.config.default_max_wait);
        let until = Instant::now()
            .checked_add(max_wait)
            .unwrap_or_else(far_future)
            .min(deadline);
        if sleep {
            tokio::time::sleep_until(until).await;
        }
        while self.ready.len() < min_results {
            tokio::select! {
                received = self.receiver.recv() => match received {
                    Some(result) => self.receive(result),
                    None => break,
                },
                () = tokio::time::sleep_until(until) => break,
            }
        }
        while let Ok(result) = self.receiver.try_recv() {
            self.receive(result);
        }
        let take = self.ready.len().min(max_results);
        pb::PollResult {
            state,
            results: self.ready.drain(..take).collect(),
            error: None,
        }
    }

    fn receive(&mut self, result: pb::CallResult) {
        self.outstanding = self.outstanding.saturating_sub(1);
        self.ready.push_back(result);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exit(status: Status, result: Option<pb::CallResult>, tail: Option<pb::Call>) -> Step {
        step_of(pb::RunResponse {
            status: status.number(),
            directive: Some(pb::run_response::Directive::Exit(pb::Exit {
                result,
                tail_call: tail,
            })),
        })
    }

    fn with_error() -> Option<pb::CallResult> {
        Some(pb::CallResult {
            error: Some(pb::Error::default()),
            ..Default::default()
        })
    }

    #[test]
    fn no_status_is_ok_unless_there_is_an_error() {
        assert!(matches!(
            exit(Status::Unspecified, None, None),
            Step::Done(Status::Ok, _)
        ));
        assert!(matches!(
            exit(Status::Unspecified, with_error(), None),
            Step::Done(Status::PermanentError, _)
        ));
    }

    #[test]
    fn failures_carry_an_error() {
        match exit(Status::Throttled, None, None) {
            Step::Failed(Status::Throttled, result) => {
                let error = result.error.unwrap();
                assert_eq!(error.r#type, "STATUS_THROTTLED");
            }
            _ => panic!("not a failure"),
        }
    }

    #[test]
    fn tail_calls_are_followed_unless_permanent() {
        let call = Some(pb::Call::default());
        assert!(matches!(
            exit(Status::Ok, None, call.clone()),
            Step::TailCall(Status::Ok, _)
        ));
        assert!(matches!(
            exit(Status::TemporaryError, None, call.clone()),
            Step::TailCall(Status::TemporaryError, _)
        ));
        assert!(matches!(
            exit(Status::NotFound, None, call),
            Step::Failed(Status::NotFound, _)
        ));
    }

    #[test]
    fn polls_with_a_failure_status_are_failures() {
        let poll = |status: Status| {
            step_of(pb::RunResponse {
                status: status.number(),
                directive: Some(pb::run_response::Directive::Poll(pb::Poll::default())),
            })
        };
        assert!(matches!(poll(Status::Ok), Step::Poll(_)));
        assert!(matches!(poll(Status::Unspecified), Step::Poll(_)));
        assert!(matches!(
            poll(Status::Timeout),
            Step::Failed(Status::Timeout, _)
        ));
    }

    #[test]
    fn unknown_status_numbers_count_as_unspecified() {
        let step = step_of(pb::RunResponse {
            status: 999,
            directive: Some(pb::run_response::Directive::Exit(pb::Exit::default())),
        });
        assert!(matches!(step, Step::Done(Status::Ok, _)));
    }
}
