# tests/lib.sh - TAP helpers for shell tests that drive the real offramp binary.
# Source it; each test gets a private workspace under a temporary directory.

: "${OFFRAMP:?OFFRAMP must point at the offramp binary (make check sets it)}"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/offramp-test.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
export OFFRAMP_WORKSPACE="$TMP/ws.db"
export OFFRAMP_ACTOR=tester
export XDG_DATA_HOME="$TMP/xdg"
unset OFFRAMP_SCRIPT NO_COLOR
_n=0
_failed=0

ok() {   # ok "name" -- passes
   _n=$((_n + 1)); echo "ok $_n - $1"
}

not_ok() {   # not_ok "name" "detail"
   _n=$((_n + 1)); _failed=$((_failed + 1)); echo "not ok $_n - $1"
   [ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/# /'
   return 0
}

# check "name" CMD...: passes when CMD exits 0
check() {
   name=$1; shift
   if out=$("$@" 2>&1); then ok "$name"; else not_ok "$name" "$out"; fi
}

# run CMD...: runs and keeps stdout in $OUT, stderr in $ERR, status in $RC
run() {
   "$@" >"$TMP/out" 2>"$TMP/err"
   RC=$?
   OUT=$(cat "$TMP/out")
   ERR=$(cat "$TMP/err")
}

# expect_rc "name" WANT: the last run's exit status
expect_rc() {
   if [ "$RC" = "$2" ]; then ok "$1"; else not_ok "$1" "exit $RC, want $2; stdout: $OUT; stderr: $ERR"; fi
}

# contains "name" HAYSTACK NEEDLE
contains() {
   case "$2" in *"$3"*) ok "$1" ;; *) not_ok "$1" "'$3' not found in: $2" ;; esac
}

lacks() {
   case "$2" in *"$3"*) not_ok "$1" "'$3' unexpectedly found in: $2" ;; *) ok "$1" ;; esac
}

equals() {   # equals "name" GOT WANT
   if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1" "got '$2', want '$3'"; fi
}

sql() {   # sql "SELECT ..." on the test workspace
   sqlite3 "$OFFRAMP_WORKSPACE" "$1"
}

# console SCRIPT-TEXT: run the console headless on a key script (lines of keys, or :commands
# such as :save-display FILE); the exit status is left in $RC.
console() {
   printf '%s\n' "$1" > script.txt
   OFFRAMP_SCRIPT=script.txt "$OFFRAMP" >console.out 2>&1
   RC=$?
}

# status_of DUMP: the message area of a screen dump (its last lines) as one line: a long message
# wraps over several lines, and the words join again with single spaces.
status_of() {
   tail -n 6 "$1" | tr '\n' ' ' | tr -s ' '
}

# screen_matches DUMP GOLDEN: a screen dump, with dates, times and job ids masked, against
# tests/ui/expected/GOLDEN.screen. OFFRAMP_UPDATE_SCREENS=1 rewrites the golden file after an
# intended change; review the diff before committing it.
screen_matches() {
   sed -E 's/ftjob-standin[0-9]+/ftjob-N/g; s/[0-9]{4}-[0-9]{2}-[0-9]{2}/YYYY-MM-DD/g;
           s/YYYY-MM-DD [0-9]{2}:[0-9]{2}/YYYY-MM-DD HH:MM/g' "$1" > "$1.norm"
   golden="$TESTS_SRCDIR/ui/expected/$2.screen"
   [ -n "${OFFRAMP_UPDATE_SCREENS:-}" ] && cp "$1.norm" "$golden"
   if diff -u "$golden" "$1.norm" > "$1.diff"; then
      ok "screen $2 matches"
   else
      not_ok "screen $2 matches" "$(cat "$1.diff")"
   fi
}

skip_all() {
   echo "1..0 # SKIP $1"
   exit 0
}

done_testing() {
   echo "1..$_n"
   [ "$_failed" -eq 0 ]
}
