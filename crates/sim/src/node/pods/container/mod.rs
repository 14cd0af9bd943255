//! Running one container of a pod: the image pull, the environment, the process, its output into
//! the CRI log, and the restart policy with back-off.
//!
//! Restart back-off: 1 s after the first failure, doubling per consecutive failure, capped at
//! 10 s (a real kubelet starts at 10 s and caps at 5 minutes; shorter here so tests and demos
//! do not wait). A container that exits 0 under `restartPolicy: Always` restarts after the first
//! back-off step.

mod pull;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tokio::io::AsyncReadExt;
use tokio_util::sync::CancellationToken;

use super::{ContainerRuntime, PodRuntime};
use crate::node::attempt::{Attempt, StdinSink};
use crate::node::env;
use crate::node::image::ImageInfo;
use crate::node::image_config;
use crate::node::logfile::StreamKind;
use crate::node::mounts;
use crate::node::process::{self, SpawnSpec};
use crate::node::rootfs::{BindMount, RootFs};
use crate::node::status::{State, Terminated};

/// Sleeps `delay`; true if the pod started stopping meanwhile.
pub async fn sleep_or_stop(stop: &CancellationToken, delay: Duration) -> bool {
    tokio::select! {
        _ = stop.cancelled() => true,
        _ = tokio::time::sleep(delay) => stop.is_cancelled(),
    }
}

pub(super) fn backoff(pod: &PodRuntime, failures: u32) -> Duration {
    let factor = 2u32.saturating_pow(failures.saturating_sub(1));
    pod.ctx.backoff.saturating_mul(factor).min(pod.ctx.max_backoff)
}

/// Runs the container until its restart policy says it is done or the pod stops; returns the last exit code.
pub async fn supervise(pod: &Arc<PodRuntime>, c: &Arc<ContainerRuntime>) -> Option<i32> {
    let mut failures = 0u32;
    let mut last_code = None;
    while !pod.stopping.is_cancelled() {
        let info = pull::until_pulled(pod, c, &mut failures).await?;
        c.update(|r| {
            r.image = info.image.clone();
            r.image_id = info.image_id.clone();
        });
        let prepared = match prepare(pod, c, &info).await {
            Ok(prepared) => prepared,
            Err((reason, message)) => {
                failures += 1;
                set_waiting(pod, c, reason, Some(message));
                if sleep_or_stop(&pod.stopping, backoff(pod, failures)).await {
                    return None;
                }
                continue;
            }
        };
        let code = run_once(pod, c, prepared).await;
        last_code = Some(code);
        if pod.stopping.is_cancelled() {
            break;
        }
        let policy = pod.restart_policy.as_str();
        let done = if c.init {
            code == 0 || policy == "Never"
        } else {
            policy == "Never" || (policy == "OnFailure" && code == 0)
        };
        if done {
            break;
        }
        failures = if code != 0 { failures + 1 } else { 0 };
        let delay = backoff(pod, failures.max(1));
        let message = format!(
            "back-off {}s restarting failed container={} pod={}_{}({})",
            delay.as_secs().max(1),
            c.name(),
            pod.name,
            pod.namespace,
            pod.uid
        );
        c.update(|r| {
            r.last_state = Some(r.state.clone());
            r.state = State::waiting("CrashLoopBackOff", Some(message));
        });
        pod.notify();
        if sleep_or_stop(&pod.stopping, delay).await {
            break;
        }
        c.update(|r| r.restart_count += 1);
    }
    pod.notify();
    last_code
}

pub(super) fn set_waiting(pod: &PodRuntime, c: &ContainerRuntime, reason: &str, message: Option<String>) {
    c.update(|r| r.state = State::waiting(reason, message));
    pod.notify();
}

/// Builds the process's spawn spec, with what the image's config decides where the pod spec does not;
/// the error is a waiting `(reason, message)`.
pub async fn prepare(
    pod: &PodRuntime,
    c: &ContainerRuntime,
    image: &ImageInfo,
) -> Result<SpawnSpec, (&'static str, String)> {
    let mut pod_object = pod.pod();
    if let Some(ip) = pod.pod_ip() {
        pod_object.status.get_or_insert_with(Default::default).pod_ip = Some(ip);
    }
    let image_env = image_config::env(&image.config);
    let environment = env::build(&pod_object, &c.spec, &image_env, pod.cluster.as_ref())
        .await
        .map_err(|m| ("CreateContainerConfigError", m))?;
    let mounts =
        pod.volumes.lock().map_err(|_| ("CreateContainerError", "volumes lock poisoned".to_string())).and_then(
            |v| mounts::container_mounts(&c.spec, &v, pod.ctx.isolated).map_err(|m| ("CreateContainerError", m)),
        )?;
    let root = pod.ctx.isolated.then(|| RootFs { layer_dir: c.dir.clone(), hide: pod.ctx.data_dir.clone() });
    let mut mounts = mounts;
    let hosts = pod.hosts_path();
    if root.is_some() && hosts.is_file() {
        let hosts = BindMount { source: hosts, target: "/etc/hosts".into(), read_only: false, is_file: true };
        mounts.insert(0, hosts);
    }
    let spec_ctx = pod_object.spec.as_ref().and_then(|s| s.security_context.clone()).unwrap_or_default();
    let ctx = c.spec.security_context.clone().unwrap_or_default();
    let image_user = image_config::user(&image.config).map_err(|m| ("CreateContainerError", m))?;
    let uid = ctx.run_as_user.or(spec_ctx.run_as_user).and_then(|u| u32::try_from(u).ok());
    let gid = ctx.run_as_group.or(spec_ctx.run_as_group).and_then(|g| u32::try_from(g).ok());
    // The image's user counts only where the pod names none (its group only with its user).
    let (uid, gid) = match (uid, image_user) {
        (None, Some((image_uid, image_gid))) => (Some(image_uid), gid.or(image_gid)),
        _ => (uid, gid),
    };
    let mut groups: Vec<u32> = Vec::new();
    groups.extend(gid);
    groups.extend(spec_ctx.fs_group.and_then(|g| u32::try_from(g).ok()));
    groups.extend(spec_ctx.supplemental_groups.iter().flatten().filter_map(|g| u32::try_from(*g).ok()));
    if gid.is_none() && uid.is_none() && !groups.is_empty() {
        // The process keeps the node's group as its own, with the pod's groups as supplementary ones.
        groups.insert(0, nix::unistd::getgid().as_raw());
    }
    // `$(VAR)` is expanded in the pod's command and args only, not in the image's.
    let expand = |list: &Option<Vec<String>>| list.as_ref().map(|l| env::expand_all(l, &environment));
    let argv = image_config::command_line(&expand(&c.spec.command), &expand(&c.spec.args), &image.config);
    if argv.is_empty() {
        return Err(("CreateContainerError", "failed to generate container spec: no command specified".to_string()));
    }
    let wanted_dir =
        c.spec.working_dir.clone().filter(|d| !d.is_empty()).or_else(|| image_config::working_dir(&image.config));
    Ok(SpawnSpec {
        argv,
        env: environment.vars().to_vec(),
        cwd: working_dir(wanted_dir.as_deref(), &pod.dir, root.is_some()),
        uid,
        gid,
        groups,
        tty: c.spec.tty == Some(true),
        stdin: c.spec.stdin == Some(true),
        root,
        mounts,
        join_mounts_of: None,
        netns: pod.netns(),
    })
}

/// `workingDir`; without one, `/`, the working directory of an image that sets no `WORKDIR`. In a root of
/// the container's own (`isolated`) a missing one is created, as Docker does; without one, a `workingDir`
/// missing on this machine falls back to the pod's directory.
pub fn working_dir(wanted: Option<&str>, pod_dir: &std::path::Path, isolated: bool) -> PathBuf {
    match wanted {
        Some(dir) if isolated || std::path::Path::new(dir).is_dir() => PathBuf::from(dir),
        Some(_) => pod_dir.to_path_buf(),
        None => PathBuf::from("/"),
    }
}

/// A container ID in the `<runtime>://<64 hex>` form; the runtime is `sim`, so nobody mistakes it
/// for a containerd container.
fn new_container_id() -> String {
    format!("sim://{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
}

/// Starts one attempt and waits for it; returns the exit code.
async fn run_once(pod: &PodRuntime, c: &ContainerRuntime, spec: SpawnSpec) -> i32 {
    let index = c.attempts().len();
    let container_id = new_container_id();
    let attempt = match Attempt::create(c.dir.join(format!("{index}.log"))) {
        Ok(a) => a,
        Err(error) => return start_failed(pod, c, &container_id, None, &spec, &error),
    };
    if let Ok(mut attempts) = c.attempts.lock() {
        attempts.push(attempt.clone());
    }
    let started_at = Timestamp::now();
    let spawned = match pod.ctx.procs.spawn(&spec) {
        Ok(s) => s,
        Err(error) => return start_failed(pod, c, &container_id, Some(&attempt), &spec, &error),
    };
    let pid = spawned.pid;
    process::record(&c.dir.join(format!("{index}.pid")), pid);
    let mut exec_context = spec.clone();
    if spec.root.is_some() {
        exec_context.root = None;
        exec_context.mounts.clear();
        exec_context.join_mounts_of = Some(pid);
    }
    if let Ok(mut slot) = attempt.context.lock() {
        *slot = Some(exec_context);
    }
    if let Ok(mut slot) = attempt.pid.lock() {
        *slot = Some(pid);
    }
    let mut pumps = Vec::new();
    if let Some(master) = spawned.pty {
        let master = Arc::new(master);
        if let Ok(file) = master.try_clone() {
            attempt.set_stdin(Some(StdinSink::Pty(std::fs::File::from(file)))).await;
        }
        if let Ok(mut slot) = attempt.pty.lock() {
            *slot = Some(master.clone());
        }
        if let Ok(reader) = master.try_clone() {
            let target = attempt.clone();
            pumps.push(tokio::task::spawn_blocking(move || {
                use std::io::Read;
                let mut file = std::fs::File::from(reader);
                let mut buf = vec![0u8; 32 * 1024];
                while let Ok(n) = file.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    target.write(StreamKind::Stdout, &buf[..n]);
                }
            }));
        }
    } else {
        if let Some(stdin) = spawned.stdin {
            attempt.set_stdin(Some(StdinSink::Pipe(stdin))).await;
        }
        if let Some(out) = spawned.stdout {
            pumps.push(tokio::spawn(pump(out, attempt.clone(), StreamKind::Stdout)));
        }
        if let Some(err) = spawned.stderr {
            pumps.push(tokio::spawn(pump(err, attempt.clone(), StreamKind::Stderr)));
        }
    }
    c.update(|r| {
        r.state = State::Running { started_at };
        // An init container is ready once it completed; a container without probes while it runs.
        r.ready = !c.init;
        r.started = true;
        r.container_id = container_id.clone();
    });
    pod.notify();
    let mut child = spawned.child;
    let status = child.wait().await;
    if let Ok(mut slot) = attempt.pid.lock() {
        slot.take();
    }
    // The container ends with its main process: whatever it left running in its group goes too.
    process::signal_group(pid, nix::sys::signal::Signal::SIGKILL);
    let (code, signal) = match status {
        Ok(status) => process::exit_code(status),
        Err(error) => {
            tracing::warn!(%error, "waiting for the container process failed");
            (255, None)
        }
    };
    let all_pumps = futures::future::join_all(pumps);
    if tokio::time::timeout(Duration::from_secs(2), all_pumps).await.is_err() {
        tracing::debug!("output of an ended container still open; not waiting for it");
    }
    attempt.set_stdin(None).await;
    attempt.finish(code);
    pod.ctx.procs.remove(pid);
    c.update(|r| {
        r.state = State::Terminated(Terminated {
            exit_code: code,
            signal,
            reason: if code == 0 { "Completed" } else { "Error" }.to_string(),
            message: None,
            started_at: Some(started_at),
            finished_at: Timestamp::now(),
            container_id: container_id.clone(),
        });
        r.ready = c.init && code == 0;
        r.started = false;
    });
    pod.notify();
    code
}

async fn pump(mut reader: impl tokio::io::AsyncRead + Unpin, attempt: Arc<Attempt>, stream: StreamKind) {
    let mut buf = vec![0u8; 32 * 1024];
    while let Ok(n) = reader.read(&mut buf).await {
        if n == 0 {
            break;
        }
        attempt.write(stream, &buf[..n]);
    }
}

/// The process could not start: `StartError` with exit code 128 and containerd's wording.
fn start_failed(
    pod: &PodRuntime,
    c: &ContainerRuntime,
    container_id: &str,
    attempt: Option<&Arc<Attempt>>,
    spec: &SpawnSpec,
    error: &std::io::Error,
) -> i32 {
    let program = spec.argv.first().cloned().unwrap_or_default();
    // runc looks a name up in $PATH, and stats a path.
    let detail = match (error.kind(), program.contains('/')) {
        (std::io::ErrorKind::NotFound, false) => format!("exec: {program:?}: executable file not found in $PATH"),
        (std::io::ErrorKind::NotFound, true) => format!("exec: {program:?}: stat {program}: no such file or directory"),
        (std::io::ErrorKind::PermissionDenied, _) => format!("exec: {program:?}: permission denied"),
        _ => format!("exec: {program:?}: {error}"),
    };
    let message = format!(
        "failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create \
         failed: unable to start container process: {detail}: unknown"
    );
    if let Some(attempt) = attempt {
        attempt.finish(128);
    }
    let now = Timestamp::now();
    c.update(|r| {
        r.state = State::Terminated(Terminated {
            exit_code: 128,
            signal: None,
            reason: "StartError".to_string(),
            message: Some(message),
            // containerd reports a task that never started as started at the Unix epoch.
            started_at: Some(Timestamp::UNIX_EPOCH),
            finished_at: now,
            container_id: container_id.to_string(),
        });
        r.container_id = container_id.to_string();
        r.ready = false;
    });
    pod.notify();
    128
}
