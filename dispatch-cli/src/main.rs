//! `dispatch`: the Dispatch command-line tool.
//!
//! ```text
//! dispatch keygen                  write an Ed25519 key pair, print the public key
//! dispatch sign    [REQUEST]       sign a raw HTTP/1.1 request as the scheduler does
//! dispatch verify  [REQUEST]       verify a signed raw HTTP/1.1 request
//! dispatch scheduler               run a local Dispatch scheduler
//! dispatch run FUNCTION [INPUT]    submit one call to a scheduler and print its outcome
//! dispatch serve                   run the demo function endpoint
//! dispatch runs list               list the runs in a scheduler's store
//! dispatch runs show ID            one run: its attempts, outcome and children
//! ```
//!
//! Exit codes: 0 success (a request accepted, a call ended `STATUS_OK`);
//! 1 an error (bad input, a bad key, I/O, a scheduler out of reach); 2 a
//! usage error; 3 `verify` refused the request with 401 (`unauthenticated`);
//! 4 `verify` refused it with 403 (`permission_denied`); 5 `run`: the call
//! ended with a status other than `STATUS_OK`.

mod demo;
mod keys;
mod raw;
mod runs;
mod sched;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The exit code of an error (bad input, bad key, I/O, unreachable peer).
const EXIT_ERROR: u8 = 1;
/// `verify`: the request is refused with 401.
const EXIT_UNAUTHENTICATED: u8 = 3;
/// `verify`: the request is refused with 403.
const EXIT_PERMISSION_DENIED: u8 = 4;
/// `run`: the call ended with a status other than OK.
const EXIT_RUN_FAILED: u8 = 5;

/// A failed command: the message for stderr and the exit code.
#[derive(Debug)]
struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    /// An error with exit code 1.
    fn error(message: impl Into<String>) -> Self {
        Failure {
            code: EXIT_ERROR,
            message: message.into(),
        }
    }
}

/// The result of a command: an exit code, or a failure to report.
type Outcome = Result<u8, Failure>;

/// The Dispatch command-line tool: keys, request signatures, a local
/// scheduler, and a demo endpoint.
#[derive(Parser, Debug)]
#[command(name = "dispatch", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Write an Ed25519 key pair (PKCS#8 PEM private key, SPKI PEM public
    /// key) and print the base64 public key for DISPATCH_VERIFICATION_KEY.
    Keygen(keys::KeygenArgs),
    /// Sign a raw HTTP/1.1 request (file or stdin) the way the scheduler
    /// does, and print the signed request.
    Sign(raw::SignArgs),
    /// Verify the signature of a raw HTTP/1.1 request (file or stdin).
    /// Exit 0 accepted, 3 refused with 401, 4 refused with 403.
    Verify(raw::VerifyArgs),
    /// Run a local Dispatch scheduler.
    Scheduler(sched::SchedulerArgs),
    /// Submit one call to a scheduler, wait for its outcome and print it.
    Run(sched::RunArgs),
    /// Serve the demo functions (echo, greet, double, flaky, countdown and
    /// the durable pipeline) as a Dispatch endpoint.
    Serve(sched::ServeArgs),
    /// Look at the runs in a scheduler's store (its SQLite file, read-only;
    /// safe while the scheduler runs).
    #[command(subcommand)]
    Runs(runs::RunsCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Keygen(args) => keys::keygen(&args),
        Command::Sign(args) => raw::sign(&args),
        Command::Verify(args) => raw::verify(&args),
        Command::Scheduler(args) => with_runtime(|| sched::scheduler(args)),
        Command::Run(args) => with_runtime(|| sched::run(args)),
        Command::Serve(args) => with_runtime(|| sched::serve(args)),
        Command::Runs(command) => runs::runs(command),
    };
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            eprintln!("dispatch: error: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}

/// Runs an async command on a multi-threaded tokio runtime, with logs on
/// stderr (`RUST_LOG` filters them; `info` by default).
fn with_runtime<F, Fut>(command: F) -> Outcome
where
    F: FnOnce() -> Fut,
    Fut: core::future::Future<Output = Outcome>,
{
    init_logs();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::error(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(command())
}

fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal as _;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}

/// Reads a whole file, or stdin for `None` or `-`.
fn read_input(path: Option<&PathBuf>) -> Result<Vec<u8>, Failure> {
    use std::io::Read as _;
    match path {
        Some(path) if path.as_os_str() != "-" => std::fs::read(path)
            .map_err(|e| Failure::error(format!("cannot read {}: {e}", path.display()))),
        _ => {
            let mut bytes = Vec::new();
            std::io::stdin()
                .read_to_end(&mut bytes)
                .map_err(|e| Failure::error(format!("cannot read stdin: {e}")))?;
            Ok(bytes)
        }
    }
}
