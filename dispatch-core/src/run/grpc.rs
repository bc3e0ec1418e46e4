//! The gRPC transport of the Run RPC: content types, `grpc-timeout`, the
//! length-prefixed message frame, and `grpc-message` text.

use core::time::Duration;

use super::{MAX_MESSAGE_LEN, Refusal};
use crate::connect::EncodeError;

/// The `grpc-timeout` request header.
pub const TIMEOUT_HEADER: &str = "grpc-timeout";
/// The `grpc-encoding` request header.
pub const ENCODING_HEADER: &str = "grpc-encoding";
/// The content type of gRPC responses.
pub const CONTENT_TYPE: &str = "application/grpc";
/// The length of the prefix before each gRPC message: a compressed flag and
/// a big-endian `u32` length.
pub const FRAME_PREFIX_LEN: usize = 5;

/// Whether a content type is gRPC with the proto codec: `application/grpc`
/// or `application/grpc+proto` (case-insensitive, parameters allowed).
///
/// ```
/// use dispatch_core::run::is_grpc_content_type;
/// assert!(is_grpc_content_type("application/grpc+proto"));
/// assert!(!is_grpc_content_type("application/grpc+json"));
/// assert!(!is_grpc_content_type("application/grpc-web"));
/// ```
pub fn is_grpc_content_type(content_type: &str) -> bool {
    let media_type = content_type
        .split_once(';')
        .map_or(content_type, |(media_type, _)| media_type)
        .trim();
    media_type.eq_ignore_ascii_case(CONTENT_TYPE)
        || media_type.eq_ignore_ascii_case("application/grpc+proto")
}

/// Parses a `grpc-timeout` value: 1 to 8 ASCII digits and a unit, `H`
/// (hours), `M` (minutes), `S` (seconds), `m` (milliseconds), `u`
/// (microseconds) or `n` (nanoseconds). `None` for anything else.
///
/// ```
/// use core::time::Duration;
/// use dispatch_core::run::parse_grpc_timeout;
///
/// assert_eq!(parse_grpc_timeout("250m"), Some(Duration::from_millis(250)));
/// assert_eq!(parse_grpc_timeout("2H"), Some(Duration::from_secs(7200)));
/// assert_eq!(parse_grpc_timeout("123456789S"), None); // nine digits
/// assert_eq!(parse_grpc_timeout("5"), None); // no unit
/// ```
pub fn parse_timeout(value: &str) -> Option<Duration> {
    let (digits, unit) = value.split_at_checked(value.len().checked_sub(1)?)?;
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // At most 99 999 999: no product below overflows.
    let count = digits
        .bytes()
        .fold(0u64, |acc, digit| acc * 10 + u64::from(digit - b'0'));
    Some(match unit {
        "H" => Duration::from_secs(count * 3600),
        "M" => Duration::from_secs(count * 60),
        "S" => Duration::from_secs(count),
        "m" => Duration::from_millis(count),
        "u" => Duration::from_micros(count),
        "n" => Duration::from_nanos(count),
        _ => return None,
    })
}

/// The one message of a unary gRPC request body: a 5-byte prefix
/// (compressed flag 0, big-endian length) and exactly that many bytes.
/// A compressed message is [`Refusal::UnsupportedEncoding`]; any other shape
/// is [`Refusal::MalformedBody`].
///
/// ```
/// use dispatch_core::run::{grpc_message, Refusal};
/// assert_eq!(grpc_message(&[0, 0, 0, 0, 2, 0x0a, 0x00]), Ok(&[0x0a, 0x00][..]));
/// assert_eq!(grpc_message(&[0, 0, 0, 0, 3, 0x0a]), Err(Refusal::MalformedBody));
/// ```
pub fn message(body: &[u8]) -> Result<&[u8], Refusal<'static>> {
    let (prefix, message) = body
        .split_first_chunk::<FRAME_PREFIX_LEN>()
        .ok_or(Refusal::MalformedBody)?;
    let [flag, length @ ..] = *prefix;
    match flag {
        0 => {}
        1 => return Err(Refusal::UnsupportedEncoding { gzip: false }),
        _ => return Err(Refusal::MalformedBody),
    }
    let length = usize::try_from(u32::from_be_bytes(length)).map_err(|_| Refusal::MalformedBody)?;
    if message.len() != length {
        return Err(Refusal::MalformedBody);
    }
    Ok(message)
}

/// The prefix of an uncompressed gRPC message of `length` bytes; `None`
/// past `u32::MAX`.
pub fn frame_prefix(length: usize) -> Option<[u8; FRAME_PREFIX_LEN]> {
    let [a, b, c, d] = u32::try_from(length).ok()?.to_be_bytes();
    Some([0, a, b, c, d])
}

impl Refusal<'_> {
    /// Writes the message as a `grpc-message` value (percent-encoded UTF-8,
    /// printable ASCII but `%` kept as is) into `out`, returning its length;
    /// a buffer of `3 *` [`MAX_MESSAGE_LEN`] bytes always suffices.
    pub fn write_grpc_message(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        let mut text = [0u8; MAX_MESSAGE_LEN];
        let message = self.message_into(&mut text);
        let mut written = 0;
        for &byte in message.as_bytes() {
            let mut escaped = [b'%', 0, 0];
            let encoded: &[u8] = if (0x20..=0x7e).contains(&byte) && byte != b'%' {
                core::slice::from_ref(&byte)
            } else {
                const HEX: &[u8; 16] = b"0123456789ABCDEF";
                let [_, high, low] = &mut escaped;
                *high = HEX.get(usize::from(byte >> 4)).copied().unwrap_or(b'0');
                *low = HEX.get(usize::from(byte & 0xf)).copied().unwrap_or(b'0');
                &escaped
            };
            let end = written + encoded.len();
            out.get_mut(written..end)
                .ok_or(EncodeError::BufferTooSmall)?
                .copy_from_slice(encoded);
            written = end;
        }
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_parse_in_every_unit_and_refuse_the_malformed() {
        assert_eq!(parse_timeout("1M"), Some(Duration::from_secs(60)));
        assert_eq!(parse_timeout("3S"), Some(Duration::from_secs(3)));
        assert_eq!(parse_timeout("7u"), Some(Duration::from_micros(7)));
        assert_eq!(
            parse_timeout("99999999n"),
            Some(Duration::from_nanos(99_999_999))
        );
        assert_eq!(
            parse_timeout("99999999H"),
            Some(Duration::from_secs(99_999_999 * 3600))
        );
        for bad in ["", "m", "1x", "-1S", "+1S", "1 S", "1.5S", "１S"] {
            assert_eq!(parse_timeout(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn frames() {
        assert_eq!(frame_prefix(258), Some([0, 0, 0, 1, 2]));
        assert_eq!(message(&[0, 0, 0, 0, 0]), Ok(&[][..]));
        assert_eq!(
            message(&[1, 0, 0, 0, 0]),
            Err(Refusal::UnsupportedEncoding { gzip: false })
        );
        assert_eq!(message(&[2, 0, 0, 0, 0]), Err(Refusal::MalformedBody));
        assert_eq!(message(&[0, 0, 0]), Err(Refusal::MalformedBody));
        // Two messages in a unary request are one too many.
        assert_eq!(
            message(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            Err(Refusal::MalformedBody)
        );
    }

    #[test]
    fn grpc_messages_are_percent_encoded() {
        let refusal = Refusal::UnknownFunction { name: "é%" };
        let mut out = [0u8; 3 * MAX_MESSAGE_LEN];
        let n = refusal.write_grpc_message(&mut out).unwrap();
        assert_eq!(&out[..n], b"function \"%C3%A9%25\" does not exist");
        assert_eq!(
            refusal.write_grpc_message(&mut out[..4]),
            Err(EncodeError::BufferTooSmall)
        );
    }
}
