//! `dispatch sign` and `dispatch verify`: raw HTTP/1.1 requests, signed and
//! checked by the core exactly as the scheduler signs and endpoints verify.

use std::io::Write as _;
use std::path::PathBuf;

use clap::Args;
use dispatch_core::sfv::{Dictionary, Member};
use dispatch_core::signature::{
    DEFAULT_BASE_CAPACITY, Policy, RequestView, SIGNING_BUFFER_LEN, sign_request, verify_headers,
    write_signature_base,
};

use crate::keys::{read_signing_key, read_verifying_key};
use crate::{EXIT_PERMISSION_DENIED, EXIT_UNAUTHENTICATED, Failure, Outcome, read_input};

/// The most header lines a request file may have.
const MAX_HEADERS: usize = 128;

/// Arguments of `dispatch sign`.
#[derive(Args, Debug)]
pub(crate) struct SignArgs {
    /// The raw HTTP/1.1 request (request line, headers, blank line, body);
    /// stdin when absent or `-`.
    request: Option<PathBuf>,
    /// The Ed25519 private key file (PKCS#8 PEM, or the base64 seed).
    #[arg(long, short = 'k')]
    signing_key: PathBuf,
    /// The signature's `created` time, in Unix seconds (default: now).
    #[arg(long)]
    created: Option<i64>,
    /// The scheme the request was sent with (for `@scheme` and `@target-uri`).
    #[arg(long, default_value = "http")]
    scheme: String,
    /// Also print the signature base, on stderr.
    #[arg(long)]
    print_base: bool,
}

/// Arguments of `dispatch verify`.
#[derive(Args, Debug)]
pub(crate) struct VerifyArgs {
    /// The raw HTTP/1.1 request (request line, headers, blank line, body);
    /// stdin when absent or `-`.
    request: Option<PathBuf>,
    /// The Ed25519 public key: PEM or base64 text, or a file holding it.
    #[arg(
        long,
        short = 'k',
        env = "DISPATCH_VERIFICATION_KEY",
        hide_env_values = true
    )]
    key: String,
    /// The time to verify at, in Unix seconds (default: now), to replay an
    /// old request.
    #[arg(long)]
    now: Option<i64>,
    /// The scheme the request was sent with (for `@scheme` and `@target-uri`).
    #[arg(long, default_value = "http")]
    scheme: String,
    /// Also print the signature base rebuilt from `Signature-Input`.
    #[arg(long)]
    print_base: bool,
}

/// A raw HTTP/1.1 request, parsed.
#[derive(Debug)]
struct RawRequest {
    method: String,
    scheme: String,
    authority: String,
    /// The request target as written (origin form, or absolute form).
    target: String,
    path: String,
    query: Option<String>,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

impl RequestView for RawRequest {
    fn method(&self) -> &str {
        &self.method
    }
    fn scheme(&self) -> &str {
        &self.scheme
    }
    fn authority(&self) -> &str {
        &self.authority
    }
    fn path(&self) -> &str {
        &self.path
    }
    fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }
    fn field_line(&self, name: &str, index: usize) -> Option<&[u8]> {
        dispatch_core::signature::nth_field_line(self.headers.as_slice(), name, index)
    }
}

/// Parses a raw request: the head with httparse (CRLF or LF line ends), the
/// body as the rest, checked against `Content-Length` when present.
fn parse_request(bytes: &[u8], scheme: &str) -> Result<RawRequest, Failure> {
    let bad = |why: String| Failure::error(format!("not a raw HTTP/1.1 request: {why}"));
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    let head_len = match request.parse(bytes) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => {
            return Err(bad(
                "the head is incomplete (it must end with an empty line)".into(),
            ));
        }
        Err(e) => return Err(bad(e.to_string())),
    };
    let method = request.method.unwrap_or_default().to_owned();
    let target = request.path.unwrap_or_default().to_owned();
    let headers: Vec<(String, Vec<u8>)> = request
        .headers
        .iter()
        .map(|h| (h.name.to_owned(), h.value.to_vec()))
        .collect();
    let body = bytes.get(head_len..).unwrap_or_default();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    };
    if header("transfer-encoding").is_some() {
        return Err(bad(
            "Transfer-Encoding is not supported; give the body as is with a Content-Length".into(),
        ));
    }
    let body = match header("content-length") {
        Some(value) => {
            let length: usize = core::str::from_utf8(value)
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .ok_or_else(|| bad("Content-Length is not a number".into()))?;
            if body.len() < length {
                return Err(bad(format!(
                    "the body has {} bytes, Content-Length says {length}",
                    body.len()
                )));
            }
            // Bytes past Content-Length (a trailing newline) are not the body.
            body.get(..length).unwrap_or_default()
        }
        None => body,
    };
    let (authority, path_and_query) = match target.split_once("://") {
        Some((_, rest)) => {
            let end = rest.find(['/', '?']).unwrap_or(rest.len());
            let (authority, rest) = rest.split_at(end);
            (authority.to_owned(), rest.to_owned())
        }
        None => {
            let host = header("host").ok_or_else(|| bad("there is no Host header".into()))?;
            let host = core::str::from_utf8(host)
                .map_err(|_| bad("the Host header is not text".into()))?;
            (host.trim().to_owned(), target.clone())
        }
    };
    let (path, query) = match path_and_query.split_once('?') {
        Some((path, query)) => (path.to_owned(), Some(query.to_owned())),
        None => (path_and_query, None),
    };
    Ok(RawRequest {
        method,
        scheme: scheme.to_owned(),
        authority,
        target,
        path,
        query,
        headers,
        body: body.to_vec(),
    })
}

/// `dispatch sign`: prints the request with `Content-Digest`,
/// `Signature-Input` and `Signature` replaced by the scheduler's.
pub(crate) fn sign(args: &SignArgs) -> Outcome {
    let key = read_signing_key(&args.signing_key)?;
    let mut request = parse_request(&read_input(args.request.as_ref())?, &args.scheme)?;
    let created = args.created.unwrap_or_else(dispatch_std::unix_now);
    let mut buf = vec![0u8; SIGNING_BUFFER_LEN + request.authority.len() + request.target.len()];
    let signed = sign_request(&request, &request.body, &key, created, &mut buf)
        .map_err(|e| Failure::error(format!("cannot sign this request: {e:?}")))?;
    if args.print_base {
        eprintln!("{}", signed.signature_base);
    }
    let added = [
        ("Content-Digest", signed.content_digest.as_bytes().to_vec()),
        (
            "Signature-Input",
            signed.signature_input.as_bytes().to_vec(),
        ),
        ("Signature", signed.signature.as_bytes().to_vec()),
    ];
    request.headers.retain(|(name, _)| {
        !["content-digest", "signature-input", "signature"]
            .iter()
            .any(|n| name.eq_ignore_ascii_case(n))
    });
    let mut out = Vec::new();
    out.extend_from_slice(format!("{} {} HTTP/1.1\r\n", request.method, request.target).as_bytes());
    let all = request
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_slice()))
        .chain(added.iter().map(|(n, v)| (*n, v.as_slice())));
    for (name, value) in all {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&request.body);
    std::io::stdout()
        .write_all(&out)
        .map_err(|e| Failure::error(format!("cannot write the signed request: {e}")))?;
    Ok(0)
}

/// `dispatch verify`: exit 0 when the request is accepted; otherwise print
/// the HTTP status and the Connect error JSON an endpoint answers with, and
/// exit 3 (401) or 4 (403).
pub(crate) fn verify(args: &VerifyArgs) -> Outcome {
    let key = read_verifying_key(&args.key)?;
    let request = parse_request(&read_input(args.request.as_ref())?, &args.scheme)?;
    let now = args.now.unwrap_or_else(dispatch_std::unix_now);
    if args.print_base {
        print_base(&request);
    }
    let verdict = verify_headers(&request, &key, now, &Policy::default()).and_then(|verified| {
        let created = verified.created();
        verified.check_body(&request.body).map(|()| created)
    });
    match verdict {
        Ok(created) => {
            println!("accepted: signed at {created} (verified at {now}), body digest matches");
            Ok(0)
        }
        Err(error) => {
            let status = error.http_status();
            let mut json = [0u8; 512];
            let body = error
                .write_connect_json(&mut json)
                .and_then(|n| json.get(..n))
                .and_then(|b| core::str::from_utf8(b).ok())
                .unwrap_or("");
            let reason = if status == 401 {
                "Unauthorized"
            } else {
                "Forbidden"
            };
            println!("HTTP {status} {reason} ({})", error.reason_name());
            println!("{body}");
            Ok(if status == 401 {
                EXIT_UNAUTHENTICATED
            } else {
                EXIT_PERMISSION_DENIED
            })
        }
    }
}

/// Prints the signature base rebuilt from the request's `Signature-Input`
/// (its one member), or why it cannot be.
fn print_base(request: &RawRequest) {
    let Some(input) = request.field_line("signature-input", 0) else {
        println!("(no Signature-Input: no signature base)");
        return;
    };
    let list = match Dictionary::parse(input) {
        Ok(dictionary) => dictionary.iter().find_map(|(_, member)| match member {
            Member::InnerList(list) => Some(list),
            Member::Item(_) => None,
        }),
        Err(_) => None,
    };
    let Some(list) = list else {
        println!("(Signature-Input has no inner list: no signature base)");
        return;
    };
    let mut buf = vec![0u8; DEFAULT_BASE_CAPACITY * 4];
    match write_signature_base(request, &list, &mut buf) {
        Ok(base) => println!("signature base:\n{base}\n"),
        Err(e) => println!("(the signature base cannot be built: {e:?})"),
    }
}
