//! Key parsing: arbitrary text never panics, and a public key that parses
//! renders back to base64 that parses to the same key.
#![no_main]

use dispatch_core::key::{
    parse_public_key, parse_signing_key, parse_verification_key, write_public_key_base64,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    let _ = parse_signing_key(text);
    let _ = parse_verification_key(text);
    if let Ok(key) = parse_public_key(text) {
        let mut rendered = String::new();
        write_public_key_base64(&key, &mut rendered).expect("renders");
        assert_eq!(parse_public_key(&rendered), Ok(key));
    }
});
