#!/bin/sh
# run_chan_bench.sh - syncprof channels, Go's channels and a mutex+condvar
# bounded queue, side by side on the same machine, in ns per operation
# (per round trip for pingpong). Each side is given as the best and the
# median of all its runs: Go's 20 (-count 10, twice), ours 10
# (buffered_spsc: 40, with its profiling-off rounds); the baseline's best
# of 5. The ratio of medians is the one to trust; the ratio of bests shows
# what each side can do when the machine lets it.
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

# The figures of one workload, one per line: Go's ns/op of Benchmark$1,
# or ours from bench_chan's "run" lines of each name given.
gofigs() {
    awk -v name="Benchmark$1" '$1 ~ "^"name"(-[0-9]+)?$" { print $3 + 0 }' "$go_out"
}
ourfigs() {
    for w in "$@"; do awk -v w="$w" '$1 == "run" && $2 == w { print $3 + 0 }' "$ours"; done
}
# Best (lowest) and median of the figures on standard input: "best median".
stats() {
    sort -g | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print "nan nan"; exit }
        m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        print v[1], m }'
}
# The baseline's best (column 4 of bench_chan's summary lines).
baseline() {
    awk -v w="$1" '$1 == w && $4 + 0 > 0 { v = $4 + 0; if (best == "" || v < best) best = v }
        END { print best }' "$ours"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

printf '%-16s %9s %9s %6s   %9s %9s %6s   %12s\n' workload ours_best go_best ratio \
    ours_med go_med ratio mutexcond_ns
for pair in buffered_spsc:BufferedSPSC unbuffered_spsc:UnbufferedSPSC pingpong:PingPong \
            buffered_4p4c:Buffered4P4C; do
    w=${pair%%:*}
    if [ "$w" = buffered_spsc ]; then # its profiling-off rounds are more runs of it
        set -- $(ourfigs buffered_spsc buffered_spsc_prof_off | stats)
    else
        set -- $(ourfigs "$w" | stats)
    fi
    ob=$1 om=$2
    set -- $(gofigs "${pair#*:}" | stats)
    printf '%-16s %9s %9s %6s   %9s %9s %6s   %12s\n' "$w" "$ob" "$1" "$(ratio "$ob" "$1")" \
        "$om" "$2" "$(ratio "$om" "$2")" "$(baseline "$w")"
done
set -- $(ourfigs buffered_spsc_prof_off | stats) $(ourfigs buffered_spsc_prof_on | stats)
printf '%-16s off %s/%s ns, on %s/%s ns (best/median): on/off %s best, %s median\n' \
    "buffered profiling" "$1" "$2" "$3" "$4" "$(ratio "$3" "$1")" "$(ratio "$4" "$2")"
# bench_chan runs the profiling-off and -on rounds in turn (off, on, off,
# on, ...), and prints each kind in that order: the i-th of each were run
# one after the other. The machine's speed comes in spells (a buffered run
# takes 17-20 or 30-35 ns for seconds at a time), so the median of the
# ratios of those pairs is steadier than the ratio of the two medians.
ourfigs buffered_spsc_prof_off >"$go_out.off"
ourfigs buffered_spsc_prof_on >"$go_out.on"
paired=$(paste -d ' ' "$go_out.off" "$go_out.on" | awk '{ print $2 / $1 }' | stats)
rm -f "$go_out.off" "$go_out.on"
printf '%-16s on/off of adjacent rounds: %s median (%s lowest)\n' "buffered profiling" \
    "$(printf '%.2f' "${paired#* }")" "$(printf '%.2f' "${paired%% *}")"
