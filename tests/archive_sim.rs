//! `docker cp` against `podshim --sim` with the real docker CLI: into and out of a running container (tar through
//! `pods/exec`), and into a created container (kept in the record, mounted at start).
//!
//! Each simulated container has a root of its own: what a test expects to find in one it puts there with
//! `docker exec`, and reads back with `docker exec` or `docker cp`.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use base64::Engine;
use common::{http, Podshim};

fn tree(root: &Path) {
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::write(root.join("a.txt"), b"hello\n").unwrap();
    std::fs::write(root.join("sub/run.sh"), b"#!/bin/sh\necho run\n").unwrap();
    std::fs::write(root.join("sub/blob.bin"), (0..70_000u32).map(|i| (i * 7 % 251) as u8).collect::<Vec<u8>>())
        .unwrap();
    std::fs::set_permissions(root.join("a.txt"), std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::set_permissions(root.join("sub/run.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Every file under `root`: relative path, permission bits, bytes.
fn snapshot(root: &Path) -> Vec<(String, u32, Vec<u8>)> {
    let mut out = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let meta = entry.metadata().unwrap();
            if meta.is_dir() {
                dirs.push(entry.path());
            } else {
                let rel = entry.path().strip_prefix(root).unwrap().display().to_string();
                out.push((rel, meta.permissions().mode() & 0o777, std::fs::read(entry.path()).unwrap()));
            }
        }
    }
    out.sort();
    out
}

fn ok(out: std::process::Output) -> String {
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_tree_copied_into_a_running_container_comes_back_byte_identical_with_its_modes() {
    let p = Podshim::start();
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    tree(&src);
    let inside = work.path().join("inside");
    std::fs::create_dir(&inside).unwrap();
    ok(p.docker(&["run", "-d", "--name", "cp-run", "alpine", "sleep", "60"]));
    ok(p.docker(&["cp", src.to_str().unwrap(), &format!("cp-run:{}/", inside.display())]));
    let back = work.path().join("back");
    std::fs::create_dir(&back).unwrap();
    ok(p.docker(&["cp", &format!("cp-run:{}/src", inside.display()), back.to_str().unwrap()]));
    assert_eq!(snapshot(&back.join("src")), snapshot(&src));
}

#[test]
fn head_gives_dockers_stat_header_and_a_missing_path_is_404() {
    let p = Podshim::start();
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("f"), b"12345").unwrap();
    std::fs::set_permissions(work.path().join("f"), std::fs::Permissions::from_mode(0o640)).unwrap();
    ok(p.docker(&["run", "-d", "--name", "cp-stat", "alpine", "sleep", "60"]));
    let resp =
        http(&p.socket, "HEAD", &format!("/containers/cp-stat/archive?path={}/f", work.path().display())).unwrap();
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    let header = resp.lines().find_map(|l| l.strip_prefix("x-docker-container-path-stat: ")).expect("stat header");
    let json = base64::engine::general_purpose::STANDARD.decode(header.trim()).unwrap();
    let stat: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(
        (stat["name"].as_str(), stat["size"].as_i64(), stat["mode"].as_u64()),
        (Some("f"), Some(5), Some(0o640))
    );
    assert_eq!(stat["linkTarget"], "");
    let missing = format!("{}/nope", work.path().display());
    let resp = http(&p.socket, "GET", &format!("/containers/cp-stat/archive?path={missing}")).unwrap();
    assert!(resp.starts_with("HTTP/1.1 404"), "{resp}");
    assert!(resp.contains(&format!("Could not find the file {missing} in container cp-stat")), "{resp}");
}

#[test]
fn files_copied_before_start_are_in_place_when_the_process_starts() {
    let p = Podshim::start();
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    tree(&src);
    let target = work.path().join("conf");
    let script = format!("cat {0}/src/a.txt; {0}/src/sub/run.sh; cksum < {0}/src/sub/blob.bin", target.display());
    ok(p.docker(&["create", "--name", "cp-early", "alpine", "sh", "-c", &script]));
    ok(p.docker(&["cp", src.to_str().unwrap(), &format!("cp-early:{}/", target.display())]));
    let back = work.path().join("before");
    std::fs::create_dir(&back).unwrap();
    ok(p.docker(&["cp", &format!("cp-early:{}/src", target.display()), back.to_str().unwrap()]));
    assert_eq!(snapshot(&back.join("src")), snapshot(&src), "read back from the record before start");
    let out = ok(p.docker(&["start", "-a", "cp-early"]));
    let cksum = ok(std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("cksum < {}/sub/blob.bin", src.display()))
        .output()
        .unwrap());
    assert_eq!(out, format!("hello\nrun\n{cksum}"));
}

/// Sends `PUT /containers/{name}/archive?path=…` with `body` and returns the response text.
fn put_archive(socket: &Path, name: &str, path: &str, body: &[u8]) -> String {
    use std::io::{Read, Write};
    let mut stream = std::os::unix::net::UnixStream::connect(socket).unwrap();
    stream.set_read_timeout(Some(std::time::Duration::from_secs(30))).unwrap();
    let head = format!(
        "PUT /containers/{name}/archive?path={path} HTTP/1.1\r\nHost: podshim\r\nConnection: close\r\n\
         Content-Type: application/x-tar\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    // The server may answer before it has read the whole body; a write error then is expected.
    let _ = stream.write_all(body);
    // Read until the server closes. It may close before it has read the whole body (the answer does not
    // depend on it), so the close can be a reset after the answer: keep what arrived before it.
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset && !out.is_empty() => break,
            Err(e) => panic!("no answer within 30 s (a hang?): {e}"),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn a_large_upload_to_a_missing_or_non_directory_target_is_refused_without_hanging() {
    let p = Podshim::start();
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    tree(&src);
    let mut archive = tar::Builder::new(Vec::new());
    archive.append_dir_all("src", &src).unwrap();
    let body = archive.into_inner().unwrap();
    assert!(body.len() > 70_000, "large enough to fill the pipes: {}", body.len());
    ok(p.docker(&["run", "-d", "--name", "cp-big", "alpine", "sleep", "60"]));
    for i in 0..3 {
        let missing = format!("{}/missing-{i}", work.path().display());
        let resp = put_archive(&p.socket, "cp-big", &missing, &body);
        assert!(resp.starts_with("HTTP/1.1 404"), "{resp}");
    }
    let file = work.path().join("src/a.txt");
    let resp = put_archive(&p.socket, "cp-big", &file.display().to_string(), &body);
    assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");
    assert!(resp.contains("extraction point is not a directory"), "{resp}");
}

fn docker_fails(out: std::process::Output) -> String {
    assert!(!out.status.success(), "expected a failure, stdout: {}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn no_overwrite_dir_non_dir_refuses_both_replacements_with_dockers_words() {
    let p = Podshim::start();
    let work = tempfile::tempdir().unwrap();
    // Uploaded: a file `d1`, a directory `f1`, and a tree of 600 files where `e500` is a file.
    let src = work.path().join("src");
    std::fs::create_dir_all(src.join("f1")).unwrap();
    std::fs::write(src.join("d1"), b"not a directory\n").unwrap();
    std::fs::create_dir_all(src.join("many")).unwrap();
    for i in 0..600 {
        std::fs::write(src.join(format!("many/e{i:03}")), format!("{i}\n")).unwrap();
    }
    ok(p.docker(&["run", "-d", "--name", "cp-over", "alpine", "sleep", "60"]));
    // In the container: a directory `d1`, a file `f1`, and a tree whose entry 500 is a directory.
    let setup = "mkdir -p /inside/d1/keep /inside/many/e500 && echo file > /inside/f1";
    ok(p.docker(&["exec", "cp-over", "sh", "-c", setup]));
    let (dest, inside) = ("cp-over:/inside", "/inside");
    let err = docker_fails(p.docker(&["cp", src.join("d1").to_str().unwrap(), &format!("{dest}/")]));
    assert_eq!(
        err,
        format!("Error response from daemon: Error processing tar file(exit status 1): cannot overwrite directory \"{inside}/d1\" with non-directory \"{inside}\"\n")
    );
    let err = docker_fails(p.docker(&["cp", src.join("f1").to_str().unwrap(), &format!("{dest}/")]));
    assert_eq!(
        err,
        format!("Error response from daemon: Error processing tar file(exit status 1): cannot overwrite non-directory \"{inside}/f1\" with directory \"{inside}\"\n")
    );
    let err = docker_fails(p.docker(&["cp", src.join("many").to_str().unwrap(), &format!("{dest}/")]));
    assert!(err.contains(&format!("cannot overwrite directory \"{inside}/many/e500\" with non-directory")), "{err}");
    let check = "test -d /inside/d1/keep && test -d /inside/many/e500 && cat /inside/f1";
    assert_eq!(ok(p.docker(&["exec", "cp-over", "sh", "-c", check])), "file\n", "nothing was replaced");
    // Without the conflicting entry the same tree goes in whole, in several checked batches.
    ok(p.docker(&["exec", "cp-over", "rmdir", "/inside/many/e500"]));
    ok(p.docker(&["cp", src.join("many").to_str().unwrap(), &format!("{dest}/")]));
    let back = work.path().join("back");
    ok(p.docker(&["cp", "cp-over:/inside/many", back.to_str().unwrap()]));
    assert_eq!(snapshot(&back), snapshot(&src.join("many")));
}

/// The owner of `path` in the container.
fn owner(p: &Podshim, container: &str, path: &str) -> String {
    ok(p.docker(&["exec", container, "stat", "-c", "%u:%g", path])).trim().to_string()
}

#[test]
fn copied_files_keep_their_owners_unless_copy_uid_gid_gives_them_to_the_containers_user() {
    use std::os::unix::fs::chown;
    let p = Podshim::start();
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("owned");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    std::fs::write(src.join("sub/f"), b"x").unwrap();
    for path in [src.clone(), src.join("sub"), src.join("sub/f")] {
        chown(&path, Some(1234), Some(2345)).unwrap();
    }
    ok(p.docker(&["run", "-d", "--name", "cp-root", "alpine", "sleep", "60"]));
    ok(p.docker(&["run", "-d", "--name", "cp-user", "--user", "65534:65534", "alpine", "sleep", "60"]));
    // /tmp: a directory both users may write to.
    let to = |c: &str, dir: &str| format!("{c}:/tmp/{dir}");
    ok(p.docker(&["cp", src.to_str().unwrap(), &to("cp-root", "plain")]));
    ok(p.docker(&["cp", "-a", src.to_str().unwrap(), &to("cp-root", "archive")]));
    ok(p.docker(&["cp", "-a", src.to_str().unwrap(), &to("cp-user", "user")]));
    assert_eq!(owner(&p, "cp-root", "/tmp/plain/sub/f"), "1234:2345");
    assert_eq!(owner(&p, "cp-root", "/tmp/archive/sub/f"), "1234:2345", "no User set: the archive's owners");
    assert_eq!(owner(&p, "cp-user", "/tmp/user/sub/f"), "65534:65534", "the container's user");
}

#[test]
fn without_no_overwrite_dir_non_dir_the_images_tar_decides_and_its_error_is_reported() {
    let p = Podshim::start();
    let mut archive = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(4);
    header.set_mode(0o644);
    archive.append_data(&mut header, "d1", &b"file"[..]).unwrap();
    let body = archive.into_inner().unwrap();
    ok(p.docker(&["run", "-d", "--name", "cp-tar-says", "alpine", "sleep", "60"]));
    ok(p.docker(&["exec", "cp-tar-says", "mkdir", "-p", "/inside/d1/keep"]));
    let resp = put_archive(&p.socket, "cp-tar-says", "/inside", &body);
    assert!(resp.starts_with("HTTP/1.1 500"), "{resp}");
    assert!(resp.contains("Error processing tar file: tar: d1: Cannot open"), "{resp}");
    assert_eq!(ok(p.docker(&["exec", "cp-tar-says", "sh", "-c", "test -d /inside/d1/keep && echo kept"])), "kept\n");
}

/// A gzip of 20 MiB of zeros: a valid (empty) archive after its first kilobyte, after which tar stops reading.
/// The upload used to wait forever, now and then, for a reader that was gone; every try must answer, 200.
#[test]
fn an_upload_tar_stops_reading_early_is_answered_every_time() {
    use std::io::Write;
    let p = Podshim::start();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&vec![0u8; 20 << 20]).unwrap();
    let body = gz.finish().unwrap();
    ok(p.docker(&["run", "-d", "--name", "cp-zeros", "alpine", "sleep", "300"]));
    for i in 0..10 {
        let resp = put_archive(&p.socket, "cp-zeros", "/tmp", &body);
        assert!(resp.starts_with("HTTP/1.1 200"), "try {i}: {resp}");
    }
}

/// What the client got wrong in an upload is a 400 naming it; nothing is extracted outside the directory.
#[test]
fn bad_uploads_and_paths_are_the_clients_mistake() {
    let p = Podshim::start();
    ok(p.docker(&["run", "-d", "--name", "cp-bad", "alpine", "sleep", "300"]));
    ok(p.docker(&["exec", "cp-bad", "mkdir", "-p", "/outer/inside"]));
    let dir = "/outer/inside".to_string();
    let resp = put_archive(&p.socket, "cp-bad", &dir, &[1u8; 3000]);
    assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");
    assert!(resp.contains("Error processing tar file: archive/tar: invalid tar header"), "{resp}");
    let mut header = tar::Header::new_ustar();
    let name = b"../escaped";
    header.as_old_mut().name[..name.len()].copy_from_slice(name);
    header.set_size(0);
    header.set_mode(0o644);
    header.set_cksum();
    let mut body = header.as_bytes().to_vec();
    body.extend_from_slice(&[0u8; 1024]);
    let resp = put_archive(&p.socket, "cp-bad", &dir, &body);
    assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");
    assert!(resp.contains("is outside of"), "{resp}");
    let outer = ok(p.docker(&["exec", "cp-bad", "ls", "/outer"]));
    assert_eq!(outer, "inside\n", "nothing was extracted outside the directory");
    for path in ["/tm%00p", &format!("/{}", "a".repeat(5000))] {
        for method in ["GET", "HEAD"] {
            let resp = http(&p.socket, method, &format!("/containers/cp-bad/archive?path={path}")).unwrap();
            assert!(resp.starts_with("HTTP/1.1 400"), "{method} {}: {resp}", &path[..8]);
        }
        let resp = put_archive(&p.socket, "cp-bad", path, &body);
        assert!(resp.starts_with("HTTP/1.1 400"), "PUT {}: {resp}", &path[..8]);
    }
}

/// A created container keeps copied files under the cleaned path.
#[test]
fn a_path_copied_into_before_start_is_cleaned() {
    let p = Podshim::start();
    let work = tempfile::tempdir().unwrap();
    let rec = work.path().join("rec");
    ok(p.docker(&["create", "--name", "cp-clean", "alpine", "sleep", "60"]));
    let mut archive = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(3);
    header.set_mode(0o644);
    archive.append_data(&mut header, "f.txt", &b"hi\n"[..]).unwrap();
    let body = archive.into_inner().unwrap();
    let unclean = format!("{}/../recout", rec.display());
    let resp = put_archive(&p.socket, "cp-clean", &unclean, &body);
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    let clean = format!("{}/recout/f.txt", work.path().display());
    let resp = http(&p.socket, "HEAD", &format!("/containers/cp-clean/archive?path={clean}")).unwrap();
    assert!(resp.starts_with("HTTP/1.1 200"), "the file is under the cleaned path: {resp}");
}
