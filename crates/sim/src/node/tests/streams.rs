//! exec and attach against running containers.

use std::time::Duration;

use serde_json::json;

use super::*;

#[tokio::test]
async fn exec_runs_in_the_container_environment() {
    let f = fixture();
    let spec = json!({"containers": [{"name": "c", "image": "busybox", "command": ["sleep", "infinity"],
        "env": [{"name": "V", "value": "42"}]}]});
    let (runtime, pod) = f.start("p", spec);
    wait_for(&runtime, phase_is("Running")).await;
    let options = StreamOptions { container: "c".into(), stdin: false, stdout: true, stderr: true, tty: false };
    let command = vec!["sh".into(), "-c".into(), "echo $HOSTNAME $V; echo e >&2; exit 3".into()];
    let mut streams = f.node.exec(&pod, options, command).await.unwrap();
    let mut out = String::new();
    while let Some(output) = streams.output.recv().await {
        match output {
            Output::Stdout(b) => out.push_str(&format!("1:{}", String::from_utf8_lossy(&b))),
            Output::Stderr(b) => out.push_str(&format!("2:{}", String::from_utf8_lossy(&b))),
        }
    }
    assert!(out.contains("1:p 42\n") && out.contains("2:e\n"), "{out}");
    assert_eq!(streams.exit.await.unwrap(), ExitOutcome::Exited(3));
    runtime.stop(Duration::ZERO).await;
}

#[tokio::test]
async fn attach_with_stdin_once_closes_stdin_after_the_session() {
    let f = fixture();
    let spec = json!({"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox", "command": ["cat"],
        "stdin": true, "stdinOnce": true}]});
    let (runtime, pod) = f.start("p", spec);
    wait_for(&runtime, phase_is("Running")).await;
    let options = StreamOptions { container: "c".into(), stdin: true, stdout: true, stderr: true, tty: false };
    let mut streams = f.node.attach(&pod, options).await.unwrap();
    let stdin = streams.stdin.take().unwrap();
    stdin.send(StdinEvent::Data(bytes::Bytes::from_static(b"hello\n"))).await.unwrap();
    stdin.send(StdinEvent::Close).await.unwrap();
    let mut out = Vec::new();
    while let Some(Output::Stdout(b)) = streams.output.recv().await {
        out.extend_from_slice(&b);
    }
    assert_eq!(out, b"hello\n");
    assert_eq!(streams.exit.await.unwrap(), ExitOutcome::Exited(0));
    wait_for(&runtime, phase_is("Succeeded")).await;
}

#[tokio::test]
async fn tty_container_writes_merged_output_to_stdout() {
    let f = fixture();
    let spec = json!({"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox", "tty": true,
        "command": sh("tty >/dev/null && echo tty $TERM; echo err >&2")}]});
    let (runtime, pod) = f.start("p", spec);
    wait_for(&runtime, phase_is("Succeeded")).await;
    let stdout = LogQuery { stream: LogStreamSelector::Stdout, ..query("c") };
    assert_eq!(f.logs(&pod, stdout).await, "tty xterm\r\nerr\r\n");
}

#[tokio::test]
async fn exec_joins_the_container_mount_namespace() {
    if !process::can_mount() {
        return;
    }
    let f = fixture();
    let target = format!("/tmp/podshim-sim-test-{}", uuid::Uuid::new_v4().simple());
    let spec = json!({
        "volumes": [{"name": "m", "emptyDir": {"medium": "Memory"}}],
        "containers": [{"name": "c", "image": "busybox", "command": sh(&format!("echo inside > {target}/f; sleep infinity")),
            "volumeMounts": [{"name": "m", "mountPath": target}]}]});
    let (runtime, pod) = f.start("p", spec);
    wait_for(&runtime, phase_is("Running")).await;
    let options = StreamOptions { container: "c".into(), stdin: false, stdout: true, stderr: true, tty: false };
    let wait = format!("for i in $(seq 100); do [ -s {target}/f ] && break; sleep 0.05; done");
    let command = vec!["sh".into(), "-c".into(), format!("{wait}; cat {target}/f; stat -f -c %T {target}")];
    let mut streams = f.node.exec(&pod, options, command).await.unwrap();
    let mut out = Vec::new();
    while let Some(output) = streams.output.recv().await {
        let (Output::Stdout(b) | Output::Stderr(b)) = output;
        out.extend_from_slice(&b);
    }
    assert_eq!(String::from_utf8_lossy(&out), "inside\ntmpfs\n");
    assert_eq!(streams.exit.await.unwrap(), ExitOutcome::Exited(0));
    assert!(!std::path::Path::new(&target).join("f").exists(), "the volume leaked onto the host");
    runtime.stop(Duration::ZERO).await;
    runtime.forget();
    assert!(!std::path::Path::new(&target).exists(), "mount point left behind");
}

#[tokio::test]
async fn exec_into_a_completed_pod_is_refused() {
    let f = fixture();
    let spec =
        json!({"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox", "command": ["true"]}]});
    let (runtime, pod) = f.start("p", spec);
    wait_for(&runtime, phase_is("Succeeded")).await;
    let options = StreamOptions { container: "c".into(), stdin: false, stdout: true, stderr: true, tty: false };
    let Err(error) = f.node.exec(&pod, options, vec!["true".into()]).await else { panic!() };
    assert_eq!(error.message, "cannot exec into a container in a completed pod; current phase is Succeeded");
}

#[tokio::test]
async fn a_missing_executable_is_a_start_error() {
    let f = fixture();
    let spec = json!({"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox", "command": ["no-such-binary-x"]}]});
    let (runtime, _) = f.start("p", spec);
    let status = wait_for(&runtime, phase_is("Failed")).await;
    let terminated = &status["containerStatuses"][0]["state"]["terminated"];
    assert_eq!(terminated["reason"], "StartError");
    assert_eq!(terminated["exitCode"], 128);
    let message = terminated["message"].as_str().unwrap();
    assert!(message.contains("exec: \"no-such-binary-x\": executable file not found in $PATH"), "{message}");
}

#[tokio::test]
async fn exec_with_a_tty_resizes_its_terminal() {
    let f = fixture();
    let spec = json!({"containers": [{"name": "c", "image": "busybox", "command": ["sleep", "infinity"]}]});
    let (runtime, pod) = f.start("p", spec);
    wait_for(&runtime, phase_is("Running")).await;
    let options = StreamOptions { container: "c".into(), stdin: true, stdout: true, stderr: false, tty: true };
    let mut streams = f.node.exec(&pod, options, vec!["sh".into()]).await.unwrap();
    streams.resize.as_ref().unwrap().send(TerminalSize { width: 100, height: 30 }).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stdin = streams.stdin.take().unwrap();
    stdin.send(StdinEvent::Data(bytes::Bytes::from_static(b"stty size; exit 5\n"))).await.unwrap();
    let mut out = Vec::new();
    while let Some(output) = streams.output.recv().await {
        let (Output::Stdout(b) | Output::Stderr(b)) = output;
        out.extend_from_slice(&b);
    }
    assert!(String::from_utf8_lossy(&out).contains("30 100\r\n"), "{}", String::from_utf8_lossy(&out));
    assert_eq!(streams.exit.await.unwrap(), ExitOutcome::Exited(5));
    runtime.stop(Duration::ZERO).await;
}
