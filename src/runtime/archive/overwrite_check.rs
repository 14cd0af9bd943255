//! `noOverwriteDirNonDir` for a `PUT /containers/{id}/archive` into a running container: every entry of the
//! upload is judged before tar in the container receives it ([`podshim_translate::overwrite`] holds the rule).
//!
//! The paths are looked up by a second exec in the container, `/bin/sh -c CHECK_SCRIPT`, which stays open for
//! the whole upload and answers a batch of paths at a time. **This needs `/bin/sh` in the image** (besides tar);
//! without it the copy fails with 500 `podshim: noOverwriteDirNonDir needs /bin/sh in the image: ...`.

use std::collections::HashMap;

use bytes::Bytes;
use kube::api::AttachedProcess;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines, ReadHalf, SimplexStream, WriteHalf};

use super::exec;
use crate::error::Error;
use crate::runtime::{Container, Runtime};
use podshim_translate::exec::SHELL;
use podshim_translate::overwrite::{Existing, HeldBack, Rule, CHECK_SCRIPT};

/// The judge of one upload, with its shell in the container.
pub(super) struct OverwriteCheck {
    process: AttachedProcess,
    paths: WriteHalf<SimplexStream>,
    answers: Lines<BufReader<ReadHalf<SimplexStream>>>,
    rule: Rule,
    held: HeldBack,
    /// Where the container's paths are in the pod the shell runs in (a helper's root, else empty).
    root: &'static str,
}

fn shell_failed(why: impl std::fmt::Display) -> Error {
    Error::CopyFailed(format!("podshim: noOverwriteDirNonDir needs {SHELL} in the image: {why}"))
}

impl OverwriteCheck {
    /// Starts the shell that answers for the paths under `dir` (found under `root` in `pod`).
    pub(super) async fn start(
        rt: &Runtime,
        c: &Container,
        pod: &str,
        root: &'static str,
        dir: &str,
    ) -> Result<OverwriteCheck, Error> {
        let mut process = exec(rt, c, pod, &[SHELL, "-c", CHECK_SCRIPT], true, true).await?;
        let (Some(paths), Some(answers)) = (process.stdin(), process.stdout()) else {
            return Err(shell_failed("the exec has no stdin or stdout"));
        };
        Ok(OverwriteCheck {
            process,
            paths,
            answers: BufReader::new(answers).lines(),
            rule: Rule::new(dir),
            held: HeldBack::new(),
            root,
        })
    }

    /// Takes the next bytes of the uncompressed upload and gives those that may go to tar now; `end` judges
    /// and releases everything left.
    pub(super) async fn pass(&mut self, chunk: &[u8], end: bool) -> Result<Bytes, Error> {
        self.held.push(chunk).map_err(Error::InvalidParameter)?;
        if end || self.held.batch_full() {
            self.judge().await?;
        }
        Ok(if end { self.held.finish() } else { self.held.release() })
    }

    async fn judge(&mut self) -> Result<(), Error> {
        let entries = self.held.take_unjudged();
        let paths = self.rule.paths_to_check(&entries).map_err(Error::InvalidParameter)?;
        let mut existing = HashMap::new();
        if !paths.is_empty() {
            let mut request = paths.iter().map(|p| format!("{}{p}", self.root)).collect::<Vec<_>>().join("\n");
            request.push('\n');
            let sent = self.paths.write_all(request.as_bytes()).await;
            for path in paths {
                let line = match (&sent, self.answers.next_line().await) {
                    (Ok(()), Ok(Some(line))) => line,
                    _ => return Err(self.failure().await),
                };
                let answer =
                    Existing::from_answer(&line).ok_or_else(|| shell_failed(format!("it answered {line:?}")))?;
                existing.insert(path, answer);
            }
        }
        self.rule.judge(&entries, &existing).map_err(Error::CopyFailed)
    }

    /// Why the shell stopped answering: the exec's status (no shell, or it died).
    async fn failure(&mut self) -> Error {
        let message = match self.process.take_status() {
            Some(status) => status.await.and_then(|s| s.message).unwrap_or_default(),
            None => String::new(),
        };
        shell_failed(if message.is_empty() { "it stopped answering".to_string() } else { message })
    }

    /// Ends the shell (its stdin closes, so its loop ends).
    pub(super) async fn close(mut self) {
        let _ = self.paths.shutdown().await;
        self.process.abort();
    }
}
