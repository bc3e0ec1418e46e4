//! `dispatch runs list` and `dispatch runs show` as processes, against the
//! store of a scheduler that ran a workload: a return, a permanent failure,
//! a retried call and a poll with children. The store is read while the
//! scheduler still has it open: a SQLite file (WAL), and a PostgreSQL
//! database when `DISPATCH_TEST_POSTGRES_URL` names a server
//! (`scripts/ci/postgres`).

#[path = "../../dispatch-scheduler/tests/postgres_support/mod.rs"]
mod postgres_support;
#[path = "../../dispatch-scheduler/tests/scheduler_support/mod.rs"]
mod scheduler_support;

use core::sync::atomic::{AtomicU32, Ordering};
use core::time::Duration;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;

use dispatch_scheduler::{Scheduler, SqliteStore, Store};
use dispatch_std::endpoint::{self, Directive, FunctionError, Outcome, Poll, Registry, Run};
use scheduler_support::{fast_config, serve_endpoint};
use serde_json::Value;
use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_dispatch");

/// Runs `dispatch` with `args`, at most 60 s; returns (exit code, stdout, stderr).
async fn dispatch(args: &[&str]) -> (Option<i32>, String, String) {
    let child = Command::new(BIN)
        .args(args)
        .env_remove("DISPATCH_SCHEDULER_DB")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("dispatch did not finish within 60 s")
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

async fn json(args: &[&str]) -> Value {
    let (code, stdout, stderr) = dispatch(args).await;
    assert_eq!(code, Some(0), "{args:?}: {stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {stdout}"))
}

fn registry() -> Registry {
    let mut registry = Registry::new();
    registry.register("double", |run: Run<i64>| async move {
        match run.directive {
            Directive::Input(n) => Ok(Outcome::value(&(2 * n))),
            Directive::Resume(_) => Err(FunctionError::permanent("double never polls")),
        }
    });
    registry.register("refuse", |_run: Run<i64>| async move {
        Err::<Outcome, _>(FunctionError::permanent("no, thanks"))
    });
    let tries = Arc::new(AtomicU32::new(0));
    registry.register("flaky", move |_run: Run<i64>| {
        let tries = Arc::clone(&tries);
        async move {
            if tries.fetch_add(1, Ordering::SeqCst) == 0 {
                Err(FunctionError::temporary("not yet"))
            } else {
                Ok(Outcome::value(&7i64))
            }
        }
    });
    registry.register("fanout", |run: Run<i64>| async move {
        let endpoint = run.endpoint_url.as_deref().unwrap_or_default().to_owned();
        match run.directive {
            Directive::Input(n) => {
                let mut poll = Poll::new(&0u64).min_results(2).max_results(2);
                for k in 1..=n {
                    poll = poll.call(endpoint::call(&endpoint, "double", k as u64, &k));
                }
                Ok(Outcome::poll(poll))
            }
            Directive::Resume(resume) => {
                let sum: i64 = resume
                    .results()
                    .iter()
                    .map(|r| r.output.as_ref().unwrap().to_msg::<i64>().unwrap())
                    .sum();
                Ok(Outcome::value(&sum))
            }
        }
    });
    registry
}

fn db_arg(path: &Path) -> String {
    path.display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_list_and_show_read_the_store() {
    let dir = std::env::temp_dir().join(format!("dispatch-cli-runs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("runs.db");
    let db = db_arg(&path);
    runs_test(Box::new(SqliteStore::open(&path).unwrap()), &db).await;

    let missing = db_arg(&dir.join("missing.db"));
    let (code, _, stderr) = dispatch(&["runs", "list", "--db", &missing]).await;
    assert_eq!(code, Some(1));
    assert!(stderr.contains("no such file"), "{stderr}");
    assert!(
        !dir.join("missing.db").exists(),
        "a read never creates a store"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The same on PostgreSQL, through a URL with a password (the test server
/// trusts loopback, so any password does): no message shows it. A database
/// the scheduler never opened is refused and left as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_list_and_show_read_a_postgres_store() {
    let Some(database) = postgres_support::TestDatabase::new("cli_runs postgres") else {
        return;
    };
    // The test server's URL names a user without a password: give it one.
    let (user, host) = database
        .url
        .split_once('@')
        .expect("DISPATCH_TEST_POSTGRES_URL names a user");
    let empty = format!("{user}:s3cret@{host}");
    let (code, _, stderr) = dispatch(&["runs", "list", "--db", &empty]).await;
    assert_eq!(code, Some(1));
    assert!(stderr.contains("no runs table yet"), "{stderr}");
    assert!(
        stderr.contains("dispatch:***@") && !stderr.contains("s3cret"),
        "{stderr}"
    );
    let tables: i64 = database.with_client(|client| {
        client
            .query_one(
                "SELECT COUNT(*) FROM pg_tables WHERE schemaname = 'public'",
                &[],
            )
            .unwrap()
            .get(0)
    });
    assert_eq!(tables, 0, "a read never creates a store");

    let store = open_postgres(&database.url);
    runs_test(store, &empty).await;
    let (code, _, stderr) = dispatch(&["runs", "show", "nope", "--db", &empty]).await;
    assert_eq!(code, Some(1));
    assert!(!stderr.contains("s3cret"), "{stderr}");
}

#[cfg(feature = "postgres")]
fn open_postgres(url: &str) -> Box<dyn Store> {
    let url = url.to_owned();
    // Off the runtime: the client blocks on one of its own.
    std::thread::spawn(move || Box::new(dispatch_scheduler::PostgresStore::open(&url).unwrap()))
        .join()
        .unwrap()
}

#[cfg(not(feature = "postgres"))]
fn open_postgres(_url: &str) -> Box<dyn Store> {
    unreachable!("the test returns first without the feature")
}

/// Runs the workload on a scheduler over `store`, then reads it with
/// `dispatch runs --db db` while the scheduler still has it open.
async fn runs_test(store: Box<dyn Store>, db: &str) {
    let db = db.to_owned();
    let url = serve_endpoint(registry()).await;
    let scheduler = Scheduler::with_store(fast_config(5), store).unwrap();
    let mut ids = Vec::new();
    for (function, input) in [
        ("double", 21i64),
        ("refuse", 0),
        ("flaky", 0),
        ("fanout", 2),
    ] {
        let call = endpoint::call(&url, function, 0, &input);
        let id = scheduler.dispatch(vec![call]).await.unwrap().remove(0);
        let info = scheduler.wait(&id, None).await.unwrap();
        assert!(info.outcome.is_some());
        ids.push(id);
    }
    let [double, refuse, flaky, fanout] = [&ids[0], &ids[1], &ids[2], &ids[3]];

    // While the scheduler has the file open.
    let all = json(&["runs", "list", "--db", &db, "--json"]).await;
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), 6, "four roots and two children: {all:#?}");
    let roots: Vec<&str> = all
        .iter()
        .filter(|run| run["parentDispatchId"] == "")
        .map(|run| run["dispatchId"].as_str().unwrap())
        .collect();
    assert_eq!(
        roots,
        [fanout, flaky, refuse, double].map(String::as_str),
        "newest first"
    );
    assert!(all.iter().all(|run| run["done"] == true));

    let ok = json(&["runs", "list", "--db", &db, "--status", "ok", "--json"]).await;
    let ok_ids: Vec<&str> = ok
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["dispatchId"].as_str().unwrap())
        .collect();
    assert_eq!(ok_ids.len(), 5, "{ok_ids:?}");
    assert!(!ok_ids.contains(&refuse.as_str()));

    let failed = json(&[
        "runs",
        "list",
        "--db",
        &db,
        "--status",
        "STATUS_PERMANENT_ERROR",
        "--json",
    ])
    .await;
    assert_eq!(failed.as_array().unwrap().len(), 1);
    assert_eq!(failed[0]["dispatchId"], refuse.as_str());
    assert_eq!(failed[0]["status"], "STATUS_PERMANENT_ERROR");
    assert!(
        failed[0]["result"]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no, thanks")
    );

    let doubles = json(&[
        "runs",
        "list",
        "--db",
        &db,
        "--function",
        "double",
        "--json",
    ])
    .await;
    assert_eq!(
        doubles.as_array().unwrap().len(),
        3,
        "the root and two children"
    );
    let limited = json(&["runs", "list", "--db", &db, "--limit", "2", "--json"]).await;
    assert_eq!(limited.as_array().unwrap().len(), 2);
    let running = json(&["runs", "list", "--db", &db, "--status", "running", "--json"]).await;
    assert_eq!(running.as_array().unwrap().len(), 0);

    let shown = json(&["runs", "show", flaky, "--db", &db, "--json"]).await;
    assert_eq!(shown["status"], "STATUS_OK");
    assert_eq!(shown["attempts"], 2);
    let history = shown["history"].as_array().unwrap();
    assert_eq!(history.len(), 2, "{history:#?}");
    assert_eq!(history[0]["status"], "STATUS_TEMPORARY_ERROR");
    assert_eq!(history[0]["next"], "retry");
    assert!(history[0]["error"].as_str().unwrap().contains("not yet"));
    assert_eq!(history[1]["status"], "STATUS_OK");
    assert_eq!(history[1]["next"], "exit");
    assert_eq!(history[1]["attempt"], 2);
    assert!(history[1]["durationMs"].is_u64());
    assert!(shown["durationMs"].is_u64());

    let tree = json(&["runs", "show", fanout, "--db", &db, "--json"]).await;
    assert_eq!(tree["status"], "STATUS_OK");
    assert_eq!(tree["result"]["output"]["value"], "6");
    let steps: Vec<&str> = tree["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["next"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["poll", "exit"]);
    let children = tree["children"].as_array().unwrap();
    assert_eq!(children.len(), 2);
    for child in children {
        assert_eq!(child["function"], "double");
        assert_eq!(child["parentDispatchId"], fanout.as_str());
        assert_eq!(child["rootDispatchId"], fanout.as_str());
        assert_eq!(child["status"], "STATUS_OK");
        assert_eq!(child["children"].as_array().unwrap().len(), 0);
    }
    let child_id = children[0]["dispatchId"].as_str().unwrap().to_owned();
    let child = json(&["runs", "show", &child_id, "--db", &db, "--json"]).await;
    assert_eq!(child["parentDispatchId"], fanout.as_str());

    // The text forms name what matters.
    let (code, table, stderr) = dispatch(&["runs", "list", "--db", &db]).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(table.starts_with("ID "), "{table}");
    assert!(table.contains(double.as_str()) && table.contains("STATUS_PERMANENT_ERROR"));
    let (code, text, stderr) = dispatch(&["runs", "show", fanout, "--db", &db]).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(text.contains("attempts  2:"), "{text}");
    assert!(text.contains(&child_id), "{text}");

    // Mistakes are named.
    let (code, _, stderr) = dispatch(&["runs", "show", "nope", "--db", &db]).await;
    assert_eq!(code, Some(1));
    assert!(stderr.contains("no run nope"), "{stderr}");
    let (code, _, stderr) = dispatch(&["runs", "list", "--db", &db, "--status", "meh"]).await;
    assert_eq!(code, Some(1));
    assert!(stderr.contains("--status \"meh\""), "{stderr}");
    drop(scheduler);
}
