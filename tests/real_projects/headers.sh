#!/usr/bin/env bash
# headers.sh - the forced include (-include syncprof/pthread.h) is
# invisible to valid code, with GCC and Clang:
#   - headers/all.c: every wrapped call, C89 C99 C11 C17 C23 with -Wall
#     -Wextra -pedantic -Werror, a feature-test macro set after the include;
#     run: each call returns what pthreads return;
#   - features_gnu.c / features_posix.c: _GNU_SOURCE and _FILE_OFFSET_BITS
#     of a config.h read later take effect (accept4, IOV_MAX), and so does a
#     strict _POSIX_C_SOURCE;
#   - bool.c: a program's own bool/true/false (C89 to C17);
#   - names.c: the include defines none of the C library's names;
#     every macro it adds is syncprof's, a wrapped pthread/sem name or the
#     implementation's (_X / __x);
#   - answer.S: nothing under __ASSEMBLER__;
#   - cxx_locks.cc: C++11 to C++23 with <mutex>, <condition_variable>,
#     <shared_mutex>, <thread>; run (C++17): the mutex profile charges the
#     program's functions with the pthread names as leaves.
#   headers.sh BUILD_DIR SOURCE_DIR
source "$(dirname "$0")/common.sh"
h=$here/headers
ccs=(gcc) cxxs=(g++)
command -v clang >/dev/null && ccs+=(clang)
command -v clang++ >/dev/null && cxxs+=(clang++)
warn="-Wall -Wextra -Werror"

for cc in "${ccs[@]}"; do
  for std in c89 c99 c11 c17 c2x; do
    case $std in # built and run at both ends, compiled in between
      c89|c2x) out=(-O1 -o "$work/all" $SP_LIBS -pthread) ;;
      *) out=(-fsyntax-only) ;;
    esac
    $cc -std=$std -pedantic $warn $SP_CFLAGS "$h/all.c" "${out[@]}" ||
      fail "$cc -std=$std: all.c does not compile"
    [ "${out[0]}" = -fsyntax-only ] || "$work/all" >/dev/null || fail "$cc -std=$std: all.c returned wrong results"
  done
  $cc -std=gnu11 $warn $SP_CFLAGS "$h/features_gnu.c" -o "$work/fg" $SP_LIBS ||
    fail "$cc: config.h's _GNU_SOURCE/_FILE_OFFSET_BITS lost"
  "$work/fg" || fail "features_gnu did not run"
  $cc -std=c11 $warn $SP_CFLAGS -fsyntax-only "$h/features_posix.c" ||
    fail "$cc: a later _POSIX_C_SOURCE lost"
  for std in c89 c99 c11 c17; do
    $cc -std=$std -pedantic $warn $SP_CFLAGS -fsyntax-only "$h/bool.c" ||
      fail "$cc -std=$std: a program's own bool does not compile"
  done
  for std in c99 c2x; do
    $cc -std=$std $warn $SP_CFLAGS -c "$h/names.c" -o "$work/names.o" ||
      fail "$cc -std=$std: the forced include defines a C library name"
  done
  extra=$(comm -13 <($cc -dM -E -x c /dev/null | awk '{print $2}' | sed 's/(.*//' | sort) \
                   <($cc $SP_CFLAGS -dM -E -x c /dev/null | awk '{print $2}' | sed 's/(.*//' | sort) |
          grep -Ev '^(SYNCPROF_|syncprof_|_[A-Z_])' |
          grep -Ev '^(pthread_(mutex_(lock|trylock|timedlock|clocklock|unlock|init|destroy)|rwlock_(rdlock|wrlock|tryrdlock|trywrlock|timedrdlock|timedwrlock|unlock|init|destroy)|cond_(wait|timedwait|clockwait|signal|broadcast|init|destroy)|join|barrier_wait)|sem_(wait|timedwait|post))$' || true)
  [ -z "$extra" ] || fail "$cc: the forced include defines macros outside its names: $extra"
  $cc $SP_CFLAGS -O2 -c "$here/answer.S" -o "$work/answer.o" || fail "$cc: answer.S does not assemble"
  nm "$work/answer.o" | grep -q " T rp_answer" || fail "$cc: answer.S lost its symbol"
done

for cxx in "${cxxs[@]}"; do
  for std in c++11 c++14 c++17 c++20 c++2b; do
    $cxx -std=$std -pedantic $warn $SP_CFLAGS -fsyntax-only "$h/cxx_locks.cc" ||
      fail "$cxx -std=$std: cxx_locks.cc does not compile"
  done
done
g++ -std=c++17 $SP_CFLAGS -O2 -g -fno-omit-frame-pointer "$h/cxx_locks.cc" -o "$work/cxx" $SP_LIBS -pthread
profiled "$work/out" "$work/cxx" >/dev/null 2>&1 || fail "cxx_locks failed"
# restock holds its std::mutex while it sleeps: contention every run. (The
# shared_mutex's contention depends on scheduling, so it is not asserted.)
expect_stack "$work/out" mutex pthread_mutex_unlock "restock"
expect_stack "$work/out" block pthread_mutex_lock "restock"
echo "headers: C89-C23 and C++11-C++23 with ${ccs[*]} / ${cxxs[*]}: invisible, and the C++ profile names its locks"
