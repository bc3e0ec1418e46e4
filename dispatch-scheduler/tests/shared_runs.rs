//! Runs shared by several scheduler processes through PostgreSQL leases,
//! with the other process played by the test on the store: a child finished
//! elsewhere reaches its parent through the store, and a process that lost
//! a lease does not write the run again.
//!
//! Needs `DISPATCH_TEST_POSTGRES_URL` (`scripts/ci/postgres` sets it); each
//! test makes a database of its own. Without it, a SKIP line.
#![cfg(feature = "postgres")]

mod postgres_support;
#[path = "scheduler_support/mod.rs"]
mod scheduler_support;

use core::sync::atomic::{AtomicBool, Ordering};
use core::time::Duration;

use dispatch_core::proto::sdk::v1 as pb;
use dispatch_core::status::Status;
use dispatch_scheduler::machine::{Phase, PollWait, RunState};
use dispatch_scheduler::{Leases as _, PostgresStore, Scheduler, SchedulerConfig, Store};
use dispatch_std::endpoint::{Directive, FunctionError, Outcome, Registry, Run};
use postgres_support::TestDatabase;
use scheduler_support::serve_endpoint;

/// Set when `slow` got its request, and when it answered.
static SLOW_STARTED: AtomicBool = AtomicBool::new(false);
static SLOW_ANSWERED: AtomicBool = AtomicBool::new(false);

fn now_ms() -> u64 {
    u64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

/// `parent` resumes with the sum of its results; `slow` answers 42 after
/// 1.5 s.
fn registry() -> Registry {
    let mut registry = Registry::new();
    registry.register("parent", |run: Run<i64>| async move {
        match &run.directive {
            Directive::Input(_) => Err(FunctionError::permanent("parent starts suspended")),
            Directive::Resume(resume) => {
                let mut sum = 0i64;
                for result in resume.results() {
                    sum += result.output.as_ref().unwrap().to_msg::<i64>().unwrap();
                }
                Ok(Outcome::value(&sum))
            }
        }
    });
    registry.register("slow", |_run: Run<i64>| async move {
        SLOW_STARTED.store(true, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        SLOW_ANSWERED.store(true, Ordering::SeqCst);
        Ok(Outcome::value(&42i64))
    });
    registry
}

fn shared_config(owner: &str) -> SchedulerConfig {
    SchedulerConfig::new()
        .owner(Some(owner.into()))
        .lease(Duration::from_secs(1))
        .claim_interval(Duration::from_millis(50))
}

fn open(url: &str) -> PostgresStore {
    let url = url.to_owned();
    std::thread::spawn(move || PostgresStore::open(&url).unwrap())
        .join()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_finished_by_another_process_reaches_its_parent_through_the_store() {
    let Some(db) = TestDatabase::new("shared_runs child") else {
        return;
    };
    let url = db.url.clone();
    let endpoint = serve_endpoint(registry()).await;
    let now = now_ms();
    // Process "a" suspended p1 on child c1, finished c1, and died; its
    // lease on p1 has ended.
    let parent = RunState {
        id: "p1".into(),
        root: "p1".into(),
        function: "parent".into(),
        endpoint: endpoint.clone(),
        created_ms: now,
        expires_ms: now + 3_600_000,
        phase: Phase::Polling as i32,
        wake_ms: now + 3_600_000,
        poll: Some(PollWait {
            resume: Some(pb::PollResult {
                state: Some(pb::poll_result::State::TypedCoroutineState(
                    dispatch_core::any::pack(&String::from("s")),
                )),
                ..Default::default()
            }),
            min_results: 1,
            max_results: 10,
        }),
        outstanding: 1,
        children: vec!["c1".into()],
        ..Default::default()
    };
    let child = RunState {
        id: "c1".into(),
        parent: "p1".into(),
        root: "p1".into(),
        function: "double".into(),
        endpoint: endpoint.clone(),
        created_ms: now,
        expires_ms: now + 3_600_000,
        phase: Phase::Done as i32,
        status: Status::Ok.number(),
        result: Some(pb::CallResult {
            dispatch_id: "c1".into(),
            output: Some(dispatch_core::any::pack(&42i64)),
            ..Default::default()
        }),
        finished_ms: now,
        ..Default::default()
    };
    let mut store = open(&url);
    let lost = std::thread::scope(|s| {
        s.spawn(|| store.commit_as("a", now, 0, &[parent, child]).unwrap())
            .join()
            .unwrap()
    });
    assert!(lost.is_empty());

    let scheduler = Scheduler::with_store(shared_config("b"), Box::new(open(&url))).unwrap();
    scheduler.start().unwrap();
    let info = scheduler
        .wait("p1", Some(Duration::from_secs(60)))
        .await
        .unwrap();
    let outcome = info.outcome.expect("p1 is not done after 60 s");
    assert_eq!(outcome.status, Status::Ok);
    let sum: i64 = outcome.result.output.unwrap().to_msg().unwrap();
    assert_eq!(sum, 42, "the child's result, once");
    assert_eq!(info.attempts, 1, "one resume");
    drop(scheduler);
    drop(store);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_that_lost_a_lease_does_not_write_the_run_again() {
    let Some(db) = TestDatabase::new("shared_runs fence") else {
        return;
    };
    let url = db.url.clone();
    let endpoint = serve_endpoint(registry()).await;
    let scheduler = Scheduler::with_store(shared_config("b"), Box::new(open(&url))).unwrap();
    let call = pb::Call {
        function: "slow".into(),
        endpoint: endpoint.clone(),
        input: Some(dispatch_core::any::pack(&1i64)),
        ..Default::default()
    };
    let id = scheduler.dispatch(vec![call]).await.unwrap().remove(0);
    // While its Run request is out, another owner takes the run over (as a
    // claim after an expired lease would).
    let admin_db = url.clone();
    let taken = id.clone();
    tokio::task::spawn_blocking(move || {
        let mut client = postgres::Client::connect(&admin_db, postgres::NoTls).unwrap();
        let n = client
            .execute(
                "UPDATE runs SET owner = 'x', lease_until_ms = $2 WHERE id = $1",
                &[&taken, &i64::try_from(now_ms() + 3_600_000).unwrap()],
            )
            .unwrap();
        assert_eq!(n, 1);
    })
    .await
    .unwrap();
    // The request reached the endpoint; drain waits for its answer (1.5 s)
    // and for that answer's turn to be committed.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !SLOW_STARTED.load(Ordering::SeqCst) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the request never came"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    scheduler.drain().await;
    assert!(SLOW_ANSWERED.load(Ordering::SeqCst));
    let mut store = open(&url);
    let run = std::thread::scope(|s| s.spawn(|| store.get(&id).unwrap()).join().unwrap()).unwrap();
    assert!(
        !run.is_done(),
        "the process that lost the lease wrote the outcome"
    );
    assert_eq!(run.attempts, 1);
    let owner = owner_of(&db, &id);
    assert_eq!(owner, "x");
    drop(scheduler);
    drop(store);
}

/// The owner of run `id` in `db`.
fn owner_of(db: &TestDatabase, id: &str) -> String {
    db.with_client(|client| {
        client
            .query_one("SELECT owner FROM runs WHERE id = $1", &[&id])
            .unwrap()
            .get::<_, String>(0)
    })
}
