# tmux.sh - the real console in a real terminal: a private tmux server (its own socket, no user
# configuration), keys in with send-keys, the screen out with capture-pane. Source it with
# TMUX_DIR set to a private directory; call tmux_stop when done (it is safe to call twice).
TMUX_SOCK=$TMUX_DIR/tmux.sock

tmux_have() {
   command -v tmux >/dev/null 2>&1
}

# tmux_start COLS LINES COMMAND: COMMAND runs in the session; its exit status goes to $TMUX_SOCK.rc
tmux_start() {
   rm -f "$TMUX_SOCK.rc"
   tmux -S "$TMUX_SOCK" -f /dev/null new-session -d -x "$1" -y "$2" \
      "$3; echo \$? > '$TMUX_SOCK.rc'; sleep 30"
   tmux -S "$TMUX_SOCK" set-option -g status off >/dev/null
}

tmux_keys() {   # tmux_keys KEY... (tmux key names: Enter, Escape, C-c, or literal text with -l)
   tmux -S "$TMUX_SOCK" send-keys "$@"
}

tmux_type() {   # tmux_type TEXT: literal characters
   tmux -S "$TMUX_SOCK" send-keys -l "$1"
}

tmux_screen() {
   tmux -S "$TMUX_SOCK" capture-pane -p
}

# tmux_wait_for TEXT [SECONDS]: until the screen shows TEXT (default 15 s); 1 when it never does.
tmux_wait_for() {
   i=0
   n=$(( ${2:-15} * 10 ))
   while [ $i -lt $n ]; do
      tmux_screen 2>/dev/null | grep -qF -- "$1" && return 0
      sleep 0.1
      i=$((i + 1))
   done
   return 1
}

# tmux_wait_exit [SECONDS]: until the command has ended; prints its exit status ("" on timeout).
tmux_wait_exit() {
   i=0
   n=$(( ${1:-15} * 10 ))
   while [ $i -lt $n ] && [ ! -s "$TMUX_SOCK.rc" ]; do
      sleep 0.1
      i=$((i + 1))
   done
   cat "$TMUX_SOCK.rc" 2>/dev/null
}

tmux_stop() {
   tmux -S "$TMUX_SOCK" kill-server 2>/dev/null
   return 0
}
