#!/bin/sh
# admin_input.sh - what a client sends the admin API's route changes is checked before it reaches
# the workspace: task names as the data plane checks them, a bounded reason kept intact (it once
# pointed into a freed body), an empty PUT refused rather than taken as a reset.
. "$TESTS_SRCDIR/gw/gwlib.sh"

start_standin up --echo
start_standin cand --content billing
start_gateway --upstream "$up_URL"

code() {   # code METHOD PATH [BODY] [CURL ARGS...]: the HTTP status
   local m=$1 p=$2 b=$3; shift 3
   curl -s -o "$WORK/body" -w '%{http_code}' -X "$m" -H "Authorization: Bearer $TOKEN" ${b:+--data-binary "$b"} \
      "$@" "$GW$p"
}
message() { jq -r .error.message "$WORK/body"; }

# The gate check: intent is in no inventory, so nothing allows serving its candidate yet.
is "$(code PUT /admin/routes/intent '{"mode":"shadow","candidate":{"url":"'"$cand_URL"'"},"reason":"first"}')" 409 \
   "a route past unmet gates: 409"
is "$(jq -r '.error.type + " " + .error.code' "$WORK/body")" "invalid_request_error gate_closed" "in OpenAI's error shape"
is "$(jq -r '.error.missing[0].what' "$WORK/body")" inventory "listing the missing item"
check "which the message names too" sh -c "jq -r .error.message '$WORK/body' | grep -q 'missing inventory: task intent is not in'"
is "$(sql "SELECT count(*) FROM route_events")" 0 "nothing recorded for a refused change"
is "$(code PUT /admin/routes/intent '{"mode":"shadow","force":true,"candidate":{"url":"'"$cand_URL"'"}}')" 400 \
   "force without a reason: 400"
is "$(code PUT /admin/routes/intent '{"mode":"shadow","force":"yes","reason":"x","candidate":{"url":"'"$cand_URL"'"}}')" 400 \
   "force that is not a boolean: 400"
is "$(code PUT /admin/routes/intent '{"mode":"shadow","force":true,"candidate":{"url":"'"$cand_URL"'"},"reason":"first"}')" 200 \
   "a valid route is set by force"
is "$(jq -r .forced "$WORK/body")" true "the answer says it was forced"
is "$(sql "SELECT forced || ' ' || reason FROM route_events ORDER BY id DESC LIMIT 1")" "1 first" "recorded as forced, with the reason"
is "$(sql "SELECT phase FROM tasks WHERE name = 'intent'")" shadow "the task is added, its phase at the route's"

# The reason in the body: stored byte for byte (it used to be read after the body was freed).
R200=$(head -c 150 /dev/urandom | od -An -tx1 | tr -d ' \n' | head -c 200)
is "$(code PUT /admin/routes/intent '{"mode":"passthrough","reason":"'"$R200"'"}')" 200 "a 200-byte reason in the body"
is "$(sql "SELECT reason FROM route_events WHERE task = 'intent' ORDER BY id DESC LIMIT 1")" "$R200" \
   "the body's reason is stored intact"
R1K=$(printf 'r%.0s' $(seq 1024))
is "$(code PUT /admin/routes/intent '{"mode":"passthrough","reason":"'"$R1K"'"}')" 200 "a 1024-byte reason is accepted"
is "$(sql "SELECT length(reason) FROM route_events WHERE task = 'intent' ORDER BY id DESC LIMIT 1")" 1024 \
   "and stored whole"

# A 400 KB reason, in the body and in the query: refused with a message, the gateway stays up.
head -c 300000 /dev/urandom | od -An -tx1 | tr -d ' \n' | head -c 409600 > "$WORK/big"
printf '{"mode":"passthrough","reason":"%s"}' "$(cat "$WORK/big")" > "$WORK/big.json"
is "$(code PUT /admin/routes/intent "@$WORK/big.json")" 400 "a 400 KB reason in the body: 400"
check "the message gives the limit" sh -c "jq -r .error.message '$WORK/body' | grep -q '409600 bytes long; the limit is 1024'"
is "$(code PUT "/admin/routes/intent?reason=$(head -c 4000 "$WORK/big")" '{"mode":"passthrough"}')" 400 \
   "a 4 KB reason in the query: 400"
is "$(code PUT '/admin/routes/intent?reason=bad%FFbyte' '{"mode":"passthrough"}')" 400 "a reason that is not UTF-8: 400"
is "$(code PUT /admin/routes/intent '{"mode":"passthrough","reason":7}')" 400 "a reason that is not a string: 400"
is "$(code PUT /admin/routes/intent '{"mode":"passthrough"}' -H "$(printf 'X-Offramp-Actor: me\377')")" 400 \
   "an actor header that is not UTF-8: 400"
is "$(curl -s -o /dev/null -w '%{http_code}' "$GW/healthz")" 200 "the gateway is still up"

# The CLI's actor ($OFFRAMP_ACTOR, else $USER) goes in a header: no line break may end it.
OFFRAMP_ACTOR="$(printf 'ops\nX-Evil: 1')" "$OFFRAMP" route --gateway "$GW" --admin-token-file "$WORK/token" \
   set intent --mode passthrough --reason "actor check" > /dev/null
tap $? "route set with a line break in the actor: exit 0"
is "$(sql "SELECT actor FROM route_events ORDER BY id DESC LIMIT 1")" "ops?X-Evil: 1" "the actor is recorded on one line"
OFFRAMP_ACTOR="$(printf 'a%.0s' $(seq 127))é" "$OFFRAMP" route --gateway "$GW" --admin-token-file "$WORK/token" \
   set intent --mode passthrough --reason "long actor" > /dev/null
tap $? "route set with a 129-byte actor: exit 0"
is "$(sql "SELECT length(actor) FROM route_events ORDER BY id DESC LIMIT 1")" 127 \
   "cut to 128 bytes without splitting a character"

# Task names in the URL, as the data plane checks them (and what decoding brings in).
for name in 'a%00b' 'a%0Ab' 'a%0D%0AX-Injected:%201' 'bad%FFname' 'a%20b' '' '%2Fetc' "$(printf 'x%.0s' $(seq 2000))"; do
   is "$(code PUT "/admin/routes/$name" '{"mode":"passthrough"}')" 400 "route name '$(printf %.24s "$name")' refused"
done
check "a name's message says what task names are" sh -c "jq -r .error.message '$WORK/body' | grep -q '2000 bytes long'"
# 20,000 characters do not reach the admin code: the front end refuses the request line (431).
is "$(code PUT "/admin/routes/$(printf 'x%.0s' $(seq 20000))" '{"mode":"passthrough"}')" 431 "a 20,000-character name: 431"
is "$(code POST '/admin/routes/a%00b/rollback' '')" 400 "rollback of a name with %00: 400"
is "$(code GET '/admin/routes/a%0Ab' '')" 400 "GET of a name with a newline: 400"
is "$(sql "SELECT count(*) FROM routes WHERE task != 'intent'")" 0 "no route was stored under a bad name"
is "$(sql "SELECT count(*) FROM route_events WHERE task != 'intent'")" 0 "nor a route event"

# An empty PUT body is a mistake, not a reset to passthrough defaults.
is "$(code PUT /admin/routes/intent '{"mode":"shadow","force":true,"reason":"a test of bodies, not of the gates","candidate":{"url":"'"$cand_URL"'"}}')" 200 "shadow again"
EV=$(sql "SELECT count(*) FROM route_events")
is "$(code PUT /admin/routes/intent '')" 400 "an empty PUT body: 400"
check "saying the body is empty" sh -c "jq -r .error.message '$WORK/body' | grep -q 'body is empty'"
is "$(code PUT /admin/routes/intent ' ')" 400 "a blank PUT body: 400"
is "$(admin GET /admin/routes/intent | jq -r .route.mode)" shadow "the route is unchanged"
is "$(sql "SELECT count(*) FROM route_events")" "$EV" "and no route event was written"
is "$(code PUT /admin/routes/intent '{"mode":')" 400 "a truncated JSON body: 400"
check "naming where JSON went wrong" sh -c "jq -r .error.message '$WORK/body' | grep -q 'not valid JSON'"
is "$(code POST /admin/routes/intent/rollback '')" 200 "a rollback needs no body"
is "$(admin GET /admin/routes/intent | jq -r .route.mode)" passthrough "and sends the task to the primary"
finish
