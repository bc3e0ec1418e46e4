//! A runnable Dispatch function endpoint.
//!
//! ```text
//! DISPATCH_ENDPOINT_URL=http://127.0.0.1:8000 \
//! DISPATCH_ENDPOINT_ADDR=127.0.0.1:8000 \
//! DISPATCH_VERIFICATION_KEY='' \
//! RUST_LOG=info cargo run -p dispatch-std --example endpoint
//! ```
//!
//! It reads `DISPATCH_ENDPOINT_URL`, `DISPATCH_ENDPOINT_ADDR` and
//! `DISPATCH_VERIFICATION_KEY` like any endpoint, and registers:
//!
//! * `echo`: returns its input unchanged, whatever the `Any` holds;
//! * `echo_twice`: a durable function: takes a string, calls `echo` on this
//!   same endpoint with it (the run suspends until the answer is in), and
//!   returns the echoed string doubled;
//! * `square(n)`: takes an `Int64Value`, answers `n * n` after 500 ms (so
//!   that a durable run spans seconds);
//! * `sum_of_squares(n)`: a durable function: calls `square(i)` for every i
//!   in 1..=n at once (one poll), then returns their sum.
//!
//! Ctrl-C stops it gracefully: requests in flight finish first. Nothing a
//! durable function does stays in this process between its runs: kill it and
//! start it again, and its runs carry on.

use core::time::Duration;

use dispatch_std::config::EndpointConfig;
use dispatch_std::endpoint::{Directive, Endpoint, FunctionError, Outcome, Registry, Run};
use prost_types::Any;
use tracing_subscriber::EnvFilter;

/// How long `square` takes to answer.
const SQUARE_DELAY: Duration = Duration::from_millis(500);

fn registry() -> Registry {
    let mut registry = Registry::new();
    registry.register_any("echo", |run: Run<Any>| async move {
        match run.directive {
            Directive::Input(input) => Ok(Outcome::any(input)),
            Directive::Resume(_) => Err(FunctionError::invalid_argument("echo never polls")),
        }
    });
    registry.durable("echo_twice", |ctx, text: String| async move {
        let echoed: String = ctx.call("echo", &text).await?;
        tracing::info!(original = %text, %echoed, "echo_twice: echoed");
        Ok(Outcome::value(&format!("{echoed}{echoed}")))
    });
    registry.register("square", |run: Run<i64>| async move {
        let Directive::Input(n) = run.directive else {
            return Err(FunctionError::invalid_argument("square never polls"));
        };
        let square = n
            .checked_mul(n)
            .ok_or_else(|| FunctionError::invalid_argument(format!("{n} squared overflows")))?;
        tracing::info!(n, "square: computing");
        tokio::time::sleep(SQUARE_DELAY).await;
        Ok(Outcome::value(&square))
    });
    registry.durable("sum_of_squares", |ctx, n: i64| async move {
        let squares = (1..=n).map(|i| ctx.call::<i64>("square", &i));
        let squares = ctx.gather(squares).await?;
        let sum = squares
            .into_iter()
            .try_fold(0i64, i64::checked_add)
            .ok_or_else(|| FunctionError::invalid_argument("the sum overflows"))?;
        tracing::info!(n, sum, "sum_of_squares: done");
        Ok(Outcome::value(&sum))
    });
    registry
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // A start-up error is printed as its message, never as a Debug dump.
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("endpoint: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn core::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let config = EndpointConfig::from_env()?;
    let listener = tokio::net::TcpListener::bind(&config.addr).await?;
    Endpoint::from_config(registry(), &config)?
        .serve(listener, async {
            tokio::signal::ctrl_c().await.ok();
        })
        .await?;
    Ok(())
}
