#!/bin/sh
# options.sh - a bad command line has one answer in every command: exit 2, one message naming
# the option and the value and saying what the option takes (or that the option does not
# exist), "Try 'offramp CMD --help'", and nothing written. The commands, their subcommands and
# their numeric options are read from the binary's own --help, so a new command or option is
# covered without editing this file.
. "$TESTS_SRCDIR/lib.sh"

cd "$TMP" || exit 1
# Placeholders that stand for a number in the help texts.
NUMERIC='N|S|X|MS|USD|BYTES|R|K|MB|F|SEC|M|J|C|V|P|FRACTION|PCT|SECONDS'

cmds=$("$OFFRAMP" --help | awk '/^commands:/ { f = 1; next } f && NF && $1 !~ /^\047/ { print $1 }')
check "offramp --help lists the commands" test "$(printf '%s\n' "$cmds" | grep -cE '^(task|route|rollout|replay-server|demo)$')" = 5

# try CMD SUB ARGS...: runs offramp on a workspace that does not exist; sets RC, ERR and WROTE.
try() {
   rm -rf none.db none.data
   "$OFFRAMP" -w none.db "$@" >out 2>err
   RC=$?
   ERR=$(cat err)
   OUT=$(cat out)
   WROTE=
   [ -e none.db ] || [ -e none.data ] && WROTE=yes
}

nnum=0
for c in $cmds; do
   help=$("$OFFRAMP" "$c" --help 2>&1)
   subs=$(printf '%s\n' "$help" | sed -n "s/^\(usage:\)\{0,1\} *offramp $c \([a-z][a-z-]*\).*/\2/p" | sort -u)
   [ -n "$subs" ] || subs=-
   opts=$(printf '%s\n' "$help" | grep -oE -- "--[a-z][a-z0-9-]*[ =]($NUMERIC)([^A-Za-z_]|\$)" | sed -E 's/[ =].*//' | sort -u)

   # An unknown option, in the command and in each of its subcommands.
   bad=
   for s in $subs; do
      [ "$s" = - ] && s=
      try "$c" $s --no-such-option x
      case "$RC:$WROTE:$OUT:$ERR" in
      "2:::offramp $c"*": unknown option '--no-such-option'"*"Try 'offramp $c"*" --help'.") ;;
      *) bad="$bad
offramp $c $s --no-such-option x: exit $RC${WROTE:+, wrote the workspace}: $ERR" ;;
      esac
   done
   if [ -z "$bad" ]; then ok "$c: an unknown option exits 2 naming it"; else not_ok "$c: an unknown option exits 2 naming it" "$bad"; fi

   # Each numeric option with a value that is not a number: in every subcommand exit 2 and
   # nothing written; in those that take the option, the message names it and the value.
   for o in $opts; do
      nnum=$((nnum + 1))
      bad= named=
      for s in $subs; do
         [ "$s" = - ] && s=
         try "$c" $s "$o" abc some-task
         [ "$RC" = 2 ] && [ -z "$WROTE" ] && [ -z "$OUT" ] ||
            bad="$bad
offramp $c $s $o abc some-task: exit $RC${WROTE:+, wrote the workspace}${OUT:+, printed $OUT}: $ERR"
         case "$ERR" in
         "offramp $c"*": $o 'abc' is not "?*"
Try 'offramp $c"*" --help'.") named=yes ;;
         esac
         # The same value given as --opt=abc is read the same way.
         try "$c" $s "$o=abc" some-task
         [ "$RC" = 2 ] && [ -z "$WROTE" ] ||
            bad="$bad
offramp $c $s $o=abc some-task: exit $RC${WROTE:+, wrote the workspace}: $ERR"
      done
      [ -n "$named" ] || bad="$bad
no subcommand of offramp $c names $o and 'abc' with what it takes (last: $ERR)"
      if [ -z "$bad" ]; then ok "$c $o abc: exit 2, named, nothing written"; else not_ok "$c $o abc: exit 2, named, nothing written" "$bad"; fi
   done
done
check "numeric options found in the help texts ($nnum)" test "$nnum" -ge 60

# A missing value is named too.
try replay --rate
expect_rc "a missing value: exit 2" 2
contains "a missing value is named" "$ERR" "offramp replay: --rate needs a value"

# With a workspace: the bad value leaves it as it was (no partial write).
"$OFFRAMP" task add t1 --volume 1000 --cost 10 --kind label >/dev/null
before=$(sql "SELECT monthly_volume || ' ' || monthly_cost FROM tasks WHERE name = 't1'")
run "$OFFRAMP" task edit t1 --volume 2000 --cost abc
expect_rc "task edit with one bad value: exit 2" 2
contains "task edit names the option and value" "$ERR" "--cost 'abc' is not an amount in USD"
equals "task edit wrote nothing" "$(sql "SELECT monthly_volume || ' ' || monthly_cost FROM tasks WHERE name = 't1'")" "$before"
run "$OFFRAMP" rollout set t1 --dwell 5 --failure-limit abc
expect_rc "rollout set with one bad value: exit 2" 2
equals "rollout set wrote nothing" "$(sql "SELECT count(*) FROM rollouts")" 0

done_testing
