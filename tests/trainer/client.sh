#!/bin/sh
# client.sh - the trainer client (backends, train, jobs, job) against a stand-in fine-tuning
# service on 127.0.0.1: success, failure with the service's message, cancel, deduplicated
# events, following resumed by a new process, the train gate and picking the candidate.
. "$TESTS_SRCDIR/lib.sh"
. "$TESTS_SRCDIR/trainer/serve.sh"
cd "$TMP" || exit 1

serve standin "$TESTS_BUILDDIR/trainer/standin_ft" --key sekrit || { echo "1..0 # SKIP stand-in did not start"; exit 0; }
URL=http://127.0.0.1:$standin_PORT/v1
printf '{"messages":[{"role":"user","content":"where is my parcel"},{"role":"assistant","content":"shipping"}]}\n' > train.jsonl
"$OFFRAMP" task add intent --kind label >/dev/null

# Backends.
run "$OFFRAMP" backend add gpu --kind together --url "$URL"
expect_rc "unknown kind refused" 1
contains "kinds listed" "$ERR" "kinds: openai-ft"
run "$OFFRAMP" backend add gpu --kind openai-ft --url ftp://x
expect_rc "non-http URL refused" 1
run "$OFFRAMP" backend add gpu --kind openai-ft --url "$URL" --key-env 'sk-123 456'
expect_rc "a key instead of a variable name refused" 1
run "$OFFRAMP" backend add gpu --kind openai-ft --url "$URL" --key-env STANDIN_KEY
expect_rc "backend added" 0
run "$OFFRAMP" backend add gpu --kind openai-ft --url "$URL"
expect_rc "duplicate backend refused" 1
run "$OFFRAMP" backend list
contains "list shows the backend and its key variable" "$OUT" "key \$STANDIN_KEY"
lacks "the key itself is nowhere in the workspace" "$(sql .dump)" sekrit

# The key comes from the environment only.
unset STANDIN_KEY
run "$OFFRAMP" train intent --train train.jsonl --base-model standin-ok
expect_rc "missing key refused" 1
contains "missing key names the variable" "$ERR" "\$STANDIN_KEY, which is not set"
STANDIN_KEY=wrong run "$OFFRAMP" train intent --train train.jsonl --base-model standin-ok
expect_rc "wrong key refused" 1
contains "service's 401 message surfaced" "$ERR" "HTTP 401: stand-in: incorrect API key"
export STANDIN_KEY=sekrit

# Train and follow to success.
run "$OFFRAMP" train intent --train train.jsonl --validation train.jsonl --base-model standin-ok --suffix s1 \
   --follow --interval 0.05 --timeout 30
expect_rc "train --follow succeeds" 0
contains "follow prints metrics events" "$OUT" "Step 4/4: training loss=0.400"
contains "follow ends with the model" "$OUT" "succeeded: ft:standin-ok:s1:ftjob-standin1"
contains "seeds' lr and LoRA rank not sent to a plain OpenAI-shaped backend" "$ERR" "learning rate 0.0002 and LoRA rank 32 not sent"
equals "experiment stored as succeeded" "$(sql "SELECT status, fine_tuned_model FROM experiments WHERE id = 1")" \
   "succeeded|ft:standin-ok:s1:ftjob-standin1"
equals "hyperparameters sent: epochs 3, batch 8" "$(sql "SELECT hyperparameters FROM experiments WHERE id = 1")" \
   '{"n_epochs":3,"batch_size":8}'
equals "all 7 events stored" "$(sql "SELECT count(*) FROM job_events WHERE experiment_id = 1")" 7
equals "checkpoint stored" "$(sql "SELECT step_number FROM checkpoints WHERE experiment_id = 1")" 4
equals "last metrics kept" "$(sql "SELECT json_extract(metrics, '\$.step') || '/' || json_extract(metrics, '\$.total_steps') FROM experiments WHERE id = 1")" 4/4
equals "trained tokens from the job" "$(sql "SELECT trained_tokens FROM experiments WHERE id = 1")" 4000
run "$OFFRAMP" job follow 1 --interval 0.05
expect_rc "following a finished job again" 0
equals "events not duplicated by a second follower" "$(sql "SELECT count(*) FROM job_events WHERE experiment_id = 1")" 7

# A backend that declares learning_rate and lora_rank gets them.
"$OFFRAMP" backend add gpu2 --kind openai-ft --url "$URL" --key-env STANDIN_KEY --accepts learning_rate,lora_rank >/dev/null
run "$OFFRAMP" train intent --train train.jsonl --base-model standin-ok --backend gpu2 --lora-rank 16 --epochs 2 --seed 7
expect_rc "train on a LoRA backend" 0
equals "lr and LoRA rank sent when declared" "$(sql "SELECT hyperparameters FROM experiments WHERE id = 2")" \
   '{"n_epochs":2,"batch_size":8,"learning_rate":0.0002,"lora_rank":16}'

# A failing job: the service's message reaches the user, the jobs list and the workspace.
run "$OFFRAMP" train intent --train train.jsonl --base-model standin-fail --follow --interval 0.05 --timeout 30
expect_rc "failed job exits 1" 1
contains "failure message surfaced" "$ERR" "failed: stand-in: CUDA out of memory at step 2 (reduce batch_size) (server_error)"
run "$OFFRAMP" jobs intent
contains "jobs shows the failure" "$OUT" "failed: stand-in: CUDA out of memory"
run "$OFFRAMP" job pick 3
expect_rc "a failed job cannot be the candidate" 1

# Cancel a long job.
run "$OFFRAMP" train intent --train train.jsonl --base-model standin-slow
contains "started without following" "$OUT" "experiment #4: job ftjob-standin4"
run "$OFFRAMP" backend rm gpu2
expect_rc "backend with a running job is kept" 1
run "$OFFRAMP" job cancel ftjob-standin4
expect_rc "cancel by job id" 0
contains "cancel reports the status" "$OUT" "cancelled"
equals "cancel stored" "$(sql "SELECT status FROM experiments WHERE id = 4")" cancelled
run "$OFFRAMP" job cancel 4
expect_rc "cancelling twice refused" 1
contains "second cancel explained" "$ERR" "has already cancelled"

# Resume following from a new process: the first follower stops early, the second finishes.
"$OFFRAMP" train intent --train train.jsonl --base-model standin-ok --suffix s5 >/dev/null
run "$OFFRAMP" job follow 5 --interval 0.05 --timeout 0.01
expect_rc "a follower that stops early exits 1" 1
contains "it says how to resume" "$ERR" "offramp jobs --follow resumes"
before=$(sql "SELECT count(*) FROM job_events WHERE experiment_id = 5")
run "$OFFRAMP" jobs --follow --interval 0.05 --timeout 30
expect_rc "jobs --follow resumes and finishes" 0
contains "the resumed follower reaches the end" "$OUT" "succeeded: ft:standin-ok:s5:ftjob-standin5"
equals "no event stored twice across followers" "$(sql "SELECT count(*) FROM job_events WHERE experiment_id = 5")" 7
ok "first follower stored $before events before stopping"
run "$OFFRAMP" jobs --follow
contains "nothing left to follow" "$OUT" "every job has ended"

# --dataset resolves the dataset step's files (datasets.dir holds train.jsonl and test.jsonl).
# Until that step is in this build, a minimal datasets table stands in for its registry.
if [ -z "$(sql "SELECT 1 FROM sqlite_master WHERE name = 'datasets'")" ]; then
   sql "CREATE TABLE datasets (id INTEGER PRIMARY KEY, task_id INTEGER NOT NULL, dir TEXT NOT NULL)"
   mkdir ds && cp train.jsonl ds/train.jsonl && cp train.jsonl ds/test.jsonl
   sql "INSERT INTO datasets VALUES (7, 1, '$TMP/ds')"
   run "$OFFRAMP" train intent --dataset 7 --base-model standin-ok --backend gpu
   expect_rc "train --dataset" 0
   equals "dataset recorded, train and test uploaded" \
      "$(sql "SELECT dataset_id, training_file IS NOT NULL, validation_file IS NOT NULL FROM experiments WHERE dataset_id = 7")" "7|1|1"
   run "$OFFRAMP" train intent --dataset 8 --base-model standin-ok --backend gpu
   expect_rc "unknown dataset" 1
   contains "unknown dataset explained" "$ERR" "no dataset 8"
   "$OFFRAMP" jobs --follow --interval 0.05 --timeout 30 >/dev/null
else
   ok "# SKIP datasets table already created by the dataset step (covered by its tests)"
fi

# An unreachable backend: a clear error, nothing recorded.
"$OFFRAMP" backend add dead --kind openai-ft --url http://127.0.0.1:1/v1 >/dev/null
run "$OFFRAMP" train intent --train train.jsonl --base-model standin-ok --backend dead
expect_rc "unreachable backend" 1
contains "unreachable backend named" "$ERR" "backend dead: POST http://127.0.0.1:1/v1/files failed"
equals "nothing recorded for it" "$(sql "SELECT count(*) FROM experiments WHERE backend = 'dead'")" 0

# The train gate and the candidate.
sql "UPDATE tasks SET phase = 'train'"
run "$OFFRAMP" phase show intent
contains "gate counts succeeded experiments" "$OUT" \
   "training job: $(sql "SELECT count(*) FROM experiments WHERE status = 'succeeded'") of $(sql "SELECT count(*) FROM experiments") experiments succeeded"
run "$OFFRAMP" job pick 1
expect_rc "pick a succeeded experiment" 0
equals "candidate stored on the task" "$(sql "SELECT candidate_experiment FROM tasks")" 1
run "$OFFRAMP" jobs --json
contains "JSON marks the candidate" "$OUT" '"candidate": true'
run "$OFFRAMP" phase advance intent --reason "model trained"
expect_rc "train gate opens" 0
"$OFFRAMP" task add other >/dev/null
sql "UPDATE tasks SET phase = 'train' WHERE name = 'other'"
run "$OFFRAMP" phase advance other
expect_rc "a task without a succeeded job stays" 3
contains "gate says what to run" "$ERR" "offramp train other"

run "$OFFRAMP" job show 99
expect_rc "unknown experiment" 1
contains "unknown experiment explained" "$ERR" "no experiment or job '99'"
run "$OFFRAMP" train intent --base-model x
expect_rc "no data source" 1
contains "data source required" "$ERR" "--dataset ID or --train FILE"
run "$OFFRAMP" train intent --train train.jsonl
expect_rc "base model required" 2

done_testing
