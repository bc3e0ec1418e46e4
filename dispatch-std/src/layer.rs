//! A tower [`Layer`] that verifies request signatures while reading the body
//! under a size limit and a read timeout.
//!
//! The wrapped service receives the request with its body read into memory
//! (`Full<Bytes>`), so it works in front of an axum `Router` (whose routes take
//! any body) and in front of a plain hyper service alike. Refusals are answered
//! here with a Connect error JSON body:
//!
//! * `Content-Length` over the limit: 413 `resource_exhausted` at once, before
//!   any of the body is read; a body that turns out longer than the limit
//!   (chunked, or a `Content-Length` that lies) is refused as soon as the limit
//!   is passed, without reading further;
//! * a client that sends nothing for the read timeout: 408 `deadline_exceeded`;
//! * a body that cannot be read: 400 `invalid_argument`;
//! * a missing or malformed signature: 401 `unauthenticated`; a well-formed
//!   signature that does not verify: 403 `permission_denied` (the core's
//!   policy decides which).
//!
//! Without a verification key, requests are not checked (the caller has
//! logged the one warning about it), but the body limit and the read timeout
//! still apply.

use core::task::{Context, Poll};
use core::time::Duration;
use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};
use http::{Request, Response};
use http_body::Body;
use http_body_util::{BodyExt, Full};
use tower_layer::Layer;
use tower_service::Service;

use dispatch_core::connect::Code;
use dispatch_core::signature::{Policy, VerifyError, verify_headers};
use ed25519_dalek::VerifyingKey;

use crate::http::{HttpRequestView, PublicUrl, connect_error};

/// The default body limit: 16 MB, as dispatch-py.
pub const DEFAULT_BODY_LIMIT: usize = 16_000_000;

/// The default time a client may take to send each part of a body.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// The most memory reserved for a body before its bytes arrive.
const INITIAL_BUFFER_LIMIT: usize = 64 * 1024;

/// A boxed error, what body errors are turned into.
pub type BoxError = Box<dyn core::error::Error + Send + Sync>;

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
    pub fn read_timeout(mut self, timeout: Option<Duration>) -> Self {
        Arc::make_mut(&mut self.config).read_timeout = timeout;
        self
    }

    /// The body limit in bytes.
    pub fn limit(&self) -> usize {
        self.config.body_limit
    }

    /// Whether requests are verified (a key is configured).
    pub fn verifies(&self) -> bool {
        self.config.key.is_some()
    }
}

impl<S> Layer<S> for VerifyLayer {
    type Service = VerifyService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        VerifyService {
            inner,
            config: Arc::clone(&self.config),
        }
    }
}

/// The service [`VerifyLayer`] wraps around `S`.
#[derive(Clone, Debug)]
pub struct VerifyService<S> {
    inner: S,
    config: Arc<VerifyConfig>,
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
    type Future = crate::endpoint::BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // The clone that was driven to readiness serves this call.
        let clone = self.inner.clone();
        let mut inner = core::mem::replace(&mut self.inner, clone);
        let config = Arc::clone(&self.config);
        Box::pin(async move {
            match read_and_verify(&config, request).await {
                Ok(request) => inner.call(request).await,
                Err(refusal) => Ok(refusal.into_response()),
            }
        })
    }
}

/// Why a request was refused before the wrapped service saw it.
#[derive(Debug)]
enum Refusal {
    /// A protocol refusal: an HTTP status and a Connect error.
    Connect(u16, Code, String),
    /// The signature policy refused the request.
    Signature(VerifyError),
}

impl Refusal {
    fn new(status: u16, code: Code, message: impl Into<String>) -> Self {
        Refusal::Connect(status, code, message.into())
    }

    fn into_response<B: From<Bytes>>(self) -> Response<B> {
        match self {
            Refusal::Connect(status, code, message) => {
                tracing::debug!(status, %message, "request refused");
                connect_error(status, code, &message)
            }
            Refusal::Signature(error) => {
                tracing::info!(
                    reason = error.reason_name(),
                    status = error.http_status(),
                    "request signature refused"
                );
                connect_error(error.http_status(), error.code(), error.message())
            }
        }
    }
}

fn too_large(limit: usize) -> Refusal {
    Refusal::new(
        413,
        Code::ResourceExhausted,
        format!("the request body is larger than the limit of {limit} bytes"),
    )
}

/// Checks the signature headers, reads the body under the limit and the read
/// timeout while digesting it, checks the digest, and hands the request on.
async fn read_and_verify<B>(
    config: &VerifyConfig,
    request: Request<B>,
) -> Result<Request<Full<Bytes>>, Refusal>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    let (mut parts, body) = request.into_parts();
    let limit = config.body_limit;

    let declared = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(too_large(limit));
    }

    // Everything the signature covers except the body is checked first, so a
    // bad request costs no body read; unless a layer further out has verified
    // this request already.
    let key = config
        .key
        .as_ref()
        .filter(|_| parts.extensions.get::<SignatureVerified>().is_none());
    let verified = match key {
        Some(key) => {
            let view = HttpRequestView::from_parts(&parts, config.public_url.as_ref());
            Some(
                verify_headers(&view, key, unix_now(), &config.policy)
                    .map_err(Refusal::Signature)?,
            )
        }
        None => None,
    };
    let mut digest = verified.as_ref().map(|verified| verified.body_digest());

    // Only counted bytes are trusted: the declared length sizes the buffer,
    // up to a bound, so a client cannot reserve memory it never sends.
    let capacity = declared.map_or(0, |length| usize::try_from(length).unwrap_or(limit));
    let mut buffer = BytesMut::with_capacity(capacity.min(limit).min(INITIAL_BUFFER_LIMIT));
    let mut body = core::pin::pin!(body);
    loop {
        let frame = match config.read_timeout {
            Some(timeout) => {
                tokio::time::timeout(timeout, body.frame())
                    .await
                    .map_err(|_elapsed| {
                        Refusal::new(
                            408,
                            Code::DeadlineExceeded,
                            format!("the client sent no data for {} ms", timeout.as_millis()),
                        )
                    })?
            }
            None => body.frame().await,
        };
        let Some(frame) = frame else { break };
        let frame = frame.map_err(|error| {
            let error: BoxError = error.into();
            Refusal::new(
                400,
                Code::InvalidArgument,
                format!("the request body could not be read: {error}"),
            )
        })?;
        let Ok(mut data) = frame.into_data() else {
            continue; // trailers carry nothing the protocol uses
        };
        if data.remaining() > limit.saturating_sub(buffer.len()) {
            return Err(too_large(limit));
        }
        while data.has_remaining() {
            let chunk = data.chunk();
            if let Some(digest) = digest.as_mut() {
                digest.update(chunk);
            }
            buffer.extend_from_slice(chunk);
            let read = chunk.len();
            data.advance(read);
        }
    }

    if let (Some(verified), Some(digest)) = (verified, digest) {
        verified
            .finish(&digest.finish())
            .map_err(Refusal::Signature)?;
        parts.extensions.insert(SignatureVerified);
    }
    Ok(Request::from_parts(parts, Full::new(buffer.freeze())))
}

/// The current time in Unix seconds (the core takes time as a parameter).
fn unix_now() -> i64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX)
}
