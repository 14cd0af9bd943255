//! A container's byte streams: `logs` (read from `pods/log`, with `log_lines` cutting lines and stamps and
//! `log_merge` merging stdout and stderr back in order), `attach` (output) and `attach_stdin` (stdin and
//! terminal size), `start_handshake` (an attached run's output from `pods/attach`, from its first byte), and
//! `exec`.

pub(crate) mod attach;
pub(crate) mod attach_stdin;
pub(crate) mod exec;
mod log_lines;
mod log_merge;
pub(crate) mod logs;
mod next_run;
pub(crate) mod start_handshake;
