//! Container events (`GET /events`): create, start, die and destroy, derived from the shared watches by
//! comparing each container with how it was last seen; past events are synthesised from the objects'
//! timestamps (record creation -> create, container startedAt -> start, finishedAt -> die). With them, as Docker
//! sends them, the `volume` events of the container's volumes: `mount` just before its `start`, `unmount` just
//! after its `die`.

use std::collections::HashMap;

use bollard_stubs::models::{EventActor, EventMessage, EventMessageScopeEnum, EventMessageTypeEnum};
use jiff::Timestamp;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::{Container, Runtime};
use podshim_translate::mounts::{from_annotations, MountKind};
use podshim_translate::volume::LOCAL_DRIVER;

/// How a container looked at the last change.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Seen {
    name: String,
    image: String,
    run: Option<(Option<String>, Timestamp)>,
    exit: Option<(Option<String>, Timestamp, i64)>,
    /// The volumes it mounts: name, destination, read-write.
    volumes: Vec<(String, String, bool)>,
}

pub(super) fn seen(c: &Container) -> Seen {
    let state = c.state();
    let pod = c.pod.as_ref().and_then(|p| p.metadata.name.clone());
    let exited = !state.is_running() || state.status == podshim_translate::state::Status::Restarting;
    Seen {
        name: c.name.clone(),
        image: c.image().unwrap_or_default(),
        run: state.started_at.map(|t| (pod.clone(), t)),
        exit: state.finished_at.filter(|_| exited).map(|t| (pod, t, state.exit_code)),
        volumes: from_annotations(c.record.metadata.annotations.as_ref())
            .unwrap_or_default()
            .into_iter()
            .filter(|m| m.kind == MountKind::Volume && !m.name.is_empty())
            .map(|m| (m.name, m.destination, m.rw))
            .collect(),
    }
}

/// Docker's `mount` (before a start) or `unmount` (after a die) events of the container's volumes.
fn volume_events(action: &str, id: &str, seen: &Seen, at: Timestamp) -> Vec<EventMessage> {
    let volume_event = |(name, destination, rw): &(String, String, bool)| {
        let mut attributes = HashMap::from([
            ("container".to_string(), id.to_string()),
            ("driver".to_string(), LOCAL_DRIVER.to_string()),
        ]);
        if action == "mount" {
            attributes.insert("destination".to_string(), destination.clone());
            attributes.insert("propagation".to_string(), String::new());
            attributes.insert("read/write".to_string(), rw.to_string());
        }
        message(EventMessageTypeEnum::VOLUME, action, name, attributes, at)
    };
    seen.volumes.iter().map(volume_event).collect()
}

/// One `/events` message: of `typ`, `action` on the actor `id` with its `attributes`, at `at` (local scope).
pub(crate) fn message(
    typ: EventMessageTypeEnum,
    action: &str,
    id: &str,
    attributes: HashMap<String, String>,
    at: Timestamp,
) -> EventMessage {
    EventMessage {
        typ: Some(typ),
        action: Some(action.to_string()),
        actor: Some(EventActor { id: Some(id.to_string()), attributes: Some(attributes) }),
        scope: Some(EventMessageScopeEnum::LOCAL),
        time: Some(at.as_second()),
        time_nano: i64::try_from(at.as_nanosecond()).ok(),
    }
}

fn event(action: &str, id: &str, seen: &Seen, exit_code: Option<i64>, at: Timestamp) -> EventMessage {
    let mut attributes =
        HashMap::from([("name".to_string(), seen.name.clone()), ("image".to_string(), seen.image.clone())]);
    if let Some(code) = exit_code {
        attributes.insert("exitCode".to_string(), code.to_string());
    }
    message(EventMessageTypeEnum::CONTAINER, action, id, attributes, at)
}

/// The events of one container between two observations of it (`None`: it did not exist).
fn diff_one(id: &str, old: Option<&Seen>, new: Option<&Seen>, now: Timestamp) -> Vec<EventMessage> {
    let mut events = Vec::new();
    match new {
        Some(new) => {
            if old.is_none() {
                events.push(event("create", id, new, None, now));
            }
            if new.run.is_some() && old.and_then(|o| o.run.as_ref()) != new.run.as_ref() {
                events.extend(volume_events("mount", id, new, now));
                events.push(event("start", id, new, None, now));
            }
            if let Some((_, _, code)) = &new.exit {
                if old.and_then(|o| o.exit.as_ref()) != new.exit.as_ref() {
                    events.push(event("die", id, new, Some(*code), now));
                    events.extend(volume_events("unmount", id, new, now));
                }
            }
        }
        None => {
            if let Some(old) = old {
                events.push(event("destroy", id, old, None, now));
            }
        }
    }
    events
}

/// The events between two observations of the containers.
pub(super) fn diff(before: &HashMap<String, Seen>, after: &HashMap<String, Seen>, now: Timestamp) -> Vec<EventMessage> {
    let ids: std::collections::BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    ids.into_iter().flat_map(|id| diff_one(id, before.get(id), after.get(id), now)).collect()
}

/// One observation: the index version, then either how each container changed since the last one looks now
/// (`None`: it is gone), or, when that cannot be told, how every container looks.
type Observation = (u64, Option<Vec<(String, Option<Seen>)>>, HashMap<String, Seen>);

/// How the containers changed since version `since` look now (all of them when `since` is `None` or too old).
fn observe(rt: &Runtime, since: Option<u64>) -> Observation {
    rt.cache().read(|index| {
        let changed = since.and_then(|v| index.changed_since(v));
        match changed {
            Some(ids) => {
                let seen_now = ids.into_iter().map(|id| {
                    let s = index.get(&id).map(seen);
                    (id, s)
                });
                (index.version(), Some(seen_now.collect()), HashMap::new())
            }
            None => (index.version(), None, index.containers().map(|c| (c.id.clone(), seen(c))).collect()),
        }
    })
}

pub(super) fn spawn(rt: Runtime, shutdown: CancellationToken) {
    let span = tracing::info_span!("events", namespace = %rt.namespace());
    tokio::spawn(
        async move {
            let mut changes = rt.cache().changes();
            let (mut version, _, mut before) = observe(&rt, None);
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    changed = changes.changed() => if changed.is_err() { break },
                }
                let (now_version, changed, all) = observe(&rt, Some(version));
                version = now_version;
                let now = Timestamp::now();
                let messages = match changed {
                    Some(changed) => {
                        let mut messages = Vec::new();
                        for (id, new) in changed {
                            messages.extend(diff_one(&id, before.get(&id), new.as_ref(), now));
                            match new {
                                Some(new) => before.insert(id, new),
                                None => before.remove(&id),
                            };
                        }
                        messages
                    }
                    // Too many changes to tell which: compare everything.
                    None => {
                        let messages = diff(&before, &all, now);
                        before = all;
                        messages
                    }
                };
                for message in messages {
                    // No subscriber is not an error.
                    let _ = rt.inner.events.send(message);
                }
            }
        }
        .instrument(span),
    );
}

/// Events at or after `since`, oldest first, from the timestamps of the containers that still exist.
pub(super) fn past_events(all: &[Container], since: Timestamp) -> Vec<EventMessage> {
    let mut events = Vec::new();
    for c in all {
        let s = seen(c);
        if let Some(created) = c.record.metadata.creation_timestamp.as_ref() {
            events.push(event("create", &c.id, &s, None, created.0));
        }
        if let Some((_, at)) = &s.run {
            events.extend(volume_events("mount", &c.id, &s, *at));
            events.push(event("start", &c.id, &s, None, *at));
        }
        if let Some((_, at, code)) = &s.exit {
            events.push(event("die", &c.id, &s, Some(*code), *at));
            events.extend(volume_events("unmount", &c.id, &s, *at));
        }
    }
    events.retain(|e| e.time_nano.unwrap_or(0) >= i64::try_from(since.as_nanosecond()).unwrap_or(0));
    // Stable: events of one moment keep their order (mount, start; die, unmount).
    events.sort_by_key(|e| e.time_nano);
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(run: Option<i64>, exit: Option<(i64, i64)>) -> Seen {
        let t = |secs| Timestamp::from_second(secs).unwrap();
        Seen {
            name: "n".into(),
            image: "alpine".into(),
            run: run.map(|r| (Some("p-1".into()), t(r))),
            exit: exit.map(|(at, code)| (Some("p-1".into()), t(at), code)),
            volumes: Vec::new(),
        }
    }

    fn actions(before: &[(&str, Seen)], after: &[(&str, Seen)]) -> Vec<String> {
        let map = |v: &[(&str, Seen)]| v.iter().map(|(k, s)| (k.to_string(), s.clone())).collect();
        diff(&map(before), &map(after), Timestamp::UNIX_EPOCH).into_iter().filter_map(|e| e.action).collect()
    }

    #[test]
    fn transitions_become_docker_events() {
        assert_eq!(actions(&[], &[("a", s(None, None))]), ["create"]);
        assert_eq!(actions(&[("a", s(None, None))], &[("a", s(Some(1), None))]), ["start"]);
        // A run seen only after it ended still reports its start, then its exit.
        assert_eq!(actions(&[("a", s(None, None))], &[("a", s(Some(1), Some((2, 3))))]), ["start", "die"]);
        assert_eq!(actions(&[("a", s(Some(1), Some((2, 3))))], &[]), ["destroy"]);
        assert!(actions(&[("a", s(Some(1), None))], &[("a", s(Some(1), None))]).is_empty());
    }

    #[test]
    fn volumes_are_mounted_before_the_start_and_unmounted_after_the_die() {
        let with_volume = |run, exit| Seen { volumes: vec![("data".into(), "/d".into(), true)], ..s(run, exit) };
        let before = [("a", with_volume(None, None))];
        let after = [("a", with_volume(Some(1), Some((2, 0))))];
        assert_eq!(actions(&before, &after), ["mount", "start", "die", "unmount"]);
        let map = |v: &[(&str, Seen)]| v.iter().map(|(k, s)| (k.to_string(), s.clone())).collect();
        let events = diff(&map(&before), &map(&after), Timestamp::UNIX_EPOCH);
        let mount = &events[0];
        assert_eq!(mount.typ, Some(EventMessageTypeEnum::VOLUME));
        let actor = mount.actor.clone().unwrap();
        assert_eq!(actor.id.as_deref(), Some("data"));
        let attributes = actor.attributes.unwrap();
        assert_eq!(attributes.get("container").map(String::as_str), Some("a"));
        assert_eq!(attributes.get("destination").map(String::as_str), Some("/d"));
        assert_eq!(attributes.get("read/write").map(String::as_str), Some("true"));
        let unmount = events[3].actor.clone().unwrap().attributes.unwrap();
        assert_eq!(unmount.len(), 2, "container and driver, as Docker: {unmount:?}");
    }
}
