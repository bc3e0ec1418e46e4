//! `Content-Digest` (RFC 9530): the sha-512 header value of a body, hashed
//! incrementally, and the check of a received value (`dispatch_core::digest`).

use dispatch_core::digest::{self, Algorithm, ContentDigest, MAX_HEADER_VALUE_LEN};
use dispatch_core::run::Refusal;
use dispatch_core::signature::VerifyError;

use crate::keys::into_handle;
use crate::types::{
    DispatchBuffer, DispatchBytes, DispatchError, DispatchRefusal, DispatchResult, Failure,
    clear_refusal, guard, out_arg, slice_arg, write_refusal,
};

/// A sha-512 `Content-Digest` being computed: `dispatch_content_digest_new`,
/// any number of `dispatch_content_digest_update`, then
/// `dispatch_content_digest_finish` (which frees it) or
/// `dispatch_content_digest_free`. One thread at a time.
pub struct DispatchContentDigest {
    hasher: ContentDigest,
}

/// A new sha-512 digest, in `*out`.
///
/// # Safety
/// `out` and `error` are NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dispatch_content_digest_new(
    out: *mut *mut DispatchContentDigest,
    error: *mut DispatchError,
) -> DispatchResult {
    // SAFETY: the caller gives `error` NULL or writable.
    guard(unsafe { error.as_mut() }, || {
        // SAFETY: the caller gives `out` NULL or writable.
        let out = unsafe { out_arg(out, "out") }?;
        *out = into_handle(DispatchContentDigest {
            hasher: ContentDigest::new(Algorithm::Sha512),
        });
        Ok(())
    })
}

/// Hashes the next chunk of the body.
///
/// # Safety
/// `digest` is NULL or a live handle not used by another thread during the
/// call; `chunk` valid for `chunk_len` bytes (or NULL with 0).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dispatch_content_digest_update(
    digest: *mut DispatchContentDigest,
    chunk: *const u8,
    chunk_len: usize,
    error: *mut DispatchError,
) -> DispatchResult {
    // SAFETY: the caller gives `error` NULL or writable.
    guard(unsafe { error.as_mut() }, || {
        // SAFETY: the caller's contract on `digest` and `chunk`.
        let (digest, chunk) = unsafe {
            (
                out_arg(digest, "digest")?,
                slice_arg(chunk, chunk_len, "chunk")?,
            )
        };
        digest.hasher.update(chunk);
        Ok(())
    })
}

/// Writes the header value, `sha-512=:<base64>:`, into `*out` (owned, free
/// with `dispatch_buffer_free`) and frees the digest, whatever the outcome.
///
/// # Safety
/// `digest` is NULL or a live handle, not used again after this call;
/// `out` and `error` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dispatch_content_digest_finish(
    digest: *mut DispatchContentDigest,
    out: *mut DispatchBuffer,
    error: *mut DispatchError,
) -> DispatchResult {
    // SAFETY: the caller gives `error` NULL or writable.
    guard(unsafe { error.as_mut() }, || {
        if digest.is_null() {
            return Err(Failure::new(DispatchResult::NullPointer, "digest is NULL"));
        }
        // SAFETY: a non-NULL `digest` came from `into_handle` and is not used
        // again by the caller: it is taken back here, once.
        let digest = unsafe { Box::from_raw(digest) };
        // SAFETY: the caller gives `out` NULL or writable.
        let out = unsafe { out_arg(out, "out") }?;
        *out = DispatchBuffer::EMPTY;
        let value = digest.hasher.finish();
        let mut text = [0u8; MAX_HEADER_VALUE_LEN];
        let text = digest::write_header_value(&value, &mut text).ok_or_else(|| {
            Failure::new(DispatchResult::Internal, "the digest cannot be written")
        })?;
        *out = DispatchBuffer::from_vec(text.as_bytes().to_vec());
        Ok(())
    })
}

/// Frees a digest that will not be finished; NULL is accepted.
///
/// # Safety
/// `digest` is NULL or a live handle, not used again after this call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dispatch_content_digest_free(
    digest: *mut DispatchContentDigest,
) -> DispatchResult {
    guard(None, || {
        if !digest.is_null() {
            // SAFETY: a non-NULL `digest` came from `into_handle`, freed once.
            drop(unsafe { Box::from_raw(digest) });
        }
        Ok(())
    })
}

/// Checks a received `Content-Digest` value against `body` (sha-512
/// preferred, else sha-256, compared in constant time): `DISPATCH_RESULT_OK`,
/// or `DISPATCH_RESULT_REFUSED` with `*refusal` written (401 for a
/// malformed value or one with neither algorithm, 403 `digest-mismatch`).
///
/// # Safety
/// `header` and `body` are valid for their lengths; `refusal` and `error`
/// NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dispatch_content_digest_check(
    header: DispatchBytes,
    body: DispatchBytes,
    refusal: *mut DispatchRefusal,
    error: *mut DispatchError,
) -> DispatchResult {
    // SAFETY: the caller gives `error` NULL or writable.
    guard(unsafe { error.as_mut() }, || {
        // SAFETY: the caller's contract on every argument.
        let (refusal, header, body) = unsafe {
            (
                out_arg(refusal, "refusal")?,
                header.get("header")?,
                body.get("body")?,
            )
        };
        clear_refusal(refusal);
        digest::check(header, body)
            .map_err(|e| write_refusal(refusal, &Refusal::Signature(VerifyError::from(e))))
    })
}
