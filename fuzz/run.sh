#!/usr/bin/env bash
# Runs every fuzz target for SECONDS seconds each (default 60) with libFuzzer, and fails on the first crash.
# Builds the targets with cargo and the flags cargo-fuzz would pass (SanitizerCoverage instrumentation, `--cfg
# fuzzing`, debug assertions; no sanitizer: the targets are safe Rust, so a crash is a panic, which libFuzzer
# catches either way), on the stable toolchain and without installing cargo-fuzz. `--target` keeps the
# instrumentation off build scripts and proc macros. Seeds come from the repository (the create-body golden files)
# and are made at run time; the corpus and any crash are left under target/fuzz-work/ (not committed).
# Usage: bash fuzz/run.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-60}
export CARGO_TERM_COLOR=never CARGO_INCREMENTAL=0
triple=$(rustc -vV | sed -n 's/^host: //p')
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
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
cargo build --locked --release --target "$triple" --bins
bin=target/$triple/release
for target in create_body tar_entries query; do
  echo "== fuzz $target for ${seconds}s"
  "$bin/$target" "$work/$target" -max_total_time="$seconds" -rss_limit_mb=2048 \
    -artifact_prefix="$work/$target-" -print_final_stats=1 2>&1 | grep -E 'Done|stat::number_of_executed_units|stat::new_units_added|ERROR|panicked|SUMMARY' || true
  if ls "$work/$target"-crash-* "$work/$target"-oom-* "$work/$target"-timeout-* >/dev/null 2>&1; then
    echo "fuzz $target: found a failing input (under $work)" >&2
    exit 1
  fi
done
echo "fuzz: 3 passed, 0 failed"
