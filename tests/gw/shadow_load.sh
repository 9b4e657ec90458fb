#!/bin/sh
# shadow_load.sh - shadow mode under load: 20,000 requests at concurrency 128 while the
# candidate fails, times out or returns garbage on 20 % of calls. Every primary answer must be
# right, every exchange captured exactly once, and the candidate's failures counted exactly.
# GW_LOAD_REQUESTS can scale the count down for a slow machine; both builds run the full 20,000
# (about 5 s normal, 12 s with ASan+UBSan on 2 cores).
. "$TESTS_SRCDIR/gw/gwlib.sh"

N=${GW_LOAD_REQUESTS:-20000}
start_standin primary --echo --seed 7
# 20 % faults, a third of each kind; a timeout hangs 8 s against a 3 s route timeout, far
# above a normal answer even with ASan on a loaded machine (250 ms was not: under load,
# queued good answers were counted as timeouts; 1.5 s was not either in the ASan build: 15 of
# 20,000 good answers took longer, a dropped SYN alone costs 1 s). Counting is exact only when
# no good answer is slower than the route's timeout.
start_standin cand --echo --seed 11 --fail-rate 0.0667 --timeout-rate 0.0667 --garbage-rate 0.0667 --hang-ms 8000
start_gateway --upstream "$primary_URL"
admin PUT /admin/routes/load "{\"force\":true,\"reason\":\"a load test of the data plane, not of the gates\",\"mode\":\"shadow\",\"candidate\":{\"url\":\"$cand_URL\",\"model\":\"cand-1\"},\"compare\":\"exact\",\"fallback\":{\"timeout_ms\":3000}}" > /dev/null

"$LOADGEN" --url "$GW/v1/chat/completions" -n "$N" -c 128 --task load --expect-echo > "$WORK/load.json"
echo "# $(cat "$WORK/load.json")"
is "$(jq .ok "$WORK/load.json")" "$N" "every primary answer correct ($N requests)"
is "$(jq '.wrong + .http_errors + .transport_errors' "$WORK/load.json")" 0 "no wrong answers, no errors"
is "$(jq .primary "$WORK/load.json")" "$N" "the primary answered every request"

# Records are written when the client is answered; the shadow calls that time out end later.
check "all $N records committed" wait_committed "$N"
check "every shadow result joined its record" wait_captured
is "$(sql "SELECT count(*) FROM exchanges")" "$N" "exactly $N records in the workspace"
is "$(metric offramp_capture_dropped_total)" 0 "no record dropped"

curl -s "${cand_URL%/v1}/stats" > "$WORK/cand.json"
echo "# candidate stand-in: $(cat "$WORK/cand.json")"
admin GET "/admin/stats?task=load" > "$WORK/stats.json"
all='.tasks[0].windows.all.arms.candidate'
is "$(jq "$all.requests" "$WORK/stats.json")" "$N" "candidate tried on every request"
is "$(jq "$all.errors_by_kind.status" "$WORK/stats.json")" "$(jq .fail "$WORK/cand.json")" "candidate HTTP failures counted exactly"
is "$(jq "$all.errors_by_kind.timeout" "$WORK/stats.json")" "$(jq .timeout "$WORK/cand.json")" "candidate timeouts counted exactly"
is "$(jq "$all.errors_by_kind.malformed" "$WORK/stats.json")" "$(jq .garbage "$WORK/cand.json")" "candidate garbage counted exactly"
is "$(sql "SELECT count(*) FROM exchanges WHERE json_extract(record, '$.shadow.error') = 'timeout'")" \
   "$(jq .timeout "$WORK/cand.json")" "records carry the candidate timeouts"
ok_cand=$(jq .ok "$WORK/cand.json")
is "$(sql "SELECT count(*) FROM exchanges WHERE agree = 1")" "$ok_cand" "every good candidate answer compared and agreed"
is "$(jq '.tasks[0].windows.all.agreement.n' "$WORK/stats.json")" "$ok_cand" "live agreement counts the same comparisons"
is "$(sql "SELECT count(*) FROM exchanges WHERE agree IS NULL")" "$((N - ok_cand))" "failed candidate calls not compared"
finish
