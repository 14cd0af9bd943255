use std::collections::HashMap;

use bollard_stubs::models::{Volume, VolumeCreateRequest};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::*;

fn request(name: &str, opts: &[(&str, &str)]) -> VolumeCreateRequest {
    VolumeCreateRequest {
        name: Some(name.to_string()),
        driver_opts: Some(opts.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()),
        ..Default::default()
    }
}

fn spec(name: &str, opts: &[(&str, &str)]) -> Result<VolumeSpec, VolumeError> {
    VolumeSpec::from_request(&request(name, opts), || "g".repeat(64), &VolumeDefaults::default())
}

fn message(result: Result<VolumeSpec, VolumeError>) -> String {
    result.expect_err("refused").to_string()
}

#[test]
fn sizes_read_as_docker_reads_them_and_kubernetes_binary_quantities_too() {
    for (text, quantity) in [
        ("1g", "1Gi"),
        ("1G", "1Gi"),
        ("1GiB", "1Gi"),
        ("1gb", "1Gi"),
        ("10m", "10Mi"),
        ("500Mi", "500Mi"),
        ("512KB", "512Ki"),
        ("1.5g", "1536Mi"),
        ("2Ti", "2Ti"),
        ("1000", "1000"),
        ("2048", "2Ki"),
        ("1 g", "1Gi"),
        ("7e", "7Ei"),
    ] {
        assert_eq!(parse_size(text).as_deref(), Some(quantity), "{text}");
    }
    for bad in [
        "",
        "abc",
        "g",
        "0",
        "0g",
        "-1g",
        "1x",
        "1gg",
        "1bi",
        "1.g",
        ".5g",
        "1..5g",
        "1e30",
        "99999999999e",
        "8e",
        "16Ei",
    ] {
        assert_eq!(parse_size(bad), None, "{bad}");
    }
}

#[test]
fn a_create_request_becomes_a_claim_with_its_name_labels_and_options() {
    let mut req = request("Data_1", &[("size", "2g"), ("storageClass", "fast"), ("accessMode", "ReadWriteMany")]);
    req.labels = Some(HashMap::from([("team".to_string(), "a".to_string()), ("not a label".into(), "x".into())]));
    let spec = VolumeSpec::from_request(&req, || unreachable!(), &VolumeDefaults::default()).unwrap();
    let claim = claim(&spec, "ns");
    assert_eq!(claim.metadata.name.as_deref(), Some(labels::volume_claim_name("Data_1").as_str()));
    let claim_labels = claim.metadata.labels.clone().unwrap();
    assert_eq!(claim_labels.get("podshim.io/volume").map(String::as_str), Some("true"));
    assert_eq!(claim_labels.get("podshim.io/managed").map(String::as_str), Some("true"));
    assert_eq!(claim_labels.get("team").map(String::as_str), Some("a"));
    assert!(!claim_labels.contains_key("not a label"));
    let claim_spec = claim.spec.clone().unwrap();
    assert_eq!(claim_spec.access_modes, Some(vec!["ReadWriteMany".to_string()]));
    assert_eq!(claim_spec.storage_class_name.as_deref(), Some("fast"));
    let requests = claim_spec.resources.unwrap().requests.unwrap();
    assert_eq!(requests["storage"].0, "2Gi");

    let mut claim = claim;
    claim.metadata.creation_timestamp = Some(Time("2026-12-04T21:11:36.123Z".parse().unwrap()));
    let volume = to_volume(&claim).unwrap();
    let json = serde_json::to_value(&volume).unwrap();
    assert_eq!(json["Name"], "Data_1");
    assert_eq!(json["Driver"], "local");
    assert_eq!(json["Scope"], "local");
    assert_eq!(json["CreatedAt"], "2026-12-04T21:11:36Z");
    assert_eq!(json["Labels"]["not a label"], "x");
    assert_eq!(json["Options"]["size"], "2g");
    assert_eq!(json["Mountpoint"], format!("k8s://ns/persistentvolumeclaims/{}", labels::volume_claim_name("Data_1")));
    assert!(!is_anonymous(&claim));
}

#[test]
fn defaults_apply_without_options_and_anonymous_volumes_are_marked() {
    let defaults = VolumeDefaults { size: "5Gi".into(), storage_class: Some("standard".into()) };
    let spec = VolumeSpec::from_request(&VolumeCreateRequest::default(), || "a".repeat(64), &defaults).unwrap();
    assert_eq!(spec.name, "a".repeat(64));
    assert_eq!(spec.size, "5Gi");
    assert_eq!(spec.storage_class.as_deref(), Some("standard"));
    assert_eq!(spec.access_mode, "ReadWriteOnce");
    let anon = claim(&VolumeSpec::anonymous("b".repeat(64), &defaults), "ns");
    assert!(is_anonymous(&anon));
    let volume = to_volume(&anon).unwrap();
    assert_eq!(volume.name, "b".repeat(64));
    assert_eq!(volume.labels, HashMap::from([("com.docker.volume.anonymous".to_string(), String::new())]));
}

#[test]
fn bad_requests_get_dockers_words() {
    assert_eq!(message(spec("refx", &[("foo", "bar")])), "create refx: invalid option: \"foo\"");
    assert_eq!(message(spec("refx", &[("size", "abc")])), "create refx: invalid size: 'abc'");
    assert_eq!(message(spec("refx", &[("type", "tmpfs")])), "create refx: invalid option: \"type\"");
    assert_eq!(
        message(spec("a", &[])),
        "create a: volume name is too short, names should be at least two alphanumeric characters"
    );
    assert!(message(spec("a/b", &[])).contains("includes invalid characters for a local volume name"));
    assert!(message(spec("ab", &[("accessMode", "ReadWriteOncePod")])).contains("ReadWriteOncePod is not supported"));
    assert!(message(spec("ab", &[("accessMode", "rw")])).contains("invalid accessMode: 'rw'"));
    assert!(message(spec("ab", &[("storageClass", "Fast_1")])).contains("invalid storageClass"));
    let mut req = request("refz", &[]);
    req.driver = Some("foo".into());
    let err = VolumeSpec::from_request(&req, String::new, &VolumeDefaults::default()).unwrap_err();
    assert_eq!(err.to_string(), "create refz: error looking up volume plugin foo: plugin \"foo\" not found");
    assert!(matches!(err, VolumeError::NoSuchPlugin { .. }));
    req.driver = Some("local".into());
    assert!(VolumeSpec::from_request(&req, String::new, &VolumeDefaults::default()).is_ok());
}

#[test]
fn claims_not_made_for_volumes_are_not_volumes() {
    let mut c = claim(&VolumeSpec::anonymous("x".repeat(64), &VolumeDefaults::default()), "ns");
    c.metadata.labels = None;
    assert_eq!(to_volume(&c), None);
}

fn volume(name: &str, labels: &[(&str, &str)]) -> Volume {
    Volume {
        name: name.into(),
        driver: "local".into(),
        labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        ..Default::default()
    }
}

#[test]
fn list_filters_follow_moby() {
    let v = volume("mydata", &[("a", "b"), ("c", "")]);
    let yes = |q: &str, in_use: bool| ListFilters::parse(q).unwrap().matches(&v, in_use);
    assert!(yes("", true));
    assert!(yes(r#"{"name":["yda"]}"#, false));
    assert!(!yes(r#"{"name":["other"]}"#, false));
    assert!(yes(r#"{"name":["other","data"]}"#, false));
    assert!(yes(r#"{"label":["a"]}"#, false));
    assert!(yes(r#"{"label":["a=b","c"]}"#, false));
    assert!(!yes(r#"{"label":["a=c"]}"#, false));
    assert!(!yes(r#"{"label":["a","z"]}"#, false));
    assert!(yes(r#"{"label":{"a=b":true}}"#, false));
    assert!(yes(r#"{"driver":["loc"]}"#, false));
    assert!(!yes(r#"{"driver":["nfs"]}"#, false));
    assert!(yes(r#"{"dangling":["true"]}"#, false));
    assert!(!yes(r#"{"dangling":["1"]}"#, true));
    assert!(yes(r#"{"dangling":["0"]}"#, true));
    assert!(!yes(r#"{"dangling":["false"]}"#, false));
    assert!(yes(r#"{"dangling":["x","true"]}"#, false));
    let err = |q: &str| ListFilters::parse(q).unwrap_err().to_string();
    assert_eq!(err(r#"{"foo":["x"]}"#), "Invalid filter 'foo'");
    assert!(err("notjson").starts_with("error reading volume filters: "), "{}", err("notjson"));
    assert_eq!(err(r#"{"label!":["x"]}"#), "Invalid filter 'label!'");
    assert_eq!(err(r#"{"dangling":["x"]}"#), "Invalid filter 'dangling=[x]'");
    assert_eq!(err(r#"{"dangling":["TRUE"]}"#), "Invalid filter 'dangling=[TRUE]'");
}

#[test]
fn prune_takes_anonymous_volumes_from_1_42_on_unless_all() {
    let v = volume("named", &[("keep", "1")]);
    let pruned =
        |q: &str, api_1_42: bool, anonymous: bool| PruneFilters::parse(q, api_1_42).unwrap().matches(&v, anonymous);
    assert!(!pruned("", true, false));
    assert!(pruned("", true, true));
    assert!(pruned(r#"{"all":["true"]}"#, true, false));
    assert!(pruned(r#"{"all":["1"]}"#, true, false));
    assert!(!pruned(r#"{"all":["false"]}"#, true, false));
    assert!(pruned("", false, false));
    assert!(pruned(r#"{"label":["keep"]}"#, false, false));
    assert!(!pruned(r#"{"label":["other"]}"#, false, false));
    assert!(!pruned(r#"{"label!":["keep"]}"#, false, false));
    assert!(pruned(r#"{"label!":["keep=2"]}"#, false, false));
    assert_eq!(PruneFilters::parse(r#"{"all":["true"]}"#, false).unwrap_err().to_string(), "Invalid filter 'all'");
    assert_eq!(PruneFilters::parse(r#"{"name":["x"]}"#, true).unwrap_err().to_string(), "Invalid filter 'name'");
    assert!(PruneFilters::parse(r#"{"all":["maybe"]}"#, true).is_err());
}

#[test]
fn a_containers_volumes_annotation_names_its_volumes() {
    let names = mounted_volumes(r#"[{"Name":"data","Anonymous":false},{"Name":"abc","Anonymous":true}]"#);
    assert_eq!(names, vec!["data".to_string(), "abc".to_string()]);
    assert!(mounted_volumes("not json").is_empty());
}
