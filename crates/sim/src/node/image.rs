//! Simulated image pulls: nothing is downloaded, but an image reference is checked the way the
//! kubelet and containerd check it, so the statuses a client sees match a real node.
//!
//! - A reference that does not parse -> `InvalidImageName` with the kubelet's message.
//! - A reference whose registry host is [`FAILING_REGISTRY`] -> `ErrImagePull` with containerd's
//!   "not found" message (then `ImagePullBackOff`, alternating).
//! - Everything else "pulls" at once.

/// Images from this registry never pull (the `.test` TLD is reserved, so nothing real is hidden).
pub const FAILING_REGISTRY: &str = "invalid.registry.test";

/// Why a simulated pull failed: the waiting reason and its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullError {
    /// `InvalidImageName`: retrying does not help.
    InvalidName(String),
    /// `ErrImagePull`: retried with back-off.
    NotFound(String),
}

/// Pulls (in simulation) `image`.
pub fn pull(image: &str) -> Result<(), PullError> {
    let normalized = normalize(image).map_err(|why| {
        PullError::InvalidName(format!(
            "Failed to apply default image tag {image:?}: couldn't parse image reference {image:?}: {why}"
        ))
    })?;
    if domain_of(image) == Some(FAILING_REGISTRY) {
        return Err(PullError::NotFound(format!(
            "rpc error: code = Unknown desc = failed to pull and unpack image \"{normalized}\": failed to resolve \
             reference \"{normalized}\": {normalized}: not found"
        )));
    }
    Ok(())
}

/// The `Back-off pulling image` message of `ImagePullBackOff`.
pub fn back_off_message(image: &str) -> String {
    format!("Back-off pulling image {image:?}")
}

/// The registry host of a reference, if its first component names one (contains `.` or `:`, or is
/// `localhost`), as the docker reference library decides.
fn domain_of(image: &str) -> Option<&str> {
    let (first, _) = image.split_once('/')?;
    (first.contains('.') || first.contains(':') || first == "localhost").then_some(first)
}

/// The reference with the default `:latest` tag added when it has neither tag nor digest, or the
/// reference library's error text.
fn normalize(image: &str) -> Result<String, &'static str> {
    const INVALID: &str = "invalid reference format";
    if image.is_empty() {
        return Err(INVALID);
    }
    let (rest, digest) = match image.split_once('@') {
        Some((rest, digest)) => (rest, Some(digest)),
        None => (image, None),
    };
    if let Some(digest) = digest {
        let valid = digest
            .split_once(':')
            .is_some_and(|(alg, hex)| !alg.is_empty() && hex.len() >= 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()));
        if !valid {
            return Err(INVALID);
        }
    }
    let (domain, path) = match domain_of(rest) {
        Some(domain) => (Some(domain), &rest[domain.len() + 1..]),
        None => (None, rest),
    };
    let (path, tag) = match path.rsplit_once(':') {
        Some((path, tag)) => (path, Some(tag)),
        None => (path, None),
    };
    if let Some(domain) = domain {
        let valid = domain.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b));
        if !valid {
            return Err(INVALID);
        }
    }
    if let Some(tag) = tag {
        let valid = !tag.is_empty()
            && tag.len() <= 128
            && tag.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
            && tag.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
        if !valid {
            return Err(INVALID);
        }
    }
    if path.is_empty() || !path.split('/').all(component_valid) {
        let lowered = path.to_ascii_lowercase();
        if path != lowered && lowered.split('/').all(component_valid) {
            return Err("invalid reference format: repository name must be lowercase");
        }
        return Err(INVALID);
    }
    Ok(if tag.is_none() && digest.is_none() { format!("{image}:latest") } else { image.to_string() })
}

/// A path component: lowercase alphanumerics separated by `.`, `_`, `__` or runs of `-`.
fn component_valid(component: &str) -> bool {
    let bytes = component.as_bytes();
    if bytes.is_empty() || !is_alnum(bytes[0]) || !is_alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if is_alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !is_alnum(bytes[i]) {
            i += 1;
        }
        let sep = &component[start..i];
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-')) {
            return false;
        }
    }
    true
}

fn is_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_images_pull() {
        for image in ["busybox", "busybox:1.36", "docker.io/library/alpine:3", "localhost:5000/a/b-c__d", "none"] {
            assert_eq!(pull(image), Ok(()), "{image}");
        }
        assert_eq!(pull(&format!("alpine@sha256:{}", "a".repeat(64))), Ok(()));
    }

    #[test]
    fn failing_registry_gives_containerd_not_found() {
        let Err(PullError::NotFound(message)) = pull("invalid.registry.test/x") else { panic!() };
        assert_eq!(
            message,
            "rpc error: code = Unknown desc = failed to pull and unpack image \"invalid.registry.test/x:latest\": \
             failed to resolve reference \"invalid.registry.test/x:latest\": invalid.registry.test/x:latest: not found"
        );
    }

    #[test]
    fn uppercase_repository_is_invalid_name() {
        assert_eq!(
            pull("Busybox"),
            Err(PullError::InvalidName(
                "Failed to apply default image tag \"Busybox\": couldn't parse image reference \"Busybox\": \
                 invalid reference format: repository name must be lowercase"
                    .to_string()
            ))
        );
    }

    #[test]
    fn spaces_are_an_invalid_reference_format() {
        let Err(PullError::InvalidName(message)) = pull("bad image") else { panic!() };
        assert!(message.ends_with(": invalid reference format"), "{message}");
        assert!(matches!(pull("a:"), Err(PullError::InvalidName(_))));
    }
}
