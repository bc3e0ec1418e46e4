//! Full verification of an arbitrary request (method, URL, field lines and
//! body from the input; see `dispatch_fuzz::input`). Never panics, answers
//! only 401 or 403, and the streaming path (headers, then the body in
//! chunks) always agrees with the one-shot path.
#![no_main]

use dispatch_core::signature::{Policy, verify, verify_headers};
use dispatch_fuzz::input::RequestInput;
use ed25519_dalek::VerifyingKey;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(input) = RequestInput::parse(data) else {
        return;
    };
    let Ok(key) = VerifyingKey::from_bytes(&input.key) else {
        return;
    };
    let req = input.view();
    let policy = Policy::default();
    let whole = verify(&req, input.body, &key, input.now, &policy);
    if let Err(e) = whole {
        assert!(matches!(e.http_status(), 401 | 403), "{e:?}");
        let mut json = [0u8; 256];
        assert!(
            e.write_connect_json(&mut json).is_some(),
            "the error body fits"
        );
    }
    let streamed = verify_headers(&req, &key, input.now, &policy).and_then(|headers| {
        let mut digest = headers.body_digest();
        for chunk in input.body.chunks(7) {
            digest.update(chunk);
        }
        headers.finish(&digest.finish())
    });
    assert_eq!(
        whole, streamed,
        "streaming and one-shot verification disagree"
    );
});
