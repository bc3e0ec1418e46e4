//! Runs shared by several scheduler processes through PostgreSQL leases,
//! with the other process played by the test on the store: a child finished
//! elsewhere reaches its parent through the store, a process that lost a
//! lease does not write the run again, and a parent lost while its poll was
//! open is left to its new owner and finished once when given back.
//!
//! Needs `DISPATCH_TEST_POSTGRES_URL` (`scripts/ci/postgres` sets it); each
//! test makes a database of its own. Without it, a SKIP line.
#![cfg(feature = "postgres")]

mod postgres_support;
#[path = "scheduler_support/mod.rs"]
mod scheduler_support;

use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use core::time::Duration;

use dispatch_core::proto::sdk::v1 as pb;
use dispatch_core::status::Status;
use dispatch_scheduler::machine::{Phase, PollWait, RunState};
use dispatch_scheduler::{Leases as _, PostgresStore, Scheduler, SchedulerConfig, Store};
use dispatch_std::endpoint::{self, Directive, FunctionError, Outcome, Poll, Registry, Run};
use postgres_support::TestDatabase;
use scheduler_support::serve_endpoint;

/// Set when `slow` got its request, and when it answered.
static SLOW_STARTED: AtomicBool = AtomicBool::new(false);
static SLOW_ANSWERED: AtomicBool = AtomicBool::new(false);
/// Set when `gated` got its request; `gated` answers once the gate is open.
static GATED_STARTED: AtomicBool = AtomicBool::new(false);
static GATE_OPEN: AtomicBool = AtomicBool::new(false);
/// How many times `fanout` was resumed.
static FANOUT_RESUMES: AtomicU32 = AtomicU32::new(0);

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
/// 1.5 s; `fanout` polls one call of `gated`, which answers 42 once
/// [`GATE_OPEN`] is set, and returns its result.
fn registry() -> Registry {
    let mut registry = Registry::new();
    registry.register("fanout", |run: Run<i64>| async move {
        match &run.directive {
            Directive::Input(_) => {
                let endpoint = run.endpoint_url.as_deref().unwrap_or_default();
                let poll = Poll::new(&String::from("waiting"))
                    .min_results(1)
                    .max_results(1)
                    .call(endpoint::call(endpoint, "gated", 0, &1i64));
                Ok(Outcome::poll(poll))
            }
            Directive::Resume(resume) => {
                FANOUT_RESUMES.fetch_add(1, Ordering::SeqCst);
                let result = resume.results().first().and_then(|r| r.output.as_ref());
                let Some(output) = result else {
                    return Err(FunctionError::permanent("resumed without the result"));
                };
                Ok(Outcome::value(&output.to_msg::<i64>().unwrap()))
            }
        }
    });
    registry.register("gated", |_run: Run<i64>| async move {
        GATED_STARTED.store(true, Ordering::SeqCst);
        while !GATE_OPEN.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(Outcome::value(&42i64))
    });
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
    take_over(&db, &id);
    // The request reached the endpoint; drain waits for its answer (1.5 s)
    // and for that answer's turn to be committed.
    wait_until_set(&SLOW_STARTED, "the request never came").await;
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

/// Waits until `flag` is set (at most 60 s; past that, fails with `never`).
async fn wait_until_set(flag: &AtomicBool, never: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !flag.load(Ordering::SeqCst) {
        assert!(tokio::time::Instant::now() < deadline, "{never}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Another owner ("x") takes run `id` for an hour, as a claim after an
/// expired lease would.
fn take_over(db: &TestDatabase, id: &str) {
    let until = i64::try_from(now_ms() + 3_600_000).unwrap();
    let taken = db.with_client(|client| {
        client
            .execute(
                "UPDATE runs SET owner = 'x', lease_until_ms = $2 WHERE id = $1",
                &[&id, &until],
            )
            .unwrap()
    });
    assert_eq!(taken, 1, "{id} is in the store");
}

/// Runs `query` (one row, one column) on `db` until it gives a value for
/// which `done` holds (at most 60 s); returns that value.
async fn wait_for<T: postgres::types::FromSqlOwned + Send + core::fmt::Debug>(
    db: &TestDatabase,
    what: &str,
    query: &str,
    id: &str,
    done: impl Fn(&T) -> bool,
) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let value: Option<T> = db.with_client(|client| {
            client
                .query_opt(query, &[&id])
                .unwrap()
                .map(|row| row.get::<_, T>(0))
        });
        if let Some(value) = value.filter(|v| done(v)) {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parent_lost_mid_poll_is_left_to_its_new_owner_and_finished_once_given_back() {
    let Some(db) = TestDatabase::new("shared_runs lost_mid_poll") else {
        return;
    };
    let endpoint = serve_endpoint(registry()).await;
    let scheduler = Scheduler::with_store(shared_config("a"), Box::new(open(&db.url))).unwrap();
    scheduler.start().unwrap();
    let call = pb::Call {
        function: "fanout".into(),
        endpoint: endpoint.clone(),
        input: Some(dispatch_core::any::pack(&0i64)),
        ..Default::default()
    };
    let parent = scheduler.dispatch(vec![call]).await.unwrap().remove(0);
    // The parent is suspended on its child, whose request is out.
    wait_until_set(&GATED_STARTED, "the child's request never came").await;
    let child_lease = "SELECT lease_until_ms FROM runs WHERE parent = $1";
    let leased: i64 = wait_for(&db, "the child in the store", child_lease, &parent, |_| {
        true
    })
    .await;

    // Another process takes the parent while its poll is open here. Two
    // renewals of the child's lease later, this process has seen the loss
    // (its renewals and their handling take turns, one at a time).
    take_over(&db, &parent);
    let renewed = wait_for(&db, "a renewal", child_lease, &parent, |l: &i64| {
        *l > leased
    })
    .await;
    wait_for(&db, "a second renewal", child_lease, &parent, |l: &i64| {
        *l > renewed
    })
    .await;

    // The child finishes here; the parent is not this process's to resume
    // (the renewal told it so; the commit of the child's outcome, fenced by
    // the leases, would too).
    GATE_OPEN.store(true, Ordering::SeqCst);
    let child_done = "SELECT done FROM runs WHERE parent = $1";
    wait_for(&db, "the child done", child_done, &parent, |done: &bool| {
        *done
    })
    .await;
    // A run dispatched after that, and done, comes after any turn in which
    // this process could have resumed the parent.
    let marker = pb::Call {
        function: "parent".into(),
        endpoint: endpoint.clone(),
        input: Some(dispatch_core::any::pack(&0i64)),
        ..Default::default()
    };
    let marker = scheduler.dispatch(vec![marker]).await.unwrap().remove(0);
    let marked = scheduler
        .wait(&marker, Some(Duration::from_secs(60)))
        .await
        .unwrap();
    assert!(
        marked.outcome.is_some(),
        "the marker run is not done after 60 s"
    );
    let parent_row = "SELECT owner || ' ' || done::text FROM runs WHERE id = $1";
    let held: String = wait_for(&db, "the parent", parent_row, &parent, |_| true).await;
    assert_eq!(held, "x false", "the parent as its new owner left it");
    assert_eq!(
        FANOUT_RESUMES.load(Ordering::SeqCst),
        0,
        "resumed by a process that lost it"
    );

    // Given back (its owner's lease ends): claimed here, it finds its
    // child's result in the store and finishes, once.
    db.with_client(|client| {
        client
            .execute(
                "UPDATE runs SET owner = '', lease_until_ms = 0 WHERE id = $1",
                &[&parent],
            )
            .unwrap()
    });
    let info = scheduler
        .wait(&parent, Some(Duration::from_secs(60)))
        .await
        .unwrap();
    let outcome = info.outcome.expect("the parent is not done after 60 s");
    assert_eq!(outcome.status, Status::Ok);
    assert_eq!(outcome.result.output.unwrap().to_msg::<i64>().unwrap(), 42);
    assert_eq!(FANOUT_RESUMES.load(Ordering::SeqCst), 1, "one resume");
    drop(scheduler);
}
