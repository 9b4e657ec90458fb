# tests/deploy/standins.sh - what the deploy tests share, sourced after tests/lib.sh: the
# helpers they need (else the test is skipped), H (the build's tests directory), MK, a working
# directory in $TMP, PIDS (what to stop at exit) and starting the stand-ins.

H=$(dirname "$OFFRAMP")/tests
MK=$H/dataset/mkexchanges
for bin in "$MK" "$H/gw/standin_upstream" "$H/deploy/standin_vllm" "$H/deploy/standin_ollama" "$H/deploy/standin_llamacpp"; do
   [ -x "$bin" ] || skip_all "test helper not built ($bin; make check builds it)"
done
for tool in curl jq sqlite3 sha256sum; do
   command -v $tool >/dev/null || skip_all "$tool not installed"
done
cd "$TMP" || exit 1
PIDS=""
trap 'for p in $PIDS; do kill "$p" 2>/dev/null; done; rm -rf "$TMP"' EXIT

# standin KIND NAME ARGS...: starts tests/deploy/standin_KIND (its stderr in NAME-KIND.err),
# sets NAME_PID and NAME (its base URL). NAME may be reused for another server.
standin() {
   kind=$1 name=$2
   shift 2
   rm -f "$name.port"
   "$H/deploy/standin_$kind" --port-file "$name.port" --max-seconds 120 "$@" 2>"$name-$kind.err" &
   eval "${name}_PID=$!"
   PIDS="$PIDS $!"
   i=0
   while [ ! -s "$name.port" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
   eval "$name=http://127.0.0.1:$(cat "$name.port")"
}

# frontier ARGS...: the OpenAI stand-in (tests/gw/standin_upstream) as the frontier model
# gpt-4o-mini; sets FRONTIER (its base URL ending in /v1).
frontier() {
   "$H/gw/standin_upstream" --model gpt-4o-mini "$@" > frontier.port 2>frontier.err &
   PIDS="$PIDS $!"
   i=0
   while [ ! -s frontier.port ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
   FRONTIER="http://127.0.0.1:$(head -1 frontier.port)/v1"
}
