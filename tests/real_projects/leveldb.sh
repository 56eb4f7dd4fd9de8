#!/usr/bin/env bash
# leveldb.sh - a C++ program of ours on Debian's libleveldb
# (leveldb_writers.cc: 8 writer threads), compiled with the forced include
# and linked two ways:
#   - whole program (libsyncprof-interpose): the block profile has the
#     writers' condition wait inside libleveldb, DBImpl::Write's writer
#     queue (pthread_cond_wait called from std::condition_variable::wait in
#     libstdc++, a tail call there, from a libleveldb frame, under
#     leveldb::DB::Put), and the mutex profile its mutex; plus the
#     program's own lock (open_gate, note_progress);
#   - header only (libsyncprof): only the program's own lock; nothing of
#     libleveldb (the macros never reach a library's code), as docs/api.md
#     says.
# Debian's libleveldb exports no DBImpl symbol and ships no .symtab: the
# frame of DBImpl::Write is its address in libleveldb (named with the
# libleveldb1d debug symbols installed).
#   leveldb.sh BUILD_DIR SOURCE_DIR
source "$(dirname "$0")/common.sh"
need g++
[ -f /usr/include/leveldb/db.h ] || skip "libleveldb-dev is not installed"
flags="-std=c++17 -O2 -g -fno-omit-frame-pointer $SP_CFLAGS"
g++ $flags "$here/leveldb_writers.cc" -o "$work/whole" -lleveldb $SP_WHOLE_LIBS || fail "whole-program build"
g++ $flags "$here/leveldb_writers.cc" -o "$work/header" -lleveldb $SP_LIBS || fail "header-only build"
readelf -d "$work/whole" | grep -q "libsyncprof-interpose" || fail "the whole-program build does not load libsyncprof-interpose"

profiled "$work/w" "$work/whole" "$work/db1" 8 3000 >/dev/null 2>&1 || fail "whole-program run"
expect_stack "$work/w" block pthread_cond_wait "libleveldb.so"
expect_stack "$work/w" block pthread_cond_wait "leveldb::DB::Put"
expect_stack "$work/w" mutex pthread_mutex_unlock "leveldb::DB::Put"
# The writer queue (DBImpl::Write's mutex and condition variable) is the
# heaviest wait of the block profile and its mutex the heaviest contention,
# main's joins (which last the whole run) and the program's own progress
# lock (note_progress, open_gate) aside: the 1 ms gate on that lock
# stretches with the machine's load (a sleep of 1 ms, 8 threads queued
# behind it), the writer queue's waits do not.
heaviest() {
  folded "$work/w" "$1" | grep -v ";pthread_join [0-9]*$" | grep -v -e ";note_progress(int);" -e ";open_gate()" | awk '{v = $NF; sub(/ [0-9]+$/, ""); print v "\t" $0}' |
    sort -t$'\t' -k1,1 -n -r | head -n1 | cut -f2-
}
top=$(heaviest block)
[[ "$top" == *"leveldb::DB::Put"*"libleveldb.so"*";pthread_cond_wait" ||
   "$top" == *"leveldb::DB::Put"*"libleveldb.so"*";pthread_mutex_lock" ]] ||
  fail "the heaviest block stack is not the writer queue's wait: $(heaviest block)"
[[ "$(heaviest mutex)" == *"leveldb::DB::Put"*"libleveldb.so"*";pthread_mutex_unlock" ]] ||
  fail "the heaviest mutex stack is not the writer queue's mutex: $(heaviest mutex)"

profiled "$work/h" "$work/header" "$work/db2" 8 3000 >/dev/null 2>&1 || fail "header-only run"
expect_stack "$work/h" mutex pthread_mutex_unlock open_gate
expect_stack "$work/h" block pthread_mutex_lock note_progress
expect_no_frame "$work/h" block "libleveldb.so"
expect_no_frame "$work/h" block "leveldb::"
expect_no_frame "$work/h" mutex "leveldb::"
echo "leveldb: linked whole-program, the writer queue's waits inside libleveldb are the heaviest; header only, they are invisible"
