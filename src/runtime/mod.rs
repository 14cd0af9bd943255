//! Kubernetes side effects through `kube::Api<Pod>`: the shared pod cache and the container lifecycle.

pub mod cache;
