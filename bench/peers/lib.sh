# Shell pieces shared by run.sh and interleaved.sh (sourced, not run):
# sets here, bench and root (the folders), work (a temporary folder) and
# pids (servers to stop), and on exit stops those servers and removes work.

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bench=$(cd "$here/.." && pwd)
root=$(cd "$bench/.." && pwd)
work=$(mktemp -d)
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do stop_pid "$pid"; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# stop_pid PID: SIGTERM, then SIGKILL after 10 s; waits for it.
stop_pid() {
  local pid=$1
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# port_free PORT fails when something listens on 127.0.0.1:PORT.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_until CMD...: retries CMD for up to 30 s.
wait_until() {
  for _ in $(seq 300); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "$(basename "$0"): timed out waiting for: $*" >&2
  return 1
}

# build_tools: amaters-server, the bare handler and the load generator,
# into $work.
build_tools() {
  echo "building amaters-server, bare and loadgen ..." >&2
  (cd "$root" && CGO_ENABLED=0 go build -o "$work/amaters-server" .)
  (cd "$bench" && go build -o "$work/bare" ./loadcheck/bare)
  # loadgen imports amaters-server/server, whose dependencies (toml,
  # x/time) bench/go.mod may not list yet; then build with a scratch copy
  # of go.mod and go.sum, leaving the repository's files untouched.
  if ! (cd "$bench" && go build -o "$work/loadgen" ./peers/loadgen 2>/dev/null); then
    cp "$bench/go.mod" "$work/go.mod"
    cp "$bench/go.sum" "$work/go.sum"
    (cd "$bench" && go build -mod=mod -modfile="$work/go.mod" -o "$work/loadgen" ./peers/loadgen)
  fi
}
