//! Step 1: the request head, over Connect and over gRPC.

use core::time::Duration;

use super::{Refusal, RunRpc};
use crate::connect::{self, Codec, ProtocolVersionError, RUN_PATH, TimeoutError};
use crate::signature::RequestView;

/// What the head of an accepted Run request tells the rest of the exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunHead {
    /// The codec of the request body, and of the response.
    pub codec: Codec,
    /// How long the function may run (`Connect-Timeout-Ms` or
    /// `grpc-timeout`); `None`: no limit from the client.
    pub timeout: Option<Duration>,
    /// The declared body length, already checked against the limit.
    pub content_length: Option<u64>,
    /// How the body is encoded: [`ContentEncoding::Gzip`] only where the
    /// RPC accepts it; the host then inflates it with [`RunRpc::inflate`]
    /// after the body check (the digest covers the body as sent).
    pub encoding: ContentEncoding,
    /// The client accepts a gzip response (`Accept-Encoding`, RFC 9110
    /// section 12.5.3) and the RPC [accepts gzip](RunRpc::accept_gzip):
    /// [`RunRpc::compress_response`] then compresses bodies of
    /// [`COMPRESS_MIN_BYTES`](super::COMPRESS_MIN_BYTES) or more. Always
    /// `false` over gRPC.
    pub accepts_gzip: bool,
}

/// The `Content-Encoding` of an accepted request body.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ContentEncoding {
    /// Sent as it is (no header, or `identity`).
    #[default]
    Identity,
    /// Compressed with gzip (`gzip` or `x-gzip`, RFC 9110 section 8.4.1.3).
    Gzip,
}

/// A header field that must appear at most once: `Ok(None)` when absent,
/// `Err(())` when repeated or not UTF-8.
fn single<'r, R: RequestView + ?Sized>(request: &'r R, name: &str) -> Result<Option<&'r str>, ()> {
    let Some(first) = request.field_line(name, 0) else {
        return Ok(None);
    };
    if request.field_line(name, 1).is_some() {
        return Err(());
    }
    core::str::from_utf8(first).map(Some).map_err(|_| ())
}

impl RunRpc<'_> {
    /// Step 1 over Connect: the path (the Run RPC's, after any routing
    /// prefix the host strips), `POST`, `Connect-Protocol-Version` (`1` when
    /// present), `Content-Encoding` (`identity` or none, and `gzip` where
    /// [`accept_gzip`](RunRpc::accept_gzip) was set), `Content-Type`
    /// (`application/proto`, or `application/json` when the host lent a
    /// [`JsonCodec`](super::JsonCodec)), `Connect-Timeout-Ms` and
    /// `Content-Length` (at most the body limit), checked in that order.
    ///
    /// ```
    /// use dispatch_core::run::{Refusal, RunRpc};
    /// use dispatch_core::signature::BorrowedRequest;
    ///
    /// let url = "http://127.0.0.1:8000/dispatch.sdk.v1.FunctionService/Run";
    /// let headers = [("Content-Type", "application/proto"), ("Connect-Timeout-Ms", "1500")];
    /// let request = BorrowedRequest::from_url("POST", url, &headers).ok_or("bad URL")?;
    /// // A refusal borrows the request; a host answers it at once.
    /// let head = RunRpc::new().check_head(&request).map_err(|refusal| refusal.to_string())?;
    /// assert_eq!(head.timeout, Some(core::time::Duration::from_millis(1500)));
    ///
    /// let request = BorrowedRequest::from_url("GET", url, &headers).ok_or("bad URL")?;
    /// assert_eq!(
    ///     RunRpc::new().check_head(&request),
    ///     Err(Refusal::MethodNotAllowed { method: "GET" })
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn check_head<'r, R: RequestView + ?Sized>(
        &self,
        request: &'r R,
    ) -> Result<RunHead, Refusal<'r>> {
        self.check_route(request)?;
        let version = single(request, connect::PROTOCOL_VERSION_HEADER)
            .map_err(|()| ProtocolVersionError::Unsupported)?;
        connect::check_protocol_version(version, false)?;
        let encoding = check_content_encoding(request, self.gzip)?;
        let accepts_gzip = self.gzip && accepts_gzip(request);
        let json = self.offers_json();
        let codec = single(request, connect::CONTENT_TYPE_HEADER)
            .ok()
            .flatten()
            .and_then(Codec::from_content_type)
            .filter(|codec| *codec == Codec::Proto || json)
            .ok_or(Refusal::UnsupportedContentType { json })?;
        let timeout =
            match single(request, connect::TIMEOUT_HEADER).map_err(|()| TimeoutError::NotDigits)? {
                Some(value) => Some(Duration::from_millis(connect::parse_timeout_ms(value)?)),
                None => None,
            };
        let content_length = check_content_length(request, self.limit())?;
        Ok(RunHead {
            codec,
            timeout,
            content_length,
            encoding,
            accepts_gzip,
        })
    }

    /// Step 1 over gRPC: the path, `POST`, `Content-Type` (`application/grpc`
    /// or `application/grpc+proto`), `grpc-encoding` (`identity` or none),
    /// `grpc-timeout` and `Content-Length`. The codec is always
    /// [`Codec::Proto`]; the body is one length-prefixed message
    /// ([`grpc_message`](super::grpc_message)).
    pub fn check_grpc_head<'r, R: RequestView + ?Sized>(
        &self,
        request: &'r R,
    ) -> Result<RunHead, Refusal<'r>> {
        self.check_route(request)?;
        let grpc = single(request, connect::CONTENT_TYPE_HEADER)
            .ok()
            .flatten()
            .is_some_and(super::grpc::is_grpc_content_type);
        if !grpc {
            return Err(Refusal::UnsupportedContentType {
                json: self.offers_json(),
            });
        }
        // gRPC messages are compressed per frame, under `grpc-encoding`;
        // only identity is served there.
        check_encoding(request, super::grpc::ENCODING_HEADER, false)?;
        let timeout = match single(request, super::grpc::TIMEOUT_HEADER) {
            Ok(None) => None,
            Ok(Some(value)) => {
                Some(super::grpc::parse_timeout(value).ok_or(Refusal::BadGrpcTimeout)?)
            }
            Err(()) => return Err(Refusal::BadGrpcTimeout),
        };
        let content_length = check_content_length(request, self.limit())?;
        Ok(RunHead {
            codec: Codec::Proto,
            timeout,
            content_length,
            encoding: ContentEncoding::Identity,
            accepts_gzip: false,
        })
    }

    fn check_route<'r, R: RequestView + ?Sized>(&self, request: &'r R) -> Result<(), Refusal<'r>> {
        let path = request.path();
        if path != RUN_PATH {
            return Err(Refusal::NoSuchRpc { path });
        }
        let method = request.method();
        if method != "POST" {
            return Err(Refusal::MethodNotAllowed { method });
        }
        Ok(())
    }
}

/// Checks `Content-Length` (when present: one decimal number, at most
/// `limit`) and returns it; the part of step 1 a generic verifying layer
/// shares with the Run RPC.
///
/// ```
/// use dispatch_core::run::{check_content_length, Refusal};
/// use dispatch_core::signature::BorrowedRequest;
///
/// let headers = [("Content-Length", "2048")];
/// let request = BorrowedRequest::from_url("POST", "http://x/", &headers).ok_or("bad URL")?;
/// assert_eq!(check_content_length(&request, 1024), Err(Refusal::BodyTooLarge { limit: 1024 }));
/// assert_eq!(check_content_length(&request, 4096), Ok(Some(2048)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn check_content_length<R: RequestView + ?Sized>(
    request: &R,
    limit: usize,
) -> Result<Option<u64>, Refusal<'static>> {
    let Some(text) = single(request, "content-length").map_err(|()| Refusal::BadContentLength)?
    else {
        return Ok(None);
    };
    let length = parse_decimal(text).ok_or(Refusal::BadContentLength)?;
    if length > limit as u64 {
        return Err(Refusal::BodyTooLarge { limit });
    }
    Ok(Some(length))
}

/// The request's `Content-Encoding` (every field line): none or `identity`,
/// or `gzip` (`x-gzip`) where `gzip` is true; anything else, or gzip
/// applied twice, is [`Refusal::UnsupportedEncoding`] (HTTP 501, with the
/// `Accept-Encoding` the server takes). For Connect servers other than the
/// Run RPC's (the scheduler's Dispatch route).
///
/// ```
/// use dispatch_core::run::{check_content_encoding, ContentEncoding};
/// use dispatch_core::signature::BorrowedRequest;
/// let headers = [("content-encoding", "gzip")];
/// let request = BorrowedRequest::from_url("POST", "http://h/x", &headers).ok_or("bad URL")?;
/// assert_eq!(check_content_encoding(&request, true), Ok(ContentEncoding::Gzip));
/// assert_eq!(check_content_encoding(&request, false).map_err(|r| r.status()), Err(501));
/// # Ok::<(), &str>(())
/// ```
pub fn check_content_encoding<R: RequestView + ?Sized>(
    request: &R,
    gzip: bool,
) -> Result<ContentEncoding, Refusal<'static>> {
    check_encoding(request, connect::CONTENT_ENCODING_HEADER, gzip)
}

/// Whether the request's `Accept-Encoding` (every field line) accepts gzip:
/// `gzip`, `x-gzip` or `*` with a quality other than zero (RFC 9110 section
/// 12.5.3). Parameters other than `q` and malformed qualities are read as
/// "not accepted", so a response is compressed only when the client
/// plainly asked for it.
///
/// ```
/// use dispatch_core::run::accepts_gzip;
/// use dispatch_core::signature::BorrowedRequest;
/// let accepts = |value| {
///     let headers = [("accept-encoding", value)];
///     let request = BorrowedRequest::from_url("POST", "http://h/x", &headers).unwrap();
///     accepts_gzip(&request)
/// };
/// assert!(accepts("gzip"));
/// assert!(accepts("br, GZIP;q=0.5"));
/// assert!(!accepts("gzip;q=0"));
/// assert!(!accepts("identity"));
/// ```
pub fn accepts_gzip<R: RequestView + ?Sized>(request: &R) -> bool {
    let mut index = 0;
    let mut accepted = false;
    while let Some(line) = request.field_line(connect::ACCEPT_ENCODING_HEADER, index) {
        for entry in line.split(|&b| b == b',') {
            let mut parts = entry.split(|&b| b == b';');
            let coding = parts.next().unwrap_or_default().trim_ascii();
            let names_gzip = coding.eq_ignore_ascii_case(b"gzip")
                || coding.eq_ignore_ascii_case(b"x-gzip")
                || coding == b"*";
            if !names_gzip {
                continue;
            }
            let mut quality_nonzero = true;
            for parameter in parts {
                let parameter = parameter.trim_ascii();
                match parameter.split_first_chunk::<2>() {
                    Some((b"q=" | b"Q=", value)) => quality_nonzero = nonzero_quality(value),
                    _ => quality_nonzero = false,
                }
            }
            if !quality_nonzero && coding != b"*" {
                // An explicit refusal of gzip wins over a wildcard.
                return false;
            }
            accepted |= quality_nonzero;
        }
        index += 1;
    }
    accepted
}

/// A quality value (`0`, `0.5`, `1.000`, RFC 9110 section 12.4.2) other
/// than zero; malformed ones count as zero.
fn nonzero_quality(value: &[u8]) -> bool {
    match value.split_first() {
        Some((b'1', rest)) => {
            rest.is_empty()
                || rest.split_first().is_some_and(|(dot, digits)| {
                    *dot == b'.' && digits.len() <= 3 && digits.iter().all(|&d| d == b'0')
                })
        }
        Some((b'0', rest)) => rest.split_first().is_some_and(|(dot, digits)| {
            *dot == b'.'
                && digits.len() <= 3
                && digits.iter().all(u8::is_ascii_digit)
                && digits.iter().any(|&d| d != b'0')
        }),
        _ => false,
    }
}

/// The one coding of `name` (every field line, comma-separated entries,
/// `identity` entries ignored): identity, or gzip where `gzip` is
/// accepted. Two codings (gzip applied twice, or gzip then another) are
/// refused: nothing would undo them.
fn check_encoding<R: RequestView + ?Sized>(
    request: &R,
    name: &str,
    gzip: bool,
) -> Result<ContentEncoding, Refusal<'static>> {
    let refused = Refusal::UnsupportedEncoding { gzip };
    let mut found = ContentEncoding::Identity;
    let mut index = 0;
    while let Some(line) = request.field_line(name, index) {
        for coding in line.split(|&b| b == b',') {
            let coding = coding.trim_ascii();
            if coding.is_empty() || coding.eq_ignore_ascii_case(b"identity") {
                continue;
            }
            let is_gzip =
                coding.eq_ignore_ascii_case(b"gzip") || coding.eq_ignore_ascii_case(b"x-gzip");
            if !gzip || !is_gzip || found == ContentEncoding::Gzip {
                return Err(refused);
            }
            found = ContentEncoding::Gzip;
        }
        index += 1;
    }
    Ok(found)
}

/// 1 to 19 ASCII digits (no sign, no spaces), as `Content-Length` is written.
fn parse_decimal(text: &str) -> Option<u64> {
    if text.is_empty() || text.len() > 19 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.bytes().try_fold(0u64, |acc, digit| {
        acc.checked_mul(10)?.checked_add(u64::from(digit - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signature::BorrowedRequest;

    const URL: &str = "http://localhost/dispatch.sdk.v1.FunctionService/Run";

    fn head(
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
    ) -> Result<RunHead, Refusal<'static>> {
        let request = BorrowedRequest::from_url(method, url, headers).unwrap();
        // The refusals borrow the request; compare them by their debug text.
        RunRpc::new()
            .body_limit(100)
            .check_head(&request)
            .map_err(|refusal| match refusal {
                Refusal::NoSuchRpc { .. } => Refusal::NoSuchRpc { path: "" },
                Refusal::MethodNotAllowed { .. } => Refusal::MethodNotAllowed { method: "" },
                Refusal::ProtocolVersion(e) => Refusal::ProtocolVersion(e),
                Refusal::UnsupportedEncoding { gzip } => Refusal::UnsupportedEncoding { gzip },
                Refusal::UnsupportedContentType { json } => {
                    Refusal::UnsupportedContentType { json }
                }
                Refusal::BadTimeout(e) => Refusal::BadTimeout(e),
                Refusal::BadContentLength => Refusal::BadContentLength,
                Refusal::BodyTooLarge { limit } => Refusal::BodyTooLarge { limit },
                other => panic!("unexpected {other:?}"),
            })
    }

    #[test]
    fn accept_encoding_is_read_with_its_qualities() {
        let accepts = |values: &[&str]| {
            let headers: alloc::vec::Vec<(&str, &str)> =
                values.iter().map(|v| ("accept-encoding", *v)).collect();
            let request = BorrowedRequest::from_url("POST", "http://h/x", &headers).unwrap();
            accepts_gzip(&request)
        };
        for yes in [
            &["gzip"][..],
            &["x-gzip"],
            &["*"],
            &["br", "gzip"],
            &["gzip;q=1"],
            &["gzip ; q=1.000"],
            &["gzip;q=0.001"],
            &["*;q=0, gzip"],
            &["identity;q=0.5, *;q=0.1"],
        ] {
            assert!(accepts(yes), "{yes:?}");
        }
        for no in [
            &[][..],
            &[""],
            &["identity"],
            &["br, deflate"],
            &["gzip;q=0"],
            &["gzip;q=0.000"],
            &["gzip;q=1.5"],
            &["gzip;q=abc"],
            &["gzip;level=9"],
            &["gzip;q=0, *"],
            &["*", "gzip;q=0"],
            &["*;q=0"],
            &["gzipx"],
        ] {
            assert!(!accepts(no), "{no:?}");
        }
    }

    #[cfg(feature = "gzip")]
    #[test]
    fn gzip_is_one_coding_where_accepted() {
        let rpc = RunRpc::new().accept_gzip();
        let encoding = |values: &[&str]| {
            let mut headers = alloc::vec![("content-type", "application/proto")];
            headers.extend(values.iter().map(|v| ("content-encoding", *v)));
            let request = BorrowedRequest::from_url("POST", URL, &headers).unwrap();
            rpc.check_head(&request)
                .map(|h| h.encoding)
                .map_err(|r| r.header())
        };
        let refused = Err(Some(("accept-encoding", "gzip, identity")));
        assert_eq!(encoding(&[]), Ok(ContentEncoding::Identity));
        assert_eq!(encoding(&["identity"]), Ok(ContentEncoding::Identity));
        assert_eq!(encoding(&["GZIP"]), Ok(ContentEncoding::Gzip));
        assert_eq!(encoding(&["x-gzip"]), Ok(ContentEncoding::Gzip));
        assert_eq!(encoding(&["identity, gzip"]), Ok(ContentEncoding::Gzip));
        assert_eq!(encoding(&["gzip, gzip"]), refused);
        assert_eq!(encoding(&["gzip", "gzip"]), refused);
        assert_eq!(encoding(&["br"]), refused);
        assert_eq!(encoding(&["gzip, br"]), refused);
        // gRPC compresses per message; its head never takes gzip.
        let headers = [
            ("content-type", "application/grpc"),
            ("grpc-encoding", "gzip"),
        ];
        let request = BorrowedRequest::from_url("POST", URL, &headers).unwrap();
        assert_eq!(
            rpc.check_grpc_head(&request).map_err(|r| r.code()),
            Err(crate::connect::Code::Unimplemented)
        );
    }

    #[cfg(feature = "gzip")]
    #[test]
    fn inflate_counts_the_limit_and_refuses_what_is_not_gzip() {
        let rpc = RunRpc::new().accept_gzip().body_limit(4);
        let gzip = RunHead {
            codec: crate::connect::Codec::Proto,
            timeout: None,
            content_length: None,
            encoding: ContentEncoding::Gzip,
            accepts_gzip: false,
        };
        // "hello" from `printf hello | gzip -n`: 5 bytes, over the limit of 4.
        let hello = [
            0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xcb, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0, 0x86, 0xa6,
            0x10, 0x36, 5, 0, 0, 0,
        ];
        assert_eq!(
            rpc.inflate(&gzip, &hello),
            Err(Refusal::BodyTooLarge { limit: 4 })
        );
        assert_eq!(
            rpc.body_limit(5).inflate(&gzip, &hello).as_deref(),
            Ok(&b"hello"[..])
        );
        assert_eq!(
            rpc.inflate(&gzip, b"plain").map_err(|r| r.reason()),
            Err("malformed-gzip")
        );
        // A gzip head this RPC did not accept is refused, never passed through.
        assert_eq!(
            RunRpc::new().inflate(&gzip, &hello),
            Err(Refusal::UnsupportedEncoding { gzip: false })
        );
        let identity = RunHead {
            encoding: ContentEncoding::Identity,
            ..gzip
        };
        assert_eq!(
            rpc.inflate(&identity, b"as is").as_deref(),
            Ok(&b"as is"[..])
        );
    }

    #[test]
    fn checks_run_in_order() {
        let proto = ("content-type", "application/proto");
        assert_eq!(
            head(
                "GET",
                "http://x/other",
                &[("connect-protocol-version", "2")]
            ),
            Err(Refusal::NoSuchRpc { path: "" })
        );
        assert_eq!(
            head("GET", URL, &[("connect-protocol-version", "2")]),
            Err(Refusal::MethodNotAllowed { method: "" })
        );
        assert_eq!(
            head(
                "POST",
                URL,
                &[
                    ("connect-protocol-version", "2"),
                    ("content-encoding", "gzip")
                ]
            ),
            Err(Refusal::ProtocolVersion(ProtocolVersionError::Unsupported))
        );
        assert_eq!(
            head(
                "POST",
                URL,
                &[("content-encoding", "gzip"), ("content-type", "text/plain")]
            ),
            Err(Refusal::UnsupportedEncoding { gzip: false })
        );
        assert_eq!(
            head(
                "POST",
                URL,
                &[
                    ("content-type", "application/json"),
                    ("connect-timeout-ms", "x")
                ]
            ),
            Err(Refusal::UnsupportedContentType { json: false })
        );
        assert_eq!(
            head(
                "POST",
                URL,
                &[
                    proto,
                    ("connect-timeout-ms", "x"),
                    ("content-length", "101")
                ]
            ),
            Err(Refusal::BadTimeout(TimeoutError::NotDigits))
        );
        assert_eq!(
            head("POST", URL, &[proto, ("content-length", "101")]),
            Err(Refusal::BodyTooLarge { limit: 100 })
        );
        let ok = head(
            "POST",
            URL,
            &[
                proto,
                ("content-length", "100"),
                ("content-encoding", "Identity"),
            ],
        )
        .unwrap();
        assert_eq!(
            (ok.codec, ok.timeout, ok.content_length),
            (Codec::Proto, None, Some(100))
        );
    }

    #[test]
    fn repeated_single_headers_are_refused() {
        let proto = ("content-type", "application/proto");
        assert_eq!(
            head("POST", URL, &[proto, proto]),
            Err(Refusal::UnsupportedContentType { json: false })
        );
        assert_eq!(
            head(
                "POST",
                URL,
                &[proto, ("content-length", "1"), ("content-length", "1")]
            ),
            Err(Refusal::BadContentLength)
        );
        assert_eq!(
            head("POST", URL, &[proto, ("content-length", "+1")]),
            Err(Refusal::BadContentLength)
        );
        assert_eq!(
            head(
                "POST",
                URL,
                &[
                    proto,
                    ("connect-timeout-ms", "1"),
                    ("connect-timeout-ms", "1")
                ]
            ),
            Err(Refusal::BadTimeout(TimeoutError::NotDigits))
        );
        assert_eq!(
            head(
                "POST",
                URL,
                &[
                    proto,
                    ("content-encoding", "identity"),
                    ("content-encoding", "br")
                ]
            ),
            Err(Refusal::UnsupportedEncoding { gzip: false })
        );
    }

    #[test]
    fn decimals() {
        assert_eq!(parse_decimal("0"), Some(0));
        assert_eq!(parse_decimal("18446744073709551615"), None); // 20 digits
        assert_eq!(
            parse_decimal("9999999999999999999"),
            Some(9_999_999_999_999_999_999)
        );
        assert_eq!(parse_decimal(""), None);
        assert_eq!(parse_decimal(" 1"), None);
    }
}
