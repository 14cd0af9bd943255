//! Timestamped log text (`pods/log?timestamps=true`) filtered by `since`/`until` and re-stamped in Docker's
//! format, read in pieces as they arrive: a partial line (a prompt, a progress bar) is delivered at once,
//! not held back until its newline.
//!
//! Each line starts with `<RFC 3339 timestamp> `; the line's fate (before `since`: dropped; after `until`:
//! the end) is decided by that first timestamp. A line written in pieces is logged by the container runtime
//! as several entries, and some servers (the simulator; kubelets before the fix that stamps only new lines)
//! stamp every entry: a timestamp at the very start of a piece that continues a line is taken for such a
//! stamp and dropped, so the line reads as the program wrote it.

use jiff::Timestamp;

/// The longest text taken for a line's timestamp (RFC 3339 with nanoseconds and an offset is 35 bytes).
const MAX_STAMP: usize = 40;

/// The filter's state between pieces.
#[derive(Debug)]
enum State {
    /// At a line's start, with the timestamp text read so far.
    Start(Vec<u8>),
    /// Inside a line that is kept or dropped, stamped `at`.
    Content { keep: bool, at: Option<Timestamp> },
}

/// Filters a timestamped log fed in pieces.
#[derive(Debug)]
pub(crate) struct Lines {
    since: Option<Timestamp>,
    until: Option<Timestamp>,
    timestamps: bool,
    state: State,
}

/// What one piece of log text gives: the text to deliver, where each of its lines ends (offsets in `out`, the
/// last one possibly a partial line) with the line's timestamp (`None` for text that carried none), and
/// whether the log has passed `until` (the end).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Fed {
    pub out: Vec<u8>,
    pub lines: Vec<(usize, Option<Timestamp>)>,
    pub ended: bool,
}

impl Fed {
    fn new() -> Fed {
        Fed { out: Vec::new(), lines: Vec::new(), ended: false }
    }

    /// Appends delivered text of the line stamped `at`.
    fn push(&mut self, at: Option<Timestamp>, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let continues = self.out.last().is_some_and(|b| *b != b'\n');
        self.out.extend_from_slice(bytes);
        match self.lines.last_mut() {
            Some((end, last_at)) if continues && *last_at == at => *end = self.out.len(),
            _ => self.lines.push((self.out.len(), at)),
        }
    }
}

impl Lines {
    pub(crate) fn new(since: Option<Timestamp>, until: Option<Timestamp>, timestamps: bool) -> Lines {
        Lines { since, until, timestamps, state: State::Start(Vec::new()) }
    }

    pub(crate) fn feed(&mut self, mut data: &[u8]) -> Fed {
        let mut out = Fed::new();
        if matches!(self.state, State::Content { .. }) {
            data = &data[continuation_stamp(data).unwrap_or(0)..];
        }
        while !data.is_empty() {
            match &mut self.state {
                State::Content { keep, at } => {
                    let end = data.iter().position(|b| *b == b'\n').map_or(data.len(), |i| i + 1);
                    if *keep {
                        out.push(*at, &data[..end]);
                    }
                    if data[end - 1] == b'\n' {
                        self.state = State::Start(Vec::new());
                    }
                    data = &data[end..];
                }
                State::Start(head) => {
                    let Some(i) = data.iter().position(|b| *b == b' ' || *b == b'\n') else {
                        head.extend_from_slice(data);
                        if head.len() > MAX_STAMP {
                            // Not a timestamped line: deliver it as it is.
                            out.push(None, head);
                            self.state = State::Content { keep: true, at: None };
                        }
                        break;
                    };
                    head.extend_from_slice(&data[..i]);
                    let separator = data[i];
                    data = &data[i + 1..];
                    let stamp = std::str::from_utf8(head).ok().and_then(|s| s.parse::<Timestamp>().ok());
                    let keep = match stamp {
                        None => {
                            head.push(separator);
                            out.push(None, head);
                            true
                        }
                        Some(t) if self.until.is_some_and(|until| t > until) => {
                            out.ended = true;
                            return out;
                        }
                        Some(t) => {
                            let keep = self.since.is_none_or(|since| t >= since);
                            if keep && self.timestamps {
                                out.push(Some(t), format!("{} ", docker_timestamp(t)).as_bytes());
                            }
                            if keep && separator == b'\n' {
                                out.push(Some(t), b"\n");
                            }
                            keep
                        }
                    };
                    self.state = match separator {
                        b'\n' => State::Start(Vec::new()),
                        _ => State::Content { keep, at: stamp },
                    };
                }
            }
        }
        out
    }
}

/// The length of a timestamp stamp (with its space) at the start of `data`, if there is one.
fn continuation_stamp(data: &[u8]) -> Option<usize> {
    let window = &data[..data.len().min(MAX_STAMP + 1)];
    let i = window.iter().position(|b| *b == b' ')?;
    let text = std::str::from_utf8(&window[..i]).ok()?;
    (text.len() >= 20 && text.starts_with(|c: char| c.is_ascii_digit()) && text.parse::<Timestamp>().is_ok())
        .then_some(i + 1)
}

/// Docker's log timestamp: RFC 3339 with exactly nine fractional digits.
pub(crate) fn docker_timestamp(t: Timestamp) -> String {
    format!("{}.{:09}Z", t.strftime("%Y-%m-%dT%H:%M:%S"), t.subsec_nanosecond())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Option<Timestamp> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn lines_are_filtered_by_since_and_until_and_get_dockers_timestamps() {
        let mut l = Lines::new(t("2024-01-01T00:00:01Z"), t("2024-01-01T00:00:03Z"), true);
        assert_eq!(l.feed(b"2024-01-01T00:00:00.5Z early\n").out, b"");
        assert_eq!(l.feed(b"2024-01-01T00:00:02.5Z mid\n").out, b"2024-01-01T00:00:02.500000000Z mid\n");
        assert_eq!(l.feed(b"2024-01-01T00:00:04Z late\n"), Fed { ended: true, ..Fed::new() });
        let mut plain = Lines::new(t("2024-01-01T00:00:01Z"), None, false);
        assert_eq!(plain.feed(b"2024-01-01T00:00:02Z x\n").out, b"x\n");
    }

    #[test]
    fn a_partial_line_is_delivered_at_once() {
        let mut l = Lines::new(t("2024-01-01T00:00:01Z"), None, false);
        assert_eq!(l.feed(b"2024-01-01T00:00:02Z / # ").out, b"/ # ");
        assert_eq!(l.feed(b"ls\n2024-01-01T00:00:03Z bin").out, b"ls\nbin");
        assert_eq!(l.feed(b"\n").out, b"\n");
    }

    #[test]
    fn pieces_split_anywhere_give_the_same_output() {
        let log = b"2024-01-01T00:00:00Z old\n2024-01-01T00:00:02Z a b\n2024-01-01T00:00:02Z \n";
        for split in 0..log.len() {
            let mut l = Lines::new(t("2024-01-01T00:00:01Z"), None, false);
            let mut out = l.feed(&log[..split]).out;
            out.extend(l.feed(&log[split..]).out);
            assert_eq!(out, b"a b\n\n", "split at {split}");
        }
    }

    #[test]
    fn a_stamp_that_continues_a_partial_line_is_dropped() {
        let mut l = Lines::new(None, None, true);
        assert_eq!(l.feed(b"2024-01-01T00:00:02Z thr").out, b"2024-01-01T00:00:02.000000000Z thr");
        assert_eq!(l.feed(b"2024-01-01T00:00:03Z ee\n").out, b"ee\n");
    }

    #[test]
    fn each_line_ends_with_its_timestamp() {
        let mut l = Lines::new(None, None, false);
        let fed = l.feed(b"2024-01-01T00:00:02Z ab\n2024-01-01T00:00:03Z c\n2024-01-01T00:00:04Z d");
        assert_eq!(fed.out, b"ab\nc\nd");
        assert_eq!(
            fed.lines,
            vec![(3, t("2024-01-01T00:00:02Z")), (5, t("2024-01-01T00:00:03Z")), (6, t("2024-01-01T00:00:04Z"))]
        );
        let fed = l.feed(b"e\n");
        assert_eq!((fed.out, fed.lines), (b"e\n".to_vec(), vec![(2, t("2024-01-01T00:00:04Z"))]));
    }

    #[test]
    fn text_without_a_timestamp_passes_through() {
        let mut l = Lines::new(None, None, false);
        assert_eq!(l.feed(b"plain words\n").out, b"plain words\n");
    }
}
