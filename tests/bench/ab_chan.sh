#!/bin/sh
# ab_chan.sh - two versions of the channel (the chan/ folder), timed in
# one process with their rounds alternating (tests/bench/ab_chan.c): the
# way to tell a change to the channel's code from a spell of the machine.
#
#   tests/bench/ab_chan.sh A B [rounds] [messages]
#
# A and B are each a git revision (its chan/ folder), a directory holding
# a version of chan/ (every .c file in it is compiled), or one .c file;
# e.g. `ab_chan.sh HEAD chan` times the work tree against the last commit.
# Both are compiled with the work tree's src/ and include/ headers and
# the build's flags for the channel, and linked with the library of the
# build directory BUILD (default build) without its own channel objects.
# Needs that build (cmake --build build). Works with any CMake generator
# when AB_CHAN_CFLAGS holds the channel's compile flags (ctest's
# check_ab_chan sets it); without it, a Makefile build's flags.make is read.
set -eu
[ $# -ge 2 ] || { sed -n '2,16p' "$0" >&2; exit 2; }
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${BUILD:-$root/build}" && pwd)
lib=$build/libsyncprof.a
[ -f "$lib" ] || { echo "ab_chan.sh: no $lib; build first" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The sources of one side into directory out: a directory's .c and .h
# files, one file, or a revision's chan/ folder.
source_of() { # spec out
    mkdir -p "$2"
    if [ -d "$1" ]; then
        cp "$1"/*.c "$2"/
        cp "$1"/*.h "$2"/ 2>/dev/null || true
    elif [ -f "$1" ]; then
        cp "$1" "$2"/
    else
        git -C "$root" archive "$1" chan | tar -x -C "$2" --strip-components=1
    fi
}

# The public functions, renamed per side; everything else a side defines
# is made local to its one relocatable object, so the two sides' internal
# functions (and their constructors' state) never meet.
public="make send recv free trysend tryrecv timedsend timedrecv close len cap"
compile() { # prefix dir
    p=$1
    ren="-Dsyncprof_select=${p}_select"
    keep="--keep-global-symbol=${p}_select"
    for f in $public; do
        ren="$ren -Dsyncprof_chan_$f=${p}_chan_$f"
        keep="$keep --keep-global-symbol=${p}_chan_$f"
    done
    objs=""
    for src in "$2"/*.c; do
        o=$2/$(basename "$src").o
        # the build's own flags (without -Werror: an older revision may
        # not pass today's warnings)
        cc $flags $ren -c "$src" -o "$o"
        objs="$objs $o"
    done
    ld -r $objs -o "$work/$p.r.o"
    objcopy $keep "$work/$p.r.o" "$work/$p.o"
}

# The build's flags for the channel (chan/CMakeLists.txt): AB_CHAN_CFLAGS
# as ctest gives them (from the target's properties, whatever the
# generator), else read from a Makefile build's flags.make.
if [ -n "${AB_CHAN_CFLAGS:-}" ]; then
    flags=$(echo "$AB_CHAN_CFLAGS" | sed 's/-Werror//')
else
    make_vars=$build/chan/CMakeFiles/syncprof_chan.dir/flags.make
    [ -f "$make_vars" ] || { echo "ab_chan.sh: no $make_vars (set AB_CHAN_CFLAGS)" >&2; exit 1; }
    flags=$(sed -n 's/^C_\(DEFINES\|INCLUDES\|FLAGS\) = //p' "$make_vars" | sed 's/-Werror//' | tr '\n' ' ')
fi
case $(uname -m) in x86_64) flags="$flags -mcx16" ;; esac
source_of "$1" "$work/a"
source_of "$2" "$work/b"
compile A "$work/a"
compile B "$work/b"

# The library without the build's own channel: its members named after
# the work tree's chan/*.c (an archive keeps object basenames, X.c.o, with
# Makefiles and Ninja alike).
cp "$lib" "$work/rest.a"
members=$(ar t "$work/rest.a")
for src in "$root"/chan/*.c; do
    m=$(basename "$src").o
    if echo "$members" | grep -qx "$m"; then ar d "$work/rest.a" "$m"; fi
done
cc -O2 -I"$root/tests/bench" -I"$root/src" "$root/tests/bench/ab_chan.c" "$work/A.o" "$work/B.o" \
    "$work/rest.a" -lgcc_s $(pkg-config --libs libunwind libprotobuf-c zlib libdw) -lpthread \
    -o "$work/ab_chan"
echo "A: $1   B: $2"
"$work/ab_chan" "${3:-12}" "${4:-500000}"
