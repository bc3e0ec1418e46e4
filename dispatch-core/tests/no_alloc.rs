//! Verifying a signed request with a 64 KiB body makes no heap allocation.
//!
//! The whole binary runs on a counting global allocator. It has no test
//! harness (`harness = false` in Cargo.toml): libtest runs a test on a thread
//! of its own while its main thread waits, and that thread's first wait
//! allocates (caches its channel context), which the global count saw when
//! the machine was loaded. Here `main` is the only thread.

use std::alloc::System;

use dispatch_core::signature::{
    BorrowedRequest, Policy, SIGNING_BUFFER_LEN, sign_request, verify, verify_headers,
};
use ed25519_dalek::SigningKey;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn main() {
    verifying_a_64_kib_request_does_not_allocate();
    println!("no_alloc: verifying a signed request with a 64 KiB body made no heap allocation");
}

fn verifying_a_64_kib_request_does_not_allocate() {
    let key = SigningKey::from_bytes(&[42u8; 32]);
    let public = key.verifying_key();
    let body: Vec<u8> = (0..64 * 1024).map(|i| (i * 7 % 251) as u8).collect();
    let url = "https://my-app.example.com/dispatch.sdk.v1.FunctionService/Run";
    let unsigned = [("Content-Type", "application/proto")];
    let req = BorrowedRequest::from_url("POST", url, &unsigned).unwrap();
    let mut buf = [0u8; SIGNING_BUFFER_LEN];
    let signed = sign_request(&req, &body, &key, 1_718_236_800, &mut buf).unwrap();
    let headers = [
        ("Host", "my-app.example.com"),
        ("Content-Type", "application/proto"),
        ("Content-Length", "65536"),
        ("Content-Digest", signed.content_digest),
        ("Signature-Input", signed.signature_input),
        ("Signature", signed.signature),
    ];
    let req = BorrowedRequest::from_url("POST", url, &headers).unwrap();
    let policy = Policy::default();
    let now = 1_718_236_830;

    // The counter works: a control allocation is seen.
    let control = Region::new(GLOBAL);
    let boxed = core::hint::black_box(Box::new(1u64));
    assert_eq!(control.change().allocations, 1);
    drop(boxed);

    let region = Region::new(GLOBAL);
    let one_shot = verify(&req, &body, &public, now, &policy);
    let streamed = verify_headers(&req, &public, now, &policy).and_then(|verified| {
        let mut digest = verified.body_digest();
        for chunk in body.chunks(8192) {
            digest.update(chunk);
        }
        verified.finish(&digest.finish())
    });
    let mut tampered_result = Ok(());
    if let Some((last, rest)) = body.split_last() {
        let verified = verify_headers(&req, &public, now, &policy);
        tampered_result = verified.and_then(|v| {
            let mut digest = v.body_digest();
            digest.update(rest);
            digest.update(&[last ^ 1]);
            v.finish(&digest.finish())
        });
    }
    let change = region.change();

    assert_eq!(one_shot, Ok(()));
    assert_eq!(streamed, Ok(()));
    assert!(tampered_result.is_err());
    assert_eq!(
        (
            change.allocations,
            change.reallocations,
            change.bytes_allocated
        ),
        (0, 0, 0),
        "verification allocated: {change:?}"
    );
}
