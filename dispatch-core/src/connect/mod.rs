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

mod code;
mod error_json;
mod headers;
mod response;

pub use code::Code;
pub use error_json::{
    DecodeError, DecodedDetail, DecodedError, Detail, EncodeError, ErrorBody, MAX_JSON_DEPTH,
    decode_error_json,
};
pub use headers::{
    Codec, ProtocolVersionError, TimeoutError, check_protocol_version, format_timeout_ms,
    is_json_content_type, parse_timeout_ms,
};
pub use response::{CodeSource, ResponseError, check_response_encoding, classify_response};

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
