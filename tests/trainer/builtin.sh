#!/bin/sh
# builtin.sh - offramp trainer end to end through its HTTP API (with its token) on generated label data:
# upload -> job -> events -> checkpoints -> model -> chat completion with logprobs; bad uploads
# refused with OpenAI-style errors; a free-text job fails at validation; a restart keeps
# serving and fails the job that was running.
. "$TESTS_SRCDIR/lib.sh"
. "$TESTS_SRCDIR/trainer/serve.sh"
cd "$TMP" || exit 1

gen 300 1 > train.jsonl
gen 60 2 > valid.jsonl
printf 'id,text,label\n1,hello,billing\n' > notjsonl.csv
printf '{"prompt":"hello","completion":"billing"}\n' > legacy.jsonl
: > empty.jsonl
awk '{ sub(/"content":"(billing|shipping|account)"/, "\"content\":\"Thank you for writing in: " NR " our team looked at the ticket and will reply within a day\""); print }' \
   train.jsonl > freetext.jsonl

# The trainer takes its token from the environment; http_probe and offramp train (through the
# backend's --key-env) send it.
export OFFRAMP_TRAINER_TOKEN=builtin-test-token-0123456789
export HTTP_PROBE_TOKEN=$OFFRAMP_TRAINER_TOKEN

# Epochs paced at 100 ms: the cancel test below must reach a job that is still running.
serve tr "$OFFRAMP" trainer --listen 127.0.0.1:0 --dir "$TMP/state" --epoch-pace 100 || { echo "1..0 # SKIP trainer did not start"; exit 0; }
U=http://127.0.0.1:$tr_PORT/v1


# Bad uploads: OpenAI-style errors.
for f in notjsonl.csv legacy.jsonl empty.jsonl; do
   probe POST /files --form "$f" --get error.type --get error.param --get error.code --get error.message
   equals "$f refused with 400" "$CODE" 400
   equals "$f: invalid_request_error on param file" "$(line 1) $(line 2) $(line 3)" "invalid_request_error file invalid_file_format"
done
probe POST /files --form notjsonl.csv --get error.message
contains "not-JSONL message names the line" "$V" "line 1 is not valid JSON"
probe POST /files --form legacy.jsonl --get error.message
contains "wrong-schema message shows the expected shape" "$V" '{"messages": [system?, user, assistant]}'
probe POST /files --form empty.jsonl --get error.message
contains "empty file explained" "$V" "no examples"
probe POST /files --form train.jsonl --purpose "" --get error.param
equals "missing purpose refused" "$CODE $V" "400 purpose"
probe POST /files --form train.jsonl --purpose batch --get error.message
contains "wrong purpose refused" "$CODE $V" "400 purpose 'batch' is not supported"
probe POST /files --json '{"file":"x"}' --get error.message
contains "a JSON body is not an upload" "$CODE $V" "400 upload a file as multipart/form-data"

# Good uploads.
probe POST /files --form train.jsonl --get id --get object --get purpose --get bytes
TRAIN=$(line 1)
equals "upload accepted" "$CODE $(line 2) $(line 3) $(line 4)" "200 file fine-tune $(wc -c < train.jsonl | tr -d ' ')"
probe POST /files --form valid.jsonl --get id
VALID=$V
probe GET "/files/$TRAIN" --get filename
equals "file metadata" "$CODE $V" "200 train.jsonl"
probe POST /files --form freetext.jsonl --get id
equals "free-text file is valid chat JSONL" "$CODE" 200
FREE=$(echo "$V")

# Job creation errors.
probe POST /fine_tuning/jobs --json "{\"model\":\"gpt-4o-mini\",\"training_file\":\"$TRAIN\"}" --get error.code --get error.param
equals "LLM base model refused" "$CODE $(line 1) $(line 2)" "400 model_not_available model"
probe POST /fine_tuning/jobs --json "{\"model\":\"distill\",\"training_file\":\"file-nope\"}" --get error.code
equals "unknown training file" "$CODE $V" "400 invalid_training_file"
probe POST /fine_tuning/jobs --json "{\"model\":\"distill\",\"training_file\":\"$TRAIN\",\"hyperparameters\":{\"lora_rank\":32}}" --get error.message
contains "unknown hyperparameter refused" "$CODE $V" "400 hyperparameter 'lora_rank' is not supported"
probe POST /fine_tuning/jobs --json "{\"model\":\"distill\",\"training_file\":\"$TRAIN\",\"hyperparameters\":{\"n_epochs\":0}}" --get error.param
equals "n_epochs out of range" "$CODE $V" "400 hyperparameters.n_epochs"
probe POST /fine_tuning/jobs --json "not json" --get error.code
equals "a non-JSON body" "$CODE $V" "400 invalid_json"


# Free-text labels fail at validation with a clear error and error event.
probe POST /fine_tuning/jobs --json "{\"model\":\"distill\",\"training_file\":\"$FREE\"}" --get id --get status
FJOB=$(line 1)
equals "free-text job created in validating_files" "$(line 2)" validating_files
wait_job "$FJOB"
equals "free-text job failed" "$STATUS" failed
probe GET "/fine_tuning/jobs/$FJOB" --get error.code --get error.param --get error.message
equals "error object names the training file" "$(line 1) $(line 2)" "invalid_training_file training_file"
contains "error says free text" "$(line 3)" "free text, not labels"
probe GET "/fine_tuning/jobs/$FJOB/events" --get data.0.level --get data.0.message
equals "error event first (newest)" "$(line 1)" error
contains "error event explains" "$(line 2)" "failed validation"

# The real job.
probe POST /fine_tuning/jobs --json "{\"model\":\"distill\",\"training_file\":\"$TRAIN\",\"validation_file\":\"$VALID\",\"suffix\":\"e2e\",\"seed\":3,\"hyperparameters\":{\"n_epochs\":6}}" \
   --get id --get object --get status --get seed
JOB=$(line 1)
equals "job created" "$CODE $(line 2) $(line 4)" "200 fine_tuning.job 3"
contains "job id shape" "$JOB" "ftjob-"
wait_job "$JOB"
equals "job succeeded" "$STATUS" succeeded
probe GET "/fine_tuning/jobs/$JOB" --get fine_tuned_model --get trained_tokens --get hyperparameters.n_epochs --get finished_at --get result_files.0
MODEL=$(line 1)
contains "fine-tuned model name" "$MODEL" "ft:distill:e2e:"
ok "trained tokens reported: $(line 2)"
equals "epochs honoured" "$(line 3)" 6
lacks "finished_at set" "$(line 4)" null
probe GET "/files/$(line 5)" --get purpose
equals "result file registered" "$V" fine-tune-results
probe GET "/fine_tuning/jobs/$JOB/events?limit=100" --get object --get has_more
equals "events list" "$CODE $(line 1) $(line 2)" "200 list false"
"$PROBE" GET "$U/fine_tuning/jobs/$JOB/events?limit=100" > events.json
contains "metrics events carry step and losses" "$(cat events.json)" '"data":{"step":1,"total_steps":6,"train_loss":'
contains "events are OpenAI event objects" "$(cat events.json)" '"object":"fine_tuning.job.event"'
probe GET "/fine_tuning/jobs/$JOB/events?limit=2" --get has_more --get data.1.id
equals "paging: limit 2 has more" "$(line 1)" true
probe GET "/fine_tuning/jobs/$JOB/events?limit=1&after=$(line 2)" --get data.0.id
ok "paging with after returns the next event ($V)"
probe GET "/fine_tuning/jobs/$JOB/checkpoints" --get data.0.object --get data.0.fine_tuned_model_checkpoint \
   --get data.0.metrics.full_valid_mean_token_accuracy --get data.0.step_number
equals "checkpoint object and model" "$(line 1) $(line 2)" "fine_tuning.job.checkpoint $MODEL"
awk -v a="$(line 3)" 'BEGIN { exit !(a >= 0.9) }' && ok "validation accuracy $(line 3) >= 0.9" || not_ok "validation accuracy $(line 3) >= 0.9"
probe GET /fine_tuning/jobs --get data.0.id --get object
equals "jobs list, newest first" "$(line 1) $(line 2)" "$JOB list"
probe GET /models --get data.0.id --get data.0.owned_by --get data.0.object
equals "model listed" "$(line 1) $(line 2) $(line 3)" "$MODEL offramp-trainer model"

# Serving.
chat() {   # chat TEXT EXTRA-JSON GETS...
   _t=$1; _x=$2; shift 2
   probe POST /chat/completions --json "{\"model\":\"$MODEL\",\"messages\":[{\"role\":\"system\",\"content\":\"Classify the ticket.\"},{\"role\":\"user\",\"content\":\"$_t\"}]$_x}" "$@"
}
chat "where is my parcel delivery" ',"logprobs":true,"top_logprobs":3' --get choices.0.message.content \
   --get choices.0.logprobs.content.0.token --get choices.0.logprobs.content.0.top_logprobs.0.token \
   --get choices.0.logprobs.content.0.top_logprobs.2.token --get choices.0.logprobs.content.0.logprob \
   --get choices.0.logprobs.content.0.bytes --get usage.prompt_tokens --get usage.completion_tokens --get object
equals "answer is the label" "$CODE $(line 1)" "200 shipping"
equals "logprobs token is the answer and the top alternative" "$(line 2) $(line 3)" "shipping shipping"
lacks "three top_logprobs" "$(line 4)" "(missing)"
awk -v l="$(line 5)" 'BEGIN { exit !(l <= 0 && l > -0.7) }' && ok "confident logprob $(line 5)" || not_ok "confident logprob $(line 5)"
equals "bytes are the UTF-8 of the token" "$(line 6)" "[115,104,105,112,112,105,110,103]"
equals "usage estimated" "$(line 7) $(line 8) $(line 9)" "20 2 chat.completion"
chat "refund for a double charge on my invoice" '' --get choices.0.message.content --get choices.0.logprobs
equals "second label, no logprobs unless asked" "$(line 1) $(line 2)" "billing null"
chat "x" ',"logprobs":true' --get choices.0.logprobs.content.0.top_logprobs
equals "logprobs without top_logprobs: empty top list" "$V" "[]"
chat "x" ',"logprobs":true,"top_logprobs":21' --get error.param
equals "top_logprobs above 20 refused" "$CODE $V" "400 top_logprobs"
chat "x" ',"top_logprobs":2' --get error.param
equals "top_logprobs needs logprobs" "$CODE $V" "400 logprobs"
chat "x" ',"n":2' --get error.param
equals "n > 1 refused" "$CODE $V" "400 n"
chat "my login fails" ',"stream":true'
contains "stream: SSE chunks" "$V" 'data: {"id":"chatcmpl-'
contains "stream: the label in a delta" "$V" '"delta":{"role":"assistant","content":"account"}'
contains "stream: ends with [DONE]" "$V" "data: [DONE]"
probe POST /chat/completions --json '{"model":"ft:distill:nope:x","messages":[{"role":"user","content":"x"}]}' --get error.code --get error.type
equals "unknown model: 404" "$CODE $(line 1) $(line 2)" "404 model_not_found not_found_error"
probe POST /chat/completions --json "{\"model\":\"$MODEL\",\"messages\":[{\"role\":\"system\",\"content\":\"x\"}]}" --get error.param
equals "no user message refused" "$CODE $V" "400 messages"
awk 'BEGIN { printf "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\""; for (i = 0; i < 1100000; i++) printf "a"; printf "\"}]}" }' > big.json
probe POST /chat/completions --json-file big.json --get error.code
equals "over 1 MB: 413" "$CODE $V" "413 request_too_large"
probe GET /nowhere --get error.code
equals "unknown URL: 404 with an error object" "$CODE $V" "404 unknown_url"
probe POST "/fine_tuning/jobs/$JOB/cancel" --get error.code
equals "a finished job cannot be cancelled" "$CODE $V" "400 job_not_cancellable"
probe GET /fine_tuning/jobs/ftjob-nope --get error.code
equals "unknown job: 404" "$CODE $V" "404 fine_tuning_job_not_found"

# Cancel while queued or running: a job ends cancelled and its model is never served.
probe POST /fine_tuning/jobs --json "{\"model\":\"distill\",\"training_file\":\"$TRAIN\",\"hyperparameters\":{\"n_epochs\":100}}" --get id
CJOB=$V
probe POST "/fine_tuning/jobs/$CJOB/cancel" --get status
equals "cancel answers with the cancelled job" "$CODE $V" "200 cancelled"
sleep 0.5
probe GET "/fine_tuning/jobs/$CJOB" --get status --get fine_tuned_model
equals "cancelled job stays cancelled, no model" "$(line 1) $(line 2)" "cancelled null"

# The client drives the built-in trainer the same way.
"$OFFRAMP" task add intent >/dev/null
"$OFFRAMP" backend add local --kind openai-ft --url "$U" --key-env OFFRAMP_TRAINER_TOKEN >/dev/null
run "$OFFRAMP" train intent --train train.jsonl --validation valid.jsonl --base-model distill --suffix cli --follow --interval 0.1 --timeout 30
expect_rc "offramp train --follow on the built-in trainer" 0
contains "client sees the model" "$OUT" "succeeded: ft:distill:cli:"

# Restart: the model still serves; a job left running is failed with a clear message.
stop "$tr_PID"
sed "s/\"status\":\"succeeded\"/\"status\":\"running\"/; s/\"fine_tuned_model\":\"[^\"]*\"/\"fine_tuned_model\":null/; s/$JOB/ftjob-crashed/g" \
   "state/jobs/$JOB.json" > state/jobs/ftjob-crashed.json
printf 'garbage' > state/models/ftjob-garbage.model
serve tr "$OFFRAMP" trainer --listen 127.0.0.1:0 --dir "$TMP/state" || not_ok "trainer restarts"
U=http://127.0.0.1:$tr_PORT/v1
chat "where is my parcel delivery" ',"logprobs":true,"top_logprobs":1' --get choices.0.message.content
equals "model serves after a restart" "$CODE $V" "200 shipping"
probe GET "/fine_tuning/jobs/$JOB" --get status
equals "job still succeeded after a restart" "$V" succeeded
probe GET /fine_tuning/jobs/ftjob-crashed --get status --get error.code --get error.message
equals "a job running at the restart is failed" "$(line 1) $(line 2)" "failed trainer_restarted"
contains "with a message saying what to do" "$(line 3)" "create the job again"
probe GET "/fine_tuning/jobs/$CJOB" --get status
equals "cancelled job persisted" "$V" cancelled

# A corrupted model file is refused at load and the model answers 500, not garbage.
stop "$tr_PID"
printf 'truncated' > "state/models/$JOB.model"
serve tr "$OFFRAMP" trainer --listen 127.0.0.1:0 --dir "$TMP/state" || not_ok "trainer restarts"
U=http://127.0.0.1:$tr_PORT/v1
chat "where is my parcel" '' --get error.code --get error.message
equals "corrupted model refused" "$CODE $(line 1)" "500 model_unavailable"
contains "the reason is given" "$(line 2)" "distill"

run "$OFFRAMP" trainer --listen nowhere
expect_rc "bad --listen" 2
done_testing
