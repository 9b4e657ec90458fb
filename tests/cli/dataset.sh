#!/bin/sh
# dataset.sh - offramp dataset build/list/show/export/labels and the dataset gate through the
# real binary, on exchange records made by the mkexchanges test helper.
. "$TESTS_SRCDIR/lib.sh"

MK=$(dirname "$OFFRAMP")/tests/dataset/mkexchanges
[ -x "$MK" ] || skip_all "mkexchanges helper not built (make check builds it)"
cd "$TMP" || exit 1

# 800 tickets over four queues with made-up words (no accidental look-alikes), then defects.
awk 'BEGIN { srand(7); split("billing shipping returns account", q, " "); print "text,label"
   for (i = 0; i < 800; i++) { s = ""; w = 8 + int(rand() * 10)
      for (j = 0; j < w; j++) s = s (j ? " " : "") "w" int(rand() * 50000)
      print "\"" s ", please help\"," q[i % 4 + 1] } }' > tickets.csv
cat >> tickets.csv <<'CSV'
the server fell over,billing,error
the answer was cut off half way,billing,truncated
nothing came back at all,billing,empty
the model said shipping but it was billing,shipping,flagged
"I want my money back, now",not a queue at all
CSV
run "$MK" "$OFFRAMP_WORKSPACE" intent tickets.csv
expect_rc "helper loads the CSV" 0
equals "records stored" "$(sql "SELECT count(*) FROM exchanges")" 805

run "$OFFRAMP" dataset --help
expect_rc "--help" 0
contains "help describes the filters" "$OUT" "truncated answers"

run "$OFFRAMP" dataset build intent --min-train 300 --seed 3
expect_rc "build" 0
contains "summary names the dataset" "$OUT" "dataset 1 of intent"
contains "rows and test share" "$OUT" "(15.0 % test)"
contains "filters counted" "$OUT" "1 error, 1 truncated, 1 empty, 1 flagged, 1 off label, 0 length outlier"
contains "labels reported" "$OUT" "4 (learned)"
contains "files listed" "$OUT" "datasets/intent/1/train.jsonl"
DIR="$TMP/ws.data/datasets/intent/1"
equals "files owner-only" "$(stat -c %a "$DIR" "$DIR/train.jsonl" "$DIR/test.jsonl" "$DIR/dataset.json" | tr '\n' ' ')" \
   "700 600 600 600 "
equals "train + test rows" "$(cat "$DIR/train.jsonl" "$DIR/test.jsonl" | wc -l)" 800
equals "registered sha256 of train.jsonl" "$(sql "SELECT train_sha256 FROM datasets WHERE id = 1")" \
   "$(sha256sum "$DIR/train.jsonl" | cut -d' ' -f1)"
equals "registered sha256 of dataset.json" "$(sql "SELECT report_sha256 FROM datasets WHERE id = 1")" \
   "$(sha256sum "$DIR/dataset.json" | cut -d' ' -f1)"
contains "dataset.json has the sha256 of test.jsonl" "$(cat "$DIR/dataset.json")" \
   "$(sha256sum "$DIR/test.jsonl" | cut -d' ' -f1)"
first=$(head -1 "$DIR/train.jsonl")
case "$first" in
   '{"messages":[{"role":"system","content":"Classify'*'"},{"role":"user","content":"'*'"},{"role":"assistant","content":"'*'"}]}')
      ok "chat fine-tuning line: system, user, assistant" ;;
   *) not_ok "chat fine-tuning line: system, user, assistant" "$first" ;;
esac

# Same data, options and seed: the same bytes.
run "$OFFRAMP" dataset build intent --min-train 300 --seed 3 --json
expect_rc "build --json" 0
contains "JSON has the report" "$OUT" '"near_dup"'
check "same seed, same train.jsonl" cmp "$DIR/train.jsonl" "$TMP/ws.data/datasets/intent/2/train.jsonl"
check "same seed, same dataset.json" cmp "$DIR/dataset.json" "$TMP/ws.data/datasets/intent/2/dataset.json"

run "$OFFRAMP" dataset list intent
expect_rc "list" 0
equals "two datasets listed" "$(printf '%s\n' "$OUT" | wc -l)" 3
run "$OFFRAMP" dataset show intent 1 --json
contains "show by id" "$OUT" '"id": 1'
run "$OFFRAMP" dataset show intent 9
expect_rc "unknown id" 1
contains "unknown id named" "$ERR" "intent has no dataset 9"
run "$OFFRAMP" dataset export intent
expect_rc "export prints the paths" 0
contains "latest dataset's files" "$OUT" "datasets/intent/2/test.jsonl"
run "$OFFRAMP" dataset export intent 1 --out "$TMP/export"
expect_rc "export --out copies" 0
check "exported train.jsonl identical" cmp "$DIR/train.jsonl" "$TMP/export/train.jsonl"
echo tamper >> "$DIR/test.jsonl"
run "$OFFRAMP" dataset export intent 1 --out "$TMP/export2"
expect_rc "export refuses an edited file" 1
contains "edited file named" "$ERR" "test.jsonl changed since the build"

# Label sets: learned, then edited.
run "$OFFRAMP" dataset labels intent
expect_rc "labels" 0
contains "learned set" "$OUT" "4 labels (learned"
contains "off-label answers counted" "$OUT" "1 with an answer outside the set"
run "$OFFRAMP" dataset labels intent --set billing,shipping,returns
contains "user's set" "$OUT" "3 labels (set by the user)"
run "$OFFRAMP" dataset labels intent --learn --json
contains "back to learning" "$OUT" '"source": "learned"'

# Bad input: clear messages with numbers, nothing registered.
before=$(sql "SELECT count(*) FROM datasets")
"$OFFRAMP" task add empty-task --kind label >/dev/null
run "$OFFRAMP" dataset build empty-task
expect_rc "no records refused" 1
contains "no records explained" "$ERR" "empty-task has no exchange records"
run "$OFFRAMP" dataset build intent --min-train 5000
expect_rc "too few rows refused" 1
contains "numbers given" "$ERR" "train rows, the gate needs 5,000"
run "$OFFRAMP" dataset build intent --since 2027-01-01
expect_rc "empty window refused" 1
contains "window explained" "$ERR" "no records of intent in the window 2027-01-01 .. now (the task has 805 records"
run "$OFFRAMP" dataset build intent --test-frac 0.3
expect_rc "test fraction out of range is a usage error" 2
contains "range given" "$ERR" "--test-frac 0.3 is outside 0.10-0.15"
run "$OFFRAMP" dataset build intent --balance maybe
expect_rc "bad --balance" 2
run "$OFFRAMP" dataset build ghost
expect_rc "unknown task" 1
contains "unknown task named" "$ERR" "no task named 'ghost'"
equals "nothing registered by refused builds" "$(sql "SELECT count(*) FROM datasets")" "$before"
equals "no temp directories left" "$(ls -A "$TMP/ws.data/datasets/intent" | grep -c tmp)" 0

# The gate out of the dataset phase reads the latest dataset.
sql "UPDATE tasks SET phase = 'dataset' WHERE name = 'intent'"
run "$OFFRAMP" phase show intent
contains "train rows checked" "$OUT" "[ok] train rows: 680 in dataset 2, the gate needs 300"
contains "overlap re-checked" "$OUT" "[ok] train/test overlap: none: 120 test inputs checked against 680 train inputs"
contains "groups checked" "$OUT" "[ok] near-dup groups"
run "$OFFRAMP" phase advance intent --reason "dataset 2"
expect_rc "gate open: advance to train" 0
sql "UPDATE tasks SET phase = 'dataset' WHERE name = 'intent'"
echo tamper >> "$TMP/ws.data/datasets/intent/2/train.jsonl"
run "$OFFRAMP" phase advance intent
expect_rc "an edited dataset closes the gate" 3
contains "edit named" "$ERR" "train.jsonl changed since the build"

done_testing
