//! `docker exec` against podshim on the simulated cluster: exit codes, `Env`/`WorkingDir`/`User`, stdin, the two
//! output streams kept apart, the exec inspect after the stream ends, and the error answers (409, 404, 403).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use bollard::container::LogOutput;
use bollard::exec::{StartExecOptions, StartExecResults};
use bollard::models::{ContainerCreateBody, ExecConfig};
use bollard::query_parameters::{CreateContainerOptionsBuilder, StartContainerOptions};
use bollard::{Docker, API_DEFAULT_VERSION};
use common::Podshim;
use futures::StreamExt;
use tokio::io::AsyncWriteExt;

struct Fixture {
    podshim: Podshim,
    docker: Docker,
}

/// podshim and a container `name` running `sleep 600` (or only created, when `start` is false).
async fn fixture(name: &str, start: bool) -> Fixture {
    let podshim = Podshim::start();
    let docker = Docker::connect_with_unix(&podshim.socket.display().to_string(), 120, API_DEFAULT_VERSION).unwrap();
    let body = ContainerCreateBody {
        image: Some("alpine".into()),
        cmd: Some(vec!["sleep".into(), "600".into()]),
        ..Default::default()
    };
    let options = CreateContainerOptionsBuilder::default().name(name).build();
    docker.create_container(Some(options), body).await.unwrap();
    if start {
        docker.start_container(name, None::<StartContainerOptions>).await.unwrap();
    }
    Fixture { podshim, docker }
}

fn cmd(args: &[&str]) -> Option<Vec<String>> {
    Some(args.iter().map(|s| s.to_string()).collect())
}

/// Runs an attached exec, writing `stdin` (then closing it); returns (stdout, stderr) and the inspect that
/// follows the end of the stream.
async fn run(docker: &Docker, container: &str, config: ExecConfig, stdin: &[u8]) -> (Vec<u8>, Vec<u8>, i64, bool) {
    let id = docker.create_exec(container, config).await.unwrap().id;
    let StartExecResults::Attached { mut output, mut input } = docker.start_exec(&id, None).await.unwrap() else {
        panic!("not attached")
    };
    input.write_all(stdin).await.unwrap();
    input.shutdown().await.unwrap();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    while let Some(item) = output.next().await {
        match item.unwrap() {
            LogOutput::StdOut { message } => out.extend_from_slice(&message),
            LogOutput::StdErr { message } => err.extend_from_slice(&message),
            other => panic!("unexpected output {other:?}"),
        }
    }
    let inspect = docker.inspect_exec(&id).await.unwrap();
    (out, err, inspect.exit_code.unwrap(), inspect.running.unwrap())
}

fn attached(args: &[&str]) -> ExecConfig {
    ExecConfig { cmd: cmd(args), attach_stdout: Some(true), attach_stderr: Some(true), ..Default::default() }
}

#[tokio::test]
async fn exit_code_and_separate_streams_are_final_when_the_stream_ends() {
    let f = fixture("ex-code", true).await;
    let (out, err, code, running) =
        run(&f.docker, "ex-code", attached(&["sh", "-c", "echo o; echo e >&2; exit 5"]), b"").await;
    assert_eq!((out.as_slice(), err.as_slice(), code, running), (&b"o\n"[..], &b"e\n"[..], 5, false));
}

#[tokio::test]
async fn env_workdir_and_user_are_honoured() {
    let f = fixture("ex-env", true).await;
    let config = ExecConfig {
        env: Some(vec!["K=V with 'quotes' and $dollar".into()]),
        working_dir: Some("/tmp".into()),
        user: Some("1000".into()),
        ..attached(&["sh", "-c", "echo \"$K\" $(pwd) $(id -u)"])
    };
    let (out, err, code, _) = run(&f.docker, "ex-env", config, b"").await;
    assert_eq!(String::from_utf8_lossy(&err), "");
    assert_eq!((String::from_utf8_lossy(&out).as_ref(), code), ("V with 'quotes' and $dollar /tmp 1000\n", 0));
    // The docker CLI, as in the issue.
    let cli = f.podshim.docker(&[
        "exec",
        "-e",
        "K=V",
        "-w",
        "/tmp",
        "-u",
        "1000",
        "ex-env",
        "sh",
        "-c",
        "echo $K $(pwd) $(id -u)",
    ]);
    assert_eq!(String::from_utf8_lossy(&cli.stdout), "V /tmp 1000\n");
    let cli = f.podshim.docker(&["exec", "ex-env", "sh", "-c", "exit 5"]);
    assert_eq!(cli.status.code(), Some(5));
}

#[tokio::test]
async fn stdin_reaches_the_command_and_its_end_closes_it() {
    let f = fixture("ex-stdin", true).await;
    let config = ExecConfig { attach_stdin: Some(true), ..attached(&["cat"]) };
    let (out, _, code, _) = run(&f.docker, "ex-stdin", config, b"hi\nthere\n").await;
    assert_eq!((out.as_slice(), code), (&b"hi\nthere\n"[..], 0));
}

#[tokio::test]
async fn a_missing_directory_fails_with_126_and_a_message() {
    let f = fixture("ex-dir", true).await;
    let config = ExecConfig { working_dir: Some("/no/such".into()), ..attached(&["pwd"]) };
    let (_, err, code, _) = run(&f.docker, "ex-dir", config, b"").await;
    assert_eq!(code, 126);
    assert!(String::from_utf8_lossy(&err).contains("/no/such"));
}

#[tokio::test]
async fn detached_exec_answers_at_once_and_finishes_in_the_background() {
    let f = fixture("ex-detach", true).await;
    let id = f.docker.create_exec("ex-detach", attached(&["sh", "-c", "exit 3"])).await.unwrap().id;
    let options = StartExecOptions { detach: true, ..Default::default() };
    assert!(matches!(f.docker.start_exec(&id, Some(options)).await.unwrap(), StartExecResults::Detached));
    let mut inspect = f.docker.inspect_exec(&id).await.unwrap();
    for _ in 0..200 {
        if inspect.exit_code.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        inspect = f.docker.inspect_exec(&id).await.unwrap();
    }
    assert_eq!((inspect.exit_code, inspect.running), (Some(3), Some(false)));
    // A second start is refused.
    let again = f.docker.start_exec(&id, None).await.expect_err("second start refused");
    assert!(again.to_string().contains("has already run"), "{again}");
}

#[tokio::test]
async fn errors_use_dockers_statuses_and_words() {
    let f = fixture("ex-stopped", false).await;
    let err = f.docker.create_exec("ex-stopped", attached(&["true"])).await.unwrap_err();
    let id = f.docker.inspect_container("ex-stopped", None).await.unwrap().id.unwrap();
    assert_status(err, 409, &format!("Container {id} is not running"));
    let err = f.docker.create_exec("nope", attached(&["true"])).await.unwrap_err();
    assert_status(err, 404, "No such container: nope");
    let err = f.docker.inspect_exec("nope").await.unwrap_err();
    assert_status(err, 404, "No such exec instance: nope");
    f.docker.start_container("ex-stopped", None::<StartContainerOptions>).await.unwrap();
    let err = f.docker.create_exec("ex-stopped", attached(&[])).await.unwrap_err();
    assert_status(err, 400, "No exec command specified");
    let privileged = ExecConfig { privileged: Some(true), ..attached(&["true"]) };
    let err = f.docker.create_exec("ex-stopped", privileged).await.unwrap_err();
    assert!(matches!(err, bollard::errors::Error::DockerResponseServerError { status_code: 403, .. }), "{err}");
    // moby answers a malformed DetachKeys with a plain error (500), in these words.
    let bad_keys = ExecConfig { detach_keys: Some("ctrl-,x".into()), ..attached(&["true"]) };
    let err = f.docker.create_exec("ex-stopped", bad_keys).await.unwrap_err();
    assert_status(err, 500, "Invalid escape keys (ctrl-,x) provided");
    // Created while running, started after the container stopped.
    let exec = f.docker.create_exec("ex-stopped", attached(&["true"])).await.unwrap().id;
    f.docker.kill_container("ex-stopped", None::<bollard::query_parameters::KillContainerOptions>).await.unwrap();
    for _ in 0..200 {
        let state = f.docker.inspect_container("ex-stopped", None).await.unwrap().state.unwrap();
        if state.running != Some(true) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let err = f.docker.start_exec(&exec, None).await.expect_err("start refused");
    assert_status(err, 409, &format!("Container {id} is not running"));
}

fn assert_status(err: bollard::errors::Error, status: u16, message: &str) {
    match err {
        bollard::errors::Error::DockerResponseServerError { status_code, message: got } => {
            assert_eq!((status_code, got.as_str()), (status, message))
        }
        other => panic!("unexpected error {other:?}"),
    }
}
