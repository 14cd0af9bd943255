//! Image events (`pull`, `tag`, `untag`, `delete`) as Docker reports them, sent by the replica that did the
//! operation (Docker's events are per daemon too; container events, which every replica derives from the
//! watches, are in `runtime/events.rs`).

use std::collections::HashMap;

use bollard_stubs::models::{EventActor, EventMessage, EventMessageScopeEnum, EventMessageTypeEnum};
use jiff::Timestamp;

use crate::runtime::Runtime;
use podshim_translate::image_ref::ImageRef;

fn event(action: &str, id: &str, name: &str) -> EventMessage {
    let now = Timestamp::now();
    EventMessage {
        typ: Some(EventMessageTypeEnum::IMAGE),
        action: Some(action.to_string()),
        actor: Some(EventActor {
            id: Some(id.to_string()),
            attributes: Some(HashMap::from([("name".to_string(), name.to_string())])),
        }),
        scope: Some(EventMessageScopeEnum::LOCAL),
        time: Some(now.as_second()),
        time_nano: i64::try_from(now.as_nanosecond()).ok(),
    }
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

/// Sends an event to the subscribers of `/events` (none is fine).
pub(crate) fn emit(rt: &Runtime, message: EventMessage) {
    let _ = rt.inner.events.send(message);
}
