//! PLACEHOLDER(core): stand-ins for `dispatch_core` APIs that other branches are
//! writing right now (`connect`, `status`, `any`, `key`, `signature`, and the
//! `json` module of this crate). Each item names what replaces it; this whole
//! file is deleted once those branches are merged.

use dispatch_core::proto::sdk::v1::Status;
use prost_types::Any;

/// PLACEHOLDER(core connect.rs): a Connect error code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(dead_code)] // the verifier's 403 arrives with the core
pub(crate) enum Code {
    InvalidArgument,
    DeadlineExceeded,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unimplemented,
    Internal,
    Unauthenticated,
}

impl Code {
    /// PLACEHOLDER(core connect.rs): the snake_case name.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Code::InvalidArgument => "invalid_argument",
            Code::DeadlineExceeded => "deadline_exceeded",
            Code::NotFound => "not_found",
            Code::PermissionDenied => "permission_denied",
            Code::ResourceExhausted => "resource_exhausted",
            Code::Unimplemented => "unimplemented",
            Code::Internal => "internal",
            Code::Unauthenticated => "unauthenticated",
        }
    }

    /// PLACEHOLDER(core connect.rs): the code → HTTP table.
    pub(crate) fn http_status(self) -> u16 {
        match self {
            Code::InvalidArgument => 400,
            Code::DeadlineExceeded => 504,
            Code::NotFound => 404,
            Code::PermissionDenied => 403,
            Code::ResourceExhausted => 429,
            Code::Unimplemented => 501,
            Code::Internal => 500,
            Code::Unauthenticated => 401,
        }
    }
}

/// PLACEHOLDER(core connect.rs): the Connect error JSON body.
pub(crate) fn error_json(code: Code, message: &str) -> Vec<u8> {
    let mut body = serde_json::Map::new();
    body.insert("code".into(), code.as_str().into());
    if !message.is_empty() {
        body.insert("message".into(), message.into());
    }
    serde_json::Value::Object(body).to_string().into_bytes()
}

/// PLACEHOLDER(core connect.rs): `Connect-Timeout-Ms` (1 to 10 ASCII digits).
pub(crate) fn parse_timeout_ms(value: &[u8]) -> Option<u64> {
    if value.is_empty() || value.len() > 10 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    core::str::from_utf8(value).ok()?.parse().ok()
}

/// PLACEHOLDER(core connect.rs): the two unary codecs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Codec {
    Proto,
    Json,
}

/// PLACEHOLDER(core connect.rs): classifies a request `Content-Type`.
pub(crate) fn codec_of(content_type: &[u8]) -> Option<Codec> {
    let essence = content_type
        .split(|b| *b == b';')
        .next()
        .unwrap_or_default()
        .trim_ascii();
    if essence.eq_ignore_ascii_case(b"application/proto") {
        Some(Codec::Proto)
    } else if essence.eq_ignore_ascii_case(b"application/json") {
        Some(Codec::Json)
    } else {
        None
    }
}

/// PLACEHOLDER(core status.rs): the HTTP status → Status table (connect.md §4).
pub(crate) fn status_for_http(code: u16) -> Status {
    match code {
        400 => Status::InvalidArgument,
        401 => Status::Unauthenticated,
        403 => Status::PermissionDenied,
        404 => Status::NotFound,
        408 => Status::Timeout,
        429 => Status::Throttled,
        501 => Status::PermanentError,
        200..=299 => Status::Ok,
        500..=599 => Status::TemporaryError,
        100..=499 => Status::PermanentError,
        _ => Status::Unspecified,
    }
}

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

/// PLACEHOLDER(json.rs): proto3 JSON through prost-reflect.
pub(crate) mod json {
    use prost::Message;
    use prost_reflect::{DescriptorPool, DynamicMessage};
    use std::sync::OnceLock;

    fn pool() -> &'static DescriptorPool {
        static POOL: OnceLock<DescriptorPool> = OnceLock::new();
        POOL.get_or_init(|| {
            DescriptorPool::decode(dispatch_core::proto::FILE_DESCRIPTOR_SET).unwrap_or_default()
        })
    }

    /// Decodes the proto3 JSON of message `M`, whose full name is `name`.
    pub(crate) fn decode<M: Message + Default>(name: &str, json: &[u8]) -> Option<M> {
        let descriptor = pool().get_message_by_name(name)?;
        let mut de = serde_json::Deserializer::from_slice(json);
        let dynamic = DynamicMessage::deserialize(descriptor, &mut de).ok()?;
        de.end().ok()?;
        M::decode(dynamic.encode_to_vec().as_slice()).ok()
    }

    /// Encodes message `M`, whose full name is `name`, as proto3 JSON.
    pub(crate) fn encode<M: Message>(name: &str, message: &M) -> Option<Vec<u8>> {
        let descriptor = pool().get_message_by_name(name)?;
        let dynamic =
            DynamicMessage::decode(descriptor, message.encode_to_vec().as_slice()).ok()?;
        serde_json::to_vec(&dynamic).ok()
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

impl std::error::Error for KeyError {}
