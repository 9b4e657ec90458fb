#!/bin/sh
# workspace.sh - workspace location, permissions, and refusing bad workspaces; --help and
# --version everywhere.
. "$TESTS_SRCDIR/lib.sh"

run "$OFFRAMP" task list
expect_rc "no workspace yet: list fails" 1
contains "missing workspace named" "$ERR" "no workspace at $OFFRAMP_WORKSPACE"
[ -e "$OFFRAMP_WORKSPACE" ] && not_ok "list does not create a workspace" || ok "list does not create a workspace"

"$OFFRAMP" task add a >/dev/null
equals "workspace is owner-only" "$(stat -c %a "$OFFRAMP_WORKSPACE")" 600

run "$OFFRAMP" -w "$TMP/other.db" task add b
expect_rc "-w picks another workspace" 0
equals "-w wrote there" "$(sqlite3 "$TMP/other.db" 'SELECT name FROM tasks')" b
(unset OFFRAMP_WORKSPACE; "$OFFRAMP" task add c >/dev/null)
equals "XDG_DATA_HOME default" "$(sqlite3 "$XDG_DATA_HOME/offramp/workspace.db" 'SELECT name FROM tasks')" c

# A foreign SQLite file and a non-database file are refused and left as they were.
sqlite3 "$TMP/foreign.db" "CREATE TABLE t(x); INSERT INTO t VALUES (42);"
sum=$(md5sum < "$TMP/foreign.db")
run "$OFFRAMP" -w "$TMP/foreign.db" task list
expect_rc "foreign database refused" 1
contains "foreign database explained" "$ERR" "not an offramp workspace"
equals "foreign database untouched" "$(md5sum < "$TMP/foreign.db")" "$sum"
printf 'garbage garbage garbage garbage garbage garbage garbage garbage garbage garbage\n' > "$TMP/corrupt.db"
run "$OFFRAMP" -w "$TMP/corrupt.db" task list
expect_rc "corrupt file refused" 1
contains "corrupt file named" "$ERR" "$TMP/corrupt.db"

# A newer schema is refused untouched.
cp "$OFFRAMP_WORKSPACE" "$TMP/newer.db"
sqlite3 "$TMP/newer.db" "PRAGMA user_version = 999;"
run "$OFFRAMP" -w "$TMP/newer.db" task list
expect_rc "newer schema refused" 1
contains "newer schema explained" "$ERR" "newer than this offramp"

# A read-only workspace: clear error, nothing changes. Root ignores file modes, so run as
# nobody there.
cp "$OFFRAMP_WORKSPACE" "$TMP/ro.db"
chmod 444 "$TMP/ro.db"
chmod 755 "$TMP"
as=""
[ "$(id -u)" = 0 ] && as="setpriv --reuid=65534 --regid=65534 --clear-groups"
run $as "$OFFRAMP" -w "$TMP/ro.db" task add z
expect_rc "read-only workspace refused" 1
contains "read-only named" "$ERR" "is read-only"
equals "read-only workspace unchanged" "$(sqlite3 "$TMP/ro.db" "SELECT count(*) FROM tasks WHERE name='z'")" 0

# --help and --version on the binary and every subcommand.
run "$OFFRAMP" --help
expect_rc "--help" 0
contains "--help lists commands" "$OUT" "commands:"
run "$OFFRAMP" --version
contains "--version" "$OUT" "offramp "
for cmd in $("$OFFRAMP" --help | awk '/^commands:/ {on=1; next} on && /^  [a-z]/ {print $1}'); do
   run "$OFFRAMP" "$cmd" --help
   if [ "$RC" = 0 ] && printf '%s' "$OUT" | grep -q "usage: offramp"; then ok "$cmd --help"; else not_ok "$cmd --help" "rc=$RC $OUT $ERR"; fi
   run "$OFFRAMP" "$cmd" --version
   if [ "$RC" = 0 ] && printf '%s' "$OUT" | grep -q "offramp"; then ok "$cmd --version"; else not_ok "$cmd --version" "rc=$RC $OUT $ERR"; fi
done
run "$OFFRAMP" frob
expect_rc "unknown command is a usage error" 2
contains "unknown command named" "$ERR" "'frob' is not a command"

done_testing
