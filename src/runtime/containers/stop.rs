//! `POST /containers/{id}/stop`, `/kill` and `/restart`.
//!
//! A pod's process cannot be signalled from the API, so a stop is a deletion of the pod with
//! `gracePeriodSeconds` (SIGTERM, then SIGKILL after the grace period), after the finalizer
//! [`STOPPED_FINALIZER`] was added: it keeps the pod object with its final status (exit code, times) for
//! inspect, ps and logs until the container is started again or removed.

use std::time::Duration;

use kube::api::{DeleteParams, Patch, PatchParams};
use tracing::instrument;

use crate::error::Error;
use crate::runtime::kube_error::container_error;
use crate::runtime::registry::is_stopped_by_podshim;
use crate::runtime::{Container, Runtime};
use podshim_translate::labels::STOPPED_FINALIZER;
use podshim_translate::pod::DEFAULT_STOP_TIMEOUT;

/// How long a stop waits beyond the grace period for the watch to show the container stopped.
const STOP_SLACK: Duration = Duration::from_secs(30);

/// What a kill signal does.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum KillAction {
    /// SIGKILL: deletion with grace 0; Docker's kill waits until the container is down.
    Kill,
    /// SIGTERM: a stop with the container's stop timeout, not awaited.
    Terminate,
}

/// The signals Kubernetes can deliver (`KILL`, `TERM`, in Docker's spellings: `SIGKILL`, `kill`, `9`, and an
/// empty signal meaning KILL). Any other valid signal is refused with 400 naming it: Kubernetes has no way to
/// send it to the process (only an exec into the container could, which needs a `kill` binary in the image).
/// A name that is no signal at all gets Docker's own 400 `Invalid signal: <name>`.
///
/// Kubernetes always sends SIGTERM first, even with grace 0 (the kubelet then kills at once), so a program
/// that dies of SIGTERM reports 143 after `docker kill` where Docker reports 137.
pub(crate) fn kill_action(signal: &str) -> Result<KillAction, Error> {
    let upper = signal.to_ascii_uppercase();
    let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
    match bare {
        "" | "KILL" | "9" => Ok(KillAction::Kill),
        "TERM" | "15" => Ok(KillAction::Terminate),
        _ => {
            let number = bare.parse::<u8>().is_ok_and(|n| (1..=64).contains(&n));
            let named = format!("SIG{bare}").parse::<nix::sys::signal::Signal>().is_ok();
            let realtime = bare.starts_with("RTMIN") || bare.starts_with("RTMAX");
            if number || named || realtime {
                Err(Error::Unsupported {
                    option: format!("signal {signal}"),
                    why: "Kubernetes can only stop a container (SIGTERM, then SIGKILL) or kill it (SIGKILL)".into(),
                })
            } else {
                Err(Error::InvalidParameter(format!("Invalid signal: {signal}")))
            }
        }
    }
}

/// The grace period for a stop: `t` when given (a negative `t`, Docker's "wait forever", is the container's
/// stop timeout: a pod's grace period is finite), else the container's StopTimeout, else Docker's 10 s.
fn grace_seconds(c: &Container, timeout: Option<i64>) -> i64 {
    let configured = c.create_body().ok().and_then(|b| b.stop_timeout).filter(|t| *t >= 0);
    timeout.filter(|t| *t >= 0).or(configured).unwrap_or(DEFAULT_STOP_TIMEOUT)
}

/// Adds the finalizer (unless there) and deletes the pod with `grace` seconds.
async fn stop_pod(rt: &Runtime, c: &Container, grace: i64) -> Result<(), Error> {
    let Some(pod) = c.pod.as_ref() else { return Ok(()) };
    let name = pod.metadata.name.clone().unwrap_or_default();
    let api = rt.pods_api();
    if !is_stopped_by_podshim(pod) {
        let mut finalizers = pod.metadata.finalizers.clone().unwrap_or_default();
        finalizers.push(STOPPED_FINALIZER.to_string());
        let patch = serde_json::json!({"metadata": {"finalizers": finalizers}});
        api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(|err| container_error(&c.id, "marking the container's pod as stopped", err))?;
    }
    let grace = u32::try_from(grace).unwrap_or(u32::MAX);
    api.delete(&name, &DeleteParams::default().grace_period(grace))
        .await
        .map_err(|err| container_error(&c.id, "stopping the container's pod", err))?;
    Ok(())
}

/// Waits until the cache shows the container not running (or gone).
async fn until_stopped(rt: &Runtime, id: &str, bound: Duration) -> Result<(), Error> {
    let wait = rt.cache().wait_for(|index| index.get(id).is_none_or(|c| !c.state().is_running()).then_some(()));
    tokio::time::timeout(bound, wait)
        .await
        .map_err(|_| Error::Timeout(format!("container {id} did not stop within {bound:?}")))
}

#[instrument(skip(rt), fields(container.id))]
pub(crate) async fn stop(rt: &Runtime, c: &Container, timeout: Option<i64>, signal: Option<&str>) -> Result<(), Error> {
    tracing::Span::current().record("container.id", c.id.as_str());
    if let Some(signal) = signal.filter(|s| !s.is_empty()) {
        if kill_action(signal)? != KillAction::Terminate {
            return Err(Error::Unsupported {
                option: format!("signal {signal}"),
                why: "a stop sends SIGTERM; use kill for SIGKILL".into(),
            });
        }
    }
    if !c.state().can_stop() {
        return Err(Error::NotModified);
    }
    let grace = grace_seconds(c, timeout);
    stop_pod(rt, c, grace).await?;
    until_stopped(rt, &c.id, Duration::from_secs(grace.unsigned_abs()) + STOP_SLACK).await?;
    // Closed before the answer, as Docker's are (the port supervisor would close them a moment later).
    rt.ports().close(&c.id).await;
    Ok(())
}

#[instrument(skip(rt), fields(container.id))]
/// `reference` is the container as the client named it (Docker's error repeats it).
pub(crate) async fn kill(rt: &Runtime, c: &Container, reference: &str, signal: &str) -> Result<(), Error> {
    tracing::Span::current().record("container.id", c.id.as_str());
    let action = kill_action(signal)?;
    if !c.state().is_running() {
        // Docker's wording (checked with Docker 20.10).
        return Err(Error::Conflict(format!("Cannot kill container: {reference}: Container {} is not running", c.id)));
    }
    match action {
        KillAction::Kill => {
            stop_pod(rt, c, 0).await?;
            until_stopped(rt, &c.id, STOP_SLACK).await?;
            rt.ports().close(&c.id).await;
            Ok(())
        }
        KillAction::Terminate => stop_pod(rt, c, grace_seconds(c, None)).await,
    }
}

#[instrument(skip(rt), fields(container.id))]
pub(crate) async fn restart(
    rt: &Runtime,
    c: &Container,
    timeout: Option<i64>,
    signal: Option<&str>,
) -> Result<(), Error> {
    match stop(rt, c, timeout, signal).await {
        Ok(()) | Err(Error::NotModified) => {}
        Err(err) => return Err(err),
    }
    // The stop changed the container: start reads it afresh.
    match super::start::start(rt, &rt.resolve(&c.id)?).await {
        Ok(()) | Err(Error::NotModified) => Ok(()),
        Err(err) => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_kill_and_term_can_be_delivered() {
        for kill in ["", "KILL", "sigkill", "9"] {
            assert_eq!(kill_action(kill).unwrap(), KillAction::Kill, "{kill}");
        }
        for term in ["TERM", "SIGTERM", "15"] {
            assert_eq!(kill_action(term).unwrap(), KillAction::Terminate, "{term}");
        }
        let hup = kill_action("SIGHUP").unwrap_err();
        assert_eq!(hup.status(), http::StatusCode::BAD_REQUEST);
        assert!(hup.to_string().starts_with("signal SIGHUP is not supported by podshim"), "{hup}");
        assert!(matches!(kill_action("10"), Err(Error::Unsupported { .. })));
        assert_eq!(kill_action("FOO").unwrap_err().to_string(), "Invalid signal: FOO");
    }
}
