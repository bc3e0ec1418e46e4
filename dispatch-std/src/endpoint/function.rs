//! What a function receives ([`Run`], [`Directive`], [`Resume`]) and what it
//! returns ([`Outcome`], [`Poll`], [`FunctionError`]).

use core::fmt;
use core::time::Duration;
use std::sync::Arc;

use dispatch_core::proto::sdk::v1 as pb;
use dispatch_core::status::Status;
use prost_types::Any;

use dispatch_core::any::{self, AnyMessage};

/// One run of a function, as the scheduler asked for it.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Run<I> {
    /// The name of the function being run.
    pub function: String,
    /// The id of this dispatch (the same on every retry and resume).
    pub dispatch_id: String,
    /// The id of the dispatch that called this one, if any.
    pub parent_dispatch_id: String,
    /// The id of the root of the call tree.
    pub root_dispatch_id: String,
    /// When the dispatch was created.
    pub creation_time: Option<prost_types::Timestamp>,
    /// When the dispatch expires.
    pub expiration_time: Option<prost_types::Timestamp>,
    /// This endpoint's public URL (`DISPATCH_ENDPOINT_URL`), to address calls
    /// to functions of the same endpoint.
    pub endpoint_url: Option<Arc<str>>,
    /// A first run with its input, or a resume with the results of a poll.
    pub directive: Directive<I>,
}

impl<I> Run<I> {
    /// A run of `function` with this directive and no ids, times or
    /// endpoint URL: what a test of a handler needs.
    ///
    /// ```
    /// use dispatch_std::endpoint::{Directive, Run};
    /// let run = Run::new("greet", Directive::Input("Ada".to_string()));
    /// assert_eq!(run.function, "greet");
    /// ```
    pub fn new(function: impl Into<String>, directive: Directive<I>) -> Self {
        Run {
            function: function.into(),
            dispatch_id: String::new(),
            parent_dispatch_id: String::new(),
            root_dispatch_id: String::new(),
            creation_time: None,
            expiration_time: None,
            endpoint_url: None,
            directive,
        }
    }

    /// The same run with its input mapped through `f`.
    pub fn map_input<J>(self, f: impl FnOnce(I) -> J) -> Run<J> {
        Run {
            function: self.function,
            dispatch_id: self.dispatch_id,
            parent_dispatch_id: self.parent_dispatch_id,
            root_dispatch_id: self.root_dispatch_id,
            creation_time: self.creation_time,
            expiration_time: self.expiration_time,
            endpoint_url: self.endpoint_url,
            directive: match self.directive {
                Directive::Input(input) => Directive::Input(f(input)),
                Directive::Resume(resume) => Directive::Resume(resume),
            },
        }
    }
}

/// Why a function is being run.
#[derive(Clone, Debug)]
pub enum Directive<I> {
    /// A first run, with the function's input.
    Input(I),
    /// A resume after a [`Poll`]: the results and the state the poll carried.
    Resume(Resume),
}

/// What a resume delivers: the state handed to [`Poll`], the call results
/// received so far, and the poll-level error, if any.
#[derive(Clone, Debug, PartialEq)]
pub struct Resume {
    state: Any,
    results: Vec<pb::CallResult>,
    error: Option<pb::Error>,
}

impl Resume {
    /// A resume with this state, these results and this poll-level error.
    pub fn new(state: Any, results: Vec<pb::CallResult>, error: Option<pb::Error>) -> Self {
        Resume {
            state,
            results,
            error,
        }
    }

    /// The state, decoded as `M`; an `INCOMPATIBLE_STATE` error when it does
    /// not hold an `M` (for example after a deployment changed its type).
    pub fn state<M: AnyMessage>(&self) -> Result<M, FunctionError> {
        any::unpack(&self.state).map_err(|error| {
            FunctionError::new(
                Status::IncompatibleState,
                "IncompatibleState",
                format!(
                    "the poll state ({:?}) is unusable: {error}",
                    self.state.type_url
                ),
            )
        })
    }

    /// The state as the `Any` the function handed to [`Poll`].
    pub fn state_any(&self) -> &Any {
        &self.state
    }

    /// Every call result delivered by this resume.
    pub fn results(&self) -> &[pb::CallResult] {
        &self.results
    }

    /// The result of the call with this correlation id, if it was delivered.
    /// Results with ids the function does not know are simply never asked for
    /// (delivery is at least once).
    pub fn result(&self, correlation_id: u64) -> Option<&pb::CallResult> {
        self.results
            .iter()
            .find(|result| result.correlation_id == correlation_id)
    }

    /// The poll-level error: none of the poll's calls were dispatched.
    pub fn error(&self) -> Option<&pb::Error> {
        self.error.as_ref()
    }

    /// The state, the results and the poll-level error, taken apart.
    pub(crate) fn into_parts(self) -> (Any, Vec<pb::CallResult>, Option<pb::Error>) {
        (self.state, self.results, self.error)
    }
}

/// How a run ends when it does not fail: the `RunResponse` it becomes.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Outcome {
    /// The function returned (an `Exit` with a result).
    Return {
        /// The output value, if any.
        output: Option<Any>,
        /// The status reported with it, normally `OK`.
        status: Status,
    },
    /// The function ends by calling another one in its place.
    TailCall {
        /// The call made in place of this function's result.
        call: pb::Call,
        /// The status reported with it, normally `OK`.
        status: Status,
    },
    /// The function suspends until some results of its calls are in.
    Poll(Poll),
}

impl Outcome {
    /// Returns `value`, packed in an `Any` (see [`dispatch_core::any::pack`]).
    ///
    /// ```
    /// use dispatch_std::endpoint::Outcome;
    /// let outcome = Outcome::value(&"hello".to_string());
    /// assert!(matches!(outcome, Outcome::Return { output: Some(_), .. }));
    /// ```
    pub fn value<M: AnyMessage>(value: &M) -> Self {
        Outcome::any(any::pack(value))
    }

    /// Returns an `Any` as is (opaque values pass through unchanged).
    pub fn any(output: Any) -> Self {
        Outcome::Return {
            output: Some(output),
            status: Status::Ok,
        }
    }

    /// Returns without an output value.
    pub fn none() -> Self {
        Outcome::Return {
            output: None,
            status: Status::Ok,
        }
    }

    /// Ends with a tail call.
    pub fn tail_call(call: pb::Call) -> Self {
        Outcome::TailCall {
            call,
            status: Status::Ok,
        }
    }

    /// Suspends with a poll.
    pub fn poll(poll: Poll) -> Self {
        Outcome::Poll(poll)
    }

    /// The same outcome reported with another status (polls are always `OK`).
    pub fn with_status(self, new_status: Status) -> Self {
        match self {
            Outcome::Return { output, .. } => Outcome::Return {
                output,
                status: new_status,
            },
            Outcome::TailCall { call, .. } => Outcome::TailCall {
                call,
                status: new_status,
            },
            poll @ Outcome::Poll(_) => poll,
        }
    }

    /// The `RunResponse` for this outcome.
    pub fn into_response(self) -> pb::RunResponse {
        use pb::run_response::Directive as D;
        match self {
            Outcome::Return { output, status } => pb::RunResponse {
                status: status.number(),
                directive: Some(D::Exit(pb::Exit {
                    result: Some(pb::CallResult {
                        output,
                        ..Default::default()
                    }),
                    tail_call: None,
                })),
            },
            Outcome::TailCall { call, status } => pb::RunResponse {
                status: status.number(),
                directive: Some(D::Exit(pb::Exit {
                    // The protocol requires a result, even an empty one.
                    result: Some(pb::CallResult::default()),
                    tail_call: Some(call),
                })),
            },
            Outcome::Poll(poll) => pb::RunResponse {
                status: Status::Ok.number(),
                directive: Some(D::Poll(poll.into_proto())),
            },
        }
    }
}

/// The default `max_wait` of a [`Poll`] (dispatch-go's value).
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(300);

/// A suspension: calls to make, an opaque state to get back on resume, how
/// many results to wait for and for how long.
///
/// ```
/// use dispatch_std::endpoint::Poll;
/// use std::time::Duration;
/// let poll = Poll::new(&7u64)
///     .min_results(1)
///     .max_wait(Duration::from_secs(10));
/// assert_eq!(poll.calls().len(), 0);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Poll {
    state: Any,
    calls: Vec<pb::Call>,
    min_results: Option<u32>,
    max_results: Option<u32>,
    max_wait: Duration,
}

impl Poll {
    /// A poll carrying `state` (packed in an `Any`), no calls
    /// yet, `min_results` = `max_results` = the number of calls, and a
    /// `max_wait` of [`DEFAULT_MAX_WAIT`].
    pub fn new<M: AnyMessage>(state: &M) -> Self {
        Poll::with_state(any::pack(state))
    }

    /// A poll carrying an already packed state.
    pub fn with_state(state: Any) -> Self {
        Poll {
            state,
            calls: Vec::new(),
            min_results: None,
            max_results: None,
            max_wait: DEFAULT_MAX_WAIT,
        }
    }

    /// Adds a call; its `correlation_id` identifies its result on resume.
    pub fn call(mut self, call: pb::Call) -> Self {
        self.calls.push(call);
        self
    }

    /// The calls so far.
    pub fn calls(&self) -> &[pb::Call] {
        &self.calls
    }

    /// Resume once at least this many results are in (1 to 1000).
    pub fn min_results(mut self, count: u32) -> Self {
        self.min_results = Some(count);
        self
    }

    /// Resume with at most this many results (1 to 1000).
    pub fn max_results(mut self, count: u32) -> Self {
        self.max_results = Some(count);
        self
    }

    /// Resume after this long even with fewer than `min_results` results.
    pub fn max_wait(mut self, wait: Duration) -> Self {
        self.max_wait = wait;
        self
    }

    /// The `Poll` message.
    pub fn into_proto(self) -> pb::Poll {
        let outstanding = u32::try_from(self.calls.len()).unwrap_or(u32::MAX);
        let count = |chosen: Option<u32>| {
            i32::try_from(chosen.unwrap_or(outstanding).clamp(1, 1000)).unwrap_or(1000)
        };
        pb::Poll {
            calls: self.calls,
            max_wait: Some(prost_types::Duration {
                seconds: i64::try_from(self.max_wait.as_secs()).unwrap_or(i64::MAX),
                nanos: i32::try_from(self.max_wait.subsec_nanos()).unwrap_or(0),
            }),
            max_results: count(self.max_results),
            min_results: count(self.min_results),
            state: Some(pb::poll::State::TypedCoroutineState(self.state)),
        }
    }
}

/// A call to `function` at `endpoint` with `input` packed in an `Any`;
/// `correlation_id` identifies its result when the caller resumes.
pub fn call<M: AnyMessage>(
    endpoint: &str,
    function: &str,
    correlation_id: u64,
    input: &M,
) -> pb::Call {
    pb::Call {
        correlation_id,
        endpoint: endpoint.to_owned(),
        function: function.to_owned(),
        input: Some(any::pack(input)),
        ..Default::default()
    }
}

/// A failed run: an `Exit` whose result holds an `Error`, with the `Status`
/// that tells the scheduler whether to retry.
///
/// Any `core::error::Error` converts into it (so `?` works in functions), and
/// its status is classified from the error and its sources: I/O errors by
/// kind (timeouts `TIMEOUT`, connection failures `TCP_ERROR`, …), elapsed
/// tokio timeouts `TIMEOUT`, everything else `PERMANENT_ERROR`. The
/// constructors set a status directly: [`FunctionError::throttled`] for rate
/// limits, [`FunctionError::from_http_status`] for an HTTP response.
///
/// It deliberately does not implement `core::error::Error` itself, which is
/// what lets every error convert into it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionError {
    status: Status,
    type_name: String,
    message: String,
}

impl FunctionError {
    /// An error with this status, error type name and message.
    pub fn new(status: Status, type_name: impl Into<String>, message: impl Into<String>) -> Self {
        FunctionError {
            status,
            type_name: type_name.into(),
            message: message.into(),
        }
    }

    /// A deadline was exceeded: `TIMEOUT` (temporary).
    pub fn timeout(message: impl Into<String>) -> Self {
        FunctionError::new(Status::Timeout, "Timeout", message)
    }

    /// A rate limit was hit: `THROTTLED` (temporary).
    pub fn throttled(message: impl Into<String>) -> Self {
        FunctionError::new(Status::Throttled, "Throttled", message)
    }

    /// A transient failure: `TEMPORARY_ERROR`.
    pub fn temporary(message: impl Into<String>) -> Self {
        FunctionError::new(Status::TemporaryError, "TemporaryError", message)
    }

    /// A failure that retrying will not fix: `PERMANENT_ERROR`.
    pub fn permanent(message: impl Into<String>) -> Self {
        FunctionError::new(Status::PermanentError, "PermanentError", message)
    }

    /// The input cannot be used: `INVALID_ARGUMENT` (permanent).
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        FunctionError::new(Status::InvalidArgument, "InvalidArgument", message)
    }

    /// An HTTP response with this status code, classified by the HTTP →
    /// Status table both SDKs share (429 `THROTTLED`, 408 `TIMEOUT`, other
    /// 5xx `TEMPORARY_ERROR`, 4xx mostly permanent).
    pub fn from_http_status(code: u16, message: impl Into<String>) -> Self {
        FunctionError::new(Status::from_http_status(code), "HTTPError", message)
    }

    /// The status reported to the scheduler.
    pub fn status(&self) -> Status {
        self.status
    }

    /// The error's type name (the `Error.type` field).
    pub fn type_name(&self) -> &str {
        &self.type_name
    }

    /// The error's message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The same error reported with another status.
    pub fn with_status(mut self, status: Status) -> Self {
        self.status = status;
        self
    }

    /// The `RunResponse` that reports this error.
    pub fn into_response(self) -> pb::RunResponse {
        pb::RunResponse {
            status: self.status.number(),
            directive: Some(pb::run_response::Directive::Exit(pb::Exit {
                result: Some(pb::CallResult {
                    error: Some(pb::Error {
                        r#type: self.type_name,
                        message: self.message,
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                tail_call: None,
            })),
        }
    }
}

impl fmt::Display for FunctionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} ({})",
            self.type_name,
            self.message,
            self.status.name()
        )
    }
}

impl<E: core::error::Error + Send + Sync + 'static> From<E> for FunctionError {
    fn from(error: E) -> Self {
        let full_name = core::any::type_name::<E>();
        // The last path segment, without generic arguments.
        let base = full_name.split('<').next().unwrap_or(full_name);
        let short = base.rsplit("::").next().unwrap_or(base);
        FunctionError::new(classify_error(&error), short, error.to_string())
    }
}

/// The status of an error, from the error itself or the first source in its
/// chain that says something: an `std::io::Error` by kind, a tokio timeout,
/// else `PERMANENT_ERROR`.
pub fn classify_error(error: &(dyn core::error::Error + 'static)) -> Status {
    let mut current = Some(error);
    let mut depth = 0;
    while let Some(error) = current {
        if let Some(status) = error
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io_status(io.kind()))
        {
            return status;
        }
        if error.is::<tokio::time::error::Elapsed>() {
            return Status::Timeout;
        }
        depth += 1;
        if depth > 16 {
            return Status::Unspecified;
        }
        current = error.source();
    }
    Status::PermanentError
}

/// The status of an I/O error kind, mirroring dispatch-go's errno table.
fn io_status(kind: std::io::ErrorKind) -> Option<Status> {
    use std::io::ErrorKind as K;
    Some(match kind {
        K::TimedOut => Status::Timeout,
        K::ConnectionRefused
        | K::ConnectionReset
        | K::ConnectionAborted
        | K::NotConnected
        | K::AddrNotAvailable
        | K::BrokenPipe
        | K::NetworkDown
        | K::NetworkUnreachable
        | K::HostUnreachable => Status::TcpError,
        K::PermissionDenied => Status::PermissionDenied,
        K::NotFound => Status::NotFound,
        K::InvalidInput => Status::InvalidArgument,
        K::WouldBlock | K::Interrupted | K::UnexpectedEof | K::QuotaExceeded => {
            Status::TemporaryError
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_are_classified_by_kind() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(FunctionError::from(refused).status(), Status::TcpError);
        let timed_out = std::io::Error::from(std::io::ErrorKind::TimedOut);
        let error = FunctionError::from(timed_out);
        assert_eq!(error.status(), Status::Timeout);
        assert_eq!(error.type_name(), "Error");
    }

    #[test]
    fn other_errors_are_permanent() {
        let error = FunctionError::from("x".parse::<u32>().unwrap_err());
        assert_eq!(error.status(), Status::PermanentError);
        assert_eq!(error.type_name(), "ParseIntError");
    }

    #[test]
    fn http_statuses_follow_the_shared_table() {
        assert_eq!(
            FunctionError::from_http_status(429, "").status(),
            Status::Throttled
        );
        assert_eq!(
            FunctionError::from_http_status(503, "").status(),
            Status::TemporaryError
        );
    }

    #[test]
    fn poll_defaults_count_the_calls() {
        let poll = Poll::new(&1u64)
            .call(call("http://x", "f", 1, &"a".to_string()))
            .call(call("http://x", "f", 2, &"b".to_string()))
            .into_proto();
        assert_eq!((poll.min_results, poll.max_results), (2, 2));
        assert_eq!(poll.max_wait.map(|d| d.seconds), Some(300));
    }
}
