#!/bin/sh
# demo.sh - offramp demo --script end to end: the demo workspace, its services (replay server as
# the frontier stand-in, the trainer, the gateway) and every phase's figures, then no child left.
# Also offramp replay-server and offramp replay on their own.
. "$TESTS_SRCDIR/lib.sh"
command -v sqlite3 >/dev/null 2>&1 || skip_all "sqlite3 not installed (apt-get install sqlite3)"
command -v curl >/dev/null 2>&1 || skip_all "curl not installed (apt-get install curl)"
export OFFRAMP_SHARE
WS=$TMP/demo/demo.db
export OFFRAMP_WORKSPACE=$WS
mkdir -p "$TMP/demo"

# Processes whose command line names the test's directory: the demo's children if any is left.
left_over() {
   for d in /proc/[0-9]*; do
      [ "${d#/proc/}" = "$$" ] && continue
      tr '\0' ' ' < "$d/cmdline" 2>/dev/null | grep -q "$TMP/demo" && echo "${d#/proc/}"
   done
}

# field LINE-PREFIX SED-EXPR: a number out of the script's output
field() {
   printf '%s\n' "$OUT" | grep -m1 -- "$1" | sed -n "$2"
}

start=$(date +%s)
run timeout 360 "$OFFRAMP" -w "$WS" demo --script
end=$(date +%s)
printf '%s\n' "$OUT" | sed 's/^/# /'
expect_rc "demo --script gets through every phase" 0
echo "# demo --script took $((end - start)) s (not asserted: no timed tests; the sanitizer build is slower)"
contains "services announced" "$OUT" "frontier (replay) :"
contains "audit table printed" "$OUT" "chat-responses"
contains "classification scored to the top" "$OUT" "content-classification scored S5 I4 C1: rank 1 of 7"

train=$(field "2 dataset" 's/.*#1: \([0-9,]*\) train.*/\1/p' | tr -d ,)
test_rows=$(field "2 dataset" 's/.* + \([0-9,]*\) test rows.*/\1/p' | tr -d ,)
[ "${train:-0}" -ge 1500 ] && ok "dataset: $train train rows (>= 1,500; the gate needs 500)" || not_ok "dataset train rows" "$train"
equals "dataset registered with those rows" \
   "$(sql "SELECT rows_train || ' ' || rows_test FROM datasets d JOIN tasks t ON t.id = d.task_id
           WHERE t.name = 'content-classification'")" "$train $test_rows"
contains "dataset has the 8 queues" "$OUT" "8 labels"

acc=$(field "validation accuracy" 's/.*validation accuracy \([0-9.]*\) %.*/\1/p')
in_band() { awk -v v="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(v >= lo && v <= hi) }'; }
in_band "${acc:-0}" 88 98 && ok "trained model validation accuracy $acc % in [88, 98]" || not_ok "training accuracy" "$acc"
equals "the experiment succeeded and is the candidate" \
   "$(sql "SELECT e.status FROM experiments e JOIN tasks t ON t.candidate_experiment = e.id
           WHERE t.name = 'content-classification'")" "succeeded"

equals "the demo task keeps the default gates (eval margin, agreement bar, comparisons)" \
   "$(sql "SELECT eval_margin || ' ' || agreement_bar || ' ' || min_comparisons FROM tasks WHERE name = 'content-classification'")" \
   "5.0 0.9 500"
eacc=$(field "4 evaluate" 's/.*accuracy \([0-9.]*\) %.*/\1/p')
in_band "${eacc:-0}" 95 98 && ok "eval accuracy $eacc % in [95, 98] (the default gate: reference 100 % - 5 pts)" ||
   not_ok "eval accuracy" "$eacc"
contains "eval gate passed" "$OUT" "gate evaluate -> shadow: passed"
contains "on the default margin" "$OUT" "needs 95.0 % (reference 100.0 % - 5 pts"
thr=$(field "recommended min_confidence" 's/.*min_confidence \([0-9.]*\):.*/\1/p')
in_band "${thr:-0}" 0.3 0.99 && ok "recommended threshold $thr" || not_ok "recommended threshold" "$thr"

agree=$(field "agreement" 's/.*agreement \([0-9.]*\) %.*/\1/p')
n=$(field "agreement" 's/.*n=\([0-9,]*\)).*/\1/p' | tr -d ,)
in_band "${agree:-0}" 90 99.9 && ok "shadow agreement $agree % in [90, 99.9]" || not_ok "shadow agreement" "$agree"
[ "${n:-0}" -ge 500 ] && ok "shadow comparisons n=$n (the gate needs 500)" || not_ok "shadow comparisons" "$n"
contains "shadow gate passed on its own figures" "$OUT" "gate shadow -> canary: passed"
contains "phase moved past shadow with the route (rollout step-up)" "$OUT" "phase shadow -> canary (offramp rollout step-up)"

p10=$(field "canary 10 %:" 's/.*candidate answered [0-9]* (\([0-9.]*\) %).*/\1/p')
p50=$(field "canary 50 %:" 's/.*candidate answered [0-9]* (\([0-9.]*\) %).*/\1/p')
in_band "${p10:-0}" 5 15 && ok "canary 10 %: candidate answered $p10 %" || not_ok "canary 10 %" "$p10"
in_band "${p50:-0}" 40 60 && ok "canary 50 %: candidate answered $p50 %" || not_ok "canary 50 %" "$p50"
v10=$(field "canary 10 %:" 's/.*, \([0-9]*\) of them verified.*/\1/p')
v50=$(field "canary 50 %:" 's/.*, \([0-9]*\) of them verified.*/\1/p')
[ "${v10:-0}" -ge 50 ] && [ "${v50:-0}" -ge 50 ] && ok "each canary step waited for 50 verified comparisons ($v10, $v50)" ||
   not_ok "verified comparisons per canary step" "$v10 $v50"
# gateway_checks TASK: the gateway's own canary verdicts for the task, by step
gateway_checks() {
   sql "SELECT group_concat(k, ', ') FROM (SELECT DISTINCT e.kind || ' ' || e.percent AS k FROM rollout_events e
        JOIN tasks t ON t.id = e.task_id WHERE t.name = '$1' AND e.kind != 'inconclusive' AND e.actor = 'gateway'
        ORDER BY e.percent)"
}
equals "the gateway's checks at each step passed (none failed; quiet intervals are inconclusive)" \
   "$(gateway_checks content-classification)" "pass 10, pass 50"
contains "the analysis read agreement from the verified answers" "$OUT" "analysis pass: error rate"
contains "canary gate passed" "$OUT" "gate canary -> cutover: passed"

sent=$(field "route cutover" 's/.*, \([0-9]*\) sent to the candidate.*/\1/p')
equals "cutover: every request goes to the candidate (100 %)" "$sent" 300
equals "route stored at cutover (100 %, the phase's route)" \
   "$(sql "SELECT json_extract(route, '\$.mode') FROM routes WHERE task = 'content-classification'")" cutover
equals "the task ends in phase operate" "$(sql "SELECT phase FROM tasks WHERE name = 'content-classification'")" operate
contains "the script says phase and route are at operate" "$OUT" "8 operate  phase operate, route operate (cutover"
fails=$(printf '%s\n' "$OUT" | grep -c "FAIL\|refused\|stopped in phase")
equals "no FAIL line, no refused gate" "$fails" 0
equals "no route change forced past a gate, for any task" \
   "$(sql "SELECT count(*) FROM route_events WHERE forced != 0 OR reason LIKE '%forced%'")" 0
equals "no phase change forced past a gate, for any task" "$(sql "SELECT count(*) FROM phase_events WHERE forced != 0")" 0
fb=$(field "^           fallbacks [0-9]" 's/.*fallbacks \([0-9]*\) .*/\1/p')
low=$(field "^           fallbacks [0-9]" 's/.*low_confidence \([0-9]*\),.*/\1/p')
err=$(field "^           fallbacks [0-9]" 's/.*error \([0-9]*\),.*/\1/p')
tmo=$(field "^           fallbacks [0-9]" 's/.*timeout \([0-9]*\)$/\1/p')
[ "${fb:-0}" -gt 0 ] && [ "${fb:-0}" -lt 150 ] && ok "fallbacks counted: $fb of 300" || not_ok "fallbacks" "$fb"
equals "fallbacks add up by reason" "$((low + err + tmo))" "$fb"
equals "route changes recorded (shadow, canary 10, canary 50, cutover)" \
   "$(sql "SELECT group_concat(json_extract(new_route, '\$.mode') || CASE json_extract(new_route, '\$.mode')
           WHEN 'canary' THEN ' ' || json_extract(new_route, '\$.percent') ELSE '' END, ', ')
           FROM route_events WHERE task = 'content-classification'")" "shadow, canary 10.0, canary 50.0, cutover"
equals "the phase followed each route change" \
   "$(sql "SELECT group_concat(to_phase, ' ') FROM phase_events e JOIN tasks t ON t.id = e.task_id
           WHERE t.name = 'content-classification'")" "audit dataset train evaluate shadow canary cutover operate"

# ---- the tasks beyond labels: the kind each one's logs show, and where each one stops
kind_of() { sql "SELECT answer_kind FROM tasks WHERE name = '$1'"; }
contains "the extraction task's kind, inferred from its answers, with why" "$OUT" \
   "order-extraction: kind extraction: 100 % of"
equals "recorded as extraction" "$(kind_of order-extraction)" extraction
contains "the rewrite task's kind, with why" "$OUT" "ticket-rewrite: kind rewrite: free text:"
equals "recorded as rewrite" "$(kind_of ticket-rewrite)" rewrite
equals "the label task keeps its declared kind" "$(kind_of content-classification)" label
xtrain=$(sql "SELECT rows_train FROM datasets d JOIN tasks t ON t.id = d.task_id WHERE t.name = 'order-extraction'")
[ "${xtrain:-0}" -ge 500 ] && ok "extraction dataset built: $xtrain train rows (the gate needs 500)" ||
   not_ok "extraction dataset" "$xtrain"
equals "the rewrite task stays on the API" "$(sql "SELECT phase FROM tasks WHERE name = 'ticket-rewrite'")" stay
contains "the script says why it stays" "$OUT" "stays on the API (phase train -> stay): no owned generator"
contains "and names the gate it cannot meet" "$OUT" "needs chrf within 5 pts of the frontier's and format compliance >= 98 %"
refused=$(printf '%s\n' "$OUT" | grep -c "^           demo-trainer: experiment #[0-9]* failed: .*free text, not labels")
equals "the demo's trainer was asked to train the rewrite task and said why it cannot (free text)" "$refused" 1
equals "the extraction task was trained (its experiment succeeded and is the candidate); the rewrite task has none" \
   "$(sql "SELECT group_concat(c, ', ') FROM (SELECT t.name || ': ' || coalesce(e.status, 'none') AS c FROM tasks t
           LEFT JOIN experiments e ON e.id = t.candidate_experiment
           WHERE t.name IN ('order-extraction', 'ticket-rewrite') ORDER BY t.name)")" \
   "order-extraction: succeeded, ticket-rewrite: none"

# ---- the extraction task's walk: audit -> operate on the built-in extractor, under the default gates
# xfield LINE-PREFIX SED-EXPR: a figure out of the extraction task's part of the output
xfield() {
   printf '%s\n' "$OUT" | sed -n '/^9 extract/,/^10 rewrite/p' | grep -m1 -- "$1" | sed -n "$2"
}
contains "the extraction task is trained on the built-in trainer" "$OUT" "  train    experiment #"
contains "... as an extractor" "$OUT" "an extractor (a tagger per field)"
equals "the extraction task keeps the default gates (eval margin, agreement bar, comparisons, format bar)" \
   "$(sql "SELECT eval_margin || ' ' || agreement_bar || ' ' || min_comparisons || ' ' || format_bar FROM tasks
           WHERE name = 'order-extraction'")" "5.0 0.9 500 0.98"
facc=$(xfield "evaluate run" 's/.*field accuracy \([0-9.]*\) %.*/\1/p')
fn=$(xfield "evaluate run" 's/.*n=\([0-9,]*\)).*/\1/p' | tr -d ,)
in_band "${facc:-0}" 95 100 && ok "extraction eval: field accuracy $facc % (n=$fn fields; the gate needs 95 %)" ||
   not_ok "extraction field accuracy" "$facc"
wacc=$(xfield "whole answers" 's/.*whole answers \([0-9.]*\) %.*/\1/p')
in_band "${wacc:-0}" 95 100 && ok "extraction eval: whole answers $wacc % (the accuracy gate needs 95 %)" ||
   not_ok "extraction whole-answer accuracy" "$wacc"
conf=$(xfield "confidence: an answer's least sure field" 's/.*on \([0-9]*\) of \([0-9]*\) answers.*/\1 \2/p')
[ -n "$conf" ] && [ "${conf% *}" = "${conf#* }" ] && [ "${conf% *}" -gt 0 ] &&
   ok "every evaluated answer had a confidence, its least sure field's ($conf)" || not_ok "extraction confidences" "$conf"
equals "the evaluation compared JSON answers per field" \
   "$(sql "SELECT json_extract(r.metrics, '\$.compare') FROM eval_runs r JOIN tasks t ON t.id = r.task_id
           WHERE t.name = 'order-extraction' ORDER BY r.id DESC LIMIT 1")" json
xagree=$(xfield "agreement" 's/.*agreement \([0-9.]*\) %.*/\1/p')
xlo=$(xfield "agreement" 's/.*95 % CI \([0-9.]*\)-.*/\1/p')
xn=$(xfield "agreement" 's/.*n=\([0-9,]*\)).*/\1/p' | tr -d ,)
in_band "${xlo:-0}" 90 100 && ok "extraction shadow agreement $xagree %, its lower bound $xlo % >= the 90 % bar" ||
   not_ok "extraction shadow agreement" "$xagree (lower bound $xlo)"
[ "${xn:-0}" -ge 500 ] && ok "extraction shadow comparisons n=$xn (the gate needs 500)" ||
   not_ok "extraction shadow comparisons" "$xn"
equals "the extraction route compares JSON and ends at cutover" \
   "$(sql "SELECT json_extract(route, '\$.compare') || ' ' || json_extract(route, '\$.mode') FROM routes
           WHERE task = 'order-extraction'")" "json cutover"
equals "its route changes (shadow, canary 10, canary 50, cutover)" \
   "$(sql "SELECT group_concat(json_extract(new_route, '\$.mode') || CASE json_extract(new_route, '\$.mode')
           WHEN 'canary' THEN ' ' || json_extract(new_route, '\$.percent') ELSE '' END, ', ')
           FROM route_events WHERE task = 'order-extraction'")" "shadow, canary 10.0, canary 50.0, cutover"
equals "the gateway's checks at each of its canary steps passed" "$(gateway_checks order-extraction)" "pass 10, pass 50"
xsent=$(xfield "route cutover" 's/.*, \([0-9]*\) sent to the candidate.*/\1/p')
equals "extraction cutover: every request goes to the extractor" "$xsent" 300
equals "the extraction task reaches phase operate through every phase" \
   "$(sql "SELECT group_concat(to_phase, ' ') FROM phase_events e JOIN tasks t ON t.id = e.task_id
           WHERE t.name = 'order-extraction'")" "audit dataset train evaluate shadow canary cutover operate"
contains "the script says the extractor serves" "$OUT" "  operate  phase operate, route operate (cutover"
equals "the stay is recorded with its reason" \
   "$(sql "SELECT e.kind || ': ' || (e.reason LIKE '%no owned generator%chrf within 5 pts%')
           FROM phase_events e JOIN tasks t ON t.id = e.task_id WHERE t.name = 'ticket-rewrite' ORDER BY e.id DESC LIMIT 1")" "stay: 1"
equals "its gates were not relaxed (eval margin, format bar)" \
   "$(sql "SELECT eval_margin || ' ' || format_bar FROM tasks WHERE name = 'ticket-rewrite'")" "5.0 0.98"

left=$(left_over)
equals "no child process left" "$left" ""
grep -l "Sanitizer\|runtime error" "$TMP"/demo/demo.data/demo/*.log >/dev/null 2>&1 &&
   not_ok "services ran clean under the sanitizers" "$(cat "$TMP"/demo/demo.data/demo/*.log | head -40)" ||
   ok "services' logs free of sanitizer reports"

# ---- replay-server and replay on their own, on the demo workspace's logs
"$OFFRAMP" replay-server --task content-classification --task order-extraction --latency-ms 5 --error-rate 0.1 --seed 3 \
   > "$TMP/rs.out" 2> "$TMP/rs.err" &
RS_PID=$!
for _ in $(seq 200); do grep -q listening "$TMP/rs.out" 2>/dev/null && break; sleep 0.05; done
RS=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$TMP/rs.out")
contains "replay-server says it replays" "$(cat "$TMP/rs.out")" "REPLAYING recorded responses"
contains "its models say so too" "$(curl -s "$RS/models")" "replays recorded responses"
run curl -s -w '%{http_code}' -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"never logged"}]}' "$RS/chat/completions"
contains "an unknown request gets a 404 OpenAI error" "$OUT" '"code":"not_recorded"}}404'
run "$OFFRAMP" replay --task content-classification --to "$RS" --rate 0 --count 200 --concurrency 8 --json
expect_rc "replay straight to the replay server" 0
ok_n=$(printf '%s\n' "$OUT" | sed -n 's/.*"ok": \([0-9]*\).*/\1/p' | head -1)
in_band "${ok_n:-0}" 160 195 && ok "about 10 % injected errors: $ok_n of 200 ok" || not_ok "injected error rate" "$OUT"
stats=$(curl -s "${RS%/v1}/stats")
contains "the server saw every request" "$stats" '"requests":201'
run "$OFFRAMP" replay --task order-extraction --to "$RS" --rate 0 --count 40 --concurrency 8 --json
ok_n=$(printf '%s\n' "$OUT" | sed -n 's/.*"ok": \([0-9]*\).*/\1/p' | head -1)
in_band "${ok_n:-0}" 28 40 && ok "a second --task is served too: $ok_n of 40 extraction calls ok" ||
   not_ok "replay-server with two --task" "$OUT"
run "$OFFRAMP" replay --task nosuch --to "$RS"
expect_rc "no requests of an unknown task" 1
contains "says which task" "$ERR" "no logged requests of task nosuch"
kill "$RS_PID"
wait "$RS_PID"
equals "replay-server stops on SIGTERM" "$?" 0
contains "and prints its summary" "$(cat "$TMP/rs.err")" "241 requests"
run "$OFFRAMP" replay-server --task content-classification --task nosuch
expect_rc "replay-server: a --task without logged answers" 1
contains "says which task" "$ERR" "holds no recorded answers of task nosuch"

# demo --clean deletes the demo workspaces (this one and its -script sibling) and says what it freed.
: > "$TMP/demo/demo-script.db"
run "$OFFRAMP" -w "$WS" demo --clean
expect_rc "demo --clean" 0
contains "says how much it freed" "$OUT" "demo workspaces removed: "
contains "... in MB (logs, datasets and models)" "$OUT" " MB freed"
[ ! -e "$WS" ] && [ ! -e "${WS%.db}.data" ] && [ ! -e "$TMP/demo/demo-script.db" ] &&
   ok "the workspaces and their data are gone" || not_ok "the workspaces and their data are gone" "$(ls -la "$TMP/demo")"
run "$OFFRAMP" -w "$WS" demo --clean --reset
expect_rc "--clean goes alone" 2

done_testing
