//! Golden tests: every `testdata/<case>.create.json` is translated and compared, as `serde_json::Value`, with
//! `<case>.pod.json` (the pod) or `<case>.error.json` (`{"status": ..., "message": ...}`).
//! `PODSHIM_BLESS=1 cargo test translate` rewrites the expected files from the current output.

use std::path::{Path, PathBuf};

use bollard_stubs::models::ContainerCreateBody;
use serde_json::{json, Value};

use super::pod::{create_to_pod, PodIdentity};
use super::{golden, TranslateError};

const ID: &str = "f308875b87a7626a4b4e313b36aa4f4bfd5d2c782e6dfc20e2ff68ac5c2838ef";

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/testdata")
}

fn identity(case: &str) -> PodIdentity {
    let host_gateway = Some("10.213.0.1".parse().unwrap());
    PodIdentity { id: ID.to_string(), name: case.to_string(), namespace: "podshim".to_string(), host_gateway }
}

fn translate(case: &str) -> Result<Value, TranslateError> {
    let path = testdata().join(format!("{case}.create.json"));
    let body = std::fs::read_to_string(&path).unwrap();
    let create: ContainerCreateBody = serde_json::from_str(&body).unwrap();
    create_to_pod(&create, &identity(case)).map(|pod| serde_json::to_value(pod).unwrap())
}

fn cases() -> Vec<String> {
    let mut cases: Vec<String> = std::fs::read_dir(testdata())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.strip_suffix(".create.json").map(str::to_string))
        .collect();
    cases.sort();
    cases
}

#[test]
fn golden_files_match() {
    let mut failures = Vec::new();
    for case in cases() {
        let (actual, expected_path, stale_path) = match translate(&case) {
            Ok(pod) => (pod, format!("{case}.pod.json"), format!("{case}.error.json")),
            Err(e) => (
                json!({"status": e.status_code(), "message": e.to_string()}),
                format!("{case}.error.json"),
                format!("{case}.pod.json"),
            ),
        };
        if golden::blessing() {
            let _ = std::fs::remove_file(testdata().join(stale_path));
        }
        failures.extend(golden::compare_or_bless(&case, &testdata().join(expected_path), &actual));
    }
    assert!(failures.is_empty(), "golden mismatches (PODSHIM_BLESS=1 to accept):\n{}", failures.join("\n\n"));
}

#[test]
fn error_cases_name_the_option_with_the_right_status() {
    let cases = [
        ("docker_socket_bind_is_unsupported", 400, "DOCKER_HOST"),
        ("container_network_is_unsupported", 400, "cannot join a running pod's network"),
        ("privileged_is_forbidden", 403, "Privileged"),
        ("named_user_is_unsupported", 400, "User"),
        ("nano_cpus_with_quota_conflict", 400, "Nano CPUs and CPU Quota"),
        ("autoremove_with_restart_policy", 400, "'AutoRemove'"),
        ("host_network_is_forbidden", 403, "NetworkMode"),
        ("stop_signal_is_unsupported", 400, "StopSignal"),
    ];
    for (case, status, needle) in cases {
        let err = translate(case).unwrap_err();
        assert_eq!(err.status_code(), status, "{case}: {err}");
        assert!(err.to_string().contains(needle), "{case}: {err}");
    }
}

#[test]
fn minimal_echo_is_the_recorded_cli_body() {
    let pod = translate("minimal_echo").unwrap();
    assert_eq!(pod["spec"]["containers"][0]["args"], json!(["echo", "hi"]));
    assert_eq!(pod["spec"]["restartPolicy"], "Never");
    assert_eq!(pod["metadata"]["annotations"]["podshim.io/auto-remove"], "true");
    let config: Value =
        serde_json::from_str(pod["metadata"]["annotations"]["podshim.io/config"].as_str().unwrap()).unwrap();
    assert_eq!(config["HostConfig"]["AutoRemove"], true);
    assert_eq!(config["Cmd"], json!(["echo", "hi"]));
}

#[test]
fn config_annotation_round_trips_to_the_same_create_body() {
    for case in cases() {
        let body = std::fs::read_to_string(testdata().join(format!("{case}.create.json"))).unwrap();
        let create: ContainerCreateBody = serde_json::from_str(&body).unwrap();
        let Ok(pod) = create_to_pod(&create, &identity(&case)) else { continue };
        let annotations = pod.metadata.annotations.unwrap_or_default();
        let mut stored: ContainerCreateBody =
            serde_json::from_str(&annotations[super::labels::CONFIG_ANNOTATION]).unwrap();
        // `ExposedPorts` is a JSON object: its keys have no order.
        let mut create = create;
        for ports in [&mut stored.exposed_ports, &mut create.exposed_ports].into_iter().flatten() {
            ports.sort();
        }
        assert_eq!(stored, create, "{case}");
    }
}
