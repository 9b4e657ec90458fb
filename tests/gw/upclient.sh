#!/bin/sh
# upclient.sh - the gateway's own HTTP/1.1 upstream client (src/gateway/upconn.c) against an upstream
# that misbehaves at the HTTP layer (tests/gw/rawupstream): good framings in every form
# (Content-Length, chunked with extensions and trailers, bare LF, 100 Continue, to the close),
# garbage, huge headers, chunk sizes that overflow, a trickle that must hit the deadline, a
# close mid-head, mid-body and mid-chunk, bytes that are not UTF-8, a kept-alive connection
# the upstream closes. Each answer is checked, and then compared with what the same gateway
# answers with OFFRAMP_UPSTREAM_CLIENT=curl: the two clients fail the same way.
. "$TESTS_SRCDIR/gw/gwlib.sh"

"$GW_HELPERS_DIR/rawupstream" > "$WORK/raw.port" &
PIDS="$PIDS $!"
for _ in $(seq 100); do [ -s "$WORK/raw.port" ] && break; sleep 0.05; done
RAW=http://127.0.0.1:$(cat "$WORK/raw.port")

MODES="ok lf chunked continue close okclose garbage empty hugehdr chunkovf chunkbad clbad midbody midchunk midhead
       trickle nonutf8 ctlhdr nocolon status500"
REQ='{"model":"m","messages":[{"role":"user","content":"hi"}]}'
SREQ='{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}'

# run CLIENT: every mode through a gateway whose upstream client is CLIENT (lean or curl);
# "mode status error-type-or-content" lines in $WORK/CLIENT.out, the SSE body in $WORK/CLIENT.sse.
run() {
   if [ "$1" = curl ]; then export OFFRAMP_UPSTREAM_CLIENT=curl; else unset OFFRAMP_UPSTREAM_CLIENT; fi
   start_gateway --upstream "$RAW/ok/v1" --upstream-timeout 1500
   for m in $MODES sse; do
      admin PUT "/admin/routes/m-$m" "{\"primary\":{\"url\":\"$RAW/$m/v1\"}}" > /dev/null
   done
   : > "$WORK/$1.out"
   for m in $MODES; do
      code=$(chat "$REQ" -H "X-Offramp-Task: m-$m" -o "$WORK/body" -w '%{http_code}')
      what=$(jq -r '.choices[0].message.content // .error.type // "?"' "$WORK/body" 2>/dev/null || echo notjson)
      echo "$m $code $what" >> "$WORK/$1.out"
   done
   # Five in a row on a connection the upstream closes after each answer.
   for i in 1 2 3 4 5; do
      chat "$REQ" -H "X-Offramp-Task: m-okclose" -o /dev/null -w '%{http_code}\n'
   done > "$WORK/$1.again"
   curl -s -N -d "$SREQ" -H "X-Offramp-Task: m-sse" -D "$WORK/$1.sseh" "$GW/v1/chat/completions" > "$WORK/$1.sse"
   check "$1: the gateway is still up" sh -c "curl -s '$GW/healthz' | jq -e '.status' > /dev/null"
   stop_gateway
   if grep -q "Sanitizer\|runtime error" "$WORK/gw.err" 2>/dev/null; then
      sed 's/^/# /' "$WORK/gw.err" | head -40
      tap 1 "$1: gateway ran clean under the sanitizers"
   fi
   : > "$WORK/gw.err"
}

want() {   # want MODE "STATUS WHAT"
   is "$(awk -v m="$1" '$1 == m { print $2, $3 }' "$WORK/lean.out")" "$2" "lean client, $1: $2"
}

run lean
sed 's/^/# lean: /' "$WORK/lean.out"
for m in ok lf chunked continue close okclose; do want $m "200 raw-ok"; done
for m in garbage empty hugehdr chunkovf chunkbad midbody midchunk midhead nocolon nonutf8; do want $m "502 upstream_error"; done
want trickle "504 upstream_error"
want status500 "500 server_error"
want ctlhdr "200 raw-ok"
is "$(sort -u "$WORK/lean.again")" 200 "a kept-alive connection the upstream closed is not an error (5 of 5 answered)"
check "a chunked SSE stream is passed through event by event" \
   test "$(grep -c '^data: {' "$WORK/lean.sse")" -eq 4 -a "$(grep -c '^data: \[DONE\]' "$WORK/lean.sse")" -eq 1
check "as text/event-stream" grep -qi '^content-type: text/event-stream' "$WORK/lean.sseh"

run curl
sed 's/^/# curl: /' "$WORK/curl.out"
# A Content-Length that overflows: curl 7.88 reads the body to the close and serves it; the
# lean client refuses the answer, as RFC 9112 6.3 and nginx do. Everything else must match.
want clbad "502 upstream_error"
is "$(awk '$1 == "clbad" { print $2 }' "$WORK/curl.out")" 200 "curl client, clbad: 200 (read to the close)"
for m in $(echo $MODES | tr ' ' '\n' | grep -vx clbad); do
   l=$(awk -v m="$m" '$1 == m { print $2, $3 }' "$WORK/lean.out")
   c=$(awk -v m="$m" '$1 == m { print $2, $3 }' "$WORK/curl.out")
   is "$l" "$c" "$m: the lean client answers as the curl client does"
done
is "$(cat "$WORK/lean.again")" "$(cat "$WORK/curl.again")" "a closed kept-alive connection: the same with both"
check "the same SSE stream with both clients" cmp -s "$WORK/lean.sse" "$WORK/curl.sse"
GW_PID=
finish
