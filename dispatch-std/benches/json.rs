//! Proto3 JSON encoding and decoding of the same typical `RunRequest` and
//! `RunResponse` messages as dispatch-core's `messages` benchmark (the shared
//! vectors `run_request/python_first_call`, `run_response/value_string` and
//! `run_response/poll_max_wait`), each with an `Any` resolved through the
//! type registry.
//!
//! Run: `cargo bench -p dispatch-std --bench json`.
#![allow(missing_docs)]

use core::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use dispatch_proto::prost::{Message, Name};
use dispatch_proto::sdk::v1::{RunRequest, RunResponse};
use dispatch_std::json;

const RUN_REQUEST_VECTORS: &str = include_str!("../../tests/vectors/messages/run_request.json");
const RUN_RESPONSE_VECTORS: &str = include_str!("../../tests/vectors/messages/run_response.json");

/// The compact JSON text of the vector `id`'s `json` member.
fn vector_json(file: &str, id: &str) -> String {
    let doc: serde_json::Value = serde_json::from_str(file).expect("vector file is JSON");
    let vector = doc["vectors"]
        .as_array()
        .expect("vectors array")
        .iter()
        .find(|v| v["id"] == id)
        .unwrap_or_else(|| panic!("no vector {id}"));
    vector["json"].to_string()
}

fn bench_message<M: Message + Default + Name>(c: &mut Criterion, name: &str, text: &str) {
    let message: M = json::from_json_str(text).expect("vector JSON decodes");
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.bench_function("json_encode", |b| {
        b.iter(|| json::to_json_string(black_box(&message)).expect("encodes"))
    });
    group.bench_function("json_decode", |b| {
        b.iter(|| json::from_json_str::<M>(black_box(text)).expect("decodes"))
    });
    group.finish();
}

fn messages(c: &mut Criterion) {
    // Build the registry outside the measurements.
    json::registry().expect("registry");
    let request = vector_json(RUN_REQUEST_VECTORS, "run_request/python_first_call");
    bench_message::<RunRequest>(c, "run_request", &request);
    let exit = vector_json(RUN_RESPONSE_VECTORS, "run_response/value_string");
    bench_message::<RunResponse>(c, "run_response_exit", &exit);
    let poll = vector_json(RUN_RESPONSE_VECTORS, "run_response/poll_max_wait");
    bench_message::<RunResponse>(c, "run_response_poll", &poll);
}

criterion_group!(benches, messages);
criterion_main!(benches);
