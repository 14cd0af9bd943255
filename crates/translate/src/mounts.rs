//! A container's volumes and tmpfs mounts: the create body's `HostConfig.Binds`, `HostConfig.Mounts`,
//! `HostConfig.Tmpfs`, `HostConfig.VolumesFrom` and `Config.Volumes` (with the image's `VOLUME`s) become a list of
//! [`ContainerMount`]s, checked with Docker's words; the list becomes the pod's `volumes` and the main
//! container's `volumeMounts` ([`add_to_pod`]) and inspect's `Mounts` ([`inspect_mounts`]).
//!
//! Two steps, because some of it is only known to the lifecycle layer:
//! 1. [`requested`] reads the body: the mounts it asks for, with anonymous volumes not yet named, the
//!    `Config.Volumes` destinations and the `VolumesFrom` containers. Every refusal happens here.
//! 2. [`combine`] adds the mounts of the `VolumesFrom` containers (read from their records) and the anonymous
//!    volumes of `Config.Volumes` where nothing else is mounted, as moby does (binds and `Mounts` win over
//!    `VolumesFrom`, which wins over `Config.Volumes`). The lifecycle layer then names the anonymous volumes
//!    ([`ContainerMount::name`] empty) and keeps the list on the record ([`MOUNTS_ANNOTATION`]).
//!
//! A Docker volume is a PersistentVolumeClaim named [`volume_claim_name`]; a tmpfs is an `emptyDir` with
//! `medium: Memory` and the size as `sizeLimit`; a bind (a path of the caller's machine) is a claim of
//! `--bind-map` or a copy (see [`super::binds`]).

use std::collections::{BTreeMap, HashMap};

use bollard_stubs::models::{
    ContainerCreateBody, HostConfig, Mount, MountBindOptionsPropagationEnum, MountPoint, MountType,
};
use k8s_openapi::api::core::v1::{EmptyDirVolumeSource, PersistentVolumeClaimVolumeSource, Pod, Volume, VolumeMount};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use serde::{Deserialize, Serialize};

use super::files::clean_path;
pub use super::labels::MOUNTS_ANNOTATION;
use super::labels::{validate_volume_name, volume_claim_name};
pub use super::volume::VolumeUse;
use super::TranslateError;

const PROPAGATION: &str =
    "mount propagation other than the default needs a privileged container (mountPropagation Bidirectional), which podshim refuses";
const LOCAL_ONLY: &str =
    "only the local driver: a podshim volume is a PersistentVolumeClaim of the cluster's default StorageClass";
/// The mode of a tmpfs Docker mounts without `mode=`, and of the kubelet's memory-backed emptyDir.
const TMPFS_MODE: u32 = 0o1777;

/// What a mount is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MountKind {
    Volume,
    Tmpfs,
    Bind,
}

/// One mount of a container, as kept on its record (a JSON list under [`MOUNTS_ANNOTATION`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerMount {
    #[serde(rename = "Type")]
    pub kind: MountKind,
    /// The Docker volume; empty for a tmpfs, and for an anonymous volume until the lifecycle layer names it.
    #[serde(default)]
    pub name: String,
    /// An anonymous volume (`-v /path`, `Config.Volumes`, `--mount type=volume` without a source).
    #[serde(default)]
    pub anonymous: bool,
    /// Taken from another container with `VolumesFrom` (its anonymous volumes stay that container's).
    #[serde(default)]
    pub inherited: bool,
    pub destination: String,
    #[serde(rename = "RW")]
    pub rw: bool,
    /// Inspect's `Mode`: the `-v` mode as given (`z` when none), `z` for `--mount`, empty otherwise.
    #[serde(default)]
    pub mode: String,
    /// A directory inside the volume to mount instead of its root (`volume-subpath`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subpath: Option<String>,
    /// A tmpfs's size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<i64>,
    /// Shown in inspect's `Mounts` (Docker leaves `HostConfig.Tmpfs` mounts out).
    #[serde(default)]
    pub listed: bool,
    /// A bind's source on the caller's side, cleaned.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
    /// A bind onto a claim of `--bind-map` (`subpath`: the directory in it); `None` for a bind that is copied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<String>,
    /// A bind whose missing source is made at create (`-v`, as Docker; `--mount` fails instead); create only.
    #[serde(skip)]
    pub create_source: bool,
    /// The labels a `--mount` gives the volume when it creates it (`VolumeOptions.Labels`); used at create only.
    #[serde(skip)]
    pub labels: HashMap<String, String>,
}

/// Another container whose volumes this one mounts (`VolumesFrom`: `name[:ro|:rw]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumesFrom {
    pub container: String,
    /// `false` with `:ro`: every mount taken from it is read-only.
    pub read_write: bool,
}

/// What the create body asks for (step 1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Requested {
    /// Binds, `Mounts` and `Tmpfs`, in that order.
    pub mounts: Vec<ContainerMount>,
    /// `Config.Volumes` (and the image's `VOLUME`s): anonymous volumes where nothing else is mounted.
    pub anonymous: Vec<String>,
    pub volumes_from: Vec<VolumesFrom>,
}

fn volume(destination: &str, name: &str, rw: bool, mode: &str) -> ContainerMount {
    ContainerMount {
        kind: MountKind::Volume,
        name: name.to_string(),
        anonymous: name.is_empty(),
        inherited: false,
        destination: destination.to_string(),
        rw,
        mode: mode.to_string(),
        subpath: None,
        size_bytes: None,
        listed: true,
        source: String::new(),
        claim: None,
        create_source: false,
        labels: HashMap::new(),
    }
}

/// Paths whose bind would hand the container the caller's Docker daemon.
const DOCKER_SOCKETS: [&str; 2] = ["/var/run/docker.sock", "/run/docker.sock"];

/// The refusal for a bind of the Docker socket.
fn check_source(source: &str) -> Result<(), TranslateError> {
    if DOCKER_SOCKETS.contains(&source) {
        return Err(TranslateError::unsupported(
            "Binds",
            format!(
                "{source}: a container cannot reach the Docker socket of the caller's machine; point DOCKER_HOST \
                 in the container at podshim's TCP listener instead (a socket per client identity comes later)"
            ),
        ));
    }
    Ok(())
}

/// The pod volume name of the `n`th copied bind.
pub fn copy_volume_name(n: usize) -> String {
    format!("podshim-bind-{n}")
}

/// A bind of the caller's `source` (absolute) at `destination`, neither mapped nor checked on disk yet.
fn bind(source: &str, destination: &str, rw: bool, mode: &str) -> Result<ContainerMount, TranslateError> {
    let source = clean_path(source);
    check_source(&source)?;
    Ok(ContainerMount { kind: MountKind::Bind, source, anonymous: false, ..volume(destination, "", rw, mode) })
}

/// Step 1: the mounts the body asks for, checked. `image_volumes` are the image's `VOLUME`s (anonymous volumes,
/// as `Config.Volumes`).
pub fn requested(create: &ContainerCreateBody, image_volumes: &[String]) -> Result<Requested, TranslateError> {
    let default_hc = HostConfig::default();
    let hc = create.host_config.as_ref().unwrap_or(&default_hc);
    let volumes_from = hc.volumes_from.iter().flatten().map(|s| parse_volumes_from(s)).collect::<Result<_, _>>()?;
    let mut mounts: Vec<ContainerMount> = Vec::new();
    let push = |m: ContainerMount, mounts: &mut Vec<ContainerMount>| {
        if mounts.iter().any(|o| o.destination == m.destination) {
            return Err(TranslateError::InvalidParameter(format!("Duplicate mount point: {}", m.destination)));
        }
        mounts.push(m);
        Ok(())
    };
    for raw in hc.binds.iter().flatten() {
        push(parse_bind(raw)?, &mut mounts)?;
    }
    for m in hc.mounts.iter().flatten() {
        push(parse_mount(m)?, &mut mounts)?;
    }
    let mut tmpfs: Vec<(&String, &String)> = hc.tmpfs.iter().flatten().collect();
    tmpfs.sort();
    for (destination, options) in tmpfs {
        push(parse_tmpfs(destination, options)?, &mut mounts)?;
    }
    let mut anonymous: Vec<String> = Vec::new();
    for destination in create.volumes.iter().flatten().chain(image_volumes) {
        let clean = check_destination(destination).map_err(TranslateError::InvalidParameter)?;
        if !anonymous.contains(&clean) {
            anonymous.push(clean);
        }
    }
    // The driver of the volumes this container makes: without any, Docker only keeps it (and so does podshim).
    let driver = hc.volume_driver.as_deref().unwrap_or("");
    let makes_volumes = !anonymous.is_empty() || mounts.iter().any(|m| m.kind == MountKind::Volume);
    if !matches!(driver, "" | "local") && makes_volumes {
        return Err(TranslateError::unsupported("VolumeDriver", format!("{driver:?}: {LOCAL_ONLY}")));
    }
    Ok(Requested { mounts, anonymous, volumes_from })
}

/// Step 2: the body's mounts, then the volumes of the `VolumesFrom` containers (`inherited`, in the order of
/// `VolumesFrom`) where the body mounts nothing, then the anonymous volumes of `Config.Volumes` where nothing
/// is mounted yet. A mount taken with `:ro` is read-only; its `Mode` is empty, as Docker shows it.
pub fn combine(requested: Requested, inherited: &[(VolumesFrom, Vec<ContainerMount>)]) -> Vec<ContainerMount> {
    let mut all = requested.mounts;
    for (from, theirs) in inherited {
        // Volumes and binds: Docker does not copy `--tmpfs` mounts, and fails on a `--mount type=tmpfs` one (20.10:
        // 404 `get: no such volume`); a tmpfs is the other container's own memory anyway.
        for m in theirs.iter().filter(|m| m.kind != MountKind::Tmpfs) {
            if all.iter().any(|o| o.destination == m.destination) {
                continue;
            }
            all.push(ContainerMount {
                inherited: true,
                rw: m.rw && from.read_write,
                mode: String::new(),
                listed: true,
                ..m.clone()
            });
        }
    }
    for destination in requested.anonymous {
        if !all.iter().any(|o| o.destination == destination) {
            all.push(volume(&destination, "", true, ""));
        }
    }
    all
}

/// The Docker volumes of a container's mounts, each once, for the record's `VOLUMES_ANNOTATION`.
pub fn volume_uses(mounts: &[ContainerMount]) -> Vec<VolumeUse> {
    let mut uses: Vec<VolumeUse> = Vec::new();
    for m in mounts.iter().filter(|m| m.kind == MountKind::Volume && !m.name.is_empty()) {
        if !uses.iter().any(|u| u.name == m.name) {
            uses.push(VolumeUse { name: m.name.clone(), anonymous: m.anonymous && !m.inherited });
        }
    }
    uses
}

/// The mounts kept on a record or pod ([`MOUNTS_ANNOTATION`]); none when absent, an error when unreadable.
pub fn from_annotations(annotations: Option<&BTreeMap<String, String>>) -> Result<Vec<ContainerMount>, TranslateError> {
    match annotations.and_then(|a| a.get(MOUNTS_ANNOTATION)) {
        None => Ok(Vec::new()),
        Some(json) => serde_json::from_str(json)
            .map_err(|e| TranslateError::InvalidParameter(format!("the container's mounts are unreadable: {e}"))),
    }
}

/// The pod volume of the `n`th mount (pod volume names are DNS labels; `podshim-files` is the copied files').
fn pod_volume_name(n: usize) -> String {
    format!("podshim-mount-{n}")
}

/// The pod volume of a claim: one per claim, however often it is mounted (`claims`: claim name -> pod volume).
fn claim_volume(claim: &str, volumes: &mut Vec<Volume>, claims: &mut HashMap<String, String>) -> String {
    if let Some(existing) = claims.get(claim) {
        return existing.clone();
    }
    let name = pod_volume_name(volumes.len());
    volumes.push(Volume {
        name: name.clone(),
        persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
            claim_name: claim.to_string(),
            read_only: None,
        }),
        ..Default::default()
    });
    claims.insert(claim.to_string(), name.clone());
    name
}

/// Adds the mounts to the pod: a `persistentVolumeClaim` volume per claim (a Docker volume's, or a bind's of
/// `--bind-map`), an `emptyDir` with `medium: Memory` per tmpfs, an `emptyDir` per copied bind, and the main
/// container's `volumeMounts`. An anonymous volume without a name is an error (the lifecycle layer names them first).
pub fn add_to_pod(pod: &mut Pod, mounts: &[ContainerMount]) -> Result<(), TranslateError> {
    let Some(spec) = pod.spec.as_mut().filter(|_| !mounts.is_empty()) else { return Ok(()) };
    let mut volumes: Vec<Volume> = Vec::new();
    let mut claims: HashMap<String, String> = HashMap::new();
    let mut volume_mounts = Vec::new();
    let mut copies = 0;
    for m in mounts {
        let volume_name = match m.kind {
            MountKind::Bind => match &m.claim {
                Some(claim) => claim_volume(claim, &mut volumes, &mut claims),
                None => {
                    let name = copy_volume_name(copies);
                    copies += 1;
                    volumes.push(Volume {
                        name: name.clone(),
                        empty_dir: Some(Default::default()),
                        ..Default::default()
                    });
                    name
                }
            },
            MountKind::Volume => {
                if m.name.is_empty() {
                    return Err(TranslateError::InvalidParameter(format!(
                        "the anonymous volume at {} has no name",
                        m.destination
                    )));
                }
                claim_volume(&volume_claim_name(&m.name), &mut volumes, &mut claims)
            }
            MountKind::Tmpfs => {
                let name = pod_volume_name(volumes.len());
                volumes.push(Volume {
                    name: name.clone(),
                    empty_dir: Some(EmptyDirVolumeSource {
                        medium: Some("Memory".to_string()),
                        size_limit: m.size_bytes.map(|b| Quantity(b.to_string())),
                    }),
                    ..Default::default()
                });
                name
            }
        };
        volume_mounts.push(VolumeMount {
            name: volume_name,
            mount_path: m.destination.clone(),
            read_only: (!m.rw).then_some(true),
            sub_path: m.subpath.clone().filter(|s| !s.is_empty()),
            ..Default::default()
        });
    }
    spec.volumes.get_or_insert_with(Vec::new).extend(volumes);
    if let Some(main) = spec.containers.first_mut() {
        main.volume_mounts.get_or_insert_with(Vec::new).extend(volume_mounts);
    }
    Ok(())
}

/// Inspect's `Mounts`. `Source` of a volume is its claim, `k8s://<namespace>/persistentvolumeclaims/<claim>`
/// (Docker shows a directory under `/var/lib/docker/volumes`, which a claim does not have); `Driver` `local`.
pub fn inspect_mounts(mounts: &[ContainerMount], namespace: &str) -> Vec<MountPoint> {
    mounts
        .iter()
        .filter(|m| m.listed)
        .map(|m| match m.kind {
            MountKind::Volume => MountPoint {
                typ: Some("volume".to_string()),
                name: Some(m.name.clone()),
                source: Some(claim_reference(namespace, &m.name)),
                destination: Some(m.destination.clone()),
                driver: Some("local".to_string()),
                mode: Some(m.mode.clone()),
                rw: Some(m.rw),
                propagation: Some(String::new()),
            },
            MountKind::Bind => MountPoint {
                typ: Some("bind".to_string()),
                name: None,
                source: Some(m.source.clone()),
                destination: Some(m.destination.clone()),
                driver: None,
                mode: Some(m.mode.clone()),
                rw: Some(m.rw),
                propagation: Some("rprivate".to_string()),
            },
            MountKind::Tmpfs => MountPoint {
                typ: Some("tmpfs".to_string()),
                name: None,
                source: Some(String::new()),
                destination: Some(m.destination.clone()),
                driver: None,
                mode: Some(m.mode.clone()),
                rw: Some(m.rw),
                propagation: Some(String::new()),
            },
        })
        .collect()
}

/// Where a Docker volume is, as podshim says it: the reference of its claim (the volume's `Mountpoint`).
pub fn claim_reference(namespace: &str, volume_name: &str) -> String {
    super::volume::mountpoint(namespace, &volume_claim_name(volume_name))
}

/// `-v` modes (moby's linux parser): at most one of each kind.
#[derive(Default)]
struct Modes {
    read_only: bool,
    propagation: bool,
    no_copy: bool,
}

fn parse_modes(mode: &str) -> Option<Modes> {
    let mut counts = [0u8; 4];
    let mut modes = Modes::default();
    for part in mode.split(',') {
        let kind = match part {
            "rw" => 0,
            "ro" => {
                modes.read_only = true;
                0
            }
            "z" | "Z" => 1,
            "shared" | "rshared" | "slave" | "rslave" | "private" | "rprivate" => {
                modes.propagation = true;
                2
            }
            "nocopy" => {
                modes.no_copy = true;
                3
            }
            _ => return None,
        };
        // A kind given twice (`ro,rw`, or `rw` 300 times) is no mode.
        if counts[kind] == 1 {
            return None;
        }
        counts[kind] = 1;
    }
    Some(modes)
}

/// A destination as moby checks it: absolute, not `/`; cleaned. The error is the part after moby's prefix.
fn check_destination(destination: &str) -> Result<String, String> {
    if !destination.starts_with('/') {
        return Err(format!("invalid mount path: '{destination}' mount path must be absolute"));
    }
    let clean = clean_path(destination);
    if clean == "/" {
        return Err("invalid specification: destination can't be '/'".to_string());
    }
    Ok(clean)
}

/// One `HostConfig.Binds` entry: `[source:]destination[:mode]`.
fn parse_bind(raw: &str) -> Result<ContainerMount, TranslateError> {
    let invalid_spec = || TranslateError::InvalidParameter(format!("invalid volume specification: '{raw}'"));
    let parts: Vec<&str> = raw.split(':').collect();
    if parts.first().is_none_or(|p| p.is_empty()) {
        return Err(invalid_spec());
    }
    let (source, destination, mode) = match parts.as_slice() {
        [destination] => ("", *destination, ""),
        // `/path:ro`: an anonymous volume cannot take a mode here (moby's linux parser).
        [_, second] if parse_modes(second).is_some() => return Err(invalid_spec()),
        [source, destination] => (*source, *destination, ""),
        [source, destination, mode] => (*source, *destination, *mode),
        _ => return Err(invalid_spec()),
    };
    let modes = if mode.is_empty() { Some(Modes::default()) } else { parse_modes(mode) };
    let modes = modes.ok_or_else(|| TranslateError::InvalidParameter(format!("invalid mode: {mode}")))?;
    if source.starts_with('/') {
        if modes.propagation {
            return Err(TranslateError::unsupported("Binds", format!("\"{raw}\": {PROPAGATION}")));
        }
        let destination = check_destination(destination).map_err(|e| {
            TranslateError::InvalidParameter(format!(
                "invalid volume specification: '{raw}': invalid mount config for type \"bind\": {e}"
            ))
        })?;
        // Docker shows a bind's mode as given (`ro`, `rw`, `z`), empty without one.
        return Ok(ContainerMount { create_source: true, ..bind(source, &destination, !modes.read_only, mode)? });
    }
    let spec_error = |e: String| {
        TranslateError::InvalidParameter(format!(
            "invalid volume specification: '{raw}': invalid mount config for type \"volume\": {e}"
        ))
    };
    let destination = check_destination(destination).map_err(spec_error)?;
    if modes.propagation {
        return Err(spec_error("field BindOptions must not be specified".to_string()));
    }
    if !source.is_empty() {
        validate_volume_name(source)?;
    }
    let shown = if mode.is_empty() { "z" } else { mode };
    Ok(volume(&destination, source, !modes.read_only, shown))
}

/// One `HostConfig.Mounts` entry.
fn parse_mount(m: &Mount) -> Result<ContainerMount, TranslateError> {
    let typ = m.typ.unwrap_or(MountType::VOLUME);
    let config_error =
        |e: &str| TranslateError::InvalidParameter(format!("invalid mount config for type \"{typ}\": {e}"));
    let target = m.target.as_deref().unwrap_or("");
    if target.is_empty() {
        return Err(config_error("field Target must not be empty"));
    }
    let source = m.source.as_deref().unwrap_or("");
    let propagation = m.bind_options.as_ref().and_then(|b| b.propagation).is_some_and(|p| {
        !matches!(p, MountBindOptionsPropagationEnum::EMPTY | MountBindOptionsPropagationEnum::RPRIVATE)
    });
    match typ {
        MountType::BIND => {
            if propagation {
                let why = PROPAGATION;
                return Err(TranslateError::unsupported(
                    "Mounts",
                    format!("type bind ({source:?} at {target:?}): {why}"),
                ));
            }
            if source.is_empty() {
                return Err(config_error("field Source must not be empty"));
            }
            if !source.starts_with('/') {
                return Err(config_error(&format!("invalid mount path: '{source}' mount path must be absolute")));
            }
            let destination = check_destination(target).map_err(|e| config_error(&e))?;
            if m.volume_options.is_some() {
                return Err(config_error("field VolumeOptions must not be specified"));
            }
            if m.tmpfs_options.is_some() {
                return Err(config_error("field TmpfsOptions must not be specified"));
            }
            let create_source = m.bind_options.as_ref().and_then(|b| b.create_mountpoint) == Some(true);
            return Ok(ContainerMount { create_source, ..bind(source, &destination, m.read_only != Some(true), "")? });
        }
        MountType::VOLUME | MountType::TMPFS => {}
        // What Docker 20.10 answers for them on Linux.
        _ => return Err(config_error("mount type unknown")),
    }
    let destination = check_destination(target).map_err(|e| config_error(&e))?;
    if m.bind_options.is_some() {
        return Err(config_error("field BindOptions must not be specified"));
    }
    let read_only = m.read_only == Some(true);
    if typ == MountType::TMPFS {
        if !source.is_empty() {
            return Err(config_error("field Source must not be specified"));
        }
        if m.volume_options.is_some() {
            return Err(config_error("field VolumeOptions must not be specified"));
        }
        let options = m.tmpfs_options.clone().unwrap_or_default();
        if options.options.as_ref().is_some_and(|o| !o.is_empty()) {
            return Err(TranslateError::unsupported(
                "Mounts.TmpfsOptions.Options",
                "a pod's memory-backed emptyDir takes no mount options",
            ));
        }
        if let Some(mode) = options.mode.filter(|m| *m != 0) {
            check_tmpfs_mode("Mounts.TmpfsOptions.Mode", mode as u32)?;
        }
        return Ok(ContainerMount {
            kind: MountKind::Tmpfs,
            name: String::new(),
            anonymous: false,
            inherited: false,
            destination,
            rw: !read_only,
            mode: String::new(),
            subpath: None,
            size_bytes: options.size_bytes.filter(|s| *s > 0),
            listed: true,
            source: String::new(),
            claim: None,
            create_source: false,
            labels: HashMap::new(),
        });
    }
    if m.tmpfs_options.is_some() {
        return Err(config_error("field TmpfsOptions must not be specified"));
    }
    let options = m.volume_options.clone().unwrap_or_default();
    if let Some(config) = &options.driver_config {
        let driver = config.name.as_deref().unwrap_or("");
        if !matches!(driver, "" | "local") {
            return Err(TranslateError::unsupported(
                "Mounts.VolumeOptions.DriverConfig",
                format!("{driver:?}: {LOCAL_ONLY}"),
            ));
        }
        if config.options.as_ref().is_some_and(|o| !o.is_empty()) {
            return Err(TranslateError::unsupported(
                "Mounts.VolumeOptions.DriverConfig.Options",
                "the local driver's options (type, device, o) mount a filesystem of one host; create the volume with `docker volume create` instead",
            ));
        }
    }
    if !source.is_empty() {
        validate_volume_name(source)?;
    }
    let subpath = match options.subpath.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(sub) => {
            let local = !sub.starts_with('/') && sub.split('/').all(|p| p != "..");
            if !local {
                return Err(config_error("subpath must be a relative path within the volume"));
            }
            Some(sub.to_string())
        }
    };
    let mut mount = volume(&destination, source, !read_only, "z");
    mount.subpath = subpath;
    mount.labels = options.labels.unwrap_or_default();
    Ok(mount)
}

/// One `HostConfig.Tmpfs` entry: destination and mount options (`size=64m,mode=1777`).
fn parse_tmpfs(destination: &str, options: &str) -> Result<ContainerMount, TranslateError> {
    let destination = check_destination(destination).map_err(TranslateError::InvalidParameter)?;
    let mut size_bytes = None;
    let mut rw = true;
    for option in options.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        match option.split_once('=') {
            Some(("size", value)) => size_bytes = Some(tmpfs_size(value)?),
            Some(("mode", value)) => {
                let mode = u32::from_str_radix(value, 8).map_err(|_| {
                    TranslateError::InvalidParameter(format!("invalid tmpfs mode {value:?} for {destination}"))
                })?;
                check_tmpfs_mode("Tmpfs", mode)?;
            }
            None if option == "rw" => rw = true,
            None if option == "ro" => rw = false,
            _ => {
                return Err(TranslateError::unsupported(
                    "Tmpfs",
                    format!(
                        "option {option:?} of {destination}: a pod's memory-backed emptyDir takes only a size (size=) and Docker's default mode (mode=1777)"
                    ),
                ))
            }
        }
    }
    Ok(ContainerMount {
        kind: MountKind::Tmpfs,
        name: String::new(),
        anonymous: false,
        inherited: false,
        destination,
        rw,
        mode: String::new(),
        subpath: None,
        size_bytes: size_bytes.filter(|s| *s > 0),
        listed: false,
        source: String::new(),
        claim: None,
        create_source: false,
        labels: HashMap::new(),
    })
}

/// The kubelet mounts a memory-backed emptyDir with the tmpfs default mode, 1777; no other can be honoured.
fn check_tmpfs_mode(option: &str, mode: u32) -> Result<(), TranslateError> {
    if mode == TMPFS_MODE {
        return Ok(());
    }
    Err(TranslateError::unsupported(
        option,
        format!("mode {mode:o}: a pod's memory-backed emptyDir has the tmpfs default mode 1777"),
    ))
}

/// A tmpfs `size=` value as the kernel reads it: bytes with an optional `k`, `m`, `g`, `t` suffix (powers of
/// 1024). A percentage of the node's memory is refused.
pub(crate) fn tmpfs_size(value: &str) -> Result<i64, TranslateError> {
    let invalid = || TranslateError::InvalidParameter(format!("invalid tmpfs size: {value:?}"));
    if value.ends_with('%') {
        return Err(TranslateError::unsupported(
            "Tmpfs",
            format!("size={value}: a share of the node's memory has no emptyDir equivalent; give a size in bytes"),
        ));
    }
    let (digits, shift) = match value.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let shift = match c.to_ascii_lowercase() {
                'k' => 10,
                'm' => 20,
                'g' => 30,
                't' => 40,
                _ => return Err(invalid()),
            };
            (&value[..i], shift)
        }
        _ => (value, 0),
    };
    let n: i64 = digits.parse().map_err(|_| invalid())?;
    n.checked_mul(1i64 << shift).filter(|b| *b >= 0).ok_or_else(invalid)
}

/// One `VolumesFrom` entry: `container[:mode]`, the mode `ro` or `rw` (moby: no propagation modes).
fn parse_volumes_from(spec: &str) -> Result<VolumesFrom, TranslateError> {
    let (container, mode) = match spec.split_once(':') {
        Some((c, m)) => (c, m),
        None => (spec, "rw"),
    };
    let modes = parse_modes(mode).ok_or_else(|| TranslateError::InvalidParameter(format!("invalid mode: {mode}")))?;
    if modes.propagation {
        return Err(TranslateError::InvalidParameter(format!("invalid mode: {mode}")));
    }
    Ok(VolumesFrom { container: container.to_string(), read_write: !modes.read_only })
}

#[cfg(test)]
#[path = "mounts_tests.rs"]
mod tests;
