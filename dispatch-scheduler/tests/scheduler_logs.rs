//! Every attempt is one log line with the function, the dispatch id, the
//! attempt number, the status and the duration.

mod scheduler_support;

use core::sync::atomic::{AtomicU32, Ordering};
use std::io::Write;
use std::sync::{Arc, Mutex};

use dispatch_std::endpoint::{self, FunctionError, Outcome, Registry, Run};
use scheduler_support::{fast_scheduler, serve_endpoint};

/// A log sink the test can read back.
#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn each_attempt_is_one_line() {
    let sink = Sink::default();
    let writer = sink.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_env_filter("dispatch::scheduler=info")
        .finish();
    // A current-thread runtime: every task logs through this thread's subscriber.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let id = tracing::subscriber::with_default(subscriber, || {
        runtime.block_on(async {
            let tries = Arc::new(AtomicU32::new(0));
            let mut registry = Registry::new();
            registry.register("flaky_once", move |_run: Run<i64>| {
                let tries = Arc::clone(&tries);
                async move {
                    if tries.fetch_add(1, Ordering::SeqCst) == 0 {
                        Err(FunctionError::temporary("first try fails"))
                    } else {
                        Ok(Outcome::value(&1i64))
                    }
                }
            });
            let url = serve_endpoint(registry).await;
            let scheduler = fast_scheduler(3);
            let ids = scheduler
                .dispatch(vec![endpoint::call(&url, "flaky_once", 0, &0i64)])
                .await
                .unwrap();
            scheduler.wait(&ids[0], None).await.unwrap();
            ids[0].clone()
        })
    });
    let logs = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
    let attempts: Vec<&str> = logs
        .lines()
        .filter(|line| line.contains(" attempt ") && line.contains(&id))
        .collect();
    assert_eq!(attempts.len(), 2, "{logs}");
    for (line, (number, status)) in attempts
        .iter()
        .zip([(1, "STATUS_TEMPORARY_ERROR"), (2, "STATUS_OK")])
    {
        assert!(line.contains(r#"function="flaky_once""#), "{line}");
        assert!(line.contains(&format!(r#"dispatch_id="{id}""#)), "{line}");
        assert!(line.contains(&format!("attempt={number} ")), "{line}");
        assert!(line.contains(&format!("status={status} ")), "{line}");
        assert!(line.contains("duration_ms="), "{line}");
    }
}
