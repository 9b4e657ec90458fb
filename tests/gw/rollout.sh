#!/bin/sh
# rollout.sh - "offramp rollout" against a real gateway with stand-in upstreams: the shadow gate
# on planted 90 % agreement, steps through the admin API, the cutover confirmation, settings sent
# to the gateway, an error burst the gateway rolls back itself as "rollout watch" shows (and the
# phase follows), auto-promote by the gateway, and the history of every change.
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

# --- error burst: the gateway's own analysis rolls back at the failure limit; watch shows it ---
"$OFFRAMP" rollout set intent --failure-limit 2 --min-samples 10 --interval 1 > "$WORK/set.out"
check "rollout set sends the analysis to the gateway" grep -q "gateway: analysis every 1 s, failure limit 2" "$WORK/set.out"
is "$(admin GET /admin/routes/intent | jq -c '[.route.analysis.interval_s, .route.analysis.failure_limit, .route.analysis.min_agreement]')" \
   "[1,2,0.8]" "the route carries them, with the task's agreement bar"
curl -s "${cand_URL%/v1}/control?fail_rate=0.5" > /dev/null
end=$(( $(date +%s) + 6 ))
( while [ "$(date +%s)" -lt "$end" ]; do
     "$LOADGEN" --url "$GW/v1/chat/completions" -n 100 -c 4 --task intent --users 100 > /dev/null
  done ) &
LOAD_PID=$!
PIDS="$PIDS $LOAD_PID"
"$OFFRAMP" rollout watch intent --interval 1 --rounds 7 > "$WORK/watch.out" 2>&1
sed 's/^/# /' "$WORK/watch.out"
check "watch showed the gateway's rollback" grep -q "ROLLED BACK by the gateway: intent: canary 50 % -> shadow: canary analysis: 2 failed checks (limit 2)" "$WORK/watch.out"
check "... and the failed checks before it" grep -q "at 50 %: fail: error rate .* (failed check 2 of 2)" "$WORK/watch.out"
is "$(sql "SELECT kind || ' ' || to_phase || ' ' || actor FROM phase_events ORDER BY id DESC LIMIT 1")" "rollback shadow gateway" \
   "the phase moved back with the gateway's rollback"
is "$(mode)" "shadow 50" "the gateway's route is back in shadow: all traffic on the stable arm"
is "$(sql "SELECT phase FROM tasks WHERE name = 'intent'")" shadow "the phase followed back to shadow"
hist=$(admin GET /admin/routes/intent)
is "$(echo "$hist" | jq -r '.history[-1].kind + " " + .history[-1].actor')" "rollback gateway" "the gateway recorded its rollback"
check "... with the figures in the reason" sh -c "echo \"\$1\" | jq -e '.history[-1].reason | startswith(\"canary analysis: 2 failed checks (limit 2) at canary 50 %, rolled back to shadow: error rate\")' > /dev/null" - "$hist"
is "$(sql "SELECT count(*) FROM rollout_events WHERE kind = 'fail' AND percent = 50 AND actor = 'gateway'")" 2 "both failed checks at 50 % are in the analysis log"
wait "$LOAD_PID" 2>/dev/null
curl -s "${cand_URL%/v1}/control?fail_rate=0" > /dev/null

# --- fixed: back to 50 %, then the gateway auto-promotes to cutover after a 1 s dwell ---
"$OFFRAMP" rollout set intent --steps 50,100 --dwell 1 --min-samples 5 > /dev/null
rollout step-up intent --reason "candidate fixed"
is "$(mode)" "canary 50" "step-up from shadow to the first step, 50 %"
end=$(( $(date +%s) + 5 ))
( while [ "$(date +%s)" -lt "$end" ]; do
     "$LOADGEN" --url "$GW/v1/chat/completions" -n 60 -c 4 --task intent > /dev/null
  done ) &
LOAD_PID=$!
PIDS="$PIDS $LOAD_PID"
"$OFFRAMP" rollout watch intent --auto-promote --interval 1 --rounds 5 > "$WORK/auto.out" 2>&1
sed 's/^/# /' "$WORK/auto.out"
check "watch --auto-promote turned it on in the gateway's route" grep -q "intent: gateway: .*auto-promote on" "$WORK/auto.out"
check "the gateway took the next step after a passing dwell" grep -q "promoted by the gateway: intent: canary 50 % -> cutover: canary analysis: auto-promote" "$WORK/auto.out"
wait "$LOAD_PID" 2>/dev/null
is "$(mode | cut -d' ' -f1)" cutover "the gateway's route is cutover"
is "$(sql "SELECT phase FROM tasks WHERE name = 'intent'")" cutover "the phase follows to cutover"

rollout status intent
sed 's/^/# /' "$WORK/out"
n=$(grep -c '^  20[0-9-]*T.* -> ' "$WORK/out")
# shadow set, 5, 10, 5, 10, 20, 50, settings, rollback, settings, 50, auto-promote on, cutover
is "$n" 13 "status shows every route change from the gateway's history"
check "history shows the manual reason" grep -q '"step-up: shadow -> canary 5 %: shadow agreement holds"' "$WORK/out"
check "history shows the gateway's own changes" grep -q " gateway rollback: canary 50 % -> shadow" "$WORK/out"
check "status shows the analysis log" grep -q "fail at 50 %: error rate" "$WORK/out"

rollout pause intent --reason "holiday freeze"
check "pause turns the gateway's auto-promote off" grep -q "paused; the gateway's auto-promote is off" "$WORK/out"
is "$(admin GET /admin/routes/intent | jq .route.analysis.auto_promote)" false "... in the route it serves"

# An abort pauses; routing the canary again by hand (offramp route set, the console's :canary)
# ends the pause: status (and the console's panel) must not say PAUSED while the route moves on.
rollout abort intent --reason "bad answers"
rollout status intent --json
is "$(jq -r .paused "$WORK/out")" true "abort pauses the rollout"
"$OFFRAMP" route set intent --mode canary --percent 50 --reason "fixed, again" > "$WORK/set.out" 2>&1
is "$(mode)" "canary 50" "a route set puts the canary back"
rollout status intent --json
is "$(jq -r .paused "$WORK/out")" false "... and the pause is over"
rollout status intent
check "... status does not say PAUSED" sh -c "! grep -q PAUSED '$WORK/out'"
rollout abort intent --reason "bad answers again"
rollout step-up intent --reason "fixed"
rollout status intent --json
is "$(jq -r .paused "$WORK/out")" false "a step-up after an abort ends the pause too"
finish
