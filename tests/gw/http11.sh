#!/bin/bash
# http11.sh - the front end's HTTP/1.1 as RFC 9112 has it, on raw sockets: how a body is framed
# (chunked with extensions and trailers decoded; Transfer-Encoding beside Content-Length, or two
# different lengths, refused as request smuggling), Expect: 100-continue (with a body larger
# than the read buffer), the lingering close after Connection: close, HTTP/1.0 keep-alive,
# HEAD, absolute-form targets, blank lines before a request, and the malformed heads (no colon,
# control bytes in the target, an unknown method, HTTP/2.0) answered in OpenAI's error shape.
. "$TESTS_SRCDIR/gw/gwlib.sh"

start_standin echo --port 0 --echo
start_gateway --upstream "$echo_URL"
PORT=${GW##*:}
body() { printf '{"model":"m","messages":[{"role":"user","content":"%s"}]}' "$1"; }
B=$(body hello)
POST="POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"

# raw BYTES: what the gateway answers on one connection (read until it closes, at most 3 s).
raw() {
   exec 3<> "/dev/tcp/127.0.0.1/$PORT"
   printf '%b' "$1" >&3
   timeout 3 cat <&3
   exec 3>&-
}
status() { head -1 | tr -d '\r' | cut -d' ' -f2; }

# ---- framing ----
c=$(body 'hello world')
half=${c:0:20}
rest=${c:20}
raw "${POST}Connection: close\r\nTransfer-Encoding: chunked\r\n\r\n$(printf '%x' ${#half});name=value\r\n$half\r\n$(printf '%x' ${#rest})\r\n$rest\r\n0\r\nX-Checksum: 1\r\n\r\n" > "$WORK/chunked"
is "$(status < "$WORK/chunked")" 200 "a chunked body with a chunk extension and a trailer is served"
check "... and the upstream got the decoded body (echo:hello world)" grep -q 'echo:hello world' "$WORK/chunked"
raw "${POST}Connection: close\r\nContent-Length: ${#B}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" > "$WORK/te_cl"
is "$(status < "$WORK/te_cl")" 400 "Transfer-Encoding beside Content-Length: 400 (request smuggling)"
check "... in OpenAI's error shape, saying why" grep -q '"message":"both Transfer-Encoding and Content-Length' "$WORK/te_cl"
raw "${POST}Connection: close\r\nContent-Length: ${#B}\r\nContent-Length: 3\r\n\r\n$B" > "$WORK/two_cl"
is "$(status < "$WORK/two_cl")" 400 "two different Content-Lengths: 400"
raw "${POST}Connection: close\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n" > "$WORK/te_gzip"
is "$(status < "$WORK/te_gzip")" 501 "a transfer coding other than chunked: 501"

# ---- Expect: 100-continue: the interim answer comes before the body is sent ----
# expect_post BODY OUT: sends the head, reads the interim answer (printed), then sends BODY
# and keeps the rest in OUT.
expect_post() {
   exec 3<> "/dev/tcp/127.0.0.1/$PORT"
   printf '%b' "${POST}Connection: close\r\nExpect: 100-continue\r\nContent-Length: ${#1}\r\n\r\n" >&3
   timeout 2 head -c 25 <&3 | tr -d '\r\n'
   printf '%s' "$1" >&3
   timeout 3 cat <&3 > "$2"
   exec 3>&-
}
is "$(expect_post "$B" "$WORK/cont")" "HTTP/1.1 100 Continue" "Expect: 100-continue gets 100 Continue before the body"
is "$(status < "$WORK/cont")" 200 "... then the answer"
# A body larger than the read buffer: room for it is made after the head is parsed (the buffer
# moves; nothing may still point into the old one - ASan watches this in the sanitizer build).
BIG=$(body "$(head -c 200000 /dev/zero | tr '\0' a)")
is "$(expect_post "$BIG" "$WORK/cont_big") $(status < "$WORK/cont_big")" "HTTP/1.1 100 Continue 200" \
   "Expect: 100-continue with a 200 KB body: 100 Continue, then 200"
check "... and the upstream got all of it" grep -q "echo:$(head -c 1000 /dev/zero | tr '\0' a)" "$WORK/cont_big"

# ---- HTTP/1.0 ----
t0=$(date +%s.%N)
raw "POST /v1/chat/completions HTTP/1.0\r\nContent-Length: ${#B}\r\n\r\n$B" > "$WORK/h10"
t1=$(date +%s.%N)
check "HTTP/1.0 without keep-alive: answered with Connection: close" grep -qi '^Connection: close' "$WORK/h10"
check "... and the connection closed at once (not at the 3 s read limit)" awk -v a="$t0" -v b="$t1" 'BEGIN { exit !(b - a < 2) }'
exec 3<> "/dev/tcp/127.0.0.1/$PORT"
printf '%b' "POST /v1/chat/completions HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: ${#B}\r\n\r\n$B" >&3
printf '%b' "GET /healthz HTTP/1.0\r\n\r\n" >&3
timeout 3 cat <&3 > "$WORK/h10ka"
exec 3>&-
check "HTTP/1.0 with keep-alive: answered with Connection: keep-alive" grep -qi '^Connection: keep-alive' "$WORK/h10ka"
is "$(grep -o 'HTTP/1.1 200' "$WORK/h10ka" | wc -l)" 2 "... and the next request on that connection is answered too"

# ---- Connection: close with more bytes behind the request ----
# The answer (300 KB, more than a socket buffer) is followed by the front end's end of stream,
# then it reads on until the client is done: closing with the client's bytes unread would send
# a reset, which can destroy the tail of the answer before the client has read it.
exec 3<> "/dev/tcp/127.0.0.1/$PORT"
{ printf 'GET /v1/files/file-x/content?bytes=300000 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'
  head -c 100000 /dev/zero | tr '\0' j; } >&3 2> /dev/null
sleep 0.5
timeout 5 cat <&3 > "$WORK/closing" 2> /dev/null
exec 3>&-
is "$(status < "$WORK/closing") $(sed '1,/^\r$/d' "$WORK/closing" | tr -cd x | wc -c)" "200 300000" \
   "Connection: close with 100 KB sent behind the request: the 300 KB answer arrives whole (no reset)"

# ---- HEAD, absolute form, blank lines before the request line ----
raw "HEAD /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" > "$WORK/head"
is "$(status < "$WORK/head")" 200 "HEAD /healthz: 200"
len=$(grep -i '^Content-Length:' "$WORK/head" | tr -dc 0-9)
check "... with the Content-Length of the GET's body ($len) and no body" \
   sh -c "[ '${len:-0}' -gt 0 ] && [ \"\$(sed '1,/^\r\$/d' '$WORK/head' | wc -c)\" -eq 0 ]"
# Passed through: the upstream's Content-Length for HEAD (what a GET would bring), no body, and
# the kept-alive connection goes on; a GET of the same is framed by the front end alone.
raw "HEAD /v1/files/file-x/content?bytes=1234 HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" > "$WORK/phead"
is "$(grep -a -o 'HTTP/1.1 [0-9]*' "$WORK/phead" | tr '\n' ' ')" "HTTP/1.1 200 HTTP/1.1 200 " \
   "HEAD passed through, then the next request on the same connection: both answered"
is "$(sed '/^\r$/q' "$WORK/phead" | grep -i '^Content-Length:' | tr -dc 0-9) $(sed -n '/^\r$/{n;p;q}' "$WORK/phead" | tr -d '\r')" \
   "1234 HTTP/1.1 200 OK" "... the HEAD answer has the upstream's Content-Length (1234), and the next answer follows its head at once (no body)"
raw "GET /v1/files/file-x/content?bytes=1234 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" > "$WORK/pget"
is "$(sed '/^\r$/q' "$WORK/pget" | grep -ci -e '^Content-Length:' -e '^Transfer-Encoding:')" 1 \
   "the GET of it: one framing header (the upstream's Content-Length is not sent beside chunked)"
raw "POST http://127.0.0.1:$PORT/v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: ${#B}\r\n\r\n$B" > "$WORK/abs"
is "$(status < "$WORK/abs")" 200 "an absolute-form target is served"
raw "\r\n\r\n${POST}Connection: close\r\nContent-Length: ${#B}\r\n\r\n$B" > "$WORK/lead"
is "$(status < "$WORK/lead")" 200 "blank lines before the request line are skipped"

# ---- malformed heads: 4xx/5xx in OpenAI's shape, the connection closed ----
raw "GET /healthz HTTP/1.1\r\nHost x\r\n\r\n" > "$WORK/nocolon"
is "$(status < "$WORK/nocolon")" 400 "a header line without a colon: 400"
check "... in OpenAI's error shape" grep -q '"type":"invalid_request_error"' "$WORK/nocolon"
raw "GET /heal\x01thz HTTP/1.1\r\nHost: x\r\n\r\n" > "$WORK/ctl"
is "$(status < "$WORK/ctl")" 400 "a control byte in the target: 400"
raw "GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n" > "$WORK/nul"
is "$(status < "$WORK/nul")" 400 "a NUL in a header's value: 400"
check "... naming the header and the byte" grep -q 'X-A: byte 0x00 at offset 1' "$WORK/nul"
raw "BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n" > "$WORK/brew"
is "$(status < "$WORK/brew")" 501 "an unknown method: 501"
raw "GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n" > "$WORK/h2"
is "$(status < "$WORK/h2")" 505 "HTTP/2.0 in the request line: 505"
raw "GET /healthz\r\n\r\n" > "$WORK/h09"
is "$(status < "$WORK/h09")" 400 "a request line without a version: 400"

code=$(curl -s -o /dev/null -w '%{http_code}' -d "$B" "$GW/v1/chat/completions")
is "$code" 200 "the gateway serves after all of the above"
finish
