#!/bin/sh
# capture_wal.sh - the WAL does not keep what readers made it grow to: captures under load while
# another process holds a read transaction (no checkpoint can complete meanwhile), then once
# the gateway's writer is idle and the reader is gone it checkpoints with TRUNCATE and the -wal
# file is back to nothing; the workspace stays whole.
. "$TESTS_SRCDIR/gw/gwlib.sh"

N=${CAPTURE_WAL_REQUESTS:-4000}
wal_size() { stat -c %s "$WS-wal" 2>/dev/null || echo 0; }
wal_empty() { [ "$(wal_size)" -eq 0 ]; }

start_standin up --echo
start_gateway --upstream "$up_URL"
# A reader holds one read transaction until $WORK/release exists.
( printf 'BEGIN;\nSELECT count(*) FROM tasks;\n.output %s\nSELECT 1;\n.output stdout\n' "$WORK/reading"
  while [ ! -e "$WORK/release" ]; do sleep 0.1; done
  printf 'COMMIT;\n' ) | sqlite3 "$WS" > /dev/null &
READER=$!
for _ in $(seq 200); do [ -s "$WORK/reading" ] && break; sleep 0.05; done
check "a reader holds a read transaction" test -s "$WORK/reading"
"$LOADGEN" --url "$GW/v1/chat/completions" -n "$N" -c 32 --task wal > "$WORK/load.json"
wait_captured
sleep 1.5   # past the writer's idle delay: its TRUNCATE has to wait for the reader
most=$(wal_size)
echo "# WAL with the reader still there: $most bytes; load: $(cat "$WORK/load.json")"
check "the load grew the WAL while the reader held it" test "$most" -gt 0
touch "$WORK/release"
wait "$READER"
for _ in $(seq 100); do wal_empty && break; sleep 0.1; done
is "$(wal_size)" 0 "the idle writer truncates the WAL once the reader is gone"
is "$(sql "SELECT count(*) FROM exchanges")" "$N" "every record is in the workspace"
is "$(sql "PRAGMA integrity_check")" ok "the workspace passes integrity_check"
finish
