#!/bin/sh
# exits_in_time.sh SECONDS [--expect TEXT]... -- COMMAND [ARGS...]
#
# Runs COMMAND (under `timeout 10`) and passes if it exits with status 0
# in less than SECONDS seconds and its standard output holds every TEXT.
# Used for main_exit.c, which cannot see its own exit.
# Prints one line saying what went wrong and exits 1 otherwise.
set -u
limit=$1
shift
expect_file=$(mktemp) || exit 1
out=$(mktemp) || exit 1
trap 'rm -f "$expect_file" "$out"' EXIT
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
    case $1 in
    --expect) printf '%s\n' "$2" >>"$expect_file"; shift 2 ;;
    *) echo "exits_in_time.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
[ "${1:-}" = "--" ] && shift
[ $# -gt 0 ] || { echo "exits_in_time.sh: no command" >&2; exit 2; }

start=$(date +%s%N)
timeout -k 2 10 "$@" >"$out"
status=$?
end=$(date +%s%N)
ms=$(( (end - start) / 1000000 ))
cat "$out"
if [ $status -eq 124 ] || [ $status -eq 137 ]; then
    echo "exits_in_time.sh: FAIL: $1 did not exit within 10 s (killed by timeout)"
    exit 1
fi
if [ $status -ne 0 ]; then
    echo "exits_in_time.sh: FAIL: $1 exited with status $status after $ms ms"
    exit 1
fi
if [ $ms -ge $((limit * 1000)) ]; then
    echo "exits_in_time.sh: FAIL: $1 took $ms ms to exit (limit $limit s)"
    exit 1
fi
while IFS= read -r text; do
    if ! grep -qF -- "$text" "$out"; then
        echo "exits_in_time.sh: FAIL: $1 exited (status 0, $ms ms) but its output lacks \"$text\""
        exit 1
    fi
done <"$expect_file"
echo "exits_in_time.sh: exited with status 0 in $ms ms"
exit 0
