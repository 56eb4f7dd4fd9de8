#!/bin/sh
# run.sh FUZZER SECONDS SEEDS WORK [libFuzzer options...]
#
# Runs a libFuzzer target over its seeds and whatever earlier runs kept in
# WORK, then for SECONDS more on new inputs, which it keeps in WORK (the
# seeds, in the source tree, are never written). A crash, a leak, a
# sanitizer report or a unit slower than -timeout fails the run; the input
# is left in WORK as crash-*, leak-*, timeout-* or slow-unit-*.
#
# ctest runs each fuzzer for FUZZ_SECONDS (10 by default); a longer run by
# hand, e.g. an hour of the report fuzzer from the build directory:
#   tests/fuzz/run.sh build/tests/fuzz/fuzz_report 3600 tests/fuzz/corpus/report build/tests/fuzz/corpus-report
set -eu
fuzzer=$1
seconds=$2
seeds=$3
work=$4
shift 4
mkdir -p "$work"
exec "$fuzzer" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2560 \
    -artifact_prefix="$work/" -print_final_stats=1 "$@" "$work" "$seeds"
