#!/bin/sh
# import.sh - offramp import / audit / touchpoints / prices / demo-logs through the real binary:
# gzip, stdin, CSV, idempotence, malformed input, CLI errors.
. "$TESTS_SRCDIR/lib.sh"
command -v sqlite3 >/dev/null || skip_all "the sqlite3 CLI is not installed"
D="$TESTS_SRCDIR/data"

run "$OFFRAMP" import "$D/pairs.jsonl"
expect_rc "import OpenAI pairs and exchange records" 0
contains "summary counts" "$OUT" "5 rows read, 4 imported, 0 duplicates skipped, 1 malformed"
contains "malformed line listed with its number" "$OUT" "pairs.jsonl:4: invalid JSON"
contains "unpriced model flagged" "$OUT" "unpriced: 1 calls of model acme-1"

run "$OFFRAMP" import "$D/pairs.jsonl"
contains "re-import adds nothing" "$OUT" "0 imported, 4 duplicates skipped"

gzip -c "$D/litellm.csv" >"$TMP/spend.csv.gz"
run "$OFFRAMP" import --json "$TMP/spend.csv.gz"
expect_rc "import gzipped LiteLLM CSV" 0
contains "CSV rows imported" "$OUT" '"imported": 2'
contains "format counted" "$OUT" '"LiteLLM spend log": 2'

run sh -c "gzip -c '$D/pairs.jsonl' | '$OFFRAMP' import -"
expect_rc "import gzip from stdin" 0
contains "stdin: already there" "$OUT" "0 imported, 4 duplicates skipped"

run "$OFFRAMP" import --strict "$D/pairs.jsonl"
expect_rc "--strict fails on malformed records" 1

run "$OFFRAMP" audit
expect_rc "audit" 0
contains "seed-001 table header" "$OUT" "feature"
contains "calls/day column" "$OUT" "calls/day avg cost/call"
contains "tagged task listed" "$OUT" "intent"
contains "unpriced flagged in the audit" "$OUT" "unpriced: 1 calls of model acme-1"
contains "discovered touchpoint row" "$OUT" "? "

run "$OFFRAMP" audit --json --task intent
expect_rc "audit --json --task" 0
contains "figures in JSON" "$OUT" '"p95_latency_ms"'
contains "output shape in JSON" "$OUT" '"distinct_outputs": 2'

run "$OFFRAMP" touchpoints --json
expect_rc "touchpoints --json" 0
fp=$(printf '%s\n' "$OUT" | sed -n 's/.*"fingerprint": "\([0-9a-f]*\)".*/\1/p' | head -1)
contains "a touchpoint with samples" "$OUT" '"samples"'
run "$OFFRAMP" touchpoints name "$fp" summaries
expect_rc "name a touchpoint" 0
contains "calls attributed" "$OUT" "2 calls attributed"
equals "the task exists with the calls" "$(sql "SELECT count(*) FROM exchanges e JOIN tasks t ON t.id = e.task_id WHERE t.name = 'summaries'")" 2
run "$OFFRAMP" touchpoints merge "$fp" intent
expect_rc "merging an attributed touchpoint fails" 1
contains "error names the owner" "$ERR" "already belongs to task 'summaries'"
run "$OFFRAMP" touchpoints name 12 x
expect_rc "bad fingerprint" 1
run "$OFFRAMP" touchpoints rename a b
expect_rc "unknown touchpoints command" 2

run "$OFFRAMP" task show summaries --json
contains "volume from the audit when unset" "$OUT" '"monthly_volume_from_audit": true'

run "$OFFRAMP" prices set acme-1 1 2
expect_rc "prices set" 0
run "$OFFRAMP" audit --json
lacks "priced after the override" "$OUT" '"model": "acme-1"'
run "$OFFRAMP" prices list
contains "override listed" "$OUT" "workspace override"
contains "sources listed" "$OUT" "as published by OpenAI pricing page"
run "$OFFRAMP" prices rm acme-1
expect_rc "prices rm" 0
run "$OFFRAMP" prices set acme-1 cheap 2
expect_rc "prices set with a bad number" 2

run "$OFFRAMP" import
expect_rc "import without files" 2
run "$OFFRAMP" import "$TMP/nope.jsonl"
expect_rc "import a missing file" 1
contains "error names the file" "$ERR" "nope.jsonl"
run "$OFFRAMP" import "$TMP"
expect_rc "import a directory" 1
run "$OFFRAMP" import - -
expect_rc "stdin twice" 2
run "$OFFRAMP" audit --since yesterday
expect_rc "bad --since" 2
run "$OFFRAMP" audit --sort size
expect_rc "bad --sort" 2
run "$OFFRAMP" audit --task nosuch
expect_rc "audit of a task without calls" 1
for c in import audit touchpoints prices demo-logs; do
   run "$OFFRAMP" $c --help
   expect_rc "$c --help" 0
done

run "$OFFRAMP" demo-logs --days 2 --scale 0.01 --seed 7 --out "$TMP/demo.jsonl.gz"
expect_rc "demo-logs writes gzip" 0
run "$OFFRAMP" -w "$TMP/demo.db" import "$TMP/demo.jsonl.gz"
expect_rc "demo logs import" 0
contains "demo logs import cleanly" "$OUT" "0 malformed"
run "$OFFRAMP" demo-logs --days 2
expect_rc "demo-logs without --out" 2
run "$OFFRAMP" demo-logs --out "$TMP/no/such/dir/x.jsonl"
expect_rc "demo-logs to a missing directory" 1

done_testing
