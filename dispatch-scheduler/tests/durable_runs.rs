//! Durable functions (`Registry::durable`) end to end through the local
//! scheduler: one poll for calls awaited together, a failed call handled by
//! the function, a durable sleep, a clock reading stable across replay,
//! race and any, a tail call, and a run whose code changed under it.

mod scheduler_support;

use core::sync::atomic::{AtomicU32, Ordering};
use core::time::Duration;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use dispatch_core::status::Status;
use dispatch_scheduler::{RunInfo, Scheduler};
use dispatch_std::endpoint::{self, CallError, Directive, FunctionError, Outcome, Registry, Run};
use prost_types::Any;
use scheduler_support::{fast_scheduler, serve_endpoint};

async fn run_to_end(scheduler: &Scheduler, url: &str, function: &str, input: i64) -> RunInfo {
    let call = endpoint::call(url, function, 0, &input);
    let ids = scheduler.dispatch(vec![call]).await.unwrap();
    let info = scheduler
        .wait(&ids[0], Some(Duration::from_secs(60)))
        .await
        .unwrap();
    assert!(info.outcome.is_some(), "{function} is not done: {info:?}");
    info
}

fn status(info: &RunInfo) -> Status {
    info.outcome.as_ref().unwrap().status
}

fn output<M: dispatch_core::any::AnyMessage>(info: &RunInfo) -> M {
    let outcome = info.outcome.as_ref().unwrap();
    let output: &Any = outcome
        .result
        .output
        .as_ref()
        .unwrap_or_else(|| panic!("no output: {outcome:?}"));
    dispatch_core::any::unpack(output).unwrap()
}

fn error_message(info: &RunInfo) -> String {
    let outcome = info.outcome.as_ref().unwrap();
    let error = outcome.result.error.as_ref().expect("an error");
    format!("{}: {}", error.r#type, error.message)
}

fn input<I>(run: Run<I>) -> Result<I, FunctionError> {
    match run.directive {
        Directive::Input(input) => Ok(input),
        Directive::Resume(_) => Err(FunctionError::permanent("never polls")),
    }
}

/// Plain functions the durable ones call: `square`, `fails` (always, with
/// a permanent error), `slow` (answers after 30 s).
fn plain() -> Registry {
    let mut registry = Registry::new();
    registry.register("square", |run: Run<i64>| async move {
        let n = input(run)?;
        Ok(Outcome::value(&(n * n)))
    });
    registry.register("fails", |run: Run<i64>| async move {
        let n = input(run)?;
        Err::<Outcome, _>(FunctionError::permanent(format!("fails({n}) always fails")))
    });
    registry.register("slow", |run: Run<i64>| async move {
        let n = input(run)?;
        tokio::time::sleep(Duration::from_secs(30)).await;
        Ok(Outcome::value(&n))
    });
    registry
}

#[tokio::test]
async fn calls_awaited_together_go_out_in_one_poll() {
    let mut registry = plain();
    registry.durable("sum_of_squares", |ctx, n: i64| async move {
        let squares = (1..=n).map(|i| ctx.call::<i64>("square", &i));
        let sum: i64 = ctx.gather(squares).await?.into_iter().sum();
        Ok(Outcome::value(&sum))
    });
    let url = serve_endpoint(registry).await;
    let info = run_to_end(&fast_scheduler(3), &url, "sum_of_squares", 5).await;
    assert_eq!(status(&info), Status::Ok, "{:?}", info.outcome);
    assert_eq!(output::<i64>(&info), 55);
    // The first run polls all five squares; the one resume has them all.
    assert_eq!(info.attempts, 2);
}

#[tokio::test]
async fn calls_awaited_one_after_another_each_take_a_poll() {
    let mut registry = plain();
    registry.durable("chain", |ctx, n: i64| async move {
        let a: i64 = ctx.call("square", &n).await?;
        let b: i64 = ctx.call("square", &a).await?;
        Ok(Outcome::value(&b))
    });
    let url = serve_endpoint(registry).await;
    let info = run_to_end(&fast_scheduler(3), &url, "chain", 3).await;
    assert_eq!(status(&info), Status::Ok, "{:?}", info.outcome);
    assert_eq!(output::<i64>(&info), 81);
    assert_eq!(info.attempts, 3);
}

#[tokio::test]
async fn a_failed_call_is_an_error_the_function_handles() {
    let mut registry = plain();
    registry.durable("careful", |ctx, n: i64| async move {
        match ctx.call::<i64>("fails", &n).await {
            Ok(value) => Ok(Outcome::value(&format!("unexpected {value}"))),
            Err(CallError::Failed { function, error }) => Ok(Outcome::value(&format!(
                "{function}: {}: {}",
                error.r#type, error.message
            ))),
            Err(other) => Err(other.into()),
        }
    });
    // Passed on with `?`, the failure ends the caller.
    registry.durable("careless", |ctx, n: i64| async move {
        let value: i64 = ctx.call("fails", &n).await?;
        Ok(Outcome::value(&value))
    });
    // An output of another type than awaited is an error too.
    registry.durable("wrong_type", |ctx, n: i64| async move {
        match ctx.call::<String>("square", &n).await {
            Err(CallError::Output { expected, .. }) => Ok(Outcome::value(&expected.to_string())),
            other => Ok(Outcome::value(&format!("{other:?}"))),
        }
    });
    let url = serve_endpoint(registry).await;
    let scheduler = fast_scheduler(3);
    let info = run_to_end(&scheduler, &url, "careful", 7).await;
    assert_eq!(status(&info), Status::Ok, "{:?}", info.outcome);
    assert_eq!(
        output::<String>(&info),
        "fails: PermanentError: fails(7) always fails"
    );
    let info = run_to_end(&scheduler, &url, "careless", 7).await;
    assert_eq!(status(&info), Status::PermanentError);
    assert!(
        error_message(&info).contains("fails(7) always fails"),
        "{}",
        error_message(&info)
    );
    let info = run_to_end(&scheduler, &url, "wrong_type", 2).await;
    assert_eq!(output::<String>(&info), "google.protobuf.StringValue");
}

#[tokio::test]
async fn a_sleep_suspends_the_run_until_it_is_over() {
    let mut registry = plain();
    registry.durable("nap", |ctx, millis: i64| async move {
        let before = ctx.now();
        ctx.sleep(Duration::from_millis(millis.unsigned_abs()))
            .await;
        let after = ctx.now();
        let slept = after.duration_since(before).unwrap_or_default();
        Ok(Outcome::value(&i64::try_from(slept.as_millis()).unwrap()))
    });
    let url = serve_endpoint(registry).await;
    let info = run_to_end(&fast_scheduler(3), &url, "nap", 1200).await;
    assert_eq!(status(&info), Status::Ok, "{:?}", info.outcome);
    // The second reading was made by the run after the sleep.
    assert!(output::<i64>(&info) >= 1200, "{}", output::<i64>(&info));
    assert_eq!(info.attempts, 2);
}

#[tokio::test]
async fn now_reads_the_same_instant_on_every_replay() {
    let readings: Arc<Mutex<Vec<SystemTime>>> = Arc::default();
    let mut registry = plain();
    let seen = Arc::clone(&readings);
    registry.durable("stamped", move |ctx, n: i64| {
        let seen = Arc::clone(&seen);
        async move {
            let started = ctx.now();
            seen.lock().unwrap().push(started);
            let a: i64 = ctx.call("square", &n).await?;
            let b: i64 = ctx.call("square", &a).await?;
            let seconds = started.duration_since(SystemTime::UNIX_EPOCH).unwrap();
            Ok(Outcome::value(&prost_types::Timestamp {
                seconds: i64::try_from(seconds.as_secs()).unwrap() + b - b,
                nanos: i32::try_from(seconds.subsec_nanos()).unwrap(),
            }))
        }
    });
    let url = serve_endpoint(registry).await;
    let info = run_to_end(&fast_scheduler(3), &url, "stamped", 2).await;
    assert_eq!(status(&info), Status::Ok, "{:?}", info.outcome);
    let readings = readings.lock().unwrap().clone();
    assert_eq!(readings.len(), 3, "three runs: {readings:?}");
    assert!(readings.iter().all(|r| *r == readings[0]), "{readings:?}");
    let returned: prost_types::Timestamp = output(&info);
    assert_eq!(SystemTime::try_from(returned).unwrap(), readings[0]);
}

#[tokio::test]
async fn race_takes_the_first_to_finish_and_any_the_first_to_succeed() {
    let mut registry = plain();
    registry.durable("race", |ctx, n: i64| async move {
        let calls = [
            ctx.call::<i64>("slow", &n),
            ctx.call("fails", &n),
            ctx.call("slow", &n),
        ];
        let (position, outcome) = ctx.race(calls).await;
        Ok(Outcome::value(&format!("{position} {}", outcome.is_err())))
    });
    registry.durable("any", |ctx, n: i64| async move {
        let calls = [
            ctx.call::<i64>("fails", &n),
            ctx.call("slow", &n),
            ctx.call("square", &n),
        ];
        let (position, value) = ctx.any(calls).await?;
        Ok(Outcome::value(&format!("{position} {value}")))
    });
    registry.durable("all_fail", |ctx, n: i64| async move {
        let calls = [ctx.call::<i64>("fails", &n), ctx.call("fails", &(n + 1))];
        match ctx.any(calls).await {
            Err(CallError::AllFailed { errors }) => {
                Ok(Outcome::value(&i64::try_from(errors.len()).unwrap()))
            }
            other => Err(FunctionError::permanent(format!("{other:?}"))),
        }
    });
    let url = serve_endpoint(registry).await;
    let scheduler = fast_scheduler(3);
    let info = run_to_end(&scheduler, &url, "race", 4).await;
    assert_eq!(status(&info), Status::Ok, "{:?}", info.outcome);
    assert_eq!(output::<String>(&info), "1 true");
    let info = run_to_end(&scheduler, &url, "any", 4).await;
    assert_eq!(status(&info), Status::Ok, "{:?}", info.outcome);
    assert_eq!(output::<String>(&info), "2 16");
    let info = run_to_end(&scheduler, &url, "all_fail", 4).await;
    assert_eq!(status(&info), Status::Ok, "{:?}", info.outcome);
    assert_eq!(output::<i64>(&info), 2);
}

#[tokio::test]
async fn a_tail_call_replaces_the_durable_function() {
    let mut registry = plain();
    registry.durable("square_of_square", |ctx, n: i64| async move {
        let square: i64 = ctx.call("square", &n).await?;
        Ok(ctx.tail_call("square", &square))
    });
    let url = serve_endpoint(registry).await;
    let info = run_to_end(&fast_scheduler(3), &url, "square_of_square", 3).await;
    assert_eq!(status(&info), Status::Ok, "{:?}", info.outcome);
    assert_eq!(output::<i64>(&info), 81);
    assert_eq!(info.function, "square");
}

#[tokio::test]
async fn a_run_whose_code_changed_is_incompatible_and_names_the_call() {
    let runs = Arc::new(AtomicU32::new(0));
    let mut registry = plain();
    registry.register("cube", |run: Run<i64>| async move {
        let n = input(run)?;
        Ok(Outcome::value(&(n * n * n)))
    });
    let counter = Arc::clone(&runs);
    registry.durable("fickle", move |ctx, n: i64| {
        // As if a deploy changed the code between the first run and the rest.
        let first = counter.fetch_add(1, Ordering::SeqCst) == 0;
        async move {
            let function = if first { "square" } else { "cube" };
            let value: i64 = ctx.call(function, &n).await?;
            Ok(Outcome::value(&value))
        }
    });
    let url = serve_endpoint(registry).await;
    let info = run_to_end(&fast_scheduler(3), &url, "fickle", 2).await;
    assert_eq!(status(&info), Status::IncompatibleState);
    let message = error_message(&info);
    assert!(
        message.contains("operation 1") && message.contains("\"square\""),
        "{message}"
    );
    assert!(message.contains("\"cube\""), "{message}");
    // INCOMPATIBLE_STATE is temporary: the scheduler retried the resume
    // until its attempts ran out (one first run, three resumes).
    assert_eq!(info.attempts, 4);
}
