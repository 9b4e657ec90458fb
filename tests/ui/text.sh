#!/bin/sh
# text.sh - every string the console draws is valid UTF-8 with no C0 or C1 control characters:
# each view is walked with OFFRAMP_DRAW_CHECK set (Draw_text notes there what is not clean),
# including the task view after cutover, whose trend arrows and version chain were once
# double-encoded (C1 bytes sent to the terminal). A planted bad description shows the check
# notes what it should and the screen gets U+FFFD instead of the raw bytes.
. "$TESTS_SRCDIR/lib.sh"
command -v sqlite3 >/dev/null 2>&1 || skip_all "sqlite3 not installed (apt-get install sqlite3)"
export LINES=40 COLUMNS=160 TERM=xterm TZ=UTC LC_ALL=C.UTF-8
cd "$TMP" || exit 1
export OFFRAMP_WORKSPACE=ws.db
export OFFRAMP_DRAW_CHECK=$TMP/unclean.txt
"$OFFRAMP" -w ws.db demo --no-console --no-logs >/dev/null

# content-classification after cutover: served answers today and the week before, a trained model.
sql "UPDATE tasks SET phase = 'cutover' WHERE name = 'content-classification'"
id=$(sql "SELECT id FROM tasks WHERE name = 'content-classification'")
ins() {   # ins RID ARM AGREE AGE (SQLite modifier)
   sql "INSERT INTO exchanges(rid, task_id, ts, arm, agree, record) VALUES ('$1', $id,
        strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '$4'), '$2', $3, '{}')"
}
for i in 1 2 3 4 5 6 7 8 9; do ins "now$i" candidate 1 "-1 hour"; done
ins now10 fallback NULL "-1 hour"
for i in 1 2 3 4 5; do ins "prev$i" candidate 1 "-3 days"; done
for i in 6 7 8 9 10; do ins "prev$i" candidate 0 "-3 days"; done
sql "INSERT INTO experiments(task_id, dataset_id, backend, job_id, base_model, status, fine_tuned_model, created_at,
     updated_at) VALUES ($id, 1, 'demo-trainer', 'ftjob-1', 'distil', 'succeeded', 'ft:content:1', '2026-01-01', '2026-01-01')"

console ':task content-classification
:save-display operate.txt
?
:save-display help.txt
L
:save-display log.txt
q
q
e
:save-display report.txt
q
r
:save-display runbook.txt
A
:save-display audit.txt
T
:save-display touchpoints.txt
i
:save-display inventory.txt'
expect_rc "the walk through every view ends with 0" 0
contains "operate: the agreement trend arrow" "$(cat operate.txt)" "↑ from 50.0 % the week before"
contains "operate: the version chain" "$(cat operate.txt)" "dataset 1 → job ftjob-1 → ft:content:1 →"
for f in operate help log report runbook audit touchpoints inventory; do
   [ -s $f.txt ] || not_ok "$f screen saved"
done
if [ -s unclean.txt ]; then
   not_ok "every string drawn on the way is clean UTF-8" "$(cat unclean.txt)"
else
   ok "every string drawn on the way is clean UTF-8"
fi

# The check notes what is not clean, and the terminal gets U+FFFD in its place.
sql "UPDATE tasks SET description = 'bad' || char(133) || 'c1 and' || char(7) || 'bell' WHERE name = 'tone-analysis'"
console ':task tone-analysis
:save-display bad.txt'
contains "a C1 control (U+0085) in a description is noted" "$(cat unclean.txt)" 'bad\xc2\x85c1 and\x07bell'
contains "... and drawn as U+FFFD" "$(cat bad.txt)" "bad�c1 and�bell"
if LC_ALL=C grep -q "$(printf '\302\205')" bad.txt; then not_ok "no C1 byte on the screen"; else ok "no C1 byte on the screen"; fi

done_testing
