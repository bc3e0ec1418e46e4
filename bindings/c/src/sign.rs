//! Signing a request as the Dispatch scheduler does (`dispatch_core::signature`).

use dispatch_core::signature::{self, REQUIRED_COMPONENTS, SIGNING_BUFFER_LEN, SignError};

use crate::keys::DispatchSigningKey;
use crate::types::{
    DispatchBuffer, DispatchError, DispatchRequest, DispatchResult, DispatchStr, Failure, View,
    guard, in_arg, out_arg, slice_arg,
};

/// The headers a signer adds, each an owned buffer (ASCII text): free them
/// all with `dispatch_signed_headers_free`.
#[repr(C)]
#[derive(Debug)]
pub struct DispatchSignedHeaders {
    /// The `Content-Digest` value: `sha-512=:<base64>:`.
    pub content_digest: DispatchBuffer,
    /// The `Signature-Input` value: `dispatch=(...);created=...;keyid="default";alg="ed25519"`.
    pub signature_input: DispatchBuffer,
    /// The `Signature` value: `dispatch=:<base64>:`.
    pub signature: DispatchBuffer,
    /// The signature base that was signed (for logs and tests).
    pub signature_base: DispatchBuffer,
}

/// The largest signing buffer tried: a request whose signed values need
/// more is refused as `DISPATCH_RESULT_SIGN_FAILED`.
const MAX_SIGNING_BUFFER_LEN: usize = 1 << 20;

/// Signs `request` with `body` exactly as the Dispatch scheduler does: label
/// `dispatch`, parameters `;created=<created>;keyid="default";alg="ed25519"`,
/// and a sha-512 `Content-Digest` of the body (replacing any the request
/// carries). The covered components are the scheduler's `("@method" "@path"
/// "@authority" "content-type" "content-digest")` when `components_len` is
/// 0, else the same components in the order given (dispatch-py signs in a
/// per-process order). The request is not changed: add the headers of
/// `*out` to it. `DISPATCH_RESULT_SIGN_FAILED` when it cannot be signed (no
/// `Content-Type`, a covered value with control characters).
///
/// # Safety
/// `request` is NULL or a valid request; `body` valid for `body_len` bytes
/// (or NULL with 0); `key` NULL or live; `components` valid for
/// `components_len` strings (or NULL with 0); `out` and `error` NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dispatch_sign_request(
    request: *const DispatchRequest,
    body: *const u8,
    body_len: usize,
    key: *const DispatchSigningKey,
    created: i64,
    components: *const DispatchStr,
    components_len: usize,
    out: *mut DispatchSignedHeaders,
    error: *mut DispatchError,
) -> DispatchResult {
    // SAFETY: the caller gives `error` NULL or writable.
    guard(unsafe { error.as_mut() }, || {
        // SAFETY: the caller gives `out` NULL or writable.
        let out = unsafe { out_arg(out, "out") }?;
        *out = DispatchSignedHeaders {
            content_digest: DispatchBuffer::EMPTY,
            signature_input: DispatchBuffer::EMPTY,
            signature: DispatchBuffer::EMPTY,
            signature_base: DispatchBuffer::EMPTY,
        };
        // SAFETY: the caller's contract on every input.
        let (view, body, key, names) = unsafe {
            (
                View::new(in_arg(request, "request")?)?,
                slice_arg(body, body_len, "body")?,
                in_arg(key, "key")?,
                slice_arg(components, components_len, "components")?,
            )
        };
        let mut order = Vec::with_capacity(names.len());
        for name in names {
            // SAFETY: the caller gives each component valid for its length.
            order.push(unsafe { name.get("a component name") }?);
        }
        let order: &[&str] = if order.is_empty() {
            &REQUIRED_COMPONENTS
        } else {
            &order
        };
        let mut len = SIGNING_BUFFER_LEN;
        loop {
            let mut buf = vec![0u8; len];
            match signature::sign_in_order(&view, body, &key.key, created, order, &mut buf) {
                Ok(signed) => {
                    let owned = |text: &str| DispatchBuffer::from_vec(text.as_bytes().to_vec());
                    *out = DispatchSignedHeaders {
                        content_digest: owned(signed.content_digest),
                        signature_input: owned(signed.signature_input),
                        signature: owned(signed.signature),
                        signature_base: owned(signed.signature_base),
                    };
                    return Ok(());
                }
                Err(SignError::BufferTooSmall) if len < MAX_SIGNING_BUFFER_LEN => len *= 2,
                Err(e) => {
                    return Err(Failure::new(
                        DispatchResult::SignFailed,
                        format!("the request cannot be signed: {e}"),
                    ));
                }
            }
        }
    })
}

/// Frees the four buffers of signed headers and empties them; NULL is accepted.
///
/// # Safety
/// `headers` is NULL or was filled by `dispatch_sign_request` (or zeroed).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn dispatch_signed_headers_free(
    headers: *mut DispatchSignedHeaders,
) -> DispatchResult {
    guard(None, || {
        // SAFETY: the caller gives `headers` NULL or filled by the library.
        if let Some(headers) = unsafe { headers.as_mut() } {
            headers.content_digest.free();
            headers.signature_input.free();
            headers.signature.free();
            headers.signature_base.free();
        }
        Ok(())
    })
}
