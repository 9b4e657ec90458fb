#!/bin/sh
# dataset_build.sh - 'offramp dataset build' end to end on N generated exchange records (default
# 100,000) with planted exact and near duplicates: wall time of the build against two anchors
# measured in the same run (a plain SQLite scan of the records, and 'dataset labels', which
# reads and parses every record without deduplicating, splitting or writing).
#
# Usage: bench/dataset_build.sh [BUILD_DIR [N [SEED]]]   (defaults: the source tree, 100000, 42)
# BUILD_DIR is a configured build (make is run there for offramp and the mkexchanges helper).
# Exits 1 when the near-duplicate step of the build takes 3 s or more (the bar for 100,000 rows).
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root}" && pwd)
n=${2:-100000}
seed=${3:-42}
make -C "$build" -s offramp tests/dataset/mkexchanges >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

# Support messages of 15-60 words from a 3,000-word vocabulary over 8 queues; 5 % get a copy
# with one word changed (a near duplicate), 1 % a copy differing in case and punctuation.
awk -v n="$n" -v seed="$seed" 'BEGIN {
   srand(seed); split("billing shipping returns account technical fraud cards loans", q, " ")
   print "text,label"
   for (i = 0; i < n; ) {
      w = 15 + int(rand() * 46); s = ""
      for (j = 0; j < w; j++) s = s (j ? " " : "") "w" int(rand() * 3000)
      l = q[1 + int(rand() * 8)]
      print "\"" s "\"," l; i++
      r = rand()
      if (r < 0.05 && i < n) { sub(/ [^ ]*$/, " changed" i, s); print "\"" s "\"," l; i++; near++ }
      else if (r < 0.06 && i < n) { print "\"" toupper(substr(s, 1, 1)) substr(s, 2) "!\"," l; i++; exact++ }
   }
   print near " " exact > "/dev/stderr" }' > "$tmp/data.csv" 2> "$tmp/planted"
"$build/tests/dataset/mkexchanges" "$tmp/ws.db" bench "$tmp/data.csv" >/dev/null

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

t0=$(now)
sqlite3 "$tmp/ws.db" "SELECT sum(length(record)) FROM exchanges" >/dev/null
t1=$(now)
"$build/offramp" -w "$tmp/ws.db" dataset labels bench >/dev/null
t2=$(now)
"$build/offramp" -w "$tmp/ws.db" dataset build bench --seed 1 --json > "$tmp/report.json"
t3=$(now)

scan=$(secs "$t0" "$t1")
parse=$(secs "$t1" "$t2")
total=$(secs "$t2" "$t3")
field() { grep -m1 "\"$1\":" "$tmp/report.json" | sed 's/.*: *//; s/,$//' | awk '{ printf ($0 ~ /\./ ? "%.3f" : "%s"), $0 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a / b }'; }
dedupe=$(field dedupe)
echo "records            $n (seed $seed), $(nproc) cores, load average $(cut -d' ' -f1 /proc/loadavg)"
echo "kept               train $(field train) + test $(field test)"
read -r planted_near planted_exact < "$tmp/planted"
echo "exact duplicates   $(field exact_duplicate) dropped ($planted_exact planted)"
echo "near-dup groups    $(field groups) ($(field rows_in_groups) rows; $planted_near pairs planted), split $(field split_groups)"
echo "sqlite scan        ${scan} s (anchor)"
echo "dataset labels     ${parse} s ($(ratio "$parse" "$scan") x scan: reads and parses every record)"
echo "dataset build      ${total} s ($(ratio "$total" "$scan") x scan): reading $(field read) s," \
     "duplicates ${dedupe} s, filters + split + files $(field rest) s"
if awk -v t="$dedupe" 'BEGIN { exit !(t >= 3) }'; then
   echo "bar: near-duplicate removal inside the build under 3 s: MISSED"
   exit 1
fi
echo "bar: near-duplicate removal inside the build under 3 s: met"
