#!/bin/bash
# bench/gateway.sh - the gateway's bar, all in one run on loopback against a fast stand-in
# upstream (fixed completion):
#   1. added latency at a fixed 5,000 req/s with capture and shadow on: p99 through the gateway
#      minus p99 direct to the upstream (h2load --h1 --rps), cross-checked with the gateway's
#      own overhead metric;
#   2. max throughput vs nginx proxy_pass to the same upstream (wrk);
#   3. primary p99 with shadow on vs off while the candidate takes 200 ms.
# Needs: nginx wrk nghttp2-client (h2load), curl, jq. Usage: bench/gateway.sh [BUILD_DIR]
set -eu
BUILD=$(cd "${1:-build-norm}" && pwd)
OFFRAMP=$BUILD/offramp
STANDIN=$BUILD/tests/gw/standin_upstream
RATE=${RATE:-5000}
SECS=${SECS:-10}
for t in nginx wrk h2load curl jq; do
   command -v $t > /dev/null || { echo "bench/gateway.sh: $t missing (apt-get install nginx wrk nghttp2-client curl jq)"; exit 2; }
done
[ -x "$OFFRAMP" ] && [ -x "$STANDIN" ] || { echo "build first: make && make $BUILD/tests/gw/standin_upstream"; exit 2; }
W=$(mktemp -d /tmp/offramp-bench-XXXXXX)
PIDS=""
cleanup() {
   for p in $PIDS; do kill "$p" 2> /dev/null || true; done
   [ -f "$W/nginx.pid" ] && kill "$(cat "$W/nginx.pid")" 2> /dev/null || true
   wait 2> /dev/null || true
   rm -rf "$W"
}
trap cleanup EXIT

standin() {   # standin NAME ARGS
   local n=$1; shift
   "$STANDIN" "$@" > "$W/$n.port" &
   PIDS="$PIDS $!"
   for _ in $(seq 100); do [ -s "$W/$n.port" ] && break; sleep 0.05; done
   eval "${n}=http://127.0.0.1:$(cat "$W/$n.port")"
}
TOKEN=bench-token-0123456789
echo "$TOKEN" > "$W/token"
gateway() {   # gateway ARGS: sets GW, GWPID
   : > "$W/gw.out"
   "$OFFRAMP" -w "$W/ws.db" gateway --listen 127.0.0.1:0 --admin-token-file "$W/token" "$@" > "$W/gw.out" 2>> "$W/gw.err" &
   GWPID=$!
   for _ in $(seq 100); do grep -q listening "$W/gw.out" && break; sleep 0.05; done
   GW=$(sed -n 's/.*listening on \(http:\/\/[0-9.]*:[0-9]*\).*/\1/p' "$W/gw.out")
}
stop_gateway() { kill -TERM "$GWPID"; wait "$GWPID" 2> /dev/null || true; }
admin() { curl -s -X "$1" -H "Authorization: Bearer $TOKEN" ${3:+-d "$3"} "$GW$2"; }

BODY='{"model":"gpt-4o-mini","messages":[{"role":"system","content":"Classify the support ticket into billing, refund, shipping or other."},{"role":"user","content":"My invoice shows two charges for the same order, please fix."}],"max_tokens":5}'
echo "$BODY" > "$W/body.json"

# h2load at a fixed rate; prints "p50_ms p99_ms ok_count" from its per-request log.
fixed_rate() {   # fixed_rate URL RATE SECS [extra h2load args]
   local url=$1 rate=$2 secs=$3; shift 3
   local clients=${CLIENTS:-50}
   rm -f "$W/h2.log"
   h2load --h1 -c $clients --rps $((rate / clients)) -D "$secs" -d "$W/body.json" \
      -H 'Content-Type: application/json' "$@" --log-file "$W/h2.log" "$url" > "$W/h2.out" 2>&1 || true
   awk '$2 == 200 { print $3 / 1000 }' "$W/h2.log" | sort -n > "$W/lat.txt"
   local n
   n=$(wc -l < "$W/lat.txt")
   [ "$n" -gt 0 ] || { echo "0 0 0"; return; }
   echo "$(sed -n "$(((n + 1) / 2))p" "$W/lat.txt") $(sed -n "$(((n * 99 + 99) / 100))p" "$W/lat.txt") $n"
}

echo "# offramp gateway bench, $(date -u +%FT%TZ), $(nproc) cores, rate $RATE req/s for $SECS s"
standin up --content billing
standin cand --content billing
standin slowcand --content billing --latency-ms 200

# ---- 1. added latency at a fixed rate, capture + shadow on ----
gateway --upstream "$up/v1"
admin PUT /admin/routes/bench "{\"mode\":\"shadow\",\"candidate\":{\"url\":\"$cand/v1\"}}" > /dev/null
fixed_rate "$up/v1/chat/completions" 1000 2 > /dev/null   # warm up
fixed_rate "$GW/v1/chat/completions" 1000 2 -H 'X-Offramp-Task: bench' > /dev/null
read -r d50 d99 dn < <(fixed_rate "$up/v1/chat/completions" "$RATE" "$SECS")
read -r g50 g99 gn < <(fixed_rate "$GW/v1/chat/completions" "$RATE" "$SECS" -H 'X-Offramp-Task: bench')
admin GET /admin/stats > "$W/stats.json"
committed=$(curl -s "$GW/metrics" | awk '$1 == "offramp_capture_committed_total" { print $2 }')
dropped=$(curl -s "$GW/metrics" | awk '$1 == "offramp_capture_dropped_total" { print $2 }')
stop_gateway
echo "1. fixed rate $RATE req/s, ${SECS} s, capture on, shadow on (candidate fast):"
echo "   direct:  p50 ${d50} ms  p99 ${d99} ms  (n=$dn)"
echo "   gateway: p50 ${g50} ms  p99 ${g99} ms  (n=$gn)"
awk -v a="$g99" -v b="$d99" -v c="$g50" -v d="$d50" 'BEGIN { printf "   added latency: p50 %.3f ms, p99 %.3f ms (bar: p99 <= 0.5 ms)\n", c - d, a - b }'
echo "   gateway's own overhead metric: $(jq -c '.overhead' "$W/stats.json")"
echo "   capture: $committed records committed, $dropped dropped"

# ---- 2. max throughput vs nginx proxy_pass ----
cat > "$W/post.lua" <<LUA
wrk.method = "POST"
wrk.body = io.open("$W/body.json"):read("a")
wrk.headers["Content-Type"] = "application/json"
LUA
NGPORT=$((20000 + RANDOM % 20000))
nginx_conf() {   # nginx_conf WORKERS
   cat > "$W/nginx.conf" <<NGX
worker_processes $1;
pid $W/nginx.pid;
error_log $W/nginx.err warn;
events { worker_connections 4096; }
http {
   access_log off;
   upstream up { server 127.0.0.1:$(cat "$W/up.port"); keepalive 128; }
   server {
      listen 127.0.0.1:$NGPORT;
      client_body_temp_path $W; proxy_temp_path $W; fastcgi_temp_path $W; uwsgi_temp_path $W; scgi_temp_path $W;
      location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; }
   }
}
NGX
}
wrk_rps() {   # wrk_rps URL
   wrk -t2 -c64 -d"$SECS"s -s "$W/post.lua" "$1" | awk '/Requests\/sec/ { print $2 }'
}
echo "2. max throughput (wrk -t2 -c64 -d${SECS}s, POST):"
for workers in 1 auto; do
   nginx_conf $workers
   nginx -c "$W/nginx.conf" -p "$W" 2> /dev/null
   sleep 0.3
   wrk_rps "http://127.0.0.1:$NGPORT/v1/chat/completions" > /dev/null   # warm up keepalive pool
   ng=$(wrk_rps "http://127.0.0.1:$NGPORT/v1/chat/completions")
   kill "$(cat "$W/nginx.pid")"; sleep 0.3
   echo "   nginx proxy_pass (worker_processes $workers): $ng req/s"
   eval "ng_$workers=$ng"
done
gateway --upstream "$up/v1"
gp=$(wrk_rps "$GW/v1/chat/completions")
stop_gateway
gateway --upstream "$up/v1" --no-capture
gn=$(wrk_rps "$GW/v1/chat/completions")
stop_gateway
echo "   gateway passthrough, capture on:  $gp req/s"
echo "   gateway passthrough, capture off: $gn req/s"
awk -v g="$gp" -v a="$ng_1" -v b="$ng_auto" 'BEGIN { printf "   ratio (capture on) vs nginx 1 worker: %.2f, vs nginx auto workers: %.2f (bar: >= 0.8)\n", g / a, g / b }'

# ---- 3. primary p99 with a slow shadow candidate ----
SRATE=${SRATE:-1000}
gateway --upstream "$up/v1"
admin PUT /admin/routes/bench '{"mode":"passthrough"}' > /dev/null
fixed_rate "$GW/v1/chat/completions" "$SRATE" 2 -H 'X-Offramp-Task: bench' > /dev/null
read -r o50 o99 on < <(fixed_rate "$GW/v1/chat/completions" "$SRATE" "$SECS" -H 'X-Offramp-Task: bench')
admin PUT /admin/routes/bench "{\"mode\":\"shadow\",\"candidate\":{\"url\":\"$slowcand/v1\"}}" > /dev/null
read -r s50 s99 sn < <(fixed_rate "$GW/v1/chat/completions" "$SRATE" "$SECS" -H 'X-Offramp-Task: bench')
admin GET "/admin/stats?task=bench" > "$W/s3.json"
stop_gateway
echo "3. primary latency at $SRATE req/s, candidate answering in 200 ms:"
echo "   shadow off: p50 ${o50} ms  p99 ${o99} ms  (n=$on)"
echo "   shadow on:  p50 ${s50} ms  p99 ${s99} ms  (n=$sn), candidate p50 $(jq '.tasks[0].windows["1m"].arms.candidate.p50_ms' "$W/s3.json") ms"
awk -v a="$s99" -v b="$o99" 'BEGIN { printf "   ratio p99 on/off: %.3f (bar: <= 1.05)\n", a / b }'
