# gwlib.sh - shared by the gateway tests: TAP output, stand-in upstreams and a gateway on free
# ports, JSON field extraction, cleanup. Needs curl and sqlite3 (the CLIs).
set -u
for tool in curl sqlite3 jq; do
   if ! command -v $tool >/dev/null 2>&1; then
      echo "1..0 # SKIP $tool not installed (apt-get install $tool)"
      exit 0
   fi
done
: "${OFFRAMP:?run through make check}"
: "${GW_HELPERS_DIR:?run through make check}"
STANDIN=$GW_HELPERS_DIR/standin_upstream
LOADGEN=$GW_HELPERS_DIR/loadgen
WORK=$(mktemp -d "${TMPDIR:-/tmp}/offramp-gw-XXXXXX")
WS=$WORK/ws.db
TOKEN=tok-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
echo "$TOKEN" > "$WORK/token"
export OFFRAMP_ACTOR=tester
T=0
FAILED=0
PIDS=""

cleanup() {
   for p in $PIDS; do kill "$p" 2>/dev/null; done
   wait 2>/dev/null
   rm -rf "$WORK"
}
trap cleanup EXIT

tap() {   # tap STATUS DESCRIPTION
   T=$((T + 1))
   if [ "$1" -eq 0 ]; then echo "ok $T - $2"; else echo "not ok $T - $2"; FAILED=1; fi
}
check() {   # check DESCRIPTION COMMAND...
   local d=$1; shift
   if "$@"; then tap 0 "$d"; else tap 1 "$d"; fi
}
is() {   # is GOT WANT DESCRIPTION
   if [ "$1" = "$2" ]; then tap 0 "$3"; else tap 1 "$3 (got '$1', want '$2')"; fi
}
finish() {
   # Stop the gateway cleanly so the sanitizer build's leak check runs, then read its report.
   [ -n "${GW_PID:-}" ] && kill -TERM "$GW_PID" 2>/dev/null && wait "$GW_PID" 2>/dev/null
   if grep -q "Sanitizer\|runtime error" "$WORK/gw.err" 2>/dev/null; then
      sed 's/^/# /' "$WORK/gw.err" | head -40
      tap 1 "gateway ran clean under the sanitizers"
   fi
   echo "1..$T"
   exit $FAILED
}

# start_standin NAME ARGS...: sets NAME_URL (…/v1) and NAME_PID.
start_standin() {
   local name=$1; shift
   "$STANDIN" "$@" > "$WORK/$name.port" &
   local pid=$!
   PIDS="$PIDS $pid"
   for _ in $(seq 100); do [ -s "$WORK/$name.port" ] && break; sleep 0.05; done
   eval "${name}_URL=http://127.0.0.1:$(head -1 "$WORK/$name.port")/v1"
   eval "${name}_PID=$pid"
}

# start_gateway ARGS...: sets GW (base URL) and GW_PID; stderr in $WORK/gw.err.
start_gateway() {
   : > "$WORK/gw.out"
   "$OFFRAMP" -w "$WS" gateway --listen 127.0.0.1:0 --admin-token-file "$WORK/token" "$@" \
      > "$WORK/gw.out" 2>> "$WORK/gw.err" &
   GW_PID=$!
   PIDS="$PIDS $GW_PID"
   for _ in $(seq 200); do grep -q listening "$WORK/gw.out" 2>/dev/null && break; sleep 0.05; done
   GW=$(sed -n 's/.*listening on \(http:\/\/[0-9.]*:[0-9]*\).*/\1/p' "$WORK/gw.out")
   if [ -z "$GW" ]; then
      echo "# gateway did not start:"; sed 's/^/# /' "$WORK/gw.err"
      echo "not ok 1 - gateway starts"; echo "1..1"; exit 1
   fi
}

stop_gateway() {
   kill -TERM "$GW_PID" 2>/dev/null
   wait "$GW_PID" 2>/dev/null
}

admin() {   # admin METHOD PATH [BODY]
   curl -s -X "$1" -H "Authorization: Bearer $TOKEN" ${3:+-d "$3"} "$GW$2"
}

chat() {   # chat BODY [CURL ARGS...]
   local body=$1; shift
   curl -s "$@" -d "$body" "$GW/v1/chat/completions"
}

metric() {   # metric NAME: its sample, or the sum of its labelled samples (NAME{...} for one)
   curl -s "$GW/metrics" | awk -v n="$1" '$1 == n || index($1, n "{") == 1 { s += $2; f = 1 } END { if (f) print s }'
}

# wait_committed N: until the capture thread has committed at least N records (30 s max).
wait_committed() {
   for _ in $(seq 300); do
      [ "$(metric offramp_capture_committed_total)" -ge "$1" ] 2>/dev/null && return 0
      sleep 0.1
   done
   return 1
}

# wait_captured: until no exchange is in flight and the writer has stored (or counted as
# dropped) all it was given, late shadow results included.
wait_captured() {
   for _ in $(seq 300); do
      curl -s "$GW/metrics" > "$WORK/metrics.txt"
      awk '$1 == "offramp_inflight" { i = $2 } $1 == "offramp_capture_queued_total" { q = $2 }
           $1 == "offramp_capture_queue_depth" { w = $2 }
           $1 == "offramp_capture_committed_total" { c = $2 } index($1, "offramp_capture_dropped_total") == 1 { d += $2 }
           END { exit !(i == 0 && w == 0 && q == c + d) }' "$WORK/metrics.txt" && return 0
      sleep 0.1
   done
   return 1
}

# sql: with the engine's own 5 s busy timeout: a write here waits, as the engine's would, while
# the gateway's capture writer holds the lock (its idle TRUNCATE checkpoint, after a large write,
# takes a while in the ASan build), instead of failing at once with "database is locked".
sql() { sqlite3 -cmd ".timeout 5000" "$WS" "$@"; }
