//! The part of Go's regexp syntax that Docker's `name` list filter accepts and that names need, without a regex
//! dependency (translate/ uses only bollard-stubs and k8s-openapi).
//!
//! moby matches each `name` filter value with `regexp.MatchString` (an unanchored search) against the name with
//! and without its leading `/`. Supported here: literal characters, `.`, `^` at the start, `$` at the end,
//! `*`, `+`, `?` (a trailing lazy `?` is accepted: it does not change whether a match exists), bracket classes
//! with ranges and negation, and the escapes `\d \w \s \D \W \S` and `\` before punctuation. Groups,
//! alternation and counted repetition are refused by name instead of being matched differently from Docker.

/// A compiled name filter value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamePattern {
    /// A pattern Go's regexp rejects (e.g. `[`): moby skips it, so it matches nothing.
    Invalid,
    Valid {
        start: bool,
        end: bool,
        items: Vec<Item>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    atom: Atom,
    min: usize,
    many: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Atom {
    Char(char),
    Any,
    Class { negated: bool, ranges: Vec<(char, char)> },
}

const DIGIT: &[(char, char)] = &[('0', '9')];
const WORD: &[(char, char)] = &[('0', '9'), ('A', 'Z'), ('_', '_'), ('a', 'z')];
const SPACE: &[(char, char)] = &[('\t', '\n'), ('\x0c', '\r'), (' ', ' ')];

impl NamePattern {
    /// Compiles a filter value. `Err` names a construct podshim does not implement.
    pub fn parse(pattern: &str) -> Result<NamePattern, String> {
        let mut chars: Vec<char> = pattern.chars().collect();
        let start = chars.first() == Some(&'^');
        if start {
            chars.remove(0);
        }
        let escaped_dollar = chars.len() >= 2 && chars[chars.len() - 2] == '\\';
        let end = chars.last() == Some(&'$') && !escaped_dollar;
        if end {
            chars.pop();
        }
        let mut items: Vec<Item> = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            i += 1;
            let atom = match c {
                '*' | '+' | '?' => {
                    let Some(last) = items.last_mut() else { return Ok(NamePattern::Invalid) };
                    if last.min != 1 || last.many {
                        // A quantifier after a quantifier: only the lazy `?` is valid Go.
                        if c == '?' && chars.get(i - 2).is_some_and(|p| matches!(p, '*' | '+' | '?')) {
                            continue;
                        }
                        return Ok(NamePattern::Invalid);
                    }
                    last.min = usize::from(c == '+');
                    last.many = c != '?';
                    continue;
                }
                '.' => Atom::Any,
                '[' => match class(&chars, &mut i)? {
                    Some(atom) => atom,
                    None => return Ok(NamePattern::Invalid),
                },
                '\\' => match chars.get(i) {
                    None => return Ok(NamePattern::Invalid),
                    Some(&e) => {
                        i += 1;
                        escape(e)?
                    }
                },
                '(' | ')' | '|' | '{' | '}' | '^' | '$' => {
                    return Err(format!("the regular expression feature '{c}' in a name filter"));
                }
                c => Atom::Char(c),
            };
            items.push(Item { atom, min: 1, many: false });
        }
        Ok(NamePattern::Valid { start, end, items })
    }

    /// Go's `regexp.MatchString`: true if the pattern matches anywhere in `text` (honouring `^`/`$`).
    pub fn is_match(&self, text: &str) -> bool {
        let NamePattern::Valid { start, end, items } = self else { return false };
        let text: Vec<char> = text.chars().collect();
        let last_start = if *start { 0 } else { text.len() };
        (0..=last_start).any(|from| match_here(items, &text[from..], *end))
    }
}

fn match_here(items: &[Item], text: &[char], end: bool) -> bool {
    let Some((item, rest)) = items.split_first() else { return !end || text.is_empty() };
    let max = if item.many { text.len() } else { 1.min(text.len()) };
    let mut n = 0;
    while n < max && item.atom.matches(text[n]) {
        n += 1;
    }
    (item.min..=n).rev().any(|k| match_here(rest, &text[k..], end))
}

impl Atom {
    fn matches(&self, c: char) -> bool {
        match self {
            Atom::Char(x) => *x == c,
            Atom::Any => c != '\n',
            Atom::Class { negated, ranges } => ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)) != *negated,
        }
    }
}

fn escape(e: char) -> Result<Atom, String> {
    let class = |negated, r: &[(char, char)]| Atom::Class { negated, ranges: r.to_vec() };
    match e {
        'd' => Ok(class(false, DIGIT)),
        'D' => Ok(class(true, DIGIT)),
        'w' => Ok(class(false, WORD)),
        'W' => Ok(class(true, WORD)),
        's' => Ok(class(false, SPACE)),
        'S' => Ok(class(true, SPACE)),
        e if e.is_ascii_punctuation() => Ok(Atom::Char(e)),
        e => Err(format!("the regular expression escape '\\{e}' in a name filter")),
    }
}

/// A bracket class after its `[`; `None` when unterminated (invalid in Go).
fn class(chars: &[char], i: &mut usize) -> Result<Option<Atom>, String> {
    let negated = chars.get(*i) == Some(&'^');
    if negated {
        *i += 1;
    }
    let mut ranges = Vec::new();
    let mut first = true;
    loop {
        let Some(&c) = chars.get(*i) else { return Ok(None) };
        *i += 1;
        if c == ']' && !first {
            return Ok(Some(Atom::Class { negated, ranges }));
        }
        first = false;
        let lo = match c {
            '\\' => {
                let Some(&e) = chars.get(*i) else { return Ok(None) };
                *i += 1;
                match escape(e)? {
                    Atom::Char(c) => c,
                    Atom::Class { negated: false, ranges: r } => {
                        ranges.extend(r);
                        continue;
                    }
                    _ => return Err(format!("the negated escape '\\{e}' inside a bracket class in a name filter")),
                }
            }
            '[' if chars.get(*i) == Some(&':') => {
                return Err("POSIX classes ([:alpha:]) in a name filter".to_string());
            }
            c => c,
        };
        let is_range = chars.get(*i) == Some(&'-') && chars.get(*i + 1).is_some_and(|c| *c != ']');
        if is_range {
            let hi = chars[*i + 1];
            *i += 2;
            if hi < lo {
                return Ok(None);
            }
            ranges.push((lo, hi));
        } else {
            ranges.push((lo, lo));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, text: &str) -> bool {
        NamePattern::parse(pattern).unwrap().is_match(text)
    }

    #[test]
    fn plain_text_is_a_substring_search() {
        assert!(m("r", "/run1"));
        assert!(m("/x", "/x3"));
        assert!(!m("y", "/x3"));
        assert!(m("", "/x3"));
    }

    #[test]
    fn anchors_dot_and_repetition_follow_go() {
        assert!(m("^/c", "/cr"));
        assert!(m("^c", "cr"));
        assert!(!m("^c", "/cr"));
        assert!(m("cr$", "/cr"));
        assert!(!m("^cr$", "/crx"));
        assert!(m("^w.*b$", "web-db"));
        assert!(m("^a+b?c*$", "aaa"));
        assert!(!m("^a+$", ""));
        assert!(m("^x\\.y$", "x.y"));
        assert!(!m("^x\\.y$", "xzy"));
        assert!(m("^a.*?b$", "axxb"));
    }

    #[test]
    fn classes_and_escapes() {
        assert!(m("^[a-c]+\\d$", "abc1"));
        assert!(!m("^[^a-c]", "b"));
        assert!(m("[]x]", "]"));
        assert!(m("^\\w+$", "my_name"));
        assert!(!m("^\\w+$", "my-name"));
        assert!(m("[\\d_]", "_"));
    }

    #[test]
    fn invalid_go_patterns_match_nothing_and_unsupported_ones_are_named() {
        assert_eq!(NamePattern::parse("["), Ok(NamePattern::Invalid));
        assert_eq!(NamePattern::parse("*a"), Ok(NamePattern::Invalid));
        assert_eq!(NamePattern::parse("a**"), Ok(NamePattern::Invalid));
        assert_eq!(NamePattern::parse("[z-a]"), Ok(NamePattern::Invalid));
        assert!(!NamePattern::Invalid.is_match("anything"));
        assert!(NamePattern::parse("a|b").unwrap_err().contains("'|'"));
        assert!(NamePattern::parse("(ab)").is_err());
        assert!(NamePattern::parse("\\bx").is_err());
    }
}
