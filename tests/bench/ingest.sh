#!/usr/bin/env bash
# Ingest benchmark: prints events/s and mean latency for SubmitEvent over
# real gRPC to a real attuned with its SQLite store (WAL, synchronous=FULL).
# Not a test: it prints numbers and never fails on them.
#
#   tests/bench/ingest.sh [BUILD_DIR] [EPISODES] [CLIENTS]
#   (defaults: build, 40 episodes of 10 sessions = 800 events, 8 clients)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${1:-$root/build}"
episodes="${2:-40}"
clients="${3:-8}"
attuned="$build/service/main/attuned"
ctl="$build/service/ctl/attunectl"
[ -x "$attuned" ] && [ -x "$ctl" ] || { echo "build attuned and attunectl first (tests/run.sh or deploy/local/run.sh)" >&2; exit 2; }

work="$(mktemp -d)"
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT

# One JSON-lines file per client; each episode: 10 weekly sessions, each a
# session_held and a client SRS, ending a week ago.
start=$(( $(date +%s) - 11 * 7 * 86400 ))
gen() {  # gen <client> <first-episode> <last-episode>
  local c=$1 e s t srs
  for ((e = $2; e <= $3; e++)); do
    for ((s = 1; s <= 10; s++)); do
      t=$(( start + (s - 1) * 7 * 86400 + e * 60 ))
      srs=$(( 34 + (e + s) % 6 ))
      printf '{"eventId":"b-%d-%d-h","occurredAt":"%s","episode":{"clientId":"bc-%d","clinicianId":"bt-%d","episodeId":"be-%d"},"sessionHeld":{"sessionNumber":%d,"start":"%s","end":"%s"}}\n' \
        "$e" "$s" "$(date -u -d @$((t + 3000)) +%FT%TZ)" "$e" "$c" "$e" "$s" "$(date -u -d @$t +%FT%TZ)" "$(date -u -d @$((t + 3000)) +%FT%TZ)"
      printf '{"eventId":"b-%d-%d-s","occurredAt":"%s","episode":{"clientId":"bc-%d","clinicianId":"bt-%d","episodeId":"be-%d"},"measureRecorded":{"sessionNumber":%d,"instrument":"INSTRUMENT_SRS","rater":"RATER_CLIENT","total":%d,"hasTotal":true}}\n' \
        "$e" "$s" "$(date -u -d @$((t + 3060)) +%FT%TZ)" "$e" "$c" "$e" "$s" "$srs"
    done
  done
}
per=$(( episodes / clients ))
for ((c = 0; c < clients; c++)); do
  gen "$c" $(( c * per + 1 )) $(( (c + 1) * per )) > "$work/client-$c.jsonl"
done
cat "$work"/client-*.jsonl > "$work/all.jsonl"
total=$(wc -l < "$work/all.jsonl")

run_server() {
  rm -f "$work"/attune.db*
  "$attuned" --listen 127.0.0.1:0 --db "$work/attune.db" --log_level warning > "$work/out" 2>"$work/err" &
  pid=$!
  while ! grep -q serving "$work/out" 2>/dev/null; do sleep 0.05; done
  export ATTUNE_SERVER="$(sed 's/.*on //' "$work/out")"
}
stop_server() { kill "$pid"; wait "$pid" || true; }
now() { date +%s.%N; }
report() {  # report <label> <events> <seconds> <concurrency>
  awk -v l="$1" -v n="$2" -v s="$3" -v c="$4" 'BEGIN {
    printf "%-34s %6d events  %7.2f s  %8.0f events/s  mean latency %6.2f ms\n", l, n, s, n / s, 1000 * s * c / n }'
}

echo "attuned ingest, $(nproc) cores, $total events ($episodes episodes x 10 sessions x held+SRS)"
run_server
t0=$(now); "$ctl" submit "$work/all.jsonl" > /dev/null 2>"$work/ctl.err"; t1=$(now)
report "1 client, SubmitEvent" "$total" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" 1
stop_server

run_server
t0=$(now)
for ((c = 0; c < clients; c++)); do "$ctl" submit "$work/client-$c.jsonl" > /dev/null 2>>"$work/ctl.err" & done
wait $(jobs -p | grep -v "^$pid$") 2>/dev/null || true
t1=$(now)
report "$clients clients, SubmitEvent" "$total" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" "$clients"
stop_server

run_server
t0=$(now); "$ctl" submit --batch 500 "$work/all.jsonl" > /dev/null 2>>"$work/ctl.err" || { grep -m3 "line" "$work/ctl.err" >&2; }; t1=$(now)
report "1 client, SubmitEvents (500/call)" "$total" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" 1
stop_server
if grep -q rejected "$work/ctl.err" && grep -v " 0 rejected" "$work/ctl.err" | grep -q rejected; then
  echo "some events were rejected:" >&2; grep rejected "$work/ctl.err" >&2
fi
