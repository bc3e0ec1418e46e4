//! Durable functions by replay (`alloc`): the journal and the sans-IO engine
//! that answers a function's operations from it.
//!
//! A durable function is ordinary code. On every run, first or resumed, it
//! runs again from the start, and each operation it makes (a call, a sleep,
//! a clock reading, a choice among calls) gets a sequence number from the
//! order the function makes them, never from time. An operation the
//! [`Journal`] already holds is answered from it; a new one is recorded. When
//! the function can go no further, the engine answers the run with a `Poll`
//! that carries the calls not yet made and the journal as typed coroutine
//! state; when it ends, with the `Exit`. Nothing lives in the endpoint's
//! memory between runs: any replica can take any resume.
//!
//! A resumed function that no longer does what its journal recorded (code
//! that depends on something other than its input and its answers, or a
//! deploy that changed it) is caught at the first operation that differs,
//! and the run ends with `STATUS_INCOMPATIBLE_STATE` and a message naming
//! that operation ([`Divergence`]).
//!
//! The journal is `dispatch.journal.v1.Journal` (proto/dispatch/journal/v1/,
//! docs/protocol/journal.md): a message of this project, language-neutral,
//! versioned ([`JOURNAL_VERSION`]). [`decode_journal`] reads one within the
//! bounds [`MAX_ENTRIES`] and [`MAX_FUNCTIONS`].
//!
//! ```
//! use dispatch_core::any::{pack, unpack};
//! use dispatch_core::journal::Replay;
//! use dispatch_core::proto::sdk::v1::{
//!     poll, poll_result, run_request::Directive, run_response, CallResult, PollResult,
//! };
//! use prost_types::Timestamp;
//!
//! let now = Timestamp { seconds: 1_700_000_000, nanos: 0 };
//! // The first run: the function calls `square(3)`, whose result is not in.
//! let mut replay = Replay::start(Directive::Input(pack(&3i64)), now)?;
//! let n: i64 = unpack(replay.input())?;
//! let square = replay.call("", "square", pack(&n))?;
//! assert!(replay.result(square).is_none());
//! let Some(run_response::Directive::Poll(poll)) = replay.suspend(1).directive else {
//!     unreachable!("the function waits")
//! };
//! assert_eq!(poll.calls[0].correlation_id, square.correlation_id());
//! let Some(poll::State::TypedCoroutineState(journal)) = poll.state else { unreachable!() };
//!
//! // The resume: the same code runs again, and the call is answered.
//! let nine = CallResult { correlation_id: 1, output: Some(pack(&9i64)), ..Default::default() };
//! let state = Some(poll_result::State::TypedCoroutineState(journal));
//! let resume = PollResult { state, results: vec![nine], error: None };
//! let mut replay = Replay::start(Directive::PollResult(resume), now)?;
//! let n: i64 = unpack(replay.input())?;
//! let square = replay.call("", "square", pack(&n))?;
//! let output = replay.result(square).and_then(|answer| answer.output).cloned();
//! assert_eq!(output, Some(pack(&9i64)));
//! let response = replay.exit(output);
//! assert_eq!(response.status, 1); // STATUS_OK, with the output in its Exit
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod codec;
mod error;
mod replay;
#[cfg(test)]
mod tests;

pub use codec::{
    JOURNAL_FULL_NAME, JOURNAL_VERSION, MAX_ENTRIES, MAX_FUNCTIONS, decode_journal, fingerprint,
};
pub use error::{Divergence, JournalError, Operation};
pub use replay::{CallAnswer, Choice, DEFAULT_MAX_WAIT_SECS, Replay, SelectRule, Seq};

/// The journal message, `dispatch.journal.v1.Journal` (generated).
pub use dispatch_proto::journal::v1::Journal;

/// One operation of a journal, `dispatch.journal.v1.Entry` (generated).
pub use dispatch_proto::journal::v1::Entry;

/// What an entry's operation is, `dispatch.journal.v1.EntryKind` (generated).
pub use dispatch_proto::journal::v1::EntryKind;
