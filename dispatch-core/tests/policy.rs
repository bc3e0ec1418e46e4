//! The verification policy (docs/protocol/verification.md), check by check: each reason
//! with its status, and which check wins when several fail.

use dispatch_core::sfv::{BareItem, SfString, Token};
use dispatch_core::signature::{
    BorrowedRequest, Malformed, Policy, SIGNING_BUFFER_LEN, SignatureSpec, VerifyError, sign_with,
    verify, verify_headers_with_buffer,
};
use ed25519_dalek::SigningKey;

const URL: &str = "https://my-app.example.com/dispatch.sdk.v1.FunctionService/Run";
const NOW: i64 = 1_718_236_830;
const CREATED: i64 = 1_718_236_800;
const BODY: &[u8] = b"\x0a\x03add";
const FIVE: [&str; 5] = [
    "@method",
    "@path",
    "@authority",
    "content-type",
    "content-digest",
];

fn key() -> SigningKey {
    SigningKey::from_bytes(&[9u8; 32])
}

fn s(text: &str) -> BareItem<'_> {
    BareItem::String(SfString::new(text).unwrap())
}

fn dispatch_params() -> Vec<(&'static str, BareItem<'static>)> {
    vec![
        ("created", BareItem::Integer(CREATED)),
        ("keyid", s("default")),
        ("alg", s("ed25519")),
    ]
}

/// The headers of a request signed with `components` and `params`, plus `extra`.
fn signed_headers(
    components: &[&str],
    params: &[(&str, BareItem<'_>)],
    extra: &[(&str, &str)],
) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = vec![
        ("Content-Type".into(), "application/proto".into()),
        ("X-Custom".into(), "yes".into()),
    ];
    headers.extend(extra.iter().map(|(n, v)| (n.to_string(), v.to_string())));
    let pairs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let req = BorrowedRequest::from_url("POST", URL, &pairs).unwrap();
    let spec = SignatureSpec {
        label: "dispatch",
        components,
        params,
    };
    let mut buf = vec![0u8; SIGNING_BUFFER_LEN];
    let signed = sign_with(&req, BODY, &key(), &spec, &mut buf).unwrap();
    headers.push(("Content-Digest".into(), signed.content_digest.into()));
    headers.push(("Signature-Input".into(), signed.signature_input.into()));
    headers.push(("Signature".into(), signed.signature.into()));
    headers
}

fn set(headers: &mut Vec<(String, String)>, name: &str, value: Option<&str>) {
    headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    if let Some(value) = value {
        headers.push((name.into(), value.into()));
    }
}

fn check_with(
    headers: &[(String, String)],
    body: &[u8],
    now: i64,
    policy: &Policy,
) -> Result<(), VerifyError> {
    let pairs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let req = BorrowedRequest::from_url("POST", URL, &pairs).unwrap();
    verify(&req, body, &key().verifying_key(), now, policy)
}

fn check(headers: &[(String, String)]) -> Result<(), VerifyError> {
    check_with(headers, BODY, NOW, &Policy::default())
}

fn reason(headers: &[(String, String)]) -> (&'static str, u16, &'static str) {
    let e = check(headers).expect_err("must be refused");
    (e.reason_name(), e.http_status(), e.code().name())
}

fn good() -> Vec<(String, String)> {
    signed_headers(&FIVE, &dispatch_params(), &[])
}

#[test]
fn a_scheduler_signed_request_verifies() {
    assert_eq!(check(&good()), Ok(()));
}

#[test]
fn step1_missing_headers() {
    let mut h = good();
    set(&mut h, "signature", None);
    assert_eq!(reason(&h), ("missing-signature", 401, "unauthenticated"));
    set(&mut h, "signature-input", None);
    assert_eq!(
        reason(&h),
        ("missing-signature-input", 401, "unauthenticated")
    );
}

#[test]
fn step2_structure() {
    let mut h = good();
    set(&mut h, "signature", Some("dispatch=:AAAA:"));
    assert_eq!(
        check(&h),
        Err(VerifyError::MalformedSignature(Malformed::WrongLength))
    );
    set(&mut h, "signature", Some("other=:AAAA:"));
    assert_eq!(reason(&h).0, "label-mismatch");
    set(&mut h, "signature", Some("dispatch=(:AAAA:)"));
    assert_eq!(
        check(&h),
        Err(VerifyError::MalformedSignature(Malformed::WrongType))
    );
    set(&mut h, "signature", Some("dispatch=:AA A:"));
    assert_eq!(reason(&h), ("malformed-signature", 401, "unauthenticated"));

    let mut h = good();
    set(&mut h, "signature-input", Some("dispatch=1"));
    assert_eq!(
        check(&h),
        Err(VerifyError::MalformedSignatureInput(Malformed::WrongType))
    );
    // Both headers must parse before their members are looked at (the
    // policy's order): a malformed Signature beats two members.
    set(
        &mut h,
        "signature-input",
        Some(r#"a=("@method"), b=("@method")"#),
    );
    set(&mut h, "signature", Some("garbage!"));
    assert_eq!(reason(&h), ("malformed-signature", 401, "unauthenticated"));
    set(&mut h, "signature", Some("a=:AA==:"));
    assert_eq!(
        reason(&h),
        ("not-exactly-one-signature", 401, "unauthenticated")
    );
    // Extra Signature members are ignored.
    let mut h = good();
    let sig = h.iter().find(|(n, _)| n == "Signature").unwrap().1.clone();
    set(&mut h, "signature", Some(&format!("other=:AAAA:, {sig}")));
    assert_eq!(check(&h), Ok(()));
}

#[test]
fn identical_duplicate_lines_are_one_member() {
    let mut h = good();
    let input = h
        .iter()
        .find(|(n, _)| n == "Signature-Input")
        .unwrap()
        .clone();
    h.push(input);
    assert_eq!(check(&h), Ok(()));
}

#[test]
fn step3_parameters_in_order() {
    let base = dispatch_params();
    let with = |extra: (&'static str, BareItem<'static>)| {
        let mut p = base.clone();
        p.push(extra);
        signed_headers(&FIVE, &p, &[])
    };
    assert_eq!(
        reason(&with(("tag", s("x")))),
        ("unknown-parameter", 401, "unauthenticated")
    );
    assert_eq!(reason(&with(("expires", s("1")))).0, "bad-expires");
    assert_eq!(
        reason(&with(("nonce", BareItem::Integer(1)))).0,
        "bad-nonce"
    );
    assert_eq!(check(&with(("nonce", s("n-1")))), Ok(()));
    assert_eq!(check(&with(("expires", BareItem::Integer(NOW)))), Ok(()));

    // An unknown parameter is reported before a missing created.
    let p = [("keyid", s("default")), ("tag", s("t"))];
    assert_eq!(
        reason(&signed_headers(&FIVE, &p, &[])).0,
        "unknown-parameter"
    );
    let p = [("keyid", s("default"))];
    assert_eq!(reason(&signed_headers(&FIVE, &p, &[])).0, "bad-created");
    let p = [("created", BareItem::Integer(CREATED))];
    assert_eq!(reason(&signed_headers(&FIVE, &p, &[])).0, "unknown-keyid");
    let p = [
        ("created", BareItem::Integer(CREATED)),
        ("keyid", s("Default")),
    ];
    assert_eq!(reason(&signed_headers(&FIVE, &p, &[])).0, "unknown-keyid");
    let p = [
        ("created", BareItem::Integer(CREATED)),
        ("keyid", s("default")),
        ("alg", BareItem::Token(Token::new("ed25519").unwrap())),
    ];
    assert_eq!(
        reason(&signed_headers(&FIVE, &p, &[])),
        ("unsupported-alg", 401, "unauthenticated")
    );
    // No alg at all is fine.
    let p = [
        ("created", BareItem::Integer(CREATED)),
        ("keyid", s("default")),
    ];
    assert_eq!(check(&signed_headers(&FIVE, &p, &[])), Ok(()));
}

#[test]
fn step4_components_one_rule_at_a_time() {
    let with_input = |input: &str| {
        let mut h = good();
        set(&mut h, "signature-input", Some(input));
        h
    };
    let params = r#";created=1718236800;keyid="default""#;
    let r = |list: &str| reason(&with_input(&format!("dispatch={list}{params}"))).0;
    // Malformed (upper case, token, parameters) before duplicates.
    assert_eq!(
        r(r#"("@method" "@method" "Content-Type")"#),
        "malformed-component"
    );
    assert_eq!(r(r#"("@method" content-type)"#), "malformed-component");
    assert_eq!(r(r#"("@method" "content-type";sf)"#), "malformed-component");
    assert_eq!(r(r#"("@method" "")"#), "malformed-component");
    // Duplicates before unsupported.
    assert_eq!(r(r#"("@foo" "@foo")"#), "duplicate-component");
    assert_eq!(
        r(r#"("@method" "@request-target")"#),
        "unsupported-component"
    );
    // Unsupported before a missing header.
    assert_eq!(r(r#"("x-missing" "@status")"#), "unsupported-component");
    assert_eq!(r(r#"("x-missing" "@method")"#), "covered-header-missing");
    assert_eq!(
        reason(&with_input(&format!(
            r#"dispatch=("@method" "@path"){params}"#
        ))),
        ("insufficient-coverage", 401, "unauthenticated")
    );
    // Extra covered components and any order are fine.
    let order = [
        "x-custom",
        "@scheme",
        "content-digest",
        "@target-uri",
        "@query",
        "content-type",
        "@authority",
        "@path",
        "@method",
    ];
    assert_eq!(
        check(&signed_headers(&order, &dispatch_params(), &[])),
        Ok(())
    );
}

#[test]
fn step5_time_window() {
    let at = |created: i64, expires: Option<i64>| {
        let mut p = vec![
            ("created", BareItem::Integer(created)),
            ("keyid", s("default")),
        ];
        if let Some(e) = expires {
            p.push(("expires", BareItem::Integer(e)));
        }
        signed_headers(&FIVE, &p, &[])
    };
    assert_eq!(check(&at(NOW + 5, None)), Ok(()));
    assert_eq!(
        reason(&at(NOW + 6, None)),
        ("created-in-future", 403, "permission_denied")
    );
    assert_eq!(check(&at(NOW - 305, None)), Ok(()));
    assert_eq!(
        reason(&at(NOW - 306, None)),
        ("expired", 403, "permission_denied")
    );
    assert_eq!(check(&at(NOW, Some(NOW - 5))), Ok(()));
    assert_eq!(reason(&at(NOW, Some(NOW - 6))).0, "expired");
    assert_eq!(reason(&at(-999_999_999_999_999, None)).0, "expired");
    // Configurable skew and age.
    let policy = Policy::default().with_max_clock_skew(0).with_max_age(10);
    assert_eq!(check_with(&at(NOW - 10, None), BODY, NOW, &policy), Ok(()));
    assert_eq!(
        check_with(&at(NOW - 11, None), BODY, NOW, &policy).map_err(|e| e.reason_name()),
        Err("expired")
    );
    assert_eq!(
        check_with(&at(NOW + 1, None), BODY, NOW, &policy).map_err(|e| e.reason_name()),
        Err("created-in-future")
    );
    // Extreme clocks do not overflow.
    assert!(check_with(&good(), BODY, i64::MAX, &Policy::default()).is_err());
    assert!(check_with(&good(), BODY, i64::MIN, &Policy::default()).is_err());
}

#[test]
fn step6_signature_and_base() {
    let mut h = good();
    set(&mut h, "content-type", Some("application/json"));
    assert_eq!(reason(&h), ("signature-mismatch", 403, "permission_denied"));
    // A covered value that cannot go into a signature base.
    let h = signed_headers(&FIVE, &dispatch_params(), &[]);
    let mut bad = h.clone();
    set(&mut bad, "content-type", Some("application/pröto"));
    assert_eq!(check(&bad), Err(VerifyError::SignatureBaseUnbuildable));
    assert_eq!(
        VerifyError::SignatureBaseUnbuildable.reason_name(),
        "signature-mismatch"
    );
    // A base that does not fit the caller's buffer.
    let pairs: Vec<(&str, &str)> = h.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let req = BorrowedRequest::from_url("POST", URL, &pairs).unwrap();
    let key = key().verifying_key();
    let policy = Policy::default();
    let mut small = [0u8; 64];
    assert_eq!(
        verify_headers_with_buffer(&req, &key, NOW, &policy, &mut small).map(|_| ()),
        Err(VerifyError::SignatureBaseUnbuildable)
    );
    let mut enough = [0u8; 512];
    assert!(verify_headers_with_buffer(&req, &key, NOW, &policy, &mut enough).is_ok());
}

#[test]
fn step7_content_digest_after_the_signature() {
    // A signed Content-Digest with only md5, empty, or wrong: the signature covers
    // the header the signer produced, so replace it before signing.
    let signed_with_digest = |digest: &str| {
        let mut h = signed_headers(&FIVE, &dispatch_params(), &[]);
        set(&mut h, "content-digest", Some(digest));
        // Re-sign over the replaced header by signing with a base that covers it.
        let pairs: Vec<(&str, &str)> = h.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let req = BorrowedRequest::from_url("POST", URL, &pairs).unwrap();
        let list = dispatch_core::sfv::InnerList::parse(
            br#"("@method" "@path" "@authority" "content-type" "content-digest");created=1718236800;keyid="default""#,
        )
        .unwrap();
        let mut buf = [0u8; 1024];
        let base = dispatch_core::signature::write_signature_base(&req, &list, &mut buf).unwrap();
        let sig = ed25519_dalek::Signer::sign(&key(), base.as_bytes()).to_bytes();
        let mut b64 = [0u8; 88];
        let sig = <base64ct::Base64 as base64ct::Encoding>::encode(&sig, &mut b64).unwrap();
        let sig: &str = sig;
        set(&mut h, "signature-input", Some(&format!("dispatch={list}")));
        set(&mut h, "signature", Some(&format!("dispatch=:{sig}:")));
        h
    };
    assert_eq!(
        reason(&signed_with_digest("md5=:Sd/dVLAcvNLSq16eXua5uQ==:")),
        ("unsupported-digest-algorithm", 401, "unauthenticated")
    );
    assert_eq!(
        reason(&signed_with_digest("")),
        ("malformed-content-digest", 401, "unauthenticated")
    );
    assert_eq!(
        reason(&signed_with_digest(
            "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"
        )),
        ("digest-mismatch", 403, "permission_denied")
    );
    // The body changed under a good signature.
    assert_eq!(
        check_with(&good(), b"other", NOW, &Policy::default()).map_err(|e| e.reason_name()),
        Err("digest-mismatch")
    );
    // A bad signature over a bad digest header reports the signature.
    let mut h = good();
    set(
        &mut h,
        "content-digest",
        Some("md5=:Sd/dVLAcvNLSq16eXua5uQ==:"),
    );
    assert_eq!(reason(&h).0, "signature-mismatch");
}

#[test]
fn every_error_writes_valid_connect_json() {
    let errors = [
        VerifyError::MissingSignatureInput,
        VerifyError::MalformedSignature(Malformed::Empty),
        VerifyError::SignatureBaseUnbuildable,
        VerifyError::DigestMismatch,
    ];
    for e in errors {
        let mut buf = [0u8; 256];
        let n = e.write_connect_json(&mut buf).unwrap();
        let text = core::str::from_utf8(&buf[..n]).unwrap();
        assert_eq!(
            text,
            format!(r#"{{"code":"{}","message":"{}"}}"#, e.code(), e.message())
        );
    }
}
