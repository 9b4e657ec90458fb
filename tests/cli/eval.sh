#!/bin/sh
# eval.sh - offramp eval and offramp report against stand-in models (local OpenAI-compatible
# servers with scripted answers, confidences, latencies and failures), every metric checked
# against values computed by hand in the comments below.
. "$TESTS_SRCDIR/lib.sh"

STANDIN=$(dirname "$OFFRAMP")/tests/eval/standin_model
[ -x "$STANDIN" ] || skip_all "stand-in model not built ($STANDIN)"
command -v sqlite3 >/dev/null || skip_all "sqlite3 not installed"
cd "$TMP" || exit 1

# chat FILE INPUT ANSWER: append one chat fine-tuning example
chat() {
   printf '{"messages":[{"role":"system","content":"Classify."},{"role":"user","content":"%s"},{"role":"assistant","content":"%s"}]}\n' "$2" "$3" >> "$1"
}

ROWS="q1:billing q2:billing q3:billing q4:refund q5:refund q6:refund q7:other q8:other q9:other
q10:shipping q11:shipping q12:shipping"
mkdir -p ds slow
for row in $ROWS; do
   chat ds/test.jsonl "${row%:*}" "${row#*:}"
done
chat ds/train.jsonl t1 billing
chat ds/train.jsonl t2 cancel

# The candidate: input, answer, confidence, script (tab-separated).
#   right: q1 q2 q4 q5 (case differs) q7 q12 = 6/12; wrong: q3 q6 q8 (outside the label set);
#   q9 malformed, q10 always 500 (error), q11 slower than the timeout; q12 has no logprobs.
#   q4 fails twice with 500, q5 once with 429: both retried to an answer.
#   q1 alternates with "refund" when sampled (the consistency repeats).
{
   printf 'q1\tbilling\t0.95\tdelay=100,alt=refund\n'
   printf 'q2\tbilling\t0.90\tdelay=200\n'
   printf 'q3\trefund\t0.60\tdelay=300\n'
   printf 'q4\trefund\t0.85\tdelay=400,fail=2:500\n'
   printf 'q5\tRefund\t0.80\tdelay=500,fail=1:429\n'
   printf 'q6\tbilling\t0.40\tdelay=600\n'
   printf 'q7\tother\t0.99\tdelay=700\n'
   printf 'q8\tI think other\t0.30\tdelay=800\n'
   printf 'q9\tother\t0.99\tdelay=50,malformed\n'
   printf 'q10\tshipping\t0.99\talways=500\n'
   printf 'q11\tshipping\t0.99\tdelay=5000\n'
   printf 'q12\tshipping\t0.70\tdelay=900,nologprobs\n'
} > cand.map
# A perfect candidate, and a reference model wrong on q3 only.
: > good.map
: > ref.map
for row in $ROWS; do
   printf '%s\t%s\t0.9\tok\n' "${row%:*}" "${row#*:}" >> good.map
   if [ "${row%:*}" = q3 ]; then
      printf 'q3\trefund\t0.9\tok\n' >> ref.map
   else
      printf '%s\t%s\t0.9\tok\n' "${row%:*}" "${row#*:}" >> ref.map
   fi
done
: > slow.map
i=1
while [ $i -le 40 ]; do
   printf 's%d\tyes\t0.9\tdelay=100\n' $i >> slow.map
   chat slow/test.jsonl s$i yes
   i=$((i + 1))
done

start_model port requests.log 120 cand=cand.map good=good.map ref=ref.map slow=slow.map
URL=$MODEL_URL
requests() {   # requests MODEL [INPUT]: requests the stand-in received
   awk -F '\t' -v m="$1" -v i="${2:-}" '$1 == m && (i == "" || $2 == i)' requests.log | wc -l | tr -d ' '
}
metric() {   # metric RUN JSONPATH
   sql "SELECT json_extract(metrics, '\$.$2') FROM eval_runs WHERE id = $1"
}
metric4() {   # metric RUN JSONPATH, rounded to 4 places
   sql "SELECT round(json_extract(metrics, '\$.$2'), 4) FROM eval_runs WHERE id = $1"
}

"$OFFRAMP" task add intent --kind label --volume 100000 --cost 300 >/dev/null

# ---- errors name the thing and the fix
run "$OFFRAMP" eval intent --test-file ds/test.jsonl
expect_rc "candidate required" 1
contains "missing candidate says how to give one" "$ERR" "intent has no candidate: pass --candidate"
run "$OFFRAMP" eval intent --candidate cand --test-file ds/test.jsonl
expect_rc "a spec that is neither BACKEND:MODEL nor URL|MODEL is refused" 1
contains "spec error says the form" "$ERR" "URL|MODEL"
run "$OFFRAMP" eval intent --candidate "$URL|cand"
expect_rc "no dataset and no datasets table" 1
contains "no-dataset error names --test-file" "$ERR" "--test-file"
run "$OFFRAMP" eval nosuch --candidate "$URL|cand" --test-file ds/test.jsonl
expect_rc "unknown task" 1
run "$OFFRAMP" report intent
expect_rc "report without an evaluation: gate not passed" 3
contains "report says no run" "$OUT" "No evaluation run yet"
# intent's candidates, trained from files (so any test set), served by the stand-in: the gate
# reads the evaluation of the picked one only.
INTENT=$(sql "SELECT id FROM tasks WHERE name = 'intent'")
sql "INSERT INTO backends(name, kind, base_url, created_at) VALUES ('stand', 'openai-ft', '$URL', '2026-11-21T00:00:00Z');
     INSERT INTO experiments(task_id, backend, job_id, base_model, status, fine_tuned_model, created_at, updated_at)
        VALUES ($INTENT, 'stand', 'job-cand', 'distill', 'succeeded', 'cand', '2026-11-21T00:00:00Z', '2026-11-21T00:00:00Z'),
               ($INTENT, 'stand', 'job-good', 'distill', 'succeeded', 'good', '2026-11-21T00:00:00Z', '2026-11-21T00:00:00Z');"
EXP_CAND=$(sql "SELECT id FROM experiments WHERE job_id = 'job-cand'")
EXP_GOOD=$(sql "SELECT id FROM experiments WHERE job_id = 'job-good'")
"$OFFRAMP" job pick "$EXP_CAND" >/dev/null

# ---- run 1: the scripted candidate against the logged answers
run "$OFFRAMP" eval intent --candidate "$URL|cand" --test-file ds/test.jsonl --timeout-ms 2000 --backoff-ms 10 \
   --retries 3 --repeat-sample 3 --repeat-rows 2 --price-in 1 --price-out 2
expect_rc "eval run finishes" 0
R1=$(sql "SELECT max(id) FROM eval_runs")
equals "run stored as done" "$(sql "SELECT status FROM eval_runs WHERE id = $R1")" done
equals "accuracy k: q1 q2 q4 q5 q7 q12" "$(metric $R1 candidate.accuracy.k)" 6
equals "accuracy n: every row" "$(metric $R1 candidate.accuracy.n)" 12
equals "reference is the logged answers" "$(metric $R1 reference.source)" logged
equals "reference accuracy 12/12" "$(metric $R1 reference.accuracy.k)" 12
equals "errors: q10" "$(metric $R1 candidate.errors)" 1
equals "timeouts: q11" "$(metric $R1 candidate.timeouts)" 1
equals "malformed: q9" "$(metric $R1 candidate.malformed)" 1
equals "format n excludes transport failures" "$(metric $R1 candidate.format.n)" 10
equals "format k: q8 and q9 fail" "$(metric $R1 candidate.format.k)" 8
equals "no logprobs: q12" "$(metric $R1 candidate.no_logprobs)" 1
equals "consistency: q1 varies, q7 does not" "$(metric $R1 candidate.consistency.k)/$(metric $R1 candidate.consistency.n)" 1/2
# Latencies of the rows that answered: 50 100 200 ... 900 ms: p50 is 400, p95 and p99 900 (nearest
# rank; the stand-in's timers may fire a few ms early, a loaded machine adds tens of ms, less than
# the 100 ms between ranks).
p50=$(metric $R1 candidate.latency_ms.p50)
p95=$(metric $R1 candidate.latency_ms.p95)
equals "latency n: 10 answered rows" "$(metric $R1 candidate.latency_ms.n)" 10
check "p50 ~ 400 ms (got $p50)" awk -v v="$p50" 'BEGIN { exit !(v >= 390 && v < 495) }'
check "p95 ~ 900 ms (got $p95)" awk -v v="$p95" 'BEGIN { exit !(v >= 890 && v < 995) }'
# Tokens 10 in / 2 out a request at $1 / $2 per 1M: 1,000 requests cost (10000*1 + 2000*2)/1e6 = $0.014.
equals "cost per 1,000 from the usage and prices" "$(metric4 $R1 candidate.cost_per_1k)" 0.014
# Reference cost from the audit: $300 / 100,000 calls * 1,000 = $3.
equals "reference cost per 1,000 from the audit" "$(metric $R1 reference.cost_per_1k)" 3.0
# Per class (labels: billing refund other shipping from the test set, cancel from train):
#   billing P 2/3 R 2/3; other P 1 R 1/3 F1 0.5; shipping: q12 right, q10 q11 unanswered.
equals "label set has 5 labels" "$(sql "SELECT json_array_length(metrics, '\$.classes') FROM eval_runs WHERE id = $R1")" 5
equals "billing precision" "$(metric4 $R1 'classes[0].precision')" 0.6667
equals "other recall" "$(metric4 $R1 'classes[2].recall')" 0.3333
equals "other F1" "$(metric $R1 'classes[2].f1')" 0.5
equals "confusion billing -> refund (q3)" "$(metric $R1 'confusion.counts[0][1]')" 1
equals "confusion other -> outside the set (q8, q9)" "$(metric $R1 'confusion.counts[2][5]')" 2
equals "confusion shipping -> outside (q10, q11)" "$(metric $R1 'confusion.counts[3][5]')" 2
# Curve: confidences 0.95 0.90 0.60 0.85 0.80 0.40 0.99 0.30 (q1-q8); right except q3 q6 q8.
equals "t=0.00 covers the 8 rows with logprobs" "$(metric $R1 'curve.points[0].covered')" 8
equals "t=0.00 correct" "$(metric $R1 'curve.points[0].correct')" 5
equals "t=0.41 covers 6" "$(metric $R1 'curve.points[41].covered')" 6
equals "t=0.61 covers 5, all right" "$(metric $R1 'curve.points[61].covered')/$(metric $R1 'curve.points[61].correct')" 5/5
equals "recommended threshold for the 0.90 bar" "$(metric $R1 'curve.recommended.threshold')" 0.61
equals "coverage at the threshold: 5/12" "$(metric4 $R1 'curve.recommended.coverage')" 0.4167
# Requests: 12 + 2 retries (q4) + 1 (q5) + 3 (q10, 4 attempts) + 6 repeats = 24.
equals "requests sent, retries included" "$(requests cand)" 24
equals "q10 tried 4 times" "$(requests cand q10)" 4
equals "q11 timed out once, not retried" "$(requests cand q11)" 1
equals "repeats are sampled (no temperature 0)" "$(awk -F '\t' '$1 == "cand" && $3 == "sampled"' requests.log | wc -l | tr -d ' ')" 6
contains "summary shows the accuracy with interval" "$OUT" "50.0 % (95 % CI 25.4-74.6, n=12)"
contains "summary shows the recommendation" "$OUT" "recommended min_confidence 0.61"
contains "summary shows the gate" "$OUT" "gate evaluate -> shadow: not passed"

# ---- the gate and the report
sql "UPDATE tasks SET phase = 'evaluate'"
run "$OFFRAMP" phase show intent
contains "gate shows accuracy with interval and n" "$OUT" "accuracy: 50.0 % (95 % CI 25.4-74.6, n=12), needs 95.0 %"
contains "gate shows format compliance" "$OUT" "format compliance: 80.0 % (95 % CI 49.0-94.3, n=10), needs 98.0 %"
run "$OFFRAMP" phase advance intent
expect_rc "advance refused by the eval gate" 3
run "$OFFRAMP" report intent
expect_rc "report exit 3 when the gate fails" 3
contains "report has the eval table" "$OUT" "| accuracy | 50.0 % (95 % CI 25.4-74.6, n=12) |"
contains "report has the per-class table" "$OUT" "| other | 3 | 1 | 1.000 | 0.333 | 0.500 |"
contains "report has the confusion matrix" "$OUT" "Confusion matrix"
contains "report has the curve chart" "$OUT" "> 0.61     #################......................."
contains "report recommends the threshold" "$OUT" "Recommended min_confidence 0.61"
contains "report says how the kind's confidence is read" "$OUT" "Confidence of a label answer: the label's probability."
contains "report shows the verdict" "$OUT" "## Gate: evaluate"
run "$OFFRAMP" report intent --json
expect_rc "JSON report exit 3" 3
contains "JSON report gate closed" "$OUT" '"open": false'
run "$OFFRAMP" report intent --out report.md
expect_rc "report --out exit 3" 3
check "report file written" test -s report.md
run "$OFFRAMP" report intent --out /nonexistent/dir/report.md
expect_rc "report error exit 1" 1
run "$OFFRAMP" report nosuch
expect_rc "report of an unknown task exit 1" 1

run "$OFFRAMP" eval apply-threshold intent
expect_rc "apply the threshold" 0
equals "min_confidence stored on the task" "$(sql "SELECT min_confidence FROM tasks WHERE name = 'intent'")" 0.61

# ---- run 2: same candidate with a reference model (q3 wrong: 11/12)
run "$OFFRAMP" eval intent --candidate "$URL|cand" --reference "$URL|ref" --test-file ds/test.jsonl \
   --timeout-ms 1000 --backoff-ms 10 --json
expect_rc "eval with a reference model" 0
R2=$(sql "SELECT max(id) FROM eval_runs")
check "a new run, not a resume of a finished one" test "$R2" -gt "$R1"
equals "reference accuracy 11/12" "$(metric $R2 reference.accuracy.k)" 11
equals "reference is a model" "$(metric $R2 reference.source)" model
equals "reference format all compliant" "$(metric $R2 reference.format.k)/$(metric $R2 reference.format.n)" 12/12

# ---- run 3: the perfect candidate; compare runs with McNemar
run "$OFFRAMP" eval intent --candidate "$URL|good" --test-file ds/test.jsonl --timeout-ms 1000
expect_rc "perfect candidate" 0
R3=$(sql "SELECT max(id) FROM eval_runs")
equals "perfect accuracy" "$(metric $R3 candidate.accuracy.k)" 12
run "$OFFRAMP" eval compare "$R3" "$R1"
expect_rc "compare" 0
# good right where cand is wrong: 6 rows, never the other way: p = 2 / 2^6 = 0.03125.
contains "McNemar p for 6 vs 0" "$OUT" "p = 0.03125"
contains "better claimed when p < 0.05" "$OUT" "run $R3 ($URL|good) is better than run $R1"
run "$OFFRAMP" eval compare "$R1" "$R2" --json
contains "identical candidates: p = 1" "$OUT" '"p_value": 1.0'
contains "no claim without significance" "$OUT" "no significant difference"
# Run 3 evaluated another model than the picked one (as evaluating the frontier itself would):
# it says nothing about the candidate, so the gate stays closed on run 1.
run "$OFFRAMP" phase show intent
contains "another model's perfect run leaves the gate on the picked model's run" "$OUT" "run $R2)"
run "$OFFRAMP" phase advance intent
expect_rc "advance still refused: the picked candidate scored 50 %" 3
# Picking the model run 3 evaluated ties the gate to run 3.
"$OFFRAMP" job pick "$EXP_GOOD" >/dev/null
run "$OFFRAMP" report intent
expect_rc "report exit 0 when the gate passes" 0
run "$OFFRAMP" phase advance intent
expect_rc "advance to shadow with the gate open" 0

# ---- the console: EVALUATION in the task view, e opens the report, M applies the threshold
sql "UPDATE tasks SET min_confidence = NULL"
printf ':task intent\n:save-display task.txt\nM\ne\n:save-display report.txt\n' > script.txt
LINES=70 COLUMNS=100 TERM=xterm OFFRAMP_SCRIPT=script.txt "$OFFRAMP" >console.out 2>&1
equals "console exits 0" "$?" 0
contains "task view has EVALUATION" "$(cat task.txt)" "EVALUATION  run $R3"
contains "task view shows accuracy with interval" "$(cat task.txt)" "accuracy        100.0 % (95 % CI 75.8-100.0, n=12)"
contains "task view shows the eval gate outside evaluate" "$(cat task.txt)" "eval gate       passed"
contains "report view renders the report" "$(cat report.txt)" "MIGRATION REPORT: INTENT"
contains "report view renders tables" "$(cat report.txt)" "format compliance"
equals "M stored the recommended threshold" "$(sql "SELECT min_confidence FROM tasks WHERE name = 'intent'")" 0.0

# ---- JSON extraction: field by field, key order ignored; text rewrites: whitespace normalised
#   j1 keys reordered (right, 2/2 fields), j2 one field wrong (1/2), j3 not JSON (0/2, format
#   failure), j4 a key missing (1/2, format failure): accuracy 1/4, fields 4/8, format 2/4.
mkdir -p js tx
for row in 'j1 {\"a\":1,\"b\":\"x\"}' 'j2 {\"a\":2,\"b\":\"y\"}' 'j3 {\"a\":3,\"b\":\"w\"}' 'j4 {\"a\":4,\"b\":\"v\"}'; do
   chat js/test.jsonl "${row% *}" "${row#* }"
done
{
   printf 'j1\t{"b": "x", "a": 1}\t0.9\tok\n'
   printf 'j2\t{"a": 2, "b": "z"}\t0.9\tok\n'
   printf 'j3\tnot json\t0.9\tok\n'
   printf 'j4\t{"a": 4}\t0.9\tok\n'
   printf 'x1\tHello world\t0.9\tok\n'
   printf 'x2\tGoodbye moon\t0.9\tok\n'
   printf 'x3\t hello world \t0.9\tok\n'
} > more.map
chat tx/test.jsonl x1 "Hello   world"
chat tx/test.jsonl x2 "Hello world"
chat tx/test.jsonl x3 "Hello world"
start_model port2 requests2.log 60 more=more.map
URL2=$MODEL_URL
"$OFFRAMP" task add extract --kind extraction >/dev/null
run "$OFFRAMP" eval extract --candidate "$URL2|more" --test-file js/test.jsonl
expect_rc "JSON eval" 0
RJ=$(sql "SELECT max(id) FROM eval_runs")
equals "compared as json (extraction task)" "$(metric $RJ compare)" json
equals "JSON accuracy: j1 only" "$(metric $RJ candidate.accuracy.k)/$(metric $RJ candidate.accuracy.n)" 1/4
equals "field-level accuracy 4/8" "$(metric $RJ candidate.field_accuracy.k)/$(metric $RJ candidate.field_accuracy.n)" 4/8
equals "JSON format: valid with the expected keys 2/4" "$(metric $RJ candidate.format.k)/$(metric $RJ candidate.format.n)" 2/4
contains "summary shows field accuracy" "$OUT" "field accuracy"
"$OFFRAMP" task add rewrite --kind rewrite >/dev/null
run "$OFFRAMP" eval rewrite --candidate "$URL2|more" --test-file tx/test.jsonl
RT=$(sql "SELECT max(id) FROM eval_runs")
equals "compared as text (rewrite task)" "$(metric $RT compare)" text
equals "text: whitespace normalised (x1), case on chrF 0.86 (x3) agree; another text (x2) does not" \
   "$(metric $RT candidate.accuracy.k)/$(metric $RT candidate.accuracy.n)" 2/3
equals "text: scored with chrF by default" "$(metric $RT candidate.metric.name)" chrf
run "$OFFRAMP" eval rewrite --candidate "$URL2|more" --test-file tx/test.jsonl --compare label --fresh
RT=$(sql "SELECT max(id) FROM eval_runs")
equals "--compare label folds case (x1, x3 right)" "$(metric $RT candidate.accuracy.k)" 2

# ---- the dataset and training steps' tables (created here with their branches' columns when this
# build lacks them): --dataset ID finds DIR/test.jsonl, BACKEND:MODEL the backend's URL and key,
# and without --candidate the task's picked experiment is evaluated.
"$OFFRAMP" task add picked --kind label >/dev/null
sql "CREATE TABLE IF NOT EXISTS datasets (id INTEGER PRIMARY KEY, task_id INTEGER NOT NULL, created_at TEXT NOT NULL,
        actor TEXT NOT NULL, since TEXT, until TEXT, params TEXT NOT NULL, rows_train INTEGER NOT NULL,
        rows_test INTEGER NOT NULL, dir TEXT NOT NULL, train_sha256 TEXT NOT NULL, test_sha256 TEXT NOT NULL,
        report_sha256 TEXT NOT NULL, report TEXT NOT NULL);
     CREATE TABLE IF NOT EXISTS backends (name TEXT PRIMARY KEY, kind TEXT NOT NULL, base_url TEXT NOT NULL,
        key_env TEXT NOT NULL DEFAULT '', accepts TEXT NOT NULL DEFAULT '', created_at TEXT NOT NULL);
     CREATE TABLE IF NOT EXISTS experiments (id INTEGER PRIMARY KEY, task_id INTEGER NOT NULL, dataset_id INTEGER,
        backend TEXT NOT NULL, job_id TEXT NOT NULL, base_model TEXT NOT NULL, hyperparameters TEXT NOT NULL DEFAULT '{}',
        training_file TEXT, validation_file TEXT, status TEXT NOT NULL, fine_tuned_model TEXT, trained_tokens INTEGER,
        metrics TEXT NOT NULL DEFAULT '{}', error TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);"
[ "$(sql "SELECT count(*) FROM pragma_table_info('tasks') WHERE name = 'candidate_experiment'")" = 1 ] ||
   sql "ALTER TABLE tasks ADD COLUMN candidate_experiment INTEGER"
PICKED=$(sql "SELECT id FROM tasks WHERE name = 'picked'")
sql "INSERT INTO datasets(task_id, created_at, actor, params, rows_train, rows_test, dir, train_sha256, test_sha256,
        report_sha256, report) VALUES ($PICKED, '2026-11-21T00:00:00Z', 'tester', '{}', 2, 12, '$TMP/ds', '', '', '', '{}');
     INSERT INTO backends(name, kind, base_url, key_env, created_at) VALUES ('local', 'openai-ft', '$URL/', 'STANDIN_KEY',
        '2026-11-21T00:00:00Z');
     INSERT INTO experiments(task_id, backend, job_id, base_model, status, fine_tuned_model, created_at, updated_at)
        VALUES ($PICKED, 'local', 'job-1', 'distill', 'succeeded', 'good', '2026-11-21T00:00:00Z', '2026-11-21T00:00:00Z');"
sql "UPDATE tasks SET candidate_experiment = (SELECT max(id) FROM experiments) WHERE id = $PICKED"
DS=$(sql "SELECT max(id) FROM datasets")
run "$OFFRAMP" eval picked --dataset "$DS"
expect_rc "a backend whose key variable is unset is refused" 1
contains "the error names the variable" "$ERR" "STANDIN_KEY"
before=$(requests good)
run env STANDIN_KEY=secret "$OFFRAMP" eval picked --dataset "$DS"
expect_rc "eval of the picked experiment on a dataset id" 0
RP=$(sql "SELECT max(id) FROM eval_runs")
equals "the picked experiment was the candidate" "$(sql "SELECT candidate FROM eval_runs WHERE id = $RP")" local:good
equals "the dataset id was the test set" "$(sql "SELECT dataset FROM eval_runs WHERE id = $RP")" "dataset $DS"
equals "12 rows sent through the backend's URL" "$(( $(requests good) - before ))" 12
equals "all right" "$(metric $RP candidate.accuracy.k)" 12
run env STANDIN_KEY=secret "$OFFRAMP" eval picked --candidate nosuch:model --dataset "$DS"
expect_rc "unknown backend" 1
contains "unknown backend named" "$ERR" "no backend named 'nosuch'"
run "$OFFRAMP" eval picked --candidate "$URL|good"
expect_rc "without --dataset: the task's latest dataset" 0
# An unfinished run whose test file has changed since is abandoned, not resumed.
sql "INSERT INTO eval_runs(task_id, dataset, test_hash, candidate, created_at) VALUES ($PICKED, 'dataset $DS', 'stale',
        'local:good', '2026-11-21T00:00:00Z')"
STALE=$(sql "SELECT max(id) FROM eval_runs")
run env STANDIN_KEY=secret "$OFFRAMP" eval picked --dataset "$DS"
expect_rc "eval after the test file changed" 0
equals "the stale run is abandoned" "$(sql "SELECT status FROM eval_runs WHERE id = $STALE")" abandoned
check "a new run was made" test "$(sql "SELECT max(id) FROM eval_runs")" -gt "$STALE"

# ---- resume: a 40-row run killed mid-way keeps what finished and sends only the rest
"$OFFRAMP" task add slowtask --kind label >/dev/null
"$OFFRAMP" eval slowtask --candidate "$URL|slow" --test-file slow/test.jsonl --concurrency 2 >/dev/null 2>&1 &
EVAL_PID=$!
sleep 0.8
kill -TERM $EVAL_PID
wait $EVAL_PID
equals "SIGTERM: exit 1 (interrupted)" "$?" 1
RS=$(sql "SELECT max(id) FROM eval_runs")
equals "interrupted run stays running" "$(sql "SELECT status FROM eval_runs WHERE id = $RS")" running
kept1=$(sql "SELECT count(*) FROM eval_rows WHERE run_id = $RS")
check "some rows kept after SIGTERM ($kept1)" test "$kept1" -gt 0 -a "$kept1" -lt 40
finished1=$(sql "SELECT group_concat('s' || (idx + 1), ' ') FROM eval_rows WHERE run_id = $RS")
"$OFFRAMP" eval slowtask --candidate "$URL|slow" --test-file slow/test.jsonl --concurrency 2 >/dev/null 2>&1 &
EVAL_PID=$!
sleep 0.6
kill -KILL $EVAL_PID
wait $EVAL_PID 2>/dev/null
kept2=$(sql "SELECT count(*) FROM eval_rows WHERE run_id = $RS")
check "the second attempt resumed the same run and added rows ($kept1 -> $kept2)" test "$kept2" -gt "$kept1" -a "$kept2" -lt 40
before=$(requests slow)
run "$OFFRAMP" eval slowtask --candidate "$URL|slow" --test-file slow/test.jsonl --concurrency 2
expect_rc "third attempt finishes" 0
contains "says it resumed" "$ERR" "resumed run $RS: $kept2 requests were already done"
equals "still one run" "$(sql "SELECT count(*) FROM eval_runs WHERE task_id = (SELECT id FROM tasks WHERE name = 'slowtask')")" 1
equals "all 40 rows scored" "$(metric $RS candidate.accuracy.k)" 40
equals "the last attempt sent only the unfinished rows" "$(( $(requests slow) - before ))" "$((40 - kept2))"
resent=0
for s in $finished1; do
   [ "$(requests slow "$s")" -gt 1 ] && resent=$((resent + 1))
done
# Rows finished before the first interruption were never sent again (rows in flight at an
# interruption are, once).
equals "no row finished before the interruption was sent again" "$resent" 0
run "$OFFRAMP" eval slowtask --candidate "$URL|slow" --test-file slow/test.jsonl --fresh --concurrency 8
expect_rc "--fresh starts over" 0
equals "--fresh made a second run" "$(sql "SELECT count(*) FROM eval_runs WHERE task_id = (SELECT id FROM tasks WHERE name = 'slowtask')")" 2

done_testing
