//! Docker's `name` list filter. moby matches each value with Go's `regexp.MatchString` (RE2 syntax, an
//! unanchored search) against the name with and without its leading `/`; the `regex` crate speaks the same
//! RE2 syntax, so patterns behave alike.

/// A compiled name filter value.
#[derive(Debug, Clone)]
pub enum NamePattern {
    /// A pattern the regexp engine rejects (e.g. `[`): moby skips it, so it matches nothing.
    Invalid,
    Valid(regex::Regex),
}

impl NamePattern {
    pub fn parse(pattern: &str) -> NamePattern {
        regex::Regex::new(pattern).map_or(NamePattern::Invalid, NamePattern::Valid)
    }

    pub fn is_match(&self, text: &str) -> bool {
        match self {
            NamePattern::Invalid => false,
            NamePattern::Valid(re) => re.is_match(text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_search_unanchored_like_go() {
        assert!(NamePattern::parse("r").is_match("/run1"));
        assert!(NamePattern::parse("^/c").is_match("/cr"));
        assert!(!NamePattern::parse("^c").is_match("/cr"));
        assert!(NamePattern::parse("(x|c)r$").is_match("cr"));
        assert!(NamePattern::parse("run[0-9]{1}").is_match("run1"));
    }

    #[test]
    fn an_invalid_pattern_matches_nothing() {
        assert!(!NamePattern::parse("[").is_match("["));
    }
}
