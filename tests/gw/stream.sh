#!/bin/sh
# stream.sh - streaming keeps the safety net: a candidate's stream reaches the client only
# once it is an SSE stream of chat.completion.chunk from a 2xx (HTML, error statuses and error
# events fall back to the primary), low-confidence answers fall back as often streamed as not,
# fallback streams say X-Offramp-Arm: fallback, and a client that leaves mid-stream stops the
# upstream transfer and leaves a record marked truncated.
. "$TESTS_SRCDIR/gw/gwlib.sh"

start_standin primary --echo --chunks 3
start_standin html --garbage-rate 1
start_standin e500 --fail-rate 1
start_standin sseerr --sse-error
# Two label candidates with one seed answer the same sequence: 45 % of answers at logprob -3.
start_standin lowa --content billing --seed 7 --logprob -0.01 --low-rate 0.45 --chunks 3
start_standin lowb --content billing --seed 7 --logprob -0.01 --low-rate 0.45 --chunks 3
start_standin text --content "the order shipped on monday" --seed 11 --logprob -0.01 --low-rate 0.45 \
   --chunks 5 --chunk-delay-ms 150
start_standin slow --content "a long story" --chunks 400 --chunk-delay-ms 50
start_gateway --upstream "$primary_URL"

route() {   # route TASK CANDIDATE_URL [COMPARE MIN_CONFIDENCE]
   admin PUT "/admin/routes/$1" "{\"force\":true,\"reason\":\"a test of streaming, not of the gates\",\"mode\":\"cutover\",\"candidate\":{\"url\":\"$2\"},\"compare\":\"${3:-label}\",\"fallback\":{\"min_confidence\":${4:-0},\"on_error\":true,\"timeout_ms\":30000}}" > /dev/null
}

# streams PREFIX N TASK STREAM: N requests "PREFIX<i>" in turn; bodies in $WORK/PREFIX.<i>, and
# $WORK/PREFIX.sum gets one line per request: i, arm, content type, seconds from the first byte
# to the last, whether the body is SSE of chat.completion.chunk ending in data: [DONE] (1/0),
# and the answer the chunks spell. (One jq and two awk for them all: the loop forks little.)
streams() {
   local prefix=$1 n=$2 task=$3 stream=$4 i
   : > "$WORK/$prefix.meta"
   for i in $(seq "$n"); do
      curl -s -N -o "$WORK/$prefix.$i" -H "X-Offramp-Task: $task" \
         -w "$i %header{x-offramp-arm} %header{content-type} %{time_starttransfer} %{time_total}\n" \
         -d "{\"model\":\"m\",\"stream\":$stream,\"messages\":[{\"role\":\"user\",\"content\":\"$prefix$i\"}]}" \
         "$GW/v1/chat/completions" >> "$WORK/$prefix.meta"
   done
   files=$(seq "$n" | sed "s|^|$WORK/$prefix.|")
   # shellcheck disable=SC2086
   jq -Rr 'select(startswith("data: {")) | (.[6:] | fromjson? // {}) as $c |
           [input_filename, ($c.object // "-"), ($c.choices[0].delta.content // "")] | @tsv' $files \
      > "$WORK/$prefix.chunks" 2> /dev/null
   # shellcheck disable=SC2086
   awk -v chunks="$WORK/$prefix.chunks" -v meta="$WORK/$prefix.meta" '
      BEGIN {
         FS = "\t"
         while ((getline l < chunks) > 0) {
            split(l, c, "\t"); text[c[1]] = text[c[1]] c[3]; if (c[2] != "chat.completion.chunk") bad[c[1]] = 1
            nchunks[c[1]]++
         }
      }
      { sub(/\r$/, "") }
      /^data: / { last[FILENAME] = $0; next }
      $0 != "" { bad[FILENAME] = 1 }
      END {
         FS = " "
         while ((getline l < meta) > 0) {
            split(l, m, " "); f = FILENAME; sub(/\.[0-9]+$/, "." m[1], f)
            ok = !bad[f] && nchunks[f] > 0 && last[f] == "data: [DONE]"
            printf "%s\t%s\t%s\t%.3f\t%d\t%s\n", m[1], m[2], m[3], m[5] - m[4], ok, text[f]
         }
      }' $files > "$WORK/$prefix.sum"
}
count() { awk -F'\t' "$2" "$WORK/$1.sum" | wc -l; }   # count PREFIX AWK-CONDITION

# --- a candidate that answers the stream with something else: the primary streams instead ---
for bad in html e500 sseerr; do
   eval "url=\$${bad}_URL"
   route "bad-$bad" "$url"
   streams "$bad" 5 "bad-$bad" true
   is "$(count "$bad" '$2 == "fallback"')" 5 "$bad candidate: 5/5 streams fell back (X-Offramp-Arm: fallback)"
   is "$(count "$bad" '$3 == "text/event-stream" && $5 == 1 && $6 == "echo:'"$bad"'" $1')" 5 \
      "$bad candidate: 5/5 clients got the primary's answer as valid SSE ending in [DONE]"
done
wait_captured || true
for bad in html e500 sseerr; do
   is "$(sql "SELECT count(*) FROM exchanges e JOIN tasks t ON t.id = e.task_id WHERE t.name = 'bad-$bad' AND e.arm = 'fallback' AND json_extract(record, '$.fallback_reason') = 'error' AND json_extract(record, '$.response.choices[0].message.content') LIKE 'echo:$bad%'")" \
      5 "$bad candidate: fallback records carry reason error and the primary's answer"
done

# --- low confidence: as many fallbacks streamed as not ---
route lab-nostream "$lowa_URL" label 0.5
route lab-stream "$lowb_URL" label 0.5
N=150
streams plain $N lab-nostream false
streams lab $N lab-stream true
fb_plain=$(count plain '$2 == "fallback"')
fb_stream=$(count lab '$2 == "fallback"')
low=$(curl -s "${lowb_URL%/v1}/stats" | jq .low)
echo "# label fallbacks: $fb_plain/$N without streaming, $fb_stream/$N streamed; the candidate stand-in answered $low/$N low"
check "the stand-in answered some, not all, with low confidence ($low/$N)" test "$low" -gt 0 -a "$low" -lt $N
is "$(curl -s "${lowa_URL%/v1}/stats" | jq .low)" "$low" "both label candidates answered the same sequence"
is "$fb_plain" "$low" "label, not streamed: every low-confidence answer fell back"
is "$fb_stream" "$low" "label, streamed: every low-confidence answer fell back ($fb_stream/$N, as without streaming)"
is "$(count lab '$5 == 1')" $N "label, streamed: every stream is valid SSE ending in [DONE]"
is "$(count lab '($2 == "fallback" && $6 == "echo:lab" $1) || ($2 == "candidate" && $6 == "billing")')" $N \
   "label, streamed: fallbacks carry the primary's answer, the rest the candidate's"
admin GET "/admin/stats?task=lab-stream" > "$WORK/labstats.json"
is "$(jq .tasks[0].windows.all.fallbacks.low_confidence "$WORK/labstats.json")" "$low" "streamed fallbacks counted: low_confidence"

# --- free text: decided on the first content event, the rest streams as it comes ---
route txt "$text_URL" text 0.5
streams txt 20 txt true
tlow=$(curl -s "${text_URL%/v1}/stats" | jq .low)
is "$(count txt '$2 == "fallback"')" "$tlow" "text, streamed: every low-confidence answer fell back ($tlow/20)"
is "$(count txt '$5 == 1 && (($2 == "fallback" && $6 == "echo:txt" $1) || ($2 == "candidate" && $6 == "the order shipped on monday"))')" 20 \
   "text, streamed: 20/20 valid SSE with the right arm's answer"
# The candidate's 5 chunks come 150 ms apart: its first bytes reach the client long before its last.
is "$(count txt '$2 == "candidate" && $4 >= 0.3')" "$((20 - tlow))" \
   "text, streamed: confident answers stream chunk by chunk once the first content is scored"

# --- the client leaves mid-stream: the upstream transfer stops, the record says truncated ---
route gone "$slow_URL"
curl -s -N --max-time 1 -o "$WORK/partial" -H "X-Offramp-Task: gone" -d '{"stream":true,"messages":[{"role":"user","content":"bye"}]}' "$GW/v1/chat/completions"
check "the client got part of the stream before it left" grep -q '^data: {' "$WORK/partial"
for _ in $(seq 300); do
   curl -s "${slow_URL%/v1}/stats" > "$WORK/slowstats.json"
   [ "$(jq '.streams_done + .streams_abandoned' "$WORK/slowstats.json")" -ge 1 ] && break
   sleep 0.1
done
is "$(jq -c '[.streams_abandoned, .streams_done]' "$WORK/slowstats.json")" "[1,0]" \
   "the gateway cut the upstream stream when its client left (abandoned, done)"
wait_captured || true
is "$(sql "SELECT json_extract(record, '$.truncated') FROM exchanges e JOIN tasks t ON t.id = e.task_id WHERE t.name = 'gone'")" client_disconnected \
   "the exchange is recorded as truncated"
is "$(metric offramp_inflight)" 0 "no exchange left in flight"
finish
