//! The DER layer: just enough to read the two RFC 8410 structures strictly,
//! and their fixed encodings.

use ed25519_dalek::{SigningKey, VerifyingKey};

use super::KeyError;

// ---------------------------------------------------------------------------
// Fixed encodings (RFC 8410).

/// id-Ed25519, 1.3.101.112, as DER OBJECT IDENTIFIER contents.
pub(super) const ED25519_OID: [u8; 3] = [0x2b, 0x65, 0x70];

/// SEQUENCE { SEQUENCE { OID id-Ed25519 }, BIT STRING (0 unused bits) ‖ 32 key bytes }.
pub(super) const SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];
pub(super) const SPKI_LEN: usize = SPKI_PREFIX.len() + 32;
pub(super) const SPKI_BASE64_LEN: usize = SPKI_LEN.div_ceil(3) * 4;

/// SEQUENCE { INTEGER 0, SEQUENCE { OID id-Ed25519 }, OCTET STRING { OCTET STRING ‖ 32 seed bytes } }.
pub(super) const PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];
pub(super) const PKCS8_LEN: usize = PKCS8_PREFIX.len() + 32;
pub(super) const PKCS8_BASE64_LEN: usize = PKCS8_LEN.div_ceil(3) * 4;

/// 32 bytes in base64 without padding.
pub(super) const UNPADDED_KEY_BASE64_LEN: usize = (32 * 4_usize).div_ceil(3);

pub(super) const PUBLIC_KEY_LABEL: &[u8] = b"PUBLIC KEY";
pub(super) const PRIVATE_KEY_LABEL: &[u8] = b"PRIVATE KEY";
pub(super) const PUBLIC_PEM_BEGIN: &str = "-----BEGIN PUBLIC KEY-----\n";
pub(super) const PUBLIC_PEM_END: &str = "-----END PUBLIC KEY-----\n";
pub(super) const PRIVATE_PEM_BEGIN: &str = "-----BEGIN PRIVATE KEY-----\n";
pub(super) const PRIVATE_PEM_END: &str = "-----END PRIVATE KEY-----\n";

pub(super) const PEM_DASHES: &[u8] = b"-----";
pub(super) const PEM_BEGIN: &[u8] = b"-----BEGIN ";
pub(super) const PEM_END: &[u8] = b"-----END ";

// DER tags used by these structures.
pub(super) const TAG_INTEGER: u8 = 0x02;
pub(super) const TAG_BIT_STRING: u8 = 0x03;
pub(super) const TAG_OCTET_STRING: u8 = 0x04;
pub(super) const TAG_OID: u8 = 0x06;
pub(super) const TAG_SEQUENCE: u8 = 0x30;
/// `[0] IMPLICIT Attributes` of OneAsymmetricKey (constructed).
pub(super) const TAG_PKCS8_ATTRIBUTES: u8 = 0xa0;
/// `[1] IMPLICIT PublicKey` (a BIT STRING) of OneAsymmetricKey v2.
pub(super) const TAG_PKCS8_PUBLIC_KEY: u8 = 0x81;

/// Reads DER elements one after another.
pub(super) struct DerReader<'a> {
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
pub(super) fn outer_sequence(der: &[u8]) -> Result<DerReader<'_>, KeyError> {
    let mut outer = DerReader::new(der);
    let fields = outer.read_tagged(TAG_SEQUENCE)?;
    if !outer.is_empty() {
        return Err(KeyError::TrailingData);
    }
    Ok(DerReader::new(fields))
}

/// Checks an AlgorithmIdentifier's contents: id-Ed25519, parameters absent
/// (RFC 8410 §3).
pub(super) fn check_ed25519_algorithm(algorithm: &[u8]) -> Result<(), KeyError> {
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
pub(super) fn key_bits(bits: &[u8]) -> Result<&[u8; 32], KeyError> {
    let key = bits.strip_prefix(&[0]).ok_or(KeyError::MalformedDer)?;
    <&[u8; 32]>::try_from(key).map_err(|_| KeyError::WrongLength { len: key.len() })
}

/// The key of an Ed25519 SubjectPublicKeyInfo.
pub(super) fn public_key_from_spki(der: &[u8]) -> Result<&[u8; 32], KeyError> {
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
pub(super) fn seed_from_pkcs8(der: &[u8]) -> Result<(&[u8; 32], Option<&[u8; 32]>), KeyError> {
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
pub(super) enum DerKeyKind {
    PublicKeyInfo,
    PrivateKeyInfo,
}

/// A single SEQUENCE starting with a SEQUENCE (SubjectPublicKeyInfo) or an
/// INTEGER (PKCS#8).
pub(super) fn der_key_kind(bytes: &[u8]) -> Option<DerKeyKind> {
    match outer_sequence(bytes).ok()?.peek_tag()? {
        TAG_SEQUENCE => Some(DerKeyKind::PublicKeyInfo),
        TAG_INTEGER => Some(DerKeyKind::PrivateKeyInfo),
        _ => None,
    }
}

/// Why bare base64 that is not 32 bytes is not a public key.
pub(super) fn bare_public_key_error(bytes: &[u8]) -> KeyError {
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
pub(super) fn verifying_key_from_bytes(raw: &[u8; 32]) -> Result<VerifyingKey, KeyError> {
    let key = VerifyingKey::from_bytes(raw).map_err(|_| KeyError::InvalidPoint)?;
    if key.is_weak() {
        return Err(KeyError::WeakKey);
    }
    Ok(key)
}
