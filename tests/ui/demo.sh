#!/bin/sh
# demo.sh - the demo walked by keystrokes through the console (headless, OFFRAMP_SCRIPT): score
# the classification task, build its dataset, train, pick, evaluate, shadow with replayed
# traffic, canary, cut over, read a runbook; then leave and check no service is left running.
. "$TESTS_SRCDIR/lib.sh"
command -v sqlite3 >/dev/null 2>&1 || skip_all "sqlite3 not installed (apt-get install sqlite3)"
export LINES=40 COLUMNS=140 TERM=xterm TZ=UTC LC_ALL=C.UTF-8 OFFRAMP_SHARE
WS=$TMP/demo/demo.db
export OFFRAMP_WORKSPACE=$WS
mkdir -p "$TMP/demo"
cd "$TMP" || exit 1

cat > script.txt <<'EOF'
:save-display audit.txt
:task content-classification
# impact up one (4), accept the scores, leave audit
<Tab>+s>
# dataset (d), then on to training
d>
# train on the latest dataset with the built-in trainer; the prompt asks for the base model
t<Enter>
:wait 60
:save-display train.txt
p>
:eval
:wait 120
:save-display eval.txt
>
:shadow
:wait 20
# the shadow gate wants 500 comparisons: 100 req/s for 10 s leaves room for a slow (ASan) build
:replay 100
:sleep 10
:save-display shadow.txt
>
# the canary through the rollout panel, as the gates want it: each step (10 %, 50 %) held for the
# demo rollout's dwell (3 s) with no failed check, then 100 % (] asks, ] again confirms)
R
]
:sleep 5
q
:save-display canary.txt
R
]
:sleep 5
]]
:sleep 4
q
:save-display cutover.txt
r
:save-display runbook.txt
:replay off
# Quitting asks once while the services run: n keeps them (and the console) going.
Qn
:save-display quitask.txt
q
q
q
EOF
start=$(date +%s)
OFFRAMP_SCRIPT=script.txt timeout 240 "$OFFRAMP" -w "$WS" demo > console.out 2>&1
RC=$?
end=$(date +%s)
expect_rc "the demo console walks the path and exits 0" 0
ok "walk took $((end - start)) s"

has() {   # has NAME FILE TEXT
   if grep -qF -- "$3" "$2" 2>/dev/null; then ok "$1"; else not_ok "$1" "'$3' not in $2: $(cat "$2" 2>/dev/null)"; fi
}
has "opens on the audit view" audit.txt "offramp · audit"
has "status line shows the services" audit.txt "frontier (replay) :"
has "and the gateway" audit.txt "gateway :"
has "training succeeded (progress bar full)" train.txt "██████████ 3/3"
has "evaluation shows the gate open" eval.txt "evaluate → shadow: open"
has "evaluation recommends a threshold" eval.txt "min_confidence  recommended"
has "shadow: agreement filled in live" shadow.txt "✓ agreement:"
has "shadow: the replay runs" shadow.txt "replay 100 req/s"
has "canary: the route is at 10 %" canary.txt "route canary 10 %"
has "cutover: the route" cutover.txt "route cutover"
has "cutover: the fallback rate shown" cutover.txt "fallback"
has "runbook of the cutover phase" runbook.txt "utover"
has "Q asked before stopping the services; n kept them" quitask.txt "still here: nothing was stopped"
has "leaving says how much disk the demo workspaces take" console.out "the demo workspaces take "
equals "phase and route agree: cutover" "$(sql "SELECT phase FROM tasks WHERE name = 'content-classification'")" cutover
equals "route stored at cutover" \
   "$(sql "SELECT json_extract(route, '\$.mode') FROM routes WHERE task = 'content-classification'")" cutover
fb=$(sql "SELECT count(*) FROM exchanges e JOIN tasks t ON t.id = e.task_id
          WHERE t.name = 'content-classification' AND e.arm IN ('candidate', 'fallback')")
[ "${fb:-0}" -gt 0 ] && ok "the candidate answered $fb requests" || not_ok "candidate traffic" "$fb"

left=""
for d in /proc/[0-9]*; do
   tr '\0' ' ' < "$d/cmdline" 2>/dev/null | grep -q "$TMP/demo" && left="$left ${d#/proc/}"
done
equals "no child process left after leaving the console" "$left" ""
grep -l "Sanitizer\|runtime error" "$TMP"/demo/demo.data/demo/*.log console.out >/dev/null 2>&1 &&
   not_ok "ran clean under the sanitizers" "$(cat "$TMP"/demo/demo.data/demo/*.log console.out | head -40)" ||
   ok "no sanitizer reports"

done_testing
