//! Ed25519 key text: reading verification (public) and signing (private) keys,
//! and writing them back out.
//!
//! Accepted forms, after surrounding ASCII whitespace is trimmed:
//!
//! * **public keys** ([`parse_verification_key`], [`parse_public_key`]): a PEM
//!   `PUBLIC KEY` block holding an Ed25519 SubjectPublicKeyInfo (RFC 8410), or
//!   the standard padded base64 of the 32 raw key bytes;
//! * **private keys** ([`parse_signing_key`]): a PEM `PRIVATE KEY` block holding
//!   an Ed25519 PKCS#8 / OneAsymmetricKey (RFC 5958, RFC 8410), or the standard
//!   padded base64 of the 32-byte seed.
//!
//! PEM lines may end with LF, CRLF or the two characters `\n` (how a PEM often
//! reaches an environment variable), and may carry trailing spaces or tabs.
//! Anything else gets a precise [`KeyError`]: base64url, hex, a private key
//! where a public one is expected (and the reverse), other algorithms, wrong
//! lengths, broken armour, broken base64, trailing data, points that are not on
//! the curve. Nothing here allocates: input is bounded by [`MAX_KEY_TEXT_LEN`]
//! and decoded in a stack buffer.
//!
//! ```
//! use dispatch_core::key::{parse_verification_key, KeyError};
//!
//! let pem = "-----BEGIN PUBLIC KEY-----\\nMCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=\\n-----END PUBLIC KEY-----";
//! let key = parse_verification_key(pem)?.ok_or(KeyError::Empty)?;
//! let raw = parse_verification_key("JrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=")?;
//! assert_eq!(Some(key), raw);
//! // An empty value means that no key is configured.
//! assert_eq!(parse_verification_key("  "), Ok(None));
//! assert_eq!(
//!     parse_verification_key("JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs="),
//!     Err(KeyError::Base64Url)
//! );
//! # Ok::<(), KeyError>(())
//! ```

mod der;
mod render;
#[cfg(test)]
mod tests;
mod text;

use core::fmt;

use ed25519_dalek::{SigningKey, VerifyingKey};

use der::*;
use text::*;

/// The longest key text accepted, in bytes, surrounding whitespace included.
///
/// An Ed25519 PEM is about 120 bytes; this leaves room for odd line endings
/// and whitespace while bounding the work and the stack buffer.
pub const MAX_KEY_TEXT_LEN: usize = 1024;

/// Length of a public key rendered as base64 by [`write_public_key_base64`].
pub const PUBLIC_KEY_BASE64_LEN: usize = 44;

/// Length of a public key rendered as PEM by [`write_public_key_pem`]
/// (LF line ends, final LF included).
pub const PUBLIC_KEY_PEM_LEN: usize =
    PUBLIC_PEM_BEGIN.len() + SPKI_BASE64_LEN + 1 + PUBLIC_PEM_END.len();

/// Length of a private key rendered as PEM by [`write_private_key_pem`]
/// (LF line ends, final LF included).
pub const PRIVATE_KEY_PEM_LEN: usize =
    PRIVATE_PEM_BEGIN.len() + PKCS8_BASE64_LEN + 1 + PRIVATE_PEM_END.len();

/// Why a key text was refused.
///
/// [`Display`](fmt::Display) gives a one-line message fit for a log or a
/// command-line error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// The text is empty or only whitespace where a key is required.
    Empty,
    /// The text is longer than [`MAX_KEY_TEXT_LEN`] bytes.
    TooLong,
    /// The text uses the base64url alphabet (`-`, `_`); keys are standard base64.
    Base64Url,
    /// The text is hexadecimal; keys are standard base64.
    Hex,
    /// The text is standard base64 without its `=` padding.
    MissingPadding,
    /// The text is not valid standard padded base64 (a character outside the
    /// alphabet, a bad length, misplaced padding or non-zero trailing bits).
    Base64,
    /// The decoded key has the wrong number of bytes (an Ed25519 key or seed is 32).
    WrongLength {
        /// The number of bytes found.
        len: usize,
    },
    /// The text is the base64 body of a DER key without its PEM
    /// `-----BEGIN …-----` / `-----END …-----` lines.
    MissingPemArmor,
    /// The PEM armour is malformed: a bad or missing BEGIN or END line, labels
    /// that differ, or text before the BEGIN line.
    PemArmor,
    /// The PEM block is not a key (for example a `CERTIFICATE`).
    UnexpectedPemLabel,
    /// Something follows the end of the key (after the PEM END line, or after
    /// the DER structure).
    TrailingData,
    /// The DER structure inside the PEM is malformed.
    MalformedDer,
    /// The key is not an Ed25519 key, or not in a supported container (for
    /// example a P-256, RSA or X25519 key, or an OpenSSH private key).
    UnsupportedKeyType,
    /// The private key is encrypted; only unencrypted PKCS#8 is read.
    EncryptedPrivateKey,
    /// A private key was given where a public key is expected.
    PrivateKeyGiven,
    /// A public key was given where a private key is expected.
    PublicKeyGiven,
    /// The 32 bytes are not the encoding of a point on the Ed25519 curve.
    InvalidPoint,
    /// The public key is a point of small order, which no honest signer uses.
    WeakKey,
    /// The public key stored in the PKCS#8 structure does not belong to its seed.
    KeyPairMismatch,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("no key given: the key text is empty"),
            Self::TooLong => write!(
                f,
                "the key text is longer than the {MAX_KEY_TEXT_LEN} bytes allowed"
            ),
            Self::Base64Url => f.write_str(
                "the key uses the base64url alphabet ('-', '_'); use standard base64 ('+', '/') with padding",
            ),
            Self::Hex => {
                f.write_str("the key is written in hex; use standard base64 or a PEM block")
            }
            Self::MissingPadding => {
                f.write_str("the base64 key lacks its '=' padding; standard padded base64 is required")
            }
            Self::Base64 => f.write_str("the key is not valid standard padded base64"),
            Self::WrongLength { len } => write!(
                f,
                "the key decodes to {len} bytes; an Ed25519 key is exactly 32 bytes"
            ),
            Self::MissingPemArmor => f.write_str(
                "the key is the body of a PEM block without its BEGIN and END lines; give the whole PEM block",
            ),
            Self::PemArmor => f.write_str(
                "the PEM block is malformed (check its BEGIN and END lines and that nothing precedes it)",
            ),
            Self::UnexpectedPemLabel => f.write_str("the PEM block does not hold a key"),
            Self::TrailingData => f.write_str("unexpected data follows the end of the key"),
            Self::MalformedDer => f.write_str("the key's DER structure is malformed"),
            Self::UnsupportedKeyType => {
                f.write_str("not an Ed25519 key in a supported format (SubjectPublicKeyInfo or PKCS#8)")
            }
            Self::EncryptedPrivateKey => {
                f.write_str("the private key is encrypted; give an unencrypted PKCS#8 key")
            }
            Self::PrivateKeyGiven => {
                f.write_str("a private key was given where the public verification key is expected")
            }
            Self::PublicKeyGiven => {
                f.write_str("a public key was given where the private signing key is expected")
            }
            Self::InvalidPoint => f.write_str("the key bytes are not a valid Ed25519 public key"),
            Self::WeakKey => f.write_str("the public key is a weak (small-order) Ed25519 point"),
            Self::KeyPairMismatch => f.write_str(
                "the public key inside the PKCS#8 private key does not match its seed",
            ),
        }
    }
}

impl core::error::Error for KeyError {}

/// Reads a configured verification key, from an argument or from
/// `DISPATCH_VERIFICATION_KEY` alike.
///
/// An empty or all-whitespace value means that no key is configured and gives
/// `Ok(None)`; anything else must be a valid Ed25519 public key (see
/// [`parse_public_key`]).
///
/// ```
/// use dispatch_core::key::parse_verification_key;
///
/// assert_eq!(parse_verification_key(""), Ok(None));
/// assert!(parse_verification_key("JrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=")?.is_some());
/// # Ok::<(), dispatch_core::key::KeyError>(())
/// ```
pub fn parse_verification_key(text: &str) -> Result<Option<VerifyingKey>, KeyError> {
    match parse_public_key(text) {
        Err(KeyError::Empty) => Ok(None),
        other => other.map(Some),
    }
}

/// Reads an Ed25519 public key: a PEM `PUBLIC KEY` (SubjectPublicKeyInfo)
/// block or the standard padded base64 of the 32 raw bytes.
///
/// An empty text is [`KeyError::Empty`]. The key must be a valid curve point
/// of full order.
pub fn parse_public_key(text: &str) -> Result<VerifyingKey, KeyError> {
    let text = trimmed_key_text(text)?;
    let mut scratch = Scratch::new();
    let raw = match read_key_text(text, &mut scratch.0)? {
        (KeyText::Pem { label }, len) => {
            if label != PUBLIC_KEY_LABEL {
                return Err(if label.ends_with(b"PRIVATE KEY") {
                    KeyError::PrivateKeyGiven
                } else if label.ends_with(PUBLIC_KEY_LABEL) {
                    KeyError::UnsupportedKeyType
                } else {
                    KeyError::UnexpectedPemLabel
                });
            }
            public_key_from_spki(decode_base64_in_place(&mut scratch.0, len)?)?
        }
        (KeyText::Bare, len) => {
            let bytes = decode_base64_in_place(&mut scratch.0, len)?;
            match <&[u8; 32]>::try_from(bytes) {
                Ok(raw) => raw,
                Err(_) => return Err(bare_public_key_error(bytes)),
            }
        }
    };
    verifying_key_from_bytes(raw)
}

/// Reads an Ed25519 public key from its 32 raw bytes (what
/// `cryptography`'s `Ed25519PublicKey.public_bytes_raw()` and Go's
/// `ed25519.PublicKey` hold), with the same checks as [`parse_public_key`]:
/// a valid curve point of full order.
///
/// ```
/// use dispatch_core::key::{parse_public_key, public_key_from_bytes, KeyError};
///
/// let key = parse_public_key("JrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=")?;
/// assert_eq!(public_key_from_bytes(key.as_bytes()), Ok(key));
/// // The identity point has small order.
/// let mut identity = [0u8; 32];
/// identity[0] = 1;
/// assert_eq!(public_key_from_bytes(&identity), Err(KeyError::WeakKey));
/// # Ok::<(), KeyError>(())
/// ```
pub fn public_key_from_bytes(raw: &[u8; 32]) -> Result<VerifyingKey, KeyError> {
    verifying_key_from_bytes(raw)
}

/// Reads an Ed25519 private key for signing: a PEM `PRIVATE KEY` (PKCS#8)
/// block or the standard padded base64 of the 32-byte seed.
///
/// An empty text is [`KeyError::Empty`]. A PKCS#8 v2 key that carries its
/// public key must carry the one that belongs to its seed. The scratch buffer
/// that held the key material is overwritten before returning (best effort:
/// copies made by the caller or the compiler are out of reach).
///
/// ```
/// use dispatch_core::key::{parse_signing_key, parse_public_key};
///
/// let seed = "n4Ni+HpISpVObnQMW0wOhCKROaIKqKtW/2ZYb2p9KcU=";
/// let signing = parse_signing_key(seed)?;
/// let public = parse_public_key("JrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=")?;
/// assert_eq!(signing.verifying_key(), public);
/// # Ok::<(), dispatch_core::key::KeyError>(())
/// ```
pub fn parse_signing_key(text: &str) -> Result<SigningKey, KeyError> {
    let text = trimmed_key_text(text)?;
    let mut scratch = Scratch::new();
    match read_key_text(text, &mut scratch.0)? {
        (KeyText::Pem { label }, len) => {
            if label != PRIVATE_KEY_LABEL {
                return Err(if label == b"ENCRYPTED PRIVATE KEY" {
                    KeyError::EncryptedPrivateKey
                } else if label.ends_with(b"PRIVATE KEY") {
                    KeyError::UnsupportedKeyType
                } else if label.ends_with(PUBLIC_KEY_LABEL) {
                    KeyError::PublicKeyGiven
                } else {
                    KeyError::UnexpectedPemLabel
                });
            }
            let (seed, public) = seed_from_pkcs8(decode_base64_in_place(&mut scratch.0, len)?)?;
            let key = SigningKey::from_bytes(seed);
            match public {
                Some(public) if key.verifying_key().as_bytes() != public => {
                    Err(KeyError::KeyPairMismatch)
                }
                _ => Ok(key),
            }
        }
        (KeyText::Bare, len) => {
            let bytes = decode_base64_in_place(&mut scratch.0, len)?;
            match <&[u8; 32]>::try_from(bytes) {
                Ok(seed) => Ok(SigningKey::from_bytes(seed)),
                Err(_) => Err(match der_key_kind(bytes) {
                    Some(DerKeyKind::PublicKeyInfo) => KeyError::PublicKeyGiven,
                    Some(DerKeyKind::PrivateKeyInfo) => KeyError::MissingPemArmor,
                    None => KeyError::WrongLength { len: bytes.len() },
                }),
            }
        }
    }
}

pub use render::{write_private_key_pem, write_public_key_base64, write_public_key_pem};
