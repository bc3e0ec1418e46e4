//! Verifying and signing requests, and `Content-Digest`: the core's
//! `signature` and `digest` modules over Python request objects.

use dispatch_core::digest::{self, Algorithm, ContentDigest};
use dispatch_core::signature::{self, Policy, SIGNING_BUFFER_LEN, VerifyError};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::errors;
use crate::keys::{SigningKey, VerificationKey};
use crate::request::{self, OwnedRequest};
use crate::time;

/// The policy from Python's `max_age` and `skew` (seconds or timedelta).
pub(crate) fn policy(max_age: &Bound<'_, PyAny>, skew: &Bound<'_, PyAny>) -> PyResult<Policy> {
    Ok(Policy::default()
        .with_max_age(time::seconds(max_age, "max_age")?)
        .with_max_clock_skew(time::seconds(skew, "skew")?))
}

/// The core's verdict on a request already read out of Python, computed
/// with the GIL released.
pub(crate) fn verdict(
    py: Python<'_>,
    request: &OwnedRequest,
    key: &ed25519_dalek::VerifyingKey,
    now: i64,
    policy: &Policy,
) -> PyResult<Result<(), VerifyError>> {
    let view = request.view()?;
    Ok(py.detach(|| signature::verify(&view, &request.body, key, now, policy)))
}

/// Verifies a signed request exactly per the project's policy (spec
/// `signing.md` section 8): one Ed25519 signature under `keyid="default"`
/// covering `@method @path @authority content-type content-digest`, created
/// no later than `now + skew` and no earlier than `now - max_age - skew`,
/// and a `Content-Digest` that matches the body.
///
/// `request` is any object with `method`, `url`, `headers` (a mapping or a
/// list of pairs; names may repeat) and `body`; dispatch-py's
/// `dispatch.signature.Request` is one. `max_age` and `skew` are seconds (or
/// `timedelta`), `now` Unix seconds (or a `datetime`; `None`: the clock).
///
/// Returns `None`. Raises `Unauthenticated` (401: missing or malformed
/// signature) or `PermissionDenied` (403: a well-formed signature that does
/// not hold), both `VerificationError`s carrying `status`, `code`, `reason`,
/// `message` and the Connect JSON `body`. The GIL is released while the
/// signature is checked.
#[pyfunction]
#[pyo3(signature = (request, key, *, max_age = None, skew = None, now = None))]
pub(crate) fn verify_request(
    py: Python<'_>,
    request: &Bound<'_, PyAny>,
    key: &VerificationKey,
    max_age: Option<&Bound<'_, PyAny>>,
    skew: Option<&Bound<'_, PyAny>>,
    now: Option<&Bound<'_, PyAny>>,
) -> PyResult<()> {
    let mut policy = Policy::default();
    if let Some(max_age) = max_age.filter(|v| !v.is_none()) {
        policy = policy.with_max_age(time::seconds(max_age, "max_age")?);
    }
    if let Some(skew) = skew.filter(|v| !v.is_none()) {
        policy = policy.with_max_clock_skew(time::seconds(skew, "skew")?);
    }
    let now = time::unix_seconds(now)?;
    let request = OwnedRequest::extract(request)?;
    verdict(py, &request, &key.key, now, &policy)?.map_err(|e| errors::verification(py, e))
}

/// Signs `request` exactly as the Dispatch scheduler does (the same core
/// function): label `dispatch`, components `("@method" "@path" "@authority"
/// "content-type" "content-digest")`, `created`, `keyid="default"`,
/// `alg="ed25519"`, and a sha-512 `Content-Digest` of the body.
///
/// `created` is Unix seconds or a `datetime` (`None`: the clock).
/// `components` covers the same components in another order (dispatch-py
/// signs in a per-process order); `None` is the scheduler's. Returns
/// the three headers to add, `{"Content-Digest": ..., "Signature-Input":
/// ..., "Signature": ...}`; the request is not changed. Raises
/// `SigningError` when the request cannot be signed (a covered value with
/// control characters, or no `Content-Type`).
#[pyfunction]
#[pyo3(signature = (request, private_key, created = None, *, components = None))]
pub(crate) fn sign_request<'py>(
    py: Python<'py>,
    request: &Bound<'py, PyAny>,
    private_key: &SigningKey,
    created: Option<&Bound<'py, PyAny>>,
    components: Option<Vec<String>>,
) -> PyResult<Bound<'py, PyDict>> {
    let created = time::unix_seconds(created)?;
    let request = OwnedRequest::extract(request)?;
    let view = request.view()?;
    let mut buf = vec![0u8; SIGNING_BUFFER_LEN + request.url.len() * 2];
    let order: Vec<&str> = match &components {
        Some(names) => names.iter().map(String::as_str).collect(),
        None => signature::REQUIRED_COMPONENTS.to_vec(),
    };
    let signed = py
        .detach(|| {
            signature::sign_in_order(
                &view,
                &request.body,
                &private_key.key,
                created,
                &order,
                &mut buf,
            )
        })
        .map_err(|e| errors::signing(py, format!("the request cannot be signed: {e}")))?;
    let headers = PyDict::new(py);
    headers.set_item("Content-Digest", signed.content_digest)?;
    headers.set_item("Signature-Input", signed.signature_input)?;
    headers.set_item("Signature", signed.signature)?;
    Ok(headers)
}

/// The `Content-Digest` header value of `body`: `sha-512=:<base64>:`.
#[pyfunction]
pub(crate) fn content_digest(body: &Bound<'_, PyAny>) -> PyResult<String> {
    let body = request::bytes(body, "body")?;
    let digest = ContentDigest::of(Algorithm::Sha512, &body);
    let mut out = [0u8; digest::MAX_HEADER_VALUE_LEN];
    digest::write_header_value(&digest, &mut out)
        .map(str::to_owned)
        .ok_or_else(|| pyo3::exceptions::PyValueError::new_err("the digest could not be rendered"))
}

/// Checks a `Content-Digest` header value against `body` (sha-512 preferred,
/// else sha-256, compared in constant time). Returns `None`; raises
/// `Unauthenticated` for a malformed header or one with neither algorithm,
/// `PermissionDenied` when the body does not match.
#[pyfunction]
pub(crate) fn check_content_digest(
    py: Python<'_>,
    header: &Bound<'_, PyAny>,
    body: &Bound<'_, PyAny>,
) -> PyResult<()> {
    let header = request::bytes(header, "header")?;
    let body = request::bytes(body, "body")?;
    py.detach(|| digest::check(&header, &body))
        .map_err(|e| errors::verification(py, VerifyError::from(e)))
}
