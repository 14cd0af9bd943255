//! The process part of a create body: Entrypoint/Cmd, Env, User and WorkingDir, as they land on the container.

use k8s_openapi::api::core::v1::EnvVar;

use super::TranslateError;

/// A container's `command` and `args`; `None` keeps the image's ENTRYPOINT or CMD.
pub type CommandArgs = (Option<Vec<String>>, Option<Vec<String>>);

/// Entrypoint and Cmd as the container's `command` and `args`.
///
/// Docker: Entrypoint replaces the image's ENTRYPOINT and, when given, also discards the image's CMD (moby
/// daemon/create merges `Cmd` from the image only when Entrypoint is unset). Kubernetes has the same rule for
/// `command` and `args`, so:
/// - Entrypoint and Cmd -> command and args;
/// - Entrypoint only -> command alone (Kubernetes ignores the image's CMD when `command` is set without `args`);
/// - Cmd only -> args (the image's ENTRYPOINT stays);
/// - neither -> both unset, the image's defaults.
///
/// An empty Entrypoint (`[]`, or `[""]`, which `docker run --entrypoint ""` sends) resets the entrypoint to none:
/// Docker then runs Cmd directly, which is `command: Cmd`. Without Cmd Docker would run the image's CMD
/// without its ENTRYPOINT, which needs the image config podshim does not read here: refused.
pub fn command_and_args(entrypoint: Option<&[String]>, cmd: Option<&[String]>) -> Result<CommandArgs, TranslateError> {
    let cmd = cmd.filter(|c| !c.is_empty());
    let reset = |ep: &[String]| ep.is_empty() || (ep.len() == 1 && ep[0].is_empty());
    match (entrypoint, cmd) {
        (Some(ep), Some(cmd)) if reset(ep) => Ok((Some(escape_all(cmd)), None)),
        (Some(ep), None) if reset(ep) => Err(TranslateError::unsupported(
            "Entrypoint",
            "an empty entrypoint without Cmd runs the image's CMD alone, which needs the image config; give Cmd too",
        )),
        (Some(ep), cmd) => Ok((Some(escape_all(ep)), cmd.map(escape_all))),
        (None, Some(cmd)) => Ok((None, Some(escape_all(cmd)))),
        (None, None) => Ok((None, None)),
    }
}

/// Env `["K=V", ...]` as container env.
///
/// A bare `"K"` (no `=`) is what the docker CLI sends for `-e K` when K is not set on the client; the daemon then
/// removes K from the image's environment (moby opts.ReplaceOrAppendEnvValues). Kubernetes can set but not
/// remove an image variable, so a bare `K` is left out of the pod: the same result unless the image itself sets
/// K. [`bare_env_warnings`] reports each one for the create response's `Warnings`. `"=V"` is refused as Docker's
/// CLI does.
pub fn env_vars(env: &[String]) -> Result<Vec<EnvVar>, TranslateError> {
    let mut out = Vec::new();
    for entry in env {
        match entry.split_once('=') {
            Some(("", _)) => {
                return Err(TranslateError::InvalidParameter(format!("invalid environment variable: {entry}")));
            }
            Some((name, value)) => {
                out.push(EnvVar { name: name.to_string(), value: Some(escape(value)), value_from: None })
            }
            None if entry.is_empty() => {
                return Err(TranslateError::InvalidParameter("invalid environment variable: ".to_string()));
            }
            None => {}
        }
    }
    Ok(out)
}

/// One warning per bare `K` in Env (see [`env_vars`]), worded for the CLI's `WARNING: ` prefix.
pub fn bare_env_warnings(env: &[String]) -> Vec<String> {
    env.iter()
        .filter(|e| !e.is_empty() && !e.contains('='))
        .map(|k| format!("environment variable {k} has no value: left unset (an image default for it stays set)"))
        .collect()
}

/// Kubernetes expands `$(VAR)` in command, args and env values; Docker passes them verbatim. Doubling every `$`
/// makes Kubernetes produce the original text (`$$` becomes `$`, and `$$(X)` the literal `$(X)`).
pub fn escape(s: &str) -> String {
    s.replace('$', "$$")
}

fn escape_all(items: &[String]) -> Vec<String> {
    items.iter().map(|s| escape(s)).collect()
}

/// WorkingDir as `workingDir`: empty keeps the image's; otherwise it must be absolute, with Docker's message.
pub fn working_dir(dir: &str) -> Result<Option<String>, TranslateError> {
    match dir {
        "" => Ok(None),
        d if d.starts_with('/') => Ok(Some(d.to_string())),
        d => Err(TranslateError::InvalidParameter(format!(
            "the working directory '{d}' is invalid, it needs to be an absolute path"
        ))),
    }
}

/// The numeric identity from Docker's `User`: `""` -> none, `"uid"` -> (uid, None), `"uid:gid"` -> (uid, gid).
///
/// With a uid alone, Docker and the Kubernetes runtimes both take the primary group from the image's
/// /etc/passwd (else 0), so leaving runAsGroup unset matches. User or group *names* need the image's
/// /etc/passwd and /etc/group, which podshim cannot read before the pod runs: refused. Ids are limited to
/// 0..=2147483647, the Kubernetes range.
pub fn user_ids(user: &str) -> Result<(Option<i64>, Option<i64>), TranslateError> {
    if user.is_empty() {
        return Ok((None, None));
    }
    let (uid, gid) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let uid = numeric_id(uid, user)?;
    let gid = gid.map(|g| numeric_id(g, user)).transpose()?;
    Ok((Some(uid), gid))
}

fn numeric_id(part: &str, user: &str) -> Result<i64, TranslateError> {
    if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TranslateError::unsupported(
            "User",
            format!(
                "\"{user}\" names a user or group; names cannot be mapped without reading the image's /etc/passwd \
                 and /etc/group, use numeric uid[:gid]"
            ),
        ));
    }
    match part.parse::<i64>() {
        Ok(id) if id <= i64::from(i32::MAX) => Ok(id),
        _ => Err(TranslateError::unsupported("User", format!("id {part} is above Kubernetes' limit 2147483647"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn entrypoint_without_cmd_clears_the_image_cmd() {
        let ep = strings(&["sh"]);
        let (command, args) = command_and_args(Some(&ep), None).unwrap();
        assert_eq!(command, Some(ep));
        assert_eq!(args, None);
    }

    #[test]
    fn neither_entrypoint_nor_cmd_keeps_image_defaults() {
        assert_eq!(command_and_args(None, None).unwrap(), (None, None));
        assert_eq!(command_and_args(None, Some(&[])).unwrap(), (None, None));
    }

    #[test]
    fn dollar_signs_survive_kubernetes_expansion() {
        let cmd = strings(&["echo", "$(HOME)", "$$"]);
        let (_, args) = command_and_args(None, Some(&cmd)).unwrap();
        assert_eq!(args, Some(strings(&["echo", "$$(HOME)", "$$$$"])));
    }

    #[test]
    fn reset_entrypoint_runs_cmd_directly_and_needs_cmd() {
        let cmd = strings(&["echo", "hi"]);
        let (command, args) = command_and_args(Some(&strings(&[""])), Some(&cmd)).unwrap();
        assert_eq!((command, args), (Some(cmd), None));
        let err = command_and_args(Some(&[]), None).unwrap_err();
        assert!(matches!(err, TranslateError::Unsupported { ref option, .. } if option == "Entrypoint"));
    }

    #[test]
    fn env_splits_at_the_first_equals_and_skips_bare_names() {
        let env = env_vars(&strings(&["A=1=2", "B=", "C"])).unwrap();
        let pairs: Vec<(&str, Option<&str>)> = env.iter().map(|e| (e.name.as_str(), e.value.as_deref())).collect();
        assert_eq!(pairs, [("A", Some("1=2")), ("B", Some(""))]);
        assert_eq!(bare_env_warnings(&strings(&["A=1", "C"])).len(), 1);
        assert!(env_vars(&strings(&["=x"])).is_err());
    }

    #[test]
    fn working_dir_must_be_absolute() {
        assert_eq!(working_dir("").unwrap(), None);
        assert_eq!(working_dir("/tmp").unwrap().as_deref(), Some("/tmp"));
        assert!(working_dir("tmp").unwrap_err().to_string().contains("needs to be an absolute path"));
    }

    #[test]
    fn numeric_users_map_and_names_are_unsupported() {
        assert_eq!(user_ids("").unwrap(), (None, None));
        assert_eq!(user_ids("1000").unwrap(), (Some(1000), None));
        assert_eq!(user_ids("0:0").unwrap(), (Some(0), Some(0)));
        for named in ["nobody", "1000:staff", "root:0", ":1", "1:"] {
            let err = user_ids(named).unwrap_err();
            assert!(err.to_string().starts_with("User is not supported by podshim"), "{err}");
        }
        assert!(user_ids("4294967295").is_err());
    }
}
