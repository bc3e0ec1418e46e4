//! Durable functions as plain async Rust, on the core's replay engine
//! ([`dispatch_core::journal`]).
//!
//! A durable function ([`Registry::durable`](super::Registry::durable)) gets
//! a [`DurableContext`] and its input. Every operation it makes through the
//! context ([`call`](DurableContext::call), [`gather`](DurableContext::gather),
//! [`race`](DurableContext::race), [`any`](DurableContext::any),
//! [`sleep`](DurableContext::sleep), [`now`](DurableContext::now)) is
//! recorded in the run's journal the moment it is made, in the order the
//! function makes them. On each run, first or resumed, the function runs
//! again from the start: an operation whose outcome the journal holds is
//! answered at once; when the function awaits one that is not in yet, the
//! run ends with a `Poll` carrying every call made for the first time and
//! the journal, and the scheduler runs the function again once results are
//! in. Nothing stays in the endpoint's memory between runs: any replica, or
//! the same process after a restart, takes the resume.
//!
//! Rules that follow from replay:
//!
//! * Calls made before an await go out together, in one `Poll`: make them
//!   all, then await them ([`DurableContext::gather`]).
//! * The function must make the same operations, in the same order, with the
//!   same inputs, on every run. Read the clock with
//!   [`DurableContext::now`], not `SystemTime::now`. A run that departs from
//!   its journal ends with `STATUS_INCOMPATIBLE_STATE`, naming the first
//!   operation that diverged (docs/protocol/journal.md).
//! * Ordinary work (an HTTP request, a database query) runs again on every
//!   resume; make it idempotent, or make it a call. A run suspends as soon as
//!   it awaits a durable operation that is not in yet: an ordinary future
//!   awaited *together* with it (in a `join!`) is dropped then, and runs
//!   again on the resume.
//!
//! ```
//! use dispatch_std::endpoint::{Outcome, Registry};
//!
//! let mut registry = Registry::new();
//! registry.durable("sum_of_squares", |ctx, n: i64| async move {
//!     let squares = (1..=n).map(|i| ctx.call::<i64>("square", &i));
//!     let sum: i64 = ctx.gather(squares).await?.into_iter().sum();
//!     Ok(Outcome::value(&sum))
//! });
//! assert!(registry.contains("sum_of_squares"));
//! ```

use core::fmt;
use core::future::Future;
use core::marker::PhantomData;
use core::pin::Pin;
use core::sync::atomic::{AtomicBool, Ordering};
use core::task::{Context as TaskContext, Poll as TaskPoll, Waker};
use core::time::Duration;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::Wake;
use std::time::{SystemTime, UNIX_EPOCH};

use dispatch_core::any::{self, AnyMessage};
use dispatch_core::journal::{Choice, Replay, SelectRule, Seq};
use dispatch_core::proto::sdk::v1 as pb;
use dispatch_core::status::Status;
use prost_types::{Any, Timestamp};

use super::function::{Directive, FunctionError, Outcome, Poll, Run};
use super::registry::FunctionResult;

/// What a durable function is called, and where: a function of this
/// endpoint (from its name) or of another ([`Callee::at`]).
///
/// ```
/// use dispatch_std::endpoint::Callee;
/// let here = Callee::from("square");
/// let there = Callee::at("https://maths.example.com", "square");
/// assert_eq!(here.function(), there.function());
/// assert_eq!(there.endpoint(), Some("https://maths.example.com"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Callee {
    endpoint: Option<String>,
    function: String,
}

impl Callee {
    /// The function `function` of the endpoint at `endpoint`.
    pub fn at(endpoint: impl Into<String>, function: impl Into<String>) -> Self {
        Callee {
            endpoint: Some(endpoint.into()),
            function: function.into(),
        }
    }

    /// The function's name.
    pub fn function(&self) -> &str {
        &self.function
    }

    /// The endpoint named, if any (`None`: the caller's own).
    pub fn endpoint(&self) -> Option<&str> {
        self.endpoint.as_deref()
    }
}

impl From<&str> for Callee {
    fn from(function: &str) -> Self {
        Callee {
            endpoint: None,
            function: function.to_owned(),
        }
    }
}

impl From<String> for Callee {
    fn from(function: String) -> Self {
        Callee {
            endpoint: None,
            function,
        }
    }
}

/// Why a durable call gave no value: the callee failed, its output is not
/// what the caller expects, or (for [`DurableContext::any`]) every call
/// failed. A function handles it like any error, or passes it on with `?`
/// (the run then fails with `STATUS_PERMANENT_ERROR`).
///
/// ```
/// use dispatch_std::endpoint::{CallError, Outcome, Registry};
///
/// let mut registry = Registry::new();
/// registry.durable("careful", |ctx, n: i64| async move {
///     match ctx.call::<i64>("risky", &n).await {
///         Ok(value) => Ok(Outcome::value(&value)),
///         Err(CallError::Failed { error, .. }) => Ok(Outcome::value(&error.message)),
///         Err(other) => Err(other.into()),
///     }
/// });
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum CallError {
    /// The call ended with an error (after the scheduler's retries), or the
    /// poll that carried it was refused as a whole.
    Failed {
        /// The function called.
        function: String,
        /// The error it reported.
        error: pb::Error,
    },
    /// The call returned an output that is not a message of the type the
    /// caller awaits.
    Output {
        /// The function called.
        function: String,
        /// The protobuf name the caller expects.
        expected: &'static str,
        /// The type URL of what came back (empty: no output).
        type_url: String,
    },
    /// Every call given to [`DurableContext::any`] failed; their errors, in
    /// the order given.
    AllFailed {
        /// Each call's error.
        errors: Vec<CallError>,
    },
}

impl CallError {
    /// The callee's `Error.type` for a failed call; `"CallOutput"` or
    /// `"AllFailed"` otherwise.
    pub fn type_name(&self) -> &str {
        match self {
            CallError::Failed { error, .. } => &error.r#type,
            CallError::Output { .. } => "CallOutput",
            CallError::AllFailed { .. } => "AllFailed",
        }
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Failed { function, error } => {
                write!(f, "{function} failed: {}: {}", error.r#type, error.message)
            }
            CallError::Output {
                function,
                expected,
                type_url,
            } => write!(
                f,
                "{function} returned {type_url:?}, not the {expected} the caller awaits"
            ),
            CallError::AllFailed { errors } => {
                write!(f, "all {} calls failed", errors.len())?;
                if let Some(first) = errors.first() {
                    write!(f, " (the first: {first})")?;
                }
                Ok(())
            }
        }
    }
}

impl core::error::Error for CallError {}

/// The state one run shares between the context, its operations and the
/// driver: the engine, and what the operations awaited in the last poll of
/// the function were blocked on.
#[derive(Debug)]
struct RunState {
    replay: Replay,
    /// An operation awaited in this poll of the function is not in yet.
    blocked: bool,
    /// How many results the blocked operations wait for.
    wanted: usize,
    /// How many operations the function has made in this run.
    made: usize,
}

impl RunState {
    /// Counts an operation the engine took.
    fn made<T>(&mut self, taken: Option<T>) -> Option<T> {
        if taken.is_some() {
            self.made = self.made.saturating_add(1);
        }
        taken
    }

    fn block(&mut self, results: usize) {
        self.blocked = true;
        self.wanted = self.wanted.saturating_add(results);
    }

    /// The outcome of a call, or `None` when it is not in (or the run has
    /// diverged, when nothing more is answered).
    fn answer<O: AnyMessage>(&self, op: &Operand) -> Option<Result<O, CallError>> {
        if self.replay.failure().is_some() {
            return None;
        }
        let answer = self.replay.result(op.seq?)?;
        if let Some(error) = answer.error {
            return Some(Err(CallError::Failed {
                function: op.function.clone(),
                error: error.clone(),
            }));
        }
        Some(decode_output(&op.function, answer.output))
    }
}

/// A call's output as an `O`: a missing output reads as `Empty` only.
fn decode_output<O: AnyMessage>(function: &str, output: Option<&Any>) -> Result<O, CallError> {
    let wrong = |type_url: &str| CallError::Output {
        function: function.to_owned(),
        expected: O::FULL_NAME,
        type_url: type_url.to_owned(),
    };
    match output {
        Some(output) => any::unpack(output).map_err(|_| wrong(&output.type_url)),
        None if O::FULL_NAME == <() as AnyMessage>::FULL_NAME => Ok(O::default()),
        None => Err(wrong("")),
    }
}

fn lock(state: &Mutex<RunState>) -> MutexGuard<'_, RunState> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One recorded operation: its sequence number (`None` when it could not
/// be recorded: the run has failed) and, for a call, its function.
#[derive(Clone, Debug)]
struct Operand {
    seq: Option<Seq>,
    function: String,
}

/// What a durable function works through: its calls, sleeps and clock
/// readings, each recorded in the run's journal. Cheap to clone; every
/// clone is the same run. See the [module](self).
#[derive(Clone, Debug)]
pub struct DurableContext {
    state: Arc<Mutex<RunState>>,
    endpoint_url: Option<Arc<str>>,
    dispatch_id: Arc<str>,
}

impl DurableContext {
    /// Calls `callee` with `input`, awaiting an output of type `O`. The call
    /// is made now, in the order of the function's operations, and goes out
    /// in the run's next `Poll` with every other call made before the
    /// function waits; awaiting it gives its output, or a [`CallError`].
    ///
    /// A function of this endpoint is addressed at its
    /// `DISPATCH_ENDPOINT_URL` (or, without one, left to the scheduler,
    /// which sends it to the caller's endpoint).
    ///
    /// ```
    /// # use dispatch_std::endpoint::{Callee, Outcome, Registry};
    /// # let mut registry = Registry::new();
    /// registry.durable("greet_twice", |ctx, name: String| async move {
    ///     let here: String = ctx.call("greet", &name).await?;
    ///     let there: String = ctx.call(Callee::at("https://other.example.com", "greet"), &name).await?;
    ///     Ok(Outcome::value(&format!("{here} {there}")))
    /// });
    /// ```
    pub fn call<O: AnyMessage>(
        &self,
        callee: impl Into<Callee>,
        input: &impl AnyMessage,
    ) -> DurableCall<O> {
        let callee = callee.into();
        let endpoint = callee
            .endpoint
            .as_deref()
            .or(self.endpoint_url.as_deref())
            .unwrap_or_default();
        let mut state = lock(&self.state);
        let call = state
            .replay
            .call(endpoint, &callee.function, any::pack(input));
        let seq = state.made(call.ok());
        drop(state);
        DurableCall {
            state: Arc::clone(&self.state),
            operand: Operand {
                seq,
                function: callee.function,
            },
            output: PhantomData,
        }
    }

    /// Awaits every call of `calls` (made already, so they went out
    /// together) and gives their outputs in the order given, or the first
    /// error in that order once all are in.
    ///
    /// ```
    /// # use dispatch_std::endpoint::{Outcome, Registry};
    /// # let mut registry = Registry::new();
    /// registry.durable("cubes", |ctx, n: i64| async move {
    ///     let calls: Vec<_> = (1..=n).map(|i| ctx.call::<i64>("cube", &i)).collect();
    ///     let cubes = ctx.gather(calls).await?;
    ///     Ok(Outcome::value(&cubes.into_iter().sum::<i64>()))
    /// });
    /// ```
    pub fn gather<O: AnyMessage>(
        &self,
        calls: impl IntoIterator<Item = DurableCall<O>>,
    ) -> Gather<O> {
        Gather {
            state: Arc::clone(&self.state),
            operands: calls.into_iter().map(|call| call.operand).collect(),
            output: PhantomData,
        }
    }

    /// Awaits the first of `calls` to finish, failed or not: its position
    /// among them and its outcome. The choice is recorded, so every replay
    /// makes the same one whatever came in since. Racing no calls never
    /// finishes (the run then fails, waiting for nothing).
    ///
    /// ```
    /// # use dispatch_std::endpoint::{Outcome, Registry};
    /// # let mut registry = Registry::new();
    /// registry.durable("fastest", |ctx, query: String| async move {
    ///     let mirrors = [ctx.call::<String>("lookup_eu", &query), ctx.call("lookup_us", &query)];
    ///     let (_position, answer) = ctx.race(mirrors).await;
    ///     Ok(Outcome::value(&answer?))
    /// });
    /// ```
    pub fn race<O: AnyMessage>(&self, calls: impl IntoIterator<Item = DurableCall<O>>) -> Race<O> {
        Race {
            select: self.select(calls, SelectRule::FirstDone),
        }
    }

    /// Awaits the first of `calls` to succeed: its position and its output,
    /// or [`CallError::AllFailed`] once every one has failed. The choice is
    /// recorded like [`DurableContext::race`]'s.
    ///
    /// ```
    /// # use dispatch_std::endpoint::{Outcome, Registry};
    /// # let mut registry = Registry::new();
    /// registry.durable("first_working", |ctx, key: String| async move {
    ///     let replicas = [ctx.call::<String>("read_a", &key), ctx.call("read_b", &key)];
    ///     let (_position, value) = ctx.any(replicas).await?;
    ///     Ok(Outcome::value(&value))
    /// });
    /// ```
    pub fn any<O: AnyMessage>(&self, calls: impl IntoIterator<Item = DurableCall<O>>) -> AnyOf<O> {
        AnyOf {
            select: self.select(calls, SelectRule::FirstSuccess),
        }
    }

    fn select<O: AnyMessage>(
        &self,
        calls: impl IntoIterator<Item = DurableCall<O>>,
        rule: SelectRule,
    ) -> Select<O> {
        let operands: Vec<Operand> = calls.into_iter().map(|call| call.operand).collect();
        let seqs: Option<Vec<Seq>> = operands.iter().map(|operand| operand.seq).collect();
        let mut state = lock(&self.state);
        let select = seqs.and_then(|seqs| state.replay.select(&seqs, rule).ok());
        let seq = state.made(select);
        drop(state);
        Select {
            state: Arc::clone(&self.state),
            seq,
            operands,
            output: PhantomData,
        }
    }

    /// A durable sleep: awaiting it suspends the run (a `Poll` whose
    /// `max_wait` ends with the sleep) until `duration` has passed since the
    /// run that first made it. A sleep of zero is over at once.
    ///
    /// ```
    /// # use dispatch_std::endpoint::{Outcome, Registry};
    /// # use std::time::Duration;
    /// # let mut registry = Registry::new();
    /// registry.durable("remind", |ctx, text: String| async move {
    ///     ctx.sleep(Duration::from_secs(3600)).await;
    ///     let sent: bool = ctx.call("send_reminder", &text).await?;
    ///     Ok(Outcome::value(&sent))
    /// });
    /// ```
    pub fn sleep(&self, duration: Duration) -> Sleep {
        let mut state = lock(&self.state);
        let sleep = state.replay.sleep(duration).ok();
        let seq = state.made(sleep);
        drop(state);
        Sleep {
            state: Arc::clone(&self.state),
            seq,
        }
    }

    /// The time, read once and recorded: the first run reads the clock, and
    /// every replay gets the same instant back.
    ///
    /// ```
    /// # use dispatch_std::endpoint::{Outcome, Registry};
    /// # let mut registry = Registry::new();
    /// registry.durable("stamp", |ctx, (): ()| async move {
    ///     let started = ctx.now();
    ///     let seconds = started.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    ///     Ok(Outcome::value(&(seconds.as_secs() as i64)))
    /// });
    /// ```
    pub fn now(&self) -> SystemTime {
        let mut state = lock(&self.state);
        let read = state.replay.now().ok();
        let time = state.made(read).unwrap_or_else(|| state.replay.run_time());
        system_time(&time)
    }

    /// Ends the function by calling `callee` with `input` in its place (a
    /// tail call): return it from the function.
    ///
    /// ```
    /// # use dispatch_std::endpoint::{Outcome, Registry};
    /// # let mut registry = Registry::new();
    /// registry.durable("countdown", |ctx, n: i64| async move {
    ///     if n <= 0 {
    ///         return Ok(Outcome::value(&"liftoff".to_string()));
    ///     }
    ///     Ok(ctx.tail_call("countdown", &(n - 1)))
    /// });
    /// ```
    pub fn tail_call(&self, callee: impl Into<Callee>, input: &impl AnyMessage) -> Outcome {
        let callee = callee.into();
        let endpoint = callee
            .endpoint
            .as_deref()
            .or(self.endpoint_url.as_deref())
            .unwrap_or_default();
        Outcome::tail_call(super::call(endpoint, &callee.function, 0, input))
    }

    /// Whether the function is replaying: every operation it made so far in
    /// this run was answered from the journal, and more are recorded there.
    /// For logging once what the function does, not on every resume; never
    /// for deciding what it does.
    ///
    /// ```
    /// # use dispatch_std::endpoint::{Outcome, Registry};
    /// # let mut registry = Registry::new();
    /// registry.durable("report", |ctx, n: i64| async move {
    ///     let square: i64 = ctx.call("square", &n).await?;
    ///     if !ctx.is_replaying() {
    ///         println!("square({n}) = {square}");
    ///     }
    ///     Ok(Outcome::value(&square))
    /// });
    /// ```
    pub fn is_replaying(&self) -> bool {
        let state = lock(&self.state);
        state.made < state.replay.recorded()
    }

    /// The id of this dispatch (the same on every resume).
    pub fn dispatch_id(&self) -> &str {
        &self.dispatch_id
    }

    /// This endpoint's public URL (`DISPATCH_ENDPOINT_URL`), if set.
    pub fn endpoint_url(&self) -> Option<&str> {
        self.endpoint_url.as_deref()
    }
}

/// A call made by [`DurableContext::call`]; await it for its output.
#[must_use = "a call's outcome is known only by awaiting it (or gathering, racing it)"]
#[derive(Debug)]
pub struct DurableCall<O> {
    state: Arc<Mutex<RunState>>,
    operand: Operand,
    output: PhantomData<fn() -> O>,
}

impl<O: AnyMessage> Future for DurableCall<O> {
    type Output = Result<O, CallError>;

    fn poll(self: Pin<&mut Self>, _cx: &mut TaskContext<'_>) -> TaskPoll<Self::Output> {
        let mut state = lock(&self.state);
        match state.answer(&self.operand) {
            Some(outcome) => TaskPoll::Ready(outcome),
            None => {
                state.block(1);
                TaskPoll::Pending
            }
        }
    }
}

/// The calls given to [`DurableContext::gather`]; await it for their
/// outputs.
#[must_use = "a gather's outcome is known only by awaiting it"]
#[derive(Debug)]
pub struct Gather<O> {
    state: Arc<Mutex<RunState>>,
    operands: Vec<Operand>,
    output: PhantomData<fn() -> O>,
}

impl<O: AnyMessage> Future for Gather<O> {
    type Output = Result<Vec<O>, CallError>;

    fn poll(self: Pin<&mut Self>, _cx: &mut TaskContext<'_>) -> TaskPoll<Self::Output> {
        let mut state = lock(&self.state);
        let answers: Vec<Option<Result<O, CallError>>> =
            self.operands.iter().map(|op| state.answer(op)).collect();
        let missing = answers.iter().filter(|answer| answer.is_none()).count();
        if missing > 0 {
            state.block(missing);
            return TaskPoll::Pending;
        }
        TaskPoll::Ready(answers.into_iter().flatten().collect())
    }
}

/// The choice among calls both [`Race`] and [`AnyOf`] make.
#[derive(Debug)]
struct Select<O> {
    state: Arc<Mutex<RunState>>,
    seq: Option<Seq>,
    operands: Vec<Operand>,
    output: PhantomData<fn() -> O>,
}

/// What a select came to: an operand was chosen, or none qualified (every
/// operand failed, with their errors).
enum Chosen<O> {
    Operand(usize, Result<O, CallError>),
    NoneQualified(Vec<CallError>),
}

impl<O: AnyMessage> Select<O> {
    /// What the select came to, or `None` (blocked) while the choice waits.
    fn poll_choice(&self) -> Option<Chosen<O>> {
        let mut state = lock(&self.state);
        let choice = match self.seq {
            Some(seq) if state.replay.failure().is_none() => state.replay.choice(seq),
            _ => None,
        };
        let chosen = match choice {
            Some(Choice::Operand(position)) => self
                .operands
                .get(position)
                .and_then(|op| state.answer(op))
                .map(|outcome| Chosen::Operand(position, outcome)),
            Some(Choice::None) => {
                let errors: Option<Vec<CallError>> = self
                    .operands
                    .iter()
                    .map(|op| state.answer::<O>(op).and_then(Result::err))
                    .collect();
                errors.map(Chosen::NoneQualified)
            }
            _ => None,
        };
        if chosen.is_none() {
            state.block(1);
        }
        chosen
    }
}

/// The calls given to [`DurableContext::race`]; await it for the first to
/// finish.
#[must_use = "a race's outcome is known only by awaiting it"]
#[derive(Debug)]
pub struct Race<O> {
    select: Select<O>,
}

impl<O: AnyMessage> Future for Race<O> {
    type Output = (usize, Result<O, CallError>);

    fn poll(self: Pin<&mut Self>, _cx: &mut TaskContext<'_>) -> TaskPoll<Self::Output> {
        match self.select.poll_choice() {
            Some(Chosen::Operand(position, outcome)) => TaskPoll::Ready((position, outcome)),
            // No operand: nothing can finish (the run fails, waiting for
            // nothing, unless something else is out).
            Some(Chosen::NoneQualified(_)) | None => TaskPoll::Pending,
        }
    }
}

/// The calls given to [`DurableContext::any`]; await it for the first to
/// succeed.
#[must_use = "an any's outcome is known only by awaiting it"]
#[derive(Debug)]
pub struct AnyOf<O> {
    select: Select<O>,
}

impl<O: AnyMessage> Future for AnyOf<O> {
    type Output = Result<(usize, O), CallError>;

    fn poll(self: Pin<&mut Self>, _cx: &mut TaskContext<'_>) -> TaskPoll<Self::Output> {
        match self.select.poll_choice() {
            Some(Chosen::Operand(position, outcome)) => {
                TaskPoll::Ready(outcome.map(|value| (position, value)))
            }
            Some(Chosen::NoneQualified(errors)) => {
                TaskPoll::Ready(Err(CallError::AllFailed { errors }))
            }
            None => TaskPoll::Pending,
        }
    }
}

/// A sleep made by [`DurableContext::sleep`]; await it to wait.
#[must_use = "a sleep waits only when awaited"]
#[derive(Debug)]
pub struct Sleep {
    state: Arc<Mutex<RunState>>,
    seq: Option<Seq>,
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, _cx: &mut TaskContext<'_>) -> TaskPoll<()> {
        let mut state = lock(&self.state);
        let over = state.replay.failure().is_none()
            && self.seq.is_some_and(|seq| state.replay.is_done(seq));
        if over {
            TaskPoll::Ready(())
        } else {
            state.block(0);
            TaskPoll::Pending
        }
    }
}

/// Wakes the run's task, and notes that the function asked to be polled
/// again (so that it is not waiting on the journal alone).
struct Wakeup {
    woken: AtomicBool,
    outer: Mutex<Waker>,
}

impl Wake for Wakeup {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::SeqCst);
        self.outer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .wake_by_ref();
    }
}

/// How a run of the function ended: it returned, or it waits on the
/// journal for this many results.
enum Ended {
    Returned(FunctionResult),
    Waits(usize),
}

/// Runs a durable function's handler for one request: builds the engine from
/// the run's directive, runs the function until it returns or can go no
/// further, and answers as the engine says.
pub(crate) async fn run_durable<I, F, Fut>(run: Run<Any>, handler: &F) -> FunctionResult
where
    I: AnyMessage + Send + 'static,
    F: Fn(DurableContext, I) -> Fut,
    Fut: Future<Output = FunctionResult> + Send + 'static,
{
    let now = timestamp(SystemTime::now());
    let started = match run.directive {
        Directive::Input(input) => Ok(Replay::first_run(input, now)),
        Directive::Resume(resume) => {
            let (state, results, error) = resume.into_parts();
            Replay::resume(&state, results, error, now)
        }
    };
    let replay = started.map_err(|error| {
        FunctionError::new(error.status(), error.type_name(), error.to_string())
    })?;
    let input = any::unpack::<I>(replay.input()).map_err(|error| {
        FunctionError::invalid_argument(format!(
            "the input ({:?}) is unusable: {error}",
            replay.input().type_url
        ))
    })?;
    let state = Arc::new(Mutex::new(RunState {
        replay,
        blocked: false,
        wanted: 0,
        made: 0,
    }));
    let context = DurableContext {
        state: Arc::clone(&state),
        endpoint_url: run.endpoint_url,
        dispatch_id: Arc::from(run.dispatch_id),
    };
    let ended = drive(&state, handler(context, input)).await;
    // The function and every operation it held are gone: the engine is ours.
    let replay = match Arc::try_unwrap(state) {
        Ok(state) => {
            state
                .into_inner()
                .unwrap_or_else(PoisonError::into_inner)
                .replay
        }
        Err(shared) => lock(&shared).replay.clone(),
    };
    let response = match ended {
        Ended::Waits(wanted) => replay.suspend(wanted),
        Ended::Returned(Ok(Outcome::Return { output, status })) => {
            with_status(replay.exit(output), status)
        }
        Ended::Returned(Ok(Outcome::TailCall { call, status })) => {
            with_status(replay.tail_call(call), status)
        }
        Ended::Returned(Ok(Outcome::Poll(_))) => replay.fail(
            Status::PermanentError,
            "DurablePoll",
            "a durable function waits by awaiting its calls, not by returning a Poll",
        ),
        Ended::Returned(Err(error)) => {
            replay.fail(error.status(), error.type_name(), error.message())
        }
    };
    outcome_of(response)
}

/// Polls the function until it returns, or until it awaits a durable
/// operation that is not in and nothing else woke it.
async fn drive<Fut>(state: &Mutex<RunState>, function: Fut) -> Ended
where
    Fut: Future<Output = FunctionResult>,
{
    let mut function = core::pin::pin!(function);
    let mut wakeup: Option<Arc<Wakeup>> = None;
    core::future::poll_fn(move |cx| {
        let wakeup = wakeup.get_or_insert_with(|| {
            Arc::new(Wakeup {
                woken: AtomicBool::new(false),
                outer: Mutex::new(cx.waker().clone()),
            })
        });
        cx.waker()
            .clone_into(&mut wakeup.outer.lock().unwrap_or_else(PoisonError::into_inner));
        let waker = Waker::from(Arc::clone(wakeup));
        let mut inner = TaskContext::from_waker(&waker);
        loop {
            {
                let mut run = lock(state);
                run.blocked = false;
                run.wanted = 0;
            }
            wakeup.woken.store(false, Ordering::SeqCst);
            if let TaskPoll::Ready(result) = function.as_mut().poll(&mut inner) {
                return TaskPoll::Ready(Ended::Returned(result));
            }
            if wakeup.woken.load(Ordering::SeqCst) {
                continue;
            }
            let run = lock(state);
            if run.blocked {
                return TaskPoll::Ready(Ended::Waits(run.wanted));
            }
            return TaskPoll::Pending;
        }
    })
    .await
}

/// A response the engine wrote with status `OK`, reported with `status`.
fn with_status(mut response: pb::RunResponse, status: Status) -> pb::RunResponse {
    if response.status == Status::Ok.number() {
        response.status = status.number();
    }
    response
}

/// The engine's response as what a handler returns (the endpoint turns it
/// back into the same response).
fn outcome_of(response: pb::RunResponse) -> FunctionResult {
    use pb::run_response::Directive as D;
    let status = Status::from_number(response.status).unwrap_or(Status::Unspecified);
    match response.directive {
        Some(D::Exit(exit)) => {
            if let Some(call) = exit.tail_call {
                return Ok(Outcome::TailCall { call, status });
            }
            let result = exit.result.unwrap_or_default();
            match result.error {
                Some(error) => Err(FunctionError::new(status, error.r#type, error.message)),
                None => Ok(Outcome::Return {
                    output: result.output,
                    status,
                }),
            }
        }
        Some(D::Poll(poll)) => {
            let state = match poll.state {
                Some(pb::poll::State::TypedCoroutineState(state)) => state,
                _ => Any::default(),
            };
            let max_wait = poll
                .max_wait
                .and_then(|wait| Duration::try_from(wait).ok())
                .unwrap_or_default();
            let mut out = Poll::with_state(state)
                .min_results(u32::try_from(poll.min_results).unwrap_or(1))
                .max_results(u32::try_from(poll.max_results).unwrap_or(1))
                .max_wait(max_wait);
            for call in poll.calls {
                out = out.call(call);
            }
            Ok(Outcome::Poll(out))
        }
        None => Err(FunctionError::permanent("the engine gave no answer")),
    }
}

fn timestamp(time: SystemTime) -> Timestamp {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    Timestamp {
        seconds: i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(since.subsec_nanos()).unwrap_or(0),
    }
}

fn system_time(time: &Timestamp) -> SystemTime {
    let seconds = u64::try_from(time.seconds).unwrap_or(0);
    let nanos = u32::try_from(time.nanos).unwrap_or(0);
    UNIX_EPOCH
        .checked_add(Duration::new(seconds, nanos))
        .unwrap_or(UNIX_EPOCH)
}
