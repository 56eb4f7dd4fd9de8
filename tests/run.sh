#!/usr/bin/env bash
# Installs what is missing, builds syncprof and runs the whole suite with
# ctest: once in a normal build (-Wall -Wextra -Werror), then under
# AddressSanitizer + UndefinedBehaviorSanitizer and under ThreadSanitizer
# (where criterion cannot start, so tests/race_check.c is the suite).
#
#   tests/run.sh                      everything
#   SYNCPROF_SANITIZERS=none tests/run.sh   only the normal build
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/tests/install-deps.sh"

jobs=$(nproc 2>/dev/null || echo 2)
run_suite() { # build-dir cmake-args...
  local dir=$1; shift
  echo "=== syncprof: building in $dir $*"
  cmake -S "$root" -B "$dir" -DSYNCPROF_WERROR=ON "$@" >/dev/null
  cmake --build "$dir" -j "$jobs" >/dev/null
  echo "=== syncprof: testing in $dir"
  ctest --test-dir "$dir" --output-on-failure -j 1
}

run_suite "$root/build"
case "${SYNCPROF_SANITIZERS:-all}" in
  none) ;;
  *)
    run_suite "$root/build-asan" -DSYNCPROF_SANITIZE=address,undefined -DCMAKE_BUILD_TYPE=Debug
    run_suite "$root/build-tsan" -DSYNCPROF_SANITIZE=thread -DCMAKE_BUILD_TYPE=RelWithDebInfo
    ;;
esac
echo "=== syncprof: all suites passed"
