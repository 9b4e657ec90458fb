#!/bin/bash
# bench/export.sh - proxied traffic's latency while /admin/export streams a large workspace:
# open-loop chat load (tests/gw/loadgen --rate: evenly spaced sends, latency from each
# request's scheduled time) through the gateway to a stand-in upstream, alternating runs
# without and with exports going on back to back (curl reading as fast as it can), and the
# gateway's peak RSS. The issue's bar: p99 with the export within 2x of the run without.
# Usage: bench/export.sh WORKSPACE [BUILD_DIR] (WORKSPACE: a copy you can spare, e.g. made with
# the generator below; the load's captures are added to it).
# Settings (environment): RATE SECS REPS CONNS, GW_BIN (another offramp binary to measure).
# A workspace like the issue's (387,000 records, 900 MB of records):
#   offramp -w big.db task add intent && sqlite3 big.db "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL
#   SELECT x+1 FROM c WHERE x < 387000) INSERT INTO exchanges(rid, task_id, ts, arm, status, agree,
#   record) SELECT 'r'||x, 1, strftime('%Y-%m-%dT%H:%M:%fZ', 1793491200+x, 'unixepoch'), 'primary',
#   200, x % 33 != 0, json_object('id', 'r'||x, 'request', json_object('messages', json_array(
#   json_object('role', 'user', 'content', hex(randomblob(1050))))))  FROM c"
set -eu
WS=${1:?usage: bench/export.sh WORKSPACE [BUILD_DIR]}
BUILD=$(cd "${2:-build}" && pwd)
OFFRAMP=${GW_BIN:-$BUILD/offramp}
STANDIN=$BUILD/tests/gw/standin_upstream
LOADGEN=$BUILD/tests/gw/loadgen
RATE=${RATE:-1000}
SECS=${SECS:-10}
REPS=${REPS:-3}
CONNS=${CONNS:-16}
W=$(mktemp -d /tmp/offramp-bench-XXXXXX)
PIDS=""
trap 'for p in $PIDS; do kill $p 2>/dev/null; done; wait 2>/dev/null; rm -rf "$W"' EXIT
echo "tok-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')" > "$W/token"
"$STANDIN" --echo > "$W/up.port" &
PIDS="$PIDS $!"
for _ in $(seq 100); do [ -s "$W/up.port" ] && break; sleep 0.05; done
"$OFFRAMP" -w "$WS" gateway --listen 127.0.0.1:0 --admin-token-file "$W/token" \
   --upstream "http://127.0.0.1:$(head -1 "$W/up.port")/v1" > "$W/gw.out" 2> "$W/gw.err" &
GWPID=$!
PIDS="$PIDS $GWPID"
for _ in $(seq 200); do grep -q listening "$W/gw.out" && break; sleep 0.05; done
GW=$(sed -n 's/.*listening on \(http:\/\/[0-9.]*:[0-9]*\).*/\1/p' "$W/gw.out")
RECORDS=$(sqlite3 "$WS" "SELECT count(*) FROM exchanges")
echo "bench/export.sh: $OFFRAMP, workspace $WS ($RECORDS records), $RATE req/s for $SECS s on $CONNS connections, $REPS reps"
echo '{"model":"gpt-test","messages":[{"role":"user","content":"Where is my card?"}]}' > "$W/body.json"
"$LOADGEN" --url "$GW/v1/chat/completions" --rate "$RATE" --seconds 2 -c "$CONNS" --body-file "$W/body.json" \
   --task live > /dev/null || true

exporter() {   # exports back to back until $W/stop; the bytes of each in $W/exports
   while [ ! -e "$W/stop" ]; do
      curl -s -H "Authorization: Bearer $(cat "$W/token")" -o /dev/null -w '%{size_download} %{time_total}\n' \
         "$GW/admin/export" >> "$W/exports"
   done
}
load() {
   "$LOADGEN" --url "$GW/v1/chat/completions" --rate "$RATE" --seconds "$SECS" -c "$CONNS" --body-file "$W/body.json" \
      --task live || true
}
hwm() { awk '/^VmHWM:/ { print $2 }' "/proc/$GWPID/status"; }

printf '%-10s %9s %9s %9s %9s %7s\n' run p50_ms p99_ms p999_ms max_ms errors
for r in $(seq "$REPS"); do
   load > "$W/a.json"
   jq -r '"without   " + ([.p50_ms, .p99_ms, .p999_ms, .max_ms] | map(tostring) | join(" ")) + " " + (.errors|tostring)' \
      "$W/a.json" | awk '{ printf "%-10s %9s %9s %9s %9s %7s\n", $1, $2, $3, $4, $5, $6 }'
   rm -f "$W/stop"
   exporter &
   EXP=$!
   sleep 0.5
   load > "$W/b.json"
   touch "$W/stop"
   wait $EXP
   jq -r '"export    " + ([.p50_ms, .p99_ms, .p999_ms, .max_ms] | map(tostring) | join(" ")) + " " + (.errors|tostring)' \
      "$W/b.json" | awk '{ printf "%-10s %9s %9s %9s %9s %7s\n", $1, $2, $3, $4, $5, $6 }'
done
awk '{ n++; b += $1; t += $2 } END { printf "exports: %d (%.0f MB each, %.1f s each on average)\n", n, b / n / 1048576, t / n }' "$W/exports"
echo "gateway peak RSS: $(( $(hwm) / 1024 )) MB"
