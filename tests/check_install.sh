#!/usr/bin/env bash
# Installs the build into a temporary prefix and builds a program against
# it three ways: CMake's find_package(syncprof), pkg-config (shared), and
# pkg-config --static. Each program must run and record a sample.
#   check_install.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1 src=$2
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
libdir=$(ls -d "$prefix"/lib*/ | head -n1)

expect_sample() { # program
  out=$("$@")
  grep -q "syncprof_mutex_unlock" <<<"$out" || { echo "no sample from $*:"; echo "$out"; exit 1; }
}

cmake -S "$src/tests/install_consumer" -B "$prefix/consumer" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$prefix/consumer" >/dev/null
LD_LIBRARY_PATH="$libdir" expect_sample "$prefix/consumer/consumer"

export PKG_CONFIG_PATH="$libdir/pkgconfig"
cc -O2 -o "$prefix/pc-shared" "$src/tests/install_consumer/main.c" $(pkg-config --cflags --libs syncprof)
LD_LIBRARY_PATH="$libdir" expect_sample "$prefix/pc-shared"
cc -O2 -o "$prefix/pc-static" "$src/tests/install_consumer/main.c" \
  $(pkg-config --cflags syncprof) "$libdir/libsyncprof.a" $(pkg-config --libs-only-other --libs-only-l --static syncprof | sed 's/-lsyncprof//')
expect_sample "$prefix/pc-static"
echo "install: find_package, pkg-config and static link all work"
