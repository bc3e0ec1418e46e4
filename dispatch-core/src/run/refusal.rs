//! The one refusal type of the Run RPC.

use core::fmt;
use core::time::Duration;

use crate::connect::{Code, EncodeError, ErrorBody, ProtocolVersionError, TimeoutError};
use crate::quote::Quoted;
use crate::sfv::SliceWriter;
use crate::signature::VerifyError;

/// The longest message a [`Refusal`] writes, in bytes, before JSON escaping,
/// for messages that quote what the request sent (a path, a method, a
/// function name): the quoted part is cut so that the whole fits.
pub const MAX_MESSAGE_LEN: usize = 512;

/// A buffer large enough for the JSON body of any [`Refusal`]: the longest
/// message escaped (six bytes per byte at worst) and the frame around it.
pub const MAX_JSON_LEN: usize = MAX_MESSAGE_LEN * 6 + 64;

/// Why the Run RPC was refused before, or instead of, a function's answer.
///
/// Every refusal knows its HTTP [`status`](Refusal::status), its Connect
/// [`code`](Refusal::code) (gRPC hosts send [`Code::grpc_number`]), a
/// kebab-case [`reason`](Refusal::reason) for logs and bindings, the extra
/// response [`header`](Refusal::header) its status needs, and its message
/// ([`Display`](fmt::Display)); [`Refusal::write_json`] writes the Connect
/// error body into a caller's buffer without allocating.
///
/// ```
/// use dispatch_core::connect::Code;
/// use dispatch_core::run::{Refusal, MAX_JSON_LEN};
///
/// let refusal = Refusal::UnknownFunction { name: "nope" };
/// assert_eq!((refusal.status(), refusal.code()), (404, Code::NotFound));
/// let mut body = [0u8; MAX_JSON_LEN];
/// let n = refusal.write_json(&mut body)?;
/// assert_eq!(&body[..n], br#"{"code":"not_found","message":"function \"nope\" does not exist"}"#);
/// # Ok::<(), dispatch_core::connect::EncodeError>(())
/// ```
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal<'a> {
    /// The path is not the Run RPC's: 404 `unimplemented` (the code a
    /// Connect client infers from a bare 404, and what gRPC servers answer).
    NoSuchRpc {
        /// The path the request named.
        path: &'a str,
    },
    /// Not `POST`: 405 `unimplemented`, with `Allow: POST`.
    MethodNotAllowed {
        /// The method the request used.
        method: &'a str,
    },
    /// A `Connect-Protocol-Version` other than `1`: 400 `invalid_argument`.
    ProtocolVersion(ProtocolVersionError),
    /// A `Content-Encoding` (or `grpc-encoding`) this endpoint cannot undo:
    /// 501 `unimplemented` (as connect-go answers), with `Accept-Encoding`
    /// naming what it can.
    UnsupportedEncoding {
        /// Whether the endpoint inflates `gzip` (a Connect request's
        /// [`RunRpc::accept_gzip`](super::RunRpc::accept_gzip)).
        gzip: bool,
    },
    /// A `Content-Encoding: gzip` body that is not one well-formed gzip
    /// member: 400 `invalid_argument`.
    MalformedGzip {
        /// What is wrong with it.
        why: &'static str,
    },
    /// A content type other than the codecs this host offers: 415
    /// `unimplemented`, with `Accept-Post` naming them.
    UnsupportedContentType {
        /// Whether the host offers `application/json` besides
        /// `application/proto`.
        json: bool,
    },
    /// A malformed `Connect-Timeout-Ms`: 400 `invalid_argument`.
    BadTimeout(TimeoutError),
    /// A malformed `grpc-timeout`: 400 `invalid_argument`.
    BadGrpcTimeout,
    /// A `Content-Length` that is not one decimal number: 400
    /// `invalid_argument`.
    BadContentLength,
    /// The body is longer than the limit: 413 `resource_exhausted`.
    BodyTooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The client sent nothing for the read timeout: 408 `deadline_exceeded`.
    ReadTimeout {
        /// The timeout.
        timeout: Duration,
    },
    /// The body could not be read (the connection broke, a framing error):
    /// 400 `invalid_argument`.
    BodyUnreadable,
    /// The signature policy refused the request: 401 `unauthenticated` or
    /// 403 `permission_denied`, as [`VerifyError`] says.
    Signature(VerifyError),
    /// The body is not a `dispatch.sdk.v1.RunRequest` in the request's codec
    /// (or, over gRPC, not one uncompressed message): 400 `invalid_argument`.
    MalformedBody,
    /// The request names no function: 400 `invalid_argument`.
    MissingFunction,
    /// The request has neither an input nor a poll result: 400
    /// `invalid_argument`.
    MissingDirective,
    /// No function of this name is registered: 404 `not_found`.
    UnknownFunction {
        /// The name the request gave.
        name: &'a str,
    },
    /// The function did not finish within the request's timeout: 504
    /// `deadline_exceeded`.
    DeadlineExceeded {
        /// The function's name.
        function: &'a str,
        /// The request's timeout.
        timeout: Duration,
    },
    /// The function crashed (a panic): 500 `internal`.
    FunctionCrashed {
        /// The function's name.
        function: &'a str,
    },
}

impl Refusal<'_> {
    /// The HTTP status a Connect host answers with.
    pub const fn status(&self) -> u16 {
        match self {
            Refusal::NoSuchRpc { .. } => 404,
            Refusal::MethodNotAllowed { .. } => 405,
            Refusal::UnsupportedContentType { .. } => 415,
            Refusal::BodyTooLarge { .. } => 413,
            Refusal::ReadTimeout { .. } => 408,
            Refusal::Signature(error) => error.http_status(),
            _ => self.code().http_status(),
        }
    }

    /// The Connect code (over gRPC, the status number of
    /// [`Code::grpc_number`]).
    pub const fn code(&self) -> Code {
        match self {
            Refusal::NoSuchRpc { .. }
            | Refusal::MethodNotAllowed { .. }
            | Refusal::UnsupportedEncoding { .. }
            | Refusal::UnsupportedContentType { .. } => Code::Unimplemented,
            Refusal::ProtocolVersion(error) => error.code(),
            Refusal::BadTimeout(error) => error.code(),
            Refusal::BadGrpcTimeout
            | Refusal::BadContentLength
            | Refusal::BodyUnreadable
            | Refusal::MalformedBody
            | Refusal::MalformedGzip { .. }
            | Refusal::MissingFunction
            | Refusal::MissingDirective => Code::InvalidArgument,
            Refusal::BodyTooLarge { .. } => Code::ResourceExhausted,
            Refusal::ReadTimeout { .. } | Refusal::DeadlineExceeded { .. } => {
                Code::DeadlineExceeded
            }
            Refusal::Signature(error) => error.code(),
            Refusal::UnknownFunction { .. } => Code::NotFound,
            Refusal::FunctionCrashed { .. } => Code::Internal,
        }
    }

    /// A kebab-case name of the refusal, stable for logs, metrics and
    /// bindings; a signature refusal gives the policy's reason name
    /// ([`VerifyError::reason_name`]).
    pub const fn reason(&self) -> &'static str {
        match self {
            Refusal::NoSuchRpc { .. } => "no-such-rpc",
            Refusal::MethodNotAllowed { .. } => "method-not-allowed",
            Refusal::ProtocolVersion(_) => "unsupported-protocol-version",
            Refusal::UnsupportedEncoding { .. } => "unsupported-encoding",
            Refusal::MalformedGzip { .. } => "malformed-gzip",
            Refusal::UnsupportedContentType { .. } => "unsupported-content-type",
            Refusal::BadTimeout(_) | Refusal::BadGrpcTimeout => "malformed-timeout",
            Refusal::BadContentLength => "malformed-content-length",
            Refusal::BodyTooLarge { .. } => "body-too-large",
            Refusal::ReadTimeout { .. } => "read-timeout",
            Refusal::BodyUnreadable => "body-unreadable",
            Refusal::Signature(error) => error.reason_name(),
            Refusal::MalformedBody => "malformed-body",
            Refusal::MissingFunction => "missing-function",
            Refusal::MissingDirective => "missing-directive",
            Refusal::UnknownFunction { .. } => "unknown-function",
            Refusal::DeadlineExceeded { .. } => "deadline-exceeded",
            Refusal::FunctionCrashed { .. } => "function-crashed",
        }
    }

    /// The one extra header this refusal needs, as (lower-case name, value):
    /// `Allow` for 405, `Accept-Post` for 415, `Accept-Encoding` for an
    /// unsupported encoding.
    pub const fn header(&self) -> Option<(&'static str, &'static str)> {
        match self {
            Refusal::MethodNotAllowed { .. } => Some(("allow", "POST")),
            Refusal::UnsupportedContentType { json: true } => {
                Some(("accept-post", "application/proto, application/json"))
            }
            Refusal::UnsupportedContentType { json: false } => {
                Some(("accept-post", "application/proto"))
            }
            Refusal::UnsupportedEncoding { gzip: false } => Some(("accept-encoding", "identity")),
            Refusal::UnsupportedEncoding { gzip: true } => {
                Some(("accept-encoding", "gzip, identity"))
            }
            _ => None,
        }
    }

    /// Writes the Connect error body, `{"code":"…","message":"…"}`, into
    /// `out` and returns its length; a buffer of [`MAX_JSON_LEN`] bytes
    /// always suffices.
    pub fn write_json(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        let mut text = [0u8; MAX_MESSAGE_LEN];
        let message = self.message_into(&mut text);
        ErrorBody::new(self.code(), message).encode_json(out)
    }

    /// The message, written into `buf` (cut at [`MAX_MESSAGE_LEN`] bytes, on
    /// a character boundary, if the request made it longer).
    pub fn message_into<'b>(&self, buf: &'b mut [u8; MAX_MESSAGE_LEN]) -> &'b str {
        let mut writer = TruncatingWriter {
            inner: SliceWriter::new(buf),
        };
        // A full buffer only ends the message early.
        let _ = fmt::write(&mut writer, format_args!("{self}"));
        writer.inner.into_str()
    }
}

/// Writes what fits, cutting the last string at a character boundary, then
/// reports the overflow.
struct TruncatingWriter<'b> {
    inner: SliceWriter<'b>,
}

impl fmt::Write for TruncatingWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.inner.write_str(s).is_ok() {
            return Ok(());
        }
        let room = self.inner.remaining();
        let mut cut = room.min(s.len());
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        let head = s.get(..cut).unwrap_or_default();
        let _ = self.inner.write_str(head);
        Err(fmt::Error)
    }
}

impl fmt::Display for Refusal<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::NoSuchRpc { path } => write!(f, "no such RPC: {path}"),
            Refusal::MethodNotAllowed { method } => {
                write!(f, "{method} is not allowed; the Run RPC takes POST")
            }
            Refusal::ProtocolVersion(error) => fmt::Display::fmt(error, f),
            Refusal::UnsupportedEncoding { gzip: false } => {
                f.write_str("compressed requests are not supported; send identity")
            }
            Refusal::UnsupportedEncoding { gzip: true } => {
                f.write_str("the content encoding must be gzip or identity")
            }
            Refusal::MalformedGzip { why } => {
                write!(f, "the gzip request body is malformed: {why}")
            }
            Refusal::UnsupportedContentType { json: true } => {
                f.write_str("the content type must be application/proto or application/json")
            }
            Refusal::UnsupportedContentType { json: false } => {
                f.write_str("the content type must be application/proto")
            }
            Refusal::BadTimeout(error) => fmt::Display::fmt(error, f),
            Refusal::BadGrpcTimeout => f.write_str("malformed grpc-timeout header"),
            Refusal::BadContentLength => f.write_str("malformed Content-Length header"),
            Refusal::BodyTooLarge { limit } => write!(
                f,
                "the request body is larger than the limit of {limit} bytes"
            ),
            Refusal::ReadTimeout { timeout } => {
                write!(f, "the client sent no data for {} ms", millis(*timeout))
            }
            Refusal::BodyUnreadable => f.write_str("the request body could not be read"),
            Refusal::Signature(error) => f.write_str(error.message()),
            Refusal::MalformedBody => {
                f.write_str("the request body is not a dispatch.sdk.v1.RunRequest")
            }
            Refusal::MissingFunction => f.write_str("the request names no function"),
            Refusal::MissingDirective => {
                f.write_str("the request has neither an input nor a poll result")
            }
            Refusal::UnknownFunction { name } => {
                write!(f, "function {} does not exist", Quoted(name))
            }
            Refusal::DeadlineExceeded { function, timeout } => write!(
                f,
                "function {} did not finish within {} ms",
                Quoted(function),
                millis(*timeout)
            ),
            Refusal::FunctionCrashed { function } => {
                write!(f, "function {} crashed", Quoted(function))
            }
        }
    }
}

impl core::error::Error for Refusal<'_> {}

/// A duration in whole milliseconds for a message, as `u64` (saturating):
/// `Duration::as_millis` is a `u128`, whose formatting costs an embedded
/// build more than all the rest of a message.
fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

impl From<VerifyError> for Refusal<'_> {
    fn from(error: VerifyError) -> Self {
        Refusal::Signature(error)
    }
}

impl From<ProtocolVersionError> for Refusal<'_> {
    fn from(error: ProtocolVersionError) -> Self {
        Refusal::ProtocolVersion(error)
    }
}

impl From<TimeoutError> for Refusal<'_> {
    fn from(error: TimeoutError) -> Self {
        Refusal::BadTimeout(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    fn json(refusal: &Refusal<'_>) -> std::string::String {
        let mut out = [0u8; MAX_JSON_LEN];
        let n = refusal.write_json(&mut out).unwrap();
        std::string::String::from_utf8(out[..n].to_vec()).unwrap()
    }

    #[test]
    fn statuses_codes_and_headers() {
        let cases = [
            (Refusal::NoSuchRpc { path: "/x" }, 404, Code::Unimplemented),
            (
                Refusal::MethodNotAllowed { method: "GET" },
                405,
                Code::Unimplemented,
            ),
            (
                Refusal::ProtocolVersion(ProtocolVersionError::Unsupported),
                400,
                Code::InvalidArgument,
            ),
            (
                Refusal::UnsupportedEncoding { gzip: false },
                501,
                Code::Unimplemented,
            ),
            (
                Refusal::UnsupportedEncoding { gzip: true },
                501,
                Code::Unimplemented,
            ),
            (
                Refusal::MalformedGzip { why: "x" },
                400,
                Code::InvalidArgument,
            ),
            (
                Refusal::UnsupportedContentType { json: true },
                415,
                Code::Unimplemented,
            ),
            (
                Refusal::BadTimeout(TimeoutError::Empty),
                400,
                Code::InvalidArgument,
            ),
            (
                Refusal::BodyTooLarge { limit: 1 },
                413,
                Code::ResourceExhausted,
            ),
            (
                Refusal::ReadTimeout {
                    timeout: Duration::from_secs(1),
                },
                408,
                Code::DeadlineExceeded,
            ),
            (
                Refusal::Signature(VerifyError::MissingSignature),
                401,
                Code::Unauthenticated,
            ),
            (
                Refusal::Signature(VerifyError::DigestMismatch),
                403,
                Code::PermissionDenied,
            ),
            (Refusal::MalformedBody, 400, Code::InvalidArgument),
            (Refusal::UnknownFunction { name: "f" }, 404, Code::NotFound),
            (
                Refusal::DeadlineExceeded {
                    function: "f",
                    timeout: Duration::from_millis(5),
                },
                504,
                Code::DeadlineExceeded,
            ),
            (
                Refusal::FunctionCrashed { function: "f" },
                500,
                Code::Internal,
            ),
        ];
        for (refusal, status, code) in cases {
            assert_eq!(
                (refusal.status(), refusal.code()),
                (status, code),
                "{refusal:?}"
            );
            assert!(!refusal.reason().is_empty());
        }
        assert_eq!(
            Refusal::MethodNotAllowed { method: "PUT" }.header(),
            Some(("allow", "POST"))
        );
        assert_eq!(
            Refusal::UnsupportedContentType { json: false }.header(),
            Some(("accept-post", "application/proto"))
        );
        assert_eq!(Refusal::MalformedBody.header(), None);
        assert_eq!(Refusal::Signature(VerifyError::Expired).reason(), "expired");
    }

    #[test]
    fn messages_quote_what_the_request_sent_escaped() {
        assert_eq!(
            json(&Refusal::UnknownFunction { name: "a\"b" }),
            r#"{"code":"not_found","message":"function \"a\\\"b\" does not exist"}"#
        );
        assert_eq!(
            Refusal::NoSuchRpc { path: "/a" }.to_string(),
            "no such RPC: /a"
        );
        assert_eq!(
            json(&Refusal::Signature(VerifyError::MissingSignature)),
            r#"{"code":"unauthenticated","message":"the request has no Signature header"}"#
        );
    }

    #[test]
    fn long_messages_are_cut_to_fit_the_documented_buffer() {
        let path = "/\u{e9}".repeat(400);
        let refusal = Refusal::NoSuchRpc { path: &path };
        let mut buf = [0u8; MAX_MESSAGE_LEN];
        let message = refusal.message_into(&mut buf);
        assert!(message.len() <= MAX_MESSAGE_LEN && message.len() > MAX_MESSAGE_LEN - 4);
        assert!(message.starts_with("no such RPC: /\u{e9}"));
        // Control characters escape to six bytes each, the worst case.
        let controls = "\u{1}".repeat(2 * MAX_MESSAGE_LEN);
        let refusal = Refusal::UnknownFunction { name: &controls };
        let mut out = [0u8; MAX_JSON_LEN];
        assert!(refusal.write_json(&mut out).is_ok());
    }
}
