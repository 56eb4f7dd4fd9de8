# common.sh - sourced by the real-project tests (tests/real_projects/*.sh).
# Each test runs as: TEST.sh BUILD_DIR SOURCE_DIR [GO]; it prints
# "SKIP: why" and exits 0 when a tool it needs is missing (ctest shows it
# as skipped), "FAIL: what" and exits 1 on failure.
set -euo pipefail
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
go=${3:-go}
inc=$src/include
lib=$build                      # libsyncprof.so
wlib=$build/bin                # libsyncprof-interpose.so, libsyncprof-preload.so
syncprof=$build/bin/syncprof
here=$src/tests/real_projects
work=$(mktemp -d "${TMPDIR:-/tmp}/syncprof-real.XXXXXX")
trap 'rm -rf "$work"' EXIT
export HOME=${HOME:-$work} GOCACHE=${GOCACHE:-$build/gocache} GOFLAGS=-mod=mod

skip() { echo "SKIP: $*"; exit 0; }
fail() { echo "FAIL: $*" >&2; exit 1; }
need() { for t in "$@"; do command -v "$t" >/dev/null || skip "$t is not installed (tests/install-deps.sh installs it)"; done; }

# The forced include and the library, the ways docs/api.md gives them.
SP_CFLAGS="-include syncprof/pthread.h -I$inc"
SP_LIBS="-L$lib -Wl,-rpath,$lib -Wl,--push-state,--no-as-needed -lsyncprof -Wl,--pop-state"
SP_WHOLE_LIBS="-L$wlib -Wl,-rpath,$wlib -Wl,--push-state,--no-as-needed -lsyncprof-interpose -Wl,--pop-state"

# Runs a program with every event recorded, profiles into $1.
profiled() { # outdir program args...
  local out=$1; shift
  rm -rf "$out"
  SYNCPROF_MUTEX_FRACTION=1 SYNCPROF_BLOCK_RATE=1 SYNCPROF_OUT="$out" "$@"
}

# The profile NAME (mutex, block) in DIR as folded stacks ("root;...;leaf
# value", runtime lock plumbing left out), read by this build's
# `syncprof report`.
folded() { # dir name
  local f
  f=$(ls "$1"/"$2".*.pb.gz 2>/dev/null | head -n1)
  [ -n "$f" ] || fail "no $2 profile in $1"
  "$syncprof" report "$f" --folded
}

# Some stack of profile NAME in DIR has leaf LEAF and a frame containing
# FRAME (a fixed string).
expect_stack() { # dir name leaf frame
  local text
  text=$(folded "$1" "$2")
  awk -v leaf="$3" -v frame="$4" '
    { stack = $0; sub(/ [0-9]+$/, "", stack); n = split(stack, f, ";")
      if (f[n] == leaf && index(stack, frame)) ok = 1 }
    END { exit !ok }' <<<"$text" || fail "no $3 stack through $4 in the $2 profile of $1:
$text"
}

# No stack of profile NAME in DIR has a frame containing FRAME.
expect_no_frame() { # dir name frame
  local text
  text=$(folded "$1" "$2")
  ! grep -qF -- "$3" <<<"$text" || fail "the $2 profile of $1 has $3:
$text"
}
