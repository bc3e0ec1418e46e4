//! The demo functions `dispatch serve` hosts, also used by the end-to-end
//! example (`examples/demo.rs` includes this file).
//!
//! * `echo`: returns its input, whatever it holds;
//! * `greet(name)`: `"Hello, <name>!"`;
//! * `double(n)`: `2 n`;
//! * `flaky(text)`: fails with a temporary error on the first two attempts of
//!   each dispatch, then returns `text`, to show retries;
//! * `countdown(n)`: tail-calls `countdown(n - 1)` down to 0, then returns
//!   `"liftoff"`;
//! * `pipeline(n)`: a durable function. It suspends on `double(1..=n)`,
//!   resumes with their results and sums them, then suspends on
//!   `flaky("sum is <sum>")` and `greet("pipeline")`, and returns both
//!   answers. Its state between steps is a small JSON string.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use dispatch_core::any;
use dispatch_std::endpoint::{
    Directive, FunctionError, Outcome, Poll, Registry, Resume, Run, call,
};
use prost_types::Any;
use serde_json::json;

/// Correlation ids of `pipeline`'s second step.
const FLAKY_CALL: u64 = 1_000_001;
const GREET_CALL: u64 = 1_000_002;

/// The demo registry.
pub(crate) fn registry() -> Registry {
    let mut registry = Registry::new();
    registry.register_any("echo", |run: Run<Any>| async move {
        match run.directive {
            Directive::Input(input) => Ok(Outcome::any(input)),
            Directive::Resume(_) => Err(FunctionError::invalid_argument("echo never polls")),
        }
    });
    registry.register("greet", |run: Run<String>| async move {
        let name = input(run.directive)?;
        Ok(Outcome::value(&format!("Hello, {name}!")))
    });
    registry.register("double", |run: Run<i64>| async move {
        let n = input(run.directive)?;
        let doubled = n
            .checked_mul(2)
            .ok_or_else(|| FunctionError::invalid_argument(format!("{n} doubled overflows")))?;
        Ok(Outcome::value(&doubled))
    });
    let attempts: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    registry.register("flaky", move |run: Run<String>| {
        let attempts = Arc::clone(&attempts);
        async move {
            let attempt = {
                let mut seen = attempts.lock().unwrap_or_else(PoisonError::into_inner);
                let count = seen.entry(run.dispatch_id.clone()).or_insert(0);
                *count += 1;
                *count
            };
            let text = input(run.directive)?;
            if attempt <= 2 {
                tracing::info!(dispatch_id = %run.dispatch_id, attempt, "flaky: failing on purpose (temporary)");
                return Err(FunctionError::temporary(format!(
                    "flaky fails its first two attempts (this was attempt {attempt})"
                )));
            }
            Ok(Outcome::value(&text))
        }
    });
    registry.register("countdown", |run: Run<i64>| async move {
        let endpoint = endpoint_of(&run)?;
        let n = input(run.directive)?;
        if n <= 0 {
            return Ok(Outcome::value(&"liftoff".to_string()));
        }
        tracing::info!(n, "countdown: tail call");
        Ok(Outcome::tail_call(call(
            &endpoint,
            "countdown",
            0,
            &(n - 1),
        )))
    });
    registry.register("pipeline", |run: Run<i64>| async move {
        let endpoint = endpoint_of(&run)?;
        match run.directive {
            Directive::Input(n) => pipeline_start(&endpoint, n),
            Directive::Resume(resume) => pipeline_resume(&endpoint, &resume),
        }
    });
    registry
}

fn input<I>(directive: Directive<I>) -> Result<I, FunctionError> {
    match directive {
        Directive::Input(input) => Ok(input),
        Directive::Resume(_) => Err(FunctionError::invalid_argument(
            "this function never suspends, so it is never resumed",
        )),
    }
}

fn endpoint_of<I>(run: &Run<I>) -> Result<String, FunctionError> {
    run.endpoint_url
        .as_deref()
        .map(str::to_owned)
        .ok_or_else(|| FunctionError::permanent("the endpoint has no DISPATCH_ENDPOINT_URL"))
}

/// Step 1: suspend on `double(1..=n)`, waiting for all of them.
fn pipeline_start(endpoint: &str, n: i64) -> Result<Outcome, FunctionError> {
    if !(1..=100).contains(&n) {
        return Err(FunctionError::invalid_argument("pipeline takes 1 to 100"));
    }
    tracing::info!(n, "pipeline: step 1, suspending on double(1..={n})");
    let state = json!({"step": 1, "n": n, "sum": 0, "received": 0}).to_string();
    let mut poll = Poll::new(&state);
    for k in 1..=n {
        poll = poll.call(call(endpoint, "double", k.unsigned_abs(), &k));
    }
    Ok(Outcome::poll(poll))
}

/// Resumes: step 1 sums results until all are in, then step 2 waits for
/// `flaky` and `greet`, then the function returns.
fn pipeline_resume(endpoint: &str, resume: &Resume) -> Result<Outcome, FunctionError> {
    if let Some(error) = resume.error() {
        return Err(FunctionError::permanent(format!(
            "the calls were not dispatched: {}",
            error.message
        )));
    }
    let state: String = resume.state()?;
    let mut state: serde_json::Value = serde_json::from_str(&state)
        .map_err(|e| FunctionError::permanent(format!("unreadable state: {e}")))?;
    let number = |state: &serde_json::Value, key: &str| state[key].as_i64().unwrap_or(0);
    for result in resume.results() {
        if let Some(error) = &result.error {
            return Err(FunctionError::permanent(format!(
                "call {} failed: {}: {}",
                result.correlation_id, error.r#type, error.message
            )));
        }
    }
    match number(&state, "step") {
        1 => {
            let mut sum = number(&state, "sum");
            for result in resume.results() {
                let output = result.output.as_ref().map(any::unpack::<i64>);
                sum += output.and_then(Result::ok).unwrap_or(0);
            }
            let received = number(&state, "received") + resume.results().len() as i64;
            let n = number(&state, "n");
            state["sum"] = sum.into();
            state["received"] = received.into();
            if received < n {
                tracing::info!(
                    received,
                    n,
                    sum,
                    "pipeline: step 1, waiting for more results"
                );
                return Ok(Outcome::poll(Poll::new(&state.to_string())));
            }
            tracing::info!(sum, "pipeline: step 2, suspending on flaky and greet");
            state["step"] = 2.into();
            state["received"] = 0.into();
            let poll = Poll::new(&state.to_string())
                .call(call(
                    endpoint,
                    "flaky",
                    FLAKY_CALL,
                    &format!("sum is {sum}"),
                ))
                .call(call(endpoint, "greet", GREET_CALL, &"pipeline".to_string()));
            Ok(Outcome::poll(poll))
        }
        2 => {
            for result in resume.results() {
                let text = result
                    .output
                    .as_ref()
                    .and_then(|output| any::unpack::<String>(output).ok())
                    .unwrap_or_default();
                let key = if result.correlation_id == FLAKY_CALL {
                    "flaky"
                } else {
                    "greet"
                };
                state[key] = text.into();
            }
            if state["flaky"].is_null() || state["greet"].is_null() {
                tracing::info!("pipeline: step 2, waiting for the other result");
                return Ok(Outcome::poll(Poll::new(&state.to_string())));
            }
            let answer = format!(
                "{} {}",
                state["greet"].as_str().unwrap_or_default(),
                state["flaky"].as_str().unwrap_or_default()
            );
            tracing::info!(%answer, "pipeline: done");
            Ok(Outcome::value(&answer))
        }
        step => Err(FunctionError::permanent(format!("unknown step {step}"))),
    }
}
