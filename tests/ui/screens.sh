#!/bin/sh
# screens.sh - the console as a person uses it: keystroke scripts in, screen dumps out,
# compared with golden screens (tests/ui/expected). Set OFFRAMP_UPDATE_SCREENS=1 to rewrite
# the golden files after an intended change, then review the diff.
. "$TESTS_SRCDIR/lib.sh"

export LINES=24 COLUMNS=80 TERM=xterm TZ=UTC LC_ALL=C.UTF-8
cd "$TMP" || exit 1
export OFFRAMP_WORKSPACE=ws.db

# The demo workspace: five touchpoints shaped like seed 001's audit.
"$OFFRAMP" -w ws.db demo --no-console --no-logs >/dev/null




# 1. Inventory: ranked by priority, totals in the footer.
console ':save-display inventory.txt'
expect_rc "console exits 0 at the end of the script" 0
screen_matches inventory.txt inventory

# 2. Task view: open the top task with Enter.
console '<Enter>
:save-display task.txt'
screen_matches task.txt task

# 3. Score editor: select impact, raise it twice; the change reaches the workspace.
console '<Enter>
<Tab>++
:save-display score.txt'
screen_matches score.txt score
equals "impact override stored" "$(sql "SELECT impact FROM tasks WHERE name='content-classification'")" 5
contains "priority recomputed on screen" "$(cat score.txt)" "priority     25.0"
console '<Enter>
<Tab>a
:save-display score-auto.txt'
equals "a resets the override" "$(sql "SELECT impact IS NULL FROM tasks WHERE name='content-classification'")" 1

# 4. Advance refused: the gate lists what is missing, the status line says so.
console '<Enter>
>
:save-display refused.txt'
contains "refused advance explained" "$(cat refused.txt)" "gate closed: 1 check not met (see GATE)"
equals "phase unchanged after refusal" "$(sql "SELECT phase FROM tasks WHERE name='content-classification'")" audit

# 5. Help: generated from the action table.
console '?
:save-display help.txt'
screen_matches help.txt help

# 6. Runbook of the task's phase, with a checklist item checked by Space.
console '<Enter>
r
jjjjjjjj<Space>
:save-display runbook.txt'
screen_matches runbook.txt runbook
equals "checked item persisted" "$(sql "SELECT count(*) FROM checklist WHERE runbook='audit'")" 1
console 'r
]]
:save-display runbook-next.txt'
contains "] moves to the next runbook" "$(sed -n 1p runbook-next.txt)" "runbook training"

# 7. Resize: too small, then back to 80x24.
console ':resize 50x12
:save-display small.txt
:resize 80x24
:save-display resized.txt'
screen_matches small.txt small
contains "back to normal after resize" "$(cat resized.txt)" "content-classification"

# 8. Filter and the command prompt.
console '/tone<Enter>
:save-display filtered.txt'
contains "filter keeps matching tasks" "$(cat filtered.txt)" "tone-analysis"
lacks "filter hides the others" "$(cat filtered.txt)" "chat-responses"
console ':task chat-responses
:save-display cmd.txt'
contains ":task opens a task" "$(sed -n 1p cmd.txt)" "task chat-responses"
console ':frobnicate
:save-display unknown.txt'
contains "unknown command explained" "$(tail -1 unknown.txt)" "unknown command ':frobnicate'"

# 9. Wide characters: a task with a CJK description renders in the inventory.
"$OFFRAMP" task add 履歴書-triage --description "履歴書を分類する" --volume 50000 --cost 400 --examples 900 >/dev/null
console ':task 履歴書-triage
:save-display wide.txt'
contains "wide-character name in the title" "$(sed -n 1p wide.txt)" "履歴書-triage"
contains "wide-character description" "$(cat wide.txt)" "履歴書を分類する"

# 10. NO_COLOR is honoured (the dump is text either way; the console must still run).
NO_COLOR=1 OFFRAMP_SCRIPT=/dev/null "$OFFRAMP" >/dev/null 2>&1
equals "console runs with NO_COLOR" "$?" 0

# 11. Without a terminal and without a script the console refuses clearly.
run "$OFFRAMP" console </dev/null
expect_rc "no terminal: refused" 1
contains "no terminal explained" "$ERR" "needs a terminal"

# 12. Dataset panel: d builds a dataset with the defaults from the task view; the panel shows
# its rows, filters, labels and the gate's checks.
MK=$(dirname "$OFFRAMP")/tests/dataset/mkexchanges
"$MK" ws.db content-classification "$TESTS_SRCDIR/ui/tickets.csv" >/dev/null
"$OFFRAMP" task edit content-classification --min-examples 40 >/dev/null
console '<Enter>
d
:save-display dataset.txt'
screen_matches dataset.txt dataset
equals "d registered a dataset" "$(sql "SELECT count(*) FROM datasets")" 1
contains "status line reports the build" "$(tail -1 dataset.txt)" "dataset 1 built: "
"$OFFRAMP" task edit content-classification --min-examples 500 >/dev/null
console '<Enter>
d
:save-display dataset-refused.txt'
contains "a refused build explained on the status line" "$(tail -1 dataset-refused.txt)" "train rows, the gate needs 500"
equals "nothing registered by the refused build" "$(sql "SELECT count(*) FROM datasets")" 1

done_testing
