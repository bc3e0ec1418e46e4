//! The function endpoint: `POST /dispatch.sdk.v1.FunctionService/Run`.
//!
//! A [`Registry`] maps function names to async handlers; an [`Endpoint`]
//! serves it on hyper 1 ([`Endpoint::serve`]), as a tower service
//! ([`Endpoint::service`]), or in an axum `Router` (`Endpoint::router`, with
//! the `axum` feature), over Connect (HTTP/1.1 and HTTP/2, `application/proto`
//! and `application/json`) and gRPC (HTTP/2, `application/grpc`) on the same
//! port.
//!
//! Every rule of the RPC is the core's ([`dispatch_core::run`]): this module
//! drives its steps (head, signature and body, request, registry, response)
//! and runs the functions. See docs/protocol/ for the answers: an unknown
//! function is 404 `not_found`, an empty name or a body that is not a
//! `RunRequest` 400 `invalid_argument`, another content type 415, a body over
//! the limit 413 before it is read, a run past `Connect-Timeout-Ms` (or
//! `grpc-timeout`) 504 `deadline_exceeded`; every Connect error body is
//! Connect error JSON, and over gRPC the same code is the `grpc-status`.
//!
//! ```no_run
//! use dispatch_std::endpoint::{Endpoint, Outcome, Registry, Run, Directive};
//! use prost_types::Any;
//!
//! # async fn run() -> std::io::Result<()> {
//! let mut registry = Registry::new();
//! registry.register_any("echo", |run: Run<Any>| async move {
//!     match run.directive {
//!         Directive::Input(input) => Ok(Outcome::any(input)),
//!         Directive::Resume(_) => Ok(Outcome::none()),
//!     }
//! });
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
//! Endpoint::new(registry)
//!     .serve(listener, async { tokio::signal::ctrl_c().await.ok(); })
//!     .await
//! # }
//! ```

mod body;
pub mod durable;
mod function;
mod registry;
mod service;

pub use body::ResponseBody;
pub use durable::{AnyOf, CallError, Callee, DurableCall, DurableContext, Gather, Race, Sleep};
pub use function::{
    DEFAULT_MAX_WAIT, Directive, FunctionError, Outcome, Poll, Resume, Run, call, classify_error,
};
pub use registry::{FunctionResult, Registry};
pub use service::EndpointService;

pub use crate::BoxFuture;
pub use crate::serve::{
    DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_CONNECTIONS,
};
pub use dispatch_core::connect::RUN_PATH;

use core::future::Future;
use core::time::Duration;
use std::sync::{Arc, Once};

use dispatch_core::signature::Policy;
use ed25519_dalek::VerifyingKey;

use crate::config::{ALLOW_UNVERIFIED_VAR, ConfigError, EndpointConfig};
use crate::http::PublicUrl;
use crate::layer::VerifyLayer;
use service::Shared;

/// The paths of `FunctionService`'s other methods, in axum's route syntax.
#[cfg(feature = "axum")]
const FUNCTION_SERVICE_PATHS: &str = "/dispatch.sdk.v1.FunctionService/{*method}";

/// A function registry with the settings to serve it; see the [module](self).
#[derive(Clone, Debug)]
pub struct Endpoint {
    shared: Arc<Shared>,
}

impl Endpoint {
    /// Serves `registry` without signature verification, with the default
    /// body limit and read timeout of [`VerifyLayer::new`].
    pub fn new(registry: Registry) -> Self {
        Endpoint {
            shared: Arc::new(Shared {
                registry,
                verify: VerifyLayer::new(None),
                endpoint_url: None,
                max_connections: DEFAULT_MAX_CONNECTIONS,
                idle_timeout: DEFAULT_IDLE_TIMEOUT,
            }),
        }
    }

    /// Serves `registry` with the endpoint URL and verification key of
    /// `config` (see [`EndpointConfig::from_env`]), after checking `config`
    /// again ([`EndpointConfig::check`]: no key only where unsigned requests
    /// are expected). Without a key, it says so at start, naming the
    /// operator's opt-out when that is why.
    pub fn from_config(registry: Registry, config: &EndpointConfig) -> Result<Self, ConfigError> {
        config.check()?;
        if config.verification_key.is_none() && config.allow_unverified {
            tracing::warn!(
                url = %config.url,
                "{ALLOW_UNVERIFIED_VAR} is set: this endpoint accepts unsigned requests"
            );
        }
        Ok(Endpoint::new(registry)
            .endpoint_url(Some(config.url.clone()))
            .verification_key(config.verification_key))
    }

    fn verify(mut self, change: impl FnOnce(VerifyLayer) -> VerifyLayer) -> Self {
        let shared = Arc::make_mut(&mut self.shared);
        shared.verify = change(shared.verify.clone());
        self
    }

    /// Verifies request signatures with `key` (`None`: accept unsigned
    /// requests, with one warning unless the endpoint URL is `bridge://`).
    pub fn verification_key(self, key: Option<VerifyingKey>) -> Self {
        self.verify(|layer| layer.key(key))
    }

    /// The time rules of verification (see [`VerifyLayer::policy`]).
    pub fn policy(self, policy: Policy) -> Self {
        self.verify(|layer| layer.policy(policy))
    }

    /// This endpoint's public URL (`DISPATCH_ENDPOINT_URL`), handed to
    /// functions in [`Run::endpoint_url`].
    pub fn endpoint_url(mut self, url: Option<String>) -> Self {
        Arc::make_mut(&mut self.shared).endpoint_url = url.map(Arc::from);
        self
    }

    /// Verifies `@authority` against this public URL's authority rather
    /// than the request's, for endpoints behind a proxy that rewrites `Host`
    /// (see [`PublicUrl::parse`]).
    pub fn public_url(self, url: Option<PublicUrl>) -> Self {
        self.verify(|layer| layer.public_url(url))
    }

    /// Refuses request bodies over this many bytes with 413 (default 16 MB).
    pub fn body_limit(self, bytes: usize) -> Self {
        self.verify(|layer| layer.body_limit(bytes))
    }

    /// Refuses, with 408, a request whose client sends nothing for this long
    /// while its headers or body are expected (`None`: wait forever); see
    /// [`VerifyLayer::read_timeout`].
    pub fn read_timeout(self, timeout: Option<Duration>) -> Self {
        self.verify(|layer| layer.read_timeout(timeout))
    }

    /// The most connections [`Endpoint::serve`] keeps open (default
    /// [`DEFAULT_MAX_CONNECTIONS`]): past it, the connection idle the
    /// longest is closed to make room, or the new one when all are busy.
    pub fn max_connections(mut self, connections: usize) -> Self {
        Arc::make_mut(&mut self.shared).max_connections = connections.max(1);
        self
    }

    /// How long [`Endpoint::serve`] keeps a connection open with no request
    /// in flight (default [`DEFAULT_IDLE_TIMEOUT`]). A new connection must
    /// send its first request head within the read timeout.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        Arc::make_mut(&mut self.shared).idle_timeout = timeout;
        self
    }

    /// The registered functions.
    pub fn registry(&self) -> &Registry {
        &self.shared.registry
    }

    /// The endpoint as a tower service taking requests with any body, for
    /// Connect and gRPC alike.
    pub fn service(&self) -> EndpointService {
        if !self.shared.verify.has_key() {
            warn_unverified_once(self.shared.endpoint_url.as_deref());
        }
        EndpointService::new(Arc::clone(&self.shared))
    }

    /// An axum `Router` with the endpoint at [`RUN_PATH`], to merge into an
    /// application's router. Every other path of `FunctionService` reaches
    /// the endpoint too, so that it answers them as the other hosts do (404
    /// `unimplemented`); the application keeps every other path.
    #[cfg(feature = "axum")]
    pub fn router(&self) -> axum::Router {
        axum::Router::new()
            .route_service(RUN_PATH, self.service())
            .route_service(FUNCTION_SERVICE_PATHS, self.service())
    }

    /// Serves HTTP/1.1 and HTTP/2 (cleartext) connections from `listener`
    /// until `shutdown` completes, then stops accepting and waits for the
    /// requests in flight to finish.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> std::io::Result<()> {
        if let Ok(address) = listener.local_addr() {
            tracing::info!(%address, functions = ?self.shared.registry, "dispatch endpoint listening");
        }
        let options = crate::serve::ServeOptions {
            header_read_timeout: self.shared.verify.timeout(),
            idle_timeout: self.shared.idle_timeout,
            max_connections: self.shared.max_connections,
            ..crate::serve::ServeOptions::new("dispatch endpoint")
        };
        crate::serve::serve_connections(self.service(), listener, shutdown, options).await
    }
}

/// Logs, once per process, that requests are not verified (unless the
/// endpoint is reached through the CLI's `bridge://`, which sends no
/// signatures).
fn warn_unverified_once(endpoint_url: Option<&str>) {
    static WARNED: Once = Once::new();
    if endpoint_url.is_some_and(|url| url.starts_with("bridge://")) {
        return;
    }
    WARNED.call_once(|| {
        tracing::warn!(
            "request signature verification is disabled: set DISPATCH_VERIFICATION_KEY \
             to accept only requests signed by Dispatch"
        );
    });
}
