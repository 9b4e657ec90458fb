#!/bin/sh
# phase.sh - offramp phase show/advance/rollback/stay/history through the real binary.
. "$TESTS_SRCDIR/lib.sh"

"$OFFRAMP" task add intent --volume 135000 --cost 270 --kind label >/dev/null

run "$OFFRAMP" phase show intent
expect_rc "show" 0
contains "stepper marks the current phase" "$OUT" "[audit] > dataset > train"
contains "gate check lists missing examples" "$OUT" "[no] logged examples: 0, the gate needs 500"

run "$OFFRAMP" phase advance intent --reason "try early"
expect_rc "advance refused with the gate exit code" 3
contains "refusal lists scored" "$ERR" "failed scored"
contains "refusal lists examples" "$ERR" "failed logged examples"
equals "still in audit" "$(sql "SELECT phase FROM tasks")" audit

# Give it 600 logged examples and a reviewed score.
sqlite3 "$OFFRAMP_WORKSPACE" "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 600)
   INSERT INTO exchanges(rid, task_id, ts, status, record) SELECT 'r'||i, 1, '2026-11-01T00:00:00Z', 200, '{}' FROM n;"
"$OFFRAMP" task score intent --accept >/dev/null
run "$OFFRAMP" phase show intent --json
contains "JSON gate open" "$OUT" '"open": true'
run "$OFFRAMP" phase advance intent --reason "600 examples"
expect_rc "advance" 0
contains "advance reported" "$OUT" "audit -> dataset"
run "$OFFRAMP" phase advance intent
expect_rc "dataset gate refuses (input missing)" 3
contains "missing input said as such" "$ERR" "missing dataset: no dataset built yet"

run "$OFFRAMP" phase rollback intent shadow
expect_rc "rollback forward refused" 1
contains "rollback error names the phases" "$ERR" "cannot roll back from dataset to shadow"
run "$OFFRAMP" phase rollback intent nowhere
expect_rc "unknown phase refused" 1
contains "unknown phase named" "$ERR" "'nowhere' is not a phase"
run "$OFFRAMP" phase rollback intent audit --reason "relabel the data"
expect_rc "rollback" 0
run "$OFFRAMP" phase stay intent --reason "prompt still changing"
expect_rc "stay on the API" 0
run "$OFFRAMP" phase show intent
contains "stay shown" "$OUT" "[stays on API]"
run "$OFFRAMP" phase rollback intent dataset --reason resume
expect_rc "resume from stay" 0

run "$OFFRAMP" phase history intent
expect_rc "history" 0
equals "five transitions recorded" "$(printf '%s\n' "$OUT" | wc -l)" 5
contains "actor recorded" "$OUT" "tester"
contains "reason recorded" "$OUT" "relabel the data"
run "$OFFRAMP" phase history intent --json
contains "JSON history has kinds" "$OUT" '"kind": "stay"'

run "$OFFRAMP" phase advance ghost
expect_rc "unknown task is an error, not a gate" 1
contains "unknown task named" "$ERR" "no task named 'ghost'"
run "$OFFRAMP" phase frobnicate intent
expect_rc "unknown phase command is a usage error" 2

# Without $OFFRAMP_ACTOR and $USER (cron, units, containers) the actor is the login name.
env -u OFFRAMP_ACTOR -u USER "$OFFRAMP" task add nouser --volume 100 --cost 1 >/dev/null
equals "actor falls back to the login name" "$(sql "SELECT actor FROM phase_events WHERE kind = 'create' ORDER BY id DESC LIMIT 1")" "$(id -un)"

done_testing
