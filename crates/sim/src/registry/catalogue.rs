//! The images the simulated registry holds from the start: every image podshim's own suites,
//! examples and docs use, with configs shaped like the real images' (Docker Hub's official images),
//! for linux/amd64 and linux/arm64 behind an index, so a client has to pick its platform.
//!
//! Their layers are tiny stand-ins (a few text files): the simulated node runs this machine's
//! binaries, so only the configs matter to what runs. An image whose command does not exist on this
//! machine (`hello-world`'s `/hello`, `testcontainers/ryuk`'s `/bin/ryuk`, nginx's entrypoint)
//! fails to start on the simulated node, as a real node reports a missing executable (`StartError`).

use serde_json::{json, Value};

use super::image::{Format, ImageSpec, Platform};

/// One repository's image and the tags that point at it.
#[derive(Debug, Clone)]
pub struct CatalogueImage {
    /// The repository inside the registry (`library/alpine` for Docker Hub's `alpine`).
    pub repository: &'static str,
    pub tags: &'static [&'static str],
    pub spec: ImageSpec,
}

/// The default `PATH` of images built on Debian or Alpine bases.
pub const PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const PYTHON_PATH: &str = "PATH=/usr/local/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

fn platforms() -> Vec<Platform> {
    vec![Platform::linux("amd64", None), Platform::linux("arm64", Some("v8"))]
}

fn image(created: &str, config: Value, history: &[&str], files: &[(&str, &str)]) -> ImageSpec {
    ImageSpec {
        format: Format::Oci,
        platforms: platforms(),
        created: created.to_string(),
        config,
        extra: Value::Null,
        history: history.iter().map(|h| h.to_string()).collect(),
        files: files.iter().map(|(p, c)| (p.to_string(), c.to_string())).collect(),
    }
}

fn entry(repository: &'static str, tags: &'static [&'static str], spec: ImageSpec) -> CatalogueImage {
    CatalogueImage { repository, tags, spec }
}

const ALPINE_OS_RELEASE: &str = "NAME=\"Alpine Linux\"\nID=alpine\n";
const DEBIAN_OS_RELEASE: &str = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\n";

/// The built-in catalogue.
pub fn builtin() -> Vec<CatalogueImage> {
    let mut images = vec![
        entry(
            "library/alpine",
            &["latest", "3", "3.20", "3.20.3"],
            image(
                "2024-09-06T22:20:07Z",
                json!({"Env": [PATH], "Cmd": ["/bin/sh"]}),
                &["ADD alpine-minirootfs-3.20.3.tar.gz / # buildkit", "CMD [\"/bin/sh\"]"],
                &[("etc/alpine-release", "3.20.3\n"), ("etc/os-release", ALPINE_OS_RELEASE)],
            ),
        ),
        entry("library/alpine", &["3.10", "3.10.9"], alpine_3_10()),
        entry(
            "library/busybox",
            &["latest", "1", "1.36", "1.36.1", "stable"],
            image(
                "2023-05-18T22:34:17Z",
                json!({"Env": [PATH], "Cmd": ["sh"]}),
                &["ADD busybox.tar.xz / # buildkit", "CMD [\"sh\"]"],
                &[("etc/busybox-release", "1.36.1\n")],
            ),
        ),
        entry(
            "library/hello-world",
            &["latest", "linux"],
            image(
                "2023-05-02T16:49:27Z",
                json!({"Env": [PATH], "Cmd": ["/hello"]}),
                &["COPY hello / # buildkit", "CMD [\"/hello\"]"],
                &[("hello", "Hello from Docker! (the simulated registry's stand-in)\n")],
            ),
        ),
        entry(
            "library/nginx",
            &["latest", "1", "1.27", "1.27.2", "mainline"],
            image(
                "2024-10-02T17:55:35Z",
                json!({
                    "ExposedPorts": {"80/tcp": {}},
                    "Env": [PATH, "NGINX_VERSION=1.27.2", "NJS_VERSION=0.8.6", "PKG_RELEASE=1~bookworm"],
                    "Entrypoint": ["/docker-entrypoint.sh"],
                    "Cmd": ["nginx", "-g", "daemon off;"],
                    "Labels": {"maintainer": "NGINX Docker Maintainers <docker-maint@nginx.com>"},
                    "StopSignal": "SIGQUIT",
                }),
                &["ADD rootfs.tar.xz / # buildkit", "ENTRYPOINT [\"/docker-entrypoint.sh\"]", "EXPOSE map[80/tcp:{}]"],
                &[("etc/os-release", DEBIAN_OS_RELEASE)],
            ),
        ),
        entry(
            "library/podshim-all-config",
            &["1", "latest"],
            image(
                "2025-01-01T00:00:00Z",
                all_config(),
                &["ADD podshim-all-config / # buildkit", "HEALTHCHECK", "VOLUME [/data]", "EXPOSE 8080/tcp 9090/udp"],
                &[("etc/podshim-all-config", "an image that declares every config field\n")],
            ),
        ),
    ];
    images.extend(python());
    images.extend(ryuk());
    images
}

/// `alpine:3.10` as Docker Hub still serves it: a Docker manifest list and a classic builder's config.
fn alpine_3_10() -> ImageSpec {
    let mut spec = image(
        "2021-04-14T19:20:05.338397761Z",
        json!({
            "Hostname": "", "Domainname": "", "User": "", "AttachStdin": false, "AttachStdout": false,
            "AttachStderr": false, "Tty": false, "OpenStdin": false, "StdinOnce": false, "Env": [PATH],
            "Cmd": ["/bin/sh"], "Image": "", "Volumes": null, "WorkingDir": "", "Entrypoint": null,
            "OnBuild": null, "Labels": null,
        }),
        &["/bin/sh -c #(nop) ADD file:alpine-minirootfs-3.10.9.tar.gz in / ", "/bin/sh -c #(nop)  CMD [\"/bin/sh\"]"],
        &[("etc/alpine-release", "3.10.9\n"), ("etc/os-release", ALPINE_OS_RELEASE)],
    );
    spec.format = Format::Docker;
    spec.extra = json!({"docker_version": "19.03.12"});
    spec
}

/// A test image that declares every field Docker reads from an image config.
fn all_config() -> Value {
    json!({
        "User": "1000:1000",
        "ExposedPorts": {"8080/tcp": {}, "9090/udp": {}},
        "Env": [PATH, "GREETING=hello from the image", "EMPTY="],
        "Entrypoint": ["/bin/sh", "-c"],
        "Cmd": ["echo \"$GREETING as $(id -u):$(id -g) in $(pwd)\"; exec sleep 3600"],
        "Healthcheck": {
            "Test": ["CMD-SHELL", "test -d /srv"],
            "Interval": 5_000_000_000u64, "Timeout": 2_000_000_000u64,
            "StartPeriod": 1_000_000_000u64, "Retries": 3,
        },
        "Volumes": {"/data": {}},
        "WorkingDir": "/srv",
        "Labels": {"org.opencontainers.image.title": "podshim all-config", "com.example.kind": "test"},
        "StopSignal": "SIGINT",
    })
}

/// `python`: Debian (full and slim) and Alpine variants of 3.12 and 3.11.
fn python() -> Vec<CatalogueImage> {
    let spec = |version: &str, gpg: &str, created: &str, os_release: &str| {
        image(
            created,
            json!({
                "Env": [PYTHON_PATH, "LANG=C.UTF-8", format!("GPG_KEY={gpg}"), format!("PYTHON_VERSION={version}")],
                "Cmd": ["python3"],
            }),
            &[
                "ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "ENV LANG=C.UTF-8",
                "RUN /bin/sh -c set -eux; ./configure ...; make install # buildkit",
                "CMD [\"python3\"]",
            ],
            &[("etc/os-release", os_release), ("usr/local/lib/python-version", version)],
        )
    };
    const K312: &str = "7169605F62C751356D054A26A821E680E5FA6305";
    const K311: &str = "A035C8C19219BA821ECEA86B64E628F8D684696D";
    let slim = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVARIANT=slim\n";
    vec![
        entry(
            "library/python",
            &["latest", "3", "3.12", "3.12.7", "bookworm", "3.12-bookworm"],
            spec("3.12.7", K312, "2024-10-01T23:09:36Z", DEBIAN_OS_RELEASE),
        ),
        entry(
            "library/python",
            &["slim", "3-slim", "3.12-slim", "3.12.7-slim", "slim-bookworm", "3.12-slim-bookworm"],
            spec("3.12.7", K312, "2024-10-01T23:10:12Z", slim),
        ),
        entry(
            "library/python",
            &["alpine", "3-alpine", "3.12-alpine", "3.12.7-alpine"],
            spec("3.12.7", K312, "2024-10-01T23:11:02Z", ALPINE_OS_RELEASE),
        ),
        entry("library/python", &["3.11", "3.11.10"], spec("3.11.10", K311, "2024-09-09T19:45:11Z", DEBIAN_OS_RELEASE)),
        entry("library/python", &["3.11-slim", "3.11.10-slim"], spec("3.11.10", K311, "2024-09-09T19:46:03Z", slim)),
    ]
}

/// testcontainers' reaper, in the versions the testcontainers libraries start.
fn ryuk() -> Vec<CatalogueImage> {
    let spec = |created: &str, version: &str| {
        image(
            created,
            json!({"Env": [PATH], "Cmd": ["/bin/ryuk"], "Labels": {"org.testcontainers.ryuk": "true"}}),
            &["COPY /app/bin/ryuk /bin/ryuk # buildkit", "CMD [\"/bin/ryuk\"]", "LABEL org.testcontainers.ryuk=true"],
            &[("bin/ryuk", version)],
        )
    };
    vec![
        entry("testcontainers/ryuk", &["0.5.1"], spec("2023-05-25T09:01:12Z", "0.5.1\n")),
        entry("testcontainers/ryuk", &["0.6.0"], spec("2023-11-27T11:40:05Z", "0.6.0\n")),
        entry("testcontainers/ryuk", &["0.7.0"], spec("2024-04-10T15:21:31Z", "0.7.0\n")),
        entry("testcontainers/ryuk", &["0.8.1"], spec("2024-07-10T13:13:44Z", "0.8.1\n")),
        entry("testcontainers/ryuk", &["0.11.0"], spec("2024-11-07T10:02:37Z", "0.11.0\n")),
        entry("testcontainers/ryuk", &["0.12.0", "latest"], spec("2025-04-14T08:30:19Z", "0.12.0\n")),
    ]
}
