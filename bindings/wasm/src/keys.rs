//! Ed25519 keys: the text forms `DISPATCH_VERIFICATION_KEY` takes, signing
//! keys, and raw bytes, all read by `dispatch_core::key`.

use alloc::string::String;
use alloc::vec::Vec;
use dispatch_core::key;
use wasm_bindgen::prelude::*;

use crate::refusal;

/// An Ed25519 public key that verifies Dispatch request signatures.
#[wasm_bindgen]
#[derive(Clone)]
pub struct VerificationKey {
    pub(crate) key: ed25519_dalek::VerifyingKey,
}

#[wasm_bindgen]
impl VerificationKey {
    /// The key from its 32 raw bytes (a valid point of full order); throws
    /// `InvalidKey` otherwise.
    #[wasm_bindgen(js_name = fromBytes)]
    pub fn from_bytes(raw: &[u8]) -> Result<VerificationKey, JsValue> {
        let raw: &[u8; 32] = raw
            .try_into()
            .map_err(|_| refusal::invalid_key(key::KeyError::WrongLength { len: raw.len() }))?;
        key::public_key_from_bytes(raw)
            .map(|key| VerificationKey { key })
            .map_err(refusal::invalid_key)
    }

    /// The 32 raw bytes of the key.
    pub fn raw(&self) -> Vec<u8> {
        self.key.as_bytes().to_vec()
    }

    /// The standard padded base64 of the 32 bytes.
    pub fn base64(&self) -> Result<String, JsError> {
        let mut out = String::new();
        key::write_public_key_base64(&self.key, &mut out)
            .map_err(|_| JsError::new("the key could not be rendered"))?;
        Ok(out)
    }

    /// The key as a PEM `PUBLIC KEY` block (SubjectPublicKeyInfo).
    pub fn pem(&self) -> Result<String, JsError> {
        let mut out = String::new();
        key::write_public_key_pem(&self.key, &mut out)
            .map_err(|_| JsError::new("the key could not be rendered"))?;
        Ok(out)
    }

    /// Whether `other` is the same key.
    pub fn equals(&self, other: &VerificationKey) -> bool {
        self.key == other.key
    }
}

/// An Ed25519 private key that signs requests as the Dispatch scheduler does.
#[wasm_bindgen]
pub struct SigningKey {
    pub(crate) key: ed25519_dalek::SigningKey,
}

#[wasm_bindgen]
impl SigningKey {
    /// The public key that verifies this key's signatures.
    #[wasm_bindgen(js_name = verificationKey)]
    pub fn verification_key(&self) -> VerificationKey {
        VerificationKey {
            key: self.key.verifying_key(),
        }
    }

    /// The key as a PEM `PRIVATE KEY` block (PKCS#8).
    pub fn pem(&self) -> Result<String, JsError> {
        let mut out = String::new();
        key::write_private_key_pem(&self.key, &mut out)
            .map_err(|_| JsError::new("the key could not be rendered"))?;
        Ok(out)
    }
}

/// Reads a verification key in any form `DISPATCH_VERIFICATION_KEY` takes:
/// a PEM `PUBLIC KEY` block (lines ending in LF, CRLF or a literal `\n`) or
/// the standard padded base64 of the 32 raw bytes. An empty or all-space
/// text gives `undefined` ("no key"); anything else that is not a valid
/// Ed25519 public key throws `InvalidKey` with its `reason`.
#[wasm_bindgen(js_name = parseVerificationKey)]
pub fn parse_verification_key(text: &str) -> Result<Option<VerificationKey>, JsValue> {
    key::parse_verification_key(text)
        .map(|key| key.map(|key| VerificationKey { key }))
        .map_err(refusal::invalid_key)
}

/// Reads a signing key: a PEM `PRIVATE KEY` block (unencrypted PKCS#8) or
/// the standard padded base64 of the 32-byte seed; throws `InvalidKey`
/// otherwise.
#[wasm_bindgen(js_name = parseSigningKey)]
pub fn parse_signing_key(text: &str) -> Result<SigningKey, JsValue> {
    key::parse_signing_key(text)
        .map(|key| SigningKey { key })
        .map_err(refusal::invalid_key)
}
