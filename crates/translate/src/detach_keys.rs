//! Detach keys of an attach with stdin: Docker's `detachKeys` syntax and the matcher that finds the
//! sequence in what the client types.
//!
//! The syntax is moby's `term.ToBytes`: comma-separated keys, each either a single character (its byte) or
//! `ctrl-<x>` for `x` in `a`-`z`, `@`, `[`, `\`, `]`, `^`, `_` (case-insensitive). The default is
//! `ctrl-p,ctrl-q`.

/// Docker's default detach sequence, `ctrl-p,ctrl-q`.
pub const DEFAULT: &[u8] = &[0x10, 0x11];

/// Parses a `detachKeys` value; an empty value gives the default. `Err` carries Docker's message.
pub fn parse(keys: &str) -> Result<Vec<u8>, String> {
    if keys.is_empty() {
        return Ok(DEFAULT.to_vec());
    }
    keys.split(',').map(|key| key_code(key).ok_or_else(|| format!("Invalid detach keys ({keys}) provided"))).collect()
}

fn key_code(key: &str) -> Option<u8> {
    if let [byte] = key.as_bytes() {
        return Some(*byte);
    }
    let lower = key.to_ascii_lowercase();
    match lower.strip_prefix("ctrl-")?.as_bytes() {
        [c @ b'a'..=b'z'] => Some(c - b'a' + 1),
        [b'@'] => Some(0),
        [c @ (b'[' | b'\\' | b']' | b'^' | b'_')] => Some(c - b'[' + 27),
        _ => None,
    }
}

/// Finds the detach sequence in a byte stream fed in pieces. Bytes that may start the sequence are held
/// back until it is clear they do not complete it, then passed on, as moby's escape proxy does.
#[derive(Debug, Clone)]
pub struct Matcher {
    keys: Vec<u8>,
    held: usize,
}

/// What one piece of input gives: the bytes to forward, and whether the sequence was completed (what
/// follows it in the piece is dropped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fed {
    pub forward: Vec<u8>,
    pub detached: bool,
}

impl Matcher {
    pub fn new(keys: Vec<u8>) -> Matcher {
        Matcher { keys, held: 0 }
    }

    pub fn feed(&mut self, input: &[u8]) -> Fed {
        let mut forward = Vec::with_capacity(input.len());
        if self.keys.is_empty() {
            forward.extend_from_slice(input);
            return Fed { forward, detached: false };
        }
        for &byte in input {
            if byte != self.keys[self.held] && self.held > 0 {
                // The held prefix was ordinary input after all; the byte may still start the sequence.
                forward.extend_from_slice(&self.keys[..self.held]);
                self.held = 0;
            }
            if byte == self.keys[self.held] {
                self.held += 1;
                if self.held == self.keys.len() {
                    self.held = 0;
                    return Fed { forward, detached: true };
                }
            } else {
                forward.push(byte);
            }
        }
        Fed { forward, detached: false }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dockers_syntax() {
        assert_eq!(parse(""), Ok(DEFAULT.to_vec()));
        assert_eq!(parse("ctrl-p,ctrl-q"), Ok(vec![16, 17]));
        assert_eq!(
            parse("ctrl-a,X,ctrl-@,ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_"),
            Ok(vec![1, b'X', 0, 27, 28, 29, 30, 31])
        );
        assert_eq!(parse("CTRL-Z"), Ok(vec![26]));
        assert_eq!(parse("ctrl-1"), Err("Invalid detach keys (ctrl-1) provided".into()));
        assert_eq!(parse("ab"), Err("Invalid detach keys (ab) provided".into()));
        assert!(parse("a,,b").is_err());
    }

    #[test]
    fn the_sequence_detaches_and_is_not_forwarded() {
        let mut m = Matcher::new(DEFAULT.to_vec());
        assert_eq!(m.feed(b"ls\n\x10\x11after"), Fed { forward: b"ls\n".to_vec(), detached: true });
    }

    #[test]
    fn a_sequence_split_across_pieces_is_found() {
        let mut m = Matcher::new(DEFAULT.to_vec());
        assert_eq!(m.feed(b"x\x10"), Fed { forward: b"x".to_vec(), detached: false });
        assert_eq!(m.feed(b"\x11"), Fed { forward: vec![], detached: true });
    }

    #[test]
    fn a_broken_prefix_is_forwarded_in_order() {
        let mut m = Matcher::new(DEFAULT.to_vec());
        assert_eq!(m.feed(b"\x10"), Fed { forward: vec![], detached: false });
        assert_eq!(m.feed(b"a"), Fed { forward: b"\x10a".to_vec(), detached: false });
        // A repeated first key: the second one may still start the sequence.
        assert_eq!(m.feed(b"\x10\x10\x11"), Fed { forward: b"\x10".to_vec(), detached: true });
    }

    #[test]
    fn no_keys_forward_everything() {
        let mut m = Matcher::new(Vec::new());
        assert_eq!(m.feed(b"\x10\x11"), Fed { forward: b"\x10\x11".to_vec(), detached: false });
    }
}
