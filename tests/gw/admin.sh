#!/bin/sh
# admin.sh - admin API authentication and the route CLI round trip (set, show, rollback,
# history), persisted across a restart.
. "$TESTS_SRCDIR/gw/gwlib.sh"

start_standin up --echo
start_standin cand --content billing
start_gateway --upstream "$up_URL"

is "$(curl -s -o /dev/null -w '%{http_code}' "$GW/admin/routes")" 401 "admin without a token: 401"
is "$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer wrong-token-1234567' "$GW/admin/routes")" 401 \
   "admin with a wrong token: 401"
is "$(curl -s -o /dev/null -w '%{http_code}' -X PUT -d '{}' "$GW/admin/routes/x")" 401 "route change without a token: 401"
is "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$GW/admin/routes")" 200 \
   "admin with the token: 200"
is "$(curl -s -o /dev/null -w '%{http_code}' "$GW/metrics")" 200 "metrics need no token"

export OFFRAMP_GATEWAY=$GW
R="$OFFRAMP route --admin-token-file $WORK/token"
# intent is in no inventory here: no phase, no gates met, so each step forward is forced (this
# test is about the admin round trip; tests/cli/gates.sh meets the gates).
$R set intent --mode shadow --candidate-url "$cand_URL" --candidate-model ft:intent:1 --compare label \
   --reason "eval passed" > /dev/null 2> "$WORK/refused.err"
is "$?" 3 "route set past unmet gates is refused (exit 3)"
check "the refusal lists the missing item" grep -q "missing inventory: task intent is not in the workspace's inventory" "$WORK/refused.err"
$R set intent --mode shadow --candidate-url "$cand_URL" --candidate-model ft:intent:1 --compare label \
   --force --reason "eval passed" > "$WORK/set.out"
tap $? "route set exits 0"
check "route set prints the new route" grep -q "intent: shadow" "$WORK/set.out"
check "route set says it was forced" grep -q "FORCED past the gates, recorded: eval passed" "$WORK/set.out"
$R set intent --mode canary --percent 10 --force --reason "agreement 97 %" > /dev/null
$R show intent > "$WORK/show.out"
check "route show: canary 10 %" grep -q "intent: canary 10 %" "$WORK/show.out"
check "route show: candidate kept from the earlier set" grep -q "ft:intent:1" "$WORK/show.out"
check "route show: history with actor and reason" grep -q 'tester set: shadow -> canary "agreement 97 %"' "$WORK/show.out"
$R rollback intent --reason "verify agreement 88 %" > /dev/null
tap $? "route rollback exits 0"
is "$($R show intent --json | jq -r .route.mode)" passthrough "rollback sends the task to the primary"
is "$($R show intent --json | jq '.history | length')" 3 "three route events recorded"
is "$($R show intent --json | jq -r '.history[2].kind + " " + .history[2].old.mode + " -> " + .history[2].new.mode')" \
   "rollback canary -> passthrough" "rollback event keeps old -> new"
chat '{"messages":[{"role":"user","content":"x"}]}' -H 'X-Offramp-Task: intent' -D "$WORK/h" -o /dev/null
check "after rollback responses come from the primary" grep -qi '^X-Offramp-Arm: primary' "$WORK/h"

$R set intent --mode warp > /dev/null 2> "$WORK/bad.err"
is "$?" 1 "an invalid route is refused (exit 1)"
check "with a message naming the value" grep -q "warp" "$WORK/bad.err"
$R set intent --mode cutover --candidate-url "$cand_URL" --gateway http://127.0.0.1:1 > /dev/null 2> "$WORK/down.err"
is "$?" 1 "unreachable gateway: exit 1"
check "unreachable gateway: says so" grep -q "cannot reach the gateway" "$WORK/down.err"
OFFRAMP_ADMIN_TOKEN=wrong-token-1234567 "$OFFRAMP" route show intent > /dev/null 2> "$WORK/auth.err"
is "$?" 1 "wrong token in the CLI: exit 1"
check "wrong token: the gateway's message shown" grep -q "admin token" "$WORK/auth.err"

stop_gateway
is "$(sql "SELECT count(*) FROM route_events WHERE task = 'intent'")" 3 "route events persisted"
start_gateway --upstream "$up_URL"
export OFFRAMP_GATEWAY=$GW
is "$($R show intent --json | jq -r .route.mode)" passthrough "routes survive a restart"
stop_gateway

# Without a token the admin API is off.
rm "$WORK/token"
unset OFFRAMP_ADMIN_TOKEN
: > "$WORK/gw2.out"
"$OFFRAMP" -w "$WS" gateway --listen 127.0.0.1:0 --upstream "$up_URL" > "$WORK/gw2.out" 2>&1 &
P2=$!
PIDS="$PIDS $P2"
for _ in $(seq 100); do grep -q listening "$WORK/gw2.out" && break; sleep 0.05; done
G2=$(sed -n 's/.*listening on \(http:\/\/[0-9.]*:[0-9]*\).*/\1/p' "$WORK/gw2.out")
is "$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer anything-long-enough' "$G2/admin/routes")" 403 \
   "no admin token configured: admin API off (403)"
finish
