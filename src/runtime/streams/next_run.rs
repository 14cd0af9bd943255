//! The next run of a container: waiting, on the shared watch, for the pod that `start` creates (shared by the
//! output and stdin halves of an attach to a container that is not running).

use crate::runtime::Runtime;
use podshim_translate::state::{pod_to_state, PullVerdict, StartFailure, Status};

/// Waits for the container's next pod (not `skip`) to have started; `None` when it cannot start or the
/// container is removed first (a pull the kubelet throttled is waited out, as `start` does).
pub(crate) async fn next_run(rt: &Runtime, id: &str, skip: Option<&str>) -> Option<String> {
    let pulls = PullVerdict::default();
    rt.cache()
        .wait_for(|index| {
            let Some(c) = index.get(id) else { return Some(None) };
            let pod = c.pod.as_ref().filter(|p| p.metadata.name.as_deref() != skip)?;
            let state = pod_to_state(Some(pod));
            match pulls.failure(&state) {
                Some(StartFailure::Unschedulable { .. }) => None,
                Some(_) => Some(None),
                None if state.status == Status::Created => None,
                None => Some(pod.metadata.name.clone()),
            }
        })
        .await
}
