//! Image events (`pull`, `tag`, `untag`, `delete`) as Docker reports them, sent by the replica that did the
//! operation (Docker's events are per daemon too; container events, which every replica derives from the
//! watches, are in `runtime/events.rs`).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use bollard_stubs::models::{EventMessage, EventMessageTypeEnum};
use jiff::Timestamp;

use crate::runtime::events::message;
use crate::runtime::Runtime;
use podshim_translate::image_ref::ImageRef;

fn event(action: &str, id: &str, name: &str) -> EventMessage {
    let attributes = HashMap::from([("name".to_string(), name.to_string())]);
    message(EventMessageTypeEnum::IMAGE, action, id, attributes, Timestamp::now())
}

/// `pull`: the actor is the reference pulled (`alpine:latest`), its `name` attribute the repository (`alpine`).
pub(crate) fn pull(reference: &ImageRef) -> EventMessage {
    event("pull", &reference.familiar(), &reference.familiar_name())
}

/// `tag`: the actor is the image id, its `name` the new reference.
pub(crate) fn tag(id: &str, reference: &ImageRef) -> EventMessage {
    event("tag", id, &reference.familiar())
}

/// `untag` and `delete`: the actor and its `name` are the image id.
pub(crate) fn untag(id: &str) -> EventMessage {
    event("untag", id, id)
}

pub(crate) fn delete(id: &str) -> EventMessage {
    event("delete", id, id)
}

/// How many image events a replica remembers for `/events?since=`.
const RECENT: usize = 1024;

/// The image events sent lately (Docker replays its recent events for `since`; container events are rebuilt
/// from the objects instead).
#[derive(Debug, Default)]
pub(crate) struct Recent(Mutex<VecDeque<EventMessage>>);

impl Recent {
    fn push(&self, message: EventMessage) {
        let mut recent = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if recent.len() == RECENT {
            recent.pop_front();
        }
        recent.push_back(message);
    }

    /// The events at or after `since`, oldest first.
    pub(crate) fn since(&self, since: Timestamp) -> Vec<EventMessage> {
        let from = i64::try_from(since.as_nanosecond()).unwrap_or(0);
        let recent = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        recent.iter().filter(|e| e.time_nano.unwrap_or(0) >= from).cloned().collect()
    }
}

/// Sends an event to the subscribers of `/events` (none is fine) and keeps it for later `since` requests.
pub(crate) fn emit(rt: &Runtime, message: EventMessage) {
    rt.inner.image_events.push(message.clone());
    let _ = rt.inner.events.send(message);
}
