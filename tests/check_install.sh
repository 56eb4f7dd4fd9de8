#!/usr/bin/env bash
# Installs the build into a temporary prefix and builds programs against it:
# CMake's find_package(syncprof) (syncprof::syncprof, and syncprof::interpose,
# the whole-program library), pkg-config (syncprof shared and static,
# syncprof-interpose). Each program must run and record a sample; a C++
# program that refers to nothing of syncprof, linked with the whole-program
# library, must still have its std::condition_variable wait observed.
#   check_install.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1 src=$2
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
libdir=$(ls -d "$prefix"/lib*/ | head -n1)

expect_sample() { # program
  out=$("$@")
  grep -q "pthread_mutex_unlock" <<<"$out" || { echo "no sample from $*:"; echo "$out"; exit 1; }
}
expect_cond_wait() { # program: its block profile, written at exit, has the libstdc++ wait
  rm -rf "$prefix/out"
  LD_LIBRARY_PATH="$libdir" SYNCPROF_BLOCK_RATE=1 SYNCPROF_OUT="$prefix/out" "$@"
  report=$("$prefix/bin/syncprof" report "$prefix"/out/block.*.pb.gz --depth 2)
  grep -q "pthread_cond_wait" <<<"$report" || { echo "no condition wait from $*:"; echo "$report"; exit 1; }
}

cmake -S "$src/tests/install_consumer" -B "$prefix/consumer" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$prefix/consumer" >/dev/null
LD_LIBRARY_PATH="$libdir" expect_sample "$prefix/consumer/consumer"
LD_LIBRARY_PATH="$libdir" expect_sample "$prefix/consumer/consumer_interpose"
readelf -d "$prefix/consumer/consumer_nolock" | grep -q "libsyncprof-interpose" ||
  { echo "consumer_nolock does not load libsyncprof-interpose"; exit 1; }
expect_cond_wait "$prefix/consumer/consumer_nolock"

export PKG_CONFIG_PATH="$libdir/pkgconfig"
cc -O2 -o "$prefix/pc-shared" "$src/tests/install_consumer/main.c" $(pkg-config --cflags --libs syncprof)
LD_LIBRARY_PATH="$libdir" expect_sample "$prefix/pc-shared"
cc -O2 -o "$prefix/pc-static" "$src/tests/install_consumer/main.c" \
  $(pkg-config --cflags syncprof) "$libdir/libsyncprof.a" $(pkg-config --libs-only-other --libs-only-l --static syncprof | sed 's/-lsyncprof//')
expect_sample "$prefix/pc-static"
c++ -O2 -o "$prefix/pc-nolock" "$src/tests/install_consumer/nolock.cc" $(pkg-config --cflags --libs syncprof-interpose)
expect_cond_wait "$prefix/pc-nolock"
echo "install: find_package (syncprof, interpose), pkg-config (shared, static, interpose) all work"
