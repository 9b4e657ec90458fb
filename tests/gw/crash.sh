#!/bin/sh
# crash.sh - kill -9 under load: the workspace opens intact on restart and every record the
# gateway reported committed before the kill is there.
. "$TESTS_SRCDIR/gw/gwlib.sh"

N=${GW_LOAD_REQUESTS:-20000}
start_standin up --echo
start_standin cand --echo --latency-ms 5
start_gateway --upstream "$up_URL"
admin PUT /admin/routes/crash "{\"force\":true,\"reason\":\"a test of crash recovery, not of the gates\",\"mode\":\"shadow\",\"candidate\":{\"url\":\"$cand_URL\"}}" > /dev/null
"$LOADGEN" --url "$GW/v1/chat/completions" -n "$N" -c 64 --task crash > "$WORK/load.json" &
LG=$!
# Kill once a good part of the load has been captured, while requests are still flowing.
for _ in $(seq 200); do
   c=$(metric offramp_capture_committed_total)
   [ "${c:-0}" -ge $((N / 5)) ] && break
   sleep 0.05
done
committed=$(metric offramp_capture_committed_total)
kill -9 "$GW_PID"
wait "$GW_PID" 2>/dev/null
wait "$LG"
echo "# committed before the kill: $committed; load: $(cat "$WORK/load.json")"
check "the load was still running at the kill" sh -c "jq -e '.transport_errors > 0 or .ok < $N' '$WORK/load.json' > /dev/null"

is "$(sql "PRAGMA integrity_check")" ok "workspace passes integrity_check after kill -9"
stored=$(sql "SELECT count(*) FROM exchanges")
check "all $committed records committed before the kill are there ($stored stored)" test "$stored" -ge "$committed"
is "$(sql "SELECT count(*) FROM exchanges WHERE json_valid(record) = 0")" 0 "every stored record is whole JSON"
is "$(sql "SELECT count(DISTINCT rid) FROM exchanges")" "$stored" "no record stored twice"

start_gateway --upstream "$up_URL"
chat '{"messages":[{"role":"user","content":"after"}]}' -H 'X-Offramp-Task: crash' > "$WORK/after.json"
is "$(jq -r '.choices[0].message.content' "$WORK/after.json")" "echo:after" "restarted gateway serves on the same workspace"
is "$(admin GET /admin/routes/crash | jq -r .route.mode)" shadow "the route survived the crash"
wait_captured
is "$(sql "SELECT count(*) FROM exchanges")" "$((stored + 1))" "and captures again"
finish
