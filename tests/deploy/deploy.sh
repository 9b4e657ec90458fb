#!/bin/sh
# deploy.sh - offramp deploy through the real binary against the stand-ins for vLLM, Ollama and
# llama.cpp server (tests/deploy/standin_*.c, each naming the server version and source it
# follows): versions with their lineage and digests, deploying, the smoke check and the gate
# before shadow, rollback that loads the previous version again after the server dropped it,
# and refusals (ours and the servers', with their status and error shape).
. "$TESTS_SRCDIR/lib.sh"

. "$TESTS_SRCDIR/deploy/standins.sh"

# A task with logged answers and a dataset: its test.jsonl is what the stand-ins answer from.
task_with_dataset() {
   awk -v seed="$2" 'BEGIN { srand(seed); split("billing shipping returns account", q, " "); print "text,label"
      for (i = 0; i < 360; i++) { s = ""; w = 8 + int(rand() * 10)
         for (j = 0; j < w; j++) s = s (j ? " " : "") "w" int(rand() * 50000)
         print "\"" s ", please help\"," q[i % 4 + 1] } }' > "$1.csv"
   "$MK" "$OFFRAMP_WORKSPACE" "$1" "$1.csv" >/dev/null && "$OFFRAMP" dataset build "$1" --min-train 200 --seed 1 >/dev/null
   echo "$TMP/ws.data/$(sql "SELECT d.dir FROM datasets d JOIN tasks t ON t.id = d.task_id WHERE t.name = '$1'")/test.jsonl"
}

TEST_V=$(task_with_dataset intent 7)
TEST_O=$(task_with_dataset tone 8)
TEST_L=$(task_with_dataset fields 9)
[ -s "$TEST_V" ] && [ -s "$TEST_O" ] && [ -s "$TEST_L" ] || { not_ok "datasets built" "$TEST_V $TEST_O $TEST_L"; done_testing; exit 1; }

# Artifacts as trainers write them: PEFT adapter directories and GGUF adapter files.
adapter() {   # adapter DIR WEIGHTS
   mkdir -p "$1"
   printf '{"r": 32, "lora_alpha": 64, "peft_type": "LORA"}\n' > "$1/adapter_config.json"
   printf '%s' "$2" > "$1/adapter_model.safetensors"
}
adapter "$TMP/intent-v1" weights-one
adapter "$TMP/intent-v2" weights-two
printf 'GGUF\003\000\000\000tone-one' > "$TMP/tone-v1.gguf"
printf 'GGUF\003\000\000\000fields-one' > "$TMP/fields-v1.gguf"
printf 'GGUF\003\000\000\000fields-two' > "$TMP/fields-v2.gguf"
printf 'GGUF\003\000\000\000fields-three' > "$TMP/fields-v3.gguf"
printf 'not a model' > "$TMP/junk.bin"
BASE=Qwen/Qwen2.5-1.5B-Instruct

# ---- registering versions
run "$OFFRAMP" deploy --help
expect_rc "--help" 0
contains "help names the three server kinds" "$OUT" "llamacpp"

run "$OFFRAMP" deploy register intent --artifact intent-v1 --base-model $BASE
expect_rc "a relative artifact path is refused" 1
contains "... saying to give an absolute path" "$ERR" "absolute path"
run "$OFFRAMP" deploy register intent --artifact "$TMP/missing" --base-model $BASE
expect_rc "a missing artifact is refused" 1
contains "... naming it" "$ERR" "$TMP/missing: No such file"
run "$OFFRAMP" deploy register intent --artifact "$TMP/junk.bin" --base-model $BASE
expect_rc "a file that is not GGUF is refused" 1
contains "... saying so" "$ERR" "not a GGUF file"
run "$OFFRAMP" deploy register intent --artifact https://models.example/intent.gguf --base-model $BASE
expect_rc "a URL without its sha256 is refused" 1
contains "... asking for --sha256" "$ERR" "--sha256"
run "$OFFRAMP" deploy register intent --artifact "$TMP/intent-v1"
expect_rc "no base model is refused" 1
run "$OFFRAMP" deploy register intent --artifact "$TMP/intent-v1" --base-model $BASE --sha256 "$(printf '%064d' 0)"
expect_rc "a sha256 that does not match the files is refused" 1
contains "... naming both digests" "$ERR" "not the 0000"
run "$OFFRAMP" deploy register ghost --artifact "$TMP/intent-v1" --base-model $BASE
expect_rc "an unknown task is refused" 1
equals "nothing was written by the refusals" "$(sql "SELECT count(*) FROM model_versions")" 0

run "$OFFRAMP" deploy register intent --artifact "$TMP/intent-v1" --base-model $BASE --rank 32
expect_rc "an adapter directory becomes version 1" 0
contains "... said so" "$OUT" "version 1 recorded"
# The directory's digest: sha256 of its sha256sum manifest (sorted relative paths).
want=$(cd "$TMP/intent-v1" && sha256sum adapter_config.json adapter_model.safetensors | sha256sum | cut -d' ' -f1)
equals "its digest is the sha256 of its file manifest" "$(sql "SELECT sha256 FROM model_versions")" "$want"
equals "its size is the sum of its files" "$(sql "SELECT size FROM model_versions")" \
   "$(cat "$TMP/intent-v1"/* | wc -c | tr -d ' ')"
equals "its lineage names the task's dataset" "$(sql "SELECT dataset_id FROM model_versions")" \
   "$(sql "SELECT d.id FROM datasets d JOIN tasks t ON t.id = d.task_id WHERE t.name = 'intent'")"
run "$OFFRAMP" deploy register intent --artifact "$TMP/intent-v2" --base-model $BASE --rank 32
equals "the next one is version 2" "$(sql "SELECT max(version) FROM model_versions")" 2
run "$OFFRAMP" deploy register tone --artifact "$TMP/tone-v1.gguf" --base-model $BASE
equals "a GGUF file is recorded as gguf, with its own sha256" \
   "$(sql "SELECT format || ' ' || sha256 FROM model_versions WHERE artifact LIKE '%tone-v1.gguf'")" \
   "gguf $(sha256sum "$TMP/tone-v1.gguf" | cut -d' ' -f1)"

# A version from a fine-tuning job: the job's dataset is its lineage; another task's job is refused.
sql "INSERT INTO experiments(task_id, dataset_id, backend, job_id, base_model, status, created_at, updated_at)
     SELECT t.id, d.id, 'gpu-box', 'ftjob-7', '$BASE', 'succeeded', '2026-12-01', '2026-12-01'
     FROM tasks t JOIN datasets d ON d.task_id = t.id WHERE t.name = 'fields'"
run "$OFFRAMP" deploy register intent --artifact "$TMP/fields-v1.gguf" --base-model $BASE --job ftjob-7
expect_rc "a job of another task is refused" 1
contains "... naming both tasks" "$ERR" "job ftjob-7 trained task fields, not intent"
run "$OFFRAMP" deploy register fields --artifact "$TMP/fields-v1.gguf" --base-model $BASE --job ftjob-7
expect_rc "a version registered from its job" 0
equals "... has the job and the job's dataset as lineage" \
   "$(sql "SELECT e.job_id || ' ' || (v.dataset_id = e.dataset_id) FROM model_versions v JOIN experiments e ON e.id = v.experiment_id")" "ftjob-7 1"
run "$OFFRAMP" deploy register tone --artifact https://models.example/tone-v9.gguf --base-model $BASE \
   --sha256 "$(printf '%064d' 9)" --size 1234
expect_rc "a URL with its sha256 is recorded as given" 0
equals "... as a url artifact of the size given" "$(sql "SELECT format || ' ' || size FROM model_versions WHERE artifact LIKE 'https:%'")" "url 1234"

# ---- the gate before shadow, before anything is deployed
run "$OFFRAMP" deploy gate intent
expect_rc "gate: versions but nothing deployed keeps shadow shut (exit 3)" 3
contains "... saying what to run" "$OUT" "none is deployed"
"$MK" "$OFFRAMP_WORKSPACE" plain intent.csv >/dev/null
run "$OFFRAMP" deploy gate plain
expect_rc "gate: a task without versions is not held by it" 0
contains "... and says it does not apply" "$OUT" "not applicable"

# ---- vLLM
standin vllm VLLM --model $BASE --answers "$TEST_V"
run "$OFFRAMP" deploy intent --to "$VLLM" --kind sglang
expect_rc "an unknown server kind is refused" 1
contains "... listing the kinds" "$ERR" "vllm, ollama or llamacpp"
run "$OFFRAMP" deploy intent --kind vllm
expect_rc "no --to is a usage error" 2
run "$OFFRAMP" deploy intent --to gpu-box:8000 --kind vllm
expect_rc "a --to that is not a URL is refused" 1

run "$OFFRAMP" deploy intent --to "$VLLM" --kind vllm --version 1
expect_rc "v1 deploys on vLLM and passes the smoke check" 0
contains "... served as intent-v1 on the server's /v1" "$OUT" "--candidate-url $VLLM/v1 --candidate-model intent-v1"
contains "... 10 held-out rows answered in format" "$OUT" "answered 10/10 smoke rows, 10/10 in the task's format"
equals "vLLM lists the adapter with its path" "$(curl -s "$VLLM/v1/models" | jq -r '.data[] | select(.id == "intent-v1") | .root')" "$TMP/intent-v1"
run "$OFFRAMP" deploy gate intent
expect_rc "gate: the smoke-checked deployment opens it" 0
contains "... with the figures" "$OUT" "ready: v1 (vllm"
run "$OFFRAMP" eval intent --candidate "$VLLM/v1|intent-v1"
expect_rc "offramp eval runs the whole test set against the deployed adapter on vLLM" 0
contains "... every answer right" "$OUT" "accuracy             100.0 %"
contains "... all in format" "$OUT" "format compliance    100.0 %"

run "$OFFRAMP" deploy intent --to "$VLLM/v1/" --kind vllm --no-smoke
expect_rc "v2 (the latest) deploys; a base URL ending in /v1 is the same server" 0
contains "... as intent-v2" "$OUT" "--candidate-url $VLLM/v1 --candidate-model intent-v2"
run "$OFFRAMP" deploy gate intent
expect_rc "gate: a deployment not yet smoke-checked keeps shadow shut" 3
contains "... saying so" "$OUT" "has not been smoke-tested"
run "$OFFRAMP" deploy smoke intent
expect_rc "the smoke check runs on its own" 0
run "$OFFRAMP" deploy load intent --concurrency 4 --requests 12
expect_rc "load: 12 streamed requests, 4 at a time" 0
contains "... every one answered" "$OUT" "12 ok, 0 errors"
contains "... with time to first token" "$OUT" "time to first token  p50"
run "$OFFRAMP" deploy list intent --json
equals "the load figures are kept on the deployment" "$(printf '%s' "$OUT" | jq -c '.deployments[0].load | [.concurrency, .requests, .ok]')" "[4,12,12]"
equals "... the first token never after the last" "$(printf '%s' "$OUT" | jq '.deployments[0].load | .ttft_p50_ms <= .latency_p50_ms')" true
# offramp eval --load: the deployed model and the frontier (an OpenAI stand-in, tests/gw/standin_upstream,
# answering 40 ms late in 4 streamed chunks) measured the same way, kept, and shown in the report.
frontier --latency-ms 40 --chunks 4
run "$OFFRAMP" eval intent --load 3
expect_rc "eval --load without the frontier is a usage error" 2
contains "... saying to give it as --reference" "$ERR" "--reference BACKEND:MODEL"
run "$OFFRAMP" eval plain --load 3 --reference "$FRONTIER|gpt-4o-mini"
expect_rc "eval --load on a task without a deployment is refused" 1
contains "... saying what to run" "$ERR" "no active deployment"
run "$OFFRAMP" eval intent --load 3 --requests 9 --reference "$FRONTIER|gpt-4o-mini"
expect_rc "eval --load 3: 9 streamed requests to the deployment and 9 to the frontier" 0
contains "... both columns named" "$OUT" "v2 intent-v2"
equals "... every request answered on both" "$(printf "%s\n" "$OUT" | grep "answered (n)" | tr -s " ")" " answered (n) 9 ok, 0 errors 9 ok, 0 errors"
contains "... TTFT with its unit" "$OUT" "time to first token p50"
run "$OFFRAMP" deploy list intent --json
equals "the frontier's figures are kept beside the deployment's" \
   "$(printf '%s' "$OUT" | jq -c '.deployments[0].load | [.concurrency, .requests, .ok, .frontier.model, .frontier.ok, .frontier.concurrency]')" \
   '[3,9,9,"gpt-4o-mini",9,3]'
equals "the frontier's first token comes after its 40 ms delay" \
   "$(printf '%s' "$OUT" | jq '.deployments[0].load.frontier.ttft_p50_ms >= 40')" true
run "$OFFRAMP" report intent
contains "the report has the load section" "$OUT" "## Performance under load (deployment"
contains "... the deployed model beside the frontier" "$OUT" "| metric | deployed v2 intent-v2 | frontier gpt-4o-mini |"
contains "... with the sample sizes" "$OUT" "| answered (n) | 9 of 9 | 9 of 9 |"
contains "... and TTFT in ms" "$OUT" "| time to first token p50 |"
run "$OFFRAMP" report intent --json
equals "the JSON report carries them" "$(printf '%s' "$OUT" | jq -c '.load.load | [.requests, .frontier.requests]')" "[9,9]"
run "$OFFRAMP" deploy load plain
expect_rc "load: a task without a deployment is refused" 1
contains "... saying what to run" "$ERR" "no active deployment"
equals "deployments: v1 superseded, v2 active" "$(sql "SELECT group_concat(status, ',') FROM (SELECT status FROM deployments ORDER BY id)")" "superseded,active"

# The server restarts and forgets every adapter loaded at run time.
kill -HUP "$VLLM_PID"
sleep 0.2
equals "the restarted vLLM serves no adapter" "$(curl -s "$VLLM/v1/models" | jq '[.data[] | select(.parent != null)] | length')" 0
run "$OFFRAMP" deploy rollback intent --reason "v2 drifts"
expect_rc "rollback re-deploys v1 on the server that dropped it" 0
contains "... saying it put it back" "$OUT" "put back"
contains "... names the route's candidate to point back at" "$OUT" "--candidate-model intent-v1"
contains "... and smoke-checks it" "$OUT" "smoke passed: v1"
equals "vLLM serves intent-v1 again" "$(curl -s "$VLLM/v1/models" | jq -r '.data[] | select(.id == "intent-v1") | .id')" intent-v1
equals "v2 is rolled back, v1 active again" \
   "$(sql "SELECT group_concat(v.version || ':' || d.status, ',') FROM (SELECT * FROM deployments ORDER BY id) d JOIN model_versions v ON v.id = d.version_id")" \
   "1:superseded,2:rolled-back,1:active"
contains "the rollback's reason is kept" "$(sql "SELECT reason FROM deployments ORDER BY id DESC LIMIT 1")" "v2 drifts"
run "$OFFRAMP" deploy rollback intent
expect_rc "a second rollback has nothing to go back to (never to the version rolled back from)" 1

n=$(sql "SELECT count(*) FROM deployments")
run "$OFFRAMP" deploy intent --to "$VLLM" --kind vllm --version 2 --served-path /nowhere/intent-v2
expect_rc "an adapter path the server cannot find is refused" 1
contains "... with vLLM's own 404 message" "$ERR" "HTTP 404: Loading lora intent-v2 failed: No adapter found for /nowhere/intent-v2"
equals "... and nothing recorded" "$(sql "SELECT count(*) FROM deployments")" "$n"

# The stand-in refuses what vLLM refuses, with its status and error shape.
r=$(curl -s -w ' %{http_code}' -H 'Content-Type: text/plain' -d '{}' "$VLLM/v1/load_lora_adapter")
equals "vLLM stand-in: a body that is not JSON-typed: 400 Bad Request" "$(printf "%s" "${r% *}" | jq -r '.error.type') ${r##* }" "Bad Request 400"
r=$(curl -s -w ' %{http_code}' -H 'Content-Type: application/json' -d '{"lora_name":"x"}' "$VLLM/v1/load_lora_adapter")
equals "vLLM stand-in: no lora_path: 400 InvalidUserInput" "$(printf "%s" "${r% *}" | jq -r '.error.type + " " + (.error.code|tostring)') ${r##* }" "InvalidUserInput 400 400"
r=$(curl -s -w ' %{http_code}' -H 'Content-Type: application/json' -d "{\"lora_name\":\"intent-v1\",\"lora_path\":\"$TMP/intent-v1\"}" "$VLLM/v1/load_lora_adapter")
contains "vLLM stand-in: loading a loaded name again is refused" "$r" "has already been loaded"
r=$(curl -s -w ' %{http_code}' -H 'Content-Type: application/json' -d '{"lora_name":"nope"}' "$VLLM/v1/unload_lora_adapter")
equals "vLLM stand-in: unloading an unknown adapter: 404 NotFoundError" "$(printf "%s" "${r% *}" | jq -r '.error.type') ${r##* }" "NotFoundError 404"
r=$(curl -s -w ' %{http_code}' -H 'Content-Type: application/json' -d '{"model":"intent-v9","messages":[]}' "$VLLM/v1/chat/completions")
equals "vLLM stand-in: an unknown model name: 404" "${r##* }" 404

# A server whose adapter answers out of format: the smoke check fails and the gate stays shut.
standin vllm BAD --model $BASE
run "$OFFRAMP" deploy intent --to "$BAD" --kind vllm --version 2
expect_rc "a deployment answering out of format fails the smoke check (exit 3)" 3
contains "... with the count" "$OUT" "smoke FAILED"
contains "... 0 of 10 in format" "$OUT" "0/10 in the task's format"
run "$OFFRAMP" deploy gate intent
expect_rc "gate: a failed smoke check keeps shadow shut" 3
contains "... saying it failed" "$OUT" "smoke check failed"
run "$OFFRAMP" report intent --json
equals "the task's evaluate gate (evaluate -> shadow) carries the failed smoke check" \
   "$(printf '%s' "$OUT" | jq -r '[.gate.checks[] | select(.status == "fail") | .detail] | map(select(test("smoke"))) | length')" 1
run "$OFFRAMP" deploy rollback intent --no-smoke
expect_rc "rolling back from the bad server goes to v1 on the first one" 0
run "$OFFRAMP" deploy smoke intent
expect_rc "... which passes its smoke check again" 0

# A vLLM started with --api-key: the key comes from the environment variable --key-env names.
standin vllm KEYED --model $BASE --api-key sk-standin-0123456789 --answers "$TEST_V"
run "$OFFRAMP" deploy intent --to "$KEYED" --kind vllm --version 1
expect_rc "without its API key a keyed vLLM refuses the deploy" 1
contains "... with its 401" "$ERR" "HTTP 401: Unauthorized"
run "$OFFRAMP" deploy intent --to "$KEYED" --kind vllm --version 1 --key-env STANDIN_KEY
expect_rc "a --key-env that is not set is refused" 1
contains "... naming the variable" "$ERR" "\$STANDIN_KEY, which is not set"
STANDIN_KEY=sk-standin-0123456789 run "$OFFRAMP" deploy intent --to "$KEYED" --kind vllm --version 2 --key-env STANDIN_KEY
expect_rc "with --key-env the deploy and its smoke check carry the key" 0
contains "... and the smoke check passes" "$OUT" "smoke passed"
STANDIN_KEY=sk-standin-0123456789 run "$OFFRAMP" deploy load intent --requests 4
expect_rc "... as does the load" 0
lacks "the key itself is never stored" "$(sql "SELECT group_concat(key_env || reason || served_path) FROM deployments")" "sk-standin"
run "$OFFRAMP" deploy rollback intent --no-smoke
expect_rc "rolling back from v2 on the keyed server to v1 on the first one" 0

# ---- Ollama
standin ollama OLLAMA --model qwen2.5:1.5b --answers "$TEST_O"
n=$(sql "SELECT count(*) FROM deployments")
run "$OFFRAMP" deploy tone --to "$OLLAMA" --kind ollama --version 1
expect_rc "a base model the Ollama server does not have is refused" 1
contains "... with Ollama's own 500 message and the fix" "$ERR" "HTTP 500: pull model manifest: file does not exist (the base model must exist"
equals "... and nothing recorded" "$(sql "SELECT count(*) FROM deployments")" "$n"
run "$OFFRAMP" deploy tone --to "$OLLAMA" --kind ollama --base qwen2.5:1.5b
expect_rc "a URL artifact cannot go to Ollama, which needs its files pushed" 1
contains "... saying to download and register the copy" "$ERR" "download it and register the copy"
run "$OFFRAMP" deploy tone --to "$OLLAMA" --kind ollama --base qwen2.5:1.5b --version 1
expect_rc "v1 (a GGUF adapter) deploys on Ollama and passes the smoke check" 0
contains "... served as tone:v1" "$OUT" "--candidate-url $OLLAMA/v1 --candidate-model tone:v1"
sha=$(sha256sum "$TMP/tone-v1.gguf" | cut -d' ' -f1)
equals "the adapter file was pushed as a blob under its digest" "$(curl -s -o /dev/null -w '%{http_code}' -I "$OLLAMA/api/blobs/sha256:$sha")" 200
equals "the model was created from the base model" "$(curl -s -d '{"model":"tone:v1"}' "$OLLAMA/api/show" | jq -r .details.parent_model)" qwen2.5:1.5b
run "$OFFRAMP" eval tone --candidate "$OLLAMA/v1|tone:v1"
expect_rc "offramp eval against the model on Ollama's /v1" 0
contains "... every answer right" "$OUT" "accuracy             100.0 %"
adapter "$TMP/tone-v2" weights-tone-two
"$OFFRAMP" deploy register tone --artifact "$TMP/tone-v2" --base-model $BASE >/dev/null
run "$OFFRAMP" deploy tone --to "$OLLAMA" --kind ollama --base qwen2.5:1.5b
expect_rc "v3 (an adapter directory, every file a blob) deploys on Ollama" 0
kill -HUP "$OLLAMA_PID"
sleep 0.2
equals "the wiped Ollama no longer has tone:v1" "$(curl -s -o /dev/null -w '%{http_code}' -d '{"model":"tone:v1"}' "$OLLAMA/api/show")" 404
run "$OFFRAMP" deploy rollback tone
expect_rc "rollback pushes v1 again and re-creates it" 0
contains "... saying it put it back" "$OUT" "put back"
equals "Ollama has tone:v1 again" "$(curl -s -o /dev/null -w '%{http_code}' -d '{"model":"tone:v1"}' "$OLLAMA/api/show")" 200
r=$(curl -s -w ' %{http_code}' -X POST "$OLLAMA/api/create")
equals "Ollama stand-in: no body: 400 missing request body" "$(printf "%s" "${r% *}" | jq -r .error) ${r##* }" "missing request body 400"
r=$(curl -s -w ' %{http_code}' --data-binary 'other bytes' "$OLLAMA/api/blobs/sha256:$(printf 'some bytes' | sha256sum | cut -d' ' -f1)")
contains "Ollama stand-in: a blob that does not match its digest: 400" "$r" "digest mismatch"
r=$(curl -s -w ' %{http_code}' -d '{}' "$OLLAMA/api/show")
equals "Ollama stand-in: show without a model: 400 model is required" "$(printf "%s" "${r% *}" | jq -r .error) ${r##* }" "model is required 400"

# ---- llama.cpp server: adapters given at start, only their scales change
"$OFFRAMP" deploy register fields --artifact "$TMP/fields-v2.gguf" --base-model $BASE >/dev/null
standin llamacpp LLAMA --model /models/qwen2.5-1.5b-q8_0.gguf --lora "$TMP/fields-v1.gguf" --lora "$TMP/fields-v2.gguf" \
   --lora-init-without-apply --answers "$TEST_L"
run "$OFFRAMP" deploy fields --to "$LLAMA" --kind llamacpp --version 1
expect_rc "v1 deploys on llama.cpp server and passes the smoke check" 0
contains "... under the server's model name" "$OUT" "model /models/qwen2.5-1.5b-q8_0.gguf"
equals "only v1's adapter is applied" "$(curl -s "$LLAMA/lora-adapters" | jq -c '[.[].scale]')" "[1,0]"
run "$OFFRAMP" eval fields --candidate "$LLAMA/v1|/models/qwen2.5-1.5b-q8_0.gguf"
expect_rc "offramp eval against llama.cpp server with the adapter applied" 0
contains "... every answer right" "$OUT" "accuracy             100.0 %"
run "$OFFRAMP" deploy fields --to "$LLAMA" --kind llamacpp
expect_rc "v2 deploys" 0
equals "only v2's adapter is applied" "$(curl -s "$LLAMA/lora-adapters" | jq -c '[.[].scale]')" "[0,1]"
run "$OFFRAMP" deploy rollback fields
expect_rc "rollback applies v1 again" 0
equals "only v1's adapter is applied again" "$(curl -s "$LLAMA/lora-adapters" | jq -c '[.[].scale]')" "[1,0]"
"$OFFRAMP" deploy register fields --artifact "$TMP/fields-v3.gguf" --base-model $BASE >/dev/null
n=$(sql "SELECT count(*) FROM deployments")
run "$OFFRAMP" deploy fields --to "$LLAMA" --kind llamacpp
expect_rc "a version the server was not started with is refused" 1
contains "... saying to restart it with --lora" "$ERR" "restart it with --lora $TMP/fields-v3.gguf"
equals "... and nothing recorded" "$(sql "SELECT count(*) FROM deployments")" "$n"
r=$(curl -s -w ' %{http_code}' -d '{}' "$LLAMA/lora-adapters")
equals "llama.cpp stand-in: a body that is not a list: 400 invalid_request_error" "$(printf "%s" "${r% *}" | jq -r '.error.type + ": " + .error.message') ${r##* }" "invalid_request_error: Request body must be an array 400"
r=$(curl -s -w ' %{http_code}' -d '[{"id":9,"scale":1}]' "$LLAMA/lora-adapters")
equals "llama.cpp stand-in: an unknown adapter id: 500 server_error" "$(printf "%s" "${r% *}" | jq -r '.error.message') ${r##* }" "invalid adapter id 500"

# ---- the list: versions and deployments, and the route revision pointing at one
sql "INSERT INTO route_events(ts, task, kind, actor, new_route) VALUES ('2026-12-01T00:00:00Z', 'fields', 'set', 'tester',
   '{\"task\":\"fields\",\"candidate\":{\"url\":\"$LLAMA/v1/\",\"model\":\"/models/qwen2.5-1.5b-q8_0.gguf\"},\"mode\":\"shadow\"}')"
run "$OFFRAMP" deploy list fields --json
expect_rc "list --json" 0
equals "three versions of fields, newest first" "$(echo "$OUT" | jq -c '[.versions[].version]')" "[3,2,1]"
equals "the active deployment is v1, smoke passed" "$(echo "$OUT" | jq -r '.deployments[0] | "\(.version) \(.status) \(.smoke_ok)"')" "1 active 1"
equals "its route revision is the route change that pointed at it" "$(echo "$OUT" | jq '.deployments[0].route_event')" \
   "$(sql "SELECT max(id) FROM route_events")"
run "$OFFRAMP" deploy list
expect_rc "list (text)" 0
contains "the text list shows versions" "$OUT" "adapter-dir"
contains "... and deployments with their smoke result" "$OUT" "rolled-back"

for p in $PIDS; do kill "$p" 2>/dev/null; done
for p in $PIDS; do wait "$p" 2>/dev/null; done
PIDS=""
# In the sanitizer build the stand-ins report leaks and undefined behaviour on stderr at exit.
if grep -l "Sanitizer\|runtime error" ./*.err >/dev/null 2>&1; then
   not_ok "the stand-ins ran clean" "$(cat ./*.err | head -40)"
else
   ok "the stand-ins ran clean"
fi
done_testing
