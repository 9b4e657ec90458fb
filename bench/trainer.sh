#!/bin/sh
# trainer.sh - the distiller against fastText on banking77: accuracy, train time, memory, calibration;
# then the built-in trainer through its HTTP API: train, and serve the 3,080 test texts over one
# keep-alive connection (latency p50/p99 and accuracy through the API).
#
# Usage: bench/trainer.sh   (BANKING77_DIR overrides ../shared/data/banking77; OFFRAMP overrides
# ./offramp, the built binary used for the served part)
# Exits 0 when every bar passes or the benchmark is skipped, 1 when a bar fails.
# Wall time and peak RSS are whole processes measured by /usr/bin/time for both tools, so the
# distiller's figures also include parsing the CSVs, saving, reloading and predicting the test set.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
data=${BANKING77_DIR:-$root/../shared/data/banking77}
if [ ! -f "$data/train.csv" ] || [ ! -f "$data/test.csv" ]; then
   echo "skipped: ${BANKING77_DIR:-../shared/data/banking77} absent"
   exit 0
fi

# need COMMAND PACKAGE: installs PACKAGE when we are root, otherwise skips the benchmark.
need() {
   command -v "$1" >/dev/null 2>&1 && return 0
   if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      apt-get install -y "$2" >&2 || true
      command -v "$1" >/dev/null 2>&1 && return 0
   fi
   echo "skipped: $1 is not installed (apt-get install $2)"
   exit 0
}
need fasttext fasttext
need /usr/bin/time time
need python3 python3
need cc gcc

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# fastText reads "__label__X text" lines; CSV fields may hold commas, quotes and newlines.
to_fasttext() {
   python3 - "$1" "$2" <<'EOF'
import csv, sys
with open(sys.argv[1], newline='', encoding='utf-8') as f, open(sys.argv[2], 'w', encoding='utf-8') as out:
    for row in csv.DictReader(f):
        out.write('__label__%s %s\n' % (row['category'], ' '.join(row['text'].split())))
EOF
}
to_fasttext "$data/train.csv" "$tmp/train.txt"
to_fasttext "$data/test.csv" "$tmp/test.txt"

echo "fastText: training (-wordNgrams 2 -minn 3 -maxn 5 -epoch 50 -lr 0.5)..." >&2
/usr/bin/time -f "%e %M" -o "$tmp/ft.time" fasttext supervised -input "$tmp/train.txt" -output "$tmp/ft" \
   -wordNgrams 2 -minn 3 -maxn 5 -epoch 50 -lr 0.5 -verbose 0
ft_acc=$(fasttext test "$tmp/ft.bin" "$tmp/test.txt" | awk '$1 == "P@1" { printf "%.2f", $2 * 100 }')
read -r ft_wall ft_rss < "$tmp/ft.time"
ft_size=$(wc -c < "$tmp/ft.bin")
rm -f "$tmp/ft.bin" "$tmp/ft.vec"

echo "distill: building and training..." >&2
# stands in for the autotools config.h, whose AC_USE_SYSTEM_EXTENSIONS gives util.c vasprintf
mkdir "$tmp/cfg"
echo '#define _GNU_SOURCE 1' > "$tmp/cfg/config.h"
# the trainer client (served part) names the version in its User-Agent
echo "#define PACKAGE_VERSION \"$(sed -n 's/^AC_INIT(\[offramp\], *\[\([^]]*\)\].*/\1/p' "$root/configure.ac")\"" >> "$tmp/cfg/config.h"
cc -O2 -std=gnu11 -I "$root/src" -I "$tmp/cfg" "$root/src/common/util.c" "$root/src/trainer/distill.c" \
   "$root/bench/distill_bench.c" -o "$tmp/distill_bench" -lm -lpthread
/usr/bin/time -f "%e %M" -o "$tmp/d.time" "$tmp/distill_bench" "$data/train.csv" "$data/test.csv" \
   --model "$tmp/distill.model" > "$tmp/d.out" 2> "$tmp/d.err" || { cat "$tmp/d.err" >&2; exit 1; }
read -r d_wall d_rss < "$tmp/d.time"
field() { awk -v k="$1" '$1 == k { print $2 }' "$tmp/d.out"; }
d_acc=$(field test_accuracy)
d_ece=$(field ece)
d_size=$(wc -c < "$tmp/distill.model")

echo "offramp trainer: training and serving through HTTP..." >&2
offramp=${OFFRAMP:-$root/offramp}
[ -x "$offramp" ] || { echo "skipped: $offramp is not built (make)"; exit 0; }
to_chat() {
   python3 - "$1" "$2" <<'EOF'
import csv, json, sys
with open(sys.argv[1], newline='', encoding='utf-8') as f, open(sys.argv[2], 'w', encoding='utf-8') as out:
    for row in csv.DictReader(f):
        out.write(json.dumps({"messages": [{"role": "system", "content": "Classify the banking question."},
                                            {"role": "user", "content": row['text']},
                                            {"role": "assistant", "content": row['category']}]}) + "\n")
EOF
}
to_chat "$data/train.csv" "$tmp/train.jsonl"
to_chat "$data/test.csv" "$tmp/test.jsonl"
cc -O2 -std=gnu11 -I "$root/src" -I "$tmp/cfg" "$root/src/common/util.c" "$root/src/control/ftclient.c" "$root/bench/serve_bench.c" \
   -o "$tmp/serve_bench" \
   $(pkg-config --cflags --libs libcurl jansson) -lm
# The trainer and serve_bench both read the token from the environment.
OFFRAMP_TRAINER_TOKEN=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
export OFFRAMP_TRAINER_TOKEN
"$offramp" trainer --listen 127.0.0.1:0 --dir "$tmp/trainer" > "$tmp/trainer.out" 2> "$tmp/trainer.err" &
trainer_pid=$!
trap 'kill $trainer_pid 2>/dev/null; rm -rf "$tmp"' EXIT
port=""
for _ in $(seq 100); do
   port=$(sed -n 's/.*listening on [^ ]*:\([0-9][0-9]*\).*/\1/p' "$tmp/trainer.out")
   [ -n "$port" ] && break
   sleep 0.1
done
[ -n "$port" ] || { cat "$tmp/trainer.err" >&2; echo "offramp trainer did not start" >&2; exit 1; }
"$tmp/serve_bench" "http://127.0.0.1:$port/v1" "$tmp/train.jsonl" "$tmp/test.jsonl" > "$tmp/s.out" || exit 1
kill $trainer_pid
sfield() { awk -v k="$1" '$1 == k { print $2 }' "$tmp/s.out"; }

rows() { python3 -c 'import csv, sys; print(sum(1 for _ in csv.DictReader(open(sys.argv[1], newline=""))))' "$1"; }
echo "banking77: $(rows "$data/train.csv") train rows, $(rows "$data/test.csv") test rows; $(nproc) cores"
awk -v fa="$ft_acc" -v da="$d_acc" -v fw="$ft_wall" -v dw="$d_wall" -v fr="$ft_rss" -v dr="$d_rss" \
    -v de="$d_ece" -v fs="$ft_size" -v ds="$d_size" -v dt="$(field train_time)" \
    -v p50="$(field predict_p50)" -v p99="$(field predict_p99)" \
    -v sacc="$(sfield served_accuracy)" -v sp50="$(sfield served_p50_us)" -v sp99="$(sfield served_p99_us)" \
    -v smax="$(sfield served_max_us)" -v sn="$(sfield served_requests)" -v strain="$(sfield api_train_s)" '
function verdict(ok) { if (!ok) failed = 1; return ok ? "PASS" : "FAIL" }
BEGIN {
   fmt = "%-18s %12s %12s %10s %10s  %s\n"
   printf fmt, "", "fastText", "distill", "ratio", "bar", "result"
   printf fmt, "test accuracy", fa " %", da " %", sprintf("%+.2f pt", da - fa), ">= +0 pt", verdict(da + 0 >= fa + 0)
   printf fmt, "train wall time", fw " s", dw " s", sprintf("%.3f", dw / fw), "<= 0.50", verdict(dw / fw <= 0.5)
   printf fmt, "peak RSS", sprintf("%.1f MB", fr / 1024), sprintf("%.1f MB", dr / 1024), sprintf("%.3f", dr / fr), "<= 0.25", verdict(dr / fr <= 0.25)
   printf fmt, "ECE (15 bins)", "-", de, "-", "<= 0.05", verdict(de + 0 <= 0.05)
   printf fmt, "model size", sprintf("%.1f MB", fs / 1048576), sprintf("%.2f MB", ds / 1048576), sprintf("%.4f", ds / fs), "", ""
   printf fmt, "predict p50/p99", "-", p50 "/" p99 " us", "", "", ""
   printf fmt, "served accuracy", fa " %", sacc " %", sprintf("%+.2f pt", sacc - fa), ">= +0 pt", verdict(sacc + 0 >= fa + 0)
   printf fmt, "served p50/p99", "-", sp50 "/" sp99 " us", "", "p99 < 1000", verdict(sp99 + 0 < 1000)
   printf "(distill training alone: %s s; wall time and RSS are whole processes)\n", dt
   printf "(served: %s requests over one keep-alive HTTP/1.1 connection on loopback, logprobs with top 5,\n", sn
   printf " max %s us; upload + job + training through the API took %s s)\n", smax, strain
   exit failed
}'
