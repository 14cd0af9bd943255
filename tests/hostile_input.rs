//! Hostile input for every route of podshim's route table ([`podshim::api::routes::table`]), against
//! `podshim --sim`: malformed JSON, a wrong type for each top-level field of a JSON body, a 10 MiB body, bad ids,
//! names and paths, unknown enum values and values of the wrong type for every query parameter.
//!
//! Every answer must come within [`BOUND`] and be a success, or a 4xx (or the route's own documented status, such
//! as 501 for what podshim does not implement) with Docker's `{"message": ...}` body; never another 5xx, and
//! podshim must answer `/_ping` after each route. A route added to the table without an entry in [`EXPECT`] fails
//! [`every_route_has_cases`].

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use common::Podshim;
use podshim::api::routes::{table, BodyKind, ParamKind, Route};

/// How long one answer (its status line and head; the whole body for an error) may take.
const BOUND: Duration = Duration::from_secs(20);

/// What a route may answer besides a success or a 4xx, and what its `{id}` names.
struct Expect {
    operation: &'static str,
    target: Target,
    /// Statuses of 500 and above that are this route's documented answer.
    server_statuses: &'static [u16],
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Target {
    None,
    Container,
    Exec,
    Image,
    Volume,
}

const fn expect(operation: &'static str, target: Target) -> Expect {
    Expect { operation, target, server_statuses: &[] }
}

/// One entry per route. `top`, `changes`, `export` and `stats` answer 501 (not implemented) after the 404 check.
const EXPECT: &[Expect] = &[
    expect("SystemPing", Target::None),
    expect("SystemPingHead", Target::None),
    expect("SystemVersion", Target::None),
    expect("SystemInfo", Target::None),
    expect("SystemEvents", Target::None),
    expect("ContainerCreate", Target::None),
    expect("ContainerList", Target::None),
    expect("ContainerPrune", Target::None),
    expect("ContainerInspect", Target::Container),
    expect("ContainerStart", Target::Container),
    expect("ContainerStop", Target::Container),
    expect("ContainerRestart", Target::Container),
    expect("ContainerKill", Target::Container),
    expect("ContainerDelete", Target::Container),
    expect("ContainerRename", Target::Container),
    expect("ContainerWait", Target::Container),
    expect("ContainerLogs", Target::Container),
    expect("ContainerAttach", Target::Container),
    expect("ContainerResize", Target::Container),
    expect("ContainerExec", Target::Container),
    expect("ExecStart", Target::Exec),
    expect("ExecInspect", Target::Exec),
    expect("ExecResize", Target::Exec),
    expect("ContainerArchiveInfo", Target::Container),
    expect("ContainerArchive", Target::Container),
    expect("PutContainerArchive", Target::Container),
    Expect { operation: "ContainerTop", target: Target::Container, server_statuses: &[501] },
    Expect { operation: "ContainerChanges", target: Target::Container, server_statuses: &[501] },
    Expect { operation: "ContainerExport", target: Target::Container, server_statuses: &[501] },
    Expect { operation: "ContainerStats", target: Target::Container, server_statuses: &[501] },
    // A login or pull reaches a registry: an unreachable one is a server-side failure, as in Docker.
    Expect { operation: "SystemAuth", target: Target::None, server_statuses: &[500] },
    Expect { operation: "ImageCreate", target: Target::None, server_statuses: &[500] },
    expect("ImageList", Target::None),
    expect("ImagePrune", Target::None),
    Expect { operation: "ImageCommit", target: Target::None, server_statuses: &[501] },
    Expect { operation: "ImageBuild", target: Target::None, server_statuses: &[501] },
    Expect { operation: "ImageLoad", target: Target::None, server_statuses: &[501] },
    Expect { operation: "ImageGetAll", target: Target::None, server_statuses: &[501] },
    Expect { operation: "ImageSearch", target: Target::None, server_statuses: &[501] },
    Expect { operation: "ImageGet", target: Target::Image, server_statuses: &[501] },
    Expect { operation: "ImagePush", target: Target::Image, server_statuses: &[501] },
    expect("ImageInspect", Target::Image),
    expect("ImageHistory", Target::Image),
    expect("ImageTag", Target::Image),
    expect("ImageDelete", Target::Image),
    expect("VolumeList", Target::None),
    expect("VolumeCreate", Target::None),
    expect("VolumePrune", Target::None),
    expect("VolumeInspect", Target::Volume),
    expect("VolumeDelete", Target::Volume),
    // Only swarm cluster volumes can be updated: Docker's 503 without a swarm.
    Expect { operation: "VolumeUpdate", target: Target::Volume, server_statuses: &[503] },
];

#[test]
fn every_route_has_cases() {
    let routes: BTreeSet<&str> = table().iter().map(|r| r.operation).collect();
    let covered: BTreeSet<&str> = EXPECT.iter().map(|e| e.operation).collect();
    let missing: Vec<_> = routes.difference(&covered).collect();
    let stale: Vec<_> = covered.difference(&routes).collect();
    assert!(missing.is_empty(), "routes without hostile-input cases: {missing:?}");
    assert!(stale.is_empty(), "cases for routes that no longer exist: {stale:?}");
}

/// One request: what to send and why.
struct Case {
    what: String,
    path: String,
    body: Vec<u8>,
}

/// An answer: the status, and the body for an error (a success's body may be an endless stream; it is not read).
struct Answer {
    status: u16,
    body: Vec<u8>,
}

/// Sends one request with `Connection: close`; the body is written from another thread, so a server that answers
/// before it read the body (and closes) cannot block the test.
fn exchange(socket: &Path, method: &str, path: &str, body: Vec<u8>) -> Result<Answer, String> {
    let mut stream = UnixStream::connect(socket).map_err(|e| format!("connect: {e}"))?;
    stream.set_read_timeout(Some(BOUND)).map_err(|e| e.to_string())?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: podshim\r\nConnection: close\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    let mut writer = stream.try_clone().map_err(|e| e.to_string())?;
    let sender = std::thread::spawn(move || {
        let _ = writer.write_all(head.as_bytes());
        let _ = writer.write_all(&body);
    });
    let started = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match stream.read(&mut buf) {
            Ok(0) => return Err(format!("closed before an answer: {:?}", String::from_utf8_lossy(&got))),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset && got.is_empty() => {
                return Err("reset before an answer".into())
            }
            Err(e) => return Err(format!("no answer within {BOUND:?}: {e}")),
        }
        if started.elapsed() > BOUND {
            return Err(format!("no answer within {BOUND:?}"));
        }
    };
    let head = String::from_utf8_lossy(&got[..head_end]).to_string();
    let status: u16 = head.split(' ').nth(1).and_then(|s| s.parse().ok()).ok_or(format!("bad head {head:?}"))?;
    let mut body = got[head_end..].to_vec();
    if status >= 300 && status != 304 && !head.starts_with("HEAD") {
        // An error is a complete JSON document: read it to the end.
        loop {
            match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => body.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
                Err(e) => return Err(format!("error body not complete within {BOUND:?}: {e}")),
            }
        }
    }
    // Closing both directions ends an endless answer (a stream) and a body the server did not read.
    let _ = stream.shutdown(std::net::Shutdown::Both);
    let _ = sender.join();
    Ok(Answer { status, body: dechunk(&head, body) })
}

/// The body of a chunked response, joined.
fn dechunk(head: &str, body: Vec<u8>) -> Vec<u8> {
    if !head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        return body;
    }
    let mut out = Vec::new();
    let mut rest = &body[..];
    while let Some(i) = rest.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&rest[..i]).trim(), 16).unwrap_or(0);
        if size == 0 || rest.len() < i + 2 + size {
            break;
        }
        out.extend_from_slice(&rest[i + 2..i + 2 + size]);
        rest = &rest[(i + 4 + size).min(rest.len())..];
    }
    out
}

/// The values a query parameter of `kind` is sent, none of them valid (or, for booleans, odd).
fn bad_values(kind: ParamKind) -> Vec<String> {
    let long = "a".repeat(5000);
    let mut values = vec!["%00".to_string(), "%ff%fe".to_string(), long.clone()];
    values.extend(match kind {
        ParamKind::Bool => vec!["maybe".to_string()],
        ParamKind::Int => vec!["abc".into(), "99999999999999999999999".into(), "-1".into(), "1.5".into()],
        ParamKind::Text => vec!["-1".into()],
        ParamKind::Timestamp => {
            vec!["yesterday".into(), "1e400".into(), "-99999999999999".into(), "1.1234567890".into()]
        }
        ParamKind::Filters => vec![
            "%7Bbad".into(),
            "%5B%5D".into(),
            "%7B%22x%22%3A1%7D".into(),
            "%7B%22bogus%22%3A%5B%22x%22%5D%7D".into(),
            "%7B%22name%22%3A%5B%22%5B%22%5D%7D".into(),
            "%7B%22status%22%3A%5B%22bogus%22%5D%7D".into(),
            "%7B%22label%22%3A%7B%22a%22%3A5%7D%7D".into(),
        ],
        ParamKind::Enum(_) => vec!["bogus".into()],
        ParamKind::Path => vec!["relative".into(), format!("/{long}"), "/tm%00p".into(), "/a/../../..".into()],
    });
    values
}

/// A valid object of a JSON body, to which one wrong field at a time is added.
fn base_object(route: &Route) -> serde_json::Value {
    match route.operation {
        "ContainerCreate" => serde_json::json!({"Image": "alpine", "Cmd": ["true"]}),
        "ContainerExec" => serde_json::json!({"Cmd": ["true"]}),
        _ => serde_json::json!({}),
    }
}

/// The bodies sent to a route: malformed JSON, 10 MiB, and (for a JSON body) each field with each value of a
/// type the route's own decoder refuses.
fn bodies(route: &Route) -> Vec<(String, Vec<u8>)> {
    let mut out = vec![
        ("malformed JSON".to_string(), b"{\"Image\": ".to_vec()),
        ("a JSON array".to_string(), b"[1, 2]".to_vec()),
        ("10 MiB".to_string(), vec![b'{'; 10 << 20]),
    ];
    match route.body {
        BodyKind::Json { fields, decode } => {
            let candidates = [
                serde_json::json!(true),
                serde_json::json!(12345),
                serde_json::json!(-1),
                serde_json::json!("text"),
                serde_json::json!([1]),
                serde_json::json!({"x": 1}),
            ];
            for field in fields() {
                for wrong in &candidates {
                    let mut object = base_object(route);
                    object[*field] = wrong.clone();
                    let bytes = serde_json::to_vec(&object).unwrap();
                    if decode(&bytes).is_err() {
                        out.push((format!("{field} = {wrong}"), bytes));
                    }
                }
            }
        }
        BodyKind::Tar => {
            out.push(("not a tar".into(), vec![1u8; 3000]));
            out.push(("a bad gzip".into(), vec![0x1f, 0x8b, 8, 0, 1, 2, 3, 4, 5]));
        }
        BodyKind::None => {}
    }
    out
}

/// The targets of `{id}` that exist: a running container (its id), and an exec in it.
struct Targets {
    container: String,
    exec: String,
}

fn ok_json(socket: &Path, method: &str, path: &str, body: &str) -> serde_json::Value {
    let answer = exchange(socket, method, path, body.as_bytes().to_vec()).expect("an answer");
    assert!(answer.status < 300, "{method} {path}: {} {}", answer.status, String::from_utf8_lossy(&answer.body));
    serde_json::from_slice(&answer.body).unwrap_or(serde_json::Value::Null)
}

/// A running container and an exec in it, made afresh when an earlier case removed or stopped them.
/// The volume the routes of `/volumes/{name}` are given (made again before each route).
const HOSTILE_VOLUME: &str = "hostilevol";

fn targets(socket: &Path, podshim: &Podshim) -> Targets {
    let out = podshim.docker(&["run", "-d", "-i", "--label", "hostile=1", "alpine", "sleep", "600"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let container = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let exec =
        ok_json(socket, "POST", &format!("/containers/{container}/exec"), r#"{"Cmd":["true"],"AttachStdout":true}"#);
    let exec = exec["Id"].as_str().expect("an exec id").to_string();
    ok_json(socket, "POST", "/volumes/create", &format!(r#"{{"Name":"{HOSTILE_VOLUME}"}}"#));
    Targets { container, exec }
}

/// The path of a route with its parameters.
fn path_of(route: &Route, id: &str) -> String {
    route.pattern.replace("{id}", id).replace("{name*}", id).replace("{name}", id)
}

fn judge(route: &Route, expect: &Expect, case: &Case, answer: Result<Answer, String>, failures: &mut Vec<String>) {
    let method = route.method.as_str();
    let short = |p: &str| p.chars().take(120).collect::<String>();
    let label = format!("{} ({method} {}): {}", route.operation, short(&case.path), case.what);
    let answer = match answer {
        Ok(answer) => answer,
        Err(why) => return failures.push(format!("{label}: {why}")),
    };
    if answer.status >= 500 && !expect.server_statuses.contains(&answer.status) {
        return failures.push(format!("{label}: {} {}", answer.status, String::from_utf8_lossy(&answer.body)));
    }
    if answer.status >= 400 && method != "HEAD" {
        let json: Option<serde_json::Value> = serde_json::from_slice(&answer.body).ok();
        let message = json.as_ref().and_then(|j| j["message"].as_str()).unwrap_or_default();
        if message.is_empty() {
            failures.push(format!("{label}: {} without a Docker error body: {:?}", answer.status, answer.body));
        }
    }
}

#[test]
fn every_route_answers_hostile_input_with_a_client_error_and_podshim_keeps_serving() {
    let podshim = Podshim::start();
    let socket = podshim.socket.clone();
    let mut failures = Vec::new();
    let mut sent = 0;
    for route in table() {
        let expect = EXPECT.iter().find(|e| e.operation == route.operation).expect("every route has an entry");
        let t = targets(&socket, &podshim);
        let valid = match expect.target {
            Target::None => String::new(),
            Target::Container => t.container.clone(),
            Target::Exec => t.exec.clone(),
            Target::Image => "alpine".to_string(),
            Target::Volume => HOSTILE_VOLUME.to_string(),
        };
        let mut cases = Vec::new();
        if expect.target != Target::None {
            let long = "a".repeat(5000);
            for bad in ["no-such-thing", long.as_str(), "..%2F..%2Fetc", "%00", "%ff%fe", "BAD%20IMAGE!!", "%2e%2e"] {
                cases.push(Case { what: format!("id {:.20}", bad), path: path_of(route, bad), body: Vec::new() });
            }
        }
        let path = path_of(route, &valid);
        for (name, kind) in route.query {
            for value in bad_values(*kind) {
                cases.push(Case {
                    what: format!("{name}={:.30}", value),
                    path: format!("{path}?{name}={value}"),
                    body: Vec::new(),
                });
            }
        }
        for (what, body) in bodies(route) {
            cases.push(Case { what, path: path.clone(), body });
        }
        let started = Instant::now();
        for case in &cases {
            let asked = Instant::now();
            let answer = exchange(&socket, route.method.as_str(), &case.path, case.body.clone());
            if asked.elapsed() > Duration::from_secs(2) {
                eprintln!("slow: {} {:.60}: {:?}", route.operation, case.what, asked.elapsed());
            }
            judge(route, expect, case, answer, &mut failures);
            sent += 1;
        }
        eprintln!("{}: {} cases in {:?}", route.operation, cases.len(), started.elapsed());
        let ping = exchange(&socket, "GET", "/_ping", Vec::new());
        assert!(
            ping.as_ref().is_ok_and(|a| a.status == 200),
            "podshim stopped answering after {}: {:?}",
            route.operation,
            ping.as_ref().map(|a| a.status)
        );
        let _ = podshim.docker(&["rm", "-f", &t.container]);
    }
    eprintln!("{sent} hostile requests sent to {} routes", table().len());
    assert!(failures.is_empty(), "{} of {sent} answers were wrong:\n{}", failures.len(), failures.join("\n"));
}
