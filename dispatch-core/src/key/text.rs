//! The text layer: trimming, PEM armour, base64.

use base64ct::{Base64, Encoding};

use super::der::*;
use super::{KeyError, MAX_KEY_TEXT_LEN};

/// A stack buffer for key text and its decoding, zeroed when dropped so no
/// seed lingers on the stack (best effort: `black_box` keeps the writes).
pub(super) struct Wiped<const N: usize>(pub(super) [u8; N]);

impl<const N: usize> Drop for Wiped<N> {
    fn drop(&mut self) {
        self.0.fill(0);
        core::hint::black_box(&mut self.0);
    }
}

pub(super) type Scratch = Wiped<MAX_KEY_TEXT_LEN>;

impl Scratch {
    pub(super) fn new() -> Self {
        Wiped([0u8; MAX_KEY_TEXT_LEN])
    }
}

/// The input, bounded and trimmed of surrounding ASCII whitespace.
pub(super) fn trimmed_key_text(text: &str) -> Result<&[u8], KeyError> {
    if text.len() > MAX_KEY_TEXT_LEN {
        return Err(KeyError::TooLong);
    }
    let text = text.as_bytes().trim_ascii();
    if text.is_empty() {
        Err(KeyError::Empty)
    } else {
        Ok(text)
    }
}

/// What the text holds, once its base64 characters are in the scratch buffer.
pub(super) enum KeyText<'t> {
    /// A PEM block with this label.
    Pem { label: &'t [u8] },
    /// Bare base64.
    Bare,
}

/// Splits `text` into a PEM block or bare base64, copying the base64
/// characters into `scratch` and returning how many there are.
pub(super) fn read_key_text<'t>(
    text: &'t [u8],
    scratch: &mut [u8; MAX_KEY_TEXT_LEN],
) -> Result<(KeyText<'t>, usize), KeyError> {
    if text.starts_with(PEM_DASHES) {
        let (label, len) = read_pem(text, scratch)?;
        return Ok((KeyText::Pem { label }, len));
    }
    // A PEM block after some other text: we read exactly one block and nothing else.
    if text.windows(PEM_DASHES.len()).any(|w| w == PEM_DASHES) {
        return Err(KeyError::PemArmor);
    }
    let dst = scratch.get_mut(..text.len()).ok_or(KeyError::TooLong)?;
    dst.copy_from_slice(text);
    Ok((KeyText::Bare, text.len()))
}

/// Lines of a PEM text: separated by LF, CRLF or a literal `\n`, each stripped
/// of trailing CR, SP and HTAB.
pub(super) struct PemLines<'a> {
    rest: Option<&'a [u8]>,
}

impl<'a> Iterator for PemLines<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let rest = self.rest?;
        let mut at = 0;
        let (line, next) = loop {
            match (rest.get(at), rest.get(at + 1)) {
                (None, _) => break (rest, None),
                (Some(b'\n'), _) => break (rest.get(..at)?, rest.get(at + 1..)),
                (Some(b'\\'), Some(b'n')) => break (rest.get(..at)?, rest.get(at + 2..)),
                _ => at += 1,
            }
        };
        self.rest = next;
        let end = line
            .iter()
            .rposition(|b| !matches!(b, b'\r' | b' ' | b'\t'))
            .map_or(0, |i| i + 1);
        line.get(..end)
    }
}

/// Reads one PEM block filling all of `text`; returns its label and copies
/// the body's base64 characters into `scratch`.
pub(super) fn read_pem<'t>(
    text: &'t [u8],
    scratch: &mut [u8; MAX_KEY_TEXT_LEN],
) -> Result<(&'t [u8], usize), KeyError> {
    let mut lines = PemLines { rest: Some(text) };
    let label = lines
        .next()
        .and_then(|line| pem_label(line, PEM_BEGIN))
        .ok_or(KeyError::PemArmor)?;
    let mut len = 0;
    loop {
        let line = lines.next().ok_or(KeyError::PemArmor)?;
        if line.starts_with(PEM_DASHES) {
            if pem_label(line, PEM_END) != Some(label) {
                return Err(KeyError::PemArmor);
            }
            break;
        }
        let end = len + line.len();
        scratch
            .get_mut(len..end)
            .ok_or(KeyError::TooLong)?
            .copy_from_slice(line);
        len = end;
    }
    // Only empty lines (a final line end, a literal `\n`) may follow.
    if lines.any(|line| !line.is_empty()) {
        return Err(KeyError::TrailingData);
    }
    Ok((label, len))
}

/// The label of a `-----BEGIN <label>-----` or `-----END <label>-----` line.
pub(super) fn pem_label<'t>(line: &'t [u8], start: &[u8]) -> Option<&'t [u8]> {
    let label = line.strip_prefix(start)?.strip_suffix(PEM_DASHES)?;
    let printable = |b: &u8| b.is_ascii_graphic() || *b == b' ';
    // RFC 7468 labels: printable, with single hyphens or spaces between words.
    let ok = label.iter().all(printable)
        && !label.is_empty()
        && !label.starts_with(b"-")
        && !label.ends_with(b"-")
        && !label.windows(2).any(|w| w == b"--");
    ok.then_some(label)
}

/// Decodes the `len` base64 characters at the start of `buf` in place, with a
/// precise error for the usual wrong encodings.
pub(super) fn decode_base64_in_place(buf: &mut [u8], len: usize) -> Result<&[u8], KeyError> {
    let text = buf.get_mut(..len).ok_or(KeyError::TooLong)?;
    if looks_like_hex(text) {
        return Err(KeyError::Hex);
    }
    if looks_like_base64url(text) {
        return Err(KeyError::Base64Url);
    }
    if looks_like_unpadded_base64(text) {
        return Err(KeyError::MissingPadding);
    }
    if !has_zero_trailing_bits(text) {
        return Err(KeyError::Base64);
    }
    Base64::decode_in_place(text).map_err(|_| KeyError::Base64)
}

/// Whether the bits the padding leaves unused are zero, as a canonical
/// encoding has them (base64ct itself does not check this).
pub(super) fn has_zero_trailing_bits(text: &[u8]) -> bool {
    let (last, unused_mask) = if let Some(data) = text.strip_suffix(b"==") {
        (data.last(), 0x0f)
    } else if let Some(data) = text.strip_suffix(b"=") {
        (data.last(), 0x03)
    } else {
        return true;
    };
    let sextet = match last {
        Some(c @ b'A'..=b'Z') => c - b'A',
        Some(c @ b'a'..=b'z') => c - b'a' + 26,
        Some(c @ b'0'..=b'9') => c - b'0' + 52,
        Some(b'+') => 62,
        Some(b'/') => 63,
        // Not the alphabet: the decoder reports it.
        _ => return true,
    };
    sextet & unused_mask == 0
}

/// Even-length hex digits, with or without `0x`.
pub(super) fn looks_like_hex(text: &[u8]) -> bool {
    let digits = text
        .strip_prefix(b"0x")
        .or_else(|| text.strip_prefix(b"0X"))
        .unwrap_or(text);
    !digits.is_empty() && digits.len().is_multiple_of(2) && digits.iter().all(u8::is_ascii_hexdigit)
}

/// The base64url alphabet with at least one of its own characters (`-`, `_`),
/// padded or not, of a length base64url could have.
pub(super) fn looks_like_base64url(text: &[u8]) -> bool {
    let data = text
        .strip_suffix(b"==")
        .or_else(|| text.strip_suffix(b"="))
        .unwrap_or(text);
    let padded = data.len() != text.len();
    let plausible_len = if padded {
        text.len().is_multiple_of(4)
    } else {
        data.len() % 4 != 1
    };
    plausible_len
        && data.iter().any(|b| matches!(b, b'-' | b'_'))
        && data
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

/// The standard alphabet with no padding, of the length 32 bytes take
/// unpadded (shorter garbage such as `foo` is just bad base64).
pub(super) fn looks_like_unpadded_base64(text: &[u8]) -> bool {
    text.len() == UNPADDED_KEY_BASE64_LEN
        && text
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/'))
}
