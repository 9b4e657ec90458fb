#!/bin/sh
# walk.sh - the README's demo walk ("### Walk the demo"), read from README.md and typed into the
# real console in a real terminal (tmux) at 80x24 and at 120x35: `code` is typed (a :command
# ends with Enter; Tab, Enter, Esc, Space are those keys), **bold** is waited for on the screen.
# A step whose text never shows is a dead end in the README: the test fails there and shows the
# screen. The README and the console cannot drift apart.
# The two sizes walk at the same time, each in its own demo session and tmux server: a walk
# mostly waits for the screen (the shadow gate's comparisons come at 20 calls a second),
# so the two take about as long as one.
. "$TESTS_SRCDIR/lib.sh"
TMUX_DIR=$TMP
. "$TESTS_SRCDIR/ui/tmux.sh"
tmux_have || skip_all "tmux not installed (apt-get install tmux)"
trap 'for s in "$TMP"/tmux-*.sock; do TMUX_SOCK=$s tmux_stop; done; rm -rf "$TMP"' EXIT
README=$TESTS_SRCDIR/../README.md

# The walk's steps, one per line: numbered items of the section, continuation lines joined.
steps=$(sed -n '/^### Walk the demo/,/^##/p' "$README" |
        awk '/^[0-9]+\. / { if (s != "") print s; s = $0; next }
             /^   *[^ ]/ && s != "" { sub(/^ +/, " "); s = s $0; next }
             { if (s != "") print s; s = "" }
             END { if (s != "") print s }')
n=$(printf '%s\n' "$steps" | grep -c .)
[ "$n" -ge 10 ] && ok "the README's walk has $n steps" || not_ok "the README's walk has steps" "$steps"

walk() {   # walk COLS LINES: run in the background; its 3 checks go to stdout (TAP)
   trap - EXIT
   TMUX_SOCK=$TMP/tmux-$1x$2.sock
   xdg=$TMP/xdg-$1x$2
   mkdir -p "$xdg"
   tmux_start "$1" "$2" "cd '$xdg' && XDG_DATA_HOME='$xdg' LC_ALL=C.UTF-8 TERM=xterm '$OFFRAMP' demo 2>'$TMP/demo-$1x$2.err'"
   if ! tmux_wait_for "offramp · audit" 120; then
      not_ok "$1x$2: the demo opens on the audit view" "$(tmux_screen; cat "$TMP/demo-$1x$2.err")"
      tmux_stop
      return
   fi
   dead=""
   printf '%s\n' "$steps" > "$TMP/steps-$1x$2"
   while IFS= read -r step && [ -z "$dead" ]; do
      printf '%s\n' "$step" | grep -oE '`[^`]+`|\*\*[^*]+\*\*' > "$TMP/tokens-$1x$2"
      while IFS= read -r tok && [ -z "$dead" ]; do
         case "$tok" in
         \*\**)
            want=$(printf '%s' "$tok" | sed 's/^\*\*//; s/\*\*$//')
            tmux_wait_for "$want" 240 || dead="${step%%.*}: '$want' never showed" ;;
         *)
            key=$(printf '%s' "$tok" | sed 's/^`//; s/`$//')
            case "$key" in
            Tab) tmux_keys Tab ;;
            Enter) tmux_keys Enter ;;
            Esc) tmux_keys Escape ;;
            Space) tmux_keys Space ;;
            :*) tmux_type "$key"; tmux_keys Enter ;;
            *) tmux_type "$key" ;;
            esac
            sleep 0.2 ;;   # a key at a time, as a person types (Esc needs its own moment)
         esac
      done < "$TMP/tokens-$1x$2"
   done < "$TMP/steps-$1x$2"
   if [ -n "$dead" ]; then
      not_ok "$1x$2: the README walk has no dead end" "step $dead; the screen:
$(tmux_screen)"
   else
      ok "$1x$2: the README walk has no dead end"
   fi
   rc=$(tmux_wait_exit 30)
   equals "$1x$2: the walk's last step leaves the demo with 0" "$rc" 0
   tmux_stop
   left=""
   for d in /proc/[0-9]*; do
      cat "$d/cmdline" 2>/dev/null | tr '\0' ' ' | grep -q "$xdg" && left="$left ${d#/proc/}"
   done
   equals "$1x$2: no service left running" "$left" ""
}

walk 80 24 > "$TMP/walk-80x24.tap" 2>&1 &
w1=$!
walk 120 35 > "$TMP/walk-120x35.tap" 2>&1 &
w2=$!
wait "$w1" "$w2"
# Their checks, in order, numbered here.
for size in 80x24 120x35; do
   while IFS= read -r l; do
      case $l in
      "ok "*) ok "${l#ok * - }" ;;
      "not ok "*) not_ok "${l#not ok * - }" ;;
      *) printf '%s\n' "$l" ;;
      esac
   done < "$TMP/walk-$size.tap"
   n=$(grep -cE '^(not )?ok ' "$TMP/walk-$size.tap")
   [ "$n" -eq 3 ] || not_ok "$size: the walk made its 3 checks" "$n of them"
done

done_testing
