//! `http` types → the core's view of a request, and Connect error responses.
//!
//! The view answers what the signature base needs: the method, the raw path
//! and query, the authority and the header field lines. The authority comes
//! from, in order: a configured public URL (for proxies that rewrite `Host`),
//! the request URI's authority (HTTP/2's `:authority`), the `Host` header
//! (HTTP/1.1). `X-Forwarded-*` headers are never consulted.

use bytes::Bytes;
use dispatch_core::connect::{Code, ErrorBody};
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode, Uri, header};

/// A request as the signature verifier sees it, borrowed from `http` types.
///
/// ```
/// use dispatch_std::http::RequestView;
/// let request = http::Request::post("/dispatch.sdk.v1.FunctionService/Run")
///     .header("host", "example.com:8000")
///     .body(())
///     .unwrap();
/// let (parts, ()) = request.into_parts();
/// let view = RequestView::from_parts(&parts, None);
/// assert_eq!(view.authority(), Some("example.com:8000"));
/// assert_eq!(view.path(), "/dispatch.sdk.v1.FunctionService/Run");
/// ```
#[derive(Clone, Copy, Debug)]
pub struct RequestView<'a> {
    method: &'a Method,
    uri: &'a Uri,
    headers: &'a HeaderMap,
    public_authority: Option<&'a str>,
}

impl<'a> RequestView<'a> {
    /// A view of these request parts. `public_authority` (from a configured
    /// public URL, see [`public_authority`]) overrides the request's own.
    ///
    /// Under axum, the path is the one the client sent, before any
    /// `Router::nest` stripped a prefix from it.
    pub fn from_parts(parts: &'a http::request::Parts, public_authority: Option<&'a str>) -> Self {
        #[cfg(feature = "axum")]
        let uri = parts
            .extensions
            .get::<axum::extract::OriginalUri>()
            .map_or(&parts.uri, |original| &original.0);
        #[cfg(not(feature = "axum"))]
        let uri = &parts.uri;
        RequestView::new(&parts.method, uri, &parts.headers, public_authority)
    }

    /// A view of a request's method, URI and headers.
    pub fn new(
        method: &'a Method,
        uri: &'a Uri,
        headers: &'a HeaderMap,
        public_authority: Option<&'a str>,
    ) -> Self {
        RequestView {
            method,
            uri,
            headers,
            public_authority,
        }
    }

    /// The method as sent.
    pub fn method(&self) -> &'a str {
        self.method.as_str()
    }

    /// The raw (undecoded) path; `/` when the request target has none.
    pub fn path(&self) -> &'a str {
        match self.uri.path() {
            "" => "/",
            path => path,
        }
    }

    /// The raw query, without its `?`, when there is one.
    pub fn query(&self) -> Option<&'a str> {
        self.uri.query()
    }

    /// The authority the request was addressed to, as sent (the verifier
    /// normalises its case); `None` when there is none at all.
    pub fn authority(&self) -> Option<&'a str> {
        if let Some(public) = self.public_authority {
            return Some(public);
        }
        if let Some(authority) = self.uri.authority() {
            return Some(authority.as_str());
        }
        self.headers
            .get(header::HOST)
            .and_then(|host| host.to_str().ok())
    }

    /// The field lines of header `name` (case-insensitive), in order.
    pub fn header_lines(&self, name: &str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.headers
            .get_all(name)
            .into_iter()
            .map(HeaderValue::as_bytes)
    }

    /// The value of header `name` when it has exactly one field line.
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        let mut lines = self.header_lines(name);
        let first = lines.next()?;
        lines.next().is_none().then_some(first)
    }
}

/// The authority (`host[:port]`, lower-cased) of a public URL such as
/// `https://my-app.example.com`, to pass as a view's `public_authority`;
/// `None` when the URL has none.
///
/// ```
/// use dispatch_std::http::public_authority;
/// assert_eq!(public_authority("https://My-App.example.com/").as_deref(), Some("my-app.example.com"));
/// assert_eq!(public_authority("not a url"), None);
/// ```
pub fn public_authority(url: &str) -> Option<String> {
    let uri: Uri = url.parse().ok()?;
    Some(uri.authority()?.as_str().to_ascii_lowercase())
}

/// A Connect error response: this HTTP status, `Content-Type:
/// application/json`, and the Connect error JSON for `code` and `message`.
pub(crate) fn connect_error<B: From<Bytes>>(status: u16, code: Code, message: &str) -> Response<B> {
    // Escaping grows a byte to at most six (`\u00XX`); the rest is the frame.
    let mut body = vec![0; message.len() * 6 + 64];
    let written = ErrorBody::new(code, message)
        .encode_json(&mut body)
        .unwrap_or_default();
    body.truncate(written);
    let mut response = Response::new(B::from(Bytes::from(body)));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(request: http::Request<()>) -> http::request::Parts {
        request.into_parts().0
    }

    #[test]
    fn uri_authority_wins_over_host() {
        let parts = parts(
            http::Request::post("http://a.example/x")
                .header("host", "b.example")
                .body(())
                .unwrap(),
        );
        assert_eq!(
            RequestView::from_parts(&parts, None).authority(),
            Some("a.example")
        );
        assert_eq!(
            RequestView::from_parts(&parts, Some("c.example")).authority(),
            Some("c.example")
        );
    }

    #[test]
    fn forwarded_headers_are_ignored() {
        let parts = parts(
            http::Request::post("/x")
                .header("host", "b.example")
                .header("x-forwarded-host", "evil.example")
                .body(())
                .unwrap(),
        );
        assert_eq!(
            RequestView::from_parts(&parts, None).authority(),
            Some("b.example")
        );
    }

    #[test]
    fn repeated_headers_are_not_a_single_value() {
        let parts = parts(
            http::Request::post("/x")
                .header("content-type", "a")
                .header("content-type", "b")
                .body(())
                .unwrap(),
        );
        let view = RequestView::from_parts(&parts, None);
        assert_eq!(view.header("content-type"), None);
        assert_eq!(view.header_lines("Content-Type").count(), 2);
    }
}
