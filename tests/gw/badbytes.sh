#!/bin/sh
# badbytes.sh - bytes that are not UTF-8 in what a client sends (headers, task names, bodies)
# get a valid OpenAI-shaped JSON reply, and the gateway stays up.
. "$TESTS_SRCDIR/gw/gwlib.sh"

start_standin up --port 0
start_gateway --upstream "$up_URL"

valid_json() { jq -e . "$1" > /dev/null 2>&1; }

code=$(curl -s -o "$WORK/r1" -w '%{http_code}' -H "$(printf 'X-Offramp-Task: \377!')" \
   -d '{"model":"m","messages":[{"role":"user","content":"hi"}]}' "$GW/v1/chat/completions")
is "$code" 400 "a task header that is not UTF-8 is a 400"
check "its reply is valid JSON" valid_json "$WORK/r1"
is "$(jq -r .error.type "$WORK/r1")" invalid_request_error "its reply is OpenAI's error shape"
check "the bad byte is shown as U+FFFD" grep -q '\\ufffd\|�' "$WORK/r1"

code=$(curl -s -o "$WORK/r2" -w '%{http_code}' -H "$(printf 'X-Offramp-Task: t\300\257')" \
   -H "Authorization: Bearer $(printf 'k\377')" \
   -d "$(printf '{"model":"m\377","messages":[{"role":"user","content":"hi"}]}')" "$GW/v1/chat/completions")
check "an overlong encoding in the task header gets a 4xx ($code)" test "$code" -ge 400 -a "$code" -lt 500
check "its reply is valid JSON" valid_json "$WORK/r2"

code=$(curl -s -o "$WORK/r3" -w '%{http_code}' "$GW/$(printf 'v1/\377%%ff%%00')")
check "a path with bad bytes gets a 4xx ($code)" test "$code" -ge 400 -a "$code" -lt 500
check "its reply is valid JSON" valid_json "$WORK/r3"

code=$(curl -s -o "$WORK/r4" -w '%{http_code}' -X PUT -H "Authorization: Bearer $TOKEN" \
   -d '{"mode":"shadow"}' "$GW/admin/routes/%ff%fe")
check "an admin route name that is not UTF-8 gets a 4xx ($code)" test "$code" -ge 400 -a "$code" -lt 500
check "its reply is valid JSON" valid_json "$WORK/r4"

is "$(curl -s "$GW/healthz" | jq -r .status)" ok "the gateway is still up"

# The replay server names its source (an operator's path, any bytes) in GET /v1/models.
F="$WORK/bad$(printf '\377').jsonl"
cp "$TESTS_SRCDIR/data/pairs.jsonl" "$F"
"$OFFRAMP" replay-server --from "$F" --listen 127.0.0.1:0 > "$WORK/rs.out" 2> "$WORK/rs.err" &
RS_PID=$!
PIDS="$PIDS $RS_PID"
for _ in $(seq 100); do grep -q listening "$WORK/rs.out" 2>/dev/null && break; sleep 0.05; done
RS=$(grep -o 'http://127.0.0.1:[0-9]*' "$WORK/rs.out" | head -1)
code=$(curl -s -m 5 -o "$WORK/rs.json" -w '%{http_code}' "$RS/v1/models")
is "$code" 200 "replay server: a source path that is not UTF-8 still lists its models"
check "replay server: the list is valid JSON" valid_json "$WORK/rs.json"
kill "$RS_PID" 2>/dev/null; wait "$RS_PID" 2>/dev/null
finish
