//! Ed25519 keys, read and written by `dispatch_core::key`: verification
//! keys in the forms `DISPATCH_VERIFICATION_KEY` takes, signing keys, raw bytes.

use dispatch_core::key;

use crate::types::{
    DispatchBuffer, DispatchBytes, DispatchError, DispatchResult, DispatchStr, Failure, guard,
    in_arg, out_arg,
};

/// An Ed25519 public key that verifies request signatures. Immutable: one
/// handle may be used from many threads at once. Freed by
/// `dispatch_verification_key_free`.
pub struct DispatchVerificationKey {
    pub(crate) key: ed25519_dalek::VerifyingKey,
}

/// An Ed25519 private key that signs requests as the scheduler does.
/// Immutable: one handle may be used from many threads at once. Freed by
/// `dispatch_signing_key_free`.
pub struct DispatchSigningKey {
    pub(crate) key: ed25519_dalek::SigningKey,
}

fn invalid_key(error: key::KeyError) -> Failure {
    Failure::new(DispatchResult::InvalidKey, error.to_string())
}

/// Hands `value` to the caller as a handle (freed by its `_free` function).
pub(crate) fn into_handle<T>(value: T) -> *mut T {
    Box::into_raw(Box::new(value))
}

/// Reads a verification key in any form `DISPATCH_VERIFICATION_KEY` takes:
/// a PEM `PUBLIC KEY` block (lines ending in LF, CRLF or a literal `\n`), or
/// the standard padded base64 of the 32 raw bytes. `*out` is set to a new
/// handle, or to NULL: `DISPATCH_RESULT_NO_KEY` for an empty or blank text,
/// `DISPATCH_RESULT_INVALID_KEY` (the message says why) for anything else
/// that is not a valid Ed25519 public key.
///
/// # Safety
/// `text.ptr` is valid for `text.len` bytes; `out` is NULL or writable;
/// `error` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dispatch_verification_key_parse(
    text: DispatchStr,
    out: *mut *mut DispatchVerificationKey,
    error: *mut DispatchError,
) -> DispatchResult {
    // SAFETY: the caller gives `error` NULL or writable.
    guard(unsafe { error.as_mut() }, || {
        // SAFETY: the caller gives `out` NULL or writable.
        let out = unsafe { out_arg(out, "out") }?;
        *out = core::ptr::null_mut();
        // SAFETY: the caller's contract on `text`.
        let text = unsafe { text.get("the key text") }?;
        match key::parse_verification_key(text).map_err(invalid_key)? {
            Some(key) => {
                *out = into_handle(DispatchVerificationKey { key });
                Ok(())
            }
            None => Err(Failure::new(
                DispatchResult::NoKey,
                "the key text is empty: no key",
            )),
        }
    })
}

/// Makes a verification key from its 32 raw bytes (a valid point of full
/// order). `DISPATCH_RESULT_INVALID_KEY` otherwise, `*out` NULL.
///
/// # Safety
/// `raw.ptr` is valid for `raw.len` bytes; `out` and `error` are NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dispatch_verification_key_from_raw(
    raw: DispatchBytes,
    out: *mut *mut DispatchVerificationKey,
    error: *mut DispatchError,
) -> DispatchResult {
    // SAFETY: the caller gives `error` NULL or writable.
    guard(unsafe { error.as_mut() }, || {
        // SAFETY: the caller gives `out` NULL or writable.
        let out = unsafe { out_arg(out, "out") }?;
        *out = core::ptr::null_mut();
        // SAFETY: the caller's contract on `raw`.
        let raw = unsafe { raw.get("raw") }?;
        let raw: &[u8; 32] = raw
            .try_into()
            .map_err(|_| invalid_key(key::KeyError::WrongLength { len: raw.len() }))?;
        let key = key::public_key_from_bytes(raw).map_err(invalid_key)?;
        *out = into_handle(DispatchVerificationKey { key });
        Ok(())
    })
}

/// Writes the key's 32 raw bytes into `out32` (32 writable bytes).
///
/// # Safety
/// `key` is NULL or a live handle; `out32` is NULL or writable for 32 bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dispatch_verification_key_raw(
    key: *const DispatchVerificationKey,
    out32: *mut u8,
    error: *mut DispatchError,
) -> DispatchResult {
    // SAFETY: the caller gives `error` NULL or writable.
    guard(unsafe { error.as_mut() }, || {
        // SAFETY: the caller gives `key` NULL or live.
        let key = unsafe { in_arg(key, "key") }?;
        // SAFETY: the caller gives `out32` NULL or writable for 32 bytes.
        let out = unsafe { out_arg(out32.cast::<[u8; 32]>(), "out32") }?;
        *out = key.key.to_bytes();
        Ok(())
    })
}

/// The key as text into `*out` (owned, free with `dispatch_buffer_free`):
/// `pem` false gives the standard padded base64 of its 32 bytes (the usual
/// `DISPATCH_VERIFICATION_KEY` form), true a PEM `PUBLIC KEY` block.
///
/// # Safety
/// `key` is NULL or a live handle; `out` and `error` are NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dispatch_verification_key_text(
    key: *const DispatchVerificationKey,
    pem: bool,
    out: *mut DispatchBuffer,
    error: *mut DispatchError,
) -> DispatchResult {
    // SAFETY: the caller gives `error` NULL or writable.
    guard(unsafe { error.as_mut() }, || {
        // SAFETY: the caller gives `out` NULL or writable.
        let out = unsafe { out_arg(out, "out") }?;
        *out = DispatchBuffer::EMPTY;
        // SAFETY: the caller gives `key` NULL or live.
        let key = unsafe { in_arg(key, "key") }?;
        let mut text = String::new();
        let written = if pem {
            key::write_public_key_pem(&key.key, &mut text)
        } else {
            key::write_public_key_base64(&key.key, &mut text)
        };
        written.map_err(|_| Failure::new(DispatchResult::Internal, "the key cannot be written"))?;
        *out = DispatchBuffer::from_vec(text.into_bytes());
        Ok(())
    })
}

/// Frees a verification key handle; NULL is accepted.
///
/// # Safety
/// `key` is NULL or a handle from this library not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dispatch_verification_key_free(
    key: *mut DispatchVerificationKey,
) -> DispatchResult {
    guard(None, || {
        if !key.is_null() {
            // SAFETY: a non-NULL `key` came from `into_handle` and is freed once.
            drop(unsafe { Box::from_raw(key) });
        }
        Ok(())
    })
}

/// Reads a signing key: a PEM `PRIVATE KEY` block (unencrypted PKCS#8), or
/// the standard padded base64 of the 32-byte seed. `DISPATCH_RESULT_INVALID_KEY`
/// otherwise (an empty text included), `*out` NULL.
///
/// # Safety
/// `text.ptr` is valid for `text.len` bytes; `out` and `error` are NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dispatch_signing_key_parse(
    text: DispatchStr,
    out: *mut *mut DispatchSigningKey,
    error: *mut DispatchError,
) -> DispatchResult {
    // SAFETY: the caller gives `error` NULL or writable.
    guard(unsafe { error.as_mut() }, || {
        // SAFETY: the caller gives `out` NULL or writable.
        let out = unsafe { out_arg(out, "out") }?;
        *out = core::ptr::null_mut();
        // SAFETY: the caller's contract on `text`.
        let text = unsafe { text.get("the key text") }?;
        let key = key::parse_signing_key(text).map_err(invalid_key)?;
        *out = into_handle(DispatchSigningKey { key });
        Ok(())
    })
}

/// The verification key of a signing key, as a new handle in `*out`.
///
/// # Safety
/// `key` is NULL or a live handle; `out` and `error` are NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dispatch_signing_key_verification_key(
    key: *const DispatchSigningKey,
    out: *mut *mut DispatchVerificationKey,
    error: *mut DispatchError,
) -> DispatchResult {
    // SAFETY: the caller gives `error` NULL or writable.
    guard(unsafe { error.as_mut() }, || {
        // SAFETY: the caller gives `out` NULL or writable.
        let out = unsafe { out_arg(out, "out") }?;
        *out = core::ptr::null_mut();
        // SAFETY: the caller gives `key` NULL or live.
        let key = unsafe { in_arg(key, "key") }?;
        *out = into_handle(DispatchVerificationKey {
            key: key.key.verifying_key(),
        });
        Ok(())
    })
}

/// Frees a signing key handle; NULL is accepted.
///
/// # Safety
/// `key` is NULL or a handle from this library not freed before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dispatch_signing_key_free(key: *mut DispatchSigningKey) -> DispatchResult {
    guard(None, || {
        if !key.is_null() {
            // SAFETY: a non-NULL `key` came from `into_handle` and is freed once.
            drop(unsafe { Box::from_raw(key) });
        }
        Ok(())
    })
}
