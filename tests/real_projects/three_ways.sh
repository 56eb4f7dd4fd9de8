#!/usr/bin/env bash
# three_ways.sh - one program (three_ways.c), profiled the three ways:
#   header:    compiled with -include syncprof/pthread.h, linked -lsyncprof;
#   whole:     the same, linked with libsyncprof-interpose instead;
#   run:       compiled plain, run under `syncprof run`.
# Asserts, with go tool pprof: in each mutex profile the 10 contentions
# have pthread_mutex_unlock as their leaf under release_table, and no
# syncprof_ name appears (one leaf name in every way); the three profiles
# merge into one (30 contentions, one leaf); -diff_base of any two cancels
# to zero; in each block profile the waiter's leaf is pthread_mutex_lock.
#   three_ways.sh BUILD_DIR SOURCE_DIR GO
source "$(dirname "$0")/common.sh"
need cc
command -v "$go" >/dev/null || skip "go is not installed"
flags="-O2 -g -fno-omit-frame-pointer"
cc $flags $SP_CFLAGS "$here/three_ways.c" -o "$work/header" $SP_LIBS -pthread || fail "header build"
cc $flags $SP_CFLAGS "$here/three_ways.c" -o "$work/whole" $SP_WHOLE_LIBS -pthread || fail "whole build"
cc $flags "$here/three_ways.c" -o "$work/plain" -pthread || fail "plain build"
profiled "$work/header.out" "$work/header" >/dev/null 2>&1 || fail "header run"
profiled "$work/whole.out" "$work/whole" >/dev/null 2>&1 || fail "whole run"
"$syncprof" run --quiet --mutex-fraction 1 --block-rate 1 --out "$work/run.out" -- "$work/plain" >/dev/null ||
  fail "syncprof run"

pp() { "$go" tool pprof "$@" 2>&1; }
top() { pp -top -sample_index=contentions "$@"; }
# "flat function" of every row of a -top output whose flat is nonzero (a
# flat as wide as its column, "53326.74us", has no space before it)
flat_rows() { awk '/^ *[-0-9.]+[a-z]* +[-0-9.]+% / && $1 != "0" { print $1, $6 }'; }

files=()
for way in header whole run; do
  m=$(ls "$work/$way.out"/mutex.*.pb.gz) || fail "$way: no mutex profile"
  b=$(ls "$work/$way.out"/block.*.pb.gz) || fail "$way: no block profile"
  files+=("$m")
  t=$(top "$m")
  rows=$(flat_rows <<<"$t")
  [ "$rows" = "10 pthread_mutex_unlock" ] || fail "$way: the mutex profile's leaves are not 10 pthread_mutex_unlock:
$t"
  grep -qE "^ +0 +0% +[0-9.]+% +10 +100% +release_table$" <<<"$t" || fail "$way: release_table is not charged:
$t"
  ! grep -q "syncprof_" <<<"$t" || fail "$way: a syncprof_ name in the profile:
$t"
  t=$(pp -top "$b")
  leaves=$(flat_rows <<<"$t" | awk '{print $2}' | sort -u | tr '\n' ' ')
  [[ "$leaves" == "pthread_join pthread_mutex_lock " || "$leaves" == "pthread_mutex_lock " ]] ||
    fail "$way: block profile leaves are [$leaves]:
$t"
done

pp -proto "${files[@]}" >"$work/merged.pb.gz" || fail "the three profiles do not merge"
t=$(top "$work/merged.pb.gz")
[ "$(flat_rows <<<"$t")" = "30 pthread_mutex_unlock" ] || fail "merged: not one leaf with 30 contentions:
$t"
for pair in "0 1" "0 2" "1 2"; do
  set -- $pair
  t=$(top -diff_base="${files[$1]}" "${files[$2]}")
  grep -q "Showing nodes accounting for 0, 0% of" <<<"$t" && [ -z "$(flat_rows <<<"$t")" ] ||
    fail "-diff_base ${files[$1]} ${files[$2]} does not cancel:
$t"
done
echo "three ways: header, whole-program and syncprof run name the leaf pthread_mutex_unlock; they merge, and -diff_base cancels"
