//! The engine on scripted journals: each test plays a function's runs by
//! hand, feeding each resume the state the last poll carried.

use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::time::Duration;

use prost::Message;
use prost_types::{Any, Timestamp};

use super::*;
use crate::any::{pack, unpack};
use crate::proto::sdk::v1::{
    self as pb, CallResult, PollResult, RunResponse, poll, poll_result, run_request::Directive,
    run_response,
};
use crate::status::Status;

const T0: Timestamp = Timestamp {
    seconds: 1_700_000_000,
    nanos: 0,
};

fn at(seconds: i64) -> Timestamp {
    Timestamp {
        seconds: T0.seconds + seconds,
        nanos: 0,
    }
}

fn poll_of(response: &RunResponse) -> &pb::Poll {
    match &response.directive {
        Some(run_response::Directive::Poll(poll)) => poll,
        other => panic!("not a poll: {other:?} (status {})", response.status),
    }
}

fn exit_of(response: &RunResponse) -> &pb::Exit {
    match &response.directive {
        Some(run_response::Directive::Exit(exit)) => exit,
        other => panic!("not an exit: {other:?}"),
    }
}

fn state_of(response: &RunResponse) -> Any {
    match &poll_of(response).state {
        Some(poll::State::TypedCoroutineState(state)) => state.clone(),
        other => panic!("no typed state: {other:?}"),
    }
}

fn journal_of(response: &RunResponse) -> Journal {
    decode_journal(&state_of(response).value).unwrap()
}

/// The resume of the poll `response`, with these results.
fn resume(response: &RunResponse, results: Vec<CallResult>) -> Directive {
    Directive::PollResult(PollResult {
        state: Some(poll_result::State::TypedCoroutineState(state_of(response))),
        results,
        error: None,
    })
}

fn ok(correlation_id: u64, value: i64) -> CallResult {
    CallResult {
        correlation_id,
        output: Some(pack(&value)),
        ..CallResult::default()
    }
}

fn failed(correlation_id: u64, message: &str) -> CallResult {
    CallResult {
        correlation_id,
        error: Some(pb::Error {
            r#type: "ValueError".into(),
            message: message.into(),
            ..pb::Error::default()
        }),
        ..CallResult::default()
    }
}

fn output_of(replay: &Replay, seq: Seq) -> Option<i64> {
    let answer = replay.result(seq)?;
    Some(unpack::<i64>(answer.output?).unwrap())
}

/// `sum_of_squares(n)`: calls `square(i)` for i in 1..=n at once, then
/// returns the sum; suspends while any square is missing.
fn sum_of_squares(directive: Directive, now: Timestamp) -> RunResponse {
    let mut replay = Replay::start(directive, now).unwrap();
    let n: i64 = unpack(replay.input()).unwrap();
    let calls: Vec<Seq> = (1..=n)
        .map(|i| replay.call("http://app", "square", pack(&i)).unwrap())
        .collect();
    let outputs: Vec<Option<i64>> = calls.iter().map(|&c| output_of(&replay, c)).collect();
    let missing = outputs.iter().filter(|o| o.is_none()).count();
    if missing > 0 {
        return replay.suspend(missing);
    }
    let sum: i64 = outputs.into_iter().flatten().sum();
    replay.exit(Some(pack(&sum)))
}

#[test]
fn a_first_run_polls_every_call_at_once_with_the_journal() {
    let response = sum_of_squares(Directive::Input(pack(&3i64)), T0);
    assert_eq!(response.status, Status::Ok.number());
    let poll = poll_of(&response);
    let ids: Vec<u64> = poll.calls.iter().map(|c| c.correlation_id).collect();
    assert_eq!(ids, [1, 2, 3]);
    assert_eq!(poll.calls[1].function, "square");
    assert_eq!(poll.calls[1].endpoint, "http://app");
    assert_eq!(poll.calls[1].input, Some(pack(&2i64)));
    assert_eq!((poll.min_results, poll.max_results), (3, 3));
    assert_eq!(
        poll.max_wait,
        Some(prost_types::Duration {
            seconds: 300,
            nanos: 0
        })
    );
    let state = state_of(&response);
    assert_eq!(
        state.type_url,
        "type.googleapis.com/dispatch.journal.v1.Journal"
    );
    let journal = journal_of(&response);
    assert_eq!(journal.version, JOURNAL_VERSION);
    assert_eq!(journal.input, Some(pack(&3i64)));
    assert_eq!(journal.functions, ["square"]);
    assert_eq!(journal.entries.len(), 3);
    assert!(journal.entries.iter().all(|e| !e.done));
    assert_eq!(journal.polled_from, 0);
    assert_eq!(journal.poll_min_results, 3);
    assert_eq!(journal.poll_deadline, Some(at(300)));
}

#[test]
fn a_replay_answers_every_call_from_the_journal() {
    let first = sum_of_squares(Directive::Input(pack(&3i64)), T0);
    let results = vec![ok(1, 1), ok(2, 4), ok(3, 9)];
    let done = sum_of_squares(resume(&first, results), at(1));
    assert_eq!(done.status, Status::Ok.number());
    let output = exit_of(&done).result.as_ref().unwrap().output.as_ref();
    assert_eq!(output, Some(&pack(&14i64)));
}

#[test]
fn results_arriving_out_of_order_and_in_parts_complete_the_run() {
    let first = sum_of_squares(Directive::Input(pack(&3i64)), T0);
    // The third square first, alone: the function waits for the two others,
    // and makes no call twice.
    let second = sum_of_squares(resume(&first, vec![ok(3, 9)]), at(1));
    let poll = poll_of(&second);
    assert!(poll.calls.is_empty());
    assert_eq!((poll.min_results, poll.max_results), (2, 2));
    let journal = journal_of(&second);
    assert_eq!(journal.polled_from, 3);
    let done: Vec<bool> = journal.entries.iter().map(|e| e.done).collect();
    assert_eq!(done, [false, false, true]);
    // Then the second and the first, in that order.
    let third = sum_of_squares(resume(&second, vec![ok(2, 4), ok(1, 1)]), at(2));
    let output = exit_of(&third).result.as_ref().unwrap().output.as_ref();
    assert_eq!(output, Some(&pack(&14i64)));
}

#[test]
fn duplicate_and_unknown_results_are_ignored() {
    let first = sum_of_squares(Directive::Input(pack(&2i64)), T0);
    let second = sum_of_squares(
        resume(&first, vec![ok(1, 1), ok(1, 100), ok(0, 7), ok(9, 7)]),
        at(1),
    );
    assert_eq!(poll_of(&second).min_results, 1);
    let done = sum_of_squares(resume(&second, vec![ok(1, 50), ok(2, 4)]), at(2));
    let output = exit_of(&done).result.as_ref().unwrap().output.as_ref();
    assert_eq!(
        output,
        Some(&pack(&5i64)),
        "the first answer of call 1 stands"
    );
}

fn message_of(response: &RunResponse) -> String {
    let result = exit_of(response).result.as_ref().unwrap();
    result.error.as_ref().unwrap().message.clone()
}

#[test]
fn a_replay_calling_another_function_is_incompatible_and_names_the_call() {
    let first = sum_of_squares(Directive::Input(pack(&2i64)), T0);
    let mut replay = Replay::start(resume(&first, vec![ok(1, 1)]), at(1)).unwrap();
    replay.call("http://app", "square", pack(&1i64)).unwrap();
    let diverged = replay.call("http://app", "cube", pack(&2i64));
    let expected = Divergence::Other {
        sequence: 2,
        recorded: Operation::Call {
            function: "square".into(),
        },
        replayed: Operation::Call {
            function: "cube".into(),
        },
    };
    assert_eq!(diverged, Err(JournalError::Diverged(expected.clone())));
    // Every later operation fails the same way, and so does the run,
    // whatever the function makes of it.
    assert_eq!(replay.now(), Err(JournalError::Diverged(expected)));
    let response = replay.exit(Some(pack(&0i64)));
    assert_eq!(response.status, Status::IncompatibleState.number());
    assert_eq!(
        message_of(&response),
        "the function diverged from its journal at operation 2: the journal recorded a call \
         to \"square\", the function now makes a call to \"cube\""
    );
    assert_eq!(
        exit_of(&response)
            .result
            .as_ref()
            .unwrap()
            .error
            .as_ref()
            .unwrap()
            .r#type,
        "IncompatibleState"
    );
}

#[test]
fn a_replay_with_another_input_or_another_operation_is_incompatible() {
    let first = sum_of_squares(Directive::Input(pack(&2i64)), T0);
    let mut replay = Replay::start(resume(&first, vec![]), at(1)).unwrap();
    let error = replay
        .call("http://elsewhere", "square", pack(&5i64))
        .unwrap_err();
    assert_eq!(
        error,
        JournalError::Diverged(Divergence::Arguments {
            sequence: 1,
            operation: Operation::Call {
                function: "square".into()
            }
        })
    );
    assert_eq!(error.status(), Status::IncompatibleState);

    let mut replay = Replay::start(resume(&first, vec![]), at(1)).unwrap();
    let error = replay.sleep(Duration::from_secs(1)).unwrap_err();
    assert_eq!(
        error.to_string(),
        "the function diverged from its journal at operation 1: the journal recorded a call \
         to \"square\", the function now makes a sleep"
    );
    assert_eq!(replay.suspend(1).status, Status::IncompatibleState.number());
}

#[test]
fn a_replay_that_stops_short_of_its_journal_is_incompatible() {
    let first = sum_of_squares(Directive::Input(pack(&3i64)), T0);
    // Ends after one call, where the journal recorded three.
    let mut replay = Replay::start(resume(&first, vec![ok(1, 1)]), at(1)).unwrap();
    replay.call("http://app", "square", pack(&1i64)).unwrap();
    let response = replay.exit(None);
    assert_eq!(response.status, Status::IncompatibleState.number());
    assert_eq!(
        message_of(&response),
        "the function diverged from its journal at operation 2: the journal recorded a call \
         to \"square\", the function no longer makes it"
    );
    // Waiting before the end of the journal is the same divergence.
    let replay = Replay::start(resume(&first, vec![]), at(1)).unwrap();
    assert_eq!(replay.suspend(1).status, Status::IncompatibleState.number());
}

#[test]
fn a_failed_call_is_answered_with_its_error_and_the_function_decides() {
    let first = sum_of_squares(Directive::Input(pack(&1i64)), T0);
    let mut replay = Replay::start(resume(&first, vec![failed(1, "too big")]), at(1)).unwrap();
    let call = replay.call("http://app", "square", pack(&1i64)).unwrap();
    let answer = replay.result(call).unwrap();
    assert_eq!(answer.output, None);
    assert_eq!(answer.error.unwrap().message, "too big");
    let response = replay.fail(
        Status::PermanentError,
        "SquareFailed",
        "square failed: too big",
    );
    assert_eq!(response.status, Status::PermanentError.number());
    assert_eq!(message_of(&response), "square failed: too big");
}

#[test]
fn a_poll_error_fails_the_calls_of_that_poll_only() {
    let mut replay = Replay::start(Directive::Input(pack(&0i64)), T0).unwrap();
    replay.call("", "a", pack(&1i64)).unwrap();
    let first = replay.suspend(1);
    let mut replay = Replay::start(resume(&first, vec![]), at(1)).unwrap();
    replay.call("", "a", pack(&1i64)).unwrap();
    replay.call("", "b", pack(&2i64)).unwrap();
    let second = replay.suspend(1);
    assert_eq!(journal_of(&second).polled_from, 1);
    let Directive::PollResult(mut result) = resume(&second, vec![]) else {
        unreachable!()
    };
    result.error = Some(pb::Error {
        r#type: "INVALID_ARGUMENT".into(),
        message: "poll.calls[0]: bad".into(),
        ..pb::Error::default()
    });
    let replay = Replay::start(Directive::PollResult(result), at(2)).unwrap();
    let entries = &replay.journal().entries;
    assert!(!entries[0].done, "call 1 went out in an earlier poll");
    assert!(entries[1].done);
    assert_eq!(
        entries[1].error.as_ref().unwrap().message,
        "poll.calls[0]: bad"
    );
}

/// Sleeps `seconds`, then returns the time it read before sleeping.
fn sleeper(directive: Directive, now: Timestamp, seconds: u64) -> RunResponse {
    let mut replay = Replay::start(directive, now).unwrap();
    let started = replay.now().unwrap();
    let nap = replay.sleep(Duration::from_secs(seconds)).unwrap();
    if !replay.is_done(nap) {
        return replay.suspend(1);
    }
    replay.exit(Some(pack(&started)))
}

#[test]
fn a_sleep_is_a_poll_without_calls_over_at_its_end() {
    let first = sleeper(Directive::Input(pack(&())), T0, 10);
    let poll = poll_of(&first);
    assert!(poll.calls.is_empty());
    assert_eq!(poll.max_wait.map(|d| d.seconds), Some(10));
    assert_eq!((poll.min_results, poll.max_results), (1, 1));
    // Resumed after its end by the clock: over, and the clock reading is
    // the first run's.
    let done = sleeper(resume(&first, vec![]), at(11), 10);
    let output = exit_of(&done).result.as_ref().unwrap().output.as_ref();
    assert_eq!(output, Some(&pack(&T0)));
    // Resumed with no result a little before its end by this replica's
    // clock: the poll's max_wait has passed, so the sleep is over.
    let done = sleeper(
        resume(&first, vec![]),
        Timestamp {
            seconds: T0.seconds + 9,
            nanos: 900_000_000,
        },
        10,
    );
    assert!(matches!(
        done.directive,
        Some(run_response::Directive::Exit(_))
    ));
}

#[test]
fn a_sleep_interrupted_by_a_result_waits_for_the_rest_of_it() {
    let run = |directive: Directive, now: Timestamp| {
        let mut replay = Replay::start(directive, now).unwrap();
        replay.call("", "slow", pack(&1i64)).unwrap();
        let nap = replay.sleep(Duration::from_secs(60)).unwrap();
        if !replay.is_done(nap) {
            return replay.suspend(1);
        }
        replay.exit(None)
    };
    let first = run(Directive::Input(pack(&())), T0);
    assert_eq!(poll_of(&first).max_wait.map(|d| d.seconds), Some(60));
    // The call's result comes in after 20 s: the sleep has 40 s to go.
    let second = run(resume(&first, vec![ok(1, 1)]), at(20));
    let poll = poll_of(&second);
    assert!(poll.calls.is_empty());
    assert_eq!(poll.max_wait.map(|d| d.seconds), Some(40));
    let done = run(resume(&second, vec![]), at(60));
    assert!(matches!(
        done.directive,
        Some(run_response::Directive::Exit(_))
    ));
}

#[test]
fn a_choice_is_made_once_and_replayed_whatever_comes_in_later() {
    // race(a, b) then call c with the winner's output.
    let run = |directive: Directive| {
        let mut replay = Replay::start(directive, T0).unwrap();
        let a = replay.call("", "a", pack(&()))?;
        let b = replay.call("", "b", pack(&()))?;
        let race = replay.select(&[a, b], SelectRule::FirstDone)?;
        let Some(Choice::Operand(winner)) = replay.choice(race) else {
            return Ok(replay.suspend(1));
        };
        let winner = [a, b][winner];
        let value = output_of(&replay, winner).unwrap();
        let c = replay.call("", "c", pack(&value))?;
        if replay.result(c).is_none() {
            return Ok(replay.suspend(1));
        }
        Ok::<_, JournalError>(replay.exit(Some(pack(&value))))
    };
    let first = run(Directive::Input(pack(&()))).unwrap();
    assert_eq!(poll_of(&first).calls.len(), 2);
    assert_eq!(poll_of(&first).min_results, 1);
    let second = run(resume(&first, vec![ok(2, 20)])).unwrap();
    let poll = poll_of(&second);
    assert_eq!(poll.calls.len(), 1);
    assert_eq!(poll.calls[0].input, Some(pack(&20i64)));
    // a's result comes in with c's: b stays the winner.
    let done = run(resume(&second, vec![ok(1, 10), ok(4, 0)])).unwrap();
    let output = exit_of(&done).result.as_ref().unwrap().output.as_ref();
    assert_eq!(output, Some(&pack(&20i64)));
}

#[test]
fn any_skips_failures_and_chooses_none_when_all_fail() {
    let run = |directive: Directive| {
        let mut replay = Replay::start(directive, T0).unwrap();
        let a = replay.call("", "a", pack(&())).unwrap();
        let b = replay.call("", "b", pack(&())).unwrap();
        let any = replay.select(&[a, b], SelectRule::FirstSuccess).unwrap();
        (replay.choice(any), replay)
    };
    let (choice, replay) = run(Directive::Input(pack(&())));
    assert_eq!(choice, None);
    let first = replay.suspend(1);
    let (choice, replay) = run(resume(&first, vec![failed(1, "no")]));
    assert_eq!(choice, None, "a failure does not end an any");
    let second = replay.suspend(1);
    let (choice, _) = run(resume(&second, vec![ok(2, 2)]));
    assert_eq!(choice, Some(Choice::Operand(1)));
    let (choice, _) = run(resume(&second, vec![failed(2, "no")]));
    assert_eq!(choice, Some(Choice::None));
}

#[test]
fn waiting_for_nothing_fails_permanently() {
    let replay = Replay::start(Directive::Input(pack(&())), T0).unwrap();
    let response = replay.suspend(1);
    assert_eq!(response.status, Status::PermanentError.number());
}

#[test]
fn states_that_are_not_journals_are_incompatible() {
    let no_state = Directive::PollResult(PollResult::default());
    let error = Replay::start(no_state, T0).unwrap_err();
    assert_eq!(error.status(), Status::IncompatibleState);
    assert_eq!(
        error.to_string(),
        "the resume carries no journal (no typed coroutine state)"
    );
    let other = pack(&7i64);
    assert_eq!(
        Replay::resume(&other, vec![], None, T0).unwrap_err(),
        JournalError::NotAJournal {
            type_url: "type.googleapis.com/google.protobuf.Int64Value".into()
        }
    );
    let garbage = Any {
        type_url: "type.googleapis.com/dispatch.journal.v1.Journal".into(),
        value: vec![0x22, 0x05, 0x01],
    };
    assert_eq!(
        Replay::resume(&garbage, vec![], None, T0).unwrap_err(),
        JournalError::Undecodable
    );
}

fn decode(journal: &Journal) -> Result<Journal, JournalError> {
    decode_journal(&journal.encode_to_vec())
}

#[test]
fn malformed_journals_are_refused_with_the_reason() {
    let good = Journal {
        version: JOURNAL_VERSION,
        functions: vec!["f".into()],
        entries: vec![Entry {
            kind: EntryKind::Call as i32,
            function: 1,
            ..Entry::default()
        }],
        ..Journal::default()
    };
    assert_eq!(decode(&good), Ok(good.clone()));
    let mut bad = good.clone();
    bad.entries[0].function = 2;
    assert_eq!(
        decode(&bad),
        Err(JournalError::BadEntry {
            sequence: 1,
            why: "its function is not in the journal's list"
        })
    );
    let mut bad = good.clone();
    bad.entries[0].kind = 9;
    assert!(matches!(decode(&bad), Err(JournalError::BadEntry { .. })));
    let mut bad = good.clone();
    bad.entries[0].kind = EntryKind::Sleep as i32;
    assert!(matches!(decode(&bad), Err(JournalError::BadEntry { .. })));
    let mut bad = good.clone();
    bad.polled_from = 2;
    assert_eq!(decode(&bad), Err(JournalError::BadPollRecord));
    let mut bad = good.clone();
    bad.version = 0;
    assert_eq!(
        decode(&bad),
        Err(JournalError::UnknownVersion { version: 0 })
    );
    let mut bad = good;
    bad.functions = (0..=MAX_FUNCTIONS)
        .map(|i| alloc::format!("f{i}"))
        .collect();
    assert_eq!(
        decode(&bad),
        Err(JournalError::TooManyFunctions {
            functions: MAX_FUNCTIONS + 1
        })
    );
}

/// The journal adds at most 16 bytes per call on top of the results it
/// holds (issue 17): measured on 100 calls of one function, the input and
/// the results subtracted.
#[test]
fn the_journal_adds_at_most_sixteen_bytes_per_call() {
    for output_len in [0usize, 10, 200, 20_000] {
        let first = sum_of_squares(Directive::Input(pack(&100i64)), T0);
        let output = pack(&alloc::vec![7u8; output_len]);
        let results: Vec<CallResult> = (1..=100)
            .map(|id| CallResult {
                correlation_id: id,
                output: Some(output.clone()),
                ..CallResult::default()
            })
            .collect();
        let mut replay = Replay::start(resume(&first, results.clone()), at(1)).unwrap();
        for i in 1..=100i64 {
            replay.call("", "square", pack(&i)).unwrap();
        }
        replay.call("", "square", pack(&101i64)).unwrap();
        let journal = journal_of(&replay.suspend(1));
        let total = journal.encode_to_vec().len();
        let input = Journal {
            input: journal.input.clone(),
            ..Journal::default()
        }
        .encoded_len();
        // What the results themselves weigh: each output as a CallResult
        // carries it, without the correlation id the journal's position
        // replaces.
        let held: usize = results
            .iter()
            .map(|r| {
                CallResult {
                    correlation_id: 0,
                    ..r.clone()
                }
                .encoded_len()
            })
            .sum();
        let per_call = (total - input - held) as f64 / 101.0;
        assert!(
            per_call <= 16.0,
            "{per_call} bytes per call for outputs of {output_len} bytes"
        );
    }
}

/// A journal close to the 16 MB body limit still decodes and replays.
#[test]
fn a_journal_near_the_body_limit_replays() {
    const CALLS: i64 = 15;
    let first = sum_of_squares(Directive::Input(pack(&CALLS)), T0);
    let big = pack(&alloc::vec![1u8; 1_000_000]);
    let results: Vec<CallResult> = (1..=14u64)
        .map(|id| CallResult {
            correlation_id: id,
            output: Some(big.clone()),
            ..CallResult::default()
        })
        .collect();
    let run = |directive: Directive| {
        let mut replay = Replay::start(directive, at(1)).unwrap();
        let calls: Vec<Seq> = (1..=CALLS)
            .map(|i| replay.call("", "square", pack(&i)).unwrap())
            .collect();
        let missing = calls
            .iter()
            .filter(|&&c| replay.result(c).is_none())
            .count();
        assert!(missing > 0);
        replay.suspend(missing)
    };
    let second = run(resume(&first, results));
    let state = state_of(&second);
    assert!(state.value.len() > 14_000_000);
    assert!(state.value.len() < crate::run::DEFAULT_BODY_LIMIT);
    let third = run(resume(&second, vec![]));
    assert_eq!(poll_of(&third).min_results, 1);
    assert_eq!(
        journal_of(&third).entries.iter().filter(|e| e.done).count(),
        14
    );
}
