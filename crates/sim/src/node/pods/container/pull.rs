//! A container's image pull as the kubelet drives it: the waiting reason and message while it fails
//! (`ErrImagePull` then `ImagePullBackOff`, `ErrImageNeverPull`, `InvalidImageName`), with back-off.

use super::{backoff, set_waiting, sleep_or_stop};
use crate::node::image::{self, ImageInfo, PullError};
use crate::node::pods::{ContainerRuntime, PodRuntime};

/// Pulls the container's image as its pull policy says, until it is there; `None` when the pod stops
/// first (an invalid name never pulls: it waits for the pod to stop).
pub async fn until_pulled(pod: &PodRuntime, c: &ContainerRuntime, failures: &mut u32) -> Option<ImageInfo> {
    let image = c.spec.image.clone().unwrap_or_default();
    let policy = c.spec.image_pull_policy.clone().unwrap_or_else(|| default_pull_policy(&image).to_string());
    while !pod.stopping.is_cancelled() {
        match pod.ctx.images.ensure(&image, &policy, &pod.pod(), pod.cluster.as_ref()).await {
            Ok(info) => return Some(info),
            Err(PullError::InvalidName(message)) => {
                set_waiting(pod, c, "InvalidImageName", Some(message));
                pod.stopping.cancelled().await;
                return None;
            }
            Err(PullError::NeverPull(message)) => {
                *failures += 1;
                set_waiting(pod, c, "ErrImageNeverPull", Some(message));
                if sleep_or_stop(&pod.stopping, backoff(pod, *failures)).await {
                    return None;
                }
            }
            Err(PullError::Failed(message)) => {
                *failures += 1;
                set_waiting(pod, c, "ErrImagePull", Some(message));
                if sleep_or_stop(&pod.stopping, backoff(pod, *failures)).await {
                    return None;
                }
                set_waiting(pod, c, "ImagePullBackOff", Some(image::back_off_message(&image)));
                if sleep_or_stop(&pod.stopping, backoff(pod, *failures)).await {
                    return None;
                }
            }
        }
    }
    None
}

/// The kubelet's default when the pod does not say (the API server normally fills it in): `Always`
/// for `:latest` or no tag, `IfNotPresent` otherwise.
fn default_pull_policy(image: &str) -> &'static str {
    let last = image.rsplit('/').next().unwrap_or(image);
    if image.contains('@') || last.split_once(':').is_some_and(|(_, tag)| tag != "latest") {
        "IfNotPresent"
    } else {
        "Always"
    }
}
