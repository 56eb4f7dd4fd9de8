#!/bin/sh
# run_chan_bench.sh - syncprof channels, Go's channels and a mutex+condvar
# bounded queue, side by side on the same machine, in ns per operation
# (per round trip for pingpong). Each figure is the best of 5 runs.
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
"$bench" "$messages" >"$ours"
(cd "$here/gochan" && go test -run '^$' -bench . -count 5) >"$go_out"

# Best (lowest) Go ns/op per benchmark.
gobest() {
    awk -v name="Benchmark$1" '$1 ~ "^"name"(-[0-9]+)?$" { v = $3 + 0; if (best == "" || v < best) best = v }
        END { print (best == "" ? "nan" : best) }' "$go_out"
}
col() { awk -v w="$1" -v k="$2" '$1 == w { print $k }' "$ours"; }

printf '%-24s %10s %10s %12s %10s\n' workload ours_ns go_ns mutexcond_ns ours/go
for pair in buffered_spsc:BufferedSPSC unbuffered_spsc:UnbufferedSPSC pingpong:PingPong \
            buffered_4p4c:Buffered4P4C; do
    w=${pair%%:*} g=$(gobest "${pair#*:}")
    o=$(col "$w" 2) m=$(col "$w" 3)
    printf '%-24s %10s %10s %12s %10s\n' "$w" "$o" "$g" "$m" \
        "$(awk -v o="$o" -v g="$g" 'BEGIN { printf "%.2f", o / g }')"
done
off=$(col buffered_spsc_prof_off 2) on=$(col buffered_spsc_prof_on 2)
printf '%-24s %10s\n%-24s %10s (on/off %s)\n' "buffered_spsc prof off" "$off" \
    "buffered_spsc prof on" "$on" "$(awk -v a="$on" -v b="$off" 'BEGIN { printf "%.2f", a / b }')"
