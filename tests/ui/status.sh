#!/bin/sh
# status.sh - the demo's status line in a real terminal (tmux): its "last min" figures come in
# with traffic and age out once the traffic stops, with no key pressed (the console refreshes
# it once a second while the demo runs, not only while the replay does).
. "$TESTS_SRCDIR/lib.sh"
TMUX_DIR=$TMP
. "$TESTS_SRCDIR/ui/tmux.sh"
tmux_have || skip_all "tmux not installed (apt-get install tmux)"
command -v sqlite3 >/dev/null 2>&1 || skip_all "sqlite3 not installed (apt-get install sqlite3)"
trap 'tmux_stop; rm -rf "$TMP"' EXIT

xdg=$TMP/xdg
mkdir -p "$xdg"
XDG_DATA_HOME=$xdg "$OFFRAMP" demo --no-console > "$TMP/prep.out" 2>&1
DB=$xdg/offramp/demo.db
check "the demo workspace is ready" test -s "$DB"
tmux_start 120 35 "cd '$TMP' && XDG_DATA_HOME='$xdg' LC_ALL=C.UTF-8 TERM=xterm '$OFFRAMP' demo 2>'$TMP/demo.err'"
if ! tmux_wait_for "offramp · audit" 60; then
   not_ok "the demo opens" "$(tmux_screen; cat "$TMP/demo.err")"
   done_testing
   exit 1
fi
lacks "no traffic: no 'last min' figures" "$(tmux_screen)" "last min"

# A call of the demo task answered 52 s ago, then nothing more.
insert() {   # insert RID AGE-SECONDS (waiting up to 5 s for the demo's writers, as the engine does)
   sqlite3 -cmd ".timeout 5000" "$DB" "INSERT INTO exchanges(rid, task_id, ts, arm, record) SELECT '$1', id,
                  strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-$2 seconds'), 'primary', '{}' FROM tasks
                  WHERE name = 'content-classification'"
}
insert status-old 300
insert status-1 52
if tmux_wait_for "last min: primary 1 " 5; then ok "the call shows in the status line without a key"
else not_ok "the call shows in the status line without a key" "$(tmux_screen)"; fi
# 52 s old: out of the minute within 8 s (and a redraw a second).
gone=no
for _ in $(seq 150); do
   tmux_screen | grep -q "last min" || { gone=yes; break; }
   sleep 0.1
done
equals "the 'last min' figures age out with no key pressed" "$gone" yes
lacks "... and the call 5 minutes old never counted" "$(tmux_screen)" "primary 2"

tmux_keys Q
tmux_wait_for "quit and stop" 5
tmux_keys y
equals "the demo leaves with 0" "$(tmux_wait_exit 30)" 0
done_testing
