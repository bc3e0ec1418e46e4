//! Dispatch end to end, on one machine, in one command:
//!
//! ```text
//! cargo run -p dispatch-cli --example demo
//! ```
//!
//! It starts, in this process and on loopback ports:
//!
//! * a local scheduler that signs its requests with a fresh Ed25519 key;
//! * the demo endpoint (`dispatch serve`'s functions), verifying those
//!   signatures with the matching public key;
//!
//! then submits `pipeline(4)` through the Dispatch API (this crate's client)
//! and waits for its outcome. `pipeline` is a durable function written as
//! plain async code (`Registry::durable`): it calls four `double`s at once
//! and is suspended until their results are in, then calls `flaky` (which
//! fails twice and is retried with backoff) and `greet` at once, and returns
//! both answers. Every scheduler attempt and every step of the function is
//! printed as it happens. It exits 0 when the call ends `STATUS_OK`.
//!
//! Options: `--n N` changes the input (1 to 100).

#[path = "../src/demo.rs"]
mod demo;

use core::time::Duration;

use dispatch_core::status::Status;
use dispatch_scheduler::{Backoff, Scheduler, SchedulerConfig};
use dispatch_std::client::Client;
use dispatch_std::endpoint::{Endpoint, call};
use ed25519_dalek::SigningKey;
use tokio::net::TcpListener;

const API_KEY: &str = "local-demo-key";

#[tokio::main]
async fn main() -> Result<(), Box<dyn core::error::Error>> {
    use std::io::IsTerminal as _;
    tracing_subscriber::fmt()
        .with_ansi(std::io::stdout().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,dispatch_std::endpoint=warn".into()),
        )
        .without_time()
        .with_target(false)
        .compact()
        .init();
    let n: i64 = match std::env::args().skip_while(|a| a != "--n").nth(1) {
        Some(text) => text.parse().map_err(|_| "--n takes a whole number")?,
        None => 4,
    };

    // A fresh key pair: the scheduler signs, the endpoint verifies.
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| format!("no randomness: {e}"))?;
    let signing_key = SigningKey::from_bytes(&seed);
    let verifying_key = signing_key.verifying_key();

    let endpoint_listener = TcpListener::bind("127.0.0.1:0").await?;
    let endpoint_url = format!("http://{}", endpoint_listener.local_addr()?);
    let endpoint = Endpoint::new(demo::registry())
        .endpoint_url(Some(endpoint_url.clone()))
        .verification_key(Some(verifying_key));
    tokio::spawn(endpoint.serve(endpoint_listener, core::future::pending()));

    let scheduler = Scheduler::new(
        SchedulerConfig::new()
            .api_key(Some(API_KEY.into()))
            .signing_key(Some(signing_key))
            .retry(Backoff {
                initial: Duration::from_millis(200),
                max: Duration::from_secs(2),
                max_attempts: Some(5),
            }),
    )?;
    let scheduler_listener = TcpListener::bind("127.0.0.1:0").await?;
    let scheduler_url = format!("http://{}", scheduler_listener.local_addr()?);
    tokio::spawn(
        scheduler
            .clone()
            .serve(scheduler_listener, core::future::pending()),
    );
    println!("scheduler: {scheduler_url}  endpoint: {endpoint_url} (signatures verified)");

    let client = Client::builder()
        .api_url(scheduler_url)
        .api_key(API_KEY)
        .build()?;
    let id = client
        .dispatch(call(&endpoint_url, "pipeline", 0, &n))
        .await?;
    println!("dispatched pipeline({n}): {id}");

    let info = scheduler
        .wait(id.as_str(), Some(Duration::from_secs(120)))
        .await
        .ok_or("the scheduler lost the run")?;
    let Some(outcome) = info.outcome else {
        return Err("pipeline did not finish within 120 s".into());
    };
    let answer = outcome
        .result
        .output
        .as_ref()
        .and_then(|output| dispatch_core::any::unpack::<String>(output).ok());
    println!(
        "pipeline({n}) ended with {} after {} Run requests: {}",
        outcome.status,
        info.attempts,
        answer.as_deref().unwrap_or("(no output)")
    );
    if outcome.status == Status::Ok {
        Ok(())
    } else {
        Err(format!("pipeline failed: {:?}", outcome.result.error).into())
    }
}
