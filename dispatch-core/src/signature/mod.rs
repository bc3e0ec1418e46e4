//! RFC 9421 HTTP message signatures, as Dispatch uses them: a request view,
//! the signature base, verification per the project's policy, and signing.
//!
//! Verification runs the checks of docs/protocol/verification.md in order and stops at
//! the first failure, which is a [`VerifyError`] carrying the policy's reason
//! name, the HTTP status (401 or 403), the Connect code and a message. Nothing
//! is allocated, and time is a parameter.
//!
//! Limits: the signature base is built in a [`DEFAULT_BASE_CAPACITY`]-byte
//! stack buffer (or a caller's, with [`verify_headers_with_buffer`]); a header
//! sent on several field lines is joined into a stack buffer of
//! [`crate::sfv::MAX_INPUT_LEN`] bytes, only when it has several lines. Field
//! values longer than that are malformed.
//!
//! An adapter that streams the body checks the headers first, then feeds the
//! body through the digest, then finishes:
//!
//! ```
//! use dispatch_core::signature::{BorrowedRequest, Policy, sign_request, verify_headers};
//! use ed25519_dalek::SigningKey;
//!
//! let key = SigningKey::from_bytes(&[7u8; 32]);
//! let body = b"\x0a\x03add";
//! let unsigned = [("Content-Type", "application/proto")];
//! let url = "https://my-app.example.com/dispatch.sdk.v1.FunctionService/Run";
//! let req = BorrowedRequest::from_url("POST", url, &unsigned).ok_or("bad URL")?;
//! let mut buf = [0u8; 2048];
//! let signed = sign_request(&req, body, &key, 1_718_236_800, &mut buf)?;
//!
//! let headers = [
//!     ("Content-Type", "application/proto"),
//!     ("Content-Digest", signed.content_digest),
//!     ("Signature-Input", signed.signature_input),
//!     ("Signature", signed.signature),
//! ];
//! let req = BorrowedRequest::from_url("POST", url, &headers).ok_or("bad URL")?;
//! let verified = verify_headers(&req, &key.verifying_key(), 1_718_236_801, &Policy::default())?;
//! let mut digest = verified.body_digest();
//! for chunk in body.chunks(2) {
//!     digest.update(chunk);
//! }
//! verified.finish(&digest.finish())?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod base;
mod error;
mod request;
mod sign;
mod verify;

pub use base::{BaseError, DEFAULT_BASE_CAPACITY, write_signature_base};
pub use error::{Malformed, VerifyError};
pub use request::{BorrowedRequest, RequestView, nth_field_line};
pub use sign::{
    SIGNING_BUFFER_LEN, SignError, SignatureSpec, SignedHeaders, sign_in_order, sign_request,
    sign_with,
};
pub use verify::{Policy, VerifiedHeaders, verify, verify_headers, verify_headers_with_buffer};

/// The label the scheduler signs with.
pub const LABEL: &str = "dispatch";
/// The only key id the policy accepts.
pub const KEYID: &str = "default";
/// The only algorithm the policy accepts.
pub const ALG: &str = "ed25519";
/// The components a signature must cover, in the scheduler's order.
pub const REQUIRED_COMPONENTS: [&str; 5] = [
    "@method",
    "@path",
    "@authority",
    "content-type",
    "content-digest",
];
