//! `POST /containers/create` (operation ContainerCreate): a create body becomes one Pod with one container.
//!
//! The parts live next door: [`super::process`] (command, env, user), [`super::resources`] (memory and cpu),
//! [`super::network`] (hostname, DNS, hosts), [`super::security`] (capabilities, read-only rootfs) and
//! [`super::refuse`] (what cannot be honoured). This file assembles them and decides restart and stop behaviour.

use std::collections::BTreeMap;

use bollard_stubs::models::{ContainerCreateBody, HostConfig, RestartPolicy, RestartPolicyNameEnum};
use k8s_openapi::api::core::v1::{Container, Pod, PodSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::labels::{self, MAIN_CONTAINER};
use super::{mounts, network, ports, process, refuse, resources, security, TranslateError};

/// Who the pod is: chosen by the caller (the lifecycle layer), which owns randomness and uniqueness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodIdentity {
    /// The container id, 64 lowercase hex ([`labels::new_container_id`]).
    pub id: String,
    /// The Docker name without the leading `/` ([`labels::validate_container_name`] or
    /// [`labels::generated_name`]).
    pub name: String,
    /// The namespace podshim runs its pods in.
    pub namespace: String,
    /// Docker's `host-gateway` (`--add-host name:host-gateway`): the address at which the container reaches the
    /// caller's side, i.e. podshim (see [`network::host_aliases`]). `None` when podshim does not know it.
    pub host_gateway: Option<std::net::IpAddr>,
}

/// Docker's default stop timeout in seconds (Kubernetes' default grace period is 30).
pub const DEFAULT_STOP_TIMEOUT: i64 = 10;
/// Kubernetes' limit for the total size of a pod's annotations, in bytes.
const ANNOTATIONS_MAX_BYTES: usize = 256 * 1024;

/// The pod for a create body. Fails, naming the option, on anything podshim cannot honour.
///
/// Pod-wide choices: one container named [`MAIN_CONTAINER`]; `imagePullPolicy: IfNotPresent` (Docker runs a
/// local image without pulling again, and pulls one it does not have); `automountServiceAccountToken: false`
/// (least privilege: a Docker container has no business with the Kubernetes API); `enableServiceLinks: false`
/// (Docker containers do not get `*_SERVICE_HOST` variables); `spec.hostname` = Hostname or the short id, as in
/// Docker. `Init: true` becomes `shareProcessNamespace: true`: the pause process is then PID 1 and reaps
/// zombies, and the program is not PID 1, so default signal actions apply, which is what docker-init gives.
pub fn create_to_pod(create: &ContainerCreateBody, ids: &PodIdentity) -> Result<Pod, TranslateError> {
    refuse::check(create)?;
    // The volumes themselves are added at start, once named (see `mounts::add_to_pod`); checked here.
    mounts::requested(create, &[])?;
    let default_hc = HostConfig::default();
    let hc = create.host_config.as_ref().unwrap_or(&default_hc);
    let image = create.image.as_deref().filter(|i| !i.is_empty());
    let image = image.ok_or_else(|| TranslateError::InvalidParameter("Config.Image must not be empty".into()))?;
    crate::image_ref::check_reference(image)?;
    let restart_policy = restart_policy(hc.restart_policy.as_ref(), hc.auto_remove == Some(true))?;
    check_stop_signal(create.stop_signal.as_deref().unwrap_or(""))?;
    let grace = grace_period(create.stop_timeout)?;
    network::check_domainname(create.domainname.as_deref().unwrap_or(""))?;
    let hostname = network::hostname(create.hostname.as_deref().unwrap_or(""), &ids.id)?;
    let (command, args) = process::command_and_args(create.entrypoint.as_deref(), create.cmd.as_deref())?;
    ports::requests(create, &[])?;
    let env = process::env_vars(create.env.as_deref().unwrap_or_default())?;
    let working_dir = process::working_dir(create.working_dir.as_deref().unwrap_or(""))?;
    let (dns_policy, dns_config) = network::dns(
        hc.dns.as_deref().unwrap_or_default(),
        hc.dns_search.as_deref().unwrap_or_default(),
        hc.dns_options.as_deref().unwrap_or_default(),
    )?;
    let container = Container {
        name: MAIN_CONTAINER.to_string(),
        image: Some(image.to_string()),
        image_pull_policy: Some("IfNotPresent".to_string()),
        command,
        args,
        env: (!env.is_empty()).then_some(env),
        working_dir,
        ports: ports::container_ports(create)?,
        resources: resources::resources(hc)?,
        security_context: Some(security::container_security(hc, create.user.as_deref().unwrap_or(""))?),
        tty: create.tty.filter(|t| *t),
        stdin: create.open_stdin.filter(|s| *s),
        stdin_once: create.stdin_once.filter(|s| *s),
        ..Default::default()
    };
    let spec = PodSpec {
        containers: vec![container],
        restart_policy: Some(restart_policy.to_string()),
        termination_grace_period_seconds: Some(grace),
        hostname: Some(hostname),
        host_aliases: network::host_aliases(hc.extra_hosts.as_deref().unwrap_or_default(), ids.host_gateway)?,
        dns_policy,
        dns_config,
        security_context: security::pod_security(hc)?,
        share_process_namespace: (hc.init == Some(true)).then_some(true),
        automount_service_account_token: Some(false),
        enable_service_links: Some(false),
        ..Default::default()
    };
    Ok(Pod { metadata: metadata(create, ids, hc)?, spec: Some(spec), status: None })
}

fn metadata(create: &ContainerCreateBody, ids: &PodIdentity, hc: &HostConfig) -> Result<ObjectMeta, TranslateError> {
    let mut pod_labels = create.labels.as_ref().map(labels::kubernetes_labels).unwrap_or_default();
    pod_labels.insert(labels::MANAGED_LABEL.to_string(), labels::MANAGED_VALUE.to_string());
    let mut annotations = BTreeMap::new();
    annotations.insert(labels::ID_ANNOTATION.to_string(), ids.id.clone());
    annotations.insert(labels::NAME_ANNOTATION.to_string(), ids.name.clone());
    annotations.insert(labels::CONFIG_ANNOTATION.to_string(), config_json(create)?);
    if hc.auto_remove == Some(true) {
        annotations.insert(labels::AUTO_REMOVE_ANNOTATION.to_string(), "true".to_string());
    }
    let size: usize = annotations.iter().map(|(k, v)| k.len() + v.len()).sum();
    if size > ANNOTATIONS_MAX_BYTES {
        return Err(TranslateError::unsupported(
            "the create body",
            format!("it is {size} bytes as JSON, above the 256 KiB Kubernetes keeps in a pod's annotations"),
        ));
    }
    Ok(ObjectMeta {
        name: Some(labels::pod_name_for(&ids.id)),
        namespace: Some(ids.namespace.clone()),
        labels: Some(pod_labels),
        annotations: Some(annotations),
        ..Default::default()
    })
}

/// The create body as compact JSON with sorted keys, so the same request always gives the same annotation
/// (bollard's maps are `HashMap`s, whose order changes from run to run).
fn config_json(create: &ContainerCreateBody) -> Result<String, TranslateError> {
    serde_json::to_value(create)
        .map(|v| sort_keys(v).to_string())
        .map_err(|e| TranslateError::InvalidParameter(format!("cannot encode the create body: {e}")))
}

fn sort_keys(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k, sort_keys(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sort_keys).collect()),
        other => other,
    }
}

/// Warnings for the create response (`Warnings`, printed by the CLI as `WARNING: ...`).
pub fn create_warnings(create: &ContainerCreateBody) -> Vec<String> {
    process::bare_env_warnings(create.env.as_deref().unwrap_or_default())
}

/// Docker's restart policy as the pod's.
///
/// - `""`/`"no"` -> `Never`; `"on-failure"` -> `OnFailure`; `"always"` and `"unless-stopped"` -> `Always` (they
///   differ only across a daemon restart, which pods do not have).
/// - MaximumRetryCount > 0 is refused: Kubernetes restarts without a cap (with back-off).
/// - AutoRemove with any policy but no: Docker's 400 "can't create 'AutoRemove' container with restart policy".
///
/// The kubelet restarts an `Always` container that was stopped, so `docker stop` must not just kill the
/// container: that is the lifecycle layer's business.
pub fn restart_policy(policy: Option<&RestartPolicy>, auto_remove: bool) -> Result<&'static str, TranslateError> {
    let name = policy.and_then(|p| p.name).unwrap_or(RestartPolicyNameEnum::EMPTY);
    let retries = policy.and_then(|p| p.maximum_retry_count).unwrap_or(0);
    let k8s = match name {
        RestartPolicyNameEnum::EMPTY | RestartPolicyNameEnum::NO => "Never",
        RestartPolicyNameEnum::ON_FAILURE => "OnFailure",
        RestartPolicyNameEnum::ALWAYS | RestartPolicyNameEnum::UNLESS_STOPPED => "Always",
    };
    if retries < 0 {
        return Err(TranslateError::InvalidParameter(
            "invalid restart policy: maximum retry count cannot be negative".into(),
        ));
    }
    if retries > 0 && name != RestartPolicyNameEnum::ON_FAILURE {
        return Err(TranslateError::InvalidParameter(
            "invalid restart policy: maximum retry count can only be used with 'on-failure'".into(),
        ));
    }
    if auto_remove && k8s != "Never" {
        return Err(TranslateError::InvalidParameter("can't create 'AutoRemove' container with restart policy".into()));
    }
    if retries > 0 {
        return Err(TranslateError::unsupported(
            "RestartPolicy.MaximumRetryCount",
            "Kubernetes restarts a failing container without a retry limit",
        ));
    }
    Ok(k8s)
}

/// StopTimeout as `terminationGracePeriodSeconds`: Docker's default 10 s when unset (not Kubernetes' 30 s).
/// A negative timeout (wait forever) has no Kubernetes equivalent.
pub fn grace_period(stop_timeout: Option<i64>) -> Result<i64, TranslateError> {
    match stop_timeout {
        None => Ok(DEFAULT_STOP_TIMEOUT),
        Some(t) if t >= 0 => Ok(t),
        Some(_) => Err(TranslateError::unsupported("StopTimeout", "a pod's grace period must be finite")),
    }
}

/// StopSignal: SIGTERM (Docker's and Kubernetes' default) is accepted in any of Docker's spellings. Kubernetes
/// 1.33 has a container `lifecycle.stopSignal`, but only behind the alpha `ContainerStopSignals` feature gate
/// (off by default; the API server drops the field), so any other signal is refused.
pub fn check_stop_signal(signal: &str) -> Result<(), TranslateError> {
    match signal.to_ascii_uppercase().as_str() {
        "" | "SIGTERM" | "TERM" | "15" => Ok(()),
        _ => Err(TranslateError::unsupported(
            "StopSignal",
            format!("{signal}: Kubernetes stops containers with SIGTERM (lifecycle.stopSignal is alpha in 1.33)"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(name: RestartPolicyNameEnum, retries: i64) -> RestartPolicy {
        RestartPolicy { name: Some(name), maximum_retry_count: Some(retries) }
    }

    #[test]
    fn restart_policies_map_to_pod_policies() {
        assert_eq!(restart_policy(None, false), Ok("Never"));
        assert_eq!(restart_policy(Some(&policy(RestartPolicyNameEnum::NO, 0)), true), Ok("Never"));
        assert_eq!(restart_policy(Some(&policy(RestartPolicyNameEnum::ON_FAILURE, 0)), false), Ok("OnFailure"));
        assert_eq!(restart_policy(Some(&policy(RestartPolicyNameEnum::UNLESS_STOPPED, 0)), false), Ok("Always"));
        let err = restart_policy(Some(&policy(RestartPolicyNameEnum::ON_FAILURE, 3)), false).unwrap_err();
        assert!(err.to_string().starts_with("RestartPolicy.MaximumRetryCount is not supported"));
    }

    #[test]
    fn missing_image_is_invalid_and_bare_env_names_warn() {
        let ids = PodIdentity { id: "ab".repeat(32), name: "x".into(), namespace: "p".into(), host_gateway: None };
        let err = create_to_pod(&ContainerCreateBody::default(), &ids).unwrap_err();
        assert_eq!(err.status_code(), 400);
        let create = ContainerCreateBody { env: Some(vec!["A=1".into(), "B".into()]), ..Default::default() };
        let warnings = create_warnings(&create);
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("environment variable B"));
    }

    #[test]
    fn stop_timeout_defaults_to_dockers_ten_seconds() {
        assert_eq!(grace_period(None), Ok(10));
        assert_eq!(grace_period(Some(0)), Ok(0));
        assert!(grace_period(Some(-1)).is_err());
    }

    #[test]
    fn only_sigterm_is_accepted_as_stop_signal() {
        for ok in ["", "SIGTERM", "term", "15"] {
            assert_eq!(check_stop_signal(ok), Ok(()));
        }
        assert!(check_stop_signal("SIGINT").unwrap_err().to_string().starts_with("StopSignal is not supported"));
    }
}
