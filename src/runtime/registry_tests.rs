use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{OwnerReference, Time};
use kube::api::ObjectMeta;
use kube::runtime::reflector::{self, store::Writer};
use kube::runtime::watcher::Event;

use super::*;
use podshim_translate::labels::{ID_ANNOTATION, NAME_ANNOTATION};

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

fn cache(records: Vec<ConfigMap>, pods: Vec<Pod>) -> Cache {
    let (record_store, mut record_writer): (_, Writer<ConfigMap>) = reflector::store();
    let (pod_store, mut pod_writer): (_, Writer<Pod>) = reflector::store();
    for r in records {
        record_writer.apply_watcher_event(&Event::Apply(r));
    }
    for p in pods {
        pod_writer.apply_watcher_event(&Event::Apply(p));
    }
    let (_tx, rx) = tokio::sync::watch::channel(0);
    Cache::from_parts(record_store, pod_store, rx)
}

#[test]
fn every_record_is_a_container_and_its_newest_pod_counts() {
    let a = id('a');
    let b = id('b');
    let c =
        cache(vec![record(&a, "first", "u1"), record(&b, "second", "u2")], vec![pod(&a, 1, "u1"), pod(&a, 2, "u1")]);
    let all = containers(&c);
    assert_eq!(all.len(), 2);
    let first = resolve(&all, "first").unwrap();
    assert_eq!(first.pod.unwrap().metadata.name.as_deref(), Some("podshim-aaaaaaaaaaaa-2"));
    assert!(resolve(&all, "/second").unwrap().pod.is_none());
    assert_eq!(resolve(&all, &b).unwrap().name, "second");
}

#[test]
fn a_pod_without_records_is_no_container() {
    let all = containers(&cache(vec![], vec![pod(&id('a'), 1, "u1")]));
    assert!(all.is_empty());
}

#[test]
fn prefixes_must_be_unique_and_names_come_first() {
    let a = format!("ab{}", "0".repeat(62));
    let b = format!("ac{}", "0".repeat(62));
    let all = containers(&cache(vec![record(&a, "x1", "u1"), record(&b, "ab", "u2")], vec![]));
    assert_eq!(resolve(&all, "ac").unwrap().id, b);
    // "ab" is a name: the name wins over the prefix of another container.
    assert_eq!(resolve(&all, "ab").unwrap().id, b);
    let err = resolve(&all, "a").unwrap_err();
    assert_eq!(err.to_string(), "multiple IDs found with provided prefix: a");
    assert_eq!(err.status(), http::StatusCode::BAD_REQUEST);
    assert!(matches!(resolve(&all, "zz"), Err(Error::NoSuchContainer(_))));
    assert!(matches!(resolve(&all, ""), Err(Error::NoSuchContainer(_))));
}

#[test]
fn a_record_being_deleted_frees_its_name_and_reads_removing() {
    let a = id('a');
    let mut r = record(&a, "gone", "u1");
    r.metadata.deletion_timestamp = Some(Time(jiff::Timestamp::UNIX_EPOCH));
    let all = containers(&cache(vec![r], vec![]));
    assert!(name_holder(&all, "gone").is_none());
    assert!(matches!(resolve(&all, "gone"), Err(Error::NoSuchContainer(_))));
    let c = resolve(&all, &a).unwrap();
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
    let all = containers(&cache(vec![record(&a, "s", "u1")], vec![p]));
    let state = all[0].state();
    assert_eq!(state.status, podshim_translate::state::Status::Exited);
    assert_eq!(state.exit_code, 143);
}

#[test]
fn a_created_container_reads_its_config_from_the_record() {
    let a = id('a');
    let mut r = record(&a, "made", "u1");
    r.metadata.annotations.as_mut().unwrap().insert(
        podshim_translate::labels::CONFIG_ANNOTATION.to_string(),
        r#"{"Cmd":["true"],"Image":"alpine"}"#.to_string(),
    );
    r.metadata.creation_timestamp = Some(Time(jiff::Timestamp::UNIX_EPOCH));
    let all = containers(&cache(vec![r], vec![]));
    let view = all[0].to_record();
    assert_eq!((view.id.as_str(), view.name.as_str(), view.image()), (a.as_str(), "made", "alpine".to_string()));
    assert_eq!(view.state.status, podshim_translate::state::Status::Created);
    assert_eq!(view.created, Some(jiff::Timestamp::UNIX_EPOCH));
}

#[test]
fn a_created_container_reads_its_body_from_the_record() {
    let mut rec = record(&id('a'), "w", "uid-a");
    let annotations = rec.metadata.annotations.get_or_insert_with(BTreeMap::new);
    annotations.insert(
        podshim_translate::labels::CONFIG_ANNOTATION.to_string(),
        r#"{"Image":"alpine","Tty":true,"OpenStdin":true}"#.to_string(),
    );
    let c = Container { id: id('a'), name: "w".into(), record: std::sync::Arc::new(rec), pod: None };
    assert_eq!(c.image().as_deref(), Some("alpine"));
    assert!(c.tty() && c.open_stdin());
    let inspected = c.to_record();
    assert_eq!(inspected.image(), "alpine");
    assert_eq!(inspected.state.status, podshim_translate::state::Status::Created);

    let unreadable =
        Container { id: id('b'), name: "v".into(), record: Arc::new(record(&id('b'), "v", "u")), pod: None };
    assert!(!unreadable.tty());
}
