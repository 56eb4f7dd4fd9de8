#!/usr/bin/env bash
# A setuid-root program linked with the library, run by nobody with every
# SYNCPROF_* variable pointed at something only root may touch, does none
# of it: no profiles in a root-only directory, nothing appended to a
# root-only dump file, no port listened on, and one line on stderr saying
# why. The same environment in a plain root run (no setuid) does all of it,
# which shows that the checks can fail.
#   check_setuid.sh BUILD_DIR
# Prints "SKIP: <reason>" and exits 0 when it cannot run here (not root,
# no setpriv, a nosuid /tmp).
set -euo pipefail
build=$1
prog=$build/tests/env_prog

skip() { echo "SKIP: $*"; exit 0; }
fail() { echo "FAIL: $*"; exit 1; }

[[ $(id -u) -eq 0 ]] || skip "not root"
command -v setpriv >/dev/null || skip "setpriv is missing"
[[ -x $prog ]] || fail "$prog is missing"

dir=$(mktemp -d /tmp/syncprof-setuid.XXXXXX)
trap 'rm -rf "$dir"' EXIT
if findmnt -n -o OPTIONS --target "$dir" | tr , '\n' | grep -qx nosuid; then
  skip "$dir is on a nosuid filesystem"
fi
chmod 0755 "$dir"
cp "$prog" "$dir/env_prog"
chown root:root "$dir/env_prog"
chmod 4755 "$dir/env_prog"

# A TCP port nothing listens on now.
listening() { ss -Hltn "sport = :$1" | grep -q .; }
port=
for _ in $(seq 50); do
  p=$((20000 + RANDOM % 30000))
  if ! listening "$p"; then port=$p; break; fi
done
[[ -n $port ]] || fail "no free port found"

# The micro-HTTP server exists only in builds that found libmicrohttpd.
http=false
grep -q '^MHD_FOUND:INTERNAL=1$' "$build/CMakeCache.txt" && http=true

# run NAME [COMMAND PREFIX...]: runs env_prog with the hostile environment
# and fresh targets under $dir/NAME; sets status and heard (whether the port
# was listened on while the program ran).
run() {
  local name=$1; shift
  mkdir -m 0700 "$dir/$name.out"
  : >"$dir/$name.dump"
  chmod 0600 "$dir/$name.dump"
  (cd "$dir" && exec env SYNCPROF_OUT="$dir/$name.out" SYNCPROF_DUMP="$dir/$name.dump" \
     SYNCPROF_DUMP_SIGNAL=USR1 SYNCPROF_HTTP="127.0.0.1:$port" \
     SYNCPROF_MUTEX_FRACTION=1 SYNCPROF_BLOCK_RATE=1 \
     "$@" "$dir/env_prog" >"$dir/$name.stdout" 2>"$dir/$name.stderr") &
  local pid=$! i
  for i in $(seq 500); do
    grep -q ready "$dir/$name.stdout" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.01
  done
  heard=false
  listening "$port" && heard=true
  status=0
  wait "$pid" || status=$?
}

privileged_line='syncprof: privileged process (setuid, setgid or capabilities): ignoring the SYNCPROF_* environment variables'

# Setuid root, run by nobody: the environment is ignored.
run setuid setpriv --reuid=nobody --regid=nogroup --clear-groups
err=$(cat "$dir/setuid.stderr")
[[ $status -eq 0 ]] || fail "setuid run: exit status $status; stderr: $err"
grep -q ready "$dir/setuid.stdout" || fail "setuid run: never ready; stderr: $err"
[[ -z $(ls -A "$dir/setuid.out") ]] || fail "setuid run wrote into the root-only directory: $(ls -A "$dir/setuid.out")"
[[ $(stat -c %s "$dir/setuid.dump") -eq 0 ]] || fail "setuid run appended to the root-only dump file"
! $heard || fail "setuid run listened on port $port"
n=$(grep -cxF "$privileged_line" "$dir/setuid.stderr" || true)
[[ $n -eq 1 ]] || fail "setuid run: the privileged-process line $n times; stderr: $err"

# The same environment, as root without setuid: everything happens.
run plain
err=$(cat "$dir/plain.stderr")
[[ $status -eq 0 ]] || fail "plain run: exit status $status; stderr: $err"
ls "$dir/plain.out"/mutex.*.pb.gz "$dir/plain.out"/block.*.pb.gz >/dev/null 2>&1 ||
  fail "plain run wrote no profiles: $(ls -A "$dir/plain.out"); stderr: $err"
[[ $(stat -c %s "$dir/plain.dump") -gt 0 ]] || fail "plain run appended no dump; stderr: $err"
if $http; then
  $heard || fail "plain run did not listen on port $port; stderr: $err"
fi
! grep -qF "privileged process" "$dir/plain.stderr" || fail "plain run: privileged-process line"

echo "setuid: environment ignored (profiles, dump, port $port); plain: all honoured (http checked: $http)"
