//! Image references as Docker normalises them, and the image ID podshim shows for a reference.
//!
//! Serves `Image`/`ImageID` of `GET /containers/{id}/json` and `GET /containers/json`, the `ancestor` list filter,
//! and (for the same answer everywhere) `GET /images/{name}/json`.

use crate::TranslateError;

/// A reference in Docker's full form (distribution/reference `ParseNormalizedNamed` plus `TagNameOnly`):
/// `alpine` -> `docker.io/library/alpine:latest`, `me/app:1` -> `docker.io/me/app:1`,
/// `index.docker.io/x` -> `docker.io/library/x:latest`. A registry host (a first component with `.` or `:`, or
/// `localhost`) is kept; a digest reference gets no `:latest`.
pub fn normalize_reference(reference: &str) -> String {
    let (name_tag, digest) = match reference.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (reference, None),
    };
    let last_slash = name_tag.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match name_tag[last_slash..].rfind(':') {
        Some(i) => (&name_tag[..last_slash + i], Some(&name_tag[last_slash + i + 1..])),
        None => (name_tag, None),
    };
    let (domain, path) = match name.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => (first, rest.to_string()),
        _ => ("docker.io", name.to_string()),
    };
    let domain = if domain == "index.docker.io" { "docker.io" } else { domain };
    let path = if domain == "docker.io" && !path.contains('/') { format!("library/{path}") } else { path };
    let mut out = format!("{domain}/{path}");
    match (tag, digest) {
        (Some(t), _) => out.push_str(&format!(":{t}")),
        (None, None) => out.push_str(":latest"),
        (None, Some(_)) => {}
    }
    if let Some(d) = digest {
        out.push_str(&format!("@{d}"));
    }
    out
}

/// Checks a reference as Docker does at create (distribution/reference `ParseNormalizedNamed`), with Docker's
/// messages: a name with upper-case letters is "repository name must be lowercase", anything else that does not
/// parse "invalid reference format". Without this a name like `BAD IMAGE!!` would be accepted and fail at start
/// with the API server's pod validation error.
pub fn check_reference(reference: &str) -> Result<(), TranslateError> {
    let invalid = |why: &str| TranslateError::InvalidParameter(format!("invalid reference format{why}"));
    let (domain, remainder) = split_domain(reference);
    let remote_name = remainder.split_once(':').map_or(remainder.as_str(), |(name, _)| name);
    if remote_name.to_lowercase() != remote_name {
        return Err(invalid(": repository name must be lowercase"));
    }
    let full = format!("{domain}/{remainder}");
    let Some(caps) = reference_regex().captures(&full) else { return Err(invalid("")) };
    if caps.get(1).map_or(0, |m| m.as_str().len()) > 255 {
        return Err(invalid(": repository name must not be more than 255 characters"));
    }
    Ok(())
}

/// distribution/reference `splitDockerDomain`: the registry host, or `docker.io` (with `library/` for a
/// one-component name).
fn split_domain(reference: &str) -> (&str, String) {
    match reference.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => (first, rest.to_string()),
        Some(_) => ("docker.io", reference.to_string()),
        None => ("docker.io", format!("library/{reference}")),
    }
}

/// distribution/reference's `ReferenceRegexp`, anchored: name (1), tag, digest.
fn reference_regex() -> &'static regex::Regex {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        let component = r"[a-z0-9]+(?:(?:[._]|__|-*)[a-z0-9]+)*";
        let domain_component = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
        let domain = format!(r"{domain_component}(?:\.{domain_component})*(?::[0-9]+)?");
        let name = format!(r"(?:{domain}/)?{component}(?:/{component})*");
        let tag = r"[\w][\w.-]{0,127}";
        let digest = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9A-Fa-f]{32,}";
        regex::Regex::new(&format!(r"^({name})(?::{tag})?(?:@{digest})?$")).unwrap_or_else(|e| panic!("{e}"))
    })
}

/// The image ID podshim shows for a reference: `sha256:` + the SHA-256 of [`normalize_reference`].
///
/// Docker's image ID is the digest of the image config, which only the node that pulled the image knows (and the
/// kubelet reports only the repo digest, and only once the container runs). A hash of the normalised reference
/// is known from the create body alone, stays the same in every state, and gives one ID to every spelling of a
/// reference (`alpine`, `alpine:latest`, `docker.io/library/alpine:latest`), as Docker does. It differs from
/// Docker in that two tags of the same image get different IDs.
pub fn reference_to_image_id(reference: &str) -> String {
    let digest = sha256(normalize_reference(reference).as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// Docker's `ancestor` filter for podshim's IDs: the filter names the same normalised reference, or is a prefix
/// of the image ID (with or without `sha256:`, at least one hex digit).
pub fn reference_matches(filter: &str, reference: &str) -> bool {
    let id = reference_to_image_id(reference);
    let hex = filter.strip_prefix("sha256:").unwrap_or(filter);
    let is_id_prefix = !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) && id[7..].starts_with(hex);
    is_id_prefix || normalize_reference(filter) == normalize_reference(reference)
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
        let two_blocks = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
        assert_eq!(hex(sha256(two_blocks)), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
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
    fn every_spelling_of_a_reference_has_one_image_id() {
        let id = reference_to_image_id("alpine");
        assert_eq!(id.len(), 7 + 64);
        assert!(id.starts_with("sha256:"));
        assert_eq!(reference_to_image_id("docker.io/library/alpine:latest"), id);
        assert_ne!(reference_to_image_id("alpine:3.20"), id);
    }

    #[test]
    fn ancestor_matches_by_reference_or_id_prefix() {
        assert!(reference_matches("alpine", "docker.io/library/alpine:latest"));
        assert!(reference_matches("alpine:latest", "alpine"));
        assert!(!reference_matches("alpine", "alpine:3.20"));
        let id = reference_to_image_id("alpine");
        assert!(reference_matches(&id[..19], "alpine"));
        assert!(reference_matches(&id[7..19], "alpine"));
        assert!(!reference_matches("busybox", "alpine"));
    }
}
