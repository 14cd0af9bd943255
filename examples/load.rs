//! A raw HTTP/1.1 load client for the benchmarks (`bench/run.sh`): keep-alive connections over a unix socket,
//! no client library in the way, so the figures are podshim's own.
//!
//!     load latency SOCKET PATH N             N GETs on one connection; microseconds per request, one per line
//!     load create SOCKET N CLIENTS           N unnamed creates from CLIENTS connections while a watchdog pings
//!                                            every 10 ms; prints `creates_per_s`, `ping_p99_us`, `ping_max_us`
//!     load runs SOCKET N CLIENTS             N `docker run --rm alpine true` (create with AutoRemove, start,
//!                                            wait until removed); prints `runs_per_s`
//!     load waiters SOCKET N                  starts N `sleep 3600` containers and holds a wait on each; prints
//!                                            `ready` and keeps them until killed
//!     load rss PID                           the resident set of a process in KiB

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

type Error = Box<dyn std::error::Error + Send + Sync>;

const CREATE_BODY: &str = r#"{"Image":"alpine","Cmd":["true"]}"#;

/// One keep-alive connection.
struct Conn {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Conn {
    fn open(socket: &Path) -> Result<Conn, Error> {
        let stream = UnixStream::connect(socket)?;
        stream.set_read_timeout(Some(Duration::from_secs(120)))?;
        Ok(Conn { reader: BufReader::new(stream.try_clone()?), writer: stream })
    }

    /// Sends one request and reads the whole answer: the status and the body.
    fn request(&mut self, method: &str, path: &str, body: Option<&str>) -> Result<(u16, Vec<u8>), Error> {
        let body = body.unwrap_or("");
        write!(
            self.writer,
            "{method} {path} HTTP/1.1\r\nHost: podshim\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )?;
        self.read_answer()
    }

    /// Reads one whole answer: the status and the body.
    fn read_answer(&mut self) -> Result<(u16, Vec<u8>), Error> {
        let mut line = String::new();
        self.reader.read_line(&mut line)?;
        let status: u16 = line.get(9..12).ok_or("no status line")?.parse()?;
        let (mut length, mut chunked) = (None, false);
        loop {
            line.clear();
            self.reader.read_line(&mut line)?;
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            let lower = header.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length:") {
                length = Some(v.trim().parse::<usize>()?);
            }
            if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
                chunked = true;
            }
        }
        let mut out = Vec::new();
        if chunked {
            loop {
                line.clear();
                self.reader.read_line(&mut line)?;
                let size = usize::from_str_radix(line.trim(), 16)?;
                let mut chunk = vec![0; size + 2];
                self.reader.read_exact(&mut chunk)?;
                if size == 0 {
                    break;
                }
                out.extend_from_slice(&chunk[..size]);
            }
        } else if let Some(n) = length {
            out.resize(n, 0);
            self.reader.read_exact(&mut out)?;
        }
        Ok((status, out))
    }
}

fn percentile(sorted: &[u128], p: f64) -> u128 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn latency(socket: &Path, path: &str, n: usize) -> Result<(), Error> {
    let mut conn = Conn::open(socket)?;
    for _ in 0..n {
        let t = Instant::now();
        let (status, _) = conn.request("GET", path, None)?;
        let us = t.elapsed().as_micros();
        if status != 200 {
            return Err(format!("GET {path}: {status}").into());
        }
        println!("{us}");
    }
    Ok(())
}

/// Pings every 10 ms until stopped; returns the latencies.
fn ping_watch(socket: PathBuf, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Result<Vec<u128>, String>> {
    std::thread::spawn(move || {
        let mut conn = Conn::open(&socket).map_err(|e| e.to_string())?;
        let mut samples = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            let t = Instant::now();
            let (status, _) = conn.request("GET", "/_ping", None).map_err(|e| e.to_string())?;
            if status != 200 {
                return Err(format!("_ping answered {status}"));
            }
            samples.push(t.elapsed().as_micros());
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(samples)
    })
}

/// Runs `work` for items `0..n` on `clients` threads (each with its own connection); returns the wall time.
fn spread(
    socket: &Path,
    n: usize,
    clients: usize,
    work: impl Fn(&mut Conn) -> Result<(), Error> + Send + Sync + 'static,
) -> Result<Duration, Error> {
    let work = Arc::new(work);
    let started = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|c| {
            let (socket, work) = (socket.to_path_buf(), work.clone());
            std::thread::spawn(move || -> Result<(), String> {
                let mut conn = Conn::open(&socket).map_err(|e| e.to_string())?;
                for _ in (c..n).step_by(clients) {
                    work(&mut conn).map_err(|e| e.to_string())?;
                }
                Ok(())
            })
        })
        .collect();
    for t in threads {
        t.join().map_err(|_| "a client panicked")??;
    }
    Ok(started.elapsed())
}

fn create(socket: &Path, n: usize, clients: usize) -> Result<(), Error> {
    let stop = Arc::new(AtomicBool::new(false));
    let watch = ping_watch(socket.to_path_buf(), stop.clone());
    let took = spread(socket, n, clients, |conn| {
        let (status, body) = conn.request("POST", "/containers/create", Some(CREATE_BODY))?;
        if status != 201 {
            return Err(format!("create: {status} {}", String::from_utf8_lossy(&body)).into());
        }
        Ok(())
    });
    stop.store(true, Ordering::Relaxed);
    let mut pings = watch.join().map_err(|_| "the ping watchdog panicked")??;
    let took = took?;
    pings.sort_unstable();
    println!("creates_per_s {:.1}", n as f64 / took.as_secs_f64());
    println!("ping_p99_us {}", percentile(&pings, 0.99));
    println!("ping_max_us {}", pings.last().copied().unwrap_or(0));
    Ok(())
}

fn id_of(body: &[u8]) -> Result<String, Error> {
    let v: serde_json::Value = serde_json::from_slice(body)?;
    Ok(v["Id"].as_str().ok_or("no Id in the create answer")?.to_string())
}

fn runs(socket: &Path, n: usize, clients: usize) -> Result<(), Error> {
    let body = r#"{"Image":"alpine","Cmd":["true"],"HostConfig":{"AutoRemove":true}}"#;
    let sock = socket.to_path_buf();
    let took = spread(socket, n, clients, move |conn| {
        let (status, created) = conn.request("POST", "/containers/create", Some(body))?;
        if status != 201 {
            return Err(format!("create: {status}").into());
        }
        let id = id_of(&created)?;
        // As the docker CLI does: the wait is sent before the start, so a container that is gone at once is
        // still waited for.
        let mut wait = Conn::open(&sock)?;
        let path = format!("/containers/{id}/wait?condition=removed");
        write!(wait.writer, "POST {path} HTTP/1.1\r\nHost: podshim\r\nContent-Length: 0\r\n\r\n")?;
        let (status, _) = conn.request("POST", &format!("/containers/{id}/start"), None)?;
        if status != 204 {
            return Err(format!("start: {status}").into());
        }
        let (status, _) = wait.read_answer()?;
        if status != 200 {
            return Err(format!("wait: {status}").into());
        }
        Ok(())
    })?;
    println!("runs_per_s {:.1}", n as f64 / took.as_secs_f64());
    Ok(())
}

fn waiters(socket: &Path, n: usize) -> Result<(), Error> {
    let body = r#"{"Image":"alpine","Cmd":["sleep","3600"]}"#;
    let mut conn = Conn::open(socket)?;
    let mut ids = Vec::new();
    for _ in 0..n {
        let (status, created) = conn.request("POST", "/containers/create", Some(body))?;
        if status != 201 {
            return Err(format!("create: {status}").into());
        }
        let id = id_of(&created)?;
        conn.request("POST", &format!("/containers/{id}/start"), None)?;
        ids.push(id);
    }
    let mut held = Vec::new();
    for id in ids {
        let mut stream = UnixStream::connect(socket)?;
        write!(stream, "POST /containers/{id}/wait HTTP/1.1\r\nHost: podshim\r\nContent-Length: 0\r\n\r\n")?;
        held.push(stream);
    }
    println!("ready");
    std::io::stdout().flush()?;
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

fn rss(pid: &str) -> Result<(), Error> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).ok_or("no VmRSS")?;
    println!("{}", line.split_whitespace().nth(1).ok_or("bad VmRSS")?);
    Ok(())
}

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg =
        |i: usize| args.get(i).map(String::as_str).ok_or_else(|| Error::from("missing argument; see the module doc"));
    let num = |i: usize| -> Result<usize, Error> { Ok(arg(i)?.parse()?) };
    match arg(0)? {
        "latency" => latency(Path::new(arg(1)?), arg(2)?, num(3)?),
        "create" => create(Path::new(arg(1)?), num(2)?, num(3)?),
        "runs" => runs(Path::new(arg(1)?), num(2)?, num(3)?),
        "waiters" => waiters(Path::new(arg(1)?), num(2)?),
        "rss" => rss(arg(1)?),
        other => Err(format!("unknown command {other}").into()),
    }
}
