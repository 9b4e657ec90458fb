#!/bin/sh
# dataset.sh - the near-duplicate detector on 100,000 synthetic support messages with planted
# near and exact duplicates: wall time, peak RSS, precision and recall against its bars.
#
# Usage: bench/dataset.sh [N [SEED]]   (defaults 100000 and 42)
# Exits 0 when every bar passes, 1 when one fails. Builds with cc alone, not the autotools
# build; the stand-in config.h carries what AC_USE_SYSTEM_EXTENSIONS would (util.c uses
# vasprintf, the bench qsort_r).
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
echo '#define _GNU_SOURCE 1' >"$tmp/config.h"

cc -O2 -std=gnu11 -I "$root/src" -I "$tmp" \
   "$root/src/common/util.c" "$root/src/common/neardup.c" "$root/bench/neardup_bench.c" \
   -lm -o "$tmp/neardup_bench"
"$tmp/neardup_bench" "$@"
