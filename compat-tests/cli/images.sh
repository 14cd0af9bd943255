#!/usr/bin/env bash
# docker CLI compatibility checks for images: pull, images, image inspect, history, tag, rmi, prune, events, and
# `docker run` of an image not pulled yet.
#
#   DOCKER_HOST=unix:///path/to/docker.sock bash compat-tests/cli/images.sh
#
# Every check encodes what a real Docker Engine answers (checked against Docker 20.10 pulling from the same kind of
# registry, distribution 2.8), so the same script runs against Docker and against podshim. The endpoint must pull
# Docker Hub's `alpine` and `busybox` (the same image) from its registry: podshim --sim from the simulated
# cluster's registry, podshim on a cluster with `--registry-mirror` pointing where the nodes pull from.
#
# Environment: DOCKER_HOST (required), DOCKER (default docker), IMAGE (default alpine), OTHER_IMAGE (an image
# no container of this run uses, default busybox).
set -euo pipefail

PREFIX=img
SUITE=cli-images
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
OTHER_IMAGE=${OTHER_IMAGE:-busybox}
REPO="podshim-compat/$RUN_ID"
CLEANUP_HOOKS+=("d rmi -f $REPO:a $REPO:b")

image_id() { d image inspect -f '{{.Id}}' "$1"; }

check_pull_lines() {
  d pull "$IMAGE" >"$WORK/out" 2>"$WORK/err" || fail_because "docker pull $IMAGE failed: $(cat "$WORK/err")"
  local out
  out=$(cat "$WORK/out")
  expect_contains "pull: first line" "latest: Pulling from library/$IMAGE" "$out"
  [[ $out =~ Digest:\ sha256:[0-9a-f]{64} ]] || fail_because "pull: no Digest line: $(show "$out")"
  expect_contains "pull: status" "Status: Image is up to date for $IMAGE:latest" "$out"
  expect_eq "pull: last line" "docker.io/library/$IMAGE:latest" "$(tail -n 1 "$WORK/out")"
}

check_images_columns() {
  local id line
  id=$(image_id "$IMAGE")
  line=$(d images --format '{{.Repository}} {{.Tag}} {{.ID}} {{.CreatedSince}} {{.Size}}' "$IMAGE:latest")
  [[ $line =~ ^$IMAGE\ latest\ ${id:7:12}\ .+\ [0-9.]+[kMG]?B$ ]] || fail_because "docker images: '$line'"
  expect_eq "docker images -q" "${id:7:12}" "$(d images -q "$IMAGE:latest")"
}

check_unknown_image() {
  local what=nosuch-$RUN_ID
  run_rc d image inspect "$what" >"$WORK/out" 2>"$WORK/err"
  expect_eq "image inspect: exit code" 1 "$RC"
  expect_contains "image inspect: stderr" "No such image: $what:latest" "$(cat "$WORK/err")"
  run_rc d inspect "$what" >"$WORK/out" 2>"$WORK/err"
  expect_eq "inspect: exit code" 1 "$RC"
  expect_contains "inspect: stderr" "Error: No such object: $what" "$(cat "$WORK/err")"
  run_rc d rmi "$what" >"$WORK/out" 2>"$WORK/err"
  expect_contains "rmi: stderr" "Error response from daemon: No such image: $what:latest" "$(cat "$WORK/err")"
}

check_inspect_removed_container() {
  local name
  name=$(cname gone)
  d run --label "$LABEL" --name "$name" "$IMAGE" true >/dev/null
  d rm "$name" >/dev/null
  run_rc d inspect "$name" >"$WORK/out" 2>"$WORK/err"
  expect_eq "exit code" 1 "$RC"
  expect_eq "stderr" "Error: No such object: $name" "$(cat "$WORK/err")"
}

check_pull_missing() {
  run_rc d pull "nosuch/x$RUN_ID" >"$WORK/out" 2>"$WORK/err"
  expect_eq "missing repository: exit code" 1 "$RC"
  expect_contains "missing repository: stderr" \
    "pull access denied for nosuch/x$RUN_ID, repository does not exist or may require 'docker login'" "$(cat "$WORK/err")"
  run_rc d pull "$IMAGE:nosuch$RUN_ID" >"$WORK/out" 2>"$WORK/err"
  expect_eq "missing tag: exit code" 1 "$RC"
  expect_contains "missing tag: stderr" \
    "Error response from daemon: manifest for $IMAGE:nosuch$RUN_ID not found: manifest unknown" "$(cat "$WORK/err")"
}

check_run_pulls_first() {
  d rmi -f "$OTHER_IMAGE" >/dev/null 2>&1 || true
  run_rc d run --rm --label "$LABEL" "$OTHER_IMAGE" echo pulled-and-ran >"$WORK/out" 2>"$WORK/err"
  expect_eq "exit code" 0 "$RC"
  expect_eq "stdout" "pulled-and-ran" "$(cat "$WORK/out")"
  expect_contains "stderr" "Unable to find image '$OTHER_IMAGE:latest' locally" "$(cat "$WORK/err")"
  expect_contains "stderr" "Status: Downloaded newer image for $OTHER_IMAGE:latest" "$(cat "$WORK/err")"
}

check_one_image_id() {
  local name id
  name=$(cname id)
  d create --label "$LABEL" --name "$name" "$IMAGE" true >/dev/null
  id=$(image_id "$IMAGE")
  expect_eq "container inspect .Image" "$id" "$(d inspect -f '{{.Image}}' "$name")"
  expect_eq "container inspect .Config.Image" "$IMAGE" "$(d inspect -f '{{.Config.Image}}' "$name")"
  expect_eq "ps --filter ancestor" "$name" "$(d ps -a --filter "ancestor=${id:7:12}" --filter "name=$name" --format '{{.Names}}')"
  d rm "$name" >/dev/null
}

check_tag_history_untag() {
  local id
  id=$(image_id "$IMAGE")
  d tag "$IMAGE" "$REPO:a"
  expect_eq "tagged image id" "$id" "$(image_id "$REPO:a")"
  expect_contains "history" "${id:7:12}" "$(d history "$REPO:a")"
  run_rc d rmi "$REPO:a" >"$WORK/out" 2>"$WORK/err"
  expect_eq "rmi of one of several tags: exit code" 0 "$RC"
  expect_eq "rmi of one of several tags: stdout" "Untagged: $REPO:a" "$(cat "$WORK/out")"
  run_rc d image inspect "$REPO:a" >/dev/null 2>&1
  expect_eq "untagged reference is gone" 1 "$RC"
}

check_rmi_in_use() {
  local name id
  name=$(cname inuse)
  d run -d --label "$LABEL" --name "$name" "$IMAGE" sleep 300 >/dev/null
  id=$(image_id "$IMAGE")
  run_rc d rmi -f "${id:7:12}" >"$WORK/out" 2>"$WORK/err"
  expect_eq "exit code" 1 "$RC"
  expect_contains "stderr" \
    "conflict: unable to delete ${id:7:12} (cannot be forced) - image is being used by running container" "$(cat "$WORK/err")"
  d rm -f "$name" >/dev/null
}

check_events() {
  local since
  since=$(date +%s)
  d tag "$IMAGE" "$REPO:b"
  d rmi "$REPO:b" >/dev/null
  d pull -q "$IMAGE" >/dev/null
  sleep 1
  d events --since "$since" --until "$(date +%s)" --filter type=image --format '{{.Action}} {{.Actor.Attributes.name}}' \
    >"$WORK/events"
  expect_contains "tag event" "tag $REPO:b" "$(cat "$WORK/events")"
  expect_contains "untag event" "untag sha256:" "$(cat "$WORK/events")"
  expect_contains "pull event" "pull $IMAGE" "$(cat "$WORK/events")"
}

require_endpoint

check pull-lines check_pull_lines
check images-columns check_images_columns
check unknown-image check_unknown_image
check inspect-removed-container check_inspect_removed_container
check pull-missing check_pull_missing
check run-pulls-first check_run_pulls_first
check one-image-id check_one_image_id
check tag-history-untag check_tag_history_untag
check rmi-in-use-409 check_rmi_in_use
check image-events check_events

summarize
