//! Ed25519 keys: the text forms `DISPATCH_VERIFICATION_KEY` takes, signing
//! keys, and raw bytes, all read by `dispatch_core::key`.

use dispatch_core::key;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

use crate::errors;

/// An Ed25519 public key that verifies Dispatch request signatures.
///
/// Made by `parse_verification_key` or `VerificationKey.from_bytes`;
/// immutable, hashable, and safe to share between threads.
#[pyclass(frozen, eq, hash, module = "dispatch_core")]
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct VerificationKey {
    pub(crate) key: ed25519_dalek::VerifyingKey,
}

#[pymethods]
impl VerificationKey {
    /// The key from its 32 raw bytes (a valid point of full order), as
    /// `cryptography`'s `Ed25519PublicKey.public_bytes_raw()` gives them.
    /// Raises `InvalidKey` otherwise.
    #[staticmethod]
    fn from_bytes(py: Python<'_>, raw: &[u8]) -> PyResult<Self> {
        let raw: &[u8; 32] = raw
            .try_into()
            .map_err(|_| errors::invalid_key(py, key::KeyError::WrongLength { len: raw.len() }))?;
        key::public_key_from_bytes(raw)
            .map(|key| VerificationKey { key })
            .map_err(|e| errors::invalid_key(py, e))
    }

    /// The 32 raw bytes of the key.
    fn raw<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.key.as_bytes())
    }

    /// The key as standard padded base64 of its 32 bytes (the usual
    /// `DISPATCH_VERIFICATION_KEY` form).
    fn base64(&self) -> PyResult<String> {
        let mut out = String::new();
        key::write_public_key_base64(&self.key, &mut out)
            .map_err(|_| PyValueError::new_err("the key could not be rendered"))?;
        Ok(out)
    }

    /// The key as a PEM `PUBLIC KEY` block (SubjectPublicKeyInfo).
    fn pem(&self) -> PyResult<String> {
        let mut out = String::new();
        key::write_public_key_pem(&self.key, &mut out)
            .map_err(|_| PyValueError::new_err("the key could not be rendered"))?;
        Ok(out)
    }

    fn __repr__(&self) -> PyResult<String> {
        Ok(format!("VerificationKey({:?})", self.base64()?))
    }
}

/// An Ed25519 private key that signs requests as the Dispatch scheduler does.
///
/// Made by `parse_signing_key`; its repr never shows the secret.
#[pyclass(frozen, module = "dispatch_core")]
pub(crate) struct SigningKey {
    pub(crate) key: ed25519_dalek::SigningKey,
}

#[pymethods]
impl SigningKey {
    /// The public key that verifies this key's signatures.
    fn verification_key(&self) -> VerificationKey {
        VerificationKey {
            key: self.key.verifying_key(),
        }
    }

    /// The key as a PEM `PRIVATE KEY` block (PKCS#8).
    fn pem(&self) -> PyResult<String> {
        let mut out = String::new();
        key::write_private_key_pem(&self.key, &mut out)
            .map_err(|_| PyValueError::new_err("the key could not be rendered"))?;
        Ok(out)
    }

    fn __repr__(&self) -> PyResult<String> {
        let public = self.verification_key().base64()?;
        Ok(format!("SigningKey(public={public:?})"))
    }
}

/// Key text from `str` or ASCII `bytes`.
fn key_text(text: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(s) = text.cast::<PyString>() {
        return Ok(s.to_cow()?.into_owned());
    }
    let raw = crate::request::bytes(text, "the key text")?;
    String::from_utf8(raw).map_err(|_| PyValueError::new_err("the key text is not UTF-8"))
}

/// Reads a verification key in any form `DISPATCH_VERIFICATION_KEY` takes:
/// a PEM `PUBLIC KEY` block (lines ending in LF, CRLF or a literal `\n`), or
/// the standard padded base64 of the 32 raw bytes. An empty or all-space
/// text means "no key" and gives `None`; anything else that is not a valid
/// Ed25519 public key raises `InvalidKey` (a `ValueError`) saying why.
#[pyfunction]
pub(crate) fn parse_verification_key(
    py: Python<'_>,
    text: &Bound<'_, PyAny>,
) -> PyResult<Option<VerificationKey>> {
    let text = key_text(text)?;
    match key::parse_verification_key(&text) {
        Ok(key) => Ok(key.map(|key| VerificationKey { key })),
        Err(e) => Err(errors::invalid_key(py, e)),
    }
}

/// Reads a signing key: a PEM `PRIVATE KEY` block (unencrypted PKCS#8), or
/// the standard padded base64 of the 32-byte seed. Raises `InvalidKey`
/// otherwise (an empty text included).
#[pyfunction]
pub(crate) fn parse_signing_key(py: Python<'_>, text: &Bound<'_, PyAny>) -> PyResult<SigningKey> {
    let text = key_text(text)?;
    key::parse_signing_key(&text)
        .map(|key| SigningKey { key })
        .map_err(|e| errors::invalid_key(py, e))
}
