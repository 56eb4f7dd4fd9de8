#!/usr/bin/env bash
# meson.sh - a Meson project using dependency('threads'), has_function and
# links checks (meson/), built with
#   meson setup -Dc_args="-include syncprof/pthread.h ..." -Dc_link_args=-lsyncprof
# Asserts: setup passes those checks, the program builds and runs, and its
# mutex profile charges hold_index() under pthread_mutex_unlock.
#   meson.sh BUILD_DIR SOURCE_DIR
source "$(dirname "$0")/common.sh"
need meson ninja
meson setup "$work/b" "$here/meson" -Dbuildtype=debugoptimized \
  -Dc_args="$SP_CFLAGS -fno-omit-frame-pointer" -Dc_link_args="$SP_LIBS" >"$work/setup.log" 2>&1 ||
  { cat "$work/setup.log"; fail "meson setup"; }
grep -q "Run-time dependency threads found: YES" "$work/setup.log" || fail "dependency('threads') not found"
meson compile -C "$work/b" >"$work/build.log" 2>&1 || { cat "$work/build.log"; fail "build"; }
profiled "$work/out" "$work/b/rp_meson" >/dev/null 2>&1 || fail "rp_meson failed"
expect_stack "$work/out" mutex pthread_mutex_unlock hold_index
echo "meson: dependency('threads') and the compiler checks pass with the forced include; the profile names the lock's holder"
