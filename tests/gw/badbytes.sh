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
finish
