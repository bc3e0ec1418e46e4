//! The scheduler's every decision, as a sans-IO state machine.
//!
//! [`Machine`] holds the runs that are not finished and decides what happens
//! to them; it does no I/O, reads no clock and spawns nothing. A host feeds
//! it events, each with the time `now` (milliseconds since the Unix epoch):
//!
//! * [`Machine::dispatch`]: calls accepted by the Dispatch RPC;
//! * [`Machine::handle_answer`]: what a Run request came to (a
//!   `RunResponse`, or a [`Failure`]: a refusal, a transport error, a
//!   timeout);
//! * [`Machine::handle_timeout`]: the time given by
//!   [`Machine::poll_timeout`] has come (a backoff ended, a poll's
//!   `max_wait` passed, a call expired);
//!
//! and takes what it decided from [`Machine::poll_action`] ([`Action::Send`]
//! a Run request, [`Action::Finished`] record an outcome) and from
//! [`Machine::take_changes`] (every run whose state changed, finished ones
//! included, to be made durable **before** any of those actions takes
//! effect). A child's result reaches its parent inside the machine, in the
//! same batch of changes as the child's outcome, unless
//! [`MachineConfig::deliver_locally`] is off (runs shared by several
//! processes): the host then hands it over with [`Machine::deliver`] once
//! the outcome is durable. [`Machine::forget`] drops a run another process
//! took over.
//!
//! Backpressure is decided here too: a Run request goes out only when its
//! endpoint's window and the global limit leave room
//! ([`MachineConfig::max_in_flight_per_endpoint`],
//! [`MachineConfig::max_in_flight`]); until then it waits in the machine,
//! in order, not in a socket. An endpoint that throttles (a Run response
//! with `STATUS_THROTTLED`, or a refusal with that status, HTTP 429 or 503)
//! has its window halved, down to 1, and, when it asked for a delay
//! (`Retry-After`, `RetryInfo`; at most [`MachineConfig::max_pause`]), its
//! sends paused until then; each window's worth of unthrottled answers
//! grows the window by one, back to the configured limit. An endpoint with
//! nothing in flight, waiting or paused is forgotten.
//!
//! Every run's state is a [`RunState`], a protobuf message of this crate's
//! own: a store keeps it as bytes, and [`Machine::restore`] takes it back
//! after a restart. A run that had a Run request in flight is sent it again
//! (delivery is at least once; each outcome is recorded once).
//!
//! ```
//! use dispatch_scheduler::machine::{Action, Machine, MachineConfig};
//! use dispatch_core::proto::sdk::v1 as pb;
//!
//! let mut machine = Machine::new(MachineConfig::default(), 7);
//! let call = pb::Call {
//!     function: "f".into(),
//!     endpoint: "http://127.0.0.1:8000".into(),
//!     ..Default::default()
//! };
//! let ids = machine.dispatch(1_000, vec![call]);
//! let changes = machine.take_changes(); // commit these first
//! assert_eq!(changes.len(), 1);
//! let Some(Action::Send(send)) = machine.poll_action() else { panic!() };
//! assert_eq!(send.run, ids[0]);
//! ```

use core::time::Duration;
use std::collections::{BTreeSet, HashMap, VecDeque};

use dispatch_core::proto::sdk::v1 as pb;
use dispatch_core::status::{Retry, Status};

use throttle::{Signal, Slot, Throttle};

mod throttle;

/// The most results a poll may ask for, and what it gets when it asks for 0.
const MAX_POLL_RESULTS: u32 = 1000;

/// The most attempts a run's [`RunState::history`] keeps (the latest; the
/// count of all is [`RunState::attempts`]).
pub const MAX_HISTORY: usize = 32;

/// The longest error message an [`AttemptRecord`] keeps, in bytes.
const MAX_RECORD_ERROR: usize = 256;

/// How a temporary failure is retried: capped exponential backoff with
/// jitter, until the call expires (or `max_attempts`, when set).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// The wait after the first failed attempt, before jitter.
    pub initial: Duration,
    /// The longest wait, before jitter.
    pub max: Duration,
    /// The most attempts at one step; `None`: retry until the call expires.
    pub max_attempts: Option<u32>,
}

impl Default for Backoff {
    /// 100 ms doubling up to 30 s, until the call expires.
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(30),
            max_attempts: None,
        }
    }
}

impl Backoff {
    /// The wait after failed attempt `attempt` (1-based) before jitter:
    /// `initial * 2^(attempt-1)`, capped at `max`.
    pub fn base(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(31);
        self.initial.saturating_mul(1u32 << doublings).min(self.max)
    }
}

/// What a [`Machine`] needs to know besides its runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MachineConfig {
    /// The expiration of a call that sets none.
    pub default_expiration: Duration,
    /// How long a poll waits when its `max_wait` is unset.
    pub default_max_wait: Duration,
    /// How long one Run request may take.
    pub attempt_timeout: Duration,
    /// Retries of temporary failures.
    pub backoff: Backoff,
    /// The most Run requests in flight to one endpoint origin (scheme, host
    /// and port) while it does not throttle; see [`Machine`]'s backpressure.
    pub max_in_flight_per_endpoint: usize,
    /// The most Run requests in flight in all.
    pub max_in_flight: usize,
    /// The longest an endpoint's sends pause for a delay it asked for.
    pub max_pause: Duration,
    /// Whether a child's result reaches its parent inside the machine, in
    /// the batch of changes of the child's outcome (`true`: one process
    /// holds every run). `false` when several processes share the runs: the
    /// host makes the child's outcome durable first, then hands the result
    /// to the parent's holder with [`Machine::deliver`] (the parent may be
    /// held by another process, which finds the result in the store).
    pub deliver_locally: bool,
}

impl Default for MachineConfig {
    /// 1 hour expiration, 5 minutes poll wait, 60 s per attempt,
    /// [`Backoff::default`], 64 requests in flight per endpoint and 1024 in
    /// all, pauses of at most 60 s, children's results delivered locally.
    fn default() -> Self {
        MachineConfig {
            default_expiration: Duration::from_secs(3600),
            default_max_wait: Duration::from_secs(300),
            attempt_timeout: Duration::from_secs(60),
            backoff: Backoff::default(),
            max_in_flight_per_endpoint: 64,
            max_in_flight: 1024,
            max_pause: Duration::from_secs(60),
            deliver_locally: true,
        }
    }
}

/// Where a run is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum Phase {
    /// Its next Run request goes out at `wake_ms`.
    Pending = 0,
    /// A Run request is in flight (attempt number `attempts`).
    InFlight = 1,
    /// Suspended in a poll, until enough results are in or `wake_ms`.
    Polling = 2,
    /// Finished: `outcome` is set.
    Done = 3,
}

/// A poll a run is suspended in.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PollWait {
    /// The `PollResult` it resumes with (state and error; the results are
    /// added at resume).
    #[prost(message, optional, tag = "1")]
    pub resume: Option<pb::PollResult>,
    /// Resume as soon as this many results are in.
    #[prost(uint32, tag = "2")]
    pub min_results: u32,
    /// Resume with at most this many.
    #[prost(uint32, tag = "3")]
    pub max_results: u32,
}

/// One run, as the machine keeps it and a store records it.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RunState {
    /// The run's dispatch id.
    #[prost(string, tag = "1")]
    pub id: String,
    /// The run that dispatched it through a poll (empty for a root).
    #[prost(string, tag = "2")]
    pub parent: String,
    /// The root of its tree (its own id for a root).
    #[prost(string, tag = "3")]
    pub root: String,
    /// The call's correlation id, echoed in its result.
    #[prost(uint64, tag = "4")]
    pub correlation_id: u64,
    /// The function called (after tail calls: the last one).
    #[prost(string, tag = "5")]
    pub function: String,
    /// The endpoint called (after tail calls: the last one).
    #[prost(string, tag = "6")]
    pub endpoint: String,
    /// When it was dispatched (ms since the epoch).
    #[prost(uint64, tag = "7")]
    pub created_ms: u64,
    /// When it expires (ms since the epoch).
    #[prost(uint64, tag = "8")]
    pub expires_ms: u64,
    /// The next request's input (when `poll_result` is unset).
    #[prost(message, optional, tag = "9")]
    pub input: Option<prost_types::Any>,
    /// The next request's poll result, when it resumes a poll.
    #[prost(message, optional, tag = "10")]
    pub poll_result: Option<pb::PollResult>,
    /// Attempts at the current step (reset when the run makes progress).
    #[prost(uint32, tag = "11")]
    pub step_attempts: u32,
    /// Run requests sent, every step and retry included.
    #[prost(uint32, tag = "12")]
    pub attempts: u32,
    /// Where it is.
    #[prost(enumeration = "Phase", tag = "13")]
    pub phase: i32,
    /// When it next does something (Pending: send; Polling: resume).
    #[prost(uint64, tag = "14")]
    pub wake_ms: u64,
    /// The poll it is suspended in.
    #[prost(message, optional, tag = "15")]
    pub poll: Option<PollWait>,
    /// Children whose result has not come in.
    #[prost(uint32, tag = "16")]
    pub outstanding: u32,
    /// Children's results not delivered yet, in the order they came.
    #[prost(message, repeated, tag = "17")]
    pub ready: Vec<pb::CallResult>,
    /// The outcome's status, once done.
    #[prost(int32, tag = "18")]
    pub status: i32,
    /// The outcome, once done.
    #[prost(message, optional, tag = "19")]
    pub result: Option<pb::CallResult>,
    /// When it finished (ms since the epoch), once done.
    #[prost(uint64, tag = "20")]
    pub finished_ms: u64,
    /// The status of the last failed attempt (for the expiration message).
    #[prost(string, tag = "21")]
    pub last_failure: String,
    /// When the Run request in flight was sent (ms since the epoch).
    #[prost(uint64, tag = "22")]
    pub sent_ms: u64,
    /// The latest attempts and what they came to, oldest first (at most
    /// [`MAX_HISTORY`]).
    #[prost(message, repeated, tag = "23")]
    pub history: Vec<AttemptRecord>,
    /// The ids of the children whose result has not come in (in dispatch
    /// order; `outstanding` counts them too). A result is taken only for a
    /// child listed here, so that each reaches its parent once, whichever
    /// process delivers it.
    #[prost(string, repeated, tag = "24")]
    pub children: Vec<String>,
}

/// One Run request of a run and what it came to (`dispatch runs show`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct AttemptRecord {
    /// Its number in the run (every step and retry counted).
    #[prost(uint32, tag = "1")]
    pub attempt: u32,
    /// The function it called.
    #[prost(string, tag = "2")]
    pub function: String,
    /// When it was sent (ms since the epoch).
    #[prost(uint64, tag = "3")]
    pub sent_ms: u64,
    /// From the send to the answer's handling, in ms (time waiting for an
    /// in-flight permit included).
    #[prost(uint64, tag = "4")]
    pub duration_ms: u64,
    /// Its status.
    #[prost(int32, tag = "5")]
    pub status: i32,
    /// What came next: `exit`, `failed`, `retry`, `tail_call`, `poll`.
    #[prost(string, tag = "6")]
    pub next: String,
    /// The error, `type: message` (at most 256 bytes), if any.
    #[prost(string, tag = "7")]
    pub error: String,
}

impl RunState {
    /// Whether it is finished.
    pub fn is_done(&self) -> bool {
        self.phase() == Phase::Done
    }

    /// Its outcome's status, once done.
    pub fn outcome_status(&self) -> Option<Status> {
        self.is_done()
            .then(|| Status::from_number(self.status).unwrap_or(Status::Unspecified))
    }
}

/// A Run request to send.
#[derive(Clone, Debug, PartialEq)]
pub struct SendRun {
    /// The run it is for.
    pub run: String,
    /// Its attempt number (the run's count of requests): the answer must
    /// carry it back, so that a stale answer is told apart.
    pub attempt: u32,
    /// The endpoint to send it to.
    pub endpoint: String,
    /// The request.
    pub request: pb::RunRequest,
    /// How long it may take before it counts as a timeout.
    pub timeout: Duration,
}

/// What the host must do, once the changes taken with it are durable.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Send a Run request and report its answer with
    /// [`Machine::handle_answer`].
    Send(SendRun),
    /// Run `run` finished with this status and result (wake its waiters).
    Finished {
        /// The run.
        run: String,
        /// Its parent (empty for a root): with
        /// [`MachineConfig::deliver_locally`] unset, the host passes the
        /// result to [`Machine::deliver`] once the outcome is durable.
        parent: String,
        /// Its status.
        status: Status,
        /// Its result.
        result: pb::CallResult,
    },
}

/// Why a Run request got no `RunResponse`: the status it counts as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The status (temporary ones are retried).
    pub status: Status,
    /// Why, for the log and the outcome.
    pub message: String,
    /// How long the endpoint asked to be left alone (`Retry-After`,
    /// `RetryInfo`): the next attempt waits at least that.
    pub retry_after: Option<Duration>,
    /// The HTTP status of the refusal, when a response came (429 and 503
    /// count as throttling).
    pub http_status: Option<u16>,
}

/// What one answer came to, for the host's one log line per attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempted {
    /// The function the attempt called.
    pub function: String,
    /// The attempt's number at its step.
    pub attempt: u32,
    /// Its status.
    pub status: Status,
    /// What comes next: `exit`, `failed`, `retry`, `tail_call`, `poll`.
    pub next: &'static str,
    /// The error, `type: message`, if any.
    pub error: Option<String>,
}

/// The scheduler's state machine; see the [module](self).
#[derive(Debug)]
pub struct Machine {
    config: MachineConfig,
    runs: HashMap<String, RunState>,
    /// (time, run) of every run's next timer.
    timers: BTreeSet<(u64, String)>,
    /// The timer each run has in `timers`.
    timer_of: HashMap<String, u64>,
    actions: VecDeque<Action>,
    /// Runs changed since the last [`Machine::take_changes`].
    dirty: BTreeSet<String>,
    /// Runs finished since then (gone from `runs`).
    finished: Vec<RunState>,
    rng: u64,
    id_prefix: u64,
    id_counter: u64,
    /// Which Run requests may go out (backpressure).
    throttle: Throttle,
    /// The slot of each run's request in flight, with its attempt number.
    slots: HashMap<String, (u32, Slot)>,
}

impl Machine {
    /// A machine with no runs; `seed` drives the jitter and the ids (give
    /// each process a fresh one: ids must not repeat across restarts).
    pub fn new(config: MachineConfig, seed: u64) -> Self {
        let throttle = Throttle::new(
            config.max_in_flight_per_endpoint,
            config.max_in_flight,
            config.max_pause,
        );
        let mut machine = Machine {
            config,
            throttle,
            slots: HashMap::new(),
            runs: HashMap::new(),
            timers: BTreeSet::new(),
            timer_of: HashMap::new(),
            actions: VecDeque::new(),
            dirty: BTreeSet::new(),
            finished: Vec::new(),
            rng: seed,
            id_prefix: 0,
            id_counter: 0,
        };
        machine.id_prefix = machine.next_random();
        machine
    }

    /// The configuration.
    pub fn config(&self) -> &MachineConfig {
        &self.config
    }

    /// How many runs are unfinished.
    pub fn len(&self) -> usize {
        self.runs.len()
    }

    /// Whether no run is unfinished.
    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// The unfinished run `id`.
    pub fn run(&self, id: &str) -> Option<&RunState> {
        self.runs.get(id)
    }

    /// Takes back unfinished runs from a store after a restart. A run that
    /// had a request in flight sends it again at once (at least once).
    pub fn restore(&mut self, now: u64, runs: impl IntoIterator<Item = RunState>) {
        for mut run in runs {
            if run.is_done() {
                continue;
            }
            if run.phase() == Phase::InFlight {
                run.phase = Phase::Pending as i32;
                run.wake_ms = now;
            }
            let id = run.id.clone();
            self.runs.insert(id.clone(), run);
            self.schedule(&id);
        }
        self.release_sends(now);
    }

    /// Starts one run per call (already validated), returning their ids.
    pub fn dispatch(&mut self, now: u64, calls: Vec<pb::Call>) -> Vec<String> {
        let ids = calls
            .into_iter()
            .map(|call| self.start(now, call, None))
            .collect();
        self.release_sends(now);
        ids
    }

    /// Run requests in flight (sent and not answered yet).
    pub fn in_flight(&self) -> usize {
        self.throttle.in_flight()
    }

    /// How many endpoints the machine keeps backpressure state for: those
    /// with a request in flight or waiting, or a pause.
    pub fn tracked_endpoints(&self) -> usize {
        self.throttle.endpoints()
    }

    /// Moves the Run requests the throttle lets go now to the actions.
    fn release_sends(&mut self, now: u64) {
        let attempt_timeout = self.config.attempt_timeout;
        while let Some((slot, id, attempt)) = self.throttle.next(now) {
            let Some(run) = self
                .runs
                .get(&id)
                .filter(|run| run.phase() == Phase::InFlight && run.attempts == attempt)
            else {
                // It expired while it waited.
                self.throttle.release(now, slot, Signal::Neutral);
                continue;
            };
            let directive = match run.poll_result.clone() {
                Some(result) => pb::run_request::Directive::PollResult(result),
                None => pb::run_request::Directive::Input(run.input.clone().unwrap_or_default()),
            };
            let request = pb::RunRequest {
                function: run.function.clone(),
                directive: Some(directive),
                dispatch_id: run.id.clone(),
                parent_dispatch_id: run.parent.clone(),
                root_dispatch_id: run.root.clone(),
                creation_time: Some(timestamp(run.created_ms)),
                expiration_time: Some(timestamp(run.expires_ms)),
            };
            let left = Duration::from_millis(run.expires_ms.saturating_sub(now));
            self.actions.push_back(Action::Send(SendRun {
                run: id.clone(),
                attempt,
                endpoint: run.endpoint.clone(),
                request,
                timeout: attempt_timeout.min(left),
            }));
            if let Some((_, stale)) = self.slots.insert(id, (attempt, slot)) {
                // A request sent before the run was forgotten and taken
                // back: its answer will be ignored, its slot is free.
                self.throttle.release(now, stale, Signal::Neutral);
            }
        }
    }

    fn new_id(&mut self) -> String {
        let count = self.id_counter;
        self.id_counter = self.id_counter.wrapping_add(1);
        format!("{:016x}{count:06x}", self.id_prefix)
    }

    /// splitmix64: the jitter's and the ids' source.
    fn next_random(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn start(&mut self, now: u64, call: pb::Call, parent: Option<(&str, &str)>) -> String {
        let id = self.new_id();
        let expiration = call
            .expiration
            .and_then(|d| Duration::try_from(d).ok())
            .filter(|d| !d.is_zero())
            .unwrap_or(self.config.default_expiration);
        let (parent, root) = match parent {
            Some((parent, root)) => (parent.to_owned(), root.to_owned()),
            None => (String::new(), id.clone()),
        };
        let run = RunState {
            id: id.clone(),
            parent,
            root,
            correlation_id: call.correlation_id,
            function: call.function,
            endpoint: call.endpoint,
            created_ms: now,
            expires_ms: now.saturating_add(millis(expiration)),
            input: Some(call.input.unwrap_or_default()),
            phase: Phase::Pending as i32,
            wake_ms: now,
            ..Default::default()
        };
        self.runs.insert(id.clone(), run);
        self.dirty.insert(id.clone());
        self.send(now, &id);
        id
    }

    /// When [`Machine::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<u64> {
        let timer = self.timers.first().map(|(at, _)| *at);
        match (timer, self.throttle.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The next action, in the order decided.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// Every run changed since the last call (finished ones included, with
    /// their outcome): the host makes them durable before it carries out
    /// the actions decided with them.
    pub fn take_changes(&mut self) -> Vec<RunState> {
        let mut changes = core::mem::take(&mut self.finished);
        for id in core::mem::take(&mut self.dirty) {
            if let Some(run) = self.runs.get(&id) {
                changes.push(run.clone());
            }
        }
        changes
    }

    /// Acts on every timer due at `now`.
    pub fn handle_timeout(&mut self, now: u64) {
        while let Some((at, id)) = self.timers.first().cloned() {
            if at > now {
                break;
            }
            self.timers.remove(&(at, id.clone()));
            self.timer_of.remove(&id);
            let Some(run) = self.runs.get(&id) else {
                continue;
            };
            if now >= run.expires_ms {
                self.expire(now, &id);
                continue;
            }
            match run.phase() {
                Phase::Pending => self.send(now, &id),
                Phase::Polling => self.resume(now, &id),
                // An answer is due; the attempt timeout covers it.
                Phase::InFlight | Phase::Done => self.schedule(&id),
            }
        }
        self.throttle.handle_timeout(now);
        self.release_sends(now);
    }

    /// What Run request `attempt` of run `run` came to. A stale answer (an
    /// earlier attempt's, or for a run already finished) is ignored:
    /// `None`.
    pub fn handle_answer(
        &mut self,
        now: u64,
        run: &str,
        attempt: u32,
        answer: Result<pb::RunResponse, Failure>,
    ) -> Option<Attempted> {
        if self
            .slots
            .get(run)
            .is_some_and(|(sent, _)| *sent == attempt)
            && let Some((_, slot)) = self.slots.remove(run)
        {
            self.throttle.release(now, slot, signal_of(&answer));
        }
        let attempted = self.answer(now, run, attempt, answer);
        self.release_sends(now);
        attempted
    }

    fn answer(
        &mut self,
        now: u64,
        run: &str,
        attempt: u32,
        answer: Result<pb::RunResponse, Failure>,
    ) -> Option<Attempted> {
        let state = self.runs.get(run)?;
        if state.phase() != Phase::InFlight || state.attempts != attempt {
            return None;
        }
        let function = state.function.clone();
        let step_attempt = state.step_attempts;
        let (step, retry_after) = match answer {
            Ok(response) => (step_of(response), None),
            Err(failure) => (
                Step::Failed(
                    failure.status,
                    error_result(failure.status, &failure.message),
                ),
                failure.retry_after,
            ),
        };
        let attempted = Attempted {
            function,
            attempt: step_attempt,
            status: step.status(),
            next: step.next(),
            error: step.error(),
        };
        let next = if now >= state.expires_ms {
            "expired"
        } else if matches!(&step, Step::Failed(status, _)
            if status.is_temporary() && !self.attempts_exhausted(run))
        {
            "retry"
        } else {
            attempted.next
        };
        self.record(now, run, &attempted, next);
        self.dirty.insert(run.to_owned());
        if now >= self.runs.get(run)?.expires_ms {
            self.expire(now, run);
            return Some(attempted);
        }
        match step {
            Step::Done(status, result) => self.finish(now, run, status, result),
            Step::Failed(status, result) => {
                if !status.is_temporary() || self.attempts_exhausted(run) {
                    self.finish(now, run, status, result);
                } else {
                    self.retry_later(now, run, status, &result, retry_after);
                    return Some(Attempted {
                        next: "retry",
                        ..attempted
                    });
                }
            }
            Step::TailCall(status, call) => {
                let temporary = status.is_temporary();
                if temporary && self.attempts_exhausted(run) {
                    let message = format!("tail call to {} refused: {status}", call.function);
                    self.finish(now, run, status, error_result(status, &message));
                    return Some(attempted);
                }
                let state = self.runs.get_mut(run)?;
                if !call.endpoint.is_empty() {
                    state.endpoint = call.endpoint;
                }
                state.function = call.function;
                state.input = Some(call.input.unwrap_or_default());
                state.poll_result = None;
                if temporary {
                    let result = error_result(status, "tail call with a temporary status");
                    self.retry_later(now, run, status, &result, retry_after);
                } else {
                    state.step_attempts = 0;
                    self.send(now, run);
                }
            }
            Step::Poll(poll) => self.suspend(now, run, poll),
        }
        Some(attempted)
    }

    /// Adds the attempt just answered to the run's history.
    fn record(&mut self, now: u64, run: &str, attempted: &Attempted, next: &str) {
        let Some(state) = self.runs.get_mut(run) else {
            return;
        };
        let mut error = attempted.error.clone().unwrap_or_default();
        if error.len() > MAX_RECORD_ERROR {
            let mut end = MAX_RECORD_ERROR;
            while !error.is_char_boundary(end) {
                end -= 1;
            }
            error.truncate(end);
        }
        if state.history.len() >= MAX_HISTORY {
            let excess = state.history.len() + 1 - MAX_HISTORY;
            state.history.drain(..excess);
        }
        state.history.push(AttemptRecord {
            attempt: state.attempts,
            function: attempted.function.clone(),
            sent_ms: state.sent_ms,
            duration_ms: now.saturating_sub(state.sent_ms),
            status: attempted.status.number(),
            next: next.to_owned(),
            error,
        });
    }

    fn attempts_exhausted(&self, run: &str) -> bool {
        match (self.config.backoff.max_attempts, self.runs.get(run)) {
            (Some(max), Some(state)) => state.step_attempts >= max,
            _ => false,
        }
    }

    /// Schedules the next attempt after a temporary failure: the jittered
    /// backoff, or longer if the endpoint asked.
    fn retry_later(
        &mut self,
        now: u64,
        run: &str,
        status: Status,
        result: &pb::CallResult,
        retry_after: Option<Duration>,
    ) {
        let step_attempts = self.runs.get(run).map_or(1, |r| r.step_attempts);
        let base = self.config.backoff.base(step_attempts);
        let half = millis(base) / 2;
        let spread = millis(base) - half;
        let jitter = self.next_random() % spread.saturating_add(1);
        let mut wait = half + jitter;
        if let Some(asked) = retry_after {
            wait = wait.max(millis(asked));
        }
        let Some(state) = self.runs.get_mut(run) else {
            return;
        };
        state.phase = Phase::Pending as i32;
        state.wake_ms = now.saturating_add(wait);
        state.last_failure = match &result.error {
            Some(error) => format!("{status} ({}: {})", error.r#type, error.message),
            None => status.to_string(),
        };
        self.schedule(run);
    }

    /// Makes the run's next Run request: it goes out when the throttle
    /// lets it ([`Machine::release_sends`]), and counts as in flight
    /// meanwhile (its wait is no part of the attempt's timeout).
    fn send(&mut self, now: u64, id: &str) {
        let Some(run) = self.runs.get_mut(id) else {
            return;
        };
        run.attempts = run.attempts.saturating_add(1);
        run.step_attempts = run.step_attempts.saturating_add(1);
        run.phase = Phase::InFlight as i32;
        run.sent_ms = now;
        let attempt = run.attempts;
        let origin = throttle::origin(&run.endpoint);
        self.throttle.enqueue(now, &origin, id.to_owned(), attempt);
        self.dirty.insert(id.to_owned());
        self.schedule(id);
    }

    /// Suspends the run in `poll`: starts its calls as children (all, or
    /// none if one is invalid) and waits for their results.
    fn suspend(&mut self, now: u64, id: &str, poll: pb::Poll) {
        let Some(run) = self.runs.get(id) else {
            return;
        };
        let endpoint = run.endpoint.clone();
        let root = run.root.clone();
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
            let checked = dispatch_core::validate::validate_call(call)
                .map_err(|error| error.to_string())
                .and_then(|()| {
                    crate::policy::check_endpoint_url(&call.endpoint)
                        .map(drop)
                        .map_err(|error| error.to_string())
                });
            checked
                .err()
                .map(|error| format!("poll.calls[{index}]: {error}"))
        });
        if let Some(message) = invalid {
            if let Some(run) = self.runs.get_mut(id) {
                run.poll_result = Some(pb::PollResult {
                    state,
                    results: Vec::new(),
                    error: Some(scheduler_error(Status::InvalidArgument, message)),
                });
                run.step_attempts = 0;
            }
            self.send(now, id);
            return;
        }
        let started = u32::try_from(calls.len()).unwrap_or(u32::MAX);
        let mut children = Vec::with_capacity(calls.len());
        for call in calls {
            children.push(self.start(now, call, Some((id, &root))));
        }
        let max_wait = poll
            .max_wait
            .and_then(|d| Duration::try_from(d).ok())
            .filter(|d| !d.is_zero())
            .unwrap_or(self.config.default_max_wait);
        let Some(run) = self.runs.get_mut(id) else {
            return;
        };
        run.outstanding = run.outstanding.saturating_add(started);
        run.children.extend(children);
        let max_results = match u32::try_from(poll.max_results) {
            Ok(0) | Err(_) => MAX_POLL_RESULTS,
            Ok(n) => n.min(MAX_POLL_RESULTS),
        };
        let can_come = u32::try_from(run.ready.len())
            .unwrap_or(u32::MAX)
            .saturating_add(run.outstanding);
        let min_results = u32::try_from(poll.min_results)
            .unwrap_or(1)
            .clamp(1, max_results)
            .min(can_come);
        run.poll = Some(PollWait {
            resume: Some(pb::PollResult {
                state,
                results: Vec::new(),
                error: None,
            }),
            // 0 only when nothing can come in: the poll is then a timer (a
            // durable sleep) and waits its whole max_wait.
            min_results,
            max_results,
        });
        run.phase = Phase::Polling as i32;
        run.wake_ms = now.saturating_add(millis(max_wait));
        run.step_attempts = 0;
        self.dirty.insert(id.to_owned());
        if min_results > 0 && run.ready.len() >= min_results as usize {
            self.resume(now, id);
        } else {
            self.schedule(id);
        }
    }

    /// Resumes a polling run with the results in (at most `max_results`).
    fn resume(&mut self, now: u64, id: &str) {
        let Some(run) = self.runs.get_mut(id) else {
            return;
        };
        let Some(wait) = run.poll.take() else {
            return;
        };
        let take = run.ready.len().min(wait.max_results as usize);
        let mut result = wait.resume.unwrap_or_default();
        result.results = run.ready.drain(..take).collect();
        run.poll_result = Some(result);
        run.step_attempts = 0;
        self.send(now, id);
    }

    /// Run `id` expired: it ends with `STATUS_TIMEOUT`.
    fn expire(&mut self, now: u64, id: &str) {
        let Some(run) = self.runs.get(id) else {
            return;
        };
        let lifetime = Duration::from_millis(run.expires_ms.saturating_sub(run.created_ms));
        let mut message = format!("the call expired: it did not finish within {lifetime:?}");
        if !run.last_failure.is_empty() {
            message.push_str(&format!(
                " ({} attempts; the last failed with {})",
                run.attempts, run.last_failure
            ));
        }
        let status = Status::Timeout;
        self.finish(now, id, status, error_result(status, &message));
    }

    /// Records the outcome of run `id`, and hands its result to its parent.
    fn finish(&mut self, now: u64, id: &str, status: Status, mut result: pb::CallResult) {
        let Some(mut run) = self.runs.remove(id) else {
            return;
        };
        if let Some(at) = self.timer_of.remove(id) {
            self.timers.remove(&(at, id.to_owned()));
        }
        self.dirty.remove(id);
        result.correlation_id = run.correlation_id;
        id.clone_into(&mut result.dispatch_id);
        run.phase = Phase::Done as i32;
        run.status = status.number();
        run.result = Some(result.clone());
        run.finished_ms = now;
        run.poll = None;
        run.ready.clear();
        run.input = None;
        run.poll_result = None;
        let parent = run.parent.clone();
        self.finished.push(run);
        self.actions.push_back(Action::Finished {
            run: id.to_owned(),
            parent: parent.clone(),
            status,
            result: result.clone(),
        });
        if self.config.deliver_locally {
            self.deliver(now, &parent, id, result);
        }
    }

    /// Gives child `child`'s result to its parent `parent`, if the machine
    /// holds the parent and still awaits that child (a parent that is done,
    /// or got the result already, ignores it); returns whether it was taken.
    /// The parent resumes if its poll has enough results.
    ///
    /// With [`MachineConfig::deliver_locally`] unset the host calls this
    /// once the child's outcome is durable: for a child the machine
    /// finished ([`Action::Finished`]) and for one finished elsewhere (see
    /// [`Machine::awaited_elsewhere`]).
    pub fn deliver(&mut self, now: u64, parent: &str, child: &str, result: pb::CallResult) -> bool {
        // The parent may be done already (expired): the result is then moot.
        let Some(parent_run) = self.runs.get_mut(parent) else {
            return false;
        };
        match parent_run.children.iter().position(|c| c == child) {
            Some(at) => {
                parent_run.children.remove(at);
            }
            // A state written before children were listed: counted only.
            None if parent_run.children.is_empty() && parent_run.outstanding > 0 => {}
            None => return false,
        }
        parent_run.outstanding = parent_run.outstanding.saturating_sub(1);
        parent_run.ready.push(result);
        self.dirty.insert(parent.to_owned());
        let ready = parent_run.ready.len();
        let due = parent_run.phase() == Phase::Polling
            && parent_run
                .poll
                .as_ref()
                .is_some_and(|p| p.min_results > 0 && ready >= p.min_results as usize);
        if due {
            self.resume(now, parent);
        }
        self.release_sends(now);
        true
    }

    /// The children (ids, with their parent's) that runs of this machine
    /// await and that the machine does not hold: held by another process,
    /// or finished there. The host looks them up in the store and passes
    /// those finished to [`Machine::deliver`].
    pub fn awaited_elsewhere(&self) -> Vec<(String, String)> {
        let mut awaited = Vec::new();
        for run in self.runs.values() {
            for child in &run.children {
                if !self.runs.contains_key(child) {
                    awaited.push((run.id.clone(), child.clone()));
                }
            }
        }
        awaited
    }

    /// Drops run `id` from the machine, as if it had never been restored:
    /// its timers, its changes not taken yet, and a Run request of it not
    /// sent yet (an answer to one already sent is then ignored). For a host
    /// that learns another process holds the run now. Returns whether the
    /// machine had it.
    pub fn forget(&mut self, now: u64, id: &str) -> bool {
        let Some(_) = self.runs.remove(id) else {
            return false;
        };
        if let Some(at) = self.timer_of.remove(id) {
            self.timers.remove(&(at, id.to_owned()));
        }
        self.dirty.remove(id);
        let before = self.actions.len();
        self.actions
            .retain(|action| !matches!(action, Action::Send(send) if send.run == id));
        if self.actions.len() != before
            && let Some((_, slot)) = self.slots.remove(id)
        {
            // Never sent: its slot is free again.
            self.throttle.release(now, slot, Signal::Neutral);
        }
        self.release_sends(now);
        true
    }

    /// The ids of the runs the machine holds (unfinished), in no order.
    pub fn run_ids(&self) -> Vec<String> {
        self.runs.keys().cloned().collect()
    }

    /// Whether changes wait for [`Machine::take_changes`].
    pub fn has_changes(&self) -> bool {
        !self.dirty.is_empty() || !self.finished.is_empty()
    }

    /// Puts run `id`'s timer in `timers`: its wake time, or its expiration
    /// when that is sooner or when it waits for an answer.
    fn schedule(&mut self, id: &str) {
        if let Some(at) = self.timer_of.remove(id) {
            self.timers.remove(&(at, id.to_owned()));
        }
        let Some(run) = self.runs.get(id) else {
            return;
        };
        let at = match run.phase() {
            Phase::Pending | Phase::Polling => run.wake_ms.min(run.expires_ms),
            Phase::InFlight => run.expires_ms,
            Phase::Done => return,
        };
        self.timers.insert((at, id.to_owned()));
        self.timer_of.insert(id.to_owned(), at);
    }
}

/// What an answer tells the throttle about its endpoint's load.
fn signal_of(answer: &Result<pb::RunResponse, Failure>) -> Signal {
    match answer {
        Ok(response) if response.status == Status::Throttled.number() => Signal::Throttled(None),
        Ok(_) => Signal::Answered,
        Err(failure)
            if failure.status == Status::Throttled
                || matches!(failure.http_status, Some(429 | 503)) =>
        {
            Signal::Throttled(failure.retry_after)
        }
        Err(_) => Signal::Neutral,
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn timestamp(ms: u64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: i64::try_from(ms / 1000).unwrap_or(i64::MAX),
        nanos: i32::try_from((ms % 1000) * 1_000_000).unwrap_or(0),
    }
}

/// What a Run response asks for next.
#[derive(Debug)]
enum Step {
    /// The run is over.
    Done(Status, pb::CallResult),
    /// The attempt failed; retried if the status is temporary.
    Failed(Status, pb::CallResult),
    /// Run this call in place of the function (after a backoff if the
    /// status is temporary).
    TailCall(Status, pb::Call),
    /// Dispatch these calls and resume with their results.
    Poll(pb::Poll),
}

impl Step {
    fn status(&self) -> Status {
        match self {
            Step::Done(status, _) | Step::Failed(status, _) | Step::TailCall(status, _) => *status,
            Step::Poll(_) => Status::Ok,
        }
    }

    fn next(&self) -> &'static str {
        match self {
            Step::Done(..) => "exit",
            Step::Failed(..) => "failed",
            Step::TailCall(..) => "tail_call",
            Step::Poll(_) => "poll",
        }
    }

    fn error(&self) -> Option<String> {
        match self {
            Step::Done(_, result) | Step::Failed(_, result) => result
                .error
                .as_ref()
                .map(|e| format!("{}: {}", e.r#type, e.message)),
            _ => None,
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

/// The error a run ends with when the scheduler itself gives up on it (no
/// `CallResult` from the function): the status's name as the type.
pub(crate) fn scheduler_error(status: Status, message: impl Into<String>) -> pb::Error {
    pb::Error {
        r#type: status.name().to_owned(),
        message: message.into(),
        ..Default::default()
    }
}

fn error_result(status: Status, message: &str) -> pb::CallResult {
    pb::CallResult {
        error: Some(scheduler_error(status, message)),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests;
