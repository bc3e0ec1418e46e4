//! Writing keys back out: base64 and PEM, LF line ends.

use core::fmt;

use base64ct::{Base64, Encoding};
use ed25519_dalek::{SigningKey, VerifyingKey};

use super::PUBLIC_KEY_BASE64_LEN;
use super::der::*;
use super::text::Wiped;

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
/// ([`PUBLIC_KEY_PEM_LEN`](super::PUBLIC_KEY_PEM_LEN) bytes, LF line ends, final LF included).
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
/// ([`PRIVATE_KEY_PEM_LEN`](super::PRIVATE_KEY_PEM_LEN) bytes, LF line ends, final LF included), the
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
