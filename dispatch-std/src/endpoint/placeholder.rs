//! PLACEHOLDER(core): stand-ins for `dispatch_core` APIs that other branches are
//! writing right now (`any`). Each item names what replaces it; this
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
