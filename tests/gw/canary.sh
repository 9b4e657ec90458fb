#!/bin/sh
# canary.sh - the gateway's own canary analysis, with no CLI process running: an error burst
# from the candidate at canary 50 % rolled back to shadow at the failure limit (the clients
# covered by the fallback, the change saved and recorded with actor "gateway"), auto-promote
# stepping 5 -> 25 -> 50 -> cutover on healthy checks with agreement from the automatic verify
# share, a p95 latency breach and a disagreeing candidate each counted as failed checks, and the
# rollback still in force after a restart. Analysis interval 1 s.
. "$TESTS_SRCDIR/gw/gwlib.sh"

start_standin primary --echo --seed 3
start_standin cand --echo --seed 5
"$OFFRAMP" -w "$WS" task add burst --description "error burst" > /dev/null
"$OFFRAMP" -w "$WS" task add promo --description "auto-promote" > /dev/null
"$OFFRAMP" -w "$WS" task add slow --description "p95 breach" > /dev/null
start_gateway --upstream "$primary_URL"

jqe() { jq -e "$@" > /dev/null; }
mode() { admin GET "/admin/routes/$1" | jq -r '.route.mode + " " + (.route.percent | tostring)'; }
# until_mode TASK MODE: polls the route (10 s at most).
until_mode() {
   for _ in $(seq 100); do
      [ "$(mode "$1" | cut -d' ' -f1)" = "$2" ] && return 0
      sleep 0.1
   done
   return 1
}
# load TASK SECONDS: steady traffic in the background (open loop, bounded); LOAD_PID, $WORK/TASK.load.
echo '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"where is my refund"}]}' > "$WORK/body.json"
load() {
   "$LOADGEN" --url "$GW/v1/chat/completions" --rate 60 --seconds "$2" -c 4 --task "$1" --body-file "$WORK/body.json" \
      > "$WORK/$1.load" &
   LOAD_PID=$!
   PIDS="$PIDS $LOAD_PID"
}
route() {   # route TASK JSON-FIELDS: a canary route on the stand-in candidate
   admin PUT "/admin/routes/$1" "{\"force\":true,\"reason\":\"a test of the analysis, not of the gates\",\"mode\":\"canary\",\"compare\":\"exact\",\"sticky\":\"random\",\"candidate\":{\"url\":\"$cand_URL\"},$2}" > /dev/null
}

# --- an error burst at canary 50 %: back in shadow by the second failed check ---
route burst '"percent":50,"analysis":{"interval_s":1,"failure_limit":2,"min_samples":5}'
is "$(mode burst)" "canary 50" "the route is canary 50 %"
load burst 8
# A healthy check first, and the burst right after a check: the next two checks see only it.
last() { admin GET /admin/rollout/burst | jq -r '(.checks[-1].seq // 0 | tostring) + " " + (.checks[-1].verdict // "none")'; }
prev=$(last)
for _ in $(seq 100); do
   now=$(last)
   [ "$now" != "$prev" ] && [ "${now#* }" = pass ] && break
   prev=$now
   sleep 0.05
done
before=${now% *}
is "${now#* }" pass "a healthy check passed before the burst"
curl -s "${cand_URL%/v1}/control?fail_rate=1" > /dev/null
check "the gateway rolled the route back on its own" until_mode burst shadow
curl -s "${cand_URL%/v1}/control?fail_rate=0" > /dev/null
state=$(admin GET /admin/rollout/burst)
echo "$state" | jq -r '.checks[] | "# \(.seq) \(.verdict) at \(.percent) %: \(.detail)"'
after=$(echo "$state" | jq "[.checks[] | select(.seq > $before)] | length")
is "$after" 2 "back in shadow at the second check after the burst began (within 2 intervals)"
is "$(echo "$state" | jq -r '[.checks[] | select(.seq > '"$before"') | .verdict] | join(",")')" "fail,fail" \
   "both were failed checks"
is "$(echo "$state" | jq -r .state)" "rolled back" "the analysis says it rolled back"
hist=$(admin GET /admin/routes/burst)
is "$(echo "$hist" | jq -r '.history[-1].kind + " " + .history[-1].actor')" "rollback gateway" \
   "the route history records a rollback by the gateway"
reason=$(echo "$hist" | jq -r '.history[-1].reason')
echo "# $reason"
check "the reason carries the figures" sh -c "echo \"\$1\" | grep -Eq '^canary analysis: 2 failed checks \(limit 2\) at canary 50 %, rolled back to shadow: error rate [0-9.]+ % \(n=[0-9]+\) > 2.0 %'" - "$reason"
wait "$LOAD_PID"
is "$(jq '.errors' "$WORK/burst.load")" 0 "the clients saw no errors: the fallback to the primary covered them"
check "the clients were answered throughout ($(jq .ok "$WORK/burst.load") answers)" test "$(jq .ok "$WORK/burst.load")" -ge 300
for _ in $(seq 50); do
   [ "$(sql "SELECT json_extract(route, '$.mode') FROM routes WHERE task = 'burst'")" = shadow ] && break
   sleep 0.1
done
is "$(sql "SELECT json_extract(route, '$.mode') FROM routes WHERE task = 'burst'")" shadow "the route change is saved in the workspace"
is "$(sql "SELECT kind || ' ' || actor || ' ' || json_extract(new_route, '$.mode') FROM route_events WHERE task = 'burst' ORDER BY id DESC LIMIT 1")" \
   "rollback gateway shadow" "... with the route event the control plane reads (kind rollback, actor gateway)"
is "$(sql "SELECT count(*) FROM rollout_events e JOIN tasks t ON t.id = e.task_id WHERE t.name = 'burst' AND e.kind = 'fail' AND e.actor = 'gateway'")" 2 \
   "the failed checks are in the task's rollout log"
is "$(sql "SELECT to_phase || ' ' || actor FROM phase_events e JOIN tasks t ON t.id = e.task_id WHERE t.name = 'burst' ORDER BY e.id DESC LIMIT 1")" \
   "shadow gateway" "the task's phase moved back to shadow with it, by the gateway"
is "$(metric 'offramp_canary_rollbacks_total{task="burst"}')" 1 "offramp_canary_rollbacks_total counts it"
is "$(admin GET '/admin/stats?task=burst' | jq -r '.analysis[0].state')" "rolled back" "/admin/stats shows the analysis"

# --- auto-promote: 5 -> 25 -> 50 -> cutover on passing checks ---
route promo '"percent":5,"analysis":{"interval_s":1,"min_samples":2,"auto_promote":true,"dwell_s":1,"steps":[5,25,50,100]}'
load promo 12
check "auto-promote reached cutover" until_mode promo cutover
kill "$LOAD_PID" 2>/dev/null
wait "$LOAD_PID" 2>/dev/null
hist=$(admin GET /admin/routes/promo)
echo "$hist" | jq -r '.history[] | "# \(.actor) \(.kind): \(.reason)"'
is "$(echo "$hist" | jq -r '[.history[] | select(.actor == "gateway") | .new.mode + ":" + (.new.percent | tostring)] | join(" ")')" \
   "canary:25 canary:50 cutover:100" "each step is recorded by the gateway"
echo "$hist" > "$WORK/promo.hist"
check "each step says it followed a dwell without a failed check" jqe '[.history[] | select(.actor == "gateway")
   | select(.reason | test("^canary analysis: auto-promote after [0-9]+ s at canary [0-9]+ % without a failed check"))]
   | length == 3' "$WORK/promo.hist"
admin GET /admin/rollout/promo > "$WORK/promo.state"
check "agreement was measured from the automatic verify share" jqe '[.checks[].detail
   | select(test("agreement 100.0 % .*n=[0-9]+ verified"))] | length > 0' "$WORK/promo.state"
# The analysis leaves the run at its next tick (200 ms) after the cutover is served.
for _ in $(seq 30); do
   [ "$(admin GET /admin/rollout/promo | jq -r .state)" = promoted ] && break
   sleep 0.1
done
is "$(admin GET /admin/rollout/promo | jq -r .state)" promoted "the analysis says promoted"
is "$(metric 'offramp_canary_promotions_total{task="promo"}')" 3 "offramp_canary_promotions_total counts the steps"

# --- the gate check binds the gateway too: a step with a failed check is not promoted ---
"$OFFRAMP" -w "$WS" task add held --description "promotion held by the gate" > /dev/null
curl -s "${cand_URL%/v1}/control?fail_rate=1" > /dev/null
route held '"percent":50,"analysis":{"interval_s":1,"failure_limit":3,"min_samples":5,"auto_promote":true,"dwell_s":1,"steps":[50,100]}'
load held 10
# A failed check at 50 %, then healthy answers: after a clean dwell the gateway asks to promote.
for _ in $(seq 100); do
   [ "$(admin GET /admin/rollout/held | jq '[.checks[] | select(.verdict == "fail")] | length')" -ge 1 ] && break
   sleep 0.05
done
curl -s "${cand_URL%/v1}/control?fail_rate=0" > /dev/null
for _ in $(seq 100); do
   admin GET /admin/rollout/held > "$WORK/held.state"
   jqe '[.decisions[] | select(.kind == "promotion refused")] | length > 0' "$WORK/held.state" && break
   sleep 0.1
done
kill "$LOAD_PID" 2>/dev/null
wait "$LOAD_PID" 2>/dev/null
jq -r '.decisions[] | "# \(.kind) \(.from) -> \(.to): \(.reason)"' "$WORK/held.state"
check "the promotion to cutover was refused by the canary gate" jqe '[.decisions[] | select(.kind == "promotion refused"
   and .to == "cutover" and (.reason | test("canary analysis: at 50 % .* with [0-9]+ failed check")))] | length > 0' \
   "$WORK/held.state"
is "$(mode held)" "canary 50" "the route stays at canary 50 %"
is "$(sql "SELECT count(*) FROM route_events WHERE task = 'held' AND actor = 'gateway'")" 0 "nothing was saved for it"

# --- a p95 latency breach is a failed check ---
curl -s "${cand_URL%/v1}/control?latency_ms=250" > /dev/null
route slow '"percent":50,"analysis":{"interval_s":1,"failure_limit":1,"min_samples":5,"max_p95_ms":100}'
load slow 4
check "the slow candidate was rolled back" until_mode slow shadow
wait "$LOAD_PID"
curl -s "${cand_URL%/v1}/control?latency_ms=0" > /dev/null
detail=$(admin GET /admin/rollout/slow | jq -r '[.checks[] | select(.verdict == "fail")][0].detail')
echo "# $detail"
check "the failed check is the p95 latency" sh -c "echo \"\$1\" | grep -Eq '^error rate 0.0 % \(n=[0-9]+\) <= 2.0 %; p95 [0-9]+ ms > 100 ms'" - "$detail"
p95=$(echo "$detail" | sed -n 's/.*; p95 \([0-9]*\) ms.*/\1/p')
check "... of the slowed candidate's answers (p95 $p95 ms, each at least 250 ms)" test "${p95:-0}" -ge 250
is "$(jq '.errors' "$WORK/slow.load")" 0 "slow answers still reached the clients"

# --- agreement on the automatic verify share: a candidate that answers wrong is rolled back ---
start_standin wrong --echo --seed 7 --wrong-rate 1
"$OFFRAMP" -w "$WS" task add agree --description "disagreeing candidate" > /dev/null
admin PUT "/admin/routes/agree" "{\"force\":true,\"reason\":\"a test of the analysis, not of the gates\",\"mode\":\"canary\",\"percent\":50,\"compare\":\"exact\",\"sticky\":\"random\",\"candidate\":{\"url\":\"$wrong_URL\"},\"analysis\":{\"interval_s\":1,\"failure_limit\":2,\"min_samples\":5}}" > /dev/null
is "$(admin GET /admin/routes/agree | jq -c '[.route.verify_percent, .route.analysis.verify_percent]')" "[0,10]" \
   "no verify share set by hand: the analysis' own 10 %"
load agree 6
check "the disagreeing candidate was rolled back" until_mode agree shadow
wait "$LOAD_PID"
reason=$(admin GET /admin/routes/agree | jq -r '.history[-1].reason')
echo "# $reason"
check "on agreement, with its interval and sample" sh -c "echo \"\$1\" | grep -Eq 'error rate 0.0 % .*; agreement 0.0 % \(95 % CI 0.0-[0-9.]+, n=[0-9]+ verified this step\) < 90.0 %'" - "$reason"
is "$(jq '.errors' "$WORK/agree.load")" 0 "the clients saw no errors"

# --- the rollback survives a restart: the gateway serves what the workspace holds ---
stop_gateway
start_gateway --upstream "$primary_URL"
is "$(mode burst | cut -d' ' -f1)" shadow "restarted, the gateway serves burst in shadow"
finish
