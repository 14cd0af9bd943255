"""The skip list for the pytest suites (docker-py, docker-py-interactive, testcontainers): the conftest.py of each
suite folder imports its hook. The format is in the header of compat-tests/skip/*.txt; the CLI scripts read the
same file (compat-tests/checks.sh).

- SKIP_LIST=FILE: a test listed there for its suite is skipped with the reason and the capability that will fix
  it (pytest's `-rs` prints them). A listed name that is no test of the suite's files is a usage error.
- SKIP_LIST_VERIFY=1: listed tests run as strict expected failures: one that passes fails the run ("delete its
  line").
"""

import os

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))


def read(path):
    """{(suite, name): "WHY (fixed by: WHAT)"} of a skip list file."""
    entries = {}
    if not os.path.isfile(path):
        raise pytest.UsageError(f"no skip list {path}")
    with open(path, encoding="utf-8") as f:
        for number, raw in enumerate(f, 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            fields = [field.strip() for field in line.split("|")]
            if len(fields) != 4 or not all(fields):
                raise pytest.UsageError(f"{path}:{number}: expected `SUITE | CHECK | WHY | FIXED BY`, got: {line}")
            suite, name, why, fix = fields
            entries[(suite, name)] = f"{why} (fixed by: {fix})"
    return entries


def suite_of(item):
    """The suite of a test's file, as compat-tests/docker-suites.sh labels it."""
    path = os.path.relpath(str(item.fspath), HERE)
    if path == os.path.join("dockerpy", "test_interactive.py"):
        return "docker-py-interactive"
    return {"dockerpy": "docker-py", "testcontainers": "testcontainers"}.get(path.split(os.sep)[0])


def pytest_collection_modifyitems(config, items):
    path = os.environ.get("SKIP_LIST")
    if not path:
        return
    entries = read(path)
    verify = os.environ.get("SKIP_LIST_VERIFY") == "1"
    known = set()
    for item in items:
        suite = suite_of(item)
        if suite is None:
            continue
        # Every test of the file, also those deselected or filtered out, so the names can be checked.
        known |= {(suite, name) for name in dir(item.module) if name.startswith("test")}
        name = getattr(item, "originalname", None) or item.name
        listed = entries.get((suite, name))
        if listed is None:
            continue
        if verify:
            item.add_marker(pytest.mark.xfail(strict=True, reason=f"on the skip list {path}: {listed}"))
        else:
            item.add_marker(pytest.mark.skip(reason=f"{name}: listed: {listed}"))
    collected = {suite_of(item) for item in items}
    unknown = sorted(f"{s} | {n}" for (s, n) in entries if s in collected and (s, n) not in known)
    if unknown:
        raise pytest.UsageError(f"{path} names tests these suites do not have: {', '.join(unknown)}")
