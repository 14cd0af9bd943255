//! `docker exec` -> the argv of a Kubernetes `pods/exec`, and the exec's exit code from the final `Status`.
//!
//! Kubernetes exec runs a command in the container's environment, working directory and user, with no way to
//! change any of them. Docker's `Env`, `WorkingDir` and `User` are honoured by running the command through a
//! small fixed POSIX `sh` script ([`WRAPPER`]); the values travel as positional parameters, never inside the
//! script text, so no value can be mis-quoted or run as code.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;

use super::TranslateError;

/// What `docker exec` asks for, as far as the command line in the container goes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecCommand {
    pub cmd: Vec<String>,
    /// `K=V` entries added to (or replacing in) the container's environment.
    pub env: Vec<String>,
    /// Empty: the container's working directory.
    pub working_dir: String,
    /// `user`, `uid`, `user:group` or `uid:gid`; empty: the container's user.
    pub user: String,
}

/// The wrapper run with `/bin/sh -c` when `Env`, `WorkingDir` or `User` is set. Its parameters: the working
/// directory (or empty), the user (or empty), the number of `K=V` entries, the entries, then the command and
/// its arguments.
///
/// What the image must contain:
/// - `/bin/sh` (any POSIX shell) for any of `-e`, `-w`, `-u`. Without it Kubernetes fails to start the exec,
///   and podshim reports that failure, naming `/bin/sh`, with exit code 126 (127 when not found).
/// - for `-u`: `setpriv` (util-linux), `su-exec` or `gosu`, tried in that order, and `id` when no group is given
///   (the user's primary group; `0` when the user has no passwd entry, as Docker). Without one of the three the
///   wrapper prints `podshim: exec -u <user> needs setpriv, su-exec or gosu in the image` on stderr and exits 126.
///   Supplementary groups are cleared (Docker would add the user's groups from `/etc/group`).
///
/// A user name without a passwd entry fails with exit 126 and Docker's words (`unable to find user ...`); a
/// directory that does not exist fails with exit 126, as Docker (`chdir to cwd ... failed`).
pub const WRAPPER: &str = r#"d=$1 u=$2 n=$3
shift 3
while [ "$n" -gt 0 ]; do
  export "$1" || { printf 'podshim: exec -e: cannot set %s\n' "$1" >&2; exit 126; }
  shift; n=$((n - 1))
done
if [ -n "$d" ]; then
  cd -- "$d" 2>/dev/null || { printf 'podshim: exec -w %s: cannot change to this directory\n' "$d" >&2; exit 126; }
fi
if [ -n "$u" ]; then
  uid=${u%%:*} gid=
  case $u in *:*) gid=${u#*:} ;; esac
  case $uid in *[!0-9]*)
    if command -v id >/dev/null 2>&1 && ! id -u "$uid" >/dev/null 2>&1; then
      printf 'podshim: unable to find user %s: no matching entries in passwd file\n' "$uid" >&2; exit 126
    fi ;;
  esac
  if [ -z "$gid" ]; then gid=$(id -g "$uid" 2>/dev/null) || gid=0; fi
  if command -v setpriv >/dev/null 2>&1; then exec setpriv --reuid "$uid" --regid "$gid" --clear-groups -- "$@"; fi
  if command -v su-exec >/dev/null 2>&1; then exec su-exec "$uid:$gid" "$@"; fi
  if command -v gosu >/dev/null 2>&1; then exec gosu "$uid:$gid" "$@"; fi
  printf 'podshim: exec -u %s needs setpriv, su-exec or gosu in the image\n' "$u" >&2
  exit 126
fi
exec "$@""#;

/// The shell the wrapper runs in.
pub const SHELL: &str = "/bin/sh";

/// `$0` of the wrapper (shows in `ps` and in shell error messages).
const WRAPPER_NAME: &str = "podshim-exec";

/// The argv for `pods/exec`: the command as given when nothing needs the wrapper, else `/bin/sh -c WRAPPER`
/// with the values as positional parameters.
pub fn exec_argv(command: &ExecCommand) -> Vec<String> {
    if !needs_wrapper(command) {
        return command.cmd.clone();
    }
    let mut argv = vec![SHELL.to_string(), "-c".to_string(), WRAPPER.to_string(), WRAPPER_NAME.to_string()];
    argv.push(command.working_dir.clone());
    argv.push(command.user.clone());
    argv.push(command.env.len().to_string());
    argv.extend(command.env.iter().cloned());
    argv.extend(command.cmd.iter().cloned());
    argv
}

/// An exec's `WorkingDir`: empty (the container's) or absolute. Docker 20.10 accepts a relative one and fails
/// the exec at start (126, the runtime's "Cwd must be an absolute path"); newer Docker refuses it at create,
/// with these words.
pub fn check_working_dir(dir: &str) -> Result<(), TranslateError> {
    if dir.is_empty() || dir.starts_with('/') {
        return Ok(());
    }
    Err(TranslateError::InvalidParameter(format!(
        "the working directory '{dir}' is invalid, it needs to be an absolute path"
    )))
}

/// `Env` entries the wrapper can set: the name must be a shell variable name (`export` in the wrapper would
/// fail on another). Docker passes any name to the process; podshim refuses the exec with 400 instead.
pub fn check_env(env: &[String]) -> Result<(), TranslateError> {
    for entry in env {
        let name = entry.split_once('=').map_or(entry.as_str(), |(name, _)| name);
        let mut chars = name.chars();
        let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(TranslateError::unsupported(
                format!("Env {name:?} (docker exec -e)"),
                "podshim sets exec variables with a POSIX shell, which takes only names of letters, digits and _",
            ));
        }
    }
    Ok(())
}

/// Docker's `ConsoleSize` (`[height, width]`) as a terminal size; `None` when absent, malformed or zero.
pub fn console_size(size: Option<&[usize]>) -> Option<(u16, u16)> {
    match size? {
        [h, w] if *h > 0 && *w > 0 => Some((u16::try_from(*h).ok()?, u16::try_from(*w).ok()?)),
        _ => None,
    }
}

/// Whether the command runs through the wrapper.
pub fn needs_wrapper(command: &ExecCommand) -> bool {
    !command.env.is_empty() || !command.working_dir.is_empty() || !command.user.is_empty()
}

/// The exec's exit code from the `Status` Kubernetes sends at the end: `Success` -> 0; `NonZeroExitCode` -> the
/// `ExitCode` cause; any other failure means the command could not run: 127 when it was not found, else 126
/// (the codes a shell and Docker use).
pub fn exit_code(status: &Status) -> i64 {
    if status.status.as_deref() == Some("Success") {
        return 0;
    }
    let causes = status.details.as_ref().and_then(|d| d.causes.as_ref());
    let code = causes
        .into_iter()
        .flatten()
        .find(|c| c.reason.as_deref() == Some("ExitCode"))
        .and_then(|c| c.message.as_deref())
        .and_then(|m| m.trim().parse::<i64>().ok());
    match code {
        Some(code) if status.reason.as_deref() == Some("NonZeroExitCode") => code,
        _ if not_found(status.message.as_deref().unwrap_or_default()) => 127,
        _ => 126,
    }
}

/// The message for a command that could not run (no exit code), naming `/bin/sh` when the wrapper was in use.
pub fn start_failure_message(status: &Status, wrapped: bool) -> Option<String> {
    if status.status.as_deref() == Some("Success") || status.reason.as_deref() == Some("NonZeroExitCode") {
        return None;
    }
    let message = status.message.clone().unwrap_or_else(|| "the command could not be started".to_string());
    Some(match wrapped {
        true => format!("podshim: exec -e/-w/-u runs the command through {SHELL}, which failed: {message}\n"),
        false => format!("{message}\n"),
    })
}

fn not_found(message: &str) -> bool {
    message.contains("not found") || message.contains("no such file")
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{StatusCause, StatusDetails};

    use super::*;

    fn spec(cmd: &[&str], env: &[&str], dir: &str, user: &str) -> ExecCommand {
        ExecCommand {
            cmd: cmd.iter().map(|s| s.to_string()).collect(),
            env: env.iter().map(|s| s.to_string()).collect(),
            working_dir: dir.to_string(),
            user: user.to_string(),
        }
    }

    /// Runs the argv on this host (which has `/bin/sh`), returning (stdout, stderr, code).
    fn run(argv: &[String]) -> (String, String, i32) {
        let out = Command::new(&argv[0]).args(&argv[1..]).output().unwrap();
        let text = |b: Vec<u8>| String::from_utf8(b).unwrap();
        (text(out.stdout), text(out.stderr), out.status.code().unwrap_or(-1))
    }

    #[test]
    fn a_plain_command_runs_as_given() {
        let command = spec(&["sh", "-c", "exit 5"], &[], "", "");
        assert_eq!(exec_argv(&command), vec!["sh", "-c", "exit 5"]);
    }

    #[test]
    fn env_and_workdir_go_through_the_wrapper_as_parameters() {
        let command = spec(&["echo", "x"], &["K=V"], "/tmp", "");
        let argv = exec_argv(&command);
        assert_eq!(&argv[..2], ["/bin/sh", "-c"]);
        assert_eq!(&argv[3..], ["podshim-exec", "/tmp", "", "1", "K=V", "echo", "x"]);
    }

    #[test]
    fn awkward_values_arrive_unchanged() {
        let nasty = "a b 'q' \"d\" $HOME `id` $(id) \\n\nline2";
        let env = format!("K={nasty}");
        let dir = std::env::temp_dir().join("podshim exec 'dir' $x");
        std::fs::create_dir_all(&dir).unwrap();
        let command = spec(
            &["sh", "-c", "printf '%s|%s|%s' \"$K\" \"$(pwd)\" \"$1\"", "zero", nasty],
            &[&env, "EMPTY="],
            dir.to_str().unwrap(),
            "",
        );
        let (out, err, code) = run(&exec_argv(&command));
        assert_eq!((code, err.as_str()), (0, ""));
        assert_eq!(out, format!("{nasty}|{}|{nasty}", dir.display()));
    }

    #[test]
    fn the_exit_code_and_streams_pass_through() {
        let command = spec(&["sh", "-c", "echo o; echo e >&2; exit 7"], &["A=1"], "", "");
        assert_eq!(run(&exec_argv(&command)), ("o\n".into(), "e\n".into(), 7));
    }

    #[test]
    fn an_unknown_user_name_fails_with_126_and_dockers_words() {
        let (_, err, code) = run(&exec_argv(&spec(&["true"], &[], "", "no-such-user-x")));
        assert_eq!(code, 126);
        assert_eq!(err, "podshim: unable to find user no-such-user-x: no matching entries in passwd file\n");
    }

    #[test]
    fn env_names_must_be_shell_names() {
        assert!(check_env(&["K=V".into(), "_a1=x=y".into(), "EMPTY".into()]).is_ok());
        let err = check_env(&["1A=b".into()]).unwrap_err();
        assert_eq!(err.status_code(), 400);
        assert!(err.to_string().starts_with("Env \"1A\" (docker exec -e) is not supported by podshim"), "{err}");
        assert!(check_env(&["A-B=c".into()]).is_err());
    }

    #[test]
    fn console_size_is_height_then_width() {
        assert_eq!(console_size(Some(&[30, 100])), Some((30, 100)));
        assert_eq!(console_size(Some(&[0, 0])), None);
        assert_eq!(console_size(Some(&[1, 2, 3])), None);
        assert_eq!(console_size(Some(&[70_000, 1])), None);
        assert_eq!(console_size(None), None);
    }

    #[test]
    fn a_missing_directory_fails_with_126_and_says_so() {
        let (_, err, code) = run(&exec_argv(&spec(&["true"], &[], "/no/such dir", "")));
        assert_eq!(code, 126);
        assert!(err.contains("podshim: exec -w /no/such dir: cannot change to this directory"), "{err}");
    }

    #[test]
    fn the_user_switch_names_the_tools_it_needs_when_none_is_found() {
        // An empty PATH: no setpriv, su-exec or gosu (command -v finds nothing; `id` is not needed with a group).
        let mut argv = exec_argv(&spec(&["true"], &["PATH=/nonexistent"], "", "1000:1000"));
        argv[2] = argv[2].replacen("while", "PATH=/nonexistent\nwhile", 1);
        let (_, err, code) = run(&argv);
        assert_eq!(code, 126);
        assert_eq!(err, "podshim: exec -u 1000:1000 needs setpriv, su-exec or gosu in the image\n");
    }

    fn status(status: &str, reason: Option<&str>, message: &str, code: Option<&str>) -> Status {
        Status {
            status: Some(status.into()),
            reason: reason.map(Into::into),
            message: Some(message.into()),
            details: code.map(|c| StatusDetails {
                causes: Some(vec![StatusCause {
                    reason: Some("ExitCode".into()),
                    message: Some(c.into()),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn exit_codes_come_from_the_status() {
        assert_eq!(exit_code(&status("Success", None, "", None)), 0);
        let failed =
            status("Failure", Some("NonZeroExitCode"), "command terminated with non-zero exit code", Some("5"));
        assert_eq!(exit_code(&failed), 5);
        assert_eq!(start_failure_message(&failed, true), None);
        let missing = status("Failure", Some("InternalError"), "exec: \"/bin/sh\": executable file not found", None);
        assert_eq!(exit_code(&missing), 127);
        assert!(start_failure_message(&missing, true).unwrap().contains("/bin/sh"));
        assert_eq!(exit_code(&status("Failure", Some("InternalError"), "permission denied", None)), 126);
    }
}

#[cfg(test)]
mod working_dir_tests {
    use super::*;

    #[test]
    fn an_exec_working_dir_must_be_absolute() {
        assert!(check_working_dir("").is_ok() && check_working_dir("/tmp").is_ok());
        assert_eq!(
            check_working_dir("rel/dir").unwrap_err().to_string(),
            "the working directory 'rel/dir' is invalid, it needs to be an absolute path"
        );
    }
}
