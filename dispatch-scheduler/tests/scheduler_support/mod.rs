//! Shared by the scheduler tests: endpoints on loopback and a scheduler
//! configured to retry fast.

#![allow(dead_code, unreachable_pub)]

use core::net::SocketAddr;
use core::time::Duration;

use dispatch_scheduler::{Backoff, Scheduler, SchedulerConfig};
use dispatch_std::endpoint::{Endpoint, Registry};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Serves `registry` on a fresh loopback port until the test's runtime ends;
/// returns the endpoint URL.
pub async fn serve_endpoint(registry: Registry) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let endpoint = Endpoint::new(registry).endpoint_url(Some(url.clone()));
    tokio::spawn(endpoint.serve(listener, core::future::pending()));
    url
}

/// A scheduler that retries up to `attempts` times with 1 to 2 ms waits.
pub fn fast_scheduler(attempts: u32) -> Scheduler {
    Scheduler::new(fast_config(attempts)).unwrap()
}

/// The configuration of [`fast_scheduler`].
pub fn fast_config(attempts: u32) -> SchedulerConfig {
    SchedulerConfig::new().retry(Backoff {
        initial: Duration::from_millis(2),
        max: Duration::from_millis(4),
        max_attempts: Some(attempts),
    })
}

/// Serves `scheduler` on a fresh loopback port; returns its URL.
pub async fn serve_scheduler(scheduler: &Scheduler) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(scheduler.clone().serve(listener, core::future::pending()));
    url
}

/// A raw TCP server that reads a request's head and answers every
/// connection with `answer` (and then closes it); `None`: never answers.
pub async fn raw_server(answer: Option<&'static [u8]>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                let _ = stream.read(&mut buf).await;
                match answer {
                    Some(answer) => {
                        let _ = stream.write_all(answer).await;
                        let _ = stream.shutdown().await;
                    }
                    None => {
                        // Hold the connection open, silent.
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                    }
                }
            });
        }
    });
    address
}
