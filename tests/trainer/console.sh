#!/bin/sh
# console.sh - the training panel of the task view, headless: start a job with t (defaults:
# latest backend, a train file when there is no dataset), follow it with :wait (the poll the
# input loop runs every second), pick the candidate with p, cancel with X; compared with a
# golden screen.
. "$TESTS_SRCDIR/lib.sh"
. "$TESTS_SRCDIR/trainer/serve.sh"
export LINES=40 COLUMNS=100 TERM=xterm TZ=UTC LC_ALL=C.UTF-8
cd "$TMP" || exit 1

serve standin "$TESTS_BUILDDIR/trainer/standin_ft" || { echo "1..0 # SKIP stand-in did not start"; exit 0; }
printf '{"messages":[{"role":"user","content":"where is my parcel"},{"role":"assistant","content":"shipping"}]}\n' > train.jsonl
"$OFFRAMP" task add intent --description "ticket intent" --kind label >/dev/null
sql "UPDATE tasks SET phase = 'train'"


console ':task intent
:save-display empty.txt'
contains "panel shown in the train phase" "$(cat empty.txt)" "TRAINING  t start"
contains "empty panel says how to start" "$(cat empty.txt)" "no experiments yet"

console ':task intent
t
:save-display nobackend.txt'
contains "no backend: the message says how to add one" "$(status_of nobackend.txt)" "offramp backend add"

"$OFFRAMP" backend add standin --kind openai-ft --url "http://127.0.0.1:$standin_PORT/v1" >/dev/null
console ":task intent
t
train.jsonl<Enter>
<Backspace><Backspace><Backspace><Backspace><Backspace><Backspace><Backspace>standin-ok<Enter>
:save-display started.txt
:wait 20
:save-display done.txt
p
:save-display picked.txt"
expect_rc "console exits 0" 0
contains "start prompts for the base model and starts" "$(status_of started.txt)" "experiment #1 started"
equals "the job finished while the console followed it" "$(sql "SELECT status FROM experiments")" succeeded
contains "status line announces success" "$(status_of done.txt)" "#1 succeeded: ft:standin-ok::ftjob-standin1"
contains "progress bar full" "$(cat done.txt)" "██████████ 4/4"
contains "loss curve drawn" "$(cat done.txt)" "loss  train █▄▂▁  valid █▄▂▁  (4 steps)"
contains "hyperparameters shown" "$(cat done.txt)" "ep3 bs8"
contains "pick reported" "$(status_of picked.txt)" "candidate: #1"
contains "candidate marked" "$(cat picked.txt)" "★ candidate"
equals "candidate stored" "$(sql "SELECT candidate_experiment FROM tasks")" 1

# Gate opens on the success; the golden screen (times masked) pins the layout.
screen_matches picked.txt training

# A second, slow experiment: n selects, X cancels; a failed one shows the trainer's message.
"$OFFRAMP" train intent --train train.jsonl --base-model standin-slow >/dev/null
"$OFFRAMP" train intent --train train.jsonl --base-model standin-fail >/dev/null
console ":task intent
n
X
:save-display cancelled.txt
:wait 20
n
:save-display failed.txt"
equals "X cancelled the selected job" "$(sql "SELECT status FROM experiments WHERE id = 2")" cancelled
contains "cancel reported" "$(status_of cancelled.txt)" "#2 cancelled"
equals "the failing job was followed to its end" "$(sql "SELECT status FROM experiments WHERE id = 3")" failed
contains "failure message in the panel" "$(cat failed.txt)" "failed: stand-in: CUDA out of memory at step 2"
console ":task intent
n
p
:save-display pickfail.txt"
contains "a failed job cannot be picked" "$(status_of pickfail.txt)" "only a succeeded job can be the candidate"

done_testing
