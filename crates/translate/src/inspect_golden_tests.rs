//! Tests for [`pod_to_inspect`] and [`pod_to_summary`]. Golden tests: every `testdata/inspect/<case>.pod.json` becomes `<case>.inspect.json` ([`pod_to_inspect`] with
//! the legacy network fields merged in, as the handler sends it) and `<case>.summary.json` ([`pod_to_summary`] at
//! [`NOW`]), compared as `serde_json::Value`. `PODSHIM_BLESS=1 cargo test translate` rewrites the expected files.

use std::path::{Path, PathBuf};

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;
use serde_json::{json, Value};

use super::*;
use crate::golden;
use crate::summary::pod_to_summary;

/// The clock of the summary cases: a few minutes after the pods were created.
const NOW: &str = "2026-11-24T09:40:00Z";

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/testdata/inspect")
}

fn load(case: &str) -> Pod {
    let text = std::fs::read_to_string(testdata().join(format!("{case}.pod.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn inspect_json(pod: &Pod) -> Value {
    let mut value = serde_json::to_value(pod_to_inspect(pod, None)).unwrap();
    let legacy = legacy_network_fields(&ContainerView::from_pod(pod, None));
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
    let now: Timestamp = NOW.parse().unwrap();
    let mut failures = Vec::new();
    assert!(cases().len() >= 5, "{:?}", cases());
    for case in cases() {
        let pod = load(&case);
        let outputs =
            [("inspect", inspect_json(&pod)), ("summary", serde_json::to_value(pod_to_summary(&pod, now)).unwrap())];
        for (kind, actual) in outputs {
            let path = testdata().join(format!("{case}.{kind}.json"));
            failures.extend(golden::compare_or_bless(&case, &path, &actual));
        }
    }
    assert!(failures.is_empty(), "golden mismatches (PODSHIM_BLESS=1 to accept):\n{}", failures.join("\n\n"));
}

#[test]
fn a_record_not_stored_yet_is_created_at_the_given_time() {
    use crate::pod::{create_to_pod, PodIdentity};
    let create = serde_json::from_value(json!({"Image": "alpine", "Entrypoint": [""], "Cmd": ["sh", "-c", "exit 3"],
        "Hostname": "web"}))
    .unwrap();
    let ids =
        PodIdentity { id: "ab".repeat(32), name: "fresh".into(), namespace: "podshim".into(), host_gateway: None };
    let pod = create_to_pod(&create, &ids).unwrap();
    let at: Timestamp = "2026-11-24T09:37:16.5Z".parse().unwrap();
    let inspect = pod_to_inspect(&pod, Some(at));
    assert_eq!(inspect.created.as_deref(), Some("2026-11-24T09:37:16.5Z"));
    assert_eq!(inspect.name.as_deref(), Some("/fresh"));
    assert_eq!(inspect.path.as_deref(), Some("sh"), "an empty entrypoint is no entrypoint");
    assert_eq!(inspect.args, Some(vec!["-c".to_string(), "exit 3".to_string()]));
    let state = inspect.state.unwrap();
    assert_eq!(state.status, Some(bollard_stubs::models::ContainerStateStatusEnum::CREATED));
    assert_eq!(state.started_at.as_deref(), Some("0001-01-01T00:00:00Z"));
    assert_eq!(inspect.config.unwrap().hostname.as_deref(), Some("web"));
    assert_eq!(pod_to_inspect(&pod, None).created.as_deref(), Some("0001-01-01T00:00:00Z"));
    let summary = pod_to_summary(&pod, at);
    assert_eq!(summary.created, Some(at.as_second()));
    assert_eq!(summary.command.as_deref(), Some("sh -c 'exit 3'"));
}

#[test]
fn a_pod_without_podshims_annotations_is_shown_from_its_spec() {
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "stranger", "annotations": {"podshim.io/config": "{not json"}},
        "spec": {"containers": [{"name": "main", "image": "nginx", "command": ["nginx"], "args": ["-g", "daemon off;"]}]},
    }))
    .unwrap();
    let inspect = pod_to_inspect(&pod, None);
    assert_eq!(inspect.name.as_deref(), Some("/stranger"));
    assert_eq!(inspect.path.as_deref(), Some("nginx"));
    assert_eq!(inspect.config.as_ref().and_then(|c| c.image.as_deref()), Some("nginx"));
    assert_eq!(inspect.image, Some(crate::image_ref::reference_to_image_id("nginx")));
    let now: Timestamp = NOW.parse().unwrap();
    assert_eq!(pod_to_summary(&pod, now).command.as_deref(), Some("nginx -g 'daemon off;'"));
    let empty = pod_to_inspect(&Pod::default(), None);
    assert_eq!((empty.path.as_deref(), empty.args.map(|a| a.len())), (Some(""), Some(0)));
}

#[test]
fn only_a_running_container_shows_the_pod_ip() {
    let ip = |case: &str| inspect_json(&load(case))["NetworkSettings"]["Networks"]["bridge"]["IPAddress"].clone();
    assert_eq!(ip("running"), "10.244.0.17");
    assert_eq!(ip("exited_3"), "", "Docker shows no address once the container exited");
    assert_eq!(ip("image_pull_failed"), "");
    assert_eq!(ip("restarting"), "", "nor while it waits to restart");
    let legacy = inspect_json(&load("running"))["NetworkSettings"]["IPAddress"].clone();
    assert_eq!(legacy, "10.244.0.17");
}
