//! stdout and stderr, read as two `pods/log` requests (`--split-log-streams`), merged back into one stream in the
//! order their lines were logged, as Docker delivers them: each line carries the timestamp the container runtime
//! gave it, and the line stamped first goes first.
//!
//! - Reading a finished log, a line waits until the other stream has shown a later line or ended: the order is
//!   exact.
//! - Following a live log, the other stream may simply be silent, so a line waits at most [`FOLLOW_WINDOW`]
//!   after it arrived for an earlier line of the other stream. Lines that arrive together wait together, so
//!   this adds latency, never a per-line cost.

use std::collections::VecDeque;
use std::pin::Pin;
use std::time::Duration;

use futures::{Stream, StreamExt};
use jiff::Timestamp;
use tokio::time::Instant;

use super::{LogChunk, LogStream};
use crate::error::Error;

/// A piece of output with the timestamp of its line (`None`: deliver at once).
pub(super) type Stamped = (Option<Timestamp>, Result<LogChunk, Error>);
pub(super) type StampedStream = Pin<Box<dyn Stream<Item = Stamped> + Send>>;

/// How long a line of a followed log waits for an earlier line of the other stream.
pub(super) const FOLLOW_WINDOW: Duration = Duration::from_millis(50);
/// Lines read ahead per stream while the other one is awaited.
const READ_AHEAD: usize = 256;
/// Consecutive lines of one stream are delivered together up to this size.
const COALESCE_MAX: usize = 32 * 1024;

/// What the merge knows of one stream.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct View {
    /// The first waiting line: when it arrived and its timestamp.
    head: Option<(Instant, Option<Timestamp>)>,
    /// The timestamp of the last line delivered from this stream.
    last: Option<Timestamp>,
    done: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    Deliver(usize),
    /// Read more; with a deadline, deliver the waiting line then at the latest.
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
        // Both wait: the earlier goes first (a line without a timestamp at once), stdout on a tie.
        (Some((_, a)), Some((_, b))) => {
            return Next::Deliver(if b.is_some() && (a.is_none() || a <= b) { 0 } else { 1 })
        }
    };
    let other = views[1 - first];
    let Some((arrived, Some(at))) = views[first].head else { return Next::Deliver(first) };
    if other.done || other.last.is_some_and(|last| last >= at) {
        return Next::Deliver(first);
    }
    match window {
        None => Next::Read(None),
        Some(window) if now >= arrived + window => Next::Deliver(first),
        Some(window) => Next::Read(Some(arrived + window)),
    }
}

struct Side {
    source: StampedStream,
    queue: VecDeque<(Instant, Stamped)>,
    last: Option<Timestamp>,
    done: bool,
}

impl Side {
    fn view(&self) -> View {
        View { head: self.queue.front().map(|(arrived, (at, _))| (*arrived, *at)), last: self.last, done: self.done }
    }

    fn wants(&self) -> bool {
        !self.done && self.queue.len() < READ_AHEAD
    }

    /// The first waiting piece, noting its timestamp as the stream's last.
    fn pop(&mut self) -> Option<Result<LogChunk, Error>> {
        let (_, (at, chunk)) = self.queue.pop_front()?;
        self.last = at.or(self.last);
        Some(chunk)
    }

    fn take(&mut self, item: Option<Stamped>) {
        match item {
            Some(item) => self.queue.push_back((Instant::now(), item)),
            None => self.done = true,
        }
    }
}

/// True when the next piece to deliver is already waiting on side `i`, and is not an error.
fn follows_at_once(sides: &[Side; 2], i: usize, window: Option<Duration>) -> bool {
    matches!(sides[i].queue.front(), Some((_, (_, Ok(_)))))
        && next([sides[0].view(), sides[1].view()], Instant::now(), window) == Next::Deliver(i)
}

fn payload(chunk: &LogChunk) -> &[u8] {
    match chunk {
        LogChunk::Stdout(bytes) | LogChunk::Stderr(bytes) => bytes,
    }
}

/// `stdout` and `stderr` as one stream in logging order; `follow`: the log is live (see [`FOLLOW_WINDOW`]).
pub(super) fn merge(stdout: StampedStream, stderr: StampedStream, follow: bool) -> LogStream {
    let side = |source| Side { source, queue: VecDeque::new(), last: None, done: false };
    let window = follow.then_some(FOLLOW_WINDOW);
    let sides = [side(stdout), side(stderr)];
    Box::pin(futures::stream::unfold(sides, move |mut sides| async move {
        loop {
            match next([sides[0].view(), sides[1].view()], Instant::now(), window) {
                Next::End => return None,
                Next::Deliver(i) => {
                    let chunk = sides[i].pop()?;
                    let Ok(chunk) = chunk else { return Some((chunk, sides)) };
                    // The lines that would follow at once from the same stream go in the same chunk (one frame).
                    let mut joined: Option<Vec<u8>> = None;
                    while follows_at_once(&sides, i, window) {
                        let Some(Ok(more)) = sides[i].pop() else { break };
                        let buf = joined.get_or_insert_with(|| payload(&chunk).to_vec());
                        buf.extend_from_slice(payload(&more));
                        if buf.len() >= COALESCE_MAX {
                            break;
                        }
                    }
                    let chunk = match (joined, chunk) {
                        (None, chunk) => chunk,
                        (Some(buf), LogChunk::Stdout(_)) => LogChunk::Stdout(buf.into()),
                        (Some(buf), LogChunk::Stderr(_)) => LogChunk::Stderr(buf.into()),
                    };
                    return Some((Ok(chunk), sides));
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
    use bytes::Bytes;

    fn t(second: i64) -> Option<Timestamp> {
        Timestamp::from_second(1_700_000_000 + second).ok()
    }

    fn waiting(arrived: Instant, at: Option<Timestamp>) -> View {
        View { head: Some((arrived, at)), last: None, done: false }
    }

    #[test]
    fn the_earlier_line_goes_first_and_a_finished_log_waits_for_the_other_stream() {
        let now = Instant::now();
        let idle = View::default();
        assert_eq!(next([waiting(now, t(2)), waiting(now, t(1))], now, None), Next::Deliver(1));
        assert_eq!(next([waiting(now, t(1)), waiting(now, t(1))], now, None), Next::Deliver(0), "stdout on a tie");
        assert_eq!(next([waiting(now, t(5)), idle], now, None), Next::Read(None));
        assert_eq!(next([waiting(now, t(5)), View { done: true, ..idle }], now, None), Next::Deliver(0));
        assert_eq!(next([waiting(now, t(5)), View { last: t(6), ..idle }], now, None), Next::Deliver(0));
        assert_eq!(next([waiting(now, None), idle], now, None), Next::Deliver(0), "no timestamp: at once");
        let done = View { done: true, ..idle };
        assert_eq!(next([done, done], now, None), Next::End);
    }

    #[test]
    fn a_followed_line_waits_a_window_from_its_arrival() {
        let now = Instant::now();
        let window = Some(FOLLOW_WINDOW);
        let idle = View::default();
        assert_eq!(next([idle, waiting(now, t(1))], now, window), Next::Read(Some(now + FOLLOW_WINDOW)));
        assert_eq!(next([idle, waiting(now, t(1))], now + FOLLOW_WINDOW, window), Next::Deliver(1));
    }

    fn source(items: Vec<(i64, &'static str)>) -> StampedStream {
        Box::pin(futures::stream::iter(
            items.into_iter().map(|(s, text)| (t(s), Ok(LogChunk::Stdout(Bytes::from_static(text.as_bytes()))))),
        ))
    }

    #[tokio::test]
    async fn two_finished_streams_come_out_in_timestamp_order() {
        let stdout = source(vec![(1, "a"), (3, "c"), (6, "f")]);
        let stderr: StampedStream = Box::pin(
            futures::stream::iter(vec![(t(2), "b"), (t(4), "d"), (t(5), "e")])
                .then(|(at, text)| async move {
                    tokio::task::yield_now().await;
                    (at, Ok(LogChunk::Stderr(Bytes::from_static(text.as_bytes()))))
                })
                .chain(futures::stream::pending().take_until(tokio::time::sleep(Duration::from_millis(20)))),
        );
        let out: Vec<String> = merge(stdout, stderr, false)
            .map(|c| match c {
                Ok(LogChunk::Stdout(b)) => format!("o:{}", String::from_utf8_lossy(&b)),
                Ok(LogChunk::Stderr(b)) => format!("e:{}", String::from_utf8_lossy(&b)),
                Err(err) => format!("error {err}"),
            })
            .collect()
            .await;
        assert_eq!(out, ["o:a", "e:b", "o:c", "e:d", "e:e", "o:f"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_stream_delays_followed_lines_by_one_window() {
        let stdout = source(vec![(1, "a"), (2, "b")]).chain(futures::stream::pending());
        let stderr: StampedStream = Box::pin(futures::stream::pending());
        let mut merged = merge(Box::pin(stdout), stderr, true);
        let started = Instant::now();
        // Both lines arrived together: they wait one window, together, and go out as one chunk.
        assert!(matches!(merged.next().await, Some(Ok(LogChunk::Stdout(b))) if &b[..] == b"ab"));
        assert_eq!(started.elapsed(), FOLLOW_WINDOW);
    }
}
