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
//! * `pipeline(n)`: a durable function (`Registry::durable`). It calls
//!   `double(1..=n)` at once and sums their results, then calls
//!   `flaky("sum is <sum>")` and `greet("pipeline")` at once, and returns
//!   both answers. Between its steps it is suspended: its journal travels
//!   in the poll, nothing stays in this process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use dispatch_std::endpoint::{Directive, FunctionError, Outcome, Registry, Run, call};
use prost_types::Any;

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
    registry.durable("pipeline", |ctx, n: i64| async move {
        if !(1..=100).contains(&n) {
            return Err(FunctionError::invalid_argument("pipeline takes 1 to 100"));
        }
        if !ctx.is_replaying() {
            tracing::info!(n, "pipeline: step 1, calling double(1..={n}) at once");
        }
        let doubles = ctx.gather((1..=n).map(|k| ctx.call::<i64>("double", &k)));
        let sum: i64 = doubles.await?.into_iter().sum();
        if !ctx.is_replaying() {
            tracing::info!(sum, "pipeline: step 2, calling flaky and greet at once");
        }
        let flaky = ctx.call::<String>("flaky", &format!("sum is {sum}"));
        let greet = ctx.call::<String>("greet", &"pipeline".to_string());
        let answers = ctx.gather([greet, flaky]).await?;
        let answer = answers.join(" ");
        tracing::info!(%answer, "pipeline: done");
        Ok(Outcome::value(&answer))
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
