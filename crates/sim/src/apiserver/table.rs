//! Server-side printing: `meta.k8s.io/v1` Table answers for clients that ask with
//! `Accept: application/json;as=Table;...` (kubectl get), with the real server's columns per kind.

use serde_json::{json, Value};

/// A column: name, type, priority (1 = only with `-o wide`).
type Column = (&'static str, &'static str, u8);

fn columns(resource: &str) -> &'static [Column] {
    match resource {
        "pods" => &[
            ("Name", "string", 0),
            ("Ready", "string", 0),
            ("Status", "string", 0),
            ("Restarts", "string", 0),
            ("Age", "string", 0),
            ("IP", "string", 1),
            ("Node", "string", 1),
            ("Nominated Node", "string", 1),
            ("Readiness Gates", "string", 1),
        ],
        "namespaces" => &[("Name", "string", 0), ("Status", "string", 0), ("Age", "string", 0)],
        "nodes" => &[
            ("Name", "string", 0),
            ("Status", "string", 0),
            ("Roles", "string", 0),
            ("Age", "string", 0),
            ("Version", "string", 0),
        ],
        "configmaps" => &[("Name", "string", 0), ("Data", "integer", 0), ("Age", "string", 0)],
        "secrets" => &[("Name", "string", 0), ("Type", "string", 0), ("Data", "integer", 0), ("Age", "string", 0)],
        "services" => &[
            ("Name", "string", 0),
            ("Type", "string", 0),
            ("Cluster-IP", "string", 0),
            ("External-IP", "string", 0),
            ("Port(s)", "string", 0),
            ("Age", "string", 0),
            ("Selector", "string", 1),
        ],
        "persistentvolumeclaims" => &[
            ("Name", "string", 0),
            ("Status", "string", 0),
            ("Volume", "string", 0),
            ("Capacity", "string", 0),
            ("Access Modes", "string", 0),
            ("StorageClass", "string", 0),
            ("Age", "string", 0),
        ],
        "persistentvolumes" => &[
            ("Name", "string", 0),
            ("Capacity", "string", 0),
            ("Access Modes", "string", 0),
            ("Reclaim Policy", "string", 0),
            ("Status", "string", 0),
            ("Claim", "string", 0),
            ("StorageClass", "string", 0),
            ("Reason", "string", 0),
            ("Age", "string", 0),
            ("VolumeMode", "string", 1),
        ],
        "storageclasses" => &[
            ("Name", "string", 0),
            ("Provisioner", "string", 0),
            ("ReclaimPolicy", "string", 0),
            ("VolumeBindingMode", "string", 0),
            ("AllowVolumeExpansion", "string", 0),
            ("Age", "string", 0),
        ],
        "events" => &[
            ("Last Seen", "string", 0),
            ("Type", "string", 0),
            ("Reason", "string", 0),
            ("Object", "string", 0),
            ("Message", "string", 0),
        ],
        _ => &[("Name", "string", 0), ("Age", "string", 0)],
    }
}

/// A Table of `objects`; `include` is the `includeObject` parameter (None, Object, PartialObjectMetadata).
pub fn table(resource: &str, objects: &[Value], resource_version: Option<&str>, include: &str) -> Value {
    let definitions: Vec<Value> = columns(resource)
        .iter()
        .map(|(name, kind, priority)| {
            let format = if *name == "Name" { "name" } else { "" };
            json!({"name": name, "type": kind, "format": format, "description": "", "priority": priority})
        })
        .collect();
    let rows: Vec<Value> = objects
        .iter()
        .map(|o| {
            let object = match include {
                "None" => Value::Null,
                "Object" => o.clone(),
                _ => {
                    json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"]})
                }
            };
            json!({"cells": cells(resource, o), "object": object})
        })
        .collect();
    let mut metadata = json!({});
    if let Some(rv) = resource_version {
        metadata["resourceVersion"] = json!(rv);
    }
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": metadata, "columnDefinitions": definitions, "rows": rows})
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

fn or_none(text: String) -> String {
    if text.is_empty() {
        "<none>".into()
    } else {
        text
    }
}

fn cells(resource: &str, o: &Value) -> Vec<Value> {
    let name = json!(o["metadata"]["name"]);
    let created = json!(age(&o["metadata"]["creationTimestamp"]));
    let count = |v: &Value| json!(v.as_object().map_or(0, |m| m.len()));
    match resource {
        "pods" => pod_cells(o, name, created),
        "namespaces" => vec![name, json!(s(&o["status"]["phase"])), created],
        "nodes" => {
            let ready = o["status"]["conditions"].as_array().into_iter().flatten().find(|c| c["type"] == "Ready");
            let status = if ready.is_some_and(|c| c["status"] == "True") { "Ready" } else { "NotReady" };
            let roles: Vec<&str> = o["metadata"]["labels"]
                .as_object()
                .into_iter()
                .flatten()
                .filter_map(|(k, v)| {
                    k.strip_prefix("node-role.kubernetes.io/")
                        .or((k == "kubernetes.io/role").then(|| v.as_str().unwrap_or_default()))
                })
                .filter(|r| !r.is_empty())
                .collect();
            let roles = or_none(roles.join(","));
            vec![name, json!(status), json!(roles), created, json!(s(&o["status"]["nodeInfo"]["kubeletVersion"]))]
        }
        "configmaps" => {
            let n = o["data"].as_object().map_or(0, |m| m.len()) + o["binaryData"].as_object().map_or(0, |m| m.len());
            vec![name, json!(n), created]
        }
        "secrets" => vec![name, json!(s(&o["type"])), count(&o["data"]), created],
        "services" => {
            let ports: Vec<String> = o["spec"]["ports"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| format!("{}/{}", p["port"], s(&p["protocol"])))
                .collect();
            let selector: Vec<String> =
                o["spec"]["selector"].as_object().into_iter().flatten().map(|(k, v)| format!("{k}={}", s(v))).collect();
            vec![
                name,
                json!(s(&o["spec"]["type"])),
                json!(or_none(s(&o["spec"]["clusterIP"]))),
                json!("<none>"),
                json!(or_none(ports.join(","))),
                created,
                json!(or_none(selector.join(","))),
            ]
        }
        "persistentvolumeclaims" => vec![
            name,
            json!(phase_or_terminating(o)),
            json!(s(&o["spec"]["volumeName"])),
            json!(s(&o["status"]["capacity"]["storage"])),
            json!(access_modes(&o["status"]["accessModes"])),
            json!(or_none(s(&o["spec"]["storageClassName"]))),
            created,
        ],
        "persistentvolumes" => {
            let claim = &o["spec"]["claimRef"];
            let claim = if claim.is_object() {
                format!("{}/{}", s(&claim["namespace"]), s(&claim["name"]))
            } else {
                String::new()
            };
            vec![
                name,
                json!(s(&o["spec"]["capacity"]["storage"])),
                json!(access_modes(&o["spec"]["accessModes"])),
                json!(s(&o["spec"]["persistentVolumeReclaimPolicy"])),
                json!(phase_or_terminating(o)),
                json!(claim),
                json!(s(&o["spec"]["storageClassName"])),
                json!(s(&o["status"]["reason"])),
                created,
                json!(s(&o["spec"]["volumeMode"])),
            ]
        }
        "storageclasses" => {
            let mut shown = s(&o["metadata"]["name"]);
            if super::volumes::is_default_class(o) {
                shown.push_str(" (default)");
            }
            vec![
                json!(shown),
                json!(s(&o["provisioner"])),
                json!(s(&o["reclaimPolicy"])),
                json!(s(&o["volumeBindingMode"])),
                json!(o["allowVolumeExpansion"].as_bool().unwrap_or(false).to_string()),
                created,
            ]
        }
        "events" => {
            let when = [&o["lastTimestamp"], &o["eventTime"], &o["metadata"]["creationTimestamp"]]
                .into_iter()
                .find(|v| v.is_string())
                .cloned()
                .unwrap_or(Value::Null);
            let object =
                format!("{}/{}", s(&o["involvedObject"]["kind"]).to_lowercase(), s(&o["involvedObject"]["name"]));
            vec![
                json!(age(&when)),
                json!(s(&o["type"])),
                json!(s(&o["reason"])),
                json!(object),
                json!(s(&o["message"])),
            ]
        }
        _ => vec![name, created],
    }
}

/// A claim's or volume's STATUS column: its phase, `Terminating` once deleted.
fn phase_or_terminating(o: &Value) -> String {
    if o["metadata"]["deletionTimestamp"].is_string() {
        "Terminating".into()
    } else {
        s(&o["status"]["phase"])
    }
}

/// Access modes as kubectl shows them: `RWO,ROX,RWX,RWOP`.
fn access_modes(modes: &Value) -> String {
    let short: Vec<&str> = modes
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|m| match m {
            "ReadWriteOnce" => "RWO",
            "ReadOnlyMany" => "ROX",
            "ReadWriteMany" => "RWX",
            "ReadWriteOncePod" => "RWOP",
            other => other,
        })
        .collect();
    short.join(",")
}

fn pod_cells(o: &Value, name: Value, created: Value) -> Vec<Value> {
    let statuses = o["status"]["containerStatuses"].as_array().cloned().unwrap_or_default();
    let total = o["spec"]["containers"].as_array().map_or(0, |c| c.len());
    let ready = statuses.iter().filter(|c| c["ready"] == true).count();
    let restarts: i64 = statuses.iter().filter_map(|c| c["restartCount"].as_i64()).sum();
    // The most recent restart, as kubectl shows it: `2 (5s ago)`.
    let last_restart = statuses
        .iter()
        .filter(|c| c["restartCount"].as_i64().unwrap_or(0) > 0)
        .filter_map(|c| c["lastState"]["terminated"]["finishedAt"].as_str())
        .max();
    let restarts = match last_restart {
        Some(at) if restarts > 0 => format!("{restarts} ({} ago)", age(&json!(at))),
        _ => restarts.to_string(),
    };
    let gates = o["spec"]["readinessGates"].as_array().map_or(0, |g| g.len());
    vec![
        name,
        json!(format!("{ready}/{total}")),
        json!(pod_status(o)),
        json!(restarts),
        created,
        json!(or_none(s(&o["status"]["podIP"]))),
        json!(or_none(s(&o["spec"]["nodeName"]))),
        json!(or_none(s(&o["status"]["nominatedNodeName"]))),
        json!(if gates == 0 { "<none>".to_string() } else { format!("0/{gates}") }),
    ]
}

/// The STATUS column, after kubectl's printPod: phase, or the container's waiting/terminated reason,
/// `Init:...` while init containers run, `Terminating` once deleted.
pub fn pod_status(o: &Value) -> String {
    let status = &o["status"];
    let mut reason = s(&status["reason"]);
    if reason.is_empty() {
        reason = s(&status["phase"]);
    }
    let init_total = o["spec"]["initContainers"].as_array().map_or(0, |c| c.len());
    let mut initializing = false;
    for (i, c) in status["initContainerStatuses"].as_array().into_iter().flatten().enumerate() {
        let term = &c["state"]["terminated"];
        if term.is_object() && term["exitCode"] == 0 {
            continue;
        }
        initializing = true;
        reason = if term.is_object() {
            let r = s(&term["reason"]);
            format!("Init:{}", if r.is_empty() { format!("ExitCode:{}", term["exitCode"]) } else { r })
        } else if let Some(w) =
            c["state"]["waiting"]["reason"].as_str().filter(|r| !r.is_empty() && *r != "PodInitializing")
        {
            format!("Init:{w}")
        } else {
            format!("Init:{i}/{init_total}")
        };
        break;
    }
    if !initializing {
        let mut has_running = false;
        for c in status["containerStatuses"].as_array().into_iter().flatten().rev() {
            let state = &c["state"];
            if let Some(w) = state["waiting"]["reason"].as_str().filter(|r| !r.is_empty()) {
                reason = w.to_string();
            } else if state["terminated"].is_object() {
                let t = &state["terminated"];
                reason = match t["reason"].as_str().filter(|r| !r.is_empty()) {
                    Some(r) => r.to_string(),
                    None if t["signal"].as_i64().unwrap_or(0) != 0 => format!("Signal:{}", t["signal"]),
                    None => format!("ExitCode:{}", t["exitCode"]),
                };
            } else if c["ready"] == true && state["running"].is_object() {
                has_running = true;
            }
        }
        if reason == "Completed" && has_running {
            reason = "Running".into();
        }
    }
    if o["metadata"]["deletionTimestamp"].is_string() && status["reason"] != "NodeLost" {
        reason = "Terminating".into();
    }
    reason
}

/// Age like kubectl's HumanDuration: 45s, 3m12s, 5h, 2d3h, 400d.
fn age(created: &Value) -> String {
    let Some(t) = created.as_str().and_then(|t| t.parse::<jiff::Timestamp>().ok()) else {
        return "<unknown>".into();
    };
    let secs = (jiff::Timestamp::now().as_second() - t.as_second()).max(0);
    human_duration(secs)
}

pub fn human_duration(secs: i64) -> String {
    let (m, h, d) = (secs / 60, secs / 3600, secs / 86400);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 600 => format!("{m}m{}s", s % 60),
        _ if h < 3 => format!("{m}m"),
        _ if h < 8 => format!("{h}h{}m", m % 60),
        _ if h < 48 => format!("{h}h"),
        _ if h < 24 * 8 => format!("{d}d{}h", h % 24),
        _ if h < 24 * 365 * 2 => format!("{d}d"),
        _ if h < 24 * 365 * 8 => format!("{}y{}d", d / 365, d % 365),
        _ => format!("{}y", d / 365),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_status_column() {
        let mut pod = json!({"metadata": {}, "spec": {"containers": [{"name": "c"}]}, "status": {"phase": "Pending",
            "containerStatuses": [{"name": "c", "ready": false, "state": {"waiting": {"reason": "ContainerCreating"}}}]}});
        assert_eq!(pod_status(&pod), "ContainerCreating");
        pod["status"]["containerStatuses"][0]["state"] = json!({"terminated": {"exitCode": 0, "reason": "Completed"}});
        assert_eq!(pod_status(&pod), "Completed");
        pod["metadata"]["deletionTimestamp"] = json!("2024-01-01T00:00:00Z");
        assert_eq!(pod_status(&pod), "Terminating");
    }

    #[test]
    fn storage_columns() {
        let class = json!({"metadata": {"name": "standard", "annotations":
            {"storageclass.kubernetes.io/is-default-class": "true"}}, "provisioner": "p", "reclaimPolicy": "Delete",
            "volumeBindingMode": "Immediate"});
        assert_eq!(
            cells("storageclasses", &class)[..5],
            [json!("standard (default)"), json!("p"), json!("Delete"), json!("Immediate"), json!("false")]
        );
        let claim = json!({"metadata": {"name": "c", "deletionTimestamp": "2024-01-01T00:00:00Z"},
            "spec": {"volumeName": "v", "storageClassName": "standard"},
            "status": {"phase": "Bound", "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce", "ReadWriteMany"]}});
        assert_eq!(
            cells("persistentvolumeclaims", &claim)[..6],
            [json!("c"), json!("Terminating"), json!("v"), json!("1Gi"), json!("RWO,RWX"), json!("standard")]
        );
        let volume = json!({"metadata": {"name": "v"}, "spec": {"capacity": {"storage": "1Gi"},
            "accessModes": ["ReadOnlyMany"], "persistentVolumeReclaimPolicy": "Retain",
            "claimRef": {"namespace": "d", "name": "c"}}, "status": {"phase": "Released"}});
        assert_eq!(
            cells("persistentvolumes", &volume)[..7],
            [json!("v"), json!("1Gi"), json!("ROX"), json!("Retain"), json!("Released"), json!("d/c"), json!("")]
        );
    }

    #[test]
    fn restarts_show_the_last_one() {
        let pod = json!({"metadata": {"name": "p"}, "spec": {"containers": [{}]}, "status": {"phase": "Running",
            "containerStatuses": [{"restartCount": 2, "lastState": {"terminated": {"finishedAt": "2000-01-01T00:00:00Z"}}}]}});
        let cells = cells("pods", &pod);
        assert!(cells[3].as_str().unwrap().starts_with("2 ("), "{}", cells[3]);
        assert!(cells[3].as_str().unwrap().ends_with(" ago)"));
    }

    #[test]
    fn table_rows_and_durations() {
        let pod = json!({"metadata": {"name": "p", "creationTimestamp": "2020-01-01T00:00:00Z"}, "spec": {"containers": [{}]}, "status": {"phase": "Pending"}});
        let t = table("pods", &[pod], Some("5"), "");
        assert_eq!(t["rows"][0]["cells"][0], "p");
        assert_eq!(t["rows"][0]["cells"][1], "0/1");
        assert_eq!(t["rows"][0]["cells"][2], "Pending");
        assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
        assert_eq!(human_duration(5), "5s");
        assert_eq!(human_duration(300), "5m0s");
        assert_eq!(human_duration(4 * 3600), "4h0m");
    }
}
