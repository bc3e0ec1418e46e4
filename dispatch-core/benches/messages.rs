//! Binary encoding and decoding of typical `RunRequest` and `RunResponse`
//! messages, taken from the shared vectors (recorded from dispatch-py):
//!
//! * `run_request`: a first call, with a pickled-arguments `Any` input
//!   (~80 bytes), dispatch and root ids, creation and expiration times
//!   (`run_request/python_first_call`, 216 bytes);
//! * `run_response_exit`: an exit with a `StringValue` output
//!   (`run_response/value_string`, 66 bytes);
//! * `run_response_poll`: a poll with two calls carrying pickled inputs, a
//!   typed coroutine state, max wait and min/max results
//!   (`run_response/poll_max_wait`, 459 bytes).
//!
//! Run: `cargo bench -p dispatch-core --bench messages`.
#![allow(missing_docs)]

use core::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use dispatch_core::proto::prost::Message;
use dispatch_core::proto::sdk::v1::{RunRequest, RunResponse};

const RUN_REQUEST_VECTORS: &str = include_str!("../../tests/vectors/messages/run_request.json");
const RUN_RESPONSE_VECTORS: &str = include_str!("../../tests/vectors/messages/run_response.json");

/// The `binary_hex` of the vector `id` in a vector file.
fn vector_binary(file: &str, id: &str) -> Vec<u8> {
    let doc: serde_json::Value = serde_json::from_str(file).expect("vector file is JSON");
    let vector = doc["vectors"]
        .as_array()
        .expect("vectors array")
        .iter()
        .find(|v| v["id"] == id)
        .unwrap_or_else(|| panic!("no vector {id}"));
    let hex = vector["binary_hex"].as_str().expect("binary_hex");
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect()
}

fn bench_message<M: Message + Default>(c: &mut Criterion, name: &str, bytes: &[u8]) {
    let message = M::decode(bytes).expect("vector decodes");
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("encode", |b| b.iter(|| black_box(&message).encode_to_vec()));
    group.bench_function("decode", |b| {
        b.iter(|| M::decode(black_box(bytes)).expect("decodes"))
    });
    group.finish();
}

fn messages(c: &mut Criterion) {
    let request = vector_binary(RUN_REQUEST_VECTORS, "run_request/python_first_call");
    bench_message::<RunRequest>(c, "run_request", &request);
    let exit = vector_binary(RUN_RESPONSE_VECTORS, "run_response/value_string");
    bench_message::<RunResponse>(c, "run_response_exit", &exit);
    let poll = vector_binary(RUN_RESPONSE_VECTORS, "run_response/poll_max_wait");
    bench_message::<RunResponse>(c, "run_response_poll", &poll);
}

criterion_group!(benches, messages);
criterion_main!(benches);
