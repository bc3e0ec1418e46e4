//! The replay engine (`dispatch_core::journal`) on a 100-entry journal,
//! against the function's own work measured in the same run:
//!
//! * `journal/function`: the baseline, the function alone: it packs the
//!   inputs of its 100 calls (`Int64Value`), unpacks their 100 outputs from
//!   the resume's results and sums them;
//! * `journal/decode`: of that, decoding the journal of 100 entries alone;
//! * `journal/replay_exit`: the same function run by the engine on the
//!   resume that brings the last of its 100 results: the journal decoded
//!   from the poll state, the result delivered, each call checked against
//!   its entry and answered from it, the `Exit` written;
//! * `journal/replay_suspend`: the same 100 calls replayed, then a 101st
//!   made and the run suspended: the journal encoded again into the `Poll`
//!   (what every step of a function that calls one function at a time pays).
//!
//! The engine's time is a replay's minus the baseline. Before timing it
//! checks that the engine's answer is the function's, and prints what the
//! journal weighs per call on top of the results it holds (at most 16 bytes).
//!
//! ```text
//! cargo bench -p dispatch-core --bench journal
//! ```
#![allow(missing_docs)]

use core::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use dispatch_core::any::{pack, unpack};
use dispatch_core::journal::{Journal, Replay, decode_journal};
use dispatch_core::proto::prost::Message;
use dispatch_core::proto::sdk::v1::{
    CallResult, PollResult, RunResponse, poll, poll_result, run_request::Directive, run_response,
};
use prost_types::{Any, Timestamp};

const CALLS: i64 = 100;
const NOW: Timestamp = Timestamp {
    seconds: 1_700_000_000,
    nanos: 0,
};

fn result(i: i64) -> CallResult {
    CallResult {
        correlation_id: i.unsigned_abs(),
        output: Some(pack(&(i * i))),
        ..CallResult::default()
    }
}

/// The function: `calls` squares, summed once all are in; one more call
/// (and a wait) when `one_more`.
fn function(directive: Directive, one_more: bool) -> RunResponse {
    let mut replay = Replay::start(directive, NOW).expect("a journal");
    let mut sum = 0i64;
    let mut missing = 0usize;
    for i in 1..=CALLS {
        let call = replay.call("", "square", pack(&i)).expect("replays");
        match replay.result(call).and_then(|answer| answer.output) {
            Some(output) => sum += unpack::<i64>(output).expect("an Int64Value"),
            None => missing += 1,
        }
    }
    if one_more {
        replay.call("", "square", pack(&(CALLS + 1))).expect("new");
        missing += 1;
    }
    if missing > 0 {
        return replay.suspend(missing);
    }
    replay.exit(Some(pack(&sum)))
}

/// The baseline: the same inputs packed, the same outputs read, no engine.
fn baseline(results: &[CallResult]) -> i64 {
    let mut sum = 0i64;
    for i in 1..=CALLS {
        black_box(pack(&i));
        let output = results
            .get(usize::try_from(i - 1).expect("small"))
            .and_then(|result| result.output.as_ref())
            .expect("an output");
        sum += unpack::<i64>(output).expect("an Int64Value");
    }
    sum
}

fn state_of(response: &RunResponse) -> Any {
    match &response.directive {
        Some(run_response::Directive::Poll(poll)) => match &poll.state {
            Some(poll::State::TypedCoroutineState(state)) => state.clone(),
            other => panic!("no journal: {other:?}"),
        },
        other => panic!("not a poll: {other:?}"),
    }
}

fn resume(state: Any, results: Vec<CallResult>) -> Directive {
    Directive::PollResult(PollResult {
        state: Some(poll_result::State::TypedCoroutineState(state)),
        results,
        error: None,
    })
}

fn journal(c: &mut Criterion) {
    // The journal after the first run (100 calls out), then after a resume
    // with 99 results: the last resume brings the 100th.
    let first = function(Directive::Input(pack(&CALLS)), false);
    let all: Vec<CallResult> = (1..=CALLS).map(result).collect();
    let partial = all[..all.len() - 1].to_vec();
    let second = function(resume(state_of(&first), partial), false);
    let last = resume(state_of(&second), vec![result(CALLS)]);
    // The journal of the run that replays all 100 answered and makes a 101st.
    let third = function(last.clone(), true);

    let want = Some(pack(&baseline(&all)));
    match function(last.clone(), false).directive {
        Some(run_response::Directive::Exit(exit)) => {
            assert_eq!(
                exit.result.and_then(|r| r.output),
                want,
                "the engine's answer"
            );
        }
        other => panic!("the last resume does not exit: {other:?}"),
    }

    let bytes = state_of(&third).value;
    let decoded: Journal = decode_journal(&bytes).expect("decodes");
    let input = Journal {
        input: decoded.input.clone(),
        ..Journal::default()
    }
    .encoded_len();
    let held: usize = all
        .iter()
        .map(|r| {
            CallResult {
                correlation_id: 0,
                ..r.clone()
            }
            .encoded_len()
        })
        .sum();
    let calls = decoded.entries.len();
    let per_call = (bytes.len() - input - held) as f64 / calls as f64;
    eprintln!(
        "journal: {} bytes for {calls} calls; results {held} bytes, input {input} bytes: \
         {per_call:.2} bytes per call on top",
        bytes.len()
    );
    assert!(per_call <= 16.0, "{per_call} bytes per call");

    let mut group = c.benchmark_group("journal");
    group.bench_function("function", |b| {
        b.iter_batched_ref(
            || all.clone(),
            |results| baseline(black_box(results)),
            BatchSize::SmallInput,
        )
    });
    let last_state = match &last {
        Directive::PollResult(result) => match &result.state {
            Some(poll_result::State::TypedCoroutineState(state)) => state.value.clone(),
            _ => unreachable!("a typed state"),
        },
        Directive::Input(_) => unreachable!("a resume"),
    };
    group.bench_function("decode", |b| {
        b.iter(|| decode_journal(black_box(&last_state)).expect("decodes"))
    });
    group.bench_function("replay_exit", |b| {
        b.iter_batched(
            || last.clone(),
            |directive| function(black_box(directive), false),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("replay_suspend", |b| {
        b.iter_batched(
            || last.clone(),
            |directive| function(black_box(directive), true),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, journal);
criterion_main!(benches);
