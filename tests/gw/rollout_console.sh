#!/bin/sh
# rollout_console.sh - the console's rollout panel, headless, against a real gateway with stand-in
# upstreams: live agreement (the planted ~90 %) with its interval, the noise baseline, keys that
# change the gateway's route (checked through the admin API), the cutover confirmation with the
# gate figures, cutover tuning, abort, the history, and grading a disagreement.
. "$TESTS_SRCDIR/gw/gwlib.sh"
export OFFRAMP_WORKSPACE="$WS" OFFRAMP_ADMIN_TOKEN="$TOKEN"
export LINES=60 COLUMNS=130 TERM=xterm TZ=UTC LC_ALL=C.UTF-8

start_standin primary --echo --seed 3
start_standin cand --echo --seed 5 --wrong-rate 0.1
"$OFFRAMP" task add intent --description "ticket intent" --cost 1000 > /dev/null
sql "UPDATE tasks SET phase = 'shadow', agreement_bar = 0.8, min_comparisons = 500 WHERE name = 'intent'"
start_gateway --upstream "$primary_URL"
export OFFRAMP_GATEWAY="$GW"
admin PUT /admin/routes/intent "{\"mode\":\"shadow\",\"compare\":\"exact\",\"noise_percent\":20,\"fallback\":{\"min_confidence\":0.8},\"candidate\":{\"url\":\"$cand_URL\"}}" > /dev/null
"$LOADGEN" --url "$GW/v1/chat/completions" -n 600 -c 8 --task intent --expect-echo > /dev/null
wait_captured
route() { admin GET /admin/routes/intent | jq -r "$1"; }

console() {
   printf '%s\n' "$1" > "$WORK/script.txt"
   (cd "$WORK" && OFFRAMP_SCRIPT=script.txt "$OFFRAMP" > console.out 2>&1)
   RC=$?
}

console ':task intent
R
:wait 2.5
:save-display panel.txt
]
:save-display stepped.txt'
is "$RC" 0 "console exits 0"
P=$WORK/panel.txt
sed 's/^/# /' "$P" | head -40
check "panel shows the route" grep -q "ROLLOUT  intent  route shadow" "$P"
all=$(sed -n 's/^ *all  *\([0-9.]*\) %.*/\1/p' "$P")
check "agreement over all traffic ($all %) is the planted 90 % +- 4" awk -v a="$all" 'BEGIN { exit !(a >= 86 && a <= 94) }'
check "... with its Wilson interval and n" grep -q "^ *all  .*95 % CI [0-9.]*-[0-9.]*  (n=600)" "$P"
check "1 min window shown" grep -q "^ *1 min  .*(n=600)" "$P"
check "noise baseline shown (primary vs primary)" grep -q "^ *noise  *100.0 %" "$P"
check "sparkline of agreement per minute" grep -q "per minute   .*[▁▂▃▄▅▆▇█]" "$P"
check "candidate latency vs primary" grep -q "candidate p50 [0-9]* ms  p95" "$P"
check "candidate errors" grep -q "ERRORS   candidate 0 of 600" "$P"
check "the shadow gate figures" grep -q "✓ agreement: 9[0-9].[0-9] %" "$P"
check "the bar shown with where it is set" grep -q "AGREEMENT  candidate vs primary; bar 80.0 %: the task's agreement bar (offramp task edit --agreement-bar)" "$P"
check "above the bar: not flagged" sh -c "! grep -q 'below the bar' '$P'"
P2=$WORK/below.txt
sql "UPDATE tasks SET agreement_bar = 0.97 WHERE name = 'intent'"
printf ':task intent\nR\n:wait 2.5\n:save-display below.txt\n' > "$WORK/below.script"
(cd "$WORK" && OFFRAMP_SCRIPT=below.script "$OFFRAMP" > /dev/null 2>&1)
sql "UPDATE tasks SET agreement_bar = 0.8 WHERE name = 'intent'"
check "a bar of 97 %: the same figures, now below it, say so" grep -q "^ *all  .*(n=600)  below the bar" "$P2"
check "... and the header shows the new bar" grep -q "bar 97.0 %: the task's agreement bar" "$P2"
check "step-up confirmed on screen with the gateway's answer" sh -c "tail -n 6 '$WORK/stepped.txt' | tr '\\n' ' ' | tr -s ' ' | grep -q 'shadow -> canary 5 %; gateway: mode canary 5 %'"
is "$(route '.route.mode + " " + (.route.percent | tostring)')" "canary 5" "] changed the gateway's route to canary 5 %"

console ':task intent
R
[
:save-display down.txt
]
]
F
:save-display confirm.txt
F
:wait 1.5
:save-display cutover.txt
+
:save-display conf.txt
V
:save-display tuned.txt
X
:wait 1.5
:save-display aborted.txt'
check "[ stepped down to shadow" grep -q "canary 5 % -> shadow; gateway: mode shadow" "$WORK/down.txt"
check "promote-full asks first" grep -q "CONFIRM  press the key again to go to 100 % (cutover)" "$WORK/confirm.txt"
check "... showing the gate figures" grep -q "^ *ok agreement: 9[0-9].[0-9] %" "$WORK/confirm.txt"
check "... and the canary analysis" grep -q "NOT MET canary analysis" "$WORK/confirm.txt"
check "the second press went to cutover" grep -q "ROLLOUT  intent  route cutover" "$WORK/cutover.txt"
check "+ raised min_confidence through the gateway" sh -c "tail -n 6 '$WORK/conf.txt' | tr '\\n' ' ' | tr -s ' ' | grep -q 'min_confidence 0.8 -> 0.85; gateway: min_confidence 0.85'"
check "V raised verify_percent" sh -c "tail -n 6 '$WORK/tuned.txt' | tr '\\n' ' ' | tr -s ' ' | grep -q 'verify_percent 0 -> 1; gateway: verify_percent 1'"
is "$(route '.route.fallback.min_confidence')" 0.85 "the gateway holds min_confidence 0.85"
is "$(route '.route.verify_percent')" 1 "the gateway holds verify_percent 1"
check "X aborted back to shadow" grep -q "ROLLOUT  intent  route shadow" "$WORK/aborted.txt"
is "$(route '.route.mode')" shadow "the gateway's route is shadow after the abort"
is "$(route '.history[-1].kind')" rollback "the abort is the gateway's rollback"
n=$(grep -c "^ *20[0-9-]*T[0-9:]* *\(set\|rollback\) " "$WORK/aborted.txt")
# shadow, 5, shadow, 5, 10, cutover, min_confidence, verify, abort
is "$n" 9 "the panel's history shows every change"
check "history names the console as the reason" grep -q '"step-up: shadow -> canary 5 %: console"' "$WORK/aborted.txt"

# --- disagreement review ---
console ':task intent
R
D
:save-display review.txt
2
4
:save-display graded.txt
q
:wait 1.2
:save-display panel2.txt'
check "review lists disagreements with both answers" grep -q "^ -  *.*echo:.* wrong" "$WORK/review.txt"
check "side by side: input, primary, candidate" grep -q "PRIMARY  *CANDIDATE" "$WORK/review.txt"
check "the input is shown whole, under its request id" grep -q "INPUT  (request " "$WORK/review.txt"
is "$(sql "SELECT grade FROM review_grades ORDER BY ts, rowid" | tr '\n' ' ')" "candidate neither " "grades stored"
rid=$(sql "SELECT rid FROM review_grades WHERE grade = 'candidate'")
is "$(sql "SELECT flag FROM exchanges WHERE rid = '$rid'")" corrected "candidate right: the primary's record is flagged corrected"
rid=$(sql "SELECT rid FROM review_grades WHERE grade = 'neither'")
is "$(sql "SELECT flag FROM exchanges WHERE rid = '$rid'")" wrong "both wrong: the primary's record is flagged wrong"
check "graded accuracy next to raw agreement" grep -q "graded  *9[0-9].[0-9] %  from 2 graded: primary right 0, candidate right 1, both fine 0, both wrong 1" "$WORK/panel2.txt"

# --- the disagreement list stays still while traffic flows (in a real terminal, under tmux) ---
TMUX_DIR=$WORK
. "$TESTS_SRCDIR/ui/tmux.sh"
trap 'tmux_stop; cleanup' EXIT
if tmux_have; then
   rows() { tmux_screen | sed -n '/^ *grade  *input/,/^ *INPUT/p'; }
   tmux_start 130 40 "cd '$WORK' && LC_ALL=C.UTF-8 TERM=xterm '$OFFRAMP'"
   tmux_wait_for "inventory"
   tmux_type ":task intent"; tmux_keys Enter
   tmux_keys R
   tmux_wait_for "ROLLOUT  intent"
   tmux_keys D
   tmux_wait_for "disagreements intent"
   shown() { tmux_screen | sed -n 's/.*INPUT  (request \([^)]*\)).*/\1/p'; }
   first=$(shown)
   tmux_keys j j j   # a row the headless review above left ungraded
   i=0; while [ "$(shown)" = "$first" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
   before=$(rows)
   rid=$(shown)
   "$LOADGEN" --url "$GW/v1/chat/completions" -n 300 -c 8 --task intent --expect-echo > /dev/null
   wait_captured
   check "new disagreements are counted in the title, not put under the cursor" tmux_wait_for " new (u loads them)"
   is "$(rows)" "$before" "the list is unchanged while it is open"
   tmux_keys 3
   tmux_wait_for "$rid: both fine"
   is "$(sql "SELECT grade FROM review_grades WHERE rid = '$rid'")" both "the grade went to the request shown ($rid)"
   tmux_keys u
   tmux_wait_for "disagreements loaded"
   tmux_screen | sed -n 1p > "$WORK/reloaded.txt"
   check "u loaded the new ones" sh -c "! grep -q ' new (u loads them)' '$WORK/reloaded.txt'"
   tmux_keys C-c
   is "$(tmux_wait_exit)" 130 "Ctrl-C in a terminal leaves the console with 130"
   tmux_stop
else
   tap 0 "# SKIP tmux not installed: the frozen disagreement list is not checked"
fi

# --- operate: after cutover the task view shows verified agreement, fallbacks, new data, savings ---
"$OFFRAMP" rollout set intent --hosting-cost 100 > /dev/null
"$OFFRAMP" rollout promote-full intent --yes > /dev/null
admin PUT /admin/routes/intent "$(admin GET /admin/routes/intent | jq -c '.route | .verify_percent = 50 | .fallback.min_confidence = 0')" > /dev/null
"$LOADGEN" --url "$GW/v1/chat/completions" -n 400 -c 8 --task intent > /dev/null
wait_captured
console ':task intent
:save-display operate.txt'
O=$WORK/operate.txt
sed -n '/OPERATE/,/^ *$/p' "$O" | sed 's/^/# /'
verified=$(sql "SELECT count(*) FROM exchanges WHERE arm = 'candidate' AND agree IS NOT NULL")
check "operate: verified agreement over the verified sample (n=$verified)" grep -q "verified agreement  *[0-9.]* % (n=$verified, 24 h)" "$O"
check "operate: fallback rate" grep -q "fallback rate  *[0-9.]* % (n=400, 24 h)" "$O"
fresh=$(sql "SELECT count(*) FROM exchanges WHERE arm IN ('primary', 'fallback')")
check "operate: new frontier answers since the dataset (none built: all $fresh)" grep -q "new since dataset  *$fresh\$" "$O"
api=$(sql "SELECT count(*) FROM exchanges WHERE arm IN ('primary','fallback') OR agree IS NOT NULL")
calls=$(sql "SELECT count(*) FROM exchanges")
now=$(awk -v a="$api" -v c="$calls" 'BEGIN { printf "%d", 1000 * a / c + 100 + 0.5 }')
group() { echo "$1" | sed ':a;s/\B[0-9]\{3\}\>/,&/;ta'; }
check "operate: savings before \$1,000, now \$$now ($api of $calls calls on the API + \$100 hosting)" \
   grep -q "savings  *\$1,000/month declared before, \$$(group "$now") now (API calls $(group "$api") of $(group "$calls")" "$O"
check "operate: break-even share" grep -q "break-even: hosting is paid once 10 % of the API spend" "$O"
# A task with a route but no candidate: no agreement is claimed.
"$OFFRAMP" task add plain --cost 10 > /dev/null
admin PUT /admin/routes/plain '{"mode":"passthrough"}' > /dev/null
printf ':task plain\nR\n:wait 1.5\n:save-display empty.txt\n' > "$WORK/empty.script"
(cd "$WORK" && OFFRAMP_SCRIPT=empty.script "$OFFRAMP" > /dev/null 2>&1)
check "no candidate: the agreement lines say so" grep -q "^ *all  *no candidate yet" "$WORK/empty.txt"
check "no candidate: no rate, no 0 % or 100 %" sh -c "! grep -qE '^ *(now|1 min|10 min|all) .*[0-9] %' '$WORK/empty.txt'"
check "no candidate: errors and fallbacks say so too" sh -c "grep -q 'ERRORS   no candidate yet' '$WORK/empty.txt' && grep -q 'FALLBACK no candidate yet' '$WORK/empty.txt'"
finish
