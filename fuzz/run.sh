#!/usr/bin/env bash
# Runs every fuzz target for SECONDS seconds each (default 60) with cargo fuzz (libFuzzer), and fails on the first
# crash. Works on the stable toolchain: cargo fuzz needs nightly flags, which RUSTC_BOOTSTRAP=1 allows, and no
# sanitizer (-s none; the targets are safe Rust, so a crash is a panic, which libFuzzer catches either way).
# Installs cargo-fuzz when it is missing. Seeds come from the repository (the create-body golden files) and are
# made at run time; the corpus and any crash are left under target/fuzz-work/ (not committed).
# Usage: bash fuzz/run.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-60}
export RUSTC_BOOTSTRAP=1 CARGO_TERM_COLOR=never
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
work=../target/fuzz-work
rm -rf "$work" && mkdir -p "$work"/{create_body,tar_entries,query}
cp ../crates/translate/src/testdata/*.create.json "$work/create_body/"
printf '%s' '{"Image":"alpine","Cmd":"date","HostConfig":{"GroupAdd":["1000"],"DnsSearch":["x.y"]}}' >"$work/create_body/small"
printf '%s' 't=5&signal=SIGTERM&since=1700000000.5&filters=%7B%22name%22%3A%5B%22a%22%5D%7D' >"$work/query/one"
printf '%s' 'filters={"label":["a=b"],"status":["exited"]}&detachKeys=ctrl-p,ctrl-q&all=1' >"$work/query/two"
seed=$(mktemp -d)
trap 'rm -rf "$seed"' EXIT
mkdir -p "$seed/d" && printf 'hi\n' >"$seed/d/f" && ln -s f "$seed/d/l"
# The first byte tells the target where to split the upload.
{ printf '\x09'; tar -C "$seed" -cf - d; } >"$work/tar_entries/tree"
cargo fuzz build -s none
for target in create_body tar_entries query; do
  echo "== fuzz $target for ${seconds}s"
  cargo fuzz run -s none "$target" "$work/$target" -- -max_total_time="$seconds" -rss_limit_mb=2048 \
    -artifact_prefix="$work/$target-" -print_final_stats=1 2>&1 | grep -E 'Done|stat::number_of_executed_units|stat::new_units_added|ERROR|panicked|SUMMARY' || true
  if ls "$work/$target"-crash-* "$work/$target"-oom-* "$work/$target"-timeout-* >/dev/null 2>&1; then
    echo "fuzz $target: found a failing input (under $work)" >&2
    exit 1
  fi
done
echo "fuzz: 3 passed, 0 failed"
