//! Docker volumes as PersistentVolumeClaims: the claim for a `POST /volumes/create` body ([`VolumeSpec`],
//! [`claim`]), the Docker `Volume` a claim shows ([`to_volume`]), sizes ([`parse_size`]), and the `filters` of
//! `GET /volumes` ([`ListFilters`]) and `POST /volumes/prune` ([`PruneFilters`]).
//!
//! A volume's claim is named [`labels::volume_claim_name`] and carries the Docker name, labels and driver options
//! in annotations (the labels also as Kubernetes labels when they are valid ones, for `kubectl get pvc -l`).
//! Driver options podshim understands (`DriverOpts`, `docker volume create -o KEY=VALUE`):
//! - `size`: the claim's `resources.requests.storage` (see [`parse_size`]);
//! - `storageClass`: `spec.storageClassName`;
//! - `accessMode`: `ReadWriteOnce` (default), `ReadWriteMany` or `ReadOnlyMany`.
//!
//! Any other option is refused (400) naming it, as Docker's local driver does (`invalid option: "foo"`).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bollard_stubs::models::{Volume, VolumeCreateRequest, VolumeScopeEnum};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, PersistentVolumeClaimSpec, VolumeResourceRequirements};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::Value;

use super::labels::{
    self, MANAGED_LABEL, MANAGED_VALUE, VOLUME_ANONYMOUS_ANNOTATION, VOLUME_LABEL, VOLUME_LABELS_ANNOTATION,
    VOLUME_NAME_ANNOTATION, VOLUME_OPTIONS_ANNOTATION,
};
use super::TranslateError;

/// The only volume driver: Docker's name for it.
pub const LOCAL_DRIVER: &str = "local";
/// Driver option: the claim's storage request.
pub const SIZE_OPTION: &str = "size";
/// Driver option: the claim's storage class.
pub const STORAGE_CLASS_OPTION: &str = "storageClass";
/// Driver option: the claim's access mode.
pub const ACCESS_MODE_OPTION: &str = "accessMode";
/// The label Docker (23+) puts on an anonymous volume, with an empty value.
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";
/// The access mode of a claim without `accessMode`.
pub const DEFAULT_ACCESS_MODE: &str = "ReadWriteOnce";
const ACCESS_MODES: [&str; 3] = ["ReadWriteOnce", "ReadWriteMany", "ReadOnlyMany"];

/// What a volume is made with when its create request does not say: podshim's `--volume-size` and
/// `--volume-storage-class`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeDefaults {
    /// A Kubernetes quantity (already checked with [`parse_size`]).
    pub size: String,
    /// `None`: the cluster's default storage class.
    pub storage_class: Option<String>,
}

impl Default for VolumeDefaults {
    fn default() -> Self {
        VolumeDefaults { size: "1Gi".to_string(), storage_class: None }
    }
}

/// A volume to create, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeSpec {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// The driver options as the client gave them (shown back as `Options`).
    pub options: BTreeMap<String, String>,
    /// The storage request, a Kubernetes quantity.
    pub size: String,
    pub storage_class: Option<String>,
    pub access_mode: String,
    /// Made for one container (`-v /path`): removed with it by `docker rm -v`, pruned by default.
    pub anonymous: bool,
}

impl VolumeSpec {
    /// The volume a `POST /volumes/create` body asks for. `generated` names a volume without a name (Docker: 64
    /// random hex characters). Errors in Docker's words: `create NAME: invalid option: "x"`, `create NAME: invalid
    /// size: 'x'`, the local driver's name check, an unknown driver's `create NAME: error looking up volume plugin
    /// D: plugin "D" not found` (Docker answers that one with 404).
    pub fn from_request(
        request: &VolumeCreateRequest,
        generated: impl FnOnce() -> String,
        defaults: &VolumeDefaults,
    ) -> Result<VolumeSpec, VolumeError> {
        if request.cluster_volume_spec.is_some() {
            return Err(TranslateError::unsupported("ClusterVolumeSpec", "cluster volumes belong to swarm mode").into());
        }
        let name = match request.name.as_deref() {
            None | Some("") => generated(),
            Some(name) => name.to_string(),
        };
        labels::validate_volume_name(&name)?;
        match request.driver.as_deref() {
            None | Some("") | Some(LOCAL_DRIVER) => {}
            Some(driver) => return Err(VolumeError::NoSuchPlugin { volume: name, driver: driver.to_string() }),
        }
        let labels: BTreeMap<String, String> = request.labels.clone().unwrap_or_default().into_iter().collect();
        let options: BTreeMap<String, String> = request.driver_opts.clone().unwrap_or_default().into_iter().collect();
        let mut spec = VolumeSpec {
            name,
            labels,
            options: BTreeMap::new(),
            size: defaults.size.clone(),
            storage_class: defaults.storage_class.clone(),
            access_mode: DEFAULT_ACCESS_MODE.to_string(),
            anonymous: false,
        };
        let invalid = |m: String| VolumeError::from(TranslateError::InvalidParameter(m));
        for (key, value) in &options {
            match key.as_str() {
                SIZE_OPTION => {
                    spec.size = parse_size(value)
                        .ok_or_else(|| invalid(format!("create {}: invalid size: '{value}'", spec.name)))?;
                }
                STORAGE_CLASS_OPTION => {
                    if !labels::is_dns_subdomain(value) {
                        return Err(invalid(format!(
                            "create {}: invalid storageClass: '{value}': a storage class name is a DNS subdomain (lowercase letters, digits, '-' and '.')",
                            spec.name
                        )));
                    }
                    spec.storage_class = Some(value.clone());
                }
                ACCESS_MODE_OPTION => spec.access_mode = access_mode(&spec.name, value)?,
                _ => return Err(invalid(format!("create {}: invalid option: \"{key}\"", spec.name))),
            }
        }
        spec.options = options;
        Ok(spec)
    }

    /// An anonymous volume named `name` (`-v /path`, `Config.Volumes`), with the defaults and Docker's (23+)
    /// label [`ANONYMOUS_LABEL`].
    pub fn anonymous(name: String, defaults: &VolumeDefaults) -> VolumeSpec {
        VolumeSpec {
            name,
            labels: BTreeMap::from([(ANONYMOUS_LABEL.to_string(), String::new())]),
            options: BTreeMap::new(),
            size: defaults.size.clone(),
            storage_class: defaults.storage_class.clone(),
            access_mode: DEFAULT_ACCESS_MODE.to_string(),
            anonymous: true,
        }
    }
}

/// Why a create request cannot become a claim.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VolumeError {
    #[error(transparent)]
    Translate(#[from] TranslateError),
    /// A driver other than `local`: Docker looks for a plugin of that name (404 when there is none).
    #[error("create {volume}: error looking up volume plugin {driver}: plugin \"{driver}\" not found")]
    NoSuchPlugin { volume: String, driver: String },
}

fn access_mode(volume: &str, value: &str) -> Result<String, VolumeError> {
    if let Some(mode) = ACCESS_MODES.iter().find(|m| m.eq_ignore_ascii_case(value)) {
        return Ok((*mode).to_string());
    }
    if value.eq_ignore_ascii_case("ReadWriteOncePod") {
        return Err(TranslateError::unsupported(
            "accessMode ReadWriteOncePod",
            "Kubernetes 1.20, the oldest cluster podshim supports, does not have it; use ReadWriteOnce",
        )
        .into());
    }
    Err(TranslateError::InvalidParameter(format!(
        "create {volume}: invalid accessMode: '{value}': one of ReadWriteOnce, ReadWriteMany, ReadOnlyMany"
    ))
    .into())
}

/// A size as a Kubernetes quantity of bytes, or `None` when it is not one. Read as Docker reads sizes
/// (`docker run --memory`, `--shm-size`: go-units' RAMInBytes): a number, optionally with a fraction, then
/// optionally `k`, `m`, `g`, `t` or `p` in any case, optionally followed by `i` and/or `b`, every unit a power of
/// 1024 (`10m`, `1g`, `1GiB`, `512KB` and `1.5g` are what Docker means by them). Kubernetes' binary quantities
/// (`1Gi`, `500Mi`) mean the same and are taken too; `E`/`Ei` (exbibytes) also. A Kubernetes decimal quantity
/// like `1G` therefore means 1 GiB here, as in Docker, and `m` is MiB, never milli. Zero is refused (a claim asks
/// for some storage), and so is more than 2^63-1 bytes (a Kubernetes quantity is an int64 of them). The answer is the exact number of bytes in the largest binary unit that divides it (`1Gi`,
/// `1536Mi`, `1000`).
pub fn parse_size(text: &str) -> Option<String> {
    let text = text.trim();
    let digits_end = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(digits_end);
    let unit = unit.trim_start_matches(' ').to_ascii_lowercase();
    if number.is_empty() || number.starts_with('.') || number.ends_with('.') || number.matches('.').count() > 1 {
        return None;
    }
    let (power, rest) = match unit.chars().next() {
        Some(c @ ('k' | 'm' | 'g' | 't' | 'p' | 'e')) => {
            (1 + "kmgtpe".find(c).and_then(|i| u32::try_from(i).ok())?, &unit[1..])
        }
        _ => (0u32, unit.as_str()),
    };
    // After the unit only `i`, `b` or `ib`.
    if !matches!(rest, "" | "i" | "b" | "ib") {
        return None;
    }
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let whole: u128 = whole.parse().ok()?;
    let scale = 1024u128.checked_pow(power)?;
    let mut bytes = whole.checked_mul(scale)?;
    if !fraction.is_empty() {
        let digits = u32::try_from(fraction.len()).ok().filter(|d| *d <= 18)?;
        let numerator: u128 = fraction.parse().ok()?;
        bytes = bytes.checked_add(numerator.checked_mul(scale)? / 10u128.pow(digits))?;
    }
    if bytes == 0 || bytes > u128::from(u64::MAX >> 1) {
        return None;
    }
    let units = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
    let mut value = bytes;
    let mut unit = 0;
    while unit + 1 < units.len() && value % 1024 == 0 {
        value /= 1024;
        unit += 1;
    }
    Some(format!("{value}{}", units[unit]))
}

/// The claim of a volume, in `namespace`.
pub fn claim(spec: &VolumeSpec, namespace: &str) -> PersistentVolumeClaim {
    let mut claim_labels = labels::kubernetes_labels(&spec.labels.clone().into_iter().collect());
    claim_labels.insert(MANAGED_LABEL.to_string(), MANAGED_VALUE.to_string());
    claim_labels.insert(VOLUME_LABEL.to_string(), MANAGED_VALUE.to_string());
    let mut annotations = BTreeMap::from([
        (VOLUME_NAME_ANNOTATION.to_string(), spec.name.clone()),
        (VOLUME_LABELS_ANNOTATION.to_string(), json_object(&spec.labels)),
        (VOLUME_OPTIONS_ANNOTATION.to_string(), json_object(&spec.options)),
    ]);
    if spec.anonymous {
        annotations.insert(VOLUME_ANONYMOUS_ANNOTATION.to_string(), "true".to_string());
    }
    PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some(labels::volume_claim_name(&spec.name)),
            namespace: Some(namespace.to_string()),
            labels: Some(claim_labels),
            annotations: Some(annotations),
            ..Default::default()
        },
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec![spec.access_mode.clone()]),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([("storage".to_string(), Quantity(spec.size.clone()))])),
                ..Default::default()
            }),
            storage_class_name: spec.storage_class.clone(),
            ..Default::default()
        }),
        status: None,
    }
}

fn json_object(map: &BTreeMap<String, String>) -> String {
    serde_json::to_string(map).unwrap_or_else(|_| "{}".to_string())
}

fn annotation<'a>(claim: &'a PersistentVolumeClaim, key: &str) -> Option<&'a str> {
    claim.metadata.annotations.as_ref()?.get(key).map(String::as_str)
}

fn annotation_map(claim: &PersistentVolumeClaim, key: &str) -> HashMap<String, String> {
    annotation(claim, key).and_then(|text| serde_json::from_str(text).ok()).unwrap_or_default()
}

/// The Docker name of a claim podshim made for a volume; `None` for any other claim.
pub fn volume_name(claim: &PersistentVolumeClaim) -> Option<&str> {
    let ours = claim.metadata.labels.as_ref().and_then(|l| l.get(VOLUME_LABEL)).is_some_and(|v| v == MANAGED_VALUE);
    if !ours {
        return None;
    }
    annotation(claim, VOLUME_NAME_ANNOTATION)
}

/// Whether a volume's claim was made for one container (`-v /path`).
pub fn is_anonymous(claim: &PersistentVolumeClaim) -> bool {
    annotation(claim, VOLUME_ANONYMOUS_ANNOTATION) == Some("true")
}

/// Where a volume is, as `Mountpoint`: the claim, `k8s://<namespace>/persistentvolumeclaims/<claim>` (the data is
/// on whatever PersistentVolume the cluster binds; there is no host path to show).
pub fn mountpoint(namespace: &str, claim_name: &str) -> String {
    format!("k8s://{namespace}/persistentvolumeclaims/{claim_name}")
}

/// The Docker volume a claim is; `None` for a claim podshim did not make for a volume. `Status` (Docker's
/// driver-specific details) shows the claim's phase, its storage request and class, and the bound volume.
pub fn to_volume(claim: &PersistentVolumeClaim) -> Option<Volume> {
    let name = volume_name(claim)?.to_string();
    let claim_name = claim.metadata.name.clone().unwrap_or_default();
    let namespace = claim.metadata.namespace.clone().unwrap_or_default();
    let created_at = claim.metadata.creation_timestamp.as_ref().map(|t| rfc3339_seconds(&t.0));
    Some(Volume {
        name,
        driver: LOCAL_DRIVER.to_string(),
        mountpoint: mountpoint(&namespace, &claim_name),
        created_at,
        status: None,
        labels: annotation_map(claim, VOLUME_LABELS_ANNOTATION),
        scope: Some(VolumeScopeEnum::LOCAL),
        cluster_volume: None,
        options: annotation_map(claim, VOLUME_OPTIONS_ANNOTATION),
        usage_data: None,
    })
}

/// Docker's `CreatedAt`: RFC 3339 in UTC to the second (`2026-12-04T21:11:36Z`).
fn rfc3339_seconds(t: &jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// One entry of a container record's [`labels::VOLUMES_ANNOTATION`]: a Docker volume the container mounts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VolumeUse {
    pub name: String,
    /// The container's own anonymous volume: removed with it by `docker rm -v` and `--rm`.
    pub anonymous: bool,
}

/// The Docker volumes a container mounts, from its [`labels::VOLUMES_ANNOTATION`]; an unreadable annotation names
/// none.
pub fn mounted_volumes(annotation: &str) -> Vec<String> {
    serde_json::from_str::<Vec<VolumeUse>>(annotation)
        .map(|uses| uses.into_iter().map(|u| u.name).collect())
        .unwrap_or_default()
}

/// The `filters` of `GET /volumes` (moby volume/service/by.go + convert.go): `name` (substring), `label` (`key`
/// or `key=value`, every one must match), `dangling` (`true`/`false`/`1`/`0`), `driver` (substring, as Docker).
/// Values of one key are alternatives; different keys must all match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilters {
    names: Vec<String>,
    labels: Vec<(String, Option<String>)>,
    drivers: Vec<String>,
    dangling: Option<bool>,
}

/// `{"key": ["v", ...]}` or the older `{"key": {"v": true}}`; an empty string is no filter.
fn parse_filter_json(query: &str) -> Result<BTreeMap<String, BTreeSet<String>>, TranslateError> {
    if query.trim().is_empty() {
        return Ok(BTreeMap::new());
    }
    let json: BTreeMap<String, Value> =
        serde_json::from_str(query).map_err(|e| TranslateError::InvalidParameter(e.to_string()))?;
    let mut out = BTreeMap::new();
    for (key, values) in json {
        let values: BTreeSet<String> = match values {
            Value::Array(items) => items.into_iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
            Value::Object(map) => map.into_iter().map(|(k, _)| k).collect(),
            _ => return Err(TranslateError::InvalidParameter(format!("invalid filter value for '{key}'"))),
        };
        out.insert(key, values);
    }
    Ok(out)
}

fn parse_labels(values: &BTreeSet<String>) -> Vec<(String, Option<String>)> {
    values
        .iter()
        .map(|v| match v.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (v.clone(), None),
        })
        .collect()
}

fn labels_match(wanted: &[(String, Option<String>)], labels: &HashMap<String, String>) -> bool {
    wanted.iter().all(|(key, value)| match (labels.get(key), value) {
        (Some(_), None) => true,
        (Some(have), Some(want)) => have == want,
        (None, _) => false,
    })
}

impl ListFilters {
    /// Errors, with moby's words (400): `Invalid filter 'x'` for an unknown key, `Invalid filter
    /// 'dangling=[x]'` for a bad boolean (`dangling=[a b]` lists them as Docker does), `error reading volume
    /// filters: ...` for a `filters` that is not JSON (the parser's words, not Go's).
    pub fn parse(query: &str) -> Result<ListFilters, TranslateError> {
        let mut filters = ListFilters::default();
        let json = parse_filter_json(query)
            .map_err(|e| TranslateError::InvalidParameter(format!("error reading volume filters: {e}")))?;
        for (key, values) in json {
            match key.as_str() {
                "name" => filters.names = values.into_iter().collect(),
                "label" => filters.labels = parse_labels(&values),
                "driver" => filters.drivers = values.into_iter().collect(),
                "dangling" => {
                    // moby: `true`/`1` among the values wins, then `false`/`0`; none of them is an error.
                    let has = |v: &str| values.contains(v);
                    filters.dangling = if has("true") || has("1") {
                        Some(true)
                    } else if has("false") || has("0") {
                        Some(false)
                    } else {
                        let all: Vec<&str> = values.iter().map(String::as_str).collect();
                        return Err(TranslateError::InvalidParameter(format!(
                            "Invalid filter 'dangling=[{}]'",
                            all.join(" ")
                        )));
                    };
                }
                _ => return Err(TranslateError::InvalidParameter(format!("Invalid filter '{key}'"))),
            }
        }
        Ok(filters)
    }

    /// Whether `volume` is listed; `in_use`: a container mounts it (not dangling).
    pub fn matches(&self, volume: &Volume, in_use: bool) -> bool {
        (self.names.is_empty() || self.names.iter().any(|n| volume.name.contains(n.as_str())))
            && (self.drivers.is_empty() || self.drivers.iter().any(|d| volume.driver.contains(d.as_str())))
            && labels_match(&self.labels, &volume.labels)
            && self.dangling.is_none_or(|dangling| dangling != in_use)
    }
}

/// The `filters` of `POST /volumes/prune`: `label` (`key` or `key=value`), `label!` (none of them), and from API 1.42 on `all`
/// (`true`/`1`: named volumes too). Docker (1.42+) prunes only anonymous volumes unless `all` is set; before 1.42
/// every unused volume, and `all` is an unknown filter there.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneFilters {
    labels: Vec<(String, Option<String>)>,
    /// `label!`: volumes with none of these labels.
    not_labels: Vec<(String, Option<String>)>,
    /// Named volumes too.
    pub all: bool,
}

impl PruneFilters {
    /// `api_1_42`: the request's API version is 1.42 or later. Errors in moby's words: `Invalid filter 'x'`,
    /// `invalid filter 'all=x': invalid value for 'all'` (a bad boolean).
    pub fn parse(query: &str, api_1_42: bool) -> Result<PruneFilters, TranslateError> {
        let mut filters = PruneFilters { labels: Vec::new(), not_labels: Vec::new(), all: !api_1_42 };
        for (key, values) in parse_filter_json(query)? {
            match key.as_str() {
                "label" => filters.labels = parse_labels(&values),
                "label!" => filters.not_labels = parse_labels(&values),
                "all" if api_1_42 => {
                    for value in &values {
                        match value.to_ascii_lowercase().as_str() {
                            "true" | "1" => filters.all = true,
                            "false" | "0" => {}
                            _ => {
                                return Err(TranslateError::InvalidParameter(format!(
                                    "invalid filter 'all={value}': invalid value for 'all'"
                                )))
                            }
                        }
                    }
                }
                _ => return Err(TranslateError::InvalidParameter(format!("Invalid filter '{key}'"))),
            }
        }
        Ok(filters)
    }

    /// Whether an unused volume is pruned.
    pub fn matches(&self, volume: &Volume, anonymous: bool) -> bool {
        (self.all || anonymous)
            && labels_match(&self.labels, &volume.labels)
            && !self.not_labels.iter().any(|l| labels_match(std::slice::from_ref(l), &volume.labels))
    }
}

#[cfg(test)]
#[path = "volume_tests.rs"]
mod tests;
