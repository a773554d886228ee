#!/usr/bin/env bash
# Runs deploy/systemd/amaters-server.service under a real systemd, sandbox
# and all, without touching this machine: systemd boots as PID 1 of new
# mount/pid/cgroup/uts/ipc/net namespaces, on an overlay of / whose writes go
# to a tmpfs that disappears with the namespaces. Inside, the install steps
# written in the unit's comment are run as they are written (the "#   "
# lines after "# Install"), then it checks:
# READY=1 reached (active, Status "serving"); a JWT from amaters.env is
# accepted and no token is refused (so EnvironmentFile= works); files are
# 0600 in a 0700 state directory owned by amaters; process metrics are
# there (ProtectProc=); "systemctl reload" applies a valid configuration and
# fails on an invalid one while the server keeps serving; the mapped WAL
# (storage.sync = "none") works under MemoryDenyWriteExecute= and the
# system call filter; the watchdog is fed; "systemctl stop" ends cleanly.
#
# Test-only changes, in a drop-in: DefaultDependencies=no (the rest of this
# machine's boot is not started) and WatchdogSec=3 (to see the watchdog fed
# in seconds). network-online.target is masked (no network to wait for).
#
# Needs root, util-linux, procps, systemd, overlayfs, python3, curl, openssl.
# Usage: deploy/systemd/smoke-test.sh BINARY      (about 20 s)
set -euo pipefail

if [ "${1:-}" = --inner ]; then
  # PID 1 of the new namespaces: build the root, install, exec systemd.
  bin=$2 repo=$3 log=$4 R=$5
  mount --make-rprivate /
  mount -t tmpfs tmpfs "$R"
  mkdir -p "$R/upper" "$R/work" "$R/m"
  mount -t overlay overlay -o "lowerdir=/,upperdir=$R/upper,workdir=$R/work" "$R/m"
  M=$R/m
  # A minimal /dev (systemd in a container expects one prepared); its
  # console is the log file.
  mount -t tmpfs -o mode=755 dev "$M/dev"
  for n in null zero full random urandom tty; do
    touch "$M/dev/$n"; mount --bind "/dev/$n" "$M/dev/$n"
  done
  mkdir -p "$M/dev/pts" "$M/dev/shm"
  mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts "$M/dev/pts"
  ln -s pts/ptmx "$M/dev/ptmx"
  mount -t tmpfs -o mode=1777 shm "$M/dev/shm"
  touch "$M/dev/console"; mount --bind "$log" "$M/dev/console"
  # The checkout as the install steps expect it: cwd with the binary.
  rm -rf "$M/src" "$M/var/lib/amaters" "$M/etc/amaters"
  mkdir -p "$M/src/deploy"
  cp -a "$repo/deploy/systemd" "$M/src/deploy/"
  cp "$repo/README.md" "$M/src/"
  cp "$bin" "$M/src/amaters-server"
  awk '/^# Install/ { on = 1; next }
       on && /^#   / { print substr($0, 5); got = 1; next }
       on && got { exit }' "$repo/deploy/systemd/amaters-server.service" >"$M/src/install-steps.sh"
  grep -v -E '^(systemctl|journalctl) ' "$M/src/install-steps.sh" >"$M/src/install-files.sh"
  grep -E '^(systemctl|journalctl) ' "$M/src/install-steps.sh" >"$M/src/install-systemctl.sh"
  echo "--- install steps from the unit's comment, before systemd runs:"
  cat "$M/src/install-files.sh"
  chroot "$M" /bin/bash -euxc 'cd /src && . ./install-files.sh'
  mkdir -p "$M/etc/systemd/system/amaters-server.service.d"
  printf '[Unit]\nDefaultDependencies=no\n[Service]\nWatchdogSec=3\n' \
    >"$M/etc/systemd/system/amaters-server.service.d/smoke-test.conf"
  ln -sf /dev/null "$M/etc/systemd/system/network-online.target"
  # pivot_root, not chroot: a chrooted process may not create the user
  # namespace that PrivateUsers= asks for.
  mkdir -p "$M/.oldroot"
  cd "$M"
  pivot_root . .oldroot
  mount -t proc proc /proc
  umount -l /.oldroot
  cd /
  exec env container=amaters-smoke-test /lib/systemd/systemd --system \
    --unit=systemd-journald.service --log-target=console --show-status=no
fi

bin=${1:?usage: $0 BINARY}
[ "$(id -u)" = 0 ] || { echo "FAIL: $0 needs root (namespaces, mounts)"; exit 1; }
for tool in unshare nsenter findmnt pgrep timeout /lib/systemd/systemd python3 curl openssl; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool is not installed"; exit 1; }
done
[ -x "$bin" ] || { echo "FAIL: $bin is not an executable"; exit 1; }
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
repo=$(cd "$(dirname "$0")/../.." && pwd)
self=$repo/deploy/systemd/smoke-test.sh
work=$(mktemp -d)
log=$work/console.log
: >"$log"
mkdir "$work/root"

pid='' tpid=''
cgroups=()
cleanup() {
  if [ -n "$pid" ]; then timeout 20 nsenter -t "$pid" -m -u -i -n -p -r -w systemctl exit >/dev/null 2>&1 || true; fi
  for _ in $(seq 1 50); do [ -n "$tpid" ] && kill -0 "$tpid" 2>/dev/null || break; sleep 0.1; done
  if [ -n "$tpid" ]; then kill -TERM "$tpid" 2>/dev/null || true; fi
  wait 2>/dev/null || true
  for dir in "${cgroups[@]+"${cgroups[@]}"}"; do
    for _ in $(seq 1 50); do
      find "$dir" -depth -type d -exec rmdir {} + 2>/dev/null || true
      [ -d "$dir" ] || break
      sleep 0.1
    done
    if [ -d "$dir" ]; then echo "warning: could not remove $dir"; fi
  done
  rm -rf "$work"
}
trap cleanup EXIT

# systemd creates its cgroups under the cgroup it starts in: give it
# fresh ones (cgroup2 and, on a hybrid host, name=systemd), removed at the
# end, so that nothing is left in this machine's hierarchies.
while IFS=: read -r _ ctrl path; do
  case $ctrl in
    "") mnt=$(findmnt -n -t cgroup2 -o TARGET | head -1) ;;
    name=systemd) mnt=$(findmnt -n -t cgroup -o TARGET,OPTIONS | awk '$2 ~ /name=systemd/ { print $1; exit }') ;;
    *) continue ;;
  esac
  [ -n "$mnt" ] || continue
  dir=$mnt${path%/}/amaters-smoke-$$
  mkdir "$dir"
  cgroups+=("$dir")
done </proc/self/cgroup
[ ${#cgroups[@]} -gt 0 ] || { echo "FAIL: no cgroup hierarchy found"; exit 1; }

export BIN=$bin REPO=$repo LOG=$log ROOT=$work/root
# timeout bounds the whole run; its SIGTERM ends unshare, whose
# --kill-child then ends systemd and everything in the namespaces.
# shellcheck disable=SC2016 # expanded by the inner bash
timeout 240 /bin/bash -c 'for d in "$@"; do echo $$ >"$d/cgroup.procs"; done
  exec unshare --mount --pid --fork --kill-child --cgroup --uts --ipc --net \
    "$0" --inner "$BIN" "$REPO" "$LOG" "$ROOT"' \
  "$self" "${cgroups[@]}" >>"$log" 2>&1 &
tpid=$!
fail() {
  echo "FAIL: $*"
  if [ -n "$pid" ]; then
    ns systemctl status amaters-server --no-pager -l || true
    ns journalctl --no-pager -o short-monotonic -n 80 || true
  fi
  echo "--- console log"; cat "$log"
  exit 1
}
ns() { nsenter -t "$pid" -m -u -i -n -p -r -w "$@"; }

for _ in $(seq 1 100); do
  upid=$(pgrep -P "$tpid" || true)
  pid=$( [ -n "$upid" ] && pgrep -P "$upid" || true)
  if [ -n "$pid" ] && ns systemctl is-active --quiet systemd-journald.service 2>/dev/null; then break; fi
  kill -0 "$tpid" 2>/dev/null || { pid=; fail "the namespace exited before systemd ran"; }
  sleep 0.2
done
ns systemctl is-active --quiet systemd-journald.service || fail "systemd did not come up"
cat "$log"

echo "--- install steps from the unit's comment, under systemd:"
ns cat /src/install-systemctl.sh
ns /bin/bash -euxc 'cd /src && . ./install-systemctl.sh' || fail "the install steps failed"

state() { ns systemctl show amaters-server -p "$1" --value; }
# logged PATTERN [PID]: the server's journal (of process PID) has a line
# matching PATTERN within 10 s (the journal is written asynchronously).
logged() {
  for _ in $(seq 1 50); do
    ns journalctl -u amaters-server ${2:+_PID=$2} --no-pager -o cat | grep -q -e "$1" && return 0
    sleep 0.2
  done
  return 1
}
[ "$(state ActiveState)/$(state SubState)" = active/running ] || fail "not active (running)"
[ "$(state StatusText)" = serving ] || fail "status is '$(state StatusText)', not serving"
mainpid=$(state MainPID)

echo "--- API, authentication (secret from amaters.env), health, metrics"
token=$(ns python3 -c '
import base64, hashlib, hmac, json, time
secret = open("/etc/amaters/amaters.env").read().strip().split("=", 1)[1].encode()
b = lambda d: base64.urlsafe_b64encode(d).rstrip(b"=")
h = b(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
p = b(json.dumps({"sub": "smoke", "roles": ["admin"], "collections": ["*"], "exp": int(time.time()) + 600}).encode())
print((h + b"." + p + b"." + b(hmac.new(secret, h + b"." + p, hashlib.sha256).digest())).decode())')
api=http://127.0.0.1:7878/v1/collections/smoke/keys
code=$(ns curl -s -o /dev/null -w '%{http_code}' -X PUT -H "Authorization: Bearer $token" --data-binary v1 "$api/k1")
[ "$code" = 204 ] || fail "PUT with the token: $code"
[ "$(ns curl -s -H "Authorization: Bearer $token" "$api/k1")" = v1 ] || fail "GET did not return the value"
code=$(ns curl -s -o /dev/null -w '%{http_code}' "$api/k1")
[ "$code" = 401 ] || fail "GET without a token: $code, want 401"
[ "$(ns curl -s http://127.0.0.1:9090/readyz)" = ok ] || fail "/readyz is not ok"
metrics=$(ns curl -s http://127.0.0.1:9090/metrics)
for m in process_start_time_seconds process_resident_memory_bytes process_open_fds; do
  grep -q "^$m " <<<"$metrics" || fail "/metrics has no $m sample"
done
echo "ok"

echo "--- state directory"
ns stat -c '%a %U %n' /var/lib/amaters
[ "$(ns stat -c '%a %U' /var/lib/amaters)" = "700 amaters" ] || fail "/var/lib/amaters is not 0700 amaters"
loose=$(ns find /var/lib/amaters -type f ! -perm 600 -printf '%m %p\n')
[ -z "$loose" ] || fail "files not 0600: $loose"

echo "--- systemctl reload: a valid configuration"
ns systemctl reload amaters-server || fail "reload of a valid configuration failed"
logged 'reloaded the configuration' || fail "no 'reloaded' in the log"

echo "--- systemctl reload: an invalid configuration is refused, the server goes on"
ns cp /etc/amaters/amaters.toml /src/amaters.toml.good
ns sed -i 's/^log_level = .*/log_level = "loud"/' /etc/amaters/amaters.toml
if ns systemctl reload amaters-server; then fail "reload of an invalid configuration succeeded"; fi
logged 'server.log_level: "loud"' || fail "the refused reload did not name the problem"
[ "$(state ActiveState)" = active ] && [ "$(state MainPID)" = "$mainpid" ] || fail "the server did not keep running"
[ "$(ns curl -s -H "Authorization: Bearer $token" "$api/k1")" = v1 ] || fail "GET after a refused reload failed"
echo "--- SIGHUP with an invalid configuration (the server refuses it itself)"
ns systemctl kill -s HUP --kill-who=main amaters-server
logged 'reload refused' "$mainpid" || fail "no 'reload refused' in the log"
sleep 1
# A server that sends RELOADING=1 must send READY=1 after a refused reload
# too, or the unit stays "reloading".
[ "$(state ActiveState)/$(state SubState)" = active/running ] ||
  fail "after a refused SIGHUP the unit is $(state ActiveState)/$(state SubState), not active/running"
[ "$(state MainPID)" = "$mainpid" ] || fail "the server did not keep running"
ns cp /src/amaters.toml.good /etc/amaters/amaters.toml

echo "--- storage.sync = \"none\" (the WAL is mapped): restart, write, read"
ns sed -i 's/^sync = .*/sync = "none"/' /etc/amaters/amaters.toml
ns systemctl restart amaters-server || fail "restart with sync = none failed"
[ "$(state StatusText)" = serving ] || fail "not serving after the restart"
for i in $(seq 1 20); do
  code=$(ns curl -s -o /dev/null -w '%{http_code}' -X PUT -H "Authorization: Bearer $token" --data-binary "v$i" "$api/m$i")
  [ "$code" = 204 ] || fail "PUT $i with sync = none: $code"
done
[ "$(ns curl -s -H "Authorization: Bearer $token" "$api/m20")" = v20 ] || fail "GET with sync = none"
[ "$(ns curl -s -H "Authorization: Bearer $token" "$api/k1")" = v1 ] || fail "k1 lost across the restart"
ns grep -q '/var/lib/amaters/wal/.* rw-s' "/proc/$(state MainPID)/maps" 2>/dev/null ||
  ns grep -q 'rw-s.*/var/lib/amaters/wal/' "/proc/$(state MainPID)/maps" || fail "the WAL is not mapped"

echo "--- watchdog (WatchdogSec=3 here): 7 s without a restart"
sleep 7
[ "$(state ActiveState)/$(state NRestarts)" = active/0 ] || fail "restarted: $(state NRestarts) (watchdog?)"

echo "--- exposure of the running unit"
ns systemd-analyze security amaters-server --no-pager | tail -1

echo "--- systemctl stop"
mainpid=$(state MainPID)
ns systemctl stop amaters-server
[ "$(state Result)" = success ] || fail "stop result: $(state Result)"
logged 'stopped cleanly' "$mainpid" || fail "no 'stopped cleanly' in the log"
echo "systemd smoke test passed"
