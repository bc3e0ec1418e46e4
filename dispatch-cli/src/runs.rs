//! `dispatch runs list` and `dispatch runs show`: what the scheduler's store
//! holds, read straight from its SQLite file or its PostgreSQL database.
//!
//! The store is opened read-only, which is safe while schedulers run (a
//! SQLite WAL reader sees the last commit and never blocks the writer; a
//! PostgreSQL session is read-only and sees the last commit of every
//! process), and works when they are stopped too. No API key is involved:
//! the file's permissions, or the database's roles, are the access control.

use std::collections::HashMap;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use dispatch_core::status::Status;
use dispatch_scheduler::machine::RunState;
use dispatch_scheduler::{RunInfo, RunQuery, SqliteStore, Store, StoreError};
use serde_json::{Value, json};

use crate::{Failure, Outcome};

/// The most runs of one tree `runs show` reads.
const MAX_TREE: usize = 10_000;

/// `dispatch runs`.
#[derive(Subcommand, Debug)]
pub(crate) enum RunsCommand {
    /// List runs, newest first.
    List(ListArgs),
    /// Show one run: its attempts, its outcome and its tree of children.
    Show(ShowArgs),
}

/// Where the store is.
#[derive(Args, Debug)]
pub(crate) struct DbArg {
    /// The scheduler's store, as its `--db` names it: a SQLite file or a
    /// `postgres://` URL. Opened read-only.
    #[arg(
        long,
        env = "DISPATCH_SCHEDULER_DB",
        default_value = "dispatch-scheduler.db"
    )]
    db: PathBuf,
}

/// Arguments of `dispatch runs list`.
#[derive(Args, Debug)]
pub(crate) struct ListArgs {
    #[command(flatten)]
    db: DbArg,
    /// Only runs with this status: a status name (`ok`, `STATUS_OK`,
    /// `permanent_error`, ...), `done` (any outcome) or `running` (no
    /// outcome yet).
    #[arg(long)]
    status: Option<String>,
    /// Only runs of this function (after tail calls: the last one).
    #[arg(long)]
    function: Option<String>,
    /// The most runs listed.
    #[arg(long, default_value_t = 50)]
    limit: usize,
    /// Print a JSON array instead of a table.
    #[arg(long)]
    json: bool,
}

/// Arguments of `dispatch runs show`.
#[derive(Args, Debug)]
pub(crate) struct ShowArgs {
    /// The run's dispatch id.
    id: String,
    #[command(flatten)]
    db: DbArg,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// `dispatch runs ...`.
pub(crate) fn runs(command: RunsCommand) -> Outcome {
    match command {
        RunsCommand::List(args) => list(&args),
        RunsCommand::Show(args) => show(&args),
    }
}

impl DbArg {
    /// The store, opened read-only.
    fn open(&self) -> Result<Box<dyn Store>, Failure> {
        match self.db.to_str() {
            Some(url) if dispatch_scheduler::is_postgres_url(url) => {
                crate::sched::open_postgres(url, true)
            }
            _ => Ok(Box::new(
                SqliteStore::open_read_only(&self.db).map_err(|e| self.failure(&e))?,
            )),
        }
    }

    /// The store as messages name it (a URL without its password).
    fn name(&self) -> String {
        dispatch_scheduler::without_password(&self.db.to_string_lossy())
    }

    /// A store error, naming the store once.
    fn failure(&self, error: &StoreError) -> Failure {
        let name = self.name();
        let text = error.to_string();
        // A PostgreSQL store's errors name the database already.
        if text.contains(&name) {
            Failure::error(format!("--db: {text}"))
        } else {
            Failure::error(format!("--db {name}: {text}"))
        }
    }
}

/// The query `--status` asks for.
fn status_filter(text: &str) -> Result<(Option<bool>, Option<Status>), Failure> {
    match text.to_ascii_lowercase().as_str() {
        "running" => return Ok((Some(false), None)),
        "done" => return Ok((Some(true), None)),
        _ => {}
    }
    let upper = text.to_ascii_uppercase();
    let name = if upper.starts_with("STATUS_") {
        upper
    } else {
        format!("STATUS_{upper}")
    };
    match Status::from_name(&name) {
        Some(status) => Ok((Some(true), Some(status))),
        None => Err(Failure::error(format!(
            "--status {text:?}: not a status (ok, timeout, throttled, permanent_error, \
             ... as in STATUS_OK), `done` or `running`"
        ))),
    }
}

fn list(args: &ListArgs) -> Outcome {
    let (done, status) = match &args.status {
        Some(text) => status_filter(text)?,
        None => (None, None),
    };
    let query = RunQuery {
        done,
        status,
        function: args.function.clone(),
        root: None,
        limit: args.limit,
    };
    let runs = args
        .db
        .open()?
        .list(&query)
        .map_err(|e| args.db.failure(&e))?;
    if args.json {
        let array: Vec<Value> = runs.iter().map(summary_json).collect();
        println!("{}", pretty(&Value::Array(array)));
        return Ok(0);
    }
    println!(
        "{:<22}  {:<26}  {:<24}  {:>8}  {:>10}  CREATED (UTC)",
        "ID", "STATUS", "FUNCTION", "ATTEMPTS", "DURATION"
    );
    for run in &runs {
        println!(
            "{:<22}  {:<26}  {:<24}  {:>8}  {:>10}  {}",
            run.id,
            status_text(run),
            run.function,
            run.attempts,
            duration_text(run),
            utc(run.created_ms)
        );
    }
    if runs.len() == args.limit {
        eprintln!("(the first {} runs; --limit shows more)", args.limit);
    }
    Ok(0)
}

fn show(args: &ShowArgs) -> Outcome {
    let mut store = args.db.open()?;
    let failed = |e: StoreError| args.db.failure(&e);
    let Some(run) = store.get(&args.id).map_err(failed)? else {
        return Err(Failure::error(format!(
            "no run {} in {} (never dispatched, or purged after the retention)",
            args.id,
            args.db.name()
        )));
    };
    let tree = store
        .list(&RunQuery {
            root: Some(run.root.clone()),
            limit: MAX_TREE,
            ..RunQuery::default()
        })
        .map_err(failed)?;
    let truncated = tree.len() >= MAX_TREE;
    let mut children: HashMap<&str, Vec<&RunState>> = HashMap::new();
    for child in &tree {
        children
            .entry(child.parent.as_str())
            .or_default()
            .push(child);
    }
    for list in children.values_mut() {
        list.sort_by(|a, b| a.created_ms.cmp(&b.created_ms).then(a.id.cmp(&b.id)));
    }
    if args.json {
        let mut value = detail_json(&run, &children, 0);
        if let Some(map) = value.as_object_mut() {
            map.insert("treeTruncated".into(), truncated.into());
        }
        println!("{}", pretty(&value));
        return Ok(0);
    }
    print_detail(&run);
    println!("tree:");
    print_tree(&run, &children, 1);
    if truncated {
        println!("  (the first {MAX_TREE} runs of the tree)");
    }
    Ok(0)
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

/// What `runs list --json` prints of a run: the wait route's JSON, its
/// times and its duration.
fn summary_json(run: &RunState) -> Value {
    let mut value = RunInfo::from(run).to_json();
    if let Some(map) = value.as_object_mut() {
        map.insert("createdMs".into(), run.created_ms.into());
        map.insert("created".into(), utc(run.created_ms).into());
        map.insert("expiresMs".into(), run.expires_ms.into());
        if run.is_done() {
            map.insert("finishedMs".into(), run.finished_ms.into());
            map.insert(
                "durationMs".into(),
                run.finished_ms.saturating_sub(run.created_ms).into(),
            );
        } else {
            map.insert("phase".into(), phase_name(run).into());
        }
    }
    value
}

/// Depth past which `runs show` prints no more children (a tree is as deep
/// as its polls nest; this keeps the recursion bounded).
const MAX_DEPTH: usize = 64;

/// What `runs show --json` prints: the summary, every attempt kept, and
/// the children as a tree.
fn detail_json(run: &RunState, children: &HashMap<&str, Vec<&RunState>>, depth: usize) -> Value {
    let mut value = summary_json(run);
    let history: Vec<Value> = run
        .history
        .iter()
        .map(|record| {
            let status = Status::from_number(record.status).unwrap_or(Status::Unspecified);
            let mut entry = json!({
                "attempt": record.attempt,
                "function": record.function,
                "sentMs": record.sent_ms,
                "sent": utc(record.sent_ms),
                "durationMs": record.duration_ms,
                "status": status.name(),
                "next": record.next,
            });
            if !record.error.is_empty()
                && let Some(map) = entry.as_object_mut()
            {
                map.insert("error".into(), record.error.clone().into());
            }
            entry
        })
        .collect();
    let kids: Vec<Value> = if depth < MAX_DEPTH {
        children
            .get(run.id.as_str())
            .map(|list| {
                list.iter()
                    .map(|child| detail_json(child, children, depth + 1))
                    .collect()
            })
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    if let Some(map) = value.as_object_mut() {
        map.insert("history".into(), Value::Array(history));
        map.insert("children".into(), Value::Array(kids));
    }
    value
}

fn print_detail(run: &RunState) {
    println!("run {}", run.id);
    println!("  function  {}", run.function);
    println!("  endpoint  {}", run.endpoint);
    if !run.parent.is_empty() {
        println!("  parent    {}", run.parent);
    }
    if run.root != run.id {
        println!("  root      {}", run.root);
    }
    println!("  status    {}", status_text(run));
    println!("  created   {}", utc(run.created_ms));
    if run.is_done() {
        println!(
            "  finished  {} (after {})",
            utc(run.finished_ms),
            duration_text(run)
        );
    } else {
        println!("  expires   {}", utc(run.expires_ms));
    }
    if let Some(error) = run.result.as_ref().and_then(|r| r.error.as_ref()) {
        println!("  error     {}: {}", error.r#type, error.message);
    }
    let kept = run.history.len();
    let all = run.attempts as usize;
    if kept < all {
        println!("  attempts  {all} (the last {kept}):");
    } else {
        println!("  attempts  {all}:");
    }
    for record in &run.history {
        let status = Status::from_number(record.status).unwrap_or(Status::Unspecified);
        let mut line = format!(
            "    #{:<4} {}  {:<20} {:>7} ms  {:<26} -> {}",
            record.attempt,
            utc(record.sent_ms),
            record.function,
            record.duration_ms,
            status.name(),
            record.next
        );
        if !record.error.is_empty() {
            line.push_str(&format!("  ({})", record.error));
        }
        println!("{line}");
    }
}

fn print_tree(run: &RunState, children: &HashMap<&str, Vec<&RunState>>, depth: usize) {
    println!(
        "{:indent$}{}  {}  {}  ({} attempts, {})",
        "",
        run.id,
        run.function,
        status_text(run),
        run.attempts,
        duration_text(run),
        indent = depth * 2
    );
    if depth > MAX_DEPTH {
        return;
    }
    for child in children.get(run.id.as_str()).into_iter().flatten() {
        print_tree(child, children, depth + 1);
    }
}

fn phase_name(run: &RunState) -> &'static str {
    use dispatch_scheduler::machine::Phase;
    match run.phase() {
        Phase::Pending => "pending",
        Phase::InFlight => "in_flight",
        Phase::Polling => "polling",
        Phase::Done => "done",
    }
}

fn status_text(run: &RunState) -> String {
    match run.outcome_status() {
        Some(status) => status.name().to_owned(),
        None => format!("({})", phase_name(run)),
    }
}

fn duration_text(run: &RunState) -> String {
    if !run.is_done() {
        return "-".into();
    }
    let ms = run.finished_ms.saturating_sub(run.created_ms);
    if ms < 10_000 {
        format!("{ms} ms")
    } else {
        format!("{:.1} s", ms as f64 / 1000.0)
    }
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` of `ms` since the Unix epoch.
fn utc(ms: u64) -> String {
    let seconds = ms / 1000;
    let days = i64::try_from(seconds / 86_400).unwrap_or(0);
    let of_day = seconds % 86_400;
    // Days since 1970-01-01 to a civil date (the proleptic Gregorian calendar).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60,
        ms % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(utc(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(utc(1_796_342_399_999), "2026-12-03T23:59:59.999Z");
    }

    #[test]
    fn status_filters() {
        assert_eq!(status_filter("ok").unwrap(), (Some(true), Some(Status::Ok)));
        assert_eq!(
            status_filter("STATUS_PERMANENT_ERROR").unwrap(),
            (Some(true), Some(Status::PermanentError))
        );
        assert_eq!(status_filter("running").unwrap(), (Some(false), None));
        assert_eq!(status_filter("done").unwrap(), (Some(true), None));
        assert!(status_filter("nope").is_err());
    }
}
