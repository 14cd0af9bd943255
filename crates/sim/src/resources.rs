//! Resource requests of pods, as the scheduler and the ResourceQuota admission plugin count them: the node's
//! fit check ("0/1 nodes are available: 1 Insufficient cpu.") and a namespace's quota ("exceeded quota: ...").
//! The words are a v1.20 kube-scheduler's and kube-apiserver's.

use std::collections::BTreeMap;

use serde_json::Value;

/// A quantity (`2`, `500m`, `1.5`, `64Mi`, `1G`, `1e3`) as a number of units (cores, bytes, pods).
pub fn parse_quantity(text: &str) -> Option<f64> {
    let text = text.trim();
    let suffixes: [(&str, f64); 14] = [
        ("Ki", 1024f64),
        ("Mi", 1024f64.powi(2)),
        ("Gi", 1024f64.powi(3)),
        ("Ti", 1024f64.powi(4)),
        ("Pi", 1024f64.powi(5)),
        ("Ei", 1024f64.powi(6)),
        ("m", 1e-3),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
        ("E", 1e18),
        ("", 1.0),
    ];
    let (number, scale) = suffixes.iter().find_map(|(s, scale)| text.strip_suffix(s).map(|n| (n, *scale)))?;
    let value: f64 = number.parse().ok()?;
    (value.is_finite() && value >= 0.0).then_some(value * scale)
}

/// What one pod asks for: the sum of its containers' `requests` (a resource with only a limit requests the
/// limit, as the API server defaults it), and the sum of their `limits`.
pub fn pod_amounts(pod: &Value) -> (BTreeMap<String, f64>, BTreeMap<String, f64>) {
    let mut requests = BTreeMap::new();
    let mut limits = BTreeMap::new();
    for container in pod["spec"]["containers"].as_array().into_iter().flatten() {
        let resources = &container["resources"];
        let asked = |key: &str| resources[key].as_object().cloned().unwrap_or_default();
        let (own_requests, own_limits) = (asked("requests"), asked("limits"));
        for (name, value) in &own_limits {
            *limits.entry(name.clone()).or_insert(0.0) += value.as_str().and_then(parse_quantity).unwrap_or(0.0);
        }
        let mut names: Vec<&String> = own_requests.keys().chain(own_limits.keys()).collect();
        names.sort();
        names.dedup();
        for name in names {
            let value = own_requests.get(name).or_else(|| own_limits.get(name));
            *requests.entry(name.clone()).or_insert(0.0) +=
                value.and_then(Value::as_str).and_then(parse_quantity).unwrap_or(0.0);
        }
    }
    (requests, limits)
}

/// Whether a pod counts: not finished (the scheduler and the quota both skip Succeeded and Failed pods).
pub fn is_active(pod: &Value) -> bool {
    !matches!(pod["status"]["phase"].as_str(), Some("Succeeded" | "Failed"))
}

/// The scheduler's verdict for one node with `allocatable`, running `others`: `None` when `pod` fits, else
/// the PodScheduled message.
pub fn unschedulable_message(pod: &Value, allocatable: &BTreeMap<String, f64>, others: &[Value]) -> Option<String> {
    let (wanted, _) = pod_amounts(pod);
    let mut used: BTreeMap<String, f64> = BTreeMap::new();
    for other in others.iter().filter(|o| is_active(o)) {
        for (name, value) in pod_amounts(other).0 {
            *used.entry(name).or_insert(0.0) += value;
        }
    }
    let short: Vec<String> = ["cpu", "memory", "ephemeral-storage"]
        .iter()
        .filter(|name| {
            let want = wanted.get(**name).copied().unwrap_or(0.0);
            let have = allocatable.get(**name).copied().unwrap_or(f64::INFINITY);
            want > 0.0 && want + used.get(**name).copied().unwrap_or(0.0) > have
        })
        .map(|name| format!("1 Insufficient {name}"))
        .collect();
    (!short.is_empty()).then(|| format!("0/1 nodes are available: {}.", short.join(", ")))
}

/// The ResourceQuota admission of a new pod in a namespace with `quotas`, given the namespace's `pods`: `None`
/// when it is admitted, else the Forbidden message (without the `pods "<name>" is forbidden: ` head).
pub fn quota_refusal(pod: &Value, quotas: &[Value], pods: &[Value]) -> Option<String> {
    let (requests, limits) = pod_amounts(pod);
    let amount = |(requests, limits): &(BTreeMap<String, f64>, BTreeMap<String, f64>), key: &str| match key {
        "pods" => 1.0,
        k if k.starts_with("limits.") => limits.get(&k["limits.".len()..]).copied().unwrap_or(0.0),
        k => requests.get(k.strip_prefix("requests.").unwrap_or(k)).copied().unwrap_or(0.0),
    };
    // A quota on a compute resource makes every container say how much of it it wants.
    let containers: Vec<&Value> = pod["spec"]["containers"].as_array().into_iter().flatten().collect();
    let specified = |key: &str| {
        let (section, resource) = match key.split_once('.') {
            Some(("limits", r)) => ("limits", r),
            Some(("requests", r)) => ("requests", r),
            _ => ("requests", key),
        };
        containers.iter().all(|c| {
            let own = |s: &str| c["resources"][s].get(resource).is_some();
            own(section) || (section == "requests" && own("limits"))
        })
    };
    for quota in quotas {
        let name = quota["metadata"]["name"].as_str().unwrap_or_default();
        let hard = quota["spec"]["hard"].as_object().cloned().unwrap_or_default();
        let compute = |k: &&String| {
            ["cpu", "memory", "requests.cpu", "requests.memory", "limits.cpu", "limits.memory"].contains(&k.as_str())
        };
        let missing: Vec<&str> = hard.keys().filter(compute).filter(|k| !specified(k)).map(String::as_str).collect();
        if !missing.is_empty() {
            return Some(format!("failed quota: {name}: must specify {}", missing.join(",")));
        }
    }
    let mine = (requests, limits);
    let theirs: Vec<_> = pods.iter().filter(|p| is_active(p)).map(pod_amounts).collect();
    for quota in quotas {
        let name = quota["metadata"]["name"].as_str().unwrap_or_default();
        let hard = quota["spec"]["hard"].as_object().cloned().unwrap_or_default();
        let mut requested = Vec::new();
        let mut used = Vec::new();
        let mut limited = Vec::new();
        for (key, limit) in &hard {
            let want = amount(&mine, key);
            if want == 0.0 {
                continue;
            }
            let in_use: f64 = theirs.iter().map(|t| amount(t, key)).sum();
            let Some(limit_value) = limit.as_str().and_then(parse_quantity) else { continue };
            if in_use + want > limit_value {
                requested.push(format!("{key}={}", show(want, key)));
                used.push(format!("{key}={}", show(in_use, key)));
                limited.push(format!("{key}={}", limit.as_str().unwrap_or_default()));
            }
        }
        if !requested.is_empty() {
            return Some(format!(
                "exceeded quota: {name}, requested: {}, used: {}, limited: {}",
                requested.join(","),
                used.join(","),
                limited.join(",")
            ));
        }
    }
    None
}

/// An amount as the API server prints it: whole cores or `500m`, whole bytes.
fn show(value: f64, key: &str) -> String {
    let is_cpu = key == "cpu" || key.ends_with(".cpu");
    // `+ 0.0` turns the -0 of an empty sum into 0.
    if is_cpu && value.fract() != 0.0 {
        format!("{}m", (value * 1000.0).round() + 0.0)
    } else {
        format!("{}", value.round() + 0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(requests: Value, limits: Value) -> Value {
        json!({"spec": {"containers": [{"name": "main", "resources": {"requests": requests, "limits": limits}}]}})
    }

    #[test]
    fn quantities_parse_like_kubernetes() {
        assert_eq!(parse_quantity("2"), Some(2.0));
        assert_eq!(parse_quantity("500m"), Some(0.5));
        assert_eq!(parse_quantity("64Mi"), Some(64.0 * 1024.0 * 1024.0));
        assert_eq!(parse_quantity("1G"), Some(1e9));
        assert_eq!(parse_quantity("x"), None);
    }

    #[test]
    fn a_pod_larger_than_the_node_is_unschedulable_with_the_schedulers_words() {
        let allocatable = BTreeMap::from([("cpu".to_string(), 2.0), ("memory".to_string(), 1e9)]);
        assert_eq!(unschedulable_message(&pod(json!({"cpu": "1"}), json!({})), &allocatable, &[]), None);
        assert_eq!(
            unschedulable_message(&pod(json!({"cpu": "3"}), json!({})), &allocatable, &[]).unwrap(),
            "0/1 nodes are available: 1 Insufficient cpu."
        );
        let both = pod(json!({"cpu": "3", "memory": "2G"}), json!({}));
        assert_eq!(
            unschedulable_message(&both, &allocatable, &[]).unwrap(),
            "0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory."
        );
        let running = pod(json!({"cpu": "1500m"}), json!({}));
        assert!(unschedulable_message(&pod(json!({"cpu": "1"}), json!({})), &allocatable, &[running]).is_some());
    }

    #[test]
    fn a_quota_refuses_with_the_admission_plugins_words() {
        let quota = json!({"metadata": {"name": "q"}, "spec": {"hard": {"pods": "1", "requests.cpu": "1"}}});
        assert_eq!(
            quota_refusal(&pod(json!({"cpu": "2"}), json!({})), std::slice::from_ref(&quota), &[]).unwrap(),
            "exceeded quota: q, requested: requests.cpu=2, used: requests.cpu=0, limited: requests.cpu=1"
        );
        assert_eq!(quota_refusal(&pod(json!({"cpu": "500m"}), json!({})), std::slice::from_ref(&quota), &[]), None);
        assert_eq!(
            quota_refusal(&pod(json!({}), json!({})), std::slice::from_ref(&quota), &[]).unwrap(),
            "failed quota: q: must specify requests.cpu"
        );
        let other = pod(json!({"cpu": "100m"}), json!({}));
        assert_eq!(
            quota_refusal(&pod(json!({"cpu": "100m"}), json!({})), &[quota], &[other]).unwrap(),
            "exceeded quota: q, requested: pods=1, used: pods=1, limited: pods=1"
        );
    }
}
