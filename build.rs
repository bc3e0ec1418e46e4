//! Compiles proto/ into Rust with prost-build, fed by protox (a pure-Rust
//! protobuf compiler), so no machine ever needs `protoc`.
//!
//! It also writes the compiled descriptor set, which `dispatch-std` embeds for
//! its proto3 JSON codec and the wire guard test compares with `proto/wire.lock`.

use std::{env, path::PathBuf};

/// Every .proto file of the project; the wire guard checks this list against proto/.
const PROTO_FILES: &[&str] = &[
    "proto/dispatch/journal/v1/journal.proto",
    "proto/dispatch/sdk/v1/call.proto",
    "proto/dispatch/sdk/v1/dispatch.proto",
    "proto/dispatch/sdk/v1/error.proto",
    "proto/dispatch/sdk/v1/exit.proto",
    "proto/dispatch/sdk/v1/function.proto",
    "proto/dispatch/sdk/v1/poll.proto",
    "proto/dispatch/sdk/v1/status.proto",
    "proto/dispatch/sdk/python/v1/pickled.proto",
];

fn main() -> Result<(), Box<dyn core::error::Error>> {
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").ok_or("OUT_DIR is not set")?);
    // google/protobuf/*.proto are built into protox. Keep them in the set:
    // prost-build needs their descriptors and maps them to prost_types itself.
    let descriptors = protox::compile(PROTO_FILES, ["proto"])?;

    let mut encoded = Vec::new();
    prost::Message::encode(&descriptors, &mut encoded)?;
    std::fs::write(out_dir.join("dispatch_descriptor_set.bin"), encoded)?;

    prost_build::Config::new()
        // BTreeMap, not HashMap: the messages must build without std.
        .btree_map(["."])
        // `prost::Name` on every message: its full name, for the JSON codec's
        // registry look-ups, and its `Any` type URL, with the domain dispatch-py
        // uses for the protocol's own types (docs/protocol/validation.md).
        .enable_type_names()
        .type_name_domain([".dispatch.sdk"], "buf.build/stealthrocket/dispatch-proto")
        // Our own packages take the well-known domain, as `dispatch_core::any`
        // packs every type outside `dispatch.sdk`.
        .type_name_domain([".dispatch.journal"], "type.googleapis.com")
        // prost's derive writes a oneof at the place of its lowest field
        // number; Poll's and PollResult's `state` oneofs span 1..6 and 1..4,
        // so derived code would write typed_coroutine_state first. These two
        // are written by hand (src/field_order.rs) in field-number order.
        .extern_path(".dispatch.sdk.v1.Poll", "crate::sdk::v1::Poll")
        .extern_path(".dispatch.sdk.v1.PollResult", "crate::sdk::v1::PollResult")
        .compile_fds(descriptors)?;

    println!("cargo:rerun-if-changed=proto");
    for file in PROTO_FILES {
        println!("cargo:rerun-if-changed={file}");
    }
    Ok(())
}
