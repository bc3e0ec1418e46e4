//! Connect error JSON bodies: writing one into a caller's buffer, and
//! reading one back without a heap.
//!
//! Both directions are written by hand for this one shape (no serde): the
//! reader is a strict, bounded JSON parser (RFC 8259) that borrows the
//! strings it keeps from the body and skips everything else.

use core::fmt;

use base64ct::{Base64, Encoding};

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
    /// are escaped as connect-go and `JSON.stringify` escape them (`"`, `\\`,
    /// `\b \f \n \r \t`, other control characters as `\u00xx`, lower-case
    /// hex); detail values are standard base64 without padding. `debug` is
    /// never written.
    pub fn encode_json(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        let mut json = JsonWriter { out, len: 0 };
        json.raw(b"{\"code\":")?;
        json.string(self.code.name())?;
        if !self.message.is_empty() {
            json.raw(b",\"message\":")?;
            json.string(self.message)?;
        }
        if !self.details.is_empty() {
            json.raw(b",\"details\":[")?;
            for (index, detail) in self.details.iter().enumerate() {
                if index > 0 {
                    json.raw(b",")?;
                }
                json.raw(b"{\"type\":")?;
                json.string(detail.type_name)?;
                json.raw(b",\"value\":\"")?;
                json.base64(detail.value)?;
                json.raw(b"\"}")?;
            }
            json.raw(b"]")?;
        }
        json.raw(b"}")?;
        Ok(json.len)
    }
}

/// Writes JSON text into the front of a caller's buffer.
struct JsonWriter<'o> {
    out: &'o mut [u8],
    len: usize,
}

impl JsonWriter<'_> {
    fn raw(&mut self, bytes: &[u8]) -> Result<(), EncodeError> {
        let end = self
            .len
            .checked_add(bytes.len())
            .ok_or(EncodeError::BufferTooSmall)?;
        self.out
            .get_mut(self.len..end)
            .ok_or(EncodeError::BufferTooSmall)?
            .copy_from_slice(bytes);
        self.len = end;
        Ok(())
    }

    /// A JSON string: the quotes, and `text` escaped.
    fn string(&mut self, text: &str) -> Result<(), EncodeError> {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        self.raw(b"\"")?;
        let bytes = text.as_bytes();
        // Runs of bytes that need no escape are copied whole.
        let mut run_start = 0;
        for (index, &byte) in bytes.iter().enumerate() {
            let short = match byte {
                b'"' => b'"',
                b'\\' => b'\\',
                0x08 => b'b',
                0x0c => b'f',
                b'\n' => b'n',
                b'\r' => b'r',
                b'\t' => b't',
                0x00..=0x1f => 0,
                _ => continue,
            };
            self.raw(bytes.get(run_start..index).unwrap_or_default())?;
            run_start = index + 1;
            if short != 0 {
                self.raw(&[b'\\', short])?;
            } else {
                let high = HEX.get(usize::from(byte >> 4)).copied().unwrap_or(b'0');
                let low = HEX.get(usize::from(byte & 0x0f)).copied().unwrap_or(b'0');
                self.raw(&[b'\\', b'u', b'0', b'0', high, low])?;
            }
        }
        self.raw(bytes.get(run_start..).unwrap_or_default())?;
        self.raw(b"\"")
    }

    /// Unpadded standard base64 of `value`, written piecewise (no buffer the
    /// size of the value).
    fn base64(&mut self, value: &[u8]) -> Result<(), EncodeError> {
        // 48 bytes encode to exactly 64 characters with no padding, so chunks
        // concatenate into the encoding of the whole.
        // Only the last chunk can be padded; its `=` are cut (one padded
        // encoder in the core, not two).
        let mut text = [0u8; 64];
        for chunk in value.chunks(48) {
            let encoded = Base64::encode(chunk, &mut text)
                .map_err(|_| EncodeError::BufferTooSmall)?
                .as_bytes();
            let unpadded = encoded
                .strip_suffix(b"==")
                .or_else(|| encoded.strip_suffix(b"="));
            self.raw(unpadded.unwrap_or(encoded))?;
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
    // The whole body is parsed first, strings kept raw, so that a malformed
    // body is `Malformed` whatever its strings hold; they are unescaped
    // below, so the only limits are the caller's capacities.
    let raw = RawErrorBody::parse(body)?;

    let mut code_name: heapless::String<24> = heapless::String::new();
    let code = match raw.code {
        Some(text) => {
            let truncated = unescape_into(text, &mut code_name)?;
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
        Some(text) => unescape_into(text, &mut message)?,
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
            let type_truncated = unescape_into(type_text, &mut type_name)?;
            let decoded_len = decode_base64_value(value_text, rest)?;
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

/// Decodes a detail's base64 text (escaped JSON string content), padded or
/// not, into the front of `out`. `Ok(None)` when `out` is too small.
fn decode_base64_value(escaped: &str, out: &mut [u8]) -> Result<Option<usize>, DecodeError> {
    if escaped.contains('\\') {
        // Rare: an encoder escaped `/` as `\/`. Unescape into `out`, then
        // decode in place (the decoded form is never longer).
        let mut len = 0;
        for c in Unescape(escaped.chars()) {
            let mut utf8 = [0u8; 4];
            let bytes = c?.encode_utf8(&mut utf8).as_bytes();
            let Some(slot) = out.get_mut(len..len + bytes.len()) else {
                return Ok(None);
            };
            slot.copy_from_slice(bytes);
            len += bytes.len();
        }
        let decoded_len = decoded_len_of(out.get(..len).unwrap_or_default())?;
        // Quad by quad: the i-th quad is read (copied out) before the i-th
        // group of three bytes, which lies before it, is written.
        let mut quad = [0u8; 4];
        let mut written = 0;
        let mut read = 0;
        while read < len {
            let end = len.min(read + 4);
            let text = out.get(read..end).ok_or(DecodeError::InvalidDetailValue)?;
            let bytes = decode_quad(text, end == len, &mut quad)?;
            let target = out
                .get_mut(written..written + bytes.len())
                .ok_or(DecodeError::InvalidDetailValue)?;
            target.copy_from_slice(bytes);
            written += bytes.len();
            read = end;
        }
        return checked_len(written, decoded_len).map(Some);
    }
    let text = escaped.as_bytes();
    let decoded_len = decoded_len_of(text)?;
    let Some(out) = out.get_mut(..decoded_len) else {
        return Ok(None);
    };
    let mut quad = [0u8; 4];
    let mut written = 0;
    let quads = text.chunks(4);
    let count = quads.len();
    for (index, text) in quads.enumerate() {
        let bytes = decode_quad(text, index + 1 == count, &mut quad)?;
        let target = out
            .get_mut(written..written + bytes.len())
            .ok_or(DecodeError::InvalidDetailValue)?;
        target.copy_from_slice(bytes);
        written += bytes.len();
    }
    checked_len(written, decoded_len).map(Some)
}

/// [`base64_decoded_len`], or the error for text no base64 has.
fn decoded_len_of(text: &[u8]) -> Result<usize, DecodeError> {
    base64_decoded_len(text).ok_or(DecodeError::InvalidDetailValue)
}

/// What was decoded matches what the text's length promised.
fn checked_len(written: usize, expected: usize) -> Result<usize, DecodeError> {
    if written == expected {
        Ok(written)
    } else {
        Err(DecodeError::InvalidDetailValue)
    }
}

/// Decodes up to four base64 characters (fewer only at the end, where the
/// padding is implied) with the core's one padded decoder, in `scratch`.
/// `=` may only appear in the last quad.
fn decode_quad<'s>(
    text: &[u8],
    last: bool,
    scratch: &'s mut [u8; 4],
) -> Result<&'s [u8], DecodeError> {
    if !last && text.contains(&b'=') {
        return Err(DecodeError::InvalidDetailValue);
    }
    *scratch = [b'='; 4];
    scratch
        .get_mut(..text.len())
        .ok_or(DecodeError::InvalidDetailValue)?
        .copy_from_slice(text);
    Base64::decode_in_place(scratch).map_err(|_| DecodeError::InvalidDetailValue)
}

/// The decoded length of base64 text, padded or not; `None` if no base64
/// text has that length.
fn base64_decoded_len(text: &[u8]) -> Option<usize> {
    let unpadded = text
        .strip_suffix(b"==")
        .or_else(|| text.strip_suffix(b"="))
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
    for c in Unescape(escaped.chars()) {
        let c = c?;
        if !truncated && out.push(c).is_err() {
            truncated = true;
        }
    }
    Ok(truncated)
}

/// The characters of a JSON string's content (between its quotes), escapes
/// resolved, `\u` surrogate pairs joined; a bad escape or a lone surrogate
/// is an [`DecodeError::InvalidEscape`].
struct Unescape<'a>(core::str::Chars<'a>);

impl Iterator for Unescape<'_> {
    type Item = Result<char, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        let c = self.0.next()?;
        if c != '\\' {
            return Some(Ok(c));
        }
        Some(match self.0.next() {
            Some('"') => Ok('"'),
            Some('\\') => Ok('\\'),
            Some('/') => Ok('/'),
            Some('b') => Ok('\u{8}'),
            Some('f') => Ok('\u{c}'),
            Some('n') => Ok('\n'),
            Some('r') => Ok('\r'),
            Some('t') => Ok('\t'),
            Some('u') => self.unicode_escape(),
            _ => Err(DecodeError::InvalidEscape),
        })
    }
}

impl Unescape<'_> {
    /// The character of a `\u` escape whose `\u` was just read, with the
    /// low half that must follow a high surrogate.
    fn unicode_escape(&mut self) -> Result<char, DecodeError> {
        let first = self.hex4()?;
        let scalar = match first {
            0xD800..=0xDBFF => {
                if self.0.next() != Some('\\') || self.0.next() != Some('u') {
                    return Err(DecodeError::InvalidEscape);
                }
                let second = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&second) {
                    return Err(DecodeError::InvalidEscape);
                }
                0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
            }
            _ => first,
        };
        // A lone low surrogate is no scalar value.
        char::from_u32(scalar).ok_or(DecodeError::InvalidEscape)
    }

    /// Four hex digits of a `\u` escape.
    fn hex4(&mut self) -> Result<u32, DecodeError> {
        let mut value = 0;
        for _ in 0..4 {
            let digit = self
                .0
                .next()
                .and_then(|c| c.to_digit(16))
                .ok_or(DecodeError::InvalidEscape)?;
            value = value * 16 + digit;
        }
        Ok(value)
    }
}

/// How deeply arrays and objects may nest inside the error body (the
/// values skipped, `debug` say, included); deeper is
/// [`DecodeError::Malformed`]. It bounds the parser's recursion.
pub const MAX_JSON_DEPTH: usize = 32;

/// The error object, with its strings still escaped (their content between
/// the quotes, borrowed from the body).
struct RawErrorBody<'a> {
    code: Option<&'a str>,
    message: Option<&'a str>,
    details: Option<RawDetails<'a>>,
}

struct RawDetail<'a> {
    type_name: Option<&'a str>,
    value: Option<&'a str>,
}

/// The first [`MAX_DETAILS`] details, and how many more there were.
struct RawDetails<'a> {
    kept: heapless::Vec<RawDetail<'a>, MAX_DETAILS>,
    overflow: usize,
}

impl<'a> RawErrorBody<'a> {
    /// Parses the whole body: one object, nothing after it but whitespace.
    /// `code` and `message` are strings or `null`, `details` an array of
    /// objects or `null`; a key given twice is malformed; other keys are
    /// skipped (their values still parsed).
    fn parse(body: &'a [u8]) -> Result<Self, DecodeError> {
        let mut json = JsonReader {
            bytes: body,
            pos: 0,
        };
        let mut raw = RawErrorBody {
            code: None,
            message: None,
            details: None,
        };
        let (mut seen_code, mut seen_message, mut seen_details) = (false, false, false);
        json.object(0, |json, key| {
            match key {
                Key::Known("code") => {
                    once(&mut seen_code)?;
                    raw.code = json.string_or_null()?;
                }
                Key::Known("message") => {
                    once(&mut seen_message)?;
                    raw.message = json.string_or_null()?;
                }
                Key::Known("details") => {
                    once(&mut seen_details)?;
                    raw.details = RawDetails::parse(json)?;
                }
                _ => json.skip_value(1)?,
            }
            Ok(())
        })?;
        json.end()?;
        Ok(raw)
    }
}

impl<'a> RawDetails<'a> {
    /// `details`: `null`, or an array of detail objects.
    fn parse(json: &mut JsonReader<'a>) -> Result<Option<Self>, DecodeError> {
        if json.null()? {
            return Ok(None);
        }
        let mut details = RawDetails {
            kept: heapless::Vec::new(),
            overflow: 0,
        };
        json.array(1, |json| {
            let mut detail = RawDetail {
                type_name: None,
                value: None,
            };
            let (mut seen_type, mut seen_value) = (false, false);
            json.object(2, |json, key| {
                match key {
                    Key::Known("type") => {
                        once(&mut seen_type)?;
                        detail.type_name = json.string_or_null()?;
                    }
                    Key::Known("value") => {
                        once(&mut seen_value)?;
                        detail.value = json.string_or_null()?;
                    }
                    _ => json.skip_value(3)?,
                }
                Ok(())
            })?;
            if details.kept.push(detail).is_err() {
                details.overflow += 1;
            }
            Ok(())
        })?;
        Ok(Some(details))
    }
}

/// Marks a known key as seen; seeing it twice is malformed.
fn once(seen: &mut bool) -> Result<(), DecodeError> {
    if core::mem::replace(seen, true) {
        return Err(DecodeError::Malformed);
    }
    Ok(())
}

/// An object's key: a short one unescaped (those are the only ones that can
/// be a key this module knows), a longer one only checked.
enum Key<'k> {
    Known(&'k str),
    Other,
}

/// A strict JSON reader over the body's bytes. Every method that reads a
/// value first skips whitespace; errors are [`DecodeError::Malformed`].
struct JsonReader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> JsonReader<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    /// The next byte after whitespace, consumed.
    fn next_token(&mut self) -> Result<u8, DecodeError> {
        self.skip_whitespace();
        let byte = self.peek().ok_or(DecodeError::Malformed)?;
        self.pos += 1;
        Ok(byte)
    }

    /// Only whitespace is left.
    fn end(&mut self) -> Result<(), DecodeError> {
        self.skip_whitespace();
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(DecodeError::Malformed),
        }
    }

    /// Consumes `literal` if the input continues with it.
    fn literal(&mut self, literal: &[u8]) -> Result<(), DecodeError> {
        let end = self.pos + literal.len();
        if self.bytes.get(self.pos..end) != Some(literal) {
            return Err(DecodeError::Malformed);
        }
        self.pos = end;
        Ok(())
    }

    /// Consumes a `null` if one comes next; whether it did.
    fn null(&mut self) -> Result<bool, DecodeError> {
        self.skip_whitespace();
        if self.peek() != Some(b'n') {
            return Ok(false);
        }
        self.literal(b"null")?;
        Ok(true)
    }

    /// A string (its escaped content) or `null`.
    fn string_or_null(&mut self) -> Result<Option<&'a str>, DecodeError> {
        if self.null()? {
            return Ok(None);
        }
        if self.next_token()? != b'"' {
            return Err(DecodeError::Malformed);
        }
        self.string_content().map(Some)
    }

    /// The content of a string whose opening quote was just read, up to and
    /// past its closing quote: valid UTF-8 and no raw control character
    /// ([`DecodeError::Malformed`] otherwise), every `\` followed by an
    /// escape's letter and `\u` by four hex digits
    /// ([`DecodeError::InvalidEscape`] otherwise). The escapes are resolved
    /// later, by [`Unescape`], for the strings that are kept.
    fn string_content(&mut self) -> Result<&'a str, DecodeError> {
        let start = self.pos;
        loop {
            match self.peek().ok_or(DecodeError::Malformed)? {
                b'"' => break,
                b'\\' => {
                    self.pos += 1;
                    match self.peek().ok_or(DecodeError::Malformed)? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.pos += 1,
                        b'u' => {
                            let digits = self
                                .bytes
                                .get(self.pos + 1..self.pos + 5)
                                .ok_or(DecodeError::InvalidEscape)?;
                            if !digits.iter().all(u8::is_ascii_hexdigit) {
                                return Err(DecodeError::InvalidEscape);
                            }
                            self.pos += 5;
                        }
                        _ => return Err(DecodeError::InvalidEscape),
                    }
                }
                0x00..=0x1f => return Err(DecodeError::Malformed),
                _ => self.pos += 1,
            }
        }
        let content = self.bytes.get(start..self.pos).unwrap_or_default();
        self.pos += 1;
        core::str::from_utf8(content).map_err(|_| DecodeError::Malformed)
    }

    /// An object, its opening brace next: `member` is called with each key,
    /// the reader just past the key's colon, and must read the value.
    fn object(
        &mut self,
        depth: usize,
        mut member: impl FnMut(&mut Self, Key<'_>) -> Result<(), DecodeError>,
    ) -> Result<(), DecodeError> {
        if depth >= MAX_JSON_DEPTH || self.next_token()? != b'{' {
            return Err(DecodeError::Malformed);
        }
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            if self.next_token()? != b'"' {
                return Err(DecodeError::Malformed);
            }
            let escaped = self.string_content()?;
            let mut short: heapless::String<8> = heapless::String::new();
            let key = if !escaped.contains('\\') {
                Key::Known(escaped)
            } else if unescape_into(escaped, &mut short).map_err(|_| DecodeError::Malformed)? {
                Key::Other
            } else {
                Key::Known(short.as_str())
            };
            if self.next_token()? != b':' {
                return Err(DecodeError::Malformed);
            }
            member(self, key)?;
            match self.next_token()? {
                b',' => continue,
                b'}' => return Ok(()),
                _ => return Err(DecodeError::Malformed),
            }
        }
    }

    /// An array, its opening bracket next: `element` reads each element.
    fn array(
        &mut self,
        depth: usize,
        mut element: impl FnMut(&mut Self) -> Result<(), DecodeError>,
    ) -> Result<(), DecodeError> {
        if depth >= MAX_JSON_DEPTH || self.next_token()? != b'[' {
            return Err(DecodeError::Malformed);
        }
        self.skip_whitespace();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            element(self)?;
            match self.next_token()? {
                b',' => continue,
                b']' => return Ok(()),
                _ => return Err(DecodeError::Malformed),
            }
        }
    }

    /// Any JSON value, checked and passed over; `depth` is how deeply it
    /// sits inside the body's arrays and objects.
    fn skip_value(&mut self, depth: usize) -> Result<(), DecodeError> {
        self.skip_whitespace();
        match self.peek().ok_or(DecodeError::Malformed)? {
            b'{' => self.object(depth, |json, _| json.skip_value(depth + 1)),
            b'[' => self.array(depth, |json| json.skip_value(depth + 1)),
            b'"' => {
                self.pos += 1;
                self.string_content().map(|_| ())
            }
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => self.number(),
        }
    }

    /// A number: `-`? (`0` | [1-9][0-9]*) (`.` [0-9]+)? ([eE] [+-]? [0-9]+)?
    fn number(&mut self) -> Result<(), DecodeError> {
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(DecodeError::Malformed),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            self.one_or_more_digits()?;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            self.one_or_more_digits()?;
        }
        Ok(())
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
    }

    fn one_or_more_digits(&mut self) -> Result<(), DecodeError> {
        let start = self.pos;
        self.digits();
        if self.pos == start {
            return Err(DecodeError::Malformed);
        }
        Ok(())
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
    fn control_characters_are_escaped_as_connect_go_escapes_them() {
        let mut out = [0u8; 128];
        let n = ErrorBody::new(Code::Internal, "\u{1f}\u{0}\u{8}\u{c}\r\t\u{7f}\u{e9}")
            .encode_json(&mut out)
            .unwrap();
        assert_eq!(
            core::str::from_utf8(&out[..n]).unwrap(),
            "{\"code\":\"internal\",\"message\":\"\\u001f\\u0000\\b\\f\\r\\t\u{7f}\u{e9}\"}"
        );
        // What serde_json (the standard library's JSON in dispatch-std) writes.
        let text = "a\u{1f}\"\\\n\u{2028}b";
        let n = ErrorBody::new(Code::Internal, text)
            .encode_json(&mut out)
            .unwrap();
        let want = std::format!(
            r#"{{"code":"internal","message":{}}}"#,
            serde_json::to_string(text).unwrap()
        );
        assert_eq!(core::str::from_utf8(&out[..n]).unwrap(), want);
    }

    #[test]
    fn the_reader_is_strict_json() {
        for body in [
            &br#"{"code":"internal","x":tru}"#[..],
            br#"{"code":"internal","x":abc}"#,
            br#"{"code":"internal","x":01}"#,
            br#"{"code":"internal","x":1.}"#,
            br#"{"code":"internal","x":-}"#,
            br#"{"code":"internal","x":1e}"#,
            br#"{"code":"internal",}"#,
            br#"{"code":"internal","x":[1,]}"#,
            br#"{"code" "internal"}"#,
            br#"{code:"internal"}"#,
            b"{\"code\":\"inter\nnal\"}",
            b"{\"code\":\"internal\",\"message\":\"\xff\"}",
            br#"{"code":"internal","code":"unknown"}"#,
            br#"{"code":"internal","details":[{"type":"t","type":"u","value":""}]}"#,
            br#"{"code":"internal","details":[1]}"#,
            br#"{"code":"internal""#,
        ] {
            assert_eq!(
                decode_error_json::<8>(body, scratch()),
                Err(DecodeError::Malformed),
                "{:?}",
                core::str::from_utf8(body)
            );
        }
        for body in [
            &b" {\"x\":[-0.5e+3,1E2,true,false,null,{\"y\":\"\\u00e9\"}],\r\n\t\"code\":\"internal\"} "[..],
            br#"{"unknown":1,"unknown":2,"code":"internal","details":null,"message":null}"#,
            br#"{"\u0063ode":"internal"}"#,
        ] {
            let decoded = decode_error_json::<8>(body, scratch()).unwrap();
            assert_eq!(decoded.code, Some(Code::Internal), "{:?}", core::str::from_utf8(body));
        }
        assert_eq!(
            decode_error_json::<8>(br#"{"code":"internal","x":"\u00g0"}"#, scratch()),
            Err(DecodeError::InvalidEscape)
        );
    }

    #[test]
    fn nesting_is_bounded() {
        let within = std::format!(
            r#"{{"code":"internal","debug":{}1{}}}"#,
            "[".repeat(MAX_JSON_DEPTH - 1),
            "]".repeat(MAX_JSON_DEPTH - 1)
        );
        assert!(decode_error_json::<8>(within.as_bytes(), scratch()).is_ok());
        let beyond = std::format!(
            r#"{{"code":"internal","debug":{}1{}}}"#,
            "[".repeat(MAX_JSON_DEPTH),
            "]".repeat(MAX_JSON_DEPTH)
        );
        assert_eq!(
            decode_error_json::<8>(beyond.as_bytes(), scratch()),
            Err(DecodeError::Malformed)
        );
        // Deep enough to overflow a stack were the recursion not bounded.
        let deep = std::format!(r#"{{"debug":{}"#, "[".repeat(1 << 20));
        assert_eq!(
            decode_error_json::<8>(deep.as_bytes(), scratch()),
            Err(DecodeError::Malformed)
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
