//! Verification failures: reason, HTTP status, Connect code, message, and the
//! Connect JSON error body.

use core::fmt;

use crate::connect::{Code, ErrorBody};
use crate::digest::DigestError;
use crate::sfv;

/// What was wrong with a malformed header, for diagnostics.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Malformed {
    /// Not valid RFC 8941 syntax, or beyond the parser's bounds.
    Syntax(sfv::Error),
    /// The header is present but holds no member.
    Empty,
    /// The member is not of the type the header requires (an inner list in
    /// `Signature-Input`, a byte sequence in `Signature` and `Content-Digest`).
    WrongType,
    /// The `Signature` byte sequence is not 64 bytes long.
    WrongLength,
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Malformed::Syntax(e) => fmt::Display::fmt(e, f),
            Malformed::Empty => f.write_str("it has no member"),
            Malformed::WrongType => f.write_str("its member has the wrong type"),
            Malformed::WrongLength => f.write_str("the signature is not 64 bytes long"),
        }
    }
}

/// Why a request's signature was refused. Each variant is one check of the
/// policy (docs/protocol/verification.md), in the order the checks run.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VerifyError {
    /// No `Signature-Input` header.
    MissingSignatureInput,
    /// No `Signature` header.
    MissingSignature,
    /// `Signature-Input` is not a dictionary with one inner-list member.
    MalformedSignatureInput(Malformed),
    /// `Signature` is not a dictionary whose member is a 64-byte byte sequence.
    MalformedSignature(Malformed),
    /// `Signature-Input` has more than one member.
    NotExactlyOneSignature,
    /// `Signature` has no member with the `Signature-Input` label.
    LabelMismatch,
    /// A signature parameter other than alg, created, expires, keyid, nonce.
    UnknownParameter,
    /// `created` is absent or not an Integer.
    BadCreated,
    /// `expires` is not an Integer.
    BadExpires,
    /// `nonce` is not a String.
    BadNonce,
    /// `keyid` is absent or not the String `default`.
    UnknownKeyid,
    /// `alg` is present and not the String `ed25519`.
    UnsupportedAlg,
    /// A component identifier is not a lower-case String without parameters.
    MalformedComponent,
    /// A component is covered twice.
    DuplicateComponent,
    /// A derived component this policy does not support.
    UnsupportedComponent,
    /// A covered header is absent from the request.
    CoveredHeaderMissing,
    /// The five required components are not all covered.
    InsufficientCoverage,
    /// `created` is later than now plus the allowed skew.
    CreatedInFuture,
    /// The signature is older than the maximum age, or past `expires`.
    Expired,
    /// The Ed25519 signature does not verify over the signature base.
    SignatureMismatch,
    /// The signature base cannot be built: a covered value holds a control or
    /// non-ASCII character, or the base exceeds the buffer. Reported with the
    /// reason `signature-mismatch`, as the signature cannot be shown valid.
    SignatureBaseUnbuildable,
    /// `Content-Digest` is not a dictionary, or its chosen member is not a
    /// byte sequence.
    MalformedContentDigest(Malformed),
    /// `Content-Digest` has neither sha-512 nor sha-256.
    UnsupportedDigestAlgorithm,
    /// The body does not match `Content-Digest`.
    DigestMismatch,
}

/// The HTTP status and Connect code of a refusal.
impl VerifyError {
    /// The policy's reason name (kebab-case), as in the vectors' `expected_project`.
    pub const fn reason_name(&self) -> &'static str {
        match self {
            VerifyError::MissingSignatureInput => "missing-signature-input",
            VerifyError::MissingSignature => "missing-signature",
            VerifyError::MalformedSignatureInput(_) => "malformed-signature-input",
            VerifyError::MalformedSignature(_) => "malformed-signature",
            VerifyError::NotExactlyOneSignature => "not-exactly-one-signature",
            VerifyError::LabelMismatch => "label-mismatch",
            VerifyError::UnknownParameter => "unknown-parameter",
            VerifyError::BadCreated => "bad-created",
            VerifyError::BadExpires => "bad-expires",
            VerifyError::BadNonce => "bad-nonce",
            VerifyError::UnknownKeyid => "unknown-keyid",
            VerifyError::UnsupportedAlg => "unsupported-alg",
            VerifyError::MalformedComponent => "malformed-component",
            VerifyError::DuplicateComponent => "duplicate-component",
            VerifyError::UnsupportedComponent => "unsupported-component",
            VerifyError::CoveredHeaderMissing => "covered-header-missing",
            VerifyError::InsufficientCoverage => "insufficient-coverage",
            VerifyError::CreatedInFuture => "created-in-future",
            VerifyError::Expired => "expired",
            VerifyError::SignatureMismatch | VerifyError::SignatureBaseUnbuildable => {
                "signature-mismatch"
            }
            VerifyError::MalformedContentDigest(_) => "malformed-content-digest",
            VerifyError::UnsupportedDigestAlgorithm => "unsupported-digest-algorithm",
            VerifyError::DigestMismatch => "digest-mismatch",
        }
    }

    /// Whether the signature is missing or malformed (401), rather than
    /// well-formed but invalid (403).
    pub const fn is_unauthenticated(&self) -> bool {
        !matches!(
            self,
            VerifyError::CreatedInFuture
                | VerifyError::Expired
                | VerifyError::SignatureMismatch
                | VerifyError::SignatureBaseUnbuildable
                | VerifyError::DigestMismatch
        )
    }

    /// The HTTP status: 401 or 403.
    pub const fn http_status(&self) -> u16 {
        if self.is_unauthenticated() { 401 } else { 403 }
    }

    /// The Connect code: `unauthenticated` (401) or `permission_denied` (403).
    pub const fn code(&self) -> Code {
        if self.is_unauthenticated() {
            Code::Unauthenticated
        } else {
            Code::PermissionDenied
        }
    }

    /// What failed, in plain words.
    pub const fn message(&self) -> &'static str {
        match self {
            VerifyError::MissingSignatureInput => "the request has no Signature-Input header",
            VerifyError::MissingSignature => "the request has no Signature header",
            VerifyError::MalformedSignatureInput(_) => {
                "the Signature-Input header is not a dictionary with one inner list"
            }
            VerifyError::MalformedSignature(_) => {
                "the Signature header does not hold a 64-byte signature"
            }
            VerifyError::NotExactlyOneSignature => "the request must carry exactly one signature",
            VerifyError::LabelMismatch => {
                "the Signature header has no signature with the Signature-Input label"
            }
            VerifyError::UnknownParameter => "the signature has an unsupported parameter",
            VerifyError::BadCreated => "the signature's created time is missing or not an integer",
            VerifyError::BadExpires => "the signature's expires time is not an integer",
            VerifyError::BadNonce => "the signature's nonce is not a string",
            VerifyError::UnknownKeyid => "the signature names an unknown key",
            VerifyError::UnsupportedAlg => "the signature names an unsupported algorithm",
            VerifyError::MalformedComponent => "a covered component identifier is malformed",
            VerifyError::DuplicateComponent => "a component is covered twice",
            VerifyError::UnsupportedComponent => "a covered derived component is not supported",
            VerifyError::CoveredHeaderMissing => "a covered header is missing from the request",
            VerifyError::InsufficientCoverage => {
                "the signature does not cover the required components"
            }
            VerifyError::CreatedInFuture => "the signature was created in the future",
            VerifyError::Expired => "the signature has expired",
            VerifyError::SignatureMismatch => "the signature does not match the request",
            VerifyError::SignatureBaseUnbuildable => {
                "the signed components cannot be checked (invalid characters or too large)"
            }
            VerifyError::MalformedContentDigest(_) => "the Content-Digest header is malformed",
            VerifyError::UnsupportedDigestAlgorithm => {
                "the Content-Digest header has neither sha-512 nor sha-256"
            }
            VerifyError::DigestMismatch => "the body does not match its Content-Digest",
        }
    }

    /// Writes the Connect error body `{"code":"…","message":"…"}` into `out`
    /// without allocating, returning its length, or `None` if `out` is too
    /// small (the longest body is under 160 bytes).
    ///
    /// ```
    /// use dispatch_core::signature::VerifyError;
    /// let mut buf = [0u8; 160];
    /// let n = VerifyError::DigestMismatch.write_connect_json(&mut buf).ok_or("buffer too small")?;
    /// assert_eq!(&buf[..n], br#"{"code":"permission_denied","message":"the body does not match its Content-Digest"}"#);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write_connect_json(&self, out: &mut [u8]) -> Option<usize> {
        ErrorBody::new(self.code(), self.message())
            .encode_json(out)
            .ok()
    }
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())?;
        match self {
            VerifyError::MalformedSignatureInput(m)
            | VerifyError::MalformedSignature(m)
            | VerifyError::MalformedContentDigest(m) => write!(f, ": {m}"),
            _ => Ok(()),
        }
    }
}

impl core::error::Error for VerifyError {}

impl From<DigestError> for VerifyError {
    fn from(e: DigestError) -> Self {
        match e {
            DigestError::Malformed(e) => VerifyError::MalformedContentDigest(Malformed::Syntax(e)),
            DigestError::Empty => VerifyError::MalformedContentDigest(Malformed::Empty),
            DigestError::NotAByteSequence => {
                VerifyError::MalformedContentDigest(Malformed::WrongType)
            }
            DigestError::UnsupportedAlgorithm => VerifyError::UnsupportedDigestAlgorithm,
            DigestError::Mismatch => VerifyError::DigestMismatch,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_body_and_small_buffer() {
        let mut buf = [0u8; 200];
        let e = VerifyError::MissingSignatureInput;
        let n = e.write_connect_json(&mut buf).unwrap();
        let body = core::str::from_utf8(&buf[..n]).unwrap();
        assert_eq!(
            body,
            r#"{"code":"unauthenticated","message":"the request has no Signature-Input header"}"#
        );
        assert_eq!(e.write_connect_json(&mut buf[..n - 1]), None);
        assert_eq!(e.http_status(), 401);
        assert_eq!(VerifyError::Expired.http_status(), 403);
    }
}
