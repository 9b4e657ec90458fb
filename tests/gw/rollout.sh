#!/bin/sh
# rollout.sh - "offramp rollout" against a real gateway with stand-in upstreams: the shadow gate
# on planted 90 % agreement, steps through the admin API, the cutover confirmation, an error
# burst rolled back by "rollout watch --interval 1", auto-promote, and the history of every change.
. "$TESTS_SRCDIR/gw/gwlib.sh"
export OFFRAMP_WORKSPACE="$WS" OFFRAMP_ADMIN_TOKEN="$TOKEN"

start_standin primary --echo --seed 3
# The candidate answers "wrong" on ~10 % of requests: planted disagreement.
start_standin cand --echo --seed 5 --wrong-rate 0.1
"$OFFRAMP" task add intent --description "ticket intent" > /dev/null
sql "UPDATE tasks SET phase = 'shadow', agreement_bar = 0.8, min_comparisons = 500 WHERE name = 'intent'"
start_gateway --upstream "$primary_URL"
export OFFRAMP_GATEWAY="$GW"
rollout() { "$OFFRAMP" rollout "$@" > "$WORK/out" 2> "$WORK/err"; RC=$?; }
mode() { admin GET /admin/routes/intent | jq -r '.route.mode + " " + (.route.percent | tostring)'; }

admin PUT /admin/routes/intent "{\"mode\":\"shadow\",\"compare\":\"exact\",\"candidate\":{\"url\":\"$cand_URL\"}}" > /dev/null
rollout step-up intent
is "$RC" 3 "before any shadow traffic the shadow gate refuses (exit 3)"
check "the refusal names the comparisons the gate needs" grep -q "shadow comparisons: 0, the gate needs 500" "$WORK/err"

"$LOADGEN" --url "$GW/v1/chat/completions" -n 600 -c 8 --task intent --expect-echo > "$WORK/shadow.json"
wait_captured
rate=$(admin GET "/admin/stats?task=intent" | jq '.tasks[0].windows.all.agreement.rate * 1000 | floor')
check "shadow agreement $rate per mille is the planted 900 +- 40" test "$rate" -ge 860 -a "$rate" -le 940

rollout step-up intent --reason "shadow agreement holds"
is "$RC" 0 "step-up out of shadow once the gate is open"
check "the answer quotes the gateway" grep -q "shadow -> canary 5 %; gateway: mode canary 5 %" "$WORK/out"
is "$(mode)" "canary 5" "the gateway's route is canary 5 %"
is "$(sql "SELECT phase FROM tasks WHERE name = 'intent'")" canary "the phase follows the route to canary"
rollout step-up intent
is "$(mode)" "canary 10" "step-up: 10 %"
rollout step-down intent
is "$(mode)" "canary 5" "step-down: 5 %"
rollout promote-full intent
is "$RC" 3 "promote-full asks for confirmation (exit 3)"
check "the confirmation shows the gate figures" grep -q "needs confirmation" "$WORK/err"
check "... with the shadow agreement" grep -q "ok agreement: 9[0-9].[0-9] %" "$WORK/err"
is "$(mode)" "canary 5" "nothing changed without --yes"
rollout step-up intent --yes
rollout step-up intent
rollout step-up intent
is "$(mode)" "canary 50" "stepped to 50 %"
rollout step-up intent --yes
is "$RC" 3 "50 % -> 100 % without the dwell: the canary gate refuses"
check "the refusal says why" grep -q "canary -> cutover gate is closed" "$WORK/err"

# --- error burst: the candidate fails half its requests; watch rolls back at the failure limit ---
"$OFFRAMP" rollout set intent --failure-limit 2 --min-samples 10 --interval 1 > /dev/null
curl -s "${cand_URL%/v1}/control?fail_rate=0.5" > /dev/null
end=$(( $(date +%s) + 6 ))
( while [ "$(date +%s)" -lt "$end" ]; do
     "$LOADGEN" --url "$GW/v1/chat/completions" -n 100 -c 4 --task intent --users 100 > /dev/null
  done ) &
LOAD_PID=$!
PIDS="$PIDS $LOAD_PID"
t0=$(date +%s)
"$OFFRAMP" rollout watch intent --interval 1 --rounds 4 > "$WORK/watch.out" 2>&1
t1=$(date +%s)
sed 's/^/# /' "$WORK/watch.out"
check "watch printed the automatic rollback" grep -q "ROLLED BACK: intent: canary 50 % -> shadow; gateway: mode shadow" "$WORK/watch.out"
check "two failed checks before it (failure limit 2)" grep -q "(failed check 2 of 2)" "$WORK/watch.out"
check "watch stayed bounded ($((t1 - t0)) s)" test $((t1 - t0)) -le 8
is "$(mode)" "shadow 50" "the gateway's route is back in shadow: all traffic on the stable arm"
is "$(sql "SELECT phase FROM tasks WHERE name = 'intent'")" shadow "the phase followed back to shadow"
hist=$(admin GET /admin/routes/intent)
is "$(echo "$hist" | jq -r '.history[-1].kind')" rollback "the gateway recorded a rollback"
check "... with the watch as actor and the reason" sh -c "echo '$hist' | jq -e '.history[-1].actor == \"rollout-watch (tester)\" and (.history[-1].reason | startswith(\"abort: canary 50 % -> shadow: automatic rollback after 2 failed checks\"))' > /dev/null"
is "$(sql "SELECT count(*) FROM rollout_events WHERE kind = 'fail' AND percent = 50")" 2 "both failed checks at 50 % are in the analysis log"
wait "$LOAD_PID" 2>/dev/null
curl -s "${cand_URL%/v1}/control?fail_rate=0" > /dev/null

# --- the rollout is aborted (paused): resume, then auto-promote with a 1 s dwell ---
rollout status intent
check "status says the rollout is paused by the abort" grep -q "PAUSED: aborted" "$WORK/out"
rollout resume intent --reason "candidate fixed"
"$OFFRAMP" rollout set intent --steps 50,100 --dwell 1 --min-samples 5 > /dev/null
end=$(( $(date +%s) + 5 ))
( while [ "$(date +%s)" -lt "$end" ]; do
     "$LOADGEN" --url "$GW/v1/chat/completions" -n 60 -c 4 --task intent > /dev/null
  done ) &
LOAD_PID=$!
PIDS="$PIDS $LOAD_PID"
"$OFFRAMP" rollout watch intent --auto-promote --interval 1 --once > "$WORK/auto.out" 2>&1
sed 's/^/# /' "$WORK/auto.out"
check "auto-promote took the next step after a passing interval" grep -q "promoted: intent: shadow -> canary 50 %" "$WORK/auto.out"
wait "$LOAD_PID" 2>/dev/null

rollout promote-full intent --yes --reason "ship it"
is "$RC" 0 "promote-full --yes goes to cutover"
is "$(mode | cut -d' ' -f1)" cutover "the gateway's route is cutover"
is "$(sql "SELECT phase FROM tasks WHERE name = 'intent'")" cutover "the phase follows to cutover"

rollout status intent
sed 's/^/# /' "$WORK/out"
n=$(grep -c '^  20[0-9-]*T.* -> ' "$WORK/out")
# shadow set, 5, 10, 5, 10, 20, 50, rollback, 50 (auto), cutover
is "$n" 10 "status shows every route change from the gateway's history"
check "history shows the manual reason" grep -q '"step-up: shadow -> canary 5 %: shadow agreement holds"' "$WORK/out"
check "status shows the analysis log" grep -q "fail at 50 %: error rate" "$WORK/out"
finish
