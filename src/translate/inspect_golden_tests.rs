//! Golden tests: every `testdata/inspect/<case>.pod.json` becomes `<case>.inspect.json` ([`pod_to_inspect`] with
//! the legacy network fields merged in, as the handler sends it) and `<case>.summary.json` ([`pod_to_summary`] at
//! [`NOW`]), compared as `serde_json::Value`. `PODSHIM_BLESS=1 cargo test translate` rewrites the expected files.

use std::path::{Path, PathBuf};

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;
use serde_json::Value;

use super::*;
use crate::translate::summary::pod_to_summary;

/// The clock of the summary cases: a few minutes after the pods were created.
const NOW: &str = "2026-11-24T09:40:00Z";

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/translate/testdata/inspect")
}

fn load(case: &str) -> Pod {
    let text = std::fs::read_to_string(testdata().join(format!("{case}.pod.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn inspect_json(pod: &Pod) -> Value {
    let mut value = serde_json::to_value(pod_to_inspect(pod, None)).unwrap();
    let legacy = legacy_network_fields(&ContainerRecord::from_pod(pod, None));
    value["NetworkSettings"].as_object_mut().unwrap().extend(legacy);
    value
}

fn cases() -> Vec<String> {
    let mut cases: Vec<String> = std::fs::read_dir(testdata())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.strip_suffix(".pod.json").map(str::to_string))
        .collect();
    cases.sort();
    cases
}

#[test]
fn golden_inspect_and_summary_files_match() {
    let bless = std::env::var("PODSHIM_BLESS").is_ok_and(|v| v == "1");
    let now: Timestamp = NOW.parse().unwrap();
    let mut failures = Vec::new();
    assert!(cases().len() >= 5, "{:?}", cases());
    for case in cases() {
        let pod = load(&case);
        let outputs =
            [("inspect", inspect_json(&pod)), ("summary", serde_json::to_value(pod_to_summary(&pod, now)).unwrap())];
        for (kind, actual) in outputs {
            let path = testdata().join(format!("{case}.{kind}.json"));
            if bless {
                std::fs::write(&path, serde_json::to_string_pretty(&actual).unwrap() + "\n").unwrap();
                continue;
            }
            let expected: Option<Value> =
                std::fs::read_to_string(&path).ok().map(|s| serde_json::from_str(&s).unwrap());
            if expected.as_ref() != Some(&actual) {
                failures.push(format!(
                    "{case}: expected {}\n--- actual:\n{}",
                    path.display(),
                    serde_json::to_string_pretty(&actual).unwrap()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "golden mismatches (PODSHIM_BLESS=1 to accept):\n{}", failures.join("\n\n"));
}
