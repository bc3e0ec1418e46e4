//! The one accept loop: HTTP/1.1 and cleartext HTTP/2 connections on hyper 1,
//! with graceful shutdown. The endpoint (Connect, and gRPC) and the local
//! scheduler all serve through it.

use core::future::Future;
use core::time::Duration;

use http::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tower_service::Service;

use crate::BoxError;

/// How [`serve_connections`] treats slow clients and shutdown.
pub(crate) struct ServeOptions {
    /// What the log lines call the server.
    pub(crate) name: &'static str,
    /// How long an HTTP/1.1 client may take to send its request headers.
    pub(crate) header_read_timeout: Option<Duration>,
    /// How long shutdown waits for requests in flight; `None`: until they end.
    pub(crate) shutdown_grace: Option<Duration>,
}

/// Serves `service` on every connection accepted from `listener` until
/// `shutdown` completes, then stops accepting and lets requests in flight
/// finish (within the grace, if any).
pub(crate) async fn serve_connections<S, B>(
    service: S,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()>,
    options: ServeOptions,
) -> std::io::Result<()>
where
    S: Service<Request<hyper::body::Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout);
    builder.http2().timer(TokioTimer::new());
    let graceful = GracefulShutdown::new();

    let mut shutdown = core::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: back off, go on.
                    tracing::warn!(server = options.name, %error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Small answers go out at once: under Nagle's algorithm a write that
        // follows an unacknowledged one waits for the client's (possibly
        // delayed) ACK.
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%peer, %error, "TCP_NODELAY could not be set");
        }
        let connection = builder
            .serve_connection(
                TokioIo::new(stream),
                TowerToHyperService::new(service.clone()),
            )
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%peer, %error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tracing::info!("{} shutting down", options.name);
    match options.shutdown_grace {
        Some(grace) => {
            let _ = tokio::time::timeout(grace, graceful.shutdown()).await;
        }
        None => graceful.shutdown().await,
    }
    Ok(())
}
