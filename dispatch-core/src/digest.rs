//! RFC 9530 `Content-Digest`: parsing the header, hashing a body incrementally,
//! checking in constant time, and rendering the header value.
//!
//! The header is known before the body, so [`ExpectedDigest::from_header`]
//! picks the one algorithm to check (`sha-512` if present, else `sha-256`) and
//! [`ExpectedDigest::hasher`] computes only that one while the body streams by.
//!
//! ```
//! use dispatch_core::digest::{ExpectedDigest, check};
//! let header = b"sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:";
//! let expected = ExpectedDigest::from_header(header)?;
//! let mut hasher = expected.hasher();
//! hasher.update(br#"{"hello": "#);
//! hasher.update(br#""world"}"#);
//! assert!(expected.matches(&hasher.finish()));
//! assert!(check(header, br#"{"hello": "world"}"#).is_ok());
//! # Ok::<(), dispatch_core::digest::DigestError>(())
//! ```

use core::fmt;

use sha2::{Digest as _, Sha256, Sha512};
use subtle::ConstantTimeEq;

use crate::sfv::{self, Dictionary, Member};

/// A digest algorithm this crate computes.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// SHA-256 (`sha-256`, 32 bytes).
    Sha256,
    /// SHA-512 (`sha-512`, 64 bytes).
    Sha512,
}

impl Algorithm {
    /// The RFC 9530 registry key.
    pub const fn key(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha-256",
            Algorithm::Sha512 => "sha-512",
        }
    }

    /// The digest length in bytes.
    pub const fn digest_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 32,
            Algorithm::Sha512 => 64,
        }
    }
}

/// Why a `Content-Digest` check failed.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DigestError {
    /// The header is not a valid RFC 8941 dictionary.
    Malformed(sfv::Error),
    /// The header has no member.
    Empty,
    /// The chosen member is not a Byte Sequence.
    NotAByteSequence,
    /// The header has neither `sha-512` nor `sha-256`.
    UnsupportedAlgorithm,
    /// The body does not have the digest the header states.
    Mismatch,
}

impl fmt::Display for DigestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DigestError::Malformed(e) => write!(f, "malformed Content-Digest: {e}"),
            DigestError::Empty => f.write_str("Content-Digest is empty"),
            DigestError::NotAByteSequence => {
                f.write_str("the Content-Digest member is not a byte sequence")
            }
            DigestError::UnsupportedAlgorithm => {
                f.write_str("Content-Digest has neither sha-512 nor sha-256")
            }
            DigestError::Mismatch => f.write_str("the body does not match its Content-Digest"),
        }
    }
}

impl core::error::Error for DigestError {}

/// A computed digest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Digest {
    algorithm: Algorithm,
    bytes: [u8; 64],
}

impl Digest {
    /// The algorithm.
    pub const fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The digest bytes (32 or 64).
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes
            .get(..self.algorithm.digest_len())
            .unwrap_or(&self.bytes)
    }
}

/// An incremental digest of a body, for one algorithm.
#[derive(Clone, Debug)]
pub struct ContentDigest {
    state: State,
}

#[derive(Clone, Debug)]
enum State {
    Sha256(Sha256),
    Sha512(Sha512),
}

impl ContentDigest {
    /// Starts a digest with `algorithm`.
    pub fn new(algorithm: Algorithm) -> Self {
        let state = match algorithm {
            Algorithm::Sha256 => State::Sha256(Sha256::new()),
            Algorithm::Sha512 => State::Sha512(Sha512::new()),
        };
        ContentDigest { state }
    }

    /// Feeds the next chunk of the body.
    pub fn update(&mut self, chunk: &[u8]) {
        match &mut self.state {
            State::Sha256(h) => h.update(chunk),
            State::Sha512(h) => h.update(chunk),
        }
    }

    /// The digest of everything fed.
    pub fn finish(self) -> Digest {
        let mut bytes = [0u8; 64];
        let algorithm = match self.state {
            State::Sha256(h) => {
                let out: [u8; 32] = h.finalize().into();
                if let Some(dst) = bytes.get_mut(..32) {
                    dst.copy_from_slice(&out);
                }
                Algorithm::Sha256
            }
            State::Sha512(h) => {
                bytes = h.finalize().into();
                Algorithm::Sha512
            }
        };
        Digest { algorithm, bytes }
    }

    /// The digest of a whole body at once.
    pub fn of(algorithm: Algorithm, body: &[u8]) -> Digest {
        let mut d = ContentDigest::new(algorithm);
        d.update(body);
        d.finish()
    }
}

/// The digest a `Content-Digest` header states, for the algorithm we check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExpectedDigest {
    algorithm: Algorithm,
    /// The decoded length; a length that does not fit the algorithm is kept
    /// so the comparison fails as a mismatch.
    len: usize,
    bytes: [u8; 64],
}

impl ExpectedDigest {
    /// Parses a `Content-Digest` value (an RFC 8941 dictionary) and picks
    /// `sha-512` if present, else `sha-256`. Member parameters are ignored, as
    /// RFC 9530 defines none.
    pub fn from_header(value: &[u8]) -> Result<Self, DigestError> {
        let dict = Dictionary::parse(value).map_err(DigestError::Malformed)?;
        if dict.is_empty() {
            return Err(DigestError::Empty);
        }
        let (algorithm, member) = match dict.get("sha-512") {
            Some(m) => (Algorithm::Sha512, m),
            None => match dict.get("sha-256") {
                Some(m) => (Algorithm::Sha256, m),
                None => return Err(DigestError::UnsupportedAlgorithm),
            },
        };
        let Member::Item(item) = member else {
            return Err(DigestError::NotAByteSequence);
        };
        let bytes_seq = item
            .bare
            .as_byte_sequence()
            .ok_or(DigestError::NotAByteSequence)?;
        let mut bytes = [0u8; 64];
        let len = match bytes_seq.decode_into(&mut bytes) {
            Some(decoded) => decoded.len(),
            // Longer than any digest we compute: it cannot match.
            None => usize::MAX,
        };
        Ok(ExpectedDigest {
            algorithm,
            len,
            bytes,
        })
    }

    /// The algorithm that will be checked.
    pub const fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// A fresh hasher for that algorithm.
    pub fn hasher(&self) -> ContentDigest {
        ContentDigest::new(self.algorithm)
    }

    /// Whether `actual` is this digest, compared in constant time.
    pub fn matches(&self, actual: &Digest) -> bool {
        if actual.algorithm != self.algorithm || self.len != self.algorithm.digest_len() {
            return false;
        }
        let expected = self.bytes.get(..self.len).unwrap_or_default();
        bool::from(expected.ct_eq(actual.as_bytes()))
    }
}

/// Checks a whole `body` against a `Content-Digest` header value.
pub fn check(header: &[u8], body: &[u8]) -> Result<(), DigestError> {
    let expected = ExpectedDigest::from_header(header)?;
    if expected.matches(&ContentDigest::of(expected.algorithm, body)) {
        Ok(())
    } else {
        Err(DigestError::Mismatch)
    }
}

/// The longest `Content-Digest` value [`write_header_value`] produces.
pub const MAX_HEADER_VALUE_LEN: usize = "sha-512=::".len() + 88;

/// Renders `<alg>=:<base64>:` for `digest` into `out` (which needs
/// [`MAX_HEADER_VALUE_LEN`] bytes for sha-512), returning the text.
pub fn write_header_value<'o>(digest: &Digest, out: &'o mut [u8]) -> Option<&'o str> {
    let mut b64 = [0u8; 88];
    let encoded =
        <base64ct::Base64 as base64ct::Encoding>::encode(digest.as_bytes(), &mut b64).ok();
    let encoded: &str = encoded?;
    let mut w = sfv::SliceWriter::new(out);
    core::fmt::Write::write_fmt(
        &mut w,
        format_args!("{}=:{}:", digest.algorithm.key(), encoded),
    )
    .ok()?;
    Some(w.into_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HELLO: &[u8] = br#"{"hello": "world"}"#;

    #[test]
    fn rfc9530_values() {
        let mut out = [0u8; MAX_HEADER_VALUE_LEN];
        let d = ContentDigest::of(Algorithm::Sha512, HELLO);
        assert_eq!(
            write_header_value(&d, &mut out),
            Some(
                "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:"
            )
        );
        let d = ContentDigest::of(Algorithm::Sha256, HELLO);
        assert_eq!(
            write_header_value(&d, &mut out),
            Some("sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:")
        );
    }

    #[test]
    fn preference_and_errors() {
        let good256 = "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:";
        assert_eq!(check(good256.as_bytes(), HELLO), Ok(()));
        // sha-512 is preferred even when it is the wrong one.
        let both = std::format!("{good256}, sha-512=:AAAA:");
        assert_eq!(check(both.as_bytes(), HELLO), Err(DigestError::Mismatch));
        assert_eq!(
            check(b"md5=:Sd/dVLAcvNLSq16eXua5uQ==:", HELLO),
            Err(DigestError::UnsupportedAlgorithm)
        );
        assert_eq!(check(b"", HELLO), Err(DigestError::Empty));
        assert_eq!(
            check(b"sha-512=\"abc\"", HELLO),
            Err(DigestError::NotAByteSequence)
        );
        assert!(matches!(
            check(b"sha-512=:abc", HELLO),
            Err(DigestError::Malformed(_))
        ));
        let long = std::format!("sha-256=:{}:", "A".repeat(200));
        assert_eq!(check(long.as_bytes(), HELLO), Err(DigestError::Mismatch));
    }
}
