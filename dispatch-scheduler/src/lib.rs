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
//!   retried with capped exponential backoff and jitter until the call
//!   expires (or up to [`Backoff::max_attempts`] when set); a permanent
//!   status ends the run;
//! * every endpoint URL must meet the [`policy`] rule (refused at Dispatch
//!   with `INVALID_ARGUMENT`, checked again before every Run request), and a
//!   Run request goes only where [`SchedulerConfig::endpoint_policy`]
//!   allows, judged on the address connected to (a refusal ends the run
//!   with `STATUS_PERMISSION_DENIED`);
//! * a tail call replaces the function (same dispatch id) and runs at once;
//! * a `Poll` dispatches its calls as child runs, then resumes the function
//!   with a `PollResult` once `min_results` results are in or `max_wait` has
//!   passed, with at most `max_results` results (later results wait for the
//!   next poll); a poll with no calls and no results to come is a timer: it
//!   resumes after `max_wait`;
//! * the call's `expiration` (default [`SchedulerConfig::default_expiration`])
//!   bounds everything: once past, the run ends with `STATUS_TIMEOUT`;
//! * Run requests in flight are bounded per endpoint and in all
//!   ([`SchedulerConfig::max_in_flight_per_endpoint`],
//!   [`SchedulerConfig::max_in_flight`]); an endpoint that throttles gets
//!   fewer, and none for the delay it asks for, then more again as it
//!   recovers ([`machine`] has the rule); connections are pooled and kept
//!   alive;
//! * every decision is made by the sans-IO [`machine`]; the [`store`] keeps
//!   every run's state, each batch of changes committed before its effects
//!   are visible (the Dispatch RPC answers with ids once the calls are
//!   durable; a child's result is stored before its parent resumes). With a
//!   durable store a restart resumes every unfinished run; Run requests are
//!   delivered at least once, each outcome recorded once. Finished runs are
//!   purged after [`SchedulerConfig::retain`].
//! * with a store that has [`Leases`] (PostgreSQL) several processes share
//!   the runs: each drives only those it leases, renews its leases, claims
//!   the runs nobody holds (a dead process's) every
//!   [`SchedulerConfig::claim_interval`], and every write is fenced by the
//!   lease ([`SchedulerConfig::lease`] has the bounds). The in-flight limits
//!   are per process.
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
//! (`"done": false` then), and 404 `not_found` for an unknown id (or one
//! purged after the retention).
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
mod driver;
pub mod machine;
mod migrations;
pub mod policy;
#[cfg(feature = "postgres")]
mod postgres;
mod server;
mod sqlite;
pub mod store;

use core::fmt;
use core::future::Future;
use core::time::Duration;
use std::sync::{Arc, Mutex, PoisonError};

use dispatch_core::proto::sdk::v1 as pb;
use ed25519_dalek::SigningKey;
use tokio::sync::{mpsc, oneshot, watch};

pub use machine::Backoff;
pub use migrations::SCHEMA_VERSION;
pub use policy::EndpointPolicy;
#[cfg(feature = "postgres")]
pub use postgres::PostgresStore;
pub use server::{SchedulerService, WAIT_PATH_PREFIX};
pub use sqlite::SqliteStore;
pub use store::{Leases, MemoryStore, RunInfo, RunOutcome, RunQuery, Store, StoreError};

use driver::{Input, SharedStore};

/// Whether `db` names a PostgreSQL database (`postgres://…` or
/// `postgresql://…`) rather than a SQLite file: how `dispatch scheduler
/// --db` picks its store.
pub fn is_postgres_url(db: &str) -> bool {
    db.starts_with("postgres://") || db.starts_with("postgresql://")
}

/// `url` with its password replaced by `***`, in the user info
/// (`user:password@`) and in a `password=` query parameter (libpq takes
/// both): how a database URL is named in errors and logs.
///
/// ```
/// use dispatch_scheduler::without_password;
/// assert_eq!(without_password("postgres://me:s3cret@db/runs"), "postgres://me:***@db/runs");
/// assert_eq!(
///     without_password("postgres://me@db/runs?sslmode=disable&password=s3cret"),
///     "postgres://me@db/runs?sslmode=disable&password=***"
/// );
/// assert_eq!(without_password("scheduler.db"), "scheduler.db");
/// ```
pub fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((user_info, host)) => match user_info.split_once(':') {
            Some((user, _password)) => format!("{user}:***@{host}"),
            None => authority.to_owned(),
        },
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let parameters: Vec<String> = query
                .split('&')
                .map(|parameter| match parameter.split_once('=') {
                    Some((name, _)) if name.eq_ignore_ascii_case("password") => {
                        format!("{name}=***")
                    }
                    _ => parameter.to_owned(),
                })
                .collect();
            format!("{path}?{}", parameters.join("&"))
        }
        None => tail.to_owned(),
    };
    format!("{scheme}://{authority}{tail}")
}

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
    /// The backoff between attempts, and how many (default: 100 ms doubling
    /// up to 30 s, jittered, until the call expires).
    pub retry: Backoff,
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
    /// How long finished runs stay in the store (and the wait route answers
    /// for them). Default 24 hours.
    pub retain: Duration,
    /// The most calls one Dispatch request may carry. Default 1000.
    pub max_dispatch_calls: usize,
    /// The most Run requests in flight to one endpoint (scheme, host and
    /// port). Default 64. An endpoint that throttles gets fewer for a while
    /// (see [`machine`]'s backpressure).
    pub max_in_flight_per_endpoint: usize,
    /// The most Run requests in flight in all. Default 1024, and never
    /// more than a quarter of the process's descriptor limit (the server's
    /// connections may take half), so that a burst cannot run the process
    /// out of descriptors.
    pub max_in_flight: usize,
    /// On shutdown, how long Run requests in flight may take to finish
    /// (their answers are recorded); the rest stay in the store. Default 30 s.
    pub shutdown_grace: Duration,
    /// How long the Dispatch RPC waits for the next bytes of a request body
    /// before it answers 408. Default 30 s (the endpoint's read timeout,
    /// `dispatch_std::layer::DEFAULT_READ_TIMEOUT`).
    pub read_timeout: Duration,
    /// The most connections the scheduler's server keeps open; past it the
    /// longest-idle one is closed to make room. Default 4096, and never
    /// more than half the process's descriptor limit
    /// ([`dispatch_std::serve::ServeOptions::max_connections`]).
    pub max_connections: usize,
    /// How long a connection with no request in flight stays open.
    /// Default 60 s. (A new connection has [`read_timeout`](Self::read_timeout)
    /// to send its first request head.)
    pub idle_timeout: Duration,
    /// Which endpoints Run requests may go to ([`policy`]). Default: every
    /// host but link-local and cloud-metadata addresses.
    pub endpoint_policy: EndpointPolicy,
    /// With a store that has [`Leases`] (PostgreSQL): how long a process
    /// holds the runs it drives without renewing them. Renewed every third
    /// of it; a process that stops renewing (killed, cut off) has its runs
    /// taken over by another at most this long plus
    /// [`claim_interval`](Self::claim_interval) after its last renewal.
    /// Default 10 s (at least 1 s).
    pub lease: Duration,
    /// With a store that has [`Leases`]: how often a process claims
    /// unleased runs and runs whose lease expired, and looks in the store
    /// for the finished children of the parents it holds (a child finished
    /// by another process reaches its parent within this interval). Default
    /// 1 s (at least 10 ms).
    pub claim_interval: Duration,
    /// With a store that has [`Leases`]: this process's owner name in the
    /// leases. Default: made at start from the process id and a random
    /// number; it must differ between live processes. A process started
    /// with a name given here first takes back the runs leased to that name
    /// (a restart after a crash resumes them at once, not once the leases
    /// expire).
    pub owner: Option<String>,
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
            .field("retain", &self.retain)
            .field("max_dispatch_calls", &self.max_dispatch_calls)
            .field(
                "max_in_flight_per_endpoint",
                &self.max_in_flight_per_endpoint,
            )
            .field("max_in_flight", &self.max_in_flight)
            .field("shutdown_grace", &self.shutdown_grace)
            .field("read_timeout", &self.read_timeout)
            .field("max_connections", &self.max_connections)
            .field("idle_timeout", &self.idle_timeout)
            .field("endpoint_policy", &self.endpoint_policy)
            .field("lease", &self.lease)
            .field("claim_interval", &self.claim_interval)
            .field("owner", &self.owner)
            .finish()
    }
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl SchedulerConfig {
    /// The defaults: no API key check, no signing key, retries until the
    /// call expires, 60 s per attempt, 1 hour expiration, 5 minutes poll
    /// wait, 16 MB bodies, finished runs kept 24 hours.
    pub fn new() -> Self {
        SchedulerConfig {
            api_key: None,
            signing_key: None,
            retry: Backoff::default(),
            attempt_timeout: Duration::from_secs(60),
            default_expiration: Duration::from_secs(3600),
            default_max_wait: Duration::from_secs(300),
            body_limit: 16_000_000,
            retain: Duration::from_secs(24 * 3600),
            max_dispatch_calls: 1000,
            max_in_flight_per_endpoint: 64,
            max_in_flight: 1024,
            shutdown_grace: Duration::from_secs(30),
            read_timeout: dispatch_std::layer::DEFAULT_READ_TIMEOUT,
            max_connections: dispatch_std::serve::DEFAULT_MAX_CONNECTIONS,
            idle_timeout: dispatch_std::serve::DEFAULT_IDLE_TIMEOUT,
            endpoint_policy: EndpointPolicy::default(),
            lease: Duration::from_secs(10),
            claim_interval: Duration::from_secs(1),
            owner: None,
        }
    }

    /// Sets [`SchedulerConfig::lease`] (at least 1 s).
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease.max(MIN_LEASE);
        self
    }

    /// Sets [`SchedulerConfig::claim_interval`] (at least 10 ms).
    pub fn claim_interval(mut self, interval: Duration) -> Self {
        self.claim_interval = interval.max(MIN_CLAIM_INTERVAL);
        self
    }

    /// Sets [`SchedulerConfig::owner`].
    pub fn owner(mut self, owner: Option<String>) -> Self {
        self.owner = owner;
        self
    }

    /// Sets [`SchedulerConfig::endpoint_policy`].
    pub fn endpoint_policy(mut self, policy: EndpointPolicy) -> Self {
        self.endpoint_policy = policy;
        self
    }

    /// Sets [`SchedulerConfig::max_connections`] (at least 1).
    pub fn max_connections(mut self, connections: usize) -> Self {
        self.max_connections = connections.max(1);
        self
    }

    /// Sets [`SchedulerConfig::idle_timeout`].
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Sets [`SchedulerConfig::max_dispatch_calls`].
    pub fn max_dispatch_calls(mut self, calls: usize) -> Self {
        self.max_dispatch_calls = calls.max(1);
        self
    }

    /// Sets [`SchedulerConfig::max_in_flight_per_endpoint`].
    pub fn max_in_flight_per_endpoint(mut self, requests: usize) -> Self {
        self.max_in_flight_per_endpoint = requests.clamp(1, MAX_PERMITS);
        self
    }

    /// Sets [`SchedulerConfig::max_in_flight`].
    pub fn max_in_flight(mut self, requests: usize) -> Self {
        self.max_in_flight = requests.clamp(1, MAX_PERMITS);
        self
    }

    /// Sets [`SchedulerConfig::read_timeout`].
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.read_timeout = timeout;
        self
    }

    /// Sets [`SchedulerConfig::shutdown_grace`].
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// Sets [`SchedulerConfig::retain`].
    pub fn retain(mut self, retain: Duration) -> Self {
        self.retain = retain;
        self
    }

    /// What the state machine needs of this configuration.
    pub fn machine_config(&self) -> machine::MachineConfig {
        machine::MachineConfig {
            default_expiration: self.default_expiration,
            default_max_wait: self.default_max_wait,
            attempt_timeout: self.attempt_timeout,
            backoff: self.retry,
            max_in_flight_per_endpoint: self.max_in_flight_per_endpoint,
            max_in_flight: self.max_in_flight,
            max_pause: machine::MachineConfig::default().max_pause,
            deliver_locally: true,
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
    pub fn retry(mut self, retry: Backoff) -> Self {
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
    /// The store failed.
    Store(StoreError),
}

impl fmt::Display for SchedulerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SchedulerError::HttpClient(why) => {
                write!(f, "the scheduler's HTTP client could not be built: {why}")
            }
            SchedulerError::Store(error) => error.fmt(f),
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
    /// The scheduler stopped driving runs (its store failed); nothing was
    /// started.
    Stopped(String),
}

impl fmt::Display for DispatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DispatchError::InvalidCalls(why) => f.write_str(why),
            DispatchError::NoRuntime => {
                f.write_str("Scheduler::dispatch was called outside a tokio runtime")
            }
            DispatchError::Stopped(why) => write!(f, "the scheduler is stopped: {why}"),
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

/// The largest in-flight limit (a semaphore's permits are counted in u32).
const MAX_PERMITS: usize = 1 << 20;

/// The shortest [`SchedulerConfig::lease`].
const MIN_LEASE: Duration = Duration::from_secs(1);

/// The shortest [`SchedulerConfig::claim_interval`].
const MIN_CLAIM_INTERVAL: Duration = Duration::from_millis(10);

/// With shared runs, how often [`Scheduler::wait`] reads a run again (its
/// outcome may be recorded by another process, which does not wake it).
const SHARED_WAIT_POLL: Duration = Duration::from_millis(200);

/// What every run and the server share.
struct Inner {
    /// Permits for Run requests in flight, in all. The machine never sends
    /// more than that many (its backpressure decides what goes out); the
    /// permits let a shutdown wait for those in flight.
    in_flight: Arc<tokio::sync::Semaphore>,
    /// Set on shutdown: no new Run request is sent.
    draining: core::sync::atomic::AtomicBool,
    config: SchedulerConfig,
    /// The HTTP clients Run requests go out on, under the endpoint policy.
    endpoints: policy::EndpointClients,
    store: SharedStore,
    /// The driver's inbox, once it runs.
    driver: Mutex<Option<mpsc::UnboundedSender<Input>>>,
    /// Bumped whenever runs finish (waiters look again).
    finished: watch::Sender<u64>,
    /// Set when the driver stopped on a store failure.
    stopped: watch::Sender<bool>,
    /// With a store that has [`Leases`]: this process's owner name (the
    /// runs are shared with other processes).
    owner: Option<String>,
}

impl Scheduler {
    /// A scheduler with `config` and runs in memory ([`MemoryStore`]).
    pub fn new(config: SchedulerConfig) -> Result<Self, SchedulerError> {
        Self::with_store(config, Box::new(MemoryStore::default()))
    }

    /// A scheduler with `config` keeping its runs in `store`. Its
    /// unfinished runs resume once the scheduler is used in a tokio runtime
    /// ([`Scheduler::start`], [`Scheduler::serve`], [`Scheduler::dispatch`]).
    pub fn with_store(
        mut config: SchedulerConfig,
        store: Box<dyn Store>,
    ) -> Result<Self, SchedulerError> {
        if let Some(limit) = dispatch_std::serve::soft_descriptor_limit() {
            let quarter = usize::try_from(limit / 4).unwrap_or(usize::MAX).max(1);
            if config.max_in_flight > quarter {
                tracing::info!(
                    target: "dispatch::scheduler",
                    max_in_flight = quarter,
                    descriptor_limit = limit,
                    "Run requests in flight capped at a quarter of the descriptor limit"
                );
                config.max_in_flight = quarter;
            }
        }
        let endpoints =
            policy::EndpointClients::new("dispatch-rs-scheduler", config.endpoint_policy.clone())
                .map_err(|e| SchedulerError::HttpClient(e.to_string()))?;
        let in_flight = Arc::new(tokio::sync::Semaphore::new(
            config.max_in_flight.clamp(1, MAX_PERMITS),
        ));
        let mut store = store;
        let owner = store.leases().is_some().then(|| {
            config
                .owner
                .clone()
                .unwrap_or_else(|| format!("{}-{:016x}", std::process::id(), random_seed()))
        });
        if let Some(owner) = &owner {
            tracing::info!(
                target: "dispatch::scheduler",
                owner,
                lease_ms = driver::millis(config.lease),
                "the runs are shared with the other processes on this store, under leases"
            );
        }
        Ok(Scheduler {
            inner: Arc::new(Inner {
                in_flight,
                draining: core::sync::atomic::AtomicBool::new(false),
                config,
                endpoints,
                store: Arc::new(Mutex::new(store)),
                driver: Mutex::new(None),
                finished: watch::Sender::new(0),
                stopped: watch::Sender::new(false),
                owner,
            }),
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &SchedulerConfig {
        &self.inner.config
    }

    /// Starts driving runs on the current tokio runtime (the store's
    /// unfinished runs first); returns how many were resumed. Called by
    /// [`Scheduler::serve`] and [`Scheduler::dispatch`]; a second call does
    /// nothing.
    pub fn start(&self) -> Result<usize, SchedulerError> {
        self.driver().map(|(_, resumed)| resumed)
    }

    fn driver(&self) -> Result<(mpsc::UnboundedSender<Input>, usize), SchedulerError> {
        let mut slot = self
            .inner
            .driver
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(sender) = slot.as_ref() {
            return Ok((sender.clone(), 0));
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            SchedulerError::HttpClient("the scheduler must start in a tokio runtime".into())
        })?;
        let now = driver::now_ms();
        let unfinished = {
            let mut store = self
                .inner
                .store
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            match (&self.inner.owner, store.leases()) {
                (Some(owner), Some(leases)) => {
                    // A process restarted under the name it had (an
                    // explicit owner) takes its runs back at once.
                    if self.inner.config.owner.is_some() {
                        leases.release(owner).map_err(SchedulerError::Store)?;
                    }
                    leases.claim(
                        owner,
                        now,
                        driver::millis(self.inner.config.lease),
                        driver::MAX_CLAIM,
                    )
                }
                _ => store.unfinished(),
            }
            .map_err(SchedulerError::Store)?
        };
        let resumed = unfinished.len();
        let mut machine_config = self.inner.config.machine_config();
        machine_config.deliver_locally = self.inner.owner.is_none();
        let mut machine = machine::Machine::new(machine_config, random_seed());
        machine.restore(now, unfinished);
        if resumed > 0 {
            tracing::info!(target: "dispatch::scheduler", resumed, "unfinished runs resumed from the store");
        }
        let (sender, receiver) = mpsc::unbounded_channel();
        runtime.spawn(driver::run(
            Arc::clone(&self.inner),
            machine,
            receiver,
            sender.clone(),
        ));
        *slot = Some(sender.clone());
        Ok((sender, resumed))
    }

    /// Validates `calls` (all or none), starts one run per call, and returns
    /// their dispatch ids in order once the runs are in the store.
    pub async fn dispatch(&self, calls: Vec<pb::Call>) -> Result<Vec<String>, DispatchError> {
        let limit = self.inner.config.max_dispatch_calls;
        if calls.len() > limit {
            return Err(DispatchError::InvalidCalls(format!(
                "{} calls in one Dispatch request; at most {limit} are accepted \
                 (split the batch)",
                calls.len()
            )));
        }
        let request = pb::DispatchRequest { calls };
        dispatch_core::validate::validate_dispatch_request(&request)
            .map_err(|error| DispatchError::InvalidCalls(error.to_string()))?;
        for (index, call) in request.calls.iter().enumerate() {
            policy::check_endpoint_url(&call.endpoint)
                .map_err(|error| DispatchError::InvalidCalls(format!("calls[{index}]: {error}")))?;
        }
        let (sender, _) = self.driver().map_err(|error| match error {
            SchedulerError::HttpClient(_) => DispatchError::NoRuntime,
            other => DispatchError::Stopped(other.to_string()),
        })?;
        let (ack, answer) = oneshot::channel();
        let stopped = || DispatchError::Stopped("its driver is not running".into());
        sender
            .send(Input::Dispatch(request.calls, ack))
            .map_err(|_| stopped())?;
        answer
            .await
            .map_err(|_| stopped())?
            .map_err(DispatchError::Stopped)
    }

    /// The run `dispatch_id` as the store has it, or `None` if it is not
    /// there (never started, or purged).
    pub async fn run_info(&self, dispatch_id: &str) -> Option<RunInfo> {
        let id = dispatch_id.to_owned();
        match driver::with_store(&self.inner.store, move |s| s.get(&id)).await {
            Ok(run) => run.as_ref().map(RunInfo::from),
            Err(error) => {
                tracing::warn!(target: "dispatch::scheduler", %error, "reading a run failed");
                None
            }
        }
    }

    /// Waits until run `dispatch_id` is done, at most `timeout` (`None`: no
    /// limit), and returns it as it is then; `None` for an unknown id.
    pub async fn wait(&self, dispatch_id: &str, timeout: Option<Duration>) -> Option<RunInfo> {
        let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
        let mut finished = self.inner.finished.subscribe();
        loop {
            finished.mark_unchanged();
            let info = self.run_info(dispatch_id).await?;
            if info.outcome.is_some() {
                return Some(info);
            }
            let changed = finished.changed();
            // Shared runs: another process may record the outcome.
            let changed = async {
                if self.inner.owner.is_some() {
                    let _ = tokio::time::timeout(SHARED_WAIT_POLL, changed).await;
                    Ok(())
                } else {
                    changed.await
                }
            };
            match deadline {
                Some(deadline) => {
                    if tokio::time::timeout_at(deadline, changed).await.is_err() {
                        return self.run_info(dispatch_id).await;
                    }
                }
                None => {
                    if changed.await.is_err() {
                        return Some(info);
                    }
                }
            }
        }
    }

    /// The HTTP service: the Dispatch RPC and the wait route.
    pub fn service(&self) -> SchedulerService {
        SchedulerService::new(Arc::clone(&self.inner))
    }

    /// Starts driving runs, then serves HTTP/1.1 and HTTP/2 (cleartext) from
    /// `listener` until `shutdown` completes. Runs in progress keep going
    /// while the runtime lives.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> std::io::Result<()> {
        self.start().map_err(std::io::Error::other)?;
        let served = server::serve(self.service(), listener, shutdown).await;
        self.drain().await;
        served
    }

    /// Stops sending Run requests, waits (at most
    /// [`SchedulerConfig::shutdown_grace`]) for those in flight to be
    /// answered and their answers committed. What is left stays in the
    /// store, resumed at the next start; with shared runs ([`Leases`]) the
    /// process's leases are then released, and the other processes claim
    /// its runs at their next claim interval.
    pub async fn drain(&self) {
        use core::sync::atomic::Ordering;
        self.inner.draining.store(true, Ordering::SeqCst);
        let all = u32::try_from(self.inner.config.max_in_flight.clamp(1, MAX_PERMITS))
            .unwrap_or(u32::MAX);
        let grace = self.inner.config.shutdown_grace;
        let finished = tokio::time::timeout(grace, self.inner.in_flight.acquire_many(all)).await;
        if finished.is_err() {
            tracing::warn!(
                target: "dispatch::scheduler",
                ?grace,
                "Run requests still in flight after the grace: they are sent again at the next start"
            );
        }
        let sender = self
            .inner
            .driver
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some(sender) = sender {
            let (ack, committed) = oneshot::channel();
            if sender.send(Input::Flush(ack)).is_ok() {
                let _ = tokio::time::timeout(grace, committed).await;
            }
        }
        if let Ok(Ok(permits)) = finished {
            permits.forget();
        }
        if let Some(owner) = self.inner.owner.clone() {
            // Others may take the runs over at once, not after the lease.
            let released = driver::with_store(&self.inner.store, move |s| match s.leases() {
                Some(leases) => leases.release(&owner),
                None => Ok(0),
            })
            .await;
            match released {
                Ok(released) => tracing::info!(
                    target: "dispatch::scheduler",
                    released,
                    "leases released for the other processes"
                ),
                Err(error) => tracing::warn!(
                    target: "dispatch::scheduler",
                    %error,
                    "releasing the leases failed: the runs are taken over once they expire"
                ),
            }
        }
    }
}

/// A fresh seed per process: the ids of its runs and its jitter.
fn random_seed() -> u64 {
    use core::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(driver::now_ms());
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_is_shown_without_its_password() {
        assert_eq!(
            without_password("postgres://me:s3cret@db:5432/runs?sslmode=disable"),
            "postgres://me:***@db:5432/runs?sslmode=disable"
        );
        assert_eq!(
            without_password("postgres://me@db/runs"),
            "postgres://me@db/runs"
        );
        assert_eq!(
            without_password("postgresql://db/runs"),
            "postgresql://db/runs"
        );
        assert_eq!(
            without_password("postgres://me:a:b@db?password=x&sslmode=disable&Password=y"),
            "postgres://me:***@db?password=***&sslmode=disable&Password=***"
        );
        assert_eq!(
            without_password("postgres://db?password"),
            "postgres://db?password"
        );
        assert!(is_postgres_url("postgresql://db/runs"));
        assert!(!is_postgres_url("dispatch-scheduler.db"));
    }
}
