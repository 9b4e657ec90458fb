#!/bin/sh
# capture_wal.sh - the WAL does not keep what readers made it grow to: captures under load while
# other processes hold overlapping read transactions (no checkpoint can finish meanwhile), then
# once the gateway's writer is idle and the readers are gone it checkpoints with TRUNCATE and
# the -wal file is back to nothing; the workspace stays whole.
. "$TESTS_SRCDIR/gw/gwlib.sh"

N=${CAPTURE_WAL_REQUESTS:-4000}
wal_size() { stat -c %s "$WS-wal" 2>/dev/null || echo 0; }
wal_empty() { [ "$(wal_size)" -eq 0 ]; }

# reader SECONDS: a read transaction held that long (its pid added to READERS).
READERS=""
reader() {
   ( printf 'BEGIN;\nSELECT count(*) FROM exchanges;\n'; sleep "$1"; printf 'COMMIT;\n' ) | sqlite3 "$WS" > /dev/null &
   READERS="$READERS $!"
}

start_standin up --echo
start_gateway --upstream "$up_URL"
"$LOADGEN" --url "$GW/v1/chat/completions" -n "$N" -c 32 --task wal > "$WORK/load.json" &
LG=$!
# Overlapping readers for the length of the load.
for _ in 1 2 3 4 5 6; do
   reader 1.5
   sleep 0.7
done
wait "$LG"
wait_captured
most=$(wal_size)
echo "# WAL after the load: $most bytes; load: $(cat "$WORK/load.json")"
check "the load grew the WAL" test "$most" -gt 0
wait $READERS
for _ in $(seq 100); do wal_empty && break; sleep 0.1; done
is "$(wal_size)" 0 "an idle writer truncates the WAL once the readers are gone"
is "$(sql "SELECT count(*) FROM exchanges")" "$N" "every record is in the workspace"
is "$(sql "PRAGMA integrity_check")" ok "the workspace passes integrity_check"
finish
