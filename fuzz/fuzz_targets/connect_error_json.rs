//! Connect error JSON decoding: arbitrary bytes never panic, and whatever
//! decodes re-encodes to a body that decodes to the same code and message.
#![no_main]

use dispatch_core::connect::{ErrorBody, decode_error_json};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let mut detail_buf = [0u8; 256];
    let Ok(decoded) = decode_error_json::<64>(body, &mut detail_buf) else {
        return;
    };
    assert!(decoded.message.len() <= 64);
    let Some(code) = decoded.code else { return };
    let again = ErrorBody {
        code,
        message: &decoded.message,
        details: &[],
    };
    let mut out = [0u8; 1024];
    let n = again
        .encode_json(&mut out)
        .expect("a decoded error re-encodes");
    let mut detail_buf2 = [0u8; 16];
    let back = decode_error_json::<64>(out.get(..n).unwrap_or_default(), &mut detail_buf2)
        .expect("our own encoding decodes");
    assert_eq!(back.code, Some(code));
    assert_eq!(back.message, decoded.message);
});
