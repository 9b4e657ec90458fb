#!/bin/sh
# bench/fuzz.sh - build one libFuzzer target of tests/fuzz/ with clang (ASan+UBSan, linked with
# the whole engine library) and run it (60 s default). A crash input is kept in bench/out/fuzz/,
# and the corpus grows there from run to run (bench/out/fuzz/TARGET.corpus).
# Usage: bench/fuzz.sh [TARGET] [BUILD_DIR (for config.h)] [SECONDS]
#   TARGET: request (default: body parsing, attribution, comparison), http (the whole request
#   path through the gateway's own HTTP server, headers included), jsonscan (the scanner against
#   jansson), import, or any NAME with a tests/fuzz/fuzz_NAME.c. Seeds come from
#   tests/fuzz/corpus/NAME/ (request: the files directly in tests/fuzz/corpus/), a dictionary
#   from tests/fuzz/NAME.dict when there is one; FUZZ_ARGS adds libFuzzer options.
#   The older forms `bench/fuzz.sh BUILD_DIR SECONDS [TARGET]` still work; multipart (the
#   trainer's upload path) takes its seeds from tests/fuzz/corpus_multipart/.
set -eu
SRC=$(cd "$(dirname "$0")/.." && pwd)
TARGET=request
if [ $# -gt 0 ] && [ ! -d "$1" ]; then
   TARGET=$1
   shift
fi
BUILD=$(cd "${1:-$SRC/build-norm}" && pwd)
SECS=${2:-60}
[ $# -ge 3 ] && TARGET=$3
[ -f "$SRC/tests/fuzz/fuzz_$TARGET.c" ] || {
   echo "bench/fuzz.sh: no target '$TARGET' (no tests/fuzz/fuzz_$TARGET.c; try request, http, jsonscan, import, multipart)"
   exit 2
}
command -v clang > /dev/null || { echo "bench/fuzz.sh: clang not installed (apt-get install clang)"; exit 2; }
OUT=$(mktemp -d /tmp/offramp-fuzz-XXXXXX)
trap 'rm -rf "$OUT"' EXIT
KEEP="$SRC/bench/out/fuzz"
mkdir -p "$KEEP"
# The whole engine library, as Makefile.am lists it: a hand-kept list went stale as modules
# gained dependencies.
srcs=$(sed -n '/^libofframp_a_SOURCES/,/^$/p' "$SRC/Makefile.am" | grep -o 'src/[a-z0-9_/]*\.c' | sed "s|^|$SRC/|")
# shellcheck disable=SC2046
clang -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
   -I"$BUILD" -I"$SRC/src" -DPKGDATADIR='"/nonexistent"' -DSRCDIR="\"$SRC\"" \
   $(pkg-config --cflags jansson libcurl sqlite3 libcmark libevent) \
   -o "$OUT/fuzz_$TARGET" "$SRC/tests/fuzz/fuzz_$TARGET.c" $srcs \
   $(pkg-config --libs jansson libcurl sqlite3 libcmark libevent libevent_pthreads zlib) -lpthread -lm
mkdir -p "$OUT/corpus" "$KEEP/$TARGET.corpus"
if [ -d "$SRC/tests/fuzz/corpus/$TARGET" ]; then
   cp "$SRC/tests/fuzz/corpus/$TARGET"/* "$OUT/corpus/"
elif [ -d "$SRC/tests/fuzz/corpus_$TARGET" ]; then
   cp "$SRC/tests/fuzz/corpus_$TARGET"/* "$OUT/corpus/"
elif [ "$TARGET" = request ]; then
   find "$SRC/tests/fuzz/corpus" -maxdepth 1 -type f -exec cp {} "$OUT/corpus/" \;
fi
dict=
[ -f "$SRC/tests/fuzz/$TARGET.dict" ] && dict="-dict=$SRC/tests/fuzz/$TARGET.dict"
echo "# fuzzing $TARGET for $SECS s"
# The fuzzer's CPU time beside its wall time, when GNU time is there to measure it.
timer=
[ -x /usr/bin/time ] && timer="/usr/bin/time -f %U+%S -o $OUT/cpu"
rc=0
# shellcheck disable=SC2086
(cd "$OUT" && OFFRAMP_SHARE="$SRC/share" $timer ./fuzz_$TARGET -max_total_time="$SECS" -timeout=30 -rss_limit_mb=2048 \
   -print_final_stats=1 -artifact_prefix="$KEEP/$TARGET-" $dict ${FUZZ_ARGS:-} "$KEEP/$TARGET.corpus" corpus > fuzz.log 2>&1) || rc=$?
cp "$OUT/fuzz.log" "$KEEP/$TARGET.log"
grep -E "^(Done|stat::)|ERROR|SUMMARY" "$OUT/fuzz.log" || true
[ -s "$OUT/cpu" ] && echo "# cpu: $(tail -1 "$OUT/cpu" | awk -F+ '{ printf "%.0f s (user %.0f + system %.0f)", $1 + $2, $1, $2 }')"
if [ "$rc" -ne 0 ]; then
   tail -40 "$OUT/fuzz.log"
   echo "# FAILED: the fuzzer found a crash (exit $rc; input kept as $KEEP/$TARGET-*)"
   exit 1
fi
echo "# 0 crashes in $SECS s"
