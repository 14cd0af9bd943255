//! The `filters` and `all` query parameters of `GET /containers/json` (operation ContainerList): parsed once
//! ([`ListFilters::parse`]) and applied to each list entry ([`ListFilters::matches`]) with moby's semantics
//! (daemon/list.go): values of one key are alternatives (any may match), different keys must all match, and every
//! `label` value must match.

use std::collections::{BTreeMap, BTreeSet};

use bollard_stubs::models::ContainerSummary;
use jiff::Timestamp;
use serde_json::Value;

use super::image_ref::reference_matches;
use super::name_pattern::NamePattern;
use super::state::DockerState;
use super::TranslateError;

/// The filter keys Docker accepts for the container list (moby acceptedPsFilterTags).
const ACCEPTED: [&str; 15] = [
    "ancestor",
    "before",
    "exited",
    "expose",
    "health",
    "id",
    "is-task",
    "isolation",
    "label",
    "name",
    "network",
    "publish",
    "since",
    "status",
    "volume",
];
const STATUSES: [&str; 7] = ["created", "restarting", "running", "removing", "paused", "exited", "dead"];
const HEALTH: [&str; 4] = ["starting", "healthy", "unhealthy", "none"];

/// A parsed `filters` value.
#[derive(Debug, Clone, Default)]
pub struct ListFilters {
    fields: BTreeMap<String, BTreeSet<String>>,
    names: Vec<NamePattern>,
    exited: Vec<i64>,
    before: Option<Timestamp>,
    since: Option<Timestamp>,
    /// `ancestor` values resolved to image ids by the caller (references of pulled images).
    ancestor_ids: BTreeMap<String, String>,
}

impl ListFilters {
    /// The `filters` of `POST /containers/prune`: Docker takes `label`, `label!` and `until` only (`Invalid filter
    /// 'name'` for a list filter). podshim takes `label`; `label!` and `until` are refused as unsupported rather
    /// than ignored, which would prune more.
    pub fn parse_prune(query: &str) -> Result<ListFilters, TranslateError> {
        if !query.trim().is_empty() {
            let json: BTreeMap<String, Value> =
                serde_json::from_str(query).map_err(|e| TranslateError::InvalidParameter(e.to_string()))?;
            if let Some(key) = json.keys().find(|k| ["until", "label!"].contains(&k.as_str())) {
                return Err(TranslateError::unsupported(format!("prune filter '{key}'"), "not implemented yet"));
            }
            if let Some(key) = json.keys().find(|k| k.as_str() != "label") {
                return Err(TranslateError::InvalidParameter(format!("Invalid filter '{key}'")));
            }
        }
        ListFilters::parse(query)
    }

    /// Parses Docker's `filters` JSON: `{"key": ["v", ...]}`, or the older `{"key": {"v": true}}` that old
    /// clients send (every listed value counts, whatever its boolean, as in moby). An empty string is no filter.
    ///
    /// Errors, with moby's words (HTTP 400): `Invalid filter 'x'` for an unknown key, `Invalid filter
    /// 'status=bogus'`, `Unrecognised filter value for health: x`, `Invalid filter 'is-task=[x]'`, strconv's
    /// message for a non-numeric `exited`, `filter for 'publish' should not contain ':': x`. Malformed JSON is
    /// 400 too (moby answers 500 with Go's decoder message). A name pattern podshim cannot evaluate is
    /// [`TranslateError::Unsupported`].
    pub fn parse(query: &str) -> Result<ListFilters, TranslateError> {
        let invalid = |m: String| TranslateError::InvalidParameter(m);
        if query.trim().is_empty() {
            return Ok(ListFilters::default());
        }
        let json: BTreeMap<String, Value> = serde_json::from_str(query).map_err(|e| invalid(e.to_string()))?;
        let mut fields = BTreeMap::new();
        for (key, value) in json {
            let values: BTreeSet<String> = match value {
                Value::Array(items) => items.into_iter().map(|v| text(v, &key)).collect::<Result<_, _>>()?,
                Value::Object(map) => map.into_iter().map(|(k, _)| k).collect(),
                _ => return Err(invalid(format!("invalid filter value for '{key}': expected a list"))),
            };
            if !ACCEPTED.contains(&key.as_str()) {
                return Err(invalid(format!("Invalid filter '{key}'")));
            }
            fields.insert(key, values);
        }
        let get = |key: &str| fields.get(key).into_iter().flatten();
        if let Some(bad) = get("status").find(|s| !STATUSES.contains(&s.as_str())) {
            return Err(invalid(format!("Invalid filter 'status={bad}'")));
        }
        if let Some(bad) = get("health").find(|s| !HEALTH.contains(&s.as_str())) {
            return Err(invalid(format!("Unrecognised filter value for health: {bad}")));
        }
        if let Some(task) = fields.get("is-task") {
            if task.len() != 1 || !task.iter().all(|t| t == "true" || t == "false") {
                let list: Vec<&str> = task.iter().map(String::as_str).collect();
                return Err(invalid(format!("Invalid filter 'is-task=[{}]'", list.join(" "))));
            }
        }
        for key in ["publish", "expose"] {
            if let Some(bad) = get(key).find(|p| p.contains(':')) {
                return Err(invalid(format!("filter for '{key}' should not contain ':': {bad}")));
            }
        }
        let exited = get("exited")
            .map(|c| c.parse::<i64>().map_err(|_| invalid(format!("strconv.Atoi: parsing \"{c}\": invalid syntax"))))
            .collect::<Result<_, _>>()?;
        let names = get("name").map(|n| NamePattern::parse(n)).collect();
        Ok(ListFilters { names, exited, fields, ..Default::default() })
    }

    /// The `before` and `since` values (a container id, id prefix or name), for the caller to resolve to that
    /// container's creation time and pass to [`ListFilters::with_bounds`]. When one does not resolve, Docker 20.10
    /// answers 500 `no such container <value>`.
    pub fn bound_references(&self) -> (Option<&str>, Option<&str>) {
        let first = |k: &str| self.fields.get(k).and_then(|v| v.iter().next()).map(String::as_str);
        (first("before"), first("since"))
    }

    /// Sets the creation times of the `before` and `since` containers. Docker walks its list newest first and
    /// skips up to and including `before`, and stops at `since`; by creation time that is: created strictly
    /// before `before`, strictly after `since`. Kubernetes keeps whole seconds, so a container created in the
    /// same second as the reference is left out either way.
    pub fn with_bounds(mut self, before: Option<Timestamp>, since: Option<Timestamp>) -> Self {
        self.before = before;
        self.since = since;
        self
    }

    /// The `ancestor` values, to resolve to image ids ([`ListFilters::with_ancestor_ids`]).
    pub fn ancestors(&self) -> Vec<String> {
        self.fields.get("ancestor").into_iter().flatten().cloned().collect()
    }

    /// The filters with `ancestor` values resolved to the ids of the images they name.
    pub fn with_ancestor_ids(mut self, ids: BTreeMap<String, String>) -> Self {
        self.ancestor_ids = ids;
        self
    }

    /// Whether containers that are not running are listed: `all=1`, a positive `limit`, or a `status` filter
    /// (moby sets All for it). Otherwise only running containers (running, paused, restarting) are listed.
    pub fn includes_stopped(&self, all: bool, limit: Option<i64>) -> bool {
        all || limit.is_some_and(|l| l > 0) || self.fields.contains_key("status")
    }

    /// Whether a list entry passes the filters; `state` is the state the entry was made from (for `exited`).
    /// It does not apply `all` (see [`ListFilters::includes_stopped`]).
    ///
    /// - `name`: regexp search (RE2 syntax, as Go's) on the name with and without its `/` ([`NamePattern`]);
    /// - `id`: prefix of the full id; `label`: `key` present, or `key=value` equal;
    /// - `status`: the State word; `exited`: the exit code of a container that ran and is not running;
    /// - `ancestor`: the image the value names (resolved by the caller), the same normalised reference, or an image
    ///   ID prefix ([`reference_matches`]);
    /// - `network`: `bridge` (podshim's one network); `health`: `none` (no healthchecks); `is-task`: `false`;
    ///   `isolation`: `default`; `publish`, `expose`, `volume`: nothing (no ports or mounts).
    pub fn matches(&self, entry: &ContainerSummary, state: &DockerState) -> bool {
        let values = |key: &str| self.fields.get(key);
        // A key with an empty list filters nothing (moby Args.Match), except `volume`, which then matches nothing.
        let any =
            |key: &str, f: &dyn Fn(&str) -> bool| values(key).is_none_or(|v| v.is_empty() || v.iter().any(|x| f(x)));
        let id = entry.id.as_deref().unwrap_or("");
        let name = entry.names.as_ref().and_then(|n| n.first()).map_or("", String::as_str);
        let bare = name.strip_prefix('/').unwrap_or(name);
        let labels = entry.labels.clone().unwrap_or_default();
        let image = entry.image.as_deref().unwrap_or("");
        let image_id = entry.image_id.as_deref().unwrap_or("");
        let ancestor = |a: &str| {
            self.ancestor_ids.get(a).is_some_and(|id| id == image_id) || reference_matches(a, image, image_id)
        };
        let created = entry.created.and_then(|s| Timestamp::from_second(s).ok());
        let names_ok = self.names.is_empty() || self.names.iter().any(|p| p.is_match(name) || p.is_match(bare));
        let labels_ok = values("label").into_iter().flatten().all(|l| match l.split_once('=') {
            Some((k, v)) => labels.get(k).is_some_and(|have| have == v),
            None => labels.contains_key(l),
        });
        let exited_ok = self.exited.is_empty()
            || (!state.is_running() && state.started_at.is_some() && self.exited.contains(&state.exit_code));
        let before_ok = self.before.is_none_or(|b| created.is_some_and(|c| c < b));
        let since_ok = self.since.is_none_or(|s| created.is_some_and(|c| c > s));
        names_ok
            && labels_ok
            && exited_ok
            && before_ok
            && since_ok
            && any("id", &|p| id.starts_with(p))
            && any("status", &|s| s == state.status.as_str())
            && any("ancestor", &ancestor)
            && any("network", &|n| n == super::inspect::NETWORK)
            && any("health", &|h| h == "none")
            && any("is-task", &|t| t == "false")
            && any("isolation", &|i| i == "default")
            && ["publish", "expose"].iter().all(|k| values(k).is_none_or(|v| v.is_empty()))
            && values("volume").is_none()
    }
}

fn text(value: Value, key: &str) -> Result<String, TranslateError> {
    match value {
        Value::String(s) => Ok(s),
        other => Err(TranslateError::InvalidParameter(format!("invalid filter value for '{key}': {other}"))),
    }
}

#[cfg(test)]
#[path = "list_filters_tests.rs"]
mod tests;
