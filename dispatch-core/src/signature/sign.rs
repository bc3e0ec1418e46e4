//! Signing requests the way the Dispatch scheduler does.

use core::fmt::Write as _;

use base64ct::{Base64, Encoding};
use ed25519_dalek::{Signer, SigningKey};

use super::base::{BaseError, write_signature_base};
use super::request::{RequestView, WithField};
use super::{ALG, KEYID, LABEL, REQUIRED_COMPONENTS};
use crate::digest::{Algorithm, ContentDigest, MAX_HEADER_VALUE_LEN, write_header_value};
use crate::sfv::{self, BareItem, InnerList, SfString, SliceWriter};

/// What to sign: the label, the covered components in order, and the
/// signature parameters in order.
#[derive(Clone, Copy, Debug)]
pub struct SignatureSpec<'s> {
    /// The `Signature-Input` / `Signature` label (an RFC 8941 key).
    pub label: &'s str,
    /// The covered component names, in order (e.g. `"@method"`, `"content-type"`).
    pub components: &'s [&'s str],
    /// The signature parameters, in order (e.g. `("created", BareItem::Integer(…))`).
    pub params: &'s [(&'s str, BareItem<'s>)],
}

/// The headers a signer adds, and the signature base it signed; all borrowed
/// from the caller's buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignedHeaders<'b> {
    /// The `Content-Digest` value: `sha-512=:<base64>:`.
    pub content_digest: &'b str,
    /// The `Signature-Input` value: `<label>=(<components>)<params>`.
    pub signature_input: &'b str,
    /// The `Signature` value: `<label>=:<base64>:`.
    pub signature: &'b str,
    /// The signature base that was signed.
    pub signature_base: &'b str,
}

/// Why signing failed.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignError {
    /// The buffer is too small for the headers and the base.
    BufferTooSmall,
    /// The label, a component name or a parameter is not valid RFC 8941.
    InvalidSpec,
    /// The signature base cannot be built from the request.
    Base(BaseError),
}

impl core::fmt::Display for SignError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SignError::BufferTooSmall => f.write_str("the signing buffer is too small"),
            SignError::InvalidSpec => {
                f.write_str("the label, a component or a parameter is not valid RFC 8941")
            }
            SignError::Base(e) => write!(f, "the signature base cannot be built: {e}"),
        }
    }
}

impl core::error::Error for SignError {}

/// A buffer size that fits the headers and base of an ordinary request.
pub const SIGNING_BUFFER_LEN: usize = 2 * super::DEFAULT_BASE_CAPACITY;

/// Signs `req` with `body` exactly as the Dispatch scheduler does: label
/// `dispatch`, components `("@method" "@path" "@authority" "content-type"
/// "content-digest")`, parameters `;created=<created>;keyid="default";alg="ed25519"`,
/// and a sha-512 `Content-Digest` of `body` (which replaces any
/// `Content-Digest` of `req`). The results are written into `buf`.
pub fn sign_request<'b, R: RequestView + ?Sized>(
    req: &R,
    body: &[u8],
    key: &SigningKey,
    created: i64,
    buf: &'b mut [u8],
) -> Result<SignedHeaders<'b>, SignError> {
    sign_in_order(req, body, key, created, &REQUIRED_COMPONENTS, buf)
}

/// [`sign_request`] with another order of covered components (dispatch-py
/// signs in a per-process order).
pub fn sign_in_order<'b, R: RequestView + ?Sized>(
    req: &R,
    body: &[u8],
    key: &SigningKey,
    created: i64,
    components: &[&str],
    buf: &'b mut [u8],
) -> Result<SignedHeaders<'b>, SignError> {
    let keyid = SfString::new(KEYID).map_err(|_| SignError::InvalidSpec)?;
    let alg = SfString::new(ALG).map_err(|_| SignError::InvalidSpec)?;
    let params = [
        ("created", BareItem::Integer(created)),
        ("keyid", BareItem::String(keyid)),
        ("alg", BareItem::String(alg)),
    ];
    let spec = SignatureSpec {
        label: LABEL,
        components,
        params: &params,
    };
    sign_with(req, body, key, &spec, buf)
}

/// Signs `req` as `spec` says, adding a sha-512 `Content-Digest` of `body`
/// (replacing any `Content-Digest` of `req`).
pub fn sign_with<'b, R: RequestView + ?Sized>(
    req: &R,
    body: &[u8],
    key: &SigningKey,
    spec: &SignatureSpec<'_>,
    buf: &'b mut [u8],
) -> Result<SignedHeaders<'b>, SignError> {
    let small = |_| SignError::BufferTooSmall;
    let (digest_buf, rest) = buf
        .split_at_mut_checked(MAX_HEADER_VALUE_LEN)
        .ok_or(SignError::BufferTooSmall)?;
    let digest = ContentDigest::of(Algorithm::Sha512, body);
    let content_digest: &'b str =
        write_header_value(&digest, digest_buf).ok_or(SignError::BufferTooSmall)?;

    let input_len = {
        let mut w = SliceWriter::new(rest);
        write_signature_input(&mut w, spec)?;
        w.len()
    };
    let (input_buf, rest) = rest
        .split_at_mut_checked(input_len)
        .ok_or(SignError::BufferTooSmall)?;
    let input_buf: &'b [u8] = input_buf;
    let signature_input = core::str::from_utf8(input_buf).map_err(|_| SignError::InvalidSpec)?;
    let list_text = input_buf
        .get(spec.label.len() + 1..)
        .ok_or(SignError::InvalidSpec)?;
    let list = InnerList::parse(list_text).map_err(|_| SignError::InvalidSpec)?;

    let with_digest = WithField {
        inner: req,
        name: "content-digest",
        value: content_digest.as_bytes(),
    };
    let base_len = write_signature_base(&with_digest, &list, rest)
        .map_err(|e| match e {
            BaseError::TooLarge => SignError::BufferTooSmall,
            e => SignError::Base(e),
        })?
        .len();
    let (base_buf, signature_buf) = rest
        .split_at_mut_checked(base_len)
        .ok_or(SignError::BufferTooSmall)?;
    let base_buf: &'b [u8] = base_buf;
    let signature_base = core::str::from_utf8(base_buf).map_err(|_| SignError::InvalidSpec)?;

    let signature = key.sign(base_buf).to_bytes();
    let mut b64 = [0u8; 88];
    let encoded = Base64::encode(&signature, &mut b64).map_err(|_| SignError::BufferTooSmall)?;
    let mut w = SliceWriter::new(signature_buf);
    write!(w, "{}=:{encoded}:", spec.label).map_err(small)?;
    let signature = w.into_str();

    Ok(SignedHeaders {
        content_digest,
        signature_input,
        signature,
        signature_base,
    })
}

fn write_signature_input(
    w: &mut SliceWriter<'_>,
    spec: &SignatureSpec<'_>,
) -> Result<(), SignError> {
    let invalid = |_| SignError::InvalidSpec;
    sfv::write_key(w, spec.label).map_err(invalid)?;
    w.write_str("=(").map_err(|_| SignError::BufferTooSmall)?;
    for (i, name) in spec.components.iter().enumerate() {
        if i > 0 {
            w.write_char(' ').map_err(|_| SignError::BufferTooSmall)?;
        }
        let name = SfString::new(name).map_err(|_| SignError::InvalidSpec)?;
        sfv::write_bare_item(w, &BareItem::String(name)).map_err(|_| SignError::BufferTooSmall)?;
    }
    w.write_char(')').map_err(|_| SignError::BufferTooSmall)?;
    for (key, value) in spec.params {
        sfv::write_parameter(w, key, value).map_err(invalid)?;
    }
    Ok(())
}
