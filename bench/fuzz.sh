#!/bin/sh
# bench/fuzz.sh - build the request-path libFuzzer target with clang and run it (60 s default).
# Usage: bench/fuzz.sh [BUILD_DIR (for config.h)] [SECONDS]
set -eu
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-$SRC/build-norm}" && pwd)
SECS=${2:-60}
command -v clang > /dev/null || { echo "bench/fuzz.sh: clang not installed (apt-get install clang)"; exit 2; }
OUT=$(mktemp -d /tmp/offramp-fuzz-XXXXXX)
trap 'rm -rf "$OUT"' EXIT
# The whole engine library, as Makefile.am lists it: a hand-kept list went stale as modules
# gained dependencies.
srcs=$(sed -n '/^libofframp_a_SOURCES/,/^$/p' "$SRC/Makefile.am" | grep -o 'src/[a-z0-9_]*\.c' | sed "s|^|$SRC/|")
# shellcheck disable=SC2046
clang -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
   -I"$BUILD" -I"$SRC/src" -DPKGDATADIR='"/nonexistent"' -DSRCDIR="\"$SRC\"" \
   $(pkg-config --cflags jansson libcurl sqlite3 libcmark libevent) \
   -o "$OUT/fuzz_request" "$SRC/tests/fuzz/fuzz_request.c" $srcs \
   $(pkg-config --libs jansson libcurl sqlite3 libcmark libevent libevent_pthreads zlib) -lpthread -lm
mkdir -p "$OUT/corpus"
cp "$SRC"/tests/fuzz/corpus/* "$OUT/corpus/"
echo "# fuzzing the request path for $SECS s"
rc=0
(cd "$OUT" && ./fuzz_request -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
   corpus > fuzz.log 2>&1) || rc=$?
grep -E "^(Done|stat::)|ERROR|SUMMARY" "$OUT/fuzz.log" || true
if [ "$rc" -ne 0 ]; then
   tail -40 "$OUT/fuzz.log"
   echo "# FAILED: the fuzzer found a crash (exit $rc)"
   exit 1
fi
echo "# 0 crashes in $SECS s"
