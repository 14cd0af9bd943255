//! Kubernetes error classes, and what a Kubernetes error means for a container.

use crate::error::Error;

pub(crate) fn is_not_found(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(status) if status.is_not_found())
}

pub(crate) fn is_already_exists(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(status) if status.is_already_exists())
}

/// A write that lost to another writer (a resourceVersion or uid precondition failed).
pub(crate) fn is_conflict(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(status) if status.code == 409 && !status.is_already_exists())
}

pub(crate) fn is_bad_request(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(status) if status.code == 400)
}

/// A Kubernetes error for a container: NotFound means it vanished meanwhile.
pub(crate) fn container_error(id: &str, context: &str, err: kube::Error) -> Error {
    if is_not_found(&err) {
        Error::NoSuchContainer(id.to_string())
    } else {
        Error::kubernetes(context, err)
    }
}
