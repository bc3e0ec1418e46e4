//! Decoding arbitrary input never panics: protobuf binary and proto3 JSON,
//! as every message type of the protocol, from random bytes, random text,
//! random JSON shaped like the protocol's, and mutations of the vectors'
//! binaries. Each decode returns `Ok` or `Err`; whatever decodes also goes
//! through JSON encoding, which must not panic either.

use std::path::Path;

use dispatch_proto::prost::{Message, Name};
use dispatch_proto::prost_types::Any;
use dispatch_proto::sdk::python::v1::Pickled;
use dispatch_proto::sdk::v1::{
    Call, CallResult, DispatchRequest, DispatchResponse, Error, Exit, Poll, PollResult, RunRequest,
    RunResponse,
};
use dispatch_std::json;
use proptest::prelude::*;
use serde_json::Value;

/// Calls `$check::<T>($input)` for every message type of the protocol.
macro_rules! for_every_type {
    ($check:ident, $input:expr) => {{
        let input = $input;
        $check::<Call>(input);
        $check::<CallResult>(input);
        $check::<DispatchRequest>(input);
        $check::<DispatchResponse>(input);
        $check::<Error>(input);
        $check::<Exit>(input);
        $check::<Poll>(input);
        $check::<PollResult>(input);
        $check::<RunRequest>(input);
        $check::<RunResponse>(input);
        $check::<Pickled>(input);
        $check::<Any>(input);
    }};
}

/// Binary decode; what decodes re-encodes to bytes that decode to the same
/// message, and goes through JSON (whose failures are typed, not panics).
fn binary<M: Message + Default + Name + PartialEq + core::fmt::Debug>(bytes: &[u8]) {
    let Ok(message) = M::decode(bytes) else {
        return;
    };
    let again = M::decode(message.encode_to_vec().as_slice());
    assert_eq!(again.as_ref(), Ok(&message), "{} re-decode", M::full_name());
    if let Ok(value) = json::to_json(&message) {
        // JSON drops unknown fields, so only "no panic" holds here.
        let _ = json::from_json::<M>(&value);
    }
}

fn json_text<M: Message + Default + Name>(text: &str) {
    let _ = json::from_json_str::<M>(text);
}

fn json_value<M: Message + Default + Name>(value: &Value) {
    if let Ok(message) = json::from_json::<M>(value) {
        let _ = json::to_json(&message);
    }
}

/// The protocol's JSON member names, so that random objects hit real fields.
const NAMES: &[&str] = &[
    "@type",
    "value",
    "calls",
    "correlationId",
    "correlation_id",
    "endpoint",
    "function",
    "input",
    "expiration",
    "version",
    "output",
    "error",
    "dispatchId",
    "dispatchIds",
    "type",
    "message",
    "traceback",
    "result",
    "tailCall",
    "pollResult",
    "parentDispatchId",
    "rootDispatchId",
    "creationTime",
    "expirationTime",
    "status",
    "exit",
    "poll",
    "coroutineState",
    "typedCoroutineState",
    "maxWait",
    "maxResults",
    "minResults",
    "results",
    "pickledValue",
];

/// Strings that are meaningful somewhere in the protocol's JSON.
const STRINGS: &[&str] = &[
    "type.googleapis.com/google.protobuf.Empty",
    "type.googleapis.com/google.protobuf.Int64Value",
    "type.googleapis.com/google.protobuf.DoubleValue",
    "type.googleapis.com/google.protobuf.Value",
    "type.googleapis.com/google.protobuf.Any",
    "type.googleapis.com/google.protobuf.Timestamp",
    "buf.build/stealthrocket/dispatch-proto/dispatch.sdk.python.v1.Pickled",
    "buf.build/stealthrocket/dispatch-proto/dispatch.sdk.v1.Error",
    "type.googleapis.com/unknown.Type",
    "no-slash",
    "STATUS_OK",
    "STATUS_NOT_FOUND",
    "1.500s",
    "-315576000001s",
    "2023-11-14T22:13:20Z",
    "9999-12-31T23:59:60Z",
    "18446744073709551616",
    "-9223372036854775808",
    "NaN",
    "Infinity",
    "gAROLg==",
    "_-8",
    "",
];

fn json_strategy() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        prop::sample::select(STRINGS).prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(6, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(NAMES), inner), 0..6).prop_map(|members| {
                Value::Object(
                    members
                        .into_iter()
                        .map(|(k, v)| (k.to_owned(), v))
                        .collect(),
                )
            }),
        ]
    })
}

/// Every `binary_hex` of the message vectors (requests and responses too).
fn vector_binaries() -> Vec<Vec<u8>> {
    fn collect(value: &Value, out: &mut Vec<Vec<u8>>) {
        match value {
            Value::Object(members) => {
                for (key, member) in members {
                    if let (true, Some(text)) = (key.ends_with("_hex"), member.as_str()) {
                        if let Some(bytes) = hex(text) {
                            out.push(bytes);
                        }
                    } else {
                        collect(member, out);
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|item| collect(item, out)),
            _ => {}
        }
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/messages");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("tests/vectors/messages") {
        let path = entry.expect("directory entry").path();
        if path.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read_to_string(&path).expect("vector file");
            let doc: Value = serde_json::from_str(&text).expect("vector JSON");
            collect(&doc, &mut out);
        }
    }
    assert!(out.len() > 100, "found only {} vector binaries", out.len());
    out
}

fn hex(text: &str) -> Option<Vec<u8>> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip { at: usize, mask: u8 },
    Set { at: usize, byte: u8 },
    Insert { at: usize, byte: u8 },
    Remove { at: usize },
    Truncate { len: usize },
}

fn mutation_strategy() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1..=255u8).prop_map(|(at, mask)| Mutation::Flip { at, mask }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Set { at, byte }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Insert { at, byte }),
        any::<usize>().prop_map(|at| Mutation::Remove { at }),
        any::<usize>().prop_map(|len| Mutation::Truncate { len }),
    ]
}

fn mutate(bytes: &mut Vec<u8>, mutation: &Mutation) {
    let len = bytes.len();
    match *mutation {
        Mutation::Flip { at, mask } if len > 0 => bytes[at % len] ^= mask,
        Mutation::Set { at, byte } if len > 0 => bytes[at % len] = byte,
        Mutation::Insert { at, byte } => bytes.insert(at % (len + 1), byte),
        Mutation::Remove { at } if len > 0 => {
            bytes.remove(at % len);
        }
        Mutation::Truncate { len: keep } => bytes.truncate(keep % (len + 1)),
        _ => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_decode_without_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        for_every_type!(binary, &bytes);
    }

    #[test]
    fn arbitrary_text_decodes_as_json_without_panic(text in "\\PC{0,64}|[{}\\[\\]\":,0-9a-zA-Z@.]{0,64}") {
        for_every_type!(json_text, &text);
    }

    #[test]
    fn protocol_shaped_json_decodes_without_panic(value in json_strategy()) {
        for_every_type!(json_value, &value);
        for_every_type!(json_text, &value.to_string());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn mutated_vector_binaries_decode_without_panic(
        pick in any::<prop::sample::Index>(),
        mutations in prop::collection::vec(mutation_strategy(), 1..4),
    ) {
        static BINARIES: std::sync::LazyLock<Vec<Vec<u8>>> = std::sync::LazyLock::new(vector_binaries);
        let mut bytes = pick.get(&BINARIES).clone();
        for mutation in &mutations {
            mutate(&mut bytes, mutation);
        }
        for_every_type!(binary, &bytes);
    }
}

/// The unmutated vector binaries go through the same checks.
#[test]
fn vector_binaries_decode_without_panic() {
    for bytes in vector_binaries() {
        for_every_type!(binary, &bytes);
    }
}
