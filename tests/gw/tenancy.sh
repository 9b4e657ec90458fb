#!/bin/sh
# tenancy.sh - whose keys the gateway spends and on whom: a route's key_env is limited to the
# --key-env list; with OPENAI_API_KEY set, clients get the operator's key only with
# --client-keys (hashed keys, per-key tasks; 401/403 otherwise) or --open-relay, else their own
# Authorization goes upstream; task tags without a route are capped (--max-tasks) or refused
# (--known-tasks-only).
. "$TESTS_SRCDIR/gw/gwlib.sh"

export OPENAI_API_KEY=sk-operator-0001 ALLOWED_KEY=k-allowed-0002 SECRET_X=s3cr3t-never-sent
start_standin up --echo-auth
REQ='{"model":"gpt-test","messages":[{"role":"user","content":"hi"}]}'
answer() { jq -r '.choices[0].message.content // .error.code // "none"'; }

# ---- key_env allow-list
start_gateway --upstream "$up_URL" --key-env ALLOWED_KEY
check "the allowed key_envs are said at start" grep -q "key_env may name OPENAI_API_KEY, ALLOWED_KEY" "$WORK/gw.err"
code=$(curl -s -o "$WORK/steal" -w '%{http_code}' -X PUT -H "Authorization: Bearer $TOKEN" \
   -d '{"primary":{"url":"http://127.0.0.1:1/v1","key_env":"SECRET_X"}}' "$GW/admin/routes/steal")
is "$code" 400 "a route naming another variable is refused (400)"
check "the refusal lists the allowed ones" grep -q "allowed: OPENAI_API_KEY, ALLOWED_KEY" "$WORK/steal"
is "$(admin GET /admin/routes | jq -r '[.routes[].task] | index("steal")')" null "and not saved"
is "$(admin PUT /admin/routes/ok "{\"primary\":{\"url\":\"$up_URL\",\"key_env\":\"ALLOWED_KEY\"}}" | jq -r .route.task)" ok \
   "a route naming an allowed variable is saved"
# A route stored by other means naming a secret: its key is never read.
sql "INSERT INTO routes(task, route, updated_at) VALUES ('stored', '{\"primary\":{\"url\":\"$up_URL\",\"key_env\":\"SECRET_X\"}}', 'now')"
stop_gateway
start_gateway --upstream "$up_URL" --key-env ALLOWED_KEY --open-relay
check "a stored route naming another variable is reported at start" grep -q "stored: primary.key_env SECRET_X" "$WORK/gw.err"
is "$(chat "$REQ" -H 'X-Offramp-Task: stored' | answer)" "auth:none" "and its secret is not sent"
is "$(chat "$REQ" -H 'X-Offramp-Task: ok' | answer)" "auth:Bearer k-allowed-0002" "an allowed route key is sent (open relay)"
is "$(chat "$REQ" | answer)" "auth:Bearer sk-operator-0001" "--open-relay: a client without a key is served on the operator's"
stop_gateway

# ---- without --client-keys or --open-relay the operator key is not used
start_gateway --upstream "$up_URL" --key-env ALLOWED_KEY
check "the unused operator key is said at start" grep -q "OPENAI_API_KEY is set but not used" "$WORK/gw.err"
is "$(chat "$REQ" | answer)" "auth:none" "a client without a key gets no operator key"
is "$(chat "$REQ" -H 'Authorization: Bearer sk-client-9' | answer)" "auth:Bearer sk-client-9" \
   "a client's own key goes upstream"
is "$(chat "$REQ" -H 'X-Offramp-Task: ok' | answer)" "auth:none" "nor a route's primary key"
stop_gateway

# ---- client keys
hash() { printf %s "$1" | sha256sum | cut -d' ' -f1; }
{
   echo "# team keys"
   echo "sha256:$(hash ck-all-1111) *"
   echo "sha256:$(hash ck-intent-2222) intent,tone"
} > "$WORK/keys"
start_gateway --upstream "$up_URL" --client-keys "$WORK/keys"
check "client keys are said at start" grep -q "clients need one of the 2 keys" "$WORK/gw.err"
code=$(chat "$REQ" -o "$WORK/nokey" -D "$WORK/nokey.h" -w '%{http_code}')
is "$code" 401 "no key: 401"
is "$(jq -r .error.code "$WORK/nokey")" invalid_api_key "OpenAI-shaped (invalid_api_key)"
check "with WWW-Authenticate" grep -qi '^WWW-Authenticate: Bearer' "$WORK/nokey.h"
is "$(chat "$REQ" -H 'Authorization: Bearer ck-wrong' -o /dev/null -w '%{http_code}')" 401 "unknown key: 401"
is "$(chat "$REQ" -H 'Authorization: Bearer ck-all-1111' | answer)" "auth:Bearer sk-operator-0001" \
   "a listed key is served on the operator's key, its own is not sent on"
is "$(chat "$REQ" -H 'Authorization: Bearer ck-intent-2222' -H 'X-Offramp-Task: tone' | answer)" \
   "auth:Bearer sk-operator-0001" "a key's own task is served"
code=$(chat "$REQ" -H 'Authorization: Bearer ck-intent-2222' -H 'X-Offramp-Task: billing' -o "$WORK/e403" -w '%{http_code}')
is "$code" 403 "another task: 403"
check "naming the key's tasks" grep -q "intent, tone" "$WORK/e403"
is "$(chat "$REQ" -H 'Authorization: Bearer ck-intent-2222' -o /dev/null -w '%{http_code}')" 403 \
   "untagged traffic needs a key for every task"
is "$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer ck-intent-2222' -d '{}' "$GW/v1/embeddings")" 403 \
   "so does the rest of the API"
is "$(curl -s -H 'Authorization: Bearer ck-all-1111' -d '{}' "$GW/v1/embeddings" | jq -r .authorization)" \
   "Bearer sk-operator-0001" "which is proxied on the operator's key"
is "$(curl -s -o /dev/null -w '%{http_code}' "$GW/v1/models")" 401 "/v1/models needs a key too"
admin PUT /admin/routes/intent '{}' > /dev/null
is "$(curl -s -H 'Authorization: Bearer ck-intent-2222' "$GW/v1/models" | jq -r '[.data[].id | select(. == "intent" or . == "ok")] | join(",")')" \
   intent "a key with a task list sees its tasks' models only"
is "$(curl -s -H 'Authorization: Bearer ck-all-1111' "$GW/v1/models" | jq -r '[.data[].id | select(. == "intent" or . == "ok")] | sort | join(",")')" \
   intent,ok "a key for every task sees them all"
is "$(curl -s -o /dev/null -w '%{http_code}' "$GW/healthz")" 200 "/healthz does not"
# SIGHUP re-reads the key file: a revoked key is refused, a new one served, with no restart;
# a key file that no longer reads or holds no key keeps the old keys (never opens the gateway).
hup() { : > "$WORK/gw.err"; kill -HUP "$GW_PID"; for _ in $(seq 50); do grep -q "client keys" "$WORK/gw.err" && break; sleep 0.1; done; }
{ echo "sha256:$(hash ck-all-1111) *"; echo "sha256:$(hash ck-new-3333) tone"; } > "$WORK/keys"
hup
check "SIGHUP: the key file is read again" grep -q "2 client keys reloaded" "$WORK/gw.err"
is "$(chat "$REQ" -H 'Authorization: Bearer ck-intent-2222' -H 'X-Offramp-Task: tone' -o /dev/null -w '%{http_code}')" \
   401 "after SIGHUP a revoked key gets 401"
is "$(chat "$REQ" -H 'Authorization: Bearer ck-new-3333' -H 'X-Offramp-Task: tone' | answer)" \
   "auth:Bearer sk-operator-0001" "and a new key is served"
: > "$WORK/keys"
hup
check "an emptied key file keeps the old keys, and says so" grep -q "keeping the 2 old ones" "$WORK/gw.err"
is "$(chat "$REQ" -o /dev/null -w '%{http_code}')" 401 "so clients without a key are still refused"
echo "sha256:nothex" > "$WORK/keys"
hup
is "$(chat "$REQ" -H 'Authorization: Bearer ck-new-3333' -H 'X-Offramp-Task: tone' -o /dev/null -w '%{http_code}')" \
   200 "a malformed key file keeps the old keys"
stop_gateway
echo "sha256:nothex" > "$WORK/badkeys"
"$OFFRAMP" -w "$WS" gateway --listen 127.0.0.1:0 --client-keys "$WORK/badkeys" > /dev/null 2> "$WORK/bad.err"
is "$?" 1 "a malformed keys file stops the start"
check "naming the line and the format" grep -q "badkeys:1: a key line is 'sha256:HEX" "$WORK/bad.err"
"$OFFRAMP" -w "$WS" gateway --listen 127.0.0.1:0 --client-keys "$WORK/keys" --open-relay > /dev/null 2>&1
is "$?" 2 "--client-keys and --open-relay do not go together"

# ---- task names: capped, or refused without a route
start_gateway --upstream "$up_URL" --max-tasks 3
before=$(sql "SELECT count(*) FROM exchanges")
for i in 1 2 3 4 5 6; do chat "$REQ" -H "X-Offramp-Task: junk-$i" -o /dev/null; done
chat "$REQ" -H 'X-Offramp-Task: ok' -o /dev/null
admin GET /admin/stats > "$WORK/stats"
is "$(jq -r '[.tasks[].task | select(startswith("junk-"))] | length' "$WORK/stats")" 3 "--max-tasks 3: three tag names get stats"
is "$(jq -r '.tasks[] | select(.task == "(other)") | .windows.all.arms.primary.requests' "$WORK/stats")" 3 \
   "the others are counted as (other)"
is "$(jq -r '[.tasks[].task] | index("ok") != null' "$WORK/stats")" true "a routed task always has its own"
wait_captured || true
is "$(sql "SELECT count(*) FROM tasks WHERE name LIKE 'junk-%'")" 3 "and only three tag names become tasks"
is "$(sql "SELECT count(*) FROM exchanges")" $((before + 7)) "every exchange is still captured"
stop_gateway
start_gateway --upstream "$up_URL" --known-tasks-only
code=$(chat "$REQ" -H 'X-Offramp-Task: junk-9' -o "$WORK/e404" -w '%{http_code}')
is "$code" 404 "--known-tasks-only: a tag without a route gets 404"
is "$(jq -r .error.code "$WORK/e404")" unknown_task "OpenAI-shaped"
is "$(chat "$REQ" -H 'X-Offramp-Task: ok' -o /dev/null -w '%{http_code}')" 200 "a routed task is served"
is "$(chat "$REQ" -o /dev/null -w '%{http_code}')" 200 "untagged traffic is served"
finish
