//! The errors a Docker client sees: one variant per condition, one HTTP status each, Docker's wording.

use http::StatusCode;

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
    /// The Kubernetes API failed in a way the client cannot fix.
    #[error("{context}: {source}")]
    Kubernetes {
        context: String,
        #[source]
        source: kube::Error,
    },
}

impl Error {
    /// The HTTP status, after moby's error classes. Exhaustive on purpose: a new variant needs a decision.
    pub fn status(&self) -> StatusCode {
        match self {
            Error::PageNotFound => StatusCode::NOT_FOUND,
            Error::ApiVersionTooNew { .. } | Error::ApiVersionTooOld { .. } | Error::InvalidParameter(_) => {
                StatusCode::BAD_REQUEST
            }
            Error::Kubernetes { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}
