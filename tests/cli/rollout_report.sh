#!/bin/sh
# rollout_report.sh - the figures of the console's rollout and operate panels as commands, on a
# real gateway with stand-in upstreams: offramp report's rollout section (agreement with its CI
# per route, route history, fallbacks by reason, verified agreement, savings and break-even),
# offramp review list|grade (a bad request id is refused and nothing is written), offramp
# operate and offramp versions, each with --json.
. "$TESTS_SRCDIR/gw/gwlib.sh"
export OFFRAMP_WORKSPACE="$WS" OFFRAMP_ADMIN_TOKEN="$TOKEN"

start_standin primary --echo --seed 3
# The candidate always answers "echo:refund": it agrees on "refund" tickets only.
start_standin cand --content "echo:refund" --seed 5
"$OFFRAMP" task add rr --description "ticket queues" --kind label --cost 300 > /dev/null
"$OFFRAMP" rollout set rr --hosting-cost 40 > /dev/null
start_gateway --upstream "$primary_URL"
export OFFRAMP_GATEWAY="$GW"
run() { "$@" > "$WORK/out" 2> "$WORK/err"; RC=$?; }
jqe() { jq -e "$@" > /dev/null; }
# The routes are forced past the gates (with the reason): this test is about the report's
# figures for traffic that flowed, not about how the task earned its route (tests/cli/gates.sh).
put_route() {   # put_route REASON BODY: a route change as "tester"
   curl -s -X PUT -H "Authorization: Bearer $TOKEN" -H "X-Offramp-Actor: tester" -d "$2" "$GW/admin/routes/rr?reason=$1&force=1" > /dev/null
}
ask() {   # ask N TEXT: N chat calls of task rr
   for _ in $(seq "$1"); do
      chat "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"$2\"}]}" -H "X-Offramp-Task: rr" \
         -o /dev/null --max-time 10
   done
}

# shadow: 10 agree, 10 disagree
put_route "shadow%20first" \
   "{\"mode\":\"shadow\",\"compare\":\"exact\",\"candidate\":{\"url\":\"$cand_URL\",\"model\":\"ft:rr:1\"}}"
ask 10 refund
ask 10 billing
wait_captured
# cutover with every answer verified: 8 agree, 4 disagree
put_route "cut%20over" \
   "{\"mode\":\"cutover\",\"compare\":\"exact\",\"verify_percent\":100,\"candidate\":{\"url\":\"$cand_URL\",\"model\":\"ft:rr:1\"},\"fallback\":{\"min_confidence\":0,\"on_error\":true,\"timeout_ms\":2000}}"
ask 8 refund
ask 4 billing
wait_captured
# cutover, nothing verified, a third of the candidate's answers fail: fallbacks by reason
put_route "stop%20verifying" \
   "{\"mode\":\"cutover\",\"compare\":\"exact\",\"verify_percent\":0,\"candidate\":{\"url\":\"$cand_URL\",\"model\":\"ft:rr:1\"},\"fallback\":{\"min_confidence\":0,\"on_error\":true,\"timeout_ms\":2000}}"
curl -s "${cand_URL%/v1}/control?fail_rate=0.33" > /dev/null
ask 30 refund
wait_captured
fallbacks=$(sql "SELECT count(*) FROM exchanges WHERE arm = 'fallback'")
check "the failing candidate fell back ($fallbacks of 30)" test "$fallbacks" -ge 1 -a "$fallbacks" -le 29

# ---- report: the rollout section
run "$OFFRAMP" report rr --json --setup-cost 2000
j=$WORK/report.json
cp "$WORK/out" "$j"
is "$(jq -r '[.rollout.steps[].route] | join(",")' "$j")" "shadow,cutover,cutover" "report --json: one step per route in force"
is "$(jq -r '[.rollout.steps[].agreement | "\(.k)/\(.n)"] | join(",")' "$j")" "10/20,8/12,0/0" \
   "agreement per route: shadow 10 of 20, verified 8 of 12, none compared after"
check "each step's agreement carries its 95 % interval" \
   jqe '.rollout.steps[0].agreement | .value == 0.5 and .lo95 > 0.28 and .lo95 < 0.5 and .hi95 > 0.5 and .hi95 < 0.72' "$j"
is "$(jq -r '[.rollout.history[] | "\(.from)>\(.to):\(.reason)"] | join(";")' "$j")" \
   "(none)>shadow:shadow first;shadow>cutover:cut over;cutover>cutover:stop verifying" "route history with reasons"
check "history rows carry revision, time, actor, forced" \
   jqe '.rollout.history | all(.revision > 0 and (.ts | length) > 0 and .actor == "tester" and .forced == false)' "$j"
is "$(jq '.rollout.fallbacks.by_reason.error' "$j")" "$fallbacks" "fallbacks by reason: error"
is "$(jq '.rollout.fallbacks.served' "$j")" 42 "fallback rate over the calls meant for the candidate (12 + 30)"
is "$(jq -r '.rollout.verified_agreement.all | "\(.k)/\(.n)"' "$j")" "8/12" "verified agreement: the candidate's answers checked on the primary"
# since the last cutover: 30 calls, the fallbacks cost an API call; 300 a month before, 40 hosting
want=$(awk -v f="$fallbacks" 'BEGIN { s = 300 - (300 * f / 30 + 40); printf "%.2f %.2f", s, 2000 / s }')
got=$(jq -r '.rollout.savings | "\(.saving * 100 | round / 100) \(.breakeven_months * 100 | round / 100)"' "$j")
is "$(echo "$got" | awk '{ printf "%.2f %.2f", $1, $2 }')" "$want" "savings since cutover and break-even months of --setup-cost"
check "savings: before, hosting, setup, last 24 h" \
   jqe '.rollout.savings | .cost_before == 300 and .hosting_cost == 40 and .setup_cost == 2000 and .last_24h.calls == 62' "$j"

run "$OFFRAMP" report rr --setup-cost 2000
md=$WORK/out
check "report: a Rollout section" grep -q "^## Rollout" "$md"
check "... agreement per route with its interval" grep -q "^| shadow | .* | 50.0 % (95 % CI [0-9.]*-[0-9.]*, n=20) |" "$md"
check "... the route history" grep -q "^| [0-9]* | .* | set | tester | shadow → cutover | cut over |" "$md"
check "... fallbacks by reason" grep -q "fallback rate: .* error" "$md"
check "... verified agreement" grep -q "verified agreement .*: 66.7 % (95 % CI" "$md"
check "... the break-even in months" grep -q "break-even: [0-9.]* months for a one-off cost of \$2,000" "$md"
run "$OFFRAMP" report rr --setup-cost lots
is "$RC" 2 "report: a bad --setup-cost is a usage error"
check "... naming the value" grep -q "setup-cost 'lots'" "$WORK/err"

# ---- review list
run "$OFFRAMP" review list rr --json
is "$RC" 0 "review list --json"
cp "$WORK/out" "$WORK/list.json"
disagreements=$(sql "SELECT count(*) FROM exchanges WHERE agree = 0")
is "$(jq '.disagreements | length' "$WORK/list.json")" "$disagreements" "every disagreement listed (shadow and verified)"
check "each with id, time, no grade yet, input and both answers" \
   jqe '.disagreements | all((.id | length) > 0 and (.ts | length) > 0 and .grade == null and .input == "billing" and .primary == "echo:billing" and .candidate == "echo:refund")' "$WORK/list.json"
check "graded counts start at zero" jqe '.graded == {"primary":0,"candidate":0,"both":0,"neither":0}' "$WORK/list.json"
run "$OFFRAMP" review list rr --limit 3
is "$(grep -c "echo:billing" "$WORK/out")" 3 "review list --limit 3: three rows"
rid=$(jq -r '.disagreements[0].id' "$WORK/list.json")
check "the text lists the request id" grep -q "$rid" "$WORK/out"

# ---- review grade
before=$(sql "SELECT count(*) FROM review_grades")
run "$OFFRAMP" review grade rr ofr-no-such-request candidate
is "$RC" 1 "grade: an unknown request id is refused"
check "... naming the id, the task and the fix" grep -q "no captured request ofr-no-such-request in task rr (offramp review list rr" "$WORK/err"
agreed=$(sql "SELECT rid FROM exchanges WHERE agree = 1 LIMIT 1")
run "$OFFRAMP" review grade rr "$agreed" candidate
is "$RC" 1 "grade: a request whose answers agreed is refused"
check "... saying it is not a disagreement" grep -q "is not a disagreement" "$WORK/err"
run "$OFFRAMP" review grade rr "$rid" maybe
is "$RC" 2 "grade: an unknown grade is a usage error"
is "$(sql "SELECT count(*) FROM review_grades")" "$before" "nothing written by the refused grades"
is "$(sql "SELECT count(*) FROM exchanges WHERE flag IS NOT NULL")" 0 "no flag set by them"
run "$OFFRAMP" review grade rr "$rid" candidate --json
is "$RC" 0 "grade a disagreement by its request id"
check "grade --json: id, grade, the primary's flag, the counts" \
   jqe ".id == \"$rid\" and .grade == \"candidate\" and .primary_flag == \"corrected\" and .graded.candidate == 1" "$WORK/out"
is "$(sql "SELECT grade || ' ' || actor FROM review_grades WHERE rid = '$rid'")" "candidate tester" "the grade is stored with its actor"
is "$(sql "SELECT flag FROM exchanges WHERE rid = '$rid'")" corrected "the primary's answer is flagged corrected (the dataset drops it)"
run "$OFFRAMP" review list rr --json
is "$(jq -r ".disagreements[] | select(.id == \"$rid\") | .grade" "$WORK/out")" candidate "review list shows the grade"
run "$OFFRAMP" report rr --json
is "$(jq '.rollout.graded.candidate' "$WORK/out")" 1 "the report counts the graded disagreement"

# ---- operate and versions
run "$OFFRAMP" operate rr --json
is "$RC" 0 "operate --json"
check "operate: verified agreement and fallback rate over 24 h with their bars" \
   jqe ".verified_agreement.last_24h.k == 8 and .verified_agreement.last_24h.n == 12 and .fallback_rate.last_24h.k == $fallbacks and .fallback_rate.last_24h.n == 42 and .fallback_rate.bar == 0.25 and .verified_agreement.bar == 0.9" "$WORK/out"
check "operate: savings and versions" jqe '.savings.cost_before == 300 and .savings.hosting_cost == 40 and .versions == []' "$WORK/out"
run "$OFFRAMP" operate rr
check "operate: text" grep -q "^verified agreement   66.7 % (n=12, 24 h)" "$WORK/out"
sql "INSERT INTO experiments(task_id, dataset_id, backend, job_id, base_model, status, fine_tuned_model, created_at, updated_at)
     SELECT id, NULL, 'b', 'job-1', 'base', 'succeeded', 'ft:rr:1', 'now', 'now' FROM tasks WHERE name = 'rr'"
run "$OFFRAMP" versions rr --json
last_rev=$(sql "SELECT max(id) FROM route_events WHERE task = 'rr'")
check "versions --json: the model and the route revision that put it in front" \
   jqe ".task == \"rr\" and (.versions | length) == 1 and .versions[0].model == \"ft:rr:1\" and .versions[0].job == \"job-1\" and .versions[0].route_revision == $last_rev" "$WORK/out"
run "$OFFRAMP" versions rr
check "versions: text" grep -q "job job-1 -> ft:rr:1 -> route revision $last_rev" "$WORK/out"
for cmd in operate versions "review list"; do
   run "$OFFRAMP" $cmd nosuch
   is "$RC" 1 "$cmd: an unknown task is an error"
   check "... naming it" grep -q "nosuch" "$WORK/err"
   run "$OFFRAMP" $cmd --help
   is "$RC" 0 "$cmd --help"
done

# Numbers that agree: costs say whether they are declared (the task's --cost) or measured (the
# audit of the logs); every agreement bar says where it is set, and changing it changes every view.
run "$OFFRAMP" operate rr
check "operate: the cost before is the declared one" grep -q "^savings  *\$300/month declared before" "$WORK/out"
check "operate: the agreement bar and its source" grep -q "bar 90.0 %: the task's agreement bar (offramp task edit --agreement-bar)" "$WORK/out"
check "operate: the fallback bar and its source" grep -q "bar 25.0 %: the rollout's max_fallback_rate (offramp rollout set --max-fallback-rate)" "$WORK/out"
run "$OFFRAMP" report rr
check "report: the task's cost is labelled declared" grep -q "^| monthly cost (declared) | \$300 |" "$WORK/out"
check "report: the savings start from the declared cost" grep -q "^- before: \$300/month on the API (declared: offramp task edit --cost)" "$WORK/out"
check "report: the verified agreement's bar and its source" grep -q "(bar 90.0 %: the task's agreement bar (offramp task edit --agreement-bar))" "$WORK/out"
"$OFFRAMP" rollout set rr --min-agreement 0.85 > /dev/null
run "$OFFRAMP" operate rr --json
check "operate --json: the rollout's bar, said so" jqe '.verified_agreement.bar == 0.85 and (.verified_agreement.bar_source | startswith("the rollout'"'"'s min_agreement"))' "$WORK/out"
run "$OFFRAMP" report rr --json
check "report --json: the same bar, the same source" jqe '.rollout.verified_agreement.bar == 0.85 and (.rollout.verified_agreement.bar_source | startswith("the rollout'"'"'s min_agreement"))' "$WORK/out"
run "$OFFRAMP" rollout status rr
check "rollout status: the same bar, the same source" grep -q "agreement >= 85.0 % (bar: the rollout's min_agreement (offramp rollout set --min-agreement))" "$WORK/out"
run "$OFFRAMP" audit
check "audit: its cost is the measured one" grep -q "^audit: .*/month on the API (measured)" "$WORK/out"

finish
