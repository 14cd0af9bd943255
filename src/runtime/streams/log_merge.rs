//! stdout and stderr, read as two `pods/log` requests (`--split-log-streams`), merged back into one stream in the
//! order their lines were logged, as Docker delivers them: each line carries the timestamp the container runtime
//! gave it, and the line stamped first goes first.
//!
//! - Reading a finished log, a line waits until the other stream has shown a later line or ended: the order is
//!   exact.
//! - Following a live log, the other stream may simply be silent, so a line waits at most [`FOLLOW_WINDOW`]
//!   after it arrived for an earlier line of the other stream. Lines that arrive together wait together, so
//!   this adds latency, never a per-line cost.
//!
//! Each stream comes in batches (what one read of its response gave), each with the end and timestamp of every
//! line in it; a batch is delivered whole, or cut (without copying) where the other stream's next line belongs.

use std::collections::VecDeque;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use jiff::Timestamp;
use tokio::time::Instant;

use crate::error::Error;
use crate::runtime::{LogChunk, LogStream};

/// Output of one stream: bytes, and the end (offset in `bytes`) and timestamp of each line in them, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Batch {
    pub bytes: Bytes,
    pub lines: VecDeque<(usize, Timestamp)>,
}

impl Batch {
    fn first_at(&self) -> Timestamp {
        self.lines.front().map_or(Timestamp::MIN, |(_, at)| *at)
    }

    /// Takes the lines stamped at or before `bound` (all without one; the first one always).
    fn take_until(&mut self, bound: Option<Timestamp>) -> (Bytes, Option<Timestamp>) {
        let mut end = 0;
        let mut last = None;
        while let Some(&(line_end, at)) = self.lines.front() {
            if last.is_some() && bound.is_some_and(|bound| at > bound) {
                break;
            }
            self.lines.pop_front();
            (end, last) = (line_end, Some(at));
        }
        if self.lines.is_empty() {
            end = self.bytes.len();
        }
        for (line_end, _) in self.lines.iter_mut() {
            *line_end -= end;
        }
        (self.bytes.split_to(end), last)
    }
}

pub(crate) type BatchStream = Pin<Box<dyn Stream<Item = Result<Batch, Error>> + Send>>;

/// How long a line of a followed log waits for an earlier line of the other stream.
pub(crate) const FOLLOW_WINDOW: Duration = Duration::from_millis(50);
/// Batches read ahead per stream while the other one is awaited.
const READ_AHEAD: usize = 64;

/// What the merge knows of one stream.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct View {
    /// The first waiting batch: when it arrived and the timestamp of its first line (an error: the earliest).
    head: Option<(Instant, Timestamp)>,
    /// The timestamp of the last line delivered from this stream.
    last: Option<Timestamp>,
    done: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    /// Deliver from this stream its lines stamped up to the bound (all without one).
    Deliver(usize, Option<Timestamp>),
    /// Read more; with a deadline, deliver the waiting lines then at the latest.
    Read(Option<Instant>),
    End,
}

/// The merge rule, for the two streams' views at `now`; `window` is `None` for a finished log.
fn next(views: [View; 2], now: Instant, window: Option<Duration>) -> Next {
    let first = match (views[0].head, views[1].head) {
        (None, None) if views[0].done && views[1].done => return Next::End,
        (None, None) => return Next::Read(None),
        (Some(_), None) => 0,
        (None, Some(_)) => 1,
        // Both wait: the earlier goes first (stdout on a tie), up to the other's first line.
        (Some((_, a)), Some((_, b))) if a <= b => return Next::Deliver(0, Some(b)),
        (Some((_, a)), Some(_)) => return Next::Deliver(1, Some(a)),
    };
    let other = views[1 - first];
    let Some((arrived, at)) = views[first].head else { return Next::Read(None) };
    if other.done {
        return Next::Deliver(first, None);
    }
    if let Some(last) = other.last.filter(|last| *last >= at) {
        return Next::Deliver(first, Some(last));
    }
    match window {
        None => Next::Read(None),
        Some(window) if now >= arrived + window => Next::Deliver(first, None),
        Some(window) => Next::Read(Some(arrived + window)),
    }
}

struct Side {
    source: BatchStream,
    queue: VecDeque<(Instant, Result<Batch, Error>)>,
    last: Option<Timestamp>,
    done: bool,
    wrap: fn(Bytes) -> LogChunk,
}

impl Side {
    fn view(&self) -> View {
        let head = self.queue.front().map(|(arrived, item)| match item {
            Ok(batch) => (*arrived, batch.first_at()),
            Err(_) => (*arrived, Timestamp::MIN),
        });
        View { head, last: self.last, done: self.done }
    }

    fn wants(&self) -> bool {
        !self.done && self.queue.len() < READ_AHEAD
    }

    fn take(&mut self, item: Option<Result<Batch, Error>>) {
        match item {
            Some(Ok(batch)) if batch.bytes.is_empty() => {}
            Some(item) => self.queue.push_back((Instant::now(), item)),
            None => self.done = true,
        }
    }

    /// The head's lines up to `bound`, as a chunk of this stream.
    fn deliver(&mut self, bound: Option<Timestamp>) -> Option<Result<LogChunk, Error>> {
        let (_, head) = self.queue.front_mut()?;
        let Ok(batch) = head else {
            return self.queue.pop_front().and_then(|(_, item)| item.err()).map(Err);
        };
        let (bytes, last) = batch.take_until(bound);
        if batch.bytes.is_empty() {
            self.queue.pop_front();
        }
        self.last = last.or(self.last);
        Some(Ok((self.wrap)(bytes)))
    }
}

/// `stdout` and `stderr` as one stream in logging order; `follow`: the log is live (see [`FOLLOW_WINDOW`]).
pub(crate) fn merge(stdout: BatchStream, stderr: BatchStream, follow: bool) -> LogStream {
    let side = |source, wrap| Side { source, queue: VecDeque::new(), last: None, done: false, wrap };
    let window = follow.then_some(FOLLOW_WINDOW);
    let sides = [side(stdout, LogChunk::Stdout as fn(Bytes) -> LogChunk), side(stderr, LogChunk::Stderr)];
    Box::pin(futures::stream::unfold(sides, move |mut sides| async move {
        loop {
            match next([sides[0].view(), sides[1].view()], Instant::now(), window) {
                Next::End => return None,
                Next::Deliver(i, bound) => {
                    let chunk = sides[i].deliver(bound)?;
                    return Some((chunk, sides));
                }
                Next::Read(deadline) => {
                    let (want0, want1) = (sides[0].wants(), sides[1].wants());
                    let [a, b] = &mut sides;
                    tokio::select! {
                        item = a.source.next(), if want0 => a.take(item),
                        item = b.source.next(), if want1 => b.take(item),
                        _ = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {}
                        else => return None,
                    }
                }
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(second: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + second).unwrap_or(Timestamp::MIN)
    }

    fn waiting(arrived: Instant, at: Timestamp) -> View {
        View { head: Some((arrived, at)), last: None, done: false }
    }

    /// A batch of one-letter lines `(letter, second)`.
    fn batch(lines: &[(&str, i64)]) -> Batch {
        let mut bytes = Vec::new();
        let mut ends = VecDeque::new();
        for (text, second) in lines {
            bytes.extend_from_slice(format!("{text}\n").as_bytes());
            ends.push_back((bytes.len(), t(*second)));
        }
        Batch { bytes: bytes.into(), lines: ends }
    }

    #[test]
    fn the_earlier_line_goes_first_and_a_finished_log_waits_for_the_other_stream() {
        let now = Instant::now();
        let idle = View::default();
        assert_eq!(next([waiting(now, t(2)), waiting(now, t(1))], now, None), Next::Deliver(1, Some(t(2))));
        assert_eq!(next([waiting(now, t(1)), waiting(now, t(1))], now, None), Next::Deliver(0, Some(t(1))));
        assert_eq!(next([waiting(now, t(5)), idle], now, None), Next::Read(None));
        assert_eq!(next([waiting(now, t(5)), View { done: true, ..idle }], now, None), Next::Deliver(0, None));
        let passed = View { last: Some(t(6)), ..idle };
        assert_eq!(next([waiting(now, t(5)), passed], now, None), Next::Deliver(0, Some(t(6))));
        let done = View { done: true, ..idle };
        assert_eq!(next([done, done], now, None), Next::End);
    }

    #[test]
    fn a_followed_line_waits_a_window_from_its_arrival() {
        let now = Instant::now();
        let window = Some(FOLLOW_WINDOW);
        let idle = View::default();
        assert_eq!(next([idle, waiting(now, t(1))], now, window), Next::Read(Some(now + FOLLOW_WINDOW)));
        assert_eq!(next([idle, waiting(now, t(1))], now + FOLLOW_WINDOW, window), Next::Deliver(1, None));
    }

    #[test]
    fn a_batch_is_cut_at_the_bound_without_copying() {
        let mut b = batch(&[("a", 1), ("b", 2), ("c", 4)]);
        let whole = b.bytes.clone();
        let (taken, last) = b.take_until(Some(t(3)));
        assert_eq!((&taken[..], last), (&b"a\nb\n"[..], Some(t(2))));
        assert_eq!(taken.as_ptr(), whole.as_ptr(), "a view of the same bytes");
        assert_eq!((&b.bytes[..], b.lines.clone()), (&b"c\n"[..], VecDeque::from([(2, t(4))])));
        assert_eq!(b.take_until(None), (Bytes::from_static(b"c\n"), Some(t(4))));
    }

    fn source(batches: Vec<Batch>) -> BatchStream {
        Box::pin(futures::stream::iter(batches.into_iter().map(Ok)))
    }

    fn show(chunk: Result<LogChunk, Error>) -> String {
        match chunk {
            Ok(LogChunk::Stdout(b)) => format!("o:{}", String::from_utf8_lossy(&b).replace('\n', "")),
            Ok(LogChunk::Stderr(b)) => format!("e:{}", String::from_utf8_lossy(&b).replace('\n', "")),
            Err(err) => format!("error {err}"),
        }
    }

    #[tokio::test]
    async fn two_finished_streams_come_out_in_timestamp_order() {
        let stdout = source(vec![batch(&[("a", 1), ("b", 2), ("d", 4)]), batch(&[("g", 7)])]);
        let stderr = source(vec![batch(&[("c", 3)]), batch(&[("e", 5), ("f", 6)])]);
        let out: Vec<String> = merge(stdout, stderr, false).map(show).collect().await;
        assert_eq!(out, ["o:ab", "e:c", "o:d", "e:ef", "o:g"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_stream_delays_followed_lines_by_one_window() {
        let stdout = source(vec![batch(&[("a", 1)]), batch(&[("b", 2)])]).chain(futures::stream::pending());
        let stderr: BatchStream = Box::pin(futures::stream::pending());
        let mut merged = merge(Box::pin(stdout), stderr, true);
        let started = Instant::now();
        assert_eq!(merged.next().await.map(show), Some("o:a".to_string()));
        assert_eq!(merged.next().await.map(show), Some("o:b".to_string()));
        assert_eq!(started.elapsed(), FOLLOW_WINDOW, "both batches arrived together and waited together");
    }
}
