//! The text format the request targets read, so that libFuzzer's byte
//! mutations land on meaningful places:
//!
//! ```text
//! now=<unix seconds> key=<standard base64 of the 32-byte public key>   (optional line)
//! <METHOD> <absolute URL>
//! <Name>:<value>          (one field line each; one SP after ':' is dropped)
//! ...
//! <empty line>
//! <body bytes, raw>
//! ```
//!
//! Everything before the body must be UTF-8. Without the first line the
//! defaults below are used (vector-key-a, and a `now` 30 s after the
//! vectors' usual `created`).

use base64ct::{Base64, Encoding};

/// The public key used when the input does not name one (vector-key-a).
pub const DEFAULT_KEY_B64: &str = "03FNpTgdxkZjpEPlpBYNm1WdUM3RwTiNETSTTKZAsTU=";
/// The clock used when the input does not set one.
pub const DEFAULT_NOW: i64 = 1_718_236_830;

/// A request read from fuzz input.
#[derive(Debug, Clone)]
pub struct RequestInput<'a> {
    /// The verifier's clock.
    pub now: i64,
    /// The verifier's public key.
    pub key: [u8; 32],
    /// The method, as on the wire.
    pub method: &'a str,
    /// The scheme of the URL.
    pub scheme: &'a str,
    /// The authority of the URL, as given.
    pub authority: &'a str,
    /// The raw path (may be empty).
    pub path: &'a str,
    /// The raw query without `?`, if the URL has a `?`.
    pub query: Option<&'a str>,
    /// The field lines, in order.
    pub headers: Vec<(&'a str, &'a str)>,
    /// The body.
    pub body: &'a [u8],
}

/// The raw bytes of [`DEFAULT_KEY_B64`].
pub fn default_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    // The constant is valid base64 of 32 bytes.
    let _ = Base64::decode(DEFAULT_KEY_B64, &mut key);
    key
}

fn find_subslice(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

impl<'a> RequestInput<'a> {
    /// Reads the format above; `None` when the input does not follow it.
    pub fn parse(data: &'a [u8]) -> Option<Self> {
        let (head, body) = match find_subslice(data, b"\n\n") {
            Some(at) => (&data[..at], &data[at + 2..]),
            None => (data, &[][..]),
        };
        let head = core::str::from_utf8(head).ok()?;
        let mut lines = head.split('\n');
        let mut first = lines.next()?;
        let (mut now, mut key) = (DEFAULT_NOW, default_key());
        if let Some(settings) = first.strip_prefix("now=") {
            let (now_text, key_text) = settings.split_once(" key=")?;
            now = now_text.parse().ok()?;
            let mut decoded = [0u8; 32];
            if Base64::decode(key_text, &mut decoded).ok()?.len() != 32 {
                return None;
            }
            key = decoded;
            first = lines.next()?;
        }
        let (method, url) = first.split_once(' ')?;
        let (scheme, authority, path, query) = split_url(url)?;
        let mut headers = Vec::new();
        for line in lines {
            let (name, value) = line.split_once(':')?;
            headers.push((name, value.strip_prefix(' ').unwrap_or(value)));
        }
        Some(RequestInput {
            now,
            key,
            method,
            scheme,
            authority,
            path,
            query,
            headers,
            body,
        })
    }
}

impl RequestInput<'_> {
    /// The request as dispatch-core sees it.
    pub fn view(&self) -> dispatch_core::signature::BorrowedRequest<'_> {
        dispatch_core::signature::BorrowedRequest {
            method: self.method,
            scheme: self.scheme,
            authority: self.authority,
            path: self.path,
            query: self.query,
            headers: &self.headers,
        }
    }

    /// The request as the reference verifier sees it.
    pub fn reference(&self) -> crate::reference::Request<'_> {
        crate::reference::Request {
            method: self.method,
            scheme: self.scheme,
            authority: self.authority,
            path: self.path,
            query: self.query,
            headers: &self.headers,
            body: self.body,
        }
    }
}

/// Splits `scheme://authority[path][?query][#fragment]`.
pub fn split_url(url: &str) -> Option<(&str, &str, &str, Option<&str>)> {
    let (scheme, rest) = url.split_once("://")?;
    let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, target) = rest.split_at(end);
    if scheme.is_empty() || authority.is_empty() {
        return None;
    }
    Some(match target.split_once('?') {
        Some((path, query)) => (scheme, authority, path, Some(query)),
        None => (scheme, authority, target, None),
    })
}

/// Writes a request in the format above (used to build the seed corpus).
pub fn encode(
    now: i64,
    key_b64: &str,
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Vec<u8> {
    let mut out = format!("now={now} key={key_b64}\n{method} {url}\n");
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\n"));
    }
    let mut out = out.into_bytes();
    out.push(b'\n');
    out.extend_from_slice(body);
    out
}
