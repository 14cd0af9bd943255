//! The errors a Docker client sees: one variant per condition, one HTTP status each, Docker's wording.
//!
//! `Error::status()` is one exhaustive match (after moby's error classes), so a new variant forces a status
//! decision. Only `api/response.rs` turns an `Error` into a response body.

use http::StatusCode;

use podshim_translate::TranslateError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No route for this method and path.
    #[error("page not found")]
    PageNotFound,
    /// A `/vX.Y` prefix above what podshim speaks.
    #[error("client version {requested} is too new. Maximum supported API version is {max}")]
    ApiVersionTooNew { requested: String, max: &'static str },
    /// A `/vX.Y` prefix below what podshim speaks.
    #[error(
        "client version {requested} is too old. Minimum supported API version is {min}, please upgrade your client to a newer version"
    )]
    ApiVersionTooOld { requested: String, min: &'static str },
    /// A request the client got wrong (bad query, body or parameter).
    #[error("{0}")]
    InvalidParameter(String),
    /// moby: "No such container: <what the client asked for>".
    #[error("No such container: {0}")]
    NoSuchContainer(String),
    /// moby: "No such image: <reference>".
    #[error("No such image: {0}")]
    NoSuchImage(String),
    /// A pull the registry answered with "not found" or "denied", in Docker's words (`manifest for x not found:
    /// ...`, `pull access denied for x, repository does not exist or may require 'docker login': ...`).
    #[error("{0}")]
    ImageNotFound(String),
    /// A registry that could not be reached, refused the credentials, or failed (Docker answers 500).
    #[error("{0}")]
    Registry(String),
    /// `docker login` with credentials the registry refused.
    #[error("{0}")]
    LoginFailed(String),
    /// Another 404 with Docker's sentence (a volume: `get NAME: no such volume`).
    #[error("{0}")]
    NotFound(String),
    /// moby: "No such exec instance: <id>".
    #[error("No such exec instance: {0}")]
    NoSuchExec(String),
    /// A path that does not exist in a container (moby: `Could not find the file <path> in container <name>`).
    #[error("Could not find the file {path} in container {container}")]
    NoSuchPath { path: String, container: String },
    /// Copying files in or out failed inside the container (no `tar` in the image, tar failing).
    #[error("{0}")]
    CopyFailed(String),
    /// moby daemon/errors.go, word for word.
    #[error(
        "Conflict. The container name \"/{name}\" is already in use by container \"{id}\". You have to remove (or rename) that container to be able to reuse that name."
    )]
    NameInUse { name: String, id: String },
    /// Another 409 with Docker's sentence (e.g. removing a running container without force).
    #[error("{0}")]
    Conflict(String),
    /// 304: start of a running container, stop of a stopped one. No body.
    #[error("not modified")]
    NotModified,
    /// An option podshim cannot honour; never dropped silently.
    #[error("{option} is not supported by podshim: {why}")]
    Unsupported { option: String, why: String },
    /// Refused by policy (privileged mode, host namespaces, devices).
    #[error("{0}")]
    Forbidden(String),
    /// An endpoint podshim does not implement.
    #[error("{0}")]
    NotImplemented(String),
    /// The container could not start (image pull failure, unschedulable, bad command): Docker answers a start
    /// error with 500 and the reason, and the CLI prints it.
    #[error("{0}")]
    StartFailed(String),
    /// The Kubernetes API failed in a way the client cannot fix. Unreachable or overloaded (a connection error,
    /// 429, 503, 504): 503, which clients may retry; any other failure: 500.
    #[error("{context}: {source}")]
    Kubernetes {
        context: String,
        #[source]
        source: kube::Error,
    },
    /// Something podshim waits for did not happen in time (moby's deadline class: 500).
    #[error("{0}")]
    Timeout(String),
    /// podshim's own failure, not the client's: state it cannot read back, an answer it cannot encode, no free
    /// id (moby's system class: 500).
    #[error("{0}")]
    Internal(String),
    /// What podshim needs is not there right now (the Kubernetes API unreachable or overloaded): 503, which
    /// clients may retry (moby's unavailable class).
    #[error("{0}")]
    Unavailable(String),
    /// A value moby rejects with a plain (500) error rather than an invalid-parameter one, such as the
    /// `DetachKeys` of an exec create; the status is kept because clients see it.
    #[error("{0}")]
    Rejected(String),
}

impl Error {
    /// The HTTP status, after moby's error classes. Exhaustive on purpose: a new variant needs a decision.
    pub fn status(&self) -> StatusCode {
        match self {
            Error::PageNotFound
            | Error::NoSuchContainer(_)
            | Error::NoSuchImage(_)
            | Error::ImageNotFound(_)
            | Error::NoSuchExec(_)
            | Error::NotFound(_)
            | Error::NoSuchPath { .. } => StatusCode::NOT_FOUND,
            Error::ApiVersionTooNew { .. }
            | Error::ApiVersionTooOld { .. }
            | Error::InvalidParameter(_)
            | Error::Unsupported { .. } => StatusCode::BAD_REQUEST,
            Error::NameInUse { .. } | Error::Conflict(_) => StatusCode::CONFLICT,
            Error::NotModified => StatusCode::NOT_MODIFIED,
            Error::LoginFailed(_) => StatusCode::UNAUTHORIZED,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            Error::Kubernetes { source, .. } if kubernetes_unavailable(source) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::StartFailed(_)
            | Error::CopyFailed(_)
            | Error::Kubernetes { .. }
            | Error::Timeout(_)
            | Error::Rejected(_)
            | Error::Registry(_)
            | Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A Kubernetes error, with what podshim was doing.
    pub fn kubernetes(context: impl Into<String>, source: kube::Error) -> Self {
        Error::Kubernetes { context: context.into(), source }
    }
}

/// A Kubernetes failure that means "not now" rather than "never": the API server could not be reached (the
/// request never got an answer) or answered that it is overloaded or timed out (429, 503, 504). Anything else the
/// server answered (403 for podshim's own account, 409, 422, 500) is podshim's problem: 500.
fn kubernetes_unavailable(err: &kube::Error) -> bool {
    match err {
        kube::Error::Api(status) => matches!(status.code, 429 | 503 | 504),
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}

impl From<TranslateError> for Error {
    fn from(err: TranslateError) -> Self {
        match err {
            TranslateError::Unsupported { option, why } => Error::Unsupported { option, why },
            TranslateError::Forbidden { .. } => Error::Forbidden(err.to_string()),
            TranslateError::InvalidParameter(message) => Error::InvalidParameter(message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_conflict_uses_dockers_sentence() {
        let err = Error::NameInUse { name: "w".into(), id: "abc".into() };
        assert_eq!(err.status(), StatusCode::CONFLICT);
        assert_eq!(
            err.to_string(),
            "Conflict. The container name \"/w\" is already in use by container \"abc\". You have to remove (or rename) that container to be able to reuse that name."
        );
    }

    fn api_error(code: u16) -> kube::Error {
        let status = kube::core::Status::failure("m", "r").with_code(code);
        kube::Error::Api(Box::new(status))
    }

    #[test]
    fn kubernetes_overloaded_or_unreachable_is_503_other_failures_500() {
        for code in [429, 503, 504] {
            assert_eq!(Error::kubernetes("x", api_error(code)).status(), StatusCode::SERVICE_UNAVAILABLE, "{code}");
        }
        for code in [403, 409, 422, 500] {
            assert_eq!(Error::kubernetes("x", api_error(code)).status(), StatusCode::INTERNAL_SERVER_ERROR, "{code}");
        }
        let unreachable = kube::Error::Service(Box::new(std::io::Error::other("connection refused")));
        assert_eq!(Error::kubernetes("x", unreachable).status(), StatusCode::SERVICE_UNAVAILABLE);
    }

    #[test]
    fn podshims_own_failures_are_server_errors() {
        assert_eq!(Error::Internal("unreadable".into()).status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(Error::Unavailable("later".into()).status(), StatusCode::SERVICE_UNAVAILABLE);
    }

    #[test]
    fn missing_container_is_404_with_dockers_words() {
        let err = Error::NoSuchContainer("nope".into());
        assert_eq!(err.status(), StatusCode::NOT_FOUND);
        assert_eq!(err.to_string(), "No such container: nope");
    }
}
