//! The one accept loop: HTTP/1.1 and cleartext HTTP/2 connections on hyper 1,
//! with graceful shutdown. The endpoint (Connect, and gRPC) and the local
//! scheduler (the `dispatch-scheduler` crate) all serve through it.
//!
//! No connection can hold the server hostage:
//! - a connection must send its first request head within the header-read
//!   timeout, and one with no request in flight is closed after the idle
//!   timeout (HTTP/1.1 heads that trickle in are cut by hyper's own
//!   header-read timeout);
//! - at most `max_connections` are open: past that, the connection idle the
//!   longest is closed to make room, or, when every one is busy, the new one
//!   is closed at once;
//! - when `accept` fails (out of descriptors: EMFILE, ENFILE), the loop logs
//!   once per burst, closes the longest-idle connection to free a
//!   descriptor, and backs off (up to a second) instead of spinning.

use core::future::Future;
use core::pin::Pin;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use core::task::{Context, Poll};
use core::time::Duration;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use http::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::sync::Notify;
use tokio::time::Instant;
use tower_service::Service;

use crate::BoxError;

/// The default cap on open connections per server.
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;

/// The default time a connection with no request in flight stays open.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// The default time a new connection has to send its first request head.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest pause after a failed `accept`.
const MAX_ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// How [`serve_connections`] treats slow clients, crowds and shutdown.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ServeOptions {
    /// What the log lines call the server.
    pub name: &'static str,
    /// How long a client may take to send a request head (the first one on
    /// a connection included); `None`: no limit.
    pub header_read_timeout: Option<Duration>,
    /// How long a connection may stay open with no request in flight.
    pub idle_timeout: Duration,
    /// The most connections open at once; past it the longest-idle one is
    /// closed to make room (or the new one, when every one is busy). Never
    /// more than half the process's soft descriptor limit (Linux), so that
    /// idle clients alone cannot use up the descriptors the server needs
    /// for its own work and for accepting.
    pub max_connections: usize,
    /// How long shutdown waits for requests in flight; `None`: until they end.
    pub shutdown_grace: Option<Duration>,
}

impl ServeOptions {
    /// The defaults, for a server of this name.
    pub fn new(name: &'static str) -> Self {
        ServeOptions {
            name,
            header_read_timeout: Some(DEFAULT_HEADER_READ_TIMEOUT),
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            shutdown_grace: None,
        }
    }
}

/// One open connection, as the accept loop and the connection's own task
/// see it.
#[derive(Debug)]
struct Connection {
    /// Requests being answered on it.
    in_flight: AtomicUsize,
    /// When it last started or finished a request (or opened), in
    /// milliseconds since the server started.
    last_active_ms: AtomicU64,
    /// Whether a request has come on it yet.
    served: AtomicBool,
    /// Tells the connection's task to close it.
    close: Notify,
    /// Tells the connection's task that a request started or ended, so
    /// that it re-arms its idle deadline.
    activity: Notify,
}

impl Connection {
    fn idle(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) == 0
    }
}

/// The open connections, by the order they were accepted in.
#[derive(Debug)]
struct Connections {
    started: Instant,
    open: Mutex<BTreeMap<u64, Arc<Connection>>>,
}

impl Connections {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn len(&self) -> usize {
        self.open.lock().map_or(0, |open| open.len())
    }

    fn insert(&self, id: u64) -> Arc<Connection> {
        let connection = Arc::new(Connection {
            in_flight: AtomicUsize::new(0),
            last_active_ms: AtomicU64::new(self.now_ms()),
            served: AtomicBool::new(false),
            close: Notify::new(),
            activity: Notify::new(),
        });
        if let Ok(mut open) = self.open.lock() {
            open.insert(id, Arc::clone(&connection));
        }
        connection
    }

    fn remove(&self, id: u64) {
        if let Ok(mut open) = self.open.lock() {
            open.remove(&id);
        }
    }

    /// Asks the connection idle the longest to close; whether there was one.
    fn close_longest_idle(&self) -> bool {
        let Ok(open) = self.open.lock() else {
            return false;
        };
        let oldest = open
            .values()
            .filter(|connection| connection.idle())
            .min_by_key(|connection| connection.last_active_ms.load(Ordering::Acquire));
        match oldest {
            Some(connection) => {
                connection.close.notify_one();
                true
            }
            None => false,
        }
    }
}

/// The connection's service: counts its requests in flight, so that the
/// accept loop knows which connections are idle.
#[derive(Clone)]
struct Counted<S> {
    inner: S,
    connection: Arc<Connection>,
    connections: Arc<Connections>,
}

/// Marks the end of a request when dropped (answered or abandoned).
struct InFlight {
    connection: Arc<Connection>,
    connections: Arc<Connections>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.connection
            .last_active_ms
            .store(self.connections.now_ms(), Ordering::Release);
        self.connection.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.connection.activity.notify_one();
    }
}

impl<S, ReqBody> Service<Request<ReqBody>> for Counted<S>
where
    S: Service<Request<ReqBody>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        self.connection.in_flight.fetch_add(1, Ordering::AcqRel);
        self.connection.served.store(true, Ordering::Release);
        self.connection
            .last_active_ms
            .store(self.connections.now_ms(), Ordering::Release);
        self.connection.activity.notify_one();
        let guard = InFlight {
            connection: Arc::clone(&self.connection),
            connections: Arc::clone(&self.connections),
        };
        let future = self.inner.call(request);
        Box::pin(async move {
            let response = future.await;
            drop(guard);
            response
        })
    }
}

/// Serves `service` on every connection accepted from `listener` until
/// `shutdown` completes, then stops accepting and lets requests in flight
/// finish (within the grace, if any).
pub async fn serve_connections<S, B>(
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
    let connections = Arc::new(Connections {
        started: Instant::now(),
        open: Mutex::new(BTreeMap::new()),
    });
    let max_connections = match soft_descriptor_limit() {
        Some(limit) if options.max_connections as u64 > limit / 2 => {
            let capped = usize::try_from(limit / 2).unwrap_or(usize::MAX).max(1);
            tracing::info!(
                server = options.name,
                max_connections = capped,
                descriptor_limit = limit,
                "connections capped at half the descriptor limit"
            );
            capped
        }
        _ => options.max_connections.max(1),
    };

    let mut shutdown = core::pin::pin!(shutdown);
    let mut next_id = 0u64;
    let mut backoff = Duration::ZERO;
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of descriptors and the like: free one, back off, go on.
                    if backoff.is_zero() {
                        tracing::warn!(
                            server = options.name,
                            %error,
                            open = connections.len(),
                            "accepting a connection failed; closing the longest-idle connection and backing off"
                        );
                    }
                    connections.close_longest_idle();
                    backoff = (backoff * 2).clamp(Duration::from_millis(10), MAX_ACCEPT_BACKOFF);
                    tokio::time::sleep(backoff).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        backoff = Duration::ZERO;
        if connections.len() >= max_connections && !connections.close_longest_idle() {
            tracing::warn!(server = options.name, %peer, max_connections, "every connection is busy: refusing a new one");
            drop(stream);
            continue;
        }
        // Small answers go out at once: under Nagle's algorithm a write that
        // follows an unacknowledged one waits for the client's (possibly
        // delayed) ACK.
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%peer, %error, "TCP_NODELAY could not be set");
        }
        let id = next_id;
        next_id = next_id.wrapping_add(1);
        let connection = connections.insert(id);
        let counted = Counted {
            inner: service.clone(),
            connection: Arc::clone(&connection),
            connections: Arc::clone(&connections),
        };
        let served = builder
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(counted))
            .into_owned();
        let served = graceful.watch(served);
        let connections = Arc::clone(&connections);
        let header_read_timeout = options.header_read_timeout;
        let idle_timeout = options.idle_timeout;
        tokio::spawn(async move {
            let mut served = core::pin::pin!(served);
            loop {
                let deadline =
                    idle_deadline(&connection, &connections, header_read_timeout, idle_timeout);
                tokio::select! {
                    ended = &mut served => {
                        if let Err(error) = ended {
                            tracing::debug!(%peer, %error, "connection ended with an error");
                        }
                        break;
                    }
                    () = connection.close.notified() => {
                        if connection.idle() {
                            tracing::debug!(%peer, "closing an idle connection to make room");
                            break;
                        }
                    }
                    () = connection.activity.notified() => {}
                    () = sleep_until(deadline) => {
                        if connection.idle() && idle_deadline(&connection, &connections, header_read_timeout, idle_timeout) <= Some(Instant::now()) {
                            tracing::debug!(%peer, "closing a connection idle past its timeout");
                            break;
                        }
                    }
                }
            }
            connections.remove(id);
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

/// The process's soft limit on open descriptors (`ulimit -n`), from
/// `/proc/self/limits`; `None` where that file does not exist (not Linux)
/// or says "unlimited".
pub fn soft_descriptor_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    parse_open_files_limit(&limits)
}

/// The soft value of the "Max open files" row of a `/proc/<pid>/limits`
/// table.
fn parse_open_files_limit(limits: &str) -> Option<u64> {
    let row = limits
        .lines()
        .find_map(|line| line.strip_prefix("Max open files"))?;
    row.split_whitespace().next()?.parse().ok()
}

/// When an idle connection is to be closed: the header-read timeout after
/// it opened while no request has come, else the idle timeout after its
/// last activity; `None` while a request is in flight (or no timeout
/// applies).
fn idle_deadline(
    connection: &Connection,
    connections: &Connections,
    header_read_timeout: Option<Duration>,
    idle_timeout: Duration,
) -> Option<Instant> {
    if !connection.idle() {
        return None;
    }
    let timeout = if connection.served.load(Ordering::Acquire) {
        idle_timeout
    } else {
        header_read_timeout?
    };
    let last = Duration::from_millis(connection.last_active_ms.load(Ordering::Acquire));
    connections.started.checked_add(last + timeout)
}

/// Sleeps until `deadline`; without one, until the connection's next
/// activity wakes its task.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => core::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_open_files_limit_is_read_from_the_limits_table() {
        let table = "Limit                     Soft Limit           Hard Limit           Units     \n\
                     Max cpu time              unlimited            unlimited            seconds   \n\
                     Max open files            1024                 524288               files     \n";
        assert_eq!(parse_open_files_limit(table), Some(1024));
        let unlimited =
            "Max open files            unlimited            unlimited            files\n";
        assert_eq!(parse_open_files_limit(unlimited), None);
        assert_eq!(parse_open_files_limit("nothing here"), None);
        // This machine's own table parses (it is Linux).
        if std::path::Path::new("/proc/self/limits").exists() {
            assert!(soft_descriptor_limit().is_some());
        }
    }
}
