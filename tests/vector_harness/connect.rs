//! Connect error bodies, HTTP-to-code inference, and status mappings.

pub fn run(category: &str, vectors: &[serde_json::Value], tally: &mut super::Tally) {
    for v in vectors {
        let id = v.get("id").and_then(|i| i.as_str()).unwrap_or("?");
        tally.ran(category);
        tally.fail(id, "connect vectors are not wired up yet");
    }
}
