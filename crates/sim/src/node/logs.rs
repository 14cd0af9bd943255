//! `pods/log`: reads a container attempt's CRI log file and renders what the query selects
//! (stream, sinceTime, tailLines, timestamps, limitBytes), then, with `follow`, keeps sending new
//! output until the attempt ends (woken by the attempt's progress notifications, not by polling).

use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::mpsc;

use super::attempt::Attempt;
use super::logfile::{self, StreamKind};
use super::pods::PodRuntime;
use super::status::State;
use super::{ApiError, LogQuery, LogStream, LogStreamSelector};

/// Picks the attempt a query reads (the last one, or the one before with `previous`), or the
/// API error a real kubelet gives. `runtime` is `None` for a pod the node has forgotten, whose
/// logs are then read from `pod_dir` while it is kept.
pub fn open(
    runtime: Option<&PodRuntime>,
    pod_dir: &Path,
    pod_name: &str,
    query: LogQuery,
) -> Result<LogStream, ApiError> {
    let container = query.container.clone();
    let waiting = |reason: &str| {
        let why = match reason {
            "ErrImagePull" | "ImagePullBackOff" => "trying and failing to pull image",
            other => other,
        };
        ApiError::bad_request(format!("container {container:?} in pod {pod_name:?} is waiting to start: {why}"))
    };
    let previous_missing =
        || ApiError::bad_request(format!("previous terminated container {container:?} in pod {pod_name:?} not found"));
    let Some(runtime) = runtime else {
        let mut files = files_on_disk(&pod_dir.join(&container));
        if query.previous {
            files.pop();
            return files.pop().map(|f| stream(f, None, query.clone())).ok_or_else(previous_missing);
        }
        return files.pop().map(|f| stream(f, None, query.clone())).ok_or_else(|| waiting("ContainerCreating"));
    };
    let c = runtime
        .container(&container)
        .ok_or_else(|| ApiError::bad_request(format!("container {container} is not valid for pod {pod_name}")))?;
    let mut attempts = c.attempts();
    if query.previous {
        attempts.pop();
        let attempt = attempts.pop().ok_or_else(previous_missing)?;
        return Ok(stream(attempt.path.clone(), None, query));
    }
    match attempts.pop() {
        Some(attempt) => {
            let live = attempt.exit_code().is_none().then(|| attempt.clone());
            Ok(stream(attempt.path.clone(), live, query))
        }
        None => match c.record().map(|r| r.state) {
            Some(State::Waiting { reason, .. }) => Err(waiting(&reason)),
            _ => Err(waiting("ContainerCreating")),
        },
    }
}

/// Which entries a query selects.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Filter {
    pub stream: LogStreamSelector,
    pub since: Option<jiff::Timestamp>,
    pub timestamps: bool,
}

impl Filter {
    pub fn of(query: &LogQuery) -> Filter {
        Filter { stream: query.stream, since: query.since, timestamps: query.timestamps }
    }
}

/// Renders the complete lines of `data` that `filter` selects, keeping only the last `tail` entries
/// when given; returns the output and how many bytes of `data` were consumed (up to the last newline).
///
/// Timestamps go only at the start of an output line, as kubelets stamp since Kubernetes 1.26 (and every
/// kubelet with split streams): the continuation of a partial line gets none. `line_start` carries whether
/// the output so far ends a line, across the calls of one reader.
pub fn render(data: &[u8], filter: &Filter, tail: Option<i64>, line_start: &mut bool) -> (Vec<u8>, usize) {
    let consumed = data.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let mut entries: Vec<logfile::Entry<'_>> = data[..consumed]
        .split(|b| *b == b'\n')
        .filter_map(logfile::parse_line)
        .filter(|e| match filter.stream {
            LogStreamSelector::All => true,
            LogStreamSelector::Stdout => e.stream == StreamKind::Stdout,
            LogStreamSelector::Stderr => e.stream == StreamKind::Stderr,
        })
        .filter(|e| filter.since.is_none_or(|since| e.time >= since))
        .collect();
    if let Some(tail) = tail {
        let keep = usize::try_from(tail.max(0)).unwrap_or(usize::MAX);
        let skip = entries.len().saturating_sub(keep);
        entries.drain(..skip);
    }
    let mut out = Vec::new();
    for entry in &entries {
        entry.render(filter.timestamps && *line_start, &mut out);
        *line_start = entry.full;
    }
    (out, consumed)
}

/// Counts the bytes sent against `limitBytes`.
struct Sender {
    tx: mpsc::Sender<io::Result<Bytes>>,
    left: Option<usize>,
}

impl Sender {
    /// Sends (cut to the limit); false when the reader is gone or the limit is reached.
    async fn send(&mut self, mut data: Vec<u8>) -> bool {
        if let Some(left) = self.left {
            data.truncate(left);
            self.left = Some(left - data.len());
        }
        if !data.is_empty() && self.tx.send(Ok(Bytes::from(data))).await.is_err() {
            return false;
        }
        self.left != Some(0)
    }
}

/// The log of one attempt: the file, plus the live attempt to follow when it still runs.
pub fn stream(path: PathBuf, live: Option<Arc<Attempt>>, query: LogQuery) -> LogStream {
    let (tx, mut rx) = mpsc::channel(16);
    tokio::spawn(async move {
        if let Err(error) = read(&path, live, &query, tx.clone()).await {
            let _ = tx.send(Err(error)).await;
        }
    });
    Box::pin(futures::stream::poll_fn(move |cx| rx.poll_recv(cx)))
}

async fn read(
    path: &Path,
    live: Option<Arc<Attempt>>,
    query: &LogQuery,
    tx: mpsc::Sender<io::Result<Bytes>>,
) -> io::Result<()> {
    let filter = Filter::of(query);
    let left = query.limit_bytes.map(|l| usize::try_from(l.max(0)).unwrap_or(usize::MAX));
    let mut sender = Sender { tx, left };
    let mut progress = live.as_ref().map(|a| a.watch());
    let mut file = std::fs::File::open(path)?;
    let mut data = Vec::new();
    file.read_to_end(&mut data)?;
    let mut line_start = true;
    let (out, consumed) = render(&data, &filter, query.tail_lines, &mut line_start);
    let mut offset = consumed as u64;
    if !sender.send(out).await || !query.follow {
        return Ok(());
    }
    let Some(progress) = progress.as_mut() else { return Ok(()) };
    loop {
        let ended = progress.borrow_and_update().exit.is_some();
        file.seek(SeekFrom::Start(offset))?;
        let mut fresh = Vec::new();
        file.read_to_end(&mut fresh)?;
        let (out, consumed) = render(&fresh, &filter, None, &mut line_start);
        offset += consumed as u64;
        if !sender.send(out).await || ended {
            return Ok(());
        }
        if progress.changed().await.is_err() {
            return Ok(());
        }
    }
}

/// The attempt log files of a container directory on disk, in order (for a pod the node has forgotten).
pub fn files_on_disk(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let path = e.path();
            let index = path.file_name()?.to_str()?.strip_suffix(".log")?.parse().ok()?;
            Some((index, path))
        })
        .collect();
    files.sort();
    files.into_iter().map(|(_, p)| p).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::logfile::format_entries;
    use jiff::Timestamp;

    fn sample() -> Vec<u8> {
        let t = |s: i64| Timestamp::from_second(1_700_000_000 + s).unwrap();
        let mut data = format_entries(t(1), StreamKind::Stdout, b"one\n");
        data.extend(format_entries(t(2), StreamKind::Stderr, b"err\n"));
        data.extend(format_entries(t(3), StreamKind::Stdout, b"two\nthr"));
        data.extend(format_entries(t(4), StreamKind::Stdout, b"ee\n"));
        data.extend(b"2023-11-14T22:13:25.000000000Z stdout F incomplete");
        data
    }

    fn all() -> Filter {
        Filter { stream: LogStreamSelector::All, since: None, timestamps: false }
    }

    #[test]
    fn merged_output_joins_partial_lines_and_skips_the_unfinished_line() {
        let data = sample();
        let (out, consumed) = render(&data, &all(), None, &mut true);
        assert_eq!(String::from_utf8(out).unwrap(), "one\nerr\ntwo\nthree\n");
        assert!(consumed < data.len());
        assert_eq!(data[consumed - 1], b'\n');
    }

    #[test]
    fn stream_selection_keeps_one_stream() {
        let only_err = Filter { stream: LogStreamSelector::Stderr, ..all() };
        assert_eq!(render(&sample(), &only_err, None, &mut true).0, b"err\n");
        let only_out = Filter { stream: LogStreamSelector::Stdout, ..all() };
        assert_eq!(render(&sample(), &only_out, None, &mut true).0, b"one\ntwo\nthree\n");
    }

    #[test]
    fn tail_and_since_select_the_last_entries() {
        assert_eq!(render(&sample(), &all(), Some(2), &mut true).0, b"three\n");
        assert_eq!(render(&sample(), &all(), Some(0), &mut true).0, b"");
        let since = Filter { since: Some(Timestamp::from_second(1_700_000_002).unwrap()), ..all() };
        assert_eq!(render(&sample(), &since, None, &mut true).0, b"err\ntwo\nthree\n");
    }

    #[test]
    fn timestamps_prefix_each_line_not_the_rest_of_a_partial_line() {
        let stamped = Filter { timestamps: true, ..all() };
        let out = String::from_utf8(render(&sample(), &stamped, Some(1), &mut true).0).unwrap();
        assert_eq!(out, "2023-11-14T22:13:24.000000000Z ee\n");
        let out = String::from_utf8(render(&sample(), &stamped, None, &mut true).0).unwrap();
        assert_eq!(
            out,
            "2023-11-14T22:13:21.000000000Z one\n2023-11-14T22:13:22.000000000Z err\n\
             2023-11-14T22:13:23.000000000Z two\n2023-11-14T22:13:23.000000000Z three\n"
        );
        // A reader that follows keeps the state between reads.
        let mut line_start = true;
        let first = format_entries(Timestamp::from_second(1_700_000_001).unwrap(), StreamKind::Stdout, b"a");
        let rest = format_entries(Timestamp::from_second(1_700_000_002).unwrap(), StreamKind::Stdout, b"b\n");
        assert_eq!(render(&first, &stamped, None, &mut line_start).0, b"2023-11-14T22:13:21.000000000Z a");
        assert_eq!(render(&rest, &stamped, None, &mut line_start).0, b"b\n");
    }

    #[tokio::test]
    async fn limit_bytes_cuts_the_output() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.log");
        std::fs::write(&path, sample()).unwrap();
        let query = LogQuery { limit_bytes: Some(6), ..Default::default() };
        let body = collect(stream(path, None, query)).await;
        assert_eq!(body, b"one\ner");
    }

    async fn collect(mut s: LogStream) -> Vec<u8> {
        use futures::StreamExt;
        let mut out = Vec::new();
        while let Some(chunk) = s.next().await {
            out.extend_from_slice(&chunk.unwrap());
        }
        out
    }
}
