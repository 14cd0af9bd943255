//! Pulls from the simulated registries and what an image's config decides, with real processes.

use base64::Engine as _;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::ByteString;

use super::*;
use crate::registry::{Access, Registries, Registry, PRIVATE_PASSWORD, PRIVATE_USER};

fn waiting(reason: &'static str) -> impl Fn(&Value) -> bool {
    move |s| s["containerStatuses"][0]["state"]["waiting"]["reason"] == reason
}

fn terminated(s: &Value) -> bool {
    s["containerStatuses"][0]["state"]["terminated"].is_object()
}

#[tokio::test]
async fn an_image_without_a_command_runs_its_config_and_reports_what_was_pulled() {
    let f = fixture();
    let hub = Registry::with_catalogue(Access::Open).unwrap();
    let spec = json!({"restartPolicy": "Never", "containers": [{"name": "c", "image": "podshim-all-config:1",
        "args": ["echo \"$GREETING|$(pwd)|$EMPTY|$HOME\""]}]});
    let (runtime, pod) = f.start("p", spec);
    let status = wait_for(&runtime, phase_is("Succeeded")).await;
    let c = &status["containerStatuses"][0];
    assert_eq!(c["image"], "docker.io/library/podshim-all-config:1");
    let digest = hub.digest_of("library/podshim-all-config", "1").unwrap();
    assert_eq!(c["imageID"], format!("docker.io/library/podshim-all-config@{digest}"));
    // Entrypoint ["/bin/sh", "-c"] with the pod's args; the image's Env, WorkingDir; HOME as for root.
    assert_eq!(f.logs(&pod, query("c")).await, "hello from the image|/srv||/root\n");
}

#[tokio::test]
async fn the_image_user_applies_unless_the_pod_names_one() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("not root: this test did not run");
        return;
    }
    let f = fixture();
    let spec = json!({"restartPolicy": "Never", "containers": [
        {"name": "image", "image": "podshim-all-config:1", "args": ["echo $(id -u):$(id -g)"]},
        {"name": "pod", "image": "podshim-all-config:1", "args": ["echo $(id -u):$(id -g)"],
         "securityContext": {"runAsUser": 0}}]});
    let (runtime, pod) = f.start("p", spec);
    wait_for(&runtime, |s| s["phase"] == "Succeeded").await;
    assert_eq!(f.logs(&pod, query("image")).await, "1000:1000\n");
    assert_eq!(f.logs(&pod, query("pod")).await, "0:0\n");
}

#[tokio::test]
async fn an_image_the_registry_lacks_fails_as_containerd_says() {
    let f = fixture();
    let spec = json!({"containers": [{"name": "c", "image": "nosuch:1"}]});
    let (runtime, _) = f.start("p", spec);
    let status = wait_for(&runtime, waiting("ErrImagePull")).await;
    assert_eq!(
        status["containerStatuses"][0]["state"]["waiting"]["message"],
        "rpc error: code = NotFound desc = failed to pull and unpack image \"docker.io/library/nosuch:1\": failed to \
         resolve reference \"docker.io/library/nosuch:1\": docker.io/library/nosuch:1: not found"
    );
    assert_eq!(status["containerStatuses"][0]["imageID"], "");
    let status = wait_for(&runtime, waiting("ImagePullBackOff")).await;
    assert_eq!(status["containerStatuses"][0]["state"]["waiting"]["message"], "Back-off pulling image \"nosuch:1\"");
    runtime.stop(Duration::ZERO).await;
}

#[tokio::test]
async fn other_registries_are_out_of_reach_and_digests_must_exist() {
    let f = fixture();
    let zero = format!("sha256:{}", "0".repeat(64));
    let spec = json!({"containers": [
        {"name": "ghcr", "image": "ghcr.io/x/y"},
        {"name": "pinned", "image": format!("alpine@{zero}")},
        {"name": "never", "image": "alpine:3.20", "imagePullPolicy": "Never"}]});
    let (runtime, _) = f.start("p", spec);
    let status = wait_for(&runtime, |s| {
        (0..3).all(|i| {
            s["containerStatuses"][i]["state"]["waiting"]["reason"].as_str().is_some_and(|r| r != "ContainerCreating")
        })
    })
    .await;
    let message =
        |i: usize| status["containerStatuses"][i]["state"]["waiting"]["message"].as_str().unwrap_or("").to_string();
    assert!(
        message(0).ends_with(
            "failed to resolve reference \"ghcr.io/x/y:latest\": failed to do request: Head \
         \"https://ghcr.io/v2/x/y/manifests/latest\": dial tcp: lookup ghcr.io: no such host"
        ),
        "{}",
        message(0)
    );
    assert!(message(0).starts_with("rpc error: code = Unknown desc = "), "{}", message(0));
    assert!(message(1).ends_with(&format!("docker.io/library/alpine@{zero}: not found")), "{}", message(1));
    assert_eq!(status["containerStatuses"][2]["state"]["waiting"]["reason"], "ErrImageNeverPull");
    assert_eq!(message(2), "Container image \"alpine:3.20\" is not present with pull policy of Never");
    runtime.stop(Duration::ZERO).await;
}

#[tokio::test]
async fn a_missing_executable_is_a_start_error_like_runcs() {
    let f = fixture();
    let spec = json!({"restartPolicy": "Never", "containers": [
        {"name": "hello", "image": "hello-world"},
        {"name": "name", "image": "alpine", "command": ["no-such-command-here"]}]});
    let (runtime, _) = f.start("p", spec);
    let status = wait_for(&runtime, |s| s["phase"] == "Failed").await;
    let hello = &status["containerStatuses"][0]["state"]["terminated"];
    assert_eq!((hello["reason"].as_str(), hello["exitCode"].as_i64()), (Some("StartError"), Some(128)));
    assert_eq!(hello["startedAt"], "1970-01-01T00:00:00Z");
    assert!(
        hello["message"].as_str().unwrap().ends_with(
            "unable to start container process: exec: \"/hello\": stat /hello: no such file or directory: unknown"
        ),
        "{hello}"
    );
    let name = status["containerStatuses"][1]["state"]["terminated"]["message"].as_str().unwrap().to_string();
    assert!(name.ends_with("exec: \"no-such-command-here\": executable file not found in $PATH: unknown"), "{name}");
}

fn pull_secret(host: &str, user: &str, password: &str) -> Secret {
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let config = json!({"auths": {format!("http://{host}"): {"auth": auth}}});
    let mut secret = Secret { type_: Some("kubernetes.io/dockerconfigjson".into()), ..Default::default() };
    secret.data = Some([(".dockerconfigjson".to_string(), ByteString(config.to_string().into_bytes()))].into());
    secret
}

#[tokio::test]
async fn a_private_registry_needs_matching_pull_secrets() {
    let host = "127.0.0.1:5999";
    let mut registries = Registries::default();
    registries.add(vec![host.to_string()], Registry::private().unwrap());
    let mut cluster = FakeCluster::default();
    cluster.secrets.insert("good".into(), pull_secret(host, PRIVATE_USER, PRIVATE_PASSWORD));
    cluster.secrets.insert("bad".into(), pull_secret(host, PRIVATE_USER, "wrong"));
    let f = fixture_with_registries(cluster, registries);
    let image = format!("{host}/alpine:3.20");
    let bad = json!({"imagePullSecrets": [{"name": "bad"}, {"name": "missing"}], "restartPolicy": "Never",
        "containers": [{"name": "c", "image": image, "command": ["true"]}]});
    let (runtime, _) = f.start("bad", bad);
    let status = wait_for(&runtime, waiting("ErrImagePull")).await;
    assert_eq!(
        status["containerStatuses"][0]["state"]["waiting"]["message"],
        format!(
            "rpc error: code = Unknown desc = failed to pull and unpack image \"{image}\": failed to resolve reference \
             \"{image}\": pulling from host {host} failed with status code [manifests 3.20]: 401 Unauthorized"
        )
    );
    runtime.stop(Duration::ZERO).await;
    let good = json!({"imagePullSecrets": [{"name": "good"}], "restartPolicy": "Never",
        "containers": [{"name": "c", "image": image, "command": ["true"]}]});
    let (runtime, _) = f.start("good", good);
    let status = wait_for(&runtime, terminated).await;
    assert_eq!(status["containerStatuses"][0]["state"]["terminated"]["exitCode"], 0);
    assert_eq!(status["containerStatuses"][0]["image"], image);
}
