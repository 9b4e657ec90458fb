#!/bin/sh
# bench/fuzz.sh - build a libFuzzer target with clang and run it (60 s default).
# Usage: bench/fuzz.sh [BUILD_DIR (for config.h)] [SECONDS] [TARGET]
# TARGET names tests/fuzz/fuzz_TARGET.c: request (default; the gateway's request path) or
# multipart (the trainer's upload path). Its seeds are tests/fuzz/corpus_TARGET (request:
# tests/fuzz/corpus). A crash's input is kept in ./fuzz-crash-TARGET-* for a unit test.
set -eu
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-$SRC/build-norm}" && pwd)
SECS=${2:-60}
TARGET=${3:-request}
[ -f "$SRC/tests/fuzz/fuzz_$TARGET.c" ] || { echo "bench/fuzz.sh: no target $TARGET (tests/fuzz/fuzz_$TARGET.c)"; exit 2; }
SEEDS=$SRC/tests/fuzz/corpus_$TARGET
[ "$TARGET" = request ] && SEEDS=$SRC/tests/fuzz/corpus
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
   -o "$OUT/fuzz_$TARGET" "$SRC/tests/fuzz/fuzz_$TARGET.c" $srcs \
   $(pkg-config --libs jansson libcurl sqlite3 libcmark libevent libevent_pthreads zlib) -lpthread -lm
mkdir -p "$OUT/corpus"
[ -d "$SEEDS" ] && cp "$SEEDS"/* "$OUT/corpus/"
echo "# fuzzing $TARGET for $SECS s"
rc=0
(cd "$OUT" && ./fuzz_"$TARGET" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
   -artifact_prefix=crash- corpus > fuzz.log 2>&1) || rc=$?
grep -E "^(Done|stat::)|ERROR|SUMMARY" "$OUT/fuzz.log" || true
if [ "$rc" -ne 0 ]; then
   tail -40 "$OUT/fuzz.log"
   for f in "$OUT"/crash-*; do [ -f "$f" ] && cp "$f" "./fuzz-crash-$TARGET-${f##*/crash-}" && echo "# kept ./fuzz-crash-$TARGET-${f##*/crash-}"; done
   echo "# FAILED: the fuzzer found a crash (exit $rc)"
   exit 1
fi
echo "# 0 crashes in $SECS s"
