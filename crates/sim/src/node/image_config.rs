//! What a pulled image's config decides about a container when the pod spec does not, as
//! containerd applies it: the command line (Kubernetes' `command`/`args` rules over `Entrypoint` and
//! `Cmd`), the environment (the image's `Env` under the pod's), the working directory and the user.

use serde_json::Value;

/// Kubernetes' rules: `command` replaces the image's `Entrypoint` (and drops its `Cmd`); `args`
/// replaces the `Cmd`. Empty lists count as unset.
pub fn command_line(command: &Option<Vec<String>>, args: &Option<Vec<String>>, config: &Value) -> Vec<String> {
    let given = |list: &Option<Vec<String>>| list.as_ref().filter(|l| !l.is_empty()).cloned();
    let strings = |key: &str| -> Vec<String> {
        config[key]
            .as_array()
            .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
            .unwrap_or_default()
    };
    let (entry, default_args) = match given(command) {
        Some(command) => (command, Vec::new()),
        None => (strings("Entrypoint"), strings("Cmd")),
    };
    let mut argv = entry;
    argv.extend(given(args).unwrap_or(default_args));
    argv
}

/// The image's `Env` as (name, value) pairs, in order.
pub fn env(config: &Value) -> Vec<(String, String)> {
    config["Env"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|entry| match entry.split_once('=') {
            Some((name, value)) => (name.to_string(), value.to_string()),
            None => (entry.to_string(), String::new()),
        })
        .collect()
}

/// The image's `WorkingDir`, when it sets one.
pub fn working_dir(config: &Value) -> Option<String> {
    config["WorkingDir"].as_str().filter(|d| !d.is_empty()).map(str::to_string)
}

/// The image's `User` as a uid and gid, names looked up in this machine's passwd and group files (the
/// simulated container's root is this machine's). `Ok(None)` when the image sets no user; the error is
/// runc's message for a user that does not exist.
pub fn user(config: &Value) -> Result<Option<(u32, Option<u32>)>, String> {
    let Some(spec) = config["User"].as_str().filter(|u| !u.is_empty()) else { return Ok(None) };
    let (user, group) = match spec.split_once(':') {
        Some((user, group)) => (user, Some(group)),
        None => (spec, None),
    };
    let passwd = match user.parse::<u32>() {
        Ok(uid) => {
            nix::unistd::User::from_uid(uid.into()).ok().flatten().map(|u| (uid, u.gid.as_raw())).or(Some((uid, 0)))
        }
        Err(_) => nix::unistd::User::from_name(user).ok().flatten().map(|u| (u.uid.as_raw(), u.gid.as_raw())),
    };
    let Some((uid, primary_gid)) = passwd else {
        return Err(format!("unable to find user {user}: no matching entries in passwd file"));
    };
    let gid = match group {
        None => Some(primary_gid),
        Some(group) => match group.parse::<u32>() {
            Ok(gid) => Some(gid),
            Err(_) => match nix::unistd::Group::from_name(group).ok().flatten() {
                Some(g) => Some(g.gid.as_raw()),
                None => return Err(format!("unable to find group {group}: no matching entries in group file")),
            },
        },
    };
    Ok(Some((uid, gid)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn list(items: &[&str]) -> Option<Vec<String>> {
        Some(items.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn command_and_args_follow_the_kubernetes_rules() {
        let config = json!({"Entrypoint": ["/bin/sh", "-c"], "Cmd": ["echo image"]});
        assert_eq!(command_line(&None, &None, &config), ["/bin/sh", "-c", "echo image"]);
        assert_eq!(command_line(&None, &list(&["echo pod"]), &config), ["/bin/sh", "-c", "echo pod"]);
        assert_eq!(command_line(&list(&["env"]), &None, &config), ["env"]);
        assert_eq!(command_line(&list(&["echo"]), &list(&["a"]), &config), ["echo", "a"]);
        assert_eq!(command_line(&Some(vec![]), &None, &json!({"Cmd": ["sh"]})), ["sh"]);
        assert!(command_line(&None, &None, &json!({})).is_empty());
    }

    #[test]
    fn env_working_dir_and_user_come_from_the_config() {
        let config = json!({"Env": ["PATH=/bin", "EMPTY=", "A=b=c"], "WorkingDir": "/srv", "User": "1000:1001"});
        assert_eq!(
            env(&config),
            [("PATH".into(), "/bin".into()), ("EMPTY".into(), String::new()), ("A".into(), "b=c".into())]
        );
        assert_eq!(working_dir(&config).as_deref(), Some("/srv"));
        assert_eq!(user(&config), Ok(Some((1000, Some(1001)))));
        assert_eq!(user(&json!({"User": "root"})), Ok(Some((0, Some(0)))));
        assert_eq!(user(&json!({})), Ok(None));
        assert!(user(&json!({"User": "no-such-user-here"}))
            .unwrap_err()
            .contains("no matching entries in passwd file"));
    }
}
