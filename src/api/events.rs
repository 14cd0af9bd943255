//! `GET /events` (SystemEvents): container events (create, start, die, destroy, ...) as JSON lines, each sent
//! as it happens. `since` replays past events first; `until` ends the stream; without `until` it runs until the
//! client leaves (which drops the subscription).

use std::collections::BTreeMap;

use crate::server::RequestBody;
use bollard_stubs::models::{EventMessage, EventMessageTypeEnum};
use futures::{Stream, StreamExt};
use http::{Request, Response};
use jiff::Timestamp;
use serde_json::Value;
use tokio::sync::broadcast;

use super::query::query_of;
use super::response::Body;
use super::stream;
use crate::error::Error;
use crate::runtime::Runtime;

/// The filter keys moby accepts for events; podshim has container and image events, so other types (and the
/// `daemon`, `network`, ... keys) simply match nothing.
const ACCEPTED: [&str; 14] = [
    "config",
    "container",
    "daemon",
    "event",
    "image",
    "label",
    "network",
    "node",
    "plugin",
    "scope",
    "secret",
    "service",
    "type",
    "volume",
];

/// A parsed events `filters` value: key -> alternatives.
#[derive(Debug, Default)]
struct EventFilters(BTreeMap<String, Vec<String>>);

impl EventFilters {
    /// Docker's `{"key": ["v"]}` (or the older `{"key": {"v": true}}`); 400 `Invalid filter 'x'` for others.
    fn parse(raw: &str) -> Result<Self, Error> {
        if raw.trim().is_empty() {
            return Ok(EventFilters::default());
        }
        let json: BTreeMap<String, Value> =
            serde_json::from_str(raw).map_err(|e| Error::InvalidParameter(format!("invalid filters: {e}")))?;
        let mut out = BTreeMap::new();
        for (key, value) in json {
            if !ACCEPTED.contains(&key.as_str()) {
                return Err(Error::InvalidParameter(format!("Invalid filter '{key}'")));
            }
            let values = match value {
                Value::Array(items) => items.into_iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
                Value::Object(map) => map.into_iter().map(|(k, _)| k).collect(),
                _ => return Err(Error::InvalidParameter(format!("invalid filter value for '{key}': expected a list"))),
            };
            out.insert(key, values);
        }
        Ok(EventFilters(out))
    }

    /// moby's events filter: every key must match, any value of a key may. `container` and `image` match the
    /// actor's id (or id prefix) or name; `label` `k` or `k=v` on the actor's attributes.
    fn matches(&self, event: &EventMessage) -> bool {
        let typ = event.typ.map(|t| t.to_string()).unwrap_or_default();
        let action = event.action.clone().unwrap_or_default();
        let id = event.actor.as_ref().and_then(|a| a.id.clone()).unwrap_or_default();
        let attributes = event.actor.as_ref().and_then(|a| a.attributes.clone()).unwrap_or_default();
        let attr = |k: &str| attributes.get(k).map(String::as_str).unwrap_or("");
        self.0.iter().all(|(key, values)| {
            values.is_empty()
                || values.iter().any(|v| match key.as_str() {
                    "type" => *v == typ,
                    "event" => *v == action || action.split(':').next() == Some(v.as_str()),
                    "container" => typ == "container" && (*v == attr("name") || (!v.is_empty() && id.starts_with(v))),
                    "image" => attr("image") == v || (typ == "image" && (id == *v || attr("name") == v)),
                    "volume" => typ == "volume" && id == *v,
                    "label" => match v.split_once('=') {
                        Some((k, val)) => attributes.get(k).is_some_and(|x| x == val),
                        None => attributes.contains_key(v),
                    },
                    "scope" => v == "local",
                    _ => false,
                })
        })
    }
}

/// The event as Docker writes it, with the deprecated `status` and `id` of container and image events (and
/// `from` of container events) that older clients still read.
fn event_json(event: &EventMessage) -> Value {
    let mut json = serde_json::to_value(event).unwrap_or(Value::Null);
    let legacy = matches!(event.typ, Some(EventMessageTypeEnum::CONTAINER | EventMessageTypeEnum::IMAGE));
    if let (Value::Object(map), true) = (&mut json, legacy) {
        let actor = event.actor.as_ref();
        map.insert("status".into(), Value::from(event.action.clone().unwrap_or_default()));
        map.insert("id".into(), Value::from(actor.and_then(|a| a.id.clone()).unwrap_or_default()));
        if event.typ == Some(EventMessageTypeEnum::CONTAINER) {
            let image = actor.and_then(|a| a.attributes.as_ref()).and_then(|a| a.get("image")).cloned();
            map.insert("from".into(), Value::from(image.unwrap_or_default()));
        }
    }
    json
}

fn event_time(event: &EventMessage) -> Option<Timestamp> {
    match (event.time_nano, event.time) {
        (Some(nanos), _) => Timestamp::from_nanosecond(i128::from(nanos)).ok(),
        (None, Some(secs)) => Timestamp::from_second(secs).ok(),
        _ => None,
    }
}

/// `GET /events`: `filters`, `since`, `until` (Unix seconds, fractions allowed).
pub fn system_events(rt: &Runtime, req: &Request<RequestBody>) -> Result<Response<Body>, Error> {
    let query = query_of(req);
    let filters = EventFilters::parse(query.get("filters").unwrap_or_default())?;
    let (since, until) = (query.timestamp("since")?, query.timestamp("until")?);
    // Subscribe before reading the past, so nothing falls between the two.
    let live = rt.subscribe_events();
    let past = since.map(|s| rt.past_events(s)).unwrap_or_default();
    let events = futures::stream::iter(past).chain(live_events(live, until));
    let before_until = move |e: &EventMessage| until.is_none_or(|u| event_time(e).is_none_or(|t| t <= u));
    let lines = events
        .take_while(move |e| futures::future::ready(before_until(e)))
        .filter(move |e| futures::future::ready(filters.matches(e)))
        .map(|e| event_json(&e));
    Ok(stream::json_lines(lines))
}

/// Live events until `until` (if any). A subscriber that falls behind skips what it missed (logged).
fn live_events(rx: broadcast::Receiver<EventMessage>, until: Option<Timestamp>) -> impl Stream<Item = EventMessage> {
    // A time already past gives a zero wait: what is queued is delivered, then the stream ends.
    let deadline = until.map(|u| {
        let wait = std::time::Duration::try_from(Timestamp::now().duration_until(u)).unwrap_or_default();
        tokio::time::Instant::now() + wait
    });
    futures::stream::unfold((rx, deadline), |(mut rx, deadline)| async move {
        loop {
            let next = async {
                match deadline {
                    Some(d) => tokio::time::timeout_at(d, rx.recv()).await.ok(),
                    None => Some(rx.recv().await),
                }
            };
            match next.await {
                None | Some(Err(broadcast::error::RecvError::Closed)) => return None,
                Some(Err(broadcast::error::RecvError::Lagged(n))) => {
                    tracing::warn!(missed = n, "events: subscriber fell behind")
                }
                Some(Ok(event)) => return Some((event, (rx, deadline))),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use bollard_stubs::models::EventActor;

    use super::*;

    fn event(action: &str, id: &str, name: &str) -> EventMessage {
        let attributes =
            HashMap::from([("name".into(), name.into()), ("image".into(), "alpine".into()), ("k".into(), "v".into())]);
        EventMessage {
            typ: Some(EventMessageTypeEnum::CONTAINER),
            action: Some(action.into()),
            actor: Some(EventActor { id: Some(id.into()), attributes: Some(attributes) }),
            time: Some(1_700_000_000),
            time_nano: Some(1_700_000_000_000_000_000),
            ..Default::default()
        }
    }

    #[test]
    fn filters_match_like_moby() {
        let e = event("die", "abcdef", "w");
        let f = |raw: &str| EventFilters::parse(raw).unwrap().matches(&e);
        assert!(f(""));
        assert!(f(r#"{"type":["container"],"event":["start","die"]}"#));
        assert!(!f(r#"{"event":["start"]}"#));
        assert!(f(r#"{"container":["w"]}"#) && f(r#"{"container":["abc"]}"#) && !f(r#"{"container":["x"]}"#));
        assert!(f(r#"{"label":["k=v"]}"#) && f(r#"{"label":["k"]}"#) && !f(r#"{"label":["k=w"]}"#));
        assert!(!f(r#"{"type":["image"]}"#));
        assert_eq!(EventFilters::parse(r#"{"bogus":["x"]}"#).unwrap_err().to_string(), "Invalid filter 'bogus'");
    }

    #[test]
    fn container_events_carry_the_deprecated_fields() {
        let json = event_json(&event("start", "abc", "w"));
        assert_eq!(json["status"], "start");
        assert_eq!(json["id"], "abc");
        assert_eq!(json["from"], "alpine");
        assert_eq!(json["Action"], "start");
    }

    #[tokio::test]
    async fn live_events_end_at_until() {
        let (tx, rx) = broadcast::channel(4);
        tx.send(event("start", "a", "w")).unwrap();
        let until = Some(Timestamp::now());
        // The sender stays alive: the stream ends because of `until`, after what was already there.
        let got: Vec<_> = live_events(rx, until).collect().await;
        assert_eq!(got.len(), 1);
        drop(tx);
    }
}
