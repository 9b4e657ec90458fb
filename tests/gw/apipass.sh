#!/bin/sh
# apipass.sh - the rest of the OpenAI API through the gateway: every /v1/ path but chat
# completions is proxied to the default upstream untouched (any method, body, query, streamed
# answer, the upstream's status, reason and headers), measured in the stats without bodies;
# /v1/models merges the upstream's list with the routes'; the chat answer carries the upstream's
# rate-limit and request-id headers and its reason phrase.
. "$TESTS_SRCDIR/gw/gwlib.sh"

start_standin up --echo --api-headers --fail-status 429 --fail-reason "Slow Down Please" --chunks 4 --chunk-delay-ms 300
# A sanitizer build's quarantine would hold freed memory and hide what the gateway keeps.
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:quarantine_size_mb=4"
start_gateway --upstream "$up_URL" --max-body 4096

# A POST with a JSON body, the client's key and organization.
code=$(curl -s -o "$WORK/emb" -D "$WORK/emb.h" -w '%{http_code}' -H 'Authorization: Bearer sk-client-1' \
   -H 'OpenAI-Organization: org-1' -H 'Content-Type: application/json' \
   -d '{"model":"text-embedding-3-small","input":"hello"}' "$GW/v1/embeddings")
is "$code" 200 "POST /v1/embeddings is answered by the upstream"
is "$(jq -r .path "$WORK/emb")" /v1/embeddings "the upstream saw the same path"
is "$(jq -r .method "$WORK/emb")" POST "and the same method"
is "$(jq -r .authorization "$WORK/emb")" "Bearer sk-client-1" "and the client's Authorization (no operator key in use)"
is "$(jq -r .organization "$WORK/emb")" org-1 "and the client's other headers"
is "$(jq -r .content_type "$WORK/emb")" application/json "and its Content-Type"
is "$(jq -r .body_len "$WORK/emb")" 50 "and the whole body"
check "the upstream's own headers come back (x-request-id)" grep -qi '^x-request-id: req_standin_' "$WORK/emb.h"
check "pass-through answers carry a request id" grep -qi '^X-Offramp-Request-Id: ofr-' "$WORK/emb.h"

# A binary multipart upload goes byte for byte.
head -c 3000 /dev/urandom > "$WORK/blob"
want=$(curl -s -F purpose=fine-tune -F "file=@$WORK/blob" "$up_URL/files" | jq -r .body_len)
curl -s -F purpose=fine-tune -F "file=@$WORK/blob" -o "$WORK/files" "$GW/v1/files"
is "$(jq -r .body_len "$WORK/files")" "$want" "a multipart file upload arrives whole"
check "with its multipart Content-Type" sh -c "jq -r .content_type '$WORK/files' | grep -q '^multipart/form-data; boundary='"

# Other methods, query strings, status codes and reason phrases.
is "$(curl -s -X DELETE "$GW/v1/files/file-abc" | jq -r '.method + " " + .path')" "DELETE /v1/files/file-abc" "DELETE is proxied"
is "$(curl -s "$GW/v1/files?purpose=fine-tune&limit=2" | jq -r .query)" "purpose=fine-tune&limit=2" "the query string is kept"
curl -s -D "$WORK/e429.h" -o "$WORK/e429" "$GW/v1/moderations?status=429" -d '{"input":"x"}'
check "the upstream's status and reason phrase" grep -q '^HTTP/1.1 429 Slow Down Please' "$WORK/e429.h"
check "its Retry-After" grep -qi '^Retry-After: 7' "$WORK/e429.h"
is "$(jq -r .path "$WORK/e429")" /v1/moderations "and its body"
code=$(curl -s -o /dev/null -w '%{http_code}' "$GW/v1/responses/x?status=204")
is "$code" 204 "an answer without a body"
code=$(curl -s --path-as-is -o /dev/null -w '%{http_code}' "$GW/v1/../admin/x")
is "$code" 400 "a '..' segment, which would leave the upstream's /v1, gets 400"
code=$(curl -s --path-as-is -o /dev/null -w '%{http_code}' "$GW/v1/%2E%2e/admin/x")
is "$code" 400 "encoded too"
is "$(curl -s -o /dev/null -w '%{http_code}' "$GW/v1/files/a%00b")" 400 "an encoded NUL in the path gets 400"

# Streamed: the pieces come as the upstream sends them (4 pieces 300 ms apart; a buffering
# proxy would deliver them within a moment of each other).
curl -s -N -o "$WORK/stream" -w '%{time_starttransfer} %{time_total}\n' "$GW/v1/responses?chunks=4" \
   -d '{"stream":true}' > "$WORK/stream.t"
is "$(grep -c '^data: ' "$WORK/stream")" 4 "a streamed answer arrives whole"
check "and piece by piece (first byte >= 0.3 s before the last)" awk '{ exit !($2 - $1 >= 0.3) }' "$WORK/stream.t"

# A large download to a slow client is held back upstream, not in the gateway's memory: 64 MB
# at 16 MB/s while the stand-in writes it at once.
hwm() { awk '/^VmHWM/ { print $2 }' "/proc/$GW_PID/status"; }
before=$(hwm)
size=$(curl -s --limit-rate 16M -o "$WORK/big" -w '%{size_download}' "$GW/v1/files/file-big/content?bytes=67108864")
after=$(hwm)
is "$size" 67108864 "a 64 MB download arrives whole"
check "while the gateway's peak memory grows by less than 16 MB ($((after - before)) kB)" \
   test $((after - before)) -lt 16384
rm -f "$WORK/big"
# A client that leaves mid-download: the call ends, the gateway stays up.
curl -s --max-time 1 --limit-rate 1M -o /dev/null "$GW/v1/files/file-big/content?bytes=67108864"
for _ in $(seq 200); do [ "$(metric offramp_inflight)" = 0 ] && break; sleep 0.1; done
is "$(metric offramp_inflight)" 0 "a download whose client left ends"
is "$(curl -s "$GW/healthz" | jq -r .status)" ok "and the gateway is still up"

# The body limit holds for pass-through too.
big=$(head -c 5000 /dev/zero | tr '\0' 'a')
code=$(curl -s -o /dev/null -w '%{http_code}' -d "{\"input\":\"$big\"}" "$GW/v1/embeddings")
is "$code" 413 "a body over --max-body gets 413"

# /v1/models: the upstream's list and the routes'.
admin PUT /admin/routes/intent '{"aliases":["intent-v1"]}' > /dev/null
curl -s -D "$WORK/models.h" -o "$WORK/models" "$GW/v1/models"
is "$(jq -r '[.data[].id] | sort | join(",")' "$WORK/models")" "intent,intent-v1,standin" "/v1/models merges the upstream's models with the routes'"
check "and says so" grep -qi '^X-Offramp-Models: upstream+routes' "$WORK/models.h"
is "$(curl -s "$GW/v1/models/intent-v1" | jq -r .id)" intent-v1 "/v1/models/ID answers a route's alias"
is "$(curl -s "$GW/v1/models/gpt-x" | jq -r .path)" /v1/models/gpt-x "/v1/models/ID of another model goes upstream"

# Chat: the upstream's rate-limit, request-id and openai-* headers come through, not its others.
REQ='{"model":"gpt-test","messages":[{"role":"user","content":"hello"}]}'
chat "$REQ" -D "$WORK/chat.h" -o /dev/null
check "chat answer: x-ratelimit-* passed" grep -qi '^x-ratelimit-remaining-requests: 9999' "$WORK/chat.h"
check "chat answer: x-request-id passed" grep -qi '^x-request-id: req_standin_' "$WORK/chat.h"
check "chat answer: openai-* passed" grep -qi '^openai-processing-ms: 3' "$WORK/chat.h"
check "chat answer: other upstream headers not" sh -c "! grep -qi '^X-Standin-Private' '$WORK/chat.h'"
chat "$(echo "$REQ" | sed 's/}]}/}],"stream":true}/')" -N -D "$WORK/chats.h" -o /dev/null
check "streamed chat answer: x-ratelimit-* passed" grep -qi '^x-ratelimit-remaining-requests: 9999' "$WORK/chats.h"
curl -s "${up_URL%/v1}/control?fail_rate=1" > /dev/null
chat "$REQ" -D "$WORK/chat429.h" -o /dev/null
check "chat error: the upstream's status and reason phrase" grep -q '^HTTP/1.1 429 Slow Down Please' "$WORK/chat429.h"
check "chat error: its Retry-After" grep -qi '^Retry-After: 7' "$WORK/chat429.h"

# Metadata only: counted per endpoint, no body stored.
m=$(curl -s "$GW/metrics")
is "$(echo "$m" | awk '$1 == "offramp_passthrough_requests_total{endpoint=\"embeddings\",code=\"2xx\"}" {print $2}')" 1 \
   "pass-through requests are counted per endpoint and status class"
is "$(echo "$m" | awk '$1 == "offramp_passthrough_bytes_total{endpoint=\"embeddings\",direction=\"in\"}" {print $2}')" 50 \
   "with their body bytes"
is "$(echo "$m" | awk '$1 == "offramp_passthrough_requests_total{endpoint=\"moderations\",code=\"4xx\"}" {print $2}')" 1 \
   "errors by status class"
is "$(admin GET /admin/stats | jq -r '.passthrough.files.requests')" 5 "and in /admin/stats"
wait_captured || true
is "$(sql "SELECT count(*) FROM exchanges WHERE record LIKE '%embeddings%' OR record LIKE '%text-embedding%'")" 0 \
   "pass-through bodies are not captured"

# SIGTERM after the client left: nothing pass-through holds the drain (its timeout is 30 s).
kill -TERM "$GW_PID"
for _ in $(seq 100); do kill -0 "$GW_PID" 2>/dev/null || break; sleep 0.1; done
! kill -0 "$GW_PID" 2>/dev/null
tap $? "the gateway drains without waiting for a client that left"
finish
