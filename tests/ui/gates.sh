#!/bin/sh
# gates.sh - the console's route commands pass the gateway's gate check: in the demo, ':cutover'
# straight from shadow is refused, the console shows what is missing, and neither the route nor
# the phase moves.
. "$TESTS_SRCDIR/lib.sh"
command -v sqlite3 >/dev/null 2>&1 || skip_all "sqlite3 not installed (apt-get install sqlite3)"
export LINES=30 COLUMNS=240 TERM=xterm TZ=UTC LC_ALL=C.UTF-8 OFFRAMP_SHARE
WS=$TMP/demo/demo.db
export OFFRAMP_WORKSPACE=$WS
mkdir -p "$TMP/demo"
cd "$TMP" || exit 1
cat > script.txt <<'SCRIPT'
:task content-classification
# score and advance, dataset, train, pick, evaluate, advance to shadow (as tests/ui/demo.sh)
<Tab>+s>
d>
t<Enter>
:wait 60
p>
:eval
:wait 120
>
:shadow
:wait 20
# no comparisons yet, no canary step held: cutover must be refused
:cutover
:wait 20
:save-display cutover.txt
q
q
SCRIPT
OFFRAMP_SCRIPT=script.txt timeout 120 "$OFFRAMP" -w "$WS" demo > console.out 2>&1
RC=$?
expect_rc "the demo console exits 0" 0
sql() { sqlite3 "$WS" "$@"; }
if grep -q "cutover failed: offramp route: refused by the gates, not met: .*canary analysis" cutover.txt; then
   ok "the console shows the refusal with the unmet checks"
else
   not_ok "the console shows the refusal with the unmet checks" "$(cat cutover.txt)"
fi
equals "the phase stays in shadow" "$(sql "SELECT phase FROM tasks WHERE name = 'content-classification'")" shadow
equals "the route stays in shadow" \
   "$(sql "SELECT json_extract(route, '\$.mode') FROM routes WHERE task = 'content-classification'")" shadow
equals "one route change recorded (shadow), none forced" \
   "$(sql "SELECT count(*) || ' ' || sum(forced) FROM route_events WHERE task = 'content-classification'")" "1 0"
done_testing
