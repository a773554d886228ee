#!/usr/bin/env bash
# Load check of the middleware chain (issue 6): wrk with 64 connections
# against GET and PUT, for a plain net/http handler and for amaters-server
# with every middleware off ("off", the bare API handler), each one on
# alone, and all on ("full"). Prints a markdown table with throughput as a
# fraction of "off" (what the chain costs) and of plain net/http, the
# non-2xx count, and goroutines and resident memory before and after.
#
# Usage: bench/loadcheck/run.sh [DURATION]   (default 10s; the README uses 30s)
# Needs wrk (apt-get install wrk), curl, and Go.
set -euo pipefail
dur=${1:-10s}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)"; exit 1; }
(cd "$root" && CGO_ENABLED=0 go build -o "$work/amaters-server" .)
(cd "$here/.." && go build -o "$work/bare" ./loadcheck/bare)
key=bench-key-0123456789
hash=$(printf %s "$key" | openssl dgst -sha256 -binary | base64)
printf '[{"id":"bench","key_hash":"%s","user_id":"bench","roles":["admin"]}]' "$hash" >"$work/keys.json"
value=$(head -c 100 /dev/zero | tr '\0' v)

# wrk_run URL [wrk args] -> "req/s non2xx"
wrk_run() {
  local out rps bad
  out=$(wrk -t2 -c64 -d"$dur" --latency "$@" 2>&1)
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  bad=$(awk '/Non-2xx/ {print $5}' <<<"$out"); bad=${bad:-0}
  if grep -q "Socket errors" <<<"$out"; then bad="$bad+$(grep 'Socket errors' <<<"$out" | tr -d ',')"; fi
  echo "$rps $bad"
}
metric() { curl -s "http://127.0.0.1:9191/metrics" | awk -v m="$1" '$1==m {printf "%d", $2}'; }

bare_get="" bare_put="" off_get="" off_put=""
run_variant() { # name, log level, config body, extra wrk args...
  local name=$1 level=$2 cfg=$3; shift 3
  printf '[server]\nbind_address = "127.0.0.1:7878"\ndata_dir = "%s/data-%s"\nlog_level = "%s"\n[storage]\nengine = "memory"\n[health]\nhttp_port = 9191\n[logging]\nfile = "%s/log-%s"\n%s\n' \
    "$work" "$name" "$level" "$work" "$name" "$cfg" >"$work/$name.toml"
  "$work/amaters-server" start --config "$work/$name.toml" 2>"$work/stderr-$name" &
  local pid=$!
  for _ in $(seq 100); do curl -fs -o /dev/null http://127.0.0.1:9191/readyz && break; sleep 0.1; done
  curl -fs -X PUT --data-binary "$value" "$@" http://127.0.0.1:7878/v1/collections/bench/keys/hot -o /dev/null || true
  local g0 m0; g0=$(metric go_goroutines); m0=$(metric process_resident_memory_bytes)
  read -r get gbad < <(wrk_run http://127.0.0.1:7878/v1/collections/bench/keys/hot "$@")
  read -r put pbad < <(wrk_run http://127.0.0.1:7878 -s "$here/put.lua" "$@")
  sleep 2 # idle connections close, goroutines end
  local g1 m1; g1=$(metric go_goroutines); m1=$(metric process_resident_memory_bytes)
  kill -TERM $pid; wait $pid || true
  if [ "$name" = off ]; then off_get=$get off_put=$put; fi
  printf '| %s | %.0f | %.2f | %.2f | %s | %.0f | %.2f | %.2f | %s | %s → %s | %d → %d MiB |\n' "$name" \
    "$get" "$(echo "$get / $off_get" | bc -l)" "$(echo "$get / $bare_get" | bc -l)" "$gbad" \
    "$put" "$(echo "$put / $off_put" | bc -l)" "$(echo "$put / $bare_put" | bc -l)" "$pbad" "$g0" "$g1" "$((m0 / 1048576))" "$((m1 / 1048576))"
}

"$work/bare" -addr 127.0.0.1:7979 & bpid=$!
sleep 0.5
read -r bare_get _ < <(wrk_run http://127.0.0.1:7979/v1/collections/bench/keys/hot)
read -r bare_put _ < <(wrk_run http://127.0.0.1:7979 -s "$here/put.lua")
kill $bpid
echo "wrk -t2 -c64 -d$dur on $(nproc) cores; bare net/http: GET $bare_get/s, PUT $bare_put/s"
echo
echo "| variant | GET/s | × off | × net/http | GET non-2xx | PUT/s | × off | × net/http | PUT non-2xx | goroutines | RSS |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
# Each variant turns on one step over "off"; the access log is on at
# log level info (one line per request, to a file).
mw() { printf '[middleware]\nrate_limit_rps = %s\ncompression = %s\ncors_origins = %s\n' "$1" "$2" "$3"; }
auth="$(printf '[auth]\napi_keys_file = "%s/keys.json"' "$work")"
run_variant off warn "$(mw 0 false '[]')" -H "Accept-Encoding: gzip"
run_variant accesslog info "$(mw 0 false '[]')"
run_variant ratelimit warn "$(mw 1000000000 false '[]')"
run_variant compression warn "$(mw 0 true '[]')" -H "Accept-Encoding: gzip"
run_variant cors warn "$(mw 0 false '["https://app.example"]')" -H "Origin: https://app.example"
run_variant auth warn "$(mw 0 false '[]')
$auth" -H "X-API-Key: $key"
run_variant full info "$(mw 1000000000 true '["https://app.example"]')
$auth" -H "X-API-Key: $key" -H "Accept-Encoding: gzip" -H "Origin: https://app.example"
