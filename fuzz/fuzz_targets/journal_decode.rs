//! The journal decoder and the replay engine on what it accepts: arbitrary
//! bytes never panic `decode_journal`; a journal it accepts re-encodes to
//! bytes that decode to the same journal, resumes, and takes any sequence of
//! operations and any end of the run without a panic.
#![no_main]

use dispatch_core::any::type_url;
use dispatch_core::journal::{
    EntryKind, JOURNAL_FULL_NAME, Replay, SelectRule, decode_journal,
};
use dispatch_proto::sdk::v1::CallResult;
use libfuzzer_sys::fuzz_target;
use prost::Message;
use prost_types::{Any, Timestamp};

fuzz_target!(|bytes: &[u8]| {
    let Ok(journal) = decode_journal(bytes) else {
        return;
    };
    let encoded = journal.encode_to_vec();
    assert_eq!(decode_journal(&encoded).as_ref(), Ok(&journal));

    let state = Any {
        type_url: type_url(JOURNAL_FULL_NAME),
        value: bytes.to_vec(),
    };
    // Results for every call, some failed, some for nothing at all.
    let results: Vec<CallResult> = (0..=journal.entries.len() as u64 + 1)
        .filter(|id| id % 3 != 0)
        .map(|correlation_id| CallResult {
            correlation_id,
            ..CallResult::default()
        })
        .collect();
    let now = Timestamp {
        seconds: 1_700_000_000,
        nanos: 0,
    };
    let mut replay = Replay::resume(&state, results, None, now).expect("a journal that decodes resumes");
    let mut seqs = Vec::new();
    for (index, entry) in journal.entries.iter().enumerate() {
        let made = match EntryKind::try_from(entry.kind) {
            Ok(EntryKind::Call) => {
                let position = (entry.function as usize).saturating_sub(1);
                let name = journal.functions.get(position).cloned().unwrap_or_default();
                replay.call("", &name, Any::default()).map(Some)
            }
            Ok(EntryKind::Sleep) => replay
                .sleep(core::time::Duration::from_secs(index as u64))
                .map(Some),
            Ok(EntryKind::Now) => replay.now().map(|_| None),
            _ => replay.select(&seqs, SelectRule::FirstSuccess).map(Some),
        };
        let Ok(made) = made else {
            break;
        };
        if let Some(seq) = made {
            let _ = replay.result(seq);
            let _ = replay.is_done(seq);
            let _ = replay.choice(seq);
            seqs.push(seq);
        }
    }
    let _ = replay.clone().suspend(1);
    let _ = replay.clone().exit(None);
    let _ = replay.tail_call(Default::default());
});
