//! Counts the Kubernetes API requests podshim sends, by verb and resource, and renders them in the
//! Prometheus text format for the admin endpoint's `/metrics`.
//!
//! The count is taken in a tower layer on the kube client's service stack, so every request is
//! counted exactly once, whichever part of podshim sent it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use http::{Method, Request};

/// The request counts; cheap to clone (shared).
#[derive(Clone, Default)]
pub struct RequestCounter {
    counts: Arc<Mutex<BTreeMap<(&'static str, String), u64>>>,
}

impl RequestCounter {
    /// Counts one request.
    pub fn record<B>(&self, req: &Request<B>) {
        let (verb, resource) = classify(req.method(), req.uri().path(), req.uri().query().unwrap_or(""));
        // A poisoned lock only means another thread panicked while counting; the counts are still usable.
        let mut counts = self.counts.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        *counts.entry((verb, resource)).or_default() += 1;
    }

    /// The count for one verb and resource.
    pub fn get(&self, verb: &str, resource: &str) -> u64 {
        let counts = self.counts.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        counts.iter().filter(|((v, r), _)| *v == verb && r == resource).map(|(_, n)| *n).sum()
    }

    /// All counts, in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let counts = self.counts.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut out = String::from(
            "# HELP podshim_kube_requests_total Kubernetes API requests sent by podshim, by verb and resource.\n\
             # TYPE podshim_kube_requests_total counter\n",
        );
        for ((verb, resource), n) in counts.iter() {
            let _ = writeln!(out, "podshim_kube_requests_total{{verb=\"{verb}\",resource=\"{resource}\"}} {n}");
        }
        out
    }
}

/// The Kubernetes verb and resource (`pods`, `pods/log`, ...) of a request, as the API server's audit
/// log would name them. Paths that are not resources (discovery, `/version`) count as `get` of the path.
pub fn classify(method: &Method, path: &str, query: &str) -> (&'static str, String) {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    // /api/v1/... or /apis/<group>/<version>/...
    let rest = match segments.as_slice() {
        ["api", _version, rest @ ..] => rest,
        ["apis", _group, _version, rest @ ..] => rest,
        _ => return ("get", path.to_string()),
    };
    let rest = match rest {
        ["namespaces", _ns, resource, tail @ ..] => [&[*resource][..], tail].concat(),
        other => other.to_vec(),
    };
    let (resource, named) = match rest.as_slice() {
        [] => return ("get", path.to_string()),
        [resource] => (resource.to_string(), false),
        [resource, _name] => (resource.to_string(), true),
        [resource, _name, sub, ..] => (format!("{resource}/{sub}"), true),
    };
    let watching = query.split('&').any(|kv| kv == "watch=true" || kv == "watch=1");
    let verb = match *method {
        Method::GET if watching => "watch",
        Method::GET if named => "get",
        Method::GET => "list",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE if named => "delete",
        Method::DELETE => "deletecollection",
        _ => "other",
    };
    (verb, resource)
}

/// The tower layer that counts.
#[derive(Clone)]
pub struct CountLayer(pub RequestCounter);

impl<S> tower::Layer<S> for CountLayer {
    type Service = CountService<S>;
    fn layer(&self, inner: S) -> CountService<S> {
        CountService { inner, counter: self.0.clone() }
    }
}

#[derive(Clone)]
pub struct CountService<S> {
    inner: S,
    counter: RequestCounter,
}

impl<S, B> tower::Service<Request<B>> for CountService<S>
where
    S: tower::Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        self.counter.record(&req);
        self.inner.call(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_classified_like_the_audit_log() {
        let cases = [
            (Method::POST, "/api/v1/namespaces/default/pods", "", "create", "pods"),
            (Method::GET, "/api/v1/namespaces/default/pods", "labelSelector=a", "list", "pods"),
            (Method::GET, "/api/v1/pods", "watch=true&resourceVersion=5", "watch", "pods"),
            (Method::GET, "/api/v1/namespaces/default/pods/p", "", "get", "pods"),
            (Method::GET, "/api/v1/namespaces/default/pods/p/log", "follow=true", "get", "pods/log"),
            (Method::PATCH, "/api/v1/namespaces/default/pods/p", "", "patch", "pods"),
            (Method::DELETE, "/api/v1/namespaces/default/pods/p", "", "delete", "pods"),
            (Method::GET, "/api/v1/namespaces/default/pods/p/exec", "command=ls", "get", "pods/exec"),
            (Method::GET, "/api/v1/nodes", "", "list", "nodes"),
            (Method::GET, "/version", "", "get", "/version"),
        ];
        for (method, path, query, verb, resource) in cases {
            assert_eq!(classify(&method, path, query), (verb, resource.to_string()), "{method} {path}?{query}");
        }
    }

    #[test]
    fn render_lists_every_counted_pair() {
        let counter = RequestCounter::default();
        for _ in 0..2 {
            counter.record(&Request::post("/api/v1/namespaces/d/pods").body(()).unwrap());
        }
        counter.record(&Request::delete("/api/v1/namespaces/d/pods/x").body(()).unwrap());
        assert_eq!(counter.get("create", "pods"), 2);
        let text = counter.render();
        assert!(text.contains("podshim_kube_requests_total{verb=\"create\",resource=\"pods\"} 2\n"), "{text}");
        assert!(text.contains("podshim_kube_requests_total{verb=\"delete\",resource=\"pods\"} 1\n"), "{text}");
    }
}
