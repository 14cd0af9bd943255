//! Golden-file comparison shared by the translation tests: compare with the expected JSON, or rewrite it when
//! `PODSHIM_BLESS=1` (the way kube-derive's UI tests use `TRYBUILD=overwrite`).

use std::path::Path;

use serde_json::Value;

/// Whether this run rewrites the expected files.
pub fn blessing() -> bool {
    std::env::var("PODSHIM_BLESS").is_ok_and(|v| v == "1")
}

/// Compares `actual` with the JSON in `path` (rewriting the file when blessing); the mismatch, if any.
pub fn compare_or_bless(case: &str, path: &Path, actual: &Value) -> Option<String> {
    let pretty = serde_json::to_string_pretty(actual).unwrap_or_default();
    if blessing() {
        std::fs::write(path, pretty + "\n").expect("write a golden file");
        return None;
    }
    let expected: Option<Value> = std::fs::read_to_string(path).ok().and_then(|s| serde_json::from_str(&s).ok());
    (expected.as_ref() != Some(actual)).then(|| format!("{case}: expected {}\n--- actual:\n{pretty}", path.display()))
}
