//! Verifying a signed request: one shot, or headers first and then the
//! body streamed (`dispatch_core::signature`).

use dispatch_core::digest::ContentDigest;
use dispatch_core::run::Refusal;
use dispatch_core::signature::{self, VerifiedHeaders};

use crate::keys::{DispatchVerificationKey, into_handle};
use crate::types::{
    DispatchError, DispatchPolicy, DispatchRefusal, DispatchRequest, DispatchResult, Failure, View,
    clear_refusal, guard, in_arg, out_arg, slice_arg, write_refusal,
};

/// A request whose headers passed every check, waiting for its body: feed
/// it every chunk with `dispatch_body_verifier_update`, then call
/// `dispatch_body_verifier_finish` (which frees it), or abandon it with
/// `dispatch_body_verifier_free`. One thread at a time.
pub struct DispatchBodyVerifier {
    verified: VerifiedHeaders,
    hasher: ContentDigest,
}

/// Verifies a whole signed request exactly per the project's policy: one
/// Ed25519 signature under `keyid="default"` covering `@method @path
/// @authority content-type content-digest`, created within `policy` of
/// `now` (Unix seconds), and a `Content-Digest` that matches the body.
///
/// `DISPATCH_RESULT_OK` when it holds; `DISPATCH_RESULT_REFUSED` with
/// `*refusal` written (401 for a missing or malformed signature, 403 for
/// one that does not hold). `policy` NULL is the default policy. Allocates
/// nothing but the list of header lines.
///
/// # Safety
/// `request` is NULL or a valid request whose pointers are valid for their
/// lengths; `body` valid for `body_len` bytes (or NULL with 0); `key` NULL
/// or live; `policy` NULL or readable; `refusal` and `error` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dispatch_verify_request(
    request: *const DispatchRequest,
    body: *const u8,
    body_len: usize,
    key: *const DispatchVerificationKey,
    now: i64,
    policy: *const DispatchPolicy,
    refusal: *mut DispatchRefusal,
    error: *mut DispatchError,
) -> DispatchResult {
    // SAFETY: the caller gives `error` NULL or writable.
    guard(unsafe { error.as_mut() }, || {
        // SAFETY: the caller gives `refusal` NULL or writable.
        let refusal = unsafe { out_arg(refusal, "refusal") }?;
        clear_refusal(refusal);
        // SAFETY: the caller's contract on every input.
        let (view, body, key, policy) = unsafe {
            (
                View::new(in_arg(request, "request")?)?,
                slice_arg(body, body_len, "body")?,
                in_arg(key, "key")?,
                policy.as_ref().copied(),
            )
        };
        let policy = policy.map(|p| p.core()).unwrap_or_default();
        signature::verify(&view, body, &key.key, now, &policy)
            .map_err(|e| write_refusal(refusal, &Refusal::Signature(e)))
    })
}

/// The first half of a streamed verification: every check of the policy
/// but the body's digest. On `DISPATCH_RESULT_OK`, `*out` is a new
/// `DispatchBodyVerifier`; on `DISPATCH_RESULT_REFUSED`, `*out` is NULL and
/// `*refusal` is written. The request need not outlive this call.
///
/// # Safety
/// As `dispatch_verify_request`; `out` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dispatch_verify_headers(
    request: *const DispatchRequest,
    key: *const DispatchVerificationKey,
    now: i64,
    policy: *const DispatchPolicy,
    out: *mut *mut DispatchBodyVerifier,
    refusal: *mut DispatchRefusal,
    error: *mut DispatchError,
) -> DispatchResult {
    // SAFETY: the caller gives `error` NULL or writable.
    guard(unsafe { error.as_mut() }, || {
        // SAFETY: the caller gives `out` and `refusal` NULL or writable.
        let (out, refusal) = unsafe { (out_arg(out, "out")?, out_arg(refusal, "refusal")?) };
        *out = core::ptr::null_mut();
        clear_refusal(refusal);
        // SAFETY: the caller's contract on every input.
        let (view, key, policy) = unsafe {
            (
                View::new(in_arg(request, "request")?)?,
                in_arg(key, "key")?,
                policy.as_ref().copied(),
            )
        };
        let policy = policy.map(|p| p.core()).unwrap_or_default();
        let verified = signature::verify_headers(&view, &key.key, now, &policy)
            .map_err(|e| write_refusal(refusal, &Refusal::Signature(e)))?;
        *out = into_handle(DispatchBodyVerifier {
            verified,
            hasher: verified.body_digest(),
        });
        Ok(())
    })
}

/// Hashes the next chunk of the body.
///
/// # Safety
/// `verifier` is NULL or a live handle not used by another thread during
/// the call; `chunk` valid for `chunk_len` bytes (or NULL with 0).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dispatch_body_verifier_update(
    verifier: *mut DispatchBodyVerifier,
    chunk: *const u8,
    chunk_len: usize,
    error: *mut DispatchError,
) -> DispatchResult {
    // SAFETY: the caller gives `error` NULL or writable.
    guard(unsafe { error.as_mut() }, || {
        // SAFETY: the caller's contract on `verifier` and `chunk`.
        let (verifier, chunk) = unsafe {
            (
                out_arg(verifier, "verifier")?,
                slice_arg(chunk, chunk_len, "chunk")?,
            )
        };
        verifier.hasher.update(chunk);
        Ok(())
    })
}

/// Checks the body's digest and frees the verifier (whatever the outcome):
/// `DISPATCH_RESULT_OK`, or `DISPATCH_RESULT_REFUSED` (403
/// `digest-mismatch`) with `*refusal` written.
///
/// # Safety
/// `verifier` is NULL or a live handle, not used again after this call;
/// `refusal` and `error` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dispatch_body_verifier_finish(
    verifier: *mut DispatchBodyVerifier,
    refusal: *mut DispatchRefusal,
    error: *mut DispatchError,
) -> DispatchResult {
    // SAFETY: the caller gives `error` NULL or writable.
    guard(unsafe { error.as_mut() }, || {
        if verifier.is_null() {
            return Err(Failure::new(
                DispatchResult::NullPointer,
                "verifier is NULL",
            ));
        }
        // SAFETY: a non-NULL `verifier` came from `into_handle` and is not
        // used again by the caller: it is taken back here, once.
        let verifier = unsafe { Box::from_raw(verifier) };
        // SAFETY: the caller gives `refusal` NULL or writable.
        let refusal = unsafe { out_arg(refusal, "refusal") }?;
        clear_refusal(refusal);
        let DispatchBodyVerifier { verified, hasher } = *verifier;
        verified
            .finish(&hasher.finish())
            .map_err(|e| write_refusal(refusal, &Refusal::Signature(e)))
    })
}

/// Frees a body verifier that will not be finished; NULL is accepted.
///
/// # Safety
/// `verifier` is NULL or a live handle, not used again after this call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dispatch_body_verifier_free(
    verifier: *mut DispatchBodyVerifier,
) -> DispatchResult {
    guard(None, || {
        if !verifier.is_null() {
            // SAFETY: a non-NULL `verifier` came from `into_handle`, freed once.
            drop(unsafe { Box::from_raw(verifier) });
        }
        Ok(())
    })
}
