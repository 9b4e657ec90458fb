#!/bin/sh
# runner.sh - offramp train --runner: a self-hosted LoRA trainer driven by a command template,
# here tests/trainer/fake_axolotl.sh standing in for axolotl v0.6.0 (its config and its log
# format). The config written from the dataset and the defaults, progress from the log, the
# adapter recorded as a model version, refused templates, and failed runs recorded as failed.
. "$TESTS_SRCDIR/lib.sh"

H=$(dirname "$OFFRAMP")/tests
MK=$H/dataset/mkexchanges
FAKE="$TESTS_SRCDIR/trainer/fake_axolotl.sh"
[ -x "$MK" ] || skip_all "test helper not built ($MK; make check builds it)"
for tool in jq sqlite3 sha256sum; do
   command -v $tool >/dev/null || skip_all "$tool not installed"
done
cd "$TMP" || exit 1

awk 'BEGIN { srand(3); split("billing shipping returns account", q, " "); print "text,label"
   for (i = 0; i < 300; i++) { s = ""; for (j = 0; j < 10; j++) s = s (j ? " " : "") "w" int(rand() * 50000)
      print "\"" s ", please\"," q[i % 4 + 1] } }' > intent.csv
"$MK" "$OFFRAMP_WORKSPACE" intent intent.csv >/dev/null
"$OFFRAMP" dataset build intent --min-train 200 --seed 1 >/dev/null
BASE=Qwen/Qwen2.5-1.5B-Instruct
TRAIN_ROWS=$(wc -l < "$TMP/ws.data/$(sql "SELECT dir FROM datasets")/train.jsonl")

run "$OFFRAMP" train --help
contains "--help documents the runner" "$OUT" "--runner TEMPLATE"
contains "... and its placeholders" "$OUT" "{output}"

# ---- templates that are refused before anything runs
for bad in "" "   " "axolotl train {conifg}" "axolotl train {config" "axolotl train config}" "axolotl train"; do
   run "$OFFRAMP" train intent --base-model $BASE --runner "$bad"
   expect_rc "template '$bad' refused as bad usage" 2
done
run "$OFFRAMP" train intent --base-model $BASE --runner "axolotl train {conifg}"
contains "an unknown placeholder is named with the ones there are" "$ERR" "{conifg}, which is not a placeholder: use {dir}, {config}"
run "$OFFRAMP" train intent --base-model $BASE --runner "axolotl train"
contains "a template that cannot find the job says so" "$ERR" "names neither {config} nor {dir}"
run "$OFFRAMP" train intent --base-model $BASE --runner "sh $FAKE train {config}" --backend local
expect_rc "--backend with --runner is bad usage" 2
equals "nothing was recorded by the refusals" "$(sql "SELECT count(*) FROM experiments")" 0

# ---- a run that works: config, progress, adapter, version
run "$OFFRAMP" train intent --base-model $BASE --runner "sh '$FAKE' train {config}" --epochs 2
expect_rc "the runner trains (exit 0)" 0
EXP=$(sql "SELECT max(id) FROM experiments")
DIR="$TMP/ws.data/runs/intent-$EXP"
STEPS=$(( (TRAIN_ROWS + 7) / 8 * 2 ))
contains "it says the experiment succeeded with its steps" "$OUT" "experiment #$EXP succeeded: $STEPS/$STEPS steps"
contains "... the last loss from the log" "$OUT" "last loss"
contains "... and the version it recorded" "$OUT" "intent: version 1 recorded ($DIR/adapter)"
contains "progress is reported from the log's step counters and loss lines" "$ERR" "step 1/$STEPS"
contains "... with the eval loss after each epoch" "$ERR" "eval loss"
equals "the config has the playbook's lr" "$(sed -n 's/^learning_rate: //p' "$DIR/axolotl.yaml")" 0.0002
equals "... LoRA rank 32, alpha 64" "$(sed -n 's/^lora_r: //p; s/^lora_alpha: //p' "$DIR/axolotl.yaml" | tr '\n' ' ')" "32 64 "
equals "... the epochs asked" "$(sed -n 's/^num_epochs: //p' "$DIR/axolotl.yaml")" 2
equals "... the base model" "$(sed -n 's/^base_model: //p' "$DIR/axolotl.yaml")" "'$BASE'"
equals "the job directory holds the dataset's train rows" "$(wc -l < "$DIR/train.jsonl")" "$TRAIN_ROWS"
check "the log is kept" grep -q "Training Completed" "$DIR/train.log"
equals "the experiment: backend runner, succeeded, the adapter as its model" \
   "$(sql "SELECT backend || ' ' || status || ' ' || fine_tuned_model FROM experiments WHERE id = $EXP")" "runner succeeded $DIR/adapter"
equals "... its last step and losses" "$(sql "SELECT json_extract(metrics, '\$.step') || '/' || json_extract(metrics, '\$.total_steps') FROM experiments WHERE id = $EXP")" "$STEPS/$STEPS"
equals "one loss event per logging step, one eval loss per epoch" \
   "$(sql "SELECT count(json_extract(data, '\$.train_loss')) || ' ' || count(json_extract(data, '\$.valid_loss')) FROM job_events WHERE experiment_id = $EXP")" "$STEPS 2"
equals "the version: the adapter directory, base model and rank from adapter_config.json" \
   "$(sql "SELECT format || ' ' || base_model || ' ' || rank || ' ' || experiment_id FROM model_versions")" "adapter-dir $BASE 32 $EXP"
want=$(cd "$DIR/adapter" && sha256sum adapter_config.json adapter_model.safetensors | sha256sum | cut -d' ' -f1)
equals "... its sha256 (of the file manifest) and size" "$(sql "SELECT sha256 || ' ' || size FROM model_versions")" \
   "$want $(cat "$DIR/adapter"/* | wc -c | tr -d ' ')"
run "$OFFRAMP" jobs intent
contains "offramp jobs lists it with its steps" "$OUT" "$STEPS/$STEPS"
run "$OFFRAMP" job pick "$EXP"
expect_rc "the runner's experiment can be picked as the candidate" 0

# The rank comes from the options into the config and back from the adapter.
run "$OFFRAMP" train intent --base-model $BASE --runner "sh '$FAKE' train {config}" --lora-rank 16 --epochs 3 --lr 1e-4
expect_rc "a second run with rank 16" 0
equals "version 2 has rank 16" "$(sql "SELECT rank FROM model_versions WHERE version = 2")" 16

# ---- runs that fail: recorded as failed, no version
n=$(sql "SELECT count(*) FROM model_versions")
FAKE_AXOLOTL_FAIL=5 run "$OFFRAMP" train intent --base-model $BASE --runner "sh '$FAKE' train {config}"
expect_rc "a trainer that dies fails the command" 1
contains "... with its exit status" "$ERR" "the runner exited with status 1"
contains "... and its last lines" "$ERR" "CUDA out of memory"
equals "... the experiment is failed with the reason" \
   "$(sql "SELECT status || ' ' || (error LIKE '%out of memory%') FROM experiments ORDER BY id DESC LIMIT 1")" "failed 1"
equals "... its progress up to the failure" "$(sql "SELECT json_extract(metrics, '\$.step') FROM experiments ORDER BY id DESC LIMIT 1")" 4
FAKE_AXOLOTL_NO_ADAPTER=1 run "$OFFRAMP" train intent --base-model $BASE --runner "sh '$FAKE' train {config}"
expect_rc "a trainer that leaves no adapter fails the command" 1
contains "... saying where the adapter was expected" "$ERR" "adapter/adapter_config.json"
run "$OFFRAMP" train intent --base-model $BASE --runner "no-such-trainer-command {config}"
expect_rc "a command that does not exist fails" 1
contains "... with the shell's 127" "$ERR" "status 127 (command not found?)"
equals "no version was recorded by the failed runs" "$(sql "SELECT count(*) FROM model_versions")" "$n"
equals "three failed experiments" "$(sql "SELECT count(*) FROM experiments WHERE status = 'failed'")" 3

# A run that lasts: offramp jobs --follow reads its progress from the workspace as it goes.
FAKE_AXOLOTL_DELAY=0.05 "$OFFRAMP" train intent --base-model $BASE --runner "sh '$FAKE' train {config}" --epochs 1 \
   > slow.out 2> slow.err &
SLOW=$!
i=0
while [ "$(sql "SELECT count(*) FROM experiments WHERE status = 'running'")" != 1 ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
run "$OFFRAMP" jobs intent --follow --interval 0.2 --timeout 30
expect_rc "jobs --follow follows a runner's experiment to its end" 0
wait $SLOW
equals "... which succeeded" "$(sql "SELECT status FROM experiments ORDER BY id DESC LIMIT 1")" succeeded
run "$OFFRAMP" job cancel "$(sql "SELECT max(id) FROM experiments")"
expect_rc "job cancel of a finished runner's experiment is refused" 1

# Stopping offramp stops the trainer (its process group) and records the run as interrupted.
FAKE_AXOLOTL_DELAY=0.1 "$OFFRAMP" train intent --base-model $BASE --runner "sh '$FAKE' train {config}" --epochs 3 \
   > stop.out 2> stop.err &
STOP=$!
i=0
while [ "$(sql "SELECT count(*) FROM job_events e JOIN experiments x ON x.id = e.experiment_id WHERE x.status = 'running'")" -lt 3 ] &&
   [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
EXP_STOP=$(sql "SELECT max(id) FROM experiments")
run "$OFFRAMP" job cancel "$EXP_STOP"
expect_rc "job cancel of a running runner's experiment is refused" 1
contains "... saying to stop its process" "$ERR" "stop it there"
kill -TERM $STOP
wait $STOP
equals "a stopped offramp train exits 1" "$?" 1
contains "... saying the run was interrupted" "$(cat stop.err)" "interrupted"
equals "... the experiment is failed" "$(sql "SELECT status FROM experiments WHERE id = $EXP_STOP")" failed
sleep 0.3
check "... the trainer stopped with it (no adapter left)" test ! -e "$TMP/ws.data/runs/intent-$EXP_STOP/adapter"
if command -v ps >/dev/null; then
   equals "... and no trainer process is left" \
      "$(ps -eo args= | grep -F "runs/intent-$EXP_STOP/axolotl.yaml" | grep -vc grep)" 0
fi

# Placeholders are shell-quoted: a path with a space and a quote stays one argument.
run "$OFFRAMP" train intent --base-model "it's a model" --runner "printf '%s\n' {base_model} {config} > args.txt; sh '$FAKE' train {config}"
expect_rc "a base model name with a quote and a space" 0
equals "... reaches the command as one argument" "$(head -1 "$TMP/ws.data/runs/intent-$(sql "SELECT max(id) FROM experiments")/args.txt")" "it's a model"
done_testing
