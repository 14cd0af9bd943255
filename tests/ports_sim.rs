//! Published ports with the real docker CLI against the simulated cluster: a client on this machine reaches a
//! server in the container through the port podshim opened, straight to the pod IP or through
//! `pods/portforward`; `-P` and `docker port`; two containers publishing the same container port; a SIGKILLed
//! podshim that opens the same ports again; a cut connection that leaves the mapping alone; ports closed by
//! `docker stop`; Docker's error for a port that is taken; UDP.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use common::{docker_at, start_cluster, start_podshim_with, text, Podshim};

/// A command that serves HTTP on `port`, answering every GET with `reply`.
fn http_server(port: u16, reply: &str) -> Vec<String> {
    let script = format!(
        "import http.server as h\nclass H(h.BaseHTTPRequestHandler):\n    def do_GET(s):\n        \
         s.send_response(200); s.send_header('Content-Length', '{}'); s.end_headers(); s.wfile.write(b'{reply}')\n\
         h.ThreadingHTTPServer(('', {port}), H).serve_forever()\n",
        reply.len()
    );
    vec!["python3".into(), "-c".into(), script]
}

/// The body of `GET /` at `127.0.0.1:port`, or the error.
fn get(port: u16) -> Result<String, String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).map_err(|e| e.to_string())?;
    stream.write_all(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n").map_err(|e| e.to_string())?;
    let mut out = String::new();
    stream.read_to_string(&mut out).map_err(|e| e.to_string())?;
    out.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).ok_or(format!("no HTTP answer: {out:?}"))
}

/// [`get`], retried for a while (the server in the container takes a moment to listen).
fn get_eventually(port: u16) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match get(port) {
            Ok(body) => return body,
            Err(err) if Instant::now() > deadline => panic!("nothing answered on port {port}: {err}"),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// The first host port `docker port NAME PORT` shows.
fn host_port(docker: &dyn Fn(&[&str]) -> std::process::Output, name: &str, port: &str) -> u16 {
    let out = docker(&["port", name, port]);
    let stdout = text(&out.stdout);
    let first = stdout.lines().next().unwrap_or_else(|| panic!("docker port: {}", text(&out.stderr)));
    first.rsplit(':').next().and_then(|p| p.parse().ok()).unwrap_or_else(|| panic!("docker port said {first:?}"))
}

fn run_ok(docker: &dyn Fn(&[&str]) -> std::process::Output, args: &[&str]) {
    let out = docker(args);
    assert!(out.status.success(), "docker {args:?}: {}", text(&out.stderr));
}

fn run_server(docker: &dyn Fn(&[&str]) -> std::process::Output, name: &str, publish: &[&str], reply: &str) {
    let server = http_server(8000, reply);
    let mut args = vec!["run", "-d", "--name", name];
    args.extend_from_slice(publish);
    args.push("busybox");
    args.extend(server.iter().map(String::as_str));
    run_ok(docker, &args);
}

fn free_port() -> u16 {
    std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap().local_addr().unwrap().port()
}

fn is_root() -> bool {
    nix::unistd::Uid::effective().is_root()
}

#[test]
fn a_published_port_reaches_the_server_until_the_container_stops() {
    let podshim = Podshim::start();
    let docker = |args: &[&str]| podshim.docker(args);
    let port = free_port();
    let publish = format!("{port}:8000");
    run_server(&docker, "web", &["-p", &publish], "hello from web");
    assert_eq!(get_eventually(port), "hello from web");
    assert_eq!(get(port).as_deref(), Ok("hello from web"), "a second connection works as well");
    // A connection cut midway (the request half sent) ends that connection only.
    let mut cut = TcpStream::connect(("127.0.0.1", port)).unwrap();
    cut.write_all(b"GET / HT").unwrap();
    drop(cut);
    assert_eq!(get(port).as_deref(), Ok("hello from web"), "the mapping outlives a cut connection");
    let out = docker(&["port", "web"]);
    assert_eq!(text(&out.stdout), format!("8000/tcp -> 127.0.0.1:{port}\n8000/tcp -> [::1]:{port}\n"));
    let out = docker(&["ps", "--format", "{{.Ports}}"]);
    assert_eq!(text(&out.stdout), format!("127.0.0.1:{port}->8000/tcp, [::1]:{port}->8000/tcp\n"));
    // The same port again: Docker's error, and the container is not started.
    let out = docker(&["run", "-d", "--name", "again", "-p", &publish, "busybox", "sleep", "60"]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("driver failed programming external connectivity on endpoint again (")
            && stderr.contains(&format!("Bind for 127.0.0.1:{port} failed: port is already allocated")),
        "{stderr}"
    );
    let out = docker(&["inspect", "-f", "{{.State.Status}}", "again"]);
    assert_eq!(text(&out.stdout), "created\n");
    run_ok(&docker, &["stop", "-t", "1", "web"]);
    assert!(get(port).is_err(), "the port is closed once the container stopped");
    let out = docker(&["inspect", "-f", "{{json .NetworkSettings.Ports}} {{json .HostConfig.PortBindings}}", "web"]);
    assert_eq!(text(&out.stdout), format!("{{}} {{\"8000/tcp\":[{{\"HostIp\":\"\",\"HostPort\":\"{port}\"}}]}}\n"));
    // Started again: the same port, open again.
    run_ok(&docker, &["start", "web"]);
    assert_eq!(get_eventually(port), "hello from web");
    run_ok(&docker, &["rm", "-f", "web", "again"]);
    assert!(get(port).is_err(), "the port is closed once the container is removed");
}

#[test]
fn a_port_something_else_holds_fails_the_start_with_dockers_words() {
    let podshim = Podshim::start();
    let held = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = held.local_addr().unwrap().port();
    let out = podshim.docker(&[
        "run",
        "-d",
        "--name",
        "busy",
        "-p",
        &format!("127.0.0.1:{port}:80"),
        "busybox",
        "sleep",
        "60",
    ]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "Error starting userland proxy: listen tcp4 127.0.0.1:{port}: bind: address already in use"
        )),
        "{stderr}"
    );
}

#[test]
fn publish_all_and_two_containers_on_the_same_container_port() {
    let podshim = Podshim::start();
    let docker = |args: &[&str]| podshim.docker(args);
    run_server(&docker, "one", &["-P", "--expose", "8000"], "one");
    let one = host_port(&docker, "one", "8000");
    assert_eq!(get_eventually(one), "one");
    let out = docker(&["inspect", "-f", "{{json .NetworkSettings.Ports}}", "one"]);
    assert_eq!(
        text(&out.stdout),
        format!("{{\"8000/tcp\":[{{\"HostIp\":\"127.0.0.1\",\"HostPort\":\"{one}\"}},{{\"HostIp\":\"::1\",\"HostPort\":\"{one}\"}}]}}\n")
    );
    if is_root() {
        // Each pod has a network of its own (as root): both listen on 8000.
        run_server(&docker, "two", &["-p", "8000"], "two");
        let two = host_port(&docker, "two", "8000/tcp");
        assert_ne!(one, two);
        assert_eq!(get_eventually(two), "two");
        assert_eq!(get(one).as_deref(), Ok("one"));
        let out = docker(&["inspect", "-f", "{{.NetworkSettings.IPAddress}}", "one", "two"]);
        let ips: Vec<String> = text(&out.stdout).lines().map(str::to_string).collect();
        assert!(ips.len() == 2 && ips[0] != ips[1] && ips.iter().all(|ip| ip.starts_with("10.213.")), "{ips:?}");
    }
    let out = docker(&["port", "one", "9999"]);
    assert!(text(&out.stderr).contains("No public port '9999' published for one"), "{}", text(&out.stderr));
    run_ok(&docker, &["rm", "-f", "one"]);
    if is_root() {
        run_ok(&docker, &["rm", "-f", "two"]);
    }
}

#[test]
fn publish_all_includes_the_ports_the_image_exposes() {
    let podshim = Podshim::start();
    let docker = |args: &[&str]| podshim.docker(args);
    // The image's config exposes 80/tcp (nginx's EXPOSE); the client's --expose adds 8000/tcp.
    let command = if is_root() { http_server(80, "from the image port") } else { vec!["sleep".into(), "60".into()] };
    let mut args = vec!["run", "-d", "--name", "web", "-P", "--expose", "8000", "--entrypoint", command[0].as_str()];
    args.push("nginx");
    args.extend(command[1..].iter().map(String::as_str));
    run_ok(&docker, &args);
    let out = docker(&["port", "web"]);
    let listed = text(&out.stdout);
    assert!(listed.contains("80/tcp -> 127.0.0.1:") && listed.contains("8000/tcp -> 127.0.0.1:"), "{listed}");
    let web = host_port(&docker, "web", "80/tcp");
    assert_ne!(web, host_port(&docker, "web", "8000/tcp"));
    if is_root() {
        // A network of its own: the server listens on port 80 of its pod.
        assert_eq!(get_eventually(web), "from the image port");
    }
    run_ok(&docker, &["rm", "-f", "web"]);
}

#[test]
fn port_forward_mode_reaches_the_container_through_the_api_server() {
    let podshim = Podshim::start_with(&["--port-forward-mode", "portforward"]);
    let docker = |args: &[&str]| podshim.docker(args);
    run_server(&docker, "pf", &["-p", "8000"], "through pods/portforward");
    let port = host_port(&docker, "pf", "8000");
    assert_eq!(get_eventually(port), "through pods/portforward");
    for _ in 0..3 {
        assert_eq!(get(port).as_deref(), Ok("through pods/portforward"), "a fresh stream per connection");
    }
    let out = docker(&["run", "-d", "--name", "udp", "-p", "53/udp", "busybox", "sleep", "60"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("pods/portforward, which carries TCP only"), "{}", text(&out.stderr));
    run_ok(&docker, &["rm", "-f", "pf"]);
}

#[test]
fn udp_is_relayed_to_the_pod() {
    let podshim = Podshim::start();
    let docker = |args: &[&str]| podshim.docker(args);
    let echo = "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ns.bind(('0.0.0.0', 5300))\n\
                while True:\n    d, a = s.recvfrom(100)\n    s.sendto(b'echo:' + d, a)\n";
    run_ok(&docker, &["run", "-d", "--name", "echo", "-p", "127.0.0.1::5300/udp", "busybox", "python3", "-c", echo]);
    let port = host_port(&docker, "echo", "5300/udp");
    let socket = UdpSocket::bind(("127.0.0.1", 0)).unwrap();
    socket.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut buf = [0u8; 100];
    let answer = loop {
        socket.send_to(b"ping", ("127.0.0.1", port)).unwrap();
        if let Ok(n) = socket.recv(&mut buf) {
            break String::from_utf8_lossy(&buf[..n]).into_owned();
        }
        assert!(Instant::now() < deadline, "no UDP answer through port {port}");
    };
    assert_eq!(answer, "echo:ping");
    run_ok(&docker, &["rm", "-f", "echo"]);
}

#[test]
fn a_sigkilled_podshim_opens_the_same_ports_again() {
    let dir = tempfile::Builder::new().prefix("podshim-ports").tempdir().expect("tempdir");
    let sim = dir.path().join("sim");
    let kubeconfig = sim.join("kubeconfig");
    let config = dir.path().join("docker-config");
    let _cluster = start_cluster(&sim);
    let socket = |n: u32| dir.path().join(format!("d{n}.sock"));
    let (config, socket) = (&config, &socket);
    let docker_on = |n: u32| move |args: &[&str]| docker_at(&socket(n), config, args);
    let first = start_podshim_with(&kubeconfig, &socket(1), &["--replica-name", "r1"]);
    run_server(&docker_on(1), "kept", &["-p", "8000"], "still here");
    let port = host_port(&docker_on(1), "kept", "8000");
    assert_eq!(get_eventually(port), "still here");
    let before = text(&docker_on(1)(&["port", "kept"]).stdout);
    drop(first); // SIGKILL: its listeners go with it.
    assert!(get(port).is_err());
    // Another replica name does not take the ports over.
    let other = start_podshim_with(&kubeconfig, &socket(2), &["--replica-name", "r2"]);
    assert_eq!(text(&docker_on(2)(&["port", "kept"]).stdout), before, "docker port reads the pod");
    std::thread::sleep(Duration::from_millis(500));
    assert!(get(port).is_err(), "only the replica that started the container listens");
    drop(other);
    let _again = start_podshim_with(&kubeconfig, &socket(3), &["--replica-name", "r1"]);
    assert_eq!(text(&docker_on(3)(&["port", "kept"]).stdout), before);
    assert_eq!(get_eventually(port), "still here");
    run_ok(&docker_on(3), &["rm", "-f", "kept"]);
    wait_closed(port);
}

fn wait_closed(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while get(port).is_ok() {
        assert!(Instant::now() < deadline, "port {port} still open");
        std::thread::sleep(Duration::from_millis(50));
    }
}
