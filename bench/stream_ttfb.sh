#!/bin/bash
# bench/stream_ttfb.sh - what holding a candidate's stream costs the client: time to first byte
# of streamed answers through the gateway, the same stand-in upstream behind four routes, the
# requests interleaved (one of each route in turn) so machine noise falls on all alike:
#   passthrough     the stand-in as the primary: bytes go out as they come (the anchor);
#   cutover         the stand-in as the candidate, no confidence bar: held until the first
#                   event is a chat.completion.chunk;
#   cutover text    compare text, min_confidence 0.5: held until the first content event;
#   cutover label   compare label, min_confidence 0.5: held to the end of the answer.
# The stand-in streams CHUNKS chunks DELAY ms apart with logprobs on (its tokens ride on the
# first chunk); times are curl's time_starttransfer and time_total, in ms.
# Usage: bench/stream_ttfb.sh [BUILD_DIR]; settings (environment): N CHUNKS DELAY.
set -eu
BUILD=$(cd "${1:-build}" && pwd)
OFFRAMP=${GW_BIN:-$BUILD/offramp}
STANDIN=$BUILD/tests/gw/standin_upstream
N=${N:-200}
CHUNKS=${CHUNKS:-8}
DELAY=${DELAY:-20}
for t in curl jq; do
   command -v $t > /dev/null || { echo "bench/stream_ttfb.sh: $t missing (apt-get install curl jq)"; exit 2; }
done
[ -x "$OFFRAMP" ] && [ -x "$STANDIN" ] || { echo "build first: make && make tests/gw/standin_upstream (in $BUILD)"; exit 2; }
W=$(mktemp -d /tmp/offramp-ttfb-XXXXXX)
PIDS=""
trap 'for p in $PIDS; do kill $p 2>/dev/null; done; wait 2>/dev/null; rm -rf "$W"' EXIT

"$STANDIN" --content "the order shipped on monday" --logprob -0.01 --chunks "$CHUNKS" --chunk-delay-ms "$DELAY" \
   > "$W/up.port" &
PIDS="$PIDS $!"
for _ in $(seq 100); do [ -s "$W/up.port" ] && break; sleep 0.05; done
UP=http://127.0.0.1:$(cat "$W/up.port")/v1
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$W/token"
"$OFFRAMP" -w "$W/ws.db" gateway --listen 127.0.0.1:0 --admin-token-file "$W/token" --upstream "$UP" --no-capture \
   > "$W/gw.out" 2> "$W/gw.err" &
PIDS="$PIDS $!"
for _ in $(seq 200); do grep -q listening "$W/gw.out" 2>/dev/null && break; sleep 0.05; done
GW=$(sed -n 's/.*listening on \(http:\/\/[0-9.]*:[0-9]*\).*/\1/p' "$W/gw.out")
[ -n "$GW" ] || { echo "gateway did not start:"; cat "$W/gw.err"; exit 1; }
put() {
   curl -sf -X PUT -H "Authorization: Bearer $(cat "$W/token")" -d "$2" "$GW/admin/routes/$1" > /dev/null
}
put cut "{\"mode\":\"cutover\",\"candidate\":{\"url\":\"$UP\"}}"
put text "{\"mode\":\"cutover\",\"candidate\":{\"url\":\"$UP\"},\"compare\":\"text\",\"fallback\":{\"min_confidence\":0.5}}"
put label "{\"mode\":\"cutover\",\"candidate\":{\"url\":\"$UP\"},\"compare\":\"label\",\"fallback\":{\"min_confidence\":0.5}}"

BODY='{"model":"m","stream":true,"messages":[{"role":"user","content":"where is my order?"}]}'
ROUTES="passthrough cut text label"
for r in $ROUTES; do : > "$W/$r"; done
for i in $(seq $((N + 10))); do
   for r in $ROUTES; do
      task=$r
      [ $r = passthrough ] && task=unrouted
      out=$(curl -s -N -o /dev/null -H "X-Offramp-Task: $task" -w '%{time_starttransfer} %{time_total} %header{x-offramp-arm}' \
         -d "$BODY" "$GW/v1/chat/completions")
      # The first 10 rounds warm connections up.
      [ "$i" -gt 10 ] && echo "$out" >> "$W/$r"
   done
done
pct() { sort -n | awk -v p="$1" '{ v[NR] = $1 } END { i = int(NR * p / 100 + 0.5); if (i < 1) i = 1; print v[i] }'; }
echo "# stream TTFB bench, $(date -u +%FT%TZ), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# settings: N=$N CHUNKS=$CHUNKS DELAY=$DELAY ms (the stand-in's whole stream takes about $((CHUNKS * DELAY)) ms)"
printf '%-14s %-10s %9s %9s %9s %12s\n' route arm ttfb_p50 ttfb_p90 total_p50 "added p50"
base=$(awk '{ print $1 * 1000 }' "$W/passthrough" | pct 50)
for r in $ROUTES; do
   arm=$(awk '{ print $3 }' "$W/$r" | sort | uniq -c | sort -rn | awk 'NR == 1 { print $2 }')
   t50=$(awk '{ print $1 * 1000 }' "$W/$r" | pct 50)
   t90=$(awk '{ print $1 * 1000 }' "$W/$r" | pct 90)
   tot=$(awk '{ print $2 * 1000 }' "$W/$r" | pct 50)
   printf '%-14s %-10s %9.1f %9.1f %9.1f %12.1f\n' "$r" "$arm" "$t50" "$t90" "$tot" "$(awk -v a="$t50" -v b="$base" 'BEGIN { print a - b }')"
done
