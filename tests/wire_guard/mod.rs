//! The wire guard's machinery: compile `proto/`, model it, compare it with
//! `proto/wire.lock`, and lint it. The tests themselves are in
//! `tests/wire_guard.rs` (against the working tree) and in `self_tests`
//! (against mutated in-memory descriptors).

pub(crate) mod breaking;
pub(crate) mod lint;
pub(crate) mod model;
#[cfg(test)]
mod self_tests;

use std::path::{Path, PathBuf};

use prost_types::FileDescriptorProto;

use breaking::breaking_changes;
use model::WireModel;

/// The one command that refreshes `proto/wire.lock` after an addition.
pub(crate) const REFRESH_COMMAND: &str = "DISPATCH_UPDATE_WIRE_LOCK=1 cargo test --test wire_guard";

/// The environment variable that lets the guard rewrite the lock.
pub(crate) const UPDATE_VARIABLE: &str = "DISPATCH_UPDATE_WIRE_LOCK";

/// The `proto/` directory of the working tree.
pub(crate) fn proto_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("proto")
}

/// The lock file.
pub(crate) fn lock_path() -> PathBuf {
    proto_dir().join("wire.lock")
}

/// Every `.proto` file under `proto/`, as `/`-separated paths relative to it
/// (the names `import` uses), sorted.
pub(crate) fn proto_files() -> Vec<String> {
    fn walk(dir: &Path, relative: &str, out: &mut Vec<String>) {
        let entries = std::fs::read_dir(dir)
            .unwrap_or_else(|err| panic!("cannot list {}: {err}", dir.display()));
        for entry in entries {
            let entry = entry.unwrap_or_else(|err| panic!("cannot list {}: {err}", dir.display()));
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            let child = if relative.is_empty() {
                name.clone()
            } else {
                format!("{relative}/{name}")
            };
            if path.is_dir() {
                walk(&path, &child, out);
            } else if name.ends_with(".proto") {
                out.push(child);
            }
        }
    }
    let mut files = Vec::new();
    walk(&proto_dir(), "", &mut files);
    files.sort();
    files
}

/// Compiles every `.proto` file under `proto/` with protox, now, from the
/// working tree (not the descriptor set build.rs embedded), and returns the
/// descriptors of those files only, without the well-known types they import.
pub(crate) fn compile_proto_dir() -> Vec<FileDescriptorProto> {
    let files = proto_files();
    assert!(!files.is_empty(), "no .proto file under proto/");
    let compiled = protox::Compiler::new([proto_dir()])
        .and_then(|mut compiler| {
            compiler
                .include_imports(false)
                .include_source_info(false)
                .open_files(&files)?;
            Ok(compiler.file_descriptor_set())
        })
        .unwrap_or_else(|err| panic!("proto/ does not compile: {err:?}"));
    compiled.file
}

/// What the guard concludes from the lock text and the current model.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The lock describes proto/ exactly.
    UpToDate,
    /// Write this text to the lock (only with the update variable set, and
    /// only when nothing breaks).
    Refresh(String),
    /// Fail with this message.
    Fail(String),
}

/// Compares `current` with the lock (`None` when the file does not exist).
/// Breaks always fail, with or without `update`: a refresh never records one.
pub(crate) fn check(lock: Option<&str>, current: &WireModel, update: bool) -> Verdict {
    let rendered = current.render();
    let Some(lock) = lock else {
        return if update {
            Verdict::Refresh(rendered)
        } else {
            Verdict::Fail(format!(
                "proto/wire.lock does not exist; create it with:\n  {REFRESH_COMMAND}"
            ))
        };
    };
    let locked = match WireModel::parse(lock) {
        Ok(locked) => locked,
        Err(why) => {
            return Verdict::Fail(format!(
                "proto/wire.lock cannot be read ({why}). Restore it from git; \
                 it is never rewritten while it cannot be compared."
            ));
        }
    };
    let breaks = breaking_changes(&locked, current);
    if !breaks.is_empty() {
        let list: Vec<String> = breaks.iter().map(|b| format!("  {b}")).collect();
        let refresh_note = if update {
            "proto/wire.lock was NOT refreshed: a refresh never records a breaking change.\n"
        } else {
            ""
        };
        return Verdict::Fail(format!(
            "{} wire- or JSON-breaking change(s) in proto/ against proto/wire.lock:\n{}\n{refresh_note}\
             Undo them: peers built from the locked protocol would misread these messages. \
             See docs/wire-guard.md.",
            breaks.len(),
            list.join("\n"),
        ));
    }
    if rendered == lock {
        Verdict::UpToDate
    } else if update {
        Verdict::Refresh(rendered)
    } else {
        Verdict::Fail(format!(
            "proto/ differs from proto/wire.lock without breaking it (an addition, or a \
             compatible change):\n{}\nIf this is intended, refresh the lock and commit it:\n  {REFRESH_COMMAND}",
            line_diff(lock, &rendered)
        ))
    }
}

/// Lines only in the lock (`-`) and lines only in the new rendering (`+`).
/// The header comment is left out: it is rewritten with every refresh.
pub(crate) fn line_diff(lock: &str, rendered: &str) -> String {
    let elements = |text: &str| -> Vec<String> {
        text.lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .map(str::to_owned)
            .collect()
    };
    let old = elements(lock);
    let new = elements(rendered);
    let mut out = Vec::new();
    out.extend(
        old.iter()
            .filter(|l| !new.contains(l))
            .map(|l| format!("- {l}")),
    );
    out.extend(
        new.iter()
            .filter(|l| !old.contains(l))
            .map(|l| format!("+ {l}")),
    );
    if out.is_empty() {
        out.push("  (only comments or layout differ)".to_owned());
    }
    out.join("\n")
}
