#!/bin/sh
# runbook.sh - runbooks rendered as text and per-task checklist progress.
. "$TESTS_SRCDIR/lib.sh"

run "$OFFRAMP" runbook list
expect_rc "list runbooks" 0
equals "nine runbooks" "$(printf '%s\n' "$OUT" | wc -l)" 9
run "$OFFRAMP" runbook canary
expect_rc "render one" 0
contains "checklist rendered" "$OUT" "[ ] "
lacks "no raw markdown bullets" "$OUT" "- [ ]"

"$OFFRAMP" task add intent >/dev/null
item=$("$OFFRAMP" runbook shadow | sed -n 's/^\[ \] //p' | head -1)
[ -n "$item" ] && ok "found a checklist item" || not_ok "found a checklist item"
run "$OFFRAMP" runbook shadow --task intent --toggle "$item"
expect_rc "check an item" 0
contains "checked" "$OUT" "[x] $item"
run "$OFFRAMP" runbook shadow --task intent
contains "checked item persisted" "$OUT" "[x] $item"
run "$OFFRAMP" runbook list --task intent
contains "progress counted" "$OUT" "shadow      1/"
run "$OFFRAMP" runbook shadow --task intent --toggle "$item"
contains "unchecked again" "$OUT" "[ ] $item"
equals "nothing stored once unchecked" "$(sql 'SELECT count(*) FROM checklist')" 0

run "$OFFRAMP" runbook nope
expect_rc "unknown runbook" 1
contains "unknown runbook named" "$ERR" "'nope' is not a runbook"
run "$OFFRAMP" runbook shadow --task intent --toggle "no such item text"
expect_rc "unknown item" 1
run "$OFFRAMP" runbook shadow --toggle x
expect_rc "--toggle needs --task" 2

# A phase's name stands for its runbook: train is the training runbook, evaluate the evaluation one.
run "$OFFRAMP" runbook train
expect_rc "runbook train (a phase name)" 0
contains "... is the training runbook" "$OUT" "TRAIN: FINE-TUNE A CANDIDATE MODEL"
run "$OFFRAMP" runbook evaluate
expect_rc "runbook evaluate (a phase name)" 0

done_testing
