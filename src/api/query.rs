//! Request input: query strings into small structs, and capped request bodies into bollard models.
//!
//! bollard's query types are Serialize-only, so podshim reads queries with [`Query`], a map of the raw pairs with
//! Docker's parsers on top: booleans as moby `httputils.BoolValue`, integers with a 400 naming the parameter.
//! Unknown parameters are ignored, as Docker ignores them.

use std::collections::HashMap;

use bytes::{Bytes, BytesMut};
use http::Request;
use http_body_util::BodyExt;
use hyper::body::Body as HttpBody;
use serde::de::{DeserializeOwned, Visitor};
use serde::Deserializer;

use crate::error::Error;

/// The largest create (or other JSON) body podshim reads. Docker's create bodies are about 2 KiB.
pub const JSON_BODY_LIMIT: usize = 1024 * 1024;
/// moby rejects a start body longer than this (a leftover of the pre-1.24 HostConfig-at-start).
pub const START_BODY_LIMIT: usize = 7;

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

    /// The query of a request.
    pub fn of<B>(req: &Request<B>) -> Self {
        Query::parse(req.uri().query())
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
    pub fn int(&self, key: &str) -> Result<Option<i64>, Error> {
        match self.non_empty(key) {
            None => Ok(None),
            Some(v) => v
                .trim()
                .parse::<i64>()
                .map(Some)
                .map_err(|e| Error::InvalidParameter(format!("invalid value for {key}: {v:?}: {e}"))),
        }
    }

    /// A Unix time in seconds with an optional fraction (`1700000000.5`), as `since`/`until` of logs and events.
    /// `0` and absent mean no bound (bollard sends `since=0&until=0`). RFC 3339 is accepted as well.
    pub fn timestamp(&self, key: &str) -> Result<Option<jiff::Timestamp>, Error> {
        let Some(v) = self.non_empty(key) else { return Ok(None) };
        parse_timestamp(v).map_err(|why| Error::InvalidParameter(format!("invalid value for {key}: {v:?}: {why}")))
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

/// Reads a body of at most `limit` bytes; a longer one is 400 (Docker's clients never send one).
pub async fn read_body<B>(body: B, limit: usize) -> Result<Bytes, Error>
where
    B: HttpBody<Data = Bytes>,
    B::Error: std::fmt::Display,
{
    let mut body = std::pin::pin!(body);
    let mut buf = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| Error::InvalidParameter(format!("reading the request body: {e}")))?;
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > limit {
                return Err(Error::InvalidParameter(format!("request body is larger than {limit} bytes")));
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf.freeze())
}

/// Decodes a JSON body into `T`. An empty body is 400 with moby's words for it (runconfig decoder: "invalid JSON:
/// got EOF while reading request body"); malformed JSON or a wrong type is 400 with serde's message.
pub fn decode_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::InvalidParameter("invalid JSON: got EOF while reading request body".to_string()));
    }
    serde_json::from_slice(bytes).map_err(|e| Error::InvalidParameter(format!("invalid JSON: {e}")))
}

/// Decodes a JSON object body into `T` as Go's `encoding/json` does for moby: a top-level key matches `T`'s field
/// without regard to case (docker-py sends `detachKeys` for `DetachKeys`), when no key spells it exactly.
pub fn decode_json_folded<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    let mut value: serde_json::Value = decode_json(bytes)?;
    fold_keys(&mut value, field_names::<T>());
    serde_json::from_value(value).map_err(|e| Error::InvalidParameter(format!("invalid JSON: {e}")))
}

/// Renames the keys of a JSON object that match one of `fields` only without regard to ASCII case.
pub fn fold_keys(value: &mut serde_json::Value, fields: &[&str]) {
    let serde_json::Value::Object(map) = value else { return };
    let renames: Vec<(String, &str)> = map
        .keys()
        .filter(|key| !fields.contains(&key.as_str()))
        .filter_map(|key| fields.iter().find(|f| f.eq_ignore_ascii_case(key)).map(|f| (key.clone(), *f)))
        .collect();
    for (key, field) in renames {
        if let Some(v) = map.remove(&key) {
            map.entry(field.to_string()).or_insert(v);
        }
    }
}

/// The top-level field names of a struct as its `Deserialize` names them (empty for anything else): serde hands
/// them to the deserializer, which here only notes them.
pub fn field_names<T: DeserializeOwned>() -> &'static [&'static str] {
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(FieldProbe(&mut fields));
    fields
}

struct FieldProbe<'a>(&'a mut &'static [&'static str]);

impl<'de> Deserializer<'de> for FieldProbe<'_> {
    type Error = serde::de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Self::Error> {
        Err(serde::de::Error::custom("not a struct"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = fields;
        Err(serde::de::Error::custom("fields noted"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
    }
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
        assert_eq!(err.status(), http::StatusCode::BAD_REQUEST);
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

    #[test]
    fn json_errors_are_400_with_the_parsers_message() {
        let err = decode_json::<bollard_stubs::models::ContainerCreateBody>(b"{\"Cmd\": 3}").unwrap_err();
        assert_eq!(err.status(), http::StatusCode::BAD_REQUEST);
        assert!(err.to_string().contains("invalid type"), "{err}");
        let err = decode_json::<bollard_stubs::models::ContainerCreateBody>(b"").unwrap_err();
        assert_eq!(err.status(), http::StatusCode::BAD_REQUEST);
    }

    #[test]
    fn keys_match_fields_without_regard_to_case_as_in_go() {
        use bollard_stubs::models::ExecConfig;
        let names = field_names::<ExecConfig>();
        assert!(names.contains(&"DetachKeys") && names.contains(&"AttachStdin"), "{names:?}");
        let config: ExecConfig = decode_json_folded(br#"{"detachKeys":"ctrl-p","cmd":["ls"],"Tty":true}"#).unwrap();
        assert_eq!(config.detach_keys.as_deref(), Some("ctrl-p"));
        assert_eq!(config.cmd, Some(vec!["ls".to_string()]));
        assert_eq!(config.tty, Some(true));
        let exact: ExecConfig = decode_json_folded(br#"{"Tty":true,"tty":false}"#).unwrap();
        assert_eq!(exact.tty, Some(true), "the exact spelling wins");
        assert!(field_names::<String>().is_empty());
    }

    #[tokio::test]
    async fn bodies_over_the_cap_are_refused() {
        let body = http_body_util::Full::new(Bytes::from_static(b"12345678"));
        assert!(read_body(body, START_BODY_LIMIT).await.is_err());
        let body = http_body_util::Full::new(Bytes::from_static(b"{}"));
        assert_eq!(read_body(body, START_BODY_LIMIT).await.unwrap(), Bytes::from_static(b"{}"));
    }
}
