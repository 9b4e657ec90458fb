#!/bin/sh
# kinds.sh - the task view says why a task has the kind it has when the logs said it: the demo's
# extraction and rewrite tasks, seeded without a kind, get theirs from imported demo logs, and
# the console shows the evidence (JSON keys and their share; free text, its length and how much
# of it comes from the input) under the task's header; a kind the user set shows no such line.
. "$TESTS_SRCDIR/lib.sh"
command -v sqlite3 >/dev/null 2>&1 || skip_all "sqlite3 not installed (apt-get install sqlite3)"
export LINES=30 COLUMNS=120 TERM=xterm TZ=UTC LC_ALL=C.UTF-8
cd "$TMP" || exit 1
export OFFRAMP_WORKSPACE=ws.db
export OFFRAMP_DRAW_CHECK=$TMP/unclean.txt
export OFFRAMP_SHARE
"$OFFRAMP" -w ws.db demo --no-console --no-logs >/dev/null
"$OFFRAMP" demo-logs --out logs.jsonl --days 1 --scale 0.05 2>/dev/null
run "$OFFRAMP" -w ws.db import logs.jsonl
expect_rc "import the demo's logs" 0
contains "import says the extraction task's kind" "$OUT" "kind of order-extraction: extraction ("
equals "the kind is stored" "$(sql "SELECT answer_kind FROM tasks WHERE name = 'order-extraction'")" extraction
equals "the rewrite's too" "$(sql "SELECT answer_kind FROM tasks WHERE name = 'ticket-rewrite'")" rewrite

console ':task order-extraction
:save-display extraction.txt
:task ticket-rewrite
:save-display rewrite.txt
:task content-classification
:save-display label.txt'
expect_rc "console exits 0 at the end of the script" 0
# a long line wraps on screen: the words joined again with single spaces
joined() { tr '\n' ' ' < "$1" | tr -s ' '; }
x=$(joined extraction.txt)
contains "extraction: the kind on the header line" "$x" "\$144/month declared · extraction output"
contains "extraction: the kind and where it came from" "$x" "kind extraction, from the logs: 100 % of"
contains "extraction: the share and the stable keys" "$x" \
   "are JSON objects, 100 % of them with the same keys (amount, customer_name, order_date, order_id, product)"
w=$(joined rewrite.txt)
contains "rewrite: the kind and where it came from" "$w" "kind rewrite, from the logs: free text:"
contains "rewrite: length and variety" "$w" "distinct answers in"
contains "rewrite: how much comes from the input" "$w" "of an answer's words come from its input"
printf '%s\n' "$w" | grep -q "median [0-9]* words" && ok "rewrite: the median length in words" ||
   not_ok "rewrite: the median length in words" "$w"
printf '%s\n' "$(cat label.txt)" | grep -q "from the logs" && not_ok "a kind set by the user has no inferred reason" \
   "$(cat label.txt)" || ok "a kind set by the user has no inferred reason"
# The coverage panel: four compared answers of the extraction task with the candidate's
# confidence (0.95 agrees, 0.85 agrees, 0.75 disagrees, 0.4 agrees) and one without a confidence.
# >= 0.50: 3 of 4 kept (75.0 %), 2 of them agree (66.7 %); >= 0.80: 2 kept (50.0 %), both agree;
# >= 0.90 and >= 0.95: 1 kept (25.0 %), it agrees.
id=$(sql "SELECT id FROM tasks WHERE name = 'order-extraction'")
i=0
for row in "0.95 1" "0.85 1" "0.75 0" "0.4 1" "NULL 1"; do
   set -- $row
   i=$((i + 1))
   sql "INSERT INTO exchanges(rid, task_id, ts, arm, agree, confidence, record) VALUES ('cov$i', $id,
        '2026-11-20T10:00:00.000Z', 'primary', $2, $1, '{}')"
done
console ':task order-extraction
:save-display coverage.txt'
c=$(cat coverage.txt)
contains "coverage: the kind's confidence and n" "$c" "COVERAGE  compared answers by the candidate's confidence (extraction: the least sure field), n=4"
contains "coverage >= 0.50" "$c" ">= 0.50  kept  75.0 %  agree  66.7 % (2 of 3)"
contains "coverage >= 0.80" "$c" ">= 0.80  kept  50.0 %  agree 100.0 % (2 of 2)"
contains "coverage >= 0.95" "$c" ">= 0.95  kept  25.0 %  agree 100.0 % (1 of 1)"
lacks "no coverage panel without compared answers" "$(cat rewrite.txt)" "COVERAGE"

if [ -s unclean.txt ]; then
   not_ok "every string drawn is clean UTF-8" "$(cat unclean.txt)"
else
   ok "every string drawn is clean UTF-8"
fi
done_testing
