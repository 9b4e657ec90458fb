#!/bin/sh
# toolcalls.sh - a tool-call (function-calling) task from audit to operate under the default
# gates: logs whose answers are tool calls are imported (kind tool-call, inferred), scored, made
# a dataset of OpenAI function-calling rows, evaluated against a candidate compared by function
# and arguments, shadowed through the real gateway (500 comparisons, 90 % bar), canaried with
# the gateway's own analysis and auto-promote, cut over and operated. The frontier and the
# candidate are stand-ins (tests/gw/standin_upstream --tool-call) following OpenAI's chat
# completions reference (function calling: message.tool_calls with the arguments as a JSON
# string, finish_reason "tool_calls"; API version 2024-10-21 / openai-version 2020-10-01). The
# training job is recorded as tests/cli/gates.sh records it (training is tests/trainer's subject):
# an experiment that succeeded, its model served by the candidate stand-in.
. "$TESTS_SRCDIR/gw/gwlib.sh"
export OFFRAMP_WORKSPACE="$WS" OFFRAMP_ADMIN_TOKEN="$TOKEN"

start_standin frontier --tool-call get_order --model gpt-4o-mini --seed 3
# The candidate gets 2 % of the orders wrong: real disagreement for the gates to weigh.
start_standin cand --tool-call get_order --model ft:order-tools:1 --wrong-rate 0.02 --seed 5

# 700 calls of an order assistant that looks orders up with a tool call (content null).
TOOLS='[{"type":"function","function":{"name":"get_order","parameters":{"type":"object","properties":{"order":{"type":"integer"}}}}}]'
awk -v tools="$TOOLS" 'BEGIN {
   for (i = 1; i <= 700; i++) {
      ts = sprintf("2026-11-%02dT%02d:%02d:%02d.000Z", 10 + i % 7, int(i / 60) % 24, i % 60, i % 60)
      n = 100000 + i * 7
      q = (i % 2 ? "Where is my order " n "? It was due last week." : "Order " n " has not arrived, can you check it?")
      printf "{\"id\":\"tc-%d\",\"ts\":\"%s\",\"task\":\"order-tools\",\"arm\":\"primary\",\"model\":\"gpt-4o-mini\",", i, ts
      printf "\"request\":{\"model\":\"gpt-4o-mini\",\"tools\":%s,\"messages\":[{\"role\":\"system\",\"content\":\"You look up orders for customers.\"},{\"role\":\"user\",\"content\":\"%s\"}]},", tools, q
      printf "\"response\":{\"id\":\"r%d\",\"object\":\"chat.completion\",\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"finish_reason\":\"tool_calls\",\"message\":{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_%d\",\"type\":\"function\",\"function\":{\"name\":\"get_order\",\"arguments\":\"{\\\"order\\\": %d}\"}}]}}]},", i, i, n
      printf "\"status\":200,\"latency_ms\":300,\"usage\":{\"prompt_tokens\":80,\"completion_tokens\":20}}\n"
   }
}' > "$WORK/logs.jsonl"

phase() { sql "SELECT phase FROM tasks WHERE name = 'order-tools'"; }
"$OFFRAMP" import "$WORK/logs.jsonl" > "$WORK/import.out" 2>&1
is "$?" 0 "import the tool-call logs"
check "the kind is inferred from the answers: tool-call" grep -q "kind of order-tools: tool-call (700 of 700 answers (100 %) are tool calls (get_order))" "$WORK/import.out"

# ---- audit -> dataset -> train
"$OFFRAMP" task score order-tools --accept > /dev/null
"$OFFRAMP" phase advance order-tools --reason "scored, 700 logged calls" > "$WORK/adv.out" 2>&1
is "$?" 0 "audit -> dataset (scored, 700 examples >= 500)"
"$OFFRAMP" dataset build order-tools --json > "$WORK/ds.json"
is "$?" 0 "dataset built"
DS=$(jq -r .id "$WORK/ds.json")
DIR=$(jq -r .dir "$WORK/ds.json")
rows=$(cat "$DIR/train.jsonl" "$DIR/test.jsonl" | grep -c '"tool_calls":\[{"id":"call_[0-9]*","type":"function","function":{"name":"get_order"')
is "$rows" 700 "every row is an OpenAI function-calling row (tools offered, the assistant's tool_calls)"
"$OFFRAMP" phase advance order-tools --reason "dataset built" > /dev/null 2>&1
is "$(phase)" train "dataset -> train"
ID=$(sql "SELECT id FROM tasks WHERE name = 'order-tools'")
sql "INSERT INTO backends(name, kind, base_url, created_at) VALUES ('cand', 'openai-ft', '$cand_URL', '2026-12-01T00:00:00Z');
     INSERT INTO experiments(task_id, dataset_id, backend, job_id, base_model, status, fine_tuned_model, created_at, updated_at)
        VALUES ($ID, $DS, 'cand', 'job-1', 'Qwen/Qwen2.5-0.5B-Instruct', 'succeeded', 'ft:order-tools:1', '2026-12-01T00:00:00Z', '2026-12-01T00:00:00Z');"
"$OFFRAMP" job pick "$(sql "SELECT id FROM experiments WHERE job_id = 'job-1'")" > /dev/null
"$OFFRAMP" phase advance order-tools --reason "trained" > /dev/null 2>&1
is "$(phase)" evaluate "train -> evaluate"

# ---- evaluate: function and arguments, against the logged calls
"$OFFRAMP" eval order-tools --json > "$WORK/eval.json" 2> "$WORK/eval.err"
is "$?" 0 "the candidate evaluated on the held-out rows"
RUN=$(sql "SELECT max(id) FROM eval_runs")
m() { sql "SELECT json_extract(metrics, '\$.$1') FROM eval_runs WHERE id = $RUN"; }
is "$(m compare)" tool_calls "compared as tool calls (from the kind)"
acc=$(sql "SELECT CAST(1000 * json_extract(metrics, '\$.candidate.accuracy.k') / json_extract(metrics, '\$.candidate.accuracy.n') AS INTEGER) FROM eval_runs WHERE id = $RUN")
check "accuracy $acc per mille: the planted 2 % wrong orders (>= 950)" test "${acc:-0}" -ge 950
"$OFFRAMP" phase advance order-tools --reason "evaluated" > "$WORK/eadv.out" 2>&1
is "$?" 0 "the evaluate gate passes on its default margin (5 pts) and format bar (98 %)"

# ---- shadow through the gateway, the default shadow gate (500 comparisons, 90 % bar)
start_gateway --upstream "$frontier_URL"
export OFFRAMP_GATEWAY="$GW"
"$OFFRAMP" route set order-tools --mode shadow --candidate-url "$cand_URL" --candidate-model ft:order-tools:1 \
   --compare tool_calls --reason "evaluated" > "$WORK/route.out" 2>&1
is "$?" 0 "route set shadow (no --force)"
"$OFFRAMP" replay --task order-tools --to "$GW/v1" --rate 0 --count 560 --concurrency 8 > "$WORK/replay.out" 2>&1
is "$?" 0 "560 logged calls replayed through the gateway"
wait_captured
agree=$(sql "SELECT CAST(1000.0 * sum(agree) / count(agree) AS INTEGER) || ' ' || count(agree) FROM exchanges e JOIN tasks t ON t.id = e.task_id WHERE t.name = 'order-tools' AND agree IS NOT NULL")
check "shadow agreement (per mille, n) $agree: about 980, n >= 500" sh -c 'set -- $1; [ "$1" -ge 950 ] && [ "$1" -le 999 ] && [ "$2" -ge 500 ]' - "$agree"
dis=$(sql "SELECT json_extract(record, '\$.shadow.response.choices[0].message.tool_calls[0].function.arguments') FROM exchanges WHERE agree = 0 LIMIT 1")
check "a disagreement is a call with other arguments ($dis)" sh -c 'echo "$1" | grep -q "order"' - "$dis"

# ---- canary: the gateway's analysis on a verify share, auto-promote after a clean dwell
"$OFFRAMP" rollout set order-tools --steps 50,100 --dwell 1 --min-samples 5 --interval 1 > /dev/null
"$OFFRAMP" rollout step-up order-tools --reason "shadow gate passed" > "$WORK/up.out" 2>&1
is "$?" 0 "shadow -> canary 50 % through the gate"
is "$(phase)" canary "the phase follows to canary"
end=$(( $(date +%s) + 6 ))
( while [ "$(date +%s)" -lt "$end" ]; do
     "$OFFRAMP" replay --task order-tools --to "$GW/v1" --rate 200 --count 100 --concurrency 4 > /dev/null 2>&1
  done ) &
LOAD_PID=$!
PIDS="$PIDS $LOAD_PID"
"$OFFRAMP" rollout watch order-tools --auto-promote --interval 1 --rounds 6 > "$WORK/watch.out" 2>&1
sed 's/^/# /' "$WORK/watch.out"
wait "$LOAD_PID" 2>/dev/null
check "the gateway promoted to cutover after a clean dwell" grep -q "promoted by the gateway: order-tools: canary 50 % -> cutover" "$WORK/watch.out"
is "$(phase)" cutover "the phase follows to cutover"

# ---- cutover -> operate: the candidate serves tool calls
resp=$(chat "{\"model\":\"gpt-4o-mini\",\"tools\":$TOOLS,\"messages\":[{\"role\":\"user\",\"content\":\"Where is order 424242?\"}]}" \
   -H "X-Offramp-Task: order-tools" -D "$WORK/h.txt")
is "$(echo "$resp" | jq -r '.choices[0].message.tool_calls[0].function.name + " " + .choices[0].message.tool_calls[0].function.arguments')" \
   'get_order {"order": 424242}' "the served answer is the candidate's tool call"
check "served by the candidate" grep -qi "X-Offramp-Arm: candidate" "$WORK/h.txt"
"$OFFRAMP" phase advance order-tools --reason "cut over" > /dev/null 2>&1
is "$(phase)" operate "cutover -> operate"
is "$(sql "SELECT group_concat(to_phase, ' ') FROM phase_events e JOIN tasks t ON t.id = e.task_id WHERE t.name = 'order-tools'")" \
   "audit dataset train evaluate shadow canary cutover operate" "every phase in order, from its creation"
is "$(sql "SELECT count(*) FROM route_events WHERE reason LIKE '%forced%'")" 0 "no route change forced past a gate"
is "$(sql "SELECT agreement_bar || ' ' || min_comparisons || ' ' || eval_margin || ' ' || format_bar FROM tasks WHERE name = 'order-tools'")" \
   "0.9 500 5.0 0.98" "the default gates, unchanged"
finish
