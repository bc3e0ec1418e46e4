//! The wire guard: our analogue of `buf breaking --use WIRE_JSON` plus `buf lint`.
//!
//! It compiles `proto/` (the working tree) and compares it with the committed
//! lock `proto/wire.lock`. A wire- or JSON-breaking change fails, naming the
//! element and the rule; an addition fails until the lock is refreshed with
//!
//! ```text
//! DISPATCH_UPDATE_WIRE_LOCK=1 cargo test --test wire_guard
//! ```
//!
//! which never records a break. See docs/wire-guard.md.

#![allow(unreachable_pub, missing_docs)]

#[path = "wire_guard/mod.rs"]
mod wire_guard;

use std::collections::BTreeSet;

use prost::Message as _;
use wire_guard::model::WireModel;
use wire_guard::{Verdict, check, compile_proto_dir, lock_path, proto_files};

fn update_requested() -> bool {
    std::env::var_os(wire_guard::UPDATE_VARIABLE).is_some_and(|value| value == "1")
}

fn committed_lock() -> String {
    std::fs::read_to_string(lock_path()).unwrap_or_else(|err| {
        panic!(
            "cannot read proto/wire.lock ({err}); create it with:\n  {}",
            wire_guard::REFRESH_COMMAND
        )
    })
}

#[test]
fn proto_matches_wire_lock() {
    let current = WireModel::from_files(&compile_proto_dir());
    let lock = std::fs::read_to_string(lock_path()).ok();
    match check(lock.as_deref(), &current, update_requested()) {
        Verdict::UpToDate => {}
        Verdict::Refresh(text) => {
            std::fs::write(lock_path(), text)
                .unwrap_or_else(|err| panic!("cannot write proto/wire.lock: {err}"));
            eprintln!("wire guard: proto/wire.lock refreshed; review and commit it");
        }
        Verdict::Fail(message) => panic!("{message}"),
    }
}

#[test]
fn proto_files_pass_lint() {
    let findings = wire_guard::lint::lint(&compile_proto_dir());
    assert!(
        findings.is_empty(),
        "proto/ lint found {} problem(s):\n  {}",
        findings.len(),
        findings.join("\n  ")
    );
}

/// build.rs compiles a fixed list of files; one added under proto/ but not
/// to that list would be locked here yet never generated.
#[test]
fn build_rs_compiles_every_proto_file() {
    let build_rs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/build.rs"))
        .expect("build.rs is readable");
    let listed: BTreeSet<String> = build_rs
        .split('"')
        .filter_map(|piece| piece.strip_prefix("proto/"))
        .filter(|path| path.ends_with(".proto"))
        .map(str::to_owned)
        .collect();
    let present: BTreeSet<String> = proto_files().into_iter().collect();
    assert_eq!(
        listed, present,
        "build.rs PROTO_FILES (left) and the .proto files under proto/ (right) differ"
    );
}

/// The descriptor set build.rs embedded describes the same wire surface as
/// proto/ compiled now, so code generated from it agrees with the lock.
#[test]
fn embedded_descriptor_set_matches_proto() {
    let embedded = prost_types::FileDescriptorSet::decode(dispatch_proto::FILE_DESCRIPTOR_SET)
        .expect("the embedded descriptor set decodes");
    let ours: BTreeSet<String> = proto_files().into_iter().collect();
    let embedded_model = WireModel::from_files(
        embedded
            .file
            .iter()
            .filter(|file| ours.contains(file.name())),
    );
    assert_eq!(embedded_model, WireModel::from_files(&compile_proto_dir()));
}

/// The journal (docs/protocol/journal.md) is a package of our own, outside
/// the protocol's: its version field, its entries and their kinds are locked
/// like the protocol's messages.
#[test]
fn wire_lock_holds_the_journal() {
    let lock = committed_lock();
    for line in [
        "package dispatch.journal.v1",
        "file dispatch/journal/v1/journal.proto package=dispatch.journal.v1 syntax=proto3",
        "field dispatch.journal.v1.Journal.version = 1 type=uint32 label=singular json=version",
        "field dispatch.journal.v1.Journal.entries = 4 type=message:dispatch.journal.v1.Entry label=repeated json=entries",
        "field dispatch.journal.v1.Entry.fingerprint = 3 type=fixed32 label=singular json=fingerprint",
        "value dispatch.journal.v1.EntryKind.ENTRY_KIND_CALL = 1",
        "value dispatch.journal.v1.EntryKind.ENTRY_KIND_SELECT = 4",
    ] {
        assert!(
            lock.lines().any(|l| l == line),
            "proto/wire.lock lacks: {line}"
        );
    }
}

/// Spot checks of the committed lock against the fact sheet
/// (docs/protocol/validation.md).
#[test]
fn wire_lock_agrees_with_wire_md() {
    let lock = committed_lock();
    for line in [
        "package dispatch.sdk.python.v1",
        "package dispatch.sdk.v1",
        "file dispatch/sdk/python/v1/pickled.proto package=dispatch.sdk.python.v1 syntax=proto3",
        "field dispatch.sdk.v1.Call.correlation_id = 1 type=uint64 label=singular json=correlationId",
        "field dispatch.sdk.v1.Call.function = 3 type=string label=singular json=function",
        "field dispatch.sdk.v1.Call.expiration = 5 type=message:google.protobuf.Duration label=singular json=expiration",
        "field dispatch.sdk.v1.DispatchResponse.dispatch_ids = 1 type=string label=repeated json=dispatchIds",
        "field dispatch.sdk.v1.Exit.tail_call = 2 type=message:dispatch.sdk.v1.Call label=singular json=tailCall",
        "field dispatch.sdk.v1.RunRequest.poll_result = 3 type=message:dispatch.sdk.v1.PollResult label=singular oneof=directive json=pollResult",
        "field dispatch.sdk.v1.RunRequest.expiration_time = 8 type=message:google.protobuf.Timestamp label=singular json=expirationTime",
        "field dispatch.sdk.v1.RunResponse.status = 1 type=enum:dispatch.sdk.v1.Status label=singular json=status",
        "field dispatch.sdk.v1.Poll.coroutine_state = 1 type=bytes label=singular oneof=state json=coroutineState",
        "field dispatch.sdk.v1.Poll.typed_coroutine_state = 6 type=message:google.protobuf.Any label=singular oneof=state json=typedCoroutineState",
        "field dispatch.sdk.v1.Poll.min_results = 5 type=int32 label=singular json=minResults",
        "field dispatch.sdk.v1.PollResult.typed_coroutine_state = 4 type=message:google.protobuf.Any label=singular oneof=state json=typedCoroutineState",
        "field dispatch.sdk.python.v1.Pickled.pickled_value = 1 type=bytes label=singular json=pickledValue",
        "method dispatch.sdk.v1.DispatchService.Dispatch input=dispatch.sdk.v1.DispatchRequest output=dispatch.sdk.v1.DispatchResponse client_streaming=false server_streaming=false",
        "method dispatch.sdk.v1.FunctionService.Run input=dispatch.sdk.v1.RunRequest output=dispatch.sdk.v1.RunResponse client_streaming=false server_streaming=false",
    ] {
        assert!(
            lock.lines().any(|l| l == line),
            "proto/wire.lock lacks: {line}"
        );
    }

    let model = WireModel::parse(&lock).expect("proto/wire.lock parses");
    // Section 1 totals, for the protocol's own packages (dispatch.sdk.*):
    // 8 files, 11 messages, 1 enum, 2 services, 2 RPCs.
    let protocol = |name: &&String| name.starts_with("dispatch.sdk.");
    let protocol_files = model
        .files
        .values()
        .filter(|file| file.package.starts_with("dispatch.sdk."))
        .count();
    assert_eq!(protocol_files, 8);
    assert_eq!(model.messages.keys().filter(protocol).count(), 11);
    assert_eq!(model.enums.keys().filter(protocol).count(), 1);
    assert_eq!(model.services.len(), 2);
    let rpcs: usize = model.services.values().map(|s| s.methods.len()).sum();
    assert_eq!(rpcs, 2);
    // Section 2: the Status values, in number order.
    let status: Vec<(i32, &str)> = model.enums["dispatch.sdk.v1.Status"]
        .values
        .iter()
        .map(|(number, name)| (*number, name.as_str()))
        .collect();
    let expected = [
        "UNSPECIFIED",
        "OK",
        "TIMEOUT",
        "THROTTLED",
        "INVALID_ARGUMENT",
        "INVALID_RESPONSE",
        "TEMPORARY_ERROR",
        "PERMANENT_ERROR",
        "INCOMPATIBLE_STATE",
        "DNS_ERROR",
        "TCP_ERROR",
        "TLS_ERROR",
        "HTTP_ERROR",
        "UNAUTHENTICATED",
        "PERMISSION_DENIED",
        "NOT_FOUND",
    ];
    let expected: Vec<(i32, String)> = (0..)
        .zip(expected)
        .map(|(number, suffix)| (number, format!("STATUS_{suffix}")))
        .collect();
    let expected: Vec<(i32, &str)> = expected.iter().map(|(n, s)| (*n, s.as_str())).collect();
    assert_eq!(status, expected);
}
