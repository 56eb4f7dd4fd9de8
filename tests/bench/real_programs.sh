#!/usr/bin/env bash
# real_programs.sh - what `syncprof run` costs real, unmodified programs from
# Debian, at its defaults: each program plain and profiled, the two runs of
# a round back to back and the rounds interleaved, so that a slow spell of
# a shared machine lands on both sides. Prints the median of each side and
# their ratio, and the fixed cost per process (`true`, and zstd on 1 MB).
#
#   tests/bench/real_programs.sh BUILD [ROUNDS]     (default 5 rounds)
#
# BUILD is a build directory (bin/syncprof, tests/bench/mc_load,
# tests/bench/leveldb_writers). Programs that are not installed are
# skipped with a line saying so: pigz, zstd, memcached (apt install pigz
# zstd memcached libleveldb-dev). The goals (docs/performance.md): pigz
# -p 4 and zstd -T2 <= 1.05x, memcached throughput <= 1.03x, the leveldb
# writers <= 1.10x, a process <= 15 ms more.
set -euo pipefail
build=$(cd "${1:?usage: real_programs.sh BUILD [ROUNDS]}" && pwd)
rounds=${2:-5}
syncprof=$build/bin/syncprof
work=$(mktemp -d /tmp/syncprof-real.XXXXXX)
trap 'rm -rf "$work"; [ -n "${mc_pid:-}" ] && kill "$mc_pid" 2>/dev/null || true' EXIT

# The input: 64 MB of text-like data (compresses about 4:1, as source code
# and logs do), and 1 MB of it for the per-process cost.
awk 'BEGIN {
  srand(1)
  for (i = 0; i < 5000; i++) {
    w = ""; n = 2 + int(rand() * 8)
    for (j = 0; j < n; j++) w = w sprintf("%c", 97 + int(rand() * 26))
    words[i] = w
  }
  size = 0
  while (size < 64 * 1048576) {
    line = words[int(rand() * 5000)]
    for (k = 1; k < 12; k++) line = line " " words[int(rand() * 5000)]
    print line
    size += length(line) + 1
  }
}' > "$work/in"
head -c 1048576 "$work/in" > "$work/in1m"

# seconds COMMAND...: the wall time of one run, output discarded (bash's
# EPOCHREALTIME: no process is started to read the clock).
seconds() {
  local t0=$EPOCHREALTIME
  "$@" >/dev/null 2>&1
  local t1=$EPOCHREALTIME
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f\n", b - a }'
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
run() { "$syncprof" run --quiet --out "$work/out" -- "$@"; }

# medians N COMMAND...: N rounds of the command plain and under `syncprof
# run`, each round's two runs back to back; sets p and q to the medians.
medians() {
  local n=$1; shift
  local plain=() prof=()
  for ((i = 0; i < n; i++)); do
    plain+=("$(seconds "$@")")
    prof+=("$(seconds run "$@")")
  done
  p=$(printf '%s\n' "${plain[@]}" | median)
  q=$(printf '%s\n' "${prof[@]}" | median)
}

# compare NAME COMMAND...: the ratio of the medians over the rounds.
compare() {
  local name=$1; shift
  medians "$rounds" "$@"
  printf '%-34s plain %8.3f s  syncprof run %8.3f s  ratio %.3f\n' "$name" "$p" "$q" \
    "$(awk -v p="$p" -v q="$q" 'BEGIN { print q / p }')"
}

# cost NAME COMMAND...: the extra time per process, in ms (11 rounds).
cost() {
  local name=$1; shift
  medians 11 "$@"
  awk -v n="$name" -v p="$p" -v q="$q" \
    'BEGIN { printf "%-34s plain %8.1f ms syncprof run %8.1f ms  +%.1f ms\n", n, p * 1000, q * 1000, (q - p) * 1000 }'
}

have() { command -v "$1" >/dev/null 2>&1 || { echo "skipped: $1 is not installed"; return 1; }; }

echo "== syncprof run at its defaults, $rounds interleaved rounds, medians ($(nproc) CPUs)"
cost "per process: true" /bin/true
if have zstd; then
  cost "per process: zstd -T2, 1 MB" zstd -T2 -q -f -c "$work/in1m"
  compare "zstd -T2, 64 MB" zstd -T2 -q -f -c "$work/in"
fi
if have pigz; then
  compare "pigz -p 4, 64 MB" pigz -p 4 -c "$work/in"
fi
if [ -x "$build/tests/bench/leveldb_writers" ]; then
  compare "leveldb, 8 writer threads" "$build/tests/bench/leveldb_writers" "$work/db" 8 20000
else
  echo "skipped: leveldb_writers (libleveldb-dev was not found at build time)"
fi

# memcached: throughput of a fixed-length load (8 clients, 3 s) against a
# server with 4 worker threads, plain and profiled, interleaved.
if have memcached; then
  mc_round() { # [syncprof run] -> ops
    local port=$((20000 + RANDOM % 20000))
    "$@" memcached -U 0 -p "$port" -l 127.0.0.1 -t 4 -u root >/dev/null 2>&1 &
    mc_pid=$!
    local ops
    ops=$("$build/tests/bench/mc_load" "$port" 8 3 | awk '/^ops/ {print $2}')
    kill "$mc_pid"; wait "$mc_pid" 2>/dev/null || true
    mc_pid=
    echo "${ops:-0}"
  }
  plain=(); prof=()
  for ((i = 0; i < rounds; i++)); do
    plain+=("$(mc_round)")
    prof+=("$(mc_round "$syncprof" run --quiet --out "$work/out" --)")
  done
  p=$(printf '%s\n' "${plain[@]}" | median)
  q=$(printf '%s\n' "${prof[@]}" | median)
  awk -v p="$p" -v q="$q" 'BEGIN { printf "%-34s plain %8.0f ops/s syncprof run %8.0f ops/s  ratio %.3f\n", "memcached -t 4, 8 clients", p / 3, q / 3, p / q }'
fi
