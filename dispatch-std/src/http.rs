//! `http` types → the core's view of a request, and Connect error responses.
//!
//! The view answers what the signature base needs: the method, the raw path
//! and query, the authority and the header field lines. The authority comes
//! from, in order: a configured public URL (for proxies that rewrite `Host`),
//! the request URI's authority (HTTP/2's `:authority`), the `Host` header
//! (HTTP/1.1). `X-Forwarded-*` headers are never consulted.

use bytes::Bytes;
use dispatch_core::connect::CONTENT_TYPE_JSON;
use dispatch_core::run::{MAX_JSON_LEN, Refusal};
use dispatch_core::signature::RequestView;
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode, Uri, header};

/// A request as the signature verifier sees it: the core's
/// [`RequestView`] over borrowed `http` types.
///
/// ```
/// use dispatch_core::signature::RequestView;
/// use dispatch_std::http::{HttpRequestView, PublicUrl};
/// let request = http::Request::post("/dispatch.sdk.v1.FunctionService/Run")
///     .header("host", "127.0.0.1:8000")
///     .body(())
///     .unwrap();
/// let (parts, ()) = request.into_parts();
/// let view = HttpRequestView::from_parts(&parts, None);
/// assert_eq!(view.authority(), "127.0.0.1:8000");
/// assert_eq!(view.path(), "/dispatch.sdk.v1.FunctionService/Run");
///
/// let public = PublicUrl::parse("https://my-app.example.com").unwrap();
/// let view = HttpRequestView::from_parts(&parts, Some(&public));
/// assert_eq!((view.scheme(), view.authority()), ("https", "my-app.example.com"));
/// ```
#[derive(Clone, Copy, Debug)]
pub struct HttpRequestView<'a> {
    method: &'a Method,
    uri: &'a Uri,
    headers: &'a HeaderMap,
    public_url: Option<&'a PublicUrl>,
}

impl<'a> HttpRequestView<'a> {
    /// A view of these request parts. A `public_url` overrides the scheme and
    /// authority the request carries.
    ///
    /// Under axum, the path is the one the client sent, before any
    /// `Router::nest` stripped a prefix from it.
    pub fn from_parts(parts: &'a http::request::Parts, public_url: Option<&'a PublicUrl>) -> Self {
        #[cfg(feature = "axum")]
        let uri = parts
            .extensions
            .get::<axum::extract::OriginalUri>()
            .map_or(&parts.uri, |original| &original.0);
        #[cfg(not(feature = "axum"))]
        let uri = &parts.uri;
        HttpRequestView::new(&parts.method, uri, &parts.headers, public_url)
    }

    /// A view of these request parts as routed: the path is the one this
    /// service was reached by (after an axum `Router::nest` stripped its
    /// prefix), for the Run RPC's route check. The signature covers the path
    /// the client sent: verify with [`HttpRequestView::from_parts`].
    pub fn routed(parts: &'a http::request::Parts) -> Self {
        HttpRequestView::new(&parts.method, &parts.uri, &parts.headers, None)
    }

    /// A view of a request's method, URI and headers.
    pub fn new(
        method: &'a Method,
        uri: &'a Uri,
        headers: &'a HeaderMap,
        public_url: Option<&'a PublicUrl>,
    ) -> Self {
        HttpRequestView {
            method,
            uri,
            headers,
            public_url,
        }
    }
}

impl RequestView for HttpRequestView<'_> {
    fn method(&self) -> &str {
        self.method.as_str()
    }

    /// The public URL's scheme, else the URI's, else `http` (what this
    /// crate's server speaks).
    fn scheme(&self) -> &str {
        match self.public_url {
            Some(public) => &public.scheme,
            None => self.uri.scheme_str().unwrap_or("http"),
        }
    }

    /// The public URL's authority, else the URI's (HTTP/2 `:authority`, or
    /// an absolute-form HTTP/1.1 target), else `Host`; empty when there is
    /// none. `X-Forwarded-Host` is never read.
    fn authority(&self) -> &str {
        if let Some(public) = self.public_url {
            return &public.authority;
        }
        if let Some(authority) = self.uri.authority() {
            return authority.as_str();
        }
        self.headers
            .get(header::HOST)
            .and_then(|host| host.to_str().ok())
            .unwrap_or_default()
    }

    fn path(&self) -> &str {
        self.uri.path()
    }

    fn query(&self) -> Option<&str> {
        self.uri.query()
    }

    fn field_line(&self, name: &str, index: usize) -> Option<&[u8]> {
        self.headers
            .get_all(name)
            .iter()
            .nth(index)
            .map(HeaderValue::as_bytes)
    }
}

/// The scheme and authority of an endpoint's public URL, which the signature
/// covers when a proxy in front rewrites `Host`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicUrl {
    scheme: String,
    authority: String,
}

impl PublicUrl {
    /// Parses an absolute URL such as `https://my-app.example.com`; `None`
    /// when it has no scheme or authority.
    ///
    /// ```
    /// use dispatch_std::http::PublicUrl;
    /// let url = PublicUrl::parse("https://My-App.example.com:8443/x").unwrap();
    /// assert_eq!(url.authority(), "my-app.example.com:8443");
    /// assert!(PublicUrl::parse("/relative").is_none());
    /// ```
    pub fn parse(url: &str) -> Option<Self> {
        let uri: Uri = url.parse().ok()?;
        Some(PublicUrl {
            scheme: uri.scheme_str()?.to_ascii_lowercase(),
            authority: uri.authority()?.as_str().to_ascii_lowercase(),
        })
    }

    /// The scheme, lower case.
    pub fn scheme(&self) -> &str {
        &self.scheme
    }

    /// The authority (`host[:port]`), lower case.
    pub fn authority(&self) -> &str {
        &self.authority
    }
}

/// The response to a refusal of the core: its status and extra header,
/// `Content-Type: application/json` and the Connect error JSON the core
/// writes. The one place refusals are logged: signature refusals at `info`
/// (they may be attacks), the rest at `debug`.
pub(crate) fn refusal_response<B: From<Bytes>>(refusal: &Refusal<'_>, close: Close) -> Response<B> {
    if matches!(refusal, Refusal::Signature(_)) {
        tracing::info!(
            reason = refusal.reason(),
            status = refusal.status(),
            "request signature refused"
        );
    } else {
        tracing::debug!(reason = refusal.reason(), status = refusal.status(), %refusal, "request refused");
    }
    let mut body = [0u8; MAX_JSON_LEN];
    let written = refusal.write_json(&mut body).unwrap_or_default();
    let mut response = Response::new(B::from(Bytes::copy_from_slice(
        body.get(..written).unwrap_or_default(),
    )));
    *response.status_mut() =
        StatusCode::from_u16(refusal.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(CONTENT_TYPE_JSON),
    );
    if let Some((name, value)) = refusal.header() {
        headers.insert(name, HeaderValue::from_static(value));
    }
    close.apply(headers);
    response
}

/// Whether an answer ends its HTTP/1.1 connection: when the request's body
/// was not read to its end, the connection cannot carry another request,
/// and the client is told so (hyper closes it once the answer is flushed).
///
/// ```
/// use dispatch_std::http::Close;
/// let mut headers = http::HeaderMap::new();
/// Close::unless_drained(http::Version::HTTP_11, false).apply(&mut headers);
/// assert_eq!(headers["connection"], "close");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Close {
    /// The connection stays open for the next request.
    KeepAlive,
    /// `Connection: close`.
    Connection,
}

impl Close {
    /// `Connection` for an HTTP/1 request whose body was left unread;
    /// HTTP/2 streams end on their own.
    pub fn unless_drained(version: http::Version, drained: bool) -> Close {
        if drained || version >= http::Version::HTTP_2 {
            Close::KeepAlive
        } else {
            Close::Connection
        }
    }

    /// Adds `Connection: close` to an answer's headers where it ends the
    /// connection.
    pub fn apply(self, headers: &mut HeaderMap) {
        if self == Close::Connection {
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
    }
}

/// Reads and drops a request body an answer will not use, so that an
/// HTTP/1.1 client still writing it reads the answer and can send its next
/// request on the same connection. It reads at most `limit` bytes (none
/// when `content_length` declares more), for at most `timeout` in all, and
/// says whether it reached the body's end; if not, the answer closes the
/// connection ([`Close::unless_drained`]).
pub async fn discard_body<B>(
    body: B,
    content_length: Option<u64>,
    limit: usize,
    timeout: core::time::Duration,
) -> bool
where
    B: http_body::Body,
{
    use bytes::Buf as _;
    use http_body_util::BodyExt as _;
    if content_length.is_some_and(|length| length > limit as u64) {
        return false;
    }
    let drain = async {
        let mut body = core::pin::pin!(body);
        let mut read = 0usize;
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else { return false };
            if let Some(data) = frame.data_ref() {
                read = read.saturating_add(data.remaining());
                if read > limit {
                    return false;
                }
            }
        }
        true
    };
    tokio::time::timeout(timeout, drain).await.unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(request: http::Request<()>) -> http::request::Parts {
        request.into_parts().0
    }

    #[test]
    fn uri_authority_wins_over_host_and_the_public_url_over_both() {
        let parts = parts(
            http::Request::post("http://a.example/x")
                .header("host", "b.example")
                .body(())
                .unwrap(),
        );
        assert_eq!(
            HttpRequestView::from_parts(&parts, None).authority(),
            "a.example"
        );
        let public = PublicUrl::parse("https://c.example").unwrap();
        assert_eq!(
            HttpRequestView::from_parts(&parts, Some(&public)).authority(),
            "c.example"
        );
    }

    #[test]
    fn forwarded_headers_are_ignored() {
        let parts = parts(
            http::Request::post("/x")
                .header("host", "b.example")
                .header("x-forwarded-host", "evil.example")
                .header("x-forwarded-proto", "https")
                .body(())
                .unwrap(),
        );
        let view = HttpRequestView::from_parts(&parts, None);
        assert_eq!((view.scheme(), view.authority()), ("http", "b.example"));
    }

    #[test]
    fn field_lines_are_read_in_order() {
        let parts = parts(
            http::Request::post("/x")
                .header("Content-Type", "a")
                .header("content-type", "b")
                .body(())
                .unwrap(),
        );
        let view = HttpRequestView::from_parts(&parts, None);
        assert_eq!(view.field_line("content-type", 0), Some(&b"a"[..]));
        assert_eq!(view.field_line("content-type", 1), Some(&b"b"[..]));
        assert_eq!(view.field_line("content-type", 2), None);
    }
}
