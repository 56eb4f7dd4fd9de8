#!/bin/sh
# ab_chan.sh - two versions of chan/chan.c, timed in one process with
# their rounds alternating (tests/bench/ab_chan.c): the way to tell a
# change to the channel's code from a spell of the machine.
#
#   tests/bench/ab_chan.sh A B [rounds] [messages]
#
# A and B are each a git revision (its chan/chan.c) or a path to a
# chan.c file; e.g. `ab_chan.sh HEAD chan/chan.c` times the work tree
# against the last commit. Both are compiled with the work tree's headers
# and linked with the library of the build directory BUILD (default
# build), without its own chan.c. Needs that build (cmake --build build).
set -eu
[ $# -ge 2 ] || { sed -n '2,13p' "$0" >&2; exit 2; }
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${BUILD:-$root/build}" && pwd)
lib=$build/libsyncprof.a
[ -f "$lib" ] || { echo "ab_chan.sh: no $lib; build first" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The source of one side: a file, or a revision's chan/chan.c.
source_of() { # spec out
    if [ -f "$1" ]; then cp "$1" "$2"; else git -C "$root" show "$1:chan/chan.c" >"$2"; fi
}
compile() { # prefix source
    p=$1
    ren=""
    for f in make send recv free trysend tryrecv timedsend timedrecv close len cap; do
        ren="$ren -Dsyncprof_chan_$f=${p}_chan_$f"
    done
    # the build's own flags for chan.c (without -Werror: an older
    # revision may not pass today's warnings)
    cc $flags $ren -Dsyncprof_select=${p}_select -c "$2" -o "$work/$p.o"
}
# The build's flags for the channel (chan/CMakeLists.txt), chan.c's own option with
# them: AB_CHAN_CFLAGS as ctest gives them (from the target's properties,
# whatever the generator), else read from a Makefile build's flags.make.
if [ -n "${AB_CHAN_CFLAGS:-}" ]; then
    flags=$(echo "$AB_CHAN_CFLAGS" | sed 's/-Werror//')
else
    make_vars=$build/chan/CMakeFiles/syncprof_chan.dir/flags.make
    [ -f "$make_vars" ] || { echo "ab_chan.sh: no $make_vars (set AB_CHAN_CFLAGS)" >&2; exit 1; }
    flags=$(sed -n 's/^C_\(DEFINES\|INCLUDES\|FLAGS\) = //p' "$make_vars" | sed 's/-Werror//' | tr '\n' ' ')
fi
case $(uname -m) in x86_64) flags="$flags -mcx16" ;; esac
source_of "$1" "$work/a.c"
source_of "$2" "$work/b.c"
compile A "$work/a.c"
compile B "$work/b.c"
cp "$lib" "$work/rest.a"
ar d "$work/rest.a" chan.c.o
cc -O2 -I"$root/tests/bench" -I"$root/src" "$root/tests/bench/ab_chan.c" "$work/A.o" "$work/B.o" \
    "$work/rest.a" $(pkg-config --libs libunwind libprotobuf-c zlib libdw) -lpthread \
    -o "$work/ab_chan"
echo "A: $1   B: $2"
"$work/ab_chan" "${3:-12}" "${4:-500000}"
