#!/usr/bin/env bash
# Runs the README's Quickstart as a newcomer would, with its commands exactly as the README prints them: `npm start`,
# then every subscribe command in the background, every publish command, and the history query; then checks that
# each subscriber received every message and that history answers. Run from a fresh clone after its one
# `npm install` (CI does), so a command that only works after a second install or a build can't come back.
#
#   npm run check:quickstart        (needs mosquitto-clients and curl; the ports of `npm start` must be free)
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -- "-$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

fail() {
  echo "check-quickstart: $*" >&2
  for log in "$work"/*.log; do
    [ -s "$log" ] && { echo "--- $(basename "$log")" >&2; tail -n 20 "$log" >&2; }
  done
  exit 1
}

# Waits up to $1 seconds for the command in the remaining arguments to succeed.
wait_until() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}

# The Quickstart's shell lines, in order: its ```sh blocks up to the next section.
mapfile -t lines < <(sed -n '/^## Quickstart/,/^### /p' README.md | awk '/^```sh/{on=1; next} /^```/{on=0} on && NF')
subscribers=() publishers=() queries=()
for line in "${lines[@]}"; do
  case "$line" in
    *"npm start"*) ;;
    *mosquitto_sub* | *"runnel subscribe"*) subscribers+=("$line") ;;
    *"/data/partitions/"*) queries+=("$line") ;;
    *) publishers+=("$line") ;;
  esac
done
[ "${#subscribers[@]}" -ge 2 ] && [ "${#publishers[@]}" -ge 4 ] && [ "${#queries[@]}" -ge 1 ] ||
  fail "the README's Quickstart no longer has the subscribe, publish and history commands this check expects"

echo "== npm start"
setsid npm start >"$work/npm-start.log" 2>&1 &
pids+=($!)
wait_until 120 curl -sf http://127.0.0.1:7171/health || fail "npm start did not serve http://127.0.0.1:7171/health"
wait_until 60 curl -sf http://127.0.0.1:7172/health || fail "npm start's storage node did not come up on 7172"

echo "== subscribers"
for i in "${!subscribers[@]}"; do
  command=${subscribers[$i]}
  # mosquitto_sub buffers its output when it isn't a terminal.
  [[ $command == mosquitto_sub* ]] && command="stdbuf -oL $command"
  echo "\$ ${subscribers[$i]}"
  setsid bash -c "$command" >"$work/subscriber-$i.out" 2>"$work/subscriber-$i.log" &
  pids+=($!)
done
subscribed() {
  local metrics
  metrics=$(curl -sf http://127.0.0.1:7171/metrics) || return 1
  grep -q '^runnel_api_subscriptions{api="mqtt"} [1-9]' <<<"$metrics" || return 1
  for i in "${!subscribers[@]}"; do
    [[ ${subscribers[$i]} == *"runnel subscribe"* ]] && { grep -q 'subscribed to' "$work/subscriber-$i.log" || return 1; }
  done
}
wait_until 60 subscribed || fail "the subscribers did not subscribe within 60 s"

echo "== publishers"
expected=0
for command in "${publishers[@]}"; do
  echo "\$ $command"
  output=$(bash -c "$command" 2>&1) || fail "this README command failed: $command"
  echo "$output" >>"$work/publishers.log"
  # curl exits 0 on an error status: the API's error body is what says it failed.
  ! grep -q '"error"' <<<"$output" || fail "this README command was refused: $command: $output"
  # An NDJSON batch publishes one message per line it sends.
  if [[ $command == printf* ]]; then
    expected=$((expected + $(bash -c "${command%%|*}" | grep -c .)))
  else
    expected=$((expected + 1))
  fi
done

echo "== every subscriber gets all $expected messages"
received_all() {
  for i in "${!subscribers[@]}"; do
    [ "$(grep -c . "$work/subscriber-$i.out")" -ge "$expected" ] || return 1
  done
}
wait_until 60 received_all || fail "not every subscriber received the $expected messages within 60 s"

echo "== history"
# The storage node commits in batches: what was just delivered may take a moment to be in history.
three_stored() { [ "$(bash -c "$1" 2>/dev/null | grep -c '"signature"')" -ge 3 ]; }
for command in "${queries[@]}"; do
  echo "\$ $command"
  bash -c "$command" >/dev/null 2>&1 || fail "this README command failed: $command"
  wait_until 30 three_stored "$command" || fail "history did not answer with 3 messages: $(bash -c "$command")"
done
echo "== the README's Quickstart works as printed"
