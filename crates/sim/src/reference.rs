//! Image references as the docker reference library reads them (what the kubelet and containerd
//! accept): `[domain/]path[:tag][@digest]`, with Docker Hub's normalisation (`alpine` is
//! `docker.io/library/alpine`), and repository names as the distribution API accepts them.

/// Docker Hub's canonical domain.
pub const DOCKER_HUB: &str = "docker.io";

/// A parsed, normalised image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// The registry host (`docker.io` when the reference names none).
    pub domain: String,
    /// The repository inside the registry (`library/alpine` for `alpine` on Docker Hub).
    pub path: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl Reference {
    /// Parses `image`; the error is the reference library's text.
    pub fn parse(image: &str) -> Result<Reference, &'static str> {
        const INVALID: &str = "invalid reference format";
        if image.is_empty() || image.len() > 4096 {
            return Err(INVALID);
        }
        let (rest, digest) = match image.split_once('@') {
            Some((rest, digest)) if valid_digest(digest) => (rest, Some(digest.to_string())),
            Some(_) => return Err(INVALID),
            None => (image, None),
        };
        let (domain, path) = match domain_of(rest) {
            Some(domain) => (Some(domain), &rest[domain.len() + 1..]),
            None => (None, rest),
        };
        let (path, tag) = match path.rsplit_once(':') {
            Some((path, tag)) => (path, Some(tag)),
            None => (path, None),
        };
        if domain.is_some_and(|d| !d.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))) {
            return Err(INVALID);
        }
        if tag.is_some_and(|t| !valid_tag(t)) {
            return Err(INVALID);
        }
        if !valid_repository(path) {
            let lowered = path.to_ascii_lowercase();
            if path != lowered && valid_repository(&lowered) {
                return Err("invalid reference format: repository name must be lowercase");
            }
            return Err(INVALID);
        }
        let domain = match domain {
            None | Some("index.docker.io") => DOCKER_HUB.to_string(),
            Some(d) => d.to_string(),
        };
        let path = if domain == DOCKER_HUB && !path.contains('/') { format!("library/{path}") } else { path.into() };
        Ok(Reference { domain, path, tag: tag.map(str::to_string), digest })
    }

    /// `domain/path`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// What to ask the registry for: the digest when there is one, else the tag (`latest` by default).
    pub fn reference(&self) -> &str {
        self.digest.as_deref().or(self.tag.as_deref()).unwrap_or("latest")
    }

    /// The fully qualified reference with the default tag, as containerd names what it pulls
    /// (`docker.io/library/alpine:latest`).
    pub fn qualified(&self) -> String {
        let mut out = self.name();
        match (&self.tag, &self.digest) {
            (None, None) => out.push_str(":latest"),
            (tag, digest) => {
                if let Some(tag) = tag {
                    out.push(':');
                    out.push_str(tag);
                }
                if let Some(digest) = digest {
                    out.push('@');
                    out.push_str(digest);
                }
            }
        }
        out
    }
}

/// The registry host of a reference, if its first component names one (contains `.` or `:`, or is
/// `localhost`), as the docker reference library decides.
fn domain_of(image: &str) -> Option<&str> {
    let (first, _) = image.split_once('/')?;
    (first.contains('.') || first.contains(':') || first == "localhost").then_some(first)
}

/// `algorithm:hex` with at least 32 hex digits (the reference grammar); sha256 needs exactly 64.
pub fn valid_digest(digest: &str) -> bool {
    digest.split_once(':').is_some_and(|(alg, hex)| {
        !alg.is_empty()
            && alg.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+._-".contains(&b))
            && hex.len() >= 32
            && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            && (alg != "sha256" || hex.len() == 64)
    })
}

/// A tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub fn valid_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= 128
        && tag.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        && tag.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

/// A repository name: `/`-separated components, at most 255 characters.
pub fn valid_repository(path: &str) -> bool {
    !path.is_empty() && path.len() <= 255 && path.split('/').all(component_valid)
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
    fn docker_hub_names_are_normalised() {
        let r = Reference::parse("alpine").unwrap();
        assert_eq!(
            (r.name().as_str(), r.reference(), r.qualified().as_str()),
            ("docker.io/library/alpine", "latest", "docker.io/library/alpine:latest")
        );
        assert_eq!(
            Reference::parse("index.docker.io/library/alpine:3").unwrap().qualified(),
            "docker.io/library/alpine:3"
        );
        assert_eq!(Reference::parse("testcontainers/ryuk:0.8.1").unwrap().path, "testcontainers/ryuk");
        let other = Reference::parse("localhost:5000/a/b-c__d").unwrap();
        assert_eq!((other.domain.as_str(), other.path.as_str()), ("localhost:5000", "a/b-c__d"));
        let digest = format!("sha256:{}", "a".repeat(64));
        let pinned = Reference::parse(&format!("alpine@{digest}")).unwrap();
        assert_eq!(pinned.reference(), digest);
        assert_eq!(pinned.qualified(), format!("docker.io/library/alpine@{digest}"));
    }

    #[test]
    fn invalid_references_get_the_library_text() {
        assert_eq!(Reference::parse("Busybox"), Err("invalid reference format: repository name must be lowercase"));
        for bad in ["bad image", "a:", "", "alpine@sha256:abc", "x/-y", "alpine@sha256:".repeat(2).as_str()] {
            assert_eq!(Reference::parse(bad), Err("invalid reference format"), "{bad:?}");
        }
    }
}
