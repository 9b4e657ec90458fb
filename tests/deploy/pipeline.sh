#!/bin/sh
# pipeline.sh - one task per model server goes train -> evaluate -> deploy -> shadow through the
# real binary and gateway: trained by the runner (tests/trainer/fake_axolotl.sh standing in for
# axolotl), the experiment picked, its adapter deployed on the vLLM, Ollama or llama.cpp stand-in
# (tests/deploy/standin_*.c, each naming the API version it follows), evaluated there, the
# evaluate -> shadow gate held by the smoke check and the evaluation, then the gateway in shadow
# mirroring the frontier's traffic (tests/gw/standin_upstream) to the deployed model and the
# shadow gate counting those comparisons for it.
. "$TESTS_SRCDIR/lib.sh"
. "$TESTS_SRCDIR/deploy/standins.sh"
FAKE="$TESTS_SRCDIR/trainer/fake_axolotl.sh"

# The frontier: an OpenAI stand-in that answers every request "billing".
frontier --content billing

# The gateway, in front of the frontier; routes are set through its admin API.
echo "tok-pipeline-0123456789abcdef" > token
"$OFFRAMP" gateway --listen 127.0.0.1:0 --admin-token-file token --upstream "$FRONTIER" > gw.out 2> gw.err &
GW_PID=$!
PIDS="$PIDS $GW_PID"
i=0
while ! grep -q listening gw.out 2>/dev/null && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
GW=$(sed -n 's/.*listening on \(http:\/\/[0-9.]*:[0-9]*\).*/\1/p' gw.out)
[ -n "$GW" ] || { not_ok "the gateway starts" "$(cat gw.err)"; done_testing; exit 1; }

BASE=Qwen/Qwen2.5-1.5B-Instruct

# pipeline TASK SEED KIND: the whole way for one task on one server kind.
pipeline() {
   task=$1 kind=$3
   awk -v seed="$2" 'BEGIN { srand(seed); split("billing shipping returns account", q, " "); print "text,label"
      for (i = 0; i < 320; i++) { s = ""; w = 8 + int(rand() * 10)
         for (j = 0; j < w; j++) s = s (j ? " " : "") "w" int(rand() * 50000)
         print "\"" s ", please help\"," q[i % 4 + 1] } }' > "$task.csv"
   "$MK" "$OFFRAMP_WORKSPACE" "$task" "$task.csv" >/dev/null
   "$OFFRAMP" dataset build "$task" --min-train 200 --seed 1 >/dev/null
   test_file="$TMP/ws.data/$(sql "SELECT d.dir FROM datasets d JOIN tasks t ON t.id = d.task_id WHERE t.name = '$task'")/test.jsonl"
   # The gateway may be writing the previous task's exchanges: wait for the lock.
   sqlite3 -cmd '.timeout 10000' "$OFFRAMP_WORKSPACE" "UPDATE tasks SET phase = 'train' WHERE name = '$task'"

   # train: the runner, then pick
   run "$OFFRAMP" train "$task" --base-model $BASE --runner "sh '$FAKE' train {config}" --epochs 2
   expect_rc "$kind: the runner trains $task" 0
   exp=$(sql "SELECT max(id) FROM experiments")
   run "$OFFRAMP" job pick "$exp"
   expect_rc "$kind: its experiment is picked" 0
   run "$OFFRAMP" phase advance "$task"
   expect_rc "$kind: train -> evaluate (the runner's job succeeded)" 0

   # deploy
   adapter="$TMP/ws.data/runs/$task-$exp/adapter"
   case $kind in
   vllm)
      standin vllm SRV --model $BASE --answers "$test_file"
      model=$task-v1 deploy_args="" ;;
   ollama)
      standin ollama SRV --model qwen2.5:1.5b --answers "$test_file"
      model=$task:v1 deploy_args="--base qwen2.5:1.5b" ;;
   llamacpp)
      # llama-server takes GGUF adapters: the runner's adapter converted (convert_lora_to_gguf.py
      # in a real setup) and registered as version 2 from the same job.
      printf 'GGUF\003\000\000\000%s' "$(cat "$adapter/adapter_model.safetensors")" > "$TMP/$task-v2.gguf"
      "$OFFRAMP" deploy register "$task" --artifact "$TMP/$task-v2.gguf" --base-model $BASE --rank 32 --job "$exp" >/dev/null
      standin llamacpp SRV --model /models/qwen2.5-1.5b-q8_0.gguf --lora "$TMP/$task-v2.gguf" --answers "$test_file"
      model=/models/qwen2.5-1.5b-q8_0.gguf deploy_args="--version 2" ;;
   esac
   run "$OFFRAMP" phase advance "$task"
   expect_rc "$kind: evaluate -> shadow is refused before a deployment" 3
   contains "... the deployment gate says none is deployed" "$OUT$ERR" "none is deployed"
   # shellcheck disable=SC2086
   run "$OFFRAMP" deploy "$task" --to "$SRV" --kind $kind $deploy_args
   expect_rc "$kind: the picked experiment's adapter deploys and passes the smoke check" 0
   contains "... smoke passed" "$OUT" "smoke passed"
   run "$OFFRAMP" phase advance "$task"
   expect_rc "$kind: still refused: the deployed model is not evaluated yet" 3
   contains "... asking for the evaluation of the deployed model" "$OUT$ERR" "no finished evaluation of $model"

   # evaluate the deployed model
   run "$OFFRAMP" eval "$task" --candidate "$SRV/v1|$model"
   expect_rc "$kind: offramp eval of the deployed model" 0
   contains "... every answer right" "$OUT" "accuracy             100.0 %"
   run "$OFFRAMP" eval "$task" --load 2 --requests 6 --reference "$FRONTIER|gpt-4o-mini"
   expect_rc "$kind: eval --load against the frontier" 0
   run "$OFFRAMP" phase advance "$task"
   expect_rc "$kind: evaluate -> shadow with the evaluation and the smoke check passed" 0
   equals "$kind: the phase is shadow" "$(sql "SELECT phase FROM tasks WHERE name = '$task'")" shadow

   # shadow: the gateway answers from the frontier and mirrors to the deployed model
   r=$(curl -s -w ' %{http_code}' -X PUT -H "Authorization: Bearer $(cat token)" \
      -d "{\"mode\":\"shadow\",\"candidate\":{\"url\":\"$SRV/v1\",\"model\":\"$model\"},\"compare\":\"label\",\"reason\":\"deployed $kind\"}" \
      "$GW/admin/routes/$task")
   equals "$kind: the shadow route is accepted (the phase allows it)" "${r##* }" 200
   n=0
   head -n 12 "$test_file" | while IFS= read -r row; do
      printf '%s' "$row" | jq -c '{model: "gpt-4o-mini", messages: [.messages[] | select(.role != "assistant")]}' > req.json
      curl -s -o /dev/null -H "X-Offramp-Task: $task" -H 'Content-Type: application/json' --data-binary @req.json \
         "$GW/v1/chat/completions"
   done
   i=0
   while [ "$(sql "SELECT count(*) FROM exchanges e JOIN tasks t ON t.id = e.task_id WHERE t.name = '$task' AND agree IS NOT NULL")" -lt 12 ] &&
      [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
   equals "$kind: 12 requests compared in shadow" \
      "$(sql "SELECT count(*) FROM exchanges e JOIN tasks t ON t.id = e.task_id WHERE t.name = '$task' AND agree IS NOT NULL")" 12
   equals "$kind: ... the deployed model answered them" \
      "$(sql "SELECT DISTINCT json_extract(record, '\$.shadow.model') FROM exchanges e JOIN tasks t ON t.id = e.task_id WHERE t.name = '$task' AND agree IS NOT NULL")" "$model"
   run "$OFFRAMP" phase show "$task"
   contains "$kind: the shadow gate counts them for the deployed model" "$OUT" "12 of $model"
   kill "$SRV_PID" 2>/dev/null
}

pipeline intent 7 vllm
pipeline tone 8 ollama
pipeline fields 9 llamacpp

if grep -l "Sanitizer\|runtime error" ./*.err >/dev/null 2>&1; then
   not_ok "the stand-ins ran clean" "$(cat ./*.err | head -40)"
else
   ok "the stand-ins ran clean"
fi
done_testing
