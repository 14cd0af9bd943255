//! A container's volumes on the simulated cluster, driven by the docker CLI: named volumes (`-v name:/path`,
//! `--mount type=volume` with `volume-subpath`), anonymous ones (`-v /path`) across stop and start and their
//! removal (`docker rm -v`, `--rm`), `--tmpfs`, `--volumes-from`, the refusal of host paths, and inspect's
//! `Mounts`. The claims are looked at with kubectl.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::process::{Command, Output};

use common::{wait_until, Podshim};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs the docker CLI and asserts it succeeded; its stdout.
fn ok(p: &Podshim, args: &[&str]) -> String {
    let out = p.docker(args);
    assert!(out.status.success(), "docker {args:?}: {}{}", text(&out.stdout), text(&out.stderr));
    text(&out.stdout)
}

fn kubectl(p: &Podshim, args: &[&str]) -> Output {
    Command::new("kubectl").arg("--kubeconfig").arg(p.kubeconfig()).args(args).output().unwrap()
}

/// The names of the volume claims in the cluster.
fn claims(p: &Podshim) -> Vec<String> {
    let out = kubectl(p, &["get", "pvc", "-l", "podshim.io/volume=true", "-o", "name"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout).lines().map(|l| l.trim_start_matches("persistentvolumeclaim/").to_string()).collect()
}

/// The volume name mounted at `destination` in `container`, from inspect.
fn volume_at(p: &Podshim, container: &str, destination: &str) -> String {
    let format =
        format!("{{{{range .Mounts}}}}{{{{if eq .Destination \"{destination}\"}}}}{{{{.Name}}}}{{{{end}}}}{{{{end}}}}");
    ok(p, &["inspect", "--format", &format, container]).trim().to_string()
}

/// Inspect's `Mounts`, by destination: the docker CLI sends `-v` binds in no fixed order (it keeps them in a map,
/// and Docker lists its mount points from a map too), so only the set is Docker's.
fn mounts_by_destination(p: &Podshim, container: &str) -> serde_json::Value {
    let got: serde_json::Value =
        serde_json::from_str(&ok(p, &["inspect", "--format", "{{json .Mounts}}", container])).unwrap();
    let mut mounts = got.as_array().cloned().unwrap_or_default();
    mounts.sort_by_key(|m| m["Destination"].as_str().unwrap_or_default().to_string());
    serde_json::Value::Array(mounts)
}

fn claim_of(name: &str) -> String {
    podshim_translate::labels::volume_claim_name(name)
}

#[test]
fn a_named_volume_keeps_what_one_run_wrote_for_the_next() {
    let p = Podshim::start();
    ok(&p, &["run", "--rm", "-v", "data:/d", "alpine", "sh", "-c", "echo kept > /d/f"]);
    assert!(claims(&p).contains(&claim_of("data")), "{:?}", claims(&p));
    assert_eq!(ok(&p, &["run", "--rm", "-v", "data:/d:ro", "alpine", "cat", "/d/f"]), "kept\n");
    // Read-only means read-only.
    let out = p.docker(&["run", "--rm", "-v", "data:/d:ro", "alpine", "sh", "-c", "echo x > /d/g"]);
    assert_ne!(out.status.code(), Some(0));
    // A directory inside the volume (`volume-subpath`) is mounted instead of its root.
    ok(
        &p,
        &[
            "run",
            "--rm",
            "--mount",
            "type=volume,src=data,dst=/s,volume-subpath=sub",
            "alpine",
            "sh",
            "-c",
            "echo deep > /s/f",
        ],
    );
    assert_eq!(ok(&p, &["run", "--rm", "-v", "data:/all", "alpine", "cat", "/all/sub/f"]), "deep\n");
}

#[test]
fn an_anonymous_volume_lives_across_stop_and_start_and_goes_with_rm_v_only() {
    let p = Podshim::start();
    let script = "echo run >> /scratch/log; wc -l < /scratch/log";
    assert_eq!(ok(&p, &["run", "--name", "anon", "-v", "/scratch", "alpine", "sh", "-c", script]).trim(), "1");
    let volume = volume_at(&p, "anon", "/scratch");
    assert_eq!(volume.len(), 64, "{volume}");
    assert!(claims(&p).contains(&claim_of(&volume)));
    assert_eq!(ok(&p, &["start", "-a", "anon"]).trim(), "2");
    ok(&p, &["run", "-d", "--name", "anon-live", "-v", "/scratch", "alpine", "sleep", "300"]);
    ok(&p, &["exec", "anon-live", "sh", "-c", "echo before-stop > /scratch/f"]);
    ok(&p, &["stop", "-t", "1", "anon-live"]);
    ok(&p, &["start", "anon-live"]);
    assert_eq!(ok(&p, &["exec", "anon-live", "cat", "/scratch/f"]), "before-stop\n");
    let live_volume = volume_at(&p, "anon-live", "/scratch");

    // Plain `docker rm` keeps the anonymous volume, as Docker does.
    ok(&p, &["rm", "anon"]);
    assert!(claims(&p).contains(&claim_of(&volume)), "{:?}", claims(&p));
    // `docker rm -v` removes it.
    ok(&p, &["rm", "-f", "-v", "anon-live"]);
    let claim = claim_of(&live_volume);
    wait_until("the anonymous volume's claim is gone", 30, || !claims(&p).contains(&claim));
    let out = kubectl(&p, &["get", "pvc", &claim]);
    assert!(text(&out.stderr).contains("NotFound"), "{}", text(&out.stderr));
}

#[test]
fn auto_remove_removes_the_anonymous_volumes_and_keeps_named_ones() {
    let p = Podshim::start();
    let before = claims(&p);
    ok(&p, &["run", "--rm", "-v", "/scratch", "-v", "named:/n", "alpine", "sh", "-c", "echo x > /scratch/f"]);
    wait_until("only the named volume is left", 30, || {
        let now = claims(&p);
        now.len() == before.len() + 1 && now.contains(&claim_of("named"))
    });
}

#[test]
fn tmpfs_mounts_are_memory_backed_empty_dirs_with_their_size_limit() {
    let p = Podshim::start();
    let mounts = ok(&p, &["run", "--rm", "--tmpfs", "/run:size=1m", "alpine", "grep", " /run ", "/proc/mounts"]);
    assert!(mounts.starts_with("tmpfs /run tmpfs"), "{mounts}");
    // The size holds: a write past it fails inside, as with Docker.
    let script = "dd if=/dev/zero of=/run/f bs=1024 count=2048 2>/dev/null; echo $?; wc -c < /run/f";
    let out = ok(&p, &["run", "--rm", "--tmpfs", "/run:size=1m", "alpine", "sh", "-c", script]);
    assert_eq!(out.split_whitespace().collect::<Vec<_>>(), ["1", "1048576"], "{out}");
    ok(
        &p,
        &[
            "run",
            "-d",
            "--name",
            "tm",
            "--tmpfs",
            "/run:size=1m",
            "--mount",
            "type=tmpfs,dst=/t2,tmpfs-size=2097152",
            "alpine",
            "sleep",
            "300",
        ],
    );
    let pod = ok(&p, &["inspect", "--format", "{{.Id}}", "tm"]);
    let pod_name = format!("podshim-{}-1", &pod.trim()[..12]);
    let out = kubectl(
        &p,
        &[
            "get",
            "pod",
            &pod_name,
            "-o",
            "jsonpath={range .spec.volumes[*]}{.emptyDir.medium}:{.emptyDir.sizeLimit} {end}",
        ],
    );
    assert_eq!(text(&out.stdout).trim(), "Memory:2097152 Memory:1048576", "{}", text(&out.stderr));
    // Docker lists `--mount type=tmpfs` in Mounts and leaves `--tmpfs` out.
    assert_eq!(
        ok(&p, &["inspect", "--format", "{{json .Mounts}}", "tm"]).trim(),
        r#"[{"Type":"tmpfs","Source":"","Destination":"/t2","Mode":"","RW":true,"Propagation":""}]"#
    );
    assert_eq!(ok(&p, &["inspect", "--format", "{{json .HostConfig.Tmpfs}}", "tm"]).trim(), r#"{"/run":"size=1m"}"#);
}

#[test]
fn volumes_from_mounts_the_other_containers_volumes() {
    let p = Podshim::start();
    ok(&p, &["create", "--name", "giver", "-v", "given:/g", "-v", "/ga", "alpine", "true"]);
    ok(&p, &["run", "--rm", "--volumes-from", "giver", "alpine", "sh", "-c", "echo a > /g/f; echo b > /ga/f"]);
    assert_eq!(ok(&p, &["run", "--rm", "-v", "given:/x", "alpine", "cat", "/x/f"]), "a\n");
    let out =
        p.docker(&["run", "--rm", "--volumes-from", "giver:ro", "alpine", "sh", "-c", "cat /ga/f; echo c > /g/f"]);
    assert_eq!(text(&out.stdout), "b\n");
    assert_ne!(out.status.code(), Some(0), "read-only");
    ok(&p, &["create", "--name", "taker", "--volumes-from", "giver:ro", "alpine", "true"]);
    let shown =
        ok(&p, &["inspect", "--format", "{{range .Mounts}}{{.Destination}} {{.RW}} {{.Mode}}|{{end}}", "taker"]);
    assert_eq!(shown.trim(), "/g false |/ga false |");
    // `docker create` exits 1 on a daemon error (Docker 20.10 too).
    let out = p.docker(&["create", "--volumes-from", "nosuch", "alpine", "true"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("Error response from daemon: No such container: nosuch"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn the_docker_socket_and_bad_specifications_are_refused_with_their_reason() {
    let p = Podshim::start();
    let out = p.docker(&["run", "--rm", "-v", "/var/run/docker.sock:/var/run/docker.sock", "alpine", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        text(&out.stderr).contains(
            "Error response from daemon: Binds is not supported by podshim: /var/run/docker.sock: a container cannot reach the Docker socket"
        ),
        "{}",
        text(&out.stderr)
    );
    let out = p.docker(&["create", "-v", "a1:/x", "-v", "b1:/x", "alpine", "true"]);
    assert!(
        text(&out.stderr).contains("Error response from daemon: Duplicate mount point: /x"),
        "{}",
        text(&out.stderr)
    );
    let out = p.docker(&["create", "-v", "a1:rel", "alpine", "true"]);
    assert!(
        text(&out.stderr).contains("invalid volume specification: 'a1:rel': invalid mount config for type \"volume\": invalid mount path: 'rel' mount path must be absolute"),
        "{}",
        text(&out.stderr)
    );
    // Nothing was made for the refused creates.
    assert!(claims(&p).is_empty(), "{:?}", claims(&p));
}

#[test]
fn inspect_shows_the_mounts_as_docker_does() {
    let p = Podshim::start();
    ok(
        &p,
        &[
            "create",
            "--name",
            "insp",
            "-v",
            "data1:/d:ro",
            "-v",
            "data2:/d2",
            "-v",
            "/anon",
            "--mount",
            "type=volume,src=v2,dst=/e,readonly",
            "alpine",
            "true",
        ],
    );
    let anon = volume_at(&p, "insp", "/anon");
    let namespace = text(&kubectl(&p, &["config", "view", "--minify", "-o", "jsonpath={..namespace}"]).stdout);
    let namespace = if namespace.is_empty() { "default".to_string() } else { namespace };
    let source = |name: &str| format!("k8s://{namespace}/persistentvolumeclaims/{}", claim_of(name));
    let entry = |name: &str, dst: &str, mode: &str, rw: bool| {
        serde_json::json!({"Type": "volume", "Name": name, "Source": source(name), "Destination": dst,
            "Driver": "local", "Mode": mode, "RW": rw, "Propagation": ""})
    };
    let want = serde_json::json!([
        entry(&anon, "/anon", "", true),
        entry("data1", "/d", "ro", false),
        entry("data2", "/d2", "z", true),
        entry("v2", "/e", "z", false),
    ]);
    assert_eq!(mounts_by_destination(&p, "insp"), want);
    // The same after a start (the pod answers inspect).
    ok(&p, &["start", "insp"]);
    assert_eq!(mounts_by_destination(&p, "insp"), want);
    // As given (the CLI's order varies from run to run).
    let mut binds: Vec<String> =
        serde_json::from_str(&ok(&p, &["inspect", "--format", "{{json .HostConfig.Binds}}", "insp"])).unwrap();
    binds.sort();
    assert_eq!(binds, ["data1:/d:ro", "data2:/d2"]);
    assert_eq!(ok(&p, &["inspect", "--format", "{{json .Config.Volumes}}", "insp"]).trim(), r#"{"/anon":{}}"#);
}

/// docker-py (the system `python3` with the `docker` package): `volumes=` as a dict and as a list, a `Mount`
/// with labels, `tmpfs=`. The script prints what Docker 20.10 prints for it, byte for byte.
#[test]
fn docker_py_mounts_volumes_as_docker_does() {
    let p = Podshim::start();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/volume_mounts_dockerpy.py");
    let out = Command::new("python3").arg(script).env("DOCKER_HOST", p.docker_host()).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim(),
        r#"{"mounts": [{"Destination": "/m", "Mode": "z", "Name": "pylabeled", "RW": true, "Type": "volume"}], "out": "py\n", "tmpfs": {"/t": "size=3m"}}"#
    );
    // The mount's labels are the new volume's.
    let out = kubectl(
        &p,
        &["get", "pvc", &claim_of("pylabeled"), "-o", "jsonpath={.metadata.annotations.podshim\\.io/volume-labels}"],
    );
    assert_eq!(text(&out.stdout), r#"{"com.example":"yes"}"#, "{}", text(&out.stderr));
}

/// The image's `VOLUME /data` is an anonymous volume, as in Docker; a volume the client mounts there replaces it.
#[test]
fn an_image_volume_becomes_an_anonymous_volume() {
    let p = Podshim::start();
    common::pull(&p.socket, "podshim-all-config");
    ok(&p, &["run", "-d", "--name", "img", "podshim-all-config"]);
    let volume = volume_at(&p, "img", "/data");
    assert_eq!(volume.len(), 64, "{volume}");
    assert!(claims(&p).contains(&claim_of(&volume)));
    ok(&p, &["exec", "img", "sh", "-c", "echo mine > /data/f"]);
    ok(&p, &["restart", "-t", "1", "img"]);
    assert_eq!(ok(&p, &["exec", "img", "cat", "/data/f"]), "mine\n");
    assert_eq!(ok(&p, &["inspect", "--format", "{{json .Config.Volumes}}", "img"]).trim(), r#"{"/data":{}}"#);
    ok(&p, &["create", "--name", "img2", "-v", "over:/data", "podshim-all-config"]);
    assert_eq!(volume_at(&p, "img2", "/data"), "over");
    let shown = ok(&p, &["inspect", "--format", "{{len .Mounts}}", "img2"]);
    assert_eq!(shown.trim(), "1");
}

/// A start whose claim is gone fails with Kubernetes' reason and the container stays created (a short
/// `--start-timeout`: the simulated node waits for the claim, a real scheduler reports the pod unschedulable).
#[test]
fn a_start_without_its_claim_fails_naming_it() {
    let p = Podshim::start_with(&["--start-timeout", "5s"]);
    ok(&p, &["create", "--name", "lost", "-v", "lostvol:/d", "alpine", "true"]);
    let claim = claim_of("lostvol");
    let out = kubectl(&p, &["delete", "pvc", &claim]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = p.docker(&["start", "lost"]);
    let stderr = text(&out.stderr);
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr.starts_with("Error response from daemon: "), "{stderr}");
    assert!(
        stderr.contains(&format!("persistentvolumeclaim \"{claim}\" not found"))
            || stderr.contains("unbound immediate PersistentVolumeClaims"),
        "{stderr}"
    );
    assert_eq!(ok(&p, &["inspect", "--format", "{{.State.Status}}", "lost"]).trim(), "created");
}

#[test]
fn a_claim_that_will_not_bind_fails_the_start_at_once_naming_why() {
    let p = Podshim::start();
    ok(&p, &["volume", "create", "-o", "storageClass=gold", "goldvol"]);
    let started = std::time::Instant::now();
    let out = p.docker(&["run", "--name", "nogold", "-v", "goldvol:/d", "alpine", "true"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{stderr}");
    let claim = claim_of("goldvol");
    assert!(
        stderr.contains(&format!(
            "Kubernetes cannot bind the container's volume goldvol (claim {claim}): it is Pending: ProvisioningFailed: storageclass.storage.k8s.io \"gold\" not found"
        )),
        "{stderr}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(30), "not at once: {:?}", started.elapsed());
    assert_eq!(ok(&p, &["inspect", "--format", "{{.State.Status}}", "nogold"]).trim(), "created");
    // A fresh volume of the default class binds, and the start waits for it.
    assert_eq!(ok(&p, &["run", "--rm", "-v", "fresh:/d", "alpine", "sh", "-c", "echo hi > /d/x; cat /d/x"]), "hi\n");
}
