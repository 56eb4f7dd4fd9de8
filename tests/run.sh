#!/usr/bin/env bash
# Installs what is missing, builds syncprof and runs the whole suite with
# ctest: once in a normal build (-Wall -Wextra -Werror), then under
# AddressSanitizer + UndefinedBehaviorSanitizer (with float-cast-overflow,
# which -fsanitize=undefined leaves out) and under ThreadSanitizer
# (where criterion cannot start: the check_* programs and tests/harm are
# the suite there). A Release build (-O3) is compiled too, not run, and a
# Ninja build runs the check that reads the build's flags.
#
#   tests/run.sh                      everything
#   SYNCPROF_SANITIZERS=none tests/run.sh   the normal build (and the -O3 compile)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/tests/install-deps.sh"

jobs=$(nproc 2>/dev/null || echo 2)
build_in() { # build-dir cmake-args...
  local dir=$1; shift
  echo "=== syncprof: building in $dir $*"
  cmake -S "$root" -B "$dir" -DSYNCPROF_WERROR=ON "$@" >/dev/null
  cmake --build "$dir" -j "$jobs" >/dev/null
}
run_suite() { # build-dir cmake-args...
  local dir=$1
  build_in "$@"
  echo "=== syncprof: testing in $dir"
  ctest --test-dir "$dir" --output-on-failure -j 1
}

run_suite "$root/build"
# GCC warns about more at -O3 than at the default -O2, and a user who
# builds with -DCMAKE_BUILD_TYPE=Release gets -Werror too: the library and
# everything else must compile there as well (built, not run).
build_in "$root/build-release" -DCMAKE_BUILD_TYPE=Release
# Clang (Debian's clang-14) builds everything with -Werror and runs the
# checks that exercise compilers: the real projects, the install, the
# check_* programs. (Criterion tests expect GCC's DWARF and names.)
if command -v clang >/dev/null; then
  build_in "$root/build-clang" -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++
  ctest --test-dir "$root/build-clang" --output-on-failure -j 1 -R '^(check_|real_)'
fi
# Nothing may depend on one CMake generator: build once with Ninja and run
# the check that compiles against the build's own flags.
if command -v ninja >/dev/null; then
  build_in "$root/build-ninja" -G Ninja
  ctest --test-dir "$root/build-ninja" --output-on-failure -R check_ab_chan
fi
case "${SYNCPROF_SANITIZERS:-all}" in
  none) ;;
  *)
    run_suite "$root/build-asan" -DSYNCPROF_SANITIZE=address,undefined,float-cast-overflow -DCMAKE_BUILD_TYPE=Debug
    run_suite "$root/build-tsan" -DSYNCPROF_SANITIZE=thread -DCMAKE_BUILD_TYPE=RelWithDebInfo
    ;;
esac
echo "=== syncprof: all suites passed"
