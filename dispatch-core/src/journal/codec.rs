//! Reading a journal within bounds, and the fingerprint of an operation.

use prost::Message;

use super::error::JournalError;
use super::{EntryKind, Journal};

/// The journal format this engine reads and writes (`Journal.version`).
pub const JOURNAL_VERSION: u32 = 1;

/// The full protobuf name of the journal; its `Any` type URL is
/// `type.googleapis.com/dispatch.journal.v1.Journal`.
pub const JOURNAL_FULL_NAME: &str = "dispatch.journal.v1.Journal";

/// The most entries a journal may hold: a run that would record one more
/// fails with `STATUS_PERMANENT_ERROR` ([`JournalError::Full`]). Far beyond
/// what fits in a 16 MB body with results in it.
pub const MAX_ENTRIES: usize = 1 << 20;

/// The most distinct function names a journal may hold.
pub const MAX_FUNCTIONS: usize = 4096;

/// Decodes a journal and checks it: its version, its bounds
/// ([`MAX_ENTRIES`], [`MAX_FUNCTIONS`]), and that every entry is of a known
/// kind and refers to a function it names. The bytes are bounded by the
/// request body that carried them.
///
/// ```
/// use dispatch_core::journal::{decode_journal, Journal, JournalError, JOURNAL_VERSION};
/// use prost::Message;
///
/// let journal = Journal { version: JOURNAL_VERSION, ..Default::default() };
/// assert_eq!(decode_journal(&journal.encode_to_vec()), Ok(journal));
/// assert_eq!(decode_journal(&[0x08, 0x02]), Err(JournalError::UnknownVersion { version: 2 }));
/// assert_eq!(decode_journal(&[0xff]), Err(JournalError::Undecodable));
/// ```
pub fn decode_journal(bytes: &[u8]) -> Result<Journal, JournalError> {
    let journal = Journal::decode(bytes).map_err(|_| JournalError::Undecodable)?;
    check(&journal)?;
    Ok(journal)
}

/// The checks of [`decode_journal`] on a decoded journal.
pub(super) fn check(journal: &Journal) -> Result<(), JournalError> {
    if journal.version != JOURNAL_VERSION {
        return Err(JournalError::UnknownVersion {
            version: journal.version,
        });
    }
    if journal.entries.len() > MAX_ENTRIES {
        return Err(JournalError::TooManyEntries {
            entries: journal.entries.len(),
        });
    }
    if journal.functions.len() > MAX_FUNCTIONS {
        return Err(JournalError::TooManyFunctions {
            functions: journal.functions.len(),
        });
    }
    for (index, entry) in journal.entries.iter().enumerate() {
        let sequence = sequence_of(index);
        let bad = |why: &'static str| JournalError::BadEntry { sequence, why };
        match EntryKind::try_from(entry.kind) {
            Ok(EntryKind::Call) => {
                let function = usize::try_from(entry.function).unwrap_or(usize::MAX);
                if function == 0 || function > journal.functions.len() {
                    return Err(bad("its function is not in the journal's list"));
                }
            }
            Ok(EntryKind::Sleep) if entry.time.is_none() => {
                return Err(bad("a sleep without an end"));
            }
            Ok(EntryKind::Now) if entry.time.is_none() => {
                return Err(bad("a clock reading without a time"));
            }
            Ok(EntryKind::Sleep | EntryKind::Now | EntryKind::Select) => {}
            Ok(EntryKind::Unspecified) | Err(_) => return Err(bad("its kind is unknown")),
        }
    }
    if usize::try_from(journal.polled_from).unwrap_or(usize::MAX) > journal.entries.len() {
        return Err(JournalError::BadPollRecord);
    }
    Ok(())
}

/// The sequence number of the entry at `index`: its position plus one.
pub(super) fn sequence_of(index: usize) -> u64 {
    u64::try_from(index).unwrap_or(u64::MAX).saturating_add(1)
}

const FNV_OFFSET_BASIS: u32 = 0x811c_9dc5;
const FNV_PRIME: u32 = 0x0100_0193;

/// FNV-1a, 32 bits, over the concatenation of `parts`: the fingerprint an
/// entry keeps of what its operation was asked (`Entry.fingerprint`).
///
/// ```
/// use dispatch_core::journal::fingerprint;
/// assert_eq!(fingerprint(&[]), 0x811c_9dc5);
/// assert_eq!(fingerprint(&[b"a"]), 0xe40c_292c);
/// assert_eq!(fingerprint(&[b"fo", b"obar"]), 0xbf9c_f968);
/// ```
pub fn fingerprint(parts: &[&[u8]]) -> u32 {
    let mut hash = FNV_OFFSET_BASIS;
    for part in parts {
        for &byte in *part {
            hash ^= u32::from(byte);
            hash = hash.wrapping_mul(FNV_PRIME);
        }
    }
    hash
}
