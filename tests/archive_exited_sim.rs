//! `docker cp` out of (and into) a container that has exited or was stopped, on the simulated cluster: paths on
//! its volumes are reached through a helper pod that mounts the claims (named, anonymous), any other path is
//! refused with 409, and the helper is gone afterwards. Driven by the docker CLI and docker-py; the helper pods
//! are looked for with kubectl.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::process::{Command, Output};

use common::{wait_until, Podshim};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn ok(p: &Podshim, args: &[&str]) -> Vec<u8> {
    let out = p.docker(args);
    assert!(out.status.success(), "docker {args:?}: {}{}", text(&out.stdout), text(&out.stderr));
    out.stdout
}

fn kubectl(p: &Podshim, args: &[&str]) -> Output {
    Command::new("kubectl").arg("--kubeconfig").arg(p.kubeconfig()).args(args).output().unwrap()
}

/// The helper pods in the cluster.
fn helpers(p: &Podshim) -> Vec<String> {
    let out = kubectl(p, &["get", "pods", "-l", "podshim.io/helper=archive", "-o", "name"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout).lines().map(str::to_string).collect()
}

/// The entries of a tar: name -> content (directories: empty, name ends with `/`).
fn entries(tar: &[u8]) -> BTreeMap<String, String> {
    let mut archive = tar::Archive::new(tar);
    let mut out = BTreeMap::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let mut name = entry.path().unwrap().to_string_lossy().into_owned();
        if entry.header().entry_type().is_dir() && !name.ends_with('/') {
            name.push('/');
        }
        let mut content = String::new();
        entry.read_to_string(&mut content).unwrap();
        out.insert(name, content);
    }
    out
}

#[test]
fn the_job_pattern_copies_its_result_out_of_the_exited_container() {
    let p = Podshim::start();
    let script = "echo result > /out/r.txt; mkdir /out/sub; echo deep > /out/sub/d; echo gone > /tmp/x";
    ok(&p, &["run", "--name", "job", "-v", "out:/out", "alpine", "sh", "-c", script]);
    let status = ok(&p, &["container", "inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", "job"]);
    assert_eq!(text(&status).trim(), "exited 0");

    // A file, as a tar on stdout.
    let tar = ok(&p, &["cp", "job:/out/r.txt", "-"]);
    assert_eq!(entries(&tar), BTreeMap::from([("r.txt".to_string(), "result\n".to_string())]));
    // A file, into a directory.
    let dir = tempfile::tempdir().unwrap();
    ok(&p, &["cp", "job:/out/r.txt", dir.path().to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(dir.path().join("r.txt")).unwrap(), "result\n");
    // A tree.
    let tree = entries(&ok(&p, &["cp", "job:/out", "-"]));
    assert_eq!(tree.get("out/r.txt").map(String::as_str), Some("result\n"), "{tree:?}");
    assert_eq!(tree.get("out/sub/d").map(String::as_str), Some("deep\n"), "{tree:?}");
    assert!(tree.contains_key("out/sub/"), "{tree:?}");

    // A path of the container's own filesystem: the clear refusal (409), not "no such container".
    let out = p.docker(&["cp", "job:/etc/hostname", dir.path().to_str().unwrap()]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("container job is not running"), "{err}");
    assert!(err.contains("only paths on its volumes can be copied (its volumes are at /out)"), "{err}");
    assert!(!dir.path().join("hostname").exists());
    // A path on the volume that does not exist: Docker's 404.
    let out = p.docker(&["cp", "job:/out/nothing", "-"]);
    assert!(
        text(&out.stderr).contains("Could not find the file /out/nothing in container job"),
        "{}",
        text(&out.stderr)
    );

    // Copying into the exited container's volume goes through a read-write helper; the next run sees it.
    let upload = dir.path().join("in.txt");
    std::fs::write(&upload, "uploaded\n").unwrap();
    ok(&p, &["cp", upload.to_str().unwrap(), "job:/out/"]);
    assert_eq!(entries(&ok(&p, &["cp", "job:/out/in.txt", "-"])).get("in.txt").map(String::as_str), Some("uploaded\n"));
    assert_eq!(text(&ok(&p, &["run", "--rm", "-v", "out:/o", "alpine", "cat", "/o/in.txt"])), "uploaded\n");

    // A volume taken with --volumes-from is reachable through the container that took it.
    ok(&p, &["run", "--name", "taker", "--volumes-from", "job:ro", "alpine", "true"]);
    assert_eq!(entries(&ok(&p, &["cp", "taker:/out/r.txt", "-"])).get("r.txt").map(String::as_str), Some("result\n"));
    ok(&p, &["rm", "taker"]);

    // No helper is left, and the container is as it was.
    wait_until("the helper pods are gone", 30, || helpers(&p).is_empty());
    let after =
        ok(&p, &["container", "inspect", "--format", "{{.State.Status}} {{.State.ExitCode}} {{len .Mounts}}", "job"]);
    assert_eq!(text(&after).trim(), "exited 0 1");
    let names = ok(&p, &["ps", "-a", "--format", "{{.Names}}"]);
    assert_eq!(text(&names).trim(), "job");
}

#[test]
fn anonymous_volumes_of_stopped_containers_are_reachable_and_read_only_ones_refuse_writes() {
    let p = Podshim::start();
    ok(&p, &["run", "--name", "anon", "-v", "/out", "alpine", "sh", "-c", "echo anon > /out/a"]);
    assert_eq!(entries(&ok(&p, &["cp", "anon:/out/a", "-"])).get("a").map(String::as_str), Some("anon\n"));

    // A stopped container (its pod kept by podshim's finalizer) and a volume mounted with a subpath.
    ok(&p, &["volume", "create", "deep"]);
    ok(&p, &["run", "--rm", "-v", "deep:/d", "alpine", "mkdir", "-p", "/d/sub"]);
    ok(
        &p,
        &[
            "run",
            "-d",
            "--name",
            "svc",
            "--mount",
            "type=volume,src=deep,dst=/data,volume-subpath=sub",
            "-v",
            "deep:/ro:ro",
            "alpine",
            "sh",
            "-c",
            "echo live > /data/f; sleep 300",
        ],
    );
    wait_until("the service wrote its file", 30, || p.docker(&["exec", "svc", "cat", "/data/f"]).status.success());
    ok(&p, &["stop", "-t", "1", "svc"]);
    assert_eq!(entries(&ok(&p, &["cp", "svc:/data/f", "-"])).get("f").map(String::as_str), Some("live\n"));
    assert_eq!(entries(&ok(&p, &["cp", "svc:/ro/sub/f", "-"])).get("f").map(String::as_str), Some("live\n"));

    // Docker refuses a copy into a volume mounted read-only, with these words.
    let dir = tempfile::tempdir().unwrap();
    let upload = dir.path().join("x");
    std::fs::write(&upload, "x").unwrap();
    let out = p.docker(&["cp", upload.to_str().unwrap(), "svc:/ro/"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("mounted volume is marked read-only"), "{}", text(&out.stderr));

    // `docker cp -a` (copyUIDGID) gives the files to the container's user, as in a running container.
    ok(&p, &["run", "--name", "usr", "-u", "1000:1000", "-v", "uvol:/out", "alpine", "true"]);
    ok(&p, &["run", "--rm", "-v", "uvol:/o", "alpine", "chmod", "777", "/o"]);
    ok(&p, &["cp", "-a", upload.to_str().unwrap(), "usr:/out/"]);
    ok(&p, &["cp", upload.to_str().unwrap(), "usr:/out/y"]);
    let owners = ok(&p, &["run", "--rm", "-v", "uvol:/o", "alpine", "stat", "-c", "%n %u:%g", "/o/x", "/o/y"]);
    let me = format!(
        "{}:{}",
        text(&Command::new("id").arg("-u").output().unwrap().stdout).trim(),
        text(&Command::new("id").arg("-g").output().unwrap().stdout).trim()
    );
    assert_eq!(text(&owners), format!("/o/x 1000:1000\n/o/y {me}\n"));

    // A tmpfs is gone after exit.
    ok(&p, &["run", "--name", "tm", "--tmpfs", "/scratch", "alpine", "sh", "-c", "echo x > /scratch/f"]);
    let out = p.docker(&["cp", "tm:/scratch/f", "-"]);
    assert!(text(&out.stderr).contains("(it has no volumes)"), "{}", text(&out.stderr));

    wait_until("the helper pods are gone", 30, || helpers(&p).is_empty());
}

/// docker-py's job pattern: `containers.run(detach=True)`, `wait()`, `get_archive()`; and the refusal as
/// docker-py raises it.
#[test]
fn docker_py_gets_the_archive_after_wait() {
    let p = Podshim::start();
    let script = r#"
import docker, io, json, tarfile
c = docker.from_env(version="1.41")
ctr = c.containers.run("alpine", "sh -c 'echo -n from-py > /vol1/data.txt'", volumes=["/vol1"], detach=True)
status = ctr.wait()["StatusCode"]
bits, stat = ctr.get_archive("/vol1/data.txt")
data = tarfile.open(fileobj=io.BytesIO(b"".join(bits))).extractfile("data.txt").read().decode()
try:
    ctr.get_archive("/etc/hostname")
    refused = None
except docker.errors.APIError as e:
    refused = [e.status_code, "only paths on its volumes" in str(e)]
ctr.remove(v=True)
print(json.dumps({"status": status, "name": stat["name"], "size": stat["size"], "data": data, "refused": refused}, sort_keys=True))
"#;
    let out = Command::new("python3").arg("-c").arg(script).env("DOCKER_HOST", p.docker_host()).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim(),
        r#"{"data": "from-py", "name": "data.txt", "refused": [409, true], "size": 7, "status": 0}"#
    );
    wait_until("the helper pods are gone", 30, || helpers(&p).is_empty());
}

/// Sends `GET /containers/{name}/archive?path=` on a connection of its own and reads the first bytes of the
/// answer; the connection stays open (and unread) until the stream is dropped.
fn start_get(socket: &std::path::Path, name: &str, path: &str) -> std::os::unix::net::UnixStream {
    use std::io::Write;
    let mut stream = std::os::unix::net::UnixStream::connect(socket).unwrap();
    write!(stream, "GET /v1.41/containers/{name}/archive?path={path} HTTP/1.1\r\nHost: podshim\r\n\r\n").unwrap();
    let mut head = [0u8; 4096];
    let n = stream.read(&mut head).unwrap();
    assert!(head[..n].starts_with(b"HTTP/1.1 200"), "{}", text(&head[..n]));
    stream
}

/// A client that goes away in the middle of a `GET`: the helper is deleted then, not when tar would have ended.
#[test]
fn the_helper_goes_when_the_client_goes_away_mid_stream() {
    let p = Podshim::start();
    ok(
        &p,
        &["run", "--name", "big", "-v", "bigvol:/out", "alpine", "sh", "-c", "head -c 67108864 /dev/zero > /out/big"],
    );
    let stream = start_get(&p.socket, "big", "/out/big");
    // The client reads no more: tar is held back, and so is its helper.
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(helpers(&p).len(), 1, "{:?}", helpers(&p));
    drop(stream);
    wait_until("the helper pod is gone after the client left", 30, || helpers(&p).is_empty());
}

/// A podshim killed in the middle of a copy leaves its helper; started again with the same `--replica-name`, it
/// removes it. A helper of another replica that still runs is left alone.
#[test]
fn a_restarted_podshim_removes_the_helpers_its_crashed_run_left() {
    let dir = tempfile::tempdir().unwrap();
    let _cluster = common::start_cluster(&dir.path().join("sim"));
    let kubeconfig = dir.path().join("sim").join("kubeconfig");
    let socket = dir.path().join("d.sock");
    let config = dir.path().join("docker-config");
    let docker = |args: &[&str]| {
        let out = common::docker_at(&socket, &config, args);
        assert!(out.status.success(), "docker {args:?}: {}", text(&out.stderr));
    };
    let kubectl =
        |args: &[&str]| Command::new("kubectl").arg("--kubeconfig").arg(&kubeconfig).args(args).output().unwrap();
    let helpers = || {
        let out = kubectl(&["get", "pods", "-l", "podshim.io/helper=archive", "-o", "name"]);
        text(&out.stdout).lines().map(str::to_string).collect::<Vec<_>>()
    };
    let podshim = common::start_podshim_with(&kubeconfig, &socket, &["--replica-name", "first"]);
    docker(&["run", "--name", "crash", "-v", "cv:/out", "alpine", "sh", "-c", "head -c 67108864 /dev/zero > /out/big"]);
    let stream = start_get(&socket, "crash", "/out/big");
    let left = helpers();
    assert_eq!(left.len(), 1, "{left:?}");
    drop(podshim); // SIGKILL
    drop(stream);
    // Another replica's helper, still running.
    let other = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"podshim-cp-other","labels":{"podshim.io/helper":"archive"},"annotations":{"podshim.io/helper-replica":"second"}},"spec":{"containers":[{"name":"main","image":"busybox","command":["sleep","300"]}]}}"#;
    let path = dir.path().join("other.json");
    std::fs::write(&path, other).unwrap();
    assert!(kubectl(&["create", "-f", path.to_str().unwrap()]).status.success());
    assert_eq!(helpers().len(), 2);
    let _podshim = common::start_podshim_with(&kubeconfig, &socket, &["--replica-name", "first"]);
    wait_until("the crashed run's helper is gone", 30, || helpers() == ["pod/podshim-cp-other"]);
}
