#!/bin/sh
# textcompare.sh - the gateway's shadow comparison of text answers on the route's metric and
# threshold: the frontier's summary and the candidate's with "* " bullets instead of "- "
# (chrF 0.88) agree at the default 0.80 and not at 0.95; exact comparison calls every one a
# disagreement; the primary-vs-primary noise baseline uses the same metric.
. "$TESTS_SRCDIR/gw/gwlib.sh"

DASH='- Customer was charged twice for order 1182 - Refund issued to the card - Apology sent'
STAR='* Customer was charged twice for order 1182 * Refund issued to the card * Apology sent'
start_standin primary --content "$DASH" --seed 3
start_standin cand --content "$STAR" --seed 5
start_gateway --upstream "$primary_URL"

send() {   # send TASK N: N chats tagged TASK
   for i in $(seq "$2"); do
      chat "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"notes for ticket $1-$i\"}]}" \
         -H "X-Offramp-Task: $1" > /dev/null
   done
}
agreed() {   # agreed TASK: "agree/compared" of its captured exchanges
   sql "SELECT coalesce(sum(agree = 1), 0) || '/' || count(agree) FROM exchanges e JOIN tasks t ON t.id = e.task_id WHERE t.name = '$1'"
}

# The routes are forced past the gates (with a reason): this test is about how answers are
# compared, not about how the task earned its route (tests/cli/gates.sh).
route() {   # route TASK BODY
   admin PUT "/admin/routes/$1?reason=comparison%20test&force=1" "$2"
}
route notes "{\"mode\":\"shadow\",\"candidate\":{\"url\":\"$cand_URL\"},\"compare\":\"text\",\"noise_percent\":100}" > "$WORK/r1.json"
is "$(jq -r '.route.metric // .metric' "$WORK/r1.json")" chrf "a text route scores chrF by default"
send notes 6
wait_captured || true
is "$(agreed notes)" 6/6 "other bullets agree on chrF at the default threshold 0.80"
is "$(sql "SELECT count(*) FROM exchanges e JOIN tasks t ON t.id = e.task_id WHERE t.name = 'notes' AND json_extract(record, '\$.noise.agree') = 1")" \
   6 "the noise baseline (primary twice) agrees on the same metric"

route strict "{\"mode\":\"shadow\",\"candidate\":{\"url\":\"$cand_URL\"},\"compare\":\"text\",\"threshold\":0.95}" > /dev/null
send strict 6
wait_captured || true
is "$(agreed strict)" 0/6 "at a 0.95 threshold they disagree"

route rouge "{\"mode\":\"shadow\",\"candidate\":{\"url\":\"$cand_URL\"},\"compare\":\"text\",\"metric\":\"rouge-l\",\"threshold\":0.95}" > /dev/null
send rouge 6
wait_captured || true
is "$(agreed rouge)" 6/6 "ROUGE-L (words only) agrees at 0.95"

route exact "{\"mode\":\"shadow\",\"candidate\":{\"url\":\"$cand_URL\"},\"compare\":\"exact\"}" > /dev/null
send exact 6
wait_captured || true
is "$(agreed exact)" 0/6 "exact comparison: every one a disagreement (the issue's 0.0 %)"

route bad "{\"compare\":\"text\",\"metric\":\"bleu\"}" > "$WORK/bad.json"
check "an unknown metric is refused by the admin API" grep -q "metric 'bleu' is not one of chrf, rouge-l" "$WORK/bad.json"
finish
