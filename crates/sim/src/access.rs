//! Who may use the simulated cluster: only its owner.
//!
//! Its API server listens on loopback, where any local user can connect, and it runs pods as
//! processes with the rights of the user who started it (often root). So, as a real API server
//! without anonymous access does, it answers every request without the right credentials with
//! `401 Unauthorized`. The credentials, made anew at each start, are written into the kubeconfig only:
//! - a random bearer token;
//! - HTTPS with a certificate authority of its own (its certificate in the kubeconfig): kubectl sends
//!   no credentials at all to an `http://` server, and the pinned certificate also keeps another local
//!   user who takes the port after the cluster stopped from collecting the token;
//! - the data directory is private: created with mode 0700, and refused when it is a symbolic link
//!   or belongs to another user (in a shared `/tmp`, someone else could have created it first);
//! - the kubeconfig is written with mode 0600 from its first byte and renamed into place.

use std::fs::{DirBuilder, OpenOptions};
use std::io::{self, Write};
use std::net::SocketAddr;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use std::sync::Arc;

use base64::Engine;
use hyper::header::{HeaderMap, AUTHORIZATION};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// What a client must hold to use the cluster, and what the server needs to check it.
#[derive(Clone)]
pub struct Credentials {
    pub token: Token,
    /// The certificate authority that signed the serving certificate (PEM), for the kubeconfig.
    pub ca_pem: String,
    /// The serving certificate (for 127.0.0.1) and its key.
    pub tls: Arc<rustls::ServerConfig>,
}

impl Credentials {
    pub fn generate() -> io::Result<Credentials> {
        let token = Token::generate()?;
        let tls_err = |e: rcgen::Error| io::Error::other(format!("making the API server's certificate: {e}"));
        let mut ca_params = CertificateParams::new(Vec::new()).map_err(tls_err)?;
        ca_params.distinguished_name.push(DnType::CommonName, "podshim-sim-ca");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
        let ca_key = KeyPair::generate().map_err(tls_err)?;
        let ca_cert = ca_params.self_signed(&ca_key).map_err(tls_err)?;
        let issuer = Issuer::new(ca_params, ca_key);
        let mut params =
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).map_err(tls_err)?;
        params.distinguished_name.push(DnType::CommonName, "podshim-sim");
        let key = KeyPair::generate().map_err(tls_err)?;
        let cert = params.signed_by(&key, &issuer).map_err(tls_err)?;
        let chain = vec![CertificateDer::from(cert.der().to_vec())];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut tls = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .and_then(|b| b.with_no_client_auth().with_single_cert(chain, key))
            .map_err(|e| io::Error::other(format!("the API server's TLS configuration: {e}")))?;
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Credentials { token, ca_pem: ca_cert.pem(), tls: Arc::new(tls) })
    }
}

/// The bearer token that the kubeconfig carries and the API server requires.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(..)")
    }
}

impl Token {
    /// 32 bytes from the operating system's random source, as hex.
    pub fn generate() -> io::Result<Token> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| io::Error::other(format!("no random source for the token: {e}")))?;
        Ok(Token(bytes.iter().map(|b| format!("{b:02x}")).collect()))
    }

    /// Whether the request carries `Authorization: Bearer <this token>` (the scheme in any case, as
    /// the real server reads it). Compares in constant time.
    pub fn authorizes(&self, headers: &HeaderMap) -> bool {
        let Some(value) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) else { return false };
        let Some((scheme, presented)) = value.trim().split_once(' ') else { return false };
        if !scheme.eq_ignore_ascii_case("bearer") {
            return false;
        }
        let (presented, expected) = (presented.trim().as_bytes(), self.0.as_bytes());
        presented.len() == expected.len() && presented.iter().zip(expected).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Creates `dir` with mode 0700 (its parents as usual), or accepts an existing directory that
/// belongs to this user, narrowing its mode to 0700. A symbolic link, anything not a directory, or a
/// directory of another user is refused.
pub fn private_dir(dir: &Path) -> io::Result<()> {
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent)?;
    }
    match DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => return Ok(()),
        Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
        Err(err) => return Err(err),
    }
    let refuse = |why: String| {
        Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "the data directory {} {why}; the simulated cluster keeps its credentials there, so it must be a \
                 directory of this user's own (remove it, or choose another --sim-data)",
                dir.display()
            ),
        ))
    };
    let meta = std::fs::symlink_metadata(dir)?;
    if meta.file_type().is_symlink() {
        return refuse("is a symbolic link".to_string());
    }
    if !meta.is_dir() {
        return refuse("is not a directory".to_string());
    }
    let me = nix::unistd::geteuid().as_raw();
    if meta.uid() != me {
        return refuse(format!("belongs to uid {}, not to this user (uid {me})", meta.uid()));
    }
    if meta.mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Writes the kubeconfig for the server at `addr`: readable by its owner only from the start (created
/// with mode 0600 under a temporary name, then renamed over `path`). JSON, which every kubeconfig
/// reader accepts as YAML.
pub fn write_kubeconfig(path: &Path, addr: SocketAddr, credentials: &Credentials) -> io::Result<()> {
    let ca = base64::engine::general_purpose::STANDARD.encode(&credentials.ca_pem);
    let config = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "podshim-sim", "cluster": {"server": format!("https://{addr}"), "certificate-authority-data": ca}}],
        "users": [{"name": "podshim-sim", "user": {"token": credentials.token.as_str()}}],
        "contexts": [{"name": "podshim-sim", "context": {"cluster": "podshim-sim", "user": "podshim-sim", "namespace": "default"}}],
        "current-context": "podshim-sim",
        "preferences": {},
    });
    let text = serde_json::to_string_pretty(&config).map_err(io::Error::other)?;
    let tmp = path.with_extension("tmp");
    match std::fs::remove_file(&tmp) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => return Err(err),
        _ => {}
    }
    let mut file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(AUTHORIZATION, value.parse().unwrap());
        map
    }

    #[test]
    fn only_the_token_itself_authorizes() {
        let token = Token::generate().unwrap();
        assert_eq!(token.as_str().len(), 64);
        assert_ne!(token, Token::generate().unwrap());
        assert!(token.authorizes(&headers(&format!("Bearer {}", token.as_str()))));
        assert!(token.authorizes(&headers(&format!("bearer {}", token.as_str()))));
        assert!(!token.authorizes(&HeaderMap::new()));
        assert!(!token.authorizes(&headers("Bearer ")));
        assert!(!token.authorizes(&headers(&format!("Basic {}", token.as_str()))));
        assert!(!token.authorizes(&headers(&format!("Bearer {}x", token.as_str()))));
        assert!(!token.authorizes(&headers(&format!("Bearer {}", &token.as_str()[1..]))));
    }

    #[test]
    fn the_data_directory_is_private_and_must_be_ours() {
        let base = tempfile::tempdir().unwrap();
        let fresh = base.path().join("a/sim");
        private_dir(&fresh).unwrap();
        assert_eq!(std::fs::metadata(&fresh).unwrap().mode() & 0o777, 0o700);

        let loose = base.path().join("loose");
        std::fs::create_dir(&loose).unwrap();
        std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o755)).unwrap();
        private_dir(&loose).unwrap();
        assert_eq!(std::fs::metadata(&loose).unwrap().mode() & 0o777, 0o700);

        let link = base.path().join("link");
        std::os::unix::fs::symlink(&fresh, &link).unwrap();
        let err = private_dir(&link).unwrap_err();
        assert!(err.to_string().contains("is a symbolic link"), "{err}");

        if nix::unistd::geteuid().is_root() {
            let theirs = base.path().join("theirs");
            std::fs::create_dir(&theirs).unwrap();
            nix::unistd::chown(&theirs, Some(nix::unistd::Uid::from_raw(65534)), None).unwrap();
            let err = private_dir(&theirs).unwrap_err();
            assert!(err.to_string().contains("belongs to uid 65534"), "{err}");
        }
    }

    #[test]
    fn the_kubeconfig_is_for_its_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kubeconfig");
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let credentials = Credentials::generate().unwrap();
        write_kubeconfig(&path, "127.0.0.1:1234".parse().unwrap(), &credentials).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(credentials.token.as_str()) && text.contains("https://127.0.0.1:1234"), "{text}");
    }
}
