#!/bin/sh
# run_chan_bench.sh - syncprof channels, Go's channels and a mutex+condvar
# bounded queue, side by side on the same machine, in ns per operation
# (per round trip for pingpong). Each figure is the best of all runs: Go's
# 20 (-count 10, twice), ours 10 (buffered_spsc: 40, with its profiling-off
# rounds), the baseline's 5.
#
# The two sides are run in turn, twice (ours, Go, ours, Go): on a shared
# machine whose speed drifts over minutes, a drift then touches both.
#
# Usage: tests/bench/run_chan_bench.sh [build dir, default build] [messages]
# Needs the build (bench_chan) and Go (golang-go).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-$here/../../build}" && pwd)
messages=${2:-2000000}
bench=$build/tests/bench/bench_chan
[ -x "$bench" ] || { echo "run_chan_bench.sh: no $bench; build first" >&2; exit 1; }
export HOME=${HOME:-/tmp} GOCACHE=${GOCACHE:-$build/gocache} GOFLAGS=-mod=mod

ours=$(mktemp) go_out=$(mktemp)
trap 'rm -f "$ours" "$go_out"' EXIT
for pass in 1 2; do
    # the mutex+condvar baseline is slow and steady: the first pass only
    if [ "$pass" = 1 ]; then "$bench" "$messages" >>"$ours"; else "$bench" "$messages" ours >>"$ours"; fi
    (cd "$here/gochan" && go test -run '^$' -bench . -count 10) >>"$go_out"
done

# Best (lowest) Go ns/op per benchmark.
gobest() {
    awk -v name="Benchmark$1" '$1 ~ "^"name"(-[0-9]+)?$" { v = $3 + 0; if (best == "" || v < best) best = v }
        END { print (best == "" ? "nan" : best) }' "$go_out"
}
# Best of ours (column 2) or of the baseline (column 3, runs that had one).
col() {
    awk -v w="$1" -v k="$2" '$1 == w && $k + 0 > 0 { v = $k + 0; if (best == "" || v < best) best = v }
        END { print best }' "$ours"
}

printf '%-24s %10s %10s %12s %10s\n' workload ours_ns go_ns mutexcond_ns ours/go
for pair in buffered_spsc:BufferedSPSC unbuffered_spsc:UnbufferedSPSC pingpong:PingPong \
            buffered_4p4c:Buffered4P4C; do
    w=${pair%%:*} g=$(gobest "${pair#*:}")
    o=$(col "$w" 2) m=$(col "$w" 3)
    if [ "$w" = buffered_spsc ]; then # its profiling-off rounds are more runs of it
        o=$(printf '%s\n%s\n' "$o" "$(col buffered_spsc_prof_off 2)" | sort -g | head -n 1)
    fi
    printf '%-24s %10s %10s %12s %10s\n' "$w" "$o" "$g" "$m" \
        "$(awk -v o="$o" -v g="$g" 'BEGIN { printf "%.2f", o / g }')"
done
off=$(col buffered_spsc_prof_off 2) on=$(col buffered_spsc_prof_on 2)
printf '%-24s %10s\n%-24s %10s (on/off %s)\n' "buffered_spsc prof off" "$off" \
    "buffered_spsc prof on" "$on" "$(awk -v a="$on" -v b="$off" 'BEGIN { printf "%.2f", a / b }')"
