#!/bin/sh
# extractor.sh - the built-in extractor (src/trainer/tagger.c) against a CRF anchor measured in the same
# run: field-level F1 per field and micro-averaged, train time and peak memory.
#
# Usage: bench/extractor.sh   (CRFSUITE_NPM overrides the npm package spec, crfsuite@1.0.1)
# Exits 0 when every bar passes or the benchmark is skipped, 1 when a bar fails.
#
# Data: generated here by tests/trainer/gen_extract.awk (synthetic order-support tickets, five
# fields copied from the text, twelve templates with distractors), not a public data set: no
# slot-filling or NER set was found in Debian's archive or on npm in a form that is
# field-extraction-from-text. Three scenarios: 500 and 2,000 training tickets on all templates,
# and 2,000 on templates 0-8 tested on the unseen templates 9-11; 1,000 test tickets each.
# Anchor: CRFsuite 0.12 (Okazaki; BSD licence), whose C source the npm package crfsuite (MIT,
# node bindings) bundles: fetched with 'npm pack', built here into bench/crf_baseline.c, one
# linear-chain CRF per field trained with L-BFGS (CRFsuite defaults, max_iterations 100), same
# tokens, features, alignment, decoding and scoring as the extractor. Debian 12 packages no
# CRFsuite. Wall time and peak RSS are whole processes (/usr/bin/time): parsing, training every
# field, and extracting the test set.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
spec=${CRFSUITE_NPM:-crfsuite@1.0.1}

need() {
   command -v "$1" >/dev/null 2>&1 && return 0
   echo "skipped: $1 is not installed ($2)"
   exit 0
}
need cc "apt-get install gcc"
need npm "apt-get install npm: the CRF anchor comes from the npm package $spec"
need /usr/bin/time "apt-get install time"
need pkg-config "apt-get install pkg-config"
pkg-config --exists jansson || { echo "skipped: jansson is not installed (apt-get install libjansson-dev)"; exit 0; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "anchor: npm pack $spec..." >&2
if ! (cd "$tmp" && npm pack "$spec" > npm.out 2> npm.err && tar xzf ./crfsuite-*.tgz); then
   echo "skipped: npm pack $spec failed (no registry access?): $(tail -1 "$tmp/npm.err")"
   exit 0
fi
crf=$tmp/package
[ -f "$crf/crfsuite/include/crfsuite.h" ] || { echo "skipped: $spec has no CRFsuite C source"; exit 0; }

echo "building the extractor bench and the CRF anchor..." >&2
mkdir "$tmp/cfg" "$tmp/obj"
echo '#define _GNU_SOURCE 1' > "$tmp/cfg/config.h"
common="$root/src/common/util.c $root/src/trainer/tagger.c $root/src/trainer/chatdata.c"
jl=$(pkg-config --cflags --libs jansson)
# shellcheck disable=SC2086
cc -O2 -std=gnu11 -I "$root/src" -I "$tmp/cfg" $common "$root/bench/extractor_bench.c" -o "$tmp/extractor" -lm $jl
(cd "$tmp/obj" && cc -O2 -w -c -I "$crf/crfsuite/include" -I "$crf/crfsuite/lib/cqdb/include" -I "$crf/liblbfgs/include" \
   "$crf"/crfsuite/lib/crf/src/*.c "$crf/crfsuite/lib/cqdb/src/cqdb.c" "$crf/crfsuite/lib/cqdb/src/lookup3.c" \
   "$crf/liblbfgs/lib/lbfgs.c")
# shellcheck disable=SC2086
cc -O2 -std=gnu11 -I "$root/src" -I "$tmp/cfg" -I "$crf/crfsuite/include" $common "$root/bench/crf_baseline.c" \
   "$tmp"/obj/*.o -o "$tmp/crf" -lm $jl

gen="$root/tests/trainer/gen_extract.awk"
awk -v n=500 -v seed=1 -f "$gen" > "$tmp/seen500.train"
awk -v n=2000 -v seed=1 -f "$gen" > "$tmp/seen2000.train"
awk -v n=1000 -v seed=2 -f "$gen" > "$tmp/seen.test"
awk -v n=2000 -v seed=3 -v tmin=0 -v tmax=8 -f "$gen" > "$tmp/unseen.train"
awk -v n=1000 -v seed=4 -v tmin=9 -v tmax=11 -f "$gen" > "$tmp/unseen.test"

failed=0
fmt="%-34s %12s %12s %12s  %s\n"
printf "%s cores; CRF: CRFsuite from npm %s, L-BFGS, max_iterations 100\n" "$(nproc)" "$spec"
for sc in "seen500 seen 500 tickets, all templates" "seen2000 seen 2,000 tickets, all templates" \
          "unseen unseen 2,000 tickets on templates 0-8, tested on 9-11"; do
   set -- $sc
   train=$1 test=$2
   shift 2
   echo "scenario: $*..." >&2
   mkdir -p "$tmp/w"
   /usr/bin/time -f "%e %M" -o "$tmp/x.time" "$tmp/extractor" "$tmp/$train.train" "$tmp/$test.test" > "$tmp/x.out"
   /usr/bin/time -f "%e %M" -o "$tmp/c.time" "$tmp/crf" "$tmp/$train.train" "$tmp/$test.test" "$tmp/w" > "$tmp/c.out"
   read -r xw xr < "$tmp/x.time"
   read -r cw cr < "$tmp/c.time"
   echo
   echo "== $* (1,000 test tickets, 5 fields)"
   printf "$fmt" "" "extractor" "CRF" "difference" "bar"
   for k in customer order_id date amount product; do
      x=$(awk -v k="f1_$k" '$1 == k { print $2 }' "$tmp/x.out")
      c=$(awk -v k="f1_$k" '$1 == k { print $2 }' "$tmp/c.out")
      printf "$fmt" "F1 $k" "$x %" "$c %" "$(awk -v a="$x" -v b="$c" 'BEGIN { printf "%+.2f pt", a - b }')" ""
   done
   x=$(awk '$1 == "micro_f1" { print $2 }' "$tmp/x.out")
   c=$(awk '$1 == "micro_f1" { print $2 }' "$tmp/c.out")
   ok=$(awk -v a="$x" -v b="$c" 'BEGIN { print (a >= b - 1) ? "PASS" : "FAIL" }')
   [ "$ok" = PASS ] || failed=1
   printf "$fmt" "F1 micro" "$x %" "$c %" "$(awk -v a="$x" -v b="$c" 'BEGIN { printf "%+.2f pt", a - b }')" ">= -1 pt $ok"
   xt=$(awk '$1 == "train_time" { print $2 }' "$tmp/x.out")
   ct=$(awk '$1 == "train_time" { print $2 }' "$tmp/c.out")
   ok=$(awk -v a="$xt" -v b="$ct" 'BEGIN { print (a <= b) ? "PASS" : "FAIL" }')
   [ "$ok" = PASS ] || failed=1
   printf "$fmt" "train time (all fields)" "$xt s" "$ct s" "$(awk -v a="$xt" -v b="$ct" 'BEGIN { printf "%.3fx", a / b }')" "<= 1x $ok"
   printf "$fmt" "wall time (process)" "$xw s" "$cw s" "$(awk -v a="$xw" -v b="$cw" 'BEGIN { printf "%.3fx", a / b }')" ""
   printf "$fmt" "peak RSS" "$((xr / 1024)) MB" "$((cr / 1024)) MB" "$(awk -v a="$xr" -v b="$cr" 'BEGIN { printf "%.2fx", a / b }')" ""
   printf "$fmt" "extract per ticket" "$(awk '$1 == "extract_us" { print $2 }' "$tmp/x.out") us" \
      "$(awk '$1 == "extract_us" { print $2 }' "$tmp/c.out") us" "" "(CRF: incl. model loads)"
   rm -rf "$tmp/w"
done
exit $failed
