//! `HEAD`, `GET` and `PUT /containers/{id}/archive` (`docker cp`).
//!
//! A running container is reached through `pods/exec` running `tar` in it, as `kubectl cp` does:
//! `tar -c -f - -C <parent> <base>` for reading (the stat comes from the first tar header, so no `stat` binary is
//! needed) and `tar -x -f - -C <dir>` for writing. **The image needs `tar` on its `PATH`** (busybox, alpine,
//! debian and most base images have it); without it the copy fails with 500 `podshim: copying needs tar in the
//! image: ...`. No shell is needed.
//!
//! A created container has no pod to exec into: its copies go to and come from its record (see
//! [`before_start`]). A container that ran and is not running any more (exited, stopped) has lost its
//! filesystem with its pod, but not its volumes: a path on one is reached through a short-lived helper pod that
//! mounts the claims (see [`helper`]); any other path is refused with 409.

use std::pin::Pin;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};
use kube::api::{AttachParams, AttachedProcess};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::io::ReaderStream;
use tracing::instrument;

mod before_start;
mod helper;
mod overwrite_check;

pub(crate) use helper::sweep as sweep_helpers;

use self::overwrite_check::OverwriteCheck;
use crate::error::Error;
use crate::runtime::{Container, Runtime};
use podshim_translate::archive_helper::{gone_message, reach, read_only, Reach, HELPER_ROOT, READ_ONLY_VOLUME};
use podshim_translate::files::{check_archive_path, is_gzip, tar_head_stat, PathStat};
use podshim_translate::labels::MAIN_CONTAINER;
use podshim_translate::mounts;
use podshim_translate::state::Status;
use podshim_translate::tar_entries::UploadCheck;

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

/// The path checked and cleaned (see [`check_archive_path`]).
fn check_path(path: &str) -> Result<String, Error> {
    Ok(check_archive_path(path)?)
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
pub(super) async fn stat(rt: &Runtime, c: &Container, path: &str) -> Result<PathStat, Error> {
    let (stat, _) = read(rt, c, path, true).await?;
    Ok(stat)
}

/// `GET /containers/{id}/archive`: the stat of `path` and a tar of it.
#[instrument(skip(rt), fields(container.id))]
pub(super) async fn get(rt: &Runtime, c: &Container, path: &str) -> Result<(PathStat, ArchiveStream), Error> {
    let (stat, body) = read(rt, c, path, false).await?;
    Ok((stat, body.unwrap_or_else(|| Box::pin(futures::stream::empty()))))
}

async fn read(
    rt: &Runtime,
    c: &Container,
    path: &str,
    stat_only: bool,
) -> Result<(PathStat, Option<ArchiveStream>), Error> {
    let path = &check_path(path)?;
    tracing::Span::current().record("container.id", c.id.as_str());
    let Some(place) = place(rt, c, path, false, "").await? else {
        return before_start::read(rt, c, path, stat_only).await;
    };
    read_at(rt, c, place, path, stat_only).await
}

/// Where tar runs: the container's own pod, or a helper that mounts its volumes under [`HELPER_ROOT`] (and is
/// deleted when this is dropped).
struct Place {
    pod: String,
    root: &'static str,
    helper: Option<helper::Helper>,
}

impl Place {
    /// A path as tar sees it.
    fn path(&self, path: &str) -> String {
        format!("{}{path}", self.root)
    }

    /// tar's words with the helper's root taken out, so they name the container's paths.
    fn words(&self, text: &str) -> String {
        if self.root.is_empty() {
            text.to_string()
        } else {
            text.replace(self.root, "")
        }
    }
}

/// Where a copy of `path` runs: the running container; `None` for a created container (its record); a helper
/// for a path on a volume of a container that ran (read-write for a `PUT`, run as `user`); else 409.
async fn place(rt: &Runtime, c: &Container, path: &str, write: bool, user: &str) -> Result<Option<Place>, Error> {
    if let Some(pod) = running_pod(c) {
        return Ok(Some(Place { pod, root: "", helper: None }));
    }
    if c.pod.is_none() || c.state().status == Status::Created {
        return Ok(None);
    }
    let all = mounts::from_annotations(c.record.metadata.annotations.as_ref())?;
    let needed = match reach(&all, path) {
        Reach::Volume(needed) => needed,
        Reach::Gone => return Err(Error::Conflict(gone_message(&c.name, path, &all))),
    };
    if write && read_only(&needed, path) {
        return Err(Error::Rejected(READ_ONLY_VOLUME.to_string()));
    }
    let helper = helper::start(rt, c, &needed, write, user).await?;
    Ok(Some(Place { pod: helper.name.clone(), root: HELPER_ROOT, helper: Some(helper) }))
}

/// The stat (and unless `stat_only`, a tar) of `path`, read by tar at `place`. The tar stream holds the place,
/// so a helper lives as long as the stream.
async fn read_at(
    rt: &Runtime,
    c: &Container,
    mut place: Place,
    path: &str,
    stat_only: bool,
) -> Result<(PathStat, Option<ArchiveStream>), Error> {
    let (parent, base, name) = parent_and_base(path);
    let parent = place.path(&parent);
    let command = ["tar", "-c", "-f", "-", "-C", &parent, "--", &base];
    let mut process = exec(rt, c, &place.pod, &command, false, true).await?;
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
            return Err(tar_error(c, path, &place.words(&stderr), &place.words(&message)));
        }
    };
    if stat_only {
        process.abort();
        return Ok((stat, None));
    }
    let rest = ReaderStream::new(stdout);
    // The process (and the helper) travel with the stream: dropping them would end the exec.
    let helper = place.helper.take();
    let keep = futures::stream::once(async move {
        drop(process);
        drop(helper);
        Ok::<Bytes, std::io::Error>(Bytes::new())
    });
    let body = futures::stream::once(async move { Ok(head.freeze()) }).chain(rest).chain(keep);
    Ok((stat, Some(Box::pin(body.filter(|b| futures::future::ready(!matches!(b, Ok(b) if b.is_empty())))))))
}

/// `PUT /containers/{id}/archive`: extracts a tar (plain or gzip) into the directory `path`.
///
/// - The upload is checked as it passes, before tar sees it ([`UploadCheck`]): a block that is not a tar header,
///   an entry outside the directory (`../`) or an archive cut short is the client's mistake (400), never a tar
///   error read from its stderr. Nothing after the end-of-archive blocks is sent: tar stops reading there.
/// - Every wait is bounded: a tar that stops reading for [`STALL`] ends the copy (500), and so does a tar whose
///   exit status does not come within [`STALL`] after the upload.
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
    c: &Container,
    path: &str,
    options: PutOptions,
    body: UploadStream,
) -> Result<(), Error> {
    let path = &check_path(path)?;
    tracing::Span::current().record("container.id", c.id.as_str());
    let user = c.create_body().ok().and_then(|b| b.user.clone()).unwrap_or_default();
    let owned_by_user = options.copy_uid_gid && !user.is_empty();
    // A helper runs tar as the container's user where the container's own tar would (`copyUIDGID`).
    let helper_user = if owned_by_user { user.as_str() } else { "" };
    let Some(place) = place(rt, c, path, true, helper_user).await? else {
        return before_start::put(rt, c, path, body).await;
    };
    let pod_name = place.pod.clone();
    // The extraction point is checked before any of the body is sent: 404 when it is missing; 400 when it is
    // neither a directory nor a link (which tar follows).
    let at = Place { pod: pod_name.clone(), root: place.root, helper: None };
    let (target, _) = read_at(rt, c, at, path, true).await?;
    if !target.is_dir() && target.link_target.is_empty() {
        return Err(Error::InvalidParameter("extraction point is not a directory".into()));
    }
    let overwrite = match options.no_overwrite_dir_non_dir {
        true => Some(OverwriteCheck::start(rt, c, &pod_name, place.root, path).await?),
        false => None,
    };
    let dir = place.path(path);
    let mut command = vec!["tar", "-x", "-f", "-", "-C", &dir];
    if owned_by_user {
        command.push("-o");
    }
    let mut process = exec(rt, c, &pod_name, &command, true, false).await?;
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
    let mut body = body;
    let mut sink = Sink { stdin, check: UploadCheck::new(path), overwrite };
    // tar may end before reading everything (it failed): its status then ends the upload.
    let ended = tokio::select! {
        pumped = pump(&mut body, &mut sink) => match pumped {
            Ok(()) => tokio::time::timeout(STALL, &mut status).await.map_err(|_| stalled("exit")),
            Err(Pumped::TarGone(err)) => tokio::time::timeout(STALL, &mut status).await.map_err(|_| err),
            Err(Pumped::Refused(refused)) => Err(refused),
        },
        status = &mut status => Ok(status),
    };
    if let Some(check) = sink.overwrite.take() {
        check.close().await;
    }
    let status = match ended {
        Ok(status) => status,
        Err(err) => {
            process.abort();
            return Err(drained(body, err).await);
        }
    };
    let stderr = errors.await.unwrap_or_default();
    let result = match status {
        Some(s) if s.status.as_deref() == Some("Failure") => {
            Err(extract_error(&place.words(&s.message.unwrap_or_default()), &place.words(&stderr)))
        }
        _ => Ok(()),
    };
    match result {
        Ok(()) => {
            drained(body, Error::Internal(String::new())).await;
            Ok(())
        }
        Err(err) => Err(drained(body, err).await),
    }
}

/// How long tar may go without reading, and how long its exit status may take after the upload.
const STALL: Duration = Duration::from_secs(60);
/// How long the rest of a refused upload is read (and dropped) before the answer goes out regardless.
const DRAIN: Duration = Duration::from_secs(60);

fn stalled(what: &str) -> Error {
    Error::CopyFailed(format!("podshim: tar in the container did not {what} within {STALL:?}"))
}

/// tar failed while extracting an upload podshim had checked: the failure is in the container (a read-only or
/// full filesystem, permissions), so it is 500 with tar's own words, as Docker's `Error processing tar file`.
fn extract_error(status_message: &str, stderr: &str) -> Error {
    if status_message.contains("executable file not found") || status_message.contains("no such file or directory") {
        return Error::CopyFailed(format!("podshim: copying needs tar in the image: {status_message}"));
    }
    let detail = if stderr.is_empty() { status_message } else { stderr };
    Error::CopyFailed(format!("Error processing tar file: {detail}"))
}

/// `error`, once the rest of the upload was read and dropped (for at most [`DRAIN`]): a client still sending
/// its body when the answer comes (the docker CLI) would otherwise see a broken pipe instead of the answer.
async fn drained(mut body: UploadStream, error: Error) -> Error {
    let drain = async { while let Some(Ok(_)) = body.next().await {} };
    let _ = tokio::time::timeout(DRAIN, drain).await;
    error
}

/// Why an upload stopped before its end.
enum Pumped {
    /// Writing to tar failed or stalled: tar has ended, or stopped reading.
    TarGone(Error),
    /// podshim refused the upload (a body it cannot read, an archive it refuses, an overwrite
    /// `noOverwriteDirNonDir` forbids).
    Refused(Error),
}

/// Where the uncompressed upload goes: checked, judged when asked, then written to tar's stdin.
struct Sink<W> {
    stdin: W,
    check: UploadCheck,
    overwrite: Option<OverwriteCheck>,
}

impl<W: tokio::io::AsyncWrite + Unpin> Sink<W> {
    /// Passes on the next uncompressed bytes, up to the end of the archive.
    async fn forward(&mut self, plain: &[u8]) -> Result<(), Pumped> {
        let checked = self.check.feed(plain).map_err(bad_archive)?;
        self.pass(&checked, false).await
    }

    /// Through the `noOverwriteDirNonDir` judge, when there is one, to tar.
    async fn pass(&mut self, checked: &[u8], end: bool) -> Result<(), Pumped> {
        let out = match self.overwrite.as_mut() {
            Some(judge) => judge.pass(checked, end).await.map_err(Pumped::Refused)?,
            None => Bytes::copy_from_slice(checked),
        };
        self.write(&out).await
    }

    /// The upload is over: the archive must be whole; its last bytes and what was held back go, then tar's
    /// stdin is closed.
    async fn finish(&mut self) -> Result<(), Pumped> {
        let last = self.check.finish().map_err(bad_archive)?;
        self.pass(&last, true).await?;
        match tokio::time::timeout(STALL, self.stdin.shutdown()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(broken_pipe(e)),
            Err(_) => Err(Pumped::TarGone(stalled("read the end of the upload"))),
        }
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), Pumped> {
        match tokio::time::timeout(STALL, self.stdin.write_all(bytes)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(broken_pipe(e)),
            Err(_) => Err(Pumped::TarGone(stalled("read the upload"))),
        }
    }
}

fn bad_archive(why: String) -> Pumped {
    Pumped::Refused(Error::InvalidParameter(format!("Error processing tar file: {why}")))
}

fn broken_pipe(e: std::io::Error) -> Pumped {
    Pumped::TarGone(Error::CopyFailed(format!("podshim: writing to tar in the container: {e}")))
}

/// How much compressed input is inflated at a time, so one chunk of a gzip bomb cannot take the memory.
const GUNZIP_SLICE: usize = 4096;

/// Copies the upload into `sink`, un-gzipping it when it starts with the gzip magic. Once the archive has
/// ended, the rest of the body is not even inflated.
async fn pump<W: tokio::io::AsyncWrite + Unpin>(body: &mut UploadStream, sink: &mut Sink<W>) -> Result<(), Pumped> {
    let bad_gzip = |e: std::io::Error| Pumped::Refused(Error::InvalidParameter(format!("bad gzip body: {e}")));
    let mut gunzip: Option<flate2::write::GzDecoder<Vec<u8>>> = None;
    let mut first = true;
    while let Some(chunk) = body.next().await.transpose().map_err(Pumped::Refused)? {
        if sink.check.ended() {
            break;
        }
        if first && !chunk.is_empty() {
            first = false;
            if is_gzip(&chunk) {
                gunzip = Some(flate2::write::GzDecoder::new(Vec::new()));
            }
        }
        match gunzip.as_mut() {
            Some(decoder) => {
                for slice in chunk.chunks(GUNZIP_SLICE) {
                    std::io::Write::write_all(decoder, slice).map_err(bad_gzip)?;
                    let plain = std::mem::take(decoder.get_mut());
                    sink.forward(&plain).await?;
                    if sink.check.ended() {
                        break;
                    }
                }
            }
            None => sink.forward(&chunk).await?,
        }
    }
    if let Some(decoder) = gunzip.as_mut().filter(|_| !sink.check.ended()) {
        decoder.try_finish().map_err(bad_gzip)?;
        let plain = std::mem::take(decoder.get_mut());
        sink.forward(&plain).await?;
    }
    sink.finish().await
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

/// The client's error for a tar that failed reading `path` (the first thing it does): a missing path is Docker's
/// 404, a missing tar binary says what the image needs.
fn tar_error(c: &Container, path: &str, stderr: &str, status_message: &str) -> Error {
    let all = format!("{stderr} {status_message}");
    if status_message.contains("executable file not found") || status_message.contains("no such file or directory") {
        return Error::CopyFailed(format!("podshim: copying needs tar in the image: {status_message}"));
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
