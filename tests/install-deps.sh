#!/usr/bin/env bash
# Installs the Debian packages syncprof needs to build and test, when any is
# missing. Used by tests/run.sh and examples/demo.sh; safe to run again.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libunwind-dev            # stack capture
  libprotobuf-c-dev protobuf-c-compiler   # pprof and Perfetto encoding
  protobuf-compiler        # protoc: decodes traces against Perfetto's schema in the tests
  zlib1g-dev               # gzip
  libdw-dev                # symbols and file:line (elfutils)
  libcriterion-dev         # the test suite
  golang-go                # go tool pprof, the reference reader of our files
  pigz valgrind bc         # real-program tests of the LD_PRELOAD interposer; its benchmark (drd)
  libmicrohttpd-dev        # optional: the live-profile HTTP server (syncprof_http_start)
  clang                    # the Clang build, and tests/real_projects/headers.sh
  autoconf automake autoconf-archive   # tests/real_projects: an autotools project (AX_PTHREAD)
  meson ninja-build        # tests/real_projects: a Meson project
  libleveldb-dev           # tests/real_projects: a C++ program on libleveldb (whole-program way)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "syncprof: installing ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "syncprof: run as root or install: ${missing[*]}" >&2; exit 1; }
  sudo=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
