#!/bin/sh
# reconnect.sh - upstreams that close kept-alive connections while they are idle: the gateway
# keeps such sockets registered between calls, so it must notice the close, drop the socket
# and open a new connection on the next call, for the primary and the shadow candidate alike.
. "$TESTS_SRCDIR/gw/gwlib.sh"

start_standin primary --idle-timeout 1
start_standin cand --idle-timeout 1
start_gateway --upstream "$primary_URL"
admin PUT /admin/routes/rc "{\"force\":true,\"reason\":\"a test of the data plane, not of the gates\",\"mode\":\"shadow\",\"candidate\":{\"url\":\"$cand_URL\"}}" > /dev/null

ticks() { awk '{ print $14 + $15 }' "/proc/$GW_PID/stat"; }
good=0
idle_ticks=0
for round in 1 2 3; do
   for i in 1 2 3 4 5; do
      chat '{"model":"m","messages":[{"role":"user","content":"x"}]}' -H 'X-Offramp-Task: rc' |
         jq -e '.choices[0].message.content == "billing"' > /dev/null && good=$((good + 1))
   done
   # Longer than the upstreams' idle timeout: every kept-alive connection is closed by them.
   t0=$(ticks)
   sleep 1.6
   idle_ticks=$((idle_ticks + $(ticks) - t0))
done
is "$good" 15 "every answer right across upstream idle closes"
# A closed socket left registered would wake the loop without end while it is idle.
check "the gateway stays idle while the upstreams close (CPU ticks $idle_ticks of $(( 3 * 160 )))" \
   test "$idle_ticks" -lt 30
admin GET "/admin/stats?task=rc" > "$WORK/stats.json"
is "$(jq '.tasks[0].windows.all.agreement.n' "$WORK/stats.json")" 15 "every candidate answer arrived and was compared"
is "$(jq '.tasks[0].windows.all.arms.candidate.errors' "$WORK/stats.json")" 0 "no candidate errors after the closes"
is "$(curl -s "${primary_URL%/v1}/stats" | jq .requests)" 15 "the primary saw each request once (no retries)"
stop_gateway
check "the gateway stopped cleanly" grep -q "stopped" "$WORK/gw.err"
finish
