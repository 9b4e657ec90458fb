#!/bin/sh
# audit.sh - the Audit and Touchpoints views headless: keystroke scripts in, screen dumps
# out, compared with golden screens (tests/ui/expected/audit-*.screen). Set
# OFFRAMP_UPDATE_SCREENS=1 to rewrite them after an intended change, then review the diff.
. "$TESTS_SRCDIR/lib.sh"

export LINES=24 COLUMNS=100 TERM=xterm TZ=UTC LC_ALL=C.UTF-8
D="$TESTS_SRCDIR/data"
cd "$TMP" || exit 1
export OFFRAMP_WORKSPACE=ws.db
"$OFFRAMP" import --quiet "$D/pairs.jsonl" "$D/litellm.csv" >/dev/null



# 1. The audit table, opened with A from the inventory.
console 'A
:save-display table.txt'
expect_rc "console exits 0" 0
screen_matches table.txt audit-table
contains "unpriced model flagged on screen" "$(cat table.txt)" "unpriced: 1 calls of 1 model (first: acme-1"

# 2. Sorting: o cycles the sort column.
console 'Ao
:save-display sorted.txt'
contains "sorted by calls/day" "$(sed -n 1p sorted.txt)" "sorted by calls/day"
first=$(sed -n 4p sorted.txt)
contains "most calls first" "$first" "intent"

# 2b. '/' filters the audit table; Esc clears the filter and stays in the view.
console 'A/tone<Enter>
:save-display audit-filtered.txt
<Esc>
:save-display audit-cleared.txt'
contains "the filter keeps the matching row" "$(cat audit-filtered.txt)" "tone"
lacks "... and hides the others" "$(cat audit-filtered.txt)" "intent"
contains "the title says what it matches" "$(sed -n 1p audit-filtered.txt)" "1 matching 'tone'"
contains "Esc cleared it, still in the audit" "$(sed -n 1p audit-cleared.txt)" "offramp · audit"
contains "... all rows back" "$(cat audit-cleared.txt)" "intent"
console 'T/nothing-like-this<Enter>
:save-display tp-filtered.txt'
contains "'/' filters the touchpoints too" "$(cat tp-filtered.txt)" "No touchpoint matches the filter"

# 3. Enter on a task row opens the task view.
console 'Aooo
<Enter>
:save-display task.txt'
contains "task view opened from the audit" "$(sed -n 1p task.txt)" "task"

# 4. Touchpoints: T lists them with samples; n names the selected one.
console 'T
:save-display touchpoints.txt'
screen_matches touchpoints.txt audit-touchpoints
console 'T
n
summaries<Enter>
:save-display named.txt'
contains "naming reported" "$(cat named.txt)" "named 'summaries': 2 calls attributed"
equals "the task holds the calls" "$(sql "SELECT count(*) FROM exchanges e JOIN tasks t ON t.id = e.task_id WHERE t.name = 'summaries'")" 2
console ':audit
:save-display after.txt'
contains "the audit shows the named task" "$(cat after.txt)" "summaries"
lacks "no untagged rows left" "$(cat after.txt)" "? "

# 5. Merge refused for a missing task; the message says so.
"$OFFRAMP" import --quiet - >/dev/null <<'JSON'
{"request":{"model":"gpt-4o","messages":[{"role":"system","content":"Translate the reply into French."},{"role":"user","content":"Thanks for waiting"}]},"response":{"id":"tr-1","created":1793527200,"choices":[{"message":{"content":"Merci"}}]}}
JSON
console 'T
m
nosuch<Enter>
:save-display merge.txt'
contains "merge into a missing task refused" "$(cat merge.txt)" "no task named 'nosuch'"
console 'T
m
intent<Enter>
:save-display merged.txt'
contains "merge reported" "$(cat merged.txt)" "merged into 'intent': 1 calls attributed"

done_testing
