#!/bin/sh
# task.sh - offramp task add/edit/list/show/rm/score through the real binary.
. "$TESTS_SRCDIR/lib.sh"

run "$OFFRAMP" task add intent --volume 135000 --cost 270 --kind label --examples 18000 \
   --domain-vocab --sla --description "Classify tickets" --criticality high
expect_rc "add a task" 0
run "$OFFRAMP" task add tone --volume 84000 --cost 84 --kind label
expect_rc "add a second task" 0
run "$OFFRAMP" task add chat --volume 240000 --cost 1920 --kind open-ended --customer-facing --revenue=yes
expect_rc "add an open-ended task with flag=value" 0

run "$OFFRAMP" task list
expect_rc "list" 0
first=$(printf '%s\n' "$OUT" | sed -n 2p)
contains "highest priority ranks first" "$first" "intent"
contains "priority shown (5 x 3 / 1 = 15.0)" "$first" "15.0"
contains "open-ended verdict in the list" "$OUT" "stay:open-ended"

run "$OFFRAMP" task list --json
expect_rc "list --json" 0
equals "JSON list has three tasks" "$(printf '%s' "$OUT" | grep -c '"name":')" 3
contains "JSON carries the priority" "$OUT" '"priority": 15.0'
contains "JSON carries the criteria" "$OUT" '"criterion": "large volume (135,000/month, bar 30,000)"'

run "$OFFRAMP" task show intent
expect_rc "show" 0
contains "show lists the fields" "$OUT" "135,000 requests"
contains "show explains the suggestion" "$OUT" "+1 domain-specific vocabulary"
contains "show includes the gate" "$OUT" "gate audit -> dataset: closed"

run "$OFFRAMP" task score intent
expect_rc "score without options shows the scores" 0
contains "... says they are not reviewed" "$OUT" "not reviewed: --accept marks them reviewed"
equals "score without options does not mark them reviewed" "$(sql "SELECT scored_at IS NULL FROM tasks WHERE name='intent'")" 1
run "$OFFRAMP" task score intent --impact 4 --complexity 2
expect_rc "override two scores" 0
contains "override reported with the suggestion" "$OUT" "4 (override; suggested 3)"
contains "priority recomputed (5 x 4 / 2)" "$OUT" "10.0 = 5 x 4 / 2"
run "$OFFRAMP" task score intent --impact auto
contains "auto restores the suggestion" "$OUT" "impact       3 (suggested)"
equals "scored_at set by an override" "$(sql "SELECT scored_at IS NOT NULL FROM tasks WHERE name='intent'")" 1

run "$OFFRAMP" task edit intent --volume 2000 --rename ticket-intent
expect_rc "edit and rename" 0
run "$OFFRAMP" task show ticket-intent --json
contains "renamed task keeps its data" "$OUT" '"monthly_volume": 2000'
contains "low volume now means stay" "$OUT" "low volume: 2,000/month < 3,000"

# Bad input: clear message naming the value, nothing written, non-zero exit.
before=$(sql "SELECT count(*) || ':' || group_concat(updated_at) FROM tasks")
run "$OFFRAMP" task score ticket-intent --suitability 6
expect_rc "score 6 refused as a bad option value (2)" 2
contains "score error names the value" "$ERR" "'6' is not a score from 1 to 5"
run "$OFFRAMP" task score ticket-intent --impact high
expect_rc "non-numeric score refused as a bad option value (2)" 2
contains "non-number named" "$ERR" "'high'"
run "$OFFRAMP" task add tone
expect_rc "duplicate name refused" 1
contains "duplicate named" "$ERR" "a task named 'tone' already exists"
run "$OFFRAMP" task add bad --volume 12k
expect_rc "bad volume refused as a bad option value (2)" 2
contains "bad volume named" "$ERR" "--volume '12k' is not a whole number"
run "$OFFRAMP" task add bad --kind poem
expect_rc "bad kind refused as a bad option value (2)" 2
contains "bad kind lists the kinds" "$ERR" "'poem' is not an output kind (label, extraction"
run "$OFFRAMP" task add "has space"
expect_rc "bad name refused" 1
run "$OFFRAMP" task edit ghost --volume 1
expect_rc "editing an unknown task fails" 1
contains "unknown task named" "$ERR" "no task named 'ghost'"
run "$OFFRAMP" task show ghost
expect_rc "showing an unknown task fails" 1
run "$OFFRAMP" task edit tone --rename chat
expect_rc "rename onto an existing name refused" 1
run "$OFFRAMP" task bogus
expect_rc "unknown task subcommand is a usage error" 2
equals "nothing written by the refused commands" "$(sql "SELECT count(*) || ':' || group_concat(updated_at) FROM tasks")" "$before"
equals "no task 'bad' created" "$(sql "SELECT count(*) FROM tasks WHERE name='bad'")" 0

run "$OFFRAMP" task rm tone
expect_rc "remove" 0
run "$OFFRAMP" task rm tone
expect_rc "removing twice fails" 1
equals "two tasks left" "$(sql "SELECT count(*) FROM tasks")" 2

# Wide characters in names and descriptions survive the round trip.
run "$OFFRAMP" task add résumé-tri --description "Trier les CV — 履歴書"
expect_rc "UTF-8 task name" 0
run "$OFFRAMP" task show résumé-tri --json
contains "UTF-8 description round trip" "$OUT" "履歴書"

done_testing
