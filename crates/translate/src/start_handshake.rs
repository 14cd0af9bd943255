//! The start handshake of an attached run: the pod's command waits for one line on its stdin, then `exec`s the
//! container's own command, so an attach connected in between (`pods/attach`, stdout and stderr on channels of
//! their own) sees the process's output from its first byte. After the `exec` the container's program is the
//! container's process (PID 1 in its PID namespace): it gets the signals and its exit code is the container's.
//!
//! The wait is a POSIX shell (`/bin/sh -c`), which the image must have; an image config cannot say whether it
//! has one, so [`has_shell`] looks for evidence in what the image was built with and what it runs, and
//! [`Policy`] lets the operator decide instead.

use std::str::FromStr;

use bollard_stubs::models::{ContainerCreateBody, ImageConfig};
use k8s_openapi::api::core::v1::Pod;

use super::image::History;
use super::labels::START_HANDSHAKE_ANNOTATION;
use super::process::escape;

/// The shell that waits.
pub const SHELL: &str = "/bin/sh";

/// What the shell runs, with the container's command as its positional parameters: one line from stdin (the
/// handshake; at EOF it goes on too), then the command in its place. A program that is not there fails as
/// Docker's start does (exit 127, its words on stderr). [`KEEP_STDIN`] or [`EMPTY_STDIN`] follows.
pub const SCRIPT: &str = r#"read -r _; command -v "$1" >/dev/null || { printf 'exec: "%s": executable file not found in $PATH\n' "$1" >&2; exit 127; }; exec "$@""#;
/// The end of [`SCRIPT`] for a container with `OpenStdin`: the process reads what follows the line.
pub const KEEP_STDIN: &str = "";
/// The end of [`SCRIPT`] for a container without `OpenStdin`: the process's stdin is empty, as Docker gives it
/// (the handshake's session keeps the pod's stdin open until the container ends).
pub const EMPTY_STDIN: &str = " </dev/null";

/// What podshim writes once the output is attached: the line [`SCRIPT`] waits for.
pub const LINE: &[u8] = b"\n";

/// When attached runs wait for the handshake (`--start-handshake`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Policy {
    /// When the image shows it has `/bin/sh` ([`has_shell`]); the logs path otherwise.
    #[default]
    Auto,
    /// Always (every image run attached has `/bin/sh`).
    Always,
    /// Never: attached runs read `pods/log`.
    Never,
}

impl FromStr for Policy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Policy::Auto),
            "always" => Ok(Policy::Always),
            "never" => Ok(Policy::Never),
            other => Err(format!("{other:?}: expected auto, always or never")),
        }
    }
}

/// The command Docker runs for a create body merged with its image's config (see [`super::image_merge`]):
/// Entrypoint (unless reset with `[""]`) followed by Cmd.
pub fn argv(merged: &ContainerCreateBody) -> Vec<String> {
    let entrypoint = merged.entrypoint.as_deref().unwrap_or_default();
    let reset = entrypoint.len() == 1 && entrypoint[0].is_empty();
    let mut argv: Vec<String> = if reset { Vec::new() } else { entrypoint.to_vec() };
    argv.extend(merged.cmd.iter().flatten().cloned());
    argv
}

/// Whether `word` (a program as a command names it) is a POSIX shell of a usual userland, which has `/bin/sh`.
fn is_shell(word: &str) -> bool {
    let name = match word.rsplit_once('/') {
        Some(("/bin" | "/usr/bin", name)) => name,
        Some(_) => return false,
        None => word,
    };
    matches!(name, "sh" | "bash" | "ash" | "dash")
}

/// The first string of a JSON-like list as image history prints `CMD` and `ENTRYPOINT` (`["/bin/sh"]`, or
/// buildkit's `["/bin/sh" "-c" "x"]`).
fn first_listed(list: &str) -> Option<&str> {
    let rest = list.trim_start().strip_prefix('[')?.trim_start().strip_prefix('"')?;
    rest.split_once('"').map(|(first, _)| first)
}

/// One history entry's evidence of a shell: a `RUN` step in shell form (it ran a shell when the image was built),
/// or a `CMD`/`ENTRYPOINT` that runs one. Classic builder: `/bin/sh -c <command>`, metadata as
/// `/bin/sh -c #(nop)  CMD [...]`; buildkit: `RUN /bin/sh -c <command> # buildkit`, `CMD [...]`; either with
/// build arguments first (`|2 A=1 B=2 /bin/sh -c ...`) or shell options (`/bin/bash -o pipefail -c ...`).
fn shows_shell(created_by: &str) -> bool {
    let step = created_by.trim();
    if let Some((program, command)) = step.split_once(" -c ") {
        if program.split_whitespace().any(is_shell) {
            return match command.trim_start().strip_prefix("#(nop)") {
                Some(metadata) => runs_listed_shell(metadata.trim()),
                None => true,
            };
        }
    }
    runs_listed_shell(step)
}

/// `CMD [...]` or `ENTRYPOINT [...]` whose program is a shell.
fn runs_listed_shell(step: &str) -> bool {
    ["CMD", "ENTRYPOINT"].iter().any(|keyword| step.strip_prefix(keyword).and_then(first_listed).is_some_and(is_shell))
}

/// Whether there is evidence that the image has `/bin/sh`: the container's command, or the image's Entrypoint or
/// Cmd, runs a shell; or its history has a step that ran one (a shell-form `RUN`) or set one as `CMD` or
/// `ENTRYPOINT` (the base images' own `CMD ["/bin/sh"]` is kept in the history of images built on them). An image
/// without any (distroless, `FROM scratch` with a static binary) takes the logs path.
pub fn has_shell(argv: &[String], image: Option<&ImageConfig>, history: &[History]) -> bool {
    let runs_shell = |list: Option<&Vec<String>>| list.and_then(|l| l.first()).is_some_and(|w| is_shell(w));
    argv.first().is_some_and(|w| is_shell(w))
        || image.is_some_and(|i| runs_shell(i.entrypoint.as_ref()) || runs_shell(i.cmd.as_ref()))
        || history.iter().filter_map(|h| h.created_by.as_deref()).any(shows_shell)
}

/// Wraps the pod's container in the handshake: command `/bin/sh -c SCRIPT sh`, the container's `argv` as args
/// (escaped for Kubernetes' `$(VAR)` expansion), stdin open. With `open_stdin` (Docker's `OpenStdin`) the
/// process reads the pod's stdin after the line and `stdin_once` is the container's `StdinOnce`; without, its
/// stdin is empty and the pod's stdin closes when the handshake's session ends.
pub fn wrap(pod: &mut Pod, argv: &[String], open_stdin: bool, stdin_once: bool) {
    let Some(container) = pod.spec.as_mut().and_then(|s| s.containers.first_mut()) else { return };
    let script = format!("{SCRIPT}{}", if open_stdin { KEEP_STDIN } else { EMPTY_STDIN });
    container.command = Some(vec![SHELL.to_string(), "-c".to_string(), escape(&script), "sh".to_string()]);
    container.args = Some(argv.iter().map(|a| escape(a)).collect());
    container.stdin = Some(true);
    container.stdin_once = Some(stdin_once || !open_stdin);
    pod.metadata
        .annotations
        .get_or_insert_with(Default::default)
        .insert(START_HANDSHAKE_ANNOTATION.into(), "true".into());
}

/// Whether a pod waits for the handshake.
pub fn is_wrapped(pod: &Pod) -> bool {
    pod.metadata.annotations.as_ref().and_then(|a| a.get(START_HANDSHAKE_ANNOTATION)).is_some_and(|v| v == "true")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn history(lines: &[&str]) -> Vec<History> {
        lines.iter().map(|l| History { created_by: Some(l.to_string()), ..Default::default() }).collect()
    }

    #[test]
    fn argv_is_entrypoint_then_cmd_and_a_reset_entrypoint_is_none() {
        let body = |ep: Option<&[&str]>, cmd: Option<&[&str]>| ContainerCreateBody {
            entrypoint: ep.map(strings),
            cmd: cmd.map(strings),
            ..Default::default()
        };
        assert_eq!(argv(&body(Some(&["/entry.sh"]), Some(&["serve"]))), strings(&["/entry.sh", "serve"]));
        assert_eq!(argv(&body(Some(&[""]), Some(&["echo", "hi"]))), strings(&["echo", "hi"]));
        assert_eq!(argv(&body(None, Some(&["sh"]))), strings(&["sh"]));
    }

    #[test]
    fn shells_are_known_by_name_in_the_usual_places() {
        for yes in ["sh", "/bin/sh", "bash", "/usr/bin/bash", "/bin/ash", "dash"] {
            assert!(is_shell(yes), "{yes}");
        }
        for no in ["python3", "/app/sh", "/usr/local/bin/bash", "", "shell"] {
            assert!(!is_shell(no), "{no}");
        }
    }

    #[test]
    fn history_shows_a_shell_in_run_steps_and_shell_commands_of_either_builder() {
        let yes = [
            "/bin/sh -c apk add --no-cache python3",
            "|2 VERSION=1 OTHER=a b /bin/sh -c make install",
            "RUN /bin/sh -c set -eux; ./configure; make install # buildkit",
            "RUN |1 TARGETARCH=amd64 /bin/sh -c go build # buildkit",
            "/bin/sh -c #(nop)  CMD [\"/bin/sh\"]",
            "CMD [\"sh\"]",
            "CMD [\"/bin/sh\" \"-c\" \"exec app\"]",
            "ENTRYPOINT [\"/bin/bash\"]",
            "RUN /bin/bash -o pipefail -c curl x | tar x # buildkit",
        ];
        for line in yes {
            assert!(shows_shell(line), "{line}");
        }
        let no = [
            "/bin/sh -c #(nop) ADD file:abc in / ",
            "/bin/sh -c #(nop) COPY file:abc in /app ",
            "/bin/sh -c #(nop)  CMD [\"/app\"]",
            "COPY hello / # buildkit",
            "CMD [\"/hello\"]",
            "ENTRYPOINT [\"/docker-entrypoint.sh\"]",
            "bazel build //base:static",
            "realk8s oci_image.py busybox",
            "",
        ];
        for line in no {
            assert!(!shows_shell(line), "{line}");
        }
    }

    #[test]
    fn evidence_comes_from_the_command_the_image_config_or_its_history() {
        let alpine = ImageConfig { cmd: Some(strings(&["/bin/sh"])), ..Default::default() };
        assert!(has_shell(&strings(&["echo", "hi"]), Some(&alpine), &[]));
        assert!(has_shell(&strings(&["sh", "-c", "x"]), None, &[]));
        let python = ImageConfig { cmd: Some(strings(&["python3"])), ..Default::default() };
        let built = history(&["ENV LANG=C.UTF-8", "RUN /bin/sh -c make install # buildkit", "CMD [\"python3\"]"]);
        assert!(has_shell(&strings(&["python3", "job.py"]), Some(&python), &built));
        let distroless = ImageConfig { entrypoint: Some(strings(&["/app"])), ..Default::default() };
        let copied = history(&["COPY app / # buildkit", "ENTRYPOINT [\"/app\"]"]);
        assert!(!has_shell(&strings(&["/app"]), Some(&distroless), &copied));
        assert!(!has_shell(&[], None, &[]));
    }

    #[test]
    fn wrapping_keeps_the_command_as_positional_parameters_escaped_for_kubernetes() {
        let mut pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "main", "image": "alpine", "args": ["old"]}]},
        }))
        .unwrap();
        wrap(&mut pod, &strings(&["sh", "-c", "echo $(HOME) $1"]), false, false);
        let c = &pod.spec.as_ref().unwrap().containers[0];
        let command = c.command.clone().unwrap();
        assert_eq!(command[..2], strings(&["/bin/sh", "-c"]));
        assert_eq!(command[2], format!("{SCRIPT} </dev/null").replace('$', "$$"));
        assert_eq!(command[3], "sh");
        assert_eq!(c.args.clone().unwrap(), strings(&["sh", "-c", "echo $$(HOME) $$1"]));
        assert_eq!((c.stdin, c.stdin_once), (Some(true), Some(true)));
        assert!(is_wrapped(&pod));
        wrap(&mut pod, &strings(&["cat"]), true, false);
        let c = &pod.spec.as_ref().unwrap().containers[0];
        assert_eq!(c.command.clone().unwrap()[2], SCRIPT.replace('$', "$$"), "the process reads the pod's stdin");
        assert_eq!(c.stdin_once, Some(false), "the container's StdinOnce");
    }

    #[test]
    fn the_script_releases_the_command_after_one_line_with_its_arguments_intact() {
        let sh = std::path::Path::new(SHELL);
        if !sh.exists() {
            return;
        }
        let run = |script: &str, input: &[u8], argv: &[&str]| {
            use std::io::Write;
            let mut child = std::process::Command::new(SHELL)
                .args(["-c", script, "sh"])
                .args(argv)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            child.stdin.take().unwrap().write_all(input).unwrap();
            let out = child.wait_with_output().unwrap();
            (
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
                out.status.code(),
            )
        };
        let keep = format!("{SCRIPT}{KEEP_STDIN}");
        assert_eq!(run(&keep, b"\na b\n", &["cat"]), ("a b\n".into(), String::new(), Some(0)));
        let empty = format!("{SCRIPT}{EMPTY_STDIN}");
        assert_eq!(run(&empty, b"\nnot for it\n", &["cat"]), (String::new(), String::new(), Some(0)));
        assert_eq!(run(&empty, b"\n", &["printf", "%s|", "a b", "$(x)"]), ("a b|$(x)|".into(), String::new(), Some(0)));
        let (_, err, code) = run(&empty, b"\n", &["no-such-program-x"]);
        assert_eq!(
            (err.as_str(), code),
            ("exec: \"no-such-program-x\": executable file not found in $PATH\n", Some(127))
        );
    }

    #[test]
    fn the_policy_reads_its_three_words() {
        assert_eq!("auto".parse(), Ok(Policy::Auto));
        assert_eq!("never".parse(), Ok(Policy::Never));
        assert_eq!("always".parse(), Ok(Policy::Always));
        assert!("yes".parse::<Policy>().is_err());
    }
}
