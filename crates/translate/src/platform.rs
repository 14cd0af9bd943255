//! This machine's platform in the words Docker and OCI image indexes use.

/// The architecture in Go's words (`amd64`, `arm64`), as Docker reports it and image indexes name it.
pub fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}
