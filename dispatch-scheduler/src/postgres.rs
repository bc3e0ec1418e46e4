//! The PostgreSQL store (feature `postgres`).

use core::fmt;
use core::time::Duration;
use std::collections::HashMap;

use postgres::{Client, NoTls};
use prost::Message as _;

use crate::machine::RunState;
use crate::migrations;
use crate::store::{RunQuery, Store, StoreError};

/// Rows written by one statement of a commit (a larger batch takes several
/// statements, still in one transaction).
const ROWS_PER_STATEMENT: usize = 1000;

/// How long connecting may take unless the URL says (`connect_timeout`,
/// in seconds).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The advisory lock that serializes migrations between processes
/// (`pg_advisory_xact_lock`; any constant unlikely to clash).
const MIGRATION_LOCK: i64 = 0x6469_7370_6174_6368; // "dispatch"

/// The PostgreSQL store (feature `postgres`): runs in one database, for a
/// scheduler that should not keep its state on its own machine.
///
/// The table and the schema's versions are those of the SQLite store (the
/// steps are shared; only column types differ). Each
/// [`Store::commit`] is one transaction; with the server's defaults
/// (`fsync = on`, `synchronous_commit = on`) a committed batch survives a
/// crash of the scheduler and of the server. Opening applies the migrations
/// the database lacks under an advisory lock (several processes may open the
/// same database at once) and refuses a database of a newer schema.
///
/// Several scheduler processes may share one database: the store has
/// [`Leases`](crate::Leases), which the driver uses to split the runs.
///
/// The connection is plain TCP or a Unix socket, without TLS: meant for a
/// server on loopback or a private network.
///
/// ```no_run
/// use dispatch_scheduler::{PostgresStore, Scheduler, SchedulerConfig};
///
/// let store = PostgresStore::open("postgres://dispatch@127.0.0.1/dispatch")?;
/// let scheduler = Scheduler::with_store(SchedulerConfig::new(), Box::new(store))?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct PostgresStore {
    /// Always `Some` but in `drop` (closing it blocks, so off the runtime too).
    client: Option<Client>,
    config: postgres::Config,
    /// The URL without its password, for messages.
    name: String,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// What a PostgreSQL error says: the server's message when it sent one.
fn describe(error: &postgres::Error) -> String {
    if let Some(db) = error.as_db_error() {
        return format!("{}: {}", db.severity(), db.message());
    }
    match core::error::Error::source(error) {
        Some(source) => format!("{error}: {source}"),
        None => error.to_string(),
    }
}

fn io(error: postgres::Error) -> StoreError {
    StoreError::Io(describe(&error))
}

/// The run in the first column of `row`.
fn decode(row: &postgres::Row) -> Result<RunState, StoreError> {
    let bytes: &[u8] = row
        .try_get(0)
        .map_err(|e| StoreError::Corrupt(describe(&e)))?;
    RunState::decode(bytes).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// The integer in the first column of `row`.
fn first_i32(row: &postgres::Row) -> Result<i32, StoreError> {
    row.try_get(0)
        .map_err(|e| StoreError::Corrupt(describe(&e)))
}

fn as_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Runs `f` on a thread of its own. The client blocks on a runtime of its
/// own, which tokio forbids on a thread that drives async tasks (the
/// scheduler reads its unfinished runs from one); a fresh thread is never
/// one.
fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> Result<T, StoreError> {
    std::thread::scope(|scope| {
        scope
            .spawn(f)
            .join()
            .map_err(|_| StoreError::Io("the store's thread panicked".into()))
    })
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user[:password]@host[:port]/database`,
    /// with the parameters libpq's URLs take), applies the migrations it
    /// lacks and refuses one of a newer schema.
    pub fn open(url: &str) -> Result<Self, StoreError> {
        let mut store = Self::connect(url, false)?;
        store.migrate()?;
        Ok(store)
    }

    /// Connects to the database at `url` to read it only (`dispatch runs`):
    /// its session is read-only (`default_transaction_read_only`), so that
    /// nothing can be written through it, safe beside running schedulers.
    /// No migration is applied; a database without the scheduler's tables,
    /// or of a newer schema, is refused.
    pub fn open_read_only(url: &str) -> Result<Self, StoreError> {
        let mut store = Self::connect(url, true)?;
        let name = store.name.clone();
        let has_schema = store.call(|client| {
            let row = client
                .query_one("SELECT to_regclass('schema_migrations') IS NOT NULL", &[])
                .map_err(io)?;
            row.try_get::<_, bool>(0)
                .map_err(|e| StoreError::Corrupt(describe(&e)))
        })?;
        if !has_schema {
            return Err(migrations::no_runs_table(&name));
        }
        let found = store
            .schema_version()
            .map_err(|e| StoreError::Open(format!("{name}: not a scheduler store ({e})")))?;
        migrations::readable_as_is(found, &name)?;
        Ok(store)
    }

    /// The connection [`PostgresStore::open`] and
    /// [`PostgresStore::open_read_only`] start from (reconnections reuse
    /// its configuration, the read-only setting included).
    fn connect(url: &str, read_only: bool) -> Result<Self, StoreError> {
        let name = crate::without_password(url);
        let mut config: postgres::Config = url
            .parse()
            .map_err(|e: postgres::Error| StoreError::Open(format!("{name}: {}", describe(&e))))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if read_only {
            let options = match config.get_options() {
                Some(given) => format!("{given} -c default_transaction_read_only=on"),
                None => "-c default_transaction_read_only=on".to_owned(),
            };
            config.options(&options);
        }
        let client = off_runtime(|| config.connect(NoTls))?
            .map_err(|e| StoreError::Open(format!("{name}: {}", describe(&e))))?;
        Ok(PostgresStore {
            client: Some(client),
            config,
            name,
        })
    }

    /// The database's schema version (0 for an empty one).
    pub fn schema_version(&mut self) -> Result<u32, StoreError> {
        let client = self.client()?;
        off_runtime(|| {
            let row = client
                .query_one(
                    "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
                    &[],
                )
                .map_err(io)?;
            Ok(u32::try_from(first_i32(&row)?).unwrap_or(0))
        })?
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let name = self.name.clone();
        let open = move |e: postgres::Error| StoreError::Open(format!("{name}: {}", describe(&e)));
        let client = self.client()?;
        off_runtime(|| {
            let mut transaction = client.transaction().map_err(open.clone())?;
            transaction
                .execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
                .map_err(open.clone())?;
            transaction
                .batch_execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations (
                         version     INTEGER PRIMARY KEY NOT NULL,
                         description TEXT NOT NULL,
                         applied_ms  BIGINT NOT NULL
                     )",
                )
                .map_err(open.clone())?;
            let found = first_i32(
                &transaction
                    .query_one(
                        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
                        &[],
                    )
                    .map_err(open.clone())?,
            )?;
            let now = as_i64(crate::driver::now_ms());
            for (version, step) in migrations::pending(u32::try_from(found).unwrap_or(0))? {
                transaction.batch_execute(step.postgres).map_err(|e| {
                    StoreError::Open(format!("migration {version} failed: {}", describe(&e)))
                })?;
                transaction
                    .execute(
                        "INSERT INTO schema_migrations (version, description, applied_ms) \
                         VALUES ($1, $2, $3)",
                        &[
                            &i32::try_from(version).unwrap_or(i32::MAX),
                            &step.description,
                            &now,
                        ],
                    )
                    .map_err(open.clone())?;
            }
            transaction.commit().map_err(open)
        })?
    }

    /// The client, connected again first if the connection was lost (every
    /// write is an idempotent upsert or delete, so a call that failed with
    /// the connection may simply be made again).
    fn client(&mut self) -> Result<&mut Client, StoreError> {
        let lost = self.client.as_ref().is_none_or(Client::is_closed);
        if lost {
            let config = &self.config;
            let name = &self.name;
            let client = off_runtime(|| config.connect(NoTls))?
                .map_err(|e| StoreError::Io(format!("{name}: reconnecting: {}", describe(&e))))?;
            self.client = Some(client);
        }
        self.client
            .as_mut()
            .ok_or_else(|| StoreError::Io(format!("{}: not connected", self.name)))
    }
}

impl PostgresStore {
    /// Runs `f` with the client, off the runtime; when it fails because the
    /// connection was lost (the server restarted, the connection was cut),
    /// connects again and runs it once more. Every call is safe to repeat:
    /// the writes are upserts and deletes, and a commit whose outcome was
    /// lost with the connection writes the same states again.
    fn call<T: Send>(
        &mut self,
        f: impl Fn(&mut Client) -> Result<T, StoreError> + Sync,
    ) -> Result<T, StoreError> {
        let client = self.client()?;
        match off_runtime(|| f(client))? {
            Err(error) if self.client.as_ref().is_some_and(Client::is_closed) => {
                tracing::warn!(
                    target: "dispatch::scheduler",
                    %error,
                    "the PostgreSQL connection was lost: connecting again"
                );
                let client = self.client()?;
                off_runtime(|| f(client))?
            }
            done => done,
        }
    }
}

/// Leases: how several scheduler processes on one database share the runs
/// (the driver's use of them is described in the crate's README section on
/// PostgreSQL, and in [`crate::store::Leases`]).
///
/// An unfinished run is held by at most one owner (a process's name) until
/// its `lease_until_ms`. [`Leases::claim`](crate::Leases::claim) takes runs whose lease
/// has expired (or that never had one) with `FOR UPDATE SKIP LOCKED`, so
/// that processes claiming at once get disjoint sets without waiting on
/// each other; [`Leases::renew`](crate::Leases::renew) extends what an owner still holds
/// and tells it what it lost (a run whose lease expired and that another
/// owner claimed); [`Leases::release`](crate::Leases::release) gives runs back at once (a
/// clean shutdown). Ownership changes only through `claim`.
impl crate::store::Leases for PostgresStore {
    /// [`Store::commit`] for `owner` (all in one transaction): a new run is
    /// inserted held by `owner` until `now_ms + lease_ms`; a run another
    /// owner holds is not written (its holder's states win), nor is a run
    /// of the batch whose parent, in the batch too, was not written (the
    /// children a lost parent started in that batch are never inserted, so
    /// none runs for nothing). Returns the ids not written: runs `owner`
    /// lost and must stop driving.
    fn commit_as(
        &mut self,
        owner: &str,
        now_ms: u64,
        lease_ms: u64,
        changes: &[RunState],
    ) -> Result<Vec<String>, StoreError> {
        let runs = last_states(changes);
        let until = as_i64(now_ms.saturating_add(lease_ms));
        self.call(|client| {
            let mut transaction = client.transaction().map_err(io)?;
            let upsert = transaction.prepare(UPSERT_AS_OWNER).map_err(io)?;
            let mut lost = Vec::new();
            let mut lost_ids = std::collections::HashSet::new();
            // Parents before their children: each level is written once
            // the one above it is, so that a lost parent's children are
            // known lost before they are written.
            let mut pending: Vec<&RunState> = runs.clone();
            while !pending.is_empty() {
                let waiting: std::collections::HashSet<&str> =
                    pending.iter().map(|r| r.id.as_str()).collect();
                let (level, rest): (Vec<&RunState>, Vec<&RunState>) = pending
                    .into_iter()
                    .partition(|r| r.parent.is_empty() || !waiting.contains(r.parent.as_str()));
                // Ids are unique and a parent is created before its child,
                // so a level is never empty; fail closed if it were.
                if level.is_empty() {
                    return Err(StoreError::Corrupt(
                        "runs of one commit are their own ancestors".into(),
                    ));
                }
                pending = rest;
                let (orphans, level): (Vec<&RunState>, Vec<&RunState>) = level
                    .into_iter()
                    .partition(|r| lost_ids.contains(r.parent.as_str()));
                for orphan in orphans {
                    lost_ids.insert(orphan.id.clone());
                    lost.push(orphan.id.clone());
                }
                for chunk in level.chunks(ROWS_PER_STATEMENT) {
                    let columns = Columns::of(chunk);
                    let mut params = columns.params();
                    params.push(&owner);
                    params.push(&until);
                    let rows = transaction.query(&upsert, &params).map_err(io)?;
                    let mut written = std::collections::HashSet::with_capacity(rows.len());
                    for row in &rows {
                        let id: &str = row
                            .try_get(0)
                            .map_err(|e| StoreError::Corrupt(describe(&e)))?;
                        written.insert(id.to_owned());
                    }
                    for run in chunk.iter().filter(|r| !written.contains(&r.id)) {
                        lost_ids.insert(run.id.clone());
                        lost.push(run.id.clone());
                    }
                }
            }
            transaction.commit().map_err(io)?;
            Ok(lost)
        })
    }

    /// Claims up to `limit` unfinished runs whose lease ended by `now_ms`
    /// for `owner`, until `now_ms + lease_ms`; returns them (the ones held
    /// longest past their lease first).
    fn claim(
        &mut self,
        owner: &str,
        now_ms: u64,
        lease_ms: u64,
        limit: usize,
    ) -> Result<Vec<RunState>, StoreError> {
        let until = as_i64(now_ms.saturating_add(lease_ms));
        let now = as_i64(now_ms);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.call(|client| {
            let rows = client
                .query(
                    "UPDATE runs SET owner = $1, lease_until_ms = $2 \
                     WHERE id IN (SELECT id FROM runs \
                                  WHERE NOT done AND lease_until_ms <= $3 \
                                  ORDER BY lease_until_ms, id LIMIT $4 \
                                  FOR UPDATE SKIP LOCKED) \
                     RETURNING state",
                    &[&owner, &until, &now, &limit],
                )
                .map_err(io)?;
            rows.iter().map(decode).collect()
        })
    }

    /// Extends to `now_ms + lease_ms` the lease of every unfinished run
    /// `owner` still holds (even past its lease, as long as no one claimed
    /// it since); returns their ids. A run the owner drives that is not
    /// among them was taken over: the owner must stop driving it.
    fn renew(
        &mut self,
        owner: &str,
        now_ms: u64,
        lease_ms: u64,
    ) -> Result<Vec<String>, StoreError> {
        let until = as_i64(now_ms.saturating_add(lease_ms));
        self.call(|client| {
            let rows = client
                .query(
                    "UPDATE runs SET lease_until_ms = $2 \
                     WHERE owner = $1 AND NOT done RETURNING id",
                    &[&owner, &until],
                )
                .map_err(io)?;
            rows.iter()
                .map(|row| {
                    row.try_get(0)
                        .map_err(|e| StoreError::Corrupt(describe(&e)))
                })
                .collect()
        })
    }

    /// Ends at once the leases `owner` holds (others may claim the runs
    /// right away); returns how many.
    fn release(&mut self, owner: &str) -> Result<usize, StoreError> {
        self.call(|client| {
            let released = client
                .execute(
                    "UPDATE runs SET owner = '', lease_until_ms = 0 \
                     WHERE owner = $1 AND NOT done",
                    &[&owner],
                )
                .map_err(io)?;
            Ok(usize::try_from(released).unwrap_or(usize::MAX))
        })
    }

    /// The finished runs among `ids` (by primary key, in chunks).
    fn finished_among(&mut self, ids: &[String]) -> Result<Vec<RunState>, StoreError> {
        self.call(|client| {
            let mut found = Vec::new();
            for chunk in ids.chunks(ROWS_PER_STATEMENT) {
                let rows = client
                    .query(
                        "SELECT state FROM runs WHERE id = ANY($1::text[]) AND done",
                        &[&chunk],
                    )
                    .map_err(io)?;
                for row in &rows {
                    found.push(decode(row)?);
                }
            }
            Ok(found)
        })
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            let _ = off_runtime(move || drop(client));
        }
    }
}

/// Inserts or replaces runs from the columns of [`Columns::params`].
const UPSERT: &str = "INSERT INTO runs \
     (id, parent, root, function, done, status, created_ms, finished_ms, state) \
     SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], \
                          $5::boolean[], $6::integer[], $7::bigint[], \
                          $8::bigint[], $9::bytea[]) \
     ON CONFLICT (id) DO UPDATE SET \
     parent = EXCLUDED.parent, root = EXCLUDED.root, \
     function = EXCLUDED.function, done = EXCLUDED.done, \
     status = EXCLUDED.status, created_ms = EXCLUDED.created_ms, \
     finished_ms = EXCLUDED.finished_ms, state = EXCLUDED.state";

/// As [`UPSERT`], for owner `$10`: a new run is inserted held by it until
/// `$11`; an existing one is replaced only while it holds it. Returns the
/// ids written.
const UPSERT_AS_OWNER: &str = "INSERT INTO runs \
     (id, parent, root, function, done, status, created_ms, finished_ms, state, \
      owner, lease_until_ms) \
     SELECT *, $10::text, $11::bigint FROM UNNEST($1::text[], $2::text[], $3::text[], \
                          $4::text[], $5::boolean[], $6::integer[], $7::bigint[], \
                          $8::bigint[], $9::bytea[]) \
     ON CONFLICT (id) DO UPDATE SET \
     parent = EXCLUDED.parent, root = EXCLUDED.root, \
     function = EXCLUDED.function, done = EXCLUDED.done, \
     status = EXCLUDED.status, created_ms = EXCLUDED.created_ms, \
     finished_ms = EXCLUDED.finished_ms, state = EXCLUDED.state \
     WHERE runs.owner = EXCLUDED.owner \
     RETURNING id";

/// The last state of each run in `changes` (as with the other stores; one
/// statement may not change a row twice).
fn last_states(changes: &[RunState]) -> Vec<&RunState> {
    let mut last: HashMap<&str, &RunState> = HashMap::with_capacity(changes.len());
    for run in changes {
        last.insert(&run.id, run);
    }
    last.into_values().collect()
}

/// Runs as the array parameters `$1`..`$9` of [`UPSERT`].
struct Columns<'a> {
    ids: Vec<&'a str>,
    parents: Vec<&'a str>,
    roots: Vec<&'a str>,
    functions: Vec<&'a str>,
    done: Vec<bool>,
    statuses: Vec<i32>,
    created: Vec<i64>,
    finished: Vec<i64>,
    states: Vec<Vec<u8>>,
}

impl<'a> Columns<'a> {
    fn of(runs: &[&'a RunState]) -> Self {
        Columns {
            ids: runs.iter().map(|r| r.id.as_str()).collect(),
            parents: runs.iter().map(|r| r.parent.as_str()).collect(),
            roots: runs.iter().map(|r| r.root.as_str()).collect(),
            functions: runs.iter().map(|r| r.function.as_str()).collect(),
            done: runs.iter().map(|r| r.is_done()).collect(),
            statuses: runs.iter().map(|r| r.status).collect(),
            created: runs.iter().map(|r| as_i64(r.created_ms)).collect(),
            finished: runs.iter().map(|r| as_i64(r.finished_ms)).collect(),
            states: runs.iter().map(|r| r.encode_to_vec()).collect(),
        }
    }

    fn params(&self) -> Vec<&(dyn postgres::types::ToSql + Sync)> {
        vec![
            &self.ids,
            &self.parents,
            &self.roots,
            &self.functions,
            &self.done,
            &self.statuses,
            &self.created,
            &self.finished,
            &self.states,
        ]
    }
}

impl Store for PostgresStore {
    fn commit(&mut self, changes: &[RunState]) -> Result<(), StoreError> {
        let runs = last_states(changes);
        self.call(|client| {
            let mut transaction = client.transaction().map_err(io)?;
            let upsert = transaction.prepare(UPSERT).map_err(io)?;
            for chunk in runs.chunks(ROWS_PER_STATEMENT) {
                let columns = Columns::of(chunk);
                transaction
                    .execute(&upsert, &columns.params())
                    .map_err(io)?;
            }
            transaction.commit().map_err(io)
        })
    }

    fn unfinished(&mut self) -> Result<Vec<RunState>, StoreError> {
        self.call(|client| {
            let rows = client
                .query("SELECT state FROM runs WHERE NOT done", &[])
                .map_err(io)?;
            rows.iter().map(decode).collect()
        })
    }

    fn get(&mut self, id: &str) -> Result<Option<RunState>, StoreError> {
        self.call(|client| {
            let row = client
                .query_opt("SELECT state FROM runs WHERE id = $1", &[&id])
                .map_err(io)?;
            row.as_ref().map(decode).transpose()
        })
    }

    fn purge(&mut self, before_ms: u64) -> Result<usize, StoreError> {
        self.call(|client| {
            let purged = client
                .execute(
                    "DELETE FROM runs WHERE done AND finished_ms < $1",
                    &[&as_i64(before_ms)],
                )
                .map_err(io)?;
            Ok(usize::try_from(purged).unwrap_or(usize::MAX))
        })
    }

    fn list(&mut self, query: &RunQuery) -> Result<Vec<RunState>, StoreError> {
        let status = query.status.map(|s| s.number());
        let limit = i64::try_from(query.limit).unwrap_or(i64::MAX);
        self.call(|client| {
            // Every filter is a column; an unset one matches all (`$n IS NULL`).
            let rows = client
                .query(
                    "SELECT state FROM runs \
                     WHERE ($1::BOOLEAN IS NULL OR done = $1) \
                       AND ($2::INTEGER IS NULL OR (done AND status = $2)) \
                       AND ($3::TEXT IS NULL OR function = $3) \
                       AND ($4::TEXT IS NULL OR root = $4) \
                     ORDER BY created_ms DESC, id DESC LIMIT $5",
                    &[&query.done, &status, &query.function, &query.root, &limit],
                )
                .map_err(io)?;
            rows.iter().map(decode).collect()
        })
    }

    fn leases(&mut self) -> Option<&mut dyn crate::store::Leases> {
        Some(self)
    }
}
