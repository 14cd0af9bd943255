//! `HEAD`, `GET` and `PUT /containers/{id}/archive` (`docker cp`).
//!
//! A running container is reached through `pods/exec` running `tar` in it, as `kubectl cp` does:
//! `tar -c -f - -C <parent> <base>` for reading (the stat comes from the first tar header, so no `stat` binary is
//! needed) and `tar -x -f - -C <dir>` for writing. **The image needs `tar` on its `PATH`** (busybox, alpine,
//! debian and most base images have it); without it the copy fails with 500 `podshim: copying needs tar in the
//! image: ...`. No shell is needed.
//!
//! A container that does not run has no pod to exec into: its copies go to and come from its record (see
//! [`before_start`]).

use std::pin::Pin;

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};
use kube::api::{AttachParams, AttachedProcess};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::io::ReaderStream;
use tracing::instrument;

mod before_start;
mod overwrite_check;

use self::overwrite_check::OverwriteCheck;
use crate::error::Error;
use crate::runtime::{Container, Runtime};
use podshim_translate::files::{is_gzip, tar_head_stat, PathStat};
use podshim_translate::labels::MAIN_CONTAINER;

/// A tar stream being read out of a container.
pub type ArchiveStream = Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>;
/// The tar body of a `PUT`, as the client sends it.
pub type UploadStream = Pin<Box<dyn Stream<Item = Result<Bytes, Error>> + Send>>;

/// The query of `PUT /containers/{id}/archive`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PutOptions {
    pub no_overwrite_dir_non_dir: bool,
    pub copy_uid_gid: bool,
}

/// How much of stderr is kept for the error message.
const STDERR_LIMIT: usize = 8 * 1024;

fn check_path(path: &str) -> Result<(), Error> {
    if path.is_empty() {
        return Err(Error::InvalidParameter("path cannot be empty".into()));
    }
    if !path.starts_with('/') {
        return Err(Error::InvalidParameter(format!("path {path:?} must be absolute")));
    }
    Ok(())
}

/// `tar -C <parent> <base>` for a path; `/dir/.` reads the directory's content, `/` the whole tree.
fn parent_and_base(path: &str) -> (String, String, String) {
    if let Some(dir) = path.strip_suffix("/.") {
        let dir = if dir.is_empty() { "/" } else { dir };
        return (dir.to_string(), ".".into(), ".".into());
    }
    let trimmed = path.trim_end_matches('/');
    match trimmed.rsplit_once('/') {
        None | Some((_, "")) => ("/".into(), ".".into(), "/".into()),
        Some((parent, base)) => {
            let parent = if parent.is_empty() { "/" } else { parent };
            (parent.to_string(), base.to_string(), base.to_string())
        }
    }
}

/// `HEAD /containers/{id}/archive`: the stat of `path`.
#[instrument(skip(rt), fields(container.id))]
pub(super) async fn stat(rt: &Runtime, id_or_name: &str, path: &str) -> Result<PathStat, Error> {
    let (stat, _) = read(rt, id_or_name, path, true).await?;
    Ok(stat)
}

/// `GET /containers/{id}/archive`: the stat of `path` and a tar of it.
#[instrument(skip(rt), fields(container.id))]
pub(super) async fn get(rt: &Runtime, id_or_name: &str, path: &str) -> Result<(PathStat, ArchiveStream), Error> {
    let (stat, body) = read(rt, id_or_name, path, false).await?;
    Ok((stat, body.unwrap_or_else(|| Box::pin(futures::stream::empty()))))
}

async fn read(
    rt: &Runtime,
    id_or_name: &str,
    path: &str,
    stat_only: bool,
) -> Result<(PathStat, Option<ArchiveStream>), Error> {
    check_path(path)?;
    let c = rt.resolve(id_or_name)?;
    tracing::Span::current().record("container.id", c.id.as_str());
    let Some(pod_name) = running_pod(&c) else { return before_start::read(rt, &c, path, stat_only).await };
    let (parent, base, name) = parent_and_base(path);
    let command = ["tar", "-c", "-f", "-", "-C", &parent, "--", &base];
    let mut process = exec(rt, &c, &pod_name, &command, false, true).await?;
    let (Some(mut stdout), Some(stderr)) = (process.stdout(), process.stderr()) else {
        return Err(Error::CopyFailed("podshim: the exec into the container has no output".into()));
    };
    let errors = tokio::spawn(read_stderr(stderr));
    let mut head = BytesMut::new();
    let stat = loop {
        let ended = match tar_head_stat(&head, &name) {
            Ok(Some(stat)) => break stat,
            Ok(None) => {
                let mut chunk = [0u8; 8192];
                let n = stdout.read(&mut chunk).await.unwrap_or(0);
                head.extend_from_slice(&chunk[..n]);
                (n == 0).then(|| "the archive ended early".to_string())
            }
            // GNU tar writes an empty archive (and fails) for a missing path.
            Err(why) => Some(why),
        };
        if let Some(why) = ended {
            let _ = tokio::io::copy(&mut stdout, &mut tokio::io::sink()).await;
            let stderr = errors.await.unwrap_or_default();
            let message = match process.take_status() {
                Some(s) => s.await.and_then(|s| s.message).unwrap_or_default(),
                None => String::new(),
            };
            let message = if stderr.is_empty() && message.is_empty() { why } else { message };
            return Err(tar_error(&c, path, &stderr, &message, false));
        }
    };
    if stat_only {
        process.abort();
        return Ok((stat, None));
    }
    let rest = ReaderStream::new(stdout);
    // The process travels with the stream: dropping it would end the exec.
    let keep = futures::stream::once(async move {
        drop(process);
        Ok::<Bytes, std::io::Error>(Bytes::new())
    });
    let body = futures::stream::once(async move { Ok(head.freeze()) }).chain(rest).chain(keep);
    Ok((stat, Some(Box::pin(body.filter(|b| futures::future::ready(!matches!(b, Ok(b) if b.is_empty())))))))
}

/// `PUT /containers/{id}/archive`: extracts a tar (plain or gzip) into the directory `path`.
///
/// - Ownership, as Docker: the archive's owners are kept (tar run as root keeps them), except with `copyUIDGID`
///   in a container whose `User` is set, where the files belong to that user (tar `-o`, run as that user, which
///   is who a Kubernetes exec runs as). A container running as a non-root user cannot keep other owners: its tar
///   cannot chown.
/// - `noOverwriteDirNonDir`: each entry is judged before tar receives it ([`overwrite_check`]); without
///   it, the image's tar decides (GNU and busybox tar replace a file with a directory, but refuse to replace a
///   non-empty directory with a file, where Docker would replace it).
#[instrument(skip(rt, body), fields(container.id))]
pub(super) async fn put(
    rt: &Runtime,
    id_or_name: &str,
    path: &str,
    options: PutOptions,
    body: UploadStream,
) -> Result<(), Error> {
    check_path(path)?;
    let c = rt.resolve(id_or_name)?;
    tracing::Span::current().record("container.id", c.id.as_str());
    let Some(pod_name) = running_pod(&c) else { return before_start::put(rt, &c, path, body).await };
    // The extraction point is checked before any of the body is sent: a tar that fails at once would leave
    // the upload waiting for a reader. 404 when it is missing; 400 when it is neither a directory nor a link
    // (which tar follows).
    let target = stat(rt, &c.id, path).await?;
    if !target.is_dir() && target.link_target.is_empty() {
        return Err(Error::InvalidParameter("extraction point is not a directory".into()));
    }
    let check = match options.no_overwrite_dir_non_dir {
        true => Some(OverwriteCheck::start(rt, &c, &pod_name, path).await?),
        false => None,
    };
    let mut command = vec!["tar", "-x", "-f", "-", "-C", path];
    let user_set = c.create_body().ok().and_then(|b| b.user.clone()).is_some_and(|u| !u.is_empty());
    if options.copy_uid_gid && user_set {
        command.push("-o");
    }
    let mut process = exec(rt, &c, &pod_name, &command, true, false).await?;
    let (Some(stdin), Some(stderr)) = (process.stdin(), process.stderr()) else {
        return Err(Error::CopyFailed("podshim: the exec into the container has no stdin".into()));
    };
    let errors = tokio::spawn(read_stderr(stderr));
    let status = process.take_status();
    let status = async move {
        match status {
            Some(s) => s.await,
            None => None,
        }
    };
    tokio::pin!(status);
    // tar may end before reading everything (a missing directory): its status then ends the upload, since the
    // exec's stdin pipe would otherwise wait for a reader forever. An upload podshim refuses midway (a bad body,
    // an overwrite) stops tar: it would otherwise wait for the rest.
    let mut body = body;
    let (pumped, status) = tokio::select! {
        pumped = pump(&mut body, stdin, check) => match pumped {
            Ok(()) => (Ok(()), status.await),
            // tar stopped reading: its status and stderr say why.
            Err(Pumped::TarGone(err)) => (Err(err), status.await),
            Err(Pumped::Refused(refused)) => {
                process.abort();
                return Err(drained(body, refused).await);
            }
        },
        status = &mut status => (Ok(()), status),
    };
    let stderr = errors.await.unwrap_or_default();
    let failed = status.as_ref().is_some_and(|s| s.status.as_deref() == Some("Failure"));
    if failed || !stderr.is_empty() && pumped.is_err() {
        let message = status.and_then(|s| s.message).unwrap_or_default();
        return Err(drained(body, tar_error(&c, path, &stderr, &message, true)).await);
    }
    match pumped {
        Ok(()) => Ok(()),
        Err(err) => Err(drained(body, err).await),
    }
}

/// `error`, once the rest of the upload was read and dropped: a client still sending its body when the answer
/// comes (the docker CLI) would otherwise see a broken pipe instead of the error, where Docker lets it finish.
async fn drained(mut body: UploadStream, error: Error) -> Error {
    while let Some(Ok(_)) = body.next().await {}
    error
}

/// Why an upload stopped before its end.
enum Pumped {
    /// Writing to tar failed: tar has ended.
    TarGone(Error),
    /// podshim refused the upload (a body it cannot read, an overwrite `noOverwriteDirNonDir` forbids).
    Refused(Error),
}

/// Copies the upload into tar's stdin, un-gzipping it when it starts with the gzip magic, and through `check`
/// when there is one.
async fn pump(
    body: &mut UploadStream,
    mut stdin: impl tokio::io::AsyncWrite + Unpin,
    mut check: Option<OverwriteCheck>,
) -> Result<(), Pumped> {
    let pumped = pump_through(body, &mut stdin, check.as_mut()).await;
    if let Some(check) = check {
        check.close().await;
    }
    pumped?;
    stdin.shutdown().await.map_err(broken_pipe)
}

fn broken_pipe(e: std::io::Error) -> Pumped {
    Pumped::TarGone(Error::CopyFailed(format!("podshim: writing to tar in the container: {e}")))
}

async fn pump_through(
    body: &mut UploadStream,
    stdin: &mut (impl tokio::io::AsyncWrite + Unpin),
    mut check: Option<&mut OverwriteCheck>,
) -> Result<(), Pumped> {
    let bad_gzip = |e: std::io::Error| Pumped::Refused(Error::InvalidParameter(format!("bad gzip body: {e}")));
    let mut gunzip: Option<flate2::write::GzDecoder<Vec<u8>>> = None;
    let mut first = true;
    loop {
        let next = body.next().await.transpose().map_err(Pumped::Refused)?;
        let ended = next.is_none();
        let chunk = next.unwrap_or_default();
        if first && !chunk.is_empty() {
            first = false;
            if is_gzip(&chunk) {
                gunzip = Some(flate2::write::GzDecoder::new(Vec::new()));
            }
        }
        let plain = match gunzip.as_mut() {
            Some(decoder) => {
                std::io::Write::write_all(decoder, &chunk).map_err(bad_gzip)?;
                if ended {
                    decoder.try_finish().map_err(bad_gzip)?;
                }
                Bytes::from(std::mem::take(decoder.get_mut()))
            }
            None => chunk,
        };
        let out = match check.as_deref_mut() {
            Some(check) => check.pass(&plain, ended).await.map_err(Pumped::Refused)?,
            None => plain,
        };
        stdin.write_all(&out).await.map_err(broken_pipe)?;
        if ended {
            return Ok(());
        }
    }
}

/// The pod to exec into, when the container runs.
fn running_pod(c: &Container) -> Option<String> {
    c.state().is_running().then(|| c.pod.as_ref().and_then(|p| p.metadata.name.clone())).flatten()
}

/// Runs `command` in the container's main container, with stdin and stdout as asked (stderr always).
pub(super) async fn exec(
    rt: &Runtime,
    c: &Container,
    pod: &str,
    command: &[&str],
    stdin: bool,
    stdout: bool,
) -> Result<AttachedProcess, Error> {
    let params = AttachParams::default()
        .container(MAIN_CONTAINER)
        .stdin(stdin)
        .stdout(stdout)
        .stderr(true)
        .max_stdin_buf_size(64 * 1024)
        .max_stdout_buf_size(64 * 1024);
    rt.pods_api().exec(pod, command.iter().copied(), &params).await.map_err(|err| match err {
        kube::Error::Api(status) if status.code == 400 || status.code == 404 => {
            Error::Conflict(format!("Container {} is not running", c.id))
        }
        err => Error::kubernetes("starting tar in the container", err),
    })
}

async fn read_stderr(mut stderr: impl tokio::io::AsyncRead + Unpin) -> String {
    let mut out = Vec::new();
    let mut chunk = [0u8; 4096];
    while let Ok(n) = stderr.read(&mut chunk).await {
        if n == 0 {
            break;
        }
        if out.len() < STDERR_LIMIT {
            out.extend_from_slice(&chunk[..n]);
        }
    }
    String::from_utf8_lossy(&out).trim().to_string()
}

/// The client's error for a failed tar: a missing path is Docker's 404, a file where a directory is needed
/// Docker's 400, a missing tar binary says what the image needs.
fn tar_error(c: &Container, path: &str, stderr: &str, status_message: &str, extracting: bool) -> Error {
    let all = format!("{stderr} {status_message}");
    if status_message.contains("executable file not found") || status_message.contains("no such file or directory") {
        return Error::CopyFailed(format!("podshim: copying needs tar in the image: {status_message}"));
    }
    if extracting && all.contains("Not a directory") {
        return Error::InvalidParameter("extraction point is not a directory".into());
    }
    if all.contains("No such file or directory") || all.contains("Not a directory") {
        return Error::NoSuchPath { path: path.to_string(), container: c.name.clone() };
    }
    let detail = if stderr.is_empty() { status_message } else { stderr };
    Error::CopyFailed(format!("podshim: tar failed in the container: {detail}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_into_tar_directory_and_entry() {
        let split = |p| parent_and_base(p);
        assert_eq!(split("/etc/passwd"), ("/etc".into(), "passwd".into(), "passwd".into()));
        assert_eq!(split("/tmp/"), ("/".into(), "tmp".into(), "tmp".into()));
        assert_eq!(split("/data/."), ("/data".into(), ".".into(), ".".into()));
        assert_eq!(split("/"), ("/".into(), ".".into(), "/".into()));
    }
}
