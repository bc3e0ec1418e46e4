//! The core's refusals as plain JavaScript objects: a verdict is a value,
//! never an exception.

use alloc::string::ToString;
use dispatch_core::key::KeyError;
use dispatch_core::run::{MAX_JSON_LEN, MAX_MESSAGE_LEN, Refusal};
use dispatch_core::signature::VerifyError;
use js_sys::{Array, Object, Reflect, Uint8Array};
use wasm_bindgen::JsValue;

/// Sets `object[name] = value` (a plain object: setting cannot fail).
pub(crate) fn set(object: &Object, name: &str, value: impl Into<JsValue>) {
    let _ = Reflect::set(object, &JsValue::from_str(name), &value.into());
}

/// `{ok: false, status, code, reason, message, body, header}`: the answer
/// to send, `body` the Connect JSON error (`Content-Type:
/// application/json`), `header` the one extra header as `[name, value]`
/// (`Allow`, `Accept-Post`, `Accept-Encoding`) or `null`.
pub(crate) fn refusal(refusal: &Refusal<'_>) -> JsValue {
    let mut text = [0u8; MAX_MESSAGE_LEN];
    let message = refusal.message_into(&mut text);
    let mut json = [0u8; MAX_JSON_LEN];
    // MAX_JSON_LEN always suffices; should it not, the body is empty.
    let body = refusal
        .write_json(&mut json)
        .ok()
        .and_then(|n| json.get(..n))
        .unwrap_or_default();
    let object = Object::new();
    set(&object, "ok", false);
    set(&object, "status", refusal.status());
    set(&object, "code", refusal.code().name());
    set(&object, "reason", refusal.reason());
    set(&object, "message", message);
    set(&object, "body", Uint8Array::from(body));
    let header = match refusal.header() {
        Some((name, value)) => Array::of2(&name.into(), &value.into()).into(),
        None => JsValue::NULL,
    };
    set(&object, "header", header);
    object.into()
}

/// The refusal of a signature the policy did not accept.
pub(crate) fn verification(error: VerifyError) -> JsValue {
    refusal(&Refusal::Signature(error))
}

/// A `TypeError`-free `Error` named `InvalidKey`, with `reason`, for a key
/// text the core refused (reading a key is configuration, not a verdict).
pub(crate) fn invalid_key(error: KeyError) -> JsValue {
    let thrown = js_sys::Error::new(&error.to_string());
    thrown.set_name("InvalidKey");
    set(&thrown, "reason", key_reason(error));
    thrown.into()
}

/// A kebab-case name for each `KeyError`, for programs that branch on it
/// (the Python binding's names).
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
