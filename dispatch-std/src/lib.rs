//! Dispatch on real HTTP stacks.
//!
//! Everything that touches sockets, clocks, the environment or files lives
//! here; every protocol rule lives in [`dispatch_core`], which this crate only
//! adapts.
//!
//! | module | what |
//! |---|---|
//! | [`json`] | proto3 canonical JSON for every message, `Any` through a type registry |
//! | `config` | configuration from the environment, as the SDKs read it (`endpoint`) |
//! | `http` | `http` requests as the core's request view (`endpoint`) |
//! | `layer` | the tower Layer verifying signatures under a body limit (`endpoint`) |
//! | `endpoint` | the function registry and the Run endpoint on hyper 1 / axum (`endpoint`) |
//! | [`client`] | the Dispatch API client (`DispatchService/Dispatch` over reqwest) |
//! | `serve` | the one accept loop (HTTP/1.1 and HTTP/2, bounded connections, graceful shutdown) (`endpoint`) |
//! | `grpc` | the endpoint and the client over gRPC with tonic (`grpc`) |
#![forbid(unsafe_code)]

/// A boxed error: what body and transport errors are turned into.
pub type BoxError = Box<dyn core::error::Error + Send + Sync>;

/// A boxed, sendable future: what the services of this crate return.
pub type BoxFuture<T> = core::pin::Pin<Box<dyn core::future::Future<Output = T> + Send + 'static>>;

/// The current time in Unix seconds, the `now` the core takes as a
/// parameter (0 if the clock is before 1970).
pub fn unix_now() -> i64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX)
}

#[cfg(feature = "client")]
pub mod client;
#[cfg(feature = "endpoint")]
pub mod config;
#[cfg(feature = "endpoint")]
pub mod endpoint;
#[cfg(feature = "grpc")]
pub mod grpc;
#[cfg(feature = "endpoint")]
pub mod http;
pub mod json;
#[cfg(feature = "endpoint")]
pub mod layer;
#[cfg(feature = "endpoint")]
pub mod serve;
