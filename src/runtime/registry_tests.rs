use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{OwnerReference, Time};
use kube::api::ObjectMeta;

use super::*;
use podshim_translate::labels::{claim_object_name, ID_ANNOTATION, NAME_ANNOTATION};

fn id(c: char) -> String {
    c.to_string().repeat(64)
}

fn record(id: &str, name: &str, uid: &str) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(format!("podshim-{}", &id[..12])),
            namespace: Some("ns".into()),
            uid: Some(uid.into()),
            annotations: Some(BTreeMap::from([
                (ID_ANNOTATION.to_string(), id.to_string()),
                (NAME_ANNOTATION.to_string(), name.to_string()),
            ])),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// A record written together with a claim of its name.
fn claimed_record(id: &str, name: &str) -> ConfigMap {
    let mut r = record(id, name, &format!("uid-{}", &id[..1]));
    r.metadata.annotations.as_mut().unwrap().insert(NAME_CLAIMED_ANNOTATION.to_string(), "true".to_string());
    r
}

fn claim(name: &str, id: &str) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(claim_object_name(name)),
            uid: Some(format!("claim-{name}")),
            labels: Some(BTreeMap::from([(NAME_CLAIM_LABEL.to_string(), "true".to_string())])),
            annotations: Some(BTreeMap::from([
                (NAME_ANNOTATION.to_string(), name.to_string()),
                (CLAIM_FOR_ANNOTATION.to_string(), id.to_string()),
            ])),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn pod(id: &str, n: u64, owner_uid: &str) -> Pod {
    Pod {
        metadata: ObjectMeta {
            name: Some(format!("podshim-{}-{n}", &id[..12])),
            namespace: Some("ns".into()),
            annotations: Some(BTreeMap::from([(ID_ANNOTATION.to_string(), id.to_string())])),
            owner_references: Some(vec![OwnerReference { uid: owner_uid.into(), ..Default::default() }]),
            ..Default::default()
        },
        ..Default::default()
    }
}

fn index(records: Vec<ConfigMap>, pods: Vec<Pod>) -> Index {
    let mut index = Index::default();
    for r in records {
        index.apply_config_map(r);
    }
    for p in pods {
        index.apply_pod(p);
    }
    index
}

#[test]
fn every_record_is_a_container_and_its_newest_pod_counts() {
    let a = id('a');
    let b = id('b');
    let i =
        index(vec![record(&a, "first", "u1"), record(&b, "second", "u2")], vec![pod(&a, 1, "u1"), pod(&a, 2, "u1")]);
    assert_eq!(i.len(), 2);
    let first = i.resolve("first").unwrap();
    assert_eq!(first.pod.unwrap().metadata.name.as_deref(), Some("podshim-aaaaaaaaaaaa-2"));
    assert!(i.resolve("/second").unwrap().pod.is_none());
    assert_eq!(i.resolve(&b).unwrap().name, "second");
    assert_eq!(i.pods_of(&a).len(), 2);
}

#[test]
fn a_pod_without_records_is_no_container() {
    let i = index(vec![], vec![pod(&id('a'), 1, "u1")]);
    assert!(i.is_empty());
    assert_eq!(i.orphaned_pod_ids(), vec![id('a')]);
}

#[test]
fn prefixes_must_be_unique_and_names_come_first() {
    let a = format!("ab{}", "0".repeat(62));
    let b = format!("ac{}", "0".repeat(62));
    let i = index(vec![record(&a, "x1", "u1"), record(&b, "ab", "u2")], vec![]);
    assert_eq!(i.resolve("ac").unwrap().id, b);
    // "ab" is a name: the name wins over the prefix of another container.
    assert_eq!(i.resolve("ab").unwrap().id, b);
    let err = i.resolve("a").unwrap_err();
    assert_eq!(err.to_string(), "multiple IDs found with provided prefix: a");
    assert_eq!(err.status(), http::StatusCode::BAD_REQUEST);
    assert!(matches!(i.resolve("zz"), Err(Error::NoSuchContainer(_))));
    assert!(matches!(i.resolve(""), Err(Error::NoSuchContainer(_))));
}

#[test]
fn a_record_being_deleted_frees_its_name_and_reads_removing() {
    let a = id('a');
    let mut r = record(&a, "gone", "u1");
    r.metadata.deletion_timestamp = Some(Time(jiff::Timestamp::UNIX_EPOCH));
    let i = index(vec![r], vec![]);
    assert!(i.name_holder("gone").is_none());
    assert!(matches!(i.resolve("gone"), Err(Error::NoSuchContainer(_))));
    let c = i.resolve(&a).unwrap();
    assert_eq!(c.state().status, podshim_translate::state::Status::Removing);
}

#[test]
fn a_pod_podshim_stopped_reads_exited_not_removing() {
    let a = id('a');
    let mut p = pod(&a, 1, "u1");
    p.metadata.deletion_timestamp = Some(Time(jiff::Timestamp::UNIX_EPOCH));
    p.metadata.finalizers = Some(vec![STOPPED_FINALIZER.to_string()]);
    p.spec = Some(k8s_openapi::api::core::v1::PodSpec { restart_policy: Some("Always".into()), ..Default::default() });
    p.status = Some(
        serde_json::from_value(serde_json::json!({
            "phase": "Running",
            "containerStatuses": [{"name": "main", "image": "x", "imageID": "", "ready": false, "restartCount": 0,
                "state": {"terminated": {"exitCode": 143, "finishedAt": "2024-01-01T00:00:00Z"}}}]
        }))
        .unwrap(),
    );
    let i = index(vec![record(&a, "s", "u1")], vec![p]);
    let state = i.get(&a).unwrap().state();
    assert_eq!(state.status, podshim_translate::state::Status::Exited);
    assert_eq!(state.exit_code, 143);
}

#[test]
fn the_create_body_is_parsed_once_and_dropped_from_the_kept_objects() {
    let a = id('a');
    let mut r = record(&a, "made", "u1");
    r.metadata.annotations.as_mut().unwrap().insert(
        podshim_translate::labels::CONFIG_ANNOTATION.to_string(),
        r#"{"Cmd":["true"],"Image":"alpine","Tty":true,"OpenStdin":true}"#.to_string(),
    );
    r.binary_data = Some(BTreeMap::from([("file-0".to_string(), k8s_openapi::ByteString(vec![0; 1000]))]));
    r.metadata.creation_timestamp = Some(Time(jiff::Timestamp::UNIX_EPOCH));
    let mut p = pod(&a, 1, "u1");
    p.metadata.annotations.as_mut().unwrap().insert(CONFIG_ANNOTATION.to_string(), "{}".to_string());
    let i = index(vec![r], vec![p]);
    let c = i.get(&a).unwrap();
    assert_eq!(c.image().as_deref(), Some("alpine"));
    assert!(c.tty() && c.open_stdin());
    assert!(annotation(&c.record.metadata, CONFIG_ANNOTATION).is_none());
    assert!(c.record.binary_data.is_none());
    assert!(annotation(&c.pod.as_ref().unwrap().metadata, CONFIG_ANNOTATION).is_none());
    let view = c.to_view();
    assert_eq!((view.id.as_str(), view.name.as_str(), view.image()), (a.as_str(), "made", "alpine".to_string()));
    assert_eq!(view.created, Some(jiff::Timestamp::UNIX_EPOCH));
}

#[test]
fn an_unreadable_create_body_is_podshims_problem() {
    let b = id('b');
    let mut r = record(&b, "v", "u");
    r.metadata.annotations.as_mut().unwrap().insert(CONFIG_ANNOTATION.to_string(), "{not json".to_string());
    let i = index(vec![r], vec![]);
    let c = i.get(&b).unwrap();
    assert!(!c.tty());
    let err = c.create_body().unwrap_err();
    assert_eq!(err.status(), http::StatusCode::INTERNAL_SERVER_ERROR);
}

#[test]
fn a_record_written_with_a_claim_shows_only_while_its_claim_names_it() {
    let (a, b) = (id('a'), id('b'));
    let mut i = index(vec![claimed_record(&a, "web"), claimed_record(&b, "web")], vec![]);
    // No claim yet: neither is shown.
    assert!(i.is_empty());
    i.apply_config_map(claim("web", &b));
    assert_eq!(i.len(), 1);
    assert_eq!(i.resolve("web").unwrap().id, b);
    assert!(i.get(&a).is_none(), "the create that lost the name is never seen");
    assert_eq!(i.unclaimed_records().len(), 1);
    // The claim goes (the holder was removed): the name is free, the loser still hidden.
    i.delete_config_map(&claim("web", &b));
    assert!(i.is_empty());
}

#[test]
fn a_claim_beats_a_legacy_holder_and_legacy_names_still_resolve() {
    let (a, b) = (id('a'), id('b'));
    let mut i = index(vec![record(&a, "old", "u1")], vec![]);
    assert_eq!(i.resolve("old").unwrap().id, a);
    assert_eq!(i.names_without_claims().len(), 1);
    i.apply_config_map(claimed_record(&b, "old"));
    i.apply_config_map(claim("old", &b));
    assert_eq!(i.name_holder("old").unwrap().id, b);
    i.apply_config_map(claim("old", &a));
    assert_eq!(i.name_holder("old").unwrap().id, a);
    assert!(i.get(&b).is_none(), "its claim names another container now");
}

#[test]
fn deleted_pods_leave_a_bounded_final_state() {
    let a = id('a');
    let mut i = index(vec![record(&a, "x", "u1")], vec![]);
    for n in 0..(EXIT_LIMIT as u64 + 50) {
        let mut p = pod(&format!("{:064x}", n), 1, "u");
        p.status = Some(
            serde_json::from_value(serde_json::json!({"phase": "Failed", "containerStatuses": [{"name": "main",
                "image": "x", "imageID": "", "ready": false, "restartCount": 0,
                "state": {"terminated": {"exitCode": 3, "finishedAt": "2024-01-01T00:00:00Z"}}}]}))
            .unwrap(),
        );
        i.apply_pod(p.clone());
        i.delete_pod(&p);
    }
    assert_eq!(i.exits().len(), EXIT_LIMIT);
    let last = format!("{:064x}", EXIT_LIMIT as u64 + 49);
    assert_eq!(i.exits().last(&last).unwrap().state.exit_code, 3);
    assert!(i.exits().last(&format!("{:064x}", 0)).is_none(), "the oldest went first");
}

#[test]
fn the_change_log_names_what_changed_and_says_when_it_cannot() {
    let (a, b) = (id('a'), id('b'));
    let mut i = index(vec![record(&a, "x", "u1")], vec![]);
    let v = i.version();
    i.apply_config_map(record(&b, "y", "u2"));
    i.apply_pod(pod(&a, 1, "u1"));
    assert_eq!(i.changed_since(v), Some(vec![a.clone(), b.clone()]));
    assert_eq!(i.changed_since(i.version()), Some(vec![]));
    for n in 0..(CHANGE_LOG as u64 + 10) {
        i.apply_pod(pod(&format!("{:064x}", n), 1, "u"));
    }
    assert_eq!(i.changed_since(v), None, "too far back");
}

#[test]
fn a_relist_drops_what_is_gone() {
    let (a, b) = (id('a'), id('b'));
    let mut i = index(vec![record(&a, "x", "u1"), record(&b, "y", "u2")], vec![pod(&a, 1, "u1")]);
    i.replace_config_maps(vec![record(&b, "y", "u2")]);
    i.replace_pods(vec![]);
    assert!(i.get(&a).is_none());
    assert!(i.pods_of(&a).is_empty());
    assert_eq!(i.resolve("y").unwrap().id, b);
}
