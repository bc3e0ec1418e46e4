//! Shared bookkeeping of the vector harness, and the routing of each file to
//! the module that knows its category.

pub mod connect;
pub mod keys;
pub mod messages;
pub mod python;
pub mod signatures;

use std::collections::BTreeMap;
use std::path::Path;

/// Runs every vector of one file, recording results in the tally.
pub type FileRunner = fn(&Path, &serde_json::Value, &mut Tally);

/// Vector kinds that describe another language's types and so cannot apply to
/// a Rust implementation: `(category, kind, why)`. This is the one place where
/// vectors are counted as not applicable.
pub const NOT_APPLICABLE: &[(&str, &str, &str)] = &[
    (
        "status_mapping",
        "python_exception",
        "maps Python exception classes, which do not exist in Rust",
    ),
    (
        "status_mapping",
        "python_output",
        "maps returned Python objects, which do not exist in Rust",
    ),
];

/// What the harness ran, skipped as not applicable, and saw fail.
#[derive(Default)]
pub struct Tally {
    pub ran: usize,
    pub per_category: BTreeMap<String, usize>,
    pub not_applicable: BTreeMap<String, usize>,
    pub failures: Vec<String>,
}

impl Tally {
    /// Counts one vector that ran (whatever its outcome).
    pub fn ran(&mut self, category: &str) {
        self.ran += 1;
        *self.per_category.entry(category.to_owned()).or_default() += 1;
    }

    /// Records a failure for the vector `id`.
    pub fn fail(&mut self, id: &str, why: &str) {
        self.failures.push(format!("{id}: {why}"));
    }

    /// Counts a vector whose kind is listed in [`NOT_APPLICABLE`]; fails otherwise.
    pub fn not_applicable(&mut self, category: &str, kind: &str, id: &str) {
        if NOT_APPLICABLE
            .iter()
            .any(|(c, k, _)| *c == category && *k == kind)
        {
            *self
                .not_applicable
                .entry(format!("{category}/{kind}"))
                .or_default() += 1;
        } else {
            self.fail(
                id,
                &format!("kind {kind:?} of category {category:?} is not understood"),
            );
        }
    }

    /// One line per category, then the totals.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        for (category, n) in &self.per_category {
            out.push_str(&format!("  {category}: {n}\n"));
        }
        for (kind, n) in &self.not_applicable {
            out.push_str(&format!("  not applicable: {kind}: {n}\n"));
        }
        let skipped: usize = self.not_applicable.values().sum();
        out.push_str(&format!(
            "vectors: {} ran, {} not applicable, {} failed",
            self.ran,
            skipped,
            self.failures.len()
        ));
        out
    }
}

/// The vectors array of a file, or a failure.
pub fn vectors<'a>(
    file: &Path,
    doc: &'a serde_json::Value,
    tally: &mut Tally,
) -> &'a [serde_json::Value] {
    if let Err(why) = file_fields(doc) {
        tally.fail(&file.display().to_string(), &why);
    }
    match doc.get("vectors").and_then(|v| v.as_array()) {
        Some(v) => v,
        None => {
            tally.fail(&file.display().to_string(), "no \"vectors\" array");
            &[]
        }
    }
}

/// The file-level fields of both READMEs: `schema_version` (1 when
/// present), `category`, `split`, `set`, `meta` and `vectors`, nothing else;
/// and every vector's `id` unique in its file.
fn file_fields(doc: &serde_json::Value) -> Result<(), String> {
    const KNOWN: &[&str] = &[
        "schema_version",
        "category",
        "split",
        "set",
        "meta",
        "vectors",
    ];
    let object = doc.as_object().ok_or("the file is not a JSON object")?;
    if let Some(key) = object.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return Err(format!("unknown file-level field {key:?}"));
    }
    match object.get("schema_version") {
        None => {}
        Some(version) if version.as_u64() == Some(1) => {}
        Some(other) => return Err(format!("schema_version {other} is not 1")),
    }
    let mut ids = std::collections::BTreeSet::new();
    for vector in object
        .get("vectors")
        .and_then(|v| v.as_array())
        .into_iter()
        .flatten()
    {
        if let Some(id) = vector.get("id").and_then(|id| id.as_str())
            && !ids.insert(id)
        {
            return Err(format!("the id {id:?} is not unique"));
        }
    }
    Ok(())
}

/// Routes a file under `messages/` by its `category`.
pub fn run_messages_file(file: &Path, doc: &serde_json::Value, tally: &mut Tally) {
    let category = doc.get("category").and_then(|c| c.as_str()).unwrap_or("");
    let vectors = vectors(file, doc, tally);
    match category {
        "connect_error" | "connect_http_inference" | "status_mapping" => {
            connect::run(category, vectors, tally)
        }
        "signature" => signatures::run_dispatch_py_signing(vectors, tally),
        c if messages::CATEGORIES.contains(&c) => messages::run(category, vectors, tally),
        other => tally.fail(
            &file.display().to_string(),
            &format!("unknown message vector category {other:?}"),
        ),
    }
}

/// Routes a file under `signatures/` by its `set`.
pub fn run_signatures_file(file: &Path, doc: &serde_json::Value, tally: &mut Tally) {
    let set = doc.get("set").and_then(|c| c.as_str()).unwrap_or("");
    let vectors = vectors(file, doc, tally);
    signatures::run(file, set, vectors, tally);
}
