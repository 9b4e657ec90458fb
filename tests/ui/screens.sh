#!/bin/sh
# screens.sh - the console as a person uses it: keystroke scripts in, screen dumps out,
# compared with golden screens (tests/ui/expected). Set OFFRAMP_UPDATE_SCREENS=1 to rewrite
# the golden files after an intended change, then review the diff.
. "$TESTS_SRCDIR/lib.sh"

export LINES=24 COLUMNS=80 TERM=xterm TZ=UTC LC_ALL=C.UTF-8
cd "$TMP" || exit 1
export OFFRAMP_WORKSPACE=ws.db
# Draw_text notes here every string that is not clean UTF-8 (checked at the end).
export OFFRAMP_DRAW_CHECK=$TMP/unclean.txt

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
contains "unknown command explained" "$(status_of unknown.txt)" "unknown command ':frobnicate'"

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
contains "status line reports the build" "$(status_of dataset.txt)" "dataset 1 built: "
"$OFFRAMP" task edit content-classification --min-examples 500 >/dev/null
console '<Enter>
d
:save-display dataset-refused.txt'
contains "a refused build explained on the status line" "$(status_of dataset-refused.txt)" "train rows, the gate needs 500"
equals "nothing registered by the refused build" "$(sql "SELECT count(*) FROM datasets")" 1

# 13. Esc never quits: it clears a filter, then goes back, and on the last view says how to quit.
console '/tone<Enter>
<Esc>
:save-display esc-filter.txt
<Enter>
<Esc>
:save-display esc-back.txt
<Esc>
<Esc>
:save-display esc-last.txt'
expect_rc "Esc on the inventory does not end the console" 0
lacks "Esc cleared the filter" "$(cat esc-filter.txt)" "matching tone"
contains "... and said so" "$(status_of esc-filter.txt)" "filter cleared"
contains "Esc from the task view went back to the inventory" "$(sed -n 1p esc-back.txt)" "inventory"
contains "Esc on the last view says how to quit" "$(status_of esc-last.txt)" "Esc never quits: q or :quit leaves the console"
console '<Esc>
<Esc>
:save-display after-esc.txt'
contains "the console still runs after Esc Esc on the inventory" "$(sed -n 1p after-esc.txt)" "inventory"

# 14. Ctrl-C leaves with 130, as a shell reports a program Ctrl-C ended; q leaves with 0 (nothing
# runs under this console, so it does not ask).
console '<Enter>
<C-c>
:save-display never.txt'
expect_rc "Ctrl-C exits 130" 130
[ -e never.txt ] && not_ok "nothing after Ctrl-C runs" || ok "nothing after Ctrl-C runs"
console 'q'
expect_rc "q on the last view quits with 0 when no service runs" 0

# 15. Help starts with the keys of the view it was asked from, lists the ':' commands, and '/'
# searches it.
console '<Enter>
?
:save-display help-task.txt
/rollback<Enter>
:save-display help-search.txt'
contains "help from the task view starts with its keys" "$(sed -n 2p help-task.txt)" "Keys in the task view"
contains "... the first of them" "$(sed -n 3p help-task.txt)" "score-next"
lacks "a search keeps only what matches" "$(cat help-search.txt)" "score-next"
contains "... the matching key" "$(cat help-search.txt)" "phase-rollback"
contains "... and the matching command" "$(cat help-search.txt)" ":rollback PHASE"
console '?
:filter save-display
:save-display help-cmd.txt'
contains "help lists the script commands too" "$(cat help-cmd.txt)" ":save-display FILE"
check "help descriptions wrap, not cut at the edge" grep -q "^ *suggestion\$" help-task.txt

# 16. A long message wraps in the message area; L shows every message of the session, whole.
console ':task no-such-task-with-a-long-name-that-goes-on-and-on-past-the-edge-of-an-eighty-column-screen
:save-display long.txt
L
:save-display log.txt'
contains "a long message wraps instead of being cut" "$(status_of long.txt)" "(see 'offramp task list')"
contains "the log shows it whole" "$(tr '\n' ' ' < log.txt | tr -s ' ')" "(see 'offramp task list')"
contains "the log is a view" "$(sed -n 1p log.txt)" "messages"

# 17. Ctrl-U clears a prompt; Tab completes task names after :task. (A script line starting with
# ':' is a command, so the keys start with g, which stays on the first line.)
console 'g:task content<Tab><Enter>
:save-display completed.txt'
contains "Tab completed the task name" "$(sed -n 1p completed.txt)" "task content-classification"
console 'g:task nothing<C-u>task tone-analysis<Enter>
:save-display cleared.txt'
contains "Ctrl-U cleared the prompt" "$(sed -n 1p cleared.txt)" "task tone-analysis"

# 18. < asks for a reason and refuses an empty one; r opens the runbook from the rollout view.
sql "UPDATE tasks SET phase = 'dataset' WHERE name = 'content-classification'"
console ':task content-classification
<
<Enter>
<Enter>
:save-display noreason.txt'
contains "an empty reason is refused" "$(status_of noreason.txt)" "not rolled back: a roll back needs a reason"
equals "the phase stays" "$(sql "SELECT phase FROM tasks WHERE name='content-classification'")" dataset
console ':task content-classification
<
<Enter>
relabelling<Enter>
:save-display withreason.txt'
equals "with a reason it rolls back" "$(sql "SELECT phase FROM tasks WHERE name='content-classification'")" audit
equals "... and the reason is kept" "$(sql "SELECT reason FROM phase_events ORDER BY id DESC LIMIT 1")" relabelling
console ':task content-classification
R
r
:save-display rollout-runbook.txt'
contains "r from the rollout view opens the task's runbook" "$(sed -n 1p rollout-runbook.txt)" "runbook audit"

# 19. Every string drawn in these tests was valid UTF-8 without control characters.
if [ -s "$OFFRAMP_DRAW_CHECK" ]; then
   not_ok "every drawn string is clean UTF-8" "$(cat "$OFFRAMP_DRAW_CHECK")"
else
   ok "every drawn string is clean UTF-8"
fi

done_testing
