//! Who may use a registry: everyone, or (like the distribution registry with `auth: htpasswd`) only
//! clients that send one of its users' passwords with HTTP basic authentication, on every request,
//! `/v2/` included. That `/v2/` challenges is what lets `docker login` check a password: a client
//! first asks `/v2/` without credentials, and sends them only after a `401` with a `Basic` challenge.

use base64::Engine as _;
use serde_json::{json, Value};

use super::http::{self, Resp};

/// A registry's access rule.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Access {
    /// Anyone may pull and push.
    #[default]
    Open,
    /// Only these users (name, password), challenged with `WWW-Authenticate: Basic realm="<realm>"`.
    Basic { realm: String, users: Vec<(String, String)> },
}

impl Access {
    /// Whether the `Authorization` header (if any) lets the request through.
    pub fn allows(&self, authorization: Option<&str>) -> bool {
        match self {
            Access::Open => true,
            Access::Basic { .. } => {
                authorization.and_then(basic_credentials).is_some_and(|(user, password)| self.admits(&user, &password))
            }
        }
    }

    /// Whether `user` with `password` may use the registry.
    pub fn admits(&self, user: &str, password: &str) -> bool {
        match self {
            Access::Open => true,
            Access::Basic { users, .. } => {
                users.iter().any(|(u, p)| constant_time_eq(u, user) & constant_time_eq(p, password))
            }
        }
    }

    /// Whether a client must authenticate.
    pub fn is_open(&self) -> bool {
        *self == Access::Open
    }

    /// The `401` for a request that [`Access::allows`] refused. `scope` is the repository and action of
    /// a repository request (distribution names them in the error's detail); `None` for `/v2/`.
    pub fn challenge(&self, scope: Option<(&str, &str)>, head: bool) -> Resp {
        let realm = match self {
            Access::Basic { realm, .. } => realm.as_str(),
            Access::Open => "",
        };
        let detail = match scope {
            Some((name, action)) => json!([{"Type": "repository", "Class": "", "Name": name, "Action": action}]),
            None => Value::Null,
        };
        let mut resp = http::error(401, "UNAUTHORIZED", "authentication required", detail, head);
        http::set(&mut resp, "www-authenticate", &format!("Basic realm=\"{}\"", realm.replace('"', "")));
        resp
    }
}

/// `Basic base64(user:password)` → (user, password).
pub fn basic_credentials(header: &str) -> Option<(String, String)> {
    let (scheme, encoded) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// Compares without stopping at the first difference (the length still shows).
fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user: &str, password: &str) -> String {
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
    }

    #[test]
    fn basic_access_checks_user_and_password() {
        let access = Access::Basic { realm: "r".into(), users: vec![("u".into(), "p:w".into())] };
        assert!(access.allows(Some(&basic("u", "p:w"))));
        assert!(!access.allows(Some(&basic("u", "p"))));
        assert!(!access.allows(Some(&basic("v", "p:w"))));
        assert!(!access.allows(Some("Bearer abc")));
        assert!(!access.allows(None));
        assert!(Access::Open.allows(None));
    }

    #[test]
    fn the_challenge_is_distributions() {
        let access = Access::Basic { realm: "sim".into(), users: vec![] };
        let resp = access.challenge(Some(("library/x", "pull")), false);
        assert_eq!(resp.status(), 401);
        assert_eq!(resp.headers()["www-authenticate"], "Basic realm=\"sim\"");
    }
}
