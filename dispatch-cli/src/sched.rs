//! `dispatch scheduler`, `dispatch run` and `dispatch serve`.

use core::time::Duration;
use std::path::{Path, PathBuf};

use clap::Args;
use dispatch_core::any::AnyValue;
use dispatch_core::proto::sdk::v1 as pb;
use dispatch_scheduler::{
    Backoff, EndpointPolicy, MemoryStore, Scheduler, SchedulerConfig, SqliteStore, Store,
    WAIT_PATH_PREFIX,
};
use dispatch_std::client::{Client, ClientError};
use dispatch_std::config::{DEFAULT_ENDPOINT_ADDR, EndpointConfig};
use dispatch_std::endpoint::Endpoint;
use prost_types::Any;
use tokio::net::TcpListener;

use crate::keys::{generate, public_base64, read_signing_key};
use crate::{EXIT_RUN_FAILED, Failure, Outcome, demo};

/// The scheduler's default address.
const DEFAULT_SCHEDULER_ADDR: &str = "127.0.0.1:4450";
/// The scheduler's default URL, for `dispatch run`.
const DEFAULT_SCHEDULER_URL: &str = "http://127.0.0.1:4450";

/// Arguments of `dispatch scheduler`.
#[derive(Args, Debug)]
pub(crate) struct SchedulerArgs {
    /// The address to listen on.
    #[arg(long, default_value = DEFAULT_SCHEDULER_ADDR)]
    listen: String,
    /// The Ed25519 private key Run requests are signed with (PKCS#8 PEM, or
    /// the base64 seed). Without it, a fresh key is made for this process
    /// and its public key printed.
    #[arg(long, env = "DISPATCH_SIGNING_KEY_FILE")]
    signing_key: Option<PathBuf>,
    /// The API key callers must present as `Authorization: Bearer <key>`.
    #[arg(long, env = "DISPATCH_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// Accept calls without checking the API key (local experiments only).
    #[arg(long)]
    no_auth: bool,
    /// Attempts per step of a run before a temporary failure becomes its
    /// outcome; 0: retry until the call expires.
    #[arg(long, default_value_t = 0)]
    max_attempts: u32,
    /// Hours a finished run stays in the store (and `runs/<id>` answers for
    /// it) before it is purged.
    #[arg(long, default_value_t = 24)]
    retain: u64,
    /// Where runs are kept: a SQLite file (created if absent; WAL files
    /// beside it), or a PostgreSQL database as a `postgres://` URL
    /// (`postgres://user[:password]@host[:port]/database`, no TLS). A restart
    /// on the same store resumes every unfinished run. A SQLite file is for
    /// one process; several processes may share a PostgreSQL database (the
    /// runs are leased: see --lease).
    #[arg(
        long,
        env = "DISPATCH_SCHEDULER_DB",
        default_value = "dispatch-scheduler.db"
    )]
    db: PathBuf,
    /// The most Run requests in flight to one endpoint (scheme, host, port),
    /// in this process: N processes sharing a PostgreSQL database may have N
    /// times as many in flight to it.
    #[arg(long, default_value_t = 64)]
    max_in_flight_per_endpoint: usize,
    /// The most Run requests in flight in all, in this process (N processes
    /// on one database: N times as many).
    #[arg(long, default_value_t = 1024)]
    max_in_flight: usize,
    /// With a PostgreSQL --db: seconds this process holds the runs it
    /// drives without renewing them (renewed every third of it). A process
    /// killed or cut off has its runs taken over by the others this long
    /// (plus --claim-interval-ms) after its last renewal.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    lease: u64,
    /// With a PostgreSQL --db: milliseconds between two claims of runs
    /// nobody holds (new processes' share, a dead process's runs), and two
    /// looks for children finished by other processes (the most a child's
    /// result can wait before its parent, held elsewhere, takes it).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(10..))]
    claim_interval_ms: u64,
    /// With a PostgreSQL --db: this process's name in the leases (default:
    /// its process id and a random number). Two live processes must never
    /// share one. Given, the process starts by taking back the runs leased
    /// to that name: a restart under the same name resumes them at once
    /// (without it, after the old leases expire).
    #[arg(long)]
    owner: Option<String>,
    /// The most calls one Dispatch request may carry.
    #[arg(long, default_value_t = 1000)]
    max_dispatch_calls: usize,
    /// The largest Dispatch request body accepted (413 past it), and the
    /// largest Run response body read from an endpoint, in bytes.
    #[arg(long, default_value_t = 16_000_000)]
    body_limit: usize,
    /// Seconds, on SIGTERM or Ctrl-C, for Run requests in flight to finish.
    #[arg(long, default_value_t = 30)]
    shutdown_grace: u64,
    /// Keep runs in memory only: a restart forgets them (experiments).
    #[arg(long, conflicts_with = "db")]
    memory: bool,
    /// Seconds one Run request may take before it counts as a timeout.
    #[arg(long, default_value_t = 60)]
    attempt_timeout: u64,
    /// Allow Run requests to this endpoint (repeatable): a host name
    /// (`app.internal`, `*.svc.local`, with `:PORT` or not), an address
    /// (`10.1.2.3`, `::1`) or a range (`10.0.0.0/8`) of the address
    /// connected to. Without any, every host may be called. Link-local and
    /// cloud-metadata addresses (169.254.0.0/16, fe80::/10, ...) are refused
    /// unless an address entry inside them names them. A refused run ends
    /// with STATUS_PERMISSION_DENIED.
    #[arg(long = "allow-endpoint", value_name = "ENTRY")]
    allow_endpoint: Vec<String>,
    #[command(flatten)]
    connections: ConnectionArgs,
}

/// How a server treats the connections it accepts (`dispatch scheduler`
/// and `dispatch serve` alike); docs/limits.md has the table.
#[derive(Args, Debug)]
pub(crate) struct ConnectionArgs {
    /// The most connections open at once; past it the longest-idle one is
    /// closed to make room. Never more than half the descriptor limit
    /// (`ulimit -n`).
    #[arg(long, default_value_t = dispatch_std::serve::DEFAULT_MAX_CONNECTIONS)]
    max_connections: usize,
    /// Seconds a connection with no request in flight stays open.
    #[arg(long, default_value_t = 60)]
    idle_timeout: u64,
    /// Seconds a client may go without sending while a request head or
    /// body is expected (a new connection's first head included).
    #[arg(long, default_value_t = 30)]
    read_timeout: u64,
}

impl ConnectionArgs {
    fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout.max(1))
    }

    fn read_timeout(&self) -> Duration {
        Duration::from_secs(self.read_timeout.max(1))
    }
}

/// `dispatch scheduler`: serves until Ctrl-C or SIGTERM.
pub(crate) async fn scheduler(args: SchedulerArgs) -> Outcome {
    let policy =
        EndpointPolicy::parse(&args.allow_endpoint).map_err(|e| Failure::error(e.to_string()))?;
    let api_key = match (args.api_key, args.no_auth) {
        (_, true) => None,
        (Some(key), false) if !key.trim().is_empty() => Some(key),
        _ => {
            return Err(Failure::error(
                "set DISPATCH_API_KEY (or --api-key) to the key callers must present, \
                 or pass --no-auth",
            ));
        }
    };
    let signing_key = match &args.signing_key {
        Some(path) => read_signing_key(path)?,
        None => {
            let key = generate()?;
            eprintln!(
                "no --signing-key: signing with a key made for this run; endpoints verify with \
                 DISPATCH_VERIFICATION_KEY={}",
                public_base64(&key.verifying_key())?
            );
            key
        }
    };
    let config = SchedulerConfig::new()
        .endpoint_policy(policy)
        .api_key(api_key)
        .signing_key(Some(signing_key))
        .retry(Backoff {
            max_attempts: (args.max_attempts > 0).then_some(args.max_attempts),
            ..Backoff::default()
        })
        .retain(Duration::from_secs(args.retain.saturating_mul(3600)))
        .max_in_flight_per_endpoint(args.max_in_flight_per_endpoint)
        .max_in_flight(args.max_in_flight)
        .max_dispatch_calls(args.max_dispatch_calls)
        .body_limit(args.body_limit.max(1))
        .shutdown_grace(Duration::from_secs(args.shutdown_grace))
        .attempt_timeout(Duration::from_secs(args.attempt_timeout.max(1)))
        .max_connections(args.connections.max_connections)
        .idle_timeout(args.connections.idle_timeout())
        .read_timeout(args.connections.read_timeout())
        .lease(Duration::from_secs(args.lease))
        .claim_interval(Duration::from_millis(args.claim_interval_ms))
        .owner(args.owner);
    let store = open_store(args.memory, &args.db)?;
    let scheduler =
        Scheduler::with_store(config, store).map_err(|e| Failure::error(e.to_string()))?;
    let listener = TcpListener::bind(&args.listen)
        .await
        .map_err(|e| Failure::error(format!("cannot listen on {}: {e}", args.listen)))?;
    if let Ok(address) = listener.local_addr() {
        eprintln!("dispatch scheduler on http://{address} (DISPATCH_API_URL)");
    }
    scheduler
        .serve(listener, shutdown_signal())
        .await
        .map_err(|e| Failure::error(format!("the scheduler stopped: {e}")))?;
    Ok(0)
}

/// The store `--memory` or `--db` names.
fn open_store(memory: bool, db: &Path) -> Result<Box<dyn Store>, Failure> {
    if memory {
        return Ok(Box::new(MemoryStore::default()));
    }
    match db.to_str() {
        Some(url) if dispatch_scheduler::is_postgres_url(url) => open_postgres(url, false),
        _ => Ok(Box::new(SqliteStore::open(db).map_err(|e| {
            Failure::error(format!("--db {}: {e}", db.display()))
        })?)),
    }
}

/// The PostgreSQL store at `url`, migrated, or read-only for `dispatch
/// runs` (its errors name it without its password).
#[cfg(feature = "postgres")]
pub(crate) fn open_postgres(url: &str, read_only: bool) -> Result<Box<dyn Store>, Failure> {
    let store = if read_only {
        dispatch_scheduler::PostgresStore::open_read_only(url)
    } else {
        dispatch_scheduler::PostgresStore::open(url)
    };
    let store = store.map_err(|e| Failure::error(format!("--db: {e}")))?;
    Ok(Box::new(store))
}

/// Without the `postgres` feature a `postgres://` URL is refused, not taken
/// for a file name.
#[cfg(not(feature = "postgres"))]
pub(crate) fn open_postgres(_url: &str, _read_only: bool) -> Result<Box<dyn Store>, Failure> {
    Err(Failure::error(
        "--db: a postgres:// URL, but this dispatch was built without PostgreSQL \
         (cargo feature `postgres` of dispatch-cli)",
    ))
}

/// Completes on Ctrl-C, or SIGTERM on Unix.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Arguments of `dispatch run`.
#[derive(Args, Debug)]
pub(crate) struct RunArgs {
    /// The function to call.
    function: String,
    /// Its input, as JSON: an object with "@type" is a proto3 JSON Any;
    /// otherwise null, booleans, integers, floats and strings become Empty,
    /// BoolValue, Int64Value, DoubleValue and StringValue, and arrays and
    /// objects a google.protobuf.Value. No input: Empty.
    input: Option<String>,
    /// The endpoint serving the function.
    #[arg(long, short = 'e', env = "DISPATCH_ENDPOINT_URL")]
    endpoint: String,
    /// The scheduler's URL.
    #[arg(long, env = "DISPATCH_API_URL", default_value = DEFAULT_SCHEDULER_URL)]
    scheduler: String,
    /// The scheduler's API key.
    #[arg(long, env = "DISPATCH_API_KEY", hide_env_values = true)]
    api_key: String,
    /// The call's expiration, in seconds (default: the scheduler's).
    #[arg(long)]
    expiration: Option<u64>,
    /// Seconds to wait for the outcome before giving up (the run goes on).
    #[arg(long, default_value_t = 300)]
    timeout: u64,
    /// Print the dispatch id and return without waiting.
    #[arg(long)]
    no_wait: bool,
}

/// Maps the command line's JSON input to an `Any`.
fn input_any(text: Option<&str>) -> Result<Any, Failure> {
    let Some(text) = text else {
        return Ok(AnyValue::Empty.to_any());
    };
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| Failure::error(format!("the input is not JSON: {e}")))?;
    let bad = |e: dispatch_std::json::JsonError| Failure::error(format!("bad input: {e}"));
    let any_value = match &value {
        serde_json::Value::Object(map) if map.contains_key("@type") => {
            return dispatch_std::json::from_json::<Any>(&value).map_err(bad);
        }
        serde_json::Value::Null => AnyValue::Empty,
        serde_json::Value::Bool(b) => AnyValue::Bool(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => AnyValue::Int64(i),
            None => AnyValue::Double(n.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::String(s) => AnyValue::String(s.clone()),
        serde_json::Value::Array(_) | serde_json::Value::Object(_) => {
            // The proto3 JSON of an Any holding a Value is the value itself.
            let wrapped = serde_json::json!({
                "@type": "type.googleapis.com/google.protobuf.Value",
                "value": value,
            });
            return dispatch_std::json::from_json::<Any>(&wrapped).map_err(bad);
        }
    };
    Ok(any_value.to_any())
}

/// `dispatch run`: dispatches, waits through the scheduler's wait route,
/// prints the run as JSON on stdout.
pub(crate) async fn run(args: RunArgs) -> Outcome {
    let input = input_any(args.input.as_deref())?;
    let client = Client::builder()
        .api_url(args.scheduler.clone())
        .api_key(args.api_key.clone())
        .build()
        .map_err(|e| Failure::error(format!("{e}")))?;
    let call = pb::Call {
        endpoint: args.endpoint.clone(),
        function: args.function.clone(),
        input: Some(input),
        expiration: args.expiration.map(|seconds| prost_types::Duration {
            seconds: i64::try_from(seconds).unwrap_or(i64::MAX),
            nanos: 0,
        }),
        ..Default::default()
    };
    let id = client.dispatch(call).await.map_err(|e| match &e {
        ClientError::Transport { .. } => Failure::error(format!(
            "the scheduler at {} is out of reach: {e} (is `dispatch scheduler` running?)",
            args.scheduler
        )),
        _ => Failure::error(format!("the scheduler refused the call: {e}")),
    })?;
    if args.no_wait {
        println!("{id}");
        return Ok(0);
    }
    eprintln!(
        "dispatched {}: {id}; waiting for its outcome",
        args.function
    );
    let info = wait(&args, id.as_str()).await?;
    let text = serde_json::to_string_pretty(&info).unwrap_or_else(|_| info.to_string());
    println!("{text}");
    let status = info["status"].as_str().unwrap_or("?");
    let attempts = &info["attempts"];
    if status == "STATUS_OK" {
        eprintln!(
            "{} ended with {status} after {attempts} attempt(s)",
            args.function
        );
        Ok(0)
    } else {
        eprintln!(
            "{} ended with {status} after {attempts} attempt(s)",
            args.function
        );
        Ok(EXIT_RUN_FAILED)
    }
}

/// Polls the wait route until the run is done or `--timeout` has passed.
async fn wait(args: &RunArgs, id: &str) -> Result<serde_json::Value, Failure> {
    let http = dispatch_std::client::http_client("dispatch-cli")
        .map_err(|e| Failure::error(format!("cannot build an HTTP client: {e}")))?;
    let base = args.scheduler.trim_end_matches('/');
    let now = tokio::time::Instant::now();
    // A timeout too large to add is as good as none: about a century.
    let deadline = now
        .checked_add(Duration::from_secs(args.timeout))
        .or_else(|| now.checked_add(Duration::from_secs(100 * 365 * 86_400)))
        .unwrap_or(now);
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return Err(Failure::error(format!(
                "gave up waiting after {} s; run {id} goes on in the scheduler",
                args.timeout
            )));
        }
        let wait_ms = left.as_millis().min(30_000);
        let url = format!("{base}{WAIT_PATH_PREFIX}{id}?wait_ms={wait_ms}");
        let response = http
            .get(&url)
            .bearer_auth(&args.api_key)
            .timeout(
                Duration::from_millis(u64::try_from(wait_ms).unwrap_or(30_000))
                    + Duration::from_secs(10),
            )
            .send()
            .await
            .map_err(|e| {
                Failure::error(format!(
                    "lost the scheduler at {base} while waiting for run {id}: {e} \
                     (was it stopped? a scheduler on a --db store carries the run on when it starts \
                     again: `dispatch runs show {id}`)"
                ))
            })?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(|e| {
            Failure::error(format!("lost the scheduler while reading run {id}: {e}"))
        })?;
        let json: serde_json::Value = serde_json::from_slice(&body).map_err(|_| {
            Failure::error(format!(
                "{base} answered HTTP {status} with something that is not JSON: is it a dispatch scheduler?"
            ))
        })?;
        match status {
            200 if json["done"] == true => return Ok(json),
            200 => continue,
            404 => {
                return Err(Failure::error(format!(
                    "the scheduler does not know run {id}: it finished and was purged after --retain, \
                     or the scheduler was restarted with --memory or on another store"
                )));
            }
            _ => {
                return Err(Failure::error(format!(
                    "the scheduler answered HTTP {status}: {}",
                    json["message"].as_str().unwrap_or("(no message)")
                )));
            }
        }
    }
}

/// Arguments of `dispatch serve`. Each flag overrides the variable it
/// names; the configuration is then read and checked as every endpoint's is
/// (`EndpointConfig`): a bad key, or no key at an endpoint that is neither
/// loopback nor `bridge://` without `DISPATCH_ALLOW_UNVERIFIED=1`, stops it.
#[derive(Args, Debug)]
pub(crate) struct ServeArgs {
    /// The address to listen on (`DISPATCH_ENDPOINT_ADDR`; default
    /// 127.0.0.1:8000).
    #[arg(long)]
    listen: Option<String>,
    /// The endpoint's public URL, given to its functions to call each other
    /// (`DISPATCH_ENDPOINT_URL`; default: `http://` and the listen address).
    #[arg(long)]
    url: Option<String>,
    /// The public key requests must be signed with, as PEM or base64 text or
    /// a file holding it (`DISPATCH_VERIFICATION_KEY`).
    #[arg(long)]
    verification_key: Option<String>,
    #[command(flatten)]
    connections: ConnectionArgs,
}

/// `dispatch serve`: the demo functions, until Ctrl-C or SIGTERM.
pub(crate) async fn serve(args: ServeArgs) -> Outcome {
    let key_text = match args.verification_key.as_deref() {
        Some(text_or_path) => Some(crate::keys::key_text_or_file(text_or_path)?.0),
        None => None,
    };
    let url_given = args.url.is_some() || std::env::var_os("DISPATCH_ENDPOINT_URL").is_some();
    let listen_flag = args.listen.clone();
    let config = EndpointConfig::from_lookup(|name| {
        let flag = match name {
            "DISPATCH_ENDPOINT_ADDR" => listen_flag.clone(),
            "DISPATCH_ENDPOINT_URL" => args.url.clone(),
            "DISPATCH_VERIFICATION_KEY" => key_text.clone(),
            _ => None,
        };
        flag.map(Into::into)
            .or_else(|| std::env::var_os(name))
            .or_else(|| {
                // Without a URL, the endpoint is reached at its listen address.
                (name == "DISPATCH_ENDPOINT_URL").then(|| {
                    let addr = listen_flag
                        .clone()
                        .or_else(|| std::env::var("DISPATCH_ENDPOINT_ADDR").ok())
                        .unwrap_or_else(|| DEFAULT_ENDPOINT_ADDR.to_owned());
                    format!("http://{addr}").into()
                })
            })
    })
    .map_err(|e| Failure::error(e.to_string()))?;
    let listener = TcpListener::bind(&config.addr)
        .await
        .map_err(|e| Failure::error(format!("cannot listen on {}: {e}", config.addr)))?;
    let address = listener
        .local_addr()
        .map_err(|e| Failure::error(format!("no local address: {e}")))?;
    let mut config = config;
    if !url_given {
        // The port may have been 0: name the one actually bound.
        config.url = format!("http://{address}");
    }
    eprintln!(
        "demo endpoint on http://{address} (DISPATCH_ENDPOINT_URL={}), signatures {}",
        config.url,
        if config.verification_key.is_some() {
            "verified"
        } else {
            "not verified"
        }
    );
    Endpoint::from_config(demo::registry(), &config)
        .map_err(|e| Failure::error(e.to_string()))?
        .max_connections(args.connections.max_connections)
        .idle_timeout(args.connections.idle_timeout())
        .read_timeout(Some(args.connections.read_timeout()))
        .serve(listener, shutdown_signal())
        .await
        .map_err(|e| Failure::error(format!("the endpoint stopped: {e}")))?;
    Ok(0)
}
