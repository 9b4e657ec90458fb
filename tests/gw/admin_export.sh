#!/bin/sh
# admin_export.sh - /admin/export streams: 50,000 records (about 50 MB) to a client reading at
# 20 MB/s while chat traffic goes on: the export is whole and in order, every chat request is
# answered, and the gateway's peak memory does not grow by the export's size. A client that
# leaves mid-export frees its slot. /admin/samples reads its indexes.
. "$TESTS_SRCDIR/gw/gwlib.sh"

N=50000
start_standin up --echo
# A small ASan quarantine: freed slices would otherwise stay resident and read as growth.
ASAN_OPTIONS="${ASAN_OPTIONS:-}:quarantine_size_mb=8:thread_local_quarantine_size_kb=256"
export ASAN_OPTIONS
start_gateway --upstream "$up_URL"
"$OFFRAMP" -w "$WS" task add bulk > /dev/null
sql "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < $N)
     INSERT INTO exchanges(rid, task_id, ts, arm, status, record)
     SELECT 'b' || x, (SELECT id FROM tasks WHERE name = 'bulk'),
            strftime('%Y-%m-%dT%H:%M:%fZ', 1793491200 + x, 'unixepoch'), 'primary', 200,
            json_object('id', 'b' || x, 'task', 'bulk', 'request', json_object('messages',
               json_array(json_object('role', 'user', 'content', hex(randomblob(450)))))) FROM c"
is "$(sql "SELECT count(*) FROM exchanges WHERE rid LIKE 'b%'")" $N "$N records to export"
BYTES=$(sql "SELECT sum(length(record) + 1) FROM exchanges WHERE rid LIKE 'b%'")

# Warm up, then take the peak RSS as it stands.
"$LOADGEN" --url "$GW/v1/chat/completions" -n 500 -c 8 --task live --expect-echo > /dev/null
wait_captured
hwm() { awk '/^VmHWM:/ { print $2 }' "/proc/$GW_PID/status"; }
HWM0=$(hwm)

curl -s -N --limit-rate 20M -H "Authorization: Bearer $TOKEN" -o "$WORK/export.jsonl" -w '%{http_code}' \
   "$GW/admin/export?task=bulk" > "$WORK/export.code" &
EXPORT_PID=$!
# Chat load in runs of 300 for as long as the export lasts (20 MB/s: 2 s at the very least).
: > "$WORK/load.jsonl"
while kill -0 $EXPORT_PID 2>/dev/null; do
   "$LOADGEN" --url "$GW/v1/chat/completions" -n 300 -c 8 --task live --expect-echo >> "$WORK/load.jsonl"
done
wait $EXPORT_PID
RUNS=$(wc -l < "$WORK/load.jsonl" | tr -d ' ')
SENT=$(jq -s 'map(.sent) | add' "$WORK/load.jsonl")
echo "# $RUNS load runs during the export, the last: $(tail -1 "$WORK/load.jsonl")"
check "chat load ran during the export ($RUNS runs of 300)" [ "$RUNS" -ge 1 ]
is "$(jq -s 'map(.ok) | add' "$WORK/load.jsonl")" "$SENT" "every chat request during the export was answered"
is "$(cat "$WORK/export.code")" 200 "export: 200"
is "$(wc -l < "$WORK/export.jsonl" | tr -d ' ')" $N "export: every record, one per line"
is "$(wc -c < "$WORK/export.jsonl" | tr -d ' ')" "$BYTES" "export: every byte"
is "$(head -1 "$WORK/export.jsonl" | jq -r .id) $(tail -1 "$WORK/export.jsonl" | jq -r .id)" "b1 b$N" \
   "export: oldest first"
is "$(jq -r .id "$WORK/export.jsonl" | awk '{ n = substr($1, 2) + 0 } n != NR { bad++ } END { print bad + 0 }')" 0 \
   "export: each line a record, in id order"
HWM1=$(hwm)
GROWTH=$(( (HWM1 - HWM0) / 1024 ))
echo "# gateway peak RSS ${HWM0} kB before the export, ${HWM1} kB after (+${GROWTH} MB for a $((BYTES / 1048576)) MB export)"
check "the gateway's peak memory grew by less than 32 MB (the export is $((BYTES / 1048576)) MB)" [ "$GROWTH" -lt 32 ]

is "$(admin GET "/admin/export?task=bulk&limit=10" | wc -l | tr -d ' ')" 10 "limit=10: 10 records"
is "$(admin GET "/admin/export?task=bulk&since=2026-11-01T13:00:00" | wc -l | tr -d ' ')" $((N - 46799)) \
   "since: the records from then on"
is "$(admin GET "/admin/export?task=nosuch" | wc -c | tr -d ' ')" 0 "an unknown task: an empty export"
wait_captured
is "$(admin GET "/admin/export?task=live" | wc -l | tr -d ' ')" $((500 + SENT)) "the captured task: every record"

# /admin/samples reads a kind's partial index instead of scanning the table.
is "$(sql "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name IN
          ('exchanges_disagree', 'exchanges_agree', 'exchanges_fallback', 'exchanges_error')")" 4 \
   "the samples indexes exist"
sql "UPDATE exchanges SET agree = 0 WHERE rid IN ('b7', 'b49000', 'b49999')"
is "$(admin GET "/admin/samples?task=bulk&kind=disagree&limit=2" | jq -c '[.samples[].id]')" '["b49999","b49000"]' \
   "samples: a task's newest disagreements first"
is "$(admin GET "/admin/samples?kind=disagree" | jq -c '[.samples[].id]')" '["b49999","b49000","b7"]' \
   "samples of every task"
is "$(admin GET "/admin/samples?task=bulk&kind=error" | jq '.samples | length')" 0 "no errors: an empty list"
is "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$GW/admin/samples?limit=100000")" 400 \
   "samples past 1000: 400 (that is what export is for)"

# Clients that leave mid-export: their exports end and free their slots (4 at most at once).
for i in 1 2 3 4 5; do
   curl -s -m 1 --limit-rate 200K -H "Authorization: Bearer $TOKEN" -o /dev/null "$GW/admin/export?task=bulk"
done
for _ in $(seq 100); do [ "$(grep -c 'client left' "$WORK/gw.err")" -ge 5 ] && break; sleep 0.1; done
is "$(grep -c 'client left' "$WORK/gw.err")" 5 "each departure is noticed"
is "$(admin GET "/admin/export?task=bulk&limit=3" | wc -l | tr -d ' ')" 3 "and a new export still runs"
is "$(curl -s "$GW/healthz" | jq -r .status)" ok "the gateway is healthy"
finish
