//! RFC 8941 structured fields: a strict, bounded, zero-copy parser and a
//! canonical serializer, for what request signatures need.
//!
//! Supported: dictionaries, items, inner lists, parameters, and the bare item
//! types Integer, Decimal, String, Token, Byte Sequence and Boolean. (Top-level
//! lists are not needed by signatures and are not offered.)
//!
//! Parsing never allocates. A parsed value borrows from the input: strings,
//! tokens and byte sequences are slices of it (byte sequences stay base64 text
//! until [`ByteSequence::decode_into`] writes them into a caller's buffer), and
//! dictionaries, inner lists and parameters keep their source text and walk it
//! again when iterated. Every input is checked completely by `parse`, so that
//! walk cannot fail.
//!
//! Bounds (an input beyond them is an [`Error`], never a larger allocation):
//! [`MAX_INPUT_LEN`] bytes, [`MAX_MEMBERS`] dictionary members,
//! [`MAX_INNER_LIST_ITEMS`] items per inner list and [`MAX_PARAMETERS`]
//! parameters per item or inner list.
//!
//! Duplicates follow RFC 8941: a repeated dictionary key or parameter key keeps
//! the position of its first occurrence and the value of its last.
//!
//! Byte sequences must be padded, canonical standard base64 (RFC 8941 §4.2.7
//! allows a parser to accept missing padding; this one deliberately does not).
//!
//! ```
//! use dispatch_core::sfv::{BareItem, Dictionary, Member};
//! let dict = Dictionary::parse(br#"sig=("@method" "@path");created=1618884473"#)?;
//! let Some(Member::InnerList(list)) = dict.get("sig") else {
//!     return Err("sig is not an inner list".into());
//! };
//! assert_eq!(list.len(), 2);
//! assert_eq!(list.params().get("created"), Some(BareItem::Integer(1618884473)));
//! let mut out = [0u8; 64];
//! let text = dispatch_core::sfv::write_to(&mut out, &list).ok_or("too long")?;
//! assert_eq!(text, r#"("@method" "@path");created=1618884473"#);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use core::fmt::{self, Write};

/// The longest field value accepted, in bytes.
pub const MAX_INPUT_LEN: usize = 4096;
/// The most members (counting repeated keys) a dictionary may have.
pub const MAX_MEMBERS: usize = 16;
/// The most items an inner list may have.
pub const MAX_INNER_LIST_ITEMS: usize = 32;
/// The most parameters (counting repeated keys) one item or inner list may have.
pub const MAX_PARAMETERS: usize = 16;

/// Why a field value is not a valid structured field (or is beyond our bounds).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The input is longer than [`MAX_INPUT_LEN`].
    TooLong,
    /// The input contains a byte outside ASCII.
    NonAscii,
    /// An item was expected but the input is empty.
    Empty,
    /// A key does not start with a lower-case letter or `*`.
    InvalidKey,
    /// A dictionary member is followed by something other than `,`.
    ExpectedComma,
    /// A `,` is followed by nothing.
    TrailingComma,
    /// More than [`MAX_MEMBERS`] dictionary members.
    TooManyMembers,
    /// More than [`MAX_INNER_LIST_ITEMS`] items in an inner list.
    TooManyItems,
    /// More than [`MAX_PARAMETERS`] parameters on one item or inner list.
    TooManyParameters,
    /// An inner list has no closing `)`.
    UnterminatedInnerList,
    /// An inner-list item is followed by something other than a space or `)`.
    ExpectedItemSeparator,
    /// A bare item starts with a character that begins no item type.
    InvalidBareItem,
    /// A `-` is not followed by a digit.
    NumberWithoutDigits,
    /// An integer has more than 15 digits.
    IntegerTooLong,
    /// A decimal has more than 12 integer digits.
    DecimalTooLong,
    /// A decimal has more than 3 fractional digits.
    DecimalFractionTooLong,
    /// A decimal ends with its `.`.
    DecimalEndsWithDot,
    /// A string holds a character that is not printable ASCII.
    InvalidStringCharacter,
    /// A string holds a `\` not followed by `"` or `\`.
    InvalidEscape,
    /// A string has no closing `"`.
    UnterminatedString,
    /// A byte sequence holds a character outside the base64 alphabet.
    InvalidByteSequenceCharacter,
    /// A byte sequence has no closing `:`.
    UnterminatedByteSequence,
    /// A byte sequence is not padded, canonical base64.
    InvalidBase64,
    /// A `?` is not followed by `0` or `1`.
    InvalidBoolean,
    /// Characters follow a complete value.
    TrailingCharacters,
}

impl Error {
    /// A short description in plain words.
    pub const fn message(self) -> &'static str {
        match self {
            Error::TooLong => "the field value is too long",
            Error::NonAscii => "the field value contains non-ASCII bytes",
            Error::Empty => "the field value is empty",
            Error::InvalidKey => "a key is not a valid structured-field key",
            Error::ExpectedComma => "a dictionary member is not followed by a comma",
            Error::TrailingComma => "the field value ends with a comma",
            Error::TooManyMembers => "the dictionary has too many members",
            Error::TooManyItems => "the inner list has too many items",
            Error::TooManyParameters => "there are too many parameters",
            Error::UnterminatedInnerList => "an inner list is not closed",
            Error::ExpectedItemSeparator => "inner-list items are not separated by spaces",
            Error::InvalidBareItem => "a value does not start like any structured-field type",
            Error::NumberWithoutDigits => "a number has no digits",
            Error::IntegerTooLong => "an integer has more than 15 digits",
            Error::DecimalTooLong => "a decimal has more than 12 integer digits",
            Error::DecimalFractionTooLong => "a decimal has more than 3 fractional digits",
            Error::DecimalEndsWithDot => "a decimal ends with a dot",
            Error::InvalidStringCharacter => "a string holds a character that is not printable",
            Error::InvalidEscape => "a string holds an invalid escape",
            Error::UnterminatedString => "a string is not closed",
            Error::InvalidByteSequenceCharacter => "a byte sequence holds a non-base64 character",
            Error::UnterminatedByteSequence => "a byte sequence is not closed",
            Error::InvalidBase64 => "a byte sequence is not padded, canonical base64",
            Error::InvalidBoolean => "a boolean is not ?0 or ?1",
            Error::TrailingCharacters => "characters follow the value",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl core::error::Error for Error {}

// ---------------------------------------------------------------------------
// Values

/// A bare item: the value of an item or of a parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BareItem<'a> {
    /// An Integer (at most 15 digits).
    Integer(i64),
    /// A Decimal.
    Decimal(Decimal),
    /// A String.
    String(SfString<'a>),
    /// A Token.
    Token(Token<'a>),
    /// A Byte Sequence, still as base64 text.
    ByteSequence(ByteSequence<'a>),
    /// A Boolean.
    Boolean(bool),
}

impl<'a> BareItem<'a> {
    /// The Integer, if this is one.
    pub const fn as_integer(&self) -> Option<i64> {
        match self {
            BareItem::Integer(i) => Some(*i),
            _ => None,
        }
    }

    /// The String, if this is one.
    pub const fn as_string(&self) -> Option<SfString<'a>> {
        match self {
            BareItem::String(s) => Some(*s),
            _ => None,
        }
    }

    /// The Byte Sequence, if this is one.
    pub const fn as_byte_sequence(&self) -> Option<ByteSequence<'a>> {
        match self {
            BareItem::ByteSequence(b) => Some(*b),
            _ => None,
        }
    }
}

/// A Decimal, held exactly as thousandths (RFC 8941 allows 3 fractional digits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decimal {
    /// The value times 1000.
    pub thousandths: i64,
}

/// A String, borrowed. Either the escaped text found between the quotes of a
/// parsed value, or plain text given by a caller (escaped when serialized).
#[derive(Clone, Copy, Debug)]
pub struct SfString<'a> {
    text: &'a str,
    escaped: bool,
}

impl<'a> SfString<'a> {
    /// A String holding `text`, if every character is printable ASCII.
    pub fn new(text: &'a str) -> Result<Self, Error> {
        if text.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
            Ok(SfString {
                text,
                escaped: false,
            })
        } else {
            Err(Error::InvalidStringCharacter)
        }
    }

    /// The characters of the string, unescaped.
    pub fn chars(&self) -> impl Iterator<Item = u8> + 'a {
        let escaped = self.escaped;
        let mut pending_escape = false;
        self.text.bytes().filter(move |&b| {
            if escaped && !pending_escape && b == b'\\' {
                pending_escape = true;
                false
            } else {
                pending_escape = false;
                true
            }
        })
    }

    /// Whether the unescaped string equals `other`.
    pub fn eq_str(&self, other: &str) -> bool {
        if !self.escaped {
            return self.text == other;
        }
        let mut theirs = other.bytes();
        self.chars().all(|c| theirs.next() == Some(c)) && theirs.next().is_none()
    }

    /// The text if it needs no unescaping (no `\` inside), else `None`.
    pub fn as_plain_str(&self) -> Option<&'a str> {
        if !self.escaped || !self.text.contains('\\') {
            Some(self.text)
        } else {
            None
        }
    }
}

impl PartialEq for SfString<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.chars().eq(other.chars())
    }
}
impl Eq for SfString<'_> {}

/// A Token, borrowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token<'a>(&'a str);

impl<'a> Token<'a> {
    /// A Token holding `text`, if it is a valid token.
    pub fn new(text: &'a str) -> Result<Self, Error> {
        let mut cur = Cursor::new(text);
        let token = cur.parse_token()?;
        if cur.at_end() {
            Ok(token)
        } else {
            Err(Error::TrailingCharacters)
        }
    }

    /// The token text.
    pub const fn as_str(&self) -> &'a str {
        self.0
    }
}

/// A Byte Sequence, borrowed as its (validated, padded, canonical) base64 text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByteSequence<'a>(&'a str);

impl<'a> ByteSequence<'a> {
    /// A Byte Sequence from standard padded base64 text, if it is canonical.
    pub fn from_base64(text: &'a str) -> Result<Self, Error> {
        validate_base64(text)?;
        Ok(ByteSequence(text))
    }

    /// The base64 text.
    pub const fn base64(&self) -> &'a str {
        self.0
    }

    /// The number of bytes it decodes to.
    pub fn decoded_len(&self) -> usize {
        let text = self.0.as_bytes();
        let padding = text.iter().rev().take_while(|&&b| b == b'=').count();
        (text.len() / 4 * 3).saturating_sub(padding)
    }

    /// Decodes into `out`, returning the bytes written; `None` if `out` is
    /// shorter than [`ByteSequence::decoded_len`].
    pub fn decode_into<'o>(&self, out: &'o mut [u8]) -> Option<&'o [u8]> {
        let len = self.decoded_len();
        let out = out.get_mut(..len)?;
        // The text was validated as canonical base64 when parsed or built, and
        // signatures and digests are public: a plain decode suffices.
        let mut written = 0usize;
        let mut rest = self.0.as_bytes();
        // Whole groups of four alphabet characters give three bytes at once;
        // the padded last group (and anything odd) goes bit by bit below.
        while let Some((group, tail)) = rest.split_first_chunk::<4>() {
            let [a, b, c, d] = group.map(base64_value);
            if (a | b | c | d) & 0x80 != 0 {
                break;
            }
            let n =
                (u32::from(a) << 18) | (u32::from(b) << 12) | (u32::from(c) << 6) | u32::from(d);
            let [_, x, y, z] = n.to_be_bytes();
            out.get_mut(written..written + 3)?
                .copy_from_slice(&[x, y, z]);
            written += 3;
            rest = tail;
        }
        let mut acc: u32 = 0;
        let mut bits = 0u32;
        for &b in rest {
            let sextet = base64_value(b);
            if sextet == 0xff {
                break;
            }
            acc = (acc << 6) | u32::from(sextet);
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                let byte = out.get_mut(written)?;
                *byte = (acc >> bits) as u8;
                written += 1;
            }
        }
        (written == len).then_some(&*out)
    }
}

/// Standard base64 alphabet values; 0xff for bytes outside the alphabet.
// Built at compile time: an out-of-range index would fail the build, not run.
#[allow(clippy::indexing_slicing)]
const BASE64_VALUES: [u8; 256] = {
    let mut table = [0xffu8; 256];
    let mut i = 0u8;
    while i < 64 {
        let c = match i {
            0..=25 => b'A' + i,
            26..=51 => b'a' + (i - 26),
            52..=61 => b'0' + (i - 52),
            62 => b'+',
            _ => b'/',
        };
        table[c as usize] = i;
        i += 1;
    }
    table
};

/// The value of a base64 character, or 0xff.
fn base64_value(b: u8) -> u8 {
    BASE64_VALUES.get(usize::from(b)).copied().unwrap_or(0xff)
}

/// Checks padded, canonical standard base64 (what `Base64::decode` accepts),
/// without decoding.
fn validate_base64(text: &str) -> Result<(), Error> {
    // Length and padding errors take precedence over the alphabet's.
    let (data, padding) = split_padding(text.as_bytes())?;
    // One pass without early exit: OR together the table entries, so any
    // non-alphabet byte (entry 0xff) shows in the high bit.
    let seen = data.iter().fold(0u8, |acc, &b| acc | base64_value(b));
    if seen & 0x80 != 0 && !data.contains(&b'=') {
        return Err(Error::InvalidByteSequenceCharacter);
    }
    check_data_and_padding(data, padding)
}

/// [`validate_base64`] for text known to hold only the alphabet and `=`:
/// length, padding, and the unused bits of the last character.
fn validate_base64_shape(text: &str) -> Result<(), Error> {
    let (data, padding) = split_padding(text.as_bytes())?;
    check_data_and_padding(data, padding)
}

/// The characters before the padding, and how many `=` end the text; the
/// length must be a multiple of 4 and the padding at most 2.
fn split_padding(bytes: &[u8]) -> Result<(&[u8], usize), Error> {
    if !bytes.len().is_multiple_of(4) {
        return Err(Error::InvalidBase64);
    }
    let padding = bytes.iter().rev().take_while(|&&b| b == b'=').count();
    if padding > 2 {
        return Err(Error::InvalidBase64);
    }
    let data = bytes.get(..bytes.len() - padding).unwrap_or_default();
    Ok((data, padding))
}

/// No `=` before the padding, and the bits the padding leaves unused in the
/// last character are zero (or the text is not canonical).
fn check_data_and_padding(data: &[u8], padding: usize) -> Result<(), Error> {
    if data.contains(&b'=') {
        return Err(Error::InvalidBase64);
    }
    let last = data.last().map_or(0, |&b| base64_value(b));
    let unused_mask = match padding {
        1 => 0b11,
        2 => 0b1111,
        _ => 0,
    };
    if last & unused_mask != 0 {
        return Err(Error::InvalidBase64);
    }
    Ok(())
}

/// An item: a bare item with its parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Item<'a> {
    /// The value.
    pub bare: BareItem<'a>,
    /// Its parameters.
    pub params: Parameters<'a>,
}

impl<'a> Item<'a> {
    /// Parses a whole field value as an item.
    pub fn parse(input: &'a [u8]) -> Result<Self, Error> {
        let mut cur = Cursor::top_level(input)?;
        if cur.at_end() {
            return Err(Error::Empty);
        }
        let item = cur.parse_item()?;
        cur.finish()?;
        Ok(item)
    }
}

/// Parameters, in order, with RFC 8941's duplicate rule applied on reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Parameters<'a> {
    /// The source text, from the first `;` to the end of the last parameter.
    raw: &'a str,
    /// Distinct keys.
    len: usize,
    /// Whether some key repeats (then reading takes the slow path).
    has_duplicates: bool,
}

impl<'a> Parameters<'a> {
    /// The value of `key` (its last occurrence), if present.
    pub fn get(&self, key: &str) -> Option<BareItem<'a>> {
        let mut matches = self.raw_iter().filter(|(k, _)| *k == key);
        let found = if self.has_duplicates {
            matches.last()
        } else {
            matches.next()
        };
        found.map(|(_, v)| v)
    }

    /// The number of distinct keys.
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no parameters.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Distinct keys in the order of their first occurrence, each with its last value.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, BareItem<'a>)> + 'a {
        let this = *self;
        self.raw_iter()
            .enumerate()
            .filter_map(move |(i, (key, value))| {
                if !this.has_duplicates {
                    return Some((key, value));
                }
                if this.raw_iter().take(i).any(|(k, _)| k == key) {
                    return None;
                }
                Some((key, this.get(key).unwrap_or(value)))
            })
    }

    fn raw_iter(&self) -> impl Iterator<Item = (&'a str, BareItem<'a>)> + 'a {
        let mut cur = Cursor::trusted(self.raw);
        core::iter::from_fn(move || cur.parse_one_parameter().ok().flatten())
    }
}

/// An inner list: items in parentheses, with parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InnerList<'a> {
    /// The source text between `(` and `)`.
    items_raw: &'a str,
    len: usize,
    params: Parameters<'a>,
    /// The whole source text, from `(` to the end of the parameters, when it
    /// is already in canonical form: serializing it is then one copy.
    canonical: Option<&'a str>,
}

impl<'a> InnerList<'a> {
    /// Parses a whole text as one inner list with its parameters (the form of a
    /// `Signature-Input` member value).
    pub fn parse(input: &'a [u8]) -> Result<Self, Error> {
        let mut cur = Cursor::top_level(input)?;
        let list = cur.parse_inner_list()?;
        cur.finish()?;
        Ok(list)
    }

    /// The number of items.
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Whether the list has no items.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The items, in order.
    pub fn items(&self) -> impl Iterator<Item = Item<'a>> + 'a {
        let mut cur = Cursor::trusted(self.items_raw);
        core::iter::from_fn(move || {
            cur.skip_sp();
            if cur.at_end() {
                None
            } else {
                cur.parse_item().ok()
            }
        })
    }

    /// The parameters of the list.
    pub const fn params(&self) -> Parameters<'a> {
        self.params
    }
}

/// A dictionary member value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Member<'a> {
    /// An item.
    Item(Item<'a>),
    /// An inner list.
    InnerList(InnerList<'a>),
}

/// A dictionary, with RFC 8941's duplicate rule applied on reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dictionary<'a> {
    raw: &'a str,
    len: usize,
    has_duplicates: bool,
    /// The member, when there is exactly one (the common case, kept to avoid
    /// walking the text again).
    single: Option<(&'a str, Member<'a>)>,
}

impl<'a> Dictionary<'a> {
    /// Parses a whole field value as a dictionary. An empty value is an empty
    /// dictionary (RFC 8941 §4.2).
    pub fn parse(input: &'a [u8]) -> Result<Self, Error> {
        let mut cur = Cursor::top_level(input)?;
        let raw = cur.rest();
        let mut keys: [&str; MAX_MEMBERS] = [""; MAX_MEMBERS];
        let mut count = 0usize;
        let mut distinct = 0usize;
        let mut first = None;
        while !cur.at_end() {
            let (key, member) = cur.parse_member()?;
            if first.is_none() {
                first = Some((key, member));
            }
            let seen = keys.get(..count).unwrap_or_default().contains(&key);
            let slot = keys.get_mut(count).ok_or(Error::TooManyMembers)?;
            *slot = key;
            count += 1;
            if !seen {
                distinct += 1;
            }
            cur.skip_ows();
            if cur.at_end() {
                break;
            }
            if !cur.eat(b',') {
                return Err(Error::ExpectedComma);
            }
            cur.skip_ows();
            if cur.at_end() {
                return Err(Error::TrailingComma);
            }
        }
        Ok(Dictionary {
            raw,
            len: distinct,
            has_duplicates: distinct != count,
            single: if count == 1 { first } else { None },
        })
    }

    /// The number of distinct keys.
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Whether the dictionary is empty.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The value of `key` (its last occurrence), if present.
    pub fn get(&self, key: &str) -> Option<Member<'a>> {
        if let Some((k, member)) = self.single {
            return (k == key).then_some(member);
        }
        let mut matches = self.raw_iter().filter(|(k, _)| *k == key);
        let found = if self.has_duplicates {
            matches.last()
        } else {
            matches.next()
        };
        found.map(|(_, v)| v)
    }

    /// Distinct keys in the order of their first occurrence, each with its last value.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, Member<'a>)> + 'a {
        let this = *self;
        let walk = Dictionary {
            raw: if self.single.is_some() { "" } else { self.raw },
            ..*self
        };
        self.single
            .into_iter()
            .chain(
                walk.raw_iter()
                    .enumerate()
                    .filter_map(move |(i, (key, value))| {
                        if !this.has_duplicates {
                            return Some((key, value));
                        }
                        if this.raw_iter().take(i).any(|(k, _)| k == key) {
                            return None;
                        }
                        Some((key, this.get(key).unwrap_or(value)))
                    }),
            )
    }

    fn raw_iter(self) -> impl Iterator<Item = (&'a str, Member<'a>)> + 'a {
        let mut cur = Cursor::trusted(self.raw);
        core::iter::from_fn(move || {
            cur.skip_ows();
            cur.eat(b',');
            cur.skip_ows();
            if cur.at_end() {
                None
            } else {
                cur.parse_member().ok()
            }
        })
    }
}

// ---------------------------------------------------------------------------
// Parser

struct Cursor<'a> {
    text: &'a str,
    pos: usize,
    /// Set when walking text that `parse` already checked: byte sequences are
    /// then not validated again.
    trusted: bool,
    /// Set when the text parsed so far differs from its canonical
    /// serialization (extra spaces, `=?1`, repeated keys, non-canonical
    /// numbers); read by `parse_inner_list`.
    noncanonical: bool,
}

impl<'a> Cursor<'a> {
    fn new(text: &'a str) -> Self {
        Cursor {
            text,
            pos: 0,
            trusted: false,
            noncanonical: false,
        }
    }

    /// A cursor over text already checked by `parse`.
    fn trusted(text: &'a str) -> Self {
        Cursor {
            text,
            pos: 0,
            trusted: true,
            noncanonical: false,
        }
    }

    /// Checks length and ASCII, and drops surrounding spaces (RFC 8941 §4.2).
    fn top_level(input: &'a [u8]) -> Result<Self, Error> {
        if input.len() > MAX_INPUT_LEN {
            return Err(Error::TooLong);
        }
        if !input.is_ascii() {
            return Err(Error::NonAscii);
        }
        let text = core::str::from_utf8(input).map_err(|_| Error::NonAscii)?;
        Ok(Cursor::new(text.trim_matches(' ')))
    }

    fn finish(&mut self) -> Result<(), Error> {
        if self.at_end() {
            Ok(())
        } else {
            Err(Error::TrailingCharacters)
        }
    }

    fn rest(&self) -> &'a str {
        self.text.get(self.pos..).unwrap_or_default()
    }

    fn since(&self, start: usize) -> &'a str {
        self.text.get(start..self.pos).unwrap_or_default()
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.text.len()
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn skip_sp(&mut self) {
        while self.eat(b' ') {}
    }

    fn skip_ows(&mut self) {
        while self.eat(b' ') || self.eat(b'\t') {}
    }

    fn parse_key(&mut self) -> Result<&'a str, Error> {
        let start = self.pos;
        match self.peek() {
            Some(b'a'..=b'z' | b'*') => self.pos += 1,
            _ => return Err(Error::InvalidKey),
        }
        while let Some(b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'.' | b'*') = self.peek() {
            self.pos += 1;
        }
        Ok(self.since(start))
    }

    fn parse_member(&mut self) -> Result<(&'a str, Member<'a>), Error> {
        let key = self.parse_key()?;
        if self.eat(b'=') {
            let member = if self.peek() == Some(b'(') {
                Member::InnerList(self.parse_inner_list()?)
            } else {
                Member::Item(self.parse_item()?)
            };
            Ok((key, member))
        } else {
            let params = self.parse_parameters()?;
            Ok((
                key,
                Member::Item(Item {
                    bare: BareItem::Boolean(true),
                    params,
                }),
            ))
        }
    }

    fn parse_inner_list(&mut self) -> Result<InnerList<'a>, Error> {
        let open = self.pos;
        if !self.eat(b'(') {
            return Err(Error::InvalidBareItem);
        }
        self.noncanonical = false;
        let start = self.pos;
        let mut len = 0usize;
        loop {
            // Canonical form: one space between items, none after `(` or before `)`.
            let before_spaces = self.pos;
            self.skip_sp();
            let spaces = self.pos - before_spaces;
            let want = usize::from(len > 0 && self.peek() != Some(b')'));
            self.noncanonical |= spaces != want;
            if self.peek() == Some(b')') {
                let items_raw = self.since(start);
                self.pos += 1;
                let params = self.parse_parameters()?;
                let canonical = (!self.noncanonical).then(|| self.since(open));
                return Ok(InnerList {
                    items_raw,
                    len,
                    params,
                    canonical,
                });
            }
            if self.at_end() {
                return Err(Error::UnterminatedInnerList);
            }
            self.parse_item()?;
            len += 1;
            if len > MAX_INNER_LIST_ITEMS {
                return Err(Error::TooManyItems);
            }
            match self.peek() {
                Some(b' ' | b')') => {}
                None => return Err(Error::UnterminatedInnerList),
                Some(_) => return Err(Error::ExpectedItemSeparator),
            }
        }
    }

    fn parse_item(&mut self) -> Result<Item<'a>, Error> {
        let bare = self.parse_bare_item()?;
        let params = self.parse_parameters()?;
        Ok(Item { bare, params })
    }

    fn parse_parameters(&mut self) -> Result<Parameters<'a>, Error> {
        let start = self.pos;
        let mut count = 0usize;
        let mut distinct = 0usize;
        let mut has_duplicates = false;
        loop {
            let before = self.pos;
            let Some((key, _)) = self.parse_one_parameter()? else {
                break;
            };
            count += 1;
            if count > MAX_PARAMETERS {
                return Err(Error::TooManyParameters);
            }
            // Most items have no or few parameters: look for the key among the
            // earlier ones by walking them again rather than keeping an array.
            let earlier = Parameters {
                raw: self.text.get(start..before).unwrap_or_default(),
                len: 0,
                has_duplicates: false,
            };
            if earlier.raw_iter().any(|(k, _)| k == key) {
                has_duplicates = true;
                self.noncanonical = true;
            } else {
                distinct += 1;
            }
        }
        Ok(Parameters {
            raw: self.since(start),
            len: distinct,
            has_duplicates,
        })
    }

    /// One `;key[=value]`, or `None` when no `;` follows.
    fn parse_one_parameter(&mut self) -> Result<Option<(&'a str, BareItem<'a>)>, Error> {
        if !self.eat(b';') {
            return Ok(None);
        }
        let before_spaces = self.pos;
        self.skip_sp();
        let key = self.parse_key()?;
        self.noncanonical |= self.pos - key.len() != before_spaces;
        let value = if self.eat(b'=') {
            let value = self.parse_bare_item()?;
            // A true Boolean parameter is written without `=?1`.
            self.noncanonical |= value == BareItem::Boolean(true);
            value
        } else {
            BareItem::Boolean(true)
        };
        Ok(Some((key, value)))
    }

    fn parse_bare_item(&mut self) -> Result<BareItem<'a>, Error> {
        match self.peek() {
            Some(b'-' | b'0'..=b'9') => self.parse_number(),
            Some(b'"') => self.parse_string().map(BareItem::String),
            Some(b'A'..=b'Z' | b'a'..=b'z' | b'*') => self.parse_token().map(BareItem::Token),
            Some(b':') => self.parse_byte_sequence().map(BareItem::ByteSequence),
            Some(b'?') => self.parse_boolean().map(BareItem::Boolean),
            None => Err(Error::Empty),
            Some(_) => Err(Error::InvalidBareItem),
        }
    }

    fn parse_number(&mut self) -> Result<BareItem<'a>, Error> {
        let negative = self.eat(b'-');
        // A leading zero (other than a lone `0`) is dropped when serialized.
        let leading_zero = self.peek() == Some(b'0');
        let mut int_part: i64 = 0;
        let mut int_digits = 0usize;
        while let Some(d @ b'0'..=b'9') = self.peek() {
            self.pos += 1;
            int_digits += 1;
            if int_digits > 15 {
                return Err(Error::IntegerTooLong);
            }
            int_part = int_part * 10 + i64::from(d - b'0');
        }
        if int_digits == 0 {
            return Err(Error::NumberWithoutDigits);
        }
        self.noncanonical |= leading_zero && int_digits > 1;
        let sign = if negative { -1 } else { 1 };
        if !self.eat(b'.') {
            // `-0` is written `0`.
            self.noncanonical |= negative && int_part == 0;
            return Ok(BareItem::Integer(sign * int_part));
        }
        if int_digits > 12 {
            return Err(Error::DecimalTooLong);
        }
        let mut frac: i64 = 0;
        let mut frac_digits = 0u32;
        while let Some(d @ b'0'..=b'9') = self.peek() {
            self.pos += 1;
            frac_digits += 1;
            if frac_digits > 3 {
                return Err(Error::DecimalFractionTooLong);
            }
            frac = frac * 10 + i64::from(d - b'0');
        }
        if frac_digits == 0 {
            return Err(Error::DecimalEndsWithDot);
        }
        // Trailing zeros of the fraction (but one) and `-0.0` are dropped.
        self.noncanonical |= frac_digits > 1 && frac % 10 == 0;
        self.noncanonical |= negative && int_part == 0 && frac == 0;
        let frac = frac * 10i64.pow(3 - frac_digits);
        Ok(BareItem::Decimal(Decimal {
            thousandths: sign * (int_part * 1000 + frac),
        }))
    }

    fn parse_string(&mut self) -> Result<SfString<'a>, Error> {
        self.pos += 1; // the opening quote
        let start = self.pos;
        loop {
            // Skip the run of ordinary characters at once; it stops only at a
            // quote, a backslash, a non-printable byte or the end.
            let rest = self.rest().as_bytes();
            let run = rest
                .iter()
                .position(|&b| b == b'"' || b == b'\\' || !(0x20..=0x7e).contains(&b))
                .unwrap_or(rest.len());
            self.pos += run;
            match self.peek() {
                None => return Err(Error::UnterminatedString),
                Some(b'"') => {
                    let text = self.since(start);
                    self.pos += 1;
                    return Ok(SfString {
                        text,
                        escaped: true,
                    });
                }
                Some(b'\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(b'"' | b'\\') => self.pos += 1,
                        None => return Err(Error::UnterminatedString),
                        Some(_) => return Err(Error::InvalidEscape),
                    }
                }
                Some(_) => return Err(Error::InvalidStringCharacter),
            }
        }
    }

    fn parse_token(&mut self) -> Result<Token<'a>, Error> {
        let start = self.pos;
        match self.peek() {
            Some(b'A'..=b'Z' | b'a'..=b'z' | b'*') => self.pos += 1,
            _ => return Err(Error::InvalidBareItem),
        }
        while let Some(b) = self.peek() {
            if is_tchar(b) || b == b':' || b == b'/' {
                self.pos += 1;
            } else {
                break;
            }
        }
        Ok(Token(self.since(start)))
    }

    fn parse_byte_sequence(&mut self) -> Result<ByteSequence<'a>, Error> {
        self.pos += 1; // the opening colon
        let start = self.pos;
        // The run of base64 characters (and `=`) ends at the closing colon.
        let rest = self.rest().as_bytes();
        let run = rest
            .iter()
            .position(|&b| base64_value(b) == 0xff && b != b'=')
            .unwrap_or(rest.len());
        self.pos += run;
        match self.peek() {
            None => return Err(Error::UnterminatedByteSequence),
            Some(b':') => {}
            Some(_) => return Err(Error::InvalidByteSequenceCharacter),
        }
        let text = self.since(start);
        self.pos += 1;
        if self.trusted {
            Ok(ByteSequence(text))
        } else {
            // The scan above admitted only the alphabet and `=`.
            validate_base64_shape(text).map(|()| ByteSequence(text))
        }
    }

    fn parse_boolean(&mut self) -> Result<bool, Error> {
        self.pos += 1; // the question mark
        let value = match self.peek() {
            Some(b'1') => true,
            Some(b'0') => false,
            _ => return Err(Error::InvalidBoolean),
        };
        self.pos += 1;
        Ok(value)
    }
}

/// RFC 9110 `tchar`.
pub(crate) fn is_tchar(b: u8) -> bool {
    TCHARS.get(usize::from(b)).copied().unwrap_or(false)
}

/// `tchar` membership by byte: one load instead of a search per character.
// Built at compile time: an out-of-range index would fail the build, not run.
#[allow(clippy::indexing_slicing)]
const TCHARS: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0usize;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            );
        b += 1;
    }
    table
};

// ---------------------------------------------------------------------------
// Serializer

/// Writes a key, checking it is a valid key.
pub fn write_key(w: &mut impl Write, key: &str) -> fmt::Result {
    let mut cur = Cursor::new(key);
    match cur.parse_key() {
        Ok(_) if cur.at_end() => w.write_str(key),
        _ => Err(fmt::Error),
    }
}

/// Writes one parameter: `;key` for a true Boolean, else `;key=value`.
pub fn write_parameter(w: &mut impl Write, key: &str, value: &BareItem<'_>) -> fmt::Result {
    w.write_char(';')?;
    write_key(w, key)?;
    if *value == BareItem::Boolean(true) {
        return Ok(());
    }
    w.write_char('=')?;
    write_bare_item(w, value)
}

/// Writes a bare item in canonical form.
pub fn write_bare_item(w: &mut impl Write, value: &BareItem<'_>) -> fmt::Result {
    match value {
        BareItem::Integer(i) => {
            if i.unsigned_abs() > 999_999_999_999_999 {
                return Err(fmt::Error);
            }
            write_integer(w, *i)
        }
        BareItem::Decimal(d) => {
            let abs = d.thousandths.unsigned_abs();
            if abs / 1000 > 999_999_999_999 {
                return Err(fmt::Error);
            }
            if d.thousandths < 0 {
                w.write_char('-')?;
            }
            write_integer(w, (abs / 1000) as i64)?;
            w.write_char('.')?;
            let frac = abs % 1000;
            match (frac % 100, frac % 10) {
                (0, _) => write!(w, "{}", frac / 100),
                (_, 0) => write!(w, "{:02}", frac / 10),
                _ => write!(w, "{frac:03}"),
            }
        }
        BareItem::String(s) => {
            w.write_char('"')?;
            if s.escaped {
                w.write_str(s.text)?;
            } else {
                for c in s.text.chars() {
                    if c == '"' || c == '\\' {
                        w.write_char('\\')?;
                    }
                    w.write_char(c)?;
                }
            }
            w.write_char('"')
        }
        BareItem::Token(t) => w.write_str(t.0),
        BareItem::ByteSequence(b) => {
            w.write_char(':')?;
            w.write_str(b.0)?;
            w.write_char(':')
        }
        BareItem::Boolean(b) => w.write_str(if *b { "?1" } else { "?0" }),
    }
}

/// Writes an integer in decimal, without `core::fmt`'s machinery.
fn write_integer(w: &mut impl Write, value: i64) -> fmt::Result {
    let mut digits = [0u8; 20];
    let mut n = value.unsigned_abs();
    let mut start = digits.len();
    loop {
        start -= 1;
        if let Some(d) = digits.get_mut(start) {
            *d = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || start == 0 {
            break;
        }
    }
    if value < 0 {
        w.write_char('-')?;
    }
    let text = digits.get(start..).unwrap_or_default();
    w.write_str(core::str::from_utf8(text).map_err(|_| fmt::Error)?)
}

/// Writes parameters in canonical form (RFC 8941's duplicate rule applied);
/// the public way is `Parameters`' `Display`.
pub(crate) fn write_parameters(w: &mut impl Write, params: &Parameters<'_>) -> fmt::Result {
    params
        .iter()
        .try_for_each(|(key, value)| write_parameter(w, key, &value))
}

/// Writes an item in canonical form.
pub(crate) fn write_item(w: &mut impl Write, item: &Item<'_>) -> fmt::Result {
    write_bare_item(w, &item.bare)?;
    write_parameters(w, &item.params)
}

/// Writes an inner list with its parameters in canonical form.
pub(crate) fn write_inner_list(w: &mut impl Write, list: &InnerList<'_>) -> fmt::Result {
    match list.canonical {
        // The parser found the source already canonical: the same bytes.
        Some(text) => w.write_str(text),
        None => serialize_inner_list(w, list),
    }
}

/// [`write_inner_list`] without the copy of canonical source text: always
/// serializes item by item.
fn serialize_inner_list(w: &mut impl Write, list: &InnerList<'_>) -> fmt::Result {
    w.write_char('(')?;
    for (i, item) in list.items().enumerate() {
        if i > 0 {
            w.write_char(' ')?;
        }
        write_item(w, &item)?;
    }
    w.write_char(')')?;
    write_parameters(w, &list.params)
}

/// `Display` is each value's canonical serialization, by its writer.
macro_rules! display_by {
    ($($type:ident => $writer:ident),* $(,)?) => {$(
        impl fmt::Display for $type<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                $writer(f, self)
            }
        }
    )*};
}

display_by! {
    BareItem => write_bare_item,
    Parameters => write_parameters,
    Item => write_item,
    InnerList => write_inner_list,
}

impl fmt::Display for Member<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Member::Item(item) => fmt::Display::fmt(item, f),
            Member::InnerList(list) => fmt::Display::fmt(list, f),
        }
    }
}

impl fmt::Display for Dictionary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (key, member)) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(key)?;
            match member {
                Member::Item(Item {
                    bare: BareItem::Boolean(true),
                    params,
                }) => fmt::Display::fmt(&params, f)?,
                other => {
                    f.write_char('=')?;
                    fmt::Display::fmt(&other, f)?;
                }
            }
        }
        Ok(())
    }
}

/// A [`core::fmt::Write`] into a fixed byte slice; writing past its end fails.
#[derive(Debug)]
pub struct SliceWriter<'b> {
    buf: &'b mut [u8],
    len: usize,
}

impl<'b> SliceWriter<'b> {
    /// A writer at the start of `buf`.
    pub fn new(buf: &'b mut [u8]) -> Self {
        SliceWriter { buf, len: 0 }
    }

    /// The bytes written so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many more bytes fit.
    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.len)
    }

    /// The bytes written so far.
    pub fn written(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }

    /// Appends raw bytes.
    pub fn write_bytes(&mut self, bytes: &[u8]) -> fmt::Result {
        let end = self.len.checked_add(bytes.len()).ok_or(fmt::Error)?;
        let dst = self.buf.get_mut(self.len..end).ok_or(fmt::Error)?;
        dst.copy_from_slice(bytes);
        self.len = end;
        Ok(())
    }

    /// Appends `map` of each byte, with one bounds check for the whole run.
    pub(crate) fn write_mapped(&mut self, bytes: &[u8], map: impl Fn(&u8) -> u8) -> fmt::Result {
        let end = self.len.checked_add(bytes.len()).ok_or(fmt::Error)?;
        let dst = self.buf.get_mut(self.len..end).ok_or(fmt::Error)?;
        for (d, b) in dst.iter_mut().zip(bytes) {
            *d = map(b);
        }
        self.len = end;
        Ok(())
    }

    /// The bytes written, as text, giving the buffer back.
    pub fn into_str(self) -> &'b str {
        let written = self.buf.get(..self.len).unwrap_or_default();
        // Only `str`s and ASCII are ever written by this crate's serializers; a
        // caller's `write_bytes` of non-UTF-8 yields an empty string here.
        core::str::from_utf8(written).unwrap_or_default()
    }

    /// The bytes written, giving the buffer back.
    pub fn into_bytes(self) -> &'b [u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }
}

impl Write for SliceWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.write_bytes(s.as_bytes())
    }
}

/// Serializes `value` in canonical form into `buf`, returning the text, or
/// `None` if it does not fit.
pub fn write_to<'b>(buf: &'b mut [u8], value: &impl fmt::Display) -> Option<&'b str> {
    let mut w = SliceWriter::new(buf);
    write!(w, "{value}").ok()?;
    Some(w.into_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(s: &str) -> Result<BareItem<'_>, Error> {
        Item::parse(s.as_bytes()).map(|i| i.bare)
    }

    fn canon(input: &str) -> std::string::String {
        let dict = Dictionary::parse(input.as_bytes()).unwrap();
        std::format!("{dict}")
    }

    #[test]
    fn dictionary_round_trips_canonically() {
        assert_eq!(
            canon(r#"sig=( "@method"  "@path" );created=0017; keyid="a\"b""#),
            r#"sig=("@method" "@path");created=17;keyid="a\"b""#
        );
        assert_eq!(
            canon("a, b=?0, c;x=1 ,\td=:AAE=:"),
            "a, b=?0, c;x=1, d=:AAE=:"
        );
        assert_eq!(canon(""), "");
        assert_eq!(canon("  a=1  "), "a=1");
    }

    #[test]
    fn duplicates_keep_first_position_last_value() {
        let d = Dictionary::parse(b"a=1, b=2, a=3").unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(std::format!("{d}"), "a=3, b=2");
        let list = InnerList::parse(br#"("x");created=1;keyid="k";created=2"#).unwrap();
        assert_eq!(list.params().len(), 2);
        assert_eq!(std::format!("{list}"), r#"("x");created=2;keyid="k""#);
    }

    #[test]
    fn numbers() {
        assert_eq!(item("-0"), Ok(BareItem::Integer(0)));
        assert_eq!(
            item("999999999999999"),
            Ok(BareItem::Integer(999_999_999_999_999))
        );
        assert_eq!(item("1000000000000000"), Err(Error::IntegerTooLong));
        assert_eq!(item("-"), Err(Error::NumberWithoutDigits));
        assert_eq!(item("1."), Err(Error::DecimalEndsWithDot));
        assert_eq!(item("1.2345"), Err(Error::DecimalFractionTooLong));
        assert_eq!(item("1234567890123.1"), Err(Error::DecimalTooLong));
        assert_eq!(
            item("-01.50"),
            Ok(BareItem::Decimal(Decimal { thousandths: -1500 }))
        );
        let mut buf = [0u8; 32];
        assert_eq!(write_to(&mut buf, &item("-01.50").unwrap()), Some("-1.5"));
        assert_eq!(write_to(&mut buf, &item("2.000").unwrap()), Some("2.0"));
        assert_eq!(write_to(&mut buf, &item("2.025").unwrap()), Some("2.025"));
        assert_eq!(write_to(&mut buf, &item("2.02").unwrap()), Some("2.02"));
    }

    #[test]
    fn strings_tokens_booleans() {
        let s = item(r#""a\\b\"c""#).unwrap().as_string().unwrap();
        assert!(s.eq_str(r#"a\b"c"#));
        assert!(!s.eq_str(r#"a\b"#));
        assert_eq!(item(r#""abc"#), Err(Error::UnterminatedString));
        assert_eq!(item(r#""a\x""#), Err(Error::InvalidEscape));
        assert_eq!(item("\"a\tb\""), Err(Error::InvalidStringCharacter));
        assert_eq!(item("\"é\""), Err(Error::NonAscii));
        assert_eq!(
            item("foo/bar:baz"),
            Ok(BareItem::Token(Token("foo/bar:baz")))
        );
        assert_eq!(item("?1"), Ok(BareItem::Boolean(true)));
        assert_eq!(item("?2"), Err(Error::InvalidBoolean));
        assert_eq!(item("@x"), Err(Error::InvalidBareItem));
        assert_eq!(item(""), Err(Error::Empty));
        assert_eq!(item("1 2"), Err(Error::TrailingCharacters));
    }

    #[test]
    fn byte_sequences_are_strict() {
        let b = item(":aGVsbG8=:").unwrap().as_byte_sequence().unwrap();
        assert_eq!(b.decoded_len(), 5);
        let mut out = [0u8; 5];
        assert_eq!(b.decode_into(&mut out), Some(&b"hello"[..]));
        assert_eq!(b.decode_into(&mut [0u8; 4]), None);
        assert_eq!(item(":aGVsbG8:"), Err(Error::InvalidBase64));
        assert_eq!(item(":aGVsbG9=:"), Err(Error::InvalidBase64));
        assert_eq!(item(":aGV=sbG8:"), Err(Error::InvalidBase64));
        assert_eq!(item(":aGV-bG8=:"), Err(Error::InvalidByteSequenceCharacter));
        assert_eq!(item(":aGVsbG8="), Err(Error::UnterminatedByteSequence));
        assert_eq!(item("::").map(|_| ()), Ok(()));
    }

    #[test]
    fn structure_errors() {
        let dict = |s: &str| Dictionary::parse(s.as_bytes()).map(|_| ());
        assert_eq!(dict("A=1"), Err(Error::InvalidKey));
        assert_eq!(dict("a=1,"), Err(Error::TrailingComma));
        assert_eq!(dict("a=1 b=2"), Err(Error::ExpectedComma));
        assert_eq!(dict("a=(1 2"), Err(Error::UnterminatedInnerList));
        assert_eq!(dict("a=(1,2)"), Err(Error::ExpectedItemSeparator));
        assert_eq!(dict("a=1;"), Err(Error::InvalidKey));
        assert_eq!(dict("a=1;B=2"), Err(Error::InvalidKey));
        let many: std::string::String = (0..=MAX_MEMBERS)
            .map(|i| std::format!("k{i}=1"))
            .collect::<std::vec::Vec<_>>()
            .join(",");
        assert_eq!(dict(&many), Err(Error::TooManyMembers));
        let items = "x ".repeat(MAX_INNER_LIST_ITEMS + 1);
        assert_eq!(dict(&std::format!("a=({items})")), Err(Error::TooManyItems));
        let params = ";p".repeat(MAX_PARAMETERS + 1);
        assert_eq!(
            dict(&std::format!("a=1{params}")),
            Err(Error::TooManyParameters)
        );
        assert_eq!(dict(&"a".repeat(MAX_INPUT_LEN + 1)), Err(Error::TooLong));
    }

    #[test]
    fn boolean_members_and_parameters() {
        let d = Dictionary::parse(b"a;x, b=?1;y=?0").unwrap();
        assert_eq!(std::format!("{d}"), "a;x, b;y=?0");
        let Some(Member::Item(item)) = d.get("a") else {
            panic!()
        };
        assert_eq!(item.bare, BareItem::Boolean(true));
        assert_eq!(item.params.get("x"), Some(BareItem::Boolean(true)));
    }

    #[test]
    fn whitespace_rules() {
        let dict = |s: &str| Dictionary::parse(s.as_bytes()).map(|d| std::format!("{d}"));
        assert_eq!(dict("a;  b=1"), Ok("a;b=1".into()));
        assert_eq!(dict("a ;b"), Err(Error::ExpectedComma));
        assert_eq!(dict("a=(\"x\"\t\"y\")"), Err(Error::ExpectedItemSeparator));
        assert_eq!(dict("a=1\t,\tb=2\t"), Ok("a=1, b=2".into()));
        assert_eq!(dict("a=1,b=2"), Ok("a=1, b=2".into()));
        assert_eq!(dict("a= 1"), Err(Error::InvalidBareItem));
        assert_eq!(dict("\ta=1"), Err(Error::InvalidKey));
        assert_eq!(dict("a=(  )"), Ok("a=()".into()));
    }

    #[test]
    fn keys_tokens_and_item_parameters() {
        let dict = |s: &str| Dictionary::parse(s.as_bytes()).map(|d| std::format!("{d}"));
        assert_eq!(dict("*a.b-c_d*=1"), Ok("*a.b-c_d*=1".into()));
        assert_eq!(dict("a=*tok/en:x"), Ok("a=*tok/en:x".into()));
        assert_eq!(
            dict("a=(\"x\";p=1;q \"y\");r"),
            Ok("a=(\"x\";p=1;q \"y\");r".into())
        );
        assert_eq!(dict("a=-999999999999999"), Ok("a=-999999999999999".into()));
        assert_eq!(dict("a=-0.5"), Ok("a=-0.5".into()));
        assert_eq!(dict("a=::"), Ok("a=::".into()));
        assert_eq!(dict("1a=1"), Err(Error::InvalidKey));
        let list = InnerList::parse(br#"("a" 1 ?0 tok :AA==:);k"#).unwrap();
        let kinds: std::vec::Vec<_> = list.items().map(|i| i.bare).collect();
        assert!(matches!(
            kinds.as_slice(),
            [
                BareItem::String(_),
                BareItem::Integer(1),
                BareItem::Boolean(false),
                BareItem::Token(_),
                BareItem::ByteSequence(_)
            ]
        ));
        assert_eq!(list.params().get("k"), Some(BareItem::Boolean(true)));
        assert_eq!(InnerList::parse(b"(1) x"), Err(Error::TrailingCharacters));
        assert_eq!(InnerList::parse(b"1"), Err(Error::InvalidBareItem));
    }

    #[test]
    fn serializer_refuses_what_it_cannot_write() {
        let mut buf = [0u8; 64];
        let mut w = SliceWriter::new(&mut buf);
        assert!(write_key(&mut w, "Bad").is_err());
        assert!(write_bare_item(&mut w, &BareItem::Integer(1_000_000_000_000_000)).is_err());
        let mut tiny = [0u8; 2];
        assert_eq!(write_to(&mut tiny, &BareItem::Integer(123)), None);
        assert_eq!(write_to(&mut tiny, &BareItem::Integer(-5)), Some("-5"));
    }

    #[test]
    fn plain_strings_are_escaped_when_written() {
        let s = SfString::new(r#"a"b\c"#).unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(
            write_to(&mut buf, &BareItem::String(s)),
            Some(r#""a\"b\\c""#)
        );
        assert_eq!(SfString::new("a\nb"), Err(Error::InvalidStringCharacter));
        assert!(s.eq_str(r#"a"b\c"#));
    }

    /// `list` written with the copy of canonical text allowed, then serialized.
    fn fast_and_slow(list: &InnerList<'_>) -> (std::string::String, std::string::String) {
        let mut fast = std::string::String::new();
        write_inner_list(&mut fast, list).unwrap();
        let mut slow = std::string::String::new();
        serialize_inner_list(&mut slow, list).unwrap();
        (fast, slow)
    }

    #[test]
    fn canonical_source_is_copied_only_when_canonical() {
        for (text, canonical) in [
            (r#"("@method" "@path");created=17;keyid="a\"b""#, true),
            ("();a=?0;b=-1.05;c=:AAE=:;d=tok/x:y", true),
            ("(0 -5 1.0 -0.5 ?1 ?0);a", true),
            ("( 1)", false),
            ("(1 )", false),
            ("(1  2)", false),
            ("( )", false),
            ("(1);a=?1", false),
            ("(1);a=1;a=2", false),
            ("(1;x=1;x=1)", false),
            ("(1); a", false),
            ("(01)", false),
            ("(-0)", false),
            ("(1.50)", false),
            ("(-0.0)", false),
            ("(00.5)", false),
        ] {
            let list = InnerList::parse(text.as_bytes()).unwrap();
            assert_eq!(list.canonical.is_some(), canonical, "{text}");
            let (fast, slow) = fast_and_slow(&list);
            assert_eq!(fast, slow, "{text}");
        }
    }

    fn bare_item_text() -> impl proptest::strategy::Strategy<Value = std::string::String> {
        use proptest::prelude::*;
        prop_oneof![
            "-?0{0,2}[0-9]{1,3}",
            "-?0{0,2}[0-9]{1,3}\\.[0-9]{1,3}",
            Just(r#""@method""#.into()),
            Just(r#""content-type""#.into()),
            Just(r#""a\"b\\c""#.into()),
            Just("tok/x:y".into()),
            Just("?0".into()),
            Just("?1".into()),
            Just(":AAE=:".into()),
        ]
    }

    fn parameters_text() -> impl proptest::strategy::Strategy<Value = std::string::String> {
        use proptest::prelude::*;
        proptest::collection::vec(
            (
                " {0,1}",
                prop_oneof![Just("a"), Just("b"), Just("created")],
                proptest::option::of(bare_item_text()),
            ),
            0..4,
        )
        .prop_map(|params| {
            params
                .into_iter()
                .map(|(sp, key, value)| match value {
                    Some(value) => std::format!(";{sp}{key}={value}"),
                    None => std::format!(";{sp}{key}"),
                })
                .collect()
        })
    }

    proptest::proptest! {
        /// The copy of canonical source text is byte-identical to serializing
        /// the parsed list, and is taken exactly when the source is canonical.
        #[test]
        fn copied_inner_list_equals_serialized(
            lead in " {0,1}",
            items in proptest::collection::vec((bare_item_text(), parameters_text(), " {1,2}"), 0..5),
            trail in " {0,1}",
            params in parameters_text(),
        ) {
            let mut text = std::format!("({lead}");
            for (i, (bare, item_params, sep)) in items.iter().enumerate() {
                if i > 0 {
                    text.push_str(sep);
                }
                text.push_str(bare);
                text.push_str(item_params);
            }
            text.push_str(&trail);
            text.push(')');
            text.push_str(&params);
            // Some generated numbers are out of range; only parsed lists matter.
            if let Ok(list) = InnerList::parse(text.as_bytes()) {
                let (fast, slow) = fast_and_slow(&list);
                proptest::prop_assert_eq!(&fast, &slow);
                proptest::prop_assert_eq!(list.canonical.is_some(), slow == text);
                // The same through a dictionary member, as Signature-Input is read.
                let member = std::format!("sig={text}");
                let dict = Dictionary::parse(member.as_bytes()).unwrap();
                let Some(Member::InnerList(list)) = dict.get("sig") else {
                    panic!("not an inner list");
                };
                let (fast, slow) = fast_and_slow(&list);
                proptest::prop_assert_eq!(fast, slow);
            }
        }
    }

    #[test]
    fn decodes_rfc4648_vectors() {
        let vectors: [(&str, &[u8]); 7] = [
            ("", b""),
            ("Zg==", b"f"),
            ("Zm8=", b"fo"),
            ("Zm9v", b"foo"),
            ("Zm9vYg==", b"foob"),
            ("Zm9vYmE=", b"fooba"),
            ("Zm9vYmFy", b"foobar"),
        ];
        for (text, bytes) in vectors {
            let seq = ByteSequence::from_base64(text).unwrap();
            let mut out = [0u8; 8];
            assert_eq!(seq.decode_into(&mut out), Some(bytes), "{text}");
            let mut short = [0u8; 8];
            let short = short.get_mut(..bytes.len().saturating_sub(1)).unwrap();
            assert_eq!(bytes.is_empty(), seq.decode_into(short).is_some(), "{text}");
        }
    }

    #[test]
    fn tchar_table_is_rfc9110() {
        for b in 0..=255u8 {
            let expected = b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
            assert_eq!(is_tchar(b), expected, "{b:#x}");
        }
    }
}
