//! Every label, annotation and name podshim writes on a pod, spelled only here, and the encoding of container ids
//! and Docker names.
//!
//! Everything podshim knows about a container must be readable back from the pod (podshim keeps no database), so
//! the pod carries: the [`MANAGED_LABEL`] that selects podshim's pods for its one shared watch, the 64-hex id in
//! [`ID_ANNOTATION`], the Docker name in [`NAME_ANNOTATION`], and the create body in [`CONFIG_ANNOTATION`].

use std::collections::{BTreeMap, HashMap};

use super::TranslateError;

/// Label on every pod podshim creates, value [`MANAGED_VALUE`]. podshim's single watch and every list use the
/// selector [`MANAGED_SELECTOR`], so pods made by anyone else are never seen, stopped or removed.
pub const MANAGED_LABEL: &str = "podshim.io/managed";
/// The value of [`MANAGED_LABEL`].
pub const MANAGED_VALUE: &str = "true";
/// The label selector for podshim's pods.
pub const MANAGED_SELECTOR: &str = "podshim.io/managed=true";

/// Annotation: the full container id (64 lowercase hex). Not a label: label values stop at 63 characters.
pub const ID_ANNOTATION: &str = "podshim.io/id";
/// Annotation: the Docker name without its leading `/` (inspect shows it back with the `/`).
pub const NAME_ANNOTATION: &str = "podshim.io/name";
/// Annotation: the create body as podshim decoded it, as compact JSON with sorted keys, so inspect answers with
/// exactly what was asked (Config, HostConfig) after a podshim restart. It holds `Labels` too, which is why there
/// is no separate labels annotation: Docker's labels are read from here, and the Kubernetes labels copied from
/// them (see [`kubernetes_labels`]) are a convenience for `kubectl`, never the source.
pub const CONFIG_ANNOTATION: &str = "podshim.io/config";
/// Annotation, present with value `"true"` only when `HostConfig.AutoRemove` was set: the lifecycle layer deletes
/// the pod once the container has exited. Duplicates the config annotation so the lifecycle needs no JSON parse.
pub const AUTO_REMOVE_ANNOTATION: &str = "podshim.io/auto-remove";
/// Annotation on the record: the files copied into a container before it starts (JSON list of `binaryData` key,
/// target path and mode; see [`super::files`]).
pub const FILES_ANNOTATION: &str = "podshim.io/files";
/// Annotation on a record written together with a name claim (value `"true"`): the record is a container only
/// while the claim of its name names it, so a create that lost the race for its name is never seen.
pub const NAME_CLAIMED_ANNOTATION: &str = "podshim.io/name-claimed";
/// Label on a name claim (a ConfigMap named [`claim_object_name`], owned by its record), value `"true"`.
pub const NAME_CLAIM_LABEL: &str = "podshim.io/name-claim";
/// Annotation on a name claim: the id of the container that holds the name.
pub const CLAIM_FOR_ANNOTATION: &str = "podshim.io/claim-for";
/// Annotation on a pod whose container publishes ports: the bindings podshim opened for this run, as JSON
/// (see [`super::ports::Published`]). Written when the pod is created, so inspect, `docker ps` and `docker port`
/// read the same ports after a podshim restart, and the restarted podshim opens them again.
pub const PORTS_ANNOTATION: &str = "podshim.io/ports";
/// Annotation on a pod with published ports: the podshim replica that listens on them (its `--replica-name`),
/// the one that started the container.
pub const PORTS_REPLICA_ANNOTATION: &str = "podshim.io/ports-replica";
/// Annotation on a container record (and its pods): the id of the image the container was created from
/// (`sha256:` of its config), as inspect's `Image` and ps's `ImageID` show it.
pub const IMAGE_ID_ANNOTATION: &str = "podshim.io/image-id";
/// Annotation on a container record: the digest reference the pod runs (`docker.io/library/alpine@sha256:...`),
/// resolved at create, so every start runs the image that was inspected.
pub const IMAGE_PINNED_ANNOTATION: &str = "podshim.io/image-ref";
/// Annotation on a container record: the image's runtime config (`Env`, `Cmd`, `Entrypoint`, ...) as JSON, merged
/// with the create body for inspect's `Config` (kept on the record so it survives `docker rmi -f`).
pub const IMAGE_CONFIG_ANNOTATION: &str = "podshim.io/image-config";
/// Annotation on a container record: the pull Secrets of its image, comma-separated names (the pod's
/// `imagePullSecrets`). Names only: credentials live in the Secrets' data alone.
pub const PULL_SECRETS_ANNOTATION: &str = "podshim.io/pull-secrets";
/// Annotation on a pod, value `"true"`: its command waits for one line on stdin before it `exec`s the container's
/// own (the start handshake of an attached run, [`super::start_handshake`]).
pub const START_HANDSHAKE_ANNOTATION: &str = "podshim.io/start-handshake";
/// Label on an image record (a ConfigMap named [`image_object_name`]), value `"true"`: a pulled image.
pub const IMAGE_RECORD_LABEL: &str = "podshim.io/image";
/// Data key of an image record: the image's config blob exactly as the registry served it (its digest is the
/// image id).
pub const IMAGE_CONFIG_KEY: &str = "config.json";
/// Data key of an image record: references, layer sizes, last tag time and pull Secret name as JSON
/// ([`super::image::ImageMeta`]).
pub const IMAGE_META_KEY: &str = "image.json";
/// Label on a pull Secret podshim writes (`kubernetes.io/dockerconfigjson`), value `"true"`.
pub const PULL_SECRET_LABEL: &str = "podshim.io/pull-secret";
/// Finalizer podshim puts on a pod before deleting it to stop the container: the pod object, with its final
/// status (exit code, times), stays for inspect, ps and logs until the container is started again or removed.
pub const STOPPED_FINALIZER: &str = "podshim.io/stopped";
/// Label on a volume's PersistentVolumeClaim (a Docker volume, named or anonymous), value [`MANAGED_VALUE`]: podshim
/// lists and watches only claims with it, so claims made by anyone else are never shown or removed.
pub const VOLUME_LABEL: &str = "podshim.io/volume";
/// Annotation on a volume's claim: the Docker volume name (claim names cannot hold `A-Z` or `_`; see
/// [`volume_claim_name`]).
pub const VOLUME_NAME_ANNOTATION: &str = "podshim.io/volume-name";
/// Annotation on a volume's claim: its Docker labels as JSON (an object of strings).
pub const VOLUME_LABELS_ANNOTATION: &str = "podshim.io/volume-labels";
/// Annotation on a volume's claim: its `DriverOpts` as JSON (an object of strings), as `docker volume inspect`
/// shows them back as `Options`.
pub const VOLUME_OPTIONS_ANNOTATION: &str = "podshim.io/volume-options";
/// Annotation on an anonymous volume's claim, value `"true"`: made for one container (`-v /path`, `Config.Volumes`)
/// and removed with it by `docker rm -v` and `--rm`.
pub const VOLUME_ANONYMOUS_ANNOTATION: &str = "podshim.io/volume-anonymous";
/// Annotation on a container record (and its pods): the Docker volumes the container mounts, as a JSON array of
/// objects `{"Name": ..., "Anonymous": bool}` (named volumes, anonymous ones, and those taken with `VolumesFrom`).
/// `docker volume rm` reads it to refuse a volume in use (409), the `dangling` filter to find unused ones, and
/// `docker rm -v` / `--rm` to remove the container's anonymous volumes.
pub const VOLUMES_ANNOTATION: &str = "podshim.io/volumes";
/// Annotation on a container record (and its pods): every volume and tmpfs mount of the container, resolved at
/// create (anonymous volumes named, `VolumesFrom` read), as a JSON list of [`super::mounts::ContainerMount`]. Each
/// start builds the pod's volumes from it, inspect's `Mounts` shows it, and `VolumesFrom` copies it.
pub const MOUNTS_ANNOTATION: &str = "podshim.io/mounts";
/// Label on a helper pod (`docker cp` out of an exited container, see [`crate::archive_helper`]), value
/// [`HELPER_VALUE`]. Helpers carry no [`MANAGED_LABEL`]: the container watch never takes one for a container.
pub const HELPER_LABEL: &str = "podshim.io/helper";
/// The value of [`HELPER_LABEL`].
pub const HELPER_VALUE: &str = "archive";
/// The label selector for helper pods.
pub const HELPER_SELECTOR: &str = "podshim.io/helper=archive";
/// Annotation on a helper pod: the replica that made it (`--replica-name`), which removes it when it restarts.
pub const HELPER_REPLICA_ANNOTATION: &str = "podshim.io/helper-replica";
/// Annotation on a pod with copied binds (see [`crate::binds`]): the replica that copies them back
/// (`--replica-name`), the one on whose machine the caller's directories are.
pub const BINDS_REPLICA_ANNOTATION: &str = "podshim.io/binds-replica";
/// Name of the pod's only container. Logs, exec and attach address it by this name.
pub const MAIN_CONTAINER: &str = "main";

/// Prefix of every key podshim owns; Docker labels under it are never copied to pod labels.
const OWN_PREFIX: &str = "podshim.io/";
/// Prefix of pod names.
const POD_NAME_PREFIX: &str = "podshim-";
/// Length of Docker's short id (`docker ps`), also the default hostname.
pub const SHORT_ID_LEN: usize = 12;

/// A new container id from 32 random bytes the caller supplies: 64 lowercase hex characters, like Docker's.
pub fn new_container_id(random: [u8; 32]) -> String {
    random.iter().map(|b| format!("{b:02x}")).collect()
}

/// True for a full container id: exactly 64 lowercase hex characters.
pub fn is_container_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The short id (`docker ps`, default hostname): the first 12 characters, or all of a shorter string.
pub fn short_id(id: &str) -> &str {
    id.get(..SHORT_ID_LEN).unwrap_or(id)
}

/// The pod name for a container id: `podshim-` + the short id (20 characters, a DNS-1123 label), so
/// `kubectl get pod podshim-<short id>` finds what `docker ps` shows.
///
/// Two ids may share a short id (48 bits; unlikely, not impossible). The caller creates the pod and, on
/// `AlreadyExists`, draws a new id and tries again; the id is never reused for a different pod.
pub fn pod_name_for(id: &str) -> String {
    format!("{POD_NAME_PREFIX}{}", short_id(id))
}

/// Docker's container name rule (moby daemon/names: `^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$`), with Docker's message.
/// Returns the name without its leading `/`.
pub fn validate_container_name(name: &str) -> Result<String, TranslateError> {
    let bare = name.strip_prefix('/').unwrap_or(name);
    let mut chars = bare.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest: Vec<char> = chars.collect();
    let rest_ok = !rest.is_empty() && rest.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if first_ok && rest_ok {
        Ok(bare.to_string())
    } else {
        Err(TranslateError::InvalidParameter(format!(
            "Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )))
    }
}

const ADJECTIVES: [&str; 118] = [
    "admiring",
    "adoring",
    "affectionate",
    "agitated",
    "amazing",
    "angry",
    "awesome",
    "beautiful",
    "blissful",
    "bold",
    "boring",
    "brave",
    "busy",
    "charming",
    "clever",
    "compassionate",
    "competent",
    "condescending",
    "confident",
    "cool",
    "cranky",
    "crazy",
    "dazzling",
    "determined",
    "distracted",
    "dreamy",
    "eager",
    "ecstatic",
    "elastic",
    "elated",
    "elegant",
    "eloquent",
    "epic",
    "exciting",
    "fervent",
    "festive",
    "flamboyant",
    "focused",
    "friendly",
    "frosty",
    "funny",
    "gallant",
    "gifted",
    "goofy",
    "gracious",
    "great",
    "happy",
    "hardcore",
    "heuristic",
    "hopeful",
    "hungry",
    "infallible",
    "inspiring",
    "intelligent",
    "interesting",
    "jolly",
    "jovial",
    "keen",
    "kind",
    "laughing",
    "loving",
    "lucid",
    "magical",
    "modest",
    "musing",
    "mystifying",
    "naughty",
    "nervous",
    "nice",
    "nifty",
    "nostalgic",
    "objective",
    "optimistic",
    "peaceful",
    "pedantic",
    "pensive",
    "practical",
    "priceless",
    "quirky",
    "quizzical",
    "recursing",
    "relaxed",
    "reverent",
    "romantic",
    "sad",
    "serene",
    "sharp",
    "silly",
    "sleepy",
    "stoic",
    "strange",
    "stupefied",
    "suspicious",
    "sweet",
    "tender",
    "thirsty",
    "trusting",
    "unruffled",
    "upbeat",
    "vibrant",
    "vigilant",
    "vigorous",
    "wizardly",
    "wonderful",
    "xenodochial",
    "youthful",
    "zealous",
    "zen",
    "bright",
    "calm",
    "candid",
    "cheerful",
    "curious",
    "daring",
    "gentle",
    "humble",
    "lively",
    "merry",
];

const SURNAMES: [&str; 212] = [
    "albattani",
    "allen",
    "archimedes",
    "babbage",
    "banach",
    "bardeen",
    "bell",
    "bhabha",
    "black",
    "blackwell",
    "bohr",
    "booth",
    "borg",
    "bose",
    "brahmagupta",
    "brattain",
    "cannon",
    "carson",
    "cerf",
    "chandrasekhar",
    "curie",
    "darwin",
    "dijkstra",
    "easley",
    "einstein",
    "euclid",
    "feynman",
    "franklin",
    "galileo",
    "hopper",
    "lovelace",
    "wozniak",
    "agnesi",
    "ardinghelli",
    "aryabhata",
    "austin",
    "bartik",
    "benz",
    "blackburn",
    "boyd",
    "brown",
    "burnell",
    "chaplygin",
    "chatelet",
    "chebyshev",
    "cohen",
    "colden",
    "cori",
    "cray",
    "curran",
    "davinci",
    "diffie",
    "dirac",
    "dubinsky",
    "edison",
    "elbakyan",
    "elgamal",
    "elion",
    "ellis",
    "engelbart",
    "faraday",
    "fermat",
    "fermi",
    "gagarin",
    "gates",
    "gauss",
    "germain",
    "goldberg",
    "goldstine",
    "goldwasser",
    "golick",
    "goodall",
    "gould",
    "greider",
    "grothendieck",
    "haibt",
    "hamilton",
    "haslett",
    "hawking",
    "heisenberg",
    "hellman",
    "hermann",
    "herschel",
    "hertz",
    "heyrovsky",
    "hodgkin",
    "hofstadter",
    "hoover",
    "hugle",
    "hypatia",
    "ishizaka",
    "jackson",
    "jang",
    "jennings",
    "jepsen",
    "johnson",
    "joliot",
    "jones",
    "kalam",
    "kapitsa",
    "kare",
    "keldysh",
    "keller",
    "kepler",
    "khayyam",
    "khorana",
    "kilby",
    "kirch",
    "knuth",
    "kowalevski",
    "lalande",
    "lamarr",
    "lamport",
    "leakey",
    "leavitt",
    "lederberg",
    "lehmann",
    "lewin",
    "lichterman",
    "liskov",
    "lumiere",
    "mahavira",
    "margulis",
    "matsumoto",
    "maxwell",
    "mayer",
    "mccarthy",
    "mcclintock",
    "mclaren",
    "mclean",
    "mcnulty",
    "meitner",
    "mendel",
    "mendeleev",
    "merkle",
    "mestorf",
    "mirzakhani",
    "montalcini",
    "moore",
    "morse",
    "moser",
    "murdock",
    "napier",
    "nash",
    "neumann",
    "newton",
    "nightingale",
    "nobel",
    "noether",
    "northcutt",
    "noyce",
    "panini",
    "pare",
    "pascal",
    "pasteur",
    "payne",
    "perlman",
    "pike",
    "poincare",
    "poitras",
    "proskuriakova",
    "ptolemy",
    "raman",
    "ramanujan",
    "rhodes",
    "ride",
    "ritchie",
    "robinson",
    "roentgen",
    "rosalind",
    "rubin",
    "saha",
    "sammet",
    "sanderson",
    "satoshi",
    "shamir",
    "shannon",
    "shaw",
    "shirley",
    "shockley",
    "sinoussi",
    "snyder",
    "solomon",
    "spence",
    "stonebraker",
    "sutherland",
    "swanson",
    "swartz",
    "swirles",
    "taussig",
    "tesla",
    "tharp",
    "thompson",
    "torvalds",
    "turing",
    "varahamihira",
    "vaughan",
    "villani",
    "visvesvaraya",
    "volhard",
    "wescoff",
    "wilbur",
    "wiles",
    "williams",
    "williamson",
    "wilson",
    "wing",
    "wright",
    "wu",
    "yalow",
    "yonath",
    "zhukovsky",
];

/// A Docker-style generated name (`adjective_surname`) from caller-supplied randomness; from the second try
/// on (`attempt` >= 1) a digit is appended, as moby's namesgenerator does, which widens the space tenfold.
///
/// Like moby's namesgenerator, `boring_wozniak` is never produced (Steve Wozniak is not boring). The caller
/// claims the name and, if it is taken, asks again with new randomness a bounded number of times, then falls
/// back to a name from the container id ([`fallback_name`]).
pub fn generated_name(random: [u8; 5], attempt: usize) -> String {
    let pick = |a: u8, b: u8, len: usize| usize::from(u16::from_le_bytes([a, b])) % len;
    let adjective = ADJECTIVES[pick(random[0], random[1], ADJECTIVES.len())];
    let mut surname = SURNAMES[pick(random[2], random[3], SURNAMES.len())];
    if adjective == "boring" && surname == "wozniak" {
        surname = "hopper";
    }
    if attempt == 0 {
        format!("{adjective}_{surname}")
    } else {
        format!("{adjective}_{surname}{}", random[4] % 10)
    }
}

/// The name a container gets when every generated name it tried was taken: its short id, as moby does.
pub fn fallback_name(id: &str) -> String {
    short_id(id).to_string()
}

/// The name of the object that claims a Docker name: `podshim-name-` and 32 hex characters of the name's
/// SHA-256 (object names cannot hold `A-Z` or `_`, Docker names can). The name itself is in the claim's
/// [`NAME_ANNOTATION`].
pub fn claim_object_name(docker_name: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(docker_name.as_bytes());
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("{POD_NAME_PREFIX}name-{hex}")
}

/// The name of the PersistentVolumeClaim of the Docker volume `volume_name`: `podshim-vol-`, the name lowercased
/// with every character outside `[a-z0-9-]` as `-` (at most 24 of them, for `kubectl get pvc`), then `-` and 16 hex
/// characters of the SHA-256 of the exact name, so `Data` and `data` (or `a_b` and `a.b`) are different claims.
/// Always a DNS label (at most 63 characters). The Docker name itself is in [`VOLUME_NAME_ANNOTATION`].
pub fn volume_claim_name(volume_name: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(volume_name.as_bytes());
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    let readable: String = volume_name
        .chars()
        .take(24)
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9') => c,
            _ => '-',
        })
        .collect();
    format!("{POD_NAME_PREFIX}vol-{readable}-{hex}")
}

/// Checks a Docker volume name as the local driver does (`[a-zA-Z0-9][a-zA-Z0-9_.-]+`), with Docker's words.
pub fn validate_volume_name(name: &str) -> Result<(), TranslateError> {
    if name.chars().count() == 1 {
        return Err(TranslateError::InvalidParameter(format!(
            "create {name}: volume name is too short, names should be at least two alphanumeric characters"
        )));
    }
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if name.len() >= 2 && first_ok && rest_ok {
        return Ok(());
    }
    Err(TranslateError::InvalidParameter(format!(
        "create {name}: \"{name}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
    )))
}

/// The name of an image record: `podshim-image-` and the first 48 hex characters of the image id (a DNS label,
/// at most 63 characters; the full id is the digest of the record's config blob).
pub fn image_object_name(image_id: &str) -> String {
    let hex = image_id.strip_prefix("sha256:").unwrap_or(image_id);
    format!("{POD_NAME_PREFIX}image-{}", hex.get(..48).unwrap_or(hex))
}

/// The Docker labels that are also valid Kubernetes labels, copied onto the pod for `kubectl get -l`.
///
/// Pod labels must never make creation fail and never change podshim's own selection, so a Docker label is
/// skipped (it stays in [`CONFIG_ANNOTATION`], the source for Docker's view) when its key is not a Kubernetes
/// qualified name, its value is not a valid label value, or its key is under `podshim.io/`, `kubernetes.io/` or
/// `k8s.io/` (reserved prefixes with meaning to podshim or to Kubernetes).
pub fn kubernetes_labels(docker: &HashMap<String, String>) -> BTreeMap<String, String> {
    docker
        .iter()
        .filter(|(k, v)| is_label_key(k) && is_label_value(v) && !is_reserved_key(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn is_reserved_key(key: &str) -> bool {
    let Some((prefix, _)) = key.split_once('/') else { return false };
    format!("{prefix}/") == OWN_PREFIX
        || ["kubernetes.io", "k8s.io"].iter().any(|r| prefix == *r || prefix.ends_with(&format!(".{r}")))
}

/// A Kubernetes label key: optional DNS-1123 subdomain prefix and `/`, then a name of 1-63 characters.
fn is_label_key(key: &str) -> bool {
    match key.split_once('/') {
        Some((prefix, name)) => is_dns_subdomain(prefix) && is_label_name(name),
        None => is_label_name(key),
    }
}

/// A label name: 1-63 characters, alphanumeric at both ends, `-_.` allowed inside.
fn is_label_name(s: &str) -> bool {
    !s.is_empty() && is_label_value(s)
}

/// A label value: empty, or up to 63 characters, alphanumeric at both ends, `-_.` allowed inside.
fn is_label_value(s: &str) -> bool {
    if s.is_empty() {
        return true;
    }
    let b = s.as_bytes();
    s.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// A DNS-1123 label: 1-63 lowercase alphanumerics or `-`, alphanumeric at both ends.
pub fn is_dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

/// A DNS-1123 subdomain: up to 253 characters of dot-separated DNS labels.
pub fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns_label)
}

#[cfg(test)]
mod tests {

    #[test]
    fn volume_claim_names_are_dns_labels_and_tell_case_apart() {
        let long = "A".repeat(255);
        for name in ["data", "Data", "a_b", "a.b", "transformation_grids", long.as_str()] {
            let claim = volume_claim_name(name);
            assert!(is_dns_label(&claim), "{claim}");
        }
        assert_eq!(volume_claim_name("data").len(), "podshim-vol-data-".len() + 16);
        assert!(volume_claim_name("transformation_grids").starts_with("podshim-vol-transformation-grids-"));
        assert_ne!(volume_claim_name("Data"), volume_claim_name("data"));
        assert_ne!(volume_claim_name("a_b"), volume_claim_name("a.b"));
    }

    #[test]
    fn volume_names_follow_the_local_driver() {
        for ok in ["ab", "data", "a_b.c-d", "0x"] {
            assert_eq!(validate_volume_name(ok), Ok(()), "{ok}");
        }
        let short = validate_volume_name("a").expect_err("a").to_string();
        assert!(short.contains("volume name is too short"), "{short}");
        for bad in ["", "_a", "-a", "a/b", "a b", "/abs"] {
            let err = validate_volume_name(bad).expect_err(bad).to_string();
            assert!(err.contains("includes invalid characters for a local volume name"), "{err}");
        }
    }
    use super::*;

    #[test]
    fn container_id_is_64_lowercase_hex_of_the_given_bytes() {
        let mut random = [0u8; 32];
        random[0] = 0xab;
        random[31] = 0x0f;
        let id = new_container_id(random);
        assert_eq!(id.len(), 64);
        assert!(id.starts_with("ab00"));
        assert!(id.ends_with("0f"));
        assert!(is_container_id(&id));
        assert!(!is_container_id(&id.to_uppercase()));
    }

    #[test]
    fn pod_name_is_a_dns_label_with_the_short_id() {
        let id = "f308875b87a7626a4b4e313b36aa4f4bfd5d2c782e6dfc20e2ff68ac5c2838ef";
        assert_eq!(pod_name_for(id), "podshim-f308875b87a7");
        assert!(is_dns_label(&pod_name_for(id)));
    }

    #[test]
    fn docker_names_follow_dockers_rule() {
        assert_eq!(validate_container_name("/opts").as_deref(), Ok("opts"));
        assert_eq!(validate_container_name("a.b-c_d").as_deref(), Ok("a.b-c_d"));
        for bad in ["a", "/", "", "_x", "-x", "a b", "a/b", "ü1"] {
            let err = validate_container_name(bad).err();
            assert_eq!(
                err,
                Some(TranslateError::InvalidParameter(format!(
                    "Invalid container name ({bad}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                )))
            );
        }
    }

    #[test]
    fn generated_names_are_valid_and_never_boring_wozniak() {
        for a in 0..=255u8 {
            for b in [0u8, 31, 200] {
                for attempt in [0, 3] {
                    let name = generated_name([a, b, b, a, a], attempt);
                    assert!(validate_container_name(&name).is_ok(), "{name}");
                    assert_ne!(name, "boring_wozniak");
                }
            }
        }
        assert_eq!(generated_name([0, 0, 0, 0, 7], 0), "admiring_albattani");
        assert_eq!(generated_name([0, 0, 0, 0, 7], 1), "admiring_albattani7");
    }

    #[test]
    fn the_generated_name_space_is_large() {
        assert!(ADJECTIVES.len() * SURNAMES.len() > 20_000);
    }

    #[test]
    fn image_records_are_named_by_a_dns_label() {
        let name = image_object_name("sha256:1d0925695eda7263e0afa3c13cebec3c8360d331d928738a046b6e9b6b0d3d24");
        assert_eq!(name, "podshim-image-1d0925695eda7263e0afa3c13cebec3c8360d331d928738a");
        assert!(is_dns_label(&name));
    }

    #[test]
    fn claim_objects_are_valid_object_names_and_differ_per_name() {
        let a = claim_object_name("My_Name");
        assert!(is_dns_label(&a), "{a}");
        assert_ne!(a, claim_object_name("my_name"));
        assert_eq!(a, claim_object_name("My_Name"));
    }

    #[test]
    fn only_valid_unreserved_docker_labels_become_pod_labels() {
        let docker: HashMap<String, String> = [
            ("app", "test"),
            ("org.testcontainers.session-id", "aa852721-b1c9-417b-b53b-d71a230dc962"),
            ("com.example/team", "x"),
            ("podshim.io/managed", "false"),
            ("node.kubernetes.io/x", "y"),
            ("has space", "v"),
            ("long", &"v".repeat(64)),
            ("Upper/x", "v"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let labels = kubernetes_labels(&docker);
        let keys: Vec<&str> = labels.keys().map(String::as_str).collect();
        assert_eq!(keys, ["app", "com.example/team", "org.testcontainers.session-id"]);
    }
}
