//! Defaulting on create, per kind, with the values a real API server (plus its default admission
//! plugins) fills in.

use serde_json::{json, Value};

/// The finalizer of a claim while pods may use it (the StorageObjectInUseProtection admission plugin's).
pub const PVC_PROTECTION: &str = "kubernetes.io/pvc-protection";
/// The finalizer of a volume while it is bound.
pub const PV_PROTECTION: &str = "kubernetes.io/pv-protection";

/// Sets `key` in `obj` if it is absent or null.
fn default(obj: &mut Value, key: &str, value: Value) {
    if obj.get(key).is_none_or(Value::is_null) {
        obj[key] = value;
    }
}

/// Defaults a new object of `resource`.
pub fn apply(resource: &str, object: &mut Value) {
    match resource {
        "pods" => pod(object),
        "namespaces" => namespace(object),
        "secrets" => {
            default(object, "type", json!("Opaque"));
            fold_string_data(object);
        }
        "services" => service(object),
        "persistentvolumeclaims" => {
            default(object, "spec", json!({}));
            default(&mut object["spec"], "volumeMode", json!("Filesystem"));
            object["status"] = json!({"phase": "Pending"});
            add_finalizer(object, PVC_PROTECTION);
        }
        "persistentvolumes" => {
            default(object, "spec", json!({}));
            let spec = &mut object["spec"];
            default(spec, "persistentVolumeReclaimPolicy", json!("Retain"));
            default(spec, "volumeMode", json!("Filesystem"));
            if spec["hostPath"].is_object() {
                default(&mut spec["hostPath"], "type", json!(""));
            }
            object["status"] = json!({"phase": "Pending"});
            add_finalizer(object, PV_PROTECTION);
        }
        "storageclasses" => {
            default(object, "reclaimPolicy", json!("Delete"));
            default(object, "volumeBindingMode", json!("Immediate"));
        }
        _ => {}
    }
}

/// What the StorageObjectInUseProtection admission plugin does: the protection finalizer on every new claim
/// and volume.
fn add_finalizer(object: &mut Value, finalizer: &str) {
    default(&mut object["metadata"], "finalizers", json!([]));
    if let Some(list) = object["metadata"]["finalizers"].as_array_mut() {
        if !list.iter().any(|f| f == finalizer) {
            list.push(json!(finalizer));
        }
    }
}

/// A Secret's write-only `stringData` goes into `data` (base64), overriding keys of the same name.
pub fn fold_string_data(secret: &mut Value) {
    use base64::Engine;
    let Some(Value::Object(strings)) = secret.as_object_mut().and_then(|m| m.remove("stringData")) else { return };
    if !secret["data"].is_object() {
        secret["data"] = json!({});
    }
    for (key, value) in strings {
        let text = value.as_str().unwrap_or_default();
        secret["data"][key] = json!(base64::engine::general_purpose::STANDARD.encode(text));
    }
}

fn namespace(object: &mut Value) {
    let name = object["metadata"]["name"].clone();
    default(&mut object["metadata"], "labels", json!({}));
    object["metadata"]["labels"]["kubernetes.io/metadata.name"] = name;
    object["spec"] = json!({"finalizers": ["kubernetes"]});
    object["status"] = json!({"phase": "Active"});
}

fn service(object: &mut Value) {
    default(object, "spec", json!({}));
    let spec = &mut object["spec"];
    default(spec, "type", json!("ClusterIP"));
    default(spec, "sessionAffinity", json!("None"));
    default(spec, "internalTrafficPolicy", json!("Cluster"));
    default(spec, "ipFamilies", json!(["IPv4"]));
    default(spec, "ipFamilyPolicy", json!("SingleStack"));
    if spec["clusterIP"].is_null() {
        let bytes = uuid::Uuid::new_v4().into_bytes();
        let ip = format!("10.96.{}.{}", bytes[0], bytes[1].max(1));
        spec["clusterIP"] = json!(ip);
        spec["clusterIPs"] = json!([ip]);
    }
    if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
        for port in ports {
            default(port, "protocol", json!("TCP"));
            let number = port["port"].clone();
            default(port, "targetPort", number);
        }
    }
    object["status"] = json!({"loadBalancer": {}});
}

fn pod(object: &mut Value) {
    object["metadata"]["generation"] = json!(1);
    default(object, "spec", json!({}));
    let spec = &mut object["spec"];
    default(spec, "restartPolicy", json!("Always"));
    default(spec, "terminationGracePeriodSeconds", json!(30));
    default(spec, "dnsPolicy", json!("ClusterFirst"));
    default(spec, "schedulerName", json!("default-scheduler"));
    default(spec, "securityContext", json!({}));
    let account = spec.get("serviceAccountName").or(spec.get("serviceAccount")).cloned();
    let account = account.filter(|a| a.as_str().is_some_and(|s| !s.is_empty())).unwrap_or(json!("default"));
    spec["serviceAccountName"] = account.clone();
    spec["serviceAccount"] = account;
    default(spec, "enableServiceLinks", json!(true));
    default(spec, "priority", json!(0));
    default(spec, "preemptionPolicy", json!("PreemptLowerPriority"));
    default_tolerations(spec);
    if let Some(volumes) = spec.get_mut("volumes").and_then(Value::as_array_mut) {
        volumes.iter_mut().for_each(volume);
    }
    for list in ["initContainers", "containers", "ephemeralContainers"] {
        if let Some(containers) = spec.get_mut(list).and_then(Value::as_array_mut) {
            containers.iter_mut().for_each(container);
        }
    }
    let qos = qos_class(spec);
    object["status"] = json!({"phase": "Pending", "qosClass": qos});
}

/// The DefaultTolerationSeconds admission plugin's two tolerations.
fn default_tolerations(spec: &mut Value) {
    default(spec, "tolerations", json!([]));
    let Some(tolerations) = spec["tolerations"].as_array_mut() else { return };
    for key in ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"] {
        if !tolerations.iter().any(|t| t["key"] == key) {
            tolerations
                .push(json!({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}));
        }
    }
}

fn container(c: &mut Value) {
    default(c, "terminationMessagePath", json!("/dev/termination-log"));
    default(c, "terminationMessagePolicy", json!("File"));
    let image = c["image"].as_str().unwrap_or_default();
    default(c, "imagePullPolicy", json!(image_pull_policy(image)));
    default(c, "resources", json!({}));
    if let Some(ports) = c.get_mut("ports").and_then(Value::as_array_mut) {
        ports.iter_mut().for_each(|p| default(p, "protocol", json!("TCP")));
    }
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(p) = c.get_mut(probe).filter(|p| p.is_object()) {
            default(p, "timeoutSeconds", json!(1));
            default(p, "periodSeconds", json!(10));
            default(p, "successThreshold", json!(1));
            default(p, "failureThreshold", json!(3));
            if let Some(get) = p.get_mut("httpGet").filter(|g| g.is_object()) {
                default(get, "path", json!("/"));
                default(get, "scheme", json!("HTTP"));
            }
        }
    }
    if let Some(env) = c.get_mut("env").and_then(Value::as_array_mut) {
        for var in env {
            if var["valueFrom"]["fieldRef"].is_object() {
                default(&mut var["valueFrom"]["fieldRef"], "apiVersion", json!("v1"));
            }
        }
    }
}

/// File modes of configMap, secret, projected and downwardAPI volumes (0644); hostPath type "".
fn volume(v: &mut Value) {
    for source in ["configMap", "secret", "projected", "downwardAPI"] {
        if let Some(s) = v.get_mut(source).filter(|s| s.is_object()) {
            default(s, "defaultMode", json!(420));
        }
    }
    if let Some(host) = v.get_mut("hostPath").filter(|h| h.is_object()) {
        default(host, "type", json!(""));
    }
}

/// `Always` for `:latest` or an untagged image (a digest counts as a tag), else `IfNotPresent`.
pub fn image_pull_policy(image: &str) -> &'static str {
    let without_digest = image.split('@').next().unwrap_or(image);
    let last = without_digest.rsplit('/').next().unwrap_or(without_digest);
    if image.contains('@') {
        return "IfNotPresent";
    }
    match last.split_once(':') {
        Some((_, "latest")) | None => "Always",
        Some(_) => "IfNotPresent",
    }
}

/// BestEffort without requests or limits; Guaranteed when every container has equal cpu and memory
/// requests and limits; else Burstable.
fn qos_class(spec: &Value) -> &'static str {
    let containers: Vec<&Value> =
        ["initContainers", "containers"].iter().filter_map(|k| spec[k].as_array()).flatten().collect();
    let res = |c: &Value, kind: &str, r: &str| c["resources"][kind][r].as_str().map(str::to_string);
    let any = containers
        .iter()
        .any(|c| ["requests", "limits"].iter().any(|k| c["resources"][k].as_object().is_some_and(|m| !m.is_empty())));
    if !any {
        return "BestEffort";
    }
    let guaranteed = containers.iter().all(|c| {
        ["cpu", "memory"].iter().all(|r| {
            let limit = res(c, "limits", r);
            limit.is_some() && (res(c, "requests", r).is_none() || res(c, "requests", r) == limit)
        })
    });
    if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_defaults_match_the_real_server() {
        let mut pod = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}});
        apply("pods", &mut pod);
        let spec = &pod["spec"];
        assert_eq!(spec["restartPolicy"], "Always");
        assert_eq!(spec["terminationGracePeriodSeconds"], 30);
        assert_eq!(spec["serviceAccountName"], "default");
        assert_eq!(spec["containers"][0]["imagePullPolicy"], "Always");
        assert_eq!(spec["containers"][0]["terminationMessagePath"], "/dev/termination-log");
        assert_eq!(pod["status"], json!({"phase": "Pending", "qosClass": "BestEffort"}));
        assert_eq!(spec["tolerations"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn probe_and_volume_defaults_match_the_real_server() {
        let mut pod = json!({"metadata": {"name": "p"}, "spec": {
            "containers": [{"name": "c", "image": "busybox", "readinessProbe": {"httpGet": {"port": 80}}}],
            "volumes": [{"name": "a", "configMap": {"name": "x"}}, {"name": "b", "hostPath": {"path": "/tmp"}}]}});
        apply("pods", &mut pod);
        assert_eq!(
            pod["spec"]["containers"][0]["readinessProbe"],
            json!({"httpGet": {"port": 80, "path": "/", "scheme": "HTTP"}, "timeoutSeconds": 1, "periodSeconds": 10,
                "successThreshold": 1, "failureThreshold": 3})
        );
        assert_eq!(pod["spec"]["volumes"][0]["configMap"]["defaultMode"], 420);
        assert_eq!(pod["spec"]["volumes"][1]["hostPath"]["type"], "");
    }

    #[test]
    fn secret_string_data_is_folded_into_data() {
        let mut secret =
            json!({"metadata": {"name": "s"}, "data": {"a": "eA==", "b": "eA=="}, "stringData": {"b": "yz"}});
        apply("secrets", &mut secret);
        assert_eq!(secret, json!({"metadata": {"name": "s"}, "type": "Opaque", "data": {"a": "eA==", "b": "eXo="}}));
    }

    #[test]
    fn pull_policy_by_tag() {
        assert_eq!(image_pull_policy("busybox"), "Always");
        assert_eq!(image_pull_policy("busybox:latest"), "Always");
        assert_eq!(image_pull_policy("busybox:1.36"), "IfNotPresent");
        assert_eq!(image_pull_policy("localhost:5000/busybox"), "Always");
        assert_eq!(image_pull_policy("busybox@sha256:abc"), "IfNotPresent");
    }

    #[test]
    fn qos_classes() {
        let spec = |res: Value| json!({"containers": [{"name": "c", "resources": res}]});
        assert_eq!(qos_class(&spec(json!({}))), "BestEffort");
        assert_eq!(qos_class(&spec(json!({"requests": {"cpu": "1"}}))), "Burstable");
        assert_eq!(qos_class(&spec(json!({"limits": {"cpu": "1", "memory": "1Gi"}}))), "Guaranteed");
    }
}
