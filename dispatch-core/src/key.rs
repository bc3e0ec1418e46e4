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

use core::fmt;

use base64ct::{Base64, Encoding};
use ed25519_dalek::{SigningKey, VerifyingKey};

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

/// Why a key text was refused, or a key could not be rendered.
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
    /// The output buffer is too small for the rendered key.
    BufferTooSmall,
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
            Self::BufferTooSmall => f.write_str("the output buffer is too small for the key"),
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

/// Writes `key` as the standard padded base64 of its 32 bytes
/// ([`PUBLIC_KEY_BASE64_LEN`] characters, no line end).
pub fn write_public_key_base64<W: fmt::Write + ?Sized>(
    key: &VerifyingKey,
    out: &mut W,
) -> fmt::Result {
    let mut b64 = [0u8; PUBLIC_KEY_BASE64_LEN];
    out.write_str(Base64::encode(key.as_bytes(), &mut b64).map_err(|_| fmt::Error)?)
}

/// Writes `key` as a PEM SubjectPublicKeyInfo block
/// ([`PUBLIC_KEY_PEM_LEN`] bytes, LF line ends, final LF included).
///
/// ```
/// use dispatch_core::key::{parse_public_key, write_public_key_pem};
///
/// let key = parse_public_key("JrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=")?;
/// let mut pem = String::new();
/// write_public_key_pem(&key, &mut pem)?;
/// assert_eq!(
///     pem,
///     "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=\n-----END PUBLIC KEY-----\n"
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write_public_key_pem<W: fmt::Write + ?Sized>(
    key: &VerifyingKey,
    out: &mut W,
) -> fmt::Result {
    let mut der = [0u8; SPKI_LEN];
    let (prefix, raw) = der.split_at_mut(SPKI_PREFIX.len());
    prefix.copy_from_slice(&SPKI_PREFIX);
    raw.copy_from_slice(key.as_bytes());
    let mut b64 = [0u8; SPKI_BASE64_LEN];
    let body = Base64::encode(&der, &mut b64).map_err(|_| fmt::Error)?;
    out.write_str(PUBLIC_PEM_BEGIN)?;
    out.write_str(body)?;
    out.write_str("\n")?;
    out.write_str(PUBLIC_PEM_END)
}

/// Writes `key` as a PEM PKCS#8 (v1, seed only) block
/// ([`PRIVATE_KEY_PEM_LEN`] bytes, LF line ends, final LF included), the
/// form OpenSSL writes.
///
/// The local buffers are overwritten afterwards (best effort); wiping `out`
/// is the caller's business.
pub fn write_private_key_pem<W: fmt::Write + ?Sized>(key: &SigningKey, out: &mut W) -> fmt::Result {
    let mut der = Wiped([0u8; PKCS8_LEN]);
    let (prefix, seed) = der.0.split_at_mut(PKCS8_PREFIX.len());
    prefix.copy_from_slice(&PKCS8_PREFIX);
    seed.copy_from_slice(key.as_bytes());
    let mut b64 = Wiped([0u8; PKCS8_BASE64_LEN]);
    let body = Base64::encode(&der.0, &mut b64.0).map_err(|_| fmt::Error)?;
    out.write_str(PRIVATE_PEM_BEGIN)?;
    out.write_str(body)?;
    out.write_str("\n")?;
    out.write_str(PRIVATE_PEM_END)
}

/// Renders `key` as base64 (see [`write_public_key_base64`]) into `buf`,
/// returning the text; [`KeyError::BufferTooSmall`] if `buf` is shorter than
/// [`PUBLIC_KEY_BASE64_LEN`].
pub fn encode_public_key_base64<'a>(
    key: &VerifyingKey,
    buf: &'a mut [u8],
) -> Result<&'a str, KeyError> {
    render_into(buf, |w| write_public_key_base64(key, w))
}

/// Renders `key` as PEM (see [`write_public_key_pem`]) into `buf`, returning
/// the text; [`KeyError::BufferTooSmall`] if `buf` is shorter than
/// [`PUBLIC_KEY_PEM_LEN`].
pub fn encode_public_key_pem<'a>(
    key: &VerifyingKey,
    buf: &'a mut [u8],
) -> Result<&'a str, KeyError> {
    render_into(buf, |w| write_public_key_pem(key, w))
}

/// Renders `key` as PKCS#8 PEM (see [`write_private_key_pem`]) into `buf`,
/// returning the text; [`KeyError::BufferTooSmall`] if `buf` is shorter than
/// [`PRIVATE_KEY_PEM_LEN`] (the partly written buffer is then zeroed).
pub fn encode_private_key_pem<'a>(
    key: &SigningKey,
    buf: &'a mut [u8],
) -> Result<&'a str, KeyError> {
    render_into(buf, |w| write_private_key_pem(key, w))
}

// ---------------------------------------------------------------------------
// Fixed encodings (RFC 8410).

/// id-Ed25519, 1.3.101.112, as DER OBJECT IDENTIFIER contents.
const ED25519_OID: [u8; 3] = [0x2b, 0x65, 0x70];

/// SEQUENCE { SEQUENCE { OID id-Ed25519 }, BIT STRING (0 unused bits) ‖ 32 key bytes }.
const SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];
const SPKI_LEN: usize = SPKI_PREFIX.len() + 32;
const SPKI_BASE64_LEN: usize = SPKI_LEN.div_ceil(3) * 4;

/// SEQUENCE { INTEGER 0, SEQUENCE { OID id-Ed25519 }, OCTET STRING { OCTET STRING ‖ 32 seed bytes } }.
const PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];
const PKCS8_LEN: usize = PKCS8_PREFIX.len() + 32;
const PKCS8_BASE64_LEN: usize = PKCS8_LEN.div_ceil(3) * 4;

/// 32 bytes in base64 without padding.
const UNPADDED_KEY_BASE64_LEN: usize = (32 * 4_usize).div_ceil(3);

const PUBLIC_KEY_LABEL: &[u8] = b"PUBLIC KEY";
const PRIVATE_KEY_LABEL: &[u8] = b"PRIVATE KEY";
const PUBLIC_PEM_BEGIN: &str = "-----BEGIN PUBLIC KEY-----\n";
const PUBLIC_PEM_END: &str = "-----END PUBLIC KEY-----\n";
const PRIVATE_PEM_BEGIN: &str = "-----BEGIN PRIVATE KEY-----\n";
const PRIVATE_PEM_END: &str = "-----END PRIVATE KEY-----\n";

const PEM_DASHES: &[u8] = b"-----";
const PEM_BEGIN: &[u8] = b"-----BEGIN ";
const PEM_END: &[u8] = b"-----END ";

// DER tags used by these structures.
const TAG_INTEGER: u8 = 0x02;
const TAG_BIT_STRING: u8 = 0x03;
const TAG_OCTET_STRING: u8 = 0x04;
const TAG_OID: u8 = 0x06;
const TAG_SEQUENCE: u8 = 0x30;
/// `[0] IMPLICIT Attributes` of OneAsymmetricKey (constructed).
const TAG_PKCS8_ATTRIBUTES: u8 = 0xa0;
/// `[1] IMPLICIT PublicKey` (a BIT STRING) of OneAsymmetricKey v2.
const TAG_PKCS8_PUBLIC_KEY: u8 = 0x81;

// ---------------------------------------------------------------------------
// Text layer: trimming, PEM armour, base64.

/// A stack buffer for key text and its decoding, zeroed when dropped so no
/// seed lingers on the stack (best effort: `black_box` keeps the writes).
struct Wiped<const N: usize>([u8; N]);

impl<const N: usize> Drop for Wiped<N> {
    fn drop(&mut self) {
        self.0.fill(0);
        core::hint::black_box(&mut self.0);
    }
}

type Scratch = Wiped<MAX_KEY_TEXT_LEN>;

impl Scratch {
    fn new() -> Self {
        Wiped([0u8; MAX_KEY_TEXT_LEN])
    }
}

/// The input, bounded and trimmed of surrounding ASCII whitespace.
fn trimmed_key_text(text: &str) -> Result<&[u8], KeyError> {
    if text.len() > MAX_KEY_TEXT_LEN {
        return Err(KeyError::TooLong);
    }
    let text = text.as_bytes().trim_ascii();
    if text.is_empty() {
        Err(KeyError::Empty)
    } else {
        Ok(text)
    }
}

/// What the text holds, once its base64 characters are in the scratch buffer.
enum KeyText<'t> {
    /// A PEM block with this label.
    Pem { label: &'t [u8] },
    /// Bare base64.
    Bare,
}

/// Splits `text` into a PEM block or bare base64, copying the base64
/// characters into `scratch` and returning how many there are.
fn read_key_text<'t>(
    text: &'t [u8],
    scratch: &mut [u8; MAX_KEY_TEXT_LEN],
) -> Result<(KeyText<'t>, usize), KeyError> {
    if text.starts_with(PEM_DASHES) {
        let (label, len) = read_pem(text, scratch)?;
        return Ok((KeyText::Pem { label }, len));
    }
    // A PEM block after some other text: we read exactly one block and nothing else.
    if text.windows(PEM_DASHES.len()).any(|w| w == PEM_DASHES) {
        return Err(KeyError::PemArmor);
    }
    let dst = scratch.get_mut(..text.len()).ok_or(KeyError::TooLong)?;
    dst.copy_from_slice(text);
    Ok((KeyText::Bare, text.len()))
}

/// Lines of a PEM text: separated by LF, CRLF or a literal `\n`, each stripped
/// of trailing CR, SP and HTAB.
struct PemLines<'a> {
    rest: Option<&'a [u8]>,
}

impl<'a> Iterator for PemLines<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let rest = self.rest?;
        let mut at = 0;
        let (line, next) = loop {
            match (rest.get(at), rest.get(at + 1)) {
                (None, _) => break (rest, None),
                (Some(b'\n'), _) => break (rest.get(..at)?, rest.get(at + 1..)),
                (Some(b'\\'), Some(b'n')) => break (rest.get(..at)?, rest.get(at + 2..)),
                _ => at += 1,
            }
        };
        self.rest = next;
        let end = line
            .iter()
            .rposition(|b| !matches!(b, b'\r' | b' ' | b'\t'))
            .map_or(0, |i| i + 1);
        line.get(..end)
    }
}

/// Reads one PEM block filling all of `text`; returns its label and copies
/// the body's base64 characters into `scratch`.
fn read_pem<'t>(
    text: &'t [u8],
    scratch: &mut [u8; MAX_KEY_TEXT_LEN],
) -> Result<(&'t [u8], usize), KeyError> {
    let mut lines = PemLines { rest: Some(text) };
    let label = lines
        .next()
        .and_then(|line| pem_label(line, PEM_BEGIN))
        .ok_or(KeyError::PemArmor)?;
    let mut len = 0;
    loop {
        let line = lines.next().ok_or(KeyError::PemArmor)?;
        if line.starts_with(PEM_DASHES) {
            if pem_label(line, PEM_END) != Some(label) {
                return Err(KeyError::PemArmor);
            }
            break;
        }
        let end = len + line.len();
        scratch
            .get_mut(len..end)
            .ok_or(KeyError::TooLong)?
            .copy_from_slice(line);
        len = end;
    }
    // Only empty lines (a final line end, a literal `\n`) may follow.
    if lines.any(|line| !line.is_empty()) {
        return Err(KeyError::TrailingData);
    }
    Ok((label, len))
}

/// The label of a `-----BEGIN <label>-----` or `-----END <label>-----` line.
fn pem_label<'t>(line: &'t [u8], start: &[u8]) -> Option<&'t [u8]> {
    let label = line.strip_prefix(start)?.strip_suffix(PEM_DASHES)?;
    let printable = |b: &u8| b.is_ascii_graphic() || *b == b' ';
    // RFC 7468 labels: printable, with single hyphens or spaces between words.
    let ok = label.iter().all(printable)
        && !label.is_empty()
        && !label.starts_with(b"-")
        && !label.ends_with(b"-")
        && !label.windows(2).any(|w| w == b"--");
    ok.then_some(label)
}

/// Decodes the `len` base64 characters at the start of `buf` in place, with a
/// precise error for the usual wrong encodings.
fn decode_base64_in_place(buf: &mut [u8], len: usize) -> Result<&[u8], KeyError> {
    let text = buf.get_mut(..len).ok_or(KeyError::TooLong)?;
    if looks_like_hex(text) {
        return Err(KeyError::Hex);
    }
    if looks_like_base64url(text) {
        return Err(KeyError::Base64Url);
    }
    if looks_like_unpadded_base64(text) {
        return Err(KeyError::MissingPadding);
    }
    if !has_zero_trailing_bits(text) {
        return Err(KeyError::Base64);
    }
    Base64::decode_in_place(text).map_err(|_| KeyError::Base64)
}

/// Whether the bits the padding leaves unused are zero, as a canonical
/// encoding has them (base64ct itself does not check this).
fn has_zero_trailing_bits(text: &[u8]) -> bool {
    let (last, unused_mask) = if let Some(data) = text.strip_suffix(b"==") {
        (data.last(), 0x0f)
    } else if let Some(data) = text.strip_suffix(b"=") {
        (data.last(), 0x03)
    } else {
        return true;
    };
    let sextet = match last {
        Some(c @ b'A'..=b'Z') => c - b'A',
        Some(c @ b'a'..=b'z') => c - b'a' + 26,
        Some(c @ b'0'..=b'9') => c - b'0' + 52,
        Some(b'+') => 62,
        Some(b'/') => 63,
        // Not the alphabet: the decoder reports it.
        _ => return true,
    };
    sextet & unused_mask == 0
}

/// Even-length hex digits, with or without `0x`.
fn looks_like_hex(text: &[u8]) -> bool {
    let digits = text
        .strip_prefix(b"0x")
        .or_else(|| text.strip_prefix(b"0X"))
        .unwrap_or(text);
    !digits.is_empty() && digits.len().is_multiple_of(2) && digits.iter().all(u8::is_ascii_hexdigit)
}

/// The base64url alphabet with at least one of its own characters (`-`, `_`),
/// padded or not, of a length base64url could have.
fn looks_like_base64url(text: &[u8]) -> bool {
    let data = text
        .strip_suffix(b"==")
        .or_else(|| text.strip_suffix(b"="))
        .unwrap_or(text);
    let padded = data.len() != text.len();
    let plausible_len = if padded {
        text.len().is_multiple_of(4)
    } else {
        data.len() % 4 != 1
    };
    plausible_len
        && data.iter().any(|b| matches!(b, b'-' | b'_'))
        && data
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

/// The standard alphabet with no padding, of the length 32 bytes take
/// unpadded (shorter garbage such as `foo` is just bad base64).
fn looks_like_unpadded_base64(text: &[u8]) -> bool {
    text.len() == UNPADDED_KEY_BASE64_LEN
        && text
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/'))
}

// ---------------------------------------------------------------------------
// DER layer: just enough to read the two RFC 8410 structures strictly.

/// Reads DER elements one after another.
struct DerReader<'a> {
    rest: &'a [u8],
}

impl<'a> DerReader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    fn peek_tag(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// Reads one element: its tag and its contents. Lengths must be definite
    /// and minimal; high tag numbers and lengths over 65535 never occur in
    /// these structures and are refused.
    fn read(&mut self) -> Result<(u8, &'a [u8]), KeyError> {
        let (&tag, rest) = self.rest.split_first().ok_or(KeyError::MalformedDer)?;
        if tag & 0x1f == 0x1f {
            return Err(KeyError::MalformedDer);
        }
        let (&first, rest) = rest.split_first().ok_or(KeyError::MalformedDer)?;
        let (len, rest) = match first {
            0..=0x7f => (usize::from(first), rest),
            0x81 => match rest.split_first() {
                Some((&len, rest)) if len >= 0x80 => (usize::from(len), rest),
                _ => return Err(KeyError::MalformedDer),
            },
            0x82 => match rest.split_first_chunk::<2>() {
                Some((&len, rest)) if u16::from_be_bytes(len) >= 0x100 => {
                    (usize::from(u16::from_be_bytes(len)), rest)
                }
                _ => return Err(KeyError::MalformedDer),
            },
            _ => return Err(KeyError::MalformedDer),
        };
        let (contents, rest) = rest.split_at_checked(len).ok_or(KeyError::MalformedDer)?;
        self.rest = rest;
        Ok((tag, contents))
    }

    /// Reads one element that must have tag `tag`.
    fn read_tagged(&mut self, tag: u8) -> Result<&'a [u8], KeyError> {
        match self.read()? {
            (found, contents) if found == tag => Ok(contents),
            _ => Err(KeyError::MalformedDer),
        }
    }
}

/// The contents of the single top-level SEQUENCE that fills `der`.
fn outer_sequence(der: &[u8]) -> Result<DerReader<'_>, KeyError> {
    let mut outer = DerReader::new(der);
    let fields = outer.read_tagged(TAG_SEQUENCE)?;
    if !outer.is_empty() {
        return Err(KeyError::TrailingData);
    }
    Ok(DerReader::new(fields))
}

/// Checks an AlgorithmIdentifier's contents: id-Ed25519, parameters absent
/// (RFC 8410 §3).
fn check_ed25519_algorithm(algorithm: &[u8]) -> Result<(), KeyError> {
    let mut fields = DerReader::new(algorithm);
    if fields.read_tagged(TAG_OID)? != ED25519_OID {
        return Err(KeyError::UnsupportedKeyType);
    }
    if !fields.is_empty() {
        return Err(KeyError::MalformedDer);
    }
    Ok(())
}

/// The 32 key bytes of a BIT STRING's contents (no unused bits).
fn key_bits(bits: &[u8]) -> Result<&[u8; 32], KeyError> {
    let key = bits.strip_prefix(&[0]).ok_or(KeyError::MalformedDer)?;
    <&[u8; 32]>::try_from(key).map_err(|_| KeyError::WrongLength { len: key.len() })
}

/// The key of an Ed25519 SubjectPublicKeyInfo.
fn public_key_from_spki(der: &[u8]) -> Result<&[u8; 32], KeyError> {
    let mut fields = outer_sequence(der)?;
    let algorithm = match fields.read()? {
        (TAG_SEQUENCE, algorithm) => algorithm,
        // A PKCS#8 key starts with its version.
        (TAG_INTEGER, _) => return Err(KeyError::PrivateKeyGiven),
        _ => return Err(KeyError::MalformedDer),
    };
    check_ed25519_algorithm(algorithm)?;
    let key = key_bits(fields.read_tagged(TAG_BIT_STRING)?)?;
    if !fields.is_empty() {
        return Err(KeyError::MalformedDer);
    }
    Ok(key)
}

/// The seed of an Ed25519 PKCS#8 (OneAsymmetricKey) key, and its public key
/// if it carries one (v2).
fn seed_from_pkcs8(der: &[u8]) -> Result<(&[u8; 32], Option<&[u8; 32]>), KeyError> {
    let mut fields = outer_sequence(der)?;
    let may_carry_public = match fields.read()? {
        (TAG_INTEGER, [0]) => false,
        (TAG_INTEGER, [1]) => true,
        // A SubjectPublicKeyInfo starts with its AlgorithmIdentifier.
        (TAG_SEQUENCE, _) => return Err(KeyError::PublicKeyGiven),
        _ => return Err(KeyError::MalformedDer),
    };
    check_ed25519_algorithm(fields.read_tagged(TAG_SEQUENCE)?)?;
    // privateKey is an OCTET STRING wrapping the CurvePrivateKey OCTET STRING.
    let mut private = DerReader::new(fields.read_tagged(TAG_OCTET_STRING)?);
    let seed = private.read_tagged(TAG_OCTET_STRING)?;
    if !private.is_empty() {
        return Err(KeyError::MalformedDer);
    }
    let seed =
        <&[u8; 32]>::try_from(seed).map_err(|_| KeyError::WrongLength { len: seed.len() })?;
    if fields.peek_tag() == Some(TAG_PKCS8_ATTRIBUTES) {
        fields.read()?;
    }
    let mut public = None;
    if may_carry_public && fields.peek_tag() == Some(TAG_PKCS8_PUBLIC_KEY) {
        public = Some(key_bits(fields.read()?.1)?);
    }
    if !fields.is_empty() {
        return Err(KeyError::MalformedDer);
    }
    Ok((seed, public))
}

/// Which DER key container some bytes look like.
enum DerKeyKind {
    PublicKeyInfo,
    PrivateKeyInfo,
}

/// A single SEQUENCE starting with a SEQUENCE (SubjectPublicKeyInfo) or an
/// INTEGER (PKCS#8).
fn der_key_kind(bytes: &[u8]) -> Option<DerKeyKind> {
    match outer_sequence(bytes).ok()?.peek_tag()? {
        TAG_SEQUENCE => Some(DerKeyKind::PublicKeyInfo),
        TAG_INTEGER => Some(DerKeyKind::PrivateKeyInfo),
        _ => None,
    }
}

/// Why bare base64 that is not 32 bytes is not a public key.
fn bare_public_key_error(bytes: &[u8]) -> KeyError {
    match der_key_kind(bytes) {
        Some(DerKeyKind::PublicKeyInfo) => return KeyError::MissingPemArmor,
        Some(DerKeyKind::PrivateKeyInfo) => return KeyError::PrivateKeyGiven,
        None => {}
    }
    // 64 bytes may be a seed followed by its public key (libsodium, Go's
    // ed25519.PrivateKey): say so when the halves belong together.
    if let Some((seed, public)) = bytes.split_first_chunk::<32>()
        && public.len() == 32
        && public == SigningKey::from_bytes(seed).verifying_key().as_bytes()
    {
        return KeyError::PrivateKeyGiven;
    }
    KeyError::WrongLength { len: bytes.len() }
}

/// A verifying key from 32 bytes: a valid point, not of small order.
fn verifying_key_from_bytes(raw: &[u8; 32]) -> Result<VerifyingKey, KeyError> {
    let key = VerifyingKey::from_bytes(raw).map_err(|_| KeyError::InvalidPoint)?;
    if key.is_weak() {
        return Err(KeyError::WeakKey);
    }
    Ok(key)
}

// ---------------------------------------------------------------------------
// Rendering into a caller's buffer.

/// A `fmt::Write` over a byte slice that fails when full.
struct SliceWriter<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl fmt::Write for SliceWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len.checked_add(s.len()).ok_or(fmt::Error)?;
        let dst = self.buf.get_mut(self.len..end).ok_or(fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Runs `render` over `buf` and returns the text written; on failure the
/// buffer is zeroed (it may hold part of a private key).
fn render_into(
    buf: &mut [u8],
    render: impl FnOnce(&mut SliceWriter<'_>) -> fmt::Result,
) -> Result<&str, KeyError> {
    let mut writer = SliceWriter { buf, len: 0 };
    if render(&mut writer).is_err() {
        writer.buf.fill(0);
        return Err(KeyError::BufferTooSmall);
    }
    let SliceWriter { buf, len } = writer;
    let written = buf.get(..len).ok_or(KeyError::BufferTooSmall)?;
    // Only `str`s were written, so this cannot fail.
    core::str::from_utf8(written).map_err(|_| KeyError::BufferTooSmall)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::String;
    use std::vec::Vec;
    use std::{format, vec};

    // RFC 9421 B.1.4 test-key-ed25519.
    const RFC_PUBLIC_PEM: &str = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=\n-----END PUBLIC KEY-----\n";
    const RFC_PRIVATE_PEM: &str = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF\n-----END PRIVATE KEY-----\n";
    const RFC_PUBLIC_RAW: &str = "JrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=";
    const RFC_SEED: &str = "n4Ni+HpISpVObnQMW0wOhCKROaIKqKtW/2ZYb2p9KcU=";

    fn b64(bytes: &[u8]) -> String {
        let mut buf = vec![0u8; Base64::encoded_len(bytes)];
        String::from(Base64::encode(bytes, &mut buf).unwrap())
    }

    fn unb64(text: &str) -> Vec<u8> {
        let mut buf = vec![0u8; text.len()];
        Base64::decode(text, &mut buf).unwrap().to_vec()
    }

    fn pem(label: &str, der: &[u8]) -> String {
        format!(
            "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
            b64(der)
        )
    }

    fn rfc_public() -> VerifyingKey {
        parse_public_key(RFC_PUBLIC_RAW).unwrap()
    }

    fn rfc_raw() -> [u8; 32] {
        rfc_public().to_bytes()
    }

    fn spki_der(raw: &[u8; 32]) -> Vec<u8> {
        [&SPKI_PREFIX[..], raw].concat()
    }

    fn pkcs8_der(seed: &[u8]) -> Vec<u8> {
        [&PKCS8_PREFIX[..], seed].concat()
    }

    #[test]
    fn rfc_test_key_in_every_form() {
        let public = rfc_public();
        assert_eq!(public.as_bytes()[..], unb64(RFC_PUBLIC_RAW)[..]);
        assert_eq!(parse_public_key(RFC_PUBLIC_PEM), Ok(public));
        assert_eq!(parse_verification_key(RFC_PUBLIC_PEM), Ok(Some(public)));
        let signing = parse_signing_key(RFC_PRIVATE_PEM).unwrap();
        assert_eq!(signing.verifying_key(), public);
        assert_eq!(b64(signing.as_bytes()), RFC_SEED);
        assert_eq!(
            parse_signing_key(RFC_SEED).unwrap().to_bytes(),
            signing.to_bytes()
        );
    }

    #[test]
    fn renders_rfc_test_key_exactly() {
        let public = rfc_public();
        let signing = parse_signing_key(RFC_SEED).unwrap();
        let mut buf = [0u8; 200];
        assert_eq!(encode_public_key_pem(&public, &mut buf), Ok(RFC_PUBLIC_PEM));
        assert_eq!(RFC_PUBLIC_PEM.len(), PUBLIC_KEY_PEM_LEN);
        assert_eq!(
            encode_private_key_pem(&signing, &mut buf),
            Ok(RFC_PRIVATE_PEM)
        );
        assert_eq!(RFC_PRIVATE_PEM.len(), PRIVATE_KEY_PEM_LEN);
        assert_eq!(
            encode_public_key_base64(&public, &mut buf),
            Ok(RFC_PUBLIC_RAW)
        );
        assert_eq!(RFC_PUBLIC_RAW.len(), PUBLIC_KEY_BASE64_LEN);
        let mut text = String::new();
        write_public_key_pem(&public, &mut text).unwrap();
        write_public_key_base64(&public, &mut text).unwrap();
        write_private_key_pem(&signing, &mut text).unwrap();
        assert_eq!(
            text,
            format!("{RFC_PUBLIC_PEM}{RFC_PUBLIC_RAW}{RFC_PRIVATE_PEM}")
        );
    }

    #[test]
    fn rendering_into_a_short_buffer_fails_and_wipes() {
        let signing = parse_signing_key(RFC_SEED).unwrap();
        let mut buf = [0xaau8; PRIVATE_KEY_PEM_LEN - 1];
        assert_eq!(
            encode_private_key_pem(&signing, &mut buf),
            Err(KeyError::BufferTooSmall)
        );
        assert!(buf.iter().all(|&b| b == 0));
        let mut buf = [0u8; PUBLIC_KEY_PEM_LEN - 1];
        assert_eq!(
            encode_public_key_pem(&rfc_public(), &mut buf),
            Err(KeyError::BufferTooSmall)
        );
        let mut buf = [0u8; PUBLIC_KEY_BASE64_LEN - 1];
        assert_eq!(
            encode_public_key_base64(&rfc_public(), &mut buf),
            Err(KeyError::BufferTooSmall)
        );
        let mut exact = [0u8; PRIVATE_KEY_PEM_LEN];
        assert_eq!(
            encode_private_key_pem(&signing, &mut exact),
            Ok(RFC_PRIVATE_PEM)
        );
    }

    #[test]
    fn tolerated_pem_layouts() {
        let public = rfc_public();
        let body = "MCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=";
        for text in [
            format!("-----BEGIN PUBLIC KEY-----\\n{body}\\n-----END PUBLIC KEY-----"),
            format!("-----BEGIN PUBLIC KEY-----\\n{body}\\n-----END PUBLIC KEY-----\\n"),
            format!("-----BEGIN PUBLIC KEY-----\r\n{body}\r\n-----END PUBLIC KEY-----\r\n"),
            format!("  \t\n-----BEGIN PUBLIC KEY-----\n{body}\n-----END PUBLIC KEY-----\n\n  "),
            format!("-----BEGIN PUBLIC KEY-----  \n{body}\t\n-----END PUBLIC KEY-----"),
            // The body wrapped over several lines.
            format!(
                "-----BEGIN PUBLIC KEY-----\n{}\n{}\n-----END PUBLIC KEY-----",
                &body[..20],
                &body[20..]
            ),
        ] {
            assert_eq!(parse_public_key(&text), Ok(public), "{text:?}");
        }
        let private = RFC_PRIVATE_PEM.replace('\n', "\\n");
        assert!(parse_signing_key(&private).is_ok());
        assert_eq!(
            parse_public_key(&format!(" {RFC_PUBLIC_RAW}\n")),
            Ok(public)
        );
    }

    #[test]
    fn empty_means_no_key() {
        for text in ["", " ", "\n\t \r\n"] {
            assert_eq!(parse_verification_key(text), Ok(None));
            assert_eq!(parse_public_key(text), Err(KeyError::Empty));
            assert_eq!(parse_signing_key(text).err(), Some(KeyError::Empty));
        }
    }

    #[test]
    fn too_long() {
        let long = format!("{RFC_PUBLIC_RAW}{}", " ".repeat(MAX_KEY_TEXT_LEN));
        assert_eq!(parse_public_key(&long), Err(KeyError::TooLong));
        assert_eq!(parse_verification_key(&long), Err(KeyError::TooLong));
        assert_eq!(parse_signing_key(&long).err(), Some(KeyError::TooLong));
        let at_limit = format!("{RFC_PUBLIC_RAW}{}", " ".repeat(MAX_KEY_TEXT_LEN - 44));
        assert!(parse_public_key(&at_limit).is_ok());
    }

    #[test]
    fn base64url() {
        let url = "JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs=";
        assert_eq!(parse_public_key(url), Err(KeyError::Base64Url));
        assert_eq!(parse_public_key(&url[..43]), Err(KeyError::Base64Url));
        assert_eq!(
            parse_signing_key("n4Ni-HpISpVObnQMW0wOhCKROaIKqKtW_2ZYb2p9KcU").err(),
            Some(KeyError::Base64Url)
        );
        // Dashes alone do not make base64url.
        assert_eq!(parse_public_key("not-a-key"), Err(KeyError::Base64));
    }

    #[test]
    fn hex() {
        let hex: String = rfc_raw().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(parse_public_key(&hex), Err(KeyError::Hex));
        assert_eq!(parse_public_key(&format!("0x{hex}")), Err(KeyError::Hex));
        assert_eq!(parse_public_key(&hex.to_uppercase()), Err(KeyError::Hex));
        assert_eq!(parse_signing_key(&hex).err(), Some(KeyError::Hex));
    }

    #[test]
    fn missing_padding() {
        assert_eq!(
            parse_public_key(&RFC_PUBLIC_RAW[..43]),
            Err(KeyError::MissingPadding)
        );
        assert_eq!(
            parse_signing_key(&RFC_SEED[..43]).err(),
            Some(KeyError::MissingPadding)
        );
    }

    #[test]
    fn bad_base64() {
        for text in [
            "foo",
            "JrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs==",
            "JrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=A",
            "JrQLj5P/89iXES9+vFgrIy29 clF9CC/oPPsw3c5D0bs=",
            "JrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0b=s",
            // Non-zero trailing bits: a non-canonical encoding.
            "JrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bt=",
            "JrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0R==",
            "JrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=é",
        ] {
            assert_eq!(parse_public_key(text), Err(KeyError::Base64), "{text:?}");
        }
        let broken_body = RFC_PUBLIC_PEM.replace("MCow", "MC*w");
        assert_eq!(parse_public_key(&broken_body), Err(KeyError::Base64));
        let url_body = RFC_PRIVATE_PEM.replace("Vv9", "Vv_");
        assert_eq!(parse_signing_key(&url_body).err(), Some(KeyError::Base64));
    }

    #[test]
    fn wrong_lengths() {
        assert_eq!(
            parse_public_key("JrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0Q=="),
            Err(KeyError::WrongLength { len: 31 })
        );
        assert_eq!(
            parse_public_key("JrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bsA"),
            Err(KeyError::WrongLength { len: 33 })
        );
        assert_eq!(
            parse_public_key(&b64(&[7u8; 64])),
            Err(KeyError::WrongLength { len: 64 })
        );
        assert_eq!(
            parse_signing_key(&b64(&[7u8; 31])).err(),
            Some(KeyError::WrongLength { len: 31 })
        );
        // Inside DER: a 31-byte BIT STRING key, a 33-byte seed.
        let mut spki = spki_der(&rfc_raw());
        spki.pop();
        spki[1] -= 1;
        spki[10] -= 1;
        assert_eq!(
            parse_public_key(&pem("PUBLIC KEY", &spki)),
            Err(KeyError::WrongLength { len: 31 })
        );
        let mut pkcs8 = pkcs8_der(&[1u8; 33]);
        pkcs8[1] += 1;
        pkcs8[13] += 1;
        pkcs8[15] += 1;
        assert_eq!(
            parse_signing_key(&pem("PRIVATE KEY", &pkcs8)).err(),
            Some(KeyError::WrongLength { len: 33 })
        );
    }

    #[test]
    fn missing_pem_armour() {
        let spki_body = b64(&spki_der(&rfc_raw()));
        assert_eq!(parse_public_key(&spki_body), Err(KeyError::MissingPemArmor));
        assert_eq!(
            parse_signing_key(&spki_body).err(),
            Some(KeyError::PublicKeyGiven)
        );
        let pkcs8_body = "MC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF";
        assert_eq!(
            parse_signing_key(pkcs8_body).err(),
            Some(KeyError::MissingPemArmor)
        );
        assert_eq!(parse_public_key(pkcs8_body), Err(KeyError::PrivateKeyGiven));
    }

    #[test]
    fn bad_pem_armour() {
        let body = "MCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=";
        for text in [
            format!("-----BEGIN PUBLIC KEY-----\n{body}\n"),
            format!("-----BEGIN PUBLIC KEY-----\n{body}\n-----END PRIVATE KEY-----"),
            format!("-----BEGIN PUBLIC KEY-----\n{body}\n-----END PUBLIC KEY----"),
            format!("-----BEGIN PUBLIC KEY----\n{body}\n-----END PUBLIC KEY-----"),
            format!("-----BEGIN PUBLIC KEY-----{body}\n-----END PUBLIC KEY-----"),
            format!("-----BEGIN -----\n{body}\n-----END -----"),
            format!("-----END PUBLIC KEY-----\n{body}\n-----END PUBLIC KEY-----"),
            format!("key: -----BEGIN PUBLIC KEY-----\n{body}\n-----END PUBLIC KEY-----"),
            format!("-----BEGIN PUBLIC KEY-----\n{body}\n-----BEGIN PUBLIC KEY-----\n"),
            String::from("-----"),
            format!("-----BEGIN PUBLIC KEY-----{body}-----END PUBLIC KEY-----"),
        ] {
            assert_eq!(parse_public_key(&text), Err(KeyError::PemArmor), "{text:?}");
        }
    }

    #[test]
    fn unexpected_pem_label() {
        let text = pem("CERTIFICATE", &spki_der(&rfc_raw()));
        assert_eq!(parse_public_key(&text), Err(KeyError::UnexpectedPemLabel));
        assert_eq!(
            parse_signing_key(&text).err(),
            Some(KeyError::UnexpectedPemLabel)
        );
    }

    #[test]
    fn trailing_data() {
        let twice = format!("{RFC_PUBLIC_PEM}{RFC_PUBLIC_PEM}");
        assert_eq!(parse_public_key(&twice), Err(KeyError::TrailingData));
        let comment = format!("{RFC_PUBLIC_PEM}comment");
        assert_eq!(parse_public_key(&comment), Err(KeyError::TrailingData));
        // DER bytes after the SubjectPublicKeyInfo.
        let mut der = spki_der(&rfc_raw());
        der.extend_from_slice(&[0, 0]);
        assert_eq!(
            parse_public_key(&pem("PUBLIC KEY", &der)),
            Err(KeyError::TrailingData)
        );
        let mut der = pkcs8_der(&[1u8; 32]);
        der.push(0);
        assert_eq!(
            parse_signing_key(&pem("PRIVATE KEY", &der)).err(),
            Some(KeyError::TrailingData)
        );
    }

    #[test]
    fn malformed_der() {
        let good = spki_der(&rfc_raw());
        let mut cases: Vec<Vec<u8>> = Vec::new();
        // Truncated.
        cases.push(good[..good.len() - 1].to_vec());
        // Outer tag not a SEQUENCE.
        cases.push([&[0x31], &good[1..]].concat());
        // Parameters present (an explicit NULL), which RFC 8410 forbids.
        let mut with_null = vec![
            0x30, 0x2c, 0x30, 0x07, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x05, 0x00,
        ];
        with_null.extend_from_slice(&good[9..]);
        cases.push(with_null);
        // Unused bits in the BIT STRING.
        let mut unused = good.clone();
        unused[11] = 1;
        cases.push(unused);
        // A non-minimal long-form length.
        let mut long_len = vec![0x30, 0x81, 0x2a];
        long_len.extend_from_slice(&good[2..]);
        cases.push(long_len);
        // Indefinite length.
        cases.push([&[0x30, 0x80], &good[2..], &[0, 0]].concat());
        // BIT STRING replaced by an OCTET STRING.
        let mut octets = good.clone();
        octets[9] = 0x04;
        cases.push(octets);
        // Empty.
        cases.push(Vec::new());
        for der in cases {
            assert_eq!(
                parse_public_key(&pem("PUBLIC KEY", &der)),
                Err(KeyError::MalformedDer),
                "{der:02x?}"
            );
        }
        // PKCS#8 with an unknown version, or a bare seed where the inner OCTET STRING belongs.
        let mut v3 = pkcs8_der(&[1u8; 32]);
        v3[4] = 2;
        assert_eq!(
            parse_signing_key(&pem("PRIVATE KEY", &v3)).err(),
            Some(KeyError::MalformedDer)
        );
        let mut flat = vec![
            0x30, 0x2c, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x20,
        ];
        flat.extend_from_slice(&[1u8; 32]);
        assert_eq!(
            parse_signing_key(&pem("PRIVATE KEY", &flat)).err(),
            Some(KeyError::MalformedDer)
        );
    }

    #[test]
    fn other_key_types() {
        // A P-256 SubjectPublicKeyInfo (id-ecPublicKey, prime256v1).
        let p256 = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEqIVYZVLCrPZHGHjP17CTW0/+D9Lf\nw0EkjqF7xB4FivAxzic30tMM4GF+hR6Dxh71Z50VGGdldkkDXZCnTNnoXQ==\n-----END PUBLIC KEY-----\n";
        assert_eq!(parse_public_key(p256), Err(KeyError::UnsupportedKeyType));
        // X25519 (1.3.101.110) and Ed448 (1.3.101.113) have the same shape as Ed25519.
        for last in [0x6e, 0x71] {
            let mut der = spki_der(&rfc_raw());
            der[8] = last;
            assert_eq!(
                parse_public_key(&pem("PUBLIC KEY", &der)),
                Err(KeyError::UnsupportedKeyType)
            );
            let mut der = pkcs8_der(&[1u8; 32]);
            der[11] = last;
            assert_eq!(
                parse_signing_key(&pem("PRIVATE KEY", &der)).err(),
                Some(KeyError::UnsupportedKeyType)
            );
        }
        let rsa = pem("RSA PUBLIC KEY", &[0x30, 0x00]);
        assert_eq!(parse_public_key(&rsa), Err(KeyError::UnsupportedKeyType));
        let openssh = pem("OPENSSH PRIVATE KEY", &[0x30, 0x00]);
        assert_eq!(
            parse_signing_key(&openssh).err(),
            Some(KeyError::UnsupportedKeyType)
        );
    }

    #[test]
    fn encrypted_private_key() {
        let text = pem("ENCRYPTED PRIVATE KEY", &[0x30, 0x00]);
        assert_eq!(
            parse_signing_key(&text).err(),
            Some(KeyError::EncryptedPrivateKey)
        );
        assert_eq!(parse_public_key(&text), Err(KeyError::PrivateKeyGiven));
    }

    #[test]
    fn private_key_where_public_expected() {
        assert_eq!(
            parse_public_key(RFC_PRIVATE_PEM),
            Err(KeyError::PrivateKeyGiven)
        );
        assert_eq!(
            parse_verification_key(RFC_PRIVATE_PEM),
            Err(KeyError::PrivateKeyGiven)
        );
        let ec = pem("EC PRIVATE KEY", &[0x30, 0x00]);
        assert_eq!(parse_public_key(&ec), Err(KeyError::PrivateKeyGiven));
        // PKCS#8 DER under a PUBLIC KEY label.
        let body = RFC_PRIVATE_PEM.replace("PRIVATE", "PUBLIC");
        assert_eq!(parse_public_key(&body), Err(KeyError::PrivateKeyGiven));
        // Seed followed by its public key, as libsodium and Go store it.
        let signing = parse_signing_key(RFC_SEED).unwrap();
        assert_eq!(
            parse_public_key(&b64(&signing.to_keypair_bytes())),
            Err(KeyError::PrivateKeyGiven)
        );
    }

    #[test]
    fn public_key_where_private_expected() {
        assert_eq!(
            parse_signing_key(RFC_PUBLIC_PEM).err(),
            Some(KeyError::PublicKeyGiven)
        );
        // SubjectPublicKeyInfo DER under a PRIVATE KEY label.
        let text = RFC_PUBLIC_PEM.replace("PUBLIC", "PRIVATE");
        assert_eq!(
            parse_signing_key(&text).err(),
            Some(KeyError::PublicKeyGiven)
        );
    }

    #[test]
    fn invalid_point() {
        // y = 2 has no x on the curve.
        let mut raw = [0u8; 32];
        raw[0] = 2;
        assert_eq!(parse_public_key(&b64(&raw)), Err(KeyError::InvalidPoint));
        assert_eq!(
            parse_public_key(&pem("PUBLIC KEY", &spki_der(&raw))),
            Err(KeyError::InvalidPoint)
        );
    }

    #[test]
    fn weak_key() {
        // The identity point (y = 1) has order 1.
        let mut raw = [0u8; 32];
        raw[0] = 1;
        assert_eq!(parse_public_key(&b64(&raw)), Err(KeyError::WeakKey));
    }

    #[test]
    fn pkcs8_v2_with_public_key() {
        let signing = parse_signing_key(RFC_SEED).unwrap();
        let build = |public: &[u8; 32]| {
            let mut der = vec![0x30, 0x51, 0x02, 0x01, 0x01];
            der.extend_from_slice(&PKCS8_PREFIX[5..]);
            der.extend_from_slice(signing.as_bytes());
            der.extend_from_slice(&[0x81, 0x21, 0x00]);
            der.extend_from_slice(public);
            pem("PRIVATE KEY", &der)
        };
        let good = parse_signing_key(&build(signing.verifying_key().as_bytes())).unwrap();
        assert_eq!(good.to_bytes(), signing.to_bytes());
        assert_eq!(
            parse_signing_key(&build(&[9u8; 32])).err(),
            Some(KeyError::KeyPairMismatch)
        );
        // Version 0 must not carry a public key.
        let mut v1 = build(signing.verifying_key().as_bytes());
        v1 = v1.replace("MFECAQEw", "MFECAQAw");
        assert_eq!(parse_signing_key(&v1).err(), Some(KeyError::MalformedDer));
        // Attributes are skipped.
        let mut der = vec![0x30, 0x32];
        der.extend_from_slice(&PKCS8_PREFIX[2..]);
        der.extend_from_slice(signing.as_bytes());
        der.extend_from_slice(&[0xa0, 0x02, 0x05, 0x00]);
        assert!(parse_signing_key(&pem("PRIVATE KEY", &der)).is_ok());
    }

    #[test]
    fn every_error_has_a_message() {
        let all = [
            KeyError::Empty,
            KeyError::TooLong,
            KeyError::Base64Url,
            KeyError::Hex,
            KeyError::MissingPadding,
            KeyError::Base64,
            KeyError::WrongLength { len: 31 },
            KeyError::MissingPemArmor,
            KeyError::PemArmor,
            KeyError::UnexpectedPemLabel,
            KeyError::TrailingData,
            KeyError::MalformedDer,
            KeyError::UnsupportedKeyType,
            KeyError::EncryptedPrivateKey,
            KeyError::PrivateKeyGiven,
            KeyError::PublicKeyGiven,
            KeyError::InvalidPoint,
            KeyError::WeakKey,
            KeyError::KeyPairMismatch,
            KeyError::BufferTooSmall,
        ];
        let messages: Vec<String> = all.iter().map(|e| format!("{e}")).collect();
        for (i, m) in messages.iter().enumerate() {
            assert!(!m.is_empty());
            assert!(messages[i + 1..].iter().all(|other| other != m), "{m}");
        }
        assert!(messages[6].contains("31"));
    }
}
