#!/usr/bin/env bash
# bench_preload.sh - wall time of real programs alone, under `syncprof run`
# with its defaults (mutex fraction 5, block rate 10000 ns), and under
# valgrind --tool=drd (the peer), side by side in one run. A benchmark, not
# a test: it prints a table and asserts nothing (docs/performance.md).
#
# Usage: tests/bench/bench_preload.sh [BUILD_DIR]   (default: build)
# Workloads:
#   pigz -p 4 on `seq 1 6000000` (about 46 MB), output to /dev/null;
#   counter 4 2000000: 4 threads x 2e6 lock/increment/unlock on one mutex
#     (tests/preload_progs/counter.c, plain pthreads, the core's contended
#     counter workload); drd runs it with 4 x 20000 and the time is scaled
#     by 100 (it would take minutes otherwise; marked "x100").
# Each configuration runs ROUNDS times (default 5), alternating, and the
# best time is kept, so a noisy neighbour hurts every column alike.
set -euo pipefail
build=${1:-build}
sp="$build/bin/syncprof"
counter="$build/bin/preload_progs/counter"
rounds=${ROUNDS:-5}
for f in "$sp" "$counter"; do [ -x "$f" ] || { echo "missing $f (build first)" >&2; exit 1; }; done
command -v pigz >/dev/null || { echo "pigz is not installed" >&2; exit 1; }
have_drd=1; command -v valgrind >/dev/null || have_drd=0

tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
seq 1 6000000 > "$tmp/in"

# Best wall time in seconds of "$@" over $rounds runs (stdout discarded).
best() {
  local best=""
  for _ in $(seq "$rounds"); do
    local a b t
    a=$(date +%s.%N); "$@" >/dev/null 2>&1; b=$(date +%s.%N)
    t=$(echo "$b - $a" | bc -l)
    if [ -z "$best" ] || [ "$(echo "$t < $best" | bc -l)" = 1 ]; then best=$t; fi
  done
  printf '%.3f' "$best"
}

run_sp() { "$sp" run --quiet --out "$tmp/prof" -- "$@"; }

printf '%-44s %10s %10s %7s %12s %8s\n' workload alone syncprof ratio drd ratio
row() { # name, alone, syncprof, drd ("-" if none)
  local r1 r2="-"
  r1=$(echo "$3 / $2" | bc -l)
  [ "$4" != "-" ] && r2=$(printf '%.1fx' "$(echo "$4 / $2" | bc -l)")
  local d="$4"; [ "$d" != "-" ] && d="${d}s"
  printf '%-44s %9ss %9ss %6.3fx %11s %8s\n' "$1" "$2" "$3" "$r1" "$d" "$r2"
}

alone=$(best pigz -p 4 -c "$tmp/in")
prof=$(best run_sp pigz -p 4 -c "$tmp/in")
drd="-"
if [ $have_drd = 1 ]; then ROUNDS_SAVE=$rounds; rounds=1
  drd=$(best valgrind --tool=drd pigz -p 4 -c "$tmp/in"); rounds=$ROUNDS_SAVE; fi
row "pigz -p 4 (46 MB)" "$alone" "$prof" "$drd"

alone=$(best "$counter" 4 2000000)
prof=$(best run_sp "$counter" 4 2000000)
drd="-"
if [ $have_drd = 1 ]; then rounds_save=$rounds; rounds=1
  d=$(best valgrind --tool=drd "$counter" 4 20000); rounds=$rounds_save
  drd=$(printf '%.1f' "$(echo "$d * 100" | bc -l)"); fi
row "counter 4 x 2e6 (drd: x100)" "$alone" "$prof" "$drd"

# The counter at other settings, to show where the cost goes.
for s in "--mutex-fraction 1 --block-rate 1" "--mutex-fraction 0 --block-rate 0" \
         "--mutex-fraction 5 --block-rate 0" "--mutex-fraction 0 --block-rate 10000"; do
  # shellcheck disable=SC2086
  t=$(best "$sp" run --quiet --out "$tmp/prof" $s -- "$counter" 4 2000000)
  row "counter, $s" "$alone" "$t" "-"
done
