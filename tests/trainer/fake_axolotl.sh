#!/bin/sh
# fake_axolotl.sh - a stand-in for axolotl's trainer (`axolotl train CONFIG`, axolotl v0.6.0) for
# the runner tests: it reads the config offramp wrote (base_model, lora_r, lora_alpha, num_epochs,
# micro_batch_size, learning_rate, datasets[0].path, output_dir), prints the log as axolotl v0.6.0
# prints the Hugging Face Trainer's (transformers 4.47: tqdm counters "  4%|▍   | 1/24 [00:00<00:02,
# 9.50it/s]" redrawn with \r, a Python dict per logging step {'loss': ..., 'grad_norm': ...,
# 'learning_rate': ..., 'epoch': ...}, {'eval_loss': ...} after each epoch's evaluation and a
# final {'train_runtime': ..., 'train_loss': ...}) and leaves a PEFT adapter directory in
# output_dir (adapter_config.json as PEFT 0.14 writes it, adapter_model.safetensors). No model
# is trained: the figures are made up and the loss falls by a fixed rule.
#   FAKE_AXOLOTL_FAIL=N       die at step N with a CUDA out-of-memory traceback (exit 1)
#   FAKE_AXOLOTL_NO_ADAPTER=1 finish (exit 0) without writing the adapter
#   FAKE_AXOLOTL_DELAY=S      sleep S seconds per step (a run that lasts)
set -e
[ "$1" = train ] && [ -f "$2" ] || { echo "usage: fake_axolotl.sh train CONFIG" >&2; exit 2; }
cfg=$2
get() { sed -n "s/^$1: *//p" "$cfg" | head -1 | sed "s/^'\(.*\)'\$/\1/; s/''/'/g"; }
base=$(get base_model)
r=$(get lora_r)
alpha=$(get lora_alpha)
epochs=$(get num_epochs)
batch=$(get micro_batch_size)
lr=$(get learning_rate)
out=$(get output_dir)
data=$(sed -n 's/^  - path: *//p' "$cfg" | head -1)
for v in base r alpha epochs batch lr out data; do
   eval "[ -n \"\$$v\" ]" || { echo "ValueError: the config has no $v" >&2; exit 1; }
done
[ -f "$data" ] || { echo "FileNotFoundError: $data" >&2; exit 1; }
rows=$(wc -l < "$data")
per_epoch=$(( (rows + batch - 1) / batch ))
total=$((per_epoch * epochs))
echo "[2026-12-07 01:00:00,000] [INFO] [axolotl.load_model:1024] [PID:4242] [RANK:0] loading model $base"
echo "[2026-12-07 01:00:01,000] [INFO] [axolotl.train.train:173] [PID:4242] [RANK:0] Starting trainer..."
step=0
while [ $step -lt $total ]; do
   step=$((step + 1))
   if [ -n "${FAKE_AXOLOTL_FAIL:-}" ] && [ "$step" -ge "$FAKE_AXOLOTL_FAIL" ]; then
      echo "Traceback (most recent call last):"
      echo "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB."
      exit 1
   fi
   [ -n "${FAKE_AXOLOTL_DELAY:-}" ] && sleep "$FAKE_AXOLOTL_DELAY"
   pct=$((100 * step / total))
   printf '%3d%%|##        | %d/%d [00:%02d<00:10,  9.50it/s]\r' "$pct" "$step" "$total" $((step % 60))
   awk -v s=$step -v t=$total -v e=$per_epoch -v lr="$lr" 'BEGIN {
      printf "{\x27loss\x27: %.4f, \x27grad_norm\x27: 0.8125, \x27learning_rate\x27: %.6g, \x27epoch\x27: %.2f}\n",
         2.5 / (1 + s / 4.0), lr * (1 - (s - 1) / t), s / e }'
   if [ $((step % per_epoch)) -eq 0 ]; then
      awk -v s=$step -v e=$per_epoch 'BEGIN {
         printf "{\x27eval_loss\x27: %.4f, \x27eval_runtime\x27: 0.51, \x27eval_samples_per_second\x27: 70.2, \x27epoch\x27: %.1f}\n",
            2.6 / (1 + s / 4.0), s / e }'
   fi
done
echo "{'train_runtime': 12.5, 'train_samples_per_second': 80.1, 'train_steps_per_second': 9.5, 'train_loss': 0.91, 'epoch': $epochs.0}"
[ -n "${FAKE_AXOLOTL_NO_ADAPTER:-}" ] && exit 0
mkdir -p "$out"
printf '{"base_model_name_or_path": "%s", "peft_type": "LORA", "task_type": "CAUSAL_LM", "r": %s, "lora_alpha": %s, "lora_dropout": 0.05, "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"], "inference_mode": true}\n' \
   "$base" "$r" "$alpha" > "$out/adapter_config.json"
printf 'fake-safetensors %s r=%s steps=%s' "$base" "$r" "$total" > "$out/adapter_model.safetensors"
echo "[2026-12-07 01:00:14,000] [INFO] [axolotl.train.train:214] [PID:4242] [RANK:0] Training Completed!!! Saving pre-trained model to $out"
