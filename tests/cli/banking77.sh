#!/bin/sh
# banking77.sh - a dataset from a real intent data set (banking77: 13,083 questions, 77 intents)
# converted to exchange records: it builds, reports the label distribution, and train and test
# share no input. Skips when ../shared/data is absent.
. "$TESTS_SRCDIR/lib.sh"

DATA="${SHARED_DIR:-}/data/banking77"
[ -f "$DATA/train.csv" ] && [ -f "$DATA/test.csv" ] || skip_all "banking77 not found under \$SHARED_DIR/data"
MK=$(dirname "$OFFRAMP")/tests/dataset/mkexchanges
[ -x "$MK" ] || skip_all "mkexchanges helper not built (make check builds it)"

run "$MK" "$OFFRAMP_WORKSPACE" banking77 "$DATA/train.csv" "$DATA/test.csv"
expect_rc "banking77 converted to exchange records" 0
# 10,003 + 3,080 rows (quoted fields span lines, so wc -l would not count them).
equals "every row stored" "$(sql "SELECT count(*) FROM exchanges")" 13083

run "$OFFRAMP" dataset build banking77 --seed 1
expect_rc "dataset builds" 0
printf '%s\n' "$OUT" | sed 's/^/# /'
contains "77 intents learned" "$OUT" "labels    77 (learned)"
contains "test share reported" "$OUT" "% test)"
run "$OFFRAMP" dataset show banking77 --json
equals "distribution lists every intent" "$(printf '%s\n' "$OUT" | grep -c '"label":')" 77
lacks "no label too thin" "$OUT" "fewer than"

# Overlap checked independently of offramp: user messages lower-cased, spaces squeezed.
DIR=$(sql "SELECT dir FROM datasets")
user() {
   sed 's/.*{"role":"user","content":"\(.*\)"},{"role":"assistant".*/\1/' "$TMP/ws.data/$DIR/$1" |
      tr '[:upper:]' '[:lower:]' | tr -s ' \t' ' ' | sed 's/^ //; s/ $//' | sort -u
}
user train.jsonl > train.keys
user test.jsonl > test.keys
equals "no test question in train" "$(comm -12 train.keys test.keys | wc -l)" 0
equals "keys from every train row" "$(wc -l < train.keys)" "$(sql "SELECT rows_train FROM datasets")"

sql "UPDATE tasks SET phase = 'dataset'"
run "$OFFRAMP" phase show banking77
contains "gate: overlap re-checked from the files" "$OUT" "[ok] train/test overlap: none"
contains "gate open" "$OUT" "gate dataset -> train: open"

done_testing
