//! The Connect unary protocol, sans-IO: codes, the HTTP tables both ways,
//! error JSON bodies, response classification, and the request rules a
//! client and a server need (content types, `Connect-Protocol-Version`,
//! `Connect-Timeout-Ms`).
//!
//! Everything here works without a heap. Error bodies are written into a
//! caller's `&mut [u8]` and decoded into fixed-capacity [`heapless::String`]s,
//! with `details` values decoded into a caller's buffer.
//!
//! ```
//! use dispatch_core::connect::{Code, ErrorBody, decode_error_json};
//!
//! let mut out = [0u8; 128];
//! let n = ErrorBody::new(Code::NotFound, "function \"x\" does not exist")
//!     .encode_json(&mut out)?;
//! assert_eq!(
//!     &out[..n],
//!     br#"{"code":"not_found","message":"function \"x\" does not exist"}"#
//! );
//!
//! let mut details = [0u8; 0];
//! let decoded = decode_error_json::<64>(&out[..n], &mut details)?;
//! assert_eq!(decoded.code, Some(Code::NotFound));
//! assert_eq!(decoded.message.as_str(), "function \"x\" does not exist");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use core::fmt;

use base64ct::{Base64, Base64Unpadded, Encoding};
use serde::de::{self, SeqAccess, Visitor};
use serde::ser::{SerializeSeq, SerializeStruct};
use serde::{Deserialize, Serialize, Serializer};
use serde_json_core::str::EscapedStr;

/// Path of the `DispatchService.Dispatch` RPC (after any routing prefix).
pub const DISPATCH_PATH: &str = "/dispatch.sdk.v1.DispatchService/Dispatch";
/// Path of the `FunctionService.Run` RPC (after any routing prefix).
pub const RUN_PATH: &str = "/dispatch.sdk.v1.FunctionService/Run";

/// `Content-Type` header name (lower case, as HTTP/2 sends it).
pub const CONTENT_TYPE_HEADER: &str = "content-type";
/// `Content-Encoding` header name.
pub const CONTENT_ENCODING_HEADER: &str = "content-encoding";
/// `Accept-Encoding` header name.
pub const ACCEPT_ENCODING_HEADER: &str = "accept-encoding";
/// `Connect-Protocol-Version` header name.
pub const PROTOCOL_VERSION_HEADER: &str = "connect-protocol-version";
/// `Connect-Timeout-Ms` header name.
pub const TIMEOUT_HEADER: &str = "connect-timeout-ms";
/// The only `Connect-Protocol-Version` value there is.
pub const PROTOCOL_VERSION: &str = "1";

/// Content type of binary protobuf bodies.
pub const CONTENT_TYPE_PROTO: &str = "application/proto";
/// Content type of proto3 JSON bodies, and of every error body.
pub const CONTENT_TYPE_JSON: &str = "application/json";

/// The largest `Connect-Timeout-Ms` value (10 ASCII digits).
pub const MAX_TIMEOUT_MS: u64 = 9_999_999_999;

/// How many `details` entries [`decode_error_json`] keeps; later ones are counted.
pub const MAX_DETAILS: usize = 4;
/// Capacity of a decoded detail's `type` (a fully-qualified protobuf name).
pub const DETAIL_TYPE_CAPACITY: usize = 128;

/// A Connect error code: the 16 codes of the protocol (gRPC numbers 1..=16).
///
/// `Unknown` is itself one of them: it is what a client reports when it
/// cannot tell better (see [`Code::from_http_status`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Code {
    /// `canceled` (1): the operation was canceled, typically by the caller.
    Canceled,
    /// `unknown` (2): an error of no other kind.
    Unknown,
    /// `invalid_argument` (3): the request is invalid whatever the system state.
    InvalidArgument,
    /// `deadline_exceeded` (4): the deadline passed before completion.
    DeadlineExceeded,
    /// `not_found` (5): a requested entity does not exist.
    NotFound,
    /// `already_exists` (6): the entity to create already exists.
    AlreadyExists,
    /// `permission_denied` (7): the caller may not do this.
    PermissionDenied,
    /// `resource_exhausted` (8): a quota or resource ran out.
    ResourceExhausted,
    /// `failed_precondition` (9): the system is not in the state required.
    FailedPrecondition,
    /// `aborted` (10): the operation was aborted (concurrency conflict).
    Aborted,
    /// `out_of_range` (11): the operation went past a valid range.
    OutOfRange,
    /// `unimplemented` (12): the operation is not implemented or supported.
    Unimplemented,
    /// `internal` (13): an invariant of the system is broken.
    Internal,
    /// `unavailable` (14): the service is unavailable for now; retrying may help.
    Unavailable,
    /// `data_loss` (15): unrecoverable data loss or corruption.
    DataLoss,
    /// `unauthenticated` (16): no valid authentication credentials.
    Unauthenticated,
}

/// Every code, in gRPC number order.
const ALL_CODES: [Code; 16] = [
    Code::Canceled,
    Code::Unknown,
    Code::InvalidArgument,
    Code::DeadlineExceeded,
    Code::NotFound,
    Code::AlreadyExists,
    Code::PermissionDenied,
    Code::ResourceExhausted,
    Code::FailedPrecondition,
    Code::Aborted,
    Code::OutOfRange,
    Code::Unimplemented,
    Code::Internal,
    Code::Unavailable,
    Code::DataLoss,
    Code::Unauthenticated,
];

impl Code {
    /// Every code, in gRPC number order.
    pub const ALL: [Code; 16] = ALL_CODES;

    /// The snake_case name used in error JSON, e.g. `"invalid_argument"`.
    pub const fn name(self) -> &'static str {
        match self {
            Code::Canceled => "canceled",
            Code::Unknown => "unknown",
            Code::InvalidArgument => "invalid_argument",
            Code::DeadlineExceeded => "deadline_exceeded",
            Code::NotFound => "not_found",
            Code::AlreadyExists => "already_exists",
            Code::PermissionDenied => "permission_denied",
            Code::ResourceExhausted => "resource_exhausted",
            Code::FailedPrecondition => "failed_precondition",
            Code::Aborted => "aborted",
            Code::OutOfRange => "out_of_range",
            Code::Unimplemented => "unimplemented",
            Code::Internal => "internal",
            Code::Unavailable => "unavailable",
            Code::DataLoss => "data_loss",
            Code::Unauthenticated => "unauthenticated",
        }
    }

    /// The code named `name` (exact snake_case match), if any.
    ///
    /// ```
    /// use dispatch_core::connect::Code;
    /// assert_eq!(Code::from_name("not_found"), Some(Code::NotFound));
    /// assert_eq!(Code::from_name("NOT_FOUND"), None);
    /// ```
    pub fn from_name(name: &str) -> Option<Code> {
        ALL_CODES.into_iter().find(|code| code.name() == name)
    }

    /// The gRPC status number, 1 (`canceled`) to 16 (`unauthenticated`).
    pub const fn grpc_number(self) -> u32 {
        match self {
            Code::Canceled => 1,
            Code::Unknown => 2,
            Code::InvalidArgument => 3,
            Code::DeadlineExceeded => 4,
            Code::NotFound => 5,
            Code::AlreadyExists => 6,
            Code::PermissionDenied => 7,
            Code::ResourceExhausted => 8,
            Code::FailedPrecondition => 9,
            Code::Aborted => 10,
            Code::OutOfRange => 11,
            Code::Unimplemented => 12,
            Code::Internal => 13,
            Code::Unavailable => 14,
            Code::DataLoss => 15,
            Code::Unauthenticated => 16,
        }
    }

    /// The code with gRPC number `number`; `None` for 0 (OK) and above 16.
    pub fn from_grpc_number(number: u32) -> Option<Code> {
        let index = usize::try_from(number.checked_sub(1)?).ok()?;
        ALL_CODES.get(index).copied()
    }

    /// The HTTP status a server sends with this code (connect.md 1.5).
    pub const fn http_status(self) -> u16 {
        match self {
            Code::Canceled => 499,
            Code::Unknown | Code::Internal | Code::DataLoss => 500,
            Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => 400,
            Code::DeadlineExceeded => 504,
            Code::NotFound => 404,
            Code::AlreadyExists | Code::Aborted => 409,
            Code::PermissionDenied => 403,
            Code::ResourceExhausted => 429,
            Code::Unimplemented => 501,
            Code::Unavailable => 503,
            Code::Unauthenticated => 401,
        }
    }

    /// The code a client infers from the HTTP status of a response that
    /// carries no valid Connect error body (connect.md 1.5).
    ///
    /// This is *not* the inverse of [`Code::http_status`]: `400` gives
    /// `internal`, `404` gives `unimplemented`, and so on.
    ///
    /// ```
    /// use dispatch_core::connect::Code;
    /// assert_eq!(Code::from_http_status(404), Code::Unimplemented);
    /// assert_eq!(Code::from_http_status(Code::NotFound.http_status()), Code::Unimplemented);
    /// assert_eq!(Code::from_http_status(418), Code::Unknown);
    /// ```
    pub const fn from_http_status(status: u16) -> Code {
        match status {
            400 => Code::Internal,
            401 => Code::Unauthenticated,
            403 => Code::PermissionDenied,
            404 => Code::Unimplemented,
            429 | 502 | 503 | 504 => Code::Unavailable,
            _ => Code::Unknown,
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

// ---------------------------------------------------------------------------
// Content types, protocol version, timeout

/// The two codecs of the Connect unary protocol that Dispatch uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// Binary protobuf, `application/proto`.
    Proto,
    /// Proto3 canonical JSON, `application/json`.
    Json,
}

impl Codec {
    /// The `Content-Type` to send with a body of this codec.
    pub const fn content_type(self) -> &'static str {
        match self {
            Codec::Proto => CONTENT_TYPE_PROTO,
            Codec::Json => CONTENT_TYPE_JSON,
        }
    }

    /// The codec of a unary `Content-Type`: `application/proto`, or
    /// `application/json` optionally followed by `; charset=utf-8`
    /// (case-insensitive, spaces around `;` allowed). Anything else is `None`,
    /// which a server answers with HTTP 415.
    ///
    /// ```
    /// use dispatch_core::connect::Codec;
    /// assert_eq!(Codec::from_content_type("application/proto"), Some(Codec::Proto));
    /// assert_eq!(Codec::from_content_type("application/json; charset=utf-8"), Some(Codec::Json));
    /// assert_eq!(Codec::from_content_type("application/grpc"), None);
    /// ```
    pub fn from_content_type(content_type: &str) -> Option<Codec> {
        let (media_type, params) = match content_type.split_once(';') {
            Some((media_type, params)) => (media_type, Some(params)),
            None => (content_type, None),
        };
        let codec = if media_type.trim().eq_ignore_ascii_case(CONTENT_TYPE_PROTO) {
            Codec::Proto
        } else if media_type.trim().eq_ignore_ascii_case(CONTENT_TYPE_JSON) {
            Codec::Json
        } else {
            return None;
        };
        match params {
            None => Some(codec),
            Some(params) if codec == Codec::Json && is_utf8_charset(params) => Some(codec),
            Some(_) => None,
        }
    }
}

/// `charset=utf-8` (any case, optional quotes, surrounding spaces).
fn is_utf8_charset(params: &str) -> bool {
    let Some((name, value)) = params.split_once('=') else {
        return false;
    };
    let value = value.trim();
    let value = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value);
    name.trim().eq_ignore_ascii_case("charset") && value.eq_ignore_ascii_case("utf-8")
}

/// Whether an error response's `Content-Type` is JSON (`application/json`,
/// optionally with `; charset=utf-8`), the only type whose body is read as a
/// Connect error.
pub fn is_json_content_type(content_type: &str) -> bool {
    Codec::from_content_type(content_type) == Some(Codec::Json)
}

/// A `Connect-Protocol-Version` header a server does not accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolVersionError {
    /// The header is absent and the server requires it.
    Missing,
    /// The header is present with a value other than `1`.
    Unsupported,
}

impl ProtocolVersionError {
    /// The code a server answers with: always `invalid_argument`.
    pub const fn code(self) -> Code {
        Code::InvalidArgument
    }
}

impl fmt::Display for ProtocolVersionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProtocolVersionError::Missing => "missing required header: Connect-Protocol-Version",
            ProtocolVersionError::Unsupported => "Connect-Protocol-Version must be \"1\"",
        })
    }
}

impl core::error::Error for ProtocolVersionError {}

/// Checks a request's `Connect-Protocol-Version` header (`None` when absent).
///
/// A present value must be exactly `1`; an absent header is accepted unless
/// `required` (servers *may* require it, connect.md 1.1).
pub fn check_protocol_version(
    value: Option<&str>,
    required: bool,
) -> Result<(), ProtocolVersionError> {
    match value {
        None if required => Err(ProtocolVersionError::Missing),
        None => Ok(()),
        Some(v) if v.trim() == PROTOCOL_VERSION => Ok(()),
        Some(_) => Err(ProtocolVersionError::Unsupported),
    }
}

/// A malformed `Connect-Timeout-Ms` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimeoutError {
    /// The value is empty.
    Empty,
    /// More than 10 digits.
    TooLong,
    /// A character other than an ASCII digit.
    NotDigits,
}

impl TimeoutError {
    /// The code a server answers with: always `invalid_argument`.
    pub const fn code(self) -> Code {
        Code::InvalidArgument
    }
}

impl fmt::Display for TimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TimeoutError::Empty => "Connect-Timeout-Ms is empty",
            TimeoutError::TooLong => "Connect-Timeout-Ms has more than 10 digits",
            TimeoutError::NotDigits => "Connect-Timeout-Ms is not an integer",
        })
    }
}

impl core::error::Error for TimeoutError {}

/// Parses `Connect-Timeout-Ms`: 1 to 10 ASCII digits, in milliseconds.
///
/// `0` is accepted (the deadline has already passed), as connect-go and
/// connect-es do. No sign, spaces or other characters are allowed.
///
/// ```
/// use dispatch_core::connect::{parse_timeout_ms, TimeoutError};
/// assert_eq!(parse_timeout_ms("5000"), Ok(5000));
/// assert_eq!(parse_timeout_ms("12345678901"), Err(TimeoutError::TooLong));
/// assert_eq!(parse_timeout_ms("-1"), Err(TimeoutError::NotDigits));
/// ```
pub fn parse_timeout_ms(value: &str) -> Result<u64, TimeoutError> {
    if value.is_empty() {
        return Err(TimeoutError::Empty);
    }
    if !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TimeoutError::NotDigits);
    }
    if value.len() > 10 {
        return Err(TimeoutError::TooLong);
    }
    // At most 10 digits: the sum stays far below u64::MAX.
    Ok(value
        .bytes()
        .fold(0u64, |acc, b| acc * 10 + u64::from(b - b'0')))
}

/// Formats a timeout for `Connect-Timeout-Ms`, clamped to [`MAX_TIMEOUT_MS`].
///
/// ```
/// use dispatch_core::connect::format_timeout_ms;
/// assert_eq!(format_timeout_ms(5000).as_str(), "5000");
/// assert_eq!(format_timeout_ms(u64::MAX).as_str(), "9999999999");
/// ```
pub fn format_timeout_ms(milliseconds: u64) -> heapless::String<10> {
    let mut digits = [0u8; 10];
    let mut value = milliseconds.min(MAX_TIMEOUT_MS);
    let mut start = digits.len();
    for slot in digits.iter_mut().rev() {
        // Digits are written right to left; `start` marks the first one.
        *slot = b'0' + (value % 10) as u8;
        value /= 10;
        start -= 1;
        if value == 0 {
            break;
        }
    }
    let mut out = heapless::String::new();
    for &digit in digits.get(start..).unwrap_or_default() {
        // Cannot fail: at most 10 characters into a capacity of 10.
        let _ = out.push(char::from(digit));
    }
    out
}

// ---------------------------------------------------------------------------
// Error JSON: encode

/// One entry of an error's `details`: a protobuf message, by full name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Detail<'a> {
    /// The message's fully-qualified name, e.g. `google.rpc.RetryInfo`.
    pub type_name: &'a str,
    /// The message's binary protobuf encoding.
    pub value: &'a [u8],
}

/// A Connect error to send: the body of a non-200 unary response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorBody<'a> {
    /// The error code; its [`Code::http_status`] is the response status.
    pub code: Code,
    /// A message for developers; omitted from the JSON when empty.
    pub message: &'a str,
    /// Details, omitted from the JSON when empty.
    pub details: &'a [Detail<'a>],
}

/// The error JSON did not fit in the output buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodeError {
    /// The output buffer is too small.
    BufferTooSmall,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the output buffer is too small for the error JSON")
    }
}

impl core::error::Error for EncodeError {}

impl<'a> ErrorBody<'a> {
    /// An error with a code and message and no details.
    pub const fn new(code: Code, message: &'a str) -> Self {
        ErrorBody {
            code,
            message,
            details: &[],
        }
    }

    /// The HTTP status to send with this error.
    pub const fn http_status(&self) -> u16 {
        self.code.http_status()
    }

    /// Writes the error JSON into `out` and returns its length.
    ///
    /// Keys come in connect-go's order (`code`, `message`, `details`); strings
    /// are escaped (`"`, `\`, control characters); detail values are standard
    /// base64 without padding. `debug` is never written.
    pub fn encode_json(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        serde_json_core::to_slice(self, out).map_err(|_| EncodeError::BufferTooSmall)
    }
}

impl Serialize for ErrorBody<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut body = serializer.serialize_struct("Error", 3)?;
        body.serialize_field("code", self.code.name())?;
        if !self.message.is_empty() {
            body.serialize_field("message", self.message)?;
        }
        if !self.details.is_empty() {
            body.serialize_field("details", &DetailsOut(self.details))?;
        }
        body.end()
    }
}

struct DetailsOut<'a>(&'a [Detail<'a>]);

impl Serialize for DetailsOut<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for detail in self.0 {
            seq.serialize_element(detail)?;
        }
        seq.end()
    }
}

impl Serialize for Detail<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut detail = serializer.serialize_struct("Detail", 2)?;
        detail.serialize_field("type", self.type_name)?;
        detail.serialize_field("value", &Base64Text(self.value))?;
        detail.end()
    }
}

/// Unpadded standard base64 of some bytes, produced piecewise (no buffer
/// the size of the value).
struct Base64Text<'a>(&'a [u8]);

impl Serialize for Base64Text<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl fmt::Display for Base64Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // 48 bytes encode to exactly 64 characters with no padding, so chunks
        // concatenate into the encoding of the whole.
        let mut text = [0u8; 64];
        for chunk in self.0.chunks(48) {
            let encoded = Base64Unpadded::encode(chunk, &mut text).map_err(|_| fmt::Error)?;
            f.write_str(encoded)?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Error JSON: decode

/// Why an error body could not be decoded as a Connect error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// Not a JSON object of the expected shape (syntax error, wrong type of a
    /// known field, trailing characters, duplicate key).
    Malformed,
    /// A string holds an invalid escape sequence (including a lone surrogate).
    InvalidEscape,
    /// A detail lacks its `type` or `value`.
    IncompleteDetail,
    /// A detail's `value` is not base64.
    InvalidDetailValue,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DecodeError::Malformed => "the error body is not a Connect error JSON object",
            DecodeError::InvalidEscape => "the error body holds an invalid string escape",
            DecodeError::IncompleteDetail => "an error detail lacks its type or value",
            DecodeError::InvalidDetailValue => "an error detail's value is not base64",
        })
    }
}

impl core::error::Error for DecodeError {}

/// A detail decoded from an error body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedDetail<'b> {
    /// The message's fully-qualified name.
    pub type_name: heapless::String<DETAIL_TYPE_CAPACITY>,
    /// The message's binary encoding, in the caller's buffer.
    pub value: &'b [u8],
}

/// A Connect error JSON body, decoded.
///
/// `M` is the capacity of the message in bytes; a longer message is cut at a
/// character boundary and `message_truncated` is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedError<'b, const M: usize> {
    /// The code, or `None` when `code` is missing, `null` or not a known
    /// code name (the caller then takes the code from the HTTP status).
    pub code: Option<Code>,
    /// The unescaped message (empty when absent or `null`).
    pub message: heapless::String<M>,
    /// Whether the message was longer than `M` bytes and was cut.
    pub message_truncated: bool,
    /// The first details that fit (at most [`MAX_DETAILS`]).
    pub details: heapless::Vec<DecodedDetail<'b>, MAX_DETAILS>,
    /// Details that were dropped: beyond [`MAX_DETAILS`], a `type` longer
    /// than [`DETAIL_TYPE_CAPACITY`], or no room left in the value buffer.
    pub skipped_details: usize,
}

/// Decodes a Connect error JSON body.
///
/// Strings are unescaped (including `\u` surrogate pairs) into `heapless`
/// strings. Each detail's base64 `value` (padded or not) is decoded into
/// `detail_buf`; details that do not fit are counted in `skipped_details`.
/// `debug` and unknown keys are ignored. A missing or unknown `code` is not an
/// error: `code` is `None` and the message is kept.
///
/// ```
/// use dispatch_core::connect::{Code, decode_error_json};
///
/// let body = br#"{"code":"unavailable","message":"retry","details":[{"type":"google.rpc.RetryInfo","value":"CgIIHg"}]}"#;
/// let mut buf = [0u8; 16];
/// let error = decode_error_json::<32>(body, &mut buf)?;
/// assert_eq!(error.code, Some(Code::Unavailable));
/// assert_eq!(error.details[0].type_name.as_str(), "google.rpc.RetryInfo");
/// assert_eq!(error.details[0].value, &[0x0a, 0x02, 0x08, 0x1e]);
/// # Ok::<(), dispatch_core::connect::DecodeError>(())
/// ```
pub fn decode_error_json<'b, const M: usize>(
    body: &[u8],
    detail_buf: &'b mut [u8],
) -> Result<DecodedError<'b, M>, DecodeError> {
    // No unescape buffer: strings come back raw and are unescaped below, so
    // the only limits are the caller's capacities.
    let mut deserializer = serde_json_core::de::Deserializer::new(body, None);
    let raw = RawErrorBody::deserialize(&mut deserializer).map_err(|_| DecodeError::Malformed)?;
    deserializer.end().map_err(|_| DecodeError::Malformed)?;

    let mut code_name: heapless::String<24> = heapless::String::new();
    let code = match raw.code {
        Some(text) => {
            let truncated = unescape_into(text.0, &mut code_name)?;
            if truncated {
                None
            } else {
                Code::from_name(&code_name)
            }
        }
        None => None,
    };

    let mut message = heapless::String::new();
    let message_truncated = match raw.message {
        Some(text) => unescape_into(text.0, &mut message)?,
        None => false,
    };

    let mut details = heapless::Vec::new();
    let mut skipped_details = 0;
    let mut rest: &'b mut [u8] = detail_buf;
    if let Some(raw_details) = raw.details {
        skipped_details += raw_details.overflow;
        for raw_detail in raw_details.kept {
            let (Some(type_text), Some(value_text)) = (raw_detail.type_name, raw_detail.value)
            else {
                return Err(DecodeError::IncompleteDetail);
            };
            let mut type_name = heapless::String::new();
            let type_truncated = unescape_into(type_text.0, &mut type_name)?;
            let decoded_len = decode_base64_value(value_text.0, rest)?;
            match decoded_len {
                Some(len) if !type_truncated => {
                    let (value, remaining) = core::mem::take(&mut rest).split_at_mut(len);
                    rest = remaining;
                    // Cannot fail: `kept` holds at most MAX_DETAILS entries.
                    let _ = details.push(DecodedDetail {
                        type_name,
                        value: &*value,
                    });
                }
                _ => skipped_details += 1,
            }
        }
    }

    Ok(DecodedError {
        code,
        message,
        message_truncated,
        details,
        skipped_details,
    })
}

/// Decodes a detail's base64 text (escaped JSON string content) into the
/// front of `out`. `Ok(None)` when `out` is too small.
fn decode_base64_value(escaped: &str, out: &mut [u8]) -> Result<Option<usize>, DecodeError> {
    if escaped.contains('\\') {
        // Rare: an encoder escaped `/` as `\/`. Unescape into `out`, then
        // decode in place (the decoded form is never longer).
        let mut len = 0;
        for fragment in EscapedStr(escaped).fragments() {
            let mut utf8 = [0u8; 4];
            let bytes = match fragment.map_err(|_| DecodeError::InvalidEscape)? {
                serde_json_core::str::EscapedStringFragment::NotEscaped(s) => s.as_bytes(),
                serde_json_core::str::EscapedStringFragment::Escaped(c) => {
                    c.encode_utf8(&mut utf8).as_bytes()
                }
            };
            let Some(slot) = out.get_mut(len..len + bytes.len()) else {
                return Ok(None);
            };
            slot.copy_from_slice(bytes);
            len += bytes.len();
        }
        let text = out.get_mut(..len).ok_or(DecodeError::InvalidDetailValue)?;
        let padded = text.last() == Some(&b'=');
        let decoded = if padded {
            Base64::decode_in_place(text).map(<[u8]>::len)
        } else {
            Base64Unpadded::decode_in_place(text).map(<[u8]>::len)
        };
        return decoded
            .map(Some)
            .map_err(|_| DecodeError::InvalidDetailValue);
    }
    let Some(len) = base64_decoded_len(escaped) else {
        return Err(DecodeError::InvalidDetailValue);
    };
    let Some(target) = out.get_mut(..len) else {
        return Ok(None);
    };
    let decoded = if escaped.ends_with('=') {
        Base64::decode(escaped, target)
    } else {
        Base64Unpadded::decode(escaped, target)
    };
    decoded
        .map(|bytes| Some(bytes.len()))
        .map_err(|_| DecodeError::InvalidDetailValue)
}

/// The decoded length of base64 text, padded or not; `None` if no base64
/// text has that length.
fn base64_decoded_len(text: &str) -> Option<usize> {
    let unpadded = text
        .strip_suffix("==")
        .or_else(|| text.strip_suffix('='))
        .unwrap_or(text);
    if unpadded.len() != text.len() && !text.len().is_multiple_of(4) {
        return None;
    }
    let whole = unpadded.len() / 4 * 3;
    match unpadded.len() % 4 {
        0 => Some(whole),
        2 => Some(whole + 1),
        3 => Some(whole + 2),
        _ => None,
    }
}

/// Unescapes the content of a JSON string into `out`. Returns whether the
/// result was cut (at a character boundary) for lack of room; the rest of the
/// input is still checked for valid escapes.
fn unescape_into<const N: usize>(
    escaped: &str,
    out: &mut heapless::String<N>,
) -> Result<bool, DecodeError> {
    let mut truncated = false;
    let mut push = |c: char, truncated: &mut bool| {
        if !*truncated && out.push(c).is_err() {
            *truncated = true;
        }
    };
    let mut chars = escaped.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            push(c, &mut truncated);
            continue;
        }
        let unescaped = match chars.next() {
            Some('"') => '"',
            Some('\\') => '\\',
            Some('/') => '/',
            Some('b') => '\u{8}',
            Some('f') => '\u{c}',
            Some('n') => '\n',
            Some('r') => '\r',
            Some('t') => '\t',
            Some('u') => {
                let first = hex4(&mut chars)?;
                match first {
                    0xD800..=0xDBFF => {
                        // A high surrogate must be followed by `\u` + a low one.
                        if chars.next() != Some('\\') || chars.next() != Some('u') {
                            return Err(DecodeError::InvalidEscape);
                        }
                        let second = hex4(&mut chars)?;
                        if !(0xDC00..=0xDFFF).contains(&second) {
                            return Err(DecodeError::InvalidEscape);
                        }
                        let scalar = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
                        char::from_u32(scalar).ok_or(DecodeError::InvalidEscape)?
                    }
                    _ => char::from_u32(first).ok_or(DecodeError::InvalidEscape)?,
                }
            }
            _ => return Err(DecodeError::InvalidEscape),
        };
        push(unescaped, &mut truncated);
    }
    Ok(truncated)
}

/// Four hex digits of a `\u` escape.
fn hex4(chars: &mut core::str::Chars<'_>) -> Result<u32, DecodeError> {
    let mut value = 0;
    for _ in 0..4 {
        let digit = chars
            .next()
            .and_then(|c| c.to_digit(16))
            .ok_or(DecodeError::InvalidEscape)?;
        value = value * 16 + digit;
    }
    Ok(value)
}

/// The error object, with its strings still escaped.
#[derive(Deserialize)]
struct RawErrorBody<'a> {
    #[serde(default, borrow)]
    code: Option<EscapedStr<'a>>,
    #[serde(default, borrow)]
    message: Option<EscapedStr<'a>>,
    #[serde(default, borrow)]
    details: Option<RawDetails<'a>>,
}

#[derive(Deserialize)]
struct RawDetail<'a> {
    #[serde(default, borrow, rename = "type")]
    type_name: Option<EscapedStr<'a>>,
    #[serde(default, borrow)]
    value: Option<EscapedStr<'a>>,
}

/// The first [`MAX_DETAILS`] details, and how many more there were.
struct RawDetails<'a> {
    kept: heapless::Vec<RawDetail<'a>, MAX_DETAILS>,
    overflow: usize,
}

impl<'de: 'a, 'a> Deserialize<'de> for RawDetails<'a> {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_seq(RawDetailsVisitor(core::marker::PhantomData))
    }
}

struct RawDetailsVisitor<'a>(core::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for RawDetailsVisitor<'a> {
    type Value = RawDetails<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of error details")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut details = RawDetails {
            kept: heapless::Vec::new(),
            overflow: 0,
        };
        while let Some(detail) = seq.next_element::<RawDetail<'a>>()? {
            if details.kept.push(detail).is_err() {
                details.overflow += 1;
            }
        }
        Ok(details)
    }
}

// ---------------------------------------------------------------------------
// Response classification

/// Where a failed response's code came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CodeSource {
    /// The `code` of a valid Connect error body.
    Body,
    /// The HTTP status ([`Code::from_http_status`]): no valid body, or a body
    /// without a known `code` (its message, if any, is kept).
    HttpStatus,
    /// A 200 response whose content type is not the request's codec.
    ContentType,
}

/// A unary response that is not a success, as a client surfaces it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseError<'b, const M: usize> {
    /// The code to surface.
    pub code: Code,
    /// Where `code` came from.
    pub source: CodeSource,
    /// The body's message; empty when there is none (callers may synthesize
    /// one from the HTTP status).
    pub message: heapless::String<M>,
    /// Whether `message` was cut to `M` bytes.
    pub message_truncated: bool,
    /// Details of a valid body.
    pub details: heapless::Vec<DecodedDetail<'b>, MAX_DETAILS>,
    /// Details dropped for lack of room (see [`DecodedError::skipped_details`]).
    pub skipped_details: usize,
}

impl<'b, const M: usize> ResponseError<'b, M> {
    fn bare(code: Code, source: CodeSource) -> Self {
        ResponseError {
            code,
            source,
            message: heapless::String::new(),
            message_truncated: false,
            details: heapless::Vec::new(),
            skipped_details: 0,
        }
    }
}

/// Classifies a unary response from its HTTP status, `Content-Type` (`""`
/// when absent) and body, for a request sent with `request_codec`
/// (connect.md 1.3 and 1.5).
///
/// * 200 with the request's codec: `Ok(())`, the body is the message.
/// * 200 with a content type not starting `application/`: `unknown`;
///   with another `application/` type: `internal`.
/// * Otherwise the body is read as a Connect error only when the content type
///   is JSON and the body decodes; its code is used when present and known.
///   In every other case the code comes from [`Code::from_http_status`]
///   (a decodable body's message is still kept).
///
/// `Content-Encoding` is checked separately, with [`check_response_encoding`].
///
/// ```
/// use dispatch_core::connect::{classify_response, Code, Codec};
///
/// let mut buf = [0u8; 0];
/// let err = classify_response::<64>(Codec::Proto, 503, "application/json", br#"{"message":"try later"}"#, &mut buf)
///     .unwrap_err();
/// assert_eq!(err.code, Code::Unavailable);
/// assert_eq!(err.message.as_str(), "try later");
/// ```
// The error holds the message inline (no heap), so its size is the caller's M.
#[allow(clippy::result_large_err)]
pub fn classify_response<'b, const M: usize>(
    request_codec: Codec,
    http_status: u16,
    content_type: &str,
    body: &[u8],
    detail_buf: &'b mut [u8],
) -> Result<(), ResponseError<'b, M>> {
    if http_status == 200 {
        return match Codec::from_content_type(content_type) {
            Some(codec) if codec == request_codec => Ok(()),
            _ if has_application_prefix(content_type) => {
                Err(ResponseError::bare(Code::Internal, CodeSource::ContentType))
            }
            _ => Err(ResponseError::bare(Code::Unknown, CodeSource::ContentType)),
        };
    }
    let inferred = Code::from_http_status(http_status);
    if !is_json_content_type(content_type) {
        return Err(ResponseError::bare(inferred, CodeSource::HttpStatus));
    }
    match decode_error_json::<M>(body, detail_buf) {
        Ok(decoded) => {
            let (code, source) = match decoded.code {
                Some(code) => (code, CodeSource::Body),
                None => (inferred, CodeSource::HttpStatus),
            };
            Err(ResponseError {
                code,
                source,
                message: decoded.message,
                message_truncated: decoded.message_truncated,
                details: decoded.details,
                skipped_details: decoded.skipped_details,
            })
        }
        Err(_) => Err(ResponseError::bare(inferred, CodeSource::HttpStatus)),
    }
}

fn has_application_prefix(content_type: &str) -> bool {
    content_type
        .trim_start()
        .get(..12)
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case("application/"))
}

/// Checks a response's `Content-Encoding` (`None` when absent) against the
/// encodings the client can undo; `identity` is always accepted.
///
/// A response in any other encoding surfaces as `internal` (connect.md 1.3).
pub fn check_response_encoding(encoding: Option<&str>, supported: &[&str]) -> Result<(), Code> {
    match encoding.map(str::trim) {
        None | Some("") => Ok(()),
        Some(e) if e.eq_ignore_ascii_case("identity") => Ok(()),
        Some(e) if supported.iter().any(|s| s.eq_ignore_ascii_case(e)) => Ok(()),
        Some(_) => Err(Code::Internal),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh detail buffer that outlives the test's borrows.
    fn scratch() -> &'static mut [u8] {
        std::vec![0u8; 4].leak()
    }

    #[test]
    fn codes_round_trip_by_name_and_number() {
        for (i, code) in Code::ALL.into_iter().enumerate() {
            assert_eq!(Code::from_name(code.name()), Some(code));
            assert_eq!(code.grpc_number() as usize, i + 1);
            assert_eq!(Code::from_grpc_number(code.grpc_number()), Some(code));
        }
        assert_eq!(Code::from_grpc_number(0), None);
        assert_eq!(Code::from_grpc_number(17), None);
        assert_eq!(Code::from_name(""), None);
    }

    #[test]
    fn escapes_quotes_backslashes_and_controls() {
        let mut out = [0u8; 128];
        let n = ErrorBody::new(Code::Internal, "a \"b\" \\ c\n\u{1}")
            .encode_json(&mut out)
            .unwrap();
        assert_eq!(
            core::str::from_utf8(&out[..n]).unwrap(),
            r#"{"code":"internal","message":"a \"b\" \\ c\n\u0001"}"#
        );
        let mut buf = [0u8; 0];
        let back = decode_error_json::<64>(&out[..n], &mut buf).unwrap();
        assert_eq!(back.message.as_str(), "a \"b\" \\ c\n\u{1}");
    }

    #[test]
    fn empty_message_is_omitted_and_small_buffer_fails() {
        let mut out = [0u8; 64];
        let n = ErrorBody::new(Code::Canceled, "")
            .encode_json(&mut out)
            .unwrap();
        assert_eq!(&out[..n], br#"{"code":"canceled"}"#);
        let mut tiny = [0u8; 10];
        assert_eq!(
            ErrorBody::new(Code::Canceled, "").encode_json(&mut tiny),
            Err(EncodeError::BufferTooSmall)
        );
    }

    #[test]
    fn details_encode_unpadded_and_decode_both_ways() {
        let value = [0x0a, 0x02, 0x08, 0x1e];
        let details = [Detail {
            type_name: "google.rpc.RetryInfo",
            value: &value,
        }];
        let body = ErrorBody {
            code: Code::Unavailable,
            message: "later",
            details: &details,
        };
        let mut out = [0u8; 256];
        let n = body.encode_json(&mut out).unwrap();
        assert_eq!(
            &out[..n],
            br#"{"code":"unavailable","message":"later","details":[{"type":"google.rpc.RetryInfo","value":"CgIIHg"}]}"#
        );
        for text in [
            &br#"{"code":"unavailable","details":[{"type":"google.rpc.RetryInfo","value":"CgIIHg=="}]}"#[..],
            br#"{"code":"unavailable","details":[{"type":"google.rpc.RetryInfo","debug":{"retryDelay":"30s","x":[1,{"y":null}]},"value":"CgII\/g"}]}"#,
        ] {
            let mut buf = [0u8; 8];
            let decoded = decode_error_json::<8>(text, &mut buf).unwrap();
            assert_eq!(decoded.details.len(), 1);
            assert_eq!(decoded.skipped_details, 0);
            assert_eq!(decoded.details[0].value.len(), 4);
        }
    }

    #[test]
    fn long_values_encode_in_chunks() {
        let value = [0xabu8; 100];
        let details = [Detail {
            type_name: "t",
            value: &value,
        }];
        let mut out = [0u8; 512];
        let n = ErrorBody {
            code: Code::Internal,
            message: "",
            details: &details,
        }
        .encode_json(&mut out)
        .unwrap();
        let mut buf = [0u8; 100];
        let decoded = decode_error_json::<8>(&out[..n], &mut buf).unwrap();
        assert_eq!(decoded.details[0].value, &value[..]);
    }

    #[test]
    fn details_without_room_are_skipped_and_counted() {
        let body = br#"{"code":"internal","details":[{"type":"a","value":"AAAA"},{"type":"b","value":"AAAAAAAA"},{"type":"c","value":"AA"},{"type":"d","value":""},{"type":"e","value":""}]}"#;
        let mut buf = [0u8; 4];
        let decoded = decode_error_json::<8>(body, &mut buf).unwrap();
        let names: heapless::Vec<&str, 8> = decoded
            .details
            .iter()
            .map(|d| d.type_name.as_str())
            .collect();
        // "b" needs 6 bytes; 3 + 1 fit; "e" is beyond MAX_DETAILS.
        assert_eq!(names.as_slice(), ["a", "c", "d"]);
        assert_eq!(decoded.skipped_details, 2);
    }

    #[test]
    fn missing_unknown_or_null_code_keeps_the_message() {
        for body in [
            &br#"{"message":"m"}"#[..],
            br#"{"code":"bogus","message":"m"}"#,
            br#"{"code":null,"message":"m"}"#,
            br#"{"code":"a_code_name_far_longer_than_any_real_one","message":"m"}"#,
        ] {
            let decoded = decode_error_json::<8>(body, scratch()).unwrap();
            assert_eq!(decoded.code, None);
            assert_eq!(decoded.message.as_str(), "m");
        }
    }

    #[test]
    fn unescapes_surrogate_pairs_and_rejects_lone_ones() {
        let decoded = decode_error_json::<16>(
            br#"{"code":"unknown","message":"\ud83d\ude80 \u00e9"}"#,
            scratch(),
        )
        .unwrap();
        assert_eq!(decoded.message.as_str(), "\u{1f680} \u{e9}");
        let decoded = decode_error_json::<16>(
            br#"{"code":"unknown","message":"\"\\\/\b\f\n\r\t"}"#,
            scratch(),
        )
        .unwrap();
        assert_eq!(decoded.message.as_str(), "\"\\/\u{8}\u{c}\n\r\t");
        assert_eq!(
            decode_error_json::<16>(br#"{"code":"unknown","message":"\ud83d"}"#, scratch()),
            Err(DecodeError::InvalidEscape)
        );
        assert_eq!(
            decode_error_json::<16>(br#"{"code":"unknown","message":"\q"}"#, scratch()),
            Err(DecodeError::InvalidEscape)
        );
    }

    #[test]
    fn long_messages_are_cut_at_a_char_boundary() {
        let mut buf = [0u8; 0];
        let decoded = decode_error_json::<4>(
            "{\"code\":\"unknown\",\"message\":\"ab\u{e9}\u{e9}\"}".as_bytes(),
            &mut buf,
        )
        .unwrap();
        assert_eq!(decoded.message.as_str(), "ab\u{e9}");
        assert!(decoded.message_truncated);
    }

    #[test]
    fn malformed_bodies_are_errors() {
        for body in [
            &b""[..],
            b"[]",
            b"\"x\"",
            b"<html>",
            br#"{"code":"internal"} x"#,
            br#"{"code":3}"#,
            br#"{"code":"internal","details":{}}"#,
        ] {
            assert_eq!(
                decode_error_json::<8>(body, scratch()),
                Err(DecodeError::Malformed),
                "{body:?}"
            );
        }
        assert_eq!(
            decode_error_json::<8>(
                br#"{"code":"internal","details":[{"type":"t"}]}"#,
                scratch()
            ),
            Err(DecodeError::IncompleteDetail)
        );
        assert_eq!(
            decode_error_json::<8>(
                br#"{"code":"internal","details":[{"type":"t","value":"A"}]}"#,
                scratch()
            ),
            Err(DecodeError::InvalidDetailValue)
        );
        assert_eq!(
            decode_error_json::<8>(
                br#"{"code":"internal","details":[{"type":"t","value":"A*=="}]}"#,
                scratch()
            ),
            Err(DecodeError::InvalidDetailValue)
        );
    }

    #[test]
    fn classifies_success_and_codec_mismatch() {
        assert_eq!(
            classify_response::<8>(Codec::Proto, 200, "application/proto", b"", scratch()),
            Ok(())
        );
        assert_eq!(
            classify_response::<8>(
                Codec::Json,
                200,
                "application/json; charset=utf-8",
                b"{}",
                scratch()
            ),
            Ok(())
        );
        let err = classify_response::<8>(Codec::Proto, 200, "application/json", b"{}", scratch())
            .unwrap_err();
        assert_eq!(
            (err.code, err.source),
            (Code::Internal, CodeSource::ContentType)
        );
        let err =
            classify_response::<8>(Codec::Proto, 200, "image/jpeg", b"", scratch()).unwrap_err();
        assert_eq!(err.code, Code::Unknown);
        let err = classify_response::<8>(Codec::Proto, 200, "", b"", scratch()).unwrap_err();
        assert_eq!(err.code, Code::Unknown);
    }

    #[test]
    fn classifies_error_bodies() {
        let err = classify_response::<8>(
            Codec::Proto,
            404,
            "application/json",
            br#"{"code":"not_found","message":"gone"}"#,
            scratch(),
        )
        .unwrap_err();
        assert_eq!((err.code, err.source), (Code::NotFound, CodeSource::Body));
        assert_eq!(err.message.as_str(), "gone");
        let err = classify_response::<8>(Codec::Proto, 403, "application/proto", b"", scratch())
            .unwrap_err();
        assert_eq!(
            (err.code, err.source),
            (Code::PermissionDenied, CodeSource::HttpStatus)
        );
    }

    #[test]
    fn content_types() {
        assert_eq!(
            Codec::from_content_type("Application/JSON;Charset=\"UTF-8\""),
            Some(Codec::Json)
        );
        assert_eq!(
            Codec::from_content_type("application/json; charset=latin1"),
            None
        );
        assert_eq!(
            Codec::from_content_type("application/proto; charset=utf-8"),
            None
        );
        assert_eq!(Codec::from_content_type("application/protobuf"), None);
        assert!(!is_json_content_type("text/plain"));
        for codec in [Codec::Proto, Codec::Json] {
            assert_eq!(Codec::from_content_type(codec.content_type()), Some(codec));
        }
    }

    #[test]
    fn unpadded_detail_values_of_every_length_decode_into_an_exact_buffer() {
        for (value, bytes) in [
            ("", &[][..]),
            ("AQ", &[1][..]),
            ("AQI", &[1, 2]),
            ("AQID", &[1, 2, 3]),
            ("AQIDBA", &[1, 2, 3, 4]),
            ("AQIDBA==", &[1, 2, 3, 4]),
        ] {
            let body = std::format!(
                r#"{{"code":"unavailable","details":[{{"type":"t","value":"{value}"}}]}}"#
            );
            let mut buf = std::vec![0u8; bytes.len()];
            let decoded = decode_error_json::<8>(body.as_bytes(), &mut buf).unwrap();
            assert_eq!(decoded.skipped_details, 0, "{value}");
            assert_eq!(decoded.details[0].value, bytes, "{value}");
        }
        // A type name longer than DETAIL_TYPE_CAPACITY: the detail is skipped.
        let long_type = "t".repeat(DETAIL_TYPE_CAPACITY + 1);
        let body = std::format!(
            r#"{{"code":"unavailable","details":[{{"type":"{long_type}","value":"AQ"}},{{"type":"t","value":"AQ"}}]}}"#
        );
        let mut values = [0u8; 8];
        let decoded = decode_error_json::<8>(body.as_bytes(), &mut values).unwrap();
        assert_eq!(decoded.skipped_details, 1);
        assert_eq!(decoded.details.len(), 1);
        assert_eq!(decoded.details[0].type_name.as_str(), "t");
        let body = br#"{"code":"unavailable","details":[{"type":"t","value":"A"}]}"#;
        assert_eq!(
            decode_error_json::<8>(body, &mut [0u8; 8]),
            Err(DecodeError::InvalidDetailValue)
        );
    }

    #[test]
    fn an_error_body_is_sent_with_its_codes_status() {
        assert_eq!(ErrorBody::new(Code::NotFound, "x").http_status(), 404);
        assert_eq!(ErrorBody::new(Code::Unavailable, "x").http_status(), 503);
    }

    #[test]
    fn codes_inferred_from_http_statuses() {
        for (http, code) in [
            (400, Code::Internal),
            (401, Code::Unauthenticated),
            (403, Code::PermissionDenied),
            (404, Code::Unimplemented),
            (429, Code::Unavailable),
            (502, Code::Unavailable),
            (503, Code::Unavailable),
            (504, Code::Unavailable),
            (200, Code::Unknown),
            (405, Code::Unknown),
            (500, Code::Unknown),
        ] {
            assert_eq!(Code::from_http_status(http), code, "{http}");
        }
    }

    #[test]
    fn protocol_version_rules() {
        assert_eq!(check_protocol_version(Some("1"), true), Ok(()));
        assert_eq!(check_protocol_version(None, false), Ok(()));
        assert_eq!(
            check_protocol_version(None, true),
            Err(ProtocolVersionError::Missing)
        );
        assert_eq!(
            check_protocol_version(Some("2"), false),
            Err(ProtocolVersionError::Unsupported)
        );
        assert_eq!(ProtocolVersionError::Missing.code().http_status(), 400);
    }

    #[test]
    fn timeouts() {
        assert_eq!(parse_timeout_ms("0"), Ok(0));
        assert_eq!(parse_timeout_ms("9999999999"), Ok(MAX_TIMEOUT_MS));
        assert_eq!(parse_timeout_ms("0000000001"), Ok(1));
        assert_eq!(parse_timeout_ms(""), Err(TimeoutError::Empty));
        assert_eq!(parse_timeout_ms("10000000000"), Err(TimeoutError::TooLong));
        assert_eq!(parse_timeout_ms("+5"), Err(TimeoutError::NotDigits));
        assert_eq!(parse_timeout_ms(" 5"), Err(TimeoutError::NotDigits));
        assert_eq!(parse_timeout_ms("1.5"), Err(TimeoutError::NotDigits));
        assert_eq!(parse_timeout_ms("١"), Err(TimeoutError::NotDigits));
        assert_eq!(format_timeout_ms(0).as_str(), "0");
        assert_eq!(format_timeout_ms(1234567890).as_str(), "1234567890");
        assert_eq!(
            parse_timeout_ms(&format_timeout_ms(u64::MAX)),
            Ok(MAX_TIMEOUT_MS)
        );
    }

    proptest::proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(body in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            let _ = decode_error_json::<16>(&body, &mut [0u8; 8]);
            let _ = classify_response::<16>(Codec::Json, 400, "application/json", &body, &mut [0u8; 8]);
        }

        #[test]
        fn decoding_json_like_text_never_panics(body in r#"[{}\[\]",:a-z0-9\\u ]{0,64}"#) {
            let _ = decode_error_json::<4>(body.as_bytes(), &mut [0u8; 2]);
        }

        #[test]
        fn messages_round_trip(message in "\\PC{0,40}", control in 0u32..0x20) {
            let mut text = std::string::String::from(message.as_str());
            text.push(char::from_u32(control).unwrap_or('\0'));
            let mut out = [0u8; 1024];
            let n = ErrorBody::new(Code::Aborted, &text).encode_json(&mut out).unwrap();
            let decoded = decode_error_json::<512>(&out[..n], &mut [0u8; 0]).unwrap();
            proptest::prop_assert_eq!(decoded.code, Some(Code::Aborted));
            proptest::prop_assert_eq!(decoded.message.as_str(), text.as_str());
        }
    }

    #[test]
    fn response_encoding() {
        assert_eq!(check_response_encoding(None, &[]), Ok(()));
        assert_eq!(check_response_encoding(Some("identity"), &[]), Ok(()));
        assert_eq!(check_response_encoding(Some("gzip"), &["gzip"]), Ok(()));
        assert_eq!(
            check_response_encoding(Some("br"), &["gzip"]),
            Err(Code::Internal)
        );
    }
}
