//! Request input: the query of a request ([`Query`], parsed in `podshim_translate::query`), and capped request
//! bodies into bollard models (decoded as moby's Go decoder does, in `podshim_translate::body`).

use bytes::{Bytes, BytesMut};
use http::Request;
use http_body_util::BodyExt;
use hyper::body::Body as HttpBody;
use serde::de::DeserializeOwned;

use crate::error::Error;

/// The largest create (or other JSON) body podshim reads. Docker's create bodies are about 2 KiB.
pub const JSON_BODY_LIMIT: usize = 1024 * 1024;
/// moby rejects a start body longer than this (a leftover of the pre-1.24 HostConfig-at-start).
pub const START_BODY_LIMIT: usize = 7;

pub use podshim_translate::body::{decode_json_folded, field_names, fold_keys};
pub use podshim_translate::query::Query;

/// The query of a request.
pub fn query_of<B>(req: &Request<B>) -> Query {
    Query::parse(req.uri().query())
}

/// Reads a body of at most `limit` bytes; a longer one is 400 (Docker's clients never send one).
pub async fn read_body<B>(body: B, limit: usize) -> Result<Bytes, Error>
where
    B: HttpBody<Data = Bytes>,
    B::Error: std::fmt::Display,
{
    let mut body = std::pin::pin!(body);
    let mut buf = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| Error::InvalidParameter(format!("reading the request body: {e}")))?;
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > limit {
                return Err(Error::InvalidParameter(format!("request body is larger than {limit} bytes")));
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf.freeze())
}

/// Decodes a JSON body into `T` (see [`podshim_translate::body::decode_json`]).
pub fn decode_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    Ok(podshim_translate::body::decode_json(bytes)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_errors_are_400_with_the_parsers_message() {
        let err = decode_json::<bollard_stubs::models::ContainerCreateBody>(b"{\"Cmd\": 3}").unwrap_err();
        assert_eq!(err.status(), http::StatusCode::BAD_REQUEST);
        assert!(err.to_string().contains("invalid type"), "{err}");
        let err = decode_json::<bollard_stubs::models::ContainerCreateBody>(b"").unwrap_err();
        assert_eq!(err.status(), http::StatusCode::BAD_REQUEST);
    }

    #[test]
    fn keys_match_fields_without_regard_to_case_as_in_go() {
        use bollard_stubs::models::ExecConfig;
        let names = field_names::<ExecConfig>();
        assert!(names.contains(&"DetachKeys") && names.contains(&"AttachStdin"), "{names:?}");
        let config: ExecConfig = decode_json_folded(br#"{"detachKeys":"ctrl-p","cmd":["ls"],"Tty":true}"#).unwrap();
        assert_eq!(config.detach_keys.as_deref(), Some("ctrl-p"));
        assert_eq!(config.cmd, Some(vec!["ls".to_string()]));
        assert_eq!(config.tty, Some(true));
        let exact: ExecConfig = decode_json_folded(br#"{"Tty":true,"tty":false}"#).unwrap();
        assert_eq!(exact.tty, Some(true), "the exact spelling wins");
        assert!(field_names::<String>().is_empty());
    }

    #[tokio::test]
    async fn bodies_over_the_cap_are_refused() {
        let body = http_body_util::Full::new(Bytes::from_static(b"12345678"));
        assert!(read_body(body, START_BODY_LIMIT).await.is_err());
        let body = http_body_util::Full::new(Bytes::from_static(b"{}"));
        assert_eq!(read_body(body, START_BODY_LIMIT).await.unwrap(), Bytes::from_static(b"{}"));
    }
}
