//! Connect error JSON bodies: writing one into a caller's buffer, and
//! reading one back without a heap.

use core::fmt;

use base64ct::{Base64, Base64Unpadded, Encoding};
use serde::de::{self, SeqAccess, Visitor};
use serde::ser::{SerializeSeq, SerializeStruct};
use serde::{Deserialize, Serialize, Serializer};
use serde_json_core::str::EscapedStr;

use super::{Code, DETAIL_TYPE_CAPACITY, MAX_DETAILS};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connect::{Codec, classify_response};

    /// A fresh detail buffer that outlives the test's borrows.
    fn scratch() -> &'static mut [u8] {
        std::vec![0u8; 4].leak()
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
}
