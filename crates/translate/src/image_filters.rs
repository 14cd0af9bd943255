//! The `filters` of `GET /images/json` (ImageList) and `POST /images/prune` (ImagePrune), with moby's semantics
//! (daemon/images/images.go): `reference` (Go `path.Match` globs on the familiar reference or name; only the
//! matching references are listed), `label` (`key` or `key=value`), `dangling` (`true`/`false`), `before` and
//! `since` (an image, compared by creation time), `until` (a time).

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use serde_json::Value;

use super::image::StoredImage;
use super::image_ref::ImageRef;
use super::TranslateError;

const ACCEPTED: [&str; 6] = ["before", "dangling", "label", "reference", "since", "until"];

/// A parsed `filters` value.
#[derive(Debug, Clone, Default)]
pub struct ImageFilters {
    fields: BTreeMap<String, BTreeSet<String>>,
    before: Option<Timestamp>,
    since: Option<Timestamp>,
    until: Option<Timestamp>,
}

/// The references of one listed image.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listed {
    /// Familiar tags and digests that passed the `reference` filter (all of them without one).
    pub tags: Vec<String>,
    pub digests: Vec<String>,
}

impl ImageFilters {
    /// Parses Docker's `filters` JSON (`{"key": ["v"]}` or the older `{"key": {"v": true}}`). 400 with moby's
    /// words for an unknown key (`Invalid filter 'x'`) or a bad `dangling` value.
    pub fn parse(query: &str) -> Result<ImageFilters, TranslateError> {
        let invalid = |m: String| TranslateError::InvalidParameter(m);
        if query.trim().is_empty() {
            return Ok(ImageFilters::default());
        }
        let json: BTreeMap<String, Value> =
            serde_json::from_str(query).map_err(|e| invalid(format!("invalid filters: {e}")))?;
        let mut fields = BTreeMap::new();
        for (key, value) in json {
            if !ACCEPTED.contains(&key.as_str()) {
                return Err(invalid(format!("Invalid filter '{key}'")));
            }
            let values: BTreeSet<String> = match value {
                Value::Array(items) => items.into_iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
                Value::Object(map) => map.into_iter().map(|(k, _)| k).collect(),
                other => return Err(invalid(format!("invalid filter value for '{key}': {other}"))),
            };
            fields.insert(key, values);
        }
        for d in fields.get("dangling").into_iter().flatten() {
            if !["true", "false", "1", "0"].contains(&d.to_ascii_lowercase().as_str()) {
                return Err(invalid(format!("Invalid filter 'dangling={d}'")));
            }
        }
        for pattern in fields.get("reference").into_iter().flatten() {
            glob_match(pattern, "").map_err(|_| invalid(format!("invalid reference filter: {pattern}")))?;
        }
        let until = match fields.get("until").and_then(|u| u.iter().next()) {
            Some(u) => Some(parse_time(u)?),
            None => None,
        };
        Ok(ImageFilters { fields, until, ..Default::default() })
    }

    /// The `before` and `since` image references, to resolve to creation times ([`ImageFilters::with_bounds`]).
    pub fn bound_references(&self) -> (Option<&str>, Option<&str>) {
        let first = |k: &str| self.fields.get(k).and_then(|v| v.iter().next()).map(String::as_str);
        (first("before"), first("since"))
    }

    /// The filters with `before`/`since` resolved to the creation times of their images.
    pub fn with_bounds(mut self, before: Option<Timestamp>, since: Option<Timestamp>) -> Self {
        self.before = before;
        self.since = since;
        self
    }

    /// `dangling=true` (only untagged images) or `false` (only tagged ones); `None` without the filter.
    pub fn dangling(&self) -> Option<bool> {
        let values = self.fields.get("dangling")?;
        Some(values.iter().any(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "1")))
    }

    /// The filters without `dangling` (prune gives it its own meaning: `false` prunes tagged images too).
    pub fn without_dangling(mut self) -> Self {
        self.fields.remove("dangling");
        self
    }

    /// Whether `image` is listed, and with which references.
    pub fn apply(&self, image: &StoredImage) -> Option<Listed> {
        let created = image.config.created_at().unwrap_or(Timestamp::UNIX_EPOCH);
        if self.before.is_some_and(|b| created >= b) || self.since.is_some_and(|s| created <= s) {
            return None;
        }
        if self.until.is_some_and(|u| created >= u) {
            return None;
        }
        let labels = image.labels();
        let labels_ok = self.fields.get("label").into_iter().flatten().all(|l| match l.split_once('=') {
            Some((k, v)) => labels.get(k).is_some_and(|have| have == v),
            None => labels.contains_key(l),
        });
        if !labels_ok {
            return None;
        }
        let patterns = self.fields.get("reference").filter(|p| !p.is_empty());
        let passes = |full: &String| {
            patterns.is_none_or(|patterns| {
                let Ok(r) = ImageRef::parse(full) else { return false };
                patterns.iter().any(|p| {
                    glob_match(p, &r.familiar()).unwrap_or(false) || glob_match(p, &r.familiar_name()).unwrap_or(false)
                })
            })
        };
        let familiar = |refs: &[String]| -> Vec<String> {
            refs.iter().filter(|r| passes(r)).map(|r| super::image_ref::familiar_reference(r)).collect()
        };
        let listed = Listed { tags: familiar(&image.meta.repo_tags), digests: familiar(&image.meta.repo_digests) };
        let dangling = image.meta.repo_tags.is_empty();
        match self.dangling() {
            Some(true) if !dangling => return None,
            Some(false) if dangling => return None,
            _ => {}
        }
        if patterns.is_some() && listed.tags.is_empty() && listed.digests.is_empty() {
            return None;
        }
        Some(listed)
    }
}

/// A time filter value: Unix seconds (with fraction) or RFC 3339.
fn parse_time(raw: &str) -> Result<Timestamp, TranslateError> {
    if let Ok(seconds) = raw.parse::<f64>() {
        return Timestamp::from_second(seconds.trunc() as i64)
            .map_err(|e| TranslateError::InvalidParameter(format!("invalid time {raw}: {e}")));
    }
    raw.parse::<Timestamp>().map_err(|e| TranslateError::InvalidParameter(format!("invalid time {raw}: {e}")))
}

/// A malformed glob pattern (Go's `path.ErrBadPattern`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadPattern;

/// Go's `path.Match`: `*` any run of non-`/` characters, `?` one non-`/` character, `[...]` a class (`^` negates,
/// `a-z` ranges), `\` escapes. `Err` for a malformed pattern.
pub fn glob_match(pattern: &str, name: &str) -> Result<bool, BadPattern> {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // Iterative matcher with one backtrack point per `*` (Go's algorithm behaves the same on `/`-free runs).
    let (mut pi, mut ni) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    loop {
        if pi < p.len() {
            match p[pi] {
                '*' => {
                    star = Some((pi, ni));
                    pi += 1;
                    continue;
                }
                _ => {
                    if ni < n.len() {
                        let (ok, len) = match_one(&p[pi..], n[ni])?;
                        if ok {
                            pi += len;
                            ni += 1;
                            continue;
                        }
                    }
                }
            }
        } else if ni == n.len() {
            return Ok(true);
        }
        // Mismatch: extend the last star by one character (never across `/`).
        match star {
            Some((sp, sn)) if sn < n.len() && n[sn] != '/' => {
                star = Some((sp, sn + 1));
                pi = sp + 1;
                ni = sn + 1;
            }
            _ => {
                // Check the rest of the pattern is well-formed before answering false.
                check_pattern(&p[pi.min(p.len())..])?;
                return Ok(false);
            }
        }
    }
}

/// Matches one pattern element (not `*`) against `c`: whether it matched and the element's length.
fn match_one(p: &[char], c: char) -> Result<(bool, usize), BadPattern> {
    match p[0] {
        '?' => Ok((c != '/', 1)),
        '\\' => {
            let escaped = *p.get(1).ok_or(BadPattern)?;
            Ok((escaped == c, 2))
        }
        '[' => {
            let mut i = 1;
            let negated = p.get(1) == Some(&'^');
            if negated {
                i += 1;
            }
            let mut matched = false;
            let mut first = true;
            loop {
                let ch = *p.get(i).ok_or(BadPattern)?;
                if ch == ']' && !first {
                    i += 1;
                    break;
                }
                first = false;
                let lo = if ch == '\\' {
                    i += 1;
                    *p.get(i).ok_or(BadPattern)?
                } else {
                    ch
                };
                i += 1;
                let mut hi = lo;
                if p.get(i) == Some(&'-') && p.get(i + 1).is_some_and(|x| *x != ']') {
                    hi = if p[i + 1] == '\\' {
                        i += 1;
                        *p.get(i + 1).ok_or(BadPattern)?
                    } else {
                        p[i + 1]
                    };
                    i += 2;
                }
                if lo <= c && c <= hi {
                    matched = true;
                }
            }
            Ok((matched != negated && c != '/', i))
        }
        other => Ok((other == c, 1)),
    }
}

/// Errs on a malformed pattern (an unclosed class, a trailing backslash).
fn check_pattern(p: &[char]) -> Result<(), BadPattern> {
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            '*' => i += 1,
            _ => {
                let (_, len) = match_one(&p[i..], '\0')?;
                i += len;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::{ImageMeta, StoredImage};

    fn image(tags: &[&str], labels: &str, created: &str) -> StoredImage {
        let blob = format!(r#"{{"created":"{created}","config":{{"Labels":{labels}}},"os":"linux"}}"#);
        let meta = ImageMeta { repo_tags: tags.iter().map(|t| t.to_string()).collect(), ..Default::default() };
        StoredImage::from_blob(&blob, meta).unwrap()
    }

    #[test]
    fn globs_follow_go_path_match() {
        assert_eq!(glob_match("alp*", "alpine"), Ok(true));
        assert_eq!(glob_match("*", "me/app"), Ok(false));
        assert_eq!(glob_match("*/*", "me/app"), Ok(true));
        assert_eq!(glob_match("alpine:3.?0", "alpine:3.10"), Ok(true));
        assert_eq!(glob_match("[a-c]*", "busybox"), Ok(true));
        assert_eq!(glob_match("[^a-c]*", "busybox"), Ok(false));
        assert_eq!(glob_match("a\\*", "a*"), Ok(true));
        assert!(glob_match("[a", "x").is_err());
    }

    #[test]
    fn reference_filter_lists_only_matching_references() {
        let img = image(&["docker.io/library/alpine:latest", "docker.io/me/app:1"], "null", "2020-01-01T00:00:00Z");
        let f = ImageFilters::parse(r#"{"reference":["alpine"]}"#).unwrap();
        assert_eq!(f.apply(&img).unwrap().tags, vec!["alpine:latest"]);
        let f = ImageFilters::parse(r#"{"reference":["me/*:1"]}"#).unwrap();
        assert_eq!(f.apply(&img).unwrap().tags, vec!["me/app:1"]);
        assert!(ImageFilters::parse(r#"{"reference":["nosuch"]}"#).unwrap().apply(&img).is_none());
    }

    #[test]
    fn dangling_label_and_time_filters() {
        let tagged = image(&["docker.io/library/alpine:latest"], r#"{"a":"1"}"#, "2020-01-01T00:00:00Z");
        let untagged = image(&[], "null", "2021-01-01T00:00:00Z");
        let f = ImageFilters::parse(r#"{"dangling":["true"]}"#).unwrap();
        assert!(f.apply(&tagged).is_none() && f.apply(&untagged).is_some());
        let f = ImageFilters::parse(r#"{"dangling":{"false":true}}"#).unwrap();
        assert!(f.apply(&tagged).is_some() && f.apply(&untagged).is_none());
        let f = ImageFilters::parse(r#"{"label":["a=1"]}"#).unwrap();
        assert!(f.apply(&tagged).is_some() && f.apply(&untagged).is_none());
        let f = ImageFilters::parse("{}").unwrap().with_bounds(None, Some("2020-06-01T00:00:00Z".parse().unwrap()));
        assert!(f.apply(&tagged).is_none() && f.apply(&untagged).is_some());
        let f = ImageFilters::parse(r#"{"until":["2020-06-01T00:00:00Z"]}"#).unwrap();
        assert!(f.apply(&tagged).is_some() && f.apply(&untagged).is_none());
    }

    #[test]
    fn bad_filters_get_dockers_words() {
        assert_eq!(ImageFilters::parse(r#"{"bogus":["x"]}"#).unwrap_err().to_string(), "Invalid filter 'bogus'");
        assert_eq!(
            ImageFilters::parse(r#"{"dangling":["maybe"]}"#).unwrap_err().to_string(),
            "Invalid filter 'dangling=maybe'"
        );
    }
}
