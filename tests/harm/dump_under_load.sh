#!/bin/bash
# dump_under_load.sh MODE SERVER LOAD SYNCPROF SECONDS
#
# A server of our own (dump_server.c: 128 worker threads) under a bounded
# loopback load (dump_load.c: 8 clients doing round trips), receives a
# SIGQUIT every 100 ms for SECONDS seconds. After each signal the server
# must answer a request within 2 s; at the end every dump in the
# SYNCPROF_DUMP file must be complete (its header's thread count of thread
# sections), at least one per second of the run, the load must have had
# every request answered, and SIGTERM must end the server within 1 s with
# status 0.
#   MODE preload: SERVER is the plain program, run under
#                 `SYNCPROF run --quiet --dump-signal QUIT --out DIR`;
#   MODE header:  SERVER is compiled in; SYNCPROF_DUMP_SIGNAL=QUIT;
#   MODE plain:   the reference: no syncprof and no SIGQUIT, the rest the same.
# Prints one line saying what went wrong and exits 1 on failure.
set -u
mode=$1 server=$2 load=$3 syncprof=$4 seconds=$5

tmp=$(mktemp -d "${TMPDIR:-/tmp}/harm_dump.XXXXXX") || exit 1
bg= spid= lpid= checks=
fail() {
    echo "dump_under_load.sh ($mode): FAIL: $*"
    [ -s "$tmp/server.err" ] && sed 's/^/  server stderr: /' "$tmp/server.err" | tail -5
    exit 1
}
cleanup() {
    # Only the processes this script started.
    for p in $lpid $spid $bg; do kill -KILL "$p" 2>/dev/null; done
    for p in $checks; do kill -KILL "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' TERM INT HUP
mkfifo "$tmp/never" || exit 1

# Builtins only (no new process): the loop below must keep to 100 ms on a
# busy machine. ms sets NOW, in milliseconds.
ms() { local t=${EPOCHREALTIME/./}; NOW=$(( t / 1000 )); }
now_ms() { ms; echo $NOW; }
pause_ms() { local s; printf -v s '%d.%03d' $(($1 / 1000)) $(($1 % 1000)); read -r -t "$s" <>"$tmp/never" || :; }

# Alive and not a zombie.
alive() {
    local stat
    { read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
    stat=${stat##*) }
    [ -n "$stat" ] && [ "${stat%% *}" != Z ]
}

# A shell without job control starts background commands with SIGQUIT and
# SIGINT ignored; the server gets them as any server would: default.
# Only with &: it replaces the (background) subshell.
run_server() { exec env --default-signal=QUIT,INT "$@"; }

case $mode in
preload)
    SYNCPROF_DUMP=$tmp/dumps.txt run_server "$syncprof" run --quiet --dump-signal QUIT --out "$tmp" \
        -- "$server" "$tmp/port" >"$tmp/server.out" 2>"$tmp/server.err" &
    bg=$! ;;
header)
    SYNCPROF_DUMP=$tmp/dumps.txt SYNCPROF_DUMP_SIGNAL=QUIT SYNCPROF_OUT=$tmp \
    SYNCPROF_MUTEX_FRACTION=5 SYNCPROF_BLOCK_RATE=10000 \
        run_server "$server" "$tmp/port" >"$tmp/server.out" 2>"$tmp/server.err" &
    bg=$! ;;
plain)
    run_server "$server" "$tmp/port" >"$tmp/server.out" 2>"$tmp/server.err" &
    bg=$! ;;
*)
    echo "dump_under_load.sh: unknown mode $mode" >&2; exit 2 ;;
esac

start=$(now_ms)
while [ ! -s "$tmp/port" ]; do
    alive "$bg" || fail "the server ended before it listened"
    [ $(( $(now_ms) - start )) -lt 10000 ] || fail "the server did not listen within 10 s"
    sleep 0.02
done
read -r port spid <"$tmp/port"

"$load" "$port" $((seconds + 1)) 8 >"$tmp/load.out" 2>&1 &
lpid=$!

# One SIGQUIT every 100 ms; after each, a one-shot request in the background
# (so the checks do not slow the signals down) must be answered within 2 s.
signals=0 checks=
ms; start=$NOW
while ms; [ $((NOW - start)) -lt $((seconds * 1000)) ]; do
    alive "$spid" || fail "the server died after $signals SIGQUITs"
    if [ "$mode" != plain ]; then
        kill -QUIT "$spid" 2>/dev/null || fail "the server is gone after $signals SIGQUITs"
    fi
    signals=$((signals + 1))
    ( timeout -k 1 5 "$load" "$port" once >"$tmp/once.$signals" 2>&1 ||
        echo "after SIGQUIT number $signals the server did not answer: $(tail -1 "$tmp/once.$signals")" \
            >>"$tmp/once.failed" ) &
    checks="$checks $!"
    [ -s "$tmp/once.failed" ] && fail "$(head -1 "$tmp/once.failed")"
    ms; wait_ms=$(( start + signals * 100 - NOW ))
    [ $wait_ms -gt 0 ] && pause_ms $wait_ms
done
for p in $checks; do wait "$p"; done
[ -s "$tmp/once.failed" ] && fail "$(head -1 "$tmp/once.failed")"

# The load ends by itself a second after the signals.
wait_start=$(now_ms)
while alive "$lpid"; do
    [ $(( $(now_ms) - wait_start )) -lt 15000 ] || fail "the load did not end (a request hung)"
    sleep 0.05
done
wait "$lpid"
lstatus=$? lpid=
[ $lstatus -eq 0 ] || fail "the load failed: $(tail -1 "$tmp/load.out")"

# Every dump complete: "syncprof: signal N ..." starts one, then
# "syncprof: thread dump of process P, N threads; ..." and N thread sections.
count_dumps() {
    awk '
        /^syncprof: signal [0-9]+/ { if (inside) incomplete++; started++; inside = 1; want = -1; got = 0; next }
        /^syncprof: thread dump of process/ { want = $7 + 0; got = 0; next }
        /^syncprof: thread dump failed/ { failed++; inside = 0; next }
        /^thread [0-9]+ "/ { if (inside && want > 0 && ++got == want) { complete++; inside = 0 } }
        END { printf "%d %d %d %d\n", started, complete, incomplete + inside, failed }
    ' "$tmp/dumps.txt" 2>/dev/null || echo "0 0 0 0"
}
if [ "$mode" != plain ]; then
    wait_start=$(now_ms)
    while :; do
        read -r started complete incomplete failed < <(count_dumps)
        [ "$incomplete" -eq 0 ] && break
        [ $(( $(now_ms) - wait_start )) -lt 15000 ] ||
            fail "$incomplete of $started dumps never completed ($complete complete)"
        sleep 0.1
    done
    [ "$failed" -eq 0 ] || fail "$failed dumps failed (\"syncprof: thread dump failed\")"
    [ "$complete" -ge "$seconds" ] ||
        fail "only $complete dumps completed for $signals SIGQUITs in $seconds s"
    echo "dump_under_load.sh ($mode): $signals SIGQUITs, $complete complete dumps, server answered after each"
fi

# SIGTERM ends it within 1 s, with status 0.
kill -TERM "$spid" 2>/dev/null || fail "the server is gone before SIGTERM"
term=$(now_ms)
while alive "$spid"; do
    [ $(( $(now_ms) - term )) -lt 1000 ] || fail "the server did not exit within 1 s of SIGTERM"
    sleep 0.01
done
ms=$(( $(now_ms) - term ))
wait_start=$(now_ms)
while alive "$bg"; do
    [ $(( $(now_ms) - wait_start )) -lt 5000 ] || fail "syncprof run did not end after the server"
    sleep 0.01
done
wait "$bg"
status=$? bg= spid=
[ $status -eq 0 ] || fail "the server exited with status $status after SIGTERM"
cat "$tmp/load.out" "$tmp/server.out"
echo "dump_under_load.sh ($mode): the server exited with status 0 ${ms} ms after SIGTERM"
exit 0
