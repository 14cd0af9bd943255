"""The code runners' pattern: a Python service runs `docker run --rm ...` through subprocess with
capture_output=True, takes the result from stdout and the diagnostics from stderr, and the exit code.

    DOCKER_HOST=unix:///path/to/docker.sock python3 -m pytest -q compat-tests/dockerpy/test_code_runner.py

As with the rest of this folder, every check encodes what a real Docker Engine answers, and holds on podshim on
any Kubernetes: an attached `docker run` keeps stdout and stderr apart (docs/streams.md).
"""

import subprocess

from compat import IMAGE, RUN_ID, RUN_LABEL


def run(*args, stdin=None):
    """`docker run --rm` of IMAGE with ARGS, as a code runner calls it."""
    command = ["docker", "run", "--rm", "--label", f"{RUN_LABEL}={RUN_ID}", *args]
    return subprocess.run(command, capture_output=True, input=stdin, timeout=180)


def test_the_result_and_the_diagnostics_arrive_apart(client):
    job = 'echo \'{"result": 42}\'; echo "warning: took 1 ms" >&2'
    done = run(IMAGE, "sh", "-c", job)
    assert (done.returncode, done.stdout, done.stderr) == (0, b'{"result": 42}\n', b"warning: took 1 ms\n")


def test_a_failing_job_gives_its_exit_code_and_its_error_on_stderr_only(client):
    job = 'echo partial; echo "Traceback: ValueError" >&2; exit 2'
    done = run(IMAGE, "sh", "-c", job)
    assert (done.returncode, done.stdout, done.stderr) == (2, b"partial\n", b"Traceback: ValueError\n")


def test_a_job_fed_on_stdin_answers_on_stdout(client):
    job = 'read a b; echo $((a + b)); echo "read two numbers" >&2'
    done = run("-i", IMAGE, "sh", "-c", job, stdin=b"20 22\n")
    assert (done.returncode, done.stdout, done.stderr) == (0, b"42\n", b"read two numbers\n")


def test_many_lines_on_both_streams_keep_their_order_within_each(client):
    job = "i=0; while [ $i -lt 500 ]; do echo out-$i; echo err-$i >&2; i=$((i + 1)); done"
    done = run(IMAGE, "sh", "-c", job)
    assert done.returncode == 0
    assert done.stdout.decode().splitlines() == [f"out-{i}" for i in range(500)]
    assert done.stderr.decode().splitlines() == [f"err-{i}" for i in range(500)]
