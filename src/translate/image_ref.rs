//! Image references as Docker normalises them, and the image ID podshim shows for a reference.
//!
//! Serves `Image`/`ImageID` of `GET /containers/{id}/json` and `GET /containers/json`, the `ancestor` list filter,
//! and (for the same answer everywhere) `GET /images/{name}/json`.

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

const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
    0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
    0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
    0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
    0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
    0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
    0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2,
];

/// SHA-256 (FIPS 180-4). The crate has no digest dependency and translate/ takes none; references are short.
fn sha256(data: &[u8]) -> [u8; 32] {
    let mut h: [u32; 8] =
        [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
    let mut msg = data.to_vec();
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&((data.len() as u64).wrapping_mul(8)).to_be_bytes());
    for block in msg.chunks_exact(64) {
        let mut w = [0u32; 64];
        for (i, word) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16].wrapping_add(s0).wrapping_add(w[i - 7]).wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = h;
        for i in 0..64 {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = hh.wrapping_add(s1).wrapping_add(ch).wrapping_add(K[i]).wrapping_add(w[i]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            (hh, g, f, e, d, c, b, a) = (g, f, e, d.wrapping_add(t1), c, b, a, t1.wrapping_add(t2));
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 32];
    for (chunk, word) in out.chunks_exact_mut(4).zip(h) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
