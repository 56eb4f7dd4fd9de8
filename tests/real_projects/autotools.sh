#!/usr/bin/env bash
# autotools.sh - a real autotools project (autotools/) built as a new user
# would: ./configure CFLAGS="-include syncprof/pthread.h ..." LIBS=-lsyncprof.
# Asserts: configure passes AC_SEARCH_LIBS(pthread_create), AX_PTHREAD and
# AC_CHECK_FUNCS of pthread functions and accept4 (config.h has
# HAVE_PTHREAD and HAVE_ACCEPT4); make builds server.c (whose config.h
# defines _GNU_SOURCE: accept4, IOV_MAX) and answer.S with those CFLAGS
# (-Werror=implicit-function-declaration makes a lost _GNU_SOURCE fatal);
# the program runs and its mutex profile charges hold_cache() under
# pthread_mutex_unlock.
#   autotools.sh BUILD_DIR SOURCE_DIR
source "$(dirname "$0")/common.sh"
need autoreconf automake aclocal make
[ -f /usr/share/aclocal/ax_pthread.m4 ] || skip "autoconf-archive (AX_PTHREAD) is not installed"
cp -r "$here/autotools" "$work/p"
cp "$here/answer.S" "$work/p/"
cd "$work/p"
autoreconf -fi >autoreconf.log 2>&1 || { cat autoreconf.log; fail "autoreconf"; }
./configure CFLAGS="-O2 -g -fno-omit-frame-pointer -Werror=implicit-function-declaration $SP_CFLAGS" \
  LIBS="$SP_LIBS" >configure.out 2>&1 || { tail -5 configure.out; grep -B2 -A12 "error:" config.log | tail -60; fail "configure failed"; }
grep -q "^#define HAVE_PTHREAD 1" config.h || fail "AX_PTHREAD did not define HAVE_PTHREAD"
grep -q "^#define HAVE_ACCEPT4 1" config.h || fail "no HAVE_ACCEPT4"
grep -q "^#define HAVE_PTHREAD_MUTEX_TIMEDLOCK 1" config.h || fail "no HAVE_PTHREAD_MUTEX_TIMEDLOCK"
grep -q "^# define _GNU_SOURCE 1" config.h || fail "config.h does not define _GNU_SOURCE"
make V=1 >make.log 2>&1 || { cat make.log; fail "make failed"; }
grep "answer.S" make.log | grep -q -- "-include syncprof/pthread.h" ||
  fail "answer.S was not assembled with the CFLAGS (the test would prove nothing)"
profiled "$work/out" ./rp_server >run.log 2>&1 || { cat run.log; fail "rp_server failed"; }
expect_stack "$work/out" mutex pthread_mutex_unlock hold_cache
expect_stack "$work/out" block pthread_mutex_lock reader
echo "autotools: configure (AC_SEARCH_LIBS, AX_PTHREAD, AC_CHECK_FUNCS), make (config.h's _GNU_SOURCE, .S) and the profile all work"
