#!/bin/sh
# textkinds.sh - tasks beyond labels: the kind inferred from imported logs (demo-logs' label,
# rewrite and open-ended features, generated tool-call and extraction logs), tool-call dataset
# rows in OpenAI's fine-tuning format, declared answer formats checked in eval, tool calls
# compared by function and arguments, and text by chrF against a stand-in model.
. "$TESTS_SRCDIR/lib.sh"

STANDIN=$(dirname "$OFFRAMP")/tests/eval/standin_model
[ -x "$STANDIN" ] || skip_all "stand-in model not built ($STANDIN)"
command -v sqlite3 >/dev/null || skip_all "sqlite3 not installed"
cd "$TMP" || exit 1

TOOLS='[{"type":"function","function":{"name":"get_order","parameters":{"type":"object","properties":{"order":{"type":"integer"},"full":{"type":"boolean"}}}}},{"type":"function","function":{"name":"cancel_order","parameters":{"type":"object","properties":{"order":{"type":"integer"},"reason":{"type":"string"}}}}}]'

# 300 calls of an order assistant that answers with a tool call (content null), and 300 of an
# invoice reader that answers with a JSON object of fixed keys.
awk -v tools="$TOOLS" 'BEGIN {
   for (i = 1; i <= 300; i++) {
      ts = sprintf("2026-11-20T%02d:%02d:%02d.000Z", int(i / 60) % 24, i % 60, i % 60)
      if (i % 3 == 0) {
         fn = "cancel_order"; q = "Please cancel order " (1000 + i) ", it arrived too late"
         args = "{\\\"order\\\": " (1000 + i) ", \\\"reason\\\": \\\"late\\\"}"
      } else {
         fn = "get_order"; q = "Where is my order " (1000 + i) "? Tracking says nothing since Monday " i
         args = "{\\\"order\\\": " (1000 + i) ", \\\"full\\\": " (i % 2 ? "true" : "false") "}"
      }
      printf "{\"id\":\"tc-%d\",\"ts\":\"%s\",\"task\":\"order-tools\",\"arm\":\"primary\",\"model\":\"gpt-4o-mini\",", i, ts
      printf "\"request\":{\"model\":\"gpt-4o-mini\",\"tools\":%s,\"messages\":[{\"role\":\"system\",\"content\":\"You help with orders.\"},{\"role\":\"user\",\"content\":\"%s\"}]},", tools, q
      printf "\"response\":{\"id\":\"r%d\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,\"finish_reason\":\"tool_calls\",\"message\":{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_%d\",\"type\":\"function\",\"function\":{\"name\":\"%s\",\"arguments\":\"%s\"}}]}}]},", i, i, fn, args
      printf "\"status\":200,\"latency_ms\":300,\"usage\":{\"prompt_tokens\":80,\"completion_tokens\":20}}\n"
   }
   split("Ann Lee,Bo Chen,Cy Diaz,Di Park,Ed Roy", names, ",")
   for (i = 1; i <= 300; i++) {
      ts = sprintf("2026-11-20T%02d:%02d:%02d.000Z", int(i / 60) % 24, i % 60, (i + 7) % 60)
      name = names[i % 5 + 1]; amount = (i * 37) % 900 + 10
      q = "Invoice " i " from " name ", total EUR " amount ".00, due in " (i % 30 + 1) " days"
      printf "{\"id\":\"ex-%d\",\"ts\":\"%s\",\"task\":\"invoice-fields\",\"arm\":\"primary\",\"model\":\"gpt-4o-mini\",", i, ts
      printf "\"request\":{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"%s\"}]},", q
      printf "\"response\":{\"choices\":[{\"index\":0,\"finish_reason\":\"stop\",\"message\":{\"role\":\"assistant\",\"content\":\"{\\\"name\\\": \\\"%s\\\", \\\"amount\\\": %d, \\\"currency\\\": \\\"EUR\\\"}\"}}]},", name, amount
      printf "\"status\":200,\"latency_ms\":250,\"usage\":{\"prompt_tokens\":40,\"completion_tokens\":15}}\n"
   }
}' > gen.jsonl
"$OFFRAMP" demo-logs --out demo.jsonl --days 1 --scale 0.05 2>/dev/null

# ---- kind inference on import
run "$OFFRAMP" import gen.jsonl demo.jsonl
expect_rc "import the generated and demo logs" 0
kind() { "$OFFRAMP" task show "$1" --json | sed -n 's/.*"kind": "\([a-z-]*\)".*/\1/p' | head -1; }
equals "tool calls: kind tool-call" "$(kind order-tools)" tool-call
equals "JSON with stable keys: kind extraction" "$(kind invoice-fields)" extraction
equals "8 ticket queues: kind label" "$(kind content-classification)" label
equals "3-bullet handoff notes: kind rewrite" "$(kind summary-generation)" rewrite
equals "website chat: kind open-ended" "$(kind chat-responses)" open-ended
equals "weekly reports (long-form): kind open-ended" "$(kind complex-analysis)" open-ended
contains "import says why: the tool-call share and the functions" "$OUT" \
   "kind of order-tools: tool-call (300 of 300 answers (100 %) are tool calls (cancel_order, get_order))"
contains "import says why: the JSON keys" "$OUT" "100 % of them with the same keys (amount, currency, name)"
run "$OFFRAMP" task show summary-generation
contains "task show gives the evidence" "$OUT" "of an answer's words come from its input"
contains "task show gives the text metric" "$OUT" "text metric      chrf, an answer agrees at 80 points or more"
run "$OFFRAMP" task show chat-responses --json
contains "open-ended chat gets the stay verdict from its inferred kind" "$OUT" '"decision": "stay on the API"'
# Untagged calls named as a task get their kind at once (the demo's largest touchpoint).
FP=$("$OFFRAMP" touchpoints --json | sed -n 's/.*"fingerprint": "\([0-9a-f]*\)".*/\1/p' | head -1)
run "$OFFRAMP" touchpoints name "$FP" named-touchpoint
NAMED=$(printf '%s\n' "$OUT" | sed -n 's/^kind of named-touchpoint: \([a-z-]*\) (.*/\1/p')
check "a touchpoint named as a task gets its kind with the evidence" test -n "$NAMED"
equals "... recorded" "$(kind named-touchpoint)" "$NAMED"
contains "... with its evidence" "$(sql "SELECT kind_reason FROM tasks WHERE name = 'named-touchpoint'")" "answers"
# A kind the user sets is never inferred over.
"$OFFRAMP" task edit invoice-fields --kind label >/dev/null
run "$OFFRAMP" import gen.jsonl
equals "a kind set by the user stays" "$(kind invoice-fields)" label
equals "... and says so" "$(sql "SELECT kind_reason FROM tasks WHERE name = 'invoice-fields'")" "set by the user"
"$OFFRAMP" task edit invoice-fields --kind extraction >/dev/null

# ---- tool-call dataset rows in OpenAI's fine-tuning format
run "$OFFRAMP" dataset build order-tools --min-train 100 --json
expect_rc "tool-call dataset built" 0
lacks "no tool-call answer filtered as empty" "$OUT" '"empty": 3'
DIR=$(printf '%s\n' "$OUT" | sed -n 's/^  "dir": "\(.*\)",$/\1/p')
ROWS=$(cat "$DIR/train.jsonl" "$DIR/test.jsonl" | wc -l | tr -d ' ')
equals "every record is a row (300)" "$ROWS" 300
equals "every row offers the tools" "$(cat "$DIR/train.jsonl" "$DIR/test.jsonl" | grep -c '"tools":\[{"type":"function"')" 300
equals "every row ends with the assistant's tool_calls (id, type, name, arguments as a string)" \
   "$(cat "$DIR/train.jsonl" "$DIR/test.jsonl" | grep -c '{"role":"assistant","tool_calls":\[{"id":"call_[0-9]*","type":"function","function":{"name":"[a-z_]*","arguments":"{\\"order\\": [0-9]*')" 300
lacks "no assistant content in tool-call rows" "$(cat "$DIR/train.jsonl")" '"role":"assistant","content"'

# ---- eval: tool calls compared by function and arguments, calls only of offered tools
mkdir -p tc tx
tc_row() {   # tc_row INPUT NAME ARGS
   printf '{"messages":[{"role":"user","content":"%s"},{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"%s","arguments":"%s"}}]}],"tools":%s}\n' \
      "$1" "$2" "$3" "$TOOLS" >> tc/test.jsonl
}
tc_row r1 get_order '{\"order\": 1, \"full\": true}'
tc_row r2 get_order '{\"order\": 2, \"full\": true}'
tc_row r3 cancel_order '{\"order\": 3, \"reason\": \"late\"}'
tc_row r4 get_order '{\"order\": 4, \"full\": false}'
text_row() {   # text_row INPUT ANSWER
   printf '{"messages":[{"role":"user","content":"%s"},{"role":"assistant","content":"%s"}]}\n' "$1" "$2" >> tx/test.jsonl
}
text_row s1 'Summary: customer charged twice for order 1182. Refund issued to the card.'
text_row s2 'Summary: parcel lost in transit, replacement shipped with express delivery.'
text_row s3 'Summary: wants to change the delivery address of order 77 to the office.'
# The candidate: r1 right; r2 another argument value (name + 1 of 2 arguments); r3 another
# function (nothing); r4 a tool the request did not offer (nothing, and a format failure):
# accuracy 1/4, argument accuracy (1+2+1+0+0)/12 counted as name + arguments = 5/12... per
# row r1 3, r2 2, r3 0, r4 0 -> 5 of 12; format 3/4.
# s1: the same summary in other words order (chrF high); s2 the right text without the
# "Summary:" prefix (a format failure, still agrees on chrF); s3 an unrelated answer.
{
   printf 'r1\tget_order {"full": true, "order": 1}\t0.9\ttoolcall\n'
   printf 'r2\tget_order {"order": 2, "full": false}\t0.9\ttoolcall\n'
   printf 'r3\tget_order {"order": 3, "full": true}\t0.9\ttoolcall\n'
   printf 'r4\tship_order {"order": 4}\t0.9\ttoolcall\n'
   printf 's1\tSummary: customer charged twice for order 1182; refund issued to the card.\t0.9\tok\n'
   printf 's2\tparcel lost in transit, replacement shipped with express delivery.\t0.9\tok\n'
   printf 's3\tThe weather in Lisbon is sunny with a light breeze.\t0.9\tok\n'
} > cand.map
start_model port requests.log 60 cand=cand.map
URL=$MODEL_URL
metric() { sql "SELECT json_extract(metrics, '\$.$2') FROM eval_runs WHERE id = $1"; }

run "$OFFRAMP" eval order-tools --candidate "$URL|cand" --test-file tc/test.jsonl
expect_rc "tool-call eval" 0
R=$(sql "SELECT max(id) FROM eval_runs")
equals "compared as tool_calls (from the kind)" "$(metric $R compare)" tool_calls
equals "tool calls: only r1 right" "$(metric $R candidate.accuracy.k)/$(metric $R candidate.accuracy.n)" 1/4
equals "per-argument accuracy 5/12" \
   "$(metric $R candidate.argument_accuracy.k)/$(metric $R candidate.argument_accuracy.n)" 5/12
equals "format: a call of a tool not offered fails (3/4)" "$(metric $R candidate.format.k)/$(metric $R candidate.format.n)" 3/4
equals "the tools went with every request" "$(awk -F '\t' '$4 == "get_order,cancel_order"' requests.log | wc -l | tr -d ' ')" 4
contains "summary shows argument accuracy" "$OUT" "argument accuracy"
contains "summary gives the task metric against the reference" "$OUT" "task metric: argument_accuracy 41.7 points, reference 100.0"

# ---- declared formats: refused when bad, nothing written; checked in eval
run "$OFFRAMP" task edit summary-generation --format-regex '([a-z' --format-max-length 90
expect_rc "a bad regex is refused (a usage error)" 2
contains "... naming the option and the value" "$ERR" "--format-regex '([a-z' is not a POSIX extended regular expression"
equals "... and nothing written" "$(sql "SELECT format_max_length FROM tasks WHERE name = 'summary-generation'")" 0
run "$OFFRAMP" task edit invoice-fields --format-schema '{"type":"object","patternProperties":{}}'
expect_rc "an unsupported schema keyword is refused (a usage error)" 2
contains "... naming it" "$ERR" "has 'patternProperties', which offramp does not check"
run "$OFFRAMP" task edit summary-generation --format-starts-with 'Summary:' --format-max-length 78 --metric-threshold 0.7
expect_rc "format declared" 0
run "$OFFRAMP" task show summary-generation --json
contains "format in the task's JSON" "$OUT" '"starts_with": "Summary:"'
run "$OFFRAMP" eval summary-generation --candidate "$URL|cand" --test-file tx/test.jsonl
expect_rc "text eval" 0
R=$(sql "SELECT max(id) FROM eval_runs")
equals "text compared on chrF" "$(metric $R candidate.metric.name)" chrf
equals "s1 and s2 agree on chrF >= 0.70, s3 does not" "$(metric $R candidate.accuracy.k)/$(metric $R candidate.accuracy.n)" 2/3
equals "format 1/3: s2 lacks the prefix, s3 too" "$(metric $R candidate.format.k)/$(metric $R candidate.format.n)" 1/3
equals "format failures by reason: the prefix first (2)" "$(metric $R 'candidate.format_failures[0].n')" 2
equals "... with its reason" "$(metric $R 'candidate.format_failures[0].why')" 'does not start with "Summary:"'
MEAN=$(sql "SELECT round(json_extract(metrics, '\$.candidate.metric.mean'), 2) BETWEEN 0.5 AND 0.95 FROM eval_runs WHERE id = $R")
equals "mean chrF between the agreeing and the unrelated answers" "$MEAN" 1
contains "summary shows the metric" "$OUT" "chrf                 mean"
contains "summary shows the format failures" "$OUT" 'format failures      2 x does not start with "Summary:"'
# The evaluate gate of a text task also holds the task's own metric to the reference: the
# picked model's mean chrF must be within the eval margin of the logged answers' (which score 1).
TX=$(sql "SELECT id FROM tasks WHERE name = 'summary-generation'")
sql "INSERT INTO backends(name, kind, base_url, created_at) VALUES ('tk-stand', 'openai-ft', '$URL', '2026-12-01T00:00:00Z');
     INSERT INTO experiments(task_id, backend, job_id, base_model, status, fine_tuned_model, created_at, updated_at)
        VALUES ($TX, 'tk-stand', 'job-tx', 'distill', 'succeeded', 'cand', '2026-12-01T00:00:00Z', '2026-12-01T00:00:00Z');"
"$OFFRAMP" job pick "$(sql "SELECT id FROM experiments WHERE job_id = 'job-tx'")" > /dev/null
run "$OFFRAMP" report summary-generation --json
CHRF=$(printf '%s' "$OUT" | jq -r '.gate.checks[] | select(.what == "chrf") | .status + " " + .detail')
contains "the text task's gate checks chrF against the reference, on run $R" "$CHRF" "needs 95.0 % (reference 100.0 % - 5 pts; run $R)"
contains "... and fails it: the candidate's mean chrF is far below" "$CHRF" "fail "

done_testing
