//! `POST /containers/{id}/attach` (ContainerAttach): the connection is taken over ("hijacked") by the pump in
//! [`super::hijack`] and carries the container's output, raw with a TTY and multiplexed without.
//!
//! With `stdin=1` on a container with `OpenStdin`, what the client writes after the 101 is its stdin, handed to
//! [`Runtime::attach_stdin`] (bytes written before `start` wait); the detach keys end the attach and leave the
//! container running. Without stdin the client's bytes are read and discarded, as Docker does.

use std::future::Future;
use std::pin::Pin;

use crate::server::RequestBody;
use futures::StreamExt;
use http::{Request, Response};

use super::hijack::{self, OpenFuture, Session, StdinTarget, Streams};
use super::query::query_of;
use super::resolve;
use super::response::Body;
use super::stream::Framing;
use super::ApiVersion;
use crate::error::Error;
use crate::runtime::{LogOptions, LogStream, Runtime};
use podshim_translate::detach_keys;

/// The attach query. `stream=1` is accepted while the container is only created (the CLI attaches before it
/// starts the container); `logs=1` asks for the output from the beginning. Without `stream`, `logs=1` gives the
/// output so far and ends, and neither gives an empty stream, as in moby.
///
/// `stream=1` with neither `stdout` nor `stderr` (docker-py's `attach_socket` for stdin alone) lasts, as in
/// Docker, until the container stops or the client detaches: the output is followed and dropped.
///
/// `stdin=1` on a container with `OpenStdin` forwards the client's stdin (`detachKeys`, default
/// `ctrl-p,ctrl-q`, 400 when malformed as in moby; they detach only with a TTY, as in moby). For a container
/// without `OpenStdin` Docker discards stdin, and so does podshim.
pub async fn container_attach(
    rt: &Runtime,
    id: &str,
    req: Request<RequestBody>,
    version: ApiVersion,
) -> Result<Response<Body>, Error> {
    let query = query_of(&req);
    let container = resolve(rt, id)?;
    let tty = container.tty();
    let (stdin, detach_keys) = match query.bool("stdin") && container.open_stdin() {
        true => {
            let keys = detach_keys::parse(query.get("detachKeys").unwrap_or("")).map_err(Error::InvalidParameter)?;
            let (rt, cid) = (rt.clone(), container.id.clone());
            let target: StdinTarget =
                Box::new(move |input| Box::pin(async move { rt.attach_stdin(&cid, input).await }));
            // moby watches for the detach keys only with a TTY; without one every byte is stdin.
            (Some(target), if tty { keys } else { Vec::new() })
        }
        false => (None, Vec::new()),
    };
    let (stdout, stderr, logs) = (query.bool("stdout"), query.bool("stderr"), query.bool("logs"));
    let (rt, cid, resolved) = (rt.clone(), container.id.clone(), container.clone());
    let mut output: Pin<Box<dyn Future<Output = Result<LogStream, Error>> + Send>> = match (query.bool("stream"), logs)
    {
        (true, _) if stdout || stderr => Box::pin(async move { rt.attach_output(&cid, stdout, stderr, logs).await }),
        // Nothing to show, but the session lasts while the container runs: its output is followed, dropped.
        (true, _) => Box::pin(async move {
            let followed = rt.attach_output(&cid, true, false, false).await?;
            Ok(Box::pin(followed.filter(|_| std::future::ready(false))) as LogStream)
        }),
        // `stream=0&logs=1`: the output so far, then the end (moby attach without stream).
        (false, true) if stdout || stderr => {
            let options = LogOptions { stdout, stderr, ..LogOptions::default() };
            Box::pin(async move { rt.logs(&resolved, options).await })
        }
        _ => Box::pin(async { Ok(Box::pin(futures::stream::empty()) as LogStream) }),
    };
    // Poll once now, before the client sees the 101 and sends start, so the runtime takes its view of the
    // container (created: everything from the first byte) before anything can change it; an error that comes
    // at once is still an HTTP error.
    if let std::task::Poll::Ready(result) = futures::poll!(&mut output) {
        let ready = result?;
        output = Box::pin(async move { Ok(ready) });
    }
    let open: OpenFuture = Box::pin(async move { Ok(Streams { output: output.await?, stdin }) });
    let session = Session { open, framing: Framing::for_container(tty), detach_keys };
    Ok(hijack::respond(req, session, version))
}
