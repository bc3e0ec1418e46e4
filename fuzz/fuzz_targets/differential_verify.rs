//! Differential verification: dispatch-core's verifier against the reference
//! verifier (`dispatch_fuzz::reference`, written from docs/protocol/verification.md
//! with its own RFC 8941 parser), on mutations of the vector requests.
//!
//! They must agree on accept or reject and on the status (401 or 403). With
//! `DIFFERENTIAL_REASONS=check` in the environment they must also agree on
//! which §8 check failed; with `DIFFERENTIAL_REASONS=exact`, on the reason
//! name itself (§8 orders the checks, not the reasons within one check, so
//! `exact` can report ordering choices that are not bugs).
#![no_main]

use dispatch_core::signature::{Policy, verify};
use dispatch_fuzz::input::RequestInput;
use dispatch_fuzz::reference::{self, Verdict};
use ed25519_dalek::VerifyingKey;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn reason_mode() -> &'static str {
    static MODE: OnceLock<String> = OnceLock::new();
    MODE.get_or_init(|| std::env::var("DIFFERENTIAL_REASONS").unwrap_or_default())
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
            match reason_mode() {
                "exact" => assert_eq!(reason, e.reason_name(), "reason differs"),
                "check" => assert_eq!(
                    reference::check_of(reason),
                    reference::check_of(e.reason_name()),
                    "failed check differs: reference {reason}, core {e:?}"
                ),
                _ => {}
            }
        }
        (expected, actual) => panic!("reference {expected:?}, core {actual:?}"),
    }
});
