//! `POST /containers/{id}/wait`, answered from the shared watches: `not-running`, `next-exit`, `removed`.
//!
//! The future holds no lock and no request: it re-checks the cache after each change, so dropping it (a client
//! that went away) is always safe.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;

use crate::error::Error;
use crate::runtime::registry::Index;
use crate::runtime::{Container, Runtime, WaitCondition, WaitFuture, WaitOutcome};
use podshim_translate::state::{DockerState, Status};

/// What identifies one exit: the pod, its restart count and the finish time.
type ExitKey = (Option<String>, i64, Option<jiff::Timestamp>);

fn exit_key(pod: Option<&Arc<Pod>>, state: &DockerState) -> ExitKey {
    (pod.and_then(|p| p.metadata.name.clone()), state.restart_count, state.finished_at)
}

fn has_exited(state: &DockerState) -> bool {
    matches!(state.status, Status::Exited | Status::Dead)
        || (state.status == Status::Restarting && state.finished_at.is_some())
}

pub(crate) fn outcome(state: &DockerState) -> WaitOutcome {
    WaitOutcome { status_code: state.exit_code, error: (!state.error.is_empty()).then(|| state.error.clone()) }
}

/// The state to report for a container that is gone: the final state of its last deleted pod, when that is an
/// exit newer than what the waiter saw last.
fn final_state(index: &Index, id: &str, last: &DockerState) -> DockerState {
    match index.exits().last(id) {
        Some(exit) if has_exited(&exit.state) => exit.state.clone(),
        _ => last.clone(),
    }
}

/// One step of a wait: `Some` when the condition holds. `last` keeps the newest state seen.
pub(crate) fn check(
    condition: WaitCondition,
    initial: &ExitKey,
    current: Option<&Container>,
    pods_left: bool,
    last: &mut DockerState,
    index: &Index,
    id: &str,
) -> Option<WaitOutcome> {
    if let Some(c) = current {
        *last = c.state();
    }
    match (condition, current) {
        (WaitCondition::NotRunning, Some(c)) => (!c.state().is_running()).then(|| outcome(&c.state())),
        (WaitCondition::NextExit, Some(c)) => {
            let state = c.state();
            (has_exited(&state) && exit_key(c.pod.as_ref(), &state) != *initial).then(|| outcome(&state))
        }
        (WaitCondition::NotRunning | WaitCondition::NextExit, None) => Some(outcome(&final_state(index, id, last))),
        (WaitCondition::Removed, Some(_)) => None,
        // Docker reports only a removal error on a `removed` wait, never the container's start error (checked
        // with Docker 20.10: `docker run --rm` of a missing program prints no "Error waiting for container").
        (WaitCondition::Removed, None) => {
            (!pods_left).then(|| WaitOutcome { error: None, ..outcome(&final_state(index, id, last)) })
        }
    }
}

pub(crate) fn wait(rt: &Runtime, c: &Container, condition: WaitCondition) -> Result<WaitFuture, Error> {
    let cache = rt.cache().clone();
    let id = c.id.clone();
    let mut last = c.state();
    let initial = exit_key(c.pod.as_ref(), &last);
    Ok(Box::pin(async move {
        cache
            .clone()
            .wait_for(move |index| {
                let current = index.get(&id);
                let pods_left = !index.pods_of(&id).is_empty();
                check(condition, &initial, current, pods_left, &mut last, index, &id)
            })
            .await
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removed_waits_for_the_pods_too_and_reports_the_last_exit() {
        let index = Index::default();
        let mut last = DockerState { status: Status::Exited, exit_code: 3, ..DockerState::created() };
        let initial = (None, 0, None);
        let check = |pods_left, last: &mut DockerState| {
            check(WaitCondition::Removed, &initial, None, pods_left, last, &index, "x")
        };
        assert_eq!(check(true, &mut last), None);
        assert_eq!(check(false, &mut last), Some(WaitOutcome { status_code: 3, error: None }));
    }

    #[test]
    fn a_vanished_container_ends_other_waits_with_its_last_state() {
        let index = Index::default();
        let mut last = DockerState { status: Status::Running, ..DockerState::created() };
        let got = check(WaitCondition::NextExit, &(None, 0, None), None, false, &mut last, &index, "x");
        assert_eq!(got, Some(WaitOutcome { status_code: 0, error: None }));
    }
}
