#!/bin/sh
# gates.sh - gates that bind, with a real gateway and workspace: a route past an unmet gate is
# refused by the CLI (exit 3, the missing items) and by the admin API (409); --force with a
# reason goes through, recorded as forced (route show, the task view, the report); evaluating
# another model (the frontier itself) does not open the picked candidate's gate, picking another
# model closes it again; a rollback moves the phase back; the shadow gate counts the candidate's
# own comparisons; a restarted gateway serves what the phase allows; route revert.
. "$TESTS_SRCDIR/gw/gwlib.sh"
export OFFRAMP_WORKSPACE="$WS" OFFRAMP_ADMIN_TOKEN="$TOKEN"

start_standin up --content billing --model frontier-1
start_standin good --content billing --model ft:intent:1
start_standin bad --content refund --model ft:intent:2

"$OFFRAMP" task add intent --kind label > /dev/null
# The phases before evaluate are other tests' subject: the task starts in evaluate with two
# trained models (from files, so any test set), served by the stand-ins.
ID=$(sql "SELECT id FROM tasks WHERE name = 'intent'")
sql "UPDATE tasks SET phase = 'evaluate', min_comparisons = 20, agreement_bar = 0.5 WHERE id = $ID;
     INSERT INTO backends(name, kind, base_url, created_at) VALUES ('good', 'openai-ft', '$good_URL', '2026-12-01T00:00:00Z'),
        ('bad', 'openai-ft', '$bad_URL', '2026-12-01T00:00:00Z');
     INSERT INTO experiments(task_id, backend, job_id, base_model, status, fine_tuned_model, created_at, updated_at)
        VALUES ($ID, 'good', 'job-1', 'distill', 'succeeded', 'ft:intent:1', '2026-12-01T00:00:00Z', '2026-12-01T00:00:00Z'),
               ($ID, 'bad', 'job-2', 'distill', 'succeeded', 'ft:intent:2', '2026-12-01T00:00:00Z', '2026-12-01T00:00:00Z');"
EXP1=$(sql "SELECT id FROM experiments WHERE job_id = 'job-1'")
EXP2=$(sql "SELECT id FROM experiments WHERE job_id = 'job-2'")
mkdir -p "$WORK/ds"
for i in $(seq 20); do
   printf '{"messages":[{"role":"user","content":"ticket %d"},{"role":"assistant","content":"billing"}]}\n' "$i"
done > "$WORK/ds/test.jsonl"
cp "$WORK/ds/test.jsonl" "$WORK/ds/train.jsonl"
phase() { sql "SELECT phase FROM tasks WHERE id = $ID"; }

# --- the evaluate gate is about the picked model ---
"$OFFRAMP" job pick "$EXP2" > /dev/null
"$OFFRAMP" eval intent --test-file "$WORK/ds/test.jsonl" > /dev/null 2>&1
is "$?" 0 "the picked model (ft:intent:2) is evaluated"
# The frontier trick: evaluating the frontier itself scores 100 %, which says nothing of the candidate.
"$OFFRAMP" eval intent --candidate "$up_URL|frontier-1" --test-file "$WORK/ds/test.jsonl" > /dev/null 2>&1
is "$?" 0 "the frontier is evaluated too (100 %)"
"$OFFRAMP" phase show intent > "$WORK/gate.out"
check "the gate reads the picked model's run: accuracy 0 %" grep -q "\[no\] accuracy: 0.0 %" "$WORK/gate.out"
"$OFFRAMP" phase advance intent > /dev/null 2>&1
is "$?" 3 "the frontier's run does not open the gate"

start_gateway --upstream "$up_URL"
export OFFRAMP_GATEWAY="$GW"
R="$OFFRAMP route"
BAD="--candidate-url $bad_URL --candidate-model ft:intent:2 --compare label"
GOOD="--candidate-url $good_URL --candidate-model ft:intent:1 --compare label"

# --- bypasses refused ---
$R set intent --mode cutover $BAD --reason "ship it" > /dev/null 2> "$WORK/cut.err"
is "$?" 3 "route set past the evaluate gate: exit 3"
check "the refusal lists the failed accuracy" grep -q "failed accuracy: 0.0 %" "$WORK/cut.err"
check "... and the shadow gate's missing comparisons" grep -q "failed shadow comparisons: 0 of ft:intent:2" "$WORK/cut.err"
check "its last line names every unmet check" \
   grep -q "refused by the gates, not met: accuracy, format compliance, shadow comparisons, agreement, canary analysis" "$WORK/cut.err"
is "$(phase)" evaluate "the phase did not move"
is "$(sql "SELECT count(*) FROM route_events")" 0 "no route recorded"
code=$(curl -s -o "$WORK/put.json" -w '%{http_code}' -X PUT -H "Authorization: Bearer $TOKEN" \
   -d "{\"mode\":\"canary\",\"percent\":50,\"candidate\":{\"url\":\"$bad_URL\",\"model\":\"ft:intent:2\"},\"reason\":\"ship it\"}" \
   "$GW/admin/routes/intent")
is "$code" 409 "the admin API refuses it: 409"
is "$(jq -r '[.error.missing[] | .gate + ":" + .what] | join(",")' "$WORK/put.json")" \
   "evaluate:accuracy,evaluate:format compliance,shadow:shadow comparisons,shadow:agreement" "with the missing items by gate"
is "$(admin GET /admin/routes/intent | jq -r '.route.mode // "none"')" none "the gateway serves no route for it"

# --- forced: recorded and shown ---
$R set intent --mode shadow $BAD --force > /dev/null 2>&1
is "$?" 2 "--force without --reason: usage error"
$R set intent --mode shadow $BAD --force --reason "see the weaker model on live traffic" > "$WORK/forced.out"
is "$?" 0 "--force --reason goes through"
check "the CLI says it was forced" grep -q "FORCED past the gates, recorded: see the weaker model" "$WORK/forced.out"
is "$(sql "SELECT forced || ' ' || actor FROM route_events ORDER BY id DESC LIMIT 1")" "1 tester" "the route event is marked forced, with who"
is "$(phase)" shadow "the phase moved with the route"
is "$(sql "SELECT kind || ' ' || from_phase || '>' || to_phase || ' ' || forced FROM phase_events ORDER BY id DESC LIMIT 1")" \
   "advance evaluate>shadow 1" "the phase move is marked forced too"
$R show intent > "$WORK/show.out"
check "route show marks it" grep -q 'r1 .* tester set: (none) -> shadow "see the weaker model on live traffic"  candidate ft:intent:2  FORCED' "$WORK/show.out"
"$OFFRAMP" report intent > "$WORK/report.md"
check "the report marks it" grep -q "## FORCED past the gates (2)" "$WORK/report.md"
check "... with who and why" grep -q "| route | (none) -> shadow | tester | see the weaker model on live traffic |" "$WORK/report.md"
printf ':task intent\nG\n:save-display task.txt\nq\nq\n' > "$WORK/script.txt"
(cd "$WORK" && LINES=60 COLUMNS=140 TERM=xterm TZ=UTC OFFRAMP_SCRIPT=script.txt "$OFFRAMP" > console.out 2>&1)
check "the console's timeline marks the forced move" grep -q "advance  evaluate → shadow  FORCED" "$WORK/task.txt"
"$LOADGEN" --url "$GW/v1/chat/completions" -n 20 -c 4 --task intent > /dev/null
wait_captured

# --- rollback moves the phase ---
$R rollback intent --reason "the weaker model disagrees" > /dev/null
is "$?" 0 "route rollback: exit 0"
is "$(phase)" evaluate "the phase follows the route back to evaluate"
is "$(sql "SELECT kind || ' ' || to_phase || ' ' || forced FROM phase_events ORDER BY id DESC LIMIT 1")" "rollback evaluate 0" \
   "recorded as a rollback"

# --- another pick closes the gate until that model is evaluated; then the normal path ---
"$OFFRAMP" job pick "$EXP1" > /dev/null
"$OFFRAMP" phase show intent > "$WORK/gate2.out"
check "picking ft:intent:1 re-closes the gate" grep -q "no finished evaluation of ft:intent:1" "$WORK/gate2.out"
$R set intent --mode shadow $GOOD --reason "picked" > /dev/null 2>&1
is "$?" 3 "shadow with the unevaluated pick: refused"
"$OFFRAMP" eval intent --test-file "$WORK/ds/test.jsonl" > /dev/null 2>&1
$R set intent --mode shadow $BAD --reason "the wrong model" > /dev/null 2> "$WORK/wrong.err"
is "$?" 3 "a route naming another model than the evaluated pick: refused"
check "saying which model is picked" grep -q "the route names ft:intent:2, the picked candidate is ft:intent:1" "$WORK/wrong.err"
$R set intent --mode shadow $GOOD --reason "ft:intent:1 passed its evaluation" > "$WORK/shadow.out"
is "$?" 0 "the evaluated pick goes to shadow"
check "not forced" sh -c "! grep -q FORCED '$WORK/shadow.out'"
is "$(phase)" shadow "the phase is shadow"
$R set intent --mode canary --percent 10 --reason "too early" > /dev/null 2> "$WORK/early.err"
is "$?" 3 "canary before the candidate's own comparisons: refused"
check "the 20 comparisons of the other model do not count" grep -q "shadow comparisons: 0 of ft:intent:1" "$WORK/early.err"
"$LOADGEN" --url "$GW/v1/chat/completions" -n 40 -c 4 --task intent > /dev/null
wait_captured
$R set intent --mode canary --percent 10 --reason "agreement holds" > /dev/null
is "$?" 0 "canary once the shadow gate is open"
is "$(phase)" canary "the phase moved to canary"

# --- a restarted gateway serves what the phase allows ---
stop_gateway
"$OFFRAMP" phase rollback intent shadow --reason "rolled back by hand" > /dev/null
start_gateway --upstream "$up_URL"
export OFFRAMP_GATEWAY="$GW"
is "$(admin GET /admin/routes/intent | jq -r .route.mode)" shadow "the restarted gateway serves shadow, not the stored canary"
check "and logs why" grep -q "route intent: the stored mode canary is ahead of the phase shadow: serving shadow" "$WORK/gw.err"

# --- revert to the previous model ---
"$OFFRAMP" job pick "$EXP2" > /dev/null
$R set intent $BAD --reason "try ft:intent:2 again" > /dev/null 2>&1
is "$?" 3 "the failed model cannot come back unforced"
$R set intent $BAD --force --reason "compare on live traffic" > /dev/null
is "$(admin GET /admin/routes/intent | jq -r .route.candidate.model)" ft:intent:2 "forced: ft:intent:2 in shadow"
$R revert intent 99 > /dev/null 2> "$WORK/rev99.err"
is "$?" 1 "revert to a revision that does not exist: exit 1"
check "saying how many there are" grep -q "intent has 5 route revisions, not 99" "$WORK/rev99.err"
$R revert intent --reason "back to the version that passed" > "$WORK/revert.out"
is "$?" 0 "route revert: exit 0"
is "$(admin GET /admin/routes/intent | jq -r '.route.candidate.model + " " + .route.mode')" "ft:intent:1 shadow" \
   "the previous model serves again, the mode kept"
is "$(sql "SELECT forced || ' ' || reason FROM route_events ORDER BY id DESC LIMIT 1")" \
   "0 revert to revision 4 (ft:intent:1): back to the version that passed" "recorded as a revert, not forced"
finish
