//! Volume events (`create`, `destroy`) as Docker reports them: the actor is the volume name, with the attribute
//! `driver=local`. Sent by the replica that did the operation and kept with its recent image events for
//! `/events?since=`. (`mount` and `unmount`, which Docker sends when a container starts and stops, come with the
//! container events, in `runtime/events.rs`.)

use std::collections::HashMap;

use bollard_stubs::models::{EventMessage, EventMessageTypeEnum};
use jiff::Timestamp;

use crate::runtime::events::message;
use crate::runtime::Runtime;
use podshim_translate::volume::LOCAL_DRIVER;

fn event(action: &str, name: &str) -> EventMessage {
    let attributes = HashMap::from([("driver".to_string(), LOCAL_DRIVER.to_string())]);
    message(EventMessageTypeEnum::VOLUME, action, name, attributes, Timestamp::now())
}

pub(crate) fn create(name: &str) -> EventMessage {
    event("create", name)
}

pub(crate) fn destroy(name: &str) -> EventMessage {
    event("destroy", name)
}

/// Sends an event to the subscribers of `/events` and keeps it for later `since` requests.
pub(crate) fn emit(rt: &Runtime, message: EventMessage) {
    crate::runtime::images::events::emit(rt, message);
}
