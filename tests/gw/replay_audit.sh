#!/bin/sh
# replay_audit.sh - replayed traffic is marked and kept out of the audit: `offramp replay`
# through the gateway sends X-Offramp-Replay, the gateway writes "replay":true in the record,
# and the audit's window, calls and cost stay those of the logs (a replay today must not
# stretch a two-day window to a month, nor double the volume). The application's own calls
# through the same gateway still count.
. "$TESTS_SRCDIR/gw/gwlib.sh"

start_standin up --echo
# Ten logged calls over two days, as an import would bring them.
for i in 1 2 3 4 5 6 7 8 9 10; do
   day=2026-11-0$((1 + i % 2))
   printf '{"id":"log-%s","ts":"%sT10:00:0%sZ","task":"replayed","arm":"primary","model":"gpt-4o-mini",' "$i" "$day" "$((i % 10))"
   printf '"request":{"model":"gpt-4o-mini","messages":[{"role":"user","content":"question %s"}]},' "$i"
   printf '"response":{"id":"c%s","object":"chat.completion","model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"answer"},"finish_reason":"stop"}],"usage":{"prompt_tokens":100,"completion_tokens":5,"total_tokens":105}},' "$i"
   printf '"status":200,"latency_ms":120,"usage":{"prompt_tokens":100,"completion_tokens":5}}\n'
done > "$WORK/logs.jsonl"
"$OFFRAMP" -w "$WS" import "$WORK/logs.jsonl" > "$WORK/import.out" 2>&1
audit() { "$OFFRAMP" -w "$WS" audit --json | jq -r "$1"; }
is "$(audit '.days') $(audit '.calls')" "2 10" "the imported logs: a 2-day window, 10 calls"
cost0=$(audit '.cost')

start_gateway --upstream "$up_URL"
run_replay() { "$OFFRAMP" replay "$WORK/logs.jsonl" --task replayed --to "$GW" --rate 0 --count 20 --quiet --json > "$WORK/replay.json" 2> "$WORK/replay.err"; }
check "offramp replay sends 20 calls through the gateway" run_replay
is "$(jq -r .ok "$WORK/replay.json")" 20 "all 20 answered"
check "all captured" wait_captured
is "$(sql "SELECT count(*) FROM exchanges e JOIN tasks t ON t.id = e.task_id WHERE t.name = 'replayed' AND json_extract(e.record, '\$.replay') = 1")" 20 \
   "the 20 replayed records are marked \"replay\":true"
is "$(audit '.days') $(audit '.calls') $(audit '.cost')" "2 10 $cost0" "the audit window, calls and cost do not move with replayed traffic"
is "$(audit '.last_day')" 2026-11-02 "the window still ends on the last logged day"

# The header is the gateway's business: the upstream never sees it.
chat '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"live call"}]}' -H 'X-Offramp-Task: replayed' > /dev/null
check "the live call captured" wait_captured
is "$(audit '.calls')" 11 "an application's own call through the gateway counts"
is "$(sql "SELECT count(*) FROM exchanges WHERE json_extract(record, '\$.replay') IS NULL AND record LIKE '%live call%'")" 1 \
   "and is not marked as replayed"

# A record exported and imported again keeps its mark and stays out of the audit.
sql "SELECT record FROM exchanges WHERE json_extract(record, '\$.replay') = 1 LIMIT 3" > "$WORK/again.jsonl"
"$OFFRAMP" -w "$WORK/ws2.db" import "$WORK/again.jsonl" > /dev/null 2>&1
is "$(sqlite3 "$WORK/ws2.db" "SELECT count(*) FROM exchanges") $(sqlite3 "$WORK/ws2.db" "SELECT coalesce(sum(calls), 0) FROM audit_daily")" "3 0" \
   "imported replayed records are stored, not counted in the audit"
finish
