#!/usr/bin/env bash
# cmake.sh - a CMake project using find_package(Threads) (cmake/), built with
#   cmake -DCMAKE_C_FLAGS="-include syncprof/pthread.h ..." \
#         -DCMAKE_EXE_LINKER_FLAGS="-Wl,--push-state,--no-as-needed -lsyncprof -Wl,--pop-state"
# (CMake's try_compile passes CMAKE_EXE_LINKER_FLAGS to its checks, not
# CMAKE_C_STANDARD_LIBRARIES; those flags come before the objects, where
# --as-needed would drop a plain -lsyncprof.)
# Asserts: FindThreads' own check (a program calling pthread_join, now
# syncprof_join) passes as such, not through its -lpthread fallback
# (CMAKE_HAVE_LIBC_PTHREAD); the program builds, runs, and its mutex
# profile charges hold_table() under pthread_mutex_unlock.
#   cmake.sh BUILD_DIR SOURCE_DIR
source "$(dirname "$0")/common.sh"
need cmake make
cmake -S "$here/cmake" -B "$work/b" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_FLAGS="$SP_CFLAGS -fno-omit-frame-pointer" \
  -DCMAKE_EXE_LINKER_FLAGS="$SP_LIBS" >"$work/cmake.log" 2>&1 || { cat "$work/cmake.log"; fail "cmake configure"; }
grep -q "^CMAKE_HAVE_LIBC_PTHREAD:INTERNAL=1" "$work/b/CMakeCache.txt" ||
  { grep -i thread "$work/b/CMakeCache.txt"; fail "FindThreads' check did not pass with the forced include"; }
cmake --build "$work/b" >"$work/build.log" 2>&1 || { cat "$work/build.log"; fail "build"; }
profiled "$work/out" "$work/b/rp_cmake" >/dev/null 2>&1 || fail "rp_cmake failed"
expect_stack "$work/out" mutex pthread_mutex_unlock hold_table
echo "cmake: find_package(Threads) passes with the forced include; the profile names the lock's holder"
