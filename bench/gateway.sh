#!/bin/bash
# bench/gateway.sh - the gateway's bar, all in one run on loopback against fast stand-in
# upstreams (fixed completion), anchors measured in the same run, repetitions interleaved:
#   1. added latency at a fixed 5,000 req/s with capture and shadow on: through the gateway
#      minus direct to the upstream, open loop (tests/gw/loadgen --rate: evenly spaced sends,
#      latency from each request's scheduled time, so no coordinated omission), the two paths
#      alternating second by second in one run, cross-checked with the gateway's own overhead
#      metric, next to an A/A run (direct against direct) that shows the machine's resolution;
#   2. max throughput vs nginx proxy_pass to the same upstream (wrk, closed loop), with the
#      proxy pinned to CPU 1 and wrk + upstream to CPU 0 (each proxy gets the same one core),
#      and unpinned;
#   3. primary latency with shadow on vs off while the candidate takes 200 ms (open loop, the
#      two routes alternating every second in the same run), next to an A/A run (off vs off).
# Needs: nginx wrk curl jq taskset. Usage: bench/gateway.sh [BUILD_DIR]
# Settings (environment): RATE SECS REPS CONNS SRATE WINDOW PARTS, GW_ARGS (extra gateway
# options, e.g. --no-capture), GW_BIN (another offramp binary to
# measure, e.g. an older build, with this build's stand-in and load client); all printed.
set -eu
BUILD=$(cd "${1:-build-norm}" && pwd)
OFFRAMP=${GW_BIN:-$BUILD/offramp}
STANDIN=$BUILD/tests/gw/standin_upstream
LOADGEN=$BUILD/tests/gw/loadgen
RATE=${RATE:-5000}
SECS=${SECS:-8}
REPS=${REPS:-3}
CONNS=${CONNS:-64}
SRATE=${SRATE:-1000}
PARTS=${PARTS:-1 2 3}
GW_ARGS=${GW_ARGS:-}
case " $GW_ARGS " in *" --no-capture "*) CAP="capture off" ;; *) CAP="capture on" ;; esac
want() { case " $PARTS " in *" $1 "*) return 0 ;; esac; return 1; }
for t in nginx wrk curl jq taskset; do
   command -v $t > /dev/null || { echo "bench/gateway.sh: $t missing (apt-get install nginx wrk curl jq util-linux)"; exit 2; }
done
[ -x "$OFFRAMP" ] && [ -x "$STANDIN" ] && [ -x "$LOADGEN" ] ||
   { echo "build first: make && make tests/gw/standin_upstream tests/gw/loadgen (in $BUILD)"; exit 2; }
[ "$(nproc)" -ge 2 ] || { echo "bench/gateway.sh: needs 2 cores to pin the proxy apart from the load"; exit 2; }
W=$(mktemp -d /tmp/offramp-bench-XXXXXX)
PIDS=""
GWPID=""
cleanup() {
   for p in $PIDS $GWPID; do kill "$p" 2> /dev/null || true; done
   [ -f "$W/nginx.pid" ] && kill "$(cat "$W/nginx.pid")" 2> /dev/null || true
   wait 2> /dev/null || true
   rm -rf "$W"
}
trap cleanup EXIT

STANDINS=""
standin() {   # standin NAME ARGS
   local n=$1; shift
   "$STANDIN" "$@" > "$W/$n.port" &
   PIDS="$PIDS $!"
   STANDINS="$STANDINS $!"
   for _ in $(seq 100); do [ -s "$W/$n.port" ] && break; sleep 0.05; done
   eval "${n}=http://127.0.0.1:$(cat "$W/$n.port")"
}
TOKEN=bench-token-0123456789
echo "$TOKEN" > "$W/token"
gateway() {   # gateway CPUS ARGS: sets GW, GWPID (CPUS "0,1" = unpinned)
   local cpus=$1; shift
   : > "$W/gw.out"
   rm -f "$W"/ws.db*
   # shellcheck disable=SC2086
   taskset -c "$cpus" "$OFFRAMP" -w "$W/ws.db" gateway --listen 127.0.0.1:0 --admin-token-file "$W/token" $GW_ARGS "$@" \
      > "$W/gw.out" 2>> "$W/gw.err" &
   GWPID=$!
   for _ in $(seq 100); do grep -q listening "$W/gw.out" && break; sleep 0.05; done
   GW=$(sed -n 's/.*listening on \(http:\/\/[0-9.]*:[0-9]*\).*/\1/p' "$W/gw.out")
}
stop_gateway() { kill -TERM "$GWPID"; wait "$GWPID" 2> /dev/null || true; GWPID=""; }
admin() { curl -s -X "$1" -H "Authorization: Bearer $TOKEN" ${3:+-d "$3"} "$GW$2"; }
metric() { curl -s "$GW/metrics" | awk -v n="$1" '$1 == n || index($1, n "{") == 1 { s += $2; f = 1 } END { if (f) print s }'; }

BODY='{"model":"gpt-4o-mini","messages":[{"role":"system","content":"Classify the support ticket into billing, refund, shipping or other."},{"role":"user","content":"My invoice shows two charges for the same order, please fix."}],"max_tokens":5}'
echo "$BODY" > "$W/body.json"

# 2 s of open-loop load, not measured: opens the keep-alive connections a part then uses.
warm_up() {   # warm_up URL RATE [loadgen args]
   local url=$1 rate=$2; shift 2
   "$LOADGEN" --url "$url" --rate "$rate" --seconds 2 -c "$CONNS" --body-file "$W/body.json" "$@" > /dev/null || true
}
HZ=$(getconf CLK_TCK)
ticks() { for p in "$@"; do awk '{ print $14 + $15 }' "/proc/$p/stat"; done | awk '{ t += $1 } END { print t + 0 }'; }
us_per() { awk -v a="$1" -v b="$2" -v n="$3" -v hz="$HZ" 'BEGIN { printf "%.0f", (b - a) * 1e6 / hz / n }'; }   # TICKS0 TICKS1 N
# awk: the median of x[1..n] (sorts x)
MED='function med(x, n,   i, j, t) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (x[j] < x[i]) { t = x[i]; x[i] = x[j]; x[j] = t }
                                     return x[int((n + 1) / 2)] }'

echo "# offramp gateway bench, $(date -u +%FT%TZ), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# settings: RATE=$RATE SECS=$SECS REPS=$REPS CONNS=$CONNS SRATE=$SRATE WINDOW=${WINDOW:-1} PARTS='$PARTS'; gateway $OFFRAMP ${GW_ARGS:-defaults (capture on)}"
standin up --content billing
standin cand --content billing
standin slowcand --content billing --latency-ms 200

# p50 / p99 / p99.9 of one side's latencies pooled over repetitions: "p50 p99 p999 n"
pooled() {   # pooled FILE SIDE (a or b)
   awk -v side="$2" '$1 == side { print $2 }' "$1" | sort -g |
      awk '{ x[NR] = $1 } END { printf "%.3f %.3f %.3f %d\n", x[int(0.5 * NR + 0.999)], x[int(0.99 * NR + 0.999)], x[int(0.999 * NR + 0.999)], NR }'
}
# One open-loop run of 2 x SECS s whose windows alternate between two paths (URLs or tasks),
# WINDOW s each, so both meet the same drift and the same neighbours on the cores; the
# latencies go to FILE (appended to FILE.all), the summary to $W/alt.json.
alternate() {   # alternate FILE RATE [loadgen args: --url A --url-b B | --task A --task-b B ...]
   local file=$1 rate=$2; shift 2
   "$LOADGEN" --rate "$rate" --seconds $((2 * SECS)) -c "$CONNS" --body-file "$W/body.json" \
      --window "$WINDOW" --latencies "$file" "$@" > "$W/alt.json" || true
   cat "$file" >> "$file.all"
   jq -r '"\(.a.p50_ms) \(.a.p99_ms) \(.a.n) \(.b.p50_ms) \(.b.p99_ms) \(.b.n) \(.errors)"' "$W/alt.json"
}
WINDOW=${WINDOW:-1}

if want 1; then
# ---- 1. added latency at a fixed rate, capture + shadow on ----
# Direct and through the gateway alternate every WINDOW s within one run (loadgen --url-b),
# each on its own CONNS connections. After each such run an A/A run alternates two identical
# direct paths: how far apart two p99s of the same path land here is the resolution any
# "added p99" has on this machine. Unpinned: at this rate the gateway needs more than one
# core's worth with the writer, so every process may run anywhere, as on a real 2-core host.
echo "1. open loop $RATE req/s, $CONNS keep-alive connections per path, $REPS repetitions of $((2 * SECS)) s runs in which"
echo "   direct and gateway alternate every $WINDOW s, each followed by an A/A run (direct and direct, same way);"
echo "   gateway: $CAP, route in shadow mode (candidate: a second fast stand-in); nothing pinned"
gateway 0,1 --upstream "$up/v1"
admin PUT /admin/routes/bench "{\"mode\":\"shadow\",\"candidate\":{\"url\":\"$cand/v1\"}}" > /dev/null
warm_up "$up/v1/chat/completions" 1000
warm_up "$GW/v1/chat/completions" 1000 --task bench
: > "$W/p1.txt"
for rep in $(seq "$REPS"); do
   t0=$(ticks "$GWPID")
   read -r d50 d99 dn g50 g99 gn e < <(alternate "$W/p1" "$RATE" --task bench \
      --url "$up/v1/chat/completions" --url-b "$GW/v1/chat/completions")
   t1=$(ticks "$GWPID")
   read -r x50 x99 xn y50 y99 yn ae < <(alternate "$W/p1aa" "$RATE" \
      --url "$up/v1/chat/completions" --url-b "$up/v1/chat/completions")
   echo "$d99 $g99 $x99 $y99" >> "$W/p1.txt"
   printf "   rep %d: direct  p50 %.3f  p99 %.3f ms (n=%d) | gateway p50 %.3f  p99 %.3f ms (n=%d) | errors %d | added p99 %.3f ms, gateway CPU %s us/request\n" \
      "$rep" "$d50" "$d99" "$dn" "$g50" "$g99" "$gn" "$e" "$(awk -v a="$g99" -v b="$d99" 'BEGIN { print a - b }')" "$(us_per "$t0" "$t1" "$gn")"
   printf "          A/A:    direct p99 %.3f ms (n=%d) | direct p99 %.3f ms (n=%d) | errors %d | difference %.3f ms\n" \
      "$x99" "$xn" "$y99" "$yn" "$ae" "$(awk -v a="$y99" -v b="$x99" 'BEGIN { print a - b }')"
done
admin GET /admin/stats > "$W/stats.json"
committed=$(metric offramp_capture_committed_total)
dropped=$(metric offramp_capture_dropped_total)
stop_gateway
read -r pd50 pd99 pd999 pdn < <(pooled "$W/p1.all" a)
read -r pg50 pg99 pg999 pgn < <(pooled "$W/p1.all" b)
read -r px50 px99 px999 pxn < <(pooled "$W/p1aa.all" a)
read -r py50 py99 py999 pyn < <(pooled "$W/p1aa.all" b)
awk "$MED"'{ a[NR] = $2 - $1; d = $4 - $3; aa[NR] = d < 0 ? -d : d; if (aa[NR] > m) m = aa[NR] }
     END { printf "   median of %d repetitions: added p99 %.3f ms; A/A |difference| median %.3f ms, largest %.3f ms\n", NR, med(a, NR), med(aa, NR), m }' "$W/p1.txt"
printf "   pooled: direct p50 %.3f p99 %.3f ms (n=%d), gateway p50 %.3f p99 %.3f ms (n=%d): added p50 %.3f ms, added p99 %.3f ms (bar: <= 0.5 ms)\n" \
   "$pd50" "$pd99" "$pdn" "$pg50" "$pg99" "$pgn" "$(awk -v a="$pg50" -v b="$pd50" 'BEGIN { print a - b }')" "$(awk -v a="$pg99" -v b="$pd99" 'BEGIN { print a - b }')"
printf "   pooled A/A: direct p99 %.3f ms (n=%d) vs direct p99 %.3f ms (n=%d): difference %.3f ms\n" \
   "$px99" "$pxn" "$py99" "$pyn" "$(awk -v a="$py99" -v b="$px99" 'BEGIN { print a - b }')"
echo "   gateway's own overhead metric (time in the gateway minus the serving upstream call): $(jq -c '.overhead' "$W/stats.json")"
echo "   capture: $committed records committed, $dropped dropped"

fi

if want 2; then
# ---- 2. max throughput vs nginx proxy_pass ----
cat > "$W/post.lua" <<LUA
wrk.method = "POST"
wrk.body = io.open("$W/body.json"):read("a")
wrk.headers["Content-Type"] = "application/json"
LUA
NGPORT=$((20000 + RANDOM % 20000))
nginx_start() {   # nginx_start WORKERS CPUS
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
   taskset -c "$2" nginx -c "$W/nginx.conf" -p "$W" 2> /dev/null
   sleep 0.3
}
nginx_stop() { kill "$(cat "$W/nginx.pid")"; sleep 0.3; }
wrk_rps() {   # wrk_rps CPUS URL
   taskset -c "$1" wrk -t2 -c64 -d"$SECS"s -s "$W/post.lua" "$2" | awk '/Requests\/sec/ { print $2 }'
}
# busy CPU share of each core over a command, from /proc/stat: "cpu0% cpu1%"
cpu_busy() {
   local a b
   a=$(awk '/^cpu[01] / { print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8 }' /proc/stat | tr '\n' ' ')
   "$@" > "$W/cmd.out"
   b=$(awk '/^cpu[01] / { print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8 }' /proc/stat | tr '\n' ' ')
   echo "$a $b" | awk '{ printf "%.0f%% %.0f%%", 100 * ($5 - $1) / ($6 - $2), 100 * ($7 - $3) / ($8 - $4) }'
}
tp_run() {   # tp_run LOAD_CPUS URL PROXY_PIDS...: one wrk run, prints "rps cpu0 cpu1 proxy_us_per_request"
   local busy t0 t1 lcpus=$1 url=$2
   shift 2
   t0=$(ticks "$@")
   busy=$(cpu_busy wrk_rps "$lcpus" "$url")
   t1=$(ticks "$@")
   echo "$(cat "$W/cmd.out") $busy $(us_per "$t0" "$t1" "$(awk -v r="$(cat "$W/cmd.out")" -v s="$SECS" 'BEGIN { print r * s }')")"
}
echo "2. max throughput, wrk -t2 -c64 -d${SECS}s POST, $REPS interleaved repetitions; gateway passthrough, $CAP"
for pin in pinned unpinned; do
   if [ $pin = pinned ]; then pc=1 lc=0; else pc=0,1 lc=0,1; fi
   for p in $STANDINS; do taskset -p -c "$lc" "$p" > /dev/null; done
   echo "   $pin: proxy on CPU $pc, wrk and the stand-in upstream on CPU $lc (busy share of CPU 0 / CPU 1 during each run)"
   : > "$W/tp.txt"
   for rep in $(seq "$REPS"); do
      line=""
      for w in 1 2; do
         nginx_start $w $pc
         wrk_rps "$lc" "http://127.0.0.1:$NGPORT/v1/chat/completions" > /dev/null   # warm up the keepalive pool
         # shellcheck disable=SC2046
         read -r r c0 c1 us < <(tp_run $lc "http://127.0.0.1:$NGPORT/v1/chat/completions" $(pgrep -P "$(cat "$W/nginx.pid")"))
         nginx_stop
         line="$line $r"
         printf "   rep %d: nginx proxy_pass (worker_processes %d): %9.0f req/s  (CPU busy %s / %s; proxy CPU %s us/request)\n" \
            "$rep" $w "$r" "$c0" "$c1" "$us"
      done
      gateway $pc --upstream "$up/v1"
      wrk_rps "$lc" "$GW/v1/chat/completions" > /dev/null
      read -r r c0 c1 us < <(tp_run $lc "$GW/v1/chat/completions" "$GWPID")
      drops=$(metric offramp_capture_dropped_total)
      stop_gateway
      printf "   rep %d: gateway passthrough, %s: %9.0f req/s  (CPU busy %s / %s; proxy CPU %s us/request; %s records dropped)\n" \
         "$rep" "$CAP" "$r" "$c0" "$c1" "$us" "$drops"
      g=$r
      # A/A: nginx with 1 worker once more after the gateway: the ratio of its two runs is how
      # finely this machine tells two throughputs apart.
      nginx_start 1 $pc
      wrk_rps "$lc" "http://127.0.0.1:$NGPORT/v1/chat/completions" > /dev/null
      # shellcheck disable=SC2046
      read -r r c0 c1 us < <(tp_run $lc "http://127.0.0.1:$NGPORT/v1/chat/completions" $(pgrep -P "$(cat "$W/nginx.pid")"))
      nginx_stop
      printf "   rep %d: A/A nginx proxy_pass (worker_processes 1) again: %9.0f req/s  (CPU busy %s / %s; proxy CPU %s us/request)\n" \
         "$rep" "$r" "$c0" "$c1" "$us"
      echo "$line $g $r" >> "$W/tp.txt"
   done
   awk -v pin=$pin "$MED"'{ n1[NR] = $1; n2[NR] = $2; g[NR] = $3; r1[NR] = $3 / $1; r2[NR] = $3 / $2; aa[NR] = $4 / $1
                            lo = (NR == 1 || aa[NR] < lo) ? aa[NR] : lo; hi = (NR == 1 || aa[NR] > hi) ? aa[NR] : hi }
        END { printf "   %s, median of %d: nginx 1 worker %.0f, 2 workers %.0f, gateway %.0f req/s; ratio vs 1 worker %.2f, vs 2 workers %.2f (bar: >= 0.8); A/A nginx/nginx %.2f (range %.2f-%.2f)\n",
              pin, NR, med(n1, NR), med(n2, NR), med(g, NR), med(r1, NR), med(r2, NR), med(aa, NR), lo, hi }' "$W/tp.txt"
done

for p in $STANDINS; do taskset -p -c 0,1 "$p" > /dev/null; done

fi

if want 3; then
# ---- 3. primary latency with a slow shadow candidate ----
# Both routes in one open-loop run, alternating every WINDOW seconds (loadgen --task-b), so
# shadow on and off meet the same drift and the same neighbours on the cores; p99 over the
# pooled windows of each. An A/A run after each alternates two passthrough routes the same
# way: the spread of its ratio is how finely this machine can tell two p99s apart.
echo "3. open loop $SRATE req/s, $CONNS connections, candidate answering in 200 ms, $CAP, nothing pinned;"
echo "   shadow off (task off) and on (task on) alternate every $WINDOW s within each $((2 * SECS)) s run,"
echo "   each followed by an A/A run (task off and task off2, both passthrough)"
gateway 0,1 --upstream "$up/v1"
admin PUT /admin/routes/off '{"mode":"passthrough"}' > /dev/null
admin PUT /admin/routes/off2 '{"mode":"passthrough"}' > /dev/null
admin PUT /admin/routes/on "{\"mode\":\"shadow\",\"candidate\":{\"url\":\"$slowcand/v1\"}}" > /dev/null
warm_up "$GW/v1/chat/completions" "$SRATE" --task off
warm_up "$GW/v1/chat/completions" "$SRATE" --task on   # opens the candidate's connections
: > "$W/s3.txt"
for rep in $(seq "$REPS"); do
   read -r o50 o99 on s50 s99 sn e < <(alternate "$W/s3" "$SRATE" --url "$GW/v1/chat/completions" --task off --task-b on)
   read -r x50 x99 xn y50 y99 yn ae < <(alternate "$W/s3aa" "$SRATE" --url "$GW/v1/chat/completions" --task off --task-b off2)
   echo "$o99 $s99 $x99 $y99" >> "$W/s3.txt"
   printf "   rep %d: shadow off p50 %.3f  p99 %.3f ms (n=%d) | shadow on p50 %.3f  p99 %.3f ms (n=%d) | errors %d | ratio p99 %.3f\n" \
      "$rep" "$o50" "$o99" "$on" "$s50" "$s99" "$sn" "$e" "$(awk -v a="$s99" -v b="$o99" 'BEGIN { print a / b }')"
   printf "          A/A:  off p99 %.3f ms (n=%d) | off2 p99 %.3f ms (n=%d) | errors %d | ratio p99 %.3f\n" \
      "$x99" "$xn" "$y99" "$yn" "$ae" "$(awk -v a="$y99" -v b="$x99" 'BEGIN { print a / b }')"
done
read -r po50 po99 po999 pon < <(pooled "$W/s3.all" a)
read -r ps50 ps99 ps999 psn < <(pooled "$W/s3.all" b)
read -r px50 px99 px999 pxn < <(pooled "$W/s3aa.all" a)
read -r py50 py99 py999 pyn < <(pooled "$W/s3aa.all" b)
admin GET "/admin/stats?task=on" > "$W/s3.json"
stop_gateway
echo "   candidate p50 $(jq '.tasks[0].windows.all.arms.candidate.p50_ms * 10 | round / 10' "$W/s3.json") ms over $(jq '.tasks[0].windows.all.arms.candidate.requests' "$W/s3.json") calls"
awk "$MED"'{ r[NR] = $2 / $1; q[NR] = $4 / $3; lo = (NR == 1 || q[NR] < lo) ? q[NR] : lo; hi = (NR == 1 || q[NR] > hi) ? q[NR] : hi }
     END { printf "   median of %d repetitions: ratio p99 on/off %.3f; A/A ratio median %.3f, range %.3f-%.3f\n", NR, med(r, NR), med(q, NR), lo, hi }' "$W/s3.txt"
printf "   pooled: shadow off p50 %.3f p99 %.3f p99.9 %.3f ms (n=%d); shadow on p50 %.3f p99 %.3f p99.9 %.3f ms (n=%d)\n" \
   "$po50" "$po99" "$po999" "$pon" "$ps50" "$ps99" "$ps999" "$psn"
echo "   pooled ratio p99 on/off $(awk -v a="$ps99" -v b="$po99" 'BEGIN { printf "%.3f", a / b }') (bar: <= 1.05); pooled A/A ratio off2/off $(awk -v a="$py99" -v b="$px99" 'BEGIN { printf "%.3f", a / b }') (p99 $px99 vs $py99 ms, n=$pxn, $pyn)"
fi
