//! The CRI container log format, as the kubelet's runtimes write it: one entry per line,
//! `<RFC3339Nano timestamp> <stdout|stderr> <F|P> <content>`, where `P` marks a partial line (the
//! output had no newline yet) and `F` a full one.

use jiff::Timestamp;

/// Which output stream an entry came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    Stdout,
    Stderr,
}

impl StreamKind {
    fn as_str(self) -> &'static str {
        match self {
            StreamKind::Stdout => "stdout",
            StreamKind::Stderr => "stderr",
        }
    }
}

/// One parsed log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<'a> {
    pub time: Timestamp,
    /// The timestamp exactly as written.
    pub time_text: &'a [u8],
    pub stream: StreamKind,
    /// `false` for a `P` entry: its content continues in the next entry.
    pub full: bool,
    pub content: &'a [u8],
}

impl Entry<'_> {
    /// The bytes a `pods/log` reader gets: content, plus the newline for a full line, optionally
    /// prefixed with the timestamp and a space.
    pub fn render(&self, timestamps: bool, out: &mut Vec<u8>) {
        if timestamps {
            out.extend_from_slice(self.time_text);
            out.push(b' ');
        }
        out.extend_from_slice(self.content);
        if self.full {
            out.push(b'\n');
        }
    }
}

/// `2026-01-02T03:04:05.123456789Z`: always nine fraction digits, as containerd writes them.
pub fn format_time(time: Timestamp) -> String {
    let seconds = Timestamp::from_second(time.as_second()).unwrap_or(time);
    format!("{}.{:09}Z", seconds.strftime("%Y-%m-%dT%H:%M:%S"), time.subsec_nanosecond().max(0))
}

/// Turns one chunk of output into log lines: every `\n`-terminated piece is an `F` entry, a
/// trailing piece without newline is a `P` entry.
pub fn format_entries(time: Timestamp, stream: StreamKind, data: &[u8]) -> Vec<u8> {
    let stamp = format_time(time);
    let mut out = Vec::with_capacity(data.len() + 48);
    let mut rest = data;
    while !rest.is_empty() {
        let (piece, full, next) = match rest.iter().position(|b| *b == b'\n') {
            Some(i) => (&rest[..i], true, &rest[i + 1..]),
            None => (rest, false, &rest[rest.len()..]),
        };
        out.extend_from_slice(stamp.as_bytes());
        out.push(b' ');
        out.extend_from_slice(stream.as_str().as_bytes());
        out.extend_from_slice(if full { b" F " } else { b" P " });
        out.extend_from_slice(piece);
        out.push(b'\n');
        rest = next;
    }
    out
}

/// Parses one line (without its newline); `None` for a line that is not a CRI log entry.
pub fn parse_line(line: &[u8]) -> Option<Entry<'_>> {
    let mut parts = line.splitn(4, |b| *b == b' ');
    let time_text = parts.next()?;
    let stream = match parts.next()? {
        b"stdout" => StreamKind::Stdout,
        b"stderr" => StreamKind::Stderr,
        _ => return None,
    };
    let full = match parts.next()? {
        b"F" => true,
        b"P" => false,
        _ => return None,
    };
    let content = parts.next().unwrap_or(b"");
    let time = std::str::from_utf8(time_text).ok()?.parse::<Timestamp>().ok()?;
    Some(Entry { time, time_text, stream, full, content })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> Timestamp {
        "2026-01-02T03:04:05.000000042Z".parse().unwrap()
    }

    #[test]
    fn full_and_partial_lines_are_tagged() {
        let text = format_entries(t0(), StreamKind::Stdout, b"one\ntwo\npart");
        assert_eq!(
            String::from_utf8(text).unwrap(),
            "2026-01-02T03:04:05.000000042Z stdout F one\n\
             2026-01-02T03:04:05.000000042Z stdout F two\n\
             2026-01-02T03:04:05.000000042Z stdout P part\n"
        );
    }

    #[test]
    fn empty_line_is_a_full_entry() {
        let text = format_entries(t0(), StreamKind::Stderr, b"\n");
        assert_eq!(String::from_utf8(text).unwrap(), "2026-01-02T03:04:05.000000042Z stderr F \n");
    }

    #[test]
    fn parse_renders_back_content_with_and_without_timestamps() {
        let line = b"2026-01-02T03:04:05.000000042Z stderr F hello world";
        let entry = parse_line(line).unwrap();
        assert_eq!(entry.stream, StreamKind::Stderr);
        assert_eq!(entry.time, t0());
        let mut out = Vec::new();
        entry.render(false, &mut out);
        assert_eq!(out, b"hello world\n");
        out.clear();
        entry.render(true, &mut out);
        assert_eq!(out, b"2026-01-02T03:04:05.000000042Z hello world\n");
        let partial = parse_line(b"2026-01-02T03:04:05.000000042Z stdout P abc").unwrap();
        out.clear();
        partial.render(false, &mut out);
        assert_eq!(out, b"abc");
    }

    #[test]
    fn garbage_is_not_an_entry() {
        assert!(parse_line(b"hello").is_none());
        assert!(parse_line(b"notatime stdout F x").is_none());
        assert!(parse_line(b"2026-01-02T03:04:05Z stdin F x").is_none());
    }
}
