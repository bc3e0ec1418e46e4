//! Proto3 canonical JSON for every protocol message, both ways.
//!
//! The codec follows the [proto3 JSON mapping]: lowerCamelCase field names on
//! output (original snake_case names are also accepted on input), 64-bit
//! integers as decimal strings (numbers accepted on input), `bytes` as
//! standard base64 with padding (URL-safe accepted on input), enums by name
//! (numbers accepted on input), `Timestamp` as RFC 3339 and `Duration` as
//! `"1.500s"`, and `google.protobuf.Any` as `{"@type": url, ...}`.
//!
//! `Any` values are resolved through a type registry holding the well-known
//! types, every `dispatch.sdk.v1` type and `dispatch.sdk.python.v1.Pickled`.
//! A type URL resolves by the full name after its last `/`, so both prefixes
//! the protocol uses (`type.googleapis.com/` and
//! `buf.build/stealthrocket/dispatch-proto/`) work, and the URL is carried
//! through unchanged. An `Any` whose type is not in the registry cannot be
//! written as JSON: that is [`JsonError::UnknownAnyType`], never a panic.
//!
//! Three choices worth knowing:
//! * `google.protobuf.Empty` inside an `Any` is written without a `"value"`
//!   member (`{"@type": ".../google.protobuf.Empty"}`), as protobuf's upb and
//!   Python runtimes do; both forms are accepted on input.
//! * Unknown fields and unknown enum value names in the input are ignored, as
//!   Connect's JSON codec does, so a newer peer's additions do not break an
//!   older reader (an unknown enum name leaves the field at its default). An `Any` of an
//!   unknown type is still an error, since its bytes cannot be rebuilt.
//! * Decoding is byte-deterministic: a `Struct` (or `Value`, `ListValue`)
//!   packed in an `Any` is encoded with its keys in order, as protobuf's
//!   deterministic serializers write it, so the same JSON always gives the
//!   same `Any` bytes.
//!
//! ```
//! use dispatch_proto::sdk::v1::{RunResponse, Status};
//! use dispatch_std::json;
//!
//! let response = RunResponse { status: Status::Ok as i32, directive: None };
//! assert_eq!(json::to_json_string(&response)?, r#"{"status":"STATUS_OK"}"#);
//! let back: RunResponse = json::from_json_str(r#"{"status": 1}"#)?;
//! assert_eq!(back, response);
//! # Ok::<(), json::JsonError>(())
//! ```
//!
//! [proto3 JSON mapping]: https://protobuf.dev/programming-guides/json/

use core::fmt;
use std::sync::LazyLock;

use prost::{Message, Name};
use prost_reflect::{
    DescriptorPool, DeserializeOptions, DynamicMessage, Kind, MessageDescriptor, ReflectMessage,
    SerializeOptions,
};
use serde_json::{Map, Value};

/// Why a message could not be written as, or read from, proto3 JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JsonError {
    /// The type registry could not be built from the embedded descriptor set
    /// (a build defect, not an input error).
    Registry(String),
    /// The message type itself is not in the registry.
    UnknownMessage {
        /// The message's full protobuf name.
        full_name: String,
    },
    /// An `Any` names a type that is not in the registry, or its type URL has
    /// no `/`.
    UnknownAnyType {
        /// The `Any`'s type URL, as found.
        type_url: String,
    },
    /// An `Any`'s value does not decode as the type its URL names.
    InvalidAnyValue {
        /// The `Any`'s type URL.
        type_url: String,
        /// The protobuf decoder's explanation.
        reason: String,
    },
    /// The message has no proto3 JSON form, e.g. a `Timestamp` or `Duration`
    /// outside the range the mapping allows.
    Encode(String),
    /// The input is not JSON, or not a proto3 JSON encoding of the message.
    Decode(String),
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Registry(why) => write!(f, "the proto3 JSON type registry is unusable: {why}"),
            Self::UnknownMessage { full_name } => {
                write!(f, "message type {full_name} is not in the type registry")
            }
            Self::UnknownAnyType { type_url } => {
                write!(f, "Any type URL {type_url:?} names no type in the registry")
            }
            Self::InvalidAnyValue { type_url, reason } => {
                write!(
                    f,
                    "Any value of type {type_url:?} does not decode: {reason}"
                )
            }
            Self::Encode(why) => write!(f, "message has no proto3 JSON form: {why}"),
            Self::Decode(why) => write!(f, "invalid proto3 JSON: {why}"),
        }
    }
}

impl core::error::Error for JsonError {}

/// The registry: the well-known types (from prost-reflect's global pool) plus
/// every file of `dispatch_proto::FILE_DESCRIPTOR_SET`.
static REGISTRY: LazyLock<Result<DescriptorPool, String>> = LazyLock::new(|| {
    let mut pool = DescriptorPool::global();
    pool.decode_file_descriptor_set(dispatch_proto::FILE_DESCRIPTOR_SET)
        .map_err(|e| e.to_string())?;
    Ok(pool)
});

/// The type registry the codec resolves messages and `Any` type URLs with:
/// the well-known types, every `dispatch.sdk.v1` type and
/// `dispatch.sdk.python.v1.Pickled`. Built once, on first use.
///
/// ```
/// let registry = dispatch_std::json::registry()?;
/// assert!(registry.get_message_by_name("dispatch.sdk.python.v1.Pickled").is_some());
/// assert!(registry.get_message_by_name("google.protobuf.Struct").is_some());
/// # Ok::<(), dispatch_std::json::JsonError>(())
/// ```
pub fn registry() -> Result<&'static DescriptorPool, JsonError> {
    REGISTRY
        .as_ref()
        .map_err(|why| JsonError::Registry(why.clone()))
}

/// Writes `message` as a proto3 JSON value.
///
/// ```
/// use dispatch_proto::sdk::v1::Call;
///
/// let call = Call { correlation_id: 1 << 63, function: "f".into(), ..Call::default() };
/// let json = dispatch_std::json::to_json(&call)?;
/// assert_eq!(json, serde_json::json!({"correlationId": "9223372036854775808", "function": "f"}));
/// # Ok::<(), dispatch_std::json::JsonError>(())
/// ```
pub fn to_json<M: Message + Name>(message: &M) -> Result<Value, JsonError> {
    let pool = registry()?;
    let dynamic = to_dynamic(pool, message)?;
    let mut json = dynamic
        .serialize_with_options(serde_json::value::Serializer, &SerializeOptions::new())
        .map_err(|e| explain_encode_failure(pool, &dynamic, &e))?;
    conform_output(pool, &dynamic, &mut json, 0)?;
    Ok(json)
}

/// Writes `message` as compact proto3 JSON text (members in name order).
pub fn to_json_string<M: Message + Name>(message: &M) -> Result<String, JsonError> {
    let json = to_json(message)?;
    serde_json::to_string(&json).map_err(|e| JsonError::Encode(e.to_string()))
}

/// Reads a message of type `M` from a proto3 JSON value.
///
/// ```
/// use dispatch_proto::sdk::v1::Poll;
///
/// // Original field names, numbers as strings, and durations all parse.
/// let json = serde_json::json!({"max_wait": "5s", "maxResults": "10", "min_results": 1});
/// let poll: Poll = dispatch_std::json::from_json(&json)?;
/// assert_eq!((poll.max_results, poll.min_results), (10, 1));
/// assert_eq!(poll.max_wait.map(|d| d.seconds), Some(5));
/// # Ok::<(), dispatch_std::json::JsonError>(())
/// ```
pub fn from_json<M: Message + Default + Name>(json: &Value) -> Result<M, JsonError> {
    decode_value(json.clone())
}

/// Reads a message of type `M` from proto3 JSON text.
pub fn from_json_str<M: Message + Default + Name>(text: &str) -> Result<M, JsonError> {
    from_json_slice(text.as_bytes())
}

/// Reads a message of type `M` from proto3 JSON bytes (UTF-8), such as a
/// Connect `application/json` body.
pub fn from_json_slice<M: Message + Default + Name>(bytes: &[u8]) -> Result<M, JsonError> {
    let json: Value =
        serde_json::from_slice(bytes).map_err(|e| JsonError::Decode(e.to_string()))?;
    decode_value(json)
}

fn decode_value<M: Message + Default + Name>(mut json: Value) -> Result<M, JsonError> {
    let pool = registry()?;
    let descriptor = descriptor_of::<M>(pool)?;
    // Also reports an Any of an unknown type precisely, before the generic
    // deserializer would.
    conform_input(pool, &descriptor, &mut json, 0)?;
    let options = DeserializeOptions::new().deny_unknown_fields(false);
    let mut dynamic = DynamicMessage::deserialize_with_options(descriptor, &json, &options)
        .map_err(|e| JsonError::Decode(e.to_string()))?;
    canonicalize_any_payloads(pool, &mut dynamic, 0)?;
    dynamic
        .transcode_to::<M>()
        .map_err(|e| JsonError::Decode(e.to_string()))
}

fn descriptor_of<M: Name>(pool: &DescriptorPool) -> Result<MessageDescriptor, JsonError> {
    let full_name = M::full_name();
    pool.get_message_by_name(&full_name)
        .ok_or(JsonError::UnknownMessage { full_name })
}

fn to_dynamic<M: Message + Name>(
    pool: &DescriptorPool,
    message: &M,
) -> Result<DynamicMessage, JsonError> {
    let mut dynamic = DynamicMessage::new(descriptor_of::<M>(pool)?);
    dynamic
        .transcode_from(message)
        .map_err(|e| JsonError::Encode(e.to_string()))?;
    Ok(dynamic)
}

const ANY: &str = "google.protobuf.Any";
const EMPTY: &str = "google.protobuf.Empty";

/// The well-known types whose JSON form is not an object of their fields, and
/// which therefore sit under `"value"` inside an `Any`. (Empty is not one of
/// them for protobuf's own runtimes; see the module docs.)
fn has_special_json(full_name: &str) -> bool {
    matches!(
        full_name,
        "google.protobuf.Any"
            | "google.protobuf.Timestamp"
            | "google.protobuf.Duration"
            | "google.protobuf.FieldMask"
            | "google.protobuf.Struct"
            | "google.protobuf.Value"
            | "google.protobuf.ListValue"
            | "google.protobuf.DoubleValue"
            | "google.protobuf.FloatValue"
            | "google.protobuf.Int64Value"
            | "google.protobuf.UInt64Value"
            | "google.protobuf.Int32Value"
            | "google.protobuf.UInt32Value"
            | "google.protobuf.BoolValue"
            | "google.protobuf.StringValue"
            | "google.protobuf.BytesValue"
    )
}

fn resolve_type_url(pool: &DescriptorPool, type_url: &str) -> Result<MessageDescriptor, JsonError> {
    type_url
        .rsplit_once('/')
        .and_then(|(_, full_name)| pool.get_message_by_name(full_name))
        .ok_or_else(|| JsonError::UnknownAnyType {
            type_url: type_url.to_owned(),
        })
}

/// Deeper than any JSON serde_json parses (128) or prost decodes (100 messages).
const MAX_DEPTH: usize = 256;

/// Makes proto3 JSON input acceptable to prost-reflect's deserializer: an
/// `Any` holding `Empty` may come without a `"value"` member. Walks `json`
/// (the JSON of a `descriptor` message) field by field, and fails on an `Any`
/// whose type is unknown; every other malformation is left to the
/// deserializer.
fn conform_input(
    pool: &DescriptorPool,
    descriptor: &MessageDescriptor,
    json: &mut Value,
    depth: usize,
) -> Result<(), JsonError> {
    if depth > MAX_DEPTH {
        return Err(JsonError::Decode("messages nested too deeply".to_owned()));
    }
    let full_name = descriptor.full_name();
    if full_name != ANY && has_special_json(full_name) {
        return Ok(());
    }
    let Some(members) = json.as_object_mut() else {
        return Ok(());
    };
    let mut descriptor = descriptor.clone();
    if full_name == ANY {
        let Some(type_url) = members.get("@type").and_then(Value::as_str) else {
            return Ok(());
        };
        let inner = resolve_type_url(pool, type_url)?;
        if inner.full_name() == EMPTY && !members.contains_key("value") {
            members.insert("value".to_owned(), Value::Object(Map::new()));
        }
        if has_special_json(inner.full_name()) || inner.full_name() == EMPTY {
            return match members.get_mut("value") {
                Some(value) => conform_input(pool, &inner, value, depth + 1),
                None => Ok(()),
            };
        }
        // The inner message's fields sit beside "@type", which names no field.
        descriptor = inner;
    }
    for (key, value) in members.iter_mut() {
        let Some(field) = descriptor
            .get_field_by_json_name(key)
            .or_else(|| descriptor.get_field_by_name(key))
        else {
            continue;
        };
        let Kind::Message(field_type) = field.kind() else {
            continue;
        };
        if field.is_map() {
            let Kind::Message(value_type) = field_type.map_entry_value_field().kind() else {
                continue;
            };
            for entry in value
                .as_object_mut()
                .into_iter()
                .flat_map(|e| e.values_mut())
            {
                conform_input(pool, &value_type, entry, depth + 1)?;
            }
        } else if field.is_list() {
            for item in value.as_array_mut().into_iter().flatten() {
                conform_input(pool, &field_type, item, depth + 1)?;
            }
        } else {
            conform_input(pool, &field_type, value, depth + 1)?;
        }
    }
    Ok(())
}

/// Brings prost-reflect's JSON output of `message` in line with protobuf's
/// own runtimes: an `Any` holding `Empty` has no `"value"` member, and a
/// non-finite `DoubleValue`/`FloatValue` is `"NaN"`, `"Infinity"` or
/// `"-Infinity"` (serde_json would otherwise write `null`). Walks the message
/// and its JSON side by side.
fn conform_output(
    pool: &DescriptorPool,
    message: &DynamicMessage,
    json: &mut Value,
    depth: usize,
) -> Result<(), JsonError> {
    if depth > MAX_DEPTH {
        return Err(JsonError::Encode("messages nested too deeply".to_owned()));
    }
    let descriptor = message.descriptor();
    match descriptor.full_name() {
        ANY => {
            let (inner, payload) = unpack_any(pool, message)?;
            let Some(members) = json.as_object_mut() else {
                return Ok(());
            };
            if inner.full_name() == EMPTY {
                members.remove("value");
                Ok(())
            } else if has_special_json(inner.full_name()) {
                match members.get_mut("value") {
                    Some(value) => conform_output(pool, &payload, value, depth + 1),
                    None => Ok(()),
                }
            } else {
                conform_output_fields(pool, &payload, members, depth)
            }
        }
        "google.protobuf.DoubleValue" | "google.protobuf.FloatValue" => {
            let number = message
                .get_field_by_number(1)
                .and_then(|v| match v.as_ref() {
                    prost_reflect::Value::F64(x) => Some(*x),
                    prost_reflect::Value::F32(x) => Some(f64::from(*x)),
                    _ => None,
                });
            if let Some(number) = number.filter(|n| !n.is_finite()) {
                *json = Value::String(non_finite_json(number).to_owned());
            }
            Ok(())
        }
        name if has_special_json(name) => Ok(()),
        _ => match json.as_object_mut() {
            Some(members) => conform_output_fields(pool, message, members, depth),
            None => Ok(()),
        },
    }
}

fn conform_output_fields(
    pool: &DescriptorPool,
    message: &DynamicMessage,
    members: &mut Map<String, Value>,
    depth: usize,
) -> Result<(), JsonError> {
    for (field, value) in message.fields() {
        let Some(json) = members.get_mut(field.json_name()) else {
            continue;
        };
        match value {
            prost_reflect::Value::Message(inner) => conform_output(pool, inner, json, depth + 1)?,
            prost_reflect::Value::List(items) => {
                let json_items = json.as_array_mut().into_iter().flatten();
                for (item, json_item) in items.iter().zip(json_items) {
                    if let prost_reflect::Value::Message(inner) = item {
                        conform_output(pool, inner, json_item, depth + 1)?;
                    }
                }
            }
            prost_reflect::Value::Map(entries) => {
                let Some(json_entries) = json.as_object_mut() else {
                    continue;
                };
                for (key, entry) in entries {
                    let prost_reflect::Value::Message(inner) = entry else {
                        continue;
                    };
                    if let Some(json_entry) = json_entries.get_mut(&map_key_json(key)) {
                        conform_output(pool, inner, json_entry, depth + 1)?;
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// The JSON name of a non-finite floating-point number.
fn non_finite_json(number: f64) -> &'static str {
    if number.is_nan() {
        "NaN"
    } else if number.is_sign_positive() {
        "Infinity"
    } else {
        "-Infinity"
    }
}

/// A map key as proto3 JSON writes it: always a string.
fn map_key_json(key: &prost_reflect::MapKey) -> String {
    match key {
        prost_reflect::MapKey::Bool(b) => b.to_string(),
        prost_reflect::MapKey::I32(n) => n.to_string(),
        prost_reflect::MapKey::I64(n) => n.to_string(),
        prost_reflect::MapKey::U32(n) => n.to_string(),
        prost_reflect::MapKey::U64(n) => n.to_string(),
        prost_reflect::MapKey::String(text) => text.clone(),
    }
}

/// The descriptor an `Any` names, and its value decoded as that type.
fn unpack_any(
    pool: &DescriptorPool,
    any: &DynamicMessage,
) -> Result<(MessageDescriptor, DynamicMessage), JsonError> {
    let any: prost_types::Any = any
        .transcode_to()
        .map_err(|e| JsonError::Encode(e.to_string()))?;
    let inner = resolve_type_url(pool, &any.type_url)?;
    let payload = DynamicMessage::decode(inner.clone(), any.value.as_slice()).map_err(|e| {
        JsonError::InvalidAnyValue {
            type_url: any.type_url.clone(),
            reason: e.to_string(),
        }
    })?;
    Ok((inner, payload))
}

/// Re-encodes the payload of every `Any` in `message`, at any depth, so that
/// the same JSON always gives the same bytes. prost-reflect holds a map (the
/// fields of a `Struct`) in a hash map and encodes it in no fixed order; a
/// `Struct`, `Value` or `ListValue` payload is re-encoded through prost-types,
/// whose maps are ordered by key, and any other payload with message fields
/// after its own `Any`s are. (A map in a type added to the global pool by the
/// application keeps prost-reflect's order.)
fn canonicalize_any_payloads(
    pool: &DescriptorPool,
    message: &mut DynamicMessage,
    depth: usize,
) -> Result<(), JsonError> {
    if depth > MAX_DEPTH {
        return Err(JsonError::Decode("messages nested too deeply".to_owned()));
    }
    if message.descriptor().full_name() != ANY {
        for (_, value) in message.fields_mut() {
            canonicalize_any_payloads_in(pool, value, depth + 1)?;
        }
        return Ok(());
    }
    let (Some(type_url), Some(bytes)) = (
        message
            .get_field_by_number(1)
            .and_then(|url| url.as_str().map(str::to_owned)),
        message
            .get_field_by_number(2)
            .and_then(|value| value.as_bytes().cloned()),
    ) else {
        return Ok(());
    };
    let inner = resolve_type_url(pool, &type_url)?;
    let invalid = |e: prost::DecodeError| JsonError::InvalidAnyValue {
        type_url: type_url.clone(),
        reason: e.to_string(),
    };
    let canonical = match inner.full_name() {
        "google.protobuf.Struct" => reencode::<prost_types::Struct>(bytes).map_err(invalid)?,
        "google.protobuf.Value" => reencode::<prost_types::Value>(bytes).map_err(invalid)?,
        "google.protobuf.ListValue" => {
            reencode::<prost_types::ListValue>(bytes).map_err(invalid)?
        }
        // Scalars only (wrappers, Timestamp, Pickled, ...): already fixed.
        name if name != ANY
            && !inner
                .fields()
                .any(|field| matches!(field.kind(), Kind::Message(_))) =>
        {
            return Ok(());
        }
        _ => {
            let mut payload = DynamicMessage::decode(inner, bytes).map_err(invalid)?;
            canonicalize_any_payloads(pool, &mut payload, depth + 1)?;
            payload.encode_to_vec()
        }
    };
    message.set_field_by_number(2, prost_reflect::Value::Bytes(canonical.into()));
    Ok(())
}

/// `bytes` decoded as `M` and encoded again, in prost's field and key order.
fn reencode<M: Message + Default>(
    bytes: prost::bytes::Bytes,
) -> Result<Vec<u8>, prost::DecodeError> {
    Ok(M::decode(bytes)?.encode_to_vec())
}

fn canonicalize_any_payloads_in(
    pool: &DescriptorPool,
    value: &mut prost_reflect::Value,
    depth: usize,
) -> Result<(), JsonError> {
    match value {
        prost_reflect::Value::Message(message) => canonicalize_any_payloads(pool, message, depth),
        prost_reflect::Value::List(items) => items
            .iter_mut()
            .try_for_each(|item| canonicalize_any_payloads_in(pool, item, depth)),
        prost_reflect::Value::Map(entries) => entries
            .values_mut()
            .try_for_each(|entry| canonicalize_any_payloads_in(pool, entry, depth)),
        _ => Ok(()),
    }
}

/// Turns a serializer failure into the most precise error: an `Any` that does
/// not resolve or decode, else the serializer's own message.
fn explain_encode_failure(
    pool: &DescriptorPool,
    message: &DynamicMessage,
    error: &serde_json::Error,
) -> JsonError {
    find_unusable_any(pool, message, 0).unwrap_or_else(|| JsonError::Encode(error.to_string()))
}

fn find_unusable_any(
    pool: &DescriptorPool,
    message: &DynamicMessage,
    depth: usize,
) -> Option<JsonError> {
    if depth > MAX_DEPTH {
        return None;
    }
    if message.descriptor().full_name() == ANY {
        return match unpack_any(pool, message) {
            Ok((_, payload)) => find_unusable_any(pool, &payload, depth + 1),
            Err(error) => Some(error),
        };
    }
    message
        .fields()
        .find_map(|(_, value)| find_unusable_any_in(pool, value, depth + 1))
}

fn find_unusable_any_in(
    pool: &DescriptorPool,
    value: &prost_reflect::Value,
    depth: usize,
) -> Option<JsonError> {
    match value {
        prost_reflect::Value::Message(message) => find_unusable_any(pool, message, depth),
        prost_reflect::Value::List(items) => items
            .iter()
            .find_map(|item| find_unusable_any_in(pool, item, depth)),
        prost_reflect::Value::Map(entries) => entries
            .values()
            .find_map(|entry| find_unusable_any_in(pool, entry, depth)),
        _ => None,
    }
}

/// This module's codec, lent to the core's Run handler so that endpoints
/// take and answer `application/json`
/// ([`RunRpc::with_json`](dispatch_core::run::RunRpc::with_json)).
#[derive(Clone, Copy, Debug, Default)]
pub struct ProtoJson;

impl dispatch_core::run::JsonCodec for ProtoJson {
    fn decode_run_request(&self, body: &[u8]) -> Option<dispatch_proto::sdk::v1::RunRequest> {
        from_json_slice(body).ok()
    }

    fn encode_run_response(
        &self,
        response: &dispatch_proto::sdk::v1::RunResponse,
        out: &mut Vec<u8>,
    ) -> Result<(), String> {
        let text = to_json_string(response).map_err(|error| error.to_string())?;
        out.extend_from_slice(text.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use dispatch_proto::sdk::python::v1::Pickled;
    use dispatch_proto::sdk::v1::{
        Call, CallResult, Error, Exit, PollResult, RunRequest, RunResponse, Status, run_request,
        run_response,
    };
    use prost_types::Any;
    use serde_json::json;

    use super::*;

    fn any_of<M: Message + Name>(message: &M, type_url: &str) -> Any {
        Any {
            type_url: type_url.to_owned(),
            value: message.encode_to_vec(),
        }
    }

    #[test]
    fn registry_holds_every_type_the_protocol_packs() {
        let pool = registry().unwrap();
        for name in [
            "google.protobuf.Any",
            "google.protobuf.Empty",
            "google.protobuf.BoolValue",
            "google.protobuf.Int32Value",
            "google.protobuf.Int64Value",
            "google.protobuf.UInt32Value",
            "google.protobuf.UInt64Value",
            "google.protobuf.FloatValue",
            "google.protobuf.DoubleValue",
            "google.protobuf.StringValue",
            "google.protobuf.BytesValue",
            "google.protobuf.Timestamp",
            "google.protobuf.Duration",
            "google.protobuf.Struct",
            "google.protobuf.Value",
            "google.protobuf.ListValue",
            "dispatch.sdk.v1.Call",
            "dispatch.sdk.v1.CallResult",
            "dispatch.sdk.v1.DispatchRequest",
            "dispatch.sdk.v1.DispatchResponse",
            "dispatch.sdk.v1.Error",
            "dispatch.sdk.v1.Exit",
            "dispatch.sdk.v1.Poll",
            "dispatch.sdk.v1.PollResult",
            "dispatch.sdk.v1.RunRequest",
            "dispatch.sdk.v1.RunResponse",
            "dispatch.sdk.python.v1.Pickled",
        ] {
            assert!(pool.get_message_by_name(name).is_some(), "{name} missing");
        }
        assert!(pool.get_enum_by_name("dispatch.sdk.v1.Status").is_some());
    }

    #[test]
    fn both_type_url_prefixes_round_trip_unchanged() {
        let pickled = Pickled {
            pickled_value: vec![0x80, 0x04, 0x4e, 0x2e],
        };
        for prefix in [
            "type.googleapis.com/",
            "buf.build/stealthrocket/dispatch-proto/",
        ] {
            let url = format!("{prefix}dispatch.sdk.python.v1.Pickled");
            let request = RunRequest {
                function: "f".into(),
                directive: Some(run_request::Directive::Input(any_of(&pickled, &url))),
                ..RunRequest::default()
            };
            let json = to_json(&request).unwrap();
            assert_eq!(
                json,
                json!({"function": "f", "input": {"@type": url, "pickledValue": "gAROLg=="}})
            );
            assert_eq!(from_json::<RunRequest>(&json).unwrap(), request);
        }
    }

    #[test]
    fn any_of_an_unknown_type_is_a_typed_error_both_ways() {
        let url = "type.googleapis.com/example.Unknown";
        let result = CallResult {
            output: Some(Any {
                type_url: url.into(),
                value: vec![1, 2, 3],
            }),
            ..CallResult::default()
        };
        let expected = JsonError::UnknownAnyType {
            type_url: url.into(),
        };
        assert_eq!(to_json(&result), Err(expected.clone()));
        let input = json!({"output": {"@type": url, "x": 1}});
        assert_eq!(from_json::<CallResult>(&input), Err(expected));
        // Nested inside another Any, and a URL without any '/'.
        let outer = any_of(&result, "type.googleapis.com/dispatch.sdk.v1.CallResult");
        assert!(matches!(
            to_json(&outer),
            Err(JsonError::UnknownAnyType { .. })
        ));
        let no_slash = Any {
            type_url: "dispatch.sdk.v1.Error".into(),
            value: vec![],
        };
        assert!(matches!(
            to_json(&no_slash),
            Err(JsonError::UnknownAnyType { .. })
        ));
    }

    #[test]
    fn undecodable_any_value_is_a_typed_error() {
        let any = Any {
            type_url: "type.googleapis.com/dispatch.sdk.v1.Error".into(),
            value: vec![0x0a, 0x05, b'x'],
        };
        assert!(matches!(
            to_json(&any),
            Err(JsonError::InvalidAnyValue { .. })
        ));
    }

    #[test]
    fn empty_inside_any_has_no_value_member_and_parses_either_way() {
        let empty = Any {
            type_url: "type.googleapis.com/google.protobuf.Empty".into(),
            value: vec![],
        };
        assert_eq!(
            to_json(&empty).unwrap(),
            json!({"@type": "type.googleapis.com/google.protobuf.Empty"})
        );
        for input in [
            json!({"@type": "type.googleapis.com/google.protobuf.Empty"}),
            json!({"@type": "type.googleapis.com/google.protobuf.Empty", "value": {}}),
        ] {
            assert_eq!(from_json::<Any>(&input).unwrap(), empty);
        }
    }

    #[test]
    fn enums_by_name_or_number_and_unknown_numbers_kept() {
        let json = json!({"status": "STATUS_NOT_FOUND"});
        let by_name: RunResponse = from_json(&json).unwrap();
        assert_eq!(by_name.status, Status::NotFound as i32);
        let by_number: RunResponse = from_json(&json!({"status": 15})).unwrap();
        assert_eq!(by_number, by_name);
        let unknown = RunResponse {
            status: 99,
            directive: None,
        };
        assert_eq!(to_json(&unknown).unwrap(), json!({"status": 99}));
        assert_eq!(
            from_json::<RunResponse>(&json!({"status": 99})).unwrap(),
            unknown
        );
    }

    #[test]
    fn both_field_name_styles_and_unknown_fields_are_accepted() {
        let expected = Error {
            r#type: "T".into(),
            message: "m".into(),
            value: vec![0xff],
            traceback: vec![],
        };
        for input in [
            json!({"type": "T", "message": "m", "value": "/w=="}),
            json!({"type": "T", "message": "m", "value": "_w"}),
            json!({"type": "T", "message": "m", "value": "/w==", "futureField": 1}),
        ] {
            assert_eq!(from_json::<Error>(&input).unwrap(), expected);
        }
        let exit = json!({"tail_call": {"correlation_id": "7", "function": "f"}});
        let parsed: Exit = from_json(&exit).unwrap();
        assert_eq!(
            parsed.tail_call,
            Some(Call {
                correlation_id: 7,
                function: "f".into(),
                ..Call::default()
            })
        );
    }

    #[test]
    fn timestamps_durations_and_text_forms() {
        let request = RunRequest {
            creation_time: Some(prost_types::Timestamp {
                seconds: 1_700_000_000,
                nanos: 500_000_000,
            }),
            ..RunRequest::default()
        };
        let text = to_json_string(&request).unwrap();
        assert_eq!(text, r#"{"creationTime":"2023-11-14T22:13:20.500Z"}"#);
        assert_eq!(from_json_str::<RunRequest>(&text).unwrap(), request);
        assert_eq!(
            from_json_slice::<RunRequest>(b"{\"creationTime\":\"2023-11-14T23:13:20.5+01:00\"}")
                .unwrap(),
            request
        );
    }

    #[test]
    fn malformed_input_is_a_decode_error() {
        for text in [
            "",
            "[",
            "[]",
            "{\"exit\": {}, \"poll\": {}}",
            "{\"exit\": {\"result\": {\"correlationId\": \"x\"}}}",
        ] {
            let result = from_json_str::<RunResponse>(text);
            assert!(
                matches!(result, Err(JsonError::Decode(_))),
                "{text}: {result:?}"
            );
        }
        // Like a field name, an enum value name from a newer peer is ignored.
        let newer: RunResponse = from_json_str("{\"status\": \"STATUS_NOPE\"}").unwrap();
        assert_eq!(newer, RunResponse::default());
        let response = RunResponse {
            status: 1,
            directive: Some(run_response::Directive::Exit(Exit::default())),
        };
        assert_eq!(
            to_json(&response).unwrap(),
            json!({"status": "STATUS_OK", "exit": {}})
        );
    }

    #[test]
    fn out_of_range_timestamp_is_an_encode_error() {
        let request = RunRequest {
            creation_time: Some(prost_types::Timestamp {
                seconds: i64::MAX,
                nanos: 0,
            }),
            ..RunRequest::default()
        };
        assert!(matches!(to_json(&request), Err(JsonError::Encode(_))));
    }

    #[test]
    fn typed_state_and_legacy_state_both_serialize() {
        let legacy = PollResult {
            state: Some(dispatch_proto::sdk::v1::poll_result::State::CoroutineState(
                vec![],
            )),
            ..PollResult::default()
        };
        assert_eq!(to_json(&legacy).unwrap(), json!({"coroutineState": ""}));
        assert_eq!(
            from_json::<PollResult>(&json!({"coroutine_state": ""})).unwrap(),
            legacy
        );
    }

    #[test]
    fn non_finite_wrapped_floats_are_named() {
        for (number, name) in [
            (f64::NAN, "NaN"),
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
        ] {
            // Inside an Any, as dispatch-py packs a Python float.
            let any = any_of(&number, "type.googleapis.com/google.protobuf.DoubleValue");
            let json = to_json(&any).unwrap();
            assert_eq!(json["value"], json!(name));
            assert_eq!(from_json::<Any>(&json).unwrap(), any);
            // On its own, and as a FloatValue.
            assert_eq!(to_json(&number).unwrap(), json!(name));
            assert_eq!(to_json(&(number as f32)).unwrap(), json!(name));
        }
        assert_eq!(to_json(&2.5_f64).unwrap(), json!(2.5));
    }

    #[test]
    fn doubles_read_back_bit_exact() {
        // Found by the proto_json fuzz target: serde_json's default number
        // parser misrounds this text by one ulp (…776e65), so a document
        // written by to_json_string read back as a different double.
        for text in ["2.0777777777777778e+65", "2.2250738585072014e-308", "0.1"] {
            let expected: f64 = text.parse().unwrap();
            let wrapped = format!(
                r#"{{"@type":"type.googleapis.com/google.protobuf.DoubleValue","value":{text}}}"#
            );
            let any: Any = from_json_str(&wrapped).unwrap();
            let decoded = f64::decode(any.value.as_slice()).unwrap();
            assert_eq!(decoded.to_bits(), expected.to_bits(), "{text}");
            let again: Any = from_json_str(&to_json_string(&any).unwrap()).unwrap();
            assert_eq!(again, any, "{text}");
        }
    }

    #[test]
    fn a_struct_in_an_any_decodes_to_the_same_bytes_every_time() {
        let fields: Vec<String> = (0..32).map(|i| format!(r#""k{i}":{i}"#)).collect();
        let struct_json = format!(r#"{{{}}}"#, fields.join(","));
        let inner = format!(
            r#"{{"@type":"type.googleapis.com/google.protobuf.Struct","value":{struct_json}}}"#
        );
        // In a Call's input, in an Any inside an Any, and as a Value.
        let documents = [
            format!(r#"{{"function":"f","input":{inner}}}"#),
            format!(
                r#"{{"function":"f","input":{{"@type":"type.googleapis.com/google.protobuf.Any","value":{inner}}}}}"#
            ),
            format!(
                r#"{{"function":"f","input":{{"@type":"type.googleapis.com/google.protobuf.Value","value":{{"a":{struct_json},"b":[{struct_json}]}}}}}}"#
            ),
        ];
        for document in documents {
            let first: Call = from_json_str(&document).unwrap();
            for _ in 0..8 {
                let again: Call = from_json_str(&document).unwrap();
                assert_eq!(again.encode_to_vec(), first.encode_to_vec(), "{document}");
            }
            // And the bytes read back as the JSON they came from.
            let back: Call = from_json_str(&to_json_string(&first).unwrap()).unwrap();
            assert_eq!(back, first);
        }
        // The keys come in order, as protobuf's deterministic encoders write them.
        let call: Call = from_json_str(&format!(r#"{{"input":{inner}}}"#)).unwrap();
        let expected = prost_types::Struct::decode(call.input.unwrap().value.as_slice()).unwrap();
        let keys: Vec<&String> = expected.fields.keys().collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
    }

    #[test]
    fn only_the_well_known_struct_types_hold_maps() {
        // canonicalize_any_payloads relies on it: any other map, or a Struct
        // field outside those types, would keep a hash map's order.
        let pool = registry().unwrap();
        let struct_types = [
            "google.protobuf.Struct",
            "google.protobuf.Value",
            "google.protobuf.ListValue",
        ];
        for message in pool.all_messages() {
            let name = message.full_name();
            if struct_types.contains(&name) || name == "google.protobuf.Struct.FieldsEntry" {
                continue;
            }
            for field in message.fields() {
                let Kind::Message(field_type) = field.kind() else {
                    continue;
                };
                assert!(
                    !field.is_map() && !struct_types.contains(&field_type.full_name()),
                    "{} has a map or Struct field",
                    field.full_name()
                );
            }
        }
    }

    #[test]
    fn wrappers_nested_in_any_inside_any() {
        let inner = any_of(&7_i64, "type.googleapis.com/google.protobuf.Int64Value");
        let outer = any_of(&inner, "type.googleapis.com/google.protobuf.Any");
        let json = to_json(&outer).unwrap();
        assert_eq!(
            json,
            json!({"@type": "type.googleapis.com/google.protobuf.Any",
                   "value": {"@type": "type.googleapis.com/google.protobuf.Int64Value", "value": "7"}})
        );
        assert_eq!(from_json::<Any>(&json).unwrap(), outer);
    }

    #[test]
    fn errors_display_their_cause() {
        let error = JsonError::UnknownAnyType {
            type_url: "x/y".into(),
        };
        assert_eq!(
            error.to_string(),
            "Any type URL \"x/y\" names no type in the registry"
        );
    }
}
