//! The request rules of unary Connect: content types and codecs,
//! `Connect-Protocol-Version`, `Connect-Timeout-Ms`.

use core::fmt;

use super::{CONTENT_TYPE_JSON, CONTENT_TYPE_PROTO, Code, MAX_TIMEOUT_MS, PROTOCOL_VERSION};

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
/// `required` (servers *may* require it, docs/protocol/connect.md).
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
