//! Protobuf decoding of `RunResponse`: arbitrary bytes never panic; a decoded
//! message re-encodes to bytes that decode to the same message, and the
//! protocol's validation rules never panic on it.
#![no_main]

use dispatch_proto::sdk::v1::RunResponse;
use libfuzzer_sys::fuzz_target;
use prost::Message;

fuzz_target!(|bytes: &[u8]| {
    let Ok(message) = RunResponse::decode(bytes) else {
        return;
    };
    let encoded = message.encode_to_vec();
    let again = RunResponse::decode(encoded.as_slice()).expect("our own encoding decodes");
    assert_eq!(again, message);
    let _ = dispatch_core::validate::validate_run_response(&message);
});
