//! Verification of a signed request, exactly per the project's policy
//! (docs/protocol/verification.md): every check in its order, the first failure wins.

use ed25519_dalek::{Signature, VerifyingKey};

use super::base::{BaseError, Component, ComponentFault, DEFAULT_BASE_CAPACITY, write_base_for};
use super::error::{Malformed, VerifyError};
use super::request::{FieldLines, RequestView, field_lines, with_field_lines, with_field_value};
use super::{ALG, KEYID, REQUIRED_COMPONENTS};
use crate::digest::{Algorithm, ContentDigest, Digest, ExpectedDigest};
use crate::sfv::{BareItem, Dictionary, InnerList, MAX_INNER_LIST_ITEMS, Member, Parameters};

/// The time rules: clock skew and maximum age, in seconds.
///
/// ```
/// use dispatch_core::signature::Policy;
/// let policy = Policy::default().with_max_clock_skew(10).with_max_age(600);
/// assert_eq!((policy.max_clock_skew(), policy.max_age()), (10, 600));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    max_clock_skew: u32,
    max_age: u32,
}

impl Policy {
    /// 5 s of skew and a maximum age of 300 s, as the SDKs use.
    pub const DEFAULT: Policy = Policy {
        max_clock_skew: 5,
        max_age: 300,
    };

    /// The same policy with another clock skew, in seconds.
    pub const fn with_max_clock_skew(self, seconds: u32) -> Self {
        Policy {
            max_clock_skew: seconds,
            ..self
        }
    }

    /// The same policy with another maximum age, in seconds.
    pub const fn with_max_age(self, seconds: u32) -> Self {
        Policy {
            max_age: seconds,
            ..self
        }
    }

    /// The allowed clock skew, in seconds.
    pub const fn max_clock_skew(&self) -> u32 {
        self.max_clock_skew
    }

    /// The maximum age of a signature, in seconds.
    pub const fn max_age(&self) -> u32 {
        self.max_age
    }
}

impl Default for Policy {
    fn default() -> Self {
        Policy::DEFAULT
    }
}

/// A request whose headers passed every check; only the body digest remains.
///
/// Feed the body to [`VerifiedHeaders::body_digest`]'s hasher as it streams,
/// then call [`VerifiedHeaders::finish`]; or call
/// [`VerifiedHeaders::check_body`] with the whole body.
#[derive(Clone, Copy, Debug)]
#[must_use = "the body is not verified until `finish` or `check_body` succeeds"]
pub struct VerifiedHeaders {
    expected: ExpectedDigest,
    created: i64,
}

impl VerifiedHeaders {
    /// A hasher for the one algorithm that `Content-Digest` will be checked with.
    pub fn body_digest(&self) -> ContentDigest {
        self.expected.hasher()
    }

    /// Checks the digest of the whole body (policy step 7), in constant time.
    pub fn finish(self, digest: &Digest) -> Result<(), VerifyError> {
        if self.expected.matches(digest) {
            Ok(())
        } else {
            Err(VerifyError::DigestMismatch)
        }
    }

    /// Hashes `body` and checks it.
    pub fn check_body(self, body: &[u8]) -> Result<(), VerifyError> {
        let mut hasher = self.body_digest();
        hasher.update(body);
        self.finish(&hasher.finish())
    }

    /// The digest algorithm the body will be checked with.
    pub const fn digest_algorithm(&self) -> Algorithm {
        self.expected.algorithm()
    }

    /// The signature's `created` time, in Unix seconds.
    pub const fn created(&self) -> i64 {
        self.created
    }
}

/// Verifies a whole request: headers, signature and body digest.
///
/// `now` is the current time in Unix seconds. Nothing is allocated.
pub fn verify<R: RequestView + ?Sized>(
    req: &R,
    body: &[u8],
    key: &VerifyingKey,
    now: i64,
    policy: &Policy,
) -> Result<(), VerifyError> {
    verify_headers(req, key, now, policy)?.check_body(body)
}

/// Runs policy steps 1 to 6 and parses `Content-Digest` (the first part of
/// step 7), building the signature base in a stack buffer of
/// [`DEFAULT_BASE_CAPACITY`] bytes.
pub fn verify_headers<R: RequestView + ?Sized>(
    req: &R,
    key: &VerifyingKey,
    now: i64,
    policy: &Policy,
) -> Result<VerifiedHeaders, VerifyError> {
    verify_headers_in(req, key, now, policy, None)
}

/// [`verify_headers`] with a caller's buffer for the signature base; a base
/// that does not fit is refused as [`VerifyError::SignatureBaseUnbuildable`].
pub fn verify_headers_with_buffer<R: RequestView + ?Sized>(
    req: &R,
    key: &VerifyingKey,
    now: i64,
    policy: &Policy,
    base_buf: &mut [u8],
) -> Result<VerifiedHeaders, VerifyError> {
    verify_headers_in(req, key, now, policy, Some(base_buf))
}

/// A typical base (~400 bytes) fits here; zeroing the full
/// [`DEFAULT_BASE_CAPACITY`] on every call costs more than the parsing.
const SMALL_BASE_CAPACITY: usize = 1024;

/// Steps 1 to 7a; the base goes into `base_buf`, or, when `None`, into a
/// small stack buffer and, only if it does not fit there, a
/// [`DEFAULT_BASE_CAPACITY`] one (the same outcome as using the large one).
fn verify_headers_in<R: RequestView + ?Sized>(
    req: &R,
    key: &VerifyingKey,
    now: i64,
    policy: &Policy,
    base_buf: Option<&mut [u8]>,
) -> Result<VerifiedHeaders, VerifyError> {
    with_field_value(req, "signature-input", |input| {
        // Step 1: both headers present.
        let input = match input {
            None => return Err(VerifyError::MissingSignatureInput),
            Some(input) => input,
        };
        // Looked up once, used for step 2.
        let signature_lines = field_lines(req, "signature");
        if signature_lines == FieldLines::Absent {
            return Err(VerifyError::MissingSignature);
        }
        // Step 2: structure. Both headers must parse before their members
        // are looked at, in the policy's order.
        let input = input.map_err(|()| too_long(VerifyError::MalformedSignatureInput))?;
        let inputs = parse_dictionary(input, VerifyError::MalformedSignatureInput)?;
        let (params, signature) =
            with_field_lines(req, "signature", signature_lines, |value| match value {
                None => Err(VerifyError::MissingSignature),
                Some(Err(())) => Err(too_long(VerifyError::MalformedSignature)),
                Some(Ok(value)) => {
                    let signatures = parse_dictionary(value, VerifyError::MalformedSignature)?;
                    let (label, params) = the_one_signature_input(&inputs)?;
                    Ok((params, signature_bytes(&signatures, label)?))
                }
            })?;
        // Step 3: parameters.
        let (created, expires) = check_parameters(&params.params())?;
        // Step 4: components.
        let mut components = [Component::Method; MAX_INNER_LIST_ITEMS];
        let mut fields = [FieldLines::Absent; MAX_INNER_LIST_ITEMS];
        let count = check_components(req, &params, &mut components, &mut fields)?;
        let components = components.get(..count).unwrap_or_default();
        let fields = fields.get(..count).unwrap_or_default();
        // Step 5: time.
        check_time(created, expires, now, policy)?;
        // Step 6: the signature over the rebuilt base.
        let check = |base: Result<&str, BaseError>| {
            // Step 4 has refused every unusable, duplicate or missing component, so
            // the base can fail only on a value's bytes or its size.
            let base = base.map_err(|_| VerifyError::SignatureBaseUnbuildable)?;
            key.verify_strict(base.as_bytes(), &Signature::from_bytes(&signature))
                .map_err(|_| VerifyError::SignatureMismatch)
        };
        match base_buf {
            Some(buf) => check(write_base_for(req, components, fields, &params, buf))?,
            None => {
                let mut small = [0u8; SMALL_BASE_CAPACITY];
                match write_base_for(req, components, fields, &params, &mut small) {
                    Err(BaseError::TooLarge) => {
                        let mut large = [0u8; DEFAULT_BASE_CAPACITY];
                        check(write_base_for(req, components, fields, &params, &mut large))?;
                    }
                    base => check(base)?,
                }
            }
        }
        // Step 7, first part: the (now authenticated) Content-Digest header.
        // Covered (so already looked up) unless the policy changes.
        let digest_lines = components
            .iter()
            .zip(fields)
            .find(|(c, _)| **c == Component::Field("content-digest"))
            .map(|(_, lines)| *lines);
        let read_digest = |value: Option<Result<&[u8], ()>>| match value {
            None => Err(VerifyError::CoveredHeaderMissing),
            Some(Err(())) => Err(too_long(VerifyError::MalformedContentDigest)),
            Some(Ok(value)) => ExpectedDigest::from_header(value).map_err(VerifyError::from),
        };
        let expected = match digest_lines {
            Some(lines) => with_field_lines(req, "content-digest", lines, read_digest),
            None => with_field_value(req, "content-digest", read_digest),
        }?;
        Ok(VerifiedHeaders { expected, created })
    })
}

fn too_long(variant: fn(Malformed) -> VerifyError) -> VerifyError {
    variant(Malformed::Syntax(crate::sfv::Error::TooLong))
}

/// A non-empty structured-field dictionary, or `malformed` with the reason.
#[inline(always)]
fn parse_dictionary(
    value: &[u8],
    malformed: fn(Malformed) -> VerifyError,
) -> Result<Dictionary<'_>, VerifyError> {
    let dict = Dictionary::parse(value).map_err(|e| malformed(Malformed::Syntax(e)))?;
    if dict.is_empty() {
        return Err(malformed(Malformed::Empty));
    }
    Ok(dict)
}

/// The one member of `Signature-Input`: its label and inner list.
#[inline(always)]
fn the_one_signature_input<'a>(
    inputs: &Dictionary<'a>,
) -> Result<(&'a str, InnerList<'a>), VerifyError> {
    if inputs.len() != 1 {
        return Err(VerifyError::NotExactlyOneSignature);
    }
    match inputs.iter().next() {
        Some((label, Member::InnerList(list))) => Ok((label, list)),
        Some(_) => Err(VerifyError::MalformedSignatureInput(Malformed::WrongType)),
        None => Err(VerifyError::MalformedSignatureInput(Malformed::Empty)),
    }
}

/// The 64 signature bytes under `label` in `Signature`.
fn signature_bytes(signatures: &Dictionary<'_>, label: &str) -> Result<[u8; 64], VerifyError> {
    let malformed = VerifyError::MalformedSignature;
    let member = signatures.get(label).ok_or(VerifyError::LabelMismatch)?;
    let Member::Item(item) = member else {
        return Err(malformed(Malformed::WrongType));
    };
    let bytes = item
        .bare
        .as_byte_sequence()
        .ok_or(malformed(Malformed::WrongType))?;
    let mut signature = [0u8; 64];
    if bytes.decoded_len() != signature.len() {
        return Err(malformed(Malformed::WrongLength));
    }
    bytes
        .decode_into(&mut signature)
        .ok_or(malformed(Malformed::WrongLength))?;
    Ok(signature)
}

/// Step 3; returns `created` and `expires`. One pass over the parameters,
/// then the rules in the policy's order.
fn check_parameters(params: &Parameters<'_>) -> Result<(i64, Option<i64>), VerifyError> {
    let (mut created, mut expires, mut nonce, mut keyid, mut alg) = (None, None, None, None, None);
    for (key, value) in params.iter() {
        let slot = match key {
            "created" => &mut created,
            "expires" => &mut expires,
            "nonce" => &mut nonce,
            "keyid" => &mut keyid,
            "alg" => &mut alg,
            _ => return Err(VerifyError::UnknownParameter),
        };
        *slot = Some(value);
    }
    let created = created
        .and_then(|v: BareItem<'_>| v.as_integer())
        .ok_or(VerifyError::BadCreated)?;
    let expires = match expires {
        None => None,
        Some(BareItem::Integer(expires)) => Some(expires),
        Some(_) => return Err(VerifyError::BadExpires),
    };
    if nonce.is_some_and(|n| n.as_string().is_none()) {
        return Err(VerifyError::BadNonce);
    }
    let keyid_ok = keyid
        .and_then(|v| v.as_string())
        .is_some_and(|keyid| keyid.eq_str(KEYID));
    if !keyid_ok {
        return Err(VerifyError::UnknownKeyid);
    }
    if alg.is_some_and(|alg| !alg.as_string().is_some_and(|alg| alg.eq_str(ALG))) {
        return Err(VerifyError::UnsupportedAlg);
    }
    Ok((created, expires))
}

/// Step 4, one rule at a time over all components, in the policy's order.
/// Writes the components, identified, for building the base, and the
/// looked-up lines of each field component (by the same index) into the
/// caller's arrays (no large values moved around); returns their number.
fn check_components<'l, 'r, R: RequestView + ?Sized>(
    req: &'r R,
    params: &InnerList<'l>,
    components: &mut [Component<'l>; MAX_INNER_LIST_ITEMS],
    fields: &mut [FieldLines<'r>; MAX_INNER_LIST_ITEMS],
) -> Result<usize, VerifyError> {
    // One parse of the list: each item's name (if a plain String) and
    // component; the faults are reported after the walk, in the rules' order.
    let mut names = [""; MAX_INNER_LIST_ITEMS];
    let (mut malformed, mut unsupported) = (false, false);
    let mut count = 0;
    for item in params.items() {
        let (Some(name), Some(slot)) = (names.get_mut(count), components.get_mut(count)) else {
            return Err(VerifyError::MalformedSignatureInput(Malformed::Syntax(
                crate::sfv::Error::TooManyItems,
            )));
        };
        match Component::from_item(&item) {
            Ok(component) => *slot = component,
            Err(ComponentFault::Malformed) => malformed = true,
            Err(_) => unsupported = true,
        }
        *name = item
            .bare
            .as_string()
            .and_then(|s| s.as_plain_str())
            .unwrap_or_default();
        count += 1;
    }
    let names = names.get(..count).unwrap_or_default();

    if malformed {
        return Err(VerifyError::MalformedComponent);
    }
    for (i, name) in names.iter().enumerate() {
        if names.get(..i).unwrap_or_default().contains(name) {
            return Err(VerifyError::DuplicateComponent);
        }
    }
    if unsupported {
        return Err(VerifyError::UnsupportedComponent);
    }
    let identified = components.get(..count).unwrap_or_default();
    for (component, lines) in identified.iter().zip(fields.iter_mut()) {
        if let Component::Field(name) = component {
            *lines = field_lines(req, name);
            if *lines == FieldLines::Absent {
                return Err(VerifyError::CoveredHeaderMissing);
            }
        }
    }
    if !REQUIRED_COMPONENTS.iter().all(|r| names.contains(r)) {
        return Err(VerifyError::InsufficientCoverage);
    }
    Ok(count)
}

/// Step 5.
fn check_time(
    created: i64,
    expires: Option<i64>,
    now: i64,
    policy: &Policy,
) -> Result<(), VerifyError> {
    let skew = i64::from(policy.max_clock_skew);
    let earliest = now.saturating_sub(skew);
    if created > now.saturating_add(skew) {
        return Err(VerifyError::CreatedInFuture);
    }
    if created.saturating_add(i64::from(policy.max_age)) < earliest {
        return Err(VerifyError::Expired);
    }
    if expires.is_some_and(|expires| expires < earliest) {
        return Err(VerifyError::Expired);
    }
    Ok(())
}
