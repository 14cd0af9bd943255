//! The copy in: before the pod is made, the copied binds are measured against `--bind-copy-limit` ([`plan`]);
//! once the pod's init container [`COPY_IN_CONTAINER`] runs, their tar goes to its stdin through `pods/attach`
//! ([`upload`]); the container's command starts when tar in it has unpacked everything.

use k8s_openapi::api::core::v1::ContainerState;
use kube::api::AttachParams;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::host_tar;
use crate::error::Error;
use crate::runtime::Runtime;
use podshim_translate::binds::{COPY_IN_COMPLETE, COPY_IN_CONTAINER};
use podshim_translate::mounts::ContainerMount;

/// What a start copies in: the tar, already written (so its length is known).
pub(crate) struct UploadPlan {
    tar: tempfile::NamedTempFile,
}

/// The copied binds of a start, measured and written to a temporary file: `None` when there are none; a 400
/// naming the limit when they hold more than `--bind-copy-limit`, or when they cannot be read.
pub(crate) async fn plan(rt: &Runtime, mounts: &[ContainerMount]) -> Result<Option<UploadPlan>, Error> {
    let binds = super::host_binds(mounts);
    if binds.is_empty() {
        return Ok(None);
    }
    let limit = rt.options().binds.copy_limit;
    let written = tokio::task::spawn_blocking(move || -> Result<tempfile::NamedTempFile, Option<std::io::Error>> {
        host_tar::measure(&binds, limit)?;
        let mut tar = tempfile::NamedTempFile::new().map_err(Some)?;
        host_tar::write(&binds, COPY_IN_COMPLETE, std::io::BufWriter::new(tar.as_file_mut())).map_err(Some)?;
        Ok(tar)
    })
    .await
    .map_err(|e| Error::Internal(format!("writing the bind mounts' files: {e}")))?;
    match written {
        Ok(tar) => Ok(Some(UploadPlan { tar })),
        Err(None) => Err(Error::InvalidParameter(format!(
            "the bind mounts' files are more than the copy limit of {limit} bytes (--bind-copy-limit): podshim \
             copies a bind into the pod and back; map the directory onto a claim with --bind-map, or raise the limit"
        ))),
        Err(Some(e)) => Err(Error::InvalidParameter(format!("the bind mounts' files cannot be read: {e}"))),
    }
}

/// The state of the pod's copy-in container: `None` while it has none.
fn copy_in_state(rt: &Runtime, pod: &str) -> Option<Option<ContainerState>> {
    rt.cache().read(|index| {
        let pod = index.pod(pod)?;
        let statuses = pod.status.as_ref()?.init_container_statuses.as_ref()?;
        Some(statuses.iter().find(|s| s.name == COPY_IN_CONTAINER).and_then(|s| s.state.clone()))
    })
}

/// Waits on the shared watch until the copy-in container runs (`Ok(true)`) or has ended (`Ok(false)`).
async fn wait_copy_in(rt: &Runtime, pod: &str, running: bool) -> Result<bool, String> {
    // The watch may not show the new pod yet; once it has, its disappearance ends the wait.
    let mut seen = false;
    rt.cache()
        .wait_for(|index| {
            let Some(p) = index.pod(pod) else {
                return seen.then(|| Err("the pod was deleted before the bind mounts were copied in".to_string()));
            };
            seen = true;
            let statuses = p.status.as_ref().and_then(|s| s.init_container_statuses.as_ref());
            let state = statuses.and_then(|all| all.iter().find(|s| s.name == COPY_IN_CONTAINER))?.state.as_ref()?;
            if state.terminated.is_some() {
                return Some(Ok(false));
            }
            (running && state.running.is_some()).then_some(Ok(true))
        })
        .await
}

/// Sends the copied binds into the pod; `Err` with the start error when they could not be copied.
pub(crate) async fn upload(rt: &Runtime, pod: &str, plan: UploadPlan) -> Result<(), String> {
    if !wait_copy_in(rt, pod, true).await? {
        return Err(copy_in_failure(rt, pod, ""));
    }
    let params = AttachParams::default()
        .container(COPY_IN_CONTAINER)
        .stdin(true)
        .stdout(false)
        .stderr(true)
        .max_stdin_buf_size(64 * 1024);
    let mut session = rt
        .pods_api()
        .attach(pod, &params)
        .await
        .map_err(|e| format!("podshim could not reach the pod to copy the bind mounts in: {e}"))?;
    let mut stdin = session.stdin().ok_or("the copy-in session has no stdin")?;
    let stderr = session.stderr();
    let sent = async {
        let mut file = tokio::fs::File::open(plan.tar.path()).await?;
        let length = file.metadata().await?.len();
        stdin.write_all(format!("{length}\n").as_bytes()).await?;
        tokio::io::copy(&mut file, &mut stdin).await?;
        stdin.flush().await
    };
    sent.await.map_err(|e| format!("copying the bind mounts into the pod: {e}"))?;
    // The copy in ends after the announced length: nothing needs to close its stdin (see its command).
    wait_copy_in(rt, pod, false).await?;
    let mut message = String::new();
    if let Some(mut stderr) = stderr {
        let mut buf = Vec::new();
        let mut limited = (&mut stderr).take(4096);
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), limited.read_to_end(&mut buf)).await;
        message = String::from_utf8_lossy(&buf).trim().to_string();
    }
    drop((stdin, session, plan));
    match copy_in_state(rt, pod).flatten().and_then(|s| s.terminated) {
        Some(t) if t.exit_code == 0 => Ok(()),
        _ => Err(copy_in_failure(rt, pod, &message)),
    }
}

fn copy_in_failure(rt: &Runtime, pod: &str, stderr: &str) -> String {
    let ended = copy_in_state(rt, pod).flatten().and_then(|s| s.terminated);
    let how = match ended {
        Some(t) => format!("exit code {}{}", t.exit_code, t.message.map(|m| format!(": {m}")).unwrap_or_default()),
        None => "it did not run".to_string(),
    };
    let detail = if stderr.is_empty() { String::new() } else { format!(": {stderr}") };
    format!(
        "copying the bind mounts into the container failed ({how}{detail}; the copy runs tar in --helper-image {})",
        rt.options().helper_image
    )
}
