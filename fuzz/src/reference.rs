//! A reference verifier, written only for differential fuzzing.
//!
//! It implements docs/protocol/verification.md directly, in plain allocating code with
//! its own small RFC 8941 parser. It shares no code with dispatch-core's
//! `sfv` or `signature` modules: when the two disagree, one of them is wrong.

use base64ct::{Base64, Encoding};
use ed25519_dalek::{Signature, VerifyingKey};
use sha2::{Digest, Sha256, Sha512};

/// What the reference decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The request is accepted.
    Accept,
    /// The request is refused with this status (401 or 403) and reason name.
    Reject(u16, &'static str),
    /// The input goes beyond a documented resource bound of the core
    /// (sizes, member counts): no comparison is made.
    OutOfBounds,
}

/// The core's documented bounds (dispatch-core `sfv`), applied here only to
/// decide when a comparison is meaningful.
pub const MAX_FIELD_LEN: usize = 4096;
/// Dictionary members the core parses at most.
pub const MAX_MEMBERS: usize = 16;
/// Inner-list items the core parses at most.
pub const MAX_INNER_LIST_ITEMS: usize = 32;
/// Parameters per item or inner list the core parses at most.
pub const MAX_PARAMETERS: usize = 16;

/// The policy's clock tolerances (the defaults of §8, check 5).
pub const SKEW: i64 = 5;
/// The policy's maximum signature age.
pub const MAX_AGE: i64 = 300;

// ---------------------------------------------------------------------------
// RFC 8941, parsing only what a Dictionary can hold.

/// A bare item.
#[derive(Debug, Clone, PartialEq)]
pub enum Bare {
    /// sf-integer
    Integer(i64),
    /// sf-decimal, kept as its text
    Decimal(String),
    /// sf-string, unescaped
    Str(String),
    /// sf-token
    Token(String),
    /// sf-binary, decoded
    Bytes(Vec<u8>),
    /// sf-boolean
    Bool(bool),
}

/// Parameters, in order, a later duplicate replacing the earlier value in place.
pub type Params = Vec<(String, Bare)>;

/// A dictionary member value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// An item with its parameters.
    Item(Bare, Params),
    /// An inner list with its parameters.
    Inner(Vec<(Bare, Params)>, Params),
}

/// Why parsing stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseFail {
    /// Not RFC 8941.
    Syntax,
    /// Valid, but beyond one of the core's bounds.
    Bounds,
}

fn put<T>(map: &mut Vec<(String, T)>, key: String, value: T) {
    match map.iter_mut().find(|(k, _)| *k == key) {
        Some(slot) => slot.1 = value,
        None => map.push((key, value)),
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn bump(&mut self) -> Option<u8> {
        let c = self.peek();
        if c.is_some() {
            self.i += 1;
        }
        c
    }
    fn skip_sp(&mut self) {
        while self.peek() == Some(b' ') {
            self.i += 1;
        }
    }
    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }

    fn key(&mut self) -> Result<String, ParseFail> {
        let first = self.peek().ok_or(ParseFail::Syntax)?;
        if !(first.is_ascii_lowercase() || first == b'*') {
            return Err(ParseFail::Syntax);
        }
        let mut out = String::new();
        while let Some(c) = self.peek() {
            if c.is_ascii_lowercase() || c.is_ascii_digit() || b"_-.*".contains(&c) {
                out.push(c as char);
                self.i += 1;
            } else {
                break;
            }
        }
        Ok(out)
    }

    fn params(&mut self) -> Result<Params, ParseFail> {
        let mut params = Params::new();
        // The core's bound counts parameters as written, repeated keys too.
        let mut written = 0usize;
        while self.peek() == Some(b';') {
            written += 1;
            self.i += 1;
            self.skip_sp();
            let key = self.key()?;
            let value = if self.peek() == Some(b'=') {
                self.i += 1;
                self.bare()?
            } else {
                Bare::Bool(true)
            };
            put(&mut params, key, value);
        }
        if written > MAX_PARAMETERS {
            return Err(ParseFail::Bounds);
        }
        Ok(params)
    }

    fn bare(&mut self) -> Result<Bare, ParseFail> {
        match self.peek().ok_or(ParseFail::Syntax)? {
            b'-' | b'0'..=b'9' => self.number(),
            b'"' => self.string(),
            b':' => self.bytes(),
            b'?' => self.boolean(),
            c if c.is_ascii_alphabetic() || c == b'*' => self.token(),
            _ => Err(ParseFail::Syntax),
        }
    }

    fn number(&mut self) -> Result<Bare, ParseFail> {
        let negative = self.peek() == Some(b'-');
        if negative {
            self.i += 1;
        }
        let mut text = String::new();
        let mut decimal = false;
        while let Some(c) = self.peek() {
            if c.is_ascii_digit() {
                text.push(c as char);
            } else if c == b'.' && !decimal {
                if text.len() > 12 {
                    return Err(ParseFail::Syntax);
                }
                decimal = true;
                text.push('.');
            } else {
                break;
            }
            self.i += 1;
            if (!decimal && text.len() > 15) || (decimal && text.len() > 16) {
                return Err(ParseFail::Syntax);
            }
        }
        if text.is_empty() || text.starts_with('.') {
            return Err(ParseFail::Syntax);
        }
        if decimal {
            let fraction = text.split_once('.').map_or("", |(_, f)| f);
            if fraction.is_empty() || fraction.len() > 3 {
                return Err(ParseFail::Syntax);
            }
            let sign = if negative { "-" } else { "" };
            Ok(Bare::Decimal(format!("{sign}{text}")))
        } else {
            let magnitude: i64 = text.parse().map_err(|_| ParseFail::Syntax)?;
            Ok(Bare::Integer(if negative { -magnitude } else { magnitude }))
        }
    }

    fn string(&mut self) -> Result<Bare, ParseFail> {
        self.i += 1; // the opening quote
        let mut out = String::new();
        loop {
            match self.bump().ok_or(ParseFail::Syntax)? {
                b'\\' => match self.bump() {
                    Some(c @ (b'"' | b'\\')) => out.push(c as char),
                    _ => return Err(ParseFail::Syntax),
                },
                b'"' => return Ok(Bare::Str(out)),
                c if (0x20..0x7f).contains(&c) => out.push(c as char),
                _ => return Err(ParseFail::Syntax),
            }
        }
    }

    fn token(&mut self) -> Result<Bare, ParseFail> {
        let mut out = String::new();
        while let Some(c) = self.peek() {
            let tchar = c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~:/".contains(&c);
            if !tchar {
                break;
            }
            out.push(c as char);
            self.i += 1;
        }
        Ok(Bare::Token(out))
    }

    fn bytes(&mut self) -> Result<Bare, ParseFail> {
        self.i += 1; // the opening colon
        let start = self.i;
        loop {
            match self.bump().ok_or(ParseFail::Syntax)? {
                b':' => break,
                c if c.is_ascii_alphanumeric() || b"+/=".contains(&c) => {}
                _ => return Err(ParseFail::Syntax),
            }
        }
        let text = &self.s[start..self.i - 1];
        let text = core::str::from_utf8(text).map_err(|_| ParseFail::Syntax)?;
        // Standard, padded base64; base64ct also refuses non-zero pad bits.
        Base64::decode_vec(text)
            .map(Bare::Bytes)
            .map_err(|_| ParseFail::Syntax)
    }

    fn boolean(&mut self) -> Result<Bare, ParseFail> {
        self.i += 1;
        match self.bump() {
            Some(b'0') => Ok(Bare::Bool(false)),
            Some(b'1') => Ok(Bare::Bool(true)),
            _ => Err(ParseFail::Syntax),
        }
    }

    fn inner_list(&mut self) -> Result<Value, ParseFail> {
        self.i += 1; // the opening parenthesis
        let mut items = Vec::new();
        loop {
            self.skip_sp();
            if self.peek() == Some(b')') {
                self.i += 1;
                let params = self.params()?;
                if items.len() > MAX_INNER_LIST_ITEMS {
                    return Err(ParseFail::Bounds);
                }
                return Ok(Value::Inner(items, params));
            }
            let bare = self.bare()?;
            let params = self.params()?;
            items.push((bare, params));
            if !matches!(self.peek(), Some(b' ' | b')')) {
                return Err(ParseFail::Syntax);
            }
        }
    }
}

/// Parses an RFC 8941 Dictionary. An empty field value is refused (the
/// policy treats a present but empty header as malformed).
pub fn parse_dictionary(input: &[u8]) -> Result<Vec<(String, Value)>, ParseFail> {
    if input.len() > MAX_FIELD_LEN {
        return Err(ParseFail::Bounds);
    }
    let mut p = Parser { s: input, i: 0 };
    p.skip_sp();
    if p.peek().is_none() {
        return Err(ParseFail::Syntax);
    }
    let mut members = Vec::new();
    // The core's bound counts members as written, repeated keys too.
    let mut written = 0usize;
    loop {
        written += 1;
        let key = p.key()?;
        let value = if p.peek() == Some(b'=') {
            p.i += 1;
            if p.peek() == Some(b'(') {
                p.inner_list()?
            } else {
                let bare = p.bare()?;
                Value::Item(bare, p.params()?)
            }
        } else {
            Value::Item(Bare::Bool(true), p.params()?)
        };
        put(&mut members, key, value);
        p.skip_ows();
        if p.peek().is_none() {
            break;
        }
        if p.bump() != Some(b',') {
            return Err(ParseFail::Syntax);
        }
        p.skip_ows();
        if p.peek().is_none() {
            return Err(ParseFail::Syntax);
        }
    }
    if written > MAX_MEMBERS {
        return Err(ParseFail::Bounds);
    }
    Ok(members)
}

// ---------------------------------------------------------------------------
// The request and the policy.

/// The request, as the verifier sees it.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// Method as received.
    pub method: &'a str,
    /// Scheme.
    pub scheme: &'a str,
    /// Authority, as received.
    pub authority: &'a str,
    /// Raw path.
    pub path: &'a str,
    /// Raw query without `?`.
    pub query: Option<&'a str>,
    /// Field lines in order.
    pub headers: &'a [(&'a str, &'a str)],
    /// The body.
    pub body: &'a [u8],
}

fn trim(value: &str) -> &str {
    value.trim_matches([' ', '\t'])
}

/// The field value of `name`: each line trimmed, lines joined with `", "`.
fn field(req: &Request<'_>, name: &str) -> Option<String> {
    let lines: Vec<&str> = req
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| trim(v))
        .collect();
    (!lines.is_empty()).then(|| lines.join(", "))
}

fn reject(status: u16, reason: &'static str) -> Verdict {
    Verdict::Reject(status, reason)
}

fn serialize_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn serialize_bare(b: &Bare) -> String {
    // After check 3 only Integers and Strings remain in the parameters.
    match b {
        Bare::Integer(n) => n.to_string(),
        Bare::Str(s) => serialize_string(s),
        other => format!("{other:?}"),
    }
}

/// Verifies `req` with `key` at `now` under the §8 policy.
pub fn verify(req: &Request<'_>, key: &[u8; 32], now: i64) -> Verdict {
    // 1. Presence.
    let Some(input) = field(req, "signature-input") else {
        return reject(401, "missing-signature-input");
    };
    let Some(signature) = field(req, "signature") else {
        return reject(401, "missing-signature");
    };

    // 2. Shape.
    let input = match parse_dictionary(input.as_bytes()) {
        Ok(d) => d,
        Err(ParseFail::Bounds) => return Verdict::OutOfBounds,
        Err(ParseFail::Syntax) => return reject(401, "malformed-signature-input"),
    };
    let signature = match parse_dictionary(signature.as_bytes()) {
        Ok(d) => d,
        Err(ParseFail::Bounds) => return Verdict::OutOfBounds,
        Err(ParseFail::Syntax) => return reject(401, "malformed-signature"),
    };
    if input.len() != 1 {
        return reject(401, "not-exactly-one-signature");
    }
    let (label, member) = &input[0];
    let Value::Inner(components, params) = member else {
        return reject(401, "malformed-signature-input");
    };
    let Some((_, signature)) = signature.iter().find(|(k, _)| k == label) else {
        return reject(401, "label-mismatch");
    };
    let signature: [u8; 64] = match signature {
        Value::Item(Bare::Bytes(bytes), _) => match bytes.as_slice().try_into() {
            Ok(array) => array,
            Err(_) => return reject(401, "malformed-signature"),
        },
        _ => return reject(401, "malformed-signature"),
    };

    // 3. Parameters.
    for (name, _) in params {
        if !["alg", "created", "expires", "keyid", "nonce"].contains(&name.as_str()) {
            return reject(401, "unknown-parameter");
        }
    }
    let param = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v);
    let created = match param("created") {
        Some(Bare::Integer(n)) => *n,
        _ => return reject(401, "bad-created"),
    };
    let expires = match param("expires") {
        None => None,
        Some(Bare::Integer(n)) => Some(*n),
        Some(_) => return reject(401, "bad-expires"),
    };
    if !matches!(param("nonce"), None | Some(Bare::Str(_))) {
        return reject(401, "bad-nonce");
    }
    if param("keyid") != Some(&Bare::Str("default".into())) {
        return reject(401, "unknown-keyid");
    }
    if !matches!(param("alg"), None) && param("alg") != Some(&Bare::Str("ed25519".into())) {
        return reject(401, "unsupported-alg");
    }

    // 4. Components, one rule at a time over the whole list, in the
    // policy's order. A field component must name a field: an RFC 9110
    // token, in lower case.
    let is_tchar = |c: u8| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c);
    let mut names: Vec<&str> = Vec::new();
    for (item, item_params) in components {
        let Bare::Str(name) = item else {
            return reject(401, "malformed-component");
        };
        let field_name_ok = name.starts_with('@') || name.bytes().all(is_tchar);
        if !item_params.is_empty()
            || name.is_empty()
            || !field_name_ok
            || name.bytes().any(|c| c.is_ascii_uppercase())
        {
            return reject(401, "malformed-component");
        }
        names.push(name);
    }
    for (i, name) in names.iter().enumerate() {
        if names[..i].contains(name) {
            return reject(401, "duplicate-component");
        }
    }
    let derived = [
        "@method",
        "@authority",
        "@path",
        "@query",
        "@target-uri",
        "@scheme",
    ];
    if names
        .iter()
        .any(|n| n.starts_with('@') && !derived.contains(n))
    {
        return reject(401, "unsupported-component");
    }
    if names
        .iter()
        .any(|n| !n.starts_with('@') && field(req, n).is_none())
    {
        return reject(401, "covered-header-missing");
    }
    let required = [
        "@method",
        "@path",
        "@authority",
        "content-type",
        "content-digest",
    ];
    if !required.iter().all(|r| names.contains(r)) {
        return reject(401, "insufficient-coverage");
    }
    let mut lines = Vec::new();
    for name in &names {
        let value = if name.starts_with('@') {
            derived_value(req, name)
        } else {
            field(req, name).unwrap_or_default()
        };
        lines.push(format!("{}: {value}\n", serialize_string(name)));
    }

    // 5. Time (i128: no overflow on 15-digit integers).
    let (created, now) = (i128::from(created), i128::from(now));
    let (skew, max_age) = (i128::from(SKEW), i128::from(MAX_AGE));
    if created > now + skew {
        return reject(403, "created-in-future");
    }
    if created + max_age < now - skew {
        return reject(403, "expired");
    }
    if let Some(expires) = expires {
        if i128::from(expires) < now - skew {
            return reject(403, "expired");
        }
    }

    // 6. The signature, over the base rebuilt from the parsed member.
    let mut base: String = lines.concat();
    let list: Vec<String> = names.iter().map(|n| serialize_string(n)).collect();
    base.push_str(&format!("\"@signature-params\": ({})", list.join(" ")));
    for (name, value) in params {
        base.push_str(&format!(";{name}={}", serialize_bare(value)));
    }
    let Ok(key) = VerifyingKey::from_bytes(key) else {
        return reject(403, "signature-mismatch");
    };
    if key
        .verify_strict(base.as_bytes(), &Signature::from_bytes(&signature))
        .is_err()
    {
        return reject(403, "signature-mismatch");
    }

    // 7. The body digest (the header is present: it is covered).
    let Some(digest) = field(req, "content-digest") else {
        return reject(401, "malformed-content-digest");
    };
    let digest = match parse_dictionary(digest.as_bytes()) {
        Ok(d) => d,
        Err(ParseFail::Bounds) => return Verdict::OutOfBounds,
        Err(ParseFail::Syntax) => return reject(401, "malformed-content-digest"),
    };
    let member = |name: &str| digest.iter().find(|(k, _)| k == name).map(|(_, v)| v);
    let (expected, actual) = match (member("sha-512"), member("sha-256")) {
        (Some(v), _) => (v, Sha512::digest(req.body).to_vec()),
        (None, Some(v)) => (v, Sha256::digest(req.body).to_vec()),
        (None, None) => return reject(401, "unsupported-digest-algorithm"),
    };
    match expected {
        Value::Item(Bare::Bytes(bytes), _) if *bytes == actual => Verdict::Accept,
        Value::Item(Bare::Bytes(_), _) => reject(403, "digest-mismatch"),
        _ => reject(401, "malformed-content-digest"),
    }
}

fn derived_value(req: &Request<'_>, name: &str) -> String {
    let path = if req.path.is_empty() { "/" } else { req.path };
    let query = req.query.map(|q| format!("?{q}"));
    match name {
        "@method" => req.method.to_ascii_uppercase(),
        "@authority" => req.authority.to_ascii_lowercase(),
        "@path" => path.to_string(),
        "@query" => query.unwrap_or_else(|| "?".into()),
        "@scheme" => req.scheme.to_ascii_lowercase(),
        _ => format!(
            "{}://{}{}{}",
            req.scheme,
            req.authority,
            path,
            query.unwrap_or_default()
        ),
    }
}

/// The number (1 to 7) of the §8 check a reason belongs to. §8 orders the
/// checks, not the reasons within one check, so comparing check numbers is
/// the strictest comparison the spec supports.
pub fn check_of(reason: &str) -> u8 {
    match reason {
        "missing-signature-input" | "missing-signature" => 1,
        "malformed-signature-input"
        | "malformed-signature"
        | "not-exactly-one-signature"
        | "label-mismatch" => 2,
        "unknown-parameter" | "bad-created" | "bad-expires" | "bad-nonce" | "unknown-keyid"
        | "unsupported-alg" => 3,
        "malformed-component"
        | "duplicate-component"
        | "unsupported-component"
        | "covered-header-missing"
        | "insufficient-coverage" => 4,
        "created-in-future" | "expired" => 5,
        "signature-mismatch" => 6,
        _ => 7,
    }
}
