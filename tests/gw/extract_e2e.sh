#!/bin/sh
# extract_e2e.sh - an extraction task through the whole path with real components: logs of a
# frontier that answers JSON objects (customer, order id, date, amount, product) are imported
# (audit), a dataset is built, the built-in trainer trains its extractor, the held-out set is
# evaluated (json comparison, per-field accuracy, the json gate), and the gateway shadows,
# canaries and cuts over to it, with the frontier as per-request fallback below the confidence
# threshold (read per field), then the task operates. The frontier is a stand-in
# (tests/eval/standin_model, known answers per input, OpenAI chat completions API); the
# trainer, gateway and workspace are the real ones. Gates are the defaults but for the canary's
# steps and timings, which are rollout settings.
. "$TESTS_SRCDIR/gw/gwlib.sh"
export OFFRAMP_WORKSPACE="$WS" OFFRAMP_ADMIN_TOKEN="$TOKEN"
MODEL_STANDIN=$GW_HELPERS_DIR/../eval/standin_model
[ -x "$MODEL_STANDIN" ] || { echo "1..0 # SKIP $MODEL_STANDIN not built"; exit 0; }
. "$TESTS_SRCDIR/trainer/serve.sh"
trap 'stop_servers; cleanup' EXIT
TMP=$WORK
TASK=order-fields

# 1,400 logged calls over 20 days; the stand-in frontier knows each input's answer.
awk -v n=1400 -v seed=21 -v format=exchange -v oneline=1 -f "$TESTS_SRCDIR/trainer/gen_extract.awk" > "$WORK/pairs.tsv"
jq -R -r 'split("\t") | [(.[0] | fromjson), (.[1] | fromjson), "0.97", "ok"] | @tsv' "$WORK/pairs.tsv" \
   | sed 's/\\\\/\\/g' > "$WORK/frontier.map"
now=$(date -u +%s)
jq -R -c --argjson now "$now" --arg task "$TASK" '
   split("\t") as $p | input_line_number as $i |
   {id: ("x-\($i)"), ts: (($now - 20 * 86400 + $i * 1200) | todate), task: $task, arm: "primary", model: "gpt-4o-mini",
    request: {model: "gpt-4o-mini", temperature: 0, messages: [
       {role: "system", content: "Extract customer, order_id, date, amount and product as JSON; null when absent."},
       {role: "user", content: ($p[0] | fromjson)}]},
    response: {id: "r\($i)", object: "chat.completion", model: "gpt-4o-mini",
       choices: [{index: 0, finish_reason: "stop", message: {role: "assistant", content: ($p[1] | fromjson)}}],
       usage: {prompt_tokens: 60, completion_tokens: 40}},
    status: 200, latency_ms: 850, usage: {prompt_tokens: 60, completion_tokens: 40}}' "$WORK/pairs.tsv" > "$WORK/logs.jsonl"
"$MODEL_STANDIN" --port-file "$WORK/frontier.port" --log "$WORK/frontier.log" "gpt-4o-mini=$WORK/frontier.map" \
   2> "$WORK/frontier.err" &
PIDS="$PIDS $!"
for _ in $(seq 100); do [ -s "$WORK/frontier.port" ] && break; sleep 0.05; done
FRONTIER=http://127.0.0.1:$(cat "$WORK/frontier.port")/v1
check "the stand-in frontier answers a logged input" sh -c "curl -s -d '{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":$(sed -n 1p "$WORK/pairs.tsv" | cut -f1)}]}' $FRONTIER/chat/completions | jq -e '.choices[0].message.content | fromjson | .order_id' > /dev/null"

phase() { sql "SELECT phase FROM tasks WHERE name = '$TASK'"; }
o() {   # o ARGS...: runs offramp; RC, $WORK/out, $WORK/err; a failure's stderr goes to the log
   "$OFFRAMP" "$@" > "$WORK/out" 2> "$WORK/err"
   RC=$?
   [ "$RC" -eq 0 ] || sed "s/^/# offramp $1: /" "$WORK/err" | head -20
}

# --- audit ---
o import "$WORK/logs.jsonl"
is "$RC" 0 "1,400 logged calls imported"
is "$("$OFFRAMP" task show "$TASK" --json | jq -r .kind)" extraction "the task's kind is inferred from the answers: extraction"
o task score "$TASK" --suitability 5 --impact 4 --complexity 2
o phase advance "$TASK" --reason "scored; three weeks of logs"
is "$RC" 0 "audit gate passed"
is "$(phase)" dataset "phase dataset"

# --- dataset ---
o dataset build "$TASK"
is "$RC" 0 "dataset built (default gates: >= 500 train rows, test 10-15 %)"
DS_TRAIN=$(sql "SELECT rows_train FROM datasets ORDER BY id DESC LIMIT 1")
check "train rows $DS_TRAIN >= 500" test "$DS_TRAIN" -ge 500
o phase advance "$TASK" --reason "dataset built"
is "$(phase)" train "phase train"

# --- train on the built-in trainer ---
serve tr "$OFFRAMP" trainer --listen 127.0.0.1:0 --dir "$WORK/trainer" || { tap 1 "trainer starts"; finish; }
TR=http://127.0.0.1:$tr_PORT/v1
o backend add builtin --kind openai-ft --url "$TR"
DS=$(sql "SELECT id FROM datasets ORDER BY id DESC LIMIT 1")
o train "$TASK" --dataset "$DS" --backend builtin --base-model distill --suffix fields --follow --interval 0.1 --timeout 60
is "$RC" 0 "offramp train --follow: the job succeeded"
check "an extractor was trained" grep -q "extractor, 5 fields" "$WORK/trainer/jobs/"*.json
EXP=$(sql "SELECT id FROM experiments ORDER BY id DESC LIMIT 1")
MODEL=$(sql "SELECT fine_tuned_model FROM experiments WHERE id = $EXP")
o job pick "$EXP"
is "$RC" 0 "experiment $EXP ($MODEL) picked"
o phase advance "$TASK" --reason "trained"
is "$(phase)" evaluate "phase evaluate"

# --- evaluate ---
o eval "$TASK"
is "$RC" 0 "held-out set evaluated against the extractor"
cp "$WORK/out" "$WORK/eval.out"
o phase show "$TASK"
cp "$WORK/out" "$WORK/gate.out"
check "the accuracy gate passed" grep -q "\[ok\] accuracy" "$WORK/gate.out"
check "the format gate passed" grep -q "\[ok\] format" "$WORK/gate.out"
check "per-field accuracy is reported" grep -q "field accuracy" "$WORK/eval.out"
sed 's/^/# /' "$WORK/eval.out" | head -30

# --- shadow: the gateway mirrors the logged traffic to the extractor and compares as JSON ---
start_gateway --upstream "$FRONTIER"
export OFFRAMP_GATEWAY="$GW"
o route set "$TASK" --mode shadow --candidate-url "$TR" --candidate-model "$MODEL" --compare json --verify-percent 20 \
   --reason "the extractor passed its evaluation"
is "$RC" 0 "route shadow through the gates"
is "$(phase)" shadow "phase shadow"
o replay --task "$TASK" --to "$GW" --count 700 --rate 0 --concurrency 8 --quiet
is "$RC" 0 "700 logged calls replayed through the gateway"
wait_captured
o rollout set "$TASK" --steps 50,100 --dwell 1 --interval 1 --min-samples 5
o rollout step-up "$TASK" --reason "shadow agreement holds"
is "$RC" 0 "the shadow gate opens: 500 comparisons at the 90 % bar (default)"
is "$(phase)" canary "phase canary"
is "$(admin GET "/admin/routes/$TASK" | jq -r '.route.mode + " " + (.route.percent | tostring)')" "canary 50" "the gateway serves canary 50 %"

# --- canary: hold the step past its dwell while traffic flows; the gateway analyses it ---
o replay --task "$TASK" --to "$GW" --rate 80 --duration 4 --concurrency 8 --quiet
is "$RC" 0 "canary traffic"
wait_captured
o rollout step-up "$TASK" --yes --reason "canary held without a failed check"
is "$RC" 0 "the canary gate opens: cutover"
is "$(phase)" cutover "phase cutover"

# --- cutover: the extractor serves, the frontier is the per-request fallback ---
o replay --task "$TASK" --to "$GW" --count 200 --rate 0 --concurrency 8 --json
is "$RC" 0 "200 calls at cutover"
CAND=$(jq -r .arms.candidate "$WORK/out")
check "the extractor answered them ($CAND of 200; the rest fell back or were verified)" test "$CAND" -gt 150
curl -s -H "X-Offramp-Task: $TASK" -D "$WORK/h.txt" -d "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"Refund \$42.10 to Maya Costa for order ORD-31337, the desk lamp arrived broken.\"}]}" \
   "$GW/v1/chat/completions" > "$WORK/cut.json"
is "$(jq -r '.choices[0].message.content' "$WORK/cut.json")" \
   '{"customer":"Maya Costa","order_id":"ORD-31337","date":null,"amount":"$42.10","product":"desk lamp"}' \
   "a new ticket is answered by the extractor through the gateway"
check "... on the candidate arm" grep -qi "x-offramp-arm: candidate" "$WORK/h.txt"
wait_captured
o phase advance "$TASK" --reason "the extractor serves"
is "$(phase)" operate "phase operate"
o operate "$TASK"
is "$RC" 0 "offramp operate"
check "operate shows the verified agreement" grep -qi "verified agreement" "$WORK/out"
sed 's/^/# /' "$WORK/out" | head -20
finish
