#!/bin/sh
# hardening.sh - offramp trainer against hostile or careless clients: a bearer token on every
# route but /healthz (401 in OpenAI's shape), no unauthenticated non-loopback listener, an
# upload filename that is not UTF-8 (cleaned, no crash, no orphan file), owner-only files,
# the upload quota (--max-files, --max-storage) refused before anything is written, DELETE
# /v1/files/ID, and what an interrupted write leaves swept at start-up.
. "$TESTS_SRCDIR/lib.sh"
. "$TESTS_SRCDIR/trainer/serve.sh"
cd "$TMP" || exit 1
unset OFFRAMP_TRAINER_TOKEN HTTP_PROBE_TOKEN

gen 80 1 > train.jsonl
gen 3 2 > small.jsonl

# modes DIR: the permission bits of every file in DIR, sorted and deduplicated
modes() { find "$1" -type f -exec stat -c %a {} + | sort -u | tr '\n' ' '; }

# No token: loopback only. (timeout: a trainer that starts anyway must not hang the test.)
run timeout 10 "$OFFRAMP" trainer --listen 0.0.0.0:0 --dir "$TMP/open"
expect_rc "no token and a non-loopback --listen: refused" 2
contains "the refusal says how to set a token" "$ERR" "pass --token-file FILE or set OFFRAMP_TRAINER_TOKEN"
OFFRAMP_TRAINER_TOKEN=short run timeout 10 "$OFFRAMP" trainer --listen 127.0.0.1:0 --dir "$TMP/open"
expect_rc "a token shorter than 16 characters: refused" 1
run "$OFFRAMP" trainer --help
contains "--help documents the token" "$OUT" "--token-file FILE"
contains "--help documents the quota" "$OUT" "--max-storage BYTES"

# Without a token on loopback (as before tokens existed): bad filenames and file modes.
serve tr "$OFFRAMP" trainer --listen 127.0.0.1:0 --dir "$TMP/state" \
   || { not_ok "the trainer starts on loopback without a token" "$(cat tr.err)"; done_testing; exit 1; }
U=http://127.0.0.1:$tr_PORT/v1
contains "it says it runs without a token" "$(cat tr.err)" "no token"

# Owner-only files: uploads, job records, results, models.
probe POST /files --form train.jsonl --get id
TRAIN=$V
probe POST /fine_tuning/jobs --json "{\"model\":\"distill\",\"training_file\":\"$TRAIN\",\"hyperparameters\":{\"n_epochs\":2}}" --get id
JOB=$V
i=0
while [ $i -lt 300 ]; do
   probe GET "/fine_tuning/jobs/$JOB" --get status
   case $V in succeeded|failed|cancelled) break ;; esac
   sleep 0.1
   i=$((i + 1))
done
equals "a job trains with the token" "$V" succeeded
equals "every file the trainer wrote is 0600" "$(modes state)" "600 "

# A filename that is not UTF-8: cleaned to U+FFFD, no crash, no orphan.
probe POST /files --form small.jsonl --filename "$(printf 'bad\377.jsonl')" --get id --get filename
BAD=$(line 1)
equals "non-UTF-8 filename: 200, cleaned to U+FFFD" "$CODE $(line 2)" "200 $(printf 'bad\357\277\275.jsonl')"
probe GET "/files/$BAD" --get filename
equals "the stored record has the cleaned name" "$CODE $V" "200 $(printf 'bad\357\277\275.jsonl')"
"$PROBE" GET "http://127.0.0.1:$tr_PORT/healthz" > probe.out 2>&1
equals "the trainer is still up" "$(sed -n 1p probe.out)" 200
kill -0 "$tr_PID" 2>/dev/null || { not_ok "the trainer survived the upload" "$(tail -5 tr.err)"; done_testing; exit 1; }
equals "its record and data on disk, no temporary file" "$(ls state/files | grep "^$BAD" | sort | tr '\n' ' ')" \
   "$BAD.data $BAD.json "
equals "no file on disk without its record" "$(ls state/files | grep -c -v '^file-[A-Za-z0-9]*\.\(data\|json\)$')" 0
probe POST /files --form small.jsonl --filename "$(awk 'BEGIN { for (i = 0; i < 300; i++) printf "n" }')" --get error.param
equals "a 300-byte filename: 400 on file" "$CODE $V" "400 file"

TOKEN=0123456789abcdef-trainer-test
printf '%s\n' "$TOKEN" > token
stop "$tr_PID"
serve tr "$OFFRAMP" trainer --listen 127.0.0.1:0 --dir "$TMP/state" --token-file token --max-files 3 \
   || { not_ok "the trainer starts with --token-file" "$(cat tr.err)"; done_testing; exit 1; }
U=http://127.0.0.1:$tr_PORT/v1

# The token.
probe GET /files --get error.type --get error.code --get header:WWW-Authenticate --get error.message
equals "no token: 401 authentication_error invalid_api_key" "$CODE $(line 1) $(line 2)" "401 authentication_error invalid_api_key"
equals "with WWW-Authenticate: Bearer" "$(line 3)" Bearer
contains "the 401 says what to send" "$(line 4)" "Authorization: Bearer TOKEN"
probe POST /files --form small.jsonl --bearer wrong-token-wrong-token --get error.code --get error.message
equals "wrong token: 401" "$CODE $(line 1)" "401 invalid_api_key"
lacks "the 401 never echoes a token" "$(line 2)" wrong-token
probe POST /fine_tuning/jobs --json '{"model":"distill","training_file":"x"}' --get error.code
equals "jobs need the token too" "$CODE" 401
probe POST /chat/completions --json '{"model":"m","messages":[]}' --get error.code
equals "chat needs the token too" "$CODE" 401
equals "nothing was stored without the token" "$(ls state/files | wc -l | tr -d ' ')" 6
"$PROBE" GET "http://127.0.0.1:$tr_PORT/healthz" > probe.out 2>&1
equals "/healthz stays open" "$(sed -n 1p probe.out)" 200
export HTTP_PROBE_TOKEN="$TOKEN"
probe GET /files --get object
equals "the right token: 200" "$CODE $V" "200 list"

# The quota: 3 files (the upload, the training file and the job's result file are stored).
probe POST /files --form small.jsonl --get error.type --get error.code --get error.message --get header:x-should-retry
equals "past --max-files: 429 insufficient_quota file_quota_exceeded" "$CODE $(line 1) $(line 2)" \
   "429 insufficient_quota file_quota_exceeded"
contains "the message names the limit and the flag" "$(line 3)" "3 files, its limit (--max-files 3)"
equals "OpenAI clients are told not to retry" "$(line 4)" false
equals "nothing written when refused" "$(ls state/files | wc -l | tr -d ' ')" 6
probe DELETE "/files/$BAD" --get deleted --get id
equals "DELETE /v1/files/ID" "$CODE $(line 1) $(line 2)" "200 true $BAD"
equals "its record and data are gone" "$(ls state/files | grep -c "$BAD")" 0
probe GET "/files/$BAD" --get error.code
equals "a deleted file is not found" "$CODE $V" "404 file_not_found"
probe POST /files --form small.jsonl --get object
equals "after a delete an upload fits again" "$CODE $V" "200 file"

# The byte quota, after a restart that also sweeps what an interrupted write left.
stop "$tr_PID"
used=$(cat state/files/*.data | wc -c | tr -d ' ')
: > state/files/file-orphan.data
: > state/files/file-x.json.tmp.AbC123
: > state/models/ftjob-x.model.tmp.AbC123
chmod 644 state/jobs/*.json
serve tr "$OFFRAMP" trainer --listen 127.0.0.1:0 --dir "$TMP/state" --token-file token --max-storage $((used + 1000)) \
   || not_ok "trainer restarts"
U=http://127.0.0.1:$tr_PORT/v1
equals "start-up removed the orphan data and temporary files" \
   "$(ls state/files state/models | grep -c 'orphan\|tmp')" 0
contains "and said so" "$(cat tr.err)" "left by an interrupted write"
equals "files an older trainer left readable by others are 0600 again" "$(modes state)" "600 "
probe POST /files --form train.jsonl --get error.code --get error.message
equals "past --max-storage: 429 storage_quota_exceeded" "$CODE $(line 1)" "429 storage_quota_exceeded"
contains "the message names the limit and the flag" "$(line 2)" "(--max-storage $((used + 1000)))"
equals "nothing written when refused" "$(ls state/files | wc -l | tr -d ' ')" 6
probe POST /files --form small.jsonl --get object
equals "a file within the bytes left fits" "$CODE $V" "200 file"
stop "$tr_PID"
serve tr "$OFFRAMP" trainer --listen 127.0.0.1:0 --dir "$TMP/state" --token-file token --max-storage 100 \
   || not_ok "trainer restarts"
U=http://127.0.0.1:$tr_PORT/v1
probe POST /files --form train.jsonl --get error.code
equals "a file larger than the whole quota: 413" "$CODE $V" "413 storage_quota_exceeded"

# The client: offramp train sends the token from the backend's --key-env variable.
"$OFFRAMP" task add intent >/dev/null
"$OFFRAMP" backend add notoken --kind openai-ft --url "$U" >/dev/null
run "$OFFRAMP" train intent --train small.jsonl --base-model distill --backend notoken
expect_rc "a backend without the token is refused" 1
contains "the trainer's 401 reaches the user" "$ERR" "HTTP 401: the trainer needs 'Authorization: Bearer TOKEN'"
done_testing
