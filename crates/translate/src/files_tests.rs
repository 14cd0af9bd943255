use super::*;

fn tar_of(entries: &[(&str, tar::EntryType, u32, &[u8], &str)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, kind, mode, data, link) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(*kind);
        header.set_mode(*mode);
        header.set_size(data.len() as u64);
        header.set_mtime(1_795_508_437);
        if link.is_empty() {
            builder.append_data(&mut header, path, *data).unwrap();
        } else {
            builder.append_link(&mut header, path, link).unwrap();
        }
    }
    builder.into_inner().unwrap()
}

#[test]
fn stat_of_a_file_and_a_directory_uses_go_file_modes() {
    let file = tar_of(&[("passwd", tar::EntryType::Regular, 0o644, b"root:x:0:0\n", "")]);
    let stat = tar_head_stat(&file, "passwd").unwrap().unwrap();
    assert_eq!(
        stat,
        PathStat {
            name: "passwd".into(),
            size: 11,
            mode: 420,
            mtime: "2026-11-24T08:20:37Z".into(),
            link_target: "".into()
        }
    );
    let dir = tar_of(&[("tmp/", tar::EntryType::Directory, 0o755, b"", "")]);
    let stat = tar_head_stat(&dir, "tmp").unwrap().unwrap();
    assert_eq!(stat.mode, 2_147_484_141);
    assert!(stat.is_dir());
    assert!(tar_head_stat(&dir[..100], "tmp").unwrap().is_none(), "a short head needs more bytes");
}

#[test]
fn stat_of_a_symlink_with_a_long_target_reads_the_gnu_long_link() {
    let target = format!("/{}", "t".repeat(150));
    let link = tar_of(&[("sh", tar::EntryType::Symlink, 0o777, b"", &target)]);
    let stat = tar_head_stat(&link, "sh").unwrap().unwrap();
    assert_eq!(stat.mode, 134_218_239);
    assert_eq!(stat.link_target, target);
    let header = PathStat::directory("x").header_value();
    let json = base64::engine::general_purpose::STANDARD.decode(header).unwrap();
    assert_eq!(
        String::from_utf8(json).unwrap(),
        r#"{"name":"x","size":0,"mode":2147484141,"mtime":"1970-01-01T00:00:00Z","linkTarget":""}"#
    );
}

#[test]
fn a_tar_becomes_regular_files_under_the_target_directory() {
    let body = tar_of(&[
        ("conf/", tar::EntryType::Directory, 0o755, b"", ""),
        ("conf/app.ini", tar::EntryType::Regular, 0o600, b"a=1\n", ""),
        ("./conf/run.sh", tar::EntryType::Regular, 0o755, b"#!/bin/sh\n", ""),
    ]);
    let files = tar_to_files(&body, "/etc/").unwrap();
    let paths: Vec<(&str, u32)> = files.iter().map(|f| (f.path.as_str(), f.mode)).collect();
    assert_eq!(paths, [("/etc/conf/app.ini", 0o600), ("/etc/conf/run.sh", 0o755)]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &body).unwrap();
    assert_eq!(tar_to_files(&gz.finish().unwrap(), "/etc").unwrap(), files);
}

#[test]
fn symlinks_and_breakouts_are_refused_before_start() {
    let link = tar_of(&[("l", tar::EntryType::Symlink, 0o777, b"", "/etc/passwd")]);
    let err = tar_to_files(&link, "/").unwrap_err();
    assert_eq!(err.status_code(), 400);
    assert!(err.to_string().contains("/l: only regular files"), "{err}");
    assert!(join_inside("/tmp", Path::new("../etc/passwd")).is_err());
    assert_eq!(join_inside("/tmp", Path::new("a/../b")).unwrap(), "/tmp/b");
}

#[test]
fn merged_files_replace_same_paths_and_stay_under_the_configmap_limit() {
    let f = |path: &str, data: &[u8]| CopiedFile { path: path.into(), mode: 0o644, data: data.to_vec() };
    let merged = merge_files(vec![f("/a", b"old"), f("/b", b"b")], vec![f("/a", b"new")]).unwrap();
    assert_eq!(merged, vec![f("/b", b"b"), f("/a", b"new")]);
    assert!(merge_files(vec![f("/a", b"x")], vec![f("/a/b", b"y")]).is_err());
    let big = vec![0u8; RECORD_FILES_MAX_BYTES];
    let err = merge_files(Vec::new(), vec![f("/big", &big)]).unwrap_err();
    assert!(err.to_string().contains("at most 1 MiB"), "{err}");
}

#[test]
fn record_files_round_trip_and_become_subpath_mounts() {
    let files = vec![
        CopiedFile { path: "/etc/app.ini".into(), mode: 0o600, data: b"a=1\n".to_vec() },
        CopiedFile { path: "/opt/run.sh".into(), mode: 0o755, data: b"#!/bin/sh\n".to_vec() },
    ];
    let (data, annotation) = files_to_record(&files);
    let mut record = ConfigMap::default();
    record.metadata.name = Some("podshim-abc".into());
    record.metadata.annotations = Some([(FILES_ANNOTATION.to_string(), annotation)].into());
    record.binary_data = Some(data);
    assert_eq!(record_to_files(&record).unwrap(), files);
    let mut pod: Pod = serde_json::from_value(serde_json::json!({"spec": {"containers": [{"name": "main"}]}})).unwrap();
    add_files_to_pod(&mut pod, &record).unwrap();
    let spec = serde_json::to_value(pod.spec.unwrap()).unwrap();
    assert_eq!(
        spec["volumes"],
        serde_json::json!([{"name": "podshim-files", "configMap": {"name": "podshim-abc", "items": [
            {"key": "file-0", "path": "file-0", "mode": 0o600}, {"key": "file-1", "path": "file-1", "mode": 0o755}]}}])
    );
    assert_eq!(
        spec["containers"][0]["volumeMounts"][1],
        serde_json::json!({"name": "podshim-files", "mountPath": "/opt/run.sh", "subPath": "file-1", "readOnly": true})
    );
}

#[test]
fn stat_before_start_knows_copied_files_and_named_directories() {
    let files = vec![CopiedFile { path: "/etc/app/x.ini".into(), mode: 0o640, data: b"abc".to_vec() }];
    assert_eq!(record_stat(&files, "/etc/app/x.ini").map(|s| (s.size, s.mode)), Some((3, 0o640)));
    assert!(record_stat(&files, "/etc/app").unwrap().is_dir());
    assert!(record_stat(&files, "/tmp/").unwrap().is_dir());
    assert_eq!(record_stat(&files, "/tmp"), None);
}

#[test]
fn archive_paths_are_checked_and_cleaned() {
    assert_eq!(check_archive_path("/a/rec/../recout").unwrap(), "/a/recout");
    assert_eq!(check_archive_path("/data/.").unwrap(), "/data/.");
    assert_eq!(check_archive_path("/tmp/").unwrap(), "/tmp/");
    assert_eq!(check_archive_path("/").unwrap(), "/");
    assert_eq!(check_archive_path("/..").unwrap(), "/");
    assert_eq!(check_archive_path("//x/./y").unwrap(), "/x/y");
    for bad in ["", "rel", "/tm\0p"] {
        assert_eq!(check_archive_path(bad).unwrap_err().status_code(), 400, "{bad:?}");
    }
    let long = format!("/{}", "a".repeat(5000));
    assert!(check_archive_path(&long).unwrap_err().to_string().contains("file name too long"));
}

#[test]
fn files_copied_before_start_land_under_the_cleaned_directory() {
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(2);
    header.set_mode(0o644);
    builder.append_data(&mut header, "f", &b"hi"[..]).unwrap();
    let body = builder.into_inner().unwrap();
    let files = tar_to_files(&body, "/a/rec/../recout").unwrap();
    assert_eq!(files[0].path, "/a/recout/f");
}
