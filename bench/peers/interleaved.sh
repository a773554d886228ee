#!/usr/bin/env bash
# Interleaved ratios to the bare limit (issue 9's GET and PUT targets), for
# a machine whose speed drifts during a run: run.sh measures each target in
# a block of rows minutes apart, so a ratio can compare a quiet minute with
# a busy one. Here the bare net/http handler and our server (memory engine,
# and lsm with storage.sync = "none") run side by side, and short rows
# alternate between them: for each repetition and workload, bare, memory,
# lsm, one after the other. Each repetition gives a ratio per target; the
# table shows the median ops/s and the median of the per-repetition ratios.
#
# Same load generator and settings as run.sh (64 clients, 100-byte values,
# 10 000 preloaded keys, rate limit off, access log off).
#
# Usage: bench/peers/interleaved.sh [REPS] [DURATION]   (default 7 reps of 5s)
# Needs Go and curl. Ports (loopback): 27878-27881 amaters, 27979 bare;
# override with BENCH_PORT_BASE (added to each).
set -euo pipefail
reps=${1:-7}
dur=${2:-5s}
keys=10000 clients=64 value_size=100
off=${BENCH_PORT_BASE:-0}
mem_port=$((27878 + off)) mem_health=$((27879 + off))
lsm_port=$((27880 + off)) lsm_health=$((27881 + off)) bare_port=$((27979 + off))
[[ $reps =~ ^[0-9]+$ && $reps -ge 1 ]] || { echo "interleaved.sh: REPS must be a positive number" >&2; exit 2; }
[[ $dur =~ ^[0-9]+s$ ]] || { echo "interleaved.sh: duration $dur: want whole seconds, e.g. 5s" >&2; exit 2; }

# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

for p in $mem_port $mem_health $lsm_port $lsm_health $bare_port; do
  port_free "$p" || { echo "interleaved.sh: 127.0.0.1:$p is in use; set BENCH_PORT_BASE to shift the ports" >&2; exit 1; }
done
build_tools

"$work/bare" -addr "127.0.0.1:$bare_port" 2>"$work/bare.log" &
pids+=($!)
wait_until curl -fs "http://127.0.0.1:$bare_port/"

# amaters NAME ENGINE PORT HEALTH: our server, as run.sh starts it.
amaters() {
  cat >"$work/$1.toml" <<EOF
[server]
bind_address = "127.0.0.1:$3"
data_dir = "$work/data-$1"
log_level = "warn"
[storage]
engine = "$2"
sync = "none"
[middleware]
rate_limit_rps = 0
[health]
http_port = $4
[logging]
file = "$work/$1.log"
EOF
  "$work/amaters-server" start --config "$work/$1.toml" 2>"$work/$1.stderr" &
  pids+=($!)
  wait_until curl -fs "http://127.0.0.1:$4/readyz"
}
amaters memory memory "$mem_port" "$mem_health"
amaters lsm lsm "$lsm_port" "$lsm_health"

declare -A addr=([bare]="127.0.0.1:$bare_port" [memory]="127.0.0.1:$mem_port" [lsm]="127.0.0.1:$lsm_port")
declare -A kind=([bare]=bare [memory]=amaters [lsm]=amaters)
targets=(bare memory lsm)
results=$work/results.tsv
for rep in $(seq "$reps"); do
  for w in get put; do
    for t in "${targets[@]}"; do
      echo "  rep $rep/$reps: $t $w ..." >&2
      out=$("$work/loadgen" -addr "${addr[$t]}" -target "${kind[$t]}" -workload "$w" -clients $clients \
        -duration "$dur" -keys $keys -value-size $value_size -format tsv)
      read -r ops _ errs _ <<<"$out"
      if [[ $errs != 0 ]]; then
        echo "interleaved.sh: $t $w: $errs errors" >&2
        exit 1
      fi
      printf '%s\t%s\t%s\t%s\n' "$rep" "$w" "$t" "${ops%.*}" >>"$results"
    done
  done
done

median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}'; }
echo
echo "| workload | target | median ops/s | median of per-rep ratios to bare | range of ratios |"
echo "|---|---|---:|---:|---|"
for w in get put; do
  for t in "${targets[@]}"; do
    med=$(awk -v w="$w" -v t="$t" '$2==w && $3==t {print $4}' "$results" | median)
    ratios=$(awk -v w="$w" -v t="$t" '$2==w && $3=="bare" {b[$1]=$4} $2==w && $3==t {o[$1]=$4} END {for (r in o) printf "%.3f\n", o[r]/b[r]}' "$results")
    rmed=$(median <<<"$ratios")
    range=$(sort -n <<<"$ratios" | awk 'NR==1 {lo=$1} {hi=$1} END {printf "%.2f–%.2f", lo, hi}')
    printf '| %s | %s | %s | %.2f | %s |\n' "$w" "$t" "${med%.*}" "$rmed" "$range"
  done
done
echo
echo "Machine: $(nproc) cores ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)); $(go version | cut -d' ' -f3); $reps repetitions of $dur per row, bare/memory/lsm interleaved."
