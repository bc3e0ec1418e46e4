//! Why a journal cannot be used, and how a replay diverged from one.

use alloc::string::String;
use core::fmt;

use crate::quote::Quoted;
use crate::status::Status;

/// Why a run's journal could not be read or extended. Each ends the run
/// with [`JournalError::status`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JournalError {
    /// A resume carried no typed coroutine state, or one that is not a
    /// journal (a function that was not durable when it polled).
    NotAJournal {
        /// The type URL of the state, empty when there was none.
        type_url: String,
    },
    /// The state names a journal but its bytes do not decode as one.
    Undecodable,
    /// The journal is of a format this engine does not know.
    UnknownVersion {
        /// The journal's `version`.
        version: u32,
    },
    /// The journal holds more than [`MAX_ENTRIES`](super::MAX_ENTRIES).
    TooManyEntries {
        /// How many it holds.
        entries: usize,
    },
    /// The journal names more than [`MAX_FUNCTIONS`](super::MAX_FUNCTIONS).
    TooManyFunctions {
        /// How many it names.
        functions: usize,
    },
    /// An entry is malformed.
    BadEntry {
        /// The entry's sequence number.
        sequence: u64,
        /// What is wrong with it.
        why: &'static str,
    },
    /// The record of the last poll (`polled_from`) points past the entries.
    BadPollRecord,
    /// The function made more operations than a journal may hold
    /// ([`MAX_ENTRIES`](super::MAX_ENTRIES)).
    Full,
    /// The function no longer does what its journal recorded.
    Diverged(Divergence),
}

impl JournalError {
    /// The status a run ends with: `STATUS_INCOMPATIBLE_STATE` for a journal
    /// that cannot be used, `STATUS_PERMANENT_ERROR` for a function that
    /// outgrew its journal.
    pub fn status(&self) -> Status {
        match self {
            JournalError::Full => Status::PermanentError,
            _ => Status::IncompatibleState,
        }
    }

    /// The `Error.type` the run reports.
    pub fn type_name(&self) -> &'static str {
        match self {
            JournalError::Full => "JournalFull",
            _ => "IncompatibleState",
        }
    }
}

impl fmt::Display for JournalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JournalError::NotAJournal { type_url } if type_url.is_empty() => {
                f.write_str("the resume carries no journal (no typed coroutine state)")
            }
            JournalError::NotAJournal { type_url } => {
                write!(
                    f,
                    "the resume's state ({}) is not a journal",
                    Quoted(type_url)
                )
            }
            JournalError::Undecodable => f.write_str("the journal does not decode"),
            JournalError::UnknownVersion { version } => write!(
                f,
                "the journal is of version {version}; this engine reads version {}",
                super::JOURNAL_VERSION
            ),
            JournalError::TooManyEntries { entries } => write!(
                f,
                "the journal holds {entries} entries, more than {}",
                super::MAX_ENTRIES
            ),
            JournalError::TooManyFunctions { functions } => write!(
                f,
                "the journal names {functions} functions, more than {}",
                super::MAX_FUNCTIONS
            ),
            JournalError::BadEntry { sequence, why } => {
                write!(f, "journal entry {sequence} is malformed: {why}")
            }
            JournalError::BadPollRecord => {
                f.write_str("the journal's record of its last poll points past its entries")
            }
            JournalError::Full => write!(
                f,
                "the function made more than {} durable operations",
                super::MAX_ENTRIES
            ),
            JournalError::Diverged(divergence) => divergence.fmt(f),
        }
    }
}

impl core::error::Error for JournalError {}

/// One operation of a durable function, as a divergence names it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Operation {
    /// A call to this function.
    Call {
        /// The function called.
        function: String,
    },
    /// A durable sleep.
    Sleep,
    /// A reading of the clock.
    Now,
    /// A choice among calls (any or race).
    Select,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operation::Call { function } => write!(f, "a call to {}", Quoted(function)),
            Operation::Sleep => f.write_str("a sleep"),
            Operation::Now => f.write_str("a clock reading"),
            Operation::Select => f.write_str("a choice among calls"),
        }
    }
}

/// How a replay departed from its journal: the first operation that
/// differs. The run ends with `STATUS_INCOMPATIBLE_STATE` and this as its
/// message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Divergence {
    /// The function made another operation than the journal recorded.
    Other {
        /// The operation's sequence number.
        sequence: u64,
        /// What the journal recorded.
        recorded: Operation,
        /// What the function does now.
        replayed: Operation,
    },
    /// The same operation, asked something else (another input, another
    /// duration, other operands).
    Arguments {
        /// The operation's sequence number.
        sequence: u64,
        /// The operation.
        operation: Operation,
    },
    /// The function ended, or waited, before making an operation the
    /// journal recorded.
    Missing {
        /// The first operation not made again.
        sequence: u64,
        /// What the journal recorded there.
        recorded: Operation,
    },
}

impl Divergence {
    /// The sequence number of the first operation that diverged.
    pub fn sequence(&self) -> u64 {
        match self {
            Divergence::Other { sequence, .. }
            | Divergence::Arguments { sequence, .. }
            | Divergence::Missing { sequence, .. } => *sequence,
        }
    }
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Divergence::Other {
                sequence,
                recorded,
                replayed,
            } => write!(
                f,
                "the function diverged from its journal at operation {sequence}: \
                 the journal recorded {recorded}, the function now makes {replayed}"
            ),
            Divergence::Arguments {
                sequence,
                operation,
            } => write!(
                f,
                "the function diverged from its journal at operation {sequence}: \
                 {operation} with other arguments than the journal recorded"
            ),
            Divergence::Missing { sequence, recorded } => write!(
                f,
                "the function diverged from its journal at operation {sequence}: \
                 the journal recorded {recorded}, the function no longer makes it"
            ),
        }
    }
}

impl core::error::Error for Divergence {}
