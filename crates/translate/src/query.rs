//! Query strings into values, with Docker's parsers: booleans as moby `httputils.BoolValue`, integers and
//! timestamps with a 400 naming the parameter. Unknown parameters are ignored, as Docker ignores them.
//! (bollard's query types are Serialize-only, so podshim reads queries with [`Query`], a map of the raw pairs.)

use std::collections::HashMap;

use crate::TranslateError;

/// The query string of one request, first value per key (as Go's `r.Form.Get`).
#[derive(Debug, Default, Clone)]
pub struct Query {
    pairs: HashMap<String, String>,
}

impl Query {
    /// Parses a raw query string (`None` for no query).
    pub fn parse(raw: Option<&str>) -> Self {
        let mut pairs = HashMap::new();
        for (k, v) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
            pairs.entry(k.into_owned()).or_insert_with(|| v.into_owned());
        }
        Query { pairs }
    }

    /// The raw value, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs.get(key).map(String::as_str)
    }

    /// The value, with an empty string counted as absent (bollard sends `platform=`).
    pub fn non_empty(&self, key: &str) -> Option<&str> {
        self.get(key).filter(|v| !v.is_empty())
    }

    /// A boolean as moby `httputils.BoolValue`: absent, `""`, `0`, `no`, `false` and `none` (any case) are false,
    /// anything else is true. Docker never refuses a boolean, so neither does podshim (`True` from docker-py,
    /// `true` from bollard, `1` from the CLI all count).
    pub fn bool(&self, key: &str) -> bool {
        let v = self.get(key).unwrap_or_default().trim().to_ascii_lowercase();
        !matches!(v.as_str(), "" | "0" | "no" | "false" | "none")
    }

    /// Like [`Query::bool`], but `default` when the parameter is absent (moby `BoolValueOrDefault`).
    pub fn bool_or(&self, key: &str, default: bool) -> bool {
        if self.get(key).is_none() {
            default
        } else {
            self.bool(key)
        }
    }

    /// An integer; absent or empty is `None`, anything unparsable a 400 naming the parameter.
    pub fn int(&self, key: &str) -> Result<Option<i64>, TranslateError> {
        match self.non_empty(key) {
            None => Ok(None),
            Some(v) => v
                .trim()
                .parse::<i64>()
                .map(Some)
                .map_err(|e| TranslateError::InvalidParameter(format!("invalid value for {key}: {v:?}: {e}"))),
        }
    }

    /// A Unix time in seconds with an optional fraction (`1700000000.5`), as `since`/`until` of logs and events.
    /// `0` and absent mean no bound (bollard sends `since=0&until=0`). RFC 3339 is accepted as well.
    pub fn timestamp(&self, key: &str) -> Result<Option<jiff::Timestamp>, TranslateError> {
        let Some(v) = self.non_empty(key) else { return Ok(None) };
        parse_timestamp(v)
            .map_err(|why| TranslateError::InvalidParameter(format!("invalid value for {key}: {v:?}: {why}")))
    }
}

/// See [`Query::timestamp`].
fn parse_timestamp(v: &str) -> Result<Option<jiff::Timestamp>, String> {
    if let Ok(t) = v.parse::<jiff::Timestamp>() {
        return Ok(Some(t));
    }
    let (secs, frac) = v.split_once('.').unwrap_or((v, ""));
    let secs: i64 = secs.parse().map_err(|e| format!("{e}"))?;
    if !frac.bytes().all(|b| b.is_ascii_digit()) || frac.len() > 9 {
        return Err("the fraction must be at most 9 digits".to_string());
    }
    let nanos: i32 = if frac.is_empty() { 0 } else { format!("{frac:0<9}").parse().map_err(|e| format!("{e}"))? };
    if secs == 0 && nanos == 0 {
        return Ok(None);
    }
    jiff::Timestamp::new(secs, nanos).map(Some).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_follow_moby() {
        let q = Query::parse(Some("a=1&b=True&c=true&d=0&e=False&f=&g=no&h=yes"));
        assert!(q.bool("a") && q.bool("b") && q.bool("c") && q.bool("h"));
        assert!(!q.bool("d") && !q.bool("e") && !q.bool("f") && !q.bool("g") && !q.bool("absent"));
        assert!(q.bool_or("absent", true));
        assert!(!q.bool_or("d", true));
    }

    #[test]
    fn integers_name_the_parameter_when_bad() {
        let q = Query::parse(Some("t=5&limit=-1&bad=x&empty="));
        assert_eq!(q.int("t").unwrap(), Some(5));
        assert_eq!(q.int("limit").unwrap(), Some(-1));
        assert_eq!(q.int("empty").unwrap(), None);
        let err = q.int("bad").unwrap_err();
        assert_eq!(err.status_code(), 400);
        assert!(err.to_string().starts_with("invalid value for bad: \"x\""), "{err}");
    }

    #[test]
    fn timestamps_are_unix_seconds_with_fractions_and_zero_is_no_bound() {
        let q = Query::parse(Some("a=0&b=1700000000&c=1700000000.25&d=abc&e=2024-01-01T00:00:00Z"));
        assert_eq!(q.timestamp("a").unwrap(), None);
        assert_eq!(q.timestamp("b").unwrap().unwrap().as_second(), 1_700_000_000);
        assert_eq!(q.timestamp("c").unwrap().unwrap().subsec_nanosecond(), 250_000_000);
        assert!(q.timestamp("d").is_err());
        assert_eq!(q.timestamp("e").unwrap().unwrap().as_second(), 1_704_067_200);
    }
}
