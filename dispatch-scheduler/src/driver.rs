//! The driver: a thin loop around the [`Machine`] that moves bytes and time.
//!
//! One task owns the machine. Each turn it takes every input waiting (calls
//! to dispatch, answers of Run requests; up to [`MAX_BATCH`]), fires the
//! timers that are due, commits the batch of changes to the store in one
//! transaction (group commit), and only then carries out what the batch
//! decided: Dispatch callers get their ids, Run requests are sent (each in a
//! task of its own), waiters learn of outcomes.
//!
//! With a store that has [`Leases`] (PostgreSQL, shared by several
//! processes) the machine holds only the runs this process leases. Each
//! turn begins, when due, by renewing the leases (every third of
//! [`SchedulerConfig::lease`](crate::SchedulerConfig::lease); the runs it
//! lost are forgotten) and, every
//! [`claim_interval`](crate::SchedulerConfig::claim_interval), by claiming
//! runs nobody holds (at most [`MAX_CLAIM`] a time) and looking up the
//! children its parents await that it does not hold ([`MAX_AWAITED`] at
//! most). Every commit is fenced ([`Leases::commit_as`]): what it could not
//! write is forgotten, and its effects dropped. A child's result goes to
//! its parent only once the child's outcome is committed.

use core::time::Duration;
use std::sync::{Arc, Mutex, PoisonError};

use dispatch_core::proto::sdk::v1 as pb;
use tokio::sync::{mpsc, oneshot};

use crate::Inner;
use crate::attempt::{self, AttemptConfig};
use crate::machine::{self, Action, Machine, RunState, SendRun};
use crate::store::{Leases, Store, StoreError};

/// The most inputs one turn takes before it commits.
const MAX_BATCH: usize = 4096;

/// How often finished runs past the retention are purged.
const PURGE_EVERY: Duration = Duration::from_secs(60);

/// With shared runs: the most runs one claim takes (the rest are claimed
/// at the next interval, or by another process).
pub(crate) const MAX_CLAIM: usize = 1000;

/// With shared runs: the most awaited children one scan looks up.
pub(crate) const MAX_AWAITED: usize = 10_000;

/// What the driver's loop is told.
pub(crate) enum Input {
    /// Start these (validated) calls; answer with their ids once durable.
    Dispatch(Vec<pb::Call>, oneshot::Sender<Result<Vec<String>, String>>),
    /// Answer once everything sent before is committed.
    Flush(oneshot::Sender<()>),
    /// What a Run request came to.
    Answer {
        run: String,
        attempt: u32,
        answer: Box<Result<pb::RunResponse, machine::Failure>>,
        elapsed: Duration,
    },
}

/// The store shared by the driver and the wait route.
pub(crate) type SharedStore = Arc<Mutex<Box<dyn Store>>>;

/// Runs `f` on the store (in a blocking thread: a store may fsync).
pub(crate) async fn with_store<T: Send + 'static>(
    store: &SharedStore,
    f: impl FnOnce(&mut dyn Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    let store = Arc::clone(store);
    tokio::task::spawn_blocking(move || {
        let mut guard = store.lock().unwrap_or_else(PoisonError::into_inner);
        f(guard.as_mut())
    })
    .await
    .map_err(|e| StoreError::Io(format!("the store's thread failed: {e}")))?
}

/// The current time in ms since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

/// The driver's loop: runs until every sender of `inputs` is gone, or the
/// store fails (then it stops: what was committed is resumed at the next
/// start; nothing uncommitted was shown to anyone).
pub(crate) async fn run(
    inner: Arc<Inner>,
    mut machine: Machine,
    mut inputs: mpsc::UnboundedReceiver<Input>,
    sender: mpsc::UnboundedSender<Input>,
) {
    let mut last_purge = now_ms();
    let mut shared = inner.owner.clone().map(|owner| Shared {
        owner,
        lease_ms: millis(inner.config.lease),
        renew_every: millis(inner.config.lease) / 3,
        claim_every: millis(inner.config.claim_interval),
        last_renew: now_ms(),
        last_claim: now_ms(),
    });
    loop {
        let mut batch = Vec::new();
        let mut timeout = machine.poll_timeout();
        if let Some(shared) = &shared {
            let due = shared.next_due();
            timeout = Some(timeout.map_or(due, |at| at.min(due)));
        }
        if machine.has_changes() {
            // Results delivered after the last commit: commit them now.
            timeout = Some(0);
        }
        let first = match timeout {
            Some(at) => {
                let wait = Duration::from_millis(at.saturating_sub(now_ms()));
                tokio::select! {
                    input = inputs.recv() => match input {
                        Some(input) => Some(input),
                        None => return,
                    },
                    () = tokio::time::sleep(wait) => None,
                }
            }
            None => match inputs.recv().await {
                Some(input) => Some(input),
                None => return,
            },
        };
        batch.extend(first);
        while batch.len() < MAX_BATCH {
            match inputs.try_recv() {
                Ok(input) => batch.push(input),
                Err(_) => break,
            }
        }

        let now = now_ms();
        if let Some(shared) = &mut shared {
            shared.turn(&inner, &mut machine, now).await;
        }
        let mut acks = Vec::new();
        let mut flushes = Vec::new();
        for input in batch {
            match input {
                Input::Flush(ack) => flushes.push(ack),
                Input::Dispatch(calls, ack) => acks.push((ack, machine.dispatch(now, calls))),
                Input::Answer {
                    run,
                    attempt,
                    answer,
                    elapsed,
                } => {
                    if let Some(attempted) = machine.handle_answer(now, &run, attempt, *answer) {
                        log_attempt(&run, &attempted, elapsed);
                    }
                }
            }
        }
        machine.handle_timeout(now);

        let changes = machine.take_changes();
        let finished = changes.iter().any(RunState::is_done);
        let committed = match &shared {
            _ if changes.is_empty() => Ok(Vec::new()),
            None => with_store(&inner.store, move |s| s.commit(&changes))
                .await
                .map(|()| Vec::new()),
            Some(shared) => {
                let owner = shared.owner.clone();
                let lease_ms = shared.lease_ms;
                with_store(&inner.store, move |s| match s.leases() {
                    Some(leases) => leases.commit_as(&owner, now, lease_ms, &changes),
                    None => s.commit(&changes).map(|()| Vec::new()),
                })
                .await
            }
        };
        let lost = match committed {
            Ok(lost) => lost,
            Err(error) => {
                tracing::error!(
                    target: "dispatch::scheduler",
                    %error,
                    "the store failed: the scheduler stops driving runs (restart it to resume them)"
                );
                for (ack, _) in acks {
                    let _ = ack.send(Err(error.to_string()));
                }
                inner.stopped.send_replace(true);
                return;
            }
        };
        if !lost.is_empty() {
            tracing::warn!(
                target: "dispatch::scheduler",
                lost = lost.len(),
                "runs taken over by another process: this one stops driving them"
            );
            for id in &lost {
                machine.forget(now, id);
            }
        }
        let lost: std::collections::HashSet<String> = lost.into_iter().collect();
        let mut delivered = Vec::new();
        for (ack, ids) in acks {
            let _ = ack.send(Ok(ids));
        }
        for ack in flushes {
            let _ = ack.send(());
        }
        while let Some(action) = machine.poll_action() {
            match action {
                Action::Send(send) => spawn_attempt(&inner, &sender, send),
                // Not written: another process holds the run.
                Action::Finished { run, .. } if lost.contains(&run) => {}
                Action::Finished {
                    run,
                    parent,
                    status,
                    result,
                } => {
                    tracing::info!(
                        target: "dispatch::scheduler",
                        dispatch_id = %run,
                        status = %status,
                        "run done"
                    );
                    if shared.is_some() && !parent.is_empty() {
                        delivered.push((parent, run, result));
                    }
                }
            }
        }
        // The children's outcomes are durable: their parents (those held
        // here) take the results, committed at the next turn.
        for (parent, child, result) in delivered {
            machine.deliver(now, &parent, &child, result);
        }
        if finished {
            inner.finished.send_modify(|n| *n = n.wrapping_add(1));
        }

        if now.saturating_sub(last_purge) >= millis(PURGE_EVERY) {
            last_purge = now;
            let before = now.saturating_sub(millis(inner.config.retain));
            match with_store(&inner.store, move |s| s.purge(before)).await {
                Ok(0) => {}
                Ok(purged) => tracing::info!(
                    target: "dispatch::scheduler",
                    purged,
                    "finished runs past the retention purged"
                ),
                Err(error) => {
                    tracing::warn!(target: "dispatch::scheduler", %error, "purge failed");
                }
            }
        }
    }
}

/// What the driver keeps of the leases when the runs are shared.
struct Shared {
    owner: String,
    lease_ms: u64,
    renew_every: u64,
    claim_every: u64,
    last_renew: u64,
    last_claim: u64,
}

impl Shared {
    /// When the next renewal or claim is due.
    fn next_due(&self) -> u64 {
        self.last_renew
            .saturating_add(self.renew_every)
            .min(self.last_claim.saturating_add(self.claim_every))
    }

    /// At the start of a turn (every run in the machine is committed):
    /// renews the leases, and claims runs and finished children, when due.
    /// A failure is logged and tried again at the next interval (the leases
    /// fence every write meanwhile).
    async fn turn(&mut self, inner: &Arc<Inner>, machine: &mut Machine, now: u64) {
        if now >= self.last_renew.saturating_add(self.renew_every) {
            self.last_renew = now;
            let (owner, lease_ms) = (self.owner.clone(), self.lease_ms);
            match with_leases(inner, move |l| l.renew(&owner, now, lease_ms)).await {
                Ok(held) => {
                    let held: std::collections::HashSet<String> = held.into_iter().collect();
                    let lost: Vec<String> = machine
                        .run_ids()
                        .into_iter()
                        .filter(|id| !held.contains(id))
                        .collect();
                    if !lost.is_empty() {
                        tracing::warn!(
                            target: "dispatch::scheduler",
                            lost = lost.len(),
                            "leases lost to another process: this one stops driving those runs"
                        );
                    }
                    for id in lost {
                        machine.forget(now, &id);
                    }
                }
                Err(error) => {
                    tracing::warn!(target: "dispatch::scheduler", %error, "renewing the leases failed");
                }
            }
        }
        if now < self.last_claim.saturating_add(self.claim_every) {
            return;
        }
        self.last_claim = now;
        if !inner.draining.load(core::sync::atomic::Ordering::SeqCst) {
            let (owner, lease_ms) = (self.owner.clone(), self.lease_ms);
            match with_leases(inner, move |l| l.claim(&owner, now, lease_ms, MAX_CLAIM)).await {
                Ok(claimed) => {
                    let claimed: Vec<RunState> = claimed
                        .into_iter()
                        .filter(|run| machine.run(&run.id).is_none())
                        .collect();
                    if !claimed.is_empty() {
                        tracing::info!(
                            target: "dispatch::scheduler",
                            resumed = claimed.len(),
                            "unfinished runs resumed from the store (claimed)"
                        );
                        machine.restore(now, claimed);
                    }
                }
                Err(error) => {
                    tracing::warn!(target: "dispatch::scheduler", %error, "claiming runs failed");
                }
            }
        }
        let mut awaited = machine.awaited_elsewhere();
        awaited.truncate(MAX_AWAITED);
        if awaited.is_empty() {
            return;
        }
        let ids: Vec<String> = awaited.iter().map(|(_, child)| child.clone()).collect();
        match with_leases(inner, move |l| l.finished_among(&ids)).await {
            Ok(children) => {
                let mut taken = 0usize;
                for child in children {
                    let result = child.result.unwrap_or_default();
                    taken += usize::from(machine.deliver(now, &child.parent, &child.id, result));
                }
                if taken > 0 {
                    tracing::info!(
                        target: "dispatch::scheduler",
                        taken,
                        "children's results recorded by other processes taken from the store"
                    );
                }
            }
            Err(error) => {
                tracing::warn!(target: "dispatch::scheduler", %error, "reading finished children failed");
            }
        }
    }
}

/// Runs `f` on the store's leases (an error if it has none).
async fn with_leases<T: Send + 'static>(
    inner: &Arc<Inner>,
    f: impl FnOnce(&mut dyn Leases) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    with_store(&inner.store, move |s| match s.leases() {
        Some(leases) => f(leases),
        None => Err(StoreError::Io("the store has no leases".into())),
    })
    .await
}

pub(crate) fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Sends one Run request in a task of its own; its answer comes back as
/// an [`Input::Answer`].
fn spawn_attempt(inner: &Arc<Inner>, sender: &mpsc::UnboundedSender<Input>, send: SendRun) {
    let inner = Arc::clone(inner);
    let sender = sender.clone();
    tokio::spawn(async move {
        let url = attempt::run_url(&send.endpoint);
        // The machine sends no more than the limits allow, so this permit
        // waits at most for a task that answered to end; a shutdown counts
        // on it.
        let Ok(_permit) = inner.in_flight.acquire().await else {
            return;
        };
        if inner.draining.load(core::sync::atomic::Ordering::SeqCst) {
            // Shutting down: the run stays in flight in the store and is
            // sent again at the next start.
            return;
        }
        let started = tokio::time::Instant::now();
        let answer = match url {
            // The policy judges an IP literal here; a name, in the resolver.
            Ok(url) => match inner.endpoints.client_for(&url) {
                Ok(http) => {
                    let config = AttemptConfig {
                        http,
                        signing_key: inner.config.signing_key.as_ref(),
                        timeout: send.timeout.max(Duration::from_millis(1)),
                        body_limit: inner.config.body_limit,
                    };
                    attempt::attempt(&config, &url, &send.request).await
                }
                Err(refusal) => Err(attempt::refused(&url, &refusal)),
            },
            Err(failure) => Err(failure),
        };
        let answer = answer.map_err(|failure| machine::Failure {
            status: failure.status,
            message: failure.message,
            retry_after: failure.retry_after,
            http_status: failure.http_status,
        });
        let _ = sender.send(Input::Answer {
            run: send.run,
            attempt: send.attempt,
            answer: Box::new(answer),
            elapsed: started.elapsed(),
        });
    });
}

/// One log line per attempt: function, dispatch id, attempt, status, duration.
fn log_attempt(id: &str, attempted: &machine::Attempted, elapsed: Duration) {
    let duration_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
    let function = attempted.function.as_str();
    let attempt = attempted.attempt;
    let next = attempted.next;
    let status = attempted.status;
    match &attempted.error {
        Some(error) => tracing::info!(
            target: "dispatch::scheduler",
            function,
            dispatch_id = id,
            attempt,
            status = %status,
            duration_ms,
            next,
            error = %error,
            "attempt"
        ),
        None => tracing::info!(
            target: "dispatch::scheduler",
            function,
            dispatch_id = id,
            attempt,
            status = %status,
            duration_ms,
            next,
            "attempt"
        ),
    }
}
