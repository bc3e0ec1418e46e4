//! The message vectors built by dispatch-py against the validation rules:
//! what the Python SDK sends to Dispatch passes, and the rules it is known to
//! skip (`Poll.max_wait` left unset, `Exit.result` unset on a tail call) are
//! reported with the right path.

#![cfg(feature = "alloc")]
#![allow(missing_docs)]

use dispatch_core::proto::sdk::v1::{Call, DispatchRequest, Exit, Poll, RunResponse};
use dispatch_core::validate::{
    Field, ValidationError, Violation, validate_call, validate_dispatch_request, validate_exit,
    validate_poll, validate_run_response,
};
use prost::Message;

mod common;
use common::{hex, message_vectors};

/// `(id, binary)` of every vector of a category.
fn vectors(category: &str) -> Vec<(String, Vec<u8>)> {
    message_vectors(category)
        .iter()
        .map(|v| {
            (
                v["id"].as_str().expect("id").to_owned(),
                hex(v["binary_hex"].as_str().expect("binary_hex")),
            )
        })
        .collect()
}

fn outcomes<M: Message + Default>(
    category: &str,
    validate: fn(&M) -> Result<(), ValidationError>,
) -> Vec<(String, Result<(), ValidationError>)> {
    vectors(category)
        .into_iter()
        .map(|(id, bytes)| {
            let message = M::decode(bytes.as_slice()).unwrap_or_else(|e| panic!("{id}: {e}"));
            let outcome = validate(&message);
            (id, outcome)
        })
        .collect()
}

#[test]
fn dispatch_requests_and_calls_from_dispatch_py_are_valid() {
    for (id, outcome) in outcomes::<DispatchRequest>("dispatch_request", validate_dispatch_request)
        .into_iter()
        .chain(outcomes::<Call>("call", validate_call))
        .chain(outcomes::<Exit>("exit", validate_exit))
    {
        println!("{id}: {outcome:?}");
        assert_eq!(outcome, Ok(()), "{id}");
    }
}

#[test]
fn polls_without_max_wait_name_the_field() {
    for (id, outcome) in outcomes::<Poll>("poll", validate_poll) {
        println!("{id}: {outcome:?}");
        if let Err(e) = outcome {
            assert_eq!(
                (e.path.field, e.violation),
                (Field::MaxWait, Violation::Required),
                "{id}"
            );
        }
    }
    // dispatch-py leaves `Exit.result` unset on tail calls and `Poll.max_wait`
    // unset: the only rules its run responses break.
    for (id, outcome) in outcomes::<RunResponse>("run_response", validate_run_response) {
        println!("{id}: {outcome:?}");
        if let Err(e) = outcome {
            let path = e.path.to_string();
            assert!(
                e.violation == Violation::Required
                    && (path == "exit.result" || path == "poll.max_wait"),
                "{id}: {e}"
            );
        }
    }
}
