//! Differential verification: dispatch-core's verifier against the reference
//! verifier (`dispatch_fuzz::reference`, written from spec `signing.md` §8
//! with its own RFC 8941 parser), on mutations of the vector requests.
//!
//! They must agree on accept or reject and on the status (401 or 403). With
//! `DIFFERENTIAL_REASONS=1` in the environment they must also agree on the
//! reason name (which §8 orders only by check, not within one check).
#![no_main]

use dispatch_core::signature::{Policy, verify};
use dispatch_fuzz::input::RequestInput;
use dispatch_fuzz::reference::{self, Verdict};
use ed25519_dalek::VerifyingKey;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn compare_reasons() -> bool {
    static FLAG: OnceLock<bool> = OnceLock::new();
    *FLAG.get_or_init(|| std::env::var_os("DIFFERENTIAL_REASONS").is_some_and(|v| v == "1"))
}

fuzz_target!(|data: &[u8]| {
    let Some(input) = RequestInput::parse(data) else {
        return;
    };
    let Ok(key) = VerifyingKey::from_bytes(&input.key) else {
        return;
    };
    let expected = reference::verify(&input.reference(), &input.key, input.now);
    let actual = verify(
        &input.view(),
        input.body,
        &key,
        input.now,
        &Policy::default(),
    );
    match (expected, actual) {
        (Verdict::OutOfBounds, _) | (Verdict::Accept, Ok(())) => {}
        (Verdict::Reject(status, reason), Err(e)) => {
            assert_eq!(
                status,
                e.http_status(),
                "status: reference {reason}, core {e:?}"
            );
            if compare_reasons() {
                assert_eq!(reason, e.reason_name(), "reason differs");
            }
        }
        (expected, actual) => panic!("reference {expected:?}, core {actual:?}"),
    }
});
