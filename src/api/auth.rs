//! `POST /auth` (SystemAuth): `docker login`. The credentials are checked against the registry and nothing is
//! kept: the client sends them again with each pull (`X-Registry-Auth`), and the pull keeps them for the node.

use crate::server::RequestBody;
use bollard_stubs::models::AuthResponse;
use http::{Request, Response, StatusCode};

use super::query::{read_body, JSON_BODY_LIMIT};
use super::response::{self, Body};
use crate::error::Error;
use crate::runtime::Runtime;
use podshim_translate::registry_auth;

/// 200 `{"Status":"Login Succeeded"}`, 401 with Docker's sentence when the registry refuses the credentials.
pub async fn system_auth(rt: &Runtime, req: Request<RequestBody>) -> Result<Response<Body>, Error> {
    let bytes = read_body(req.into_body(), JSON_BODY_LIMIT).await?;
    let credentials = auth_body(&bytes)?;
    rt.login(&credentials).await?;
    let answer = AuthResponse { status: "Login Succeeded".into(), identity_token: Some(String::new()) };
    Ok(response::json(StatusCode::OK, &answer))
}

/// The credentials of a login body: 400 when it holds none.
pub fn auth_body(bytes: &[u8]) -> Result<registry_auth::Credentials, Error> {
    registry_auth::parse_json(bytes).ok_or_else(|| {
        Error::InvalidParameter("a username and password (or a registry token) are required to log in".into())
    })
}
