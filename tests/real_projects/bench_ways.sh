#!/usr/bin/env bash
# bench_ways.sh - what an uncontended lock costs the program's own code in
# each way of using syncprof (docs/api.md, "Which way"): uncontended.c
# built raw, with the header against libsyncprof, with the header against
# the whole-program libsyncprof-interpose, plain against
# libsyncprof-interpose, and plain under `syncprof run`. Profiling on
# (SYNCPROF_MUTEX_FRACTION=5, SYNCPROF_BLOCK_RATE=10000, the defaults of
# `syncprof run`); nothing is contended, so nothing is recorded.
#   tests/real_projects/bench_ways.sh BUILD_DIR SOURCE_DIR
source "$(dirname "$0")/common.sh"
flags="-O2 -g -fno-omit-frame-pointer"
u=$here/uncontended.c
cc $flags "$u" -o "$work/raw" -pthread
cc $flags $SP_CFLAGS "$u" -o "$work/header" $SP_LIBS -pthread
cc $flags $SP_CFLAGS "$u" -o "$work/header_whole" $SP_WHOLE_LIBS -pthread
cc $flags "$u" -o "$work/whole" $SP_WHOLE_LIBS -pthread
export SYNCPROF_MUTEX_FRACTION=5 SYNCPROF_BLOCK_RATE=10000
printf '%-44s %s\n' "raw pthreads (no syncprof)" "$("$work/raw")"
printf '%-44s %s\n' "header + libsyncprof" "$("$work/header")"
printf '%-44s %s\n' "header + libsyncprof-interpose" "$("$work/header_whole")"
printf '%-44s %s\n' "plain + libsyncprof-interpose" "$("$work/whole")"
printf '%-44s %s\n' "plain under syncprof run (LD_PRELOAD)" "$("$syncprof" run --quiet --out "$work/o" -- "$work/raw")"
