//! The Exec tag: `POST /containers/{id}/exec`, `POST /exec/{id}/start` (hijacked like attach, through the same
//! pump, [`super::hijack`]), `GET /exec/{id}/json`, `POST /exec/{id}/resize`.
//!
//! Start with an `Upgrade` header answers `101 UPGRADED` and then carries the exec's stdin from the client and
//! its output to the client; without `Upgrade`, `200` with the output as the body and no stdin. The start
//! body's `Tty` decides the framing, as in moby (see [`Framing::for_exec_start`]). `Detach: true` answers `200`
//! with an empty body at once and runs the command in the background. The connection is closed once the exit
//! code is recorded and all output is written, so the exec inspect the client sends next shows it.

use crate::server::RequestBody;
use bollard_stubs::models::{ExecConfig, ExecStartConfig};
use futures::StreamExt;
use http::{Request, Response, StatusCode};
use tokio::io::AsyncWriteExt;

use super::hijack::{self, OpenFuture, Session, StdinTarget, Streams};
use super::query::{decode_json_folded, query_of, read_body, JSON_BODY_LIMIT};
use super::resolve;
use super::response::{self, Body};
use super::stream::Framing;
use super::ApiVersion;
use crate::error::Error;
use crate::runtime::{ExecStdin, Runtime, StdinStream};

/// `POST /containers/{id}/exec` (ContainerExec): 201 `{"Id"}` (bollard's `IdResponse` would write `id`).
pub async fn exec_create(rt: &Runtime, id: &str, req: Request<RequestBody>) -> Result<Response<Body>, Error> {
    let bytes = read_body(req.into_body(), JSON_BODY_LIMIT).await?;
    let config: ExecConfig = decode_json_folded(&bytes)?;
    let container = resolve(rt, id)?;
    let exec_id = rt.create_exec(&container, config)?;
    Ok(response::json(StatusCode::CREATED, &serde_json::json!({ "Id": exec_id })))
}

/// `POST /exec/{id}/start` (ExecStart). An empty body means `{}`.
pub async fn exec_start(
    rt: &Runtime,
    id: &str,
    mut req: Request<RequestBody>,
    version: ApiVersion,
) -> Result<Response<Body>, Error> {
    let bytes = read_body(req.body_mut(), JSON_BODY_LIMIT).await?;
    let start = start_config(&bytes)?;
    let console_size = podshim_translate::exec::console_size(start.console_size.as_deref());
    let exec = rt.start_exec(id)?;
    if start.detach.unwrap_or(false) {
        exec.attach(true, console_size).await?;
        return Ok(response::empty(StatusCode::OK));
    }
    let detach_keys = exec.detach_keys();
    // The command runs once the client has the 101 (see `ExecStart`); a failure then is told on the stream.
    let open: OpenFuture = Box::pin(async move {
        let session = exec.attach(false, console_size).await?;
        Ok(Streams { output: session.output, stdin: session.stdin.map(exec_stdin) })
    });
    let session = Session { open, framing: Framing::for_exec_start(start.tty.unwrap_or(false)), detach_keys };
    Ok(hijack::respond(req, session, version))
}

/// The body of an exec start; an empty one means `{}`.
pub fn start_config(bytes: &[u8]) -> Result<ExecStartConfig, Error> {
    match bytes.iter().all(u8::is_ascii_whitespace) {
        true => Ok(ExecStartConfig::default()),
        false => Ok(decode_json_folded(bytes)?),
    }
}

/// The exec's stdin as a target of the pump: every byte is written to the process; the client's EOF shuts the
/// writer down (dropping it is not enough: kube-rs sends the stdin close signal only then). A process that no
/// longer reads just drops the rest. Dropped early (a detach), the writer is not shut down, and the process's
/// stdin stays open, as in moby.
fn exec_stdin(mut stdin: ExecStdin) -> StdinTarget {
    Box::new(move |mut input: StdinStream| {
        Box::pin(async move {
            let mut open = true;
            while let Some(bytes) = input.next().await {
                if open {
                    open = stdin.write_all(&bytes).await.is_ok();
                }
            }
            let _ = stdin.shutdown().await;
            Ok(())
        })
    })
}

/// `GET /exec/{id}/json` (ExecInspect).
/// Docker sends `"ExitCode": null` until the exec has run; bollard's model leaves the key out, so it is put
/// back (docker-py reads `inspect["ExitCode"]`).
pub fn exec_inspect(rt: &Runtime, id: &str) -> Result<Response<Body>, Error> {
    let inspect = rt.inspect_exec(id)?;
    let mut value = serde_json::to_value(&inspect)
        .map_err(|e| Error::Internal(format!("encoding the exec inspect answer: {e}")))?;
    if let Some(map) = value.as_object_mut() {
        map.entry("ExitCode").or_insert(serde_json::Value::Null);
    }
    Ok(response::json(StatusCode::OK, &value))
}

/// `POST /exec/{id}/resize` (ExecResize): `h` and `w`; a size that does not fit a terminal is 400.
pub fn exec_resize(rt: &Runtime, id: &str, req: &Request<RequestBody>) -> Result<Response<Body>, Error> {
    let query = query_of(req);
    let size = |key: &str| -> Result<u16, Error> {
        let value = query.int(key)?.unwrap_or(0);
        u16::try_from(value).map_err(|_| Error::InvalidParameter(format!("invalid value for {key}: {value}")))
    };
    rt.resize_exec(id, size("h")?, size("w")?)?;
    Ok(response::empty(StatusCode::OK))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The client's EOF closes the process's stdin (a shutdown, which kube-rs turns into the close signal).
    #[tokio::test]
    async fn exec_stdin_writes_everything_then_shuts_the_writer_down() {
        use tokio::io::AsyncReadExt;
        let (mut read, write) = tokio::io::simplex(1024);
        let input: StdinStream = Box::pin(futures::stream::iter([bytes::Bytes::from_static(b"a"), "b\n".into()]));
        exec_stdin(Box::pin(write))(input).await.unwrap();
        let mut got = Vec::new();
        read.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"ab\n");
    }
}
