//! Full verification of a signed 1 KiB Dispatch `Run` request: ours, a raw
//! crypto baseline, and the httpsig-hyper crate, all in one criterion group
//! so they are measured in the same run under the same load.
//!
//! ```text
//! cargo bench -p dispatch-core --bench verify -- --warm-up-time 2 --measurement-time 5
//! ```
//!
//! Two other modes of the same binary (see `docs/benchmarks.md`):
//! - `VERIFY_BENCH_LOOP=<op>:<n>` runs `<op>` `n` times and exits, for
//!   load-independent instruction counts under callgrind;
//! - `VERIFY_BENCH_INTERLEAVED=<rounds>[:<batch µs>]` alternates short batches
//!   of every operation and reports per-round ratios, which stay meaningful
//!   when other processes load the machine.

use core::hint::black_box;
use core::pin::pin;
use core::task::{Context, Poll, Waker};
use std::time::Instant;

use base64ct::{Base64, Encoding as _};
use bytes::Bytes;
use criterion::{BatchSize, Criterion};
use dispatch_core::digest::ExpectedDigest;
use dispatch_core::sfv::{BareItem, Dictionary, Member, SfString};
use dispatch_core::signature::{
    ALG, BorrowedRequest, KEYID, LABEL, Policy, REQUIRED_COMPONENTS, RequestView, SignatureSpec,
    VerifyError, sign_request, sign_with, verify, verify_headers, write_signature_base,
};
use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
use http_body_util::Full;
use httpsig_hyper::prelude::{AlgorithmName, PublicKey};
use httpsig_hyper::{MessageSignatureReqSync, RequestContentDigest};
use sha2::{Digest as _, Sha512};

const URL: &str = "https://my-app.example.com/dispatch.sdk.v1.FunctionService/Run";
const PATH: &str = "/dispatch.sdk.v1.FunctionService/Run";
const CONTENT_TYPE: &str = "application/proto";
const BODY_LEN: usize = 1024;
/// The signature's `created`, and the verifier's `now`.
const CREATED: i64 = 1_764_000_000;

/// One signed request, every piece owned, from which each verifier's input is made.
struct Fixture {
    body: Vec<u8>,
    content_digest: String,
    signature_input: String,
    signature: String,
    /// The exact signature base our signer signed (the baseline verifies it).
    base: String,
    signature_bytes: Signature,
    key: VerifyingKey,
    now: i64,
}

impl Fixture {
    fn new() -> Self {
        let signing_key = SigningKey::from_bytes(&[0x42; 32]);
        // Deterministic, incompressible-looking body bytes.
        let body: Vec<u8> = (0..BODY_LEN as u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect();
        // Verification takes the time as a parameter, so a fixed "now" (with
        // created = now) keeps the signature, and so the instruction counts
        // of the vartime Ed25519 verification, the same from run to run.
        let now = CREATED;
        let unsigned = [("Content-Type", CONTENT_TYPE)];
        let req = BorrowedRequest::from_url("POST", URL, &unsigned).expect("URL splits");
        let mut buf = [0u8; 4096];
        // The scheduler's components and digest, but the parameters in the
        // order httpsig-hyper re-serialises them (created;alg;keyid): it does
        // not keep the received order, so it cannot verify the scheduler's
        // created;keyid;alg (asserted below). Same base length either way.
        let params = [
            ("created", BareItem::Integer(now)),
            (
                "alg",
                BareItem::String(SfString::new(ALG).expect("sf string")),
            ),
            (
                "keyid",
                BareItem::String(SfString::new(KEYID).expect("sf string")),
            ),
        ];
        let spec = SignatureSpec {
            label: LABEL,
            components: &REQUIRED_COMPONENTS,
            params: &params,
        };
        let signed = sign_with(&req, &body, &signing_key, &spec, &mut buf).expect("signs");
        let signature_b64 = signed
            .signature
            .strip_prefix("dispatch=:")
            .and_then(|s| s.strip_suffix(':'))
            .expect("Signature is dispatch=:<b64>:");
        let mut signature_bytes = [0u8; 64];
        Base64::decode(signature_b64, &mut signature_bytes).expect("base64 signature");
        Fixture {
            content_digest: signed.content_digest.to_owned(),
            signature_input: signed.signature_input.to_owned(),
            signature: signed.signature.to_owned(),
            base: signed.signature_base.to_owned(),
            signature_bytes: Signature::from_bytes(&signature_bytes),
            key: signing_key.verifying_key(),
            body,
            now,
        }
    }

    /// The header field lines, in the order a client would send them.
    fn headers(&self) -> [(&str, &str); 4] {
        [
            ("content-type", CONTENT_TYPE),
            ("content-digest", &self.content_digest),
            ("signature-input", &self.signature_input),
            ("signature", &self.signature),
        ]
    }

    fn http_request(&self) -> http::Request<Full<Bytes>> {
        let mut builder = http::Request::builder().method("POST").uri(URL);
        for (name, value) in self.headers() {
            builder = builder.header(name, value);
        }
        builder
            .body(Full::new(Bytes::copy_from_slice(&self.body)))
            .expect("valid request")
    }
}

/// Our verifier reading an `http::Request` (the same input httpsig-hyper gets).
struct HttpView<'a, B>(&'a http::Request<B>);

impl<B> RequestView for HttpView<'_, B> {
    fn method(&self) -> &str {
        self.0.method().as_str()
    }
    fn scheme(&self) -> &str {
        self.0.uri().scheme_str().unwrap_or_default()
    }
    fn authority(&self) -> &str {
        self.0.uri().authority().map_or("", |a| a.as_str())
    }
    fn path(&self) -> &str {
        self.0.uri().path()
    }
    fn query(&self) -> Option<&str> {
        self.0.uri().query()
    }
    fn field_line(&self, name: &str, index: usize) -> Option<&[u8]> {
        self.0
            .headers()
            .get_all(name)
            .iter()
            .nth(index)
            .map(http::HeaderValue::as_bytes)
    }
}

/// Polls a future that never waits (httpsig-hyper's digest check over a
/// `Full` body completes on its first poll).
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the future waited"),
    }
}

/// The operations, by name; each returns whether the request was accepted.
struct Ops {
    fx: Fixture,
    peer_key: PublicKey,
}

impl Ops {
    fn new() -> Self {
        let fx = Fixture::new();
        let peer_key = PublicKey::from_bytes(&AlgorithmName::Ed25519, fx.key.as_bytes())
            .expect("httpsig reads the key");
        Ops { fx, peer_key }
    }

    fn ours_full(&self, body: &[u8]) -> Result<(), VerifyError> {
        let headers = self.fx.headers();
        let req = BorrowedRequest {
            method: "POST",
            scheme: "https",
            authority: "my-app.example.com",
            path: PATH,
            query: None,
            headers: &headers,
        };
        verify(&req, body, &self.fx.key, self.fx.now, &Policy::DEFAULT)
    }

    fn ours_full_http<B>(&self, req: &http::Request<B>, body: &[u8]) -> Result<(), VerifyError> {
        verify(
            &HttpView(req),
            body,
            &self.fx.key,
            self.fx.now,
            &Policy::DEFAULT,
        )
    }

    fn ours_headers_only(&self) -> Result<i64, VerifyError> {
        let headers = self.fx.headers();
        let req = BorrowedRequest::from_url("POST", URL, &headers).expect("URL splits");
        verify_headers(&req, &self.fx.key, self.fx.now, &Policy::DEFAULT).map(|v| v.created())
    }

    /// The non-crypto work, through the public API: parse both signature
    /// headers and the digest header, decode the signature, rebuild the base.
    fn ours_parse_and_base(&self) -> Option<usize> {
        let headers = self.fx.headers();
        let req = BorrowedRequest::from_url("POST", URL, &headers).expect("URL splits");
        let input = Dictionary::parse(self.fx.signature_input.as_bytes()).ok()?;
        let (label, Member::InnerList(params)) = input.iter().next()? else {
            return None;
        };
        let signature = Dictionary::parse(self.fx.signature.as_bytes()).ok()?;
        let Member::Item(item) = signature.get(label)? else {
            return None;
        };
        let mut signature_bytes = [0u8; 64];
        item.bare
            .as_byte_sequence()?
            .decode_into(&mut signature_bytes)?;
        let mut buf = [0u8; 4096];
        let base = write_signature_base(&req, &params, &mut buf).ok()?;
        ExpectedDigest::from_header(self.fx.content_digest.as_bytes()).ok()?;
        Some(base.len() + usize::from(signature_bytes[0]))
    }

    fn baseline(&self, base: &[u8], body: &[u8]) -> bool {
        let digest = Sha512::digest(body);
        black_box(&digest);
        self.fx
            .key
            .verify_strict(base, &self.fx.signature_bytes)
            .is_ok()
    }

    fn baseline_signature_only(&self, base: &[u8]) -> bool {
        self.fx
            .key
            .verify_strict(base, &self.fx.signature_bytes)
            .is_ok()
    }

    fn peer_full(&self, req: http::Request<Full<Bytes>>) -> bool {
        if req
            .verify_message_signature_sync(&self.peer_key, Some("default"))
            .is_err()
        {
            return false;
        }
        ready(req.verify_content_digest()).is_ok()
    }

    /// Outside any timing: every verifier accepts the request and rejects a
    /// tampered one, so nothing below measures an early error path.
    fn assert_accept_and_reject(&self) {
        let fx = &self.fx;
        let mut tampered_body = fx.body.clone();
        tampered_body[512] ^= 1;
        let mut tampered_base = fx.base.clone().into_bytes();
        tampered_base[1] ^= 0x20; // "@method" -> "@Method"

        assert_eq!(self.ours_full(&fx.body), Ok(()));
        assert_eq!(
            self.ours_full(&tampered_body),
            Err(VerifyError::DigestMismatch)
        );
        let req = fx.http_request();
        assert_eq!(self.ours_full_http(&req, &fx.body), Ok(()));
        let mut put = fx.http_request();
        *put.method_mut() = http::Method::PUT;
        assert_eq!(
            self.ours_full_http(&put, &fx.body),
            Err(VerifyError::SignatureMismatch)
        );
        assert_eq!(self.ours_headers_only(), Ok(fx.now));
        assert_eq!(
            self.ours_parse_and_base().map(|_| ()),
            Some(()),
            "parse_and_base"
        );
        let mut out = [0u8; 4096];
        let headers = fx.headers();
        let req = BorrowedRequest::from_url("POST", URL, &headers).expect("URL splits");
        let input = Dictionary::parse(fx.signature_input.as_bytes()).expect("parses");
        let Some((_, Member::InnerList(params))) = input.iter().next() else {
            panic!("one inner list")
        };
        assert_eq!(
            write_signature_base(&req, &params, &mut out),
            Ok(fx.base.as_str()),
            "the verifier rebuilds exactly the signed base"
        );

        assert!(self.baseline(fx.base.as_bytes(), &fx.body));
        assert!(!self.baseline(&tampered_base, &fx.body));
        assert!(self.baseline_signature_only(fx.base.as_bytes()));

        assert!(self.peer_full(fx.http_request()), "httpsig-hyper accepts");
        let mut put = fx.http_request();
        *put.method_mut() = http::Method::PUT;
        assert!(
            !self.peer_full(put),
            "httpsig-hyper rejects a changed method"
        );
        let mut tampered = fx.http_request();
        *tampered.body_mut() = Full::new(Bytes::from(tampered_body));
        assert!(
            !self.peer_full(tampered),
            "httpsig-hyper rejects a changed body"
        );
        let mut wrong_keyid = fx.http_request();
        let input = fx
            .signature_input
            .replace("keyid=\"default\"", "keyid=\"other\"");
        wrong_keyid.headers_mut().insert(
            "signature-input",
            http::HeaderValue::from_str(&input).expect("header value"),
        );
        assert!(
            !self.peer_full(wrong_keyid),
            "httpsig-hyper filters by keyid"
        );

        // The scheduler's own parameter order: we accept it, httpsig-hyper does not.
        let signing_key = SigningKey::from_bytes(&[0x42; 32]);
        let unsigned = [("Content-Type", CONTENT_TYPE)];
        let req = BorrowedRequest::from_url("POST", URL, &unsigned).expect("URL splits");
        let mut buf = [0u8; 4096];
        let scheduler =
            sign_request(&req, &fx.body, &signing_key, fx.now, &mut buf).expect("signs");
        assert!(
            scheduler
                .signature_input
                .ends_with(";keyid=\"default\";alg=\"ed25519\"")
        );
        let mut as_scheduler = fx.http_request();
        for (name, value) in [
            ("signature-input", scheduler.signature_input),
            ("signature", scheduler.signature),
        ] {
            as_scheduler.headers_mut().insert(
                name,
                http::HeaderValue::from_str(value).expect("header value"),
            );
        }
        assert_eq!(self.ours_full_http(&as_scheduler, &fx.body), Ok(()));
        assert!(
            !self.peer_full(as_scheduler),
            "httpsig-hyper 0.0.26 reorders parameters when rebuilding the base"
        );
    }

    /// Runs the operation called `op` once (for the callgrind loop).
    fn run_once(&self, op: &str) {
        let fx = &self.fx;
        match op {
            "ours/full" => {
                let _ = black_box(self.ours_full(black_box(&fx.body)));
            }
            "ours/full_http_request" => {
                let req = fx.http_request();
                {
                    let _ = black_box(self.ours_full_http(&req, black_box(&fx.body)));
                };
            }
            "ours/headers_only" => {
                let _ = black_box(self.ours_headers_only());
            }
            "ours/parse_and_base" => {
                let _ = black_box(self.ours_parse_and_base());
            }
            "baseline/dalek_verify_strict_plus_sha512" => {
                let _ =
                    black_box(self.baseline(black_box(fx.base.as_bytes()), black_box(&fx.body)));
            }
            "baseline/dalek_verify_strict" => {
                let _ = black_box(self.baseline_signature_only(black_box(fx.base.as_bytes())));
            }
            "baseline/sha512_1kib" => {
                let _ = black_box(Sha512::digest(black_box(&fx.body)));
            }
            "peer/httpsig_hyper_full" => {
                let _ = black_box(self.peer_full(fx.http_request()));
            }
            "peer/build_request_only" => {
                let _ = black_box(fx.http_request());
            }
            other => self.run_part(other),
        }
    }
}

impl Ops {
    /// Pieces of the verifier's non-crypto work, through the public API, so
    /// callgrind can attribute instructions (not part of the criterion group).
    fn run_part(&self, op: &str) {
        let fx = &self.fx;
        let input = black_box(fx.signature_input.as_bytes());
        let signature = black_box(fx.signature.as_bytes());
        let digest = black_box(fx.content_digest.as_bytes());
        let params = || {
            let dict = Dictionary::parse(fx.signature_input.as_bytes()).expect("parses");
            match dict.iter().next() {
                Some((_, Member::InnerList(list))) => list,
                _ => panic!("one inner list"),
            }
        };
        let headers = fx.headers();
        let req = BorrowedRequest::from_url("POST", URL, &headers).expect("URL splits");
        match op {
            // The setup every part below shares (subtract it).
            "parts/setup" => {
                let _ = black_box(params());
            }
            "parts/dict_parse_signature_input" => {
                let _ = black_box(params());
                let _ = black_box(Dictionary::parse(input));
            }
            "parts/dict_parse_and_first_signature_input" => {
                let _ = black_box(params());
                let _ = black_box(Dictionary::parse(input).map(|d| d.iter().next()));
            }
            "parts/dict_parse_signature" => {
                let _ = black_box(params());
                let _ = black_box(Dictionary::parse(signature));
            }
            "parts/dict_parse_and_get_signature" => {
                let _ = black_box(params());
                let _ = black_box(Dictionary::parse(signature).map(|d| d.get("dispatch")));
            }
            "parts/expected_digest" => {
                let _ = black_box(params());
                let _ = black_box(ExpectedDigest::from_header(digest));
            }
            "parts/items_walk" => {
                let list = black_box(params());
                let _ = black_box(list.items().count());
            }
            "parts/params_walk" => {
                let list = black_box(params());
                let _ = black_box(list.params().iter().count());
            }
            "parts/inner_list_display" => {
                let list = black_box(params());
                let mut buf = [0u8; 256];
                let _ = black_box(dispatch_core::sfv::write_to(&mut buf, &list).map(str::len));
            }
            "parts/base_4k_buffer" => {
                let list = black_box(params());
                let mut buf = [0u8; 4096];
                let _ = black_box(write_signature_base(&req, &list, &mut buf).map(str::len));
            }
            "parts/base_512_buffer" => {
                let list = black_box(params());
                let mut buf = [0u8; 512];
                let _ = black_box(write_signature_base(&req, &list, &mut buf).map(str::len));
            }
            other => panic!("unknown op {other}"),
        }
    }
}

fn bench(c: &mut Criterion, ops: &Ops) {
    let fx = &ops.fx;
    let mut group = c.benchmark_group("verify_1kib_run_request");
    group.bench_function("ours/full", |b| {
        b.iter(|| ops.ours_full(black_box(&fx.body)))
    });
    group.bench_function("ours/headers_only", |b| b.iter(|| ops.ours_headers_only()));
    group.bench_function("ours/parse_and_base", |b| {
        b.iter(|| ops.ours_parse_and_base())
    });
    group.bench_function("ours/full_http_request", |b| {
        b.iter_batched_ref(
            || fx.http_request(),
            |req| ops.ours_full_http(req, black_box(&fx.body)),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("baseline/dalek_verify_strict_plus_sha512", |b| {
        b.iter(|| ops.baseline(black_box(fx.base.as_bytes()), black_box(&fx.body)))
    });
    group.bench_function("baseline/dalek_verify_strict", |b| {
        b.iter(|| ops.baseline_signature_only(black_box(fx.base.as_bytes())))
    });
    group.bench_function("baseline/sha512_1kib", |b| {
        b.iter(|| Sha512::digest(black_box(&fx.body)))
    });
    // httpsig-hyper's digest check consumes the request, so each iteration
    // gets a fresh one; building it is outside the timing (iter_batched) and
    // measured on its own below.
    group.bench_function("peer/httpsig_hyper_full", |b| {
        b.iter_batched(
            || fx.http_request(),
            |req| ops.peer_full(req),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("peer/build_request_only", |b| b.iter(|| fx.http_request()));
    group.finish();
}

/// The operations compared in interleaved mode, in the order they are reported.
const INTERLEAVED_OPS: [&str; 8] = [
    "ours/full",
    "baseline/dalek_verify_strict_plus_sha512",
    "peer/httpsig_hyper_full",
    "ours/full_http_request",
    "ours/headers_only",
    "baseline/dalek_verify_strict",
    "ours/parse_and_base",
    "peer/build_request_only",
];

/// Times one batch of `n` runs of `op`, in ns per run. httpsig-hyper's
/// requests, and those `ours/full_http_request` reads, are built before the
/// clock starts (httpsig-hyper's digest check consumes them).
fn time_batch(ops: &Ops, op: &str, n: usize) -> f64 {
    let fx = &ops.fx;
    let start;
    if op == "peer/httpsig_hyper_full" {
        let requests: Vec<_> = (0..n).map(|_| fx.http_request()).collect();
        start = Instant::now();
        for req in requests {
            black_box(ops.peer_full(req));
        }
    } else if op == "ours/full_http_request" {
        let requests: Vec<_> = (0..n).map(|_| fx.http_request()).collect();
        start = Instant::now();
        for req in &requests {
            let _ = black_box(ops.ours_full_http(req, black_box(&fx.body)));
        }
    } else {
        start = Instant::now();
        for _ in 0..n {
            ops.run_once(op);
        }
    }
    start.elapsed().as_nanos() as f64 / n as f64
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Load-robust comparison on a shared machine: every round runs a short batch
/// of each operation back to back (rotating the order), so all of them see
/// the same load; the ratios are taken within each round, then the median.
fn interleaved(ops: &Ops, rounds: usize, batch_us: f64) {
    let batch_ns = batch_us * 1000.0;
    let count = INTERLEAVED_OPS.len();
    // Batch sizes from a quick calibration.
    let sizes: Vec<usize> = INTERLEAVED_OPS
        .iter()
        .map(|op| {
            time_batch(ops, op, 20);
            ((batch_ns / time_batch(ops, op, 20)) as usize).clamp(3, 20_000)
        })
        .collect();
    let mut samples = vec![Vec::with_capacity(rounds); count];
    for round in 0..rounds {
        for k in 0..count {
            let i = (round + k) % count;
            samples[i].push(time_batch(ops, INTERLEAVED_OPS[i], sizes[i]));
        }
    }
    let ratio = |a: usize, b: usize| {
        let mut r: Vec<f64> = (0..rounds).map(|j| samples[a][j] / samples[b][j]).collect();
        median(&mut r)
    };
    println!(
        "interleaved: {rounds} rounds, ~{batch_us} µs batches; ns/op (10th percentile, median); ratios are medians of per-round ratios"
    );
    for (i, op) in INTERLEAVED_OPS.iter().enumerate() {
        let mut s = samples[i].clone();
        let med = median(&mut s);
        println!(
            "{op:45} p10 {:>8.0}  median {:>8.0}  /baseline {:.3}",
            s[s.len() / 10],
            med,
            ratio(i, 1)
        );
    }
    println!(
        "ratio ours/full : baseline (median of per-round ratios) = {:.3}",
        ratio(0, 1)
    );
    println!(
        "ratio peer/httpsig_hyper_full : ours/full (median of per-round ratios) = {:.3}",
        ratio(2, 0)
    );
    println!(
        "ratio peer/httpsig_hyper_full : ours/full_http_request (median of per-round ratios) = {:.3}",
        ratio(2, 3)
    );
    let difference = |a: usize, b: usize| {
        let mut d: Vec<f64> = (0..rounds).map(|j| samples[a][j] - samples[b][j]).collect();
        median(&mut d)
    };
    println!(
        "ours/full - baseline (median of per-round differences) = {:.0} ns",
        difference(0, 1)
    );
    println!(
        "ours/headers_only - baseline/dalek_verify_strict (median of per-round differences) = {:.0} ns",
        difference(4, 5)
    );
}

fn main() {
    let ops = Ops::new();
    ops.assert_accept_and_reject();

    if let Ok(spec) = std::env::var("VERIFY_BENCH_LOOP") {
        let (op, n) = spec.rsplit_once(':').expect("VERIFY_BENCH_LOOP=<op>:<n>");
        let n: u64 = n.parse().expect("a count");
        for _ in 0..n {
            ops.run_once(op);
        }
        return;
    }

    if let Ok(rounds) = std::env::var("VERIFY_BENCH_INTERLEAVED") {
        // `<rounds>[:<batch µs>]`
        let (rounds, batch_us) = rounds.split_once(':').unwrap_or((&rounds, "2000"));
        interleaved(
            &ops,
            rounds.parse().expect("a round count"),
            batch_us.parse().expect("a batch length in µs"),
        );
        return;
    }

    let mut criterion = Criterion::default().configure_from_args();
    bench(&mut criterion, &ops);
    criterion.final_summary();
}
