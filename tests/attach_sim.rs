//! Attach with stdin and TTY against `podshim --sim`, over raw HTTP on the unix socket as the docker CLI does
//! it: create, attach (101, then raw stdin up and output down), start.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use common::{body, Podshim};

/// Bounds every read so a hang fails instead of blocking CI (not a timing assertion).
const BOUND: Duration = Duration::from_secs(30);

/// One request with a JSON body (`Connection: close`); the whole response as text.
fn request(p: &Podshim, method: &str, path: &str, json: &str) -> String {
    let mut s = UnixStream::connect(&p.socket).unwrap();
    s.set_read_timeout(Some(BOUND)).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: podshim\r\nConnection: close\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{json}",
        json.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// Creates a container from a create body; its id.
fn create(p: &Podshim, json: &str) -> String {
    let resp = request(p, "POST", "/v1.50/containers/create", json);
    assert!(resp.starts_with("HTTP/1.1 201"), "{resp}");
    let v: serde_json::Value = serde_json::from_str(body(&resp)).unwrap();
    v["Id"].as_str().unwrap().to_string()
}

fn start(p: &Podshim, id: &str) {
    let resp = request(p, "POST", &format!("/v1.50/containers/{id}/start"), "");
    assert!(resp.starts_with("HTTP/1.1 204"), "{resp}");
}

fn inspect(p: &Podshim, id: &str) -> serde_json::Value {
    let resp = request(p, "GET", &format!("/v1.50/containers/{id}/json"), "");
    serde_json::from_str(body(&resp)).unwrap()
}

/// Opens `POST /containers/{id}/attach?{query}` with an upgrade; returns the connection after the 101 head
/// and whatever output came with it.
fn attach(p: &Podshim, id: &str, query: &str) -> (UnixStream, Vec<u8>) {
    let mut s = UnixStream::connect(&p.socket).unwrap();
    s.set_read_timeout(Some(BOUND)).unwrap();
    write!(
        s,
        "POST /v1.50/containers/{id}/attach?{query} HTTP/1.1\r\nHost: podshim\r\nContent-Length: 0\r\n\
         Connection: Upgrade\r\nContent-Type: text/plain\r\nUpgrade: tcp\r\n\r\n"
    )
    .unwrap();
    let mut got = Vec::new();
    let end = loop {
        if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let mut buf = [0u8; 1024];
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "closed before the 101: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&got[..end]).to_string();
    assert!(head.starts_with("HTTP/1.1 101 UPGRADED\r\n"), "{head}");
    (s, got[end..].to_vec())
}

/// Reads until `needle` has arrived (or the connection ends); everything read.
fn read_until(s: &mut UnixStream, mut got: Vec<u8>, needle: &[u8]) -> Vec<u8> {
    while !got.windows(needle.len()).any(|w| w == needle) {
        let mut buf = [0u8; 1024];
        match s.read(&mut buf).unwrap() {
            0 => break,
            n => got.extend_from_slice(&buf[..n]),
        }
    }
    got
}

#[test]
fn attach_with_stdin_and_tty() {
    let p = Podshim::start();

    // docker run -i: stdin written before start is delivered; its end (StdinOnce) ends `cat`.
    let id = create(
        &p,
        r#"{"Image":"alpine","Cmd":["cat"],"AttachStdin":true,"AttachStdout":true,"AttachStderr":true,
            "OpenStdin":true,"StdinOnce":true}"#,
    );
    let (mut s, mut out) = attach(&p, &id, "stderr=1&stdin=1&stdout=1&stream=1");
    s.write_all(b"line1\nline2\n").unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    start(&p, &id);
    s.read_to_end(&mut out).unwrap();
    // One frame per line, as Docker's log driver keeps one message per line.
    assert_eq!(out, b"\x01\0\0\0\0\0\0\x06line1\n\x01\0\0\0\0\0\0\x06line2\n");
    let resp = request(&p, "POST", &format!("/v1.50/containers/{id}/wait"), "");
    assert!(body(&resp).contains(r#""StatusCode":0"#), "{resp}");

    // Without a TTY the detach keys are ordinary stdin, as in moby.
    let id = create(&p, r#"{"Image":"alpine","Cmd":["cat"],"OpenStdin":true}"#);
    start(&p, &id);
    let (mut s, out) = attach(&p, &id, "stdin=1&stdout=1&stream=1&detachKeys=ctrl-x,x");
    s.write_all(b"a\x18xb\n").unwrap();
    let out = read_until(&mut s, out, b"a\x18xb\n");
    assert!(out.ends_with(b"a\x18xb\n"), "{out:?}");
    request(&p, "DELETE", &format!("/v1.50/containers/{id}?force=1"), "");

    // With a TTY they end the attach and leave the container running.
    let id = create(&p, r#"{"Image":"alpine","Cmd":["cat"],"OpenStdin":true,"Tty":true}"#);
    start(&p, &id);
    let (mut s, out) = attach(&p, &id, "stdin=1&stdout=1&stream=1&detachKeys=ctrl-x,x");
    s.write_all(b"echoed\n").unwrap();
    let out = read_until(&mut s, out, b"echoed\r\n");
    assert!(out.ends_with(b"echoed\r\n"), "{out:?}");
    s.write_all(b"\x18x").unwrap();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap();
    assert_eq!(inspect(&p, &id)["State"]["Running"], true);
    // A bad detachKeys is a 400 before any upgrade.
    let resp = request(&p, "POST", &format!("/v1.50/containers/{id}/attach?stdin=1&stream=1&detachKeys=ctrl-1"), "");
    assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");
    request(&p, "DELETE", &format!("/v1.50/containers/{id}?force=1"), "");

    // docker run -it: raw output, a prompt without newline arrives before any input.
    let id = create(
        &p,
        r#"{"Image":"alpine","Cmd":["sh","-c","printf 'name? '; read x; printf \"hi $x\""],"Tty":true,
            "OpenStdin":true,"StdinOnce":true,"AttachStdin":true,"AttachStdout":true}"#,
    );
    let (mut s, out) = attach(&p, &id, "stdin=1&stdout=1&stderr=1&stream=1");
    start(&p, &id);
    let out = read_until(&mut s, out, b"name? ");
    assert_eq!(out, b"name? ");
    // Resizing the live session's terminal is accepted.
    let resp = request(&p, "POST", &format!("/v1.50/containers/{id}/resize?h=30&w=100"), "");
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    s.write_all(b"bob\r").unwrap();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap();
    // The terminal echoes the input (CR -> CRLF), then the program's output, all raw.
    assert_eq!(rest, b"bob\r\nhi bob");
}
