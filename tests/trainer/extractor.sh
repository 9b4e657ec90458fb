#!/bin/sh
# extractor.sh - the built-in trainer on an extraction dataset (answers are JSON objects whose
# fields are spans of the input): the job trains an extractor, the model answers the JSON object
# with per-field logprobs that spell the answer, a restart keeps serving it; a dataset with a
# field that is not a span (> 5 % of the examples giving it) fails at validation naming the field.
. "$TESTS_SRCDIR/lib.sh"
. "$TESTS_SRCDIR/trainer/serve.sh"
cd "$TMP" || exit 1
GEN="$TESTS_SRCDIR/trainer/gen_extract.awk"

awk -v n=600 -v seed=1 -f "$GEN" > train.jsonl
awk -v n=100 -v seed=2 -f "$GEN" > valid.jsonl
awk -v n=300 -v seed=3 -v nonspan=0.2 -f "$GEN" > nonspan.jsonl
# one answer that is not an object among objects
{ head -5 train.jsonl; sed -n 6p train.jsonl | sed 's/"content":"{[^}]*}"}\]}$/"content":"billing"}]}/'; } > mixed.jsonl

serve tr "$OFFRAMP" trainer --listen 127.0.0.1:0 --dir "$TMP/state" || { echo "1..0 # SKIP trainer did not start"; exit 0; }
U=http://127.0.0.1:$tr_PORT/v1

upload() { probe POST /files --form "$1" --get id; FILE=$V; }
job() {   # job TRAINING-FILE [VALIDATION-FILE]: creates a job, waits, sets JOB and STATUS
   _v=""
   [ -n "${2:-}" ] && _v=",\"validation_file\":\"$2\""
   probe POST /fine_tuning/jobs --json "{\"model\":\"distill\",\"training_file\":\"$1\"$_v,\"suffix\":\"ext\",\"seed\":7}" --get id
   JOB=$V
   wait_job "$JOB"
}

# A field that is not a span of the input in ~20 % of the examples: refused at validation.
upload nonspan.jsonl
job "$FILE"
equals "non-span field: the job fails" "$STATUS" failed
probe GET "/fine_tuning/jobs/$JOB" --get error.code --get error.param --get error.message --get fine_tuned_model
equals "an OpenAI-shaped error on the training file" "$(line 1) $(line 2)" "invalid_training_file training_file"
contains "the reason names the field" "$(line 3)" "field 'date'"
contains "... the rule" "$(line 3)" "(at most 5 % may)"
contains "... and an example" "$(line 3)" "e.g. example "
equals "no model" "$(line 4)" null
ls state/models/ > models.txt
equals "nothing written under models/" "$(cat models.txt)" ""

upload mixed.jsonl
job "$FILE"
probe GET "/fine_tuning/jobs/$JOB" --get error.message
contains "an answer that is not an object is named" "$STATUS $V" "failed Training file"
contains "... by its example number" "$V" "example 6: the assistant answer is not a JSON object"

# The real job.
upload train.jsonl
TRAIN=$FILE
upload valid.jsonl
job "$TRAIN" "$FILE"
equals "extraction job succeeded" "$STATUS" succeeded
probe GET "/fine_tuning/jobs/$JOB" --get fine_tuned_model
MODEL=$V
contains "model name" "$MODEL" "ft:distill:ext:"
"$PROBE" GET "$U/fine_tuning/jobs/$JOB/events?limit=100" > events.json
contains "the events say an extractor is trained" "$(cat events.json)" "training an extractor"
contains "the fields are listed" "$(cat events.json)" "extractor, 5 fields: customer (T"
probe GET "/fine_tuning/jobs/$JOB/checkpoints" --get data.0.metrics.full_valid_mean_token_accuracy
awk -v a="$V" 'BEGIN { exit !(a >= 0.95) }' && ok "validation field accuracy $V >= 0.95" || not_ok "validation field accuracy $V >= 0.95"
test -f "state/models/$JOB.extractor" && ok "the model file is an extractor" || not_ok "no state/models/$JOB.extractor"

ask() {   # ask TEXT EXTRA-JSON GETS...
   _t=$1; _x=$2; shift 2
   probe POST /chat/completions --json "{\"model\":\"$MODEL\",\"messages\":[{\"role\":\"system\",\"content\":\"Extract.\"},{\"role\":\"user\",\"content\":\"$_t\"}]$_x}" "$@"
}
ask "Refund \$42.10 to Maya Costa for order ORD-31337, the desk lamp arrived broken." ',"logprobs":true' \
   --get choices.0.message.content --get choices.0.logprobs.content.0.token --get choices.0.logprobs.content.0.logprob \
   --get choices.0.logprobs.content.1.token --get choices.0.logprobs.content.5.token --get choices.0.logprobs.content.10.token
equals "the answer is the JSON object, null where the ticket has no value" "$CODE $(line 1)" \
   '200 {"customer":"Maya Costa","order_id":"ORD-31337","date":null,"amount":"$42.10","product":"desk lamp"}'
equals "fixed parts are certain tokens" "$(line 2) $(line 3)" '{"customer": 0.0'
equals "a field's value is one token" "$(line 4)" '"Maya Costa"'
equals "null is a value token too" "$(line 5)" 'null'
equals "the last token closes the object" "$(line 6)" '}'
"$PROBE" POST "$U/chat/completions" --json "{\"model\":\"$MODEL\",\"logprobs\":true,\"messages\":[{\"role\":\"user\",\"content\":\"Customer: Ines Novak\\nOrder: #123456\\nDate: March 3, 2025\\nItem: webcam\\nTotal: EUR 99.00\"}]}" | sed 1d > resp.json
lp_check=$(jq -r '.choices[0] | (.logprobs.content | map(.token) | join("")) == .message.content' resp.json)
equals "the logprob tokens spell the content exactly" "$lp_check" true
equals "a five-line ticket, every field" "$(jq -r '.choices[0].message.content' resp.json)" \
   '{"customer":"Ines Novak","order_id":"#123456","date":"March 3, 2025","amount":"EUR 99.00","product":"webcam"}'
lps=$(jq '[.choices[0].logprobs.content[].logprob] | map(select(. < 0)) | length' resp.json)
ok_range=$(jq '[.choices[0].logprobs.content[].logprob] | all(. <= 0 and . > -50)' resp.json)
equals "every logprob is a log-probability" "$ok_range" true
echo "# $lps of 5 field logprobs below 0"
ask "Order ORD-00001: 2 x webcam charged \$10.00 on 2025-01-01. Customer Zoe Zhou wants a refund." ',"stream":true'
contains "stream: the object in one delta" "$V" '"content":"{\"customer\":\"Zoe Zhou\"'
contains "stream: ends with [DONE]" "$V" "data: [DONE]"
probe GET /models --get data.0.id
equals "the extractor is listed" "$V" "$MODEL"

# The model runs off the event loop: while it reads a long input (900 KB, most of a second),
# the trainer keeps answering other clients. When the loop ran the model, a /healthz sent
# meanwhile waited for it, and only the few sent before the long request arrived counted.
awk -v m="$MODEL" 'BEGIN { t = "Order UX1975: 3 x webcam charged 1029.36 USD on 08/10/2024. Customer Zoe Petrov wants a refund. "
   s = t; while (length(s) < 900000) s = s s
   printf "{\"model\":\"%s\",\"messages\":[{\"role\":\"user\",\"content\":\"%s\"}]}", m, substr(s, 1, 900000) }' > long.json
rm -f long.done
( curl -s --max-time 120 -o long.out -w '%{http_code}' -H 'Content-Type: application/json' --data-binary @long.json \
     "$U/chat/completions" > long.code; touch long.done ) &
LONG=$!
n=0
tries=0
while [ ! -e long.done ] && [ $tries -lt 1000 ]; do
   code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "http://127.0.0.1:$tr_PORT/healthz")
   [ ! -e long.done ] && [ "$code" = 200 ] && n=$((n + 1))
   tries=$((tries + 1))
done
wait $LONG
equals "a 900 KB input is answered" "$(cat long.code)" 200
contains "... with its fields" "$(cat long.out)" 'customer'
check "while the model read it, /healthz kept answering ($n answers before it)" test "$n" -ge 10

# A client that leaves while the model reads its input: nothing is sent to it, the trainer
# stays up and answers the next request (ASan build: nothing touches the freed request).
curl -s --max-time 0.2 -o /dev/null -H 'Content-Type: application/json' --data-binary @long.json "$U/chat/completions"
ask "Please cancel AB1234 as soon as possible. Thanks, Rosa Silva" '' --get choices.0.message.content
equals "a client gone mid-answer: the next request is answered" "$CODE $V" \
   '200 {"customer":"Rosa Silva","order_id":"AB1234","date":null,"amount":null,"product":null}'
# Bytes that are not UTF-8 in a message: refused before any model runs, the trainer stays up.
printf '{"model":"%s","messages":[{"role":"user","content":"order \377\376 AB1234"}]}' "$MODEL" > bad.json
code=$(curl -s -o bad.out -w '%{http_code}' -H 'Content-Type: application/json' --data-binary @bad.json "$U/chat/completions")
equals "a message that is not UTF-8: 400" "$code" 400
contains "... in OpenAI's error shape" "$(cat bad.out)" '"error"'
probe GET /models --get data.0.id
equals "... and the trainer still serves" "$CODE $V" "200 $MODEL"

# A restart reloads and serves the extractor.
stop "$tr_PID"
serve tr "$OFFRAMP" trainer --listen 127.0.0.1:0 --dir "$TMP/state" || not_ok "trainer restarts"
U=http://127.0.0.1:$tr_PORT/v1
ask "Please cancel AB1234 as soon as possible. Thanks, Rosa Silva" '' --get choices.0.message.content
equals "served after a restart" "$CODE $V" '200 {"customer":"Rosa Silva","order_id":"AB1234","date":null,"amount":null,"product":null}'
printf 'garbage' > "state/models/$JOB.extractor"
stop "$tr_PID"
serve tr "$OFFRAMP" trainer --listen 127.0.0.1:0 --dir "$TMP/state" || not_ok "trainer restarts"
U=http://127.0.0.1:$tr_PORT/v1
ask "x" '' --get error.code --get error.message
equals "a corrupted extractor is refused" "$CODE $(line 1)" "500 model_unavailable"
contains "... saying why" "$(line 2)" "not an extractor model"
done_testing
