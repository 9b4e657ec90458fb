#!/bin/sh
# passthrough.sh - the gateway as a plain proxy: answers, byte-identical streaming, capture
# without secrets, bad input (400/413), upstream faults (502/504), slow clients, SIGTERM
# drain, SIGHUP reload.
. "$TESTS_SRCDIR/gw/gwlib.sh"

start_standin up --echo --chunks 4 --chunk-delay-ms 150
start_standin bad --garbage-rate 1
start_standin err --fail-rate 1
start_standin slow --latency-ms 3000
start_gateway --upstream "$up_URL" --max-body 2048 --upstream-timeout 700 --client-timeout 1

REQ='{"model":"gpt-test","messages":[{"role":"user","content":"hello"}]}'
chat "$REQ" -D "$WORK/h1" -H "Authorization: Bearer sk-secret-abc123" > "$WORK/r1"
is "$(jq -r '.choices[0].message.content' "$WORK/r1")" "echo:hello" "passthrough answers with the upstream's answer"
check "X-Offramp-Arm: primary header" grep -qi '^X-Offramp-Arm: primary' "$WORK/h1"

SREQ='{"model":"gpt-test","stream":true,"messages":[{"role":"user","content":"stream me please"}]}'
curl -s -N -d "$SREQ" "$up_URL/chat/completions" > "$WORK/direct.sse"
curl -s -N -d "$SREQ" -w '%{time_starttransfer} %{time_total}\n' -o "$WORK/gw.sse" "$GW/v1/chat/completions" > "$WORK/times"
check "streamed response is byte-identical to the upstream's stream" cmp -s "$WORK/direct.sse" "$WORK/gw.sse"
check "stream has 4 chunks and [DONE]" test "$(grep -c '^data: ' "$WORK/gw.sse")" -eq 5
check "stream passed through chunk by chunk (first byte >= 0.3 s before the last)" \
   awk '{ exit !($2 - $1 >= 0.3) }' "$WORK/times"

code=$(chat '{"messages": [' -o "$WORK/e400" -w '%{http_code}')
is "$code" 400 "malformed JSON gets 400"
is "$(jq -r .error.type "$WORK/e400")" invalid_request_error "400 carries an OpenAI-style error object"
code=$(chat '{"model":"x"}' -o "$WORK/e400b" -w '%{http_code}')
is "$code" 400 "missing messages gets 400"
check "the 400 names the field" grep -q messages "$WORK/e400b"
big=$(head -c 4000 /dev/zero | tr '\0' 'a')
code=$(chat "{\"messages\":[{\"role\":\"user\",\"content\":\"$big\"}]}" -o /dev/null -w '%{http_code}')
is "$code" 413 "body over --max-body gets 413"
code=$(chat "$REQ" -H 'X-Offramp-Task: bad name!' -o /dev/null -w '%{http_code}')
is "$code" 400 "invalid task tag gets 400"

admin PUT /admin/routes/garbled "{\"primary\":{\"url\":\"$bad_URL\"}}" > /dev/null
admin PUT /admin/routes/failing "{\"primary\":{\"url\":\"$err_URL\"}}" > /dev/null
admin PUT /admin/routes/slow "{\"primary\":{\"url\":\"$slow_URL\"}}" > /dev/null
admin PUT /admin/routes/down '{"primary":{"url":"http://127.0.0.1:1/v1"}}' > /dev/null
code=$(chat "$REQ" -H 'X-Offramp-Task: garbled' -o "$WORK/e502" -w '%{http_code}')
is "$code" 502 "garbled upstream answer gets 502"
check "the 502 says why" grep -q "not a chat completion" "$WORK/e502"
code=$(chat "$REQ" -H 'X-Offramp-Task: down' -o /dev/null -w '%{http_code}')
is "$code" 502 "unreachable upstream gets 502"
code=$(chat "$REQ" -H 'X-Offramp-Task: slow' -o /dev/null -w '%{http_code}')
is "$code" 504 "slow upstream gets 504 after --upstream-timeout"
code=$(chat "$REQ" -H 'X-Offramp-Task: failing' -o "$WORK/e500" -w '%{http_code}')
is "$code" 500 "an upstream error status is passed through"
check "with the upstream's own body" grep -q "stand-in failure" "$WORK/e500"

code=$(chat "$REQ" -H 'X-Offramp-Task: brand-new-task' -D "$WORK/h2" -o /dev/null -w '%{http_code}')
is "$code" 200 "unknown task passes through to the default upstream"
check "X-Offramp-Task echoes the task" grep -qi '^X-Offramp-Task: brand-new-task' "$WORK/h2"
is "$(curl -s "$GW/healthz" | jq -r .status)" ok "healthz"
check "models lists routed tasks" sh -c "curl -s '$GW/v1/models' | jq -e '.data | map(.id) | index(\"slow\")' > /dev/null"

# Slow client: sends headers and part of the body, then stalls.
exec 3<>/dev/tcp/127.0.0.1/"${GW##*:}"
printf 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"mess' >&3
sleep 2.2
timeout 2 cat <&3 > /dev/null
tap $? "a stalled client is disconnected after --client-timeout"
exec 3>&-

# Captured: the answered exchanges (not the 400/413s): 2 + 4 faulty routes + 1 unknown task.
wait_committed 7 || true
is "$(sql "SELECT count(*) FROM exchanges")" 7 "every proxied exchange captured"
is "$(sql "SELECT count(*) FROM exchanges WHERE record LIKE '%sk-secret%'")" 0 "client Authorization never stored"
is "$(sql "SELECT count(*) FROM exchanges e JOIN tasks t ON t.id = e.task_id WHERE t.name = 'brand-new-task'")" 1 \
   "tagged unknown task recorded under its (auto-created) task"
is "$(sql "SELECT count(*) FROM exchanges WHERE task_id IS NULL AND fingerprint IS NOT NULL AND length(fingerprint) = 16")" \
   "$(sql "SELECT count(*) FROM exchanges WHERE task_id IS NULL")" "untagged exchanges carry a fingerprint"
is "$(sql "SELECT json_extract(record, '$.stream') FROM exchanges WHERE record LIKE '%stream me please%' LIMIT 1")" 1 \
   "streamed exchange recorded"
is "$(sql "SELECT json_extract(record, '$.response.choices[0].message.content') FROM exchanges WHERE record LIKE '%stream me please%' LIMIT 1")" \
   "echo:stream me please" "streamed answer assembled in the record"
is "$(sql "SELECT json_extract(record, '$.error') FROM exchanges WHERE status = 504")" timeout "504 recorded with its error"

# SIGHUP reloads routes written by someone else.
sql "INSERT INTO routes(task, route, updated_at) VALUES ('hup-task', '{\"mode\":\"passthrough\"}', 'now')"
kill -HUP "$GW_PID"
sleep 0.3
check "SIGHUP reloads routes" sh -c "curl -s -H 'Authorization: Bearer $TOKEN' '$GW/admin/routes' | jq -e '.routes | map(.task) | index(\"hup-task\")' > /dev/null"

# SIGTERM drains: requests in flight (the upstream takes 0.45 s to stream) are all answered.
CURLS=""
for i in 1 2 3 4 5; do
   curl -s -N -d "$SREQ" -o "$WORK/drain$i" -w '%{http_code}' "$GW/v1/chat/completions" > "$WORK/drain$i.code" &
   CURLS="$CURLS $!"
done
# Signal only once all five are in flight (a fixed sleep raced a loaded machine; 5 s of waiting
# did too, with both cores busy: up to 20 s).
for i in $(seq 1 400); do
   [ "$(curl -s "$GW/metrics" | awk '/^offramp_inflight / {print $2}')" = 5 ] && break
   sleep 0.05
done
kill -TERM "$GW_PID"
wait "$GW_PID"
tap $? "gateway exits 0 after draining"
wait $CURLS
ok_n=0
for i in 1 2 3 4 5; do
   [ "$(cat "$WORK/drain$i.code")" = 200 ] && grep -q 'DONE' "$WORK/drain$i" && ok_n=$((ok_n + 1))
done
is "$ok_n" 5 "in-flight requests completed during the drain"
is "$(sql "SELECT count(*) FROM exchanges WHERE record LIKE '%stream me please%'")" 6 "drained exchanges captured"
finish
