//! Tests added by the hardening work: each one kills a mutant that
//! cargo-mutants found alive (see docs/assurance.md) or pins a behaviour the
//! fuzzers rely on.

use dispatch_core::digest::{
    Algorithm, ContentDigest, DigestError, ExpectedDigest, MAX_HEADER_VALUE_LEN, check,
    write_header_value,
};
use dispatch_core::sfv::{BareItem, InnerList};
use dispatch_core::signature::{
    BaseError, BorrowedRequest, DEFAULT_BASE_CAPACITY, Policy, SIGNING_BUFFER_LEN, SignatureSpec,
    VerifyError, sign_request, sign_with, verify, verify_headers, write_signature_base,
};
use ed25519_dalek::SigningKey;

const URL: &str = "https://my-app.example.com/dispatch.sdk.v1.FunctionService/Run?a=1";

#[test]
fn digest_errors_say_what_failed() {
    let errors = [
        check(b"sha-512=:AA", b"").unwrap_err(),
        check(b"", b"").unwrap_err(),
        check(b"sha-512=1", b"").unwrap_err(),
        check(b"md5=:AAAA:", b"").unwrap_err(),
        check(b"sha-256=:AAAA:", b"").unwrap_err(),
    ];
    assert!(matches!(errors[0], DigestError::Malformed(_)));
    assert_eq!(
        errors[1..],
        [
            DigestError::Empty,
            DigestError::NotAByteSequence,
            DigestError::UnsupportedAlgorithm,
            DigestError::Mismatch
        ]
    );
    let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
    for (i, message) in messages.iter().enumerate() {
        assert!(!message.is_empty());
        assert!(
            !messages[..i].contains(message),
            "two errors share {message:?}"
        );
    }
}

#[test]
fn algorithms_name_and_size_their_digests() {
    assert_eq!(Algorithm::Sha256.key(), "sha-256");
    assert_eq!(Algorithm::Sha512.key(), "sha-512");
    for algorithm in [Algorithm::Sha256, Algorithm::Sha512] {
        let digest = ContentDigest::of(algorithm, b"body");
        assert_eq!(digest.algorithm(), algorithm);
        assert_eq!(digest.as_bytes().len(), algorithm.digest_len());
        let mut out = [0u8; MAX_HEADER_VALUE_LEN];
        let value = write_header_value(&digest, &mut out).unwrap();
        assert!(value.starts_with(algorithm.key()));
        let expected = ExpectedDigest::from_header(value.as_bytes()).unwrap();
        assert_eq!(expected.algorithm(), algorithm);
        assert!(expected.matches(&digest));
        assert!(!expected.matches(&ContentDigest::of(algorithm, b"other")));
    }
}

/// A request signed at `created` with the scheduler's defaults.
fn signed(created: i64, body: &[u8], check_now: impl FnOnce(&BorrowedRequest<'_>, &SigningKey)) {
    let key = SigningKey::from_bytes(&[9u8; 32]);
    let unsigned = [("Content-Type", "application/proto")];
    let req = BorrowedRequest::from_url("POST", URL, &unsigned).unwrap();
    let mut buf = [0u8; 8192];
    let s = sign_request(&req, body, &key, created, &mut buf).unwrap();
    let headers = [
        ("Content-Type", "application/proto"),
        ("Content-Digest", s.content_digest),
        ("Signature-Input", s.signature_input),
        ("Signature", s.signature),
    ];
    let req = BorrowedRequest::from_url("POST", URL, &headers).unwrap();
    check_now(&req, &key);
}

#[test]
fn time_window_edges_are_exact() {
    let created = 1_718_236_800;
    signed(created, b"x", |req, key| {
        let key = key.verifying_key();
        let policy = Policy::default().with_max_clock_skew(7).with_max_age(100);
        assert_eq!((policy.max_clock_skew(), policy.max_age()), (7, 100));
        let at = |now| verify(req, b"x", &key, now, &policy);
        assert_eq!(at(created - 7), Ok(()));
        assert_eq!(at(created - 8), Err(VerifyError::CreatedInFuture));
        assert_eq!(at(created + 107), Ok(()));
        assert_eq!(at(created + 108), Err(VerifyError::Expired));
        let headers = verify_headers(req, &key, created, &policy).unwrap();
        assert_eq!(headers.created(), created);
        assert_eq!(headers.digest_algorithm(), Algorithm::Sha512);
        assert_eq!(headers.check_body(b"y"), Err(VerifyError::DigestMismatch));
    });
}

#[test]
fn base_errors_say_what_failed() {
    let errors = [
        BaseError::MalformedComponent,
        BaseError::UnsupportedComponent,
        BaseError::Duplicate,
        BaseError::FieldMissing,
        BaseError::InvalidValue,
        BaseError::TooLarge,
    ];
    let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
    for (i, message) in messages.iter().enumerate() {
        assert!(!message.is_empty());
        assert!(
            !messages[..i].contains(message),
            "two errors share {message:?}"
        );
    }
}

/// Every derived component reads its own part of the request, through the
/// signer's view (which adds `Content-Digest`) and through a reference to a
/// view (the blanket `&T` implementation).
#[test]
fn every_derived_component_reaches_the_base() {
    let key = SigningKey::from_bytes(&[9u8; 32]);
    let headers = [("Content-Type", "application/proto")];
    let req = BorrowedRequest::from_url("POST", URL, &headers).unwrap();
    let components = [
        "@method",
        "@target-uri",
        "@scheme",
        "@authority",
        "@path",
        "@query",
        "content-type",
        "content-digest",
    ];
    let spec = SignatureSpec {
        label: "sig",
        components: &components,
        params: &[("created", BareItem::Integer(1))],
    };
    let mut buf = [0u8; 8192];
    let signed = sign_with(&&req, b"body", &key, &spec, &mut buf).unwrap();
    let params = r#"("@method" "@target-uri" "@scheme" "@authority" "@path" "@query" "content-type" "content-digest");created=1"#;
    let expected = format!(
        "\"@method\": POST\n\
         \"@target-uri\": {URL}\n\
         \"@scheme\": https\n\
         \"@authority\": my-app.example.com\n\
         \"@path\": /dispatch.sdk.v1.FunctionService/Run\n\
         \"@query\": ?a=1\n\
         \"content-type\": application/proto\n\
         \"content-digest\": {}\n\
         \"@signature-params\": {params}",
        signed.content_digest
    );
    assert_eq!(signed.signature_base, expected);
    assert_eq!(signed.signature_input, format!("sig={params}"));

    // The same base from the verifier's builder, over `&&BorrowedRequest`.
    let with_digest = [
        ("Content-Type", "application/proto"),
        ("Content-Digest", signed.content_digest),
    ];
    let req = BorrowedRequest::from_url("POST", URL, &with_digest).unwrap();
    let list = InnerList::parse(params.as_bytes()).unwrap();
    let mut out = [0u8; 4096];
    assert_eq!(write_signature_base(&&req, &list, &mut out), Ok(&*expected));
}

/// A covered field value may hold a tab but no other control byte, and no
/// byte above `~` (RFC 9421 §2.1 builds the base from visible ASCII).
#[test]
fn base_values_allow_tabs_and_refuse_other_controls() {
    let list = InnerList::parse(br#"("x-a");created=1"#).unwrap();
    let base = |value: &str| {
        let headers = [("X-A", value)];
        let req = BorrowedRequest::from_url("POST", URL, &headers).unwrap();
        let mut out = [0u8; 512];
        write_signature_base(&req, &list, &mut out).map(|b| b.to_owned())
    };
    assert_eq!(
        base("a\tb").as_deref(),
        Ok("\"x-a\": a\tb\n\"@signature-params\": (\"x-a\");created=1")
    );
    for bad in ["a\nb", "a\u{1}b", "a\u{7f}b", "a\u{e9}b"] {
        assert_eq!(base(bad), Err(BaseError::InvalidValue), "{bad:?}");
    }
    let req = BorrowedRequest::from_url("POST", URL, &[]).unwrap();
    assert_eq!(
        write_signature_base(&req, &list, &mut [0u8; 512]),
        Err(BaseError::FieldMissing)
    );
}

/// `SIGNING_BUFFER_LEN` holds the headers and the base of any request whose
/// base fits `DEFAULT_BASE_CAPACITY`, the verifier's own bound.
#[test]
fn the_signing_buffer_fits_the_largest_verifiable_base() {
    let key = SigningKey::from_bytes(&[9u8; 32]);
    let long_type = format!("application/{}", "x".repeat(DEFAULT_BASE_CAPACITY - 400));
    let headers = [("Content-Type", long_type.as_str())];
    let req = BorrowedRequest::from_url("POST", URL, &headers).unwrap();
    let mut buf = [0u8; SIGNING_BUFFER_LEN];
    let signed = sign_request(&req, b"body", &key, 1, &mut buf).unwrap();
    assert!(signed.signature_base.len() > DEFAULT_BASE_CAPACITY - 300);
    assert!(signed.signature_base.len() <= DEFAULT_BASE_CAPACITY);
}

#[test]
fn the_longest_digest_header_fits_its_bound() {
    let digest = ContentDigest::of(Algorithm::Sha512, b"body");
    let mut out = [0u8; MAX_HEADER_VALUE_LEN];
    let value = write_header_value(&digest, &mut out).unwrap();
    assert_eq!(value.len(), MAX_HEADER_VALUE_LEN);
    assert!(write_header_value(&digest, &mut [0u8; MAX_HEADER_VALUE_LEN - 1]).is_none());
}
