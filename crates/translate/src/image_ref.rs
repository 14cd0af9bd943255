//! Image references as Docker parses and normalises them (distribution/reference), and image ids.
//!
//! [`ImageRef::parse`] checks a reference with Docker's grammar and words (`invalid reference format`), splits it into
//! registry, repository path, tag and digest, and spells it back in Docker's full form
//! (`docker.io/library/alpine:latest`) or its familiar form (`alpine:latest`).

use std::sync::LazyLock;

use regex::Regex;

use super::TranslateError;

/// Docker Hub's registry name in a full reference.
pub const DOCKER_HUB: &str = "docker.io";
/// The tag a reference without tag or digest gets.
pub const DEFAULT_TAG: &str = "latest";
/// A name's longest total length (distribution/reference NameTotalLengthMax).
const NAME_MAX: usize = 255;

static DOMAIN: LazyLock<Regex> = LazyLock::new(|| {
    let component = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
    Regex::new(&format!(r"^(?:{component}(?:\.{component})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?$")).expect("domain regex")
});
static PATH_COMPONENT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$").expect("path regex"));
static TAG: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[\w][\w.-]{0,127}$").expect("tag regex"));
static DIGEST: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$").expect("digest regex")
});

/// A parsed image reference: `registry/path[:tag][@digest]`, normalised (Docker Hub's `library/` added).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImageRef {
    /// The registry: `docker.io`, `quay.io`, `127.0.0.1:5000`, `localhost`.
    pub domain: String,
    /// The repository path in the registry: `library/alpine`, `me/app`.
    pub path: String,
    pub tag: Option<String>,
    /// `sha256:<hex>`.
    pub digest: Option<String>,
}

fn invalid() -> TranslateError {
    TranslateError::InvalidParameter("invalid reference format".into())
}

impl ImageRef {
    /// Parses a reference as Docker's `ParseNormalizedNamed`: a first component with `.` or `:`, or `localhost`, is
    /// a registry; else the registry is Docker Hub, where a one-component path gets `library/`. 400 `invalid
    /// reference format` (with Docker's details for upper case and 64-hex names).
    pub fn parse(reference: &str) -> Result<ImageRef, TranslateError> {
        if reference.is_empty() {
            return Err(invalid());
        }
        let (rest, digest) = match reference.split_once('@') {
            Some((rest, digest)) => {
                if !DIGEST.is_match(digest) {
                    return Err(invalid());
                }
                (rest, Some(digest.to_string()))
            }
            None => (reference, None),
        };
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(tag) = tag {
            if !TAG.is_match(tag) {
                return Err(invalid());
            }
        }
        if is_full_hex_id(name) {
            return Err(TranslateError::InvalidParameter(format!(
                "invalid repository name ({name}), cannot specify 64-byte hexadecimal strings"
            )));
        }
        // A first component that looks like a host but is not one is, as in Docker's grammar, a path component.
        let (domain, path) = match name.split_once('/') {
            Some((first, rest)) if (first.contains(['.', ':']) || first == "localhost") && DOMAIN.is_match(first) => {
                (first, rest)
            }
            Some((first, _)) if first.contains(':') => return Err(invalid()),
            _ => (DOCKER_HUB, name),
        };
        // Docker checks the case of the repository name before its grammar.
        if path.to_lowercase() != path {
            return Err(TranslateError::InvalidParameter(
                "invalid reference format: repository name must be lowercase".into(),
            ));
        }
        if domain != DOCKER_HUB && !DOMAIN.is_match(domain) {
            return Err(invalid());
        }
        if path.is_empty() {
            return Err(invalid());
        }
        if name.len() > NAME_MAX {
            return Err(TranslateError::InvalidParameter(
                "invalid reference format: repository name must not be more than 255 characters".into(),
            ));
        }
        for component in path.split('/') {
            if !PATH_COMPONENT.is_match(component) {
                return Err(if PATH_COMPONENT.is_match(&component.to_ascii_lowercase()) {
                    TranslateError::InvalidParameter(
                        "invalid reference format: repository name must be lowercase".into(),
                    )
                } else {
                    invalid()
                });
            }
        }
        let domain = if domain == "index.docker.io" { DOCKER_HUB } else { domain };
        let path = if domain == DOCKER_HUB && !path.contains('/') { format!("library/{path}") } else { path.into() };
        Ok(ImageRef { domain: domain.to_string(), path, tag: tag.map(str::to_string), digest })
    }

    /// The reference with `:latest` when it has neither tag nor digest (Docker's `TagNameOnly`).
    pub fn with_default_tag(mut self) -> ImageRef {
        if self.tag.is_none() && self.digest.is_none() {
            self.tag = Some(DEFAULT_TAG.to_string());
        }
        self
    }

    /// `docker.io/library/alpine`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// The short name Docker prints: `alpine`, `me/app`, `quay.io/me/app`.
    pub fn familiar_name(&self) -> String {
        if self.domain == DOCKER_HUB {
            self.path.strip_prefix("library/").filter(|p| !p.contains('/')).unwrap_or(&self.path).to_string()
        } else {
            self.name()
        }
    }

    /// The full reference: `docker.io/library/alpine:latest`, `docker.io/library/alpine@sha256:...`.
    pub fn full(&self) -> String {
        self.spelled(self.name())
    }

    /// The familiar reference: `alpine:latest`, `alpine@sha256:...`.
    pub fn familiar(&self) -> String {
        self.spelled(self.familiar_name())
    }

    fn spelled(&self, name: String) -> String {
        let mut out = name;
        if let Some(tag) = &self.tag {
            out.push(':');
            out.push_str(tag);
        }
        if let Some(digest) = &self.digest {
            out.push('@');
            out.push_str(digest);
        }
        out
    }

    /// The same repository at `digest` (no tag): what a pod runs.
    pub fn at_digest(&self, digest: &str) -> ImageRef {
        ImageRef { domain: self.domain.clone(), path: self.path.clone(), tag: None, digest: Some(digest.to_string()) }
    }

    /// The same repository with `tag` (no digest).
    pub fn at_tag(&self, tag: &str) -> ImageRef {
        ImageRef { domain: self.domain.clone(), path: self.path.clone(), tag: Some(tag.to_string()), digest: None }
    }
}

/// True for 64 lowercase hex characters (a full image or container id without `sha256:`).
fn is_full_hex_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The hex of an image id or id prefix (`sha256:1d09...`, `1d09`), or `None` when `s` is not one. Docker accepts
/// a prefix of any length from one hex digit; a reference that also parses as a name (`abc`) is tried as a name
/// first by the caller.
pub fn id_prefix(s: &str) -> Option<&str> {
    let hex = s.strip_prefix("sha256:").unwrap_or(s);
    let ok = !hex.is_empty() && hex.len() <= 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    ok.then_some(hex)
}

/// The short form of an image id that Docker prints: 12 hex characters without `sha256:`.
pub fn short_image_id(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    hex.get(..12).unwrap_or(hex)
}

/// Checks a reference as Docker does at create, with Docker's messages (see [`ImageRef::parse`]). Without this a
/// name like `BAD IMAGE!!` would be accepted and fail at start with the API server's pod validation error.
pub fn check_reference(reference: &str) -> Result<(), TranslateError> {
    ImageRef::parse(reference).map(|_| ())
}

/// A reference in Docker's full form (`alpine` -> `docker.io/library/alpine:latest`); a string that is not a valid
/// reference is returned as it is.
pub fn normalize_reference(reference: &str) -> String {
    match ImageRef::parse(reference) {
        Ok(r) => r.with_default_tag().full(),
        Err(_) => reference.to_string(),
    }
}

/// The familiar form Docker prints for a reference (`docker.io/library/alpine:latest` -> `alpine:latest`); a
/// string that is not a valid reference is returned as it is.
pub fn familiar_reference(reference: &str) -> String {
    match ImageRef::parse(reference) {
        Ok(r) => r.familiar(),
        Err(_) => reference.to_string(),
    }
}

/// The image id shown for a container whose record names no image id (written before images were resolved):
/// `sha256:` + the SHA-256 of [`normalize_reference`], stable for every spelling of the reference.
pub fn reference_to_image_id(reference: &str) -> String {
    let digest = sha256(normalize_reference(reference).as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// Docker's `ancestor` filter against a container's image: the filter names the same normalised reference, or is
/// a prefix of the image id (with or without `sha256:`).
pub fn reference_matches(filter: &str, reference: &str, image_id: &str) -> bool {
    let id_hex = image_id.strip_prefix("sha256:").unwrap_or(image_id);
    let is_id_prefix = id_prefix(filter).is_some_and(|hex| id_hex.starts_with(hex));
    is_id_prefix || normalize_reference(filter) == normalize_reference(reference)
}

/// `sha256:` + the hex SHA-256 of `data`: the digest of a blob (an image id is the digest of its config).
pub fn digest_of(data: &[u8]) -> String {
    let hex: String = sha256(data).iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// SHA-256 of `data`.
fn sha256(data: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(data).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_checked_with_dockers_messages() {
        for ok in [
            "alpine",
            "alpine:3.10",
            "docker.io/library/alpine:latest",
            "localhost:5000/team/app:v1.2-rc_3",
            "127.0.0.1:5000/alpine",
            "invalid.registry.test/nothing:1",
            "busybox@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "a__b-c.d/e",
        ] {
            assert_eq!(check_reference(ok), Ok(()), "{ok}");
        }
        let message = |r: &str| check_reference(r).unwrap_err().to_string();
        assert_eq!(message("   "), "invalid reference format");
        assert_eq!(message("BAD IMAGE!!"), "invalid reference format: repository name must be lowercase");
        assert_eq!(message("Alpine"), "invalid reference format: repository name must be lowercase");
        assert_eq!(message("alpine:"), "invalid reference format");
        assert_eq!(message("alpine::1"), "invalid reference format");
        assert_eq!(message("a/../b"), "invalid reference format");
        assert_eq!(message("-x"), "invalid reference format");
        let long = "a".repeat(300);
        assert_eq!(message(&long), "invalid reference format: repository name must not be more than 255 characters");
    }

    fn hex(b: [u8; 32]) -> String {
        b.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn sha256_matches_the_standard_vectors() {
        assert_eq!(hex(sha256(b"")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(hex(sha256(b"abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(digest_of(b"abc"), "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn references_normalise_like_docker() {
        assert_eq!(normalize_reference("alpine"), "docker.io/library/alpine:latest");
        assert_eq!(normalize_reference("alpine:3.20"), "docker.io/library/alpine:3.20");
        assert_eq!(normalize_reference("me/app"), "docker.io/me/app:latest");
        assert_eq!(normalize_reference("index.docker.io/alpine"), "docker.io/library/alpine:latest");
        assert_eq!(normalize_reference("localhost:5000/app"), "localhost:5000/app:latest");
        assert_eq!(normalize_reference("ghcr.io/o/app:v1"), "ghcr.io/o/app:v1");
        let digest = format!("sha256:{}", "a".repeat(64));
        assert_eq!(normalize_reference(&format!("alpine@{digest}")), format!("docker.io/library/alpine@{digest}"));
    }

    #[test]
    fn familiar_forms_drop_docker_hub_and_library() {
        let r = ImageRef::parse("docker.io/library/alpine:3.10").unwrap();
        assert_eq!((r.familiar_name(), r.familiar()), ("alpine".into(), "alpine:3.10".into()));
        assert_eq!(ImageRef::parse("me/app").unwrap().familiar(), "me/app");
        assert_eq!(
            ImageRef::parse("127.0.0.1:5000/library/alpine").unwrap().familiar_name(),
            "127.0.0.1:5000/library/alpine"
        );
        assert_eq!(familiar_reference("docker.io/library/busybox:latest"), "busybox:latest");
    }

    #[test]
    fn bad_references_get_dockers_words() {
        for bad in ["", "a b", "alpine:bad tag", ":x", "x@sha256:12", "a//b", "-a"] {
            assert_eq!(ImageRef::parse(bad).unwrap_err().to_string(), "invalid reference format", "{bad:?}");
        }
        assert_eq!(
            ImageRef::parse("Alpine").unwrap_err().to_string(),
            "invalid reference format: repository name must be lowercase"
        );
        let hex = "1d0925695eda7263e0afa3c13cebec3c8360d331d928738a046b6e9b6b0d3d24";
        assert_eq!(
            ImageRef::parse(hex).unwrap_err().to_string(),
            format!("invalid repository name ({hex}), cannot specify 64-byte hexadecimal strings")
        );
    }

    #[test]
    fn id_prefixes_and_short_ids() {
        assert_eq!(id_prefix("sha256:1d09"), Some("1d09"));
        assert_eq!(id_prefix("1d09"), Some("1d09"));
        assert_eq!(id_prefix("alpine"), None);
        assert_eq!(short_image_id("sha256:1d0925695eda7263e0af"), "1d0925695eda");
    }

    #[test]
    fn ancestor_matches_by_reference_or_id_prefix() {
        let id = reference_to_image_id("alpine");
        assert!(reference_matches("alpine", "docker.io/library/alpine:latest", &id));
        assert!(reference_matches("alpine:latest", "alpine", &id));
        assert!(!reference_matches("alpine", "alpine:3.20", "sha256:ff"));
        assert!(reference_matches(&id[..19], "x", &id));
        assert!(reference_matches(&id[7..19], "x", &id));
        assert!(!reference_matches("busybox", "alpine", &id));
    }
}
