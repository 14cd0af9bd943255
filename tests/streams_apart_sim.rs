//! Attached runs keep stdout and stderr apart on a cluster without split log streams: the real docker CLI
//! against `podshim --sim --split-log-streams false` (the start handshake and `pods/attach`, see
//! docs/streams.md), and what stays as it was: `docker logs` merged there, detached runs unwrapped, images
//! without evidence of /bin/sh and `--start-handshake never` on the logs path.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::process::{Command, Output};

use common::{text, Podshim};

fn podshim(flags: &[&str]) -> Podshim {
    let mut all = vec!["--split-log-streams", "false"];
    all.extend_from_slice(flags);
    Podshim::start_with(&all)
}

fn run(p: &Podshim, args: &[&str]) -> (String, String, Option<i32>) {
    let out: Output = p.docker(args);
    (text(&out.stdout), text(&out.stderr), out.status.code())
}

fn kubectl(p: &Podshim, args: &[&str]) -> String {
    let out = Command::new("kubectl").arg("--kubeconfig").arg(p.kubeconfig()).args(args).output().unwrap();
    assert!(out.status.success(), "kubectl {args:?}: {}", text(&out.stderr));
    text(&out.stdout)
}

#[test]
fn an_attached_run_has_its_stdout_and_stderr_apart_and_its_exit_code() {
    let p = podshim(&[]);
    for _ in 0..5 {
        let got = run(&p, &["run", "--rm", "alpine", "sh", "-c", "echo out; echo err >&2; exit 3"]);
        assert_eq!(got, ("out\n".into(), "err\n".into(), Some(3)));
    }
    // What the code runners do: the result on stdout, the diagnostics on stderr, from a program that writes
    // before anything could have attached.
    assert_eq!(run(&p, &["run", "--rm", "alpine", "echo", "t0"]), ("t0\n".into(), String::new(), Some(0)));
    let first = "echo first-err >&2; echo first-out";
    assert_eq!(
        run(&p, &["run", "--rm", "alpine", "sh", "-c", first]),
        ("first-out\n".into(), "first-err\n".into(), Some(0))
    );
}

#[test]
fn long_output_on_both_streams_at_once_arrives_complete_and_apart() {
    let p = podshim(&[]);
    let (out, err, code) = run(&p, &["run", "--rm", "alpine", "sh", "-c", "seq 1 20000 & seq 1 20000 >&2; wait"]);
    let expected: String = (1..=20000).map(|n| format!("{n}\n")).collect();
    assert_eq!(code, Some(0), "{err}");
    assert!(out == expected, "stdout: {} bytes, not seq 1 20000", out.len());
    assert!(err == expected, "stderr: {} bytes, not seq 1 20000", err.len());
}

#[test]
fn the_clients_stdin_follows_the_handshake_and_its_end_closes_the_processs_stdin() {
    let p = podshim(&[]);
    let out = p.docker_with_input(&["run", "-i", "--rm", "alpine", "sh", "-c", "cat; echo e >&2"], b"a\nb\n");
    assert_eq!((text(&out.stdout), text(&out.stderr), out.status.code()), ("a\nb\n".into(), "e\n".into(), Some(0)));
    // Without -i the process's stdin is empty, as Docker gives it.
    let got = run(&p, &["run", "--rm", "alpine", "sh", "-c", "cat; echo after-eof"]);
    assert_eq!(got, ("after-eof\n".into(), String::new(), Some(0)));
}

#[test]
fn the_containers_command_replaces_the_waiting_shell() {
    let p = podshim(&[]);
    // `$$` is the process the container runs: after the exec, the container's own `sh -c ...`.
    let (out, _, code) = run(&p, &["run", "--rm", "alpine", "sh", "-c", "tr '\\0' ' ' </proc/$$/cmdline"]);
    assert_eq!((out.as_str(), code), ("sh -c tr '\\0' ' ' </proc/$$/cmdline ", Some(0)));
    // A program that is not there: Docker's exit code and words.
    let (_, err, code) = run(&p, &["run", "--rm", "alpine", "no-such-program-x"]);
    assert_eq!(code, Some(127));
    assert!(err.contains("exec: \"no-such-program-x\": executable file not found in $PATH"), "{err}");
}

#[test]
fn docker_logs_and_detached_runs_are_as_before() {
    let p = podshim(&[]);
    // An attached run that is kept: its log has both streams, merged into stdout on this cluster.
    let got = run(&p, &["run", "--name", "kept", "alpine", "sh", "-c", "echo out; echo err >&2"]);
    assert_eq!(got, ("out\n".into(), "err\n".into(), Some(0)));
    let (out, err, _) = run(&p, &["logs", "kept"]);
    let mut lines: Vec<&str> = out.lines().collect();
    lines.sort();
    assert_eq!((lines, err.as_str()), (vec!["err", "out"], ""));
    // A detached run has no attach to wait for: its pod runs the command as it is.
    let (id, _, code) = run(&p, &["run", "-d", "--name", "detached", "alpine", "sh", "-c", "echo hi"]);
    assert_eq!(code, Some(0));
    assert_eq!(run(&p, &["wait", "detached"]).0, "0\n");
    assert_eq!(run(&p, &["logs", "detached"]).0, "hi\n");
    let short = &id.trim()[..12];
    let pod = format!("podshim-{short}-1");
    let wrapped =
        kubectl(&p, &["get", "pod", &pod, "-o", "jsonpath={.metadata.annotations.podshim\\.io/start-handshake}"]);
    assert_eq!(wrapped, "");
    let command = kubectl(&p, &["get", "pod", &pod, "-o", "jsonpath={.spec.containers[0].args}"]);
    assert_eq!(command, r#"["sh","-c","echo hi"]"#);
    // An attached run the kubelet would restart is not wrapped either (a restart would wait again).
    let got = run(&p, &["run", "--name", "restarts", "--restart", "on-failure", "alpine", "sh", "-c", "echo once"]);
    assert_eq!(got, ("once\n".into(), String::new(), Some(0)));
    let restarts = run(&p, &["inspect", "-f", "{{.Id}}", "restarts"]).0;
    let pod = format!("podshim-{}-1", &restarts.trim()[..12]);
    let wrapped =
        kubectl(&p, &["get", "pod", &pod, "-o", "jsonpath={.metadata.annotations.podshim\\.io/start-handshake}"]);
    assert_eq!(wrapped, "");
    // The attached run's pod carries the handshake.
    let kept = run(&p, &["inspect", "-f", "{{.Id}}", "kept"]).0;
    let pod = format!("podshim-{}-1", &kept.trim()[..12]);
    let wrapped =
        kubectl(&p, &["get", "pod", &pod, "-o", "jsonpath={.metadata.annotations.podshim\\.io/start-handshake}"]);
    assert_eq!(wrapped, "true");
}

#[test]
fn without_evidence_of_a_shell_or_with_the_handshake_off_an_attached_run_reads_the_merged_log() {
    let p = podshim(&[]);
    common::pull(&p.socket, "nginx");
    // nginx's config and history show no shell; `env` runs the shell without the image saying so.
    let (out, err, code) =
        run(&p, &["run", "--rm", "--entrypoint", "env", "nginx", "sh", "-c", "echo out; echo err >&2"]);
    let mut lines: Vec<&str> = out.lines().collect();
    lines.sort();
    assert_eq!((lines, err.as_str(), code), (vec!["err", "out"], "", Some(0)));
    let never = podshim(&["--start-handshake", "never"]);
    let (out, err, code) = run(&never, &["run", "--rm", "alpine", "sh", "-c", "echo out; echo err >&2"]);
    let mut lines: Vec<&str> = out.lines().collect();
    lines.sort();
    assert_eq!((lines, err.as_str(), code), (vec!["err", "out"], "", Some(0)));
}
