//! PLACEHOLDER(core): stand-ins for `dispatch_core` APIs that other branches are
//! writing right now (`any`, `key`). Each item names what replaces it; this
//! whole file is deleted once those branches are merged.

use prost_types::Any;

/// PLACEHOLDER(core any.rs): whether `any` holds a message of type `M`,
/// resolving the type URL by the part after its last `/`.
pub(crate) fn any_is<M: prost::Name>(any: &Any) -> bool {
    let name = any.type_url.rsplit('/').next().unwrap_or_default();
    name == M::full_name()
}

/// PLACEHOLDER(core any.rs): unpacks `any` as `M`.
pub(crate) fn unpack<M: prost::Name + Default>(any: &Any) -> Option<M> {
    if !any_is::<M>(any) {
        return None;
    }
    M::decode(any.value.as_slice()).ok()
}

/// PLACEHOLDER(core any.rs): packs `message` with the standard type URL.
pub(crate) fn pack<M: prost::Name>(message: &M) -> Any {
    Any {
        type_url: M::type_url(),
        value: message.encode_to_vec(),
    }
}

/// PLACEHOLDER(core key.rs): a parsed `DISPATCH_VERIFICATION_KEY`.
#[derive(Clone, Debug)]
pub struct VerificationKey {
    _text: String,
}

impl VerificationKey {
    /// PLACEHOLDER(core key.rs): an empty value means no key.
    pub fn parse(text: &str) -> Result<Option<Self>, KeyError> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(None);
        }
        Ok(Some(VerificationKey {
            _text: text.to_owned(),
        }))
    }
}

/// PLACEHOLDER(core key.rs): why a key did not parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyError;

impl core::fmt::Display for KeyError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("not an Ed25519 public key")
    }
}

impl core::error::Error for KeyError {}
