//! The resources the server knows and the discovery documents: `/api`, `/api/v1`, `/apis`,
//! `/apis/storage.k8s.io[/v1]`, `/version`, and the minimal `/openapi/v3` answer kubectl asks for before
//! `create -f` and `apply -f`.

use serde_json::{json, Value};

/// One served resource.
#[derive(Debug, PartialEq, Eq)]
pub struct ResourceInfo {
    /// The API group: "" for the core group (`/api/v1`), else e.g. `storage.k8s.io` (`/apis/storage.k8s.io/v1`).
    pub group: &'static str,
    pub name: &'static str,
    pub singular: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
}

const VERBS: &[&str] = &["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];

pub const RESOURCES: &[ResourceInfo] = &[
    ResourceInfo {
        group: "",
        name: "configmaps",
        singular: "configmap",
        kind: "ConfigMap",
        namespaced: true,
        short_names: &["cm"],
    },
    ResourceInfo {
        group: "",
        name: "events",
        singular: "event",
        kind: "Event",
        namespaced: true,
        short_names: &["ev"],
    },
    ResourceInfo {
        group: "",
        name: "namespaces",
        singular: "namespace",
        kind: "Namespace",
        namespaced: false,
        short_names: &["ns"],
    },
    ResourceInfo { group: "", name: "nodes", singular: "node", kind: "Node", namespaced: false, short_names: &["no"] },
    ResourceInfo {
        group: "",
        name: "persistentvolumeclaims",
        singular: "persistentvolumeclaim",
        kind: "PersistentVolumeClaim",
        namespaced: true,
        short_names: &["pvc"],
    },
    ResourceInfo {
        group: "",
        name: "persistentvolumes",
        singular: "persistentvolume",
        kind: "PersistentVolume",
        namespaced: false,
        short_names: &["pv"],
    },
    ResourceInfo { group: "", name: "pods", singular: "pod", kind: "Pod", namespaced: true, short_names: &["po"] },
    ResourceInfo {
        group: "",
        name: "resourcequotas",
        singular: "resourcequota",
        kind: "ResourceQuota",
        namespaced: true,
        short_names: &["quota"],
    },
    ResourceInfo { group: "", name: "secrets", singular: "secret", kind: "Secret", namespaced: true, short_names: &[] },
    ResourceInfo {
        group: "",
        name: "serviceaccounts",
        singular: "serviceaccount",
        kind: "ServiceAccount",
        namespaced: true,
        short_names: &["sa"],
    },
    ResourceInfo {
        group: "",
        name: "services",
        singular: "service",
        kind: "Service",
        namespaced: true,
        short_names: &["svc"],
    },
    ResourceInfo {
        group: STORAGE_GROUP,
        name: "storageclasses",
        singular: "storageclass",
        kind: "StorageClass",
        namespaced: false,
        short_names: &["sc"],
    },
];

/// The storage API group (StorageClasses), served at version v1.
pub const STORAGE_GROUP: &str = "storage.k8s.io";

impl ResourceInfo {
    /// The `apiVersion` of its objects: `v1` or `group/v1`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            "v1".to_string()
        } else {
            format!("{}/v1", self.group)
        }
    }

    /// The resource as errors name it: `pods`, `storageclasses.storage.k8s.io`.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.name.to_string()
        } else {
            format!("{}.{}", self.name, self.group)
        }
    }
}

/// The subresources: (name, kind, verbs).
const SUBRESOURCES: &[(&str, &str, &[&str])] = &[
    ("namespaces/status", "Namespace", &["get", "patch", "update"]),
    ("nodes/status", "Node", &["get", "patch", "update"]),
    ("persistentvolumeclaims/status", "PersistentVolumeClaim", &["get", "patch", "update"]),
    ("persistentvolumes/status", "PersistentVolume", &["get", "patch", "update"]),
    ("pods/attach", "PodAttachOptions", &["create", "get"]),
    ("pods/binding", "Binding", &["create"]),
    ("pods/exec", "PodExecOptions", &["create", "get"]),
    ("pods/log", "Pod", &["get"]),
    ("pods/portforward", "PodPortForwardOptions", &["create", "get"]),
    ("pods/status", "Pod", &["get", "patch", "update"]),
    ("services/status", "Service", &["get", "patch", "update"]),
];

/// A resource by its plural name (unique across the groups served here).
pub fn resource(name: &str) -> Option<&'static ResourceInfo> {
    RESOURCES.iter().find(|r| r.name == name)
}

/// A resource of `group` by its plural name.
pub fn resource_in(group: &str, name: &str) -> Option<&'static ResourceInfo> {
    RESOURCES.iter().find(|r| r.group == group && r.name == name)
}

pub fn api_versions() -> Value {
    json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]})
}

/// `/apis/storage.k8s.io`.
pub fn storage_group() -> Value {
    let version = json!({"groupVersion": format!("{STORAGE_GROUP}/v1"), "version": "v1"});
    json!({"kind": "APIGroup", "apiVersion": "v1", "name": STORAGE_GROUP, "versions": [version], "preferredVersion": version})
}

pub fn api_group_list() -> Value {
    let mut group = storage_group();
    if let Some(map) = group.as_object_mut() {
        map.remove("kind");
        map.remove("apiVersion");
    }
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": [group]})
}

/// `/api/v1`.
pub fn api_resource_list() -> Value {
    resource_list("")
}

/// `/apis/storage.k8s.io/v1`.
pub fn storage_resource_list() -> Value {
    resource_list(STORAGE_GROUP)
}

fn resource_list(group: &str) -> Value {
    let mut list: Vec<Value> = Vec::new();
    for r in RESOURCES.iter().filter(|r| r.group == group) {
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
    for (name, kind, verbs) in SUBRESOURCES.iter().filter(|_| group.is_empty()) {
        let namespaced = resource(name.split('/').next().unwrap_or_default()).is_some_and(|r| r.namespaced);
        list.push(json!({"name": name, "singularName": "", "namespaced": namespaced, "kind": kind, "verbs": verbs}));
    }
    list.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    let group_version = if group.is_empty() { "v1".to_string() } else { format!("{group}/v1") };
    json!({"kind": "APIResourceList", "groupVersion": group_version, "resources": list})
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
    json!({"paths": {
        "api/v1": {"serverRelativeURL": "/openapi/v3/api/v1?hash=0"},
        "apis/storage.k8s.io/v1": {"serverRelativeURL": "/openapi/v3/apis/storage.k8s.io/v1?hash=0"},
    }})
}

/// `/openapi/v3/api/v1`: the PATCH operation of each kind, declaring the `fieldValidation` query
/// parameter so kubectl leaves validation to the server.
pub fn openapi_v3_core() -> Value {
    openapi_v3("")
}

/// `/openapi/v3/apis/storage.k8s.io/v1`, like [`openapi_v3_core`].
pub fn openapi_v3_storage() -> Value {
    openapi_v3(STORAGE_GROUP)
}

fn openapi_v3(group: &str) -> Value {
    let mut paths = serde_json::Map::new();
    for r in RESOURCES.iter().filter(|r| r.group == group) {
        let prefix = if group.is_empty() { "/api/v1".to_string() } else { format!("/apis/{group}/v1") };
        let path = if r.namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{}/{{name}}", r.name)
        } else {
            format!("{prefix}/{}/{{name}}", r.name)
        };
        let operation = if group.is_empty() { "CoreV1".to_string() } else { "StorageV1".to_string() };
        paths.insert(
            path,
            json!({"patch": {
                "operationId": format!("patch{operation}{}", r.kind),
                "parameters": [{"name": "fieldValidation", "in": "query", "schema": {"type": "string"}}],
                "responses": {"200": {"description": "OK"}},
                "x-kubernetes-action": "patch",
                "x-kubernetes-group-version-kind": {"group": group, "version": "v1", "kind": r.kind},
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
        assert_eq!(find("persistentvolumes/status")["namespaced"], false);
        assert_eq!(find("persistentvolumes")["shortNames"], json!(["pv"]));
        assert!(list["resources"].as_array().unwrap().iter().all(|r| r["name"] != "storageclasses"));
    }

    #[test]
    fn storage_group_serves_storage_classes() {
        assert_eq!(api_group_list()["groups"][0]["preferredVersion"]["groupVersion"], "storage.k8s.io/v1");
        let list = storage_resource_list();
        assert_eq!(list["groupVersion"], "storage.k8s.io/v1");
        assert_eq!(
            list["resources"],
            json!([{"name": "storageclasses", "singularName": "storageclass",
            "namespaced": false, "kind": "StorageClass", "verbs": VERBS, "shortNames": ["sc"]}])
        );
        assert_eq!(resource("storageclasses").unwrap().qualified(), "storageclasses.storage.k8s.io");
        assert_eq!(resource("storageclasses").unwrap().api_version(), "storage.k8s.io/v1");
        assert!(resource_in("", "storageclasses").is_none());
    }
}
