//! `GET /containers/json` (operation ContainerList): a pod becomes one entry of Docker's container list
//! ([`pod_to_summary`]). Which entries are listed is [`super::list_filters`]' business.

use bollard_stubs::models::{
    ContainerSummary, ContainerSummaryHostConfig, ContainerSummaryNetworkSettings, ContainerSummaryStateEnum,
};
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;

use super::inspect::ContainerView;
use super::ports::port_summaries;
use super::state::Status;
use super::status_text::status_text;

/// The list entry for a container's pod; `now` is for the `Status` text ("Up 2 seconds") and stands in for the
/// creation time of a record not stored yet.
///
/// - `Image` is the reference as given and `ImageID` the id inspect shows ([`ContainerView::image_id`]); the
///   caller replaces `Image` by the id when the reference no longer names that image, as Docker does.
/// - `Ports` lists the published ports while the container runs ([`port_summaries`]); `Mounts` as inspect shows
///   them ([`crate::mounts::inspect_mounts`]); `SizeRw`/`SizeRootFs` are left out (the writable layer is on a node), which Docker
///   also does without `size=1`.
pub fn pod_to_summary(pod: &Pod, now: Timestamp) -> ContainerSummary {
    view_to_summary(&ContainerView::from_pod(pod, Some(now)), now)
}

/// [`pod_to_summary`] for a record already read.
pub fn view_to_summary(view: &ContainerView, now: Timestamp) -> ContainerSummary {
    let (path, args) = view.path_and_args();
    let image = view.image();
    ContainerSummary {
        id: Some(view.id.clone()),
        names: Some(vec![format!("/{}", view.name)]),
        image_id: Some(view.image_id()),
        image: Some(image),
        command: Some(command(&path, &args)),
        created: Some(view.created.unwrap_or(now).as_second()),
        ports: Some(port_summaries(&view.exposed(), view.published.as_deref())),
        labels: Some(view.body.labels.clone().unwrap_or_default()),
        state: Some(state_enum(view.state.status)),
        status: Some(status_text(&view.state, now)),
        host_config: Some(ContainerSummaryHostConfig { network_mode: Some(view.network_mode()), annotations: None }),
        network_settings: Some(ContainerSummaryNetworkSettings { networks: Some(view.networks()) }),
        mounts: Some(crate::mounts::inspect_mounts(&view.mounts, &view.namespace)),
        ..Default::default()
    }
}

/// Docker's `Command` column (moby daemon/list.go): Path, then each argument, wrapped in single quotes when it
/// contains a space (no other quoting or escaping), all joined by single spaces: `sh -c 'exit 3'`.
pub fn command(path: &str, args: &[String]) -> String {
    let mut out = path.to_string();
    for arg in args {
        out.push(' ');
        if arg.contains(' ') {
            out.push_str(&format!("'{arg}'"));
        } else {
            out.push_str(arg);
        }
    }
    out
}

/// The list's `State` word.
pub fn state_enum(status: Status) -> ContainerSummaryStateEnum {
    match status {
        Status::Created => ContainerSummaryStateEnum::CREATED,
        Status::Running => ContainerSummaryStateEnum::RUNNING,
        Status::Paused => ContainerSummaryStateEnum::PAUSED,
        Status::Restarting => ContainerSummaryStateEnum::RESTARTING,
        Status::Removing => ContainerSummaryStateEnum::REMOVING,
        Status::Exited => ContainerSummaryStateEnum::EXITED,
        Status::Dead => ContainerSummaryStateEnum::DEAD,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn command_quotes_only_arguments_with_spaces_like_docker_ps() {
        assert_eq!(command("sh", &args(&["-c", "exit 3"])), "sh -c 'exit 3'");
        assert_eq!(command("sleep", &args(&["300"])), "sleep 300");
        assert_eq!(command("echo", &args(&["it's"])), "echo it's");
        assert_eq!(command("", &[]), "");
    }
}
