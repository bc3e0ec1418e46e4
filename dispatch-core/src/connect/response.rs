//! How a client classifies a unary response: success, or the code, message
//! and details to surface.

use super::{Code, Codec, DecodedDetail, MAX_DETAILS, decode_error_json, is_json_content_type};

/// Where a failed response's code came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CodeSource {
    /// The `code` of a valid Connect error body.
    Body,
    /// The HTTP status ([`Code::from_http_status`]): no valid body, or a body
    /// without a known `code` (its message, if any, is kept).
    HttpStatus,
    /// A 200 response whose content type is not the request's codec.
    ContentType,
}

/// A unary response that is not a success, as a client surfaces it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseError<'b, const M: usize> {
    /// The code to surface.
    pub code: Code,
    /// Where `code` came from.
    pub source: CodeSource,
    /// The body's message; empty when there is none (callers may synthesize
    /// one from the HTTP status).
    pub message: heapless::String<M>,
    /// Whether `message` was cut to `M` bytes.
    pub message_truncated: bool,
    /// Details of a valid body.
    pub details: heapless::Vec<DecodedDetail<'b>, MAX_DETAILS>,
    /// Details dropped for lack of room (see [`DecodedError::skipped_details`](super::DecodedError::skipped_details)).
    pub skipped_details: usize,
}

impl<'b, const M: usize> ResponseError<'b, M> {
    fn bare(code: Code, source: CodeSource) -> Self {
        ResponseError {
            code,
            source,
            message: heapless::String::new(),
            message_truncated: false,
            details: heapless::Vec::new(),
            skipped_details: 0,
        }
    }
}

/// Classifies a unary response from its HTTP status, `Content-Type` (`""`
/// when absent) and body, for a request sent with `request_codec`
/// (docs/protocol/connect.md).
///
/// * 200 with the request's codec: `Ok(())`, the body is the message.
/// * 200 with a content type not starting `application/`: `unknown`;
///   with another `application/` type: `internal`.
/// * Otherwise the body is read as a Connect error only when the content type
///   is JSON and the body decodes; its code is used when present and known.
///   In every other case the code comes from [`Code::from_http_status`]
///   (a decodable body's message is still kept).
///
/// `Content-Encoding` is checked separately, with [`check_response_encoding`].
///
/// ```
/// use dispatch_core::connect::{classify_response, Code, Codec};
///
/// let mut buf = [0u8; 0];
/// let err = classify_response::<64>(Codec::Proto, 503, "application/json", br#"{"message":"try later"}"#, &mut buf)
///     .unwrap_err();
/// assert_eq!(err.code, Code::Unavailable);
/// assert_eq!(err.message.as_str(), "try later");
/// ```
// The error holds the message inline (no heap), so its size is the caller's M.
#[allow(clippy::result_large_err)]
pub fn classify_response<'b, const M: usize>(
    request_codec: Codec,
    http_status: u16,
    content_type: &str,
    body: &[u8],
    detail_buf: &'b mut [u8],
) -> Result<(), ResponseError<'b, M>> {
    if http_status == 200 {
        return match Codec::from_content_type(content_type) {
            Some(codec) if codec == request_codec => Ok(()),
            _ if has_application_prefix(content_type) => {
                Err(ResponseError::bare(Code::Internal, CodeSource::ContentType))
            }
            _ => Err(ResponseError::bare(Code::Unknown, CodeSource::ContentType)),
        };
    }
    let inferred = Code::from_http_status(http_status);
    if !is_json_content_type(content_type) {
        return Err(ResponseError::bare(inferred, CodeSource::HttpStatus));
    }
    match decode_error_json::<M>(body, detail_buf) {
        Ok(decoded) => {
            let (code, source) = match decoded.code {
                Some(code) => (code, CodeSource::Body),
                None => (inferred, CodeSource::HttpStatus),
            };
            Err(ResponseError {
                code,
                source,
                message: decoded.message,
                message_truncated: decoded.message_truncated,
                details: decoded.details,
                skipped_details: decoded.skipped_details,
            })
        }
        Err(_) => Err(ResponseError::bare(inferred, CodeSource::HttpStatus)),
    }
}

fn has_application_prefix(content_type: &str) -> bool {
    content_type
        .trim_start()
        .get(..12)
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case("application/"))
}

/// Checks a response's `Content-Encoding` (`None` when absent) against the
/// encodings the client can undo; `identity` is always accepted.
///
/// A response in any other encoding surfaces as `internal` (docs/protocol/connect.md).
pub fn check_response_encoding(encoding: Option<&str>, supported: &[&str]) -> Result<(), Code> {
    match encoding.map(str::trim) {
        None | Some("") => Ok(()),
        Some(e) if e.eq_ignore_ascii_case("identity") => Ok(()),
        Some(e) if supported.iter().any(|s| s.eq_ignore_ascii_case(e)) => Ok(()),
        Some(_) => Err(Code::Internal),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh detail buffer that outlives the test's borrows.
    fn scratch() -> &'static mut [u8] {
        std::vec![0u8; 4].leak()
    }

    #[test]
    fn classifies_success_and_codec_mismatch() {
        assert_eq!(
            classify_response::<8>(Codec::Proto, 200, "application/proto", b"", scratch()),
            Ok(())
        );
        assert_eq!(
            classify_response::<8>(
                Codec::Json,
                200,
                "application/json; charset=utf-8",
                b"{}",
                scratch()
            ),
            Ok(())
        );
        let err = classify_response::<8>(Codec::Proto, 200, "application/json", b"{}", scratch())
            .unwrap_err();
        assert_eq!(
            (err.code, err.source),
            (Code::Internal, CodeSource::ContentType)
        );
        let err =
            classify_response::<8>(Codec::Proto, 200, "image/jpeg", b"", scratch()).unwrap_err();
        assert_eq!(err.code, Code::Unknown);
        let err = classify_response::<8>(Codec::Proto, 200, "", b"", scratch()).unwrap_err();
        assert_eq!(err.code, Code::Unknown);
    }

    #[test]
    fn classifies_error_bodies() {
        let err = classify_response::<8>(
            Codec::Proto,
            404,
            "application/json",
            br#"{"code":"not_found","message":"gone"}"#,
            scratch(),
        )
        .unwrap_err();
        assert_eq!((err.code, err.source), (Code::NotFound, CodeSource::Body));
        assert_eq!(err.message.as_str(), "gone");
        let err = classify_response::<8>(Codec::Proto, 403, "application/proto", b"", scratch())
            .unwrap_err();
        assert_eq!(
            (err.code, err.source),
            (Code::PermissionDenied, CodeSource::HttpStatus)
        );
    }

    #[test]
    fn response_encoding() {
        assert_eq!(check_response_encoding(None, &[]), Ok(()));
        assert_eq!(check_response_encoding(Some("identity"), &[]), Ok(()));
        assert_eq!(check_response_encoding(Some("gzip"), &["gzip"]), Ok(()));
        assert_eq!(
            check_response_encoding(Some("br"), &["gzip"]),
            Err(Code::Internal)
        );
    }
}
