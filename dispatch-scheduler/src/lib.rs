//! The self-hosted Dispatch scheduler: what the hosted service does, on one machine.
//!
//! It serves `dispatch.sdk.v1.DispatchService/Dispatch` (Bearer check against
//! the API key, validation of the calls, one id per call) and drives every
//! call it accepts to an outcome:
//!
//! * each step is a `FunctionService/Run` request to the call's endpoint,
//!   signed with the scheduler's Ed25519 key (label `dispatch`, the five
//!   covered components, a sha-512 `Content-Digest`), as the hosted service
//!   signs;
//! * a temporary status (docs/protocol/connect.md), a transport failure or a timeout is
//!   retried with exponential backoff and jitter, up to the retry policy's
//!   number of attempts; a permanent status ends the run;
//! * a tail call replaces the function (same dispatch id) and runs at once;
//! * a `Poll` dispatches its calls as child runs, then resumes the function
//!   with a `PollResult` once `min_results` results are in or `max_wait` has
//!   passed, with at most `max_results` results (later results wait for the
//!   next poll); a poll with no calls and no results to come is a timer: it
//!   resumes after `max_wait`;
//! * the call's `expiration` (default [`SchedulerConfig::default_expiration`])
//!   bounds everything: once past, the run ends with `STATUS_TIMEOUT`;
//! * every run's outcome (status and `CallResult`) is recorded in memory, for
//!   the life of the scheduler (it is a local tool: nothing is persisted, and
//!   nothing is evicted).
//!
//! Every attempt is logged as one `tracing` line with the function, the
//! dispatch id, the attempt number, the status and the duration.
//!
//! Besides the protocol's RPC the server has **one route of its own**, not
//! part of the Dispatch protocol, for tools that want the outcome of a run
//! (see [`WAIT_PATH_PREFIX`]):
//!
//! ```text
//! GET /_dispatch/v1/runs/<dispatch id>?wait_ms=<0..=60000>
//! Authorization: Bearer <DISPATCH_API_KEY>
//! ```
//!
//! It answers `200 application/json` with the run as [`RunInfo::to_json`]
//! writes it, as soon as the run is done or once `wait_ms` has passed
//! (`"done": false` then), and 404 `not_found` for an unknown id (runs live
//! in memory only: a restarted scheduler knows none of its earlier runs).
//!
//! ```no_run
//! use dispatch_scheduler::{Scheduler, SchedulerConfig};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = SchedulerConfig::new().api_key(Some("secret".into()));
//! let scheduler = Scheduler::new(config)?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:4450").await?;
//! scheduler
//!     .serve(listener, async { tokio::signal::ctrl_c().await.ok(); })
//!     .await?;
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]

mod attempt;
pub mod machine;
mod run;
mod server;
mod store;

use core::fmt;
use core::future::Future;
use core::time::Duration;
use std::sync::Arc;

use dispatch_core::proto::sdk::v1 as pb;
use dispatch_core::status::Status;
use ed25519_dalek::SigningKey;

pub use dispatch_std::client::RetryPolicy;
pub use server::{SchedulerService, WAIT_PATH_PREFIX};
pub use store::{RunInfo, RunOutcome};

use store::Store;

/// How a [`Scheduler`] behaves. Every field has a default
/// ([`SchedulerConfig::new`]); the builder methods set them.
#[derive(Clone)]
pub struct SchedulerConfig {
    /// The key `DispatchService/Dispatch` callers must present as
    /// `Authorization: Bearer <key>` (`None`: no check, for tests only).
    pub api_key: Option<String>,
    /// The key Run requests are signed with (`None`: they are sent unsigned,
    /// which only endpoints without a verification key accept).
    pub signing_key: Option<SigningKey>,
    /// Attempts per step and the backoff between them (default: 10 attempts,
    /// 100 ms doubling up to 5 s, jittered).
    pub retry: RetryPolicy,
    /// How long one Run request may take before it counts as a timeout
    /// (`STATUS_TIMEOUT`, retried). Default 60 s.
    pub attempt_timeout: Duration,
    /// The expiration of a call that sets none. Default 1 hour.
    pub default_expiration: Duration,
    /// How long a poll waits when its `max_wait` is unset (dispatch-py leaves
    /// it unset). Default 5 minutes.
    pub default_max_wait: Duration,
    /// The largest response body accepted from an endpoint, and the largest
    /// request body accepted by the Dispatch RPC. Default 16 MB.
    pub body_limit: usize,
}

impl fmt::Debug for SchedulerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SchedulerConfig")
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("signs", &self.signing_key.is_some())
            .field("retry", &self.retry)
            .field("attempt_timeout", &self.attempt_timeout)
            .field("default_expiration", &self.default_expiration)
            .field("default_max_wait", &self.default_max_wait)
            .field("body_limit", &self.body_limit)
            .finish()
    }
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl SchedulerConfig {
    /// The defaults: no API key check, no signing key, 10 attempts per step,
    /// 60 s per attempt, 1 hour expiration, 5 minutes poll wait, 16 MB bodies.
    pub fn new() -> Self {
        SchedulerConfig {
            api_key: None,
            signing_key: None,
            retry: RetryPolicy::exponential(RetryPolicy::MAX_ATTEMPTS),
            attempt_timeout: Duration::from_secs(60),
            default_expiration: Duration::from_secs(3600),
            default_max_wait: Duration::from_secs(300),
            body_limit: 16_000_000,
        }
    }

    /// Sets [`SchedulerConfig::api_key`].
    pub fn api_key(mut self, key: Option<String>) -> Self {
        self.api_key = key;
        self
    }

    /// Sets [`SchedulerConfig::signing_key`].
    pub fn signing_key(mut self, key: Option<SigningKey>) -> Self {
        self.signing_key = key;
        self
    }

    /// Sets [`SchedulerConfig::retry`].
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Sets [`SchedulerConfig::attempt_timeout`].
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = timeout;
        self
    }

    /// Sets [`SchedulerConfig::default_expiration`].
    pub fn default_expiration(mut self, expiration: Duration) -> Self {
        self.default_expiration = expiration;
        self
    }

    /// Sets [`SchedulerConfig::default_max_wait`].
    pub fn default_max_wait(mut self, wait: Duration) -> Self {
        self.default_max_wait = wait;
        self
    }

    /// Sets [`SchedulerConfig::body_limit`].
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }
}

/// Why a scheduler could not be built.
#[derive(Debug)]
#[non_exhaustive]
pub enum SchedulerError {
    /// The HTTP client for Run requests could not be built.
    HttpClient(String),
}

impl fmt::Display for SchedulerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SchedulerError::HttpClient(why) => {
                write!(f, "the scheduler's HTTP client could not be built: {why}")
            }
        }
    }
}

impl core::error::Error for SchedulerError {}

/// Why [`Scheduler::dispatch`] started nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DispatchError {
    /// A call breaks a protocol rule (which one, on which call).
    InvalidCalls(String),
    /// There is no tokio runtime to run the calls on.
    NoRuntime,
}

impl fmt::Display for DispatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DispatchError::InvalidCalls(why) => f.write_str(why),
            DispatchError::NoRuntime => {
                f.write_str("Scheduler::dispatch was called outside a tokio runtime")
            }
        }
    }
}

impl core::error::Error for DispatchError {}

/// The local scheduler; see the [module](self). Cheap to clone: clones share
/// the runs and the HTTP connections.
#[derive(Clone)]
pub struct Scheduler {
    inner: Arc<Inner>,
}

impl fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scheduler")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// What every run and the server share.
struct Inner {
    config: SchedulerConfig,
    http: reqwest::Client,
    store: Store,
}

impl Scheduler {
    /// A scheduler with `config` and no runs.
    pub fn new(config: SchedulerConfig) -> Result<Self, SchedulerError> {
        let http = dispatch_std::client::http_client("dispatch-rs-scheduler")
            .map_err(|e| SchedulerError::HttpClient(e.to_string()))?;
        Ok(Scheduler {
            inner: Arc::new(Inner {
                config,
                http,
                store: Store::default(),
            }),
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &SchedulerConfig {
        &self.inner.config
    }

    /// Validates `calls` (all or none) and starts one run per call on the
    /// current tokio runtime, returning their dispatch ids in order.
    pub fn dispatch(&self, calls: Vec<pb::Call>) -> Result<Vec<String>, DispatchError> {
        let request = pb::DispatchRequest { calls };
        dispatch_core::validate::validate_dispatch_request(&request)
            .map_err(|error| DispatchError::InvalidCalls(error.to_string()))?;
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|_| DispatchError::NoRuntime)?;
        Ok(request
            .calls
            .into_iter()
            .map(|call| run::start(&self.inner, &runtime, call, None, None))
            .collect())
    }

    /// The run `dispatch_id` as it is now, or `None` if this scheduler never
    /// started it.
    pub fn run_info(&self, dispatch_id: &str) -> Option<RunInfo> {
        self.inner.store.info(dispatch_id)
    }

    /// Waits until run `dispatch_id` is done, at most `timeout` (`None`: no
    /// limit), and returns it as it is then; `None` for an unknown id.
    pub async fn wait(&self, dispatch_id: &str, timeout: Option<Duration>) -> Option<RunInfo> {
        self.inner.store.wait(dispatch_id, timeout).await
    }

    /// The HTTP service: the Dispatch RPC and the wait route.
    pub fn service(&self) -> SchedulerService {
        SchedulerService::new(Arc::clone(&self.inner))
    }

    /// Serves HTTP/1.1 and HTTP/2 (cleartext) from `listener` until
    /// `shutdown` completes. Runs in progress keep going while the returned
    /// future is not dropped along with the runtime.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> std::io::Result<()> {
        server::serve(self.service(), listener, shutdown).await
    }
}

/// The error a run ends with when the scheduler itself gives up on it (no
/// `CallResult` from the function): the status's name as the type.
fn scheduler_error(status: Status, message: impl Into<String>) -> pb::Error {
    pb::Error {
        r#type: status.name().to_owned(),
        message: message.into(),
        ..Default::default()
    }
}
