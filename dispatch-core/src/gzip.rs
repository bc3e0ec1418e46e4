//! Bounded gzip inflation (RFC 1952), for request bodies sent with
//! `Content-Encoding: gzip`, and [`compress`] for the responses of clients
//! that accept gzip.
//!
//! One member, checked whole: the header, the deflate stream (RFC 1951,
//! inflated by `miniz_oxide`), and the trailer's CRC-32 and length. The
//! output never grows more than one byte past the caller's limit, so a
//! small body that would inflate to gigabytes is refused after `limit`
//! bytes of work. Anything
//! after the member (a second member, stray bytes) is refused rather than
//! ignored: nothing in a signed body goes unread.
//!
//! ```
//! use dispatch_core::gzip::{inflate, GzipError};
//!
//! // "hello" compressed by `gzip -n` (a stored header, no name, no time).
//! let body = [
//!     0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xcb, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0,
//!     0x86, 0xa6, 0x10, 0x36, 5, 0, 0, 0,
//! ];
//! assert_eq!(inflate(&body, 1024)?, b"hello");
//! assert_eq!(inflate(&body, 4), Err(GzipError::TooLarge { limit: 4 }));
//! # Ok::<(), GzipError>(())
//! ```

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;

use miniz_oxide::inflate::TINFLStatus;
use miniz_oxide::inflate::core::{DecompressorOxide, decompress, inflate_flags};

/// Why a body is not one well-formed gzip member within the limit.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GzipError {
    /// The body does not start with a gzip header (magic bytes, method 8
    /// "deflate", no reserved flag bits, a matching header CRC when one is
    /// sent), or the header is cut short.
    Header,
    /// The deflate stream is corrupt or cut short.
    Deflate,
    /// The trailer is missing, or its CRC-32 or length does not match what
    /// was inflated.
    Trailer,
    /// Bytes follow the member (a second member, or anything else).
    TrailingData,
    /// The inflated body would be longer than the limit.
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
}

impl GzipError {
    /// What failed, in a few words (no request data in it).
    pub const fn message(&self) -> &'static str {
        match self {
            GzipError::Header => "the body does not start with a gzip header",
            GzipError::Deflate => "the body's deflate stream is corrupt or cut short",
            GzipError::Trailer => "the body's gzip trailer is missing or does not match",
            GzipError::TrailingData => "bytes follow the body's gzip member",
            GzipError::TooLarge { .. } => "the inflated body is larger than the limit",
        }
    }
}

impl fmt::Display for GzipError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GzipError::TooLarge { limit } => {
                write!(
                    f,
                    "the inflated body is larger than the limit of {limit} bytes"
                )
            }
            other => f.write_str(other.message()),
        }
    }
}

impl core::error::Error for GzipError {}

const FLAG_HCRC: u8 = 1 << 1;
const FLAG_EXTRA: u8 = 1 << 2;
const FLAG_NAME: u8 = 1 << 3;
const FLAG_COMMENT: u8 = 1 << 4;
const FLAG_RESERVED: u8 = 0b1110_0000;

/// Inflates `body`, one gzip member, into at most `limit` bytes.
pub fn inflate(body: &[u8], limit: usize) -> Result<Vec<u8>, GzipError> {
    let start = header_len(body).ok_or(GzipError::Header)?;
    let stream = body.get(start..).ok_or(GzipError::Header)?;
    let (out, consumed) = inflate_raw(stream, limit)?;
    let trailer = stream.get(consumed..).ok_or(GzipError::Trailer)?;
    let (crc, rest) = trailer.split_first_chunk::<4>().ok_or(GzipError::Trailer)?;
    let (size, rest) = rest.split_first_chunk::<4>().ok_or(GzipError::Trailer)?;
    // ISIZE is the length modulo 2^32 (RFC 1952 section 2.3.1).
    if u32::from_le_bytes(*crc) != crc32(&out) || u32::from_le_bytes(*size) != out.len() as u32 {
        return Err(GzipError::Trailer);
    }
    if !rest.is_empty() {
        return Err(GzipError::TrailingData);
    }
    Ok(out)
}

/// `data` as one gzip member: a 10-byte header (no name, no time, "unknown"
/// OS), the deflate stream at level 6, and the CRC-32 and length.
///
/// ```
/// use dispatch_core::gzip::{compress, inflate};
/// let body = b"a response a client asked to receive compressed".repeat(40);
/// let compressed = compress(&body);
/// assert!(compressed.len() < body.len() / 10);
/// assert_eq!(inflate(&compressed, body.len()).as_deref(), Ok(&body[..]));
/// ```
pub fn compress(data: &[u8]) -> Vec<u8> {
    let deflated = miniz_oxide::deflate::compress_to_vec(data, 6);
    let mut out = Vec::with_capacity(deflated.len() + 18);
    out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]);
    out.extend_from_slice(&deflated);
    out.extend_from_slice(&crc32(data).to_le_bytes());
    // ISIZE is the length modulo 2^32.
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

/// The length of the member header at the start of `body`, with its
/// optional fields; `None` if it is not a gzip header.
fn header_len(body: &[u8]) -> Option<usize> {
    let (fixed, rest) = body.split_first_chunk::<10>()?;
    let [0x1f, 0x8b, 8, flags, ..] = *fixed else {
        return None;
    };
    if flags & FLAG_RESERVED != 0 {
        return None;
    }
    let mut rest = rest;
    if flags & FLAG_EXTRA != 0 {
        let (len, after) = rest.split_first_chunk::<2>()?;
        rest = after.get(usize::from(u16::from_le_bytes(*len))..)?;
    }
    for flag in [FLAG_NAME, FLAG_COMMENT] {
        if flags & flag != 0 {
            let end = rest.iter().position(|&b| b == 0)?;
            rest = rest.get(end + 1..)?;
        }
    }
    if flags & FLAG_HCRC != 0 {
        // FHCRC: the low 16 bits of the CRC-32 of every header byte before
        // it. Checked, not skipped: a header that says it is protected and
        // does not match is not a member we read.
        let covered = body.get(..body.len() - rest.len())?;
        let (sent, after) = rest.split_first_chunk::<2>()?;
        if u16::from_le_bytes(*sent) != crc32(covered) as u16 {
            return None;
        }
        rest = after;
    }
    Some(body.len() - rest.len())
}

/// Inflates the raw deflate stream at the start of `stream` into at most
/// `limit` bytes; returns the output and how many input bytes the stream
/// took.
fn inflate_raw(stream: &[u8], limit: usize) -> Result<(Vec<u8>, usize), GzipError> {
    let mut state = Box::<DecompressorOxide>::default();
    // Start near the compressed size; grow by doubling up to one byte past
    // the limit, so that "exactly the limit" and "over it" are told apart.
    let ceiling = limit.saturating_add(1);
    let mut out = alloc::vec![0u8; stream.len().saturating_mul(4).max(64).min(ceiling)];
    let (mut read, mut written) = (0, 0);
    loop {
        let input = stream.get(read..).unwrap_or_default();
        let (status, used, made) = decompress(
            &mut state,
            input,
            &mut out,
            written,
            inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF,
        );
        read += used;
        written += made;
        if written > limit {
            return Err(GzipError::TooLarge { limit });
        }
        match status {
            TINFLStatus::Done => {
                out.truncate(written);
                return Ok((out, read));
            }
            TINFLStatus::HasMoreOutput => {
                if out.len() >= ceiling {
                    return Err(GzipError::TooLarge { limit });
                }
                let grown = out.len().saturating_mul(2).min(ceiling);
                out.resize(grown, 0);
            }
            _ => return Err(GzipError::Deflate),
        }
    }
}

/// CRC-32 (ISO-HDLC, the polynomial gzip uses), bytewise from a table
/// built at compile time.
fn crc32(data: &[u8]) -> u32 {
    // Evaluated at compile time: an index out of range would fail the build.
    #[allow(clippy::indexing_slicing)]
    const TABLE: [u32; 256] = {
        let mut table = [0u32; 256];
        let mut n = 0;
        while n < 256 {
            let mut c = n as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
                k += 1;
            }
            table[n] = c;
            n += 1;
        }
        table
    };
    !data.iter().fold(!0u32, |crc, &byte| {
        // A u8 always indexes a table of 256.
        let entry = TABLE
            .get(usize::from((crc as u8) ^ byte))
            .copied()
            .unwrap_or(0);
        entry ^ (crc >> 8)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // "hello" from `printf hello | gzip -n`.
    const HELLO: [u8; 25] = [
        0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xcb, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0, 0x86, 0xa6,
        0x10, 0x36, 5, 0, 0, 0,
    ];

    /// A gzip member of `data` (deflated by miniz_oxide) with the given
    /// header flags and fields.
    fn member(data: &[u8], flags: u8, fields: &[u8]) -> Vec<u8> {
        let mut out = alloc::vec![0x1f, 0x8b, 8, flags, 0, 0, 0, 0, 0, 255];
        out.extend_from_slice(fields);
        out.extend_from_slice(&miniz_oxide::deflate::compress_to_vec(data, 6));
        out.extend_from_slice(&crc32(data).to_le_bytes());
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out
    }

    #[test]
    fn compress_round_trips_and_is_a_plain_member() {
        for data in [&b""[..], b"x", &[7u8; 100_000][..]] {
            let member = compress(data);
            assert_eq!(member.get(..4), Some(&[0x1f, 0x8b, 8, 0][..]));
            assert_eq!(inflate(&member, data.len()).as_deref(), Ok(data));
        }
    }

    #[test]
    fn crc32_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn inflates_gzip_output() {
        assert_eq!(inflate(&HELLO, 5).as_deref(), Ok(&b"hello"[..]));
        assert_eq!(inflate(&HELLO, 4), Err(GzipError::TooLarge { limit: 4 }));
    }

    /// The header CRC of a [`member`] with these flags and fields.
    fn header_crc(flags: u8, fields: &[u8]) -> [u8; 2] {
        let mut header = alloc::vec![0x1f, 0x8b, 8, flags, 0, 0, 0, 0, 0, 255];
        header.extend_from_slice(fields);
        (crc32(&header) as u16).to_le_bytes()
    }

    #[test]
    fn optional_header_fields_are_skipped() {
        let flags = FLAG_EXTRA | FLAG_NAME | FLAG_COMMENT | FLAG_HCRC;
        let mut fields = alloc::vec![2, 0, b'x', b'y', b'n', b'a', b'm', b'e', 0, b'c', 0];
        fields.extend_from_slice(&header_crc(flags, &fields));
        let body = member(b"payload", flags, &fields);
        assert_eq!(inflate(&body, 100).as_deref(), Ok(&b"payload"[..]));
        assert_eq!(inflate(&member(b"", 0, &[]), 0).as_deref(), Ok(&b""[..]));
    }

    #[test]
    fn the_header_crc_is_checked() {
        // Found by the gzip_inflate fuzz target: FTEXT|FHCRC with a header
        // CRC of 0x0300, an empty fixed-Huffman block, an empty trailer.
        // flate2 refuses it; so do we.
        let found = [
            0x1f, 0x8b, 8, 3, 0, 0, 0, 0, 0, 0, 0, 3, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        assert_eq!(inflate(&found, 1 << 16), Err(GzipError::Header));
        let mut fixed = found;
        fixed[10..12].copy_from_slice(&(crc32(&found[..10]) as u16).to_le_bytes());
        assert_eq!(inflate(&fixed, 1 << 16).as_deref(), Ok(&b""[..]));
        let mut cut = member(b"x", FLAG_HCRC, &header_crc(FLAG_HCRC, &[]));
        cut.truncate(11);
        assert_eq!(inflate(&cut, 10), Err(GzipError::Header));
    }

    #[test]
    fn malformed_members_are_refused() {
        assert_eq!(inflate(b"", 10), Err(GzipError::Header));
        assert_eq!(inflate(&HELLO[..9], 10), Err(GzipError::Header));
        let mut wrong_magic = HELLO;
        wrong_magic[1] = 0x8c;
        assert_eq!(inflate(&wrong_magic, 10), Err(GzipError::Header));
        let mut reserved = HELLO;
        reserved[3] = 0x20;
        assert_eq!(inflate(&reserved, 10), Err(GzipError::Header));
        let name_without_end = member(b"x", FLAG_NAME, b"name");
        assert_eq!(inflate(&name_without_end[..14], 10), Err(GzipError::Header));
        assert_eq!(inflate(&HELLO[..14], 10), Err(GzipError::Deflate));
        let mut corrupt = HELLO;
        corrupt[10] = 0xff;
        assert_eq!(inflate(&corrupt, 10), Err(GzipError::Deflate));
        assert_eq!(
            inflate(&HELLO[..HELLO.len() - 1], 10),
            Err(GzipError::Trailer)
        );
        let mut bad_crc = HELLO;
        bad_crc[17] ^= 1;
        assert_eq!(inflate(&bad_crc, 10), Err(GzipError::Trailer));
        let mut bad_size = HELLO;
        bad_size[21] = 6;
        assert_eq!(inflate(&bad_size, 10), Err(GzipError::Trailer));
        let mut two_members = HELLO.to_vec();
        two_members.extend_from_slice(&HELLO);
        assert_eq!(inflate(&two_members, 100), Err(GzipError::TrailingData));
    }

    #[test]
    fn a_distance_before_the_start_is_refused() {
        // Found by the gzip_inflate fuzz target: a back-reference to bytes
        // before the first one inflated. zlib refuses it ("invalid distance
        // too far back"); a decoder reading a zeroed window would accept.
        let found = [
            0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 3, 0xed, 0xc1, 0x31, 1, 0, 0, 0, 0xc2, 0xa0, 0xf5,
            0x4f, 0x6d, 0x0d, 0x0f, 0, 0xa0, 0, 0x80, 0x77, 3, 0x0d, 0x5b, 0x86, 0xda, 0xb8, 0x0b,
            0, 0,
        ];
        assert_eq!(inflate(&found, 1 << 16), Err(GzipError::Deflate));
    }

    #[test]
    fn a_bomb_stops_at_the_limit() {
        // 1 MiB of zeros in about a kilobyte: refused once the output passes the limit.
        let data = alloc::vec![0u8; 1 << 20];
        let body = member(&data, 0, &[]);
        assert!(body.len() < 2048, "{} bytes", body.len());
        assert_eq!(
            inflate(&body, (1 << 20) - 1),
            Err(GzipError::TooLarge {
                limit: (1 << 20) - 1
            })
        );
        assert_eq!(inflate(&body, 1 << 20).map(|v| v.len()), Ok(1 << 20));
    }
}
