//! A tower [`Layer`] that verifies request signatures while reading the body
//! under a size limit and a read timeout, for any routes (an axum `Router`,
//! a plain hyper service); the [`Endpoint`](crate::endpoint::Endpoint) reads
//! and verifies its bodies through the same code.
//!
//! The wrapped service receives the request with its body read into memory
//! (`Full<Bytes>`). Every decision is the core's
//! ([`dispatch_core::run::BodyCheck`], [`dispatch_core::signature`]); a
//! refusal is answered here, as [`Refusal`] says (status, Connect error
//! JSON):
//!
//! * a `Content-Length` over the limit: 413 `resource_exhausted` at once,
//!   before any of the body is read; a body that turns out longer (chunked,
//!   or a `Content-Length` that lies) is refused as soon as the limit is
//!   passed, without reading further;
//! * a client that sends nothing for the read timeout: 408
//!   `deadline_exceeded`;
//! * a body that cannot be read: 400 `invalid_argument`;
//! * a missing or malformed signature: 401 `unauthenticated`; a well-formed
//!   signature that does not verify: 403 `permission_denied`.
//!
//! Without a verification key, requests are not checked, but the body limit
//! and the read timeout still apply.
//!
//! A refusal decided before the body is read (401 or 403 from the headers)
//! first reads and drops the body, up to the body limit and within the read
//! timeout, so that an HTTP/1.1 client still writing it reads the answer and
//! keeps its connection; a body that cannot be drained so (413, a stalled
//! client) is answered with `Connection: close`.

use core::task::{Context, Poll};
use core::time::Duration;
use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};
use http::{Request, Response};
use http_body::Body;
use http_body_util::{BodyExt, Full};
use tower_layer::Layer;
use tower_service::Service;

use dispatch_core::run::{self, BodyCheck, DEFAULT_BODY_LIMIT, Refusal};
use dispatch_core::signature::{Policy, VerifiedHeaders, verify_headers};
use ed25519_dalek::VerifyingKey;

use crate::http::{Close, HttpRequestView, PublicUrl, refusal_response};
use crate::{BoxError, BoxFuture, unix_now};

/// The default time a client may take to send each part of a body.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// The most memory reserved for a body before its bytes arrive.
const INITIAL_BUFFER_LIMIT: usize = 64 * 1024;

/// Inserted in the request's extensions when its signature was verified, so
/// services behind the layer (the endpoint) know not to check it again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SignatureVerified;

/// Verifies signatures and reads bodies under a limit; see the [module](self).
///
/// ```
/// use dispatch_std::layer::VerifyLayer;
/// use std::time::Duration;
/// let layer = VerifyLayer::new(None)
///     .body_limit(1 << 20)
///     .read_timeout(Some(Duration::from_secs(5)));
/// assert_eq!(layer.limit(), 1 << 20);
/// ```
#[derive(Clone, Debug)]
pub struct VerifyLayer {
    config: Arc<VerifyConfig>,
}

#[derive(Clone, Debug)]
struct VerifyConfig {
    key: Option<VerifyingKey>,
    policy: Policy,
    public_url: Option<PublicUrl>,
    body_limit: usize,
    read_timeout: Option<Duration>,
}

impl VerifyLayer {
    /// A layer verifying signatures with `key`, or only limiting bodies when
    /// there is no key; the body limit is [`DEFAULT_BODY_LIMIT`] and the read
    /// timeout [`DEFAULT_READ_TIMEOUT`].
    pub fn new(key: Option<VerifyingKey>) -> Self {
        VerifyLayer {
            config: Arc::new(VerifyConfig {
                key,
                policy: Policy::DEFAULT,
                public_url: None,
                body_limit: DEFAULT_BODY_LIMIT,
                read_timeout: Some(DEFAULT_READ_TIMEOUT),
            }),
        }
    }

    /// Replaces the verification key (`None`: requests are not verified).
    pub fn key(mut self, key: Option<VerifyingKey>) -> Self {
        Arc::make_mut(&mut self.config).key = key;
        self
    }

    /// Takes `@authority` (and `@scheme`) from this public URL rather than
    /// from the request, for endpoints behind a proxy that rewrites `Host`.
    pub fn public_url(mut self, url: Option<PublicUrl>) -> Self {
        Arc::make_mut(&mut self.config).public_url = url;
        self
    }

    /// The time rules of verification (default: 5 s of clock skew, 300 s of
    /// maximum age, as the SDKs).
    pub fn policy(mut self, policy: Policy) -> Self {
        Arc::make_mut(&mut self.config).policy = policy;
        self
    }

    /// Refuses bodies longer than this many bytes with 413.
    pub fn body_limit(mut self, bytes: usize) -> Self {
        Arc::make_mut(&mut self.config).body_limit = bytes;
        self
    }

    /// Refuses, with 408, a request whose client sends no part of its body
    /// for this long (`None`: wait forever).
    ///
    /// The timer runs while the request's task waits for data, so on a
    /// server whose threads are all busy it also counts the time data sat
    /// unread: keep it well above the worst scheduling delay under load.
    pub fn read_timeout(mut self, timeout: Option<Duration>) -> Self {
        Arc::make_mut(&mut self.config).read_timeout = timeout;
        self
    }

    /// The body limit in bytes.
    pub fn limit(&self) -> usize {
        self.config.body_limit
    }

    /// The read timeout.
    pub(crate) fn timeout(&self) -> Option<Duration> {
        self.config.read_timeout
    }

    /// The public URL the signature's authority is taken from, if any.
    pub(crate) fn public(&self) -> Option<&PublicUrl> {
        self.config.public_url.as_ref()
    }

    /// Whether a key is configured.
    pub(crate) fn has_key(&self) -> bool {
        self.config.key.is_some()
    }

    /// The signature headers (the first half of step 2), unless there is no
    /// key or a layer further out verified this request already.
    fn verify_headers(
        &self,
        parts: &http::request::Parts,
    ) -> Result<Option<VerifiedHeaders>, Refusal<'static>> {
        let Some(key) = self.config.key.as_ref() else {
            return Ok(None);
        };
        if parts.extensions.get::<SignatureVerified>().is_some() {
            return Ok(None);
        }
        let view = HttpRequestView::from_parts(parts, self.public());
        verify_headers(&view, key, unix_now(), &self.config.policy)
            .map(Some)
            .map_err(Refusal::from)
    }

    /// Verifies the signature headers, then reads the body through the
    /// core's [`BodyCheck`] under the read timeout: the body, or the
    /// refusal to answer and whether the body was read to its end (see
    /// [`VerifyLayer::discard`]).
    pub(crate) async fn read_verified<B>(
        &self,
        parts: &http::request::Parts,
        body: B,
        content_length: Option<u64>,
    ) -> Result<Bytes, Refused>
    where
        B: Body,
        B::Error: Into<BoxError>,
    {
        let verified = match self.verify_headers(parts) {
            Ok(verified) => verified,
            Err(refusal) => {
                let drained = self.discard(body, content_length).await;
                return Err(Refused { refusal, drained });
            }
        };
        let check = BodyCheck::new(self.limit(), verified);
        read_body(body, check, content_length, self.config.read_timeout)
            .await
            .map_err(|refusal| Refused {
                // Only a digest that does not match comes after the end.
                drained: matches!(refusal, Refusal::Signature(_)),
                refusal,
            })
    }

    /// Reads and drops a body the answer will not use, so that an HTTP/1.1
    /// client still writing it reads the refusal and can send its next
    /// request on the same connection. It reads at most the body limit, for
    /// at most the read timeout in all; whether it reached the body's end
    /// (if not, the answer closes the connection).
    pub(crate) async fn discard<B>(&self, body: B, content_length: Option<u64>) -> bool
    where
        B: Body,
        B::Error: Into<BoxError>,
    {
        let Some(timeout) = self.config.read_timeout else {
            return false; // no bound on the time a client may take
        };
        crate::http::discard_body(body, content_length, self.limit(), timeout).await
    }
}

/// A refusal, and whether the request's body was read to its end: if it was
/// not, an HTTP/1.1 answer closes the connection (`Connection: close`).
#[derive(Debug)]
pub(crate) struct Refused {
    pub(crate) refusal: Refusal<'static>,
    pub(crate) drained: bool,
}

/// Reads `body` frame by frame through `check`, waiting at most `timeout`
/// for each frame. Only counted bytes are trusted: the declared length sizes
/// the buffer up to a bound, so a client cannot reserve memory it never
/// sends.
async fn read_body<B>(
    body: B,
    mut check: BodyCheck,
    content_length: Option<u64>,
    timeout: Option<Duration>,
) -> Result<Bytes, Refusal<'static>>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    let reserve = content_length.map_or(0, |length| usize::try_from(length).unwrap_or(usize::MAX));
    let mut buffer = BytesMut::with_capacity(reserve.min(INITIAL_BUFFER_LIMIT));
    let mut body = core::pin::pin!(body);
    loop {
        let frame = match timeout {
            Some(timeout) => tokio::time::timeout(timeout, body.frame())
                .await
                .map_err(|_elapsed| Refusal::ReadTimeout { timeout })?,
            None => body.frame().await,
        };
        let Some(frame) = frame else { break };
        let frame = frame.map_err(|error| {
            let error: BoxError = error.into();
            tracing::debug!(%error, "the request body could not be read");
            Refusal::BodyUnreadable
        })?;
        let Ok(mut data) = frame.into_data() else {
            continue; // trailers carry nothing the protocol uses
        };
        while data.has_remaining() {
            let chunk = data.chunk();
            check.update(chunk)?;
            buffer.extend_from_slice(chunk);
            let read = chunk.len();
            data.advance(read);
        }
    }
    check.finish()?;
    Ok(buffer.freeze())
}

impl<S> Layer<S> for VerifyLayer {
    type Service = VerifyService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        VerifyService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service [`VerifyLayer`] wraps around `S`.
#[derive(Clone, Debug)]
pub struct VerifyService<S> {
    inner: S,
    layer: VerifyLayer,
}

impl<S, B, ResBody> Service<Request<B>> for VerifyService<S>
where
    S: Service<Request<Full<Bytes>>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
    ResBody: From<Bytes>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // The clone that was driven to readiness serves this call.
        let clone = self.inner.clone();
        let mut inner = core::mem::replace(&mut self.inner, clone);
        let layer = self.layer.clone();
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            let view = HttpRequestView::from_parts(&parts, layer.public());
            let read = match run::check_content_length(&view, layer.limit()) {
                Ok(length) => layer.read_verified(&parts, body, length).await,
                Err(refusal) => Err(Refused {
                    refusal,
                    drained: false,
                }),
            };
            match read {
                Ok(body) => {
                    if layer.has_key() {
                        parts.extensions.insert(SignatureVerified);
                    }
                    inner
                        .call(Request::from_parts(parts, Full::new(body)))
                        .await
                }
                Err(refused) => Ok(refusal_response(
                    &refused.refusal,
                    Close::unless_drained(parts.version, refused.drained),
                )),
            }
        })
    }
}
