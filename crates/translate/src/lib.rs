//! Pure translation between Docker's container model and Kubernetes pods: no IO, no async, no clock.
//!
//! The lifecycle layer (`runtime/`) and the API handlers (`api/`) call these functions; they take bollard-stubs models
//! and k8s-openapi types and give back values, so every decision here is testable without a cluster.
//!
//! - [`labels`]: every label/annotation key podshim writes, container ids, pod names, Docker names.
//! - [`pod`]: `POST /containers/create` body -> [`Pod`](k8s_openapi::api::core::v1::Pod) ([`pod::create_to_pod`]),
//!   with its parts in [`process`] (command, env, user), [`resources`] (memory, cpu), [`network`] (hostname, DNS,
//!   hosts), [`security`] (user, capabilities, read-only rootfs) and [`refuse`] (options podshim cannot honour).
//! - [`mounts`]: volumes (`-v`, `--mount`, `--volumes-from`) and tmpfs mounts -> the pod's claims and emptyDirs,
//!   and inspect's `Mounts`.
//! - [`ports`]: `-p`, `-P` and `--expose`: what to publish, the bindings stored on the pod, inspect's and
//!   `docker ps`'s views of them.
//! - [`state`]: the Docker container state derived from a pod, and the predicates that decide 304/409.
//! - [`status_text`]: the `docker ps` STATUS column and Docker's human durations.
//! - [`inspect`]: pod -> `GET /containers/{id}/json`; [`summary`]: pod -> one entry of `GET /containers/json`.
//! - [`list_filters`]: the `filters` of `GET /containers/json` ([`name_pattern`] for `name`).
//! - [`exec`]: `docker exec` -> the `pods/exec` argv (the Env/WorkingDir/User wrapper), and its exit code.
//! - [`archive_helper`]: `docker cp` of an exited container's volumes through a helper pod.
//! - [`files`]: `docker cp`: the path stat header, and files copied before start kept in the record.
//! - [`tar_entries`] and [`overwrite`]: `noOverwriteDirNonDir`, each entry of an upload checked before tar sees it.
//! - [`image_ref`]: image references as Docker parses them, image ids; [`image`]: a pulled image and Docker's
//!   answers about it (inspect, list, history); [`image_merge`]: the image config merged into a container's;
//!   [`image_filters`]: the image list filters; [`image_delete`]: what `docker rmi` removes, and its conflicts.
//! - [`platform`]: this machine's architecture in Docker's words.
//! - [`registry_auth`]: registry credentials (`X-Registry-Auth`, `POST /auth`) and pull Secrets.
//! - [`detach_keys`]: the `detachKeys` of an attach with stdin, and the matcher that finds them.
//! - [`start_handshake`]: the command of an attached run's pod that waits for its output to be attached.
//! - [`query`] and [`body`]: request query strings and JSON bodies as Docker (and Go's decoder) read them.

pub mod archive_helper;
pub mod binds;
pub mod body;
pub mod detach_keys;
pub mod exec;
pub mod files;
pub mod image;
pub mod image_delete;
pub mod image_filters;
pub mod image_merge;
pub mod image_ref;
pub mod inspect;
pub mod labels;
pub mod list_filters;
pub mod mounts;
pub mod name_pattern;
pub mod network;
pub mod overwrite;
pub mod platform;
pub mod pod;
pub mod ports;
pub mod process;
pub mod query;
pub mod refuse;
pub mod registry_auth;
pub mod resources;
pub mod security;
pub mod start_handshake;
pub mod state;
pub mod status_text;
pub mod summary;
pub mod tar_entries;
pub mod volume;

#[cfg(test)]
mod golden;
#[cfg(test)]
mod golden_tests;

/// Why a create body cannot become a pod. Variants name what the Docker client sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TranslateError {
    /// A Docker option that has no faithful Kubernetes equivalent (yet). Dropping it would change what the
    /// container does, so the create fails instead.
    #[error("{option} is not supported by podshim: {why}")]
    Unsupported { option: String, why: String },
    /// An option that gives the container power over the node (privileged mode, host namespaces, devices).
    /// Refused until podshim has a security policy that can allow it explicitly.
    #[error(
        "{option} is refused by podshim: it gives the container access to the node, which stays refused until podshim's security policy allows it"
    )]
    Forbidden { option: String },
    /// A value Docker itself would reject, with Docker's wording where clients may read it.
    #[error("{0}")]
    InvalidParameter(String),
}

impl TranslateError {
    /// The HTTP status, after moby's error classes (daemon/server/httpstatus/status.go). Exhaustive on purpose.
    pub fn status_code(&self) -> u16 {
        match self {
            TranslateError::Unsupported { .. } => 400,
            TranslateError::Forbidden { .. } => 403,
            TranslateError::InvalidParameter(_) => 400,
        }
    }

    pub fn unsupported(option: impl Into<String>, why: impl Into<String>) -> Self {
        TranslateError::Unsupported { option: option.into(), why: why.into() }
    }

    pub fn forbidden(option: impl Into<String>) -> Self {
        TranslateError::Forbidden { option: option.into() }
    }
}
