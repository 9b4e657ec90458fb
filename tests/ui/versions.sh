#!/bin/sh
# versions.sh - the console's model versions view (v in the task view) driven headless by a key
# script: each version with its artifact, lineage, deployment and route revision, and B rolling
# the deployment back after a confirmation, putting the previous version back on a vLLM
# stand-in (tests/deploy/standin_vllm.c) that dropped it, the same as offramp deploy rollback.
. "$TESTS_SRCDIR/lib.sh"

H=$(dirname "$OFFRAMP")/tests
MK=$H/dataset/mkexchanges
FAKE="$TESTS_SRCDIR/trainer/fake_axolotl.sh"
for bin in "$MK" "$H/deploy/standin_vllm"; do
   [ -x "$bin" ] || skip_all "test helper not built ($bin; make check builds it)"
done
for tool in curl jq sqlite3; do
   command -v $tool >/dev/null || skip_all "$tool not installed"
done
export LINES=50 COLUMNS=200 TERM=xterm TZ=UTC LC_ALL=C.UTF-8
cd "$TMP" || exit 1
PIDS=""
trap 'for p in $PIDS; do kill "$p" 2>/dev/null; done; rm -rf "$TMP"' EXIT

awk 'BEGIN { srand(5); split("billing shipping returns account", q, " "); print "text,label"
   for (i = 0; i < 300; i++) { s = ""; for (j = 0; j < 10; j++) s = s (j ? " " : "") "w" int(rand() * 50000)
      print "\"" s ", please\"," q[i % 4 + 1] } }' > intent.csv
"$MK" "$OFFRAMP_WORKSPACE" intent intent.csv >/dev/null
"$OFFRAMP" dataset build intent --min-train 200 --seed 1 >/dev/null
TEST_FILE="$TMP/ws.data/$(sql "SELECT dir FROM datasets")/test.jsonl"
BASE=Qwen/Qwen2.5-1.5B-Instruct

"$H/deploy/standin_vllm" --port-file vllm.port --max-seconds 90 --model $BASE --answers "$TEST_FILE" 2>vllm.err &
VLLM_PID=$!
PIDS="$PIDS $VLLM_PID"
i=0
while [ ! -s vllm.port ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
VLLM=http://127.0.0.1:$(cat vllm.port)

# v1 from the runner (its experiment is the lineage), v2 registered by hand; both deployed.
"$OFFRAMP" train intent --base-model $BASE --runner "sh '$FAKE' train {config}" --epochs 2 >/dev/null 2>&1
mkdir -p "$TMP/intent-v2"
printf '{"r": 16, "base_model_name_or_path": "%s"}\n' $BASE > "$TMP/intent-v2/adapter_config.json"
printf 'weights-two' > "$TMP/intent-v2/adapter_model.safetensors"
"$OFFRAMP" deploy register intent --artifact "$TMP/intent-v2" --base-model $BASE --rank 16 >/dev/null
"$OFFRAMP" deploy intent --to "$VLLM" --kind vllm --version 1 >/dev/null
"$OFFRAMP" deploy intent --to "$VLLM" --kind vllm --version 2 >/dev/null
equals "setup: two versions, v2 deployed and smoke-checked" \
   "$(sql "SELECT count(*) || ' ' || (SELECT smoke_ok FROM deployments ORDER BY id DESC LIMIT 1) FROM model_versions")" "2 1"
sql "INSERT INTO route_events(ts, task, kind, actor, new_route) VALUES ('2026-12-01T00:00:00Z', 'intent', 'set', 'tester',
   '{\"task\":\"intent\",\"candidate\":{\"url\":\"$VLLM/v1\",\"model\":\"intent-v2\"},\"mode\":\"shadow\"}')"
SHA1=$(sql "SELECT substr(sha256, 1, 12) FROM model_versions WHERE version = 1")

# The server restarts and forgets its adapters.
kill -HUP "$VLLM_PID"
sleep 0.2

console ':task intent
:save-display task.txt
v
:save-display versions.txt
B
n<Enter>
:save-display declined.txt'
expect_rc "the console exits 0 at the end of the script" 0
contains "the task view names the versions and the active one" "$(cat task.txt)" "MODEL VERSIONS  2 recorded; v2 active on vllm at $VLLM"
contains "... and the key that opens them" "$(cat task.txt)" "v opens them"
V=$(cat versions.txt)
contains "the versions view has its title" "$V" "intent · model versions"
contains "v1's artifact: format, base model, rank, size, sha256" "$V" "v1  adapter-dir  $BASE  rank 32"
contains "... its digest" "$V" "sha256 $SHA1"
contains "... its path" "$V" "artifact $TMP/ws.data/runs/intent-1/adapter"
contains "... its lineage: dataset and the runner's experiment" "$V" "dataset 1 → experiment #1 → v1"
contains "v2: rank 16" "$V" "v2  adapter-dir  $BASE  rank 16"
contains "v2's deployment: active on vLLM, smoke passed" "$V" "active on vllm at $VLLM as intent-v2, smoke passed"
contains "v1's: superseded" "$V" "superseded on vllm at $VLLM as intent-v1"
contains "the route revision that points at v2" "$V" "revision 1 points at it"
contains "B is named" "$V" "B rolls back to the previous version"
contains "declining the confirmation rolls nothing back" "$(status_of declined.txt)" "nothing rolled back"
equals "... and the workspace is as it was" "$(sql "SELECT group_concat(status, ',') FROM (SELECT status FROM deployments ORDER BY id)")" "superseded,active"
console ':task intent
v
B
y<Enter>
:save-display rolled.txt'
expect_rc "the console exits 0 after the rollback" 0
R=$(status_of rolled.txt)
contains "y rolls back to v1" "$R" "rolled back to v1 (deployment 3)"
contains "... putting it back on the server that dropped it" "$R" "the server had dropped it, it was put back"
contains "... smoke-checked" "$R" "smoke passed"
contains "... naming the route's candidate" "$R" "point the route at $VLLM/v1|intent-v1"
equals "v2 rolled back, v1 active again" \
   "$(sql "SELECT group_concat(v.version || ':' || d.status, ',') FROM (SELECT * FROM deployments ORDER BY id) d JOIN model_versions v ON v.id = d.version_id")" \
   "1:superseded,2:rolled-back,1:active"
equals "vLLM serves intent-v1 again" "$(curl -s "$VLLM/v1/models" | jq -r '.data[] | select(.id == "intent-v1") | .id')" intent-v1
contains "the view shows v1 active after it" "$(cat rolled.txt)" "active on vllm at $VLLM as intent-v1"
contains "... and v2 rolled back" "$(cat rolled.txt)" "rolled-back on vllm at $VLLM as intent-v2"
equals "the rollback's reason says it came from the console" "$(sql "SELECT reason FROM deployments ORDER BY id DESC LIMIT 1")" \
   "rollback from v2 to v1: console"
done_testing
