#!/bin/sh
# intake.sh - what the gateway forwards and records of a request is safe to forward and to read
# back: a bare CR in Authorization (evhttp keeps it in a folded line; the primary would read a
# header of the client's after it), a task header that is not UTF-8, and bodies the JSON scanner used to pass
# though jansson, which reads the records back, refuses them (\u0000, lone surrogates, 1e999).
# Found by tests/fuzz/fuzz_http.c.
. "$TESTS_SRCDIR/gw/gwlib.sh"

start_standin up --port 0
start_gateway --upstream "$up_URL"
MSG='"messages":[{"role":"user","content":"hi"}]'

code=$(curl -s -o "$WORK/r1" -w '%{http_code}' -H "$(printf 'Authorization: Bearer\r\n  sk-a\rX-Injected: 1')" \
   -d "{$MSG}" "$GW/v1/chat/completions")
is "$code" 400 "a bare CR in Authorization is a 400, not forwarded"
check "the reply names the header" grep -q 'Authorization: byte 0x0d' "$WORK/r1"

code=$(curl -s -o "$WORK/r2" -w '%{http_code}' -H "$(printf 'X-Offramp-Task: \227\303\251che')" \
   -d "{$MSG}" "$GW/v1/chat/completions")
is "$code" 400 "a task header that is not UTF-8 is a 400, not a task"
check "the reply says why" grep -q 'not UTF-8' "$WORK/r2"

n=3
for body in '{"model":"a\u0000b",'"$MSG"'}' '{"user":"\ud800",'"$MSG"'}' '{"user":"\udc00\ud800",'"$MSG"'}' \
   '{"temperature":1e999,'"$MSG"'}' '{"seed":99999999999999999999,'"$MSG"'}'; do
   code=$(curl -s -o "$WORK/r$n" -w '%{http_code}' -d "$body" "$GW/v1/chat/completions")
   is "$code" 400 "a body jansson refuses is a 400: $body"
   check "from the gateway, not forwarded" grep -q 'the request body is not valid JSON' "$WORK/r$n"
   n=$((n + 1))
done

code=$(curl -s -o "$WORK/ok" -w '%{http_code}' -H 'X-Offramp-Task: t-ok' -H 'Authorization: Bearer sk-a' \
   -d '{"user":"\ud83d\ude00 \u00e9","temperature":1e308,'"$MSG"'}' "$GW/v1/chat/completions")
is "$code" 200 "a pair of surrogates, a large real and a tab-free key are fine"
check "one exchange recorded, the refused ones none" wait_committed 1
is "$(sql 'select count(*) from exchanges')" 1 "exactly one record"
is "$(curl -s "$GW/healthz" | jq -r .status)" ok "the gateway is still up"
finish
