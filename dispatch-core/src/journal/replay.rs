//! The engine: one run of a durable function, answered from its journal.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::time::Duration;

use prost::Message;
use prost_types::{Any, Timestamp};

use super::codec::{self, JOURNAL_FULL_NAME, JOURNAL_VERSION, MAX_ENTRIES, MAX_FUNCTIONS};
use super::error::{Divergence, JournalError, Operation};
use super::{Entry, EntryKind, Journal};
use crate::any::type_url;
use crate::proto::sdk::v1::{
    self as pb, Call, CallResult, RunResponse, poll, run_request::Directive, run_response,
};
use crate::run::error_response;
use crate::status::Status;
use crate::validate::RESULTS_RANGE;

/// How long a poll waits for results when no sleep sets its `max_wait`
/// (dispatch-go's default): after it, the function runs again and polls
/// again for the calls still out.
pub const DEFAULT_MAX_WAIT_SECS: u64 = 300;

/// The shortest `max_wait` the protocol accepts, in nanoseconds (1 s).
const MIN_WAIT_NANOS: i128 = 1_000_000_000;
const NANOS_PER_SECOND: i128 = 1_000_000_000;

/// An operation's sequence number: its position in the journal plus one,
/// which is also the `correlation_id` of the call it made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Seq(usize);

impl Seq {
    /// The sequence number (1 for the first operation).
    pub fn number(self) -> u64 {
        codec::sequence_of(self.0)
    }

    /// The `correlation_id` of the operation's call: its sequence number.
    pub fn correlation_id(self) -> u64 {
        self.number()
    }
}

/// The result of a finished call, borrowed from the journal.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct CallAnswer<'a> {
    /// The call's output, if any.
    pub output: Option<&'a Any>,
    /// The call's error, if it failed.
    pub error: Option<&'a pb::Error>,
}

/// Which operand a choice among operations waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SelectRule {
    /// The first operand to finish, failed or not (a race).
    FirstDone,
    /// The first operand to finish without an error; none if all fail (any).
    FirstSuccess,
}

/// What a choice among operations chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Choice {
    /// The operand at this position among those given.
    Operand(usize),
    /// None qualified: every operand of a [`SelectRule::FirstSuccess`] failed.
    None,
}

/// The operands of a choice the function made in this run (the journal keeps
/// only their fingerprint and, once made, the choice).
#[derive(Debug, Clone)]
struct Select {
    index: usize,
    operands: Vec<Seq>,
    rule: SelectRule,
}

/// One run of a durable function: the journal it resumes from, the
/// operations the function makes in this run, and the answer to the run.
///
/// The host builds it from the request ([`Replay::start`]), runs the
/// function, which makes its operations through it in order ([`call`],
/// [`sleep`], [`now`], [`select`]) and reads their outcomes ([`result`],
/// [`is_done`], [`choice`]), and ends the run with one of [`exit`],
/// [`fail`], [`tail_call`] or [`suspend`] (when the function waits for an
/// outcome not yet in). Every operation after a divergence or a journal
/// error fails with that error, and so does the end of the run.
///
/// [`call`]: Replay::call
/// [`sleep`]: Replay::sleep
/// [`now`]: Replay::now
/// [`select`]: Replay::select
/// [`result`]: Replay::result
/// [`is_done`]: Replay::is_done
/// [`choice`]: Replay::choice
/// [`exit`]: Replay::exit
/// [`fail`]: Replay::fail
/// [`tail_call`]: Replay::tail_call
/// [`suspend`]: Replay::suspend
#[derive(Debug, Clone)]
pub struct Replay {
    journal: Journal,
    /// The next operation's position.
    cursor: usize,
    /// How many entries the journal held when this run started.
    recorded: usize,
    now: Timestamp,
    /// The calls this run makes for the first time, for its poll.
    outgoing: Vec<Call>,
    selects: Vec<Select>,
    failure: Option<JournalError>,
}

static NO_INPUT: Any = Any {
    type_url: String::new(),
    value: Vec::new(),
};

impl Replay {
    /// A run from its directive, at the host's time `now` (the time sleeps
    /// are measured from and clock readings read).
    pub fn start(directive: Directive, now: Timestamp) -> Result<Replay, JournalError> {
        match directive {
            Directive::Input(input) => Ok(Replay::first_run(input, now)),
            Directive::PollResult(result) => match result.state {
                Some(pb::poll_result::State::TypedCoroutineState(state)) => {
                    Replay::resume(&state, result.results, result.error, now)
                }
                Some(pb::poll_result::State::CoroutineState(_)) | None => {
                    Err(JournalError::NotAJournal {
                        type_url: String::new(),
                    })
                }
            },
        }
    }

    /// The first run of a function, with its input.
    pub fn first_run(input: Any, now: Timestamp) -> Replay {
        Replay::with_journal(
            Journal {
                version: JOURNAL_VERSION,
                input: Some(input),
                ..Journal::default()
            },
            now,
        )
    }

    /// A resume: the journal in the poll's typed `state`, the `results`
    /// that came in, and the poll-level `error` (set when none of the last
    /// poll's calls was made: each of them then fails with it).
    ///
    /// A result is taken by its `correlation_id`; one for no call of the
    /// journal, or for a call already answered, is ignored (delivery is at
    /// least once). A sleep is over once `now` reaches its end, or when the
    /// resume brings fewer new results than the poll waited for, which
    /// means its `max_wait`, set by the nearest sleep, has passed.
    pub fn resume(
        state: &Any,
        results: Vec<CallResult>,
        error: Option<pb::Error>,
        now: Timestamp,
    ) -> Result<Replay, JournalError> {
        if crate::any::type_name(&state.type_url) != JOURNAL_FULL_NAME {
            return Err(JournalError::NotAJournal {
                type_url: state.type_url.clone(),
            });
        }
        let journal = codec::decode_journal(&state.value)?;
        let mut replay = Replay::with_journal(journal, now);
        let delivered = replay.deliver(results);
        let mut until = nanos(&replay.now);
        if let Some(error) = error {
            replay.fail_last_poll(&error);
        } else if delivered < replay.journal.poll_min_results
            && let Some(deadline) = &replay.journal.poll_deadline
        {
            until = until.max(nanos(deadline));
        }
        for entry in &mut replay.journal.entries {
            if entry.kind == EntryKind::Sleep as i32
                && !entry.done
                && entry.time.as_ref().is_some_and(|end| nanos(end) <= until)
            {
                entry.done = true;
            }
        }
        Ok(replay)
    }

    fn with_journal(journal: Journal, now: Timestamp) -> Replay {
        let recorded = journal.entries.len();
        Replay {
            journal,
            cursor: 0,
            recorded,
            now,
            outgoing: Vec::new(),
            selects: Vec::new(),
            failure: None,
        }
    }

    /// Records each result on its pending call; returns how many were new.
    fn deliver(&mut self, results: Vec<CallResult>) -> u32 {
        let mut delivered = 0u32;
        for result in results {
            let Some(index) = result
                .correlation_id
                .checked_sub(1)
                .and_then(|index| usize::try_from(index).ok())
            else {
                continue;
            };
            let Some(entry) = self.journal.entries.get_mut(index) else {
                continue;
            };
            if entry.kind != EntryKind::Call as i32 || entry.done {
                continue;
            }
            entry.done = true;
            entry.output = result.output;
            entry.error = result.error;
            delivered = delivered.saturating_add(1);
        }
        delivered
    }

    /// The poll failed as a whole: the calls it carried fail with its error.
    fn fail_last_poll(&mut self, error: &pb::Error) {
        let from = usize::try_from(self.journal.polled_from).unwrap_or(usize::MAX);
        for entry in self.journal.entries.iter_mut().skip(from) {
            if entry.kind == EntryKind::Call as i32 && !entry.done {
                entry.done = true;
                entry.error = Some(error.clone());
            }
        }
    }

    /// The function's input (an empty `Any` if the first run had none).
    pub fn input(&self) -> &Any {
        self.journal.input.as_ref().unwrap_or(&NO_INPUT)
    }

    /// The host's time for this run.
    pub fn run_time(&self) -> Timestamp {
        self.now
    }

    /// The journal as it stands.
    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// How many operations the journal held when this run started.
    pub fn recorded(&self) -> usize {
        self.recorded
    }

    /// The error that ends this run whatever the function does, if any: a
    /// divergence or a journal that is full.
    pub fn failure(&self) -> Option<&JournalError> {
        self.failure.as_ref()
    }

    /// The next operation: replayed (checked against its entry) or new
    /// (recorded, with its function's name when it is a call).
    fn next(
        &mut self,
        kind: EntryKind,
        function: Option<&str>,
        fingerprint: u32,
    ) -> Result<(usize, bool), JournalError> {
        if let Some(failure) = &self.failure {
            return Err(failure.clone());
        }
        let index = self.cursor;
        if let Some(entry) = self.journal.entries.get(index) {
            let replayed = || operation(kind, function);
            let divergence = if entry.kind != kind as i32 || self.function_of(entry) != function {
                Some(Divergence::Other {
                    sequence: codec::sequence_of(index),
                    recorded: self.operation_of(entry),
                    replayed: replayed(),
                })
            } else if entry.fingerprint != fingerprint {
                Some(Divergence::Arguments {
                    sequence: codec::sequence_of(index),
                    operation: replayed(),
                })
            } else {
                None
            };
            if let Some(divergence) = divergence {
                return Err(self.stop(JournalError::Diverged(divergence)));
            }
            self.cursor = index.saturating_add(1);
            return Ok((index, false));
        }
        if self.journal.entries.len() >= MAX_ENTRIES {
            return Err(self.stop(JournalError::Full));
        }
        let function = match function {
            Some(name) => match self.function_number(name) {
                Some(number) => number,
                None => {
                    let functions = self.journal.functions.len().saturating_add(1);
                    return Err(self.stop(JournalError::TooManyFunctions { functions }));
                }
            },
            None => 0,
        };
        self.journal.entries.push(Entry {
            kind: kind as i32,
            function,
            fingerprint,
            ..Entry::default()
        });
        self.cursor = self.journal.entries.len();
        Ok((index, true))
    }

    fn stop(&mut self, error: JournalError) -> JournalError {
        self.failure = Some(error.clone());
        error
    }

    /// The position plus one of `name` in the journal's function list,
    /// added if it is new; `None` past [`MAX_FUNCTIONS`].
    fn function_number(&mut self, name: &str) -> Option<u32> {
        let position = match self.journal.functions.iter().position(|f| f == name) {
            Some(position) => position,
            None if self.journal.functions.len() < MAX_FUNCTIONS => {
                self.journal.functions.push(name.to_string());
                self.journal.functions.len().saturating_sub(1)
            }
            None => return None,
        };
        u32::try_from(position.saturating_add(1)).ok()
    }

    fn function_of(&self, entry: &Entry) -> Option<&str> {
        if entry.kind != EntryKind::Call as i32 {
            return None;
        }
        let position = usize::try_from(entry.function).ok()?.checked_sub(1)?;
        self.journal.functions.get(position).map(String::as_str)
    }

    fn operation_of(&self, entry: &Entry) -> Operation {
        match EntryKind::try_from(entry.kind) {
            Ok(EntryKind::Sleep) => Operation::Sleep,
            Ok(EntryKind::Now) => Operation::Now,
            Ok(EntryKind::Select) => Operation::Select,
            _ => Operation::Call {
                function: self.function_of(entry).unwrap_or_default().to_string(),
            },
        }
    }

    /// Calls `function` at `endpoint` (empty: the scheduler's choice, the
    /// caller's own endpoint) with `input`. A new call goes out in this
    /// run's poll, with the operation's sequence number as its
    /// `correlation_id`; a replayed one must name the same function with the
    /// same input (type URL and bytes) as the journal recorded. The endpoint
    /// is where the code is deployed, not what it does, and is not compared.
    pub fn call(
        &mut self,
        endpoint: &str,
        function: &str,
        input: Any,
    ) -> Result<Seq, JournalError> {
        let fingerprint = codec::fingerprint(&[input.type_url.as_bytes(), &[0], &input.value]);
        let (index, new) = self.next(EntryKind::Call, Some(function), fingerprint)?;
        let seq = Seq(index);
        if new {
            self.outgoing.push(Call {
                correlation_id: seq.correlation_id(),
                endpoint: endpoint.to_string(),
                function: function.to_string(),
                input: Some(input),
                ..Call::default()
            });
        }
        Ok(seq)
    }

    /// A durable sleep for `duration` from this run's time, over once a run
    /// starts at or after its end ([`Replay::is_done`]).
    pub fn sleep(&mut self, duration: Duration) -> Result<Seq, JournalError> {
        let fingerprint = codec::fingerprint(&[
            &duration.as_secs().to_le_bytes(),
            &duration.subsec_nanos().to_le_bytes(),
        ]);
        let (index, new) = self.next(EntryKind::Sleep, None, fingerprint)?;
        if new {
            let end = nanos(&self.now)
                .saturating_add(i128::try_from(duration.as_nanos()).unwrap_or(i128::MAX));
            if let Some(entry) = self.journal.entries.get_mut(index) {
                entry.time = Some(timestamp(end));
                entry.done = duration.is_zero();
            }
        }
        Ok(Seq(index))
    }

    /// A reading of the clock: this run's time the first time, the same
    /// instant on every replay.
    pub fn now(&mut self) -> Result<Timestamp, JournalError> {
        let (index, new) = self.next(EntryKind::Now, None, codec::fingerprint(&[]))?;
        let now = self.now;
        let entry = self.journal.entries.get_mut(index);
        match entry {
            Some(entry) if new => {
                entry.time = Some(now);
                entry.done = true;
                Ok(now)
            }
            Some(entry) => Ok(entry.time.unwrap_or(now)),
            None => Ok(now),
        }
    }

    /// A choice among earlier operations (`operands`, in the order given):
    /// made once, in the run where an operand first qualifies, and then
    /// answered from the journal on every replay, whatever else has come in
    /// since. Read it with [`Replay::choice`].
    pub fn select(&mut self, operands: &[Seq], rule: SelectRule) -> Result<Seq, JournalError> {
        let mut parts: Vec<[u8; 8]> = Vec::with_capacity(operands.len().saturating_add(1));
        parts.push(u64::from(rule == SelectRule::FirstSuccess).to_le_bytes());
        parts.extend(operands.iter().map(|seq| seq.number().to_le_bytes()));
        let slices: Vec<&[u8]> = parts.iter().map(<[u8; 8]>::as_slice).collect();
        let (index, _) = self.next(EntryKind::Select, None, codec::fingerprint(&slices))?;
        self.selects.push(Select {
            index,
            operands: operands.to_vec(),
            rule,
        });
        Ok(Seq(index))
    }

    /// The choice of a [`Replay::select`]: from the journal if it was made,
    /// else made now if an operand qualifies, else `None` (wait).
    pub fn choice(&mut self, select: Seq) -> Option<Choice> {
        let entry = self.journal.entries.get(select.0)?;
        if entry.kind != EntryKind::Select as i32 {
            return None;
        }
        if entry.done {
            return Some(match usize::try_from(entry.chosen).ok()?.checked_sub(1) {
                Some(position) => Choice::Operand(position),
                None => Choice::None,
            });
        }
        let pending = self.selects.iter().find(|s| s.index == select.0)?;
        let mut all_done = true;
        let mut chosen = None;
        for (position, operand) in pending.operands.iter().enumerate() {
            let Some(operand_entry) = self.journal.entries.get(operand.0) else {
                all_done = false;
                continue;
            };
            if !operand_entry.done {
                all_done = false;
                continue;
            }
            let qualifies = match pending.rule {
                SelectRule::FirstDone => true,
                SelectRule::FirstSuccess => operand_entry.error.is_none(),
            };
            if qualifies {
                chosen = Some(position);
                break;
            }
        }
        let choice = match chosen {
            Some(position) => Choice::Operand(position),
            None if all_done => Choice::None,
            None => return None,
        };
        let recorded = match choice {
            Choice::Operand(position) => u32::try_from(position.saturating_add(1)).ok()?,
            Choice::None => 0,
        };
        let entry = self.journal.entries.get_mut(select.0)?;
        entry.done = true;
        entry.chosen = recorded;
        Some(choice)
    }

    /// The result of a call, once it is in.
    pub fn result(&self, call: Seq) -> Option<CallAnswer<'_>> {
        let entry = self.journal.entries.get(call.0)?;
        (entry.kind == EntryKind::Call as i32 && entry.done).then_some(CallAnswer {
            output: entry.output.as_ref(),
            error: entry.error.as_ref(),
        })
    }

    /// Whether an operation's outcome is known: a call's result is in, a
    /// sleep is over, a choice was made.
    pub fn is_done(&self, operation: Seq) -> bool {
        self.journal
            .entries
            .get(operation.0)
            .is_some_and(|entry| entry.done)
    }

    /// The answer when the run cannot end as the function says: a journal
    /// error, or a function that ended before replaying its journal.
    fn verdict(&mut self) -> Option<RunResponse> {
        if self.failure.is_none()
            && let Some(entry) = self.journal.entries.get(self.cursor)
        {
            let divergence = Divergence::Missing {
                sequence: codec::sequence_of(self.cursor),
                recorded: self.operation_of(entry),
            };
            self.failure = Some(JournalError::Diverged(divergence));
        }
        let failure = self.failure.as_ref()?;
        Some(error_response(
            failure.status(),
            failure.type_name(),
            failure.to_string(),
        ))
    }

    /// The function returned `output`: an `Exit` with status `OK`.
    pub fn exit(mut self, output: Option<Any>) -> RunResponse {
        if let Some(verdict) = self.verdict() {
            return verdict;
        }
        exit_response(
            Status::Ok,
            CallResult {
                output,
                ..CallResult::default()
            },
            None,
        )
    }

    /// The function failed: an `Exit` with this status and error.
    pub fn fail(
        mut self,
        status: Status,
        type_name: impl Into<String>,
        message: impl Into<String>,
    ) -> RunResponse {
        if let Some(verdict) = self.verdict() {
            return verdict;
        }
        error_response(status, type_name, message)
    }

    /// The function ends by calling another in its place: an `Exit` with the
    /// tail call and status `OK`.
    pub fn tail_call(mut self, call: Call) -> RunResponse {
        if let Some(verdict) = self.verdict() {
            return verdict;
        }
        exit_response(Status::Ok, CallResult::default(), Some(call))
    }

    /// The function waits for outcomes not yet in: a `Poll` with the calls
    /// this run made for the first time, the journal as typed coroutine
    /// state, `max_results` the number of calls still out (at most 1000),
    /// `min_results` the `wanted_results` the function waits for (within 1
    /// and the calls out), and `max_wait` until the nearest sleep ends (at
    /// least 1 s) or [`DEFAULT_MAX_WAIT_SECS`] without one.
    ///
    /// A function that waits for nothing the journal can bring (no call out,
    /// no sleep) fails with `STATUS_PERMANENT_ERROR`: it would never resume.
    pub fn suspend(mut self, wanted_results: usize) -> RunResponse {
        if let Some(verdict) = self.verdict() {
            return verdict;
        }
        let now = nanos(&self.now);
        let mut calls_out = 0usize;
        let mut nearest_end: Option<i128> = None;
        for entry in self.journal.entries.iter().filter(|entry| !entry.done) {
            if entry.kind == EntryKind::Call as i32 {
                calls_out = calls_out.saturating_add(1);
            } else if entry.kind == EntryKind::Sleep as i32
                && let Some(end) = &entry.time
            {
                let end = nanos(end);
                nearest_end = Some(nearest_end.map_or(end, |nearest| nearest.min(end)));
            }
        }
        if calls_out == 0 && nearest_end.is_none() {
            return error_response(
                Status::PermanentError,
                "NothingToWaitFor",
                "the function waits, but for no call and no sleep: it would never resume",
            );
        }
        let lowest = *RESULTS_RANGE.start();
        let highest = usize::try_from(*RESULTS_RANGE.end()).unwrap_or(1000);
        let max_results = calls_out.clamp(1, highest);
        let min_results = if calls_out == 0 {
            1
        } else {
            wanted_results.clamp(1, max_results)
        };
        let wait = match nearest_end {
            Some(end) => end.saturating_sub(now).max(MIN_WAIT_NANOS),
            None => i128::from(DEFAULT_MAX_WAIT_SECS).saturating_mul(NANOS_PER_SECOND),
        };
        self.journal.polled_from = u32::try_from(self.recorded).unwrap_or(u32::MAX);
        self.journal.poll_deadline = Some(timestamp(now.saturating_add(wait)));
        self.journal.poll_min_results = u32::try_from(min_results).unwrap_or(1);
        let state = Any {
            type_url: type_url(JOURNAL_FULL_NAME),
            value: self.journal.encode_to_vec(),
        };
        let count = |n: usize| i32::try_from(n).unwrap_or(lowest);
        let wait = timestamp(wait);
        RunResponse {
            status: Status::Ok.number(),
            directive: Some(run_response::Directive::Poll(pb::Poll {
                calls: self.outgoing,
                max_wait: Some(prost_types::Duration {
                    seconds: wait.seconds,
                    nanos: wait.nanos,
                }),
                max_results: count(max_results),
                min_results: count(min_results),
                state: Some(poll::State::TypedCoroutineState(state)),
            })),
        }
    }
}

fn exit_response(status: Status, result: CallResult, tail_call: Option<Call>) -> RunResponse {
    RunResponse {
        status: status.number(),
        directive: Some(run_response::Directive::Exit(pb::Exit {
            result: Some(result),
            tail_call,
        })),
    }
}

fn operation(kind: EntryKind, function: Option<&str>) -> Operation {
    match kind {
        EntryKind::Sleep => Operation::Sleep,
        EntryKind::Now => Operation::Now,
        EntryKind::Select => Operation::Select,
        EntryKind::Call | EntryKind::Unspecified => Operation::Call {
            function: function.unwrap_or_default().to_string(),
        },
    }
}

/// A timestamp as nanoseconds since the epoch.
fn nanos(time: &Timestamp) -> i128 {
    i128::from(time.seconds)
        .saturating_mul(NANOS_PER_SECOND)
        .saturating_add(i128::from(time.nanos))
}

/// Nanoseconds since the epoch (or a span) as seconds and nanoseconds,
/// saturating at the ends of `i64` seconds.
fn timestamp(nanos: i128) -> Timestamp {
    let seconds = nanos.div_euclid(NANOS_PER_SECOND);
    let rest = nanos.rem_euclid(NANOS_PER_SECOND);
    match i64::try_from(seconds) {
        Ok(seconds) => Timestamp {
            seconds,
            nanos: i32::try_from(rest).unwrap_or(0),
        },
        Err(_) if seconds < 0 => Timestamp {
            seconds: i64::MIN,
            nanos: 0,
        },
        Err(_) => Timestamp {
            seconds: i64::MAX,
            nanos: 999_999_999,
        },
    }
}
