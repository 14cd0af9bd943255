//! The container's and pod's security contexts: User, GroupAdd, CapAdd/CapDrop, ReadonlyRootfs and
//! `no-new-privileges`, plus the seccomp profile Docker applies by default.

use bollard_stubs::models::HostConfig;
use k8s_openapi::api::core::v1::{Capabilities, PodSecurityContext, SeccompProfile, SecurityContext};

use super::process::user_ids;
use super::TranslateError;

/// The Linux capabilities (without `CAP_`), for Docker's "unknown capability" check.
const CAPABILITIES: [&str; 41] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// The container's security context.
///
/// - `User` -> runAsUser/runAsGroup (see [`user_ids`]).
/// - `CapAdd`/`CapDrop` -> capabilities.add/drop: `CAP_` prefix stripped and uppercased, as Kubernetes names
///   them; `ALL` kept. An unknown name gets Docker's `unknown capability: "CAP_X"`. Both the Docker and the
///   containerd default sets are the same 14 capabilities, so an unchanged set means the same thing.
/// - `ReadonlyRootfs` -> readOnlyRootFilesystem.
/// - `SecurityOpt: ["no-new-privileges"]` -> allowPrivilegeEscalation false (other options are refused earlier).
/// - seccompProfile `RuntimeDefault` always: Docker applies its default seccomp profile, while a pod without a
///   profile runs unconfined unless the kubelet's `--seccomp-default` is on.
pub fn container_security(hc: &HostConfig, user: &str) -> Result<SecurityContext, TranslateError> {
    let (run_as_user, run_as_group) = user_ids(user)?;
    let add = capability_list(hc.cap_add.as_deref().unwrap_or_default())?;
    let drop = capability_list(hc.cap_drop.as_deref().unwrap_or_default())?;
    let capabilities = (add.is_some() || drop.is_some()).then_some(Capabilities { add, drop });
    let no_new_privileges = hc.security_opt.as_ref().is_some_and(|o| !o.is_empty());
    Ok(SecurityContext {
        run_as_user,
        run_as_group,
        capabilities,
        read_only_root_filesystem: (hc.readonly_rootfs == Some(true)).then_some(true),
        allow_privilege_escalation: no_new_privileges.then_some(false),
        seccomp_profile: Some(SeccompProfile { type_: "RuntimeDefault".to_string(), localhost_profile: None }),
        ..Default::default()
    })
}

fn capability_list(names: &[String]) -> Result<Option<Vec<String>>, TranslateError> {
    let mut out = Vec::new();
    for name in names {
        let upper = name.to_ascii_uppercase();
        let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
        if bare != "ALL" && !CAPABILITIES.contains(&bare) {
            return Err(TranslateError::InvalidParameter(format!("unknown capability: \"CAP_{bare}\"")));
        }
        out.push(bare.to_string());
    }
    Ok((!out.is_empty()).then_some(out))
}

/// The pod's security context: `GroupAdd` as supplementalGroups, or `None` when empty.
///
/// Both Docker and Kubernetes add these to the groups the image's /etc/group gives the user. Group *names* need
/// the image's /etc/group: refused, as for `User`.
pub fn pod_security(hc: &HostConfig) -> Result<Option<PodSecurityContext>, TranslateError> {
    let groups = hc.group_add.as_deref().unwrap_or_default();
    if groups.is_empty() {
        return Ok(None);
    }
    let ids = groups
        .iter()
        .map(|g| match g.parse::<i64>() {
            Ok(id) if (0..=i64::from(i32::MAX)).contains(&id) => Ok(id),
            _ => Err(TranslateError::unsupported(
                "GroupAdd",
                format!("\"{g}\" is not a numeric group id; names need the image's /etc/group"),
            )),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(PodSecurityContext { supplemental_groups: Some(ids), ..Default::default() }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_are_normalised_and_checked() {
        let hc = HostConfig {
            cap_add: Some(vec!["cap_net_admin".into(), "SYS_TIME".into()]),
            cap_drop: Some(vec!["ALL".into()]),
            ..Default::default()
        };
        let caps = container_security(&hc, "").unwrap().capabilities.unwrap();
        assert_eq!(caps.add, Some(vec!["NET_ADMIN".to_string(), "SYS_TIME".to_string()]));
        assert_eq!(caps.drop, Some(vec!["ALL".to_string()]));
        let hc = HostConfig { cap_add: Some(vec!["FOO".into()]), ..Default::default() };
        assert_eq!(
            container_security(&hc, "").unwrap_err(),
            TranslateError::InvalidParameter("unknown capability: \"CAP_FOO\"".into())
        );
    }

    #[test]
    fn group_add_maps_numeric_ids_only() {
        let hc = HostConfig { group_add: Some(vec!["10".into(), "0".into()]), ..Default::default() };
        assert_eq!(pod_security(&hc).unwrap().unwrap().supplemental_groups, Some(vec![10, 0]));
        let hc = HostConfig { group_add: Some(vec!["audio".into()]), ..Default::default() };
        assert!(pod_security(&hc).unwrap_err().to_string().starts_with("GroupAdd is not supported"));
    }
}
