# tests/trainer/serve.sh - start a server that announces "listening on ...:PORT" on stdout.
# Source it after tests/lib.sh. serve NAME CMD...: runs CMD in the background, waits up to
# 10 s for the announcement, sets ${NAME}_PID and ${NAME}_PORT. stop_servers kills them all.
# probe and line below query a trainer's API, wait_job follows a job; gen makes training data for it.
SERVER_PIDS=""

serve() {
   _name=$1; shift
   # Removed here, not by the background redirection: a restart must not read the port the
   # previous instance wrote before the new one truncates the file.
   rm -f "$TMP/$_name.out"
   "$@" > "$TMP/$_name.out" 2> "$TMP/$_name.err" &
   _pid=$!
   SERVER_PIDS="$SERVER_PIDS $_pid"
   _i=0
   _port=""
   while [ $_i -lt 100 ]; do
      _port=$(sed -n 's/.*listening on [^ ]*:\([0-9][0-9]*\).*/\1/p' "$TMP/$_name.out" 2>/dev/null | head -1)
      [ -n "$_port" ] && break
      sleep 0.1
      _i=$((_i + 1))
   done
   eval "${_name}_PID=$_pid ${_name}_PORT=$_port"
   [ -n "$_port" ]
}

# stop PID: SIGTERM, then wait for it (bounded by the server's own shutdown).
stop() {
   kill "$1" 2>/dev/null
   wait "$1" 2>/dev/null
}

# Waits for these servers only: a bare wait would also wait for whatever else the test left
# running (a stand-in that exits on its own after minutes).
stop_servers() {
   for _p in $SERVER_PIDS; do kill "$_p" 2>/dev/null; done
   for _p in $SERVER_PIDS; do wait "$_p" 2>/dev/null; done
}
trap 'stop_servers; rm -rf "$TMP"' EXIT

# probe METHOD PATH ARGS...: http_probe on $U$PATH; sets CODE (first line) and V (the --get
# values, one a line); line N is the Nth value.
PROBE="$TESTS_BUILDDIR/trainer/http_probe"
probe() {
   _m=$1; _p=$2; shift 2
   "$PROBE" "$_m" "$U$_p" "$@" > "$TMP/probe.out" 2>&1
   CODE=$(sed -n 1p "$TMP/probe.out")
   V=$(sed 1d "$TMP/probe.out")
}
line() { printf '%s\n' "$V" | sed -n "${1}p"; }

# wait_job ID: poll until a final status (at most 30 s); sets STATUS.
wait_job() {
   _i=0
   while [ $_i -lt 300 ]; do
      probe GET "/fine_tuning/jobs/$1" --get status
      STATUS=$V
      case $STATUS in succeeded|failed|cancelled) return 0 ;; esac
      sleep 0.1
      _i=$((_i + 1))
   done
   return 1
}

# gen N SEED: chat JSONL for three intents, keywords mixed with filler words.
gen() {
   awk -v n="$1" -v seed="$2" 'BEGIN {
      srand(seed)
      split("billing shipping account", L, " ")
      K["billing"] = "invoice charge refund payment bill"
      K["shipping"] = "delivery package courier tracking parcel"
      K["account"] = "password login email profile username"
      split("my the is not please help with i need why where today", F, " ")
      for (i = 0; i < n; i++) {
         l = L[1 + int(rand() * 3)]
         split(K[l], w, " ")
         t = w[1 + int(rand() * 5)] " " F[1 + int(rand() * 12)] " " F[1 + int(rand() * 12)] " " w[1 + int(rand() * 5)]
         printf "{\"messages\":[{\"role\":\"system\",\"content\":\"Classify the ticket.\"},{\"role\":\"user\",\"content\":\"%s\"},{\"role\":\"assistant\",\"content\":\"%s\"}]}\n", t, l
      }
   }'
}
