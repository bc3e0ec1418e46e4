//! Proto3 JSON decoding (dispatch-std) of the messages an endpoint and a
//! client read as JSON. The first byte picks the message type; the rest is
//! the JSON text. Arbitrary input never panics, and a message that decodes
//! and re-encodes decodes back to the same message.
#![no_main]

use dispatch_proto::sdk::v1::{
    DispatchRequest, DispatchResponse, Poll, PollResult, RunRequest, RunResponse,
};
use dispatch_std::json::{from_json_slice, to_json_string};
use libfuzzer_sys::fuzz_target;
use prost::{Message, Name};

fn round_trip<M: Message + Default + Name + PartialEq + core::fmt::Debug>(json: &[u8]) {
    let Ok(message) = from_json_slice::<M>(json) else {
        return;
    };
    let Ok(text) = to_json_string(&message) else {
        return;
    };
    let back: M = from_json_slice(text.as_bytes()).expect("our own JSON decodes");
    // Decoding is deterministic (a Struct packed in an Any is re-encoded with
    // its keys in order), so the messages themselves must match, bytes of
    // every Any included.
    assert_eq!(back, message, "{text}");
}

fuzz_target!(|input: &[u8]| {
    let Some((selector, json)) = input.split_first() else {
        return;
    };
    match selector % 6 {
        0 => round_trip::<RunRequest>(json),
        1 => round_trip::<RunResponse>(json),
        2 => round_trip::<DispatchRequest>(json),
        3 => round_trip::<DispatchResponse>(json),
        4 => round_trip::<Poll>(json),
        _ => round_trip::<PollResult>(json),
    }
});
