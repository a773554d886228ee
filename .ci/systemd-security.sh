#!/usr/bin/env bash
# Checks deploy/systemd/amaters-server.service without running it:
#   1. systemd-analyze security --offline: the exposure score must be at
#      most 2.5 ("OK"); the whole table is printed when it is not;
#   2. systemd-analyze verify: every directive exists and parses. verify
#      also requires every Exec*= program to exist, and the unit names the
#      installed path /usr/local/bin/amaters-server, so it verifies a copy
#      whose amaters-server path points at BINARY (or at /bin/true without
#      one); nothing else is changed;
#   3. TimeoutStopSec= covers the example configuration's drain budget
#      (server.shutdown_timeout_ms) plus 10 s for the flush;
#   4. with BINARY: the example configuration deploy/systemd/amaters.toml
#      passes validate-config.
# It installs nothing (systemd-analyze is in the Debian package "systemd")
# and fails loudly when a tool is missing.
#
# Usage: .ci/systemd-security.sh [BINARY]     (from any folder)
set -euo pipefail
cd "$(dirname "$0")/.."
unit=deploy/systemd/amaters-server.service
config=deploy/systemd/amaters.toml
max_tenths=25 # 2.5
bin=${1:-}

fail() { echo "FAIL: $*" >&2; exit 1; }
command -v systemd-analyze >/dev/null ||
  fail "systemd-analyze is not installed (Debian package: systemd)"
[ -f "$unit" ] || fail "$unit not found"
if [ -n "$bin" ]; then
  [ -x "$bin" ] || fail "$bin is not an executable"
  bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
fi
systemd-analyze --version | head -1

echo "--- systemd-analyze security --offline=yes $unit"
# --threshold makes systemd-analyze exit non-zero above the score (in
# tenths); the summary line is also parsed, so that a systemd whose
# --threshold behaves differently cannot pass a bad score.
report=$(mktemp)
trap 'rm -f "$report"' EXIT
rc=0
systemd-analyze security --offline=yes --threshold="$max_tenths" --no-pager "$unit" >"$report" 2>&1 || rc=$?
summary=$(grep 'Overall exposure level' "$report" || true)
[ -n "$summary" ] || { cat "$report"; fail "no 'Overall exposure level' line in the output"; }
echo "$summary"
score=$(sed -E -n 's/.*Overall exposure level for [^:]*: ([0-9]+)\.([0-9]).*/\1\2/p' <<<"$summary")
[ -n "$score" ] || fail "cannot read the score from: $summary"
if [ "$rc" -ne 0 ] || [ "$((10#$score))" -gt "$max_tenths" ]; then
  cat "$report"
  fail "exposure above 2.5 (systemd-analyze exit $rc): see the ✗ lines above"
fi

echo "--- systemd-analyze verify $unit"
tmp=$(mktemp -d)
trap 'rm -f "$report"; rm -rf "$tmp"' EXIT
target=${bin:-/bin/true}
sed "s#/usr/local/bin/amaters-server#$target#g" "$unit" >"$tmp/amaters-server.service"
if ! out=$(systemd-analyze verify --man=no "$tmp/amaters-server.service" 2>&1) || [ -n "$out" ]; then
  echo "$out"
  fail "systemd-analyze verify reported problems in $unit (ExecStart paths pointed at $target)"
fi
echo "verify: no problems (amaters-server paths pointed at $target)"
# verify looks at the first command of each Exec*= kind only: check the
# program of every Exec*= line (such as the second ExecReload=) here.
while read -r prog; do
  prog=${prog#[-@:+!]} prog=${prog#[-@:+!]} # systemd's prefixes
  case $prog in
    /usr/local/bin/amaters-server) ;;
    /*) [ -x "$prog" ] || fail "$unit runs $prog, which is not an executable here" ;;
    *) fail "$unit runs '$prog': use an absolute path" ;;
  esac
done < <(sed -E -n 's/^Exec[A-Za-z]+=[[:space:]]*([^[:space:]]+).*/\1/p' "$unit")
echo "every Exec*= program exists"

echo "--- stop timeout vs drain budget"
# systemd sends SIGKILL at TimeoutStopSec: it must cover the drain budget
# (server.shutdown_timeout_ms of the example configuration) plus at least
# 10 s for the memtable flush and the WAL sync.
stop_s=$(sed -E -n 's/^TimeoutStopSec=([0-9]+)s?[[:space:]]*$/\1/p' "$unit")
drain_ms=$(sed -E -n 's/^shutdown_timeout_ms[[:space:]]*=[[:space:]]*([0-9]+).*/\1/p' "$config")
[ -n "$stop_s" ] || fail "$unit: no TimeoutStopSec= in whole seconds"
[ -n "$drain_ms" ] || fail "$config: no shutdown_timeout_ms"
[ $((stop_s * 1000)) -ge $((drain_ms + 10000)) ] ||
  fail "TimeoutStopSec=$stop_s does not cover shutdown_timeout_ms = $drain_ms plus 10 s of flush"
echo "TimeoutStopSec=${stop_s}s covers shutdown_timeout_ms = $drain_ms + 10 s"

if [ -n "$bin" ]; then
  echo "--- $bin validate-config --config $config"
  "$bin" validate-config --config "$config" || fail "$config is not a valid configuration"
else
  echo "--- no BINARY given: $config not validated"
fi
echo "systemd unit checks passed"
