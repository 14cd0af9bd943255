//! Tests for [`super::ListFilters`]: each filter key against list entries, the old map form, and Docker's errors.
//! The expectations were checked against a Docker Engine 20.10 with the same containers (`/cr` created with label
//! `a=b`, `/x3` exited 3, `/run1` running).

use std::collections::HashMap;

use bollard_stubs::models::ContainerSummary;
use jiff::Timestamp;

use super::*;
use crate::state::Status;

const CR: &str = "87cc63db0514f523c9dbea361e42ca52d325727cf18477fc2b580d06ccbbdee1";
const X3: &str = "b1d9ded32d8b99a704eedad0542c862b38cbbabd6ceb2ba39e4699835c7a9682";
const RUN1: &str = "5c788353a5045ee0791eb1def64904eab6e2b55b8e9851f97bdd54bd35030172";

fn at(s: i64) -> Timestamp {
    Timestamp::from_second(1_795_513_000 + s).unwrap()
}

/// The three containers, oldest first: (entry, state).
fn containers() -> Vec<(ContainerSummary, DockerState)> {
    let entry = |id: &str, name: &str, image: &str, labels: &[(&str, &str)], created: i64| ContainerSummary {
        id: Some(id.to_string()),
        names: Some(vec![format!("/{name}")]),
        image: Some(image.to_string()),
        image_id: Some(crate::image_ref::reference_to_image_id(image)),
        labels: Some(labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<HashMap<_, _>>()),
        created: Some(at(created).as_second()),
        ..Default::default()
    };
    let exited = DockerState {
        status: Status::Exited,
        exit_code: 3,
        started_at: Some(at(1)),
        finished_at: Some(at(1)),
        ..DockerState::created()
    };
    let running = DockerState { status: Status::Running, started_at: Some(at(3)), ..DockerState::created() };
    vec![
        (entry(X3, "x3", "alpine", &[], 0), exited),
        (entry(CR, "cr", "alpine", &[("a", "b")], 1), DockerState::created()),
        (entry(RUN1, "run1", "docker.io/library/alpine:latest", &[], 2), running),
    ]
}

/// The names the filter lets through, ignoring `all`.
fn names(filters: &str) -> Vec<String> {
    let f = ListFilters::parse(filters).unwrap();
    containers().iter().filter(|(e, s)| f.matches(e, s)).map(|(e, _)| e.names.as_ref().unwrap()[0].clone()).collect()
}

#[test]
fn no_filters_lets_everything_through() {
    assert_eq!(names(""), ["/x3", "/cr", "/run1"]);
    assert_eq!(names("{}"), ["/x3", "/cr", "/run1"]);
    assert_eq!(names(r#"{"name":[]}"#), ["/x3", "/cr", "/run1"]);
}

#[test]
fn name_is_a_regexp_search_with_and_without_the_slash() {
    assert_eq!(names(r#"{"name":["r"]}"#), ["/cr", "/run1"]);
    assert_eq!(names(r#"{"name":["^/c"]}"#), ["/cr"]);
    assert_eq!(names(r#"{"name":["^c"]}"#), ["/cr"]);
    assert_eq!(names(r#"{"name":["cr$"]}"#), ["/cr"]);
    assert_eq!(names(r#"{"name":["x3","cr"]}"#), ["/x3", "/cr"]);
    assert!(names(r#"{"name":["["]}"#).is_empty());
}

#[test]
fn id_is_a_prefix_match() {
    assert_eq!(names(r#"{"id":["87cc"]}"#), ["/cr"]);
    assert!(names(r#"{"id":["7cc"]}"#).is_empty());
    assert_eq!(names(&format!(r#"{{"id":["{X3}"]}}"#)), ["/x3"]);
}

#[test]
fn label_needs_every_key_or_key_value() {
    assert_eq!(names(r#"{"label":["a"]}"#), ["/cr"]);
    assert_eq!(names(r#"{"label":["a=b"]}"#), ["/cr"]);
    assert!(names(r#"{"label":["a=c"]}"#).is_empty());
    assert!(names(r#"{"label":["a="]}"#).is_empty());
    assert!(names(r#"{"label":["a","b"]}"#).is_empty());
}

#[test]
fn old_map_form_counts_every_listed_value() {
    assert_eq!(names(r#"{"label":{"a=b":true}}"#), ["/cr"]);
    assert_eq!(names(r#"{"label":{"a":false}}"#), ["/cr"]);
    assert_eq!(names(r#"{"status":{"exited":true,"created":true}}"#), ["/x3", "/cr"]);
}

#[test]
fn status_and_exited() {
    assert_eq!(names(r#"{"status":["created","exited"]}"#), ["/x3", "/cr"]);
    assert_eq!(names(r#"{"status":["running"]}"#), ["/run1"]);
    assert_eq!(names(r#"{"exited":["3"]}"#), ["/x3"]);
    assert!(names(r#"{"exited":["0"]}"#).is_empty(), "created and running containers have no exit code to match");
    assert!(names(r#"{"exited":["3"],"status":["running"]}"#).is_empty());
}

#[test]
fn ancestor_matches_every_spelling_of_the_reference() {
    for a in ["alpine", "alpine:latest", "docker.io/library/alpine", "docker.io/library/alpine:latest"] {
        assert_eq!(names(&format!(r#"{{"ancestor":["{a}"]}}"#)), ["/x3", "/cr", "/run1"], "{a}");
    }
    assert!(names(r#"{"ancestor":["busybox"]}"#).is_empty());
    assert!(names(r#"{"ancestor":["alpine:3.10"]}"#).is_empty());
    let id = crate::image_ref::reference_to_image_id("alpine");
    assert_eq!(names(&format!(r#"{{"ancestor":["{}"]}}"#, &id[7..19])).len(), 3);
}

#[test]
fn ancestor_matches_the_image_a_reference_resolves_to() {
    let id = crate::image_ref::reference_to_image_id("alpine");
    let filters = ListFilters::parse(r#"{"ancestor":["other:tag"]}"#).unwrap();
    assert_eq!(filters.ancestors(), ["other:tag"]);
    let filters = filters.with_ancestor_ids([("other:tag".to_string(), id)].into());
    let matched = containers().into_iter().filter(|(e, s)| filters.matches(e, s)).count();
    assert_eq!(matched, 3);
}

#[test]
fn keys_podshim_answers_from_what_it_has() {
    assert_eq!(names(r#"{"network":["bridge"]}"#).len(), 3);
    assert!(names(r#"{"network":["host"]}"#).is_empty());
    assert_eq!(names(r#"{"health":["none"]}"#).len(), 3);
    assert!(names(r#"{"health":["healthy"]}"#).is_empty());
    assert_eq!(names(r#"{"is-task":["false"]}"#).len(), 3);
    assert!(names(r#"{"is-task":["true"]}"#).is_empty());
    assert_eq!(names(r#"{"isolation":["default"]}"#).len(), 3);
    assert!(names(r#"{"publish":["80"]}"#).is_empty());
    assert!(names(r#"{"expose":["80/tcp"]}"#).is_empty());
    assert!(names(r#"{"volume":["/data"]}"#).is_empty());
}

#[test]
fn before_and_since_compare_creation_times() {
    let f = ListFilters::parse(r#"{"before":["cr"],"since":["x3"]}"#).unwrap();
    assert_eq!(f.bound_references(), (Some("cr"), Some("x3")));
    let f = ListFilters::parse(r#"{"before":["cr"]}"#).unwrap().with_bounds(Some(at(1)), None);
    let kept: Vec<_> = containers().into_iter().filter(|(e, s)| f.matches(e, s)).map(|(e, _)| e.id).collect();
    assert_eq!(kept, [Some(X3.to_string())]);
    let f = ListFilters::parse(r#"{"since":["cr"]}"#).unwrap().with_bounds(None, Some(at(1)));
    let kept: Vec<_> = containers().into_iter().filter(|(e, s)| f.matches(e, s)).map(|(e, _)| e.id).collect();
    assert_eq!(kept, [Some(RUN1.to_string())]);
}

#[test]
fn only_all_limit_or_status_list_stopped_containers() {
    let none = ListFilters::parse("").unwrap();
    assert!(!none.includes_stopped(false, None));
    assert!(!none.includes_stopped(false, Some(-1)));
    assert!(none.includes_stopped(true, None));
    assert!(none.includes_stopped(false, Some(3)));
    assert!(ListFilters::parse(r#"{"status":["exited"]}"#).unwrap().includes_stopped(false, None));
    assert!(!ListFilters::parse(r#"{"label":["a"]}"#).unwrap().includes_stopped(false, None));
}

fn error(filters: &str) -> TranslateError {
    ListFilters::parse(filters).unwrap_err()
}

#[test]
fn errors_use_dockers_words() {
    let invalid = |m: &str| TranslateError::InvalidParameter(m.to_string());
    assert_eq!(error(r#"{"bogus":["x"]}"#), invalid("Invalid filter 'bogus'"));
    assert_eq!(error(r#"{"status":["bogus"]}"#), invalid("Invalid filter 'status=bogus'"));
    assert_eq!(error(r#"{"status":["Running"]}"#), invalid("Invalid filter 'status=Running'"));
    assert_eq!(error(r#"{"health":["bogus"]}"#), invalid("Unrecognised filter value for health: bogus"));
    assert_eq!(error(r#"{"is-task":["maybe"]}"#), invalid("Invalid filter 'is-task=[maybe]'"));
    assert_eq!(error(r#"{"exited":["x"]}"#), invalid("strconv.Atoi: parsing \"x\": invalid syntax"));
    assert_eq!(error(r#"{"publish":["1:2"]}"#), invalid("filter for 'publish' should not contain ':': 1:2"));
    assert_eq!(error(r#"{"label":["a"]"#).status_code(), 400);
    assert_eq!(error(r#"{"label":"a"}"#).status_code(), 400);
    assert_eq!(error(r#"{"label":[1]}"#).status_code(), 400);
}

#[test]
fn a_prune_takes_label_filters_only() {
    assert!(ListFilters::parse_prune(r#"{"label":["a=b"]}"#).is_ok());
    assert!(ListFilters::parse_prune("").is_ok());
    let err = ListFilters::parse_prune(r#"{"name":["x"]}"#).unwrap_err();
    assert_eq!(err.to_string(), "Invalid filter 'name'");
    let err = ListFilters::parse_prune(r#"{"until":["24h"]}"#).unwrap_err();
    assert_eq!(err.status_code(), 400);
    assert!(ListFilters::parse_prune("{bad").is_err());
}
