//! Packing and unpacking `google.protobuf.Any`, the way the SDKs carry
//! function inputs, outputs and coroutine state.
//!
//! Type URLs: well-known and foreign types are packed with
//! `type.googleapis.com/<full name>`; `dispatch.sdk.*` messages (including
//! `dispatch.sdk.python.v1.Pickled`) with
//! `buf.build/stealthrocket/dispatch-proto/<full name>`, as dispatch-py does.
//! On input a type is resolved by the part after the last `/`, whatever the
//! prefix.
//!
//! Two levels:
//! * [`pack`] / [`unpack`] for any message type that implements
//!   [`AnyMessage`] (every protocol message, the well-known types, and your
//!   own messages with a one-line impl);
//! * [`AnyValue`] for the set of values dispatch-py produces and accepts
//!   (Empty, wrappers, Timestamp, Duration, Struct/Value/ListValue), with
//!   every other type (`Pickled`, any message) carried through unchanged.
//!
//! ```
//! use dispatch_core::any::{pack, unpack, AnyValue};
//!
//! let any = AnyValue::Int64(42).to_any();
//! assert_eq!(any.type_url, "type.googleapis.com/google.protobuf.Int64Value");
//! assert_eq!(any.value, [0x08, 0x2a]);
//! assert_eq!(unpack::<i64>(&any), Ok(42));
//! assert_eq!(AnyValue::from_any(&any), Ok(AnyValue::Int64(42)));
//! assert!(unpack::<String>(&any).is_err());
//!
//! let s = pack(&String::from("hi"));
//! assert_eq!(AnyValue::from_any(&s), Ok(AnyValue::String("hi".into())));
//! ```

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use dispatch_proto::journal::v1::Journal;
use dispatch_proto::sdk::python::v1::Pickled;
use dispatch_proto::sdk::v1::{
    Call, CallResult, DispatchRequest, DispatchResponse, Error, Exit, Poll, PollResult, RunRequest,
    RunResponse,
};
use prost::Message;
use prost_types::{Any, Duration, ListValue, Struct, Timestamp, Value};

/// Type URL prefix of well-known and foreign types.
pub const GOOGLE_TYPE_URL_PREFIX: &str = "type.googleapis.com/";
/// Type URL prefix dispatch-py uses for `dispatch.sdk.*` messages.
pub const DISPATCH_TYPE_URL_PREFIX: &str = "buf.build/stealthrocket/dispatch-proto/";

/// A protobuf message that knows its fully-qualified name, so it can be
/// packed into and unpacked from an `Any`.
///
/// Implemented for the protocol's messages, `Pickled`, and the well-known
/// types (prost represents `Empty` as `()` and the wrappers as `bool`, `i32`,
/// `i64`, `u32`, `u64`, `f32`, `f64`, `String` and `Vec<u8>`). For a message
/// of your own:
///
/// ```
/// # use dispatch_core::any::AnyMessage;
/// #[derive(Clone, PartialEq, prost::Message)]
/// struct Greeting {
///     #[prost(string, tag = "1")]
///     text: String,
/// }
/// impl AnyMessage for Greeting {
///     const FULL_NAME: &'static str = "example.v1.Greeting";
/// }
/// let any = dispatch_core::any::pack(&Greeting { text: "hi".into() });
/// assert_eq!(any.type_url, "type.googleapis.com/example.v1.Greeting");
/// ```
pub trait AnyMessage: Message + Default {
    /// The message's fully-qualified protobuf name, e.g. `dispatch.sdk.v1.Call`.
    const FULL_NAME: &'static str;
}

macro_rules! any_message {
    ($($ty:ty => $name:literal,)*) => {
        $(impl AnyMessage for $ty {
            const FULL_NAME: &'static str = $name;
        })*
    };
}

any_message! {
    () => "google.protobuf.Empty",
    bool => "google.protobuf.BoolValue",
    i32 => "google.protobuf.Int32Value",
    i64 => "google.protobuf.Int64Value",
    u32 => "google.protobuf.UInt32Value",
    u64 => "google.protobuf.UInt64Value",
    f32 => "google.protobuf.FloatValue",
    f64 => "google.protobuf.DoubleValue",
    String => "google.protobuf.StringValue",
    Vec<u8> => "google.protobuf.BytesValue",
    Timestamp => "google.protobuf.Timestamp",
    Duration => "google.protobuf.Duration",
    Struct => "google.protobuf.Struct",
    Value => "google.protobuf.Value",
    ListValue => "google.protobuf.ListValue",
    Any => "google.protobuf.Any",
    Call => "dispatch.sdk.v1.Call",
    CallResult => "dispatch.sdk.v1.CallResult",
    DispatchRequest => "dispatch.sdk.v1.DispatchRequest",
    DispatchResponse => "dispatch.sdk.v1.DispatchResponse",
    Error => "dispatch.sdk.v1.Error",
    Exit => "dispatch.sdk.v1.Exit",
    Poll => "dispatch.sdk.v1.Poll",
    PollResult => "dispatch.sdk.v1.PollResult",
    RunRequest => "dispatch.sdk.v1.RunRequest",
    RunResponse => "dispatch.sdk.v1.RunResponse",
    Pickled => "dispatch.sdk.python.v1.Pickled",
    Journal => "dispatch.journal.v1.Journal",
}

/// Why an `Any` could not be unpacked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AnyError {
    /// The `Any` holds another type than the one asked for.
    TypeMismatch {
        /// The full name that was expected.
        expected: &'static str,
    },
    /// The type matches but the payload does not decode as that type.
    InvalidPayload {
        /// The full name of the type.
        type_name: &'static str,
    },
}

impl fmt::Display for AnyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AnyError::TypeMismatch { expected } => {
                write!(f, "the Any does not hold a {expected}")
            }
            AnyError::InvalidPayload { type_name } => {
                write!(f, "the Any's payload is not a valid {type_name}")
            }
        }
    }
}

impl core::error::Error for AnyError {}

/// The full type name of a type URL: the part after the last `/`.
///
/// ```
/// use dispatch_core::any::type_name;
/// assert_eq!(
///     type_name("buf.build/stealthrocket/dispatch-proto/dispatch.sdk.python.v1.Pickled"),
///     "dispatch.sdk.python.v1.Pickled"
/// );
/// assert_eq!(type_name("google.protobuf.Empty"), "google.protobuf.Empty");
/// ```
pub fn type_name(type_url: &str) -> &str {
    type_url.rsplit('/').next().unwrap_or(type_url)
}

/// The type URL prefix a message of this full name is packed with.
pub fn type_url_prefix(full_name: &str) -> &'static str {
    if full_name.starts_with("dispatch.sdk.") {
        DISPATCH_TYPE_URL_PREFIX
    } else {
        GOOGLE_TYPE_URL_PREFIX
    }
}

/// The type URL a message of this full name is packed with.
pub fn type_url(full_name: &str) -> String {
    format!("{}{full_name}", type_url_prefix(full_name))
}

/// Packs an arbitrary encoded message under `full_name` (prefix chosen by
/// [`type_url_prefix`]).
pub fn pack_named(full_name: &str, message: &impl Message) -> Any {
    Any {
        type_url: type_url(full_name),
        value: message.encode_to_vec(),
    }
}

/// Packs a message.
pub fn pack<M: AnyMessage>(message: &M) -> Any {
    pack_named(M::FULL_NAME, message)
}

/// Whether the `Any` holds a `M` (by the type URL's last segment).
pub fn holds<M: AnyMessage>(any: &Any) -> bool {
    type_name(&any.type_url) == M::FULL_NAME
}

/// Unpacks a `M`: the type URL must name `M` (any prefix) and the payload
/// must decode.
pub fn unpack<M: AnyMessage>(any: &Any) -> Result<M, AnyError> {
    if !holds::<M>(any) {
        return Err(AnyError::TypeMismatch {
            expected: M::FULL_NAME,
        });
    }
    M::decode(any.value.as_slice()).map_err(|_| AnyError::InvalidPayload {
        type_name: M::FULL_NAME,
    })
}

/// A value as dispatch-py packs it into an `Any`, or any other packed
/// message, carried through unchanged.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum AnyValue {
    /// `google.protobuf.Empty` (Python `None`).
    Empty,
    /// `google.protobuf.BoolValue`.
    Bool(bool),
    /// `google.protobuf.Int32Value`.
    Int32(i32),
    /// `google.protobuf.Int64Value` (Python `int` within int64).
    Int64(i64),
    /// `google.protobuf.UInt32Value`.
    UInt32(u32),
    /// `google.protobuf.UInt64Value`.
    UInt64(u64),
    /// `google.protobuf.FloatValue`.
    Float(f32),
    /// `google.protobuf.DoubleValue` (Python `float`).
    Double(f64),
    /// `google.protobuf.StringValue` (Python `str`).
    String(String),
    /// `google.protobuf.BytesValue` (Python `bytes`).
    Bytes(Vec<u8>),
    /// `google.protobuf.Timestamp` (Python `datetime`).
    Timestamp(Timestamp),
    /// `google.protobuf.Duration` (Python `timedelta`).
    Duration(Duration),
    /// `google.protobuf.Value` (Python JSON-like lists and dicts).
    Value(Value),
    /// `google.protobuf.Struct`.
    Struct(Struct),
    /// `google.protobuf.ListValue`.
    List(ListValue),
    /// Any other type (`Pickled`, protocol messages, foreign messages),
    /// exactly as received.
    Other(Any),
}

impl AnyValue {
    /// Packs the value, with the type URL dispatch-py would use.
    pub fn to_any(&self) -> Any {
        match self {
            AnyValue::Empty => pack(&()),
            AnyValue::Bool(v) => pack(v),
            AnyValue::Int32(v) => pack(v),
            AnyValue::Int64(v) => pack(v),
            AnyValue::UInt32(v) => pack(v),
            AnyValue::UInt64(v) => pack(v),
            AnyValue::Float(v) => pack(v),
            AnyValue::Double(v) => pack(v),
            AnyValue::String(v) => pack(v),
            AnyValue::Bytes(v) => pack(v),
            AnyValue::Timestamp(v) => pack(v),
            AnyValue::Duration(v) => pack(v),
            AnyValue::Value(v) => pack(v),
            AnyValue::Struct(v) => pack(v),
            AnyValue::List(v) => pack(v),
            AnyValue::Other(any) => any.clone(),
        }
    }

    /// Unpacks a value. Known types must decode (else
    /// [`AnyError::InvalidPayload`]); unknown types become
    /// [`AnyValue::Other`].
    pub fn from_any(any: &Any) -> Result<AnyValue, AnyError> {
        fn decode<M: AnyMessage>(any: &Any) -> Result<M, AnyError> {
            M::decode(any.value.as_slice()).map_err(|_| AnyError::InvalidPayload {
                type_name: M::FULL_NAME,
            })
        }
        /// Field 1 of a varint wrapper `M`, as the `u64` its varint holds.
        fn varint<M: AnyMessage>(any: &Any) -> Result<u64, AnyError> {
            u64::decode(any.value.as_slice()).map_err(|_| AnyError::InvalidPayload {
                type_name: M::FULL_NAME,
            })
        }
        let value = match type_name(&any.type_url) {
            <() as AnyMessage>::FULL_NAME => {
                decode::<()>(any)?;
                AnyValue::Empty
            }
            // The five varint wrappers decode alike: field 1 as a varint,
            // then narrowed as protobuf narrows it (prost's own decoders do
            // exactly this cast), with one decoder for all five.
            <bool as AnyMessage>::FULL_NAME => AnyValue::Bool(varint::<bool>(any)? != 0),
            <i32 as AnyMessage>::FULL_NAME => AnyValue::Int32(varint::<i32>(any)? as i32),
            <i64 as AnyMessage>::FULL_NAME => AnyValue::Int64(varint::<i64>(any)? as i64),
            <u32 as AnyMessage>::FULL_NAME => AnyValue::UInt32(varint::<u32>(any)? as u32),
            <u64 as AnyMessage>::FULL_NAME => AnyValue::UInt64(varint::<u64>(any)?),
            <f32 as AnyMessage>::FULL_NAME => AnyValue::Float(decode(any)?),
            <f64 as AnyMessage>::FULL_NAME => AnyValue::Double(decode(any)?),
            <String as AnyMessage>::FULL_NAME => AnyValue::String(decode(any)?),
            <Vec<u8> as AnyMessage>::FULL_NAME => AnyValue::Bytes(decode(any)?),
            Timestamp::FULL_NAME => AnyValue::Timestamp(decode(any)?),
            Duration::FULL_NAME => AnyValue::Duration(decode(any)?),
            Value::FULL_NAME => AnyValue::Value(decode(any)?),
            Struct::FULL_NAME => AnyValue::Struct(decode(any)?),
            ListValue::FULL_NAME => AnyValue::List(decode(any)?),
            _ => AnyValue::Other(any.clone()),
        };
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    proptest::proptest! {
        /// The one varint decoder of `from_any` answers as prost's own
        /// decoder of each wrapper type, on any bytes.
        #[test]
        fn varint_wrappers_decode_as_prost_decodes_them(
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..24),
            field_one in proptest::num::u64::ANY,
        ) {
            fn same<M: AnyMessage + PartialEq + core::fmt::Debug>(
                bytes: &[u8],
                from: impl Fn(AnyValue) -> Option<M>,
            ) {
                let any = Any { type_url: type_url(M::FULL_NAME), value: bytes.to_vec() };
                let ours = AnyValue::from_any(&any).ok().map(|v| from(v).expect("the same kind"));
                assert_eq!(ours, M::decode(bytes).ok(), "{} from {bytes:02x?}", M::FULL_NAME);
            }
            let mut framed = u64::encode_to_vec(&field_one);
            framed.extend_from_slice(&bytes);
            for bytes in [&bytes[..], &framed[..]] {
                same::<bool>(bytes, |v| match v { AnyValue::Bool(b) => Some(b), _ => None });
                same::<i32>(bytes, |v| match v { AnyValue::Int32(n) => Some(n), _ => None });
                same::<i64>(bytes, |v| match v { AnyValue::Int64(n) => Some(n), _ => None });
                same::<u32>(bytes, |v| match v { AnyValue::UInt32(n) => Some(n), _ => None });
                same::<u64>(bytes, |v| match v { AnyValue::UInt64(n) => Some(n), _ => None });
            }
        }
    }

    #[test]
    fn dispatch_messages_use_the_buf_prefix() {
        let any = pack(&Pickled {
            pickled_value: vec![1, 2],
        });
        assert_eq!(
            any.type_url,
            "buf.build/stealthrocket/dispatch-proto/dispatch.sdk.python.v1.Pickled"
        );
        assert_eq!(
            pack(&Call::default()).type_url,
            "buf.build/stealthrocket/dispatch-proto/dispatch.sdk.v1.Call"
        );
        assert_eq!(
            pack(&Duration::default()).type_url,
            "type.googleapis.com/google.protobuf.Duration"
        );
    }

    #[test]
    fn unpack_accepts_either_prefix() {
        let mut any = pack(&Error {
            r#type: "T".into(),
            message: "m".into(),
            ..Default::default()
        });
        any.type_url = "type.googleapis.com/dispatch.sdk.v1.Error".into();
        assert_eq!(unpack::<Error>(&any).map(|e| e.r#type), Ok("T".into()));
        any.type_url = "dispatch.sdk.v1.Error".into();
        assert!(holds::<Error>(&any));
    }

    #[test]
    fn mismatches_and_bad_payloads_are_typed() {
        let any = pack(&true);
        assert_eq!(
            unpack::<u64>(&any),
            Err(AnyError::TypeMismatch {
                expected: "google.protobuf.UInt64Value"
            })
        );
        let broken = Any {
            type_url: type_url("google.protobuf.StringValue"),
            value: vec![0x0a, 0x05, b'a'],
        };
        assert_eq!(
            AnyValue::from_any(&broken),
            Err(AnyError::InvalidPayload {
                type_name: "google.protobuf.StringValue"
            })
        );
        assert_eq!(
            unpack::<String>(&broken),
            Err(AnyError::InvalidPayload {
                type_name: "google.protobuf.StringValue"
            })
        );
    }

    #[test]
    fn unknown_types_pass_through_unchanged() {
        let any = Any {
            type_url: "example.com/x.y.Z".into(),
            value: vec![0xff, 0x00],
        };
        let value = AnyValue::from_any(&any).unwrap();
        assert_eq!(value, AnyValue::Other(any.clone()));
        assert_eq!(value.to_any(), any);
    }

    #[test]
    fn every_value_round_trips() {
        let values = [
            AnyValue::Empty,
            AnyValue::Bool(true),
            AnyValue::Int32(-7),
            AnyValue::Int64(i64::MIN),
            AnyValue::UInt32(u32::MAX),
            AnyValue::UInt64(u64::MAX),
            AnyValue::Float(1.5),
            AnyValue::Double(-0.25),
            AnyValue::String("héllo".into()),
            AnyValue::Bytes(vec![0, 255]),
            AnyValue::Timestamp(Timestamp {
                seconds: 1_700_000_000,
                nanos: 5,
            }),
            AnyValue::Duration(Duration {
                seconds: 90,
                nanos: 500_000_000,
            }),
            AnyValue::Value(Value {
                kind: Some(prost_types::value::Kind::NumberValue(1.0)),
            }),
            AnyValue::Struct(Struct::default()),
            AnyValue::List(ListValue::default()),
        ];
        for value in values {
            assert_eq!(AnyValue::from_any(&value.to_any()), Ok(value));
        }
    }
}
