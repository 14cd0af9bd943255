# Shared by the check scripts (sourced, not run): the check runner, expectations and the summary line.
# The sourcing script sets SUITE (its name in the skip list) and WORK (a scratch directory) before calling them.
#
# Environment read here:
#   SKIP_LIST        a skip list file (compat-tests/skip/*.txt; its header says the format): a check listed there
#                    for this SUITE is not run, and is reported as `ok - NAME # SKIP listed: WHY (fixed by: WHAT)`.
#                    Every listed name must be a check of the suite, or the suite fails.
#   SKIP_LIST_VERIFY 1: run the listed checks anyway; one that passes fails the suite ("delete its line"), one
#                    that still fails is reported as skipped.
#   CHECKS_ONLY      space-separated check names: only these run (the others are neither run nor counted).
# shellcheck shell=bash

PASSED=0
FAILED=0
SKIPPED=0
SKIP_RC=77
CHECKS_SEEN=()
if [[ -n ${SKIP_LIST:-} && ! -r $SKIP_LIST ]]; then
  echo "no skip list $SKIP_LIST" >&2
  exit 2
fi

# Records why the running check failed (the first reason wins) and fails.
fail_because() {
  [[ -s $WORK/reason ]] || printf '%s' "$*" >"$WORK/reason"
  return 1
}

# Ends the running check as skipped.
skip_because() {
  printf '%s' "$*" >"$WORK/reason"
  exit "$SKIP_RC"
}

# Shows a value on one line, with its newlines visible.
show() { printf '%s' "$1" | sed -z 's/\n/\\n/g'; }

expect_eq() { # WHAT EXPECTED ACTUAL
  [[ $2 == "$3" ]] || fail_because "$1: expected '$(show "$2")', got '$(show "$3")'"
}

expect_contains() { # WHAT NEEDLE HAYSTACK
  [[ $3 == *"$2"* ]] || fail_because "$1: expected to contain '$(show "$2")', got '$(show "$3")'"
}

# Compares a file's exact bytes (trailing newlines included) with EXPECTED.
expect_file() { # WHAT EXPECTED FILE
  local actual
  printf '%s' "$2" | cmp -s - "$3" && return
  actual=$(cat "$3"; printf .) # the dot keeps trailing newlines
  fail_because "$1: expected '$(show "$2")', got '$(show "${actual%.}")'"
}

# The skip list's entry for this suite's check NAME, as `WHY (fixed by: WHAT)`; fails when it is not listed.
skip_listed() { # NAME
  [[ -n ${SKIP_LIST:-} ]] || return 1
  awk -F'|' -v suite="${SUITE:?}" -v name="$1" '
    function trim(s) { gsub(/^[ \t]+|[ \t]+$/, "", s); return s }
    /^[ \t]*(#|$)/ { next }
    trim($1) == suite && trim($2) == name { print trim($3) " (fixed by: " trim($4) ")"; found = 1; exit }
    END { exit !found }' "$SKIP_LIST"
}

# Runs one check function in a subshell with errexit on; a command that fails unexpectedly fails the check.
check() { # NAME FUNCTION
  local name=$1 rc output listed=
  if [[ -n ${CHECKS_ONLY:-} && " $CHECKS_ONLY " != *" $name "* ]]; then return 0; fi
  CHECKS_SEEN+=("$name")
  if listed=$(skip_listed "$name") && [[ ${SKIP_LIST_VERIFY:-0} != 1 ]]; then
    echo "ok - $name # SKIP listed: $listed"
    SKIPPED=$((SKIPPED + 1))
    return 0
  fi
  : >"$WORK/reason"
  set +e
  (
    set -eE
    trap '[[ -s $WORK/reason ]] || printf "command failed (exit %s): %s" "$?" "$BASH_COMMAND" >"$WORK/reason"' ERR
    "$2"
  ) >"$WORK/check.log" 2>&1
  rc=$?
  set -e
  if [[ -n $listed ]]; then # SKIP_LIST_VERIFY: a listed check must still fail
    if ((rc == 0)); then
      echo "not ok - $name: passes, but is on the skip list $SKIP_LIST: delete its line"
      FAILED=$((FAILED + 1))
    else
      echo "ok - $name # SKIP still fails as listed ($(cat "$WORK/reason")): $listed"
      SKIPPED=$((SKIPPED + 1))
    fi
  elif ((rc == 0)); then
    echo "ok - $name"
    PASSED=$((PASSED + 1))
  elif ((rc == SKIP_RC)); then
    echo "ok - $name # SKIP $(cat "$WORK/reason")"
    SKIPPED=$((SKIPPED + 1))
  else
    output=$(tail -n 3 "$WORK/check.log" | sed -z 's/\n$//; s/\n/ | /g')
    echo "not ok - $name: $(cat "$WORK/reason")${output:+ [output: $output]}"
    FAILED=$((FAILED + 1))
  fi
}

# Stdout and stderr of a command, captured in files, against the expected bytes of each. With
# MERGED_LOG_STREAMS=1 (a cluster that cannot tell the streams apart) both streams together must hold exactly
# the expected lines in any split and order; where a line was written in pieces (a partial line, then its
# newline) the pieces may interleave with the other stream, so then only the bytes are compared: nothing
# lost, nothing duplicated.
expect_streams() { # WHAT OUT_FILE ERR_FILE EXPECTED_OUT EXPECTED_ERR
  if [[ ${MERGED_LOG_STREAMS:-0} == 1 ]]; then
    [[ "$(printf '%s%s' "$4" "$5" | sort)" == "$(cat "$2" "$3" | sort)" ]] && return
    expect_eq "$1: the bytes of stdout and stderr together (merged log streams)" \
      "$(printf '%s%s' "$4" "$5" | od -An -v -tx1 | tr -s ' ' '\n' | sort)" \
      "$(cat "$2" "$3" | od -An -v -tx1 | tr -s ' ' '\n' | sort)"
    return
  fi
  expect_file "$1: stdout" "$4" "$2"
  expect_file "$1: stderr" "$5" "$3"
}

# Names the skip list gives for this suite that are no check of it (a typo, or a renamed or deleted check).
unknown_skip_entries() {
  [[ -n ${SKIP_LIST:-} && -z ${CHECKS_ONLY:-} ]] || return 0
  awk -F'|' -v suite="${SUITE:?}" '
    function trim(s) { gsub(/^[ \t]+|[ \t]+$/, "", s); return s }
    /^[ \t]*(#|$)/ { next }
    trim($1) == suite { print trim($2) }' "$SKIP_LIST" | grep -Fxv -f <(printf '%s\n' "${CHECKS_SEEN[@]}") || true
}

# Prints `N passed, M failed[, K skipped]` and fails when a check failed.
summarize() {
  local unknown
  unknown=$(unknown_skip_entries)
  if [[ -n $unknown ]]; then
    echo "not ok - skip list: $SKIP_LIST names checks that $SUITE does not have: $(show "$unknown")"
    FAILED=$((FAILED + 1))
  fi
  local summary="$PASSED passed, $FAILED failed"
  ((SKIPPED == 0)) || summary+=", $SKIPPED skipped"
  echo "$summary"
  ((FAILED == 0))
}
