#!/bin/bash
# bench/gateway_profile.sh - what one proxied request costs the gateway, in counts that do not
# depend on what else runs on the machine (bench/gateway.sh measures the throughput):
#   syscalls:     strace -c -f on the gateway pinned to CPU 1 while wrk -t2 -c64 (on CPU 0) posts
#                 the bench's chat request for 5 s (after 2 s of warm-up load); counts divided by
#                 wrk's request count. Needs strace wrk taskset.
#   instructions: the gateway under valgrind --tool=callgrind --separate-threads=yes serves N
#                 closed-loop requests (tests/gw/loadgen -c 16), once N=500 and once N=2500;
#                 per request = (Ir at 2500 - Ir at 500) / 2000 for the event-loop and the capture
#                 writer thread, so start and stop cancel out. Needs valgrind.
# One stand-in upstream; lean is the gateway's own HTTP/1.1 client, curl OFFRAMP_UPSTREAM_CLIENT=curl.
# Usage: bench/gateway_profile.sh BUILD_DIR syscalls|instructions [lean|curl]
set -u
B=$(cd "${1:?usage: bench/gateway_profile.sh BUILD_DIR syscalls|instructions [lean|curl]}" && pwd)
WHAT=${2:-syscalls}
CL=${3:-lean}
case $WHAT in
   syscalls) TOOLS="strace wrk taskset" ;;
   instructions) TOOLS="valgrind" ;;
   *) echo "bench/gateway_profile.sh: unknown measure '$WHAT' (syscalls or instructions)"; exit 2 ;;
esac
for t in $TOOLS; do
   command -v "$t" > /dev/null || { echo "bench/gateway_profile.sh: $t missing (apt-get install strace wrk util-linux valgrind)"; exit 2; }
done
W=$(mktemp -d /tmp/offramp-prof-XXXXXX)
GP=""
trap 'kill $GP $UP 2> /dev/null; wait 2> /dev/null; rm -rf "$W"' EXIT
"$B/tests/gw/standin_upstream" --content billing > "$W/up.port" & UP=$!
for _ in $(seq 100); do [ -s "$W/up.port" ] && break; sleep 0.05; done
echo tok-0123456789abcdef > "$W/token"
echo '{"model":"gpt-4o-mini","messages":[{"role":"system","content":"Classify the support ticket into billing, refund, shipping or other."},{"role":"user","content":"My invoice shows two charges for the same order, please fix."}],"max_tokens":5}' > "$W/body.json"
if [ "$CL" = curl ]; then export OFFRAMP_UPSTREAM_CLIENT=curl; else unset OFFRAMP_UPSTREAM_CLIENT; fi

gateway() {   # gateway PREFIX...: starts it under PREFIX; sets GP and GW
   rm -rf "$W/ws.db"* "$W"/cg.*
   : > "$W/gw.out"   # (the child truncates it only once it runs: the last run's line would be read)
   "$@" "$B/offramp" -w "$W/ws.db" gateway --listen 127.0.0.1:0 --admin-token-file "$W/token" \
      --upstream "http://127.0.0.1:$(cat "$W/up.port")/v1" > "$W/gw.out" 2> "$W/gw.err" &
   GP=$!
   for _ in $(seq 1200); do grep -q listening "$W/gw.out" 2> /dev/null && break; sleep 0.1; done
   GW=$(sed -n 's/.*listening on \(http:\/\/[0-9.]*:[0-9]*\).*/\1/p' "$W/gw.out")
}

if [ "$WHAT" = syscalls ]; then
   cat > "$W/post.lua" <<LUA
wrk.method = "POST"
wrk.body = io.open("$W/body.json"):read("a")
wrk.headers["Content-Type"] = "application/json"
LUA
   gateway taskset -c 1
   taskset -c 0 wrk -t2 -c64 -d2s -s "$W/post.lua" "$GW/v1/chat/completions" > /dev/null
   strace -c -f -p "$GP" -o "$W/strace.txt" 2> /dev/null & SP=$!
   sleep 0.5
   taskset -c 0 wrk -t2 -c64 -d5s -s "$W/post.lua" "$GW/v1/chat/completions" > "$W/wrk.txt"
   kill -INT $SP; wait $SP 2> /dev/null
   N=$(awk '/requests in/ { print $1 }' "$W/wrk.txt")
   echo "# $CL client: system calls per request, $N requests under strace"
   awk -v n="$N" 'NR > 2 && $NF != "total" && $4 ~ /^[0-9]+$/ && $4 / n >= 0.005 { printf "  %-14s %6.2f\n", $NF, $4 / n }' "$W/strace.txt"
   exit 0
fi

run() {   # run N: "LOOP_IR WRITER_IR" of a gateway that served N requests
   gateway valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$W/cg.%p"
   "$B/tests/gw/loadgen" --url "$GW/v1/chat/completions" -n "$1" -c 16 --body-file "$W/body.json" > "$W/lg.json"
   [ "$(jq .ok "$W/lg.json")" = "$1" ] || echo "bench/gateway_profile.sh: $1 requests, not all answered: $(cat "$W/lg.json")" >&2
   sleep 1
   kill -TERM "$GP"; wait "$GP"; GP=""
   echo "$(grep -h '^summary:' "$W"/cg.*-01 | awk '{ print $2 }') $(grep -h '^summary:' "$W"/cg.*-02 | awk '{ print $2 }')"
}
read -r l1 w1 <<< "$(run 500)"
read -r l2 w2 <<< "$(run 2500)"
echo "# $CL client: instructions per request (callgrind Ir, (2500 - 500 requests) / 2000)"
echo "  event-loop thread  $(( (l2 - l1) / 2000 ))"
echo "  capture writer     $(( (w2 - w1) / 2000 ))"
echo "  both               $(( (l2 - l1 + w2 - w1) / 2000 ))"
