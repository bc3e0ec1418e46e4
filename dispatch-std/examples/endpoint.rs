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
//! * `echo_twice`: takes a string, suspends with a poll that calls `echo` on
//!   this same endpoint, and on resume returns the echoed string doubled.
//!
//! Ctrl-C stops it gracefully: requests in flight finish first.

use dispatch_std::config::EndpointConfig;
use dispatch_std::endpoint::{
    Directive, Endpoint, FunctionError, Outcome, Poll, Registry, Run, call,
};
use prost_types::Any;
use tracing_subscriber::EnvFilter;

/// The correlation id of `echo_twice`'s one call.
const ECHO_CALL: u64 = 1;

fn registry() -> Registry {
    let mut registry = Registry::new();
    registry.register_any("echo", |run: Run<Any>| async move {
        match run.directive {
            Directive::Input(input) => Ok(Outcome::any(input)),
            Directive::Resume(_) => Err(FunctionError::invalid_argument("echo never polls")),
        }
    });
    registry.register("echo_twice", |run: Run<String>| async move {
        match run.directive {
            Directive::Input(text) => {
                let endpoint = run
                    .endpoint_url
                    .ok_or_else(|| FunctionError::permanent("no DISPATCH_ENDPOINT_URL"))?;
                // The state is the input itself: all the function needs later.
                Ok(Outcome::poll(
                    Poll::new(&text).call(call(&endpoint, "echo", ECHO_CALL, &text)),
                ))
            }
            Directive::Resume(resume) => {
                if let Some(error) = resume.error() {
                    return Err(FunctionError::temporary(format!(
                        "the echo call was not dispatched: {}",
                        error.message
                    )));
                }
                let original: String = resume.state()?;
                let Some(result) = resume.result(ECHO_CALL) else {
                    return Err(FunctionError::temporary("the echo result is not in yet"));
                };
                if let Some(error) = &result.error {
                    return Err(FunctionError::permanent(format!(
                        "echo failed: {}",
                        error.message
                    )));
                }
                let echoed = result
                    .output
                    .as_ref()
                    .and_then(|output| dispatch_core::any::unpack::<String>(output).ok())
                    .unwrap_or_default();
                tracing::info!(%original, %echoed, "echo_twice resumed");
                Ok(Outcome::value(&format!("{echoed}{echoed}")))
            }
        }
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
