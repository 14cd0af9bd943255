//! `docker cp` out of (and into) a container that has exited: its pod's filesystem is gone, but its volumes are
//! claims that outlive it. A short-lived **helper pod** mounts the claims under [`HELPER_ROOT`] and runs the same
//! `tar` a running container would (see `runtime/archive`). This module decides what a path reaches
//! ([`reach`]) and builds the helper pod ([`helper_pod`]); it does no IO.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Container, LocalObjectReference, PersistentVolumeClaimVolumeSource, Pod, PodSpec, ResourceRequirements, Volume,
    VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use super::labels::{
    volume_claim_name, HELPER_LABEL, HELPER_REPLICA_ANNOTATION, HELPER_VALUE, ID_ANNOTATION, MAIN_CONTAINER,
};
use super::mounts::{ContainerMount, MountKind};
use super::security::container_security;

/// Where the helper mounts the container's volumes: a volume mounted at `/out` in the container is at
/// `/podshim-volumes/out` in the helper, so no volume can hide the helper's own `tar` (a volume at `/bin`).
pub const HELPER_ROOT: &str = "/podshim-volumes";
/// How long a helper lives at most: its command is `sleep` for this long, so a helper whose podshim went away
/// ends by itself (a copy cannot take longer).
pub const HELPER_LIFETIME_SECONDS: u64 = 3600;

/// What a path of a container that is not running reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// The path is on a volume: the mounts the helper needs (the volume that holds the path, and the volumes
    /// mounted below it), outer first.
    Volume(Vec<ContainerMount>),
    /// The path is on the container's own filesystem or on a tmpfs: gone with the pod.
    Gone,
}

/// `/a/b/.` and `/a/b/` as `/a/b` (`check_archive_path` already cleaned the rest).
fn bare(path: &str) -> &str {
    let p = path.strip_suffix("/.").unwrap_or(path);
    let p = p.trim_end_matches('/');
    if p.is_empty() {
        "/"
    } else {
        p
    }
}

/// `inner` is `outer` or below it.
fn at_or_below(inner: &str, outer: &str) -> bool {
    inner == outer || outer == "/" || inner.strip_prefix(outer).is_some_and(|rest| rest.starts_with('/'))
}

/// Which of the container's mounts a (cleaned) path reaches. The innermost mount that holds the path decides:
/// a tmpfs (gone after exit) or a volume.
pub fn reach(mounts: &[ContainerMount], path: &str) -> Reach {
    let path = bare(path);
    let holder = mounts.iter().filter(|m| at_or_below(path, &m.destination)).max_by_key(|m| m.destination.len());
    let Some(holder) = holder.filter(|m| m.kind == MountKind::Volume) else { return Reach::Gone };
    let mut needed: Vec<ContainerMount> = mounts
        .iter()
        .filter(|m| m.kind == MountKind::Volume && at_or_below(&m.destination, &holder.destination))
        .cloned()
        .collect();
    needed.sort_by_key(|m| m.destination.matches('/').count());
    Reach::Volume(needed)
}

/// The refusal for a path that is not on a volume of a container that is not running (409: it conflicts with
/// the container's state, like an exec into a stopped container; the path may well have existed).
pub fn gone_message(container: &str, path: &str, mounts: &[ContainerMount]) -> String {
    let volumes: Vec<&str> =
        mounts.iter().filter(|m| m.kind == MountKind::Volume).map(|m| m.destination.as_str()).collect();
    let reachable = if volumes.is_empty() {
        "it has no volumes".to_string()
    } else {
        format!("its volumes are at {}", volumes.join(", "))
    };
    format!(
        "Could not reach {path}: container {container} is not running, and a container's \
         filesystem is gone with its pod once it exits; only paths on its volumes can be copied ({reachable})"
    )
}

/// Docker's answer for a copy into a volume the container mounts read-only.
pub const READ_ONLY_VOLUME: &str = "mounted volume is marked read-only";

/// True when any of the mounts the copy needs is read-only in the container (a `PUT` is then refused, as Docker
/// refuses it).
pub fn read_only(needed: &[ContainerMount], path: &str) -> bool {
    let path = bare(path);
    needed
        .iter()
        .filter(|m| at_or_below(path, &m.destination))
        .max_by_key(|m| m.destination.len())
        .is_some_and(|m| !m.rw)
}

/// Who and where the helper is.
#[derive(Debug, Clone, PartialEq)]
pub struct HelperSpec {
    pub name: String,
    pub namespace: String,
    /// The container id (the helper carries it, as podshim's pods do, without being one of them).
    pub container_id: String,
    pub image: String,
    /// The node of the container's last pod: a ReadWriteOnce claim can be mounted only there.
    pub node_name: Option<String>,
    /// The container's record, which owns the helper (the garbage collector removes it with the container).
    pub owner: OwnerReference,
    /// The replica that made it (a restarted replica removes its own leftovers).
    pub replica: String,
    /// Mounted read-only (`HEAD`, `GET`) or read-write (`PUT`).
    pub read_only: bool,
    /// The container's `User` (numeric, as podshim keeps it): a `PUT` with `copyUIDGID` runs tar as that user.
    pub user: String,
    /// The pull Secrets podshim gives its pods (`--image-pull-secret`), for the helper image.
    pub pull_secrets: Vec<String>,
}

/// The helper pod: one container [`MAIN_CONTAINER`] running `sleep` (so `pods/exec` can run tar in it), the
/// claims of `needed` at [`HELPER_ROOT`] + their destinations (with their `subPath`s), podshim's security
/// defaults, small resources, never restarted. It is labelled [`HELPER_LABEL`] and not `podshim.io/managed`, so
/// podshim's container watch never sees it.
pub fn helper_pod(spec: &HelperSpec, needed: &[ContainerMount]) -> Result<Pod, super::TranslateError> {
    let mut volumes: Vec<Volume> = Vec::new();
    let mut claims: BTreeMap<String, String> = BTreeMap::new();
    let mut volume_mounts = Vec::new();
    for m in needed.iter().filter(|m| m.kind == MountKind::Volume && !m.name.is_empty()) {
        let volume_name = match claims.get(&m.name) {
            Some(existing) => existing.clone(),
            None => {
                let name = format!("podshim-volume-{}", volumes.len());
                volumes.push(Volume {
                    name: name.clone(),
                    persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                        claim_name: volume_claim_name(&m.name),
                        read_only: spec.read_only.then_some(true),
                    }),
                    ..Default::default()
                });
                claims.insert(m.name.clone(), name.clone());
                name
            }
        };
        volume_mounts.push(VolumeMount {
            name: volume_name,
            mount_path: format!("{HELPER_ROOT}{}", m.destination),
            // A volume the container mounts read-only stays so below a writable one that a copy goes into.
            read_only: (spec.read_only || !m.rw).then_some(true),
            sub_path: m.subpath.clone(),
            ..Default::default()
        });
    }
    let mut security = container_security(&Default::default(), &spec.user)?;
    security.allow_privilege_escalation = Some(false);
    let quantity = |s: &str| Quantity(s.to_string());
    let container = Container {
        name: MAIN_CONTAINER.to_string(),
        image: Some(spec.image.clone()),
        image_pull_policy: Some("IfNotPresent".to_string()),
        command: Some(vec!["sleep".to_string(), HELPER_LIFETIME_SECONDS.to_string()]),
        volume_mounts: Some(volume_mounts),
        security_context: Some(security),
        resources: Some(ResourceRequirements {
            requests: Some(BTreeMap::from([
                ("cpu".to_string(), quantity("10m")),
                ("memory".to_string(), quantity("16Mi")),
            ])),
            limits: Some(BTreeMap::from([("memory".to_string(), quantity("64Mi"))])),
            ..Default::default()
        }),
        ..Default::default()
    };
    let pod_spec = PodSpec {
        containers: vec![container],
        volumes: Some(volumes),
        restart_policy: Some("Never".to_string()),
        node_name: spec.node_name.clone(),
        termination_grace_period_seconds: Some(0),
        automount_service_account_token: Some(false),
        enable_service_links: Some(false),
        image_pull_secrets: (!spec.pull_secrets.is_empty())
            .then(|| spec.pull_secrets.iter().map(|name| LocalObjectReference { name: name.clone() }).collect()),
        ..Default::default()
    };
    let metadata = ObjectMeta {
        name: Some(spec.name.clone()),
        namespace: Some(spec.namespace.clone()),
        labels: Some(BTreeMap::from([(HELPER_LABEL.to_string(), HELPER_VALUE.to_string())])),
        annotations: Some(BTreeMap::from([
            (ID_ANNOTATION.to_string(), spec.container_id.clone()),
            (HELPER_REPLICA_ANNOTATION.to_string(), spec.replica.clone()),
        ])),
        owner_references: Some(vec![spec.owner.clone()]),
        ..Default::default()
    };
    Ok(Pod { metadata, spec: Some(pod_spec), status: None })
}

/// The helper's directory for a container path.
pub fn helper_path(path: &str) -> String {
    format!("{HELPER_ROOT}{path}")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::collections::HashMap;

    fn mount(kind: MountKind, name: &str, destination: &str, rw: bool) -> ContainerMount {
        ContainerMount {
            kind,
            name: name.to_string(),
            anonymous: false,
            inherited: false,
            destination: destination.to_string(),
            rw,
            mode: String::new(),
            subpath: None,
            size_bytes: None,
            listed: true,
            source: String::new(),
            claim: None,
            create_source: false,
            labels: HashMap::new(),
        }
    }

    fn destinations(r: &Reach) -> Vec<&str> {
        match r {
            Reach::Volume(m) => m.iter().map(|m| m.destination.as_str()).collect(),
            Reach::Gone => vec![],
        }
    }

    #[test]
    fn a_path_reaches_the_innermost_mount_and_the_volumes_below_it() {
        let mounts = vec![
            mount(MountKind::Volume, "inner", "/out/inner", true),
            mount(MountKind::Volume, "out", "/out", true),
            mount(MountKind::Tmpfs, "", "/out/tmp", true),
            mount(MountKind::Volume, "other", "/outside", true),
        ];
        assert_eq!(destinations(&reach(&mounts, "/out/r.txt")), ["/out", "/out/inner"]);
        assert_eq!(destinations(&reach(&mounts, "/out")), ["/out", "/out/inner"]);
        assert_eq!(destinations(&reach(&mounts, "/out/.")), ["/out", "/out/inner"]);
        assert_eq!(destinations(&reach(&mounts, "/out/inner/x")), ["/out/inner"]);
        assert_eq!(destinations(&reach(&mounts, "/outside/")), ["/outside"]);
        assert_eq!(reach(&mounts, "/out/tmp/x"), Reach::Gone);
        assert_eq!(reach(&mounts, "/etc/hostname"), Reach::Gone);
        assert_eq!(reach(&mounts, "/"), Reach::Gone);
        assert_eq!(reach(&mounts, "/ou"), Reach::Gone);
    }

    #[test]
    fn the_refusal_names_the_volumes() {
        let mounts = vec![mount(MountKind::Volume, "out", "/out", true), mount(MountKind::Tmpfs, "", "/t", true)];
        let m = gone_message("j", "/etc/hostname", &mounts);
        assert!(m.contains("container j is not running"), "{m}");
        assert!(m.ends_with("(its volumes are at /out)"), "{m}");
        assert!(gone_message("j", "/x", &[]).ends_with("(it has no volumes)"));
    }

    #[test]
    fn read_only_follows_the_mount_that_holds_the_path() {
        let mounts = vec![mount(MountKind::Volume, "a", "/a", false), mount(MountKind::Volume, "b", "/a/b", true)];
        assert!(read_only(&mounts, "/a/x"));
        assert!(!read_only(&mounts, "/a/b/x"));
    }

    #[test]
    fn the_helper_mounts_the_claims_under_its_root_on_the_node_and_is_no_container() {
        let mut sub = mount(MountKind::Volume, "data", "/out/sub", true);
        sub.subpath = Some("deep".into());
        let needed = vec![mount(MountKind::Volume, "data", "/out", true), sub];
        let spec = HelperSpec {
            name: "podshim-cp-abc".into(),
            namespace: "ns".into(),
            container_id: "ab".repeat(32),
            image: "busybox".into(),
            node_name: Some("node-1".into()),
            owner: OwnerReference { name: "rec".into(), uid: "u".into(), ..Default::default() },
            replica: "r1".into(),
            read_only: true,
            user: String::new(),
            pull_secrets: vec!["hub".into()],
        };
        let pod = helper_pod(&spec, &needed).unwrap();
        let labels = pod.metadata.labels.clone().unwrap();
        assert_eq!(labels.get(HELPER_LABEL).map(String::as_str), Some(HELPER_VALUE));
        assert!(!labels.contains_key(super::super::labels::MANAGED_LABEL));
        let ps = pod.spec.unwrap();
        assert_eq!(ps.node_name.as_deref(), Some("node-1"));
        assert_eq!(ps.automount_service_account_token, Some(false));
        assert_eq!(ps.image_pull_secrets, Some(vec![LocalObjectReference { name: "hub".into() }]));
        let volumes = ps.volumes.unwrap();
        assert_eq!(volumes.len(), 1, "one claim, mounted twice");
        assert_eq!(volumes[0].persistent_volume_claim.as_ref().unwrap().claim_name, volume_claim_name("data"));
        let main = &ps.containers[0];
        let vm = main.volume_mounts.as_ref().unwrap();
        assert_eq!(vm[0].mount_path, "/podshim-volumes/out");
        assert_eq!(vm[1].mount_path, "/podshim-volumes/out/sub");
        assert_eq!(vm[1].sub_path.as_deref(), Some("deep"));
        assert!(vm.iter().all(|m| m.read_only == Some(true)));
        let sc = main.security_context.as_ref().unwrap();
        assert_eq!(sc.seccomp_profile.as_ref().unwrap().type_, "RuntimeDefault");
        assert_eq!(sc.allow_privilege_escalation, Some(false));
        assert_eq!(sc.run_as_user, None);
        assert_eq!(main.command.as_ref().unwrap()[0], "sleep");
        let mut read_only_below = needed.clone();
        read_only_below[1].rw = false;
        let user =
            helper_pod(&HelperSpec { user: "1000:1000".into(), read_only: false, ..spec }, &read_only_below).unwrap();
        let user_spec = user.spec.unwrap();
        let sc = user_spec.containers[0].security_context.clone().unwrap();
        assert_eq!((sc.run_as_user, sc.run_as_group), (Some(1000), Some(1000)));
        // A copy into the writable volume leaves the read-only one below it read-only.
        let vm = user_spec.containers[0].volume_mounts.clone().unwrap();
        assert_eq!((vm[0].read_only, vm[1].read_only), (None, Some(true)));
    }
}
