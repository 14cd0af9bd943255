//! The options podshim cannot honour: each one set to something other than its do-nothing value fails the create,
//! naming the option, because dropping it would change what the container does.
//!
//! Options that give the container power over the node come first and are [`TranslateError::Forbidden`] (403),
//! so a request carrying both a forbidden and an unsupported option hears about the security decision.
//! Accepted as doing nothing: ConsoleSize (the attach layer sizes the tty), ContainerIDFile (the CLI writes it),
//! Shell and ArgsEscaped (build-time and Windows-only), Attach* (for the attach layer), NetworkMode
//! ""/default/bridge, LogConfig type ""/json-file without options, MemorySwappiness unset or -1, ShmSize 0 or
//! Docker's default 64 MiB (also the Kubernetes runtimes' size), and every empty list, empty map, false and zero.
//! Volumes, tmpfs mounts and bind mounts are checked by [`super::mounts`] (host paths are refused there).

use bollard_stubs::models::{ContainerCreateBody, HostConfig, HostConfigCgroupnsModeEnum, HostConfigIsolationEnum};

use super::TranslateError;

const LATER_SHM: &str = "a /dev/shm of another size comes in a later podshim change";
const LATER_NETWORKS: &str = "networks and links come in a later podshim change";
const NO_EQUIVALENT: &str = "Kubernetes has no per-pod equivalent";
/// Docker's default /dev/shm size, also what containerd and CRI-O give a pod.
const DEFAULT_SHM_SIZE: i64 = 64 * 1024 * 1024;

fn set<T>(list: &Option<Vec<T>>) -> bool {
    list.as_ref().is_some_and(|l| !l.is_empty())
}

fn set_str(s: &Option<String>) -> bool {
    s.as_deref().is_some_and(|s| !s.is_empty())
}

fn nonzero(n: Option<i64>) -> bool {
    n.is_some_and(|n| n != 0)
}

/// Fails on the first option that podshim cannot honour: forbidden ones first, then HostConfig, then the rest of
/// Config. Ports are checked by [`super::ports::requests`].
pub fn check(create: &ContainerCreateBody) -> Result<(), TranslateError> {
    let default_hc = HostConfig::default();
    let hc = create.host_config.as_ref().unwrap_or(&default_hc);
    check_forbidden(hc)?;
    check_host_config(hc)?;
    check_networking(create, hc)?;
    check_config(create)
}

/// Privileged mode, host namespaces and devices: refused until a security policy can allow them explicitly.
///
/// `UsernsMode: host` is refused with the other host namespaces even though today's pods already run in the host
/// user namespace (`hostUsers` defaults to true), so that moving podshim to user-namespaced pods later cannot
/// silently give such a container less isolation than it was promised or more than the policy allows.
fn check_forbidden(hc: &HostConfig) -> Result<(), TranslateError> {
    let is_host = |mode: &Option<String>| mode.as_deref() == Some("host");
    let forbidden = [
        ("Privileged", hc.privileged == Some(true)),
        ("PidMode", is_host(&hc.pid_mode)),
        ("IpcMode", is_host(&hc.ipc_mode)),
        ("UTSMode", is_host(&hc.uts_mode)),
        ("NetworkMode", is_host(&hc.network_mode)),
        ("UsernsMode", is_host(&hc.userns_mode)),
        ("CgroupnsMode", hc.cgroupns_mode == Some(HostConfigCgroupnsModeEnum::HOST)),
        ("Devices", set(&hc.devices)),
        ("DeviceRequests", set(&hc.device_requests)),
        ("DeviceCgroupRules", set(&hc.device_cgroup_rules)),
    ];
    match forbidden.iter().find(|(_, on)| *on) {
        Some((option, _)) => Err(TranslateError::forbidden(*option)),
        None => Ok(()),
    }
}

/// The rest of Config. `Healthcheck` is refused rather than ignored: clients read the health state
/// (testcontainers and compose wait for "healthy"), and a container that never reports one would leave them
/// waiting. `{"Test": ["NONE"]}` (disable the image's check) and an empty Healthcheck are accepted: podshim runs
/// no image health check either.
fn check_config(c: &ContainerCreateBody) -> Result<(), TranslateError> {
    let healthcheck = c.healthcheck.as_ref().is_some_and(|h| {
        let disabled = h.test.as_deref().is_some_and(|t| t.first().map(String::as_str) == Some("NONE"));
        let empty = !set(&h.test)
            && [h.interval, h.timeout, h.retries, h.start_period, h.start_interval].iter().all(|n| !nonzero(*n));
        !disabled && !empty
    });
    let unsupported = [
        (
            "Healthcheck",
            healthcheck,
            "health checks come in a later podshim change; a client waiting for \"healthy\" would wait forever",
        ),
        ("OnBuild", set(&c.on_build), "OnBuild triggers only apply to image builds"),
        ("NetworkDisabled", c.network_disabled == Some(true), "every pod has a network"),
    ];
    first_unsupported(&unsupported)
}

fn check_host_config(hc: &HostConfig) -> Result<(), TranslateError> {
    let not_in = |v: &Option<String>, ok: &[&str]| v.as_deref().is_some_and(|v| !ok.contains(&v));
    let log_type_other = not_in(&hc.log_config.as_ref().and_then(|l| l.typ.clone()), &["", "json-file"]);
    let log_options = hc.log_config.as_ref().and_then(|l| l.config.as_ref()).is_some_and(|m| !m.is_empty());
    let security_opt_other = hc
        .security_opt
        .as_ref()
        .is_some_and(|opts| opts.iter().any(|o| !matches!(o.as_str(), "no-new-privileges" | "no-new-privileges:true")));
    let unsupported = [
        ("StorageOpt", hc.storage_opt.as_ref().is_some_and(|m| !m.is_empty()), "the runtime sizes the rootfs"),
        ("Links", set(&hc.links), LATER_NETWORKS),
        ("IpcMode", not_in(&hc.ipc_mode, &["", "private", "shareable"]), NO_EQUIVALENT),
        ("PidMode", not_in(&hc.pid_mode, &["", "private"]), NO_EQUIVALENT),
        ("UTSMode", not_in(&hc.uts_mode, &["", "private"]), NO_EQUIVALENT),
        ("UsernsMode", not_in(&hc.userns_mode, &[""]), NO_EQUIVALENT),
        ("Cgroup", set_str(&hc.cgroup), NO_EQUIVALENT),
        ("CgroupParent", set_str(&hc.cgroup_parent), "the kubelet places every pod's cgroup"),
        ("BlkioWeight", hc.blkio_weight.is_some_and(|w| w != 0), NO_EQUIVALENT),
        ("BlkioWeightDevice", set(&hc.blkio_weight_device), NO_EQUIVALENT),
        ("BlkioDeviceReadBps", set(&hc.blkio_device_read_bps), NO_EQUIVALENT),
        ("BlkioDeviceWriteBps", set(&hc.blkio_device_write_bps), NO_EQUIVALENT),
        ("BlkioDeviceReadIOps", set(&hc.blkio_device_read_iops), NO_EQUIVALENT),
        ("BlkioDeviceWriteIOps", set(&hc.blkio_device_write_iops), NO_EQUIVALENT),
        ("IOMaximumIOps", nonzero(hc.io_maximum_iops), NO_EQUIVALENT),
        ("IOMaximumBandwidth", nonzero(hc.io_maximum_bandwidth), NO_EQUIVALENT),
        ("CpusetCpus", set_str(&hc.cpuset_cpus), "cpu pinning is the kubelet's CPU manager policy"),
        ("CpusetMems", set_str(&hc.cpuset_mems), "memory node pinning is the kubelet's memory manager policy"),
        ("CpuRealtimePeriod", nonzero(hc.cpu_realtime_period), NO_EQUIVALENT),
        ("CpuRealtimeRuntime", nonzero(hc.cpu_realtime_runtime), NO_EQUIVALENT),
        ("CpuCount", nonzero(hc.cpu_count), "a Windows option"),
        ("CpuPercent", nonzero(hc.cpu_percent), "a Windows option"),
        ("MemorySwappiness", hc.memory_swappiness.is_some_and(|s| s != -1), "swap is a node setting"),
        ("OomKillDisable", hc.oom_kill_disable == Some(true), NO_EQUIVALENT),
        ("OomScoreAdj", nonzero(hc.oom_score_adj), "the kubelet sets the OOM score from the pod's QoS class"),
        ("PidsLimit", hc.pids_limit.is_some_and(|p| p > 0), "the pid limit is a node setting"),
        ("Ulimits", set(&hc.ulimits), NO_EQUIVALENT),
        ("ShmSize", hc.shm_size.is_some_and(|s| s != 0 && s != DEFAULT_SHM_SIZE), LATER_SHM),
        ("SecurityOpt", security_opt_other, "only no-new-privileges has a Kubernetes equivalent"),
        ("Sysctls", hc.sysctls.as_ref().is_some_and(|m| !m.is_empty()), "sysctls come in a later podshim change"),
        ("MaskedPaths", hc.masked_paths.is_some(), "the runtime decides the masked paths"),
        ("ReadonlyPaths", hc.readonly_paths.is_some(), "the runtime decides the read-only paths"),
        ("Runtime", not_in(&hc.runtime, &["", "runc"]), "runtime classes are named by the cluster"),
        (
            "Isolation",
            hc.isolation
                .is_some_and(|i| !matches!(i, HostConfigIsolationEnum::EMPTY | HostConfigIsolationEnum::DEFAULT)),
            "a Windows option",
        ),
        (
            "Annotations",
            hc.annotations.as_ref().is_some_and(|m| !m.is_empty()),
            "OCI annotations cannot be passed through a pod",
        ),
        ("LogConfig.Type", log_type_other, "the kubelet keeps the logs"),
        ("LogConfig.Config", log_options, "log rotation is the kubelet's setting"),
    ];
    first_unsupported(&unsupported)
}

/// NetworkMode and NetworkingConfig: only the default network, with no per-endpoint settings.
fn check_networking(c: &ContainerCreateBody, hc: &HostConfig) -> Result<(), TranslateError> {
    const DEFAULT_NETWORKS: [&str; 3] = ["", "default", "bridge"];
    let mode = hc.network_mode.as_deref().unwrap_or("");
    if let Some(other) = mode.strip_prefix("container:") {
        let publishes = hc.port_bindings.as_ref().is_some_and(|m| m.values().flatten().any(|l| !l.is_empty()));
        if publishes || hc.publish_all_ports == Some(true) {
            return Err(TranslateError::InvalidParameter(
                "conflicting options: port publishing and the container type network mode".into(),
            ));
        }
        return Err(TranslateError::unsupported(
            "NetworkMode",
            format!(
                "\"{mode}\": Kubernetes cannot join a running pod's network (a pod's network is made with the pod); \
                 run the two programs as one container, or reach {other} by its address"
            ),
        ));
    }
    if !DEFAULT_NETWORKS.contains(&mode) {
        return Err(TranslateError::unsupported("NetworkMode", format!("\"{mode}\": {LATER_NETWORKS}")));
    }
    let endpoints = c.networking_config.as_ref().and_then(|n| n.endpoints_config.as_ref());
    for (network, ep) in endpoints.into_iter().flatten() {
        let option = format!("NetworkingConfig.EndpointsConfig.{network}");
        if !DEFAULT_NETWORKS.contains(&network.as_str()) {
            return Err(TranslateError::unsupported(option, LATER_NETWORKS));
        }
        let ipam = ep
            .ipam_config
            .as_ref()
            .is_some_and(|i| set_str(&i.ipv4_address) || set_str(&i.ipv6_address) || set(&i.link_local_ips));
        let settings = [
            ("Aliases", set(&ep.aliases)),
            ("Links", set(&ep.links)),
            ("IPAMConfig", ipam),
            ("MacAddress", set_str(&ep.mac_address)),
            ("DriverOpts", ep.driver_opts.as_ref().is_some_and(|m| !m.is_empty())),
        ];
        if let Some((field, _)) = settings.iter().find(|(_, on)| *on) {
            return Err(TranslateError::unsupported(format!("{option}.{field}"), LATER_NETWORKS));
        }
    }
    Ok(())
}

fn first_unsupported(options: &[(&str, bool, &str)]) -> Result<(), TranslateError> {
    match options.iter().find(|(_, on, _)| *on) {
        Some((option, _, why)) => Err(TranslateError::unsupported(*option, *why)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_hc(hc: HostConfig) -> ContainerCreateBody {
        ContainerCreateBody { image: Some("busybox".into()), host_config: Some(hc), ..Default::default() }
    }

    #[test]
    fn forbidden_options_win_over_unsupported_ones() {
        let c = with_hc(HostConfig {
            binds: Some(vec!["/a:/b".into()]),
            pid_mode: Some("host".into()),
            ..Default::default()
        });
        let err = check(&c).unwrap_err();
        assert_eq!(err, TranslateError::Forbidden { option: "PidMode".into() });
        assert_eq!(err.status_code(), 403);
    }

    #[test]
    fn do_nothing_values_are_accepted() {
        let c = with_hc(HostConfig {
            network_mode: Some("default".into()),
            console_size: Some(vec![0, 0]),
            memory_swappiness: Some(-1),
            shm_size: Some(DEFAULT_SHM_SIZE),
            security_opt: Some(vec!["no-new-privileges".into()]),
            ipc_mode: Some("shareable".into()),
            ..Default::default()
        });
        assert_eq!(check(&c), Ok(()));
    }

    #[test]
    fn unsupported_options_are_named() {
        let cases = [
            (HostConfig { ulimits: Some(vec![Default::default()]), ..Default::default() }, "Ulimits"),
            (HostConfig { network_mode: Some("mynet".into()), ..Default::default() }, "NetworkMode"),
            (HostConfig { pids_limit: Some(10), ..Default::default() }, "PidsLimit"),
            (HostConfig { runtime: Some("kata".into()), ..Default::default() }, "Runtime"),
        ];
        for (hc, option) in cases {
            match check(&with_hc(hc)) {
                Err(TranslateError::Unsupported { option: got, .. }) => assert_eq!(got, option),
                other => panic!("{option}: {other:?}"),
            }
        }
    }

    #[test]
    fn another_containers_network_is_refused_and_with_ports_conflicts_as_in_docker() {
        let mut hc = HostConfig { network_mode: Some("container:db".into()), ..Default::default() };
        let err = check(&with_hc(hc.clone())).unwrap_err();
        assert!(err.to_string().contains("Kubernetes cannot join a running pod's network"), "{err}");
        hc.publish_all_ports = Some(true);
        let err = check(&with_hc(hc)).unwrap_err();
        assert_eq!(
            err,
            TranslateError::InvalidParameter(
                "conflicting options: port publishing and the container type network mode".into()
            )
        );
    }

    #[test]
    fn healthcheck_none_is_accepted_and_a_real_one_is_not() {
        let mut c = with_hc(HostConfig::default());
        c.healthcheck =
            Some(bollard_stubs::models::HealthConfig { test: Some(vec!["NONE".into()]), ..Default::default() });
        assert_eq!(check(&c), Ok(()));
        c.healthcheck = Some(bollard_stubs::models::HealthConfig {
            test: Some(vec!["CMD".into(), "true".into()]),
            ..Default::default()
        });
        assert!(check(&c).unwrap_err().to_string().starts_with("Healthcheck is not supported"));
    }
}
