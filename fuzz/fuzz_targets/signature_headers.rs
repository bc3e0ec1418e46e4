//! Signature-Input and Signature parsing: the first line of the input is the
//! Signature-Input value, the rest the Signature value, on an otherwise
//! well-formed request. Never panics; a refusal always has a reason and a
//! 401/403 status; and nothing but a valid signature is accepted (the fixed
//! key never signed these bytes, so acceptance is a bug).
#![no_main]

use dispatch_core::signature::{BorrowedRequest, Policy, verify};
use dispatch_fuzz::input::{DEFAULT_NOW, default_key};
use ed25519_dalek::VerifyingKey;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    let (input, signature) = text.split_once('\n').unwrap_or((text, ""));
    let headers = [
        ("Content-Type", "application/proto"),
        (
            "Content-Digest",
            "sha-512=:z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUdBeoGlODJ6+SfaPg==:",
        ),
        ("Signature-Input", input),
        ("Signature", signature),
    ];
    let req = BorrowedRequest::from_url(
        "POST",
        "https://my-app.example.com/dispatch.sdk.v1.FunctionService/Run",
        &headers,
    )
    .expect("a valid URL");
    let key = VerifyingKey::from_bytes(&default_key()).expect("vector-key-a is a valid key");
    let result = verify(&req, b"", &key, DEFAULT_NOW, &Policy::default());
    let error = result.expect_err("accepted a signature the key never made");
    assert!(matches!(error.http_status(), 401 | 403));
    assert!(!error.reason_name().is_empty());
});
