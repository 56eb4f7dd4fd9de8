#!/usr/bin/env bash
# The syncprof demo: installs what is missing, builds, runs a contended
# example program under profiling, writes its mutex and block profiles and
# prints the top contended stacks.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/tests/install-deps.sh"

build="$root/build"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "$(nproc 2>/dev/null || echo 2)" --target contended_profiled >/dev/null

out="$root/demo-out"
rm -rf "$out" && mkdir -p "$out"
echo "== running examples/contended.c (built with -include syncprof/pthread.h)"
echo "   SYNCPROF_MUTEX_FRACTION=1 SYNCPROF_BLOCK_RATE=10000 SYNCPROF_OUT=$out"
SYNCPROF_MUTEX_FRACTION=1 SYNCPROF_BLOCK_RATE=10000 SYNCPROF_OUT="$out" \
  "$build/examples/contended_profiled"

for kind in mutex block; do
  file=$(ls "$out"/$kind.*.pb.gz)
  echo
  echo "== top $kind contention stacks ($file)"
  go tool pprof -traces "$file" 2>/dev/null | awk '
    /^-+\+-+$/ { if (shown++ >= 3) exit; print "" ; next }
    /^ *(File|Build ID|Type|Time):/ { next }
    { print }'
done
echo
echo "Open them interactively with: go tool pprof -http=127.0.0.1:8080 $out/mutex.*.pb.gz"
