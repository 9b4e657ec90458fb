#!/bin/bash
# frontio.sh - how the front end (src/http/httpfront.c) uses a client's socket while its request is
# served: the connection stays watched, so a client that leaves is heard at once (not at the
# answer); what a client sends ahead is held (bounded) and served in order after the answer; an
# answer is written in the loop pass that produced it, and one too big for the socket still
# arrives whole to a slow reader.
. "$TESTS_SRCDIR/gw/gwlib.sh"

start_standin slow --port 0 --latency-ms 4000
start_standin echo --port 0 --echo
start_gateway --upstream "$slow_URL" --max-body 8000000
REQ='{"model":"m","messages":[{"role":"user","content":"hi"}]}'
PORT=${GW##*:}

# ---- a client that leaves while its (non-streamed) call is upstream ----
curl -s -m 0.5 -o /dev/null -d "$REQ" "$GW/v1/chat/completions"
t0=$(date +%s.%N)
gone=""
for _ in $(seq 30); do
   # the metrics request itself is one connection and no request in flight of the chat path
   if [ "$(metric offramp_http_inflight)" = 1 ] && [ "$(metric offramp_http_connections)" = 1 ]; then
      gone=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
      break
   fi
   sleep 0.1
done
check "a client gone during a 4 s upstream call is let go within 2 s (took ${gone:-more than 3} s), not at the answer" \
   awk -v g="${gone:-99}" 'BEGIN { exit !(g < 2) }'

# ---- pipelining: three requests in one write, answered in order on the one connection ----
tagged() { printf '{"model":"m","messages":[{"role":"user","content":"%s"}]}' "$1"; }
pipeline=""
for w in one two three; do
   b=$(tagged $w)
   pipeline+="POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-Offramp-Task: t-$w\r\nContent-Type: application/json\r\nContent-Length: ${#b}\r\n\r\n$b"
done
stop_gateway
start_gateway --upstream "$echo_URL" --max-body 8000000
PORT=${GW##*:}
exec 3<> "/dev/tcp/127.0.0.1/$PORT"
printf "$pipeline" >&3
timeout 10 cat <&3 > "$WORK/pipe.out" &
CAT=$!
for _ in $(seq 100); do [ "$(grep -c 'echo:' "$WORK/pipe.out")" -ge 3 ] && break; sleep 0.1; done
exec 3>&-
kill "$CAT" 2>/dev/null; wait "$CAT" 2>/dev/null
is "$(grep -o 'echo:[a-z]*' "$WORK/pipe.out" | tr '\n' ' ')" "echo:one echo:two echo:three " \
   "three pipelined requests answered in order on one connection"

# ---- a client that floods while its request is served: held up to a bound, then not read ----
start_standin slow2 --port 0 --latency-ms 3000
stop_gateway
start_gateway --upstream "$slow2_URL" --max-body 8000000
PORT=${GW##*:}
b=$(tagged flood)
{ printf "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: ${#b}\r\n\r\n%s" "$b"
  head -c 20000000 /dev/zero | tr '\0' x; } > "$WORK/flood"
io0=$(awk '$1 == "rchar:" { print $2 }' "/proc/$GW_PID/io")
timeout 10 curl -s -o /dev/null "telnet://127.0.0.1:$PORT" < "$WORK/flood" > "$WORK/flood.out" 2>&1 &
FLOOD=$!
sleep 2
io=$(awk '$1 == "rchar:" { print $2 }' "/proc/$GW_PID/io")
check "20 MB sent behind a request being served are not read (the gateway read $(((io - io0) / 1024)) kB meanwhile)" \
   test $((io - io0)) -lt 1000000
kill "$FLOOD" 2>/dev/null; wait "$FLOOD" 2>/dev/null
stop_gateway
start_gateway --upstream "$echo_URL" --max-body 8000000
code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' -d "$REQ" "$GW/v1/chat/completions")
is "$code" 200 "a fresh gateway serves after the flood"

# ---- an answer larger than the socket takes at once, to a slow reader: whole, in order ----
head -c 3000000 /dev/urandom | od -An -tx1 | tr -d ' \n' | head -c 3000000 > "$WORK/big.txt"
jq -n --rawfile c "$WORK/big.txt" '{model: "m", messages: [{role: "user", content: $c}]}' > "$WORK/big.json"
code=$(curl -s -m 20 --limit-rate 3M -o "$WORK/big.out" -w '%{http_code}' -H 'Content-Type: application/json' \
   --data-binary @"$WORK/big.json" "$GW/v1/chat/completions")
is "$code" 200 "a 3 MB answer to a client reading at 3 MB/s: 200"
is "$(jq -j '.choices[0].message.content' "$WORK/big.out" | cmp -s - <(printf 'echo:%s' "$(cat "$WORK/big.txt")") && echo same)" \
   same "its body is whole and byte-identical"
code=$(curl -s -o /dev/null -w '%{http_code}' -d "$REQ" "$GW/v1/chat/completions")
is "$code" 200 "the next request on a fresh connection is served"
finish
