//! The resources the server knows and the discovery documents: `/api`, `/api/v1`, `/apis`, `/version`,
//! and the minimal `/openapi/v3` answer kubectl asks for before `create -f` and `apply -f`.

use serde_json::{json, Value};

/// One served resource.
#[derive(Debug, PartialEq, Eq)]
pub struct ResourceInfo {
    pub name: &'static str,
    pub singular: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
}

const VERBS: &[&str] = &["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];

pub const RESOURCES: &[ResourceInfo] = &[
    ResourceInfo {
        name: "configmaps",
        singular: "configmap",
        kind: "ConfigMap",
        namespaced: true,
        short_names: &["cm"],
    },
    ResourceInfo { name: "events", singular: "event", kind: "Event", namespaced: true, short_names: &["ev"] },
    ResourceInfo {
        name: "namespaces",
        singular: "namespace",
        kind: "Namespace",
        namespaced: false,
        short_names: &["ns"],
    },
    ResourceInfo { name: "nodes", singular: "node", kind: "Node", namespaced: false, short_names: &["no"] },
    ResourceInfo {
        name: "persistentvolumeclaims",
        singular: "persistentvolumeclaim",
        kind: "PersistentVolumeClaim",
        namespaced: true,
        short_names: &["pvc"],
    },
    ResourceInfo { name: "pods", singular: "pod", kind: "Pod", namespaced: true, short_names: &["po"] },
    ResourceInfo {
        name: "resourcequotas",
        singular: "resourcequota",
        kind: "ResourceQuota",
        namespaced: true,
        short_names: &["quota"],
    },
    ResourceInfo { name: "secrets", singular: "secret", kind: "Secret", namespaced: true, short_names: &[] },
    ResourceInfo {
        name: "serviceaccounts",
        singular: "serviceaccount",
        kind: "ServiceAccount",
        namespaced: true,
        short_names: &["sa"],
    },
    ResourceInfo { name: "services", singular: "service", kind: "Service", namespaced: true, short_names: &["svc"] },
];

/// The subresources: (name, kind, verbs).
const SUBRESOURCES: &[(&str, &str, &[&str])] = &[
    ("namespaces/status", "Namespace", &["get", "patch", "update"]),
    ("nodes/status", "Node", &["get", "patch", "update"]),
    ("persistentvolumeclaims/status", "PersistentVolumeClaim", &["get", "patch", "update"]),
    ("pods/attach", "PodAttachOptions", &["create", "get"]),
    ("pods/binding", "Binding", &["create"]),
    ("pods/exec", "PodExecOptions", &["create", "get"]),
    ("pods/log", "Pod", &["get"]),
    ("pods/portforward", "PodPortForwardOptions", &["create", "get"]),
    ("pods/status", "Pod", &["get", "patch", "update"]),
    ("services/status", "Service", &["get", "patch", "update"]),
];

pub fn resource(name: &str) -> Option<&'static ResourceInfo> {
    RESOURCES.iter().find(|r| r.name == name)
}

pub fn api_versions() -> Value {
    json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]})
}

pub fn api_group_list() -> Value {
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": []})
}

pub fn api_resource_list() -> Value {
    let mut list: Vec<Value> = Vec::new();
    for r in RESOURCES {
        let verbs: Vec<&str> = if r.name == "namespaces" || r.name == "nodes" {
            VERBS.iter().copied().filter(|v| *v != "deletecollection" || r.name == "nodes").collect()
        } else {
            VERBS.to_vec()
        };
        let mut entry = json!({
            "name": r.name, "singularName": r.singular, "namespaced": r.namespaced, "kind": r.kind, "verbs": verbs,
        });
        if !r.short_names.is_empty() {
            entry["shortNames"] = json!(r.short_names);
        }
        if r.name == "pods" || r.name == "services" {
            entry["categories"] = json!(["all"]);
        }
        list.push(entry);
    }
    for (name, kind, verbs) in SUBRESOURCES {
        let namespaced = !(name.starts_with("namespaces/") || name.starts_with("nodes/"));
        list.push(json!({"name": name, "singularName": "", "namespaced": namespaced, "kind": kind, "verbs": verbs}));
    }
    list.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    json!({"kind": "APIResourceList", "groupVersion": "v1", "resources": list})
}

/// `/version`: the Kubernetes version the simulated cluster claims.
pub fn version() -> Value {
    json!({
        "major": "1", "minor": "33", "gitVersion": "v1.33.0", "gitCommit": "podshim-sim", "gitTreeState": "clean",
        "buildDate": "2025-04-23T00:00:00Z", "goVersion": "go1.24.2", "compiler": "gc",
        "platform": format!("{}/{}", std::env::consts::OS, go_arch()),
    })
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// `/openapi/v3`: one group-version whose document carries no schemas.
/// kubectl then validates on its own side without a schema and builds strategic merge patches from its
/// compiled-in types, which covers every kind this server serves.
pub fn openapi_v3_root() -> Value {
    json!({"paths": {"api/v1": {"serverRelativeURL": "/openapi/v3/api/v1?hash=0"}}})
}

/// `/openapi/v3/api/v1`: the PATCH operation of each kind, declaring the `fieldValidation` query
/// parameter so kubectl leaves validation to the server.
pub fn openapi_v3_core() -> Value {
    let mut paths = serde_json::Map::new();
    for r in RESOURCES {
        let path = if r.namespaced {
            format!("/api/v1/namespaces/{{namespace}}/{}/{{name}}", r.name)
        } else {
            format!("/api/v1/{}/{{name}}", r.name)
        };
        paths.insert(
            path,
            json!({"patch": {
                "operationId": format!("patchCoreV1{}", r.kind),
                "parameters": [{"name": "fieldValidation", "in": "query", "schema": {"type": "string"}}],
                "responses": {"200": {"description": "OK"}},
                "x-kubernetes-action": "patch",
                "x-kubernetes-group-version-kind": {"group": "", "version": "v1", "kind": r.kind},
            }}),
        );
    }
    json!({"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.33.0"}, "paths": paths, "components": {}})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_list_has_short_names_and_subresources() {
        let list = api_resource_list();
        let find = |n: &str| list["resources"].as_array().unwrap().iter().find(|r| r["name"] == n).cloned().unwrap();
        assert_eq!(find("pods")["shortNames"], json!(["po"]));
        assert_eq!(find("namespaces")["namespaced"], false);
        assert_eq!(find("pods/exec")["verbs"], json!(["create", "get"]));
        assert!(find("pods")["verbs"].as_array().unwrap().contains(&json!("watch")));
    }
}
