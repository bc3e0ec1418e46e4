//! Protobuf decoding of `RunRequest`: arbitrary bytes never panic; a decoded
//! message re-encodes to bytes that decode to the same message.
#![no_main]

use dispatch_proto::sdk::v1::RunRequest;
use libfuzzer_sys::fuzz_target;
use prost::Message;

fuzz_target!(|bytes: &[u8]| {
    let Ok(message) = RunRequest::decode(bytes) else {
        return;
    };
    let encoded = message.encode_to_vec();
    let again = RunRequest::decode(encoded.as_slice()).expect("our own encoding decodes");
    assert_eq!(again, message);
});
