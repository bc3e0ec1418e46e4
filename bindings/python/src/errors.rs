//! The core's refusals as the Python exceptions of `dispatch_core._errors`.

use dispatch_core::key::KeyError;
use dispatch_core::run::{MAX_JSON_LEN, MAX_MESSAGE_LEN, Refusal};
use dispatch_core::signature::VerifyError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

/// An instance of `dispatch_core._errors.<class>`, called with `kwargs`, as a `PyErr`.
fn raise(py: Python<'_>, class: &str, kwargs: &Bound<'_, PyDict>) -> PyErr {
    let made = py
        .import("dispatch_core._errors")
        .and_then(|module| module.getattr(class))
        .and_then(|class| class.call((), Some(kwargs)));
    match made {
        Ok(instance) => PyErr::from_value(instance),
        Err(err) => err,
    }
}

/// The exception for a refusal of the Run RPC: `Unauthenticated` (401) or
/// `PermissionDenied` (403) for a signature, `Refusal` for the rest.
pub(crate) fn refusal(py: Python<'_>, refusal: &Refusal<'_>) -> PyErr {
    let class = match refusal {
        Refusal::Signature(error) if error.is_unauthenticated() => "Unauthenticated",
        Refusal::Signature(_) => "PermissionDenied",
        _ => "Refusal",
    };
    let mut text = [0u8; MAX_MESSAGE_LEN];
    let message = refusal.message_into(&mut text);
    let mut json = [0u8; MAX_JSON_LEN];
    // MAX_JSON_LEN always suffices; should it not, the body is empty.
    let body = refusal
        .write_json(&mut json)
        .ok()
        .and_then(|n| json.get(..n))
        .unwrap_or_default();
    let kwargs = PyDict::new(py);
    let filled = (|| -> PyResult<()> {
        kwargs.set_item("message", message)?;
        kwargs.set_item("status", refusal.status())?;
        kwargs.set_item("code", refusal.code().name())?;
        kwargs.set_item("reason", refusal.reason())?;
        kwargs.set_item("header", refusal.header())?;
        kwargs.set_item("body", PyBytes::new(py, body))?;
        Ok(())
    })();
    match filled {
        Ok(()) => raise(py, class, &kwargs),
        Err(err) => err,
    }
}

/// The exception for a signature refused by the policy.
pub(crate) fn verification(py: Python<'_>, error: VerifyError) -> PyErr {
    refusal(py, &Refusal::Signature(error))
}

/// `dispatch_core.InvalidKey` (a `ValueError`) for a key text the core refused.
pub(crate) fn invalid_key(py: Python<'_>, error: KeyError) -> PyErr {
    let kwargs = PyDict::new(py);
    let filled = kwargs
        .set_item("message", error.to_string())
        .and_then(|()| kwargs.set_item("reason", key_reason(error)));
    match filled {
        Ok(()) => raise(py, "InvalidKey", &kwargs),
        Err(err) => err,
    }
}

/// A kebab-case name for each `KeyError`, for programs that branch on it.
fn key_reason(error: KeyError) -> &'static str {
    match error {
        KeyError::Empty => "empty",
        KeyError::TooLong => "too-long",
        KeyError::Base64Url => "base64url",
        KeyError::Hex => "hex",
        KeyError::MissingPadding => "missing-padding",
        KeyError::Base64 => "base64",
        KeyError::WrongLength { .. } => "wrong-length",
        KeyError::MissingPemArmor => "missing-pem-armor",
        KeyError::PemArmor => "pem-armor",
        KeyError::UnexpectedPemLabel => "unexpected-pem-label",
        KeyError::TrailingData => "trailing-data",
        KeyError::MalformedDer => "malformed-der",
        KeyError::UnsupportedKeyType => "unsupported-key-type",
        KeyError::EncryptedPrivateKey => "encrypted-private-key",
        KeyError::PrivateKeyGiven => "private-key-given",
        KeyError::PublicKeyGiven => "public-key-given",
        KeyError::InvalidPoint => "invalid-point",
        KeyError::WeakKey => "weak-key",
        KeyError::KeyPairMismatch => "key-pair-mismatch",
        _ => "invalid-key",
    }
}

/// `dispatch_core.SigningError` (a `ValueError`) with `message`.
pub(crate) fn signing(py: Python<'_>, message: String) -> PyErr {
    let kwargs = PyDict::new(py);
    match kwargs.set_item("message", message) {
        Ok(()) => raise(py, "SigningError", &kwargs),
        Err(err) => err,
    }
}
