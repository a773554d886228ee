#!/usr/bin/env bash
# Side by side (issue 9): amaters-server next to the bare net/http limit
# and its peers, on this machine, in one run.
#
# Every HTTP target is driven by the same load generator (bench/peers/loadgen,
# which calls loadgen.Run (server/loadgen), the engine of `amaters-server bench`) with the
# same settings: 64 clients in a closed loop over persistent connections,
# 100-byte values, uniform keys over a key set that is preloaded for reads.
# Redis speaks its own protocol, so it is driven by redis-benchmark at the
# same concurrency and value size, for reference.
#
#   bare      bench/loadcheck/bare: GET answers 100 fixed bytes, PUT discards
#   etcd      etcd (Debian etcd-server) through its v3 JSON gateway
#   amaters   memory engine; lsm with storage.sync none, interval, always
#   redis     appendonly yes, appendfsync everysec and always (redis-benchmark)
#
# Workloads: get, put, mixed:90/10 (redis: GET and SET). Prints one markdown
# table: ops/s, p99, the ratio to bare and to etcd for the same workload,
# then the machine and the command lines.
#
# Usage: bench/peers/run.sh [DURATION]    (per row; default 10s, or
#        BENCH_DURATION=30s; BENCH_KEYS sets the key set, default 10000,
#        which fits the server's query cache: "hot keys, cache on")
# Needs Go and curl; etcd and redis rows are skipped, with a note, when
# their tools are missing (apt-get install etcd-server redis-server redis-tools).
# Installs nothing. Ports (loopback): 17878-17879 amaters, 17979 bare,
# 12379-12380 etcd, 16379 redis; override with BENCH_PORT_BASE (default 0,
# added to each).
set -euo pipefail

dur=${1:-${BENCH_DURATION:-10s}}
keys=${BENCH_KEYS:-10000}
clients=64
value_size=100
off=${BENCH_PORT_BASE:-0}
am_port=$((17878 + off)) am_health=$((17879 + off)) bare_port=$((17979 + off))
etcd_port=$((12379 + off)) etcd_peer=$((12380 + off)) redis_port=$((16379 + off))
if [[ ! $dur =~ ^[0-9]+s$ ]]; then
  echo "run.sh: duration $dur: want whole seconds, e.g. 10s or 30s" >&2
  exit 2
fi
secs=${dur%s}

# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

# Tools: Go and curl are needed; the peers are optional.
missing=()
for tool in go curl; do
  command -v "$tool" >/dev/null || { echo "run.sh: $tool is not installed; it is required" >&2; exit 1; }
done
have_etcd=1 have_redis=1
command -v etcd >/dev/null || { have_etcd=0; missing+=("etcd (apt-get install etcd-server): etcd rows skipped"); }
for tool in redis-server redis-benchmark redis-cli; do
  if ! command -v $tool >/dev/null; then
    have_redis=0
    pkg=redis-tools; [[ $tool == redis-server ]] && pkg=redis-server
    missing+=("$tool (apt-get install $pkg): redis rows skipped")
  fi
done
for m in "${missing[@]}"; do echo "run.sh: missing $m" >&2; done

for p in $am_port $am_health $bare_port $etcd_port $etcd_peer $redis_port; do
  port_free "$p" || { echo "run.sh: 127.0.0.1:$p is in use; set BENCH_PORT_BASE to shift the ports" >&2; exit 1; }
done

build_tools

declare -A ops p99 errs
rows=()
loadgen_cmd="loadgen -clients $clients -duration $dur -keys $keys -value-size $value_size -format tsv"

# load NAME ADDR TARGET WORKLOAD: one row from the shared load generator.
load() {
  local name=$1 addr=$2 target=$3 workload=$4 out o p e
  echo "  $name $workload ..." >&2
  if ! out=$("$work/loadgen" -addr "$addr" -target "$target" -workload "$workload" -clients $clients \
    -duration "$dur" -keys "$keys" -value-size $value_size -format tsv 2>"$work/loadgen.err"); then
    echo "run.sh: loadgen failed on $name $workload: $(cat "$work/loadgen.err")" >&2
    out="0	0	failed	0"
  fi
  read -r o p e _ <<<"$out"
  ops[$name,$workload]=$o p99[$name,$workload]=$p errs[$name,$workload]=$e
  rows+=("$name|$workload")
}

workloads=(get put mixed:90/10)

echo "bare net/http handler ..." >&2
"$work/bare" -addr "127.0.0.1:$bare_port" 2>"$work/bare.log" &
pid=$!; pids+=("$pid")
wait_until curl -fs "http://127.0.0.1:$bare_port/"
for w in "${workloads[@]}"; do load bare "127.0.0.1:$bare_port" bare "$w"; done
stop_pid "$pid"

etcd_cmd="etcd --name bench --data-dir DIR --listen-client-urls http://127.0.0.1:$etcd_port --advertise-client-urls http://127.0.0.1:$etcd_port --listen-peer-urls http://127.0.0.1:$etcd_peer --initial-advertise-peer-urls http://127.0.0.1:$etcd_peer --initial-cluster bench=http://127.0.0.1:$etcd_peer --logger zap --log-level warn"
if ((have_etcd)); then
  echo "etcd ..." >&2
  # shellcheck disable=SC2086 # etcd_cmd is split on purpose
  ${etcd_cmd/DIR/$work/etcd} 2>"$work/etcd.log" &
  pid=$!; pids+=("$pid")
  wait_until curl -fs "http://127.0.0.1:$etcd_port/health"
  for w in "${workloads[@]}"; do load etcd "127.0.0.1:$etcd_port" etcd "$w"; done
  stop_pid "$pid"
fi

# amaters NAME ENGINE SYNC: our server with that storage; everything else at
# its defaults (query cache on, compression on) except the per-client rate
# limit (off: 64 connections from one address would meet 429) and the
# access log (log level warn; one line per request is an I/O cost of its own).
amaters() {
  local name=$1 engine=$2 sync=$3
  echo "amaters-server $name ..." >&2
  cat >"$work/$name.toml" <<EOF
[server]
bind_address = "127.0.0.1:$am_port"
data_dir = "$work/data-$name"
log_level = "warn"
[storage]
engine = "$engine"
sync = "$sync"
[middleware]
rate_limit_rps = 0
[health]
http_port = $am_health
[logging]
file = "$work/$name.log"
EOF
  "$work/amaters-server" start --config "$work/$name.toml" 2>"$work/$name.stderr" &
  local pid=$!; pids+=("$pid")
  wait_until curl -fs "http://127.0.0.1:$am_health/readyz"
  for w in "${workloads[@]}"; do load "$name" "127.0.0.1:$am_port" amaters "$w"; done
  stop_pid "$pid"
}
amaters "amaters memory" memory none
amaters "amaters lsm sync=none" lsm none
amaters "amaters lsm sync=interval" lsm interval
amaters "amaters lsm sync=always" lsm always

# redis MODE: redis-server with appendfsync MODE, driven by redis-benchmark.
redis_n=$((secs * 50000))
redis_bench_cmd="redis-benchmark -h 127.0.0.1 -p $redis_port -c $clients -d $value_size -r $keys -n $redis_n -t set,get --csv"
redis() {
  local mode=$1 name="redis appendfsync=$1"
  echo "$name ..." >&2
  mkdir -p "$work/redis-$mode"
  redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$work/redis-$mode" --appendonly yes \
    --appendfsync "$mode" --save '' --daemonize no --logfile "$work/redis-$mode.log" &
  local pid=$!; pids+=("$pid")
  wait_until redis-cli -p "$redis_port" ping
  local test rps p
  while IFS=, read -r test rps _ _ _ _ p _; do
    test=${test//\"/} rps=${rps//\"/} p=${p//\"/}
    case $test in
    SET) ops[$name,put]=${rps%.*} p99[$name,put]=$p errs[$name,put]=- rows+=("$name|put") ;;
    GET) ops[$name,get]=${rps%.*} p99[$name,get]=$p errs[$name,get]=- rows+=("$name|get") ;;
    esac
  done < <($redis_bench_cmd 2>/dev/null)
  stop_pid "$pid"
}
if ((have_redis)); then
  redis everysec
  redis always
fi

# ratio A B: A/B to two decimals, or "-" when B is missing or zero.
ratio() {
  if [[ -z ${2:-} || ${2:-0} == 0 || -z ${1:-} ]]; then echo -; else awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; fi
}

echo
echo "| target | workload | ops/s | p99 ms | × bare | × etcd | errors |"
echo "|---|---|---:|---:|---:|---:|---:|"
for row in "${rows[@]}"; do
  name=${row%%|*} w=${row#*|}
  printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$name" "$w" "${ops[$name,$w]}" "${p99[$name,$w]}" \
    "$(ratio "${ops[$name,$w]}" "${ops[bare,$w]:-}")" "$(ratio "${ops[$name,$w]}" "${ops[etcd,$w]:-}")" "${errs[$name,$w]}"
done
echo
echo "Machine: $(nproc) cores ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), $(uname -sr);" \
  "$(go version | cut -d' ' -f3); etcd $(etcd --version 2>/dev/null | awk '/etcd Version/ {print $3}');" \
  "redis $(redis-server --version 2>/dev/null | sed -n 's/.* v=\([^ ]*\).*/\1/p'). The load generator runs on the same cores as the server."
echo "Key set $keys keys of $value_size bytes (preloaded for get and mixed), uniform random keys; one run of $dur per row."
echo
echo "Command lines:"
echo
echo "    $loadgen_cmd -addr HOST:PORT -target bare|etcd|amaters -workload get|put|mixed:90/10"
echo "    bare -addr 127.0.0.1:$bare_port"
echo "    $etcd_cmd"
echo "    amaters-server start --config F   # F: [storage] engine, sync; [middleware] rate_limit_rps = 0; [server] log_level = \"warn\""
echo "    redis-server --port $redis_port --appendonly yes --appendfsync everysec|always --save ''"
echo "    $redis_bench_cmd"
