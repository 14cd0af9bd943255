//! Finding the pod and container that `pods/log`, `pods/exec` and `pods/attach` are for.

use serde_json::Value;

use super::store::Store;
use crate::node::PodRef;
use crate::status::ApiError;

/// The annotation kubectl sets to pick a pod's default container.
const DEFAULT_CONTAINER: &str = "kubectl.kubernetes.io/default-container";

/// The pod (404 if missing) and its reference for the node.
pub fn pod(store: &Store, namespace: &str, name: &str) -> Result<(Value, PodRef), ApiError> {
    let pod = store.get("pods", namespace, name).ok_or_else(|| ApiError::not_found("pods", name))?;
    let uid = pod["metadata"]["uid"].as_str().unwrap_or_default().to_string();
    Ok((pod, PodRef { namespace: namespace.to_string(), name: name.to_string(), uid }))
}

fn names(pod: &Value, lists: &[&str]) -> Vec<String> {
    lists
        .iter()
        .filter_map(|l| pod["spec"][l].as_array())
        .flatten()
        .filter_map(|c| c["name"].as_str().map(str::to_string))
        .collect()
}

/// The requested container, or the default one: the only container, else the default-container
/// annotation, else a 400 listing the choices.
pub fn container(pod: &Value, requested: Option<&str>) -> Result<String, ApiError> {
    let pod_name = pod["metadata"]["name"].as_str().unwrap_or_default();
    if let Some(name) = requested.filter(|c| !c.is_empty()) {
        let all = names(pod, &["initContainers", "containers", "ephemeralContainers"]);
        if !all.iter().any(|c| c == name) {
            return Err(ApiError::bad_request(format!("container {name} is not valid for pod {pod_name}")));
        }
        return Ok(name.to_string());
    }
    let containers = names(pod, &["containers"]);
    if containers.len() == 1 {
        return Ok(containers[0].clone());
    }
    if let Some(default) = pod["metadata"]["annotations"][DEFAULT_CONTAINER].as_str() {
        if containers.iter().any(|c| c == default) {
            return Ok(default.to_string());
        }
    }
    let mut choices = containers.join(" ");
    let init = names(pod, &["initContainers"]);
    if !init.is_empty() {
        choices = format!("{choices}] or one of the init containers: [{}", init.join(" "));
    }
    Err(ApiError::bad_request(format!(
        "a container name must be specified for pod {pod_name}, choose one of: [{choices}]"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn default_container_rules() {
        let one = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a"}]}});
        assert_eq!(container(&one, None).unwrap(), "a");
        assert_eq!(container(&one, Some("b")).unwrap_err().message, "container b is not valid for pod p");
        let mut two = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a"}, {"name": "b"}]}});
        assert_eq!(
            container(&two, None).unwrap_err().message,
            "a container name must be specified for pod p, choose one of: [a b]"
        );
        two["metadata"]["annotations"] = json!({DEFAULT_CONTAINER: "b"});
        assert_eq!(container(&two, None).unwrap(), "b");
    }
}
