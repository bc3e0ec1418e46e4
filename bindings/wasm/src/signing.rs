//! Verifying and signing requests, and `Content-Digest`: the core's
//! `signature` and `digest` modules.

use alloc::borrow::ToOwned;
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use dispatch_core::digest::{self, Algorithm, ContentDigest};
use dispatch_core::signature::{self, Policy, SIGNING_BUFFER_LEN, VerifyError};
use js_sys::Object;
use wasm_bindgen::prelude::*;

use crate::keys::{SigningKey, VerificationKey};
use crate::refusal::{self, set};
use crate::request::View;

/// Unix seconds from a JavaScript number, rounded down; an error when it is
/// not finite. Beyond `i64` saturates, which every check treats as far off.
pub(crate) fn unix_seconds(value: f64, what: &str) -> Result<i64, JsError> {
    if !value.is_finite() {
        return Err(JsError::new(&format!("{what} must be finite Unix seconds")));
    }
    // `as` truncates toward zero (and saturates); `f64::floor` is std's.
    let truncated = value as i64;
    Ok(if (truncated as f64) > value {
        truncated.saturating_sub(1)
    } else {
        truncated
    })
}

/// The largest integer a JavaScript `Number` holds exactly, 2^53 - 1.
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// `n` as an integer when it is a safe integer `Number` (whole, finite, at
/// most 2^53 - 1 either side of 0), else `None`.
pub(crate) fn safe_integer(n: f64) -> Option<i64> {
    // Within the bound the cast is exact, so a round trip tells whole from not.
    (n.abs() <= MAX_SAFE_INTEGER && (n as i64) as f64 == n).then_some(n as i64)
}

/// The policy with `max_age` and `skew` (seconds) where given.
pub(crate) fn policy(max_age: Option<u32>, skew: Option<u32>) -> Policy {
    let mut policy = Policy::default();
    if let Some(max_age) = max_age {
        policy = policy.with_max_age(max_age);
    }
    if let Some(skew) = skew {
        policy = policy.with_max_clock_skew(skew);
    }
    policy
}

/// Verifies a signed request per the project's policy: one Ed25519
/// signature under `keyid="default"` covering `@method @path @authority
/// content-type content-digest`, created within `max_age` and `skew` of
/// `now`, and a `Content-Digest` that matches the body.
///
/// Returns `undefined` when it holds, else the refusal object (401 or 403).
/// Throws only for arguments that are not a request (a relative URL).
#[allow(clippy::too_many_arguments)]
#[wasm_bindgen(js_name = verify)]
pub fn verify(
    method: &str,
    url: &str,
    headers: Vec<String>,
    body: &[u8],
    key: &VerificationKey,
    now: f64,
    max_age: Option<u32>,
    skew: Option<u32>,
) -> Result<JsValue, JsError> {
    let now = unix_seconds(now, "now")?;
    let view = View::new(method, url, &headers)?;
    Ok(
        match signature::verify(&view, body, &key.key, now, &policy(max_age, skew)) {
            Ok(()) => JsValue::UNDEFINED,
            Err(error) => refusal::verification(error),
        },
    )
}

/// Signs a request exactly as the Dispatch scheduler does (the same core
/// function): label `dispatch`, the five components (in `components`' order
/// when given), `created`, `keyid="default"`, `alg="ed25519"`, and a sha-512
/// `Content-Digest` of the body. Returns `{contentDigest, signatureInput,
/// signature, signatureBase}`; throws when the request cannot be signed.
#[wasm_bindgen(js_name = sign)]
pub fn sign(
    method: &str,
    url: &str,
    headers: Vec<String>,
    body: &[u8],
    key: &SigningKey,
    created: f64,
    components: Option<Vec<String>>,
) -> Result<JsValue, JsError> {
    let created = unix_seconds(created, "created")?;
    let view = View::new(method, url, &headers)?;
    let mut buf = vec![0u8; SIGNING_BUFFER_LEN + url.len() * 2];
    let order: Vec<&str> = match &components {
        Some(names) => names.iter().map(String::as_str).collect(),
        None => signature::REQUIRED_COMPONENTS.to_vec(),
    };
    let signed = signature::sign_in_order(&view, body, &key.key, created, &order, &mut buf)
        .map_err(|e| JsError::new(&format!("the request cannot be signed: {e}")))?;
    let out = Object::new();
    set(&out, "contentDigest", signed.content_digest);
    set(&out, "signatureInput", signed.signature_input);
    set(&out, "signature", signed.signature);
    set(&out, "signatureBase", signed.signature_base);
    Ok(out.into())
}

/// The `Content-Digest` header value of `body`: `sha-512=:<base64>:`.
#[wasm_bindgen(js_name = contentDigest)]
pub fn content_digest(body: &[u8]) -> Result<String, JsError> {
    let digest = ContentDigest::of(Algorithm::Sha512, body);
    let mut out = [0u8; digest::MAX_HEADER_VALUE_LEN];
    digest::write_header_value(&digest, &mut out)
        .map(str::to_owned)
        .ok_or_else(|| JsError::new("the digest could not be rendered"))
}

/// Checks a `Content-Digest` value against `body` (sha-512 preferred, else
/// sha-256, in constant time): `undefined`, or the refusal object (401 for
/// a malformed header or neither algorithm, 403 for another body).
#[wasm_bindgen(js_name = checkContentDigest)]
pub fn check_content_digest(header: &str, body: &[u8]) -> JsValue {
    match digest::check(header.as_bytes(), body) {
        Ok(()) => JsValue::UNDEFINED,
        Err(error) => refusal::verification(VerifyError::from(error)),
    }
}
