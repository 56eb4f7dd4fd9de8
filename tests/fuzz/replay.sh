#!/bin/sh
# replay.sh SYNCPROF DIR[:MAX]...
#
# Runs `SYNCPROF report` over the files of each DIR (the newest MAX of
# them when given: the report fuzzer's checked-in corpus whole, what its
# runs found here in part) with this build's own sanitizers, in the output
# mode the fuzzer gives the same file (its size modulo 4: the table,
# --folded, --text, --top 0 --depth 0), one run per processor at a time.
# Every run must end with status 0 or 1, and a 1 with exactly one line on
# stderr: never a signal, a sanitizer report, or anything else on stderr.
# Sanitizer builds set ASAN_OPTIONS/UBSAN_OPTIONS exit codes other than 1
# (see CMakeLists.txt).
set -u
tool=$1
shift
list=$(mktemp)
trap 'rm -f "$list"' EXIT
for arg in "$@"; do
    dir=${arg%:*}
    max=
    [ "$dir" != "$arg" ] && max=${arg##*:}
    [ -d "$dir" ] || continue
    # shellcheck disable=SC2012
    ls -t "$dir" | grep -v -e '^crash-' -e '^leak-' -e '^timeout-' -e '^slow-unit-' -e '^oom-' |
        head -n "${max:-1000000}" | sed "s|^|$dir/|" >> "$list"
done
files=$(wc -l < "$list")
# One file: exit 0 when the run was clean, else 1 with what it printed.
one='
f=$1
case $(($(stat -c %s "$f") % 4)) in
0) set -- ;;
1) set -- --folded ;;
2) set -- --text ;;
*) set -- --top 0 --depth 0 ;;
esac
err=$("$TOOL" report "$@" "$f" 2>&1 >/dev/null)
st=$?
[ "$st" -eq 0 ] && [ -z "$err" ] && exit 0
if [ "$st" -ne 1 ] || [ "$(printf "%s\n" "$err" | wc -l)" -ne 1 ] ||
    printf "%s" "$err" | grep -q -e "runtime error" -e "Sanitizer"; then
    echo "FAIL: $TOOL report $* $f: status $st"
    printf "%s\n" "$err" | head -c 2000
    exit 1
fi
exit 0'
TOOL=$tool xargs -P "$(nproc)" -n 1 sh -c "$one" sh < "$list"
st=$?
echo "replayed $files files: $([ $st -eq 0 ] && echo no failures || echo FAILURES)"
[ "$files" -gt 0 ] && [ "$st" -eq 0 ]
