#!/bin/sh
# run_chan_bench.sh - syncprof channels, Go's channels and a mutex+condvar
# bounded queue, side by side on the same machine, in ns per operation
# (per round trip for pingpong). Each side is given as the best and the
# median of all its runs: Go's 20 (-count 5 in each of 4 passes), ours 20
# (5 rounds in each pass; buffered_spsc: 80, with its profiling-off
# rounds); the baseline's best of 5. The ratio of medians is the one to
# trust; the ratio of bests shows what each side can do when the machine
# lets it.
#
# The two sides are run in turn, in PASSES passes (ours, Go, ours, Go,
# ...): on a shared machine whose speed drifts over seconds, a drift then
# touches both. The last column is the median of the passes' own ratios
# (our median in a pass over Go's in the same pass): the pairing of runs
# made close together in time, as for profiling on/off below.
#
# Usage: tests/bench/run_chan_bench.sh [build dir, default build] [messages]
# Needs the build (bench_chan) and Go (golang-go). PASSES (default 4).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-$here/../../build}" && pwd)
messages=${2:-2000000}
passes=${PASSES:-4}
bench=$build/tests/bench/bench_chan
[ -x "$bench" ] || { echo "run_chan_bench.sh: no $bench; build first" >&2; exit 1; }
export HOME=${HOME:-/tmp} GOCACHE=${GOCACHE:-$build/gocache} GOFLAGS=-mod=mod

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
ours=$work/ours go_out=$work/go
for pass in $(seq "$passes"); do
    # the mutex+condvar baseline is slow and steady: the first pass only
    if [ "$pass" = 1 ]; then "$bench" "$messages" >"$work/ours.$pass"; else "$bench" "$messages" ours >"$work/ours.$pass"; fi
    (cd "$here/gochan" && go test -run '^$' -bench . -count 5) >"$work/go.$pass"
    cat "$work/ours.$pass" >>"$ours"
    cat "$work/go.$pass" >>"$go_out"
done

# The figures of one workload, one per line: Go's ns/op of Benchmark$1,
# or ours from bench_chan's "run" lines of each name given.
# GO and OURS name the files read: all passes, or one.
GO=$go_out OURS=$ours
gofigs() {
    awk -v name="Benchmark$1" '$1 ~ "^"name"(-[0-9]+)?$" { print $3 + 0 }' "$GO"
}
ourfigs() {
    for w in "$@"; do awk -v w="$w" '$1 == "run" && $2 == w { print $3 + 0 }' "$OURS"; done
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

# The median of the passes' ratios of medians: Go's Benchmark$1 against
# our runs named $2...
pass_ratio() {
    gname=$1; shift
    for p in $(seq "$passes"); do
        o=$(OURS=$work/ours.$p ourfigs "$@" | stats) g=$(GO=$work/go.$p gofigs "$gname" | stats)
        awk -v a="${o#* }" -v b="${g#* }" 'BEGIN { print a / b }'
    done | stats | awk '{ printf "%.2f", $2 }'
}

printf '%-16s %9s %9s %6s   %9s %9s %6s   %12s %6s\n' workload ours_best go_best ratio \
    ours_med go_med ratio mutexcond_ns passes
for pair in buffered_spsc:BufferedSPSC unbuffered_spsc:UnbufferedSPSC pingpong:PingPong \
            buffered_4p4c:Buffered4P4C; do
    w=${pair%%:*}
    names=$w
    [ "$w" = buffered_spsc ] && names="buffered_spsc buffered_spsc_prof_off" # more runs of it
    set -- $(ourfigs $names | stats)
    ob=$1 om=$2
    set -- $(gofigs "${pair#*:}" | stats)
    printf '%-16s %9s %9s %6s   %9s %9s %6s   %12s %6s\n' "$w" "$ob" "$1" "$(ratio "$ob" "$1")" \
        "$om" "$2" "$(ratio "$om" "$2")" "$(baseline "$w")" "$(pass_ratio "${pair#*:}" $names)"
done
set -- $(ourfigs buffered_spsc_prof_off | stats) $(ourfigs buffered_spsc_prof_on | stats)
printf '%-16s off %s/%s ns, on %s/%s ns (best/median): on/off %s best, %s median\n' \
    "buffered profiling" "$1" "$2" "$3" "$4" "$(ratio "$3" "$1")" "$(ratio "$4" "$2")"
# bench_chan runs the profiling-off and -on rounds in turn (off, on, off,
# on, ...), and prints each kind in that order: the i-th of each were run
# one after the other. A shared machine's speed comes in spells lasting
# seconds, which move both runs of a pair alike, so the median of the
# ratios of those pairs is steadier than the ratio of the two medians.
ourfigs buffered_spsc_prof_off >"$work/off"
ourfigs buffered_spsc_prof_on >"$work/on"
paired=$(paste -d ' ' "$work/off" "$work/on" | awk '{ print $2 / $1 }' | stats)
printf '%-16s on/off of adjacent rounds: %s median (%s lowest)\n' "buffered profiling" \
    "$(printf '%.2f' "${paired#* }")" "$(printf '%.2f' "${paired%% *}")"
