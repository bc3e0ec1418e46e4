//! The vector harness: runs every vector of every file under `tests/vectors/`
//! (copied unchanged from the shared ground truth) and under each directory
//! listed in `DISPATCH_EXTRA_VECTORS` (colon-separated, relative entries taken
//! from the repository's root; each laid out the same way, with `messages/`
//! and/or `signatures/` inside).
//!
//! A file of an unknown category, or a vector the harness cannot interpret, is
//! a failure, never a silent skip. The only vectors not run are those counted
//! as not applicable, by kind, in [`vector_harness::NOT_APPLICABLE`].

#![allow(unreachable_pub, missing_docs, dead_code)]

#[path = "vector_harness/mod.rs"]
mod vector_harness;

use std::path::{Path, PathBuf};

use vector_harness::Tally;

fn vector_roots() -> Vec<PathBuf> {
    let mut roots = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")];
    if let Some(extra) = std::env::var_os("DISPATCH_EXTRA_VECTORS") {
        for dir in std::env::split_paths(&extra) {
            if !dir.as_os_str().is_empty() {
                // A relative entry is taken from the repository's root, in
                // every binding's harness too, wherever the tests run from.
                roots.push(Path::new(env!("CARGO_MANIFEST_DIR")).join(dir));
            }
        }
    }
    roots
}

fn json_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_vector_file_passes() {
    let mut tally = Tally::default();
    for root in vector_roots() {
        assert!(
            root.is_dir(),
            "vector directory {} does not exist",
            root.display()
        );
        let mut found_any = false;
        for (part, run) in [
            (
                "messages",
                vector_harness::run_messages_file as vector_harness::FileRunner,
            ),
            ("signatures", vector_harness::run_signatures_file),
        ] {
            for file in json_files(&root.join(part)) {
                found_any = true;
                let text = std::fs::read_to_string(&file)
                    .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
                let doc: serde_json::Value = match serde_json::from_str(&text) {
                    Ok(doc) => doc,
                    Err(e) => {
                        tally.fail(&file.display().to_string(), &format!("not JSON: {e}"));
                        continue;
                    }
                };
                run(&file, &doc, &mut tally);
            }
        }
        assert!(
            found_any,
            "{} holds no messages/ or signatures/ vector files",
            root.display()
        );
    }
    println!("{}", tally.summary());
    assert!(
        tally.failures.is_empty(),
        "{} vector failures:\n{}",
        tally.failures.len(),
        tally.failures.join("\n")
    );
    assert!(tally.ran > 0, "no vector ran");
}
