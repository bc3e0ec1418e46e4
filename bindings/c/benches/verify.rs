//! Full verification of a signed 1 KiB Dispatch `Run` request: through the
//! C ABI (`dispatch_verify_request`, every pointer checked, the header list
//! built) against the Rust core's own `signature::verify`, in one run.
//!
//! ```text
//! cargo bench -p dispatch-ffi --bench verify -- --warm-up-time 2 --measurement-time 5
//! ```
//!
//! After criterion's two figures, the same two operations alternate in short
//! batches for `FFI_BENCH_ROUNDS` rounds (default 200) and the median of the
//! per-round ratios is printed: it stays meaningful when other processes
//! load the machine. `-- --test` runs each once and checks that both accept
//! the request and refuse a tampered one.

#![allow(
    missing_docs,
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing
)]

use core::hint::black_box;
use std::time::Instant;

use criterion::Criterion;
use dispatch_core::signature::{BorrowedRequest, Policy, sign_request, verify};
use dispatch_ffi::{
    DispatchBytes, DispatchHeader, DispatchRefusal, DispatchRequest, DispatchResult, DispatchStr,
    DispatchVerificationKey, dispatch_verification_key_free, dispatch_verification_key_from_raw,
    dispatch_verify_request,
};
use ed25519_dalek::{SigningKey, VerifyingKey};

const URL: &str = "https://my-app.example.com/dispatch.sdk.v1.FunctionService/Run";
const CONTENT_TYPE: &str = "application/proto";
const BODY_LEN: usize = 1024;
const CREATED: i64 = 1_764_000_000;

struct Fixture {
    body: Vec<u8>,
    headers: Vec<(String, String)>,
    key: VerifyingKey,
}

impl Fixture {
    fn new() -> Self {
        let signing_key = SigningKey::from_bytes(&[0x42; 32]);
        let body: Vec<u8> = (0..BODY_LEN as u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect();
        let unsigned = [("Content-Type", CONTENT_TYPE)];
        let req = BorrowedRequest::from_url("POST", URL, &unsigned).expect("URL splits");
        let mut buf = [0u8; 8192];
        let signed = sign_request(&req, &body, &signing_key, CREATED, &mut buf).expect("signs");
        let headers = vec![
            ("content-type".to_owned(), CONTENT_TYPE.to_owned()),
            (
                "content-digest".to_owned(),
                signed.content_digest.to_owned(),
            ),
            (
                "signature-input".to_owned(),
                signed.signature_input.to_owned(),
            ),
            ("signature".to_owned(), signed.signature.to_owned()),
        ];
        Fixture {
            body,
            headers,
            key: signing_key.verifying_key(),
        }
    }
}

/// The Rust core's own verify, over borrowed parts.
struct Core<'f> {
    fx: &'f Fixture,
    pairs: Vec<(&'f str, &'f str)>,
}

impl Core<'_> {
    fn verify(&self, body: &[u8]) -> bool {
        let req = BorrowedRequest {
            method: "POST",
            scheme: "https",
            authority: "my-app.example.com",
            path: "/dispatch.sdk.v1.FunctionService/Run",
            query: None,
            headers: &self.pairs,
        };
        verify(&req, body, &self.fx.key, CREATED, &Policy::DEFAULT).is_ok()
    }
}

fn text(s: &str) -> DispatchStr {
    DispatchStr {
        ptr: s.as_ptr(),
        len: s.len(),
    }
}

/// The same through the C ABI, as a C host calls it.
struct Ffi {
    lines: Vec<DispatchHeader>,
    key: *mut DispatchVerificationKey,
}

impl Ffi {
    fn new(fx: &Fixture) -> Self {
        let lines = fx
            .headers
            .iter()
            .map(|(n, v)| DispatchHeader {
                name: text(n),
                value: DispatchBytes {
                    ptr: v.as_ptr(),
                    len: v.len(),
                },
            })
            .collect();
        let raw = fx.key.to_bytes();
        let mut key = core::ptr::null_mut();
        // SAFETY: `raw` is 32 readable bytes and `key` a writable pointer.
        let rc = unsafe {
            dispatch_verification_key_from_raw(
                DispatchBytes {
                    ptr: raw.as_ptr(),
                    len: raw.len(),
                },
                &mut key,
                core::ptr::null_mut(),
            )
        };
        assert_eq!(rc, DispatchResult::Ok);
        Ffi { lines, key }
    }

    fn verify(&self, body: &[u8], refusal: &mut DispatchRefusal) -> bool {
        let request = DispatchRequest {
            method: text("POST"),
            scheme: text("https"),
            authority: text("my-app.example.com"),
            path: text("/dispatch.sdk.v1.FunctionService/Run"),
            query: text(""),
            has_query: false,
            headers: self.lines.as_ptr(),
            headers_len: self.lines.len(),
        };
        // SAFETY: every pointer is valid for its length for the call; the key
        // is live; the refusal record is writable.
        let rc = unsafe {
            dispatch_verify_request(
                &request,
                body.as_ptr(),
                body.len(),
                self.key,
                CREATED,
                core::ptr::null(),
                refusal,
                core::ptr::null_mut(),
            )
        };
        rc == DispatchResult::Ok
    }
}

impl Drop for Ffi {
    fn drop(&mut self) {
        // SAFETY: the key came from the library and is freed once.
        unsafe { dispatch_verification_key_free(self.key) };
    }
}

fn new_refusal() -> Box<DispatchRefusal> {
    Box::new(DispatchRefusal {
        http_status: 0,
        code: 0,
        code_name: text(""),
        reason: text(""),
        header_name: text(""),
        header_value: text(""),
        message_len: 0,
        message: [0; dispatch_ffi::DISPATCH_REFUSAL_MESSAGE_LEN],
        body_len: 0,
        body: [0; dispatch_ffi::DISPATCH_REFUSAL_BODY_LEN],
    })
}

fn time_batch(n: usize, mut op: impl FnMut() -> bool) -> f64 {
    let start = Instant::now();
    for _ in 0..n {
        black_box(op());
    }
    start.elapsed().as_secs_f64() / n as f64
}

fn main() {
    let fx = Fixture::new();
    let core = Core {
        fx: &fx,
        pairs: fx
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect(),
    };
    let ffi = Ffi::new(&fx);
    let mut refusal = new_refusal();
    let mut tampered = fx.body.clone();
    tampered[0] ^= 1;
    assert!(core.verify(&fx.body) && ffi.verify(&fx.body, &mut refusal));
    assert!(!core.verify(&tampered) && !ffi.verify(&tampered, &mut refusal));
    assert_eq!(refusal.http_status, 403);
    if std::env::args().any(|a| a == "--test") {
        println!(
            "verify through the C ABI and the core: both accept, both refuse the tampered body"
        );
        return;
    }

    let mut c = Criterion::default().configure_from_args();
    let mut group = c.benchmark_group("verify_1kib_run_request");
    group.bench_function("core", |b| b.iter(|| core.verify(black_box(&fx.body))));
    group.bench_function("c_abi", |b| {
        b.iter(|| ffi.verify(black_box(&fx.body), &mut refusal))
    });
    group.finish();
    c.final_summary();

    let rounds: usize = std::env::var("FFI_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(200);
    let mut ratios = Vec::with_capacity(rounds);
    let (mut core_sum, mut ffi_sum) = (0.0, 0.0);
    for round in 0..rounds {
        // Alternate which goes first, so neither always runs on a warm cache.
        let (a, b) = if round % 2 == 0 {
            let a = time_batch(50, || core.verify(&fx.body));
            (a, time_batch(50, || ffi.verify(&fx.body, &mut refusal)))
        } else {
            let b = time_batch(50, || ffi.verify(&fx.body, &mut refusal));
            (time_batch(50, || core.verify(&fx.body)), b)
        };
        core_sum += a;
        ffi_sum += b;
        ratios.push(b / a);
    }
    ratios.sort_by(f64::total_cmp);
    println!(
        "interleaved, {rounds} rounds of 50: core {:.2} µs, C ABI {:.2} µs, median ratio C ABI / core {:.3}",
        core_sum / rounds as f64 * 1e6,
        ffi_sum / rounds as f64 * 1e6,
        ratios[rounds / 2]
    );
}
