//! `?watch=1`: JSON-lines watch events, chunked and flushed one per event, with synthetic ADDED events
//! for a fresh watch, replay from the history for a resumed one, selector transitions, bookmarks and
//! `timeoutSeconds`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::http::{self, Query, Resp};
use super::render::Render;
use super::router::ResourcePath;
use super::selector::{FieldSelector, LabelSelector};
use super::store::{Change, EventType, Store};
use super::{crud, State};
use crate::status::ApiError;

/// What one watcher wants.
pub struct Filter {
    pub resource: &'static str,
    pub kind: &'static str,
    pub namespace: Option<String>,
    pub labels: LabelSelector,
    pub fields: FieldSelector,
    /// How event objects are sent.
    pub render: Render,
}

impl Filter {
    fn matches(&self, object: &Value) -> bool {
        self.labels.matches(object) && self.fields.matches(object)
    }

    /// The event this watcher sees for a change, if any. An object that stops matching is DELETED
    /// for this watcher, one that starts matching is ADDED.
    pub fn event_for(&self, change: &Change) -> Option<(&'static str, Arc<Value>)> {
        if change.resource != self.resource || self.namespace.as_ref().is_some_and(|ns| *ns != change.namespace) {
            return None;
        }
        let now = self.matches(&change.object);
        let before = change.previous.as_ref().is_some_and(|p| self.matches(p));
        let kind = match change.kind {
            EventType::Added => now.then_some(EventType::Added),
            EventType::Deleted => (now || before).then_some(EventType::Deleted),
            EventType::Modified => match (before, now) {
                (true, true) => Some(EventType::Modified),
                (false, true) => Some(EventType::Added),
                (true, false) => Some(EventType::Deleted),
                (false, false) => None,
            },
        };
        kind.map(|k| (k.as_str(), change.object.clone()))
    }
}

impl Filter {
    /// One JSON line for an event about `object`, in the representation the client asked for.
    fn event_line(&self, kind: &str, object: &Value) -> Bytes {
        line(kind, &self.render.one(self.resource, object))
    }
}

fn line(kind: &str, object: &Value) -> Bytes {
    let object = if kind == "ERROR" { http::status_json(object) } else { object.to_string() };
    Bytes::from(format!("{{\"type\":\"{kind}\",\"object\":{object}}}\n"))
}

/// Where the watch starts.
enum Start {
    /// From now, after ADDED events for the current objects; with `sendInitialEvents=true` these end
    /// with a BOOKMARK annotated `k8s.io/initial-events-end` (the streaming-list protocol).
    Now { end_bookmark: bool },
    /// After this resourceVersion, from the history.
    After(u64),
}

pub fn watch(state: &State, rp: &ResourcePath, query: &Query, render: Render) -> Result<Resp, ApiError> {
    let (labels, fields) = crud::selectors(rp, query)?;
    let namespace = rp.namespace.clone();
    let filter = Filter { resource: rp.info.name, kind: rp.info.kind, namespace, labels, fields, render };
    let start = match query.get("resourceVersion").unwrap_or("") {
        _ if query.flag("sendInitialEvents") => Start::Now { end_bookmark: true },
        "" | "0" => Start::Now { end_bookmark: false },
        rv => Start::After(rv.parse().map_err(|_| ApiError::bad_request(format!("invalid resource version: {rv}")))?),
    };
    let timeout = query.int("timeoutSeconds")?.filter(|t| *t > 0).map(|t| Duration::from_secs(t as u64));
    let bookmarks = query.flag("allowWatchBookmarks").then_some(state.bookmark_interval);
    let (tx, rx) = mpsc::channel::<std::io::Result<Bytes>>(64);
    let store = state.store.clone();
    let shutdown = state.shutdown.clone();
    let span = tracing::debug_span!("watch", resource = rp.info.name, namespace = rp.namespace.as_deref());
    tokio::spawn(run(store, filter, start, timeout, bookmarks, tx, shutdown).instrument(span));
    let body = http::streaming(tokio_stream_from(rx));
    Ok(http::build(200, "application/json", body))
}

fn tokio_stream_from(
    rx: mpsc::Receiver<std::io::Result<Bytes>>,
) -> impl futures::Stream<Item = std::io::Result<Bytes>> + Send + 'static {
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) })
}

async fn run(
    store: Arc<Store>,
    filter: Filter,
    start: Start,
    timeout: Option<Duration>,
    bookmark_every: Option<Duration>,
    tx: mpsc::Sender<std::io::Result<Bytes>>,
    shutdown: CancellationToken,
) {
    let mut latest = store.subscribe();
    let mut last = match start {
        Start::Now { end_bookmark } => {
            let (items, rv) = store.list(filter.resource, filter.namespace.as_deref());
            for item in items.iter().filter(|o| filter.matches(o)) {
                if tx.send(Ok(filter.event_line("ADDED", item))).await.is_err() {
                    return;
                }
            }
            if end_bookmark {
                let object = json!({"kind": filter.kind, "apiVersion": "v1", "metadata": {"resourceVersion": rv.to_string(),
                    "annotations": {"k8s.io/initial-events-end": "true"}}});
                if tx.send(Ok(line("BOOKMARK", &object))).await.is_err() {
                    return;
                }
            }
            rv
        }
        Start::After(rv) => rv,
    };
    let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
    let sleep_until_deadline = async move {
        match deadline {
            Some(d) => tokio::time::sleep_until(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(sleep_until_deadline);
    let period = bookmark_every.unwrap_or(Duration::from_secs(3600));
    let mut bookmark = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    latest.mark_changed();
    loop {
        tokio::select! {
            _ = tx.closed() => return,
            _ = shutdown.cancelled() => return,
            _ = &mut sleep_until_deadline => return,
            _ = bookmark.tick(), if bookmark_every.is_some() => {
                let object = json!({"kind": filter.kind, "apiVersion": "v1", "metadata": {"resourceVersion": last.to_string()}});
                if tx.send(Ok(line("BOOKMARK", &object))).await.is_err() {
                    return;
                }
            }
            changed = latest.changed() => {
                if changed.is_err() {
                    return;
                }
                match store.changes_since(last) {
                    Ok(changes) => {
                        for change in changes {
                            last = change.rv;
                            if let Some((kind, object)) = filter.event_for(&change) {
                                if tx.send(Ok(filter.event_line(kind, &object))).await.is_err() {
                                    return;
                                }
                            }
                        }
                    }
                    Err(too_old) => {
                        let _ = tx.send(Ok(line("ERROR", &too_old.to_error().to_status()))).await;
                        return;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(labels: &str) -> Filter {
        Filter {
            resource: "pods",
            kind: "Pod",
            namespace: Some("d".into()),
            labels: LabelSelector::parse(labels).unwrap(),
            fields: FieldSelector::default(),
            render: Render::Object,
        }
    }

    fn set_label(store: &Store, value: &str) {
        store
            .update("pods", "d", "p", |p| {
                let mut p = p.clone();
                p["metadata"]["labels"]["app"] = json!(value);
                Ok(p)
            })
            .unwrap();
    }

    #[test]
    fn selector_transitions_become_added_and_deleted() {
        let store = Store::new(100);
        store.create("pods", "d", json!({"metadata": {"name": "p", "labels": {"app": "a"}}})).unwrap();
        set_label(&store, "b");
        set_label(&store, "a");
        set_label(&store, "a2");
        store.remove("pods", "d", "p");
        store.create("pods", "other", json!({"metadata": {"name": "p", "labels": {"app": "a"}}})).unwrap();
        let f = filter("app=a");
        let kinds: Vec<&str> =
            store.changes_since(1).unwrap().iter().filter_map(|c| f.event_for(c).map(|(k, _)| k)).collect();
        assert_eq!(kinds, ["ADDED", "DELETED", "ADDED", "DELETED"]);
    }

    async fn read_lines(resp: Resp, n: usize) -> Vec<Value> {
        use http_body_util::BodyExt;
        let mut body = resp.into_body();
        let mut text = String::new();
        while text.lines().count() < n {
            let frame = body.frame().await.unwrap().unwrap();
            text.push_str(std::str::from_utf8(frame.data_ref().unwrap()).unwrap());
        }
        text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    fn state(history: usize) -> State {
        State::new(
            crate::access::Token::generate().unwrap(),
            Arc::new(Store::new(history)),
            crate::node::Node::new(crate::node::NodeConfig {
                name: "n".into(),
                data_dir: std::env::temp_dir(),
                registries: Default::default(),
            }),
            CancellationToken::new(),
            Duration::from_millis(20),
        )
    }

    fn pods_path() -> ResourcePath {
        match super::super::router::route("/api/v1/namespaces/d/pods") {
            super::super::router::Route::Resource(rp) => rp,
            _ => unreachable!(),
        }
    }

    #[tokio::test]
    async fn fresh_watch_lists_then_follows_and_bookmarks() {
        let state = state(100);
        state.store.create("pods", "d", json!({"metadata": {"name": "a"}})).unwrap();
        let resp = watch(&state, &pods_path(), &Query::parse(Some("watch=1&allowWatchBookmarks=true")), Render::Object)
            .unwrap();
        state.store.create("pods", "d", json!({"metadata": {"name": "b"}})).unwrap();
        let events = read_lines(resp, 3).await;
        assert_eq!(events[0]["type"], "ADDED");
        assert_eq!(events[0]["object"]["metadata"]["name"], "a");
        assert_eq!(events[1]["object"]["metadata"]["name"], "b");
        assert_eq!(events[2]["type"], "BOOKMARK");
        assert_eq!(events[2]["object"]["metadata"]["resourceVersion"], "3");
    }

    #[tokio::test]
    async fn resumed_watch_from_an_expired_version_gets_one_error() {
        let state = state(1);
        for name in ["a", "b", "c"] {
            state.store.create("pods", "d", json!({"metadata": {"name": name}})).unwrap();
        }
        let resp =
            watch(&state, &pods_path(), &Query::parse(Some("watch=1&resourceVersion=2")), Render::Object).unwrap();
        assert_eq!(resp.status(), 200);
        let events = read_lines(resp, 1).await;
        assert_eq!(events[0]["type"], "ERROR");
        assert_eq!(events[0]["object"]["code"], 410);
        assert_eq!(events[0]["object"]["reason"], "Expired");
        assert_eq!(events[0]["object"]["message"], "too old resource version: 2 (3)");
    }

    #[tokio::test]
    async fn a_disconnected_client_ends_its_watcher() {
        let state = state(100);
        state.store.create("pods", "d", json!({"metadata": {"name": "a"}})).unwrap();
        let resp = watch(&state, &pods_path(), &Query::parse(Some("watch=1")), Render::Object).unwrap();
        let _ = read_lines(resp, 1).await;
        assert_eq!(state.store.watcher_count(), 1);
        tokio::time::timeout(Duration::from_secs(5), async {
            while state.store.watcher_count() > 0 {
                tokio::task::yield_now().await;
            }
        })
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn timeout_seconds_ends_the_watch() {
        use http_body_util::BodyExt;
        let state = state(100);
        let resp =
            watch(&state, &pods_path(), &Query::parse(Some("watch=1&timeoutSeconds=1")), Render::Object).unwrap();
        let body = tokio::time::timeout(Duration::from_secs(5), resp.into_body().collect()).await.unwrap().unwrap();
        assert!(body.to_bytes().is_empty());
    }

    #[tokio::test]
    async fn streaming_list_ends_initial_events_with_a_bookmark() {
        let state = state(100);
        state.store.create("pods", "d", json!({"metadata": {"name": "a"}})).unwrap();
        let query = Query::parse(Some("watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan"));
        let events = read_lines(watch(&state, &pods_path(), &query, Render::Object).unwrap(), 2).await;
        assert_eq!(events[0]["type"], "ADDED");
        assert_eq!(events[1]["type"], "BOOKMARK");
        assert_eq!(events[1]["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"], "true");
    }

    #[tokio::test]
    async fn resumed_watch_replays_after_the_version() {
        let state = state(100);
        for name in ["a", "b"] {
            state.store.create("pods", "d", json!({"metadata": {"name": name}})).unwrap();
        }
        let resp =
            watch(&state, &pods_path(), &Query::parse(Some("watch=1&resourceVersion=2")), Render::Object).unwrap();
        let events = read_lines(resp, 1).await;
        assert_eq!(events[0]["object"]["metadata"]["name"], "b");
    }
}
